#!/usr/bin/env python3
"""One S7 client operation for the tests, with python-snap7 3.3.0's `snap7.Client` (or a plain
TCP connection for hand-made TPDUs); prints one JSON object and exits.

  s7_client.py HOST PORT read  --slot S --db N --start A --size K
  s7_client.py HOST PORT write --slot S --db N --start A --data HEX
  s7_client.py HOST PORT szl --slot S             (userdata: SZL 0x0011, module id)
  s7_client.py HOST PORT cpu_state --slot S
  s7_client.py HOST PORT stop --slot S            (job 0x29, PLC stop)
  s7_client.py HOST PORT hot_start --slot S       (job 0x28, PI service P_PROGRAM)
  s7_client.py HOST PORT cold_start --slot S      (job 0x28, block "C ", PI service P_PROGRAM)
  s7_client.py HOST PORT compress --slot S        (job 0x28, PI service _GARB)
  s7_client.py HOST PORT raw --segments HEX,HEX.. --pause SEC --wait SEC
      connects (COTP CR to TSAP 0x0102, setup communication, each answer awaited), then
      sends each segment with one send() (TCP_NODELAY), collects what comes back.

Output: {"ok": bool, "data": hex, "error": str, "received": hex, "reset": bool,
"local_port": N}.
"""

import json
import socket
import struct
import sys
import time

import snap7

CR = bytes.fromhex("0300001611e00000000100c0010ac1020100c2020102")
SETUP = bytes.fromhex("0300001902f08032010000050000080000f0000001000101e0")


def out(**fields):
    print(json.dumps(fields), flush=True)


def recv_tpdu(s, deadline):
    """One TPKT: its bytes, or b'' when the connection ended."""
    data = b""
    while len(data) < 4 or len(data) < struct.unpack(">H", data[2:4])[0]:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk
    return data


def raw(host, port, segments, pause, wait):
    s = socket.create_connection((host, port), timeout=3)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    local_port = s.getsockname()[1]
    for frame in (CR, SETUP):
        s.sendall(frame)
        if not recv_tpdu(s, time.monotonic() + 3):
            return out(ok=False, error="no answer to the connection setup", local_port=local_port)
    for i, seg in enumerate(segments):
        if i:
            time.sleep(pause)
        try:
            s.send(seg)
        except OSError as e:
            return out(ok=True, received="", reset=True, error=str(e), local_port=local_port)
    received, reset = b"", False
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = s.recv(4096)
        except socket.timeout:
            break
        except ConnectionResetError:
            reset = True
            break
        if not chunk:
            break
        received += chunk
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    except OSError:
        pass
    out(ok=True, received=received.hex(), reset=reset, local_port=local_port)


def main():
    host, port, op = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    opts = dict(zip(sys.argv[4::2], sys.argv[5::2]))
    if op == "raw":
        segments = [bytes.fromhex(x) for x in opts["--segments"].split(",") if x]
        return raw(host, port, segments, float(opts["--pause"]), float(opts["--wait"]))
    c = snap7.Client()
    try:
        c.connect(host, 0, int(opts.get("--slot", "2")), port)
        if op == "read":
            data = c.db_read(int(opts["--db"]), int(opts["--start"]), int(opts["--size"]))
            out(ok=True, data=bytes(data).hex())
        elif op == "write":
            c.db_write(int(opts["--db"]), int(opts["--start"]), bytearray.fromhex(opts["--data"]))
            out(ok=True)
        elif op == "szl":
            szl = c.read_szl(0x0011, 0)
            out(ok=True, data=bytes(szl.Data[: szl.Header.LengthDR]).hex())
        elif op == "cpu_state":
            out(ok=True, data=str(c.get_cpu_state()))
        elif op == "stop":
            c.plc_stop()
            out(ok=True)
        elif op == "hot_start":
            c.plc_hot_start()
            out(ok=True)
        elif op == "cold_start":
            c.plc_cold_start()
            out(ok=True)
        elif op == "compress":
            c.compress(1000)
            out(ok=True)
        else:
            out(ok=False, error=f"unknown operation {op}")
    except Exception as e:  # the harness reports what the client saw
        out(ok=False, error=f"{type(e).__name__}: {e}")
    finally:
        try:
            c.disconnect()
        except Exception:
            pass


if __name__ == "__main__":
    main()
