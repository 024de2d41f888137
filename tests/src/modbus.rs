//! A real Modbus/TCP stack for the end-to-end tests: pymodbus servers and clients (the
//! scripts in `tests/peers/`) run with `$ZCFW_PYTHON` in a plant's host namespaces, and
//! what zcfw reports about them (`zcfw stats --json` with per-conduit inspection denies,
//! `zcfw events --json`).
//!
//! - [`ModbusServer`]: `modbus_server.py` serving some unit ids (holding register `a` of
//!   unit `u` holds `1000 u + a`, input register `1000 u + 500 + a`, coil `a % 3 == 0`,
//!   discrete input `a % 2 == 0`, addresses 0-199); records every byte stream it receives,
//!   so a test can check that a denied request never reached it. Killed on drop.
//! - [`ModbusClient`]: `modbus_client.py`, one pymodbus `ModbusTcpClient` (retries 0, short
//!   timeout) driven over stdin/stdout one request at a time, so a test sees exactly what an
//!   application sees: values, an exception, or no answer. Killed on drop.
//! - [`ZcfwView`]: `zcfw stats --json` and `zcfw events --json` of a running daemon, as JSON.

use std::{
    io::Write,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    process::{ChildStdin, Command, Stdio},
    sync::OnceLock,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{cmd, netns::Netns, tempdir::TempDir};

/// How long a peer may take to start (Python imports pymodbus: about a second).
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The Python interpreter with pymodbus: `$ZCFW_PYTHON`, else the venv `cargo xtask setup`
/// creates at `target/pyenv`. Fails with what to do when it is missing or cannot import
/// pymodbus.
pub fn python() -> Result<PathBuf> {
    // Probed once per test process; every peer needs it.
    static PYTHON: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| probe_python().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn probe_python() -> Result<PathBuf> {
    let path = match std::env::var_os("ZCFW_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/pyenv/bin/python"),
    };
    if !path.exists() {
        bail!(
            "no Python with pymodbus at {}: run `cargo xtask setup` (it creates the venv \
             target/pyenv), or set ZCFW_PYTHON to a python3 that can import pymodbus 3.x",
            path.display()
        );
    }
    let probe = Command::new(&path)
        .args(["-c", "import pymodbus; print(pymodbus.__version__)"])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", path.display()))?;
    let version = String::from_utf8_lossy(&probe.stdout).trim().to_owned();
    if !probe.status.success() || !version.starts_with("3.") {
        bail!(
            "{} cannot import pymodbus 3.x ({}{}): run `cargo xtask setup`, or set ZCFW_PYTHON \
             to a python3 that can",
            path.display(),
            version,
            String::from_utf8_lossy(&probe.stderr).trim()
        );
    }
    Ok(path)
}

/// A script of `tests/peers/`.
pub fn peer_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("peers")
        .join(name)
}

/// A Python peer script whose stdout lines a test reads ([`cmd::LineChild`]); its stderr
/// goes to a log whose tail errors quote. Killed on drop.
#[derive(Debug)]
pub(crate) struct Peer {
    child: cmd::LineChild,
    pub(crate) log: PathBuf,
}

impl Peer {
    /// Runs `python script args...` in `ns`; stderr goes to `log`.
    pub(crate) fn spawn(
        ns: &Netns,
        script: &str,
        args: &[String],
        log: PathBuf,
        stdin: bool,
    ) -> Result<Peer> {
        let python = python()?;
        let mut command = ns.command(&python);
        command
            .arg("-u")
            .arg(peer_script(script))
            .args(args)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stderr(std::fs::File::create(&log)?);
        let what = format!("{} (in {})", cmd::describe(&command), ns.name());
        // `ip netns exec` execs python, so the child is the peer itself.
        let child = cmd::LineChild::spawn(&mut command, what)?;
        Ok(Peer { child, log })
    }

    /// The next stdout line within `timeout`.
    pub(crate) fn line(&mut self, timeout: Duration) -> Result<String> {
        match self.child.next_line(timeout) {
            Ok(Some(line)) => Ok(line),
            Ok(None) => bail!(
                "{} printed nothing within {timeout:?}{}",
                self.what(),
                self.log_tail()
            ),
            Err(e) => bail!("{e}{}", self.log_tail()),
        }
    }

    /// Every stdout line that has arrived, without waiting.
    pub(crate) fn lines_so_far(&mut self) -> Vec<String> {
        self.child.lines_so_far()
    }

