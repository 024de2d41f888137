#!/usr/bin/env python3
"""An interactive IEC 60870-5-104 controlling station (c104 2.2.1) for the integration tests.

One c104 `Client` (command timeout --timeout seconds) with one connection to --host:--port,
opened by `connect` (STARTDT, no automatic interrogation or clock sync: `Init.NONE`). Reads
one JSON request per line on stdin and answers each with one JSON line on stdout:

  {"op": "connect"}                      opens the connection, waits until it is started
  {"op": "interrogation", "ca": 1}       C_IC_NA_1; answers the values the station reported
  {"op": "counter_interrogation", "ca": 1}
  {"op": "read", "ca": 1, "ioa": 101, "type": "M_ME_NC_1"}      C_RD_NA_1
  {"op": "clock_sync", "ca": 1}          C_CS_NA_1
  {"op": "test", "ca": 1}                C_TS_TA_1
  {"op": "command", "ca": 1, "ioa": 200, "value": true, "select": false}   C_SC_NA_1
  {"op": "setpoint", "ca": 1, "ioa": 300, "value": 42.0}                   C_SE_NC_1
  {"op": "close"}                        closes the connection
  {"op": "idle", "seconds": 3}           does nothing for a while (TESTFR with --keepalive)
  {"op": "raw", "segments": ["hex", ...], "startdt": true, "pause": 0.2, "wait": 1.0}
        a separate plain TCP connection (TCP_NODELAY): STARTDT act first when `startdt`
        (answers "started": whether STARTDT con came), then each segment with one send()
        (`pause` seconds apart), collects what comes back for `wait` seconds and closes with
        a reset; answers {"ok": true, "received": "hex", "local_port": N, "started": bool}

Answers: {"ok": bool, ...} with "values" ({"ioa": value}) for interrogation and read,
"error" when the library raised, "local_port" (the client's port, null if not connected),
"elapsed" (seconds).
"""

import argparse
import json
import socket
import struct
import sys
import time

try:
    import c104
except ImportError as e:  # pragma: no cover - reported to the harness
    sys.exit(f"c104 is not importable ({e}): run `cargo xtask setup`")

LINGER_0 = struct.pack("ii", 1, 0)
STARTDT_ACT = bytes.fromhex("680407000000")
STARTDT_CON = bytes.fromhex("68040b000000")


def plain(value):
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    inner = getattr(value, "value", None)
    if isinstance(inner, (bool, int, float)):
        return inner
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


