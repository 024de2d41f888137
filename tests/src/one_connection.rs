//! A Modbus/TCP server that serves one connection at a time (`tests/peers/
//! one_connection_server.py`, the standard library only), the way libmodbus's server pattern
//! and many PLCs do: while one client holds it, every other client waits in the backlog.
//! This is what a dropped request turns into a lock-out (issue 13), and what the tests of
//! `on_violation: reset` run against.

use std::{
    net::{IpAddr, SocketAddr},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{
    cmd,
    modbus::{Peer, START_TIMEOUT},
    netns::Netns,
    tempdir::TempDir,
};

/// One line the server printed (see the script's docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    Accepted(SocketAddr),
    Request(SocketAddr, Vec<u8>),
    /// How the connection ended: `eof`, `reset` or `error:ERRNO`.
    Closed(SocketAddr, String),
}

/// The one-connection server in a namespace; killed on drop.
#[derive(Debug)]
pub struct OneConnectionServer {
    peer: Peer,
    ns_name: String,
    port: u16,
    events: Vec<ServerEvent>,
    _dir: TempDir,
}

impl OneConnectionServer {
    /// Starts the server on every address of `ns`, TCP `port`; returns once it listens.
    pub fn start(ns: &Netns, port: u16) -> Result<OneConnectionServer> {
        let dir = TempDir::new(&format!("{}-one-connection-{port}", ns.name()))?;
        let args = vec!["--port".to_string(), port.to_string()];
        let mut peer = Peer::spawn(
            ns,
            "one_connection_server.py",
            &args,
            dir.join("server.log"),
            false,
        )?;
        let banner = peer.line(START_TIMEOUT)?;
        if !banner.starts_with("ready") {
            bail!("{} printed {banner:?} instead of ready", peer.what());
        }
        Ok(OneConnectionServer {
            peer,
            ns_name: ns.name().to_owned(),
            port,
            events: Vec::new(),
            _dir: dir,
        })
    }

    /// Everything the server reported so far.
    pub fn events(&mut self) -> &[ServerEvent] {
        for line in self.peer.lines_so_far() {
            if let Some(event) = parse_event(&line) {
                self.events.push(event);
            }
        }
        &self.events
    }

    /// Waits up to `timeout` for an event `want` accepts.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        want: impl Fn(&ServerEvent) -> bool,
    ) -> Option<ServerEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events().iter().find(|e| want(e)) {
                return Some(e.clone());
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The peers of the server's ESTABLISHED connections, as the kernel of its namespace
    /// `ns` lists them (`ss -tn`): what holds its connection slot.
    pub fn established_peers(&self, ns: &Netns) -> Result<Vec<SocketAddr>> {
        if ns.name() != self.ns_name {
            bail!("the server runs in {}, not in {}", self.ns_name, ns.name());
        }
        let filter = format!("( sport = :{} )", self.port);
        let mut command = ns.command("ss");
        command.args(["-tnH", "state", "established", &filter]);
        let out = cmd::run(&mut command)?;
        out.lines()
            .filter_map(|l| l.split_whitespace().last())
            .map(|peer| parse_addr(peer).with_context(|| format!("ss printed {peer:?}")))
            .collect()
    }
}

/// `1.2.3.4:5` or `[fd00::1]:5` (as `ss` prints them; IPv4-mapped addresses unmapped).
fn parse_addr(text: &str) -> Result<SocketAddr> {
    let (host, port) = text.rsplit_once(':').context("no port")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.strip_prefix("::ffff:").unwrap_or(host);
    Ok(SocketAddr::new(host.parse::<IpAddr>()?, port.parse()?))
}

fn parse_event(line: &str) -> Option<ServerEvent> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let peer = |host: &str, port: &str| -> Option<SocketAddr> {
        Some(SocketAddr::new(host.parse().ok()?, port.parse().ok()?))
    };
    match words.as_slice() {
        ["accepted", host, port] => Some(ServerEvent::Accepted(peer(host, port)?)),
        ["request", host, port, hex] => Some(ServerEvent::Request(
            peer(host, port)?,
            crate::modbus::hex_decode(hex).ok()?,
        )),
        ["closed", host, port, how] => {
            Some(ServerEvent::Closed(peer(host, port)?, how.to_string()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_server_and_ss_print() {
        assert_eq!(
            parse_event("closed 10.20.0.2 40000 reset"),
            Some(ServerEvent::Closed(
                "10.20.0.2:40000".parse().expect("addr"),
                "reset".into()
            ))
        );
        assert_eq!(
            parse_event("request fd00:20::2 41000 0001"),
            Some(ServerEvent::Request(
                "[fd00:20::2]:41000".parse().expect("addr"),
                vec![0, 1]
            ))
        );
        assert_eq!(parse_event("ready 502"), None);
        assert_eq!(
            parse_addr("[::ffff:10.20.0.2]:40000").expect("mapped"),
            "10.20.0.2:40000".parse().expect("addr")
        );
        assert_eq!(
            parse_addr("[fd00:20::2]:1").expect("v6"),
            "[fd00:20::2]:1".parse().expect("addr")
        );
    }
}
