#!/usr/bin/env python3
"""One OPC UA client operation for the tests, with asyncua 2.1.0 (or a plain TCP connection
for hand-made messages); prints one JSON object and exits.

asyncua's `Client` (Hello, OpenSecureChannel, CreateSession, ActivateSession anonymous, the
operation, CloseSession, CloseSecureChannel), on the server's ns=2;s=... nodes
(tests/peers/opcua_server.py):
  opcua_client.py HOST PORT OP [--security none|sign|sign_and_encrypt] [--server-cert PATH]
                  [--dir DIR] [ARGS]
  read                       Read of Setpoint and Counter: values {"Setpoint": x, "Counter": n}
  write --value X            Write of Setpoint (Double)
  browse                     Browse of Objects/Plant: names
  call                       Call of Plant.Reset
  add_nodes [--name NAME]    AddNodes: a variable NAME (Injected) under Plant
  delete_nodes               DeleteNodes of Spare
  big_write --size N         Write of Blob (ByteString of N octets): a request larger than the
                             server's 64 KiB receive buffer goes out as 'C' chunks and an 'F'
      --security sign / sign_and_encrypt: SecurityPolicy Basic256Sha256 in that mode, with a
      client certificate made in --dir (asyncua's setup_self_signed_certificate) and the server's
      certificate read from --server-cert (no GetEndpoints on a None channel first).

Hand-made messages on a None channel (a plain socket, bodies encoded with asyncua.ua):
  opcua_client.py HOST PORT raw --requests SPEC[,SPEC..] [--cuts N,N..] --pause SEC --wait SEC
      Hello, OpenSecureChannel (None), CreateSession and ActivateSession (anonymous), each
      sent and answered on its own; then one MSG per SPEC, all in one stream, cut at the
      offsets (from the stream's first octet), each part one send() (TCP_NODELAY), `pause`
      apart; what comes back within `wait` is decoded.
      SPEC: read (Setpoint), write=X (Setpoint := X; the request's type id as asyncua encodes
      it, four-byte 0x01 0x00 u16 673), write_numeric=X (the type id re-encoded as a full
      numeric NodeId, 0x02 u16 0 u32 673).
      A MSG's layout: "MSGF" size(4) | channel(4) token(4) | sequence(4) request id(4) |
      type id (24..28 four-byte, 24..31 numeric) | RequestHeader ...

Output: {"ok": bool, "values": {...}, "names": [...], "error": str, "local_port": N,
"sha256": HEX and "chunks": "CCCF" (big_write: the chunk types of its request),
"responses": [{"request_id", "type", "service_result", "results"}] (raw), "reset": bool (raw),
"stream_len": N (raw)}.
"""

import asyncio
import datetime
import hashlib
import json
import logging
import socket
import struct
import sys
import time
from pathlib import Path

from asyncua import Client, ua
from asyncua.client.ua_client import UASocketProtocol
from asyncua.common.utils import Buffer
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.ua.ua_binary import Primitives, nodeid_from_binary, struct_from_binary, struct_to_binary, uatcp_to_binary

NS = 2
APP_URI = "urn:zcfw:test:client"
MODES = {"sign": ua.MessageSecurityMode.Sign, "sign_and_encrypt": ua.MessageSecurityMode.SignAndEncrypt}
TIMEOUT = 6.0

# The client's TCP port, once connected (also reported when the operation fails).
SEEN = {}
# The chunk types of each message the client sent ("F", or "CCCF" for a message in four chunks).
SENT = []


def out(**fields):
    print(json.dumps(fields), flush=True)


def node(name):
    return ua.NodeId(name, NS)


def chunk_types(data):
    """The chunk types (F, C, A) of the MSG chunks in what one write() sent."""
    types, at = "", 0
    while at + 8 <= len(data):
        if data[at : at + 3] == b"MSG":
            types += chr(data[at + 3])
        at += max(8, struct.unpack("<I", data[at + 4 : at + 8])[0])
    return types


def watch_connection():
    """Records the client's TCP port and the chunk types of every message it sends."""
    made = UASocketProtocol.connection_made

    def connection_made(self, transport):
        sock = transport.get_extra_info("sockname")
        if sock:
            SEEN["local_port"] = sock[1]
        write = transport.write

        def counted(data):
            SENT.append(chunk_types(bytes(data)))
            write(data)

        transport.write = counted
        made(self, transport)

    UASocketProtocol.connection_made = connection_made


