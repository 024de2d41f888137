#!/usr/bin/env python3
"""An EtherNet/IP controller for the tests: cpppo 5.2.5's `cpppo.server.enip` (its Logix
simulator), run in-process so every write to a tag can be recorded.

Listens on --address ADDR --port N (TCP only) with two tags, placed by cpppo in the Message
Router object (class 0x02, instance 1) in this order:
  SCADA  INT[10]  100 101 ... 109    (attribute 1: Set_Attribute_Single 0x02/1/1 writes it)
  SP     DINT     1234               (attribute 2)

Prints on stdout (flushed), one JSON object per line:
  {"event": "ready", "address": ADDR, "port": N}
  {"event": "state", "tags": {"SCADA": [...], "SP": [...]}, "writes": [...]}
      answer to `state` on stdin; `writes` is every write cpppo made to a tag, in order
      ({"tag": name, "start": element, "values": [...]}), whatever service asked for it
      (Write Tag, Set_Attribute_Single, nested or not): what the controller executed.
"""

import argparse
import json
import socket
import sys
import threading
import time

try:
    from cpppo.server.enip import device
    from cpppo.server.enip import main as enip_main
except ImportError as e:  # pragma: no cover - reported to the harness
    sys.exit(f"cpppo is not importable ({e}): run `cargo xtask setup`")

INITIAL = {"SCADA": list(range(100, 110)), "SP": 1234}
TAGS = ["SCADA=INT[10]", "SP=DINT"]

LOCK = threading.Lock()
ATTRIBUTES = {}
WRITES = []


def say(**fields):
    with LOCK:
        print(json.dumps(fields), flush=True)


class Recording(device.Attribute):
    """A tag's data: starts with its INITIAL value, records every write."""

    def __init__(self, name, type_cls, default=0, **kwds):
        if name in INITIAL:
            default = INITIAL[name]
        super().__init__(name, type_cls, default=default, **kwds)
        with LOCK:
            ATTRIBUTES[name] = self

    def __setitem__(self, key, value):
        if isinstance(key, slice):
            value = list(value)
            start = key.indices(len(self))[0]
            values = value
        else:
            start, values = key, [value]
        with LOCK:
            WRITES.append({"tag": self.name, "start": start, "values": [plain(v) for v in values]})
        super().__setitem__(key, value)


def plain(v):
    return v if isinstance(v, (int, float, str)) else repr(v)


def state():
    with LOCK:
        attributes = dict(ATTRIBUTES)
        writes = list(WRITES)
    tags = {name: [plain(v) for v in a[0 : len(a)]] for name, a in attributes.items()}
    say(event="state", tags=tags, writes=writes)


def announce(address, port):
    """`ready` once the server accepts connections (probed from this namespace)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection((address, port), timeout=1).close()
            say(event="ready", address=address, port=port)
            return
        except OSError:
            time.sleep(0.1)
    say(event="error", error=f"nothing accepts on {address}:{port}")


def commands():
    for line in sys.stdin:
        if line.strip() == "state":
            state()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--address", required=True)
    p.add_argument("--port", type=int, default=44818)
    args = p.parse_args()

    threading.Thread(target=announce, args=(args.address, args.port), daemon=True).start()
    threading.Thread(target=commands, daemon=True).start()
    argv = ["--address", f"{args.address}:{args.port}", "--no-udp", "--no-config", *TAGS]
    enip_main.main(argv=argv, attribute_class=Recording)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
