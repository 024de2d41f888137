#!/usr/bin/env python3
"""An IEC 60870-5-104 controlled station (c104 2.2.1, a lib60870 binding) for the tests.

One station, common address --ca (default 1), listening on every IPv4 address, --port:
  IOA 100  M_SP_NA_1  single point        True
  IOA 101  M_ME_NC_1  short float         12.5
  IOA 102  M_ME_NB_1  scaled value        1234
  IOA 200  C_SC_NA_1  single command      direct execute
  IOA 201  C_SC_NA_1  single command      select and execute
  IOA 300  C_SE_NC_1  set point (float)   direct execute

Prints on stdout (flushed), one JSON object per line:
  {"event": "ready", "port": N}                       once it accepts connections
  {"event": "command", "ioa": N, "type": "C_SC_NA_1", "value": ..., "cot": "...",
   "select": bool}                                    a command callback ran (it changed the point)
  {"event": "clock_sync", "ip": "...", "time": "..."} a clock synchronisation was accepted
  {"event": "unexpected", "type": "...", "cot": "...", "cause": "..."}
  {"event": "state", "points": {"100": ..., ...}, "rx": N}   answer to `state` on stdin

Every APDU the station receives is appended to --trace as `rx <hex>` (what reached the RTU:
the tests check that denied APDUs never did). Reads lines on stdin: `state` (prints the state
line), `report` (IOA 101 becomes 13.5 and is reported spontaneously).
"""

import argparse
import datetime
import json
import sys
import threading
import time

try:
    import c104
except ImportError as e:  # pragma: no cover - reported to the harness
    sys.exit(f"c104 is not importable ({e}): run `cargo xtask setup`")

LOCK = threading.Lock()


def say(**fields):
    with LOCK:
        print(json.dumps(fields), flush=True)


def plain(value):
    """A point value as JSON."""
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    for attr in ("value",):
        inner = getattr(value, attr, None)
        if isinstance(inner, (bool, int, float)):
            return inner
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=2404)
    p.add_argument("--ca", type=int, default=1)
    p.add_argument("--trace", required=True)
    p.add_argument("--keepalive", type=int, help="t3 in seconds (TESTFR when idle)")
    args = p.parse_args()

    trace = open(args.trace, "a", buffering=1)
    received = [0]

    server = c104.Server(ip="0.0.0.0", port=args.port, tick_rate_ms=50, select_timeout_ms=5000)
    if args.keepalive:
        server.protocol_parameters.keep_alive_interval = args.keepalive
    station = server.add_station(common_address=args.ca)
    points = {}
    points[100] = station.add_point(io_address=100, type=c104.Type.M_SP_NA_1)
    points[100].value = True
    points[101] = station.add_point(io_address=101, type=c104.Type.M_ME_NC_1)
    points[101].value = 12.5
    points[102] = station.add_point(io_address=102, type=c104.Type.M_ME_NB_1)
    points[102].value = c104.Int16(1234)
    points[200] = station.add_point(io_address=200, type=c104.Type.C_SC_NA_1)
    points[201] = station.add_point(
        io_address=201,
        type=c104.Type.C_SC_NA_1,
        command_mode=c104.CommandMode.SELECT_AND_EXECUTE,
    )
    points[300] = station.add_point(io_address=300, type=c104.Type.C_SE_NC_1)

    def on_command(
        point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage
    ) -> c104.ResponseState:
        say(
            event="command",
            ioa=point.io_address,
            type=point.type.name,
            value=plain(point.value),
            previous=plain(getattr(previous_info, "value", None)),
            cot=message.cot.name,
            select=bool(message.is_select_command),
        )
        return c104.ResponseState.SUCCESS

    for ioa in (200, 201, 300):
        points[ioa].on_receive(callable=on_command)

    def on_clock_sync(
        server: c104.Server, ip: str, date_time: datetime.datetime
    ) -> c104.ResponseState:
        say(event="clock_sync", ip=ip, time=str(date_time))
        return c104.ResponseState.SUCCESS

    def on_unexpected(
        server: c104.Server, message: c104.IncomingMessage, cause: c104.Umc
    ) -> None:
        say(event="unexpected", type=message.type.name, cot=message.cot.name, cause=cause.name)

    def on_receive_raw(server: c104.Server, data: bytes) -> None:
        received[0] += 1
        trace.write(f"rx {bytes(data).hex()}\n")

    server.on_clock_sync(callable=on_clock_sync)
    server.on_unexpected_message(callable=on_unexpected)
    server.on_receive_raw(callable=on_receive_raw)
    server.start()
    for _ in range(200):
        if server.is_running:
            break
        time.sleep(0.05)
    else:
        sys.exit(f"the c104 server did not start on port {args.port}")
    say(event="ready", port=args.port)

    for line in sys.stdin:
        if line.strip() == "report":
            # A spontaneous report of IOA 101 (monitoring direction, cause 3).
            points[101].value = 13.5
            points[101].transmit(cause=c104.Cot.SPONTANEOUS)
            say(event="reported", ioa=101)
        if line.strip() == "state":
            say(
                event="state",
                points={str(ioa): plain(pt.value) for ioa, pt in points.items()},
                rx=received[0],
            )
    # stdin closed: serve until killed.
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
