#!/usr/bin/env python3
"""One EtherNet/IP client operation for the tests, with pycomm3 1.2.16 (or a plain TCP
connection for hand-made PDUs); prints one JSON object and exits.

Unconnected messaging (RegisterSession, then SendRRData; `CIPDriver`):
  enip_client.py HOST PORT identity
      ListIdentity, then the Identity object of slot 0 (Get_Attributes_All in Unconnected Send).
  enip_client.py HOST PORT read_tag --tag SCADA --count 10 [--wrap direct|us]
      Read Tag (0x4C) of an INT tag, symbolic path, sent as is or in Unconnected Send.
  enip_client.py HOST PORT write_tag --tag SCADA[2] --type INT|DINT --values 1,2 [--wrap ...]
      Write Tag (0x4D).
  enip_client.py HOST PORT get_attr --path 2/1/1 [--wrap direct|us|us_msp|connected]
  enip_client.py HOST PORT set_attr --path 2/1/1 --data HEX [--wrap direct|us|us_msp|connected]
      Get_Attribute_Single (0x0E) / Set_Attribute_Single (0x10) of class/instance/attribute:
      as is, in Unconnected Send, in Unconnected Send -> Multiple Service Packet, or over a
      connection (Large Forward_Open, then SendUnitData).
Connected messaging (`LogixDriver`: ListIdentity, Identity, Large Forward_Open, the
controller's name (class 0x64), SendUnitData; Forward_Close and UnRegisterSession at the end):
  enip_client.py HOST PORT logix_read --tags SCADA{10},SP
  enip_client.py HOST PORT logix_write --tags SCADA[4]=44,SP=55
      Two tags or more: pycomm3 packs them in one Multiple Service Packet. (pycomm3 1.2.16 sends
      the request of a single-tag write twice in its data item, which cpppo refuses.)
      LogixDriver runs with init_tags=False (cpppo has no Symbol object to list tags from): the
      tag definitions below stand in for the upload.
Hand-made PDUs:
  enip_client.py HOST PORT raw --stream HEX --cuts N,N.. --pause SEC --wait SEC
      registers a session, writes its handle into every encapsulation header of the stream,
      cuts the stream at the offsets and sends each part with one send() (TCP_NODELAY),
      `pause` apart, and collects what comes back within `wait`.

Output: {"ok": bool, "values": [...], "data": hex, "error": str, "received": hex,
"reset": bool, "local_port": N}.
"""

import json
import socket
import struct
import sys
import time

from pycomm3 import CIPDriver, LogixDriver
from pycomm3.cip import DataTypes
from pycomm3.cip.data_types import Array
from pycomm3.packets import GenericUnconnectedRequestPacket
from pycomm3.packets.util import request_path, tag_request_path, wrap_unconnected_send

# What LogixDriver would have read from the controller's Symbol object.
TAG_TYPES = {"SCADA": ("INT", 10), "SP": ("DINT", 1)}
TYPE_CODES = {"INT": (0xC3, "<h"), "DINT": (0xC4, "<i")}
ROUTE = bytes([1, 0, 0x01, 0x00])  # 1 word, reserved, backplane port 1, slot 0


def out(**fields):
    print(json.dumps(fields), flush=True)


def tag_definition(name):
    dtype, n = TAG_TYPES[name]
    element = DataTypes.get(dtype)
    return {
        "tag_name": name,
        "dim": 1 if n > 1 else 0,
        "alias": False,
        "instance_id": None,
        "external_access": "Read/Write",
        "dimensions": [n if n > 1 else 0, 0, 0],
        "data_type": dtype,
        "data_type_name": dtype,
        "tag_type": "atomic",
        "type_class": Array(length_=n, element_type_=element) if n > 1 else element,
    }


class Request(GenericUnconnectedRequestPacket):
    """An unconnected request with any path (pycomm3's generic message builds logical paths
    only): `service path data`, as is or wrapped in Unconnected Send."""

    def __init__(self, service, path, data, unconnected_send):
        super().__init__(service=service, class_code=0, instance=0, request_data=data,
                         route_path=ROUTE, unconnected_send=unconnected_send)
        self.path = path

    def _setup_message(self):
        self._msg_setup = True
        msg = self.service + self.path + self.request_data
        self._msg += [wrap_unconnected_send(msg, self.route_path) if self.unconnected_send else msg]


def logical(path):
    c, i, a = (int(x, 0) for x in path.split("/"))
    return c, i, a


def msp(requests):
    """A Multiple Service Packet's data: count, offsets, requests."""
    n = len(requests)
    offsets, at = [], 2 + 2 * n
    for r in requests:
        offsets.append(at)
        at += len(r)
    return struct.pack("<H", n) + b"".join(struct.pack("<H", o) for o in offsets) + b"".join(requests)


# The client's TCP port, once connected (also reported when the operation fails).
SEEN = {}


def local_port(driver):
    try:
        SEEN["local_port"] = driver._sock.sock.getsockname()[1]
    except Exception:
        pass
    return SEEN.get("local_port")