async def client_for(host, port, opts):
    client = Client(f"opc.tcp://{host}:{port}/", timeout=TIMEOUT)
    client.application_uri = APP_URI
    security = opts.get("--security", "none")
    if security != "none":
        directory = Path(opts["--dir"])
        cert, key = await client.setup_self_signed_certificate(
            directory / "client_key.pem", directory / "client_cert.der")
        await client.set_security(SecurityPolicyBasic256Sha256, str(cert), str(key),
                                  server_certificate=opts["--server-cert"], mode=MODES[security])
    return client


async def operation(client, op, opts):
    plant = client.get_node(node("Plant"))
    if op == "read":
        a, b = await client.read_values([client.get_node(node("Setpoint")), client.get_node(node("Counter"))])
        return dict(ok=True, values={"Setpoint": a, "Counter": b})
    if op == "write":
        await client.get_node(node("Setpoint")).write_value(ua.Variant(float(opts["--value"]), ua.VariantType.Double))
        return dict(ok=True)
    if op == "browse":
        names = [(await c.read_browse_name()).Name for c in await plant.get_children()]
        return dict(ok=True, names=sorted(names))
    if op == "call":
        await plant.call_method(node("Reset"))
        return dict(ok=True)
    if op == "add_nodes":
        name = opts.get("--name", "Injected")
        await plant.add_variable(node(name), ua.QualifiedName(name, NS), 1.0, ua.VariantType.Double)
        return dict(ok=True)
    if op == "delete_nodes":
        results = await client.delete_nodes([client.get_node(node("Spare"))])
        codes = results[1] if isinstance(results, tuple) else results
        bad = [str(c) for c in codes if not ua.StatusCode(c.value if hasattr(c, "value") else c).is_good()]
        return dict(ok=not bad, error="; ".join(bad) or None)
    if op == "big_write":
        n = int(opts["--size"])
        data = bytes((k * 7 + n) & 0xFF for k in range(n))
        await client.get_node(node("Blob")).write_value(ua.Variant(data, ua.VariantType.ByteString))
        return dict(ok=True, sha256=hashlib.sha256(data).hexdigest(), chunks=max(SENT, key=len))
    return dict(ok=False, error=f"unknown operation {op}")


async def with_asyncua(host, port, op, opts):
    watch_connection()
    client = await client_for(host, port, opts)
    try:
        await client.connect(auto_reconnect=False)
    except BaseException as e:
        return failed(e)
    try:
        result = await operation(client, op, opts)
    except BaseException as e:
        result = failed(e)
    try:
        await asyncio.wait_for(client.disconnect(), 3)
    except BaseException:
        pass
    return {**result, **SEEN}


def failed(e):
    cause = f" ({type(e.__cause__).__name__}: {e.__cause__})" if e.__cause__ else ""
    return dict(ok=False, error=f"{type(e).__name__}: {e}{cause}", **SEEN)


# ---- hand-made messages on a None channel ----

NONE_URI = "http://opcfoundation.org/UA/SecurityPolicy#None"
RESPONSES = {
    ua.ObjectIds.OpenSecureChannelResponse_Encoding_DefaultBinary: ua.OpenSecureChannelResponse,
    ua.ObjectIds.CreateSessionResponse_Encoding_DefaultBinary: ua.CreateSessionResponse,
    ua.ObjectIds.ActivateSessionResponse_Encoding_DefaultBinary: ua.ActivateSessionResponse,
    ua.ObjectIds.ReadResponse_Encoding_DefaultBinary: ua.ReadResponse,
    ua.ObjectIds.WriteResponse_Encoding_DefaultBinary: ua.WriteResponse,
    ua.ObjectIds.ServiceFault_Encoding_DefaultBinary: ua.ServiceFault,
}


