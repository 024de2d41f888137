//! A real IEC 60870-5-104 stack for the end-to-end tests: c104 2.2.1 (a lib60870 binding from
//! PyPI, installed into `target/pyenv` by `cargo xtask setup`) as controlled station and as
//! controlling station (the scripts `tests/peers/iec104_server.py` and `iec104_client.py`), and
//! APDUs built by hand for what c104 will not send (wrong order, bad lengths, split heads).
//!
//! - [`Iec104Server`]: one station (common address 1) with the points listed in
//!   `iec104_server.py`; records every APDU it receives and every command and clock
//!   synchronisation its callbacks accepted, and reports its point values on request, so a
//!   test can check that a denied command had no effect. Killed on drop.
//! - [`Iec104Client`]: one c104 client driven over stdin/stdout, one operation at a time, plus
//!   `raw` connections that send hand-made bytes in the segments a test chooses.
//! - APDU builders: [`u_frame`], [`s_frame`], [`i_frame`] and the commands the tests use.

use std::{
    collections::BTreeMap,
    io::Write,
    net::SocketAddr,
    path::PathBuf,
    process::ChildStdin,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    modbus::{Peer, START_TIMEOUT, hex_decode, hex_encode},
    netns::Netns,
    tempdir::TempDir,
};

/// The registered IEC 104 port.
pub const PORT: u16 = 2404;
/// The server's common address.
pub const CA: u16 = 1;

/// Point values the server starts with (see `iec104_server.py`).
pub const M_SP_IOA: u32 = 100;
pub const M_ME_NC_IOA: u32 = 101;
pub const M_ME_NB_IOA: u32 = 102;
/// Single command, direct execute.
pub const C_SC_DIRECT_IOA: u32 = 200;
/// Single command, select and execute.
pub const C_SC_SELECT_IOA: u32 = 201;
/// Set point (short float), direct.
pub const C_SE_IOA: u32 = 300;

/// Type ids the tests name.
pub mod type_id {
    pub const M_SP_NA_1: u8 = 1;
    pub const M_ME_NB_1: u8 = 11;
    pub const M_ME_NC_1: u8 = 13;
    pub const C_SC_NA_1: u8 = 45;
    pub const C_SE_NC_1: u8 = 50;
    pub const C_IC_NA_1: u8 = 100;
    pub const C_CI_NA_1: u8 = 101;
    pub const C_RD_NA_1: u8 = 102;
    pub const C_CS_NA_1: u8 = 103;
    pub const C_RP_NA_1: u8 = 105;
    pub const C_TS_TA_1: u8 = 107;
}

/// U-frame functions.
pub mod u {
    pub const STARTDT_ACT: u8 = 0x07;
    pub const STARTDT_CON: u8 = 0x0B;
    pub const STOPDT_ACT: u8 = 0x13;
    pub const TESTFR_ACT: u8 = 0x43;
    pub const TESTFR_CON: u8 = 0x83;
}

/// Causes of transmission.
pub mod cot {
    pub const SPONTANEOUS: u8 = 3;
    pub const REQUEST: u8 = 5;
    pub const ACTIVATION: u8 = 6;
    pub const ACTIVATION_CON: u8 = 7;
}

/// A U frame.
pub fn u_frame(function: u8) -> Vec<u8> {
    vec![0x68, 4, function, 0, 0, 0]
}

/// An S frame acknowledging up to receive sequence number `rsn`.
pub fn s_frame(rsn: u16) -> Vec<u8> {
    let r = (rsn << 1).to_le_bytes();
    vec![0x68, 4, 0x01, 0, r[0], r[1]]
}

/// An I frame with send/receive sequence numbers `ssn`/`rsn`, one information object at
/// `ioa` holding `element`.
pub fn i_frame(
    ssn: u16,
    rsn: u16,
    type_id: u8,
    cause: u8,
    ca: u16,
    ioa: u32,
    element: &[u8],
) -> Vec<u8> {
    let s = (ssn << 1).to_le_bytes();
    let r = (rsn << 1).to_le_bytes();
    let len = 4 + 6 + 3 + element.len();
    let mut f = vec![
        0x68, len as u8, s[0], s[1], r[0], r[1], type_id, 1, cause, 0,
    ];
    f.extend_from_slice(&ca.to_le_bytes());
    f.extend_from_slice(&ioa.to_le_bytes()[..3]);
    f.extend_from_slice(element);
    f
}

