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
    #[error("the daemon sent a response that is not valid JSON: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("the daemon refused the request: {0}")]
    Refused(String),
    #[error("{0}")]
    InvalidPolicy(String),
}

/// Connects to the daemon and asks for events: returns a reader of JSON lines.
pub fn events(socket: &Path, follow: bool) -> Result<BufReader<UnixStream>, ClientError> {
    let name = socket.display().to_string();
    let mut stream = UnixStream::connect(socket).map_err(|source| ClientError::Connect {
        socket: name.clone(),
        source,
    })?;
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
    let mut stream = UnixStream::connect(socket).map_err(|source| ClientError::Connect {
        socket: name.clone(),
        source,
    })?;
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
