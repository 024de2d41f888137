//! The control socket protocol between `zcfw` commands and the running daemon: one JSON
//! request line, one JSON response line, over a Unix stream socket (for `events`, a greeting
//! line and then event lines). Every type the daemon says is declared here, once, and used by
//! the daemon, the CLI and the tests:
//!
//! - [`Request`] (in a [`RequestLine`]) and [`Response`], with [`Failure`] when it failed;
//! - the answers: [`status::Status`], [`stats::Stats`], [`reload::Reloaded`],
//!   [`IslandState`]; a refused reload carries a [`reload::ReloadError`];
//! - the event record: [`event::EventLine`].
//!
//! Both lines carry [`PROTOCOL`], the version of this protocol. A daemon and a `zcfw` of
//! different versions (the binary upgraded, the service not restarted) say so instead of
//! misreading each other. Version 1 had no `protocol` field.

pub mod capture;
pub mod event;
pub mod reload;
pub mod stats;
pub mod status;

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use self::{reload::ReloadError, reload::Reloaded, stats::Stats, status::Status};

/// The control protocol this build speaks. Raise it when a request or an answer changes in
/// a way the other side would misread.
pub const PROTOCOL: u32 = 2;

/// The version of a line without a `protocol` field: the unversioned protocol of zcfw
/// before versions were introduced.
const UNVERSIONED: u32 = 1;

fn unversioned() -> u32 {
    UNVERSIONED
}

/// What a client asks the daemon.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// Policy identity and counters: [`Stats`].
    Stats,
    /// Policy, generation, interfaces and their XDP mode, island mode, uptime: [`Status`].
    Status,
    /// Validate, compile and atomically switch to a policy file (default: the current one):
    /// [`Reloaded`], or a [`ReloadError`].
    Reload {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<PathBuf>,
    },
    /// Island mode on or off (SR 5.2 RE2): [`IslandState`].
    Island { on: bool },
    /// Recent events as JSON lines, then (with `follow`) every new one until the client
    /// disconnects. The answer is a greeting ([`Response`] without data), then a stream of
    /// [`event::EventLine`]s.
    Events {
        #[serde(default)]
        follow: bool,
    },
    /// Denied frames as the data path copies them, from now until the client disconnects:
    /// a greeting, then [`capture::CaptureLine`]s. The data path copies frames only while a
    /// capture client is connected.
    Capture,
    /// Learning mode: start (clears what was learned), stop, or read what was learned:
    /// [`crate::learn::Observations`].
    Learn { action: crate::learn::LearnAction },
}

/// A request as sent: `{"protocol": 2, "command": "stats"}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestLine {
    #[serde(default = "unversioned")]
    pub protocol: u32,
    #[serde(flatten)]
    pub request: Request,
}

impl RequestLine {
    /// The request as this build sends it: one JSON line, newline included.
    pub fn encode(request: &Request) -> String {
        let line = RequestLine {
            protocol: PROTOCOL,
            request: request.clone(),
        };
        let mut out = serde_json::to_string(&line).unwrap_or_default();
        out.push('\n');
        out
    }

    /// Reads a request line. A line of another protocol version is refused with
    /// [`Failure::Protocol`] before its request is read (its shape may differ).
    pub fn decode(line: &str) -> Result<Request, Failure> {
        #[derive(Deserialize)]
        struct Version {
            #[serde(default = "unversioned")]
            protocol: u32,
        }
        let bad = |err: serde_json::Error| Failure::BadRequest {
            why: format!("malformed request: {err}"),
        };
        let version: Version = serde_json::from_str(line).map_err(bad)?;
        if version.protocol != PROTOCOL {
            return Err(Failure::Protocol {
                daemon: PROTOCOL,
                client: version.protocol,
            });
        }
        let line: RequestLine = serde_json::from_str(line).map_err(bad)?;
        Ok(line.request)
    }
}

/// The answer to `island on|off`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct IslandState {
    pub island: bool,
}