/// C_SC_NA_1: single command `on` (select when `select`) to `ioa`.
pub fn single_command(ssn: u16, ca: u16, ioa: u32, on: bool, select: bool) -> Vec<u8> {
    let sco = u8::from(on) | if select { 0x80 } else { 0 };
    i_frame(ssn, 0, type_id::C_SC_NA_1, cot::ACTIVATION, ca, ioa, &[sco])
}

/// C_SE_NC_1: set point `value` (short float, QOS 0) to `ioa`.
pub fn setpoint(ssn: u16, ca: u16, ioa: u32, value: f32) -> Vec<u8> {
    let mut e = value.to_le_bytes().to_vec();
    e.push(0);
    i_frame(ssn, 0, type_id::C_SE_NC_1, cot::ACTIVATION, ca, ioa, &e)
}

/// C_IC_NA_1: station interrogation (QOI 20).
pub fn interrogation(ssn: u16, ca: u16) -> Vec<u8> {
    i_frame(ssn, 0, type_id::C_IC_NA_1, cot::ACTIVATION, ca, 0, &[20])
}

/// C_RD_NA_1: read `ioa`.
pub fn read(ssn: u16, ca: u16, ioa: u32) -> Vec<u8> {
    i_frame(ssn, 0, type_id::C_RD_NA_1, cot::REQUEST, ca, ioa, &[])
}

/// C_CS_NA_1: clock synchronisation to a fixed CP56Time2a (2026-12-07 08:00:00.000).
pub fn clock_sync(ssn: u16, ca: u16) -> Vec<u8> {
    i_frame(
        ssn,
        0,
        type_id::C_CS_NA_1,
        cot::ACTIVATION,
        ca,
        0,
        &[0, 0, 0, 8, 7 | (1 << 5), 12, 26],
    )
}

/// C_RP_NA_1: reset process (QRP 1: general reset).
pub fn reset_process(ssn: u16, ca: u16) -> Vec<u8> {
    i_frame(ssn, 0, type_id::C_RP_NA_1, cot::ACTIVATION, ca, 0, &[1])
}

/// One APDU as the server received it (its head).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedApdu {
    pub bytes: Vec<u8>,
}

impl ReceivedApdu {
    /// The type id of an I frame.
    pub fn type_id(&self) -> Option<u8> {
        (self.bytes.len() >= 12 && self.bytes[2] & 1 == 0).then(|| self.bytes[6])
    }

    /// The IOA of an I frame's first object.
    pub fn ioa(&self) -> Option<u32> {
        (self.bytes.len() >= 15 && self.bytes[2] & 1 == 0)
            .then(|| u32::from_le_bytes([self.bytes[12], self.bytes[13], self.bytes[14], 0]))
    }
}

/// c104's controlled station in a namespace.
#[derive(Debug)]
pub struct Iec104Server {
    peer: Peer,
    stdin: ChildStdin,
    trace: PathBuf,
    /// Every stdout line so far, parsed.
    events: Vec<Value>,
    _dir: TempDir,
}

impl Iec104Server {
    /// Starts a server on every IPv4 address of `ns`, TCP `port`; returns once it listens.
    /// `keepalive`: its t3 in seconds (TESTFR act when the connection is idle).
    pub fn start(ns: &Netns, port: u16, keepalive: Option<u32>) -> Result<Iec104Server> {
        let dir = TempDir::new(&format!("{}-iec104-server-{port}", ns.name()))?;
        let trace = dir.join("received.txt");
        let mut args = vec![
            "--port".to_string(),
            port.to_string(),
            "--ca".to_string(),
            CA.to_string(),
            "--trace".to_string(),
            trace.display().to_string(),
        ];
        if let Some(k) = keepalive {
            args.extend(["--keepalive".to_string(), k.to_string()]);
        }
        let mut peer = Peer::spawn(ns, "iec104_server.py", &args, dir.join("server.log"), true)?;
        let stdin = peer.stdin()?;
        let ready = peer.line(START_TIMEOUT)?;
        if !ready.contains("\"ready\"") {
            bail!("{} printed {ready:?} instead of ready", peer.what());
        }
        Ok(Iec104Server {
            peer,
            stdin,
            trace,
            events: Vec::new(),
            _dir: dir,
        })
    }

