#!/usr/bin/env python3
"""An OPC UA server for the tests: asyncua 2.1.0's `Server`, with every service a client's
session executed recorded.

Listens on --address ADDR --port N (opc.tcp://ADDR:N/) with three endpoints: SecurityPolicy
None, Basic256Sha256 Sign and Basic256Sha256 SignAndEncrypt, anonymous login on each. Its
certificate (self-signed, RSA 2048, made at start with asyncua.crypto.cert_gen) and key are
written to --dir DIR (server_cert.der, server_key.pem): clients take the certificate from
there, so a policy that refuses None channels does not stop them before the secure one. Any
client certificate is accepted and every user is an admin, who may call every service (the
denials the tests look for are zcfw's, not the server's).

Address space, namespace urn:zcfw:test (index 2), under Objects/Plant (ns=2;s=Plant):
  Setpoint  ns=2;s=Setpoint  Double 42.0, writable
  Counter   ns=2;s=Counter   Int32 0, read-only: how often Reset ran
  Blob      ns=2;s=Blob      ByteString, empty, writable (big writes)
  Spare     ns=2;s=Spare     Double 0.0 (for DeleteNodes)
  Reset     ns=2;s=Reset     method, no arguments: Counter += 1, Setpoint = 42.0

Prints on stdout (flushed), one JSON object per line:
  {"event": "ready", "address": ADDR, "port": N, "cert": PATH}
  {"event": "state", "values": {"Setpoint": 42.0, "Counter": 0, "Blob": {"len": N,
   "sha256": HEX}}, "nodes": [names under Plant], "executed": [...]}
      answer to `state` on stdin. `executed` is every call a client's session made of the
      services that change something (write, call, add_nodes, delete_nodes, add_references,
      delete_references), in order, after the server ran it, with the status codes it returned:
      {"service": "write", "nodes": ["ns=2;s=Setpoint"], "values": [...], "status": [...]}
      {"service": "call", "methods": ["ns=2;s=Reset"], "status": [...]}
      {"service": "add_nodes", "names": [...], "status": [...]}
      {"service": "delete_nodes", "nodes": [...], "status": [...]}
"""

import argparse
import asyncio
import hashlib
import json
import logging
import socket
import sys
import threading
from pathlib import Path

try:
    from asyncua import Server, ua
    from asyncua.crypto import cert_gen
    from asyncua.crypto.permission_rules import User, UserRole
    from asyncua.server.internal_session import InternalSession
    from cryptography.x509.oid import ExtendedKeyUsageOID
except ImportError as e:  # pragma: no cover - reported to the harness
    sys.exit(f"asyncua is not importable ({e}): run `cargo xtask setup`")

NAMESPACE = "urn:zcfw:test"
APP_URI = "urn:zcfw:test:server"

LOCK = threading.Lock()
EXECUTED = []


def say(**fields):
    with LOCK:
        print(json.dumps(fields), flush=True)


