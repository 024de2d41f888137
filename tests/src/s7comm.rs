//! A real S7 stack for the end-to-end tests: python-snap7 3.3.0 (pure Python, from PyPI,
//! installed into `target/pyenv` by `cargo xtask setup`) as the PLC (`snap7.Server`, the script
//! `tests/peers/s7_server.py`) and as the client (`snap7.Client`, `tests/peers/s7_client.py`,
//! one operation per run), plus plain TCP connections carrying hand-made TPDUs
//! (`firewall_common::pktgen::s7comm`) for what snap7 will not send.
//!
//! - [`S7Server`]: DB1 and MK of 32 bytes each (values in `s7_server.py`), the CPU in RUN; its
//!   [`S7State`] says the area bytes, the CPU state and every S7 PDU the server processed (what
//!   reached the PLC), so a test can check that a denied request had no effect. Killed on
//!   drop.
//! - [`client`]: one snap7 client operation from a namespace, its [`ClientReply`].

use std::{net::SocketAddr, time::Duration};

use anyhow::Result;
use serde::Deserialize;

use crate::{
    json_peer::{JsonServer, client_argv, peer_dir, run_client},
    modbus::{hex_decode, hex_encode},
    netns::Netns,
};

/// The ISO-on-TCP port.
pub const PORT: u16 = 102;
/// DB1 as the server starts: 0x10, 0x11, ... 0x2F.
pub fn db1() -> Vec<u8> {
    (0x10..0x30).collect()
}

/// What the PLC has and has seen.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct S7State {
    pub db1: String,
    pub mk: String,
    pub cpu: String,
    /// Every S7 PDU (reassembled) the server processed, hex.
    pub rx: Vec<String>,
}

impl S7State {
    /// The PDUs received after the first `since`, decoded.
    pub fn received_since(&self, since: usize) -> Vec<Vec<u8>> {
        self.rx[since.min(self.rx.len())..]
            .iter()
            .filter_map(|h| hex_decode(h).ok())
            .collect()
    }
}

/// The job function of an S7 PDU (its first parameter octet), if it is a job.
pub fn job_function(pdu: &[u8]) -> Option<u8> {
    (pdu.len() > 10 && pdu[0] == 0x32 && pdu[1] == 1).then(|| pdu[10])
}

/// The userdata group and subfunction of an S7 PDU, if it is a userdata request.
pub fn userdata_function(pdu: &[u8]) -> Option<(u8, u8)> {
    (pdu.len() > 16 && pdu[0] == 0x32 && pdu[1] == 7).then(|| (pdu[15] & 0x0F, pdu[16]))
}

/// `snap7.Server` in a namespace.
pub struct S7Server {
    server: JsonServer,
}

impl S7Server {
    /// Starts the server on `port` in `ns` and waits until it accepts connections.
    pub fn start(ns: &Netns, port: u16) -> Result<S7Server> {
        let dir = peer_dir("s7-server")?;
        let args = ["--port".into(), port.to_string()];
        let (server, _) = JsonServer::start(ns, "s7_server.py", "the S7 server", &args, dir)?;
        Ok(S7Server { server })
    }

    /// The server's state.
    pub fn state(&mut self) -> Result<S7State> {
        self.server.ask("state")
    }

    /// Sets the CPU to STOP (`false`) or RUN (`true`); the state after.
    pub fn set_running(&mut self, run: bool) -> Result<S7State> {
        self.server.ask(if run { "run" } else { "stop" })
    }

    pub fn log(&self) -> String {
        self.server.log()
    }
}

/// What a client run saw.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClientReply {
    pub ok: bool,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub received: Option<String>,
    #[serde(default)]
    pub reset: Option<bool>,
    #[serde(default)]
    pub local_port: Option<u16>,
}

/// One client operation (`s7_client.py OP ARGS`) from `ns` to `server`.
pub fn client(ns: &Netns, server: SocketAddr, op: &str, args: &[&str]) -> Result<ClientReply> {
    let dir = peer_dir("s7-client")?;
    let argv = client_argv(server, op, args);
    run_client(
        ns,
        "s7_client.py",
        dir.path(),
        &argv,
        Duration::from_secs(30),
    )
}

/// Hand-made segments on a plain connection (after COTP CR to TSAP 0x0102 and setup
/// communication), `pause` apart; what came back within `wait`.
pub fn raw(
    ns: &Netns,
    server: SocketAddr,
    segments: &[Vec<u8>],
    pause: Duration,
    wait: Duration,
) -> Result<ClientReply> {
    let hex: Vec<String> = segments.iter().map(|s| hex_encode(s)).collect();
    client(
        ns,
        server,
        "raw",
        &[
            "--segments",
            &hex.join(","),
            "--pause",
            &pause.as_secs_f64().to_string(),
            "--wait",
            &wait.as_secs_f64().to_string(),
        ],
    )
}
