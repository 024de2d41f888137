//! A real EtherNet/IP-CIP stack for the end-to-end tests: cpppo 5.2.5 (pure Python, from PyPI,
//! installed into `target/pyenv` by `cargo xtask setup`) as the controller
//! (`tests/peers/enip_server.py`, cpppo's Logix simulator run in-process) and pycomm3 1.2.16 as
//! the client (`tests/peers/enip_client.py`, one operation per run: `CIPDriver` for unconnected
//! messaging, `LogixDriver` for connected messaging), plus plain TCP connections carrying
//! hand-made PDUs (`firewall_common::pktgen::enip`) for what pycomm3 will not send.
//!
//! - [`EnipServer`]: tags `SCADA` (INT\[10\], 100..109, also Message Router attribute 0x02/1/1)
//!   and `SP` (DINT 1234, attribute 0x02/1/2); its [`EnipState`] says the tags' values and
//!   every write cpppo made to them (Write Tag, Set_Attribute_Single, nested or not), so a test
//!   can check that a denied request had no effect. Killed on drop.
//! - [`client`]: one pycomm3 operation from a namespace, its [`ClientReply`].
//! - [`raw`]: hand-made encapsulation PDUs in a registered session, cut where a test says.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use anyhow::Result;
use serde::Deserialize;
use serde_json::Value;

use crate::{
    json_peer::{JsonServer, client_argv, peer_dir, run_client},
    modbus::hex_encode,
    netns::Netns,
};

/// The EtherNet/IP TCP port.
pub const PORT: u16 = 44818;
/// `SCADA` as the server starts.
pub const SCADA: [i64; 10] = [100, 101, 102, 103, 104, 105, 106, 107, 108, 109];
/// `SP` as the server starts.
pub const SP: i64 = 1234;
/// The Message Router attribute cpppo keeps `SCADA` in (class/instance/attribute).
pub const SCADA_ATTRIBUTE: &str = "2/1/1";

/// One write the controller executed.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TagWrite {
    pub tag: String,
    /// The first element written.
    pub start: u64,
    pub values: Vec<i64>,
}

/// What the controller holds and has executed.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct EnipState {
    /// Tag name → its elements.
    pub tags: BTreeMap<String, Vec<i64>>,
    /// Every write to a tag, in order.
    pub writes: Vec<TagWrite>,
}

impl EnipState {
    /// `SCADA`'s elements.
    pub fn scada(&self) -> &[i64] {
        self.tags.get("SCADA").map_or(&[], Vec::as_slice)
    }

    /// `SP`'s value.
    pub fn sp(&self) -> Option<i64> {
        self.tags.get("SP").and_then(|v| v.first().copied())
    }

    /// `SCADA`'s elements as INTs, little endian (what Get_Attribute_Single returns).
    pub fn scada_hex(&self) -> String {
        let bytes: Vec<u8> = self
            .scada()
            .iter()
            .flat_map(|v| (*v as i16).to_le_bytes())
            .collect();
        hex_encode(&bytes)
    }
}

/// cpppo's controller in a namespace.
pub struct EnipServer {
    server: JsonServer,
}

impl EnipServer {
    /// Starts the server on `addr`, TCP `port`, in `ns` and waits until it accepts
    /// connections.
    pub fn start(ns: &Netns, addr: SocketAddr) -> Result<EnipServer> {
        let args = [
            "--address".into(),
            addr.ip().to_string(),
            "--port".into(),
            addr.port().to_string(),
        ];
        let dir = peer_dir("enip-server")?;
        let (server, _) =
            JsonServer::start(ns, "enip_server.py", "the EtherNet/IP server", &args, dir)?;
        Ok(EnipServer { server })
    }

    /// The server's state.
    pub fn state(&mut self) -> Result<EnipState> {
        self.server.ask("state")
    }

    pub fn log(&self) -> String {
        self.server.log()
    }
}

/// What a client run saw.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClientReply {
    pub ok: bool,
    /// Tag reads: the values (a list per array tag); identity: the product names.
    #[serde(default)]
    pub values: Option<Vec<Value>>,
    /// The reply's data, hex.
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    /// Raw connections: what came back after the RegisterSession reply, hex.
    #[serde(default)]
    pub received: Option<String>,
    #[serde(default)]
    pub reset: Option<bool>,
    #[serde(default)]
    pub local_port: Option<u16>,
}

/// One client operation (`enip_client.py OP ARGS`) from `ns` to `server`.
pub fn client(ns: &Netns, server: SocketAddr, op: &str, args: &[&str]) -> Result<ClientReply> {
    let dir = peer_dir("enip-client")?;
    let argv = client_argv(server, op, args);
    run_client(
        ns,
        "enip_client.py",
        dir.path(),
        &argv,
        Duration::from_secs(40),
    )
}

/// `stream` (encapsulation PDUs; the script writes the registered session's handle into each
/// header) on a plain connection after a RegisterSession, cut at `cuts`, the parts `pause`
/// apart; what came back within `wait`.
pub fn raw(
    ns: &Netns,
    server: SocketAddr,
    stream: &[u8],
    cuts: &[usize],
    pause: Duration,
    wait: Duration,
) -> Result<ClientReply> {
    let cuts: Vec<String> = cuts.iter().map(ToString::to_string).collect();
    client(
        ns,
        server,
        "raw",
        &[
            "--stream",
            &hex_encode(stream),
            "--cuts",
            &cuts.join(","),
            "--pause",
            &pause.as_secs_f64().to_string(),
            "--wait",
            &wait.as_secs_f64().to_string(),
        ],
    )
}
