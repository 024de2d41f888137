//! The two shapes of the Python peers of the inspected protocols' tests (EtherNet/IP, S7comm,
//! OPC UA), which speak JSON lines on stdout:
//!
//! - [`JsonServer`]: a server that prints `{"event": "ready", ...}` once it accepts
//!   connections and answers each command on its stdin (`state`, ...) with one line.
//! - [`run_client`]: a client that runs one operation (`script HOST PORT OP ARGS`) and prints
//!   one reply.

use std::{
    io::Write,
    net::SocketAddr,
    path::Path,
    process::ChildStdin,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    modbus::{Peer, START_TIMEOUT},
    netns::Netns,
    tempdir::TempDir,
};

/// How long a server may take to answer a command.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// A directory of its own for a peer: `stem`, this process and a counter, so that the tests
/// of one binary, which run in parallel, do not share (and remove) each other's.
pub fn peer_dir(stem: &str) -> Result<TempDir> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    TempDir::new(&format!("{stem}-{}-{n}", std::process::id()))
}

/// A JSON-lines server peer in a namespace. Killed on drop.
pub struct JsonServer {
    peer: Peer,
    stdin: ChildStdin,
    what: String,
    dir: TempDir,
}

impl JsonServer {
    /// Starts `script ARGS` in `ns` (its stderr in `dir`/server.log), waits for its ready line
    /// and returns it. `what` names the server in errors ("the S7 server").
    pub fn start(
        ns: &Netns,
        script: &str,
        what: &str,
        args: &[String],
        dir: TempDir,
    ) -> Result<(JsonServer, Value)> {
        let mut peer = Peer::spawn(ns, script, args, dir.join("server.log"), true)?;
        let stdin = peer.stdin()?;
        let line = peer.line(START_TIMEOUT)?;
        let v: Value = serde_json::from_str(&line).with_context(|| format!("ready line {line}"))?;
        if v["event"] != "ready" {
            bail!("{what} said {line}{}", peer.log_tail());
        }
        let server = JsonServer {
            peer,
            stdin,
            what: what.to_owned(),
            dir,
        };
        Ok((server, v))
    }

    /// Sends `command` and parses the one line the server answers.
    pub fn ask<T: DeserializeOwned>(&mut self, command: &str) -> Result<T> {
        writeln!(self.stdin, "{command}").with_context(|| format!("writing to {}", self.what))?;
        let line = self.peer.line(ANSWER_TIMEOUT)?;
        serde_json::from_str(&line)
            .with_context(|| format!("{}'s answer to {command}: {line}", self.what))
    }

    /// The server's directory (its log, whatever else it writes there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.peer.log).unwrap_or_default()
    }
}

/// `HOST PORT OP ARGS...`: the arguments of a one-operation client.
pub fn client_argv(server: SocketAddr, op: &str, args: &[&str]) -> Vec<String> {
    let mut argv = vec![
        server.ip().to_string(),
        server.port().to_string(),
        op.to_owned(),
    ];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    argv
}

/// Runs the client `script ARGV` in `ns` (its stderr in `dir`/client.log) and parses the one
/// line it prints within `timeout`.
pub fn run_client<T: DeserializeOwned>(
    ns: &Netns,
    script: &str,
    dir: &Path,
    argv: &[String],
    timeout: Duration,
) -> Result<T> {
    let mut peer = Peer::spawn(ns, script, argv, dir.join("client.log"), false)?;
    let line = peer.line(timeout)?;
    serde_json::from_str(&line).with_context(|| format!("client line {line}{}", peer.log_tail()))
}