class Channel:
    """A None secure channel on a plain socket: its ids and numbers, messages in and out."""

    def __init__(self, sock):
        self.sock = sock
        self.channel = 0
        self.token = 0
        self.sequence = 0
        self.request_id = 0
        self.handle = 0
        self.auth = ua.NodeId()
        self.pending = b""

    def header(self, request):
        self.handle += 1
        request.RequestHeader.AuthenticationToken = self.auth
        request.RequestHeader.RequestHandle = self.handle
        request.RequestHeader.Timestamp = datetime.datetime.now(datetime.timezone.utc)
        request.RequestHeader.TimeoutHint = 10000
        return request

    def numbers(self):
        self.sequence += 1
        self.request_id += 1
        return struct.pack("<II", self.sequence, self.request_id)

    def opn(self, body):
        security = Primitives.String.pack(NONE_URI) + Primitives.ByteString.pack(None) * 2
        rest = struct.pack("<I", self.channel) + security + self.numbers() + body
        return b"OPNF" + struct.pack("<I", 8 + len(rest)) + rest

    def msg(self, body):
        rest = struct.pack("<II", self.channel, self.token) + self.numbers() + body
        return b"MSGF" + struct.pack("<I", 8 + len(rest)) + rest

    def receive(self, deadline):
        """The next whole message (type, body after the security headers), or None."""
        while True:
            if len(self.pending) >= 8:
                size = struct.unpack("<I", self.pending[4:8])[0]
                if len(self.pending) >= size:
                    kind, data = self.pending[:3], self.pending[:size]
                    self.pending = self.pending[size:]
                    return kind, data
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                raise ConnectionResetError("closed by the peer")
            self.pending += chunk


def decode(kind, data):
    """A response message as {"request_id", "type", "service_result", "results"}."""
    if kind == b"ERR":
        error, reason = struct.unpack("<I", data[8:12])[0], data[16:].decode(errors="replace")
        return {"type": "Error", "service_result": ua.StatusCode(error).name, "reason": reason}
    buf = Buffer(data[8:])
    struct.unpack("<I", buf.read(4))  # channel
    if kind == b"OPN":
        struct_from_binary(ua.AsymmetricAlgorithmHeader, buf)
    else:
        buf.read(4)  # token
    _, request_id = struct.unpack("<II", buf.read(8))
    body = buf.read(len(buf))
    typeid = nodeid_from_binary(Buffer(body))
    cls = RESPONSES.get(typeid.Identifier)
    if cls is None:
        return {"request_id": request_id, "type": f"type id {typeid.to_string()}"}
    response = struct_from_binary(cls, Buffer(body))  # the type id first
    header = response.ResponseHeader
    results = getattr(response, "Results", None) or []
    plain = [r.Value.Value if isinstance(r, ua.DataValue) and r.Value is not None else
             r.name if isinstance(r, ua.StatusCode) else repr(r) for r in results]
    return {"request_id": request_id, "type": cls.__name__, "service_result": header.ServiceResult.name,
            "results": plain, "response": response}


def exchange(ch, message, deadline):
    ch.sock.sendall(message)
    got = ch.receive(deadline)
    if got is None:
        raise TimeoutError("no answer")
    return decode(*got)


def open_session(ch, host, port, deadline):
    url = f"opc.tcp://{host}:{port}/"
    ch.sock.sendall(uatcp_to_binary(ua.MessageType.Hello, ua.Hello(
        ReceiveBufferSize=65535, SendBufferSize=65535, MaxMessageSize=0, MaxChunkCount=0, EndpointUrl=url)))
    ack = ch.receive(deadline)
    if ack is None or ack[0] != b"ACK":
        raise ConnectionError(f"no Acknowledge: {ack!r}")
    opn = ua.OpenSecureChannelRequest()
    opn.Parameters.RequestType = ua.SecurityTokenRequestType.Issue
    opn.Parameters.SecurityMode = ua.MessageSecurityMode.None_
    opn.Parameters.ClientNonce = b""
    opn.Parameters.RequestedLifetime = 600000
    r = exchange(ch, ch.opn(struct_to_binary(ch.header(opn))), deadline)
    if r["type"] != "OpenSecureChannelResponse":
        raise ConnectionError(f"OpenSecureChannel: {r}")
    token = r["response"].Parameters.SecurityToken
    ch.channel, ch.token = token.ChannelId, token.TokenId
    create = ua.CreateSessionRequest()
    p = create.Parameters
    p.ClientDescription = ua.ApplicationDescription(ApplicationUri=APP_URI, ApplicationName=ua.LocalizedText("zcfw raw"),
                                                    ApplicationType=ua.ApplicationType.Client)
    p.EndpointUrl = url
    p.SessionName = "zcfw raw"
    p.ClientNonce = b"\x00" * 32
    p.RequestedSessionTimeout = 60000
    p.MaxResponseMessageSize = 0
    r = exchange(ch, ch.msg(struct_to_binary(ch.header(create))), deadline)
    if r["type"] != "CreateSessionResponse":
        raise ConnectionError(f"CreateSession: {r}")
    ch.auth = r["response"].Parameters.AuthenticationToken
    activate = ua.ActivateSessionRequest()
    activate.Parameters.ClientSignature = ua.SignatureData()
    activate.Parameters.LocaleIds = ["en"]
    activate.Parameters.UserIdentityToken = ua.AnonymousIdentityToken(PolicyId="anonymous")
    activate.Parameters.UserTokenSignature = ua.SignatureData()
    r = exchange(ch, ch.msg(struct_to_binary(ch.header(activate))), deadline)
    if r["type"] != "ActivateSessionResponse" or r["service_result"] != "Good":
        raise ConnectionError(f"ActivateSession: {r}")