    fn collect(&mut self) {
        for line in self.peer.lines_so_far() {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                self.events.push(v);
            }
        }
    }

    /// Every APDU the server received, in order.
    pub fn received(&self) -> Vec<ReceivedApdu> {
        std::fs::read_to_string(&self.trace)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("rx "))
            .filter_map(|h| hex_decode(h.trim()).ok())
            .map(|bytes| ReceivedApdu { bytes })
            .collect()
    }

    /// Commands the server's callbacks executed (`{"event": "command", "ioa": ...}`).
    pub fn commands(&mut self) -> Vec<Value> {
        self.collect();
        self.events
            .iter()
            .filter(|e| e["event"] == "command")
            .cloned()
            .collect()
    }

    /// Clock synchronisations the server accepted.
    pub fn clock_syncs(&mut self) -> Vec<Value> {
        self.collect();
        self.events
            .iter()
            .filter(|e| e["event"] == "clock_sync")
            .cloned()
            .collect()
    }

    /// Messages c104 reported as unexpected (unknown type, cause, address).
    pub fn unexpected(&mut self) -> Vec<Value> {
        self.collect();
        self.events
            .iter()
            .filter(|e| e["event"] == "unexpected")
            .cloned()
            .collect()
    }

    /// The server's point values, by IOA.
    pub fn points(&mut self) -> Result<BTreeMap<String, Value>> {
        writeln!(self.stdin, "state")
            .and_then(|()| self.stdin.flush())
            .with_context(|| format!("writing to {}", self.peer.what()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let line = self.peer.line(Duration::from_secs(10))?;
            let v: Value = serde_json::from_str(&line)
                .with_context(|| format!("{} printed {line:?}", self.peer.what()))?;
            if v["event"] == "state" {
                return serde_json::from_value(v["points"].clone()).context("state points");
            }
            self.events.push(v);
        }
        bail!("{} did not report its state", self.peer.what())
    }

    /// The server's stderr, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.peer.log).unwrap_or_default()
    }
}

/// What the client answered.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Reply {
    pub ok: bool,
    /// Interrogation / read: values by IOA.
    pub values: Option<BTreeMap<String, Value>>,
    pub error: Option<String>,
    /// Connection state (`connect`).
    pub state: Option<String>,
    /// `raw`: bytes received, hex.
    pub received: Option<String>,
    /// `raw`: the connection's local port.
    pub local_port: Option<u16>,
    /// `raw`: whether STARTDT was confirmed.
    pub started: Option<bool>,
    #[serde(default)]
    pub elapsed: f64,
}

impl Reply {
    /// Short description for failure messages.
    pub fn describe(&self) -> String {
        let mut s = format!("ok={} after {:.2}s", self.ok, self.elapsed);
        if let Some(v) = &self.values {
            s += &format!(", values {v:?}");
        }
        if let Some(e) = &self.error {
            s += &format!(", error {e:?}");
        }
        if let Some(st) = &self.state {
            s += &format!(", state {st}");
        }
        s
    }
}

/// A c104 controlling station in a namespace, driven one operation at a time.
#[derive(Debug)]
pub struct Iec104Client {
    peer: Peer,
    stdin: ChildStdin,
    timeout: Duration,
    server: SocketAddr,
    _dir: TempDir,
}

impl Iec104Client {
    /// A client in `ns` for `server`; a command without a confirmation fails after `timeout`.
    pub fn start(
        ns: &Netns,
        server: SocketAddr,
        timeout: Duration,
        keepalive: Option<u32>,
    ) -> Result<Iec104Client> {
        let dir = TempDir::new(&format!(
            "{}-iec104-client-{}",
            ns.name(),
            crate::names::Names::unique("c").file_stem()
        ))?;
        let mut args = vec![
            "--host".to_string(),
            server.ip().to_string(),
            "--port".to_string(),
            server.port().to_string(),
            "--timeout".to_string(),
            format!("{}", timeout.as_secs_f64()),
        ];
        if let Some(k) = keepalive {
            args.extend(["--keepalive".to_string(), k.to_string()]);
        }
        let mut peer = Peer::spawn(ns, "iec104_client.py", &args, dir.join("client.log"), true)?;
        let stdin = peer.stdin()?;
        let hello = peer.line(START_TIMEOUT)?;
        if !hello.contains("\"ready\"") {
            bail!("{} printed {hello:?} instead of ready", peer.what());
        }
        Ok(Iec104Client {
            peer,
            stdin,
            timeout,
            server,
            _dir: dir,
        })
    }

