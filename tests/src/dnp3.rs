//! A real DNP3 outstation for the end-to-end tests: dnp3-simulation 0.1.2 (PyPI, installed
//! into `target/pyenv` by `cargo xtask setup`; `tests/peers/dnp3_outstation.py` runs its
//! simulator and TCP server), a master built on the simulator's own frame builders
//! (`tests/peers/dnp3_master.py`), and link frames built by hand for what the simulator does
//! not send (class polls, confirms, unsolicited responses, link status, file and restart
//! functions, multi-fragment requests, bad CRCs).
//!
//! - [`Dnp3Outstation`]: binary outputs 0-2 (on, off, on at start); records every frame it
//!   receives and reports its point values and the simulator's event log on request, so a
//!   test can check that a denied request had no effect. Killed on drop.
//! - [`Dnp3Master`]: one persistent connection, one request at a time; `frames` sends
//!   hand-made bytes on it, `raw` on a connection of its own.
//! - Frame builders: [`link_frame`] (CRCs from `firewall_common::dnp3`), [`request`],
//!   [`response`].

use std::{
    collections::BTreeMap,
    io::Write,
    net::SocketAddr,
    path::PathBuf,
    process::ChildStdin,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use firewall_common::dnp3::crc_of;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    modbus::{Peer, START_TIMEOUT, hex_decode, hex_encode},
    netns::Netns,
    tempdir::TempDir,
};

/// The registered DNP3 port.
pub const PORT: u16 = 20000;
/// The master's link address.
pub const MASTER: u16 = 1;
/// The outstation's link address.
pub const OUTSTATION: u16 = 1024;

/// Link control octets.
pub mod control {
    /// Master → outstation, primary, unconfirmed user data.
    pub const MASTER_DATA: u8 = 0xC4;
    /// Master → outstation, primary, confirmed user data.
    pub const MASTER_CONFIRMED_DATA: u8 = 0xF3;
    /// Master → outstation, request link status.
    pub const MASTER_LINK_STATUS_REQUEST: u8 = 0xC9;
    /// Master → outstation, reset link states.
    pub const MASTER_RESET_LINK: u8 = 0xC0;
    /// Master → outstation, secondary: link status.
    pub const MASTER_LINK_STATUS: u8 = 0x8B;
    /// Master → outstation, secondary: ACK.
    pub const MASTER_ACK: u8 = 0x80;
    /// Outstation → master, primary, unconfirmed user data.
    pub const OUTSTATION_DATA: u8 = 0x44;
    /// Outstation → master, request link status.
    pub const OUTSTATION_LINK_STATUS_REQUEST: u8 = 0x49;
    /// Outstation → master, secondary: link status.
    pub const OUTSTATION_LINK_STATUS: u8 = 0x0B;
    /// Outstation → master, secondary: ACK.
    pub const OUTSTATION_ACK: u8 = 0x00;
}

/// Application function codes the tests name.
pub mod function {
    pub const CONFIRM: u8 = 0;
    pub const READ: u8 = 1;
    pub const WRITE: u8 = 2;
    pub const SELECT: u8 = 3;
    pub const OPERATE: u8 = 4;
    pub const DIRECT_OPERATE: u8 = 5;
    pub const DIRECT_OPERATE_NR: u8 = 6;
    pub const COLD_RESTART: u8 = 13;
    pub const WARM_RESTART: u8 = 14;
    pub const ENABLE_UNSOLICITED: u8 = 20;
    pub const FILE_OPEN: u8 = 25;
    pub const RESPONSE: u8 = 129;
    pub const UNSOLICITED_RESPONSE: u8 = 130;
}

/// Object headers the tests use.
pub mod objects {
    /// g60v1 all objects: class 0 (static data, an integrity poll).
    pub const CLASS_0: &[u8] = &[60, 1, 0x06];
    /// g60v2-4 all objects: event classes 1, 2, 3.
    pub const CLASS_123: &[u8] = &[60, 2, 0x06, 60, 3, 0x06, 60, 4, 0x06];
    /// g10v2 all objects: binary output status (what the simulator reads).
    pub const BINARY_OUTPUTS: &[u8] = &[10, 2, 0x06];
    /// g60v2-4 for enable/disable unsolicited.
    pub const UNSOLICITED_CLASSES: &[u8] = &[60, 2, 0x06, 60, 3, 0x06, 60, 4, 0x06];
}