/// The daemon's answer: `{"protocol": 2, "ok": true, "data": ...}` or
/// `{"protocol": 2, "ok": false, "error": "...", "failure": {"kind": ...}}`. `error` is the
/// failure in words (what a `zcfw` of protocol 1 reads and prints).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Response<T> {
    #[serde(default = "unversioned")]
    pub protocol: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

impl<T: Serialize> Response<T> {
    pub fn ok(data: T) -> Self {
        Response {
            protocol: PROTOCOL,
            ok: true,
            data: Some(data),
            error: None,
            failure: None,
        }
    }

    pub fn failed(failure: Failure) -> Self {
        Response {
            protocol: PROTOCOL,
            ok: false,
            data: None,
            error: Some(failure.to_string()),
            failure: Some(failure),
        }
    }

    /// The answer as one JSON line, newline included.
    pub fn encode(&self) -> String {
        let mut out = serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                r#"{{"protocol":{PROTOCOL},"ok":false,"error":"cannot encode the response: {e}"}}"#
            )
        });
        out.push('\n');
        out
    }
}

impl Response<()> {
    /// The first line of an `events` answer: the request is accepted, events follow.
    pub fn greeting() -> Self {
        Response {
            protocol: PROTOCOL,
            ok: true,
            data: None,
            error: None,
            failure: None,
        }
    }
}

/// Why the daemon did not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// The client speaks another version of this protocol.
    #[error(
        "the daemon speaks control protocol {daemon}, this zcfw speaks {client}: the zcfw \
         binary and the running service are of different versions (upgraded without a \
         restart?); restart the service (`systemctl restart zcfw`) so both are the same"
    )]
    Protocol { daemon: u32, client: u32 },
    /// Every control connection is taken.
    #[error(
        "the daemon serves {max_clients} control connections at once and all are busy; try again"
    )]
    Busy { max_clients: usize },
    /// The request could not be read or understood.
    #[error("{why}")]
    BadRequest { why: String },
    /// The client's user lacks the group the request needs.
    #[error(
        "permission denied: {user} (uid {uid}) is not a member of group {group}, which this \
         request needs; an administrator adds it with `usermod -aG {group} {user}` (see \
         docs/service.md, \"Access\")"
    )]
    Denied {
        user: String,
        uid: u32,
        group: String,
    },
    /// The reload did not go live.
    #[error(transparent)]
    Reload(ReloadError),
    /// The daemon could not answer (counters unreadable, island switch failed, ...).
    #[error("{why}")]
    Failed { why: String },
}

/// Why a `zcfw` command got no answer it could use from the daemon.
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
    #[error(
        "the daemon on {socket} speaks control protocol {daemon}, this zcfw speaks {client}: the \
         zcfw binary and the running service are of different versions (upgraded without a \
         restart?); restart the service (`systemctl restart zcfw`) so both are the same"
    )]
    Protocol {
        socket: String,
        daemon: u32,
        client: u32,
    },
    #[error(
        "the daemon on {socket} closed the connection without answering (a daemon older than \
         this zcfw does that for `events`: restart the service after an upgrade)"
    )]
    NoAnswer { socket: String },
    #[error(
        "the daemon on {socket} sent an answer this zcfw cannot read: {source}; check that \
         `zcfw --version` and the running service are the same version"
    )]
    Decode {
        socket: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the daemon refused the request: {0}")]
    Refused(Failure),
}

impl ClientError {
    /// The reload error, if this is a refused reload.
    pub fn reload_error(&self) -> Option<&ReloadError> {
        match self {
            ClientError::Refused(Failure::Reload(err)) => Some(err),
            _ => None,
        }
    }
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

/// A connection to the daemon: sends one request, reads answers line by line.
struct Connection {
    name: String,
    reader: BufReader<UnixStream>,
}

impl Connection {
    fn open(
        socket: &Path,
        request: &Request,
        timeout: Option<Duration>,
    ) -> Result<Self, ClientError> {
        let name = socket.display().to_string();
        let mut stream = connect(socket)?;
        let io = |source| ClientError::Io {
            socket: name.clone(),
            source,
        };
        stream.set_read_timeout(timeout).map_err(io)?;
        stream
            .write_all(RequestLine::encode(request).as_bytes())
            .map_err(io)?;
        Ok(Connection {
            name,
            reader: BufReader::new(stream),
        })
    }