def plain(v):
    """A JSON value for a variant's value (bytes by length and digest)."""
    if isinstance(v, (bytes, bytearray)):
        return {"len": len(v), "sha256": hashlib.sha256(v).hexdigest()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return repr(v)


def status(results):
    return [ua.StatusCode(r).name if not isinstance(r, ua.StatusCode) else r.name for r in results]


def record(service, fields, results):
    with LOCK:
        EXECUTED.append({"service": service, **fields, "status": results})


def recording():
    """Wraps the session services that change the server: a client's (external) session
    records each call after it ran."""
    original = {name: getattr(InternalSession, name) for name in (
        "write", "call", "add_nodes", "delete_nodes", "add_references", "delete_references")}

    async def write(self, params):
        results = await original["write"](self, params)
        if self.external:
            record("write", {
                "nodes": [n.NodeId.to_string() for n in params.NodesToWrite],
                "attributes": [int(n.AttributeId) for n in params.NodesToWrite],
                "values": [plain(n.Value.Value.Value if n.Value and n.Value.Value else None)
                           for n in params.NodesToWrite],
            }, status(results))
        return results

    async def call(self, params):
        results = await original["call"](self, params)
        if self.external:
            record("call", {"methods": [m.MethodId.to_string() for m in params]},
                   [r.StatusCode.name for r in results])
        return results

    async def add_nodes(self, params):
        results = await original["add_nodes"](self, params)
        if self.external:
            record("add_nodes", {"names": [p.BrowseName.Name for p in params]},
                   [r.StatusCode.name for r in results])
        return results

    async def delete_nodes(self, params):
        results = await original["delete_nodes"](self, params)
        if self.external:
            record("delete_nodes", {"nodes": [n.NodeId.to_string() for n in params.NodesToDelete]},
                   status(results))
        return results

    async def add_references(self, params):
        results = await original["add_references"](self, params)
        if self.external:
            record("add_references", {"count": len(params)}, status(results))
        return results

    async def delete_references(self, params):
        results = await original["delete_references"](self, params)
        if self.external:
            record("delete_references", {"count": len(params)}, status(results))
        return results

    for name, f in (("write", write), ("call", call), ("add_nodes", add_nodes),
                    ("delete_nodes", delete_nodes), ("add_references", add_references),
                    ("delete_references", delete_references)):
        setattr(InternalSession, name, f)


class Admins:
    """Every client is an admin: asyncua lets only admins call AddNodes and DeleteNodes."""

    def get_user(self, iserver, username=None, password=None, certificate=None):
        return User(role=UserRole.Admin)


async def make_certificate(directory, host):
    key, cert = directory / "server_key.pem", directory / "server_cert.der"
    await cert_gen.setup_self_signed_certificate(
        key, cert, APP_URI, host,
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        {"organizationName": "zcfw tests"})
    return key, cert


async def serve(args):
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = await make_certificate(directory, socket.gethostname())
    recording()

    server = Server(user_manager=Admins())
    await server.init()
    server.set_endpoint(f"opc.tcp://{args.address}:{args.port}/")
    server.set_server_name("zcfw test server")
    await server.set_application_uri(APP_URI)
    await server.load_certificate(str(cert))
    await server.load_private_key(str(key))
    server.set_security_policy([
        ua.SecurityPolicyType.NoSecurity,
        ua.SecurityPolicyType.Basic256Sha256_Sign,
        ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    ])
    server.set_identity_tokens([ua.AnonymousIdentityToken])

    idx = await server.register_namespace(NAMESPACE)
    plant = await server.nodes.objects.add_object(ua.NodeId("Plant", idx), ua.QualifiedName("Plant", idx))
    setpoint = await plant.add_variable(ua.NodeId("Setpoint", idx), ua.QualifiedName("Setpoint", idx),
                                        42.0, ua.VariantType.Double)
    await setpoint.set_writable()
    counter = await plant.add_variable(ua.NodeId("Counter", idx), ua.QualifiedName("Counter", idx),
                                       0, ua.VariantType.Int32)
    blob = await plant.add_variable(ua.NodeId("Blob", idx), ua.QualifiedName("Blob", idx),
                                    b"", ua.VariantType.ByteString)
    await blob.set_writable()
    await plant.add_variable(ua.NodeId("Spare", idx), ua.QualifiedName("Spare", idx),
                             0.0, ua.VariantType.Double)

    async def reset(parent):
        n = await counter.read_value()
        await counter.write_value(ua.Variant(n + 1, ua.VariantType.Int32))
        await setpoint.write_value(ua.Variant(42.0, ua.VariantType.Double))
        return []

    await plant.add_method(ua.NodeId("Reset", idx), ua.QualifiedName("Reset", idx), reset, [], [])

    async def state():
        values = {}
        nodes = []
        for child in await plant.get_children():
            name = (await child.read_browse_name()).Name
            nodes.append(name)
            if await child.read_node_class() == ua.NodeClass.Variable:
                values[name] = plain(await child.read_value())
        with LOCK:
            executed = list(EXECUTED)
        say(event="state", values=values, nodes=sorted(nodes), executed=executed)

    loop = asyncio.get_running_loop()

    def commands():
        for line in sys.stdin:
            if line.strip() == "state":
                asyncio.run_coroutine_threadsafe(state(), loop).result()

    async with server:
        say(event="ready", address=args.address, port=args.port, cert=str(cert))
        threading.Thread(target=commands, daemon=True).start()
        while True:
            await asyncio.sleep(3600)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--address", required=True)
    p.add_argument("--port", type=int, default=4840)
    p.add_argument("--dir", required=True, help="where the certificate and key are written")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(args))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