    /// The peer's stdin, if it was piped (once).
    pub(crate) fn stdin(&mut self) -> Result<ChildStdin> {
        self.child.stdin().context("stdin not piped")
    }

    pub(crate) fn what(&self) -> &str {
        self.child.what()
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its stderr ends:\n{tail}")
        }
    }
}

/// One request ADU as the server received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedAdu {
    pub transaction_id: u16,
    pub unit: u8,
    pub function: u8,
    /// Function data after the function code.
    pub data: Vec<u8>,
}

impl ReceivedAdu {
    /// The first data word (the start address of the functions the tests use).
    pub fn address(&self) -> Option<u16> {
        (self.data.len() >= 2).then(|| u16::from_be_bytes([self.data[0], self.data[1]]))
    }
}

/// A pymodbus Modbus/TCP server in a namespace (see the module docs for its tables).
#[derive(Debug)]
pub struct ModbusServer {
    peer: Peer,
    trace: PathBuf,
    _dir: TempDir,
    /// What pymodbus said on start (`ready pymodbus 3.x.y`).
    pub banner: String,
}

impl ModbusServer {
    /// Starts a server on every address of `ns`, TCP `port`, answering `units`; returns once
    /// it accepts connections.
    pub fn start(ns: &Netns, port: u16, units: &[u8]) -> Result<ModbusServer> {
        let dir = TempDir::new(&format!("{}-modbus-server-{port}", ns.name()))?;
        let trace = dir.join("received.txt");
        let mut args = vec![
            "--port".to_string(),
            port.to_string(),
            "--trace".to_string(),
            trace.display().to_string(),
        ];
        for unit in units {
            args.push("--unit".into());
            args.push(unit.to_string());
        }
        let mut peer = Peer::spawn(ns, "modbus_server.py", &args, dir.join("server.log"), false)?;
        let banner = peer.line(START_TIMEOUT)?;
        if !banner.starts_with("ready") {
            bail!("{} printed {banner:?} instead of ready", peer.what());
        }
        Ok(ModbusServer {
            peer,
            trace,
            _dir: dir,
            banner,
        })
    }

    /// Every byte stream the server has received, one per read, in order.
    pub fn received_raw(&self) -> Vec<Vec<u8>> {
        std::fs::read_to_string(&self.trace)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("rx "))
            .filter_map(|h| hex_decode(h.trim()).ok())
            .collect()
    }

    /// Every request ADU the server has received (streams cut at MBAP lengths).
    pub fn received(&self) -> Vec<ReceivedAdu> {
        self.received_raw()
            .iter()
            .flat_map(|chunk| split_adus(chunk))
            .collect()
    }

    /// The server's stderr (pymodbus logging), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.peer.log).unwrap_or_default()
    }
}

/// Cuts a byte stream into MBAP-framed ADUs (a trailing partial ADU is left out).
pub fn split_adus(mut bytes: &[u8]) -> Vec<ReceivedAdu> {
    let mut out = Vec::new();
    while bytes.len() >= 8 {
        let len = u16::from_be_bytes([bytes[4], bytes[5]]) as usize;
        if len < 2 || bytes.len() < 6 + len {
            break;
        }
        out.push(ReceivedAdu {
            transaction_id: u16::from_be_bytes([bytes[0], bytes[1]]),
            unit: bytes[6],
            function: bytes[7],
            data: bytes[8..6 + len].to_vec(),
        });
        bytes = &bytes[6 + len..];
    }
    out
}

/// A request the client sends.
#[derive(Clone, Debug)]
pub enum Request {
    /// FC 1.
    ReadCoils { unit: u8, address: u16, count: u16 },
    /// FC 2.
    ReadDiscreteInputs { unit: u8, address: u16, count: u16 },
    /// FC 3.
    ReadHolding { unit: u8, address: u16, count: u16 },
    /// FC 4.
    ReadInput { unit: u8, address: u16, count: u16 },
    /// FC 6.
    WriteRegister { unit: u8, address: u16, value: u16 },
    /// FC 16.
    WriteRegisters {
        unit: u8,
        address: u16,
        values: Vec<u16>,
    },
}

impl Request {
    /// The Modbus function code.
    pub fn function(&self) -> u8 {
        match self {
            Request::ReadCoils { .. } => 1,
            Request::ReadDiscreteInputs { .. } => 2,
            Request::ReadHolding { .. } => 3,
            Request::ReadInput { .. } => 4,
            Request::WriteRegister { .. } => 6,
            Request::WriteRegisters { .. } => 16,
        }
    }

