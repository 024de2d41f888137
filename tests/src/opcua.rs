//! A real OPC UA stack for the end-to-end tests: asyncua 2.1.0 (pure Python, from PyPI,
//! installed into `target/pyenv` by `cargo xtask setup`) as the server
//! (`tests/peers/opcua_server.py`) and as the client (`tests/peers/opcua_client.py`, one
//! operation per run, SecurityPolicy None or Basic256Sha256 Sign / SignAndEncrypt), plus plain
//! connections carrying hand-made messages on a None channel (bodies encoded with asyncua's
//! `ua` types) for what asyncua will not send.
//!
//! - [`OpcuaServer`]: endpoints None, Basic256Sha256 Sign and SignAndEncrypt (a self-signed
//!   certificate made at start, which clients are given), anonymous login; under
//!   Objects/Plant the variables `Setpoint` (Double 42.0, writable), `Counter` (Int32, how
//!   often `Reset` ran), `Blob` (ByteString, writable), `Spare` and the method `Reset`. Its
//!   [`OpcuaState`] says the values, the nodes under Plant and every write, call, AddNodes and
//!   DeleteNodes a client's session executed, so a test can check that a denied request had
//!   no effect. Killed on drop.
//! - [`client`]: one asyncua operation from a namespace, its [`ClientReply`].
//! - [`raw`]: hand-made MSGs in a session on a None channel, cut where a test says.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    json_peer::{JsonServer, client_argv, peer_dir, run_client},
    netns::Netns,
};

/// The OPC UA TCP port.
pub const PORT: u16 = 4840;
/// `Setpoint` as the server starts.
pub const SETPOINT: f64 = 42.0;
/// How large a "big" write is: more than three of the server's 64 KiB chunks.
pub const BIG_WRITE: usize = 200_000;
/// Where a hand-made MSG's parts start: its header ("MSG", chunk type, size), the channel id
/// and token id, the sequence number and request id, the request's type id (four octets as
/// asyncua encodes it, seven re-encoded as a numeric NodeId), the RequestHeader.
pub mod msg_layout {
    pub const CHANNEL: usize = 8;
    pub const TOKEN: usize = 12;
    pub const SEQUENCE: usize = 16;
    pub const REQUEST_ID: usize = 20;
    pub const TYPE_ID: usize = 24;
    pub const REQUEST_HEADER: usize = 28;
}

/// One service call the server executed for a client.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Executed {
    /// `write`, `call`, `add_nodes`, `delete_nodes`, `add_references`, `delete_references`.
    pub service: String,
    /// Written or deleted nodes (`ns=2;s=Setpoint`).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Written values (a ByteString as its length and SHA-256).
    #[serde(default)]
    pub values: Vec<Value>,
    /// Called methods.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Added nodes' browse names.
    #[serde(default)]
    pub names: Vec<String>,
    /// The status code of each item.
    pub status: Vec<String>,
}

/// What the server holds and has executed.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct OpcuaState {
    /// Variable name (under Plant) → its value.
    pub values: BTreeMap<String, Value>,
    /// The browse names of Plant's children.
    pub nodes: Vec<String>,
    pub executed: Vec<Executed>,
}

impl OpcuaState {
    pub fn setpoint(&self) -> Option<f64> {
        self.values.get("Setpoint").and_then(Value::as_f64)
    }

    pub fn counter(&self) -> Option<i64> {
        self.values.get("Counter").and_then(Value::as_i64)
    }

    /// `Blob`'s length and SHA-256 (hex).
    pub fn blob(&self) -> Option<(u64, &str)> {
        let b = self.values.get("Blob")?;
        Some((b["len"].as_u64()?, b["sha256"].as_str()?))
    }

    /// What was executed after the first `since` calls.
    pub fn executed_since(&self, since: usize) -> &[Executed] {
        &self.executed[since.min(self.executed.len())..]
    }
}

/// asyncua's server in a namespace.
pub struct OpcuaServer {
    server: JsonServer,
    cert: PathBuf,
}

impl OpcuaServer {
    /// Starts the server on `addr` in `ns` and waits until it listens.
    pub fn start(ns: &Netns, addr: SocketAddr) -> Result<OpcuaServer> {
        let dir = peer_dir("opcua-server")?;
        let args = [
            "--address".into(),
            addr.ip().to_string(),
            "--port".into(),
            addr.port().to_string(),
            "--dir".into(),
            dir.path().display().to_string(),
        ];
        let (server, ready) =
            JsonServer::start(ns, "opcua_server.py", "the OPC UA server", &args, dir)?;
        let cert = ready["cert"]
            .as_str()
            .map(PathBuf::from)
            .with_context(|| format!("no certificate in the OPC UA server's ready line {ready}"))?;
        Ok(OpcuaServer { server, cert })
    }