FOUR_BYTE_WRITE = struct.pack("<BBH", 1, 0, ua.ObjectIds.WriteRequest_Encoding_DefaultBinary)
NUMERIC_WRITE = struct.pack("<BHI", 2, 0, ua.ObjectIds.WriteRequest_Encoding_DefaultBinary)


def request_body(ch, spec):
    """The body (type id and request) of one SPEC."""
    kind, _, value = spec.partition("=")
    if kind == "read":
        r = ua.ReadRequest()
        r.Parameters.NodesToRead = [ua.ReadValueId(NodeId=node("Setpoint"), AttributeId=ua.AttributeIds.Value)]
        r.Parameters.TimestampsToReturn = ua.TimestampsToReturn.Neither
        return struct_to_binary(ch.header(r))
    if kind in ("write", "write_numeric"):
        r = ua.WriteRequest()
        r.Parameters.NodesToWrite = [ua.WriteValue(
            NodeId=node("Setpoint"), AttributeId=ua.AttributeIds.Value,
            Value=ua.DataValue(ua.Variant(float(value), ua.VariantType.Double)))]
        body = struct_to_binary(ch.header(r))
        assert body.startswith(FOUR_BYTE_WRITE), body[:4].hex()
        if kind == "write_numeric":
            body = NUMERIC_WRITE + body[len(FOUR_BYTE_WRITE):]
        return body
    raise ValueError(f"unknown request {spec}")


def raw(host, port, specs, cuts, pause, wait):
    s = socket.create_connection((host, port), timeout=3)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    local = s.getsockname()[1]
    ch = Channel(s)
    try:
        open_session(ch, host, port, time.monotonic() + TIMEOUT)
    except (OSError, ConnectionError) as e:
        return out(ok=False, error=f"opening the session: {type(e).__name__}: {e}", local_port=local)
    first = ch.request_id + 1
    stream = b"".join(ch.msg(request_body(ch, spec)) for spec in specs)
    bounds = [0, *cuts, len(stream)]
    reset = False
    for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
        if k:
            time.sleep(pause)
        try:
            s.send(stream[a:b])
        except OSError as e:
            reset = True
            break
    responses = []
    deadline = time.monotonic() + wait
    while not reset and len(responses) < len(specs):
        try:
            got = ch.receive(deadline)
        except (ConnectionResetError, OSError):
            reset = True
            break
        if got is None:
            break
        r = decode(*got)
        r.pop("response", None)
        r["index"] = r.get("request_id", 0) - first
        responses.append(r)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    except OSError:
        pass
    out(ok=True, responses=responses, reset=reset, local_port=local, stream_len=len(stream))


def main():
    logging.basicConfig(level=logging.CRITICAL)
    host, port, op = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    opts = dict(zip(sys.argv[4::2], sys.argv[5::2]))
    if op == "raw":
        cuts = [int(x) for x in opts.get("--cuts", "").split(",") if x]
        specs = [x for x in opts["--requests"].split(",") if x]
        return raw(host, port, specs, cuts, float(opts.get("--pause", "0.04")), float(opts.get("--wait", "1")))
    try:
        result = asyncio.run(asyncio.wait_for(with_asyncua(host, port, op, opts), 30))
    except BaseException as e:  # the harness reports what the client saw
        result = failed(e)
    out(**result)


if __name__ == "__main__":
    main()