    /// The unit id.
    pub fn unit(&self) -> u8 {
        match self {
            Request::ReadCoils { unit, .. }
            | Request::ReadDiscreteInputs { unit, .. }
            | Request::ReadHolding { unit, .. }
            | Request::ReadInput { unit, .. }
            | Request::WriteRegister { unit, .. }
            | Request::WriteRegisters { unit, .. } => *unit,
        }
    }

    /// The (start) address.
    pub fn address(&self) -> u16 {
        match self {
            Request::ReadCoils { address, .. }
            | Request::ReadDiscreteInputs { address, .. }
            | Request::ReadHolding { address, .. }
            | Request::ReadInput { address, .. }
            | Request::WriteRegister { address, .. }
            | Request::WriteRegisters { address, .. } => *address,
        }
    }

    /// The values a read returns from [`ModbusServer`]'s tables (None for writes).
    pub fn expected(&self) -> Option<Vec<u64>> {
        let span =
            |address: u16, count: u16| u64::from(address)..u64::from(address) + u64::from(count);
        Some(match self {
            Request::ReadCoils { address, count, .. } => span(*address, *count)
                .map(|a| u64::from(a % 3 == 0))
                .collect(),
            Request::ReadDiscreteInputs { address, count, .. } => span(*address, *count)
                .map(|a| u64::from(a % 2 == 0))
                .collect(),
            Request::ReadHolding {
                unit,
                address,
                count,
            } => span(*address, *count)
                .map(|a| 1000 * u64::from(*unit) + a)
                .collect(),
            Request::ReadInput {
                unit,
                address,
                count,
            } => span(*address, *count)
                .map(|a| 1000 * u64::from(*unit) + 500 + a)
                .collect(),
            Request::WriteRegister { .. } | Request::WriteRegisters { .. } => return None,
        })
    }

    /// E.g. `FC 3 read_holding_registers unit 1 address 95 count 10`.
    pub fn label(&self) -> String {
        let (name, tail) = match self {
            Request::ReadCoils { count, .. } => ("read_coils", format!(" count {count}")),
            Request::ReadDiscreteInputs { count, .. } => {
                ("read_discrete_inputs", format!(" count {count}"))
            }
            Request::ReadHolding { count, .. } => {
                ("read_holding_registers", format!(" count {count}"))
            }
            Request::ReadInput { count, .. } => ("read_input_registers", format!(" count {count}")),
            Request::WriteRegister { value, .. } => ("write_register", format!(" value {value}")),
            Request::WriteRegisters { values, .. } => {
                ("write_registers", format!(" values {values:?}"))
            }
        };
        format!(
            "FC {} {name} unit {} address {}{tail}",
            self.function(),
            self.unit(),
            self.address()
        )
    }

    /// The JSON line `modbus_client.py` takes.
    pub fn to_json(&self) -> Value {
        let read = |op: &str, unit: &u8, address: &u16, count: &u16| json!({"op": op, "unit": unit, "address": address, "count": count});
        match self {
            Request::ReadCoils {
                unit,
                address,
                count,
            } => read("read_coils", unit, address, count),
            Request::ReadDiscreteInputs {
                unit,
                address,
                count,
            } => read("read_discrete_inputs", unit, address, count),
            Request::ReadHolding {
                unit,
                address,
                count,
            } => read("read_holding_registers", unit, address, count),
            Request::ReadInput {
                unit,
                address,
                count,
            } => read("read_input_registers", unit, address, count),
            Request::WriteRegister {
                unit,
                address,
                value,
            } => json!({"op": "write_register", "unit": unit, "address": address, "value": value}),
            Request::WriteRegisters {
                unit,
                address,
                values,
            } => {
                json!({"op": "write_registers", "unit": unit, "address": address, "values": values})
            }
        }
    }

    /// Whether the server received this request (same unit, function and address; same value
    /// for a single write) after the first `since` ADUs it received
    /// (`server.received().len()` before the request was sent).
    pub fn reached(&self, server: &ModbusServer, since: usize) -> bool {
        server.received().iter().skip(since).any(|a| {
            a.unit == self.unit()
                && a.function == self.function()
                && a.address() == Some(self.address())
                && match self {
                    // Values are distinctive in the tests; match them too when known.
                    Request::WriteRegister { value, .. } => {
                        a.data.get(2..4) == Some(&value.to_be_bytes()[..])
                    }
                    _ => true,
                }
        })
    }
}

