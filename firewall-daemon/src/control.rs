//! The control socket protocol between `zcfw` commands and the running daemon: one JSON
//! request line, one JSON response line, over a Unix stream socket.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use serde::{Deserialize, Serialize};

/// What a client asks the daemon.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// Policy identity and counters.
    Stats,
    /// Policy, generation, interfaces and their XDP mode, island mode, uptime.
    Status,
    /// Validate, compile and atomically switch to a policy file (default: the current one).
    Reload {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<std::path::PathBuf>,
    },
    /// Island mode on or off (SR 5.2 RE2).
    Island { on: bool },
    /// Recent events as JSON lines, then (with `follow`) every new one until the client
    /// disconnects. The answer is a stream of event lines, not one response.
    Events {
        #[serde(default)]
        follow: bool,
    },
}

/// The daemon's answer: `{"ok": true, "data": ...}` or `{"ok": false, "error": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error is a refused policy (diagnostics in `error`): `zcfw reload` exits 1.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invalid_policy: bool,
}

impl Response {
    pub fn ok(data: serde_json::Value) -> Self {
        Response {
            ok: true,
            data: Some(data),
            error: None,
            invalid_policy: false,
        }
    }

    pub fn error(msg: impl Into<String>) -> Self {
        Response {
            ok: false,
            data: None,
            error: Some(msg.into()),
            invalid_policy: false,
        }
    }

    pub fn invalid_policy(diagnostics: impl Into<String>) -> Self {
        Response {
            invalid_policy: true,
            ..Response::error(diagnostics)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no zcfw daemon answers on {socket}: {source}; is `zcfw run` running? (use --socket to \
         reach another instance)"
    )]
    Connect {
        socket: String,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to the daemon on {socket} failed: {source}")]
    Io {
        socket: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "refusing to talk to {socket}: {why}. A zcfw daemon listens in a directory only root can \
         write (default /run/zcfw/zcfw.sock); check --socket (or $ZCFW_SOCKET)"
    )]
    Untrusted { socket: String, why: String },
    #[error("the daemon sent a response that is not valid JSON: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("the daemon refused the request: {0}")]
    Refused(String),
    #[error("{0}")]
    InvalidPolicy(String),
}

/// Whether `uid` may run a daemon this client talks to: root, or the client's own user.
fn trusted(uid: u32) -> bool {
    uid == 0 || uid == nix::unistd::geteuid().as_raw()
}

/// Why `socket` (and the directory it is in) cannot be trusted, if it cannot: whoever can
/// create or replace the socket file could answer in the daemon's place ("island ON").
fn untrusted_path(socket: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).ok()?;
    let meta = std::fs::metadata(&dir).ok()?;
    if !trusted(meta.uid()) {
        return Some(format!(
            "its directory {} belongs to uid {}, not to root",
            dir.display(),
            meta.uid()
        ));
    }
    let mode = meta.mode();
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Some(format!(
            "its directory {} is writable by others (mode {:04o})",
            dir.display(),
            mode & 0o7777
        ));
    }
    // In a sticky directory (/tmp) others may create files, but not replace ours.
    for meta in [std::fs::symlink_metadata(socket), std::fs::metadata(socket)]
        .into_iter()
        .flatten()
    {
        if !trusted(meta.uid()) {
            return Some(format!("it belongs to uid {}, not to root", meta.uid()));
        }
    }
    None
}

/// Connects to the daemon at `socket`, after checking who could have put the socket there
/// and who answers on it (`SO_PEERCRED`: root, or this user).
fn connect(socket: &Path) -> Result<UnixStream, ClientError> {
    let name = socket.display().to_string();
    if let Some(why) = untrusted_path(socket) {
        return Err(ClientError::Untrusted { socket: name, why });
    }
    let stream = UnixStream::connect(socket).map_err(|source| ClientError::Connect {
        socket: name.clone(),
        source,
    })?;
    let peer = nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials)
        .map_err(|errno| ClientError::Io {
            socket: name.clone(),
            source: errno.into(),
        })?;
    if !trusted(peer.uid()) {
        return Err(ClientError::Untrusted {
            socket: name,
            why: format!(
                "the process answering on it (pid {}) runs as uid {}, not as root",
                peer.pid(),
                peer.uid()
            ),
        });
    }
    Ok(stream)
}

/// Connects to the daemon and asks for events: returns a reader of JSON lines.
pub fn events(socket: &Path, follow: bool) -> Result<BufReader<UnixStream>, ClientError> {
    let name = socket.display().to_string();
    let mut stream = connect(socket)?;
    let mut line = serde_json::to_string(&Request::Events { follow })?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|source| ClientError::Io {
            socket: name,
            source,
        })?;
    Ok(BufReader::new(stream))
}

/// Sends `request` to the daemon listening on `socket` and returns its data.
pub fn call(socket: &Path, request: &Request) -> Result<serde_json::Value, ClientError> {
    let name = socket.display().to_string();
    let mut stream = connect(socket)?;
    let io = |source| ClientError::Io {
        socket: name.clone(),
        source,
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(io)?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).map_err(io)?;
    let response: Response = serde_json::from_str(&reply)?;
    let error = response.error.unwrap_or_else(|| "no reason given".into());
    match (response.ok, response.invalid_policy) {
        (true, _) => Ok(response.data.unwrap_or(serde_json::Value::Null)),
        (false, true) => Err(ClientError::InvalidPolicy(error)),
        (false, false) => Err(ClientError::Refused(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_format_is_stable() {
        assert_eq!(
            serde_json::to_string(&Request::Stats).expect("serializes"),
            r#"{"command":"stats"}"#
        );
        let r: Request = serde_json::from_str(r#"{"command":"stats"}"#).expect("parses");
        assert_eq!(r, Request::Stats);
        let r: Request = serde_json::from_str(r#"{"command":"reload"}"#).expect("parses");
        assert_eq!(r, Request::Reload { policy: None });
        let r: Request = serde_json::from_str(r#"{"command":"island","on":true}"#).expect("parses");
        assert_eq!(r, Request::Island { on: true });
        let refused = Response::invalid_policy("p.yaml:1:1: error: x");
        let wire = serde_json::to_string(&refused).expect("serializes");
        assert!(wire.contains(r#""invalid_policy":true"#));
    }
}
