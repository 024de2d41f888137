#!/usr/bin/env python3
"""An S7 PLC for the tests: python-snap7 3.3.0's pure-Python `snap7.Server`.

Listens on --port (every IPv4 address) with two areas:
  DB1   32 bytes 0x10 0x11 ... 0x2F
  MK    32 bytes 0xA0 0xA1 ... 0xBF (flags, merker)
and the CPU in RUN.

Prints on stdout (flushed), one JSON object per line:
  {"event": "ready", "port": N}
  {"event": "state", "db1": hex, "mk": hex, "cpu": "RUN"|"STOP"|..., "rx": [hex, ...]}
      answer to `state` on stdin; `rx` is every S7 PDU (reassembled from its COTP data
      TPDUs) the server processed, in order: what reached the PLC.
Reads lines on stdin: `state`, `stop` and `run` (set the CPU state, for the PI service case).
"""

import argparse
import json
import sys
import threading
import time

try:
    import snap7
    from snap7.server import CPUState
    from snap7.type import SrvArea
except ImportError as e:  # pragma: no cover - reported to the harness
    sys.exit(f"python-snap7 is not importable ({e}): run `cargo xtask setup`")

LOCK = threading.Lock()


def say(**fields):
    with LOCK:
        print(json.dumps(fields), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=102)
    args = p.parse_args()

    db1 = bytearray(range(0x10, 0x30))
    mk = bytearray(range(0xA0, 0xC0))
    rx = []
    server = snap7.Server(log=False)
    server.register_area(SrvArea.DB, 1, db1)
    server.register_area(SrvArea.MK, 0, mk)

    process = server._process_request

    def record(data, address):
        with LOCK:
            rx.append(bytes(data).hex())
        return process(data, address)

    # Every reassembled request passes here before the server acts on it.
    server._process_request = record
    server.start(tcp_port=args.port)
    time.sleep(0.2)
    say(event="ready", port=args.port)

    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "stop":
            server.cpu_state = CPUState.STOP
        elif cmd == "run":
            server.cpu_state = CPUState.RUN
        if cmd in ("state", "stop", "run"):
            with LOCK:
                seen = list(rx)
            say(
                event="state",
                db1=bytes(db1).hex(),
                mk=bytes(mk).hex(),
                cpu=CPUState(server.cpu_state).name,
                rx=seen,
            )
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