    /// The server's state.
    pub fn state(&mut self) -> Result<OpcuaState> {
        self.server.ask("state")
    }

    /// The server's certificate (DER), which clients are given.
    pub fn cert(&self) -> &Path {
        &self.cert
    }

    pub fn log(&self) -> String {
        self.server.log()
    }
}

/// A channel's security: SecurityPolicy None, or Basic256Sha256 in a mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    None,
    Sign,
    SignAndEncrypt,
}

impl Security {
    /// The client's `--security` argument.
    pub fn as_str(self) -> &'static str {
        match self {
            Security::None => "none",
            Security::Sign => "sign",
            Security::SignAndEncrypt => "sign_and_encrypt",
        }
    }
}

impl std::fmt::Display for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Security::None => "None",
            Security::Sign => "Basic256Sha256 Sign",
            Security::SignAndEncrypt => "Basic256Sha256 SignAndEncrypt",
        })
    }
}

/// The answer to one hand-made request.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawResponse {
    /// Which of the hand-made requests it answers (0 for the first).
    #[serde(default)]
    pub index: Option<i64>,
    /// `ReadResponse`, `WriteResponse`, `ServiceFault`, `Error` (an ERR message).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub service_result: Option<String>,
    /// Read: the values; write: the status codes.
    #[serde(default)]
    pub results: Vec<Value>,
}

/// What a client run saw.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClientReply {
    pub ok: bool,
    /// Read: `Setpoint` and `Counter`.
    #[serde(default)]
    pub values: Option<BTreeMap<String, Value>>,
    /// Browse: Plant's children.
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// Big write: the SHA-256 of what was written.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Big write: the chunk types of its request as the client sent them ("CCCF").
    #[serde(default)]
    pub chunks: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    /// Raw connections: the answers to the hand-made requests.
    #[serde(default)]
    pub responses: Option<Vec<RawResponse>>,
    #[serde(default)]
    pub reset: Option<bool>,
    #[serde(default)]
    pub local_port: Option<u16>,
}

impl ClientReply {
    /// Raw connections: the answer to the request at `index`.
    pub fn response(&self, index: i64) -> Option<&RawResponse> {
        self.responses
            .as_deref()?
            .iter()
            .find(|r| r.index == Some(index))
    }
}

/// One asyncua operation (`opcua_client.py OP ARGS`) from `ns` to `server` over a channel of
/// `security` (the server's certificate taken from `server`).
pub fn client(
    ns: &Netns,
    addr: SocketAddr,
    server: &OpcuaServer,
    security: Security,
    op: &str,
    args: &[&str],
) -> Result<ClientReply> {
    let dir = peer_dir("opcua-client")?;
    let dir_arg = dir.path().display().to_string();
    let cert = server.cert().display().to_string();
    let mut all = vec![
        "--security",
        security.as_str(),
        "--dir",
        &dir_arg,
        "--server-cert",
        &cert,
    ];
    all.extend_from_slice(args);
    let argv = client_argv(addr, op, &all);
    run_client(
        ns,
        "opcua_client.py",
        dir.path(),
        &argv,
        Duration::from_secs(40),
    )
}

/// A hand-made request on a None channel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RawRequest {
    /// Read of `Setpoint`.
    Read,
    /// Write of `Setpoint`, its type id as asyncua encodes it (four-byte NodeId 673).
    Write(f64),
    /// Write of `Setpoint`, its type id re-encoded as a numeric NodeId (0x02, ns 0, u32 673).
    WriteNumeric(f64),
}

impl RawRequest {
    fn spec(self) -> String {
        match self {
            RawRequest::Read => "read".into(),
            RawRequest::Write(v) => format!("write={v}"),
            RawRequest::WriteNumeric(v) => format!("write_numeric={v}"),
        }
    }
}

/// `requests` as MSGs in one stream after a None channel and an anonymous session were set
/// up, cut at `cuts` (offsets in the stream), the parts `pause` apart; what came back within
/// `wait`.
pub fn raw(
    ns: &Netns,
    addr: SocketAddr,
    requests: &[RawRequest],
    cuts: &[usize],
    pause: Duration,
    wait: Duration,
) -> Result<ClientReply> {
    let specs: Vec<String> = requests.iter().map(|r| r.spec()).collect();
    let cuts: Vec<String> = cuts.iter().map(ToString::to_string).collect();
    let dir = peer_dir("opcua-raw")?;
    let argv = client_argv(
        addr,
        "raw",
        &[
            "--requests",
            &specs.join(","),
            "--cuts",
            &cuts.join(","),
            "--pause",
            &pause.as_secs_f64().to_string(),
            "--wait",
            &wait.as_secs_f64().to_string(),
        ],
    );
    run_client(
        ns,
        "opcua_client.py",
        dir.path(),
        &argv,
        Duration::from_secs(30),
    )
}