/// What the client saw.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Reply {
    pub ok: bool,
    /// Read results (bits as 0/1).
    pub values: Option<Vec<u64>>,
    /// A Modbus exception code the server answered with.
    pub exception: Option<u8>,
    /// No answer: timeout, connection lost (pymodbus's message).
    pub error: Option<String>,
    /// The client's TCP port after the request (None: not connected).
    pub local_port: Option<u16>,
    /// Seconds the request took.
    #[serde(default)]
    pub elapsed: f64,
    /// `raw`: the bytes that came back, hex.
    pub received: Option<String>,
    /// `encode`: the ADUs, hex.
    pub hex: Option<String>,
}

impl Reply {
    /// Short description for failure messages.
    pub fn describe(&self) -> String {
        if let Some(v) = &self.values {
            format!("values {v:?} after {:.2}s", self.elapsed)
        } else if let Some(e) = self.exception {
            format!("Modbus exception {e} after {:.2}s", self.elapsed)
        } else if let Some(e) = &self.error {
            format!("no answer after {:.2}s ({e})", self.elapsed)
        } else {
            format!("ok={} after {:.2}s", self.ok, self.elapsed)
        }
    }
}

/// A pymodbus `ModbusTcpClient` in a namespace, driven one request at a time.
#[derive(Debug)]
pub struct ModbusClient {
    peer: Peer,
    stdin: ChildStdin,
    timeout: Duration,
    server: SocketAddr,
    _dir: TempDir,
}

impl ModbusClient {
    /// A client in `ns` for `server`; a request without an answer fails after `timeout`
    /// (pymodbus `retries=0`). It connects on its first request.
    pub fn start(ns: &Netns, server: SocketAddr, timeout: Duration) -> Result<ModbusClient> {
        let dir = TempDir::new(&format!(
            "{}-modbus-client-{}",
            ns.name(),
            crate::names::Names::unique("c").file_stem()
        ))?;
        let args = vec![
            "--host".to_string(),
            server.ip().to_string(),
            "--port".to_string(),
            server.port().to_string(),
            "--timeout".to_string(),
            format!("{}", timeout.as_secs_f64()),
        ];
        let mut peer = Peer::spawn(ns, "modbus_client.py", &args, dir.join("client.log"), true)?;
        let stdin = peer.stdin()?;
        let hello = peer.line(START_TIMEOUT)?;
        if !hello.contains("\"ready\"") {
            bail!("{} printed {hello:?} instead of ready", peer.what());
        }
        Ok(ModbusClient {
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
    pub fn call_json(&mut self, request: &Value) -> Result<Reply> {
        writeln!(self.stdin, "{request}")
            .and_then(|()| self.stdin.flush())
            .with_context(|| format!("writing to {}", self.peer.what()))?;
        // The script's own timeout (and a raw request's wait) bound the answer.
        let line = self.peer.line(self.timeout * 3 + Duration::from_secs(15))?;
        serde_json::from_str(&line)
            .with_context(|| format!("{} answered {line:?}", self.peer.what()))
    }

    /// Sends `request` through pymodbus.
    pub fn call(&mut self, request: &Request) -> Result<Reply> {
        self.call_json(&request.to_json())
    }

    /// The application closes its connection; the next request reconnects.
    pub fn close(&mut self) -> Result<()> {
        self.call_json(&json!({"op": "close"})).map(|_| ())
    }

    /// Closes the connection with a TCP reset: data the firewall dropped is not
    /// retransmitted (into the counters of later checks) once the test moved on.
    pub fn abort(&mut self) -> Result<()> {
        self.call_json(&json!({"op": "abort"})).map(|_| ())
    }

    /// The ADUs pymodbus builds for `requests` (transaction ids from `first_tid`), concatenated.
    pub fn encode(&mut self, requests: &[Request], first_tid: u16) -> Result<Vec<u8>> {
        let list: Vec<Value> = requests.iter().map(Request::to_json).collect();
        let reply = self.call_json(&json!({
            "op": "encode", "requests": list, "transaction_id": first_tid
        }))?;
        hex_decode(
            reply
                .hex
                .as_deref()
                .ok_or_else(|| anyhow!("encode: {reply:?}"))?,
        )
    }

    /// On a new plain TCP connection: sends each of `segments` with one `send()` (TCP_NODELAY,
    /// `pause` apart), collects what comes back within `wait` (or until `expect_bytes`), then
    /// resets the connection. Returns the bytes and the local port.
    pub fn raw(
        &mut self,
        segments: &[Vec<u8>],
        pause: Duration,
        wait: Duration,
        expect_bytes: usize,
    ) -> Result<(Vec<u8>, u16)> {
        let hex: Vec<String> = segments.iter().map(|s| hex_encode(s)).collect();
        let reply = self.call_json(&json!({
            "op": "raw", "segments": hex, "pause": pause.as_secs_f64(),
            "wait": wait.as_secs_f64(), "expect_bytes": expect_bytes,
        }))?;
        if !reply.ok {
            bail!("raw connection failed: {}", reply.describe());
        }
        let received = hex_decode(reply.received.as_deref().unwrap_or_default())?;
        Ok((received, reply.local_port.unwrap_or(0)))
    }
}

/// `zcfw stats --json` and `zcfw events --json` of one running daemon, kept as JSON so that
/// every documented field can be checked.
#[derive(Clone, Debug)]
pub struct ZcfwView {
    bin: PathBuf,
    socket: PathBuf,
}

impl ZcfwView {
    /// Talks to the daemon listening on `socket`.
    pub fn new(socket: &Path) -> Result<ZcfwView> {
        Ok(ZcfwView {
            bin: crate::zcfw_bin()?,
            socket: socket.to_owned(),
        })
    }

    /// `zcfw stats --json --socket S`.
    pub fn stats(&self) -> Result<StatsJson> {
        let out = cmd::run_with_timeout(
            Command::new(&self.bin)
                .args(["stats", "--json", "--socket"])
                .arg(&self.socket),
            Duration::from_secs(5),
        )?;
        Ok(StatsJson(serde_json::from_str(out.trim()).with_context(
            || format!("zcfw stats --json printed something else:\n{out}"),
        )?))
    }

    /// `zcfw events --json --socket S`: the daemon's recent events, oldest first.
    pub fn events(&self) -> Result<Vec<Value>> {
        let out = cmd::run_with_timeout(
            Command::new(&self.bin)
                .args(["events", "--json", "--socket"])
                .arg(&self.socket),
            Duration::from_secs(5),
        )?;
        out.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).with_context(|| format!("zcfw events --json printed {l:?}"))
            })
            .collect()
    }

