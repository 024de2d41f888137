#!/usr/bin/env python3
"""A Modbus/TCP server that serves one connection at a time, like libmodbus's own server
pattern (`modbus_tcp_listen` + `modbus_tcp_accept`, one client served until it leaves) and
the many PLCs that accept one or a few connections. The standard library only.

Listens on --port (every IPv4 and IPv6 address), accepts one connection, answers its
requests until the connection ends (closed or reset), then accepts the next one; a second
client meanwhile waits in the listen backlog, unanswered. Answers read holding registers
(FC 3) of any unit with register `a` of unit `u` = 1000 u + a; any other function with
exception 01 (illegal function).

Prints one line per event on stdout (flushed), for the harness:
  ready PORT
  accepted HOST PORT
  request HOST PORT HEX        one ADU as received
  closed HOST PORT HOW         HOW = eof | reset | error:...
"""

import argparse
import socket
import struct
import sys


def say(*words):
    print(*words, flush=True)


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def answer(adu):
    tid, _proto, _length, unit, function = struct.unpack(">HHHBB", adu[:8])
    if function == 3 and len(adu) >= 12:
        start, count = struct.unpack(">HH", adu[8:12])
        values = [(1000 * unit + start + i) & 0xFFFF for i in range(count)]
        pdu = struct.pack(">BB", 3, 2 * count) + b"".join(struct.pack(">H", v) for v in values)
    else:
        pdu = struct.pack(">BB", function | 0x80, 1)
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def serve(conn, host, port):
    while True:
        header = recv_exact(conn, 7)
        if header is None:
            return "eof"
        length = struct.unpack(">H", header[4:6])[0]
        rest = recv_exact(conn, length - 1) if length > 1 else b""
        if rest is None:
            return "eof"
        adu = header + rest
        say("request", host, port, adu.hex())
        conn.sendall(answer(adu))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=502)
    args = ap.parse_args()
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", args.port))
    sock.listen(1)
    say("ready", args.port)
    while True:
        conn, peer = sock.accept()
        host = peer[0].removeprefix("::ffff:")
        port = peer[1]
        say("accepted", host, port)
        try:
            how = serve(conn, host, port)
        except ConnectionResetError:
            how = "reset"
        except OSError as e:
            how = f"error:{e.errno}"
        conn.close()
        say("closed", host, port, how)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