/// A CROB (g12v1, one object, 1-octet index and count) on point `index` with control code
/// `code` (3 latch on, 4 latch off).
pub fn crob(index: u8, code: u8) -> Vec<u8> {
    let mut o = vec![12, 1, 0x17, 1, index, code, 1];
    o.extend_from_slice(&[0; 8]);
    o.push(0);
    o
}

/// g10v2 write of point `index` to `on` (what the simulator's write sends).
pub fn write_binary_output(index: u8, on: bool) -> Vec<u8> {
    vec![10, 2, 0x17, 1, index, 0x01 | if on { 0x80 } else { 0 }]
}

/// g70v3 file open of `name` (read mode).
pub fn file_open_object(name: &str) -> Vec<u8> {
    let mut o = vec![70, 3, 0x5B, 1];
    let size = 26 + name.len() as u16;
    o.extend_from_slice(&size.to_le_bytes());
    o.extend_from_slice(&26u16.to_le_bytes()); // name offset
    o.extend_from_slice(&(name.len() as u16).to_le_bytes());
    o.extend_from_slice(&[0; 6]); // creation time
    o.extend_from_slice(&[0; 2]); // permissions
    o.extend_from_slice(&[0; 4]); // authentication key
    o.extend_from_slice(&[0; 4]); // file size
    o.extend_from_slice(&1u16.to_le_bytes()); // operational mode: read
    o.extend_from_slice(&0u16.to_le_bytes()); // maximum block size
    o.extend_from_slice(&0u16.to_le_bytes()); // request id
    o.extend_from_slice(name.as_bytes());
    o
}

/// A link frame: header with its CRC, `user_data` in 16-byte blocks each with its CRC.
pub fn link_frame(control: u8, destination: u16, source: u16, user_data: &[u8]) -> Vec<u8> {
    assert!(user_data.len() <= 250, "user data too long for one frame");
    let mut f = vec![0x05, 0x64, (5 + user_data.len()) as u8, control];
    f.extend_from_slice(&destination.to_le_bytes());
    f.extend_from_slice(&source.to_le_bytes());
    let crc = crc_of(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    for block in user_data.chunks(16) {
        f.extend_from_slice(block);
        f.extend_from_slice(&crc_of(block).to_le_bytes());
    }
    f
}

/// A master's single-fragment request (FIR, FIN) to the outstation: transport sequence and
/// application sequence `seq`, `function`, `objects`.
pub fn request(seq: u8, function: u8, objects: &[u8]) -> Vec<u8> {
    request_to(OUTSTATION, seq, function, objects)
}

/// [`request`] to link address `destination`.
pub fn request_to(destination: u16, seq: u8, function: u8, objects: &[u8]) -> Vec<u8> {
    let mut data = vec![0xC0 | (seq & 0x3F), 0xC0 | (seq & 0x0F), function];
    data.extend_from_slice(objects);
    link_frame(control::MASTER_DATA, destination, MASTER, &data)
}

/// A master's application confirm (function 0) of outstation sequence `seq` (unsolicited
/// when `unsolicited`).
pub fn confirm(seq: u8, unsolicited: bool) -> Vec<u8> {
    let ac = 0xC0 | (seq & 0x0F) | if unsolicited { 0x10 } else { 0 };
    link_frame(
        control::MASTER_DATA,
        OUTSTATION,
        MASTER,
        &[0xC0 | (seq & 0x3F), ac, function::CONFIRM],
    )
}

/// An outstation's response (`function` 129, or 130 unsolicited with CON and UNS set).
pub fn response(seq: u8, function: u8, iin: [u8; 2], objects: &[u8]) -> Vec<u8> {
    let mut ac = 0xC0 | (seq & 0x0F);
    if function == self::function::UNSOLICITED_RESPONSE {
        ac |= 0x30;
    }
    let mut data = vec![0xC0 | (seq & 0x3F), ac, function, iin[0], iin[1]];
    data.extend_from_slice(objects);
    link_frame(control::OUTSTATION_DATA, MASTER, OUTSTATION, &data)
}

/// The frame of a master's request cut into two transport segments (two link frames): the
/// first (FIR, not FIN) carries the application header and `first` object bytes, the second
/// (FIN, not FIR) the rest.
pub fn two_fragment_request(seq: u8, function: u8, objects: &[u8], first: usize) -> Vec<u8> {
    let mut a = vec![0x40 | (seq & 0x3F), 0xC0 | (seq & 0x0F), function];
    a.extend_from_slice(&objects[..first]);
    let mut b = vec![0x80 | (seq.wrapping_add(1) & 0x3F)];
    b.extend_from_slice(&objects[first..]);
    [
        link_frame(control::MASTER_DATA, OUTSTATION, MASTER, &a),
        link_frame(control::MASTER_DATA, OUTSTATION, MASTER, &b),
    ]
    .concat()
}

/// One link frame as the outstation received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedFrame {
    pub bytes: Vec<u8>,
}