class Peer:
    def __init__(self, host, port, timeout, keepalive):
        self.keepalive = keepalive
        self.host = host
        self.port = port
        self.client = c104.Client(tick_rate_ms=50, command_timeout_ms=int(timeout * 1000))
        self.connection = None
        self.updates = {}
        updates = self.updates

        # c104 checks callback signatures: parameter names and annotations as documented.
        def on_point(
            point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage
        ) -> c104.ResponseState:
            updates[str(point.io_address)] = plain(point.value)
            return c104.ResponseState.NONE

        def on_new_point(
            client: c104.Client, station: c104.Station, io_address: int, point_type: c104.Type
        ) -> None:
            point = station.add_point(io_address=io_address, type=point_type)
            if point is not None:
                point.on_receive(callable=on_point)

        self.on_point = on_point
        self.client.on_new_point(callable=on_new_point)

    def settle(self, quiet):
        """Waits until no point update arrived for `quiet` seconds (at most 3 s)."""
        deadline = time.monotonic() + 3.0
        count, last_change = len(self.updates), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last_change < quiet:
            time.sleep(0.05)
            if len(self.updates) != count:
                count, last_change = len(self.updates), time.monotonic()

    def station(self, ca):
        s = self.connection.get_station(ca)
        if s is None:
            s = self.connection.add_station(ca)
        return s

    def local_port(self):
        # c104 does not expose the socket; the harness finds the port from the connection
        # table (ss) when it needs it.
        return None

    def connect(self, req):
        if self.connection is None:
            self.client.start()
            self.connection = self.client.add_connection(
                ip=self.host, port=self.port, init=c104.Init.NONE
            )
            if self.keepalive:
                self.connection.protocol_parameters.keep_alive_interval = self.keepalive
        self.connection.connect()
        start = time.monotonic()
        deadline = start + req.get("wait", 5.0)
        unmuted = False
        while time.monotonic() < deadline:
            state = self.connection.state
            if state == c104.ConnectionState.OPEN:
                return {"ok": True, "state": state.name}
            # c104 with Init.NONE sometimes leaves a new connection muted (TCP open, no
            # STARTDT sent); unmute() sends STARTDT act.
            if state == c104.ConnectionState.OPEN_MUTED and not unmuted and time.monotonic() - start > 0.5:
                self.connection.unmute()
                unmuted = True
            time.sleep(0.02)
        return {"ok": False, "state": self.connection.state.name, "error": "not started"}

    def call(self, req):
        op = req["op"]
        if op == "connect":
            return self.connect(req)
        if op == "raw":
            return raw(self.host, self.port, req)
        if op == "idle":
            time.sleep(req["seconds"])
            return {"ok": True}
        if self.connection is None:
            return {"ok": False, "error": "not connected"}
        ca = req.get("ca", 1)
        if op == "close":
            self.connection.disconnect()
            return {"ok": True}
        if op == "interrogation":
            self.updates.clear()
            self.station(ca)
            ok = self.connection.interrogation(common_address=ca)
            self.settle(req.get("settle", 0.3))
            return {"ok": bool(ok), "values": dict(self.updates)}
        if op == "counter_interrogation":
            ok = self.connection.counter_interrogation(common_address=ca)
            return {"ok": bool(ok)}
        if op == "clock_sync":
            return {"ok": bool(self.connection.clock_sync(common_address=ca))}
        if op == "test":
            return {"ok": bool(self.connection.test(common_address=ca))}
        if op == "read":
            self.updates.clear()
            station = self.station(ca)
            point = station.get_point(req["ioa"])
            if point is None:
                point = station.add_point(
                    io_address=req["ioa"], type=getattr(c104.Type, req["type"])
                )
                point.on_receive(callable=self.on_point)
            ok = point.read()
            self.settle(req.get("settle", 0.3))
            return {"ok": bool(ok), "values": dict(self.updates)}
        if op in ("command", "setpoint"):
            station = self.station(ca)
            kind = c104.Type.C_SC_NA_1 if op == "command" else c104.Type.C_SE_NC_1
            point = station.get_point(req["ioa"])
            if point is None:
                point = station.add_point(io_address=req["ioa"], type=kind)
            point.command_mode = (
                c104.CommandMode.SELECT_AND_EXECUTE
                if req.get("select")
                else c104.CommandMode.DIRECT
            )
            if op == "command":
                point.value = bool(req["value"])
            else:
                point.value = float(req["value"])
            return {"ok": bool(point.transmit(cause=c104.Cot.ACTIVATION))}
        raise ValueError(f"unknown op {op}")


def raw(host, port, req):
    segments = [bytes.fromhex(s) for s in req["segments"]]
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(req.get("connect_timeout", 3.0))
    s.connect((host, port))
    lport = s.getsockname()[1]
    started = None
    received = b""
    if req.get("startdt", True):
        s.send(STARTDT_ACT)
        deadline = time.monotonic() + 2.0
        while STARTDT_CON not in received and (left := deadline - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                chunk = s.recv(4096)
            except (socket.timeout, TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            received += chunk
        started = STARTDT_CON in received
        received = received.replace(STARTDT_CON, b"", 1)
    send_error = None
    for i, seg in enumerate(segments):
        if i:
            time.sleep(req.get("pause", 0.2))
        try:
            s.send(seg)
        except OSError as e:  # reset by the peer (or a firewall) meanwhile
            send_error = f"{type(e).__name__}: {e}"
            break
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
    return {"ok": True, "received": received.hex(), "local_port": lport, "send_error": send_error, "started": started}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=2404)
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--keepalive", type=int, help="t3 in seconds (TESTFR when idle)")
    args = p.parse_args()
    peer = Peer(args.host, args.port, args.timeout, args.keepalive)
    print(json.dumps({"ok": True, "ready": True}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        start = time.monotonic()
        try:
            out = peer.call(req)
        except Exception as e:  # noqa: BLE001 - every failure is an answer
            out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out["elapsed"] = round(time.monotonic() - start, 3)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