    /// Reads the answer line and checks its protocol version and outcome.
    fn answer<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ClientError> {
        let mut line = String::new();
        let read = self
            .reader
            .read_line(&mut line)
            .map_err(|source| ClientError::Io {
                socket: self.name.clone(),
                source,
            })?;
        if read == 0 {
            return Err(ClientError::NoAnswer {
                socket: self.name.clone(),
            });
        }
        decode_answer(&self.name, &line)
    }
}

/// Reads one answer line of the daemon on `socket` (named for messages): the version first,
/// then the outcome, then the data.
fn decode_answer<T: DeserializeOwned>(socket: &str, line: &str) -> Result<Option<T>, ClientError> {
    #[derive(Deserialize)]
    struct Version {
        #[serde(default = "unversioned")]
        protocol: u32,
    }
    let decode = |source| ClientError::Decode {
        socket: socket.to_owned(),
        source,
    };
    let version: Version = serde_json::from_str(line).map_err(decode)?;
    if version.protocol != PROTOCOL {
        return Err(ClientError::Protocol {
            socket: socket.to_owned(),
            daemon: version.protocol,
            client: PROTOCOL,
        });
    }
    let response: Response<T> = serde_json::from_str(line).map_err(decode)?;
    if response.ok {
        return Ok(response.data);
    }
    Err(ClientError::Refused(response.failure.unwrap_or_else(
        || Failure::Failed {
            why: response.error.unwrap_or_else(|| "no reason given".into()),
        },
    )))
}

/// Sends `request` to the daemon listening on `socket` and returns its data.
fn call<T: DeserializeOwned>(socket: &Path, request: &Request) -> Result<T, ClientError> {
    let mut connection = Connection::open(socket, request, Some(Duration::from_secs(30)))?;
    let name = connection.name.clone();
    connection
        .answer::<T>()?
        .ok_or_else(|| ClientError::Decode {
            socket: name,
            source: serde::de::Error::missing_field("data"),
        })
}

/// `status`.
pub fn status(socket: &Path) -> Result<Status, ClientError> {
    call(socket, &Request::Status)
}

/// `stats`.
pub fn stats(socket: &Path) -> Result<Stats, ClientError> {
    call(socket, &Request::Stats)
}

/// `reload`, of `policy` (default: the file the daemon runs).
pub fn reload(socket: &Path, policy: Option<PathBuf>) -> Result<Reloaded, ClientError> {
    call(socket, &Request::Reload { policy })
}

/// `island on|off`.
pub fn island(socket: &Path, on: bool) -> Result<IslandState, ClientError> {
    call(socket, &Request::Island { on })
}

/// `learn start|stop|read`: what the daemon learned ([`crate::learn::Observations`]).
pub fn learn(
    socket: &Path,
    action: crate::learn::LearnAction,
) -> Result<crate::learn::Observations, ClientError> {
    call(socket, &Request::Learn { action })
}

/// Connects to the daemon and asks for denied frames: once the daemon has accepted, each
/// captured frame's line (a [`capture::CaptureLine`]) until it closes the connection.
pub fn capture(socket: &Path) -> Result<impl Iterator<Item = String>, ClientError> {
    let mut connection = Connection::open(socket, &Request::Capture, None)?;
    connection.answer::<serde::de::IgnoredAny>()?;
    Ok(connection.reader.lines().map_while(Result::ok))
}

/// Connects to the daemon and asks for events: once the daemon has accepted, its greeting
/// (the policy's names, how many recent events come first) and the event lines as the daemon
/// sent them (each an [`event::EventLine`]), until it closes the connection.
pub fn events(
    socket: &Path,
    follow: bool,
) -> Result<(event::EventsGreeting, impl Iterator<Item = String>), ClientError> {
    let mut connection = Connection::open(socket, &Request::Events { follow }, None)?;
    let greeting = connection
        .answer::<event::EventsGreeting>()?
        .unwrap_or_default();
    Ok((greeting, connection.reader.lines().map_while(Result::ok)))
}

#[cfg(test)]
mod tests;
