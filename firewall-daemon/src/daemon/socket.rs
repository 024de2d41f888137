//! The control socket: root-only Unix socket, one JSON request and response per connection.

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    sync::{Arc, Mutex},
};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt as _, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
};
use tracing::{debug, warn};

use super::{
    State,
    accept::{Backoff, REQUEST_TIMEOUT, Slots},
    access::{self, Need, Peer, Roles},
    reload::{self, Outcome, Reloads},
    stats,
};
use crate::control::{
    Failure, IslandState, Request, RequestLine, Response,
    capture::CaptureLine,
    event::{EventLine, EventsGreeting},
    reload::ReloadError,
};

/// Binds the socket, replacing a stale socket file but refusing to steal one a live daemon
/// answers on. Mode 0660 with the read group of `roles` (0600, root only, when that group
/// does not exist); a parent directory it creates is 0755, so group members can reach it.
pub fn bind(path: &Path, roles: &Roles) -> Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot set the mode of {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "another zcfw daemon is already listening on {}; stop it or pass a different --socket",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    let mode = match roles.socket_gid() {
        Some(gid) => {
            nix::unistd::chown(path, None, Some(gid)).with_context(|| {
                format!(
                    "cannot give {} to group {}",
                    path.display(),
                    roles.read_group
                )
            })?;
            0o660
        }
        None => 0o600,
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot restrict permissions of {}", path.display()))?;
    Ok(listener)
}

/// Removes the socket file when dropped (the daemon stopped or failed to start).
pub struct SocketFile(pub std::path::PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        remove(&self.0);
    }
}

pub fn remove(path: &Path) {
    if let Err(err) = std::fs::remove_file(path) {
        warn!(socket = %path.display(), error = %err, "cannot remove the control socket");
    }
}

/// Control connections served at once (`events --follow` streams included).
const MAX_CLIENTS: usize = 256;
/// Longest request line (a reload names a path; nothing else carries data).
const MAX_REQUEST: u64 = 64 * 1024;

pub async fn serve(
    listener: UnixListener,
    state: Arc<Mutex<State>>,
    reloads: Arc<Reloads>,
    roles: Arc<Roles>,
) {
    let slots = Slots::new(MAX_CLIENTS);
    let mut backoff = Backoff::new("control socket");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => match slots.take() {
                Some(slot) => {
                    let (state, reloads, roles) = (state.clone(), reloads.clone(), roles.clone());
                    tokio::spawn(async move {
                        handle(stream, state, reloads, &roles).await;
                        drop(slot);
                    });
                }
                None => {
                    tokio::spawn(refuse(stream));
                }
            },
            Err(err) => backoff.failed(&err).await,
        }
    }
}

/// Tells a client beyond [`MAX_CLIENTS`] to come back later.
async fn refuse(mut stream: UnixStream) {
    let line = Response::<()>::failed(Failure::Busy {
        max_clients: MAX_CLIENTS,
    })
    .encode();
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, stream.write_all(line.as_bytes())).await;
}

/// Reads the request line: at most [`MAX_REQUEST`] bytes within [`REQUEST_TIMEOUT`].
async fn read_request(
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
) -> Result<String, String> {
    let mut line = Vec::new();
    let read = tokio::time::timeout(
        REQUEST_TIMEOUT,
        (&mut *reader)
            .take(MAX_REQUEST)
            .read_until(b'\n', &mut line),
    )
    .await;
    match read {
        Err(_) => Err(format!(
            "no request within {} s; send one JSON line right after connecting",
            REQUEST_TIMEOUT.as_secs()
        )),
        Ok(Err(err)) => Err(format!("cannot read the request: {err}")),
        Ok(Ok(_)) if !line.ends_with(b"\n") && line.len() as u64 >= MAX_REQUEST => Err(format!(
            "request longer than {MAX_REQUEST} bytes; a request is one short JSON line"
        )),
        Ok(Ok(_)) => String::from_utf8(line).map_err(|_| "the request is not UTF-8".to_owned()),
    }
}