impl ReceivedFrame {
    /// The application function code of a first fragment (None for link-only frames).
    pub fn function(&self) -> Option<u8> {
        // Header (10), then the first block: transport, application control, function.
        (self.bytes.len() >= 13 && self.bytes[2] > 5 && self.bytes[10] & 0x40 != 0)
            .then(|| self.bytes[12])
    }
}

/// What the outstation reported about itself.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OutstationState {
    /// Binary output values by index.
    pub points: BTreeMap<String, Value>,
    /// The simulator's event log (read, write, direct_operate, *_restart_*, ...).
    pub events: Vec<Value>,
    pub mode: String,
}

impl OutstationState {
    /// Event types in the log other than reads, the start and the end of a restart (what a
    /// request changed, or the outstation refused: the request itself is logged as
    /// `write`, `direct_operate`, `cold_restart_requested`, `unsupported_function_code`, ...).
    pub fn effects(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| e["event_type"].as_str())
            .filter(|t| !matches!(*t, "read" | "simulator_started" | "restart_completed"))
            .map(str::to_owned)
            .collect()
    }
}

/// The dnp3-simulation outstation in a namespace.
#[derive(Debug)]
pub struct Dnp3Outstation {
    peer: Peer,
    stdin: ChildStdin,
    trace: PathBuf,
    _dir: TempDir,
}

impl Dnp3Outstation {
    /// Starts the outstation on every IPv4 address of `ns`, TCP `port`.
    pub fn start(ns: &Netns, port: u16) -> Result<Dnp3Outstation> {
        let dir = TempDir::new(&format!("{}-dnp3-outstation-{port}", ns.name()))?;
        let trace = dir.join("received.txt");
        let args = vec![
            "--port".to_string(),
            port.to_string(),
            "--trace".to_string(),
            trace.display().to_string(),
        ];
        let mut peer = Peer::spawn(
            ns,
            "dnp3_outstation.py",
            &args,
            dir.join("outstation.log"),
            true,
        )?;
        let stdin = peer.stdin()?;
        let ready = peer.line(START_TIMEOUT)?;
        if !ready.contains("\"ready\"") {
            bail!("{} printed {ready:?} instead of ready", peer.what());
        }
        Ok(Dnp3Outstation {
            peer,
            stdin,
            trace,
            _dir: dir,
        })
    }

