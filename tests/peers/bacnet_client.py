#!/usr/bin/env python3
"""One BACnet/IP client operation for the tests, with bacpypes3 0.0.110 (a `NormalApplication`
of its own, device 2001, APDU timeout 1 s, no retries); prints one JSON object and exits.

  bacnet_client.py LOCAL/PREFIX DEVICE_IP who_is           (unicast Who-Is, range 0-4194303)
  bacnet_client.py LOCAL/PREFIX BROADCAST who_is_broadcast (the same Who-Is as a BVLC
      Original-Broadcast-NPDU to BROADCAST:47808: the stack's own local broadcast, pointed at
      BROADCAST, e.g. a remote subnet's 10.30.0.255, the own 10.50.0.255, or 255.255.255.255)
  bacnet_client.py LOCAL/PREFIX DEVICE_IP read             (analog-value,1 present-value)
  bacnet_client.py LOCAL/PREFIX DEVICE_IP read_multiple    (present-value and object-name)
  bacnet_client.py LOCAL/PREFIX DEVICE_IP write VALUE      (present-value, no priority)

Binds LOCAL/PREFIX (the namespace's address, never 127.x) on port 47808.
Output: {"ok": bool, "value": ..., "devices": [instance, ...], "error": str}.
"""

import asyncio
import json
import sys

from bacpypes3.apdu import ErrorRejectAbortNack
from bacpypes3.basetypes import PropertyIdentifier
from bacpypes3.ipv4.app import NormalApplication
from bacpypes3.local.device import DeviceObject
from bacpypes3.pdu import Address, IPv4Address, LocalBroadcast
from bacpypes3.primitivedata import ObjectIdentifier

POINT = ObjectIdentifier("analog-value,1")
TIMEOUT = 4.0


def out(**fields):
    print(json.dumps(fields), flush=True)


async def operate(app, device, op, rest):
    if op == "who_is":
        i_ams = await asyncio.wait_for(app.who_is(0, 4194303, device), TIMEOUT)
        return dict(ok=bool(i_ams), devices=[i.iAmDeviceIdentifier[1] for i in i_ams])
    if op == "who_is_broadcast":
        # bacpypes3 sends a LocalBroadcast as Original-Broadcast-NPDU to the datagram
        # server's broadcast address (the bound subnet's); point that at the one asked for.
        app.normal.server.broadcast_address = (device, 47808)
        i_ams = await asyncio.wait_for(
            app.who_is(0, 4194303, LocalBroadcast()), TIMEOUT
        )
        return dict(ok=bool(i_ams), devices=[i.iAmDeviceIdentifier[1] for i in i_ams])
    if op == "read":
        value = await asyncio.wait_for(
            app.read_property(device, POINT, "present-value"), TIMEOUT
        )
        return dict(ok=True, value=float(value))
    if op == "read_multiple":
        results = await asyncio.wait_for(
            app.read_property_multiple(
                device, [POINT, ["present-value", "object-name"]]
            ),
            TIMEOUT,
        )
        values = {}
        for _obj, prop, _index, value in results:
            if isinstance(value, ErrorRejectAbortNack):
                return dict(ok=False, error=f"{prop}: {value}")
            values[str(PropertyIdentifier(prop))] = (
                float(value) if prop == PropertyIdentifier.presentValue else str(value)
            )
        return dict(ok=True, value=values)
    if op == "write":
        await asyncio.wait_for(
            app.write_property(device, POINT, "present-value", float(rest[0])), TIMEOUT
        )
        return dict(ok=True)
    return dict(ok=False, error=f"unknown operation {op}")


async def main():
    local, device, op, rest = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    me = DeviceObject(
        objectIdentifier=("device", 2001),
        objectName="zcfw-test-client",
        vendorIdentifier=999,
        apduTimeout=1000,
        numberOfApduRetries=0,
    )
    app = NormalApplication(me, IPv4Address(f"{local}:47808"))
    try:
        target = device if op == "who_is_broadcast" else Address(device)
        result = await operate(app, target, op, rest)
    except asyncio.TimeoutError:
        result = dict(ok=False, error="timeout")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # bacpypes3's AbortPDU is no Exception; the harness reports it
        result = dict(ok=False, error=f"{type(e).__name__}: {e}")
    out(**result)
    app.close()


if __name__ == "__main__":
    asyncio.run(main())
