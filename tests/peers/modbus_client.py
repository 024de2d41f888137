#!/usr/bin/env python3
"""An interactive Modbus/TCP client (pymodbus 3.x) for the integration tests.

One pymodbus `ModbusTcpClient` (retries=0, --timeout seconds) to --host:--port. Reads one
JSON request per line on stdin and answers each with one JSON line on stdout:

  {"op": "read_holding_registers", "unit": 1, "address": 0, "count": 10}
  {"op": "read_input_registers" | "read_coils" | "read_discrete_inputs", ...same keys}
  {"op": "write_register", "unit": 1, "address": 10, "value": 4242}
  {"op": "write_registers", "unit": 1, "address": 20, "values": [1, 2, 3]}
  {"op": "close"}          the application closes its connection (the next request reconnects)
  {"op": "abort"}          closes it with a TCP reset (SO_LINGER 0), so that data the firewall
                           dropped is not retransmitted for minutes after the test moved on
  {"op": "raw", "segments": ["hex", ...], "pause": 0.2, "wait": 1.0}
        a separate plain TCP connection (TCP_NODELAY) sends each segment with one send()
        (`pause` seconds apart), collects what comes back for `wait` seconds and closes
        with a reset; answers {"ok": true, "received": "hex", "local_port": N}
  {"op": "encode", "requests": [{read op}, ...], "transaction_id": 1}
        the ADUs pymodbus builds for these requests, concatenated, as hex (for `raw`)

Answers: {"ok": true, "values": [...], "local_port": N, "elapsed": s} (bits as 0/1),
{"ok": false, "exception": code, ...} for a Modbus exception response, or
{"ok": false, "error": "...", ...} when no answer came (timeout, connection lost).
`local_port` is the client's TCP port after the request (null when not connected).
"""

import argparse
import inspect
import json
import socket
import struct
import sys
import time

try:
    from pymodbus.client import ModbusTcpClient
except ImportError as e:  # pragma: no cover - reported to the harness
    sys.exit(f"pymodbus is not importable ({e}): run `cargo xtask setup`")

READS = {
    "read_holding_registers": "registers",
    "read_input_registers": "registers",
    "read_coils": "bits",
    "read_discrete_inputs": "bits",
}

# struct linger {l_onoff = 1, l_linger = 0}: close() resets the connection.
LINGER_0 = struct.pack("ii", 1, 0)

# The unit id keyword: `device_id` since pymodbus 3.10, `slave` before.
UNIT_KW = (
    "device_id"
    if "device_id" in inspect.signature(ModbusTcpClient.read_coils).parameters
    else "slave"
)


def local_port(client):
    sock = getattr(client, "socket", None)
    if sock is None:
        return None
    try:
        return sock.getsockname()[1]
    except OSError:
        return None


def modbus_call(client, req):
    op = req["op"]
    unit = {UNIT_KW: req.get("unit", 1)}
    if op in READS:
        count = req.get("count", 1)
        r = getattr(client, op)(req["address"], count=count, **unit)
    elif op == "write_register":
        r = client.write_register(req["address"], req["value"], **unit)
    elif op == "write_registers":
        r = client.write_registers(req["address"], req["values"], **unit)
    else:
        raise ValueError(f"unknown op {op}")
    if r.isError():
        code = getattr(r, "exception_code", None)
        if code is not None:
            return {"ok": False, "exception": code}
        return {"ok": False, "error": str(r)}
    out = {"ok": True}
    if op in READS:
        values = getattr(r, READS[op])
        if READS[op] == "bits":
            values = [int(bool(b)) for b in values[:count]]
        out["values"] = list(values)
    return out


def encode(req):
    """The ADUs pymodbus builds for `req["requests"]`, with consecutive transaction ids."""
    from pymodbus.framer import FramerSocket
    from pymodbus.pdu import DecodePDU
    from pymodbus.pdu import bit_message, register_message

    classes = {
        "read_coils": bit_message.ReadCoilsRequest,
        "read_discrete_inputs": bit_message.ReadDiscreteInputsRequest,
        "read_holding_registers": register_message.ReadHoldingRegistersRequest,
        "read_input_registers": register_message.ReadInputRegistersRequest,
        "write_register": register_message.WriteSingleRegisterRequest,
        "write_registers": register_message.WriteMultipleRegistersRequest,
    }
    framer = FramerSocket(DecodePDU(False))
    tid = req.get("transaction_id", 1)
    out = b""
    for r in req["requests"]:
        kw = {"address": r["address"], "dev_id": r.get("unit", 1), "transaction_id": tid}
        if r["op"] in READS:
            kw["count"] = r.get("count", 1)
        elif r["op"] == "write_register":
            kw["registers"] = [r["value"]]
        else:
            kw["registers"] = r["values"]
            kw["count"] = len(r["values"])
        out += framer.buildFrame(classes[r["op"]](**kw))
        tid += 1
    return {"ok": True, "hex": out.hex()}


def raw(host, port, req):
    segments = [bytes.fromhex(s) for s in req["segments"]]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(req.get("connect_timeout", 3.0))
    s.connect((host, port))
    lport = s.getsockname()[1]
    for i, seg in enumerate(segments):
        if i:
            time.sleep(req.get("pause", 0.2))
        s.send(seg)
    received = b""
    deadline = time.monotonic() + req.get("wait", 1.0)
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            chunk = s.recv(4096)
        except (socket.timeout, TimeoutError):
            break
        if not chunk:
            break
        received += chunk
        if req.get("expect_bytes") and len(received) >= req["expect_bytes"]:
            break
    # Reset, not close: unacknowledged (dropped) data must not be retransmitted for minutes.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
    s.close()
    return {"ok": True, "received": received.hex(), "local_port": lport}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=502)
    p.add_argument("--timeout", type=float, default=1.0)
    args = p.parse_args()
    client = ModbusTcpClient(args.host, port=args.port, timeout=args.timeout, retries=0)
    print(json.dumps({"ok": True, "ready": True, "unit_kw": UNIT_KW}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        start = time.monotonic()
        try:
            if req["op"] == "close":
                client.close()
                out = {"ok": True}
            elif req["op"] == "abort":
                sock = getattr(client, "socket", None)
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
                client.close()
                out = {"ok": True}
            elif req["op"] == "raw":
                out = raw(args.host, args.port, req)
            elif req["op"] == "encode":
                out = encode(req)
            else:
                out = modbus_call(client, req)
        except Exception as e:  # noqa: BLE001 - every failure is an answer
            out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out.setdefault("local_port", local_port(client))
        out["elapsed"] = round(time.monotonic() - start, 3)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
