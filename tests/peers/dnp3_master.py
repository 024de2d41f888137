#!/usr/bin/env python3
"""An interactive DNP3 master for the integration tests: the frame builders and decoder of
dnp3-simulation 0.1.2 (`dnp3_sim.dnp3_binary`, what its `dnp3-sim-client` sends) over one
persistent TCP connection to --host:--port (TCP_NODELAY), application and transport sequence
numbers counting up as a master's do. Link addresses: --source (master, 1), --destination
(outstation, 1024).

Reads one JSON request per line on stdin, answers each with one JSON line on stdout:

  {"op": "read"} | {"op": "read", "index": 0}      FC 1, group 10 var 2 (all, or one point)
  {"op": "write", "index": 1, "value": true}       FC 2
  {"op": "direct_operate", "index": 1, "operation": "latch_on", "function_code": 5}  FC 5/6
  {"op": "restart", "type": "cold" | "warm"}       FC 13 / 14
  {"op": "frames", "frames": ["hex", ...], "pause": 0.2, "expect_answer": true}
        sends hand-made bytes on this connection: each item with one send() (`pause`
        seconds apart) and waits for one response frame
  {"op": "close"}                                   closes the connection (reset)
  {"op": "raw", "segments": ["hex", ...], "pause": 0.2, "wait": 1.0}
        a separate plain TCP connection: each segment with one send(), collects what comes
        back for `wait` seconds, closes with a reset: {"ok": true, "received": "hex",
        "local_port": N}
  {"op": "build", "what": {read/write/... request}}  the frame the op would send, hex

Answers {"ok": true, "function_code": 129, "iin": "hex", "points": {"0": true, ...},
"status": [..], "local_port": N, "tx": "hex", "rx": "hex"} for a response, or
{"ok": false, "error": "..."} when none came (timeout, connection closed).
"""

import argparse
import json
import socket
import struct
import sys
import time

try:
    from dnp3_sim import dnp3_binary as d
except ImportError as e:  # pragma: no cover - reported to the harness
    sys.exit(f"dnp3-simulation is not importable ({e}): run `cargo xtask setup`")

LINGER_0 = struct.pack("ii", 1, 0)


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the peer")
        data += chunk
    return data


def read_frame(sock):
    prefix = recv_exact(sock, 3)
    size = d.expected_frame_size(prefix)
    return prefix + recv_exact(sock, size - 3)


def decode(frame):
    link = d.decode_link_frame(frame)
    out = {"link_control": link.control, "rx": frame.hex()}
    if not link.user_data:
        return out
    app = d.decode_application_request(link)
    out["function_code"] = app.function_code
    if app.function_code == d.APP_RESPONSE and len(app.payload) >= 2:
        out["iin"] = app.payload[:2].hex()
        objects = app.payload[2:]
        if objects.startswith(b"\x0a\x02"):
            out["points"] = {
                str(p["index"]): p["value"] for p in d.parse_binary_output_status_objects(objects)
            }
        elif objects.startswith(b"\x0c\x01") and len(objects) >= 16:
            # CROB echo: 4-octet object header, then per object a 1-octet index and the 11
            # octets of the CROB, whose last is the status.
            out["status"] = [objects[i + 11] for i in range(4, len(objects) - 11, 12)]
    return out


class Master:
    def __init__(self, args):
        self.args = args
        self.sock = None
        self.seq = 0

    def connect(self):
        if self.sock is None:
            s = socket.create_connection((self.args.host, self.args.port), timeout=3.0)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = s
        return self.sock

    def local_port(self):
        try:
            return self.sock.getsockname()[1] if self.sock else None
        except OSError:
            return None

    def close(self):
        if self.sock is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
            self.sock.close()
            self.sock = None

    def build(self, req):
        a = self.args
        kw = {
            "destination": req.get("destination", a.destination),
            "source": req.get("source", a.source),
            "transport_sequence": self.seq & 0x3F,
            "app_sequence": self.seq & 0x0F,
        }
        op = req["op"]
        if op == "read":
            return d.build_read_request_frame(index=req.get("index"), **kw)
        if op == "write":
            return d.build_write_request_frame(index=req["index"], value=bool(req["value"]), **kw)
        if op == "direct_operate":
            return d.build_direct_operate_request_frame(
                function_code=req.get("function_code", 5),
                index=req["index"],
                operation=req["operation"],
                **kw,
            )
        if op == "restart":
            fc = 13 if req["type"] == "cold" else 14
            return d.build_restart_request_frame(function_code=fc, **kw)
        raise ValueError(f"unknown op {op}")

    def exchange(self, pieces, expect_answer=True, pause=None):
        pause = self.args.pause if pause is None else pause
        sock = self.connect()
        self.seq += 1
        sock.settimeout(self.args.timeout)
        for i, piece in enumerate(pieces):
            if i:
                time.sleep(pause)
            sock.send(piece)
        out = {"ok": True, "tx": b"".join(pieces).hex(), "local_port": self.local_port()}
        if not expect_answer:
            return out
        try:
            out.update(decode(read_frame(sock)))
        except (socket.timeout, TimeoutError):
            out = {"ok": False, "error": "no response (timeout)", "local_port": self.local_port()}
        except (ConnectionError, OSError, d.DNP3BinaryError) as e:
            port = self.local_port()
            self.close()
            out = {"ok": False, "error": f"{type(e).__name__}: {e}", "local_port": port}
        return out

    def call(self, req):
        op = req["op"]
        if op == "close":
            self.close()
            return {"ok": True}
        if op == "raw":
            return raw(self.args.host, self.args.port, req)
        if op == "build":
            return {"ok": True, "hex": self.build(req["what"]).hex()}
        if op == "frames":
            pieces = [bytes.fromhex(h) for h in req["frames"]]
            return self.exchange(pieces, req.get("expect_answer", True), req.get("pause"))
        frame = self.build(req)
        no_answer = op == "direct_operate" and req.get("function_code") == 6
        return self.exchange([frame], not no_answer)


def raw(host, port, req):
    segments = [bytes.fromhex(s) for s in req["segments"]]
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(3.0)
    s.connect((host, port))
    lport = s.getsockname()[1]
    send_error = None
    for i, seg in enumerate(segments):
        if i:
            time.sleep(req.get("pause", 0.2))
        try:
            s.send(seg)
        except OSError as e:  # reset by the peer (or a firewall) meanwhile
            send_error = f"{type(e).__name__}: {e}"
            break
    received = b""
    deadline = time.monotonic() + req.get("wait", 1.0)
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            chunk = s.recv(4096)
        except (socket.timeout, TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        received += chunk
        if req.get("expect_bytes") and len(received) >= req["expect_bytes"]:
            break
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
    s.close()
    return {"ok": True, "received": received.hex(), "local_port": lport, "send_error": send_error}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=20000)
    p.add_argument("--timeout", type=float, default=1.5)
    p.add_argument("--pause", type=float, default=0.2)
    p.add_argument("--source", type=int, default=1)
    p.add_argument("--destination", type=int, default=1024)
    args = p.parse_args()
    master = Master(args)
    print(json.dumps({"ok": True, "ready": True}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        start = time.monotonic()
        try:
            out = master.call(req)
        except Exception as e:  # noqa: BLE001 - every failure is an answer
            out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out["elapsed"] = round(time.monotonic() - start, 3)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
