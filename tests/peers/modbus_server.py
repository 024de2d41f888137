#!/usr/bin/env python3
"""A Modbus/TCP server (pymodbus 3.x) for the integration tests (tests/tests/modbus.rs).

Serves every unit id given with --unit; unit N's tables (wire addresses 0-199):
  holding registers  N * 1000 + address          (unit 1: 1000..1199, unit 2: 2000..2199)
  input registers    N * 1000 + 500 + address    (unit 1: 1500..1699)
  coils              address % 3 == 0
  discrete inputs    address % 2 == 0
Reads beyond 199 answer with exception 2 (illegal data address), writes change the tables.

Every byte stream the server receives is appended to --trace as one line `rx <hex>` (what
reached the PLC: the tests check that denied requests never did). Prints `ready` on stdout
once it accepts connections, then serves until killed.

Runs with /usr/bin/python3 (3.11) and pymodbus 3.x; `cargo xtask setup` creates the venv.
"""

import argparse
import asyncio
import logging
import sys

try:
    import pymodbus
    from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext
    from pymodbus.server import ModbusTcpServer
except ImportError as e:  # pragma: no cover - reported to the harness
    sys.exit(f"pymodbus is not importable ({e}): run `cargo xtask setup`")

try:  # pymodbus >= 3.10
    from pymodbus.datastore import ModbusDeviceContext as DeviceContext
except ImportError:  # older 3.x
    from pymodbus.datastore import ModbusSlaveContext as DeviceContext

SIZE = 200


def block(values):
    # pymodbus 3.x data blocks are 1-based: a block starting at 1 holds wire address 0.
    return ModbusSequentialDataBlock(1, list(values))


def device(unit):
    return DeviceContext(
        hr=block(unit * 1000 + a for a in range(SIZE)),
        ir=block(unit * 1000 + 500 + a for a in range(SIZE)),
        co=block(a % 3 == 0 for a in range(SIZE)),
        di=block(a % 2 == 0 for a in range(SIZE)),
    )


def context(units):
    devices = {u: device(u) for u in units}
    try:
        return ModbusServerContext(devices=devices, single=False)
    except TypeError:  # before 3.10 the keyword was `slaves`
        return ModbusServerContext(slaves=devices, single=False)


async def serve(args):
    trace_file = open(args.trace, "a", buffering=1)

    def trace_packet(sending, data):
        if not sending:
            trace_file.write(f"rx {data.hex()}\n")
        return data

    server = ModbusTcpServer(
        context(args.unit), address=(args.host, args.port), trace_packet=trace_packet
    )
    task = asyncio.create_task(server.serve_forever())
    probe = "127.0.0.1" if args.host in ("", "0.0.0.0") else args.host
    probe = "::1" if probe == "::" else probe
    for _ in range(200):
        if task.done():
            task.result()  # raises what went wrong
            sys.exit("the server stopped before it was ready")
        try:
            _, writer = await asyncio.open_connection(probe, args.port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    else:
        sys.exit(f"nothing listens on {probe}:{args.port} after 10 s")
    print(f"ready pymodbus {pymodbus.__version__}", flush=True)
    await task


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="", help="address to bind ('' = every address)")
    p.add_argument("--port", type=int, default=502)
    p.add_argument("--unit", type=int, action="append", required=True)
    p.add_argument("--trace", required=True, help="file to append received bytes to")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