    /// Every link frame the outstation received, in order.
    pub fn received(&self) -> Vec<ReceivedFrame> {
        std::fs::read_to_string(&self.trace)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("rx "))
            .filter_map(|h| hex_decode(h.trim()).ok())
            .map(|bytes| ReceivedFrame { bytes })
            .collect()
    }

    /// Connections that spoke the simulator's JSON interface.
    pub fn json_connections(&self) -> usize {
        std::fs::read_to_string(&self.trace)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("json"))
            .count()
    }

    /// Point values and event log.
    pub fn state(&mut self) -> Result<OutstationState> {
        writeln!(self.stdin, "state")
            .and_then(|()| self.stdin.flush())
            .with_context(|| format!("writing to {}", self.peer.what()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let line = self.peer.line(Duration::from_secs(10))?;
            let v: Value = serde_json::from_str(&line)
                .with_context(|| format!("{} printed {line:?}", self.peer.what()))?;
            if v["event"] == "state" {
                return serde_json::from_value(v).context("outstation state");
            }
        }
        bail!("{} did not report its state", self.peer.what())
    }

    /// The outstation's stderr, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.peer.log).unwrap_or_default()
    }
}

/// What the master saw.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Reply {
    pub ok: bool,
    /// Application function of the answer (129).
    pub function_code: Option<u8>,
    pub iin: Option<String>,
    /// Binary output values in the answer.
    pub points: Option<BTreeMap<String, bool>>,
    /// CROB status octets in the answer.
    pub status: Option<Vec<u8>>,
    pub error: Option<String>,
    pub local_port: Option<u16>,
    /// Hex of the frame sent / received.
    pub tx: Option<String>,
    pub rx: Option<String>,
    /// `raw`: bytes received, hex.
    pub received: Option<String>,
    /// `build`: the frame, hex.
    pub hex: Option<String>,
    #[serde(default)]
    pub elapsed: f64,
}

impl Reply {
    /// Short description for failure messages.
    pub fn describe(&self) -> String {
        let mut s = format!("ok={} after {:.2}s", self.ok, self.elapsed);
        if let Some(f) = self.function_code {
            s += &format!(", function {f}");
        }
        if let Some(p) = &self.points {
            s += &format!(", points {p:?}");
        }
        if let Some(e) = &self.error {
            s += &format!(", error {e:?}");
        }
        s
    }
}

/// The master in a namespace.
#[derive(Debug)]
pub struct Dnp3Master {
    peer: Peer,
    stdin: ChildStdin,
    timeout: Duration,
    server: SocketAddr,
    _dir: TempDir,
}

impl Dnp3Master {
    /// A master in `ns` for the outstation at `server`; a request without an answer fails
    /// after `timeout`. Connects on its first request.
    pub fn start(ns: &Netns, server: SocketAddr, timeout: Duration) -> Result<Dnp3Master> {
        let dir = TempDir::new(&format!(
            "{}-dnp3-master-{}",
            ns.name(),
            crate::names::Names::unique("m").file_stem()
        ))?;
        let args = vec![
            "--host".to_string(),
            server.ip().to_string(),
            "--port".to_string(),
            server.port().to_string(),
            "--timeout".to_string(),
            format!("{}", timeout.as_secs_f64()),
        ];
        let mut peer = Peer::spawn(ns, "dnp3_master.py", &args, dir.join("master.log"), true)?;
        let stdin = peer.stdin()?;
        let hello = peer.line(START_TIMEOUT)?;
        if !hello.contains("\"ready\"") {
            bail!("{} printed {hello:?} instead of ready", peer.what());
        }
        Ok(Dnp3Master {
            peer,
            stdin,
            timeout,
            server,
            _dir: dir,
        })
    }

    /// The outstation this master talks to.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Sends one JSON request line and waits for its answer.
    pub fn call(&mut self, request: &Value) -> Result<Reply> {
        writeln!(self.stdin, "{request}")
            .and_then(|()| self.stdin.flush())
            .with_context(|| format!("writing to {}", self.peer.what()))?;
        let wait = request["wait"].as_f64().unwrap_or(0.0);
        let line = self
            .peer
            .line(self.timeout * 3 + Duration::from_secs_f64(wait) + Duration::from_secs(15))?;
        serde_json::from_str(&line)
            .with_context(|| format!("{} answered {line:?}", self.peer.what()))
    }

