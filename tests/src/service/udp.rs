//! [`UdpSource`] → [`UdpSink`]: sequence-numbered, time-stamped datagrams, and what arrived.

use std::{
    net::{SocketAddr, UdpSocket},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};

use super::clock::{STREAM_ID, now, sleep_until};
use crate::netns::Netns;

const MAGIC: &[u8; 4] = b"ZCFW";
const DATAGRAM_LEN: usize = 24;

/// What a stream sent: the send time of every sequence number.
#[derive(Clone, Debug, Default)]
pub struct Sent {
    /// `times[seq]`: when datagram / request `seq` was sent.
    pub times: Vec<Duration>,
    /// Sends that failed (with the error of the first).
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Sent {
    pub fn count(&self) -> u64 {
        self.times.len() as u64
    }
}

/// Sends sequence-numbered, time-stamped UDP datagrams at a fixed rate from `src` (bound in
/// the source namespace) to `dst`, until stopped or until `count` were sent.
#[derive(Debug)]
pub struct UdpSource {
    id: u32,
    src: SocketAddr,
    dst: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Sent>>,
}

impl UdpSource {
    /// Starts sending `pps` datagrams per second (paced against the clock, so the rate holds
    /// on average even when a sleep overshoots); `count`: stop after that many.
    pub fn start(
        ns: &Netns,
        src: SocketAddr,
        dst: SocketAddr,
        pps: u32,
        count: Option<u64>,
    ) -> Result<UdpSource> {
        let sock = ns
            .run(|| {
                let s = Socket::new(Domain::for_address(src), Type::DGRAM, Some(Protocol::UDP))?;
                s.set_reuse_address(true)?;
                s.bind(&src.into())?;
                s.set_send_buffer_size(1 << 20)?;
                Ok::<_, std::io::Error>(UdpSocket::from(s))
            })
            .with_context(|| format!("binding UDP {src} in {}", ns.name()))?;
        let id = STREAM_ID.fetch_add(1, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let interval = Duration::from_secs(1) / pps.max(1);
        let thread = {
            let stop = stop.clone();
            thread::Builder::new()
                .name(format!("udp source {src} -> {dst}"))
                .spawn(move || {
                    let mut sent = Sent::default();
                    let start = now();
                    // Attempts, for pacing and `count`; a failed send reuses its sequence
                    // number, so `seq` indexes `sent.times`.
                    let mut n: u64 = 0;
                    while !stop.load(Ordering::Relaxed) && count.is_none_or(|c| n < c) {
                        sleep_until(start + interval * n as u32);
                        n += 1;
                        let seq = sent.times.len() as u64;
                        let t = now();
                        let mut msg = Vec::with_capacity(DATAGRAM_LEN);
                        msg.extend_from_slice(MAGIC);
                        msg.extend_from_slice(&id.to_be_bytes());
                        msg.extend_from_slice(&seq.to_be_bytes());
                        msg.extend_from_slice(&(t.as_nanos() as u64).to_be_bytes());
                        match sock.send_to(&msg, dst) {
                            Ok(_) => sent.times.push(t),
                            Err(e) => {
                                sent.errors += 1;
                                sent.first_error.get_or_insert_with(|| e.to_string());
                            }
                        }
                    }
                    sent
                })?
        };
        Ok(UdpSource {
            id,
            src,
            dst,
            stop,
            thread: Some(thread),
        })
    }

    /// The stream id carried in every datagram.
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn src(&self) -> SocketAddr {
        self.src
    }

    pub fn dst(&self) -> SocketAddr {
        self.dst
    }

    /// Stops sending and returns what was sent.
    pub fn stop(mut self) -> Sent {
        self.stop.store(true, Ordering::Relaxed);
        self.join()
    }

    /// Waits until `count` datagrams were sent (see [`UdpSource::start`]).
    pub fn wait(mut self) -> Sent {
        self.join()
    }

    fn join(&mut self) -> Sent {
        self.thread
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for UdpSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.join();
    }
}

/// One datagram a [`UdpSink`] received.
#[derive(Clone, Debug)]
pub struct Arrival {
    pub from: SocketAddr,
    pub stream: u32,
    pub seq: u64,
    /// When it was sent and received, on the [`now`] clock.
    pub sent: Duration,
    pub received: Duration,
}

/// Receives the datagrams of [`UdpSource`]s (any number) on one address and records them.
#[derive(Debug)]
pub struct UdpSink {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    thread: Option<JoinHandle<()>>,
}

impl UdpSink {
    /// Binds `addr` in `ns` (with a large receive buffer: nothing is lost to a busy test
    /// machine) and records everything that arrives.
    pub fn start(ns: &Netns, addr: SocketAddr) -> Result<UdpSink> {
        let sock = ns
            .run(|| {
                let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
                s.set_reuse_address(true)?;
                s.set_recv_buffer_size(4 << 20)?;
                s.bind(&addr.into())?;
                Ok::<_, std::io::Error>(UdpSocket::from(s))
            })
            .with_context(|| format!("binding UDP {addr} in {}", ns.name()))?;
        sock.set_read_timeout(Some(Duration::from_millis(20)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = stop.clone();
            let arrivals = arrivals.clone();
            thread::Builder::new()
                .name(format!("udp sink {addr}"))
                .spawn(move || {
                    let mut buf = [0u8; 2048];
                    while !stop.load(Ordering::Relaxed) {
                        let Ok((n, from)) = sock.recv_from(&mut buf) else {
                            continue;
                        };
                        let received = now();
                        let m = &buf[..n];
                        if n != DATAGRAM_LEN || &m[..4] != MAGIC {
                            continue;
                        }
                        let a = Arrival {
                            from,
                            stream: u32::from_be_bytes(m[4..8].try_into().expect("4 bytes")),
                            seq: u64::from_be_bytes(m[8..16].try_into().expect("8 bytes")),
                            sent: Duration::from_nanos(u64::from_be_bytes(
                                m[16..24].try_into().expect("8 bytes"),
                            )),
                            received,
                        };
                        if let Ok(mut v) = arrivals.lock() {
                            v.push(a);
                        }
                    }
                })?
        };
        Ok(UdpSink {
            addr,
            stop,
            arrivals,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every datagram received so far.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The datagrams of stream `id` received so far.
    pub fn of(&self, id: u32) -> Vec<Arrival> {
        self.arrivals()
            .into_iter()
            .filter(|a| a.stream == id)
            .collect()
    }
}

impl Drop for UdpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sent vs. received of one stream.
#[derive(Clone, Debug, Default)]
pub struct Delivery {
    pub sent: u64,
    pub delivered: u64,
    pub duplicates: u64,
    /// Sequence numbers sent but not delivered (first 20).
    pub missing: Vec<u64>,
    pub missing_count: u64,
}

impl Delivery {
    /// Compares `sent` with the sequence numbers that arrived.
    pub fn of(sent: &Sent, arrived: impl IntoIterator<Item = u64>) -> Delivery {
        let mut seen = vec![false; sent.times.len()];
        let mut d = Delivery {
            sent: sent.count(),
            ..Delivery::default()
        };
        for seq in arrived {
            match seen.get_mut(seq as usize) {
                Some(s) if *s => d.duplicates += 1,
                Some(s) => {
                    *s = true;
                    d.delivered += 1;
                }
                None => d.duplicates += 1, // never sent: counts as bogus
            }
        }
        for (seq, s) in seen.iter().enumerate() {
            if !s {
                d.missing_count += 1;
                if d.missing.len() < 20 {
                    d.missing.push(seq as u64);
                }
            }
        }
        d
    }

    pub fn lost(&self) -> u64 {
        self.sent - self.delivered
    }
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} delivered ({} lost, {} duplicate)",
            self.delivered,
            self.sent,
            self.lost(),
            self.duplicates
        )?;
        if !self.missing.is_empty() {
            write!(f, ", missing seq {:?}", self.missing)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_counts_missing_and_duplicates() {
        let sent = Sent {
            times: vec![Duration::ZERO; 5],
            ..Sent::default()
        };
        let d = Delivery::of(&sent, [0, 1, 1, 3, 9]);
        assert_eq!((d.sent, d.delivered, d.duplicates), (5, 3, 2));
        assert_eq!(d.missing, vec![2, 4]);
        assert_eq!(d.lost(), 2);
    }
}
