//! [`PingStream`]: echo requests at a fixed rate, replies matched.

use std::{
    io::Read,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU16, Ordering},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{
    clock::{now, sleep_until},
    udp::{Delivery, Sent},
};
use crate::{netns::Netns, packet::checksum};

static PING_ID: AtomicU16 = AtomicU16::new(0);

/// ICMP / ICMPv6 echo requests at a fixed rate from one namespace (like `ping -i 0.01`),
/// with the replies matched by identifier and sequence number.
#[derive(Debug)]
pub struct PingStream {
    dst: IpAddr,
    stop_send: Arc<AtomicBool>,
    stop_recv: Arc<AtomicBool>,
    sender: Option<JoinHandle<Sent>>,
    receiver: Option<JoinHandle<Vec<(u16, Duration)>>>,
}

impl PingStream {
    /// Starts `pps` echo requests per second from `ns` to `dst`.
    pub fn start(ns: &Netns, dst: IpAddr, pps: u32) -> Result<PingStream> {
        let v6 = dst.is_ipv6();
        let sock = ns
            .run(|| {
                if v6 {
                    Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
                } else {
                    Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
                }
            })
            .context("raw ICMP socket (are you root?)")?;
        sock.set_read_timeout(Some(Duration::from_millis(20)))?;
        sock.set_recv_buffer_size(4 << 20)?;
        let sock = Arc::new(sock);
        let id = (std::process::id() as u16).wrapping_mul(7919)
            ^ 0x5a00
            ^ PING_ID.fetch_add(1, Ordering::Relaxed);
        let interval = Duration::from_secs(1) / pps.max(1);
        let stop_send = Arc::new(AtomicBool::new(false));
        let stop_recv = Arc::new(AtomicBool::new(false));
        let sender = {
            let sock = sock.clone();
            let stop = stop_send.clone();
            thread::Builder::new()
                .name(format!("ping -> {dst}"))
                .spawn(move || {
                    let target = SockAddr::from(SocketAddr::new(dst, 0));
                    let mut sent = Sent::default();
                    let start = now();
                    let mut n: u32 = 0;
                    while !stop.load(Ordering::Relaxed) {
                        sleep_until(start + interval * n);
                        n += 1;
                        let seq = sent.times.len() as u16;
                        let t = now();
                        let mut msg = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
                        msg.extend_from_slice(&id.to_be_bytes());
                        msg.extend_from_slice(&seq.to_be_bytes());
                        msg.extend_from_slice(&(t.as_nanos() as u64).to_be_bytes());
                        msg.extend_from_slice(b"zcfw service ping");
                        if !v6 {
                            let c = checksum(&[&msg]);
                            msg[2..4].copy_from_slice(&c.to_be_bytes());
                        }
                        match sock.send_to(&msg, &target) {
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
        let receiver = {
            let stop = stop_recv.clone();
            thread::Builder::new()
                .name(format!("ping replies <- {dst}"))
                .spawn(move || {
                    let mut replies = Vec::new();
                    let mut buf = [0u8; 2048];
                    while !stop.load(Ordering::Relaxed) {
                        let n = match (&*sock).read(&mut buf) {
                            Ok(n) => n,
                            Err(_) => continue,
                        };
                        let icmp = if v6 {
                            &buf[..n]
                        } else {
                            let ihl = usize::from(buf[0] & 0x0f) * 4;
                            let IpAddr::V4(d) = dst else { continue };
                            if n < ihl + 8 || buf[12..16] != d.octets() {
                                continue;
                            }
                            &buf[ihl..n]
                        };
                        let reply_type = if v6 { 129 } else { 0 };
                        if icmp.len() >= 8
                            && icmp[0] == reply_type
                            && icmp[4..6] == id.to_be_bytes()
                        {
                            replies.push((u16::from_be_bytes([icmp[6], icmp[7]]), now()));
                        }
                    }
                    replies
                })?
        };
        Ok(PingStream {
            dst,
            stop_send,
            stop_recv,
            sender: Some(sender),
            receiver: Some(receiver),
        })
    }

    pub fn dst(&self) -> IpAddr {
        self.dst
    }

    /// Stops sending, waits `grace` for the last replies, and compares. Sequence numbers
    /// are 16 bits: keep a stream below 65536 requests.
    pub fn stop(self, grace: Duration) -> (Sent, Delivery) {
        let (sent, replied) = self.stop_replies(grace);
        let delivery = Delivery::of(&sent, replied.iter().map(|s| *s as u64));
        (sent, delivery)
    }

    /// Like [`PingStream::stop`], but returns the sequence numbers of the replies (in order
    /// of arrival) instead of comparing.
    pub fn stop_replies(mut self, grace: Duration) -> (Sent, Vec<u16>) {
        self.stop_send.store(true, Ordering::Relaxed);
        let sent = self
            .sender
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        thread::sleep(grace);
        self.stop_recv.store(true, Ordering::Relaxed);
        let replies = self
            .receiver
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        (sent, replies.into_iter().map(|(s, _)| s).collect())
    }
}

impl Drop for PingStream {
    fn drop(&mut self) {
        self.stop_send.store(true, Ordering::Relaxed);
        self.stop_recv.store(true, Ordering::Relaxed);
        if let Some(t) = self.sender.take() {
            let _ = t.join();
        }
        if let Some(t) = self.receiver.take() {
            let _ = t.join();
        }
    }
}