    /// FC 1 of every binary output.
    pub fn read(&mut self) -> Result<Reply> {
        self.call(&json!({"op": "read"}))
    }

    /// FC 2: point `index` to `on`.
    pub fn write(&mut self, index: u8, on: bool) -> Result<Reply> {
        self.call(&json!({"op": "write", "index": index, "value": on}))
    }

    /// FC 5 (or 6): `operation` (`latch_on`, `latch_off`, ...) on point `index`.
    pub fn direct_operate(&mut self, index: u8, operation: &str, function: u8) -> Result<Reply> {
        self.call(
            &json!({"op": "direct_operate", "index": index, "operation": operation,
            "function_code": function}),
        )
    }

    /// FC 13 (`cold`) or 14 (`warm`).
    pub fn restart(&mut self, kind: &str) -> Result<Reply> {
        self.call(&json!({"op": "restart", "type": kind}))
    }

    /// Hand-made bytes on the master's connection, each piece with one `send()` (`pause`
    /// apart); waits for one answer frame when `expect_answer`.
    pub fn frames(
        &mut self,
        pieces: &[Vec<u8>],
        pause: Duration,
        expect_answer: bool,
    ) -> Result<Reply> {
        let hex: Vec<String> = pieces.iter().map(|p| hex_encode(p)).collect();
        self.call(
            &json!({"op": "frames", "frames": hex, "pause": pause.as_secs_f64(),
            "expect_answer": expect_answer}),
        )
    }

    /// Closes the master's connection with a reset (the next request reconnects).
    pub fn close(&mut self) -> Result<()> {
        self.call(&json!({"op": "close"})).map(|_| ())
    }

    /// On a new plain TCP connection: each of `segments` with one `send()` (`pause` apart),
    /// collects what comes back within `wait`, resets. Returns the reply and the bytes.
    pub fn raw(
        &mut self,
        segments: &[Vec<u8>],
        pause: Duration,
        wait: Duration,
    ) -> Result<(Reply, Vec<u8>)> {
        let hex: Vec<String> = segments.iter().map(|s| hex_encode(s)).collect();
        let reply = self.call(&json!({"op": "raw", "segments": hex,
            "pause": pause.as_secs_f64(), "wait": wait.as_secs_f64()}))?;
        if !reply.ok {
            return Err(anyhow!("raw connection failed: {}", reply.describe()));
        }
        let received = hex_decode(reply.received.as_deref().unwrap_or_default())?;
        Ok((reply, received))
    }
}

/// Splits a byte stream into link frames by their length octets (a trailing partial frame is
/// left out).
pub fn split_frames(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while bytes.len() >= 10 && bytes[..2] == [0x05, 0x64] {
        let data = (bytes[2] as usize).saturating_sub(5);
        let len = 10 + data + 2 * data.div_ceil(16);
        if bytes.len() < len {
            break;
        }
        out.push(bytes[..len].to_vec());
        bytes = &bytes[len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_lay_out_frames_as_the_simulator_does() {
        // The simulator's own read of every binary output (tests/vectors/dnp3-sim.txt).
        assert_eq!(
            hex_encode(&request(0, function::READ, objects::BINARY_OUTPUTS)),
            "05640bc400040100ca8ac0c0010a0206b683"
        );
        // Its cold restart, sequence 6.
        assert_eq!(
            hex_encode(&request(6, function::COLD_RESTART, &[])),
            "056408c4000401009a19c6c60d23ff"
        );
        // Its direct operate, latch off point 2, sequence 3.
        assert_eq!(
            hex_encode(&request(3, function::DIRECT_OPERATE, &crob(2, 4))),
            "056418c4000401005b61c3c3050c011701020401000000000000e5ac000000ffff"
        );
        let two = [request(1, 1, objects::CLASS_0), confirm(2, true)].concat();
        assert_eq!(split_frames(&two).len(), 2);
        assert_eq!(
            ReceivedFrame {
                bytes: request(1, 13, &[])
            }
            .function(),
            Some(13)
        );
    }
}