def unconnected(host, port, op, opts):
    wrap = opts.get("--wrap", "direct")
    d = CIPDriver(f"{host}:{port}")
    d.open()
    fields = {"local_port": local_port(d)}
    try:
        if op == "identity":
            ident = d._list_identity()
            module = d.get_module_info(0)
            return dict(ok=bool(ident) and bool(module), values=[ident.get("product_name"), module.get("product_name")], **fields)
        if op in ("read_tag", "write_tag"):
            tag = opts["--tag"]
            path = tag_request_path(tag, {}, False)
            if op == "read_tag":
                r = d.send(Request(b"\x4c", path, struct.pack("<H", int(opts["--count"])), wrap == "us"))
                if not r:
                    return dict(ok=False, error=str(r.error), **fields)
                data = bytes(r.value)
                code = struct.unpack("<H", data[:2])[0]
                fmt = next(f for c, f in TYPE_CODES.values() if c == code)
                size = struct.calcsize(fmt)
                values = [struct.unpack(fmt, data[k : k + size])[0] for k in range(2, len(data), size)]
                return dict(ok=True, values=values, data=data.hex(), **fields)
            code, fmt = TYPE_CODES[opts.get("--type", "INT")]
            values = [int(v, 0) for v in opts["--values"].split(",")]
            data = struct.pack("<HH", code, len(values)) + b"".join(struct.pack(fmt, v) for v in values)
            r = d.send(Request(b"\x4d", path, data, wrap == "us"))
            return dict(ok=bool(r), error=None if r else str(r.error), **fields)
        c, i, a = logical(opts["--path"])
        service = 0x0E if op == "get_attr" else 0x10
        data = bytes.fromhex(opts.get("--data", ""))
        if wrap == "us_msp":
            inner = bytes([service]) + request_path(c, i, a) + data
            r = d.generic_message(service=0x0A, class_code=2, instance=1, request_data=msp([inner]),
                                  connected=False, unconnected_send=True, route_path=ROUTE)
            if r.value:
                # The Multiple Service Packet's reply: count, offset, the service's reply.
                reply = bytes(r.value)[4:]
                ok = len(reply) >= 4 and reply[2] == 0
                return dict(ok=ok, data=reply[4:].hex(), error=r.error or (None if ok else f"status {reply[2:3].hex()}"), **fields)
        else:
            kw = dict(connected=True) if wrap == "connected" else dict(
                connected=False, unconnected_send=wrap == "us", route_path=ROUTE if wrap == "us" else False)
            r = d.generic_message(service=service, class_code=c, instance=i, attribute=a, request_data=data, **kw)
        return dict(ok=not r.error, data=bytes(r.value or b"").hex(), error=r.error, **fields)
    finally:
        try:
            d.close()
        except Exception:
            pass


def connected(host, port, op, opts):
    plc = LogixDriver(f"{host}:{port}", init_tags=False, init_program_tags=False)
    # LogixDriver.open, in two steps so a failing initialisation still reports the port.
    CIPDriver.open(plc)
    fields = {"local_port": local_port(plc)}
    try:
        plc._initialize_driver(**plc._init_args)
        for name in TAG_TYPES:
            plc._tags[name] = tag_definition(name)
        if op == "logix_read":
            tags = plc.read(*opts["--tags"].split(","))
        else:
            pairs = [t.split("=") for t in opts["--tags"].split(",")]
            tags = plc.write(*[(t, int(v, 0)) for t, v in pairs])
        tags = tags if isinstance(tags, list) else [tags]
        errors = [f"{t.tag}: {t.error}" for t in tags if t.error]
        return dict(ok=not errors, values=[t.value for t in tags], error="; ".join(errors) or None, **fields)
    finally:
        try:
            plc.close()
        except Exception:
            pass


def register(s, deadline):
    s.sendall(struct.pack("<HHII8sI", 0x65, 4, 0, 0, b"zcfwtest", 0) + struct.pack("<HH", 1, 0))
    data = b""
    while len(data) < 28:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    if len(data) < 28 or struct.unpack("<I", data[8:12])[0] != 0:
        return None
    return data[4:8]


def with_session(stream, session):
    """Every encapsulation header of the stream gets the session handle."""
    stream, at = bytearray(stream), 0
    while at + 24 <= len(stream):
        stream[at + 4 : at + 8] = session
        at += 24 + struct.unpack("<H", stream[at + 2 : at + 4])[0]
    return bytes(stream)


def raw(host, port, stream, cuts, pause, wait):
    s = socket.create_connection((host, port), timeout=3)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    local = s.getsockname()[1]
    session = register(s, time.monotonic() + 3)
    if session is None:
        return out(ok=False, error="no answer to RegisterSession", local_port=local)
    stream = with_session(stream, session)
    bounds = [0, *cuts, len(stream)]
    for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
        if k:
            time.sleep(pause)
        try:
            s.send(stream[a:b])
        except OSError as e:
            return out(ok=True, received="", reset=True, error=str(e), local_port=local)
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
    out(ok=True, received=received.hex(), reset=reset, local_port=local)


def main():
    host, port, op = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    opts = dict(zip(sys.argv[4::2], sys.argv[5::2]))
    if op == "raw":
        cuts = [int(x) for x in opts.get("--cuts", "").split(",") if x]
        return raw(host, port, bytes.fromhex(opts["--stream"]), cuts, float(opts["--pause"]), float(opts["--wait"]))
    try:
        if op in ("logix_read", "logix_write"):
            result = connected(host, port, op, opts)
        elif op in ("identity", "read_tag", "write_tag", "get_attr", "set_attr"):
            result = unconnected(host, port, op, opts)
        else:
            result = dict(ok=False, error=f"unknown operation {op}")
    except Exception as e:  # the harness reports what the client saw
        cause = f" ({type(e.__cause__).__name__}: {e.__cause__})" if e.__cause__ else ""
        result = dict(ok=False, error=f"{type(e).__name__}: {e}{cause}", **SEEN)
    out(**result)


if __name__ == "__main__":
    main()