/// An answer ready to send, and what the access record says about it.
struct Answer {
    line: String,
    result: String,
}

impl Answer {
    fn ok<T: Serialize>(data: T, result: impl Into<String>) -> Answer {
        Answer {
            line: Response::ok(data).encode(),
            result: result.into(),
        }
    }

    fn failed(failure: Failure) -> Answer {
        let text = failure.to_string();
        Answer {
            result: format!("failed: {}", text.lines().next().unwrap_or("")),
            line: Response::<()>::failed(failure).encode(),
        }
    }
}

async fn handle(
    stream: UnixStream,
    state: Arc<Mutex<State>>,
    reloads: Arc<Reloads>,
    roles: &Roles,
) {
    let peer = match stream.peer_cred() {
        Ok(cred) => Peer::from_cred(cred.uid(), cred.gid(), cred.pid()),
        Err(err) => {
            warn!(error = %err, "control client without credentials; closed");
            return;
        }
    };
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let line = match read_request(&mut reader).await {
        Ok(line) => line,
        Err(why) => {
            debug!(why, "control request not read");
            let failure = Failure::BadRequest { why };
            write_line(&mut write, &Response::<()>::failed(failure).encode()).await;
            return;
        }
    };
    let read = reader.into_inner();
    let request = match RequestLine::decode(&line) {
        Ok(request) => request,
        Err(failure) => {
            if let Failure::Protocol { client, .. } = failure {
                warn!(
                    client_protocol = client,
                    pid = peer.pid,
                    command = peer.command,
                    "a zcfw of another version asked; told it to restart the service"
                );
            }
            write_line(&mut write, &Response::<()>::failed(failure).encode()).await;
            return;
        }
    };
    let hub = super::lock(&state).events.clone();
    if !roles.allows(&peer, Need::of(&request)) {
        let group = match Need::of(&request) {
            Need::Read => format!("{} (or {})", roles.read_group, roles.admin_group),
            Need::Change => roles.admin_group.clone(),
        };
        access::record(
            &hub,
            &peer,
            &request,
            false,
            &format!("refused: not in group {group}"),
        );
        let failure = Failure::Denied {
            user: peer.user.clone(),
            uid: peer.uid,
            group,
        };
        write_line(&mut write, &Response::<()>::failed(failure).encode()).await;
        return;
    }
    let answer = match &request {
        Request::Events { follow } => {
            stream_events(write, &state, *follow).await;
            return;
        }
        Request::Capture => {
            stream_capture(read, write, &state).await;
            return;
        }
        Request::Reload { policy } => {
            match reload::reload(&state, &reloads, policy.clone(), Some(&read)).await {
                Outcome::Live(live) => {
                    let result = format!("live: generation {}", live.generation);
                    Answer::ok(live, result)
                }
                Outcome::Refused(err) => refused(err),
                Outcome::Abandoned => {
                    access::record(&hub, &peer, &request, true, "abandoned: the client left");
                    return;
                }
            }
        }
        request => answer(request, &state),
    };
    access::record(&hub, &peer, &request, true, &answer.result);
    write_line(&mut write, &answer.line).await;
}

async fn write_line(write: &mut tokio::net::unix::OwnedWriteHalf, line: &str) {
    if let Err(err) = tokio::time::timeout(REQUEST_TIMEOUT, write.write_all(line.as_bytes())).await
    {
        debug!(error = %err, "control client too slow to read its answer");
    }
}

