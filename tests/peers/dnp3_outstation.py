#!/usr/bin/env python3
"""A DNP3 outstation for the integration tests: dnp3-simulation 0.1.2 (`python -m dnp3_sim
start`), its simulator and TCP server classes run as they are, with a hook that records
every frame it receives.

Listens on --port (every IPv4 address). Link address 1024 (the simulator answers any
destination). A cold or warm restart keeps it busy for --restart-ms (default 100). Binary outputs (group 10 variation 2):
  index 0  breaker_1  startup on   latch_on/latch_off/pulse_on/pulse_off
  index 1  pump_1     startup off  latch_on/latch_off
  index 2  valve_3    startup on   latch_on/latch_off
Function codes it serves: 1 read, 2 write, 5 direct operate, 6 direct operate (no ack),
13 cold restart (every point back to its startup value), 14 warm restart; any other answers
an empty response and logs `unsupported_function_code`. It also accepts JSON requests on
the same port when a connection's first byte is `{` (its debugging interface).

Every frame it receives is appended to --trace as `rx <hex>`, every JSON request as
`json <text>`. Prints on stdout (flushed), one JSON object per line:
  {"event": "ready", "port": N}
  {"event": "state", "points": {"0": true, ...}, "events": [...], "mode": "running"}
        answer to `state` on stdin: point values and the simulator's event log
"""

import argparse
import json
import os
import sys
import tempfile
import threading

try:
    from dnp3_sim import server as sim_server
    from dnp3_sim.cli import build_simulator
    from dnp3_sim.config import default_outstation_data
except ImportError as e:  # pragma: no cover - reported to the harness
    sys.exit(f"dnp3-simulation is not importable ({e}): run `cargo xtask setup`")

POINTS = {
    "binary_outputs": [
        {
            "index": 0,
            "name": "breaker_1",
            "startup_value": True,
            "commandable": True,
            "allowed_operations": ["latch_on", "latch_off", "pulse_on", "pulse_off"],
        },
        {
            "index": 1,
            "name": "pump_1",
            "startup_value": False,
            "commandable": True,
            "allowed_operations": ["latch_on", "latch_off"],
        },
        {
            "index": 2,
            "name": "valve_3",
            "startup_value": True,
            "commandable": True,
            "allowed_operations": ["latch_on", "latch_off"],
        },
    ]
}

LOCK = threading.Lock()


def say(**fields):
    with LOCK:
        print(json.dumps(fields), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=20000)
    p.add_argument("--trace", required=True)
    p.add_argument(
        "--restart-ms",
        type=int,
        default=100,
        help="how long a cold or warm restart keeps the outstation busy (simulator default 1000/300)",
    )
    args = p.parse_args()
    trace = open(args.trace, "a", buffering=1)

    outstation_config = default_outstation_data()
    restart = outstation_config["outstation"]["restart"]
    restart["cold_restart_delay_ms"] = args.restart_ms
    restart["warm_restart_delay_ms"] = args.restart_ms
    with tempfile.TemporaryDirectory() as tmp:
        points = os.path.join(tmp, "points.json")
        with open(points, "w") as f:
            json.dump(POINTS, f)
        outstation = os.path.join(tmp, "outstation.json")
        with open(outstation, "w") as f:
            json.dump(outstation_config, f)
        simulator = build_simulator(outstation, points)
    simulator.config.host = "0.0.0.0"
    simulator.config.port = args.port

    handler = sim_server.SimulatorTCPHandler
    process_frame = handler._process_dnp3_binary_frame
    handle_json = handler._handle_json

    def recording_process(self, raw_frame):
        trace.write(f"rx {bytes(raw_frame).hex()}\n")
        return process_frame(self, raw_frame)

    def recording_json(self, first):
        trace.write("json connection\n")
        return handle_json(self, first)

    handler._process_dnp3_binary_frame = recording_process
    handler._handle_json = recording_json

    server = sim_server.SimulatorTCPServer(("0.0.0.0", args.port), simulator)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    say(event="ready", port=args.port)

    for line in sys.stdin:
        if line.strip() == "state":
            with LOCK:
                values = {str(pt.index): pt.value for pt in simulator.points.values()}
            say(
                event="state",
                points=values,
                events=simulator.events.tail(1000),
                mode=simulator.status()["mode"],
            )
    threading.Event().wait()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
