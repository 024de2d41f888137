#!/usr/bin/env python3
"""A BACnet/IP device for the tests: bacpypes3 0.0.110's `NormalApplication`.

Bound to --address (ADDR/PREFIX, e.g. 10.30.0.2/24) on --port (47808), device instance
--instance, with one object:
  analog-value,1  present-value 21.5 (object name "setpoint")
bacpypes3 answers Who-Is with an I-Am to the asker, ReadProperty, ReadPropertyMultiple and
WriteProperty (the present value is writable).

Prints on stdout (flushed), one JSON object per line:
  {"event": "ready", "address": "ADDR/PREFIX", "port": N}
  {"event": "state", "present_value": float, "writes": N, "who_is": [...]}
      answer to `state` on stdin; `writes` counts the WriteProperty requests the
      application processed (what reached the device); `who_is` lists the Who-Is requests
      it received, oldest first, each {"source": "ADDR[:PORT]", "broadcast": bool}
      (bacpypes3 leaves out the port when it is 47808)
      (`broadcast`: it arrived on the broadcast socket, i.e. sent to ADDR's subnet broadcast).
"""

import argparse
import asyncio
import json
import sys

try:
    from bacpypes3.ipv4.app import NormalApplication
    from bacpypes3.local.analog import AnalogValueObject
    from bacpypes3.local.device import DeviceObject
    from bacpypes3.pdu import IPv4Address, LocalBroadcast
except ImportError as e:  # pragma: no cover - reported to the harness
    sys.exit(f"bacpypes3 is not importable ({e}): run `cargo xtask setup`")


def say(**fields):
    print(json.dumps(fields), flush=True)


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--address", required=True)
    p.add_argument("--port", type=int, default=47808)
    p.add_argument("--instance", type=int, default=1001)
    args = p.parse_args()

    device = DeviceObject(
        objectIdentifier=("device", args.instance),
        objectName=f"zcfw-test-{args.instance}",
        vendorIdentifier=999,
    )
    address = IPv4Address(f"{args.address}:{args.port}")
    app = NormalApplication(device, address)
    point = AnalogValueObject(
        objectIdentifier=("analog-value", 1),
        objectName="setpoint",
        presentValue=21.5,
        statusFlags=[0, 0, 0, 0],
        eventState="normal",
        outOfService=False,
        units="degrees-celsius",
    )
    app.add_object(point)

    writes = 0
    handler = app.do_WritePropertyRequest

    async def record(apdu):
        nonlocal writes
        writes += 1
        return await handler(apdu)

    # Every WriteProperty request the device processes passes here first.
    app.do_WritePropertyRequest = record

    who_is = []
    answer = app.do_WhoIsRequest

    async def heard(apdu):
        who_is.append(
            dict(
                source=str(apdu.pduSource),
                broadcast=isinstance(apdu.pduDestination, LocalBroadcast),
            )
        )
        return await answer(apdu)

    # Every Who-Is the device receives, unicast or broadcast, passes here first.
    app.do_WhoIsRequest = heard
    say(event="ready", address=args.address, port=args.port)

    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        if line.strip() == "state":
            say(
                event="state",
                present_value=float(point.presentValue),
                writes=writes,
                who_is=who_is,
            )
    while True:
        await asyncio.sleep(3600)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