    /// The server this client talks to.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Sends one JSON request line and waits for its answer.
    pub fn call(&mut self, request: &Value) -> Result<Reply> {
        writeln!(self.stdin, "{request}")
            .and_then(|()| self.stdin.flush())
            .with_context(|| format!("writing to {}", self.peer.what()))?;
        let wait =
            request["wait"].as_f64().unwrap_or(0.0) + request["seconds"].as_f64().unwrap_or(0.0);
        let line = self
            .peer
            .line(self.timeout * 3 + Duration::from_secs_f64(wait) + Duration::from_secs(15))?;
        serde_json::from_str(&line)
            .with_context(|| format!("{} answered {line:?}", self.peer.what()))
    }

    /// Opens the connection (STARTDT) and waits until it is started.
    pub fn connect(&mut self) -> Result<Reply> {
        self.call(&json!({"op": "connect"}))
    }

    /// Station interrogation of common address `ca`: the values reported.
    pub fn interrogation(&mut self, ca: u16) -> Result<Reply> {
        self.call(&json!({"op": "interrogation", "ca": ca}))
    }

    /// C_RD_NA_1 of one point.
    pub fn read(&mut self, ca: u16, ioa: u32, point_type: &str) -> Result<Reply> {
        self.call(&json!({"op": "read", "ca": ca, "ioa": ioa, "type": point_type}))
    }

    /// C_CS_NA_1.
    pub fn clock_sync(&mut self, ca: u16) -> Result<Reply> {
        self.call(&json!({"op": "clock_sync", "ca": ca}))
    }

    /// C_SC_NA_1, direct or select-and-execute.
    pub fn command(&mut self, ca: u16, ioa: u32, on: bool, select: bool) -> Result<Reply> {
        self.call(&json!({"op": "command", "ca": ca, "ioa": ioa, "value": on, "select": select}))
    }

    /// C_SE_NC_1.
    pub fn setpoint(&mut self, ca: u16, ioa: u32, value: f32) -> Result<Reply> {
        self.call(&json!({"op": "setpoint", "ca": ca, "ioa": ioa, "value": value}))
    }

    /// Closes the connection.
    pub fn close(&mut self) -> Result<Reply> {
        self.call(&json!({"op": "close"}))
    }

    /// On a new plain TCP connection: STARTDT act first when `startdt` (and its confirmation
    /// awaited), then each of `segments` with one `send()` (TCP_NODELAY, `pause` apart);
    /// collects what comes back within `wait` and resets the connection. Returns the reply
    /// (`started`, `local_port`) and the bytes received after STARTDT con.
    pub fn raw(
        &mut self,
        segments: &[Vec<u8>],
        startdt: bool,
        pause: Duration,
        wait: Duration,
    ) -> Result<(Reply, Vec<u8>)> {
        let hex: Vec<String> = segments.iter().map(|s| hex_encode(s)).collect();
        let reply = self.call(&json!({
            "op": "raw", "segments": hex, "startdt": startdt,
            "pause": pause.as_secs_f64(), "wait": wait.as_secs_f64(),
        }))?;
        if !reply.ok {
            return Err(anyhow!("raw connection failed: {}", reply.describe()));
        }
        let received = hex_decode(reply.received.as_deref().unwrap_or_default())?;
        Ok((reply, received))
    }
}

/// Splits a byte stream into APDUs by their length octets (a trailing partial APDU is left
/// out).
pub fn split_apdus(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while bytes.len() >= 2 && bytes[0] == 0x68 {
        let len = bytes[1] as usize + 2;
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
    fn builders_lay_out_apdus_as_c104_does() {
        // c104's own C_SC_NA_1 direct ON to IOA 200 of CA 1 (tests/vectors/iec104-c104.txt),
        // with its sequence numbers.
        let mut f = single_command(5, 1, 200, true, false);
        f[4] = 0x18;
        assert_eq!(hex_encode(&f), "680e0a0018002d0106000100c8000001");
        assert_eq!(hex_encode(&u_frame(u::STARTDT_ACT)), "680407000000");
        assert_eq!(hex_encode(&s_frame(16)), "680401002000");
        assert_eq!(
            hex_encode(&interrogation(0, 1)),
            "680e0000000064010600010000000014"
        );
        let two = [u_frame(u::TESTFR_ACT), read(1, 1, 101)].concat();
        assert_eq!(split_apdus(&two).len(), 2);
    }
}