/// Greets the client, writes the recent events, then (with `follow`) each new one, as JSON
/// lines, until the client goes away. A client too slow to keep up is told how many events
/// it missed.
async fn stream_events(
    mut write: tokio::net::unix::OwnedWriteHalf,
    state: &Mutex<State>,
    follow: bool,
) {
    let (hub, zones, conduits) = {
        let state = super::lock(state);
        (
            state.events.clone(),
            state.policy.zones.iter().map(|z| z.name.clone()).collect(),
            state
                .policy
                .conduits
                .iter()
                .map(|c| c.name.clone())
                .collect(),
        )
    };
    let (recent, mut rx) = hub.subscribe();
    let greeting = EventsGreeting {
        zones,
        conduits,
        recent: Some(recent.len()),
    };
    if write
        .write_all(Response::ok(greeting).encode().as_bytes())
        .await
        .is_err()
    {
        return;
    }
    for line in recent {
        if write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
    if !follow {
        return;
    }
    loop {
        let line = match rx.recv().await {
            Ok(line) => format!("{line}\n"),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                let missed = EventLine::Missed { missed_events: n };
                format!("{}\n", super::events::encode(&missed))
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        if write.write_all(line.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Turns frame copying on (for the first client), greets the client, then writes each
/// captured frame as a JSON line until the client goes away. A client too slow to keep up is
/// told how many frames it missed.
async fn stream_capture(
    mut read: tokio::net::unix::OwnedReadHalf,
    mut write: tokio::net::unix::OwnedWriteHalf,
    state: &Arc<Mutex<State>>,
) {
    let hub = super::lock(state).capture.clone();
    let mut sub = match super::capture::CaptureHub::subscribe(&hub, state) {
        Ok(sub) => sub,
        Err(why) => {
            let failure = Failure::Failed { why };
            write_line(&mut write, &Response::<()>::failed(failure).encode()).await;
            return;
        }
    };
    if write
        .write_all(Response::greeting().encode().as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let mut scratch = [0u8; 64];
    loop {
        let line = tokio::select! {
            received = sub.rx.recv() => match received {
                Ok(line) => format!("{line}\n"),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let missed = CaptureLine::Missed { missed_frames: n };
                    format!("{}\n", serde_json::to_string(&missed).unwrap_or_default())
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            // A client that leaves while no frame comes is noticed at once (its end of the
            // connection reads as closed); copying stops with it.
            _ = read.read(&mut scratch) => return,
        };
        if write.write_all(line.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The answer to a reload that did not go live.
fn refused(err: ReloadError) -> Answer {
    match &err {
        ReloadError::InvalidPolicy { diagnostics } => {
            warn!("reload refused, the running policy stays:\n{diagnostics}");
        }
        err if err.running_policy_stays() => {
            warn!("reload failed, the running policy stays: {err}");
        }
        err => warn!("reload failed: {err}"),
    }
    Answer::failed(Failure::Reload(err))
}

fn answer(request: &Request, state: &Mutex<State>) -> Answer {
    let mut state = super::lock(state);
    let failed = |why: String| Answer::failed(Failure::Failed { why });
    match request {
        Request::Stats => match stats::collect(&state) {
            Ok(data) => Answer::ok(data, "done"),
            Err(err) => failed(format!("cannot read counters: {err}")),
        },
        Request::Status => match stats::status(&mut state) {
            Ok(data) => Answer::ok(data, "done"),
            Err(err) => failed(format!("cannot read the status: {err}")),
        },
        Request::Reload { .. } => failed("reloads are answered by the reload task".into()),
        Request::Island { on } => match state.dataplane.set_island(*on) {
            Ok(()) => {
                let what = if *on {
                    "ON: nothing crosses a zone boundary"
                } else {
                    "off"
                };
                tracing::info!(island = on, "island mode {what}");
                Answer::ok(IslandState { island: *on }, "done")
            }
            Err(err) => failed(format!("cannot switch island mode: {err}")),
        },
        Request::Events { .. } => failed("events are streamed, not answered".into()),
        Request::Capture => failed("frames are streamed, not answered".into()),
        Request::Learn { action } => match super::learn::answer(&mut state, *action) {
            Ok(data) => Answer::ok(data, "done"),
            Err(failure) => Answer::failed(failure),
        },
    }
}