    /// Polls `zcfw events --json` until an event satisfies `pred` (events reach the daemon
    /// through a ring buffer, a moment after the packet); the last list on timeout.
    pub fn wait_event(
        &self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<std::result::Result<Value, Vec<Value>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events()?;
            if let Some(e) = events.iter().find(|e| pred(e)) {
                return Ok(Ok(e.clone()));
            }
            if Instant::now() >= deadline {
                return Ok(Err(events));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// What `zcfw stats --json` printed.
#[derive(Clone, Debug)]
pub struct StatsJson(pub Value);

impl StatsJson {
    /// `reasons[reason == name].packets` (0 if absent).
    pub fn reason(&self, name: &str) -> u64 {
        self.0["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["reason"] == name)
            .and_then(|r| r["packets"].as_u64())
            .unwrap_or(0)
    }

    fn conduit(&self, name: &str) -> Option<&Value> {
        self.0["conduits"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == name)
    }

    /// `conduits[name].packets` (0 if absent).
    pub fn conduit_packets(&self, name: &str) -> u64 {
        self.conduit(name)
            .and_then(|c| c["packets"].as_u64())
            .unwrap_or(0)
    }

    /// `conduits[name].denied.<reason>.packets` (0 if absent).
    pub fn conduit_denied(&self, name: &str, reason: &str) -> u64 {
        self.conduit(name)
            .and_then(|c| c["denied"][reason]["packets"].as_u64())
            .unwrap_or(0)
    }

    /// Reasons whose packets grew since `before`, with the increase.
    pub fn reasons_since(&self, before: &StatsJson) -> Vec<(String, u64)> {
        self.0["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let name = r["reason"].as_str()?;
                let d = r["packets"].as_u64()?.saturating_sub(before.reason(name));
                (d > 0).then(|| (name.to_owned(), d))
            })
            .collect()
    }

    /// Per conduit, inspection denies that grew since `before`: `(conduit, reason, increase)`.
    pub fn denied_since(&self, before: &StatsJson) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        for c in self.0["conduits"].as_array().into_iter().flatten() {
            let Some(name) = c["name"].as_str() else {
                continue;
            };
            for (reason, counts) in c["denied"].as_object().into_iter().flatten() {
                let now = counts["packets"].as_u64().unwrap_or(0);
                let d = now.saturating_sub(before.conduit_denied(name, reason));
                if d > 0 {
                    out.push((name.to_owned(), reason.clone(), d));
                }
            }
        }
        out
    }
}

/// An event a test expects from `zcfw events --json`. Modbus details left `None` are not
/// checked: the checker does not read the address of a request it refuses for its unit or
/// function.
#[derive(Clone, Debug)]
pub struct ExpectedEvent {
    pub reason: &'static str,
    pub conduit: &'static str,
    /// Client address and port (the connection the segment belongs to).
    pub src: SocketAddr,
    /// Server address and port.
    pub dst: SocketAddr,
    pub unit: Option<u8>,
    pub function: Option<u8>,
    pub address: Option<u16>,
}

impl ExpectedEvent {
    /// Whether `e` is this drop.
    pub fn matches(&self, e: &Value) -> bool {
        let ip = |v: &Value| v.as_str().and_then(|s| s.parse::<IpAddr>().ok());
        let detail = |key: &str, want: Option<u64>| {
            want.is_none_or(|w| e["modbus"][key].as_u64() == Some(w))
        };
        e["reason"] == self.reason
            && e["action"] == "drop"
            && e["conduit"] == self.conduit
            && e["proto"] == "tcp"
            && ip(&e["src"]) == Some(self.src.ip())
            && ip(&e["dst"]) == Some(self.dst.ip())
            && e["src_port"].as_u64() == Some(u64::from(self.src.port()))
            && e["dst_port"].as_u64() == Some(u64::from(self.dst.port()))
            && detail("unit", self.unit.map(u64::from))
            && detail("function", self.function.map(u64::from))
            && detail("address", self.address.map(u64::from))
    }
}

/// Lower-case hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses hex (even length).
pub fn hex_decode(text: &str) -> Result<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        bail!("odd-length hex {text:?}");
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&text[i..i + 2], 16).with_context(|| format!("bad hex {text:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adus_are_split_at_mbap_lengths() {
        let bytes =
            hex_decode("000100000006010300000002000200000006020600050009000300").expect("hex");
        let adus = split_adus(&bytes);
        assert_eq!(adus.len(), 2);
        assert_eq!(
            (adus[0].unit, adus[0].function, adus[0].address()),
            (1, 3, Some(0))
        );
        assert_eq!(
            (adus[1].unit, adus[1].function, adus[1].address()),
            (2, 6, Some(5))
        );
        assert_eq!(
            hex_encode(&bytes),
            "000100000006010300000002000200000006020600050009000300"
        );
    }

    #[test]
    fn expected_values_follow_the_server_tables() {
        let r = Request::ReadHolding {
            unit: 1,
            address: 98,
            count: 2,
        };
        assert_eq!(r.expected(), Some(vec![1098, 1099]));
        let c = Request::ReadCoils {
            unit: 1,
            address: 0,
            count: 4,
        };
        assert_eq!(c.expected(), Some(vec![1, 0, 0, 1]));
        assert_eq!(
            Request::WriteRegister {
                unit: 1,
                address: 1,
                value: 2
            }
            .expected(),
            None
        );
    }

    #[test]
    fn stats_denied_per_conduit_parses() {
        let s = StatsJson(json!({
            "reasons": [{"reason": "modbus_function", "passes": false, "packets": 3, "bytes": 1}],
            "conduits": [{"name": "c", "packets": 9, "denied": {"modbus_function": {"packets": 3, "bytes": 1}}}]
        }));
        let before = StatsJson(json!({"reasons": [], "conduits": [{"name": "c", "denied": {}}]}));
        assert_eq!(s.reason("modbus_function"), 3);
        assert_eq!(s.conduit_denied("c", "modbus_function"), 3);
        assert_eq!(s.conduit_denied("c", "modbus_unit_id"), 0);
        assert_eq!(
            s.denied_since(&before),
            vec![("c".into(), "modbus_function".into(), 3)]
        );
    }
}
