//! Real traffic inside namespaces: ping, TCP echo, UDP request/reply and echo servers.
//!
//! Every client runs on a thread that entered the source namespace ([`Netns::run`]); servers
//! bind their socket there and then serve it from an ordinary thread (a socket keeps the
//! namespace it was created in). All waits are bounded by the timeouts given.

use std::{
    io::{ErrorKind, Read, Write},
    net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU16, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use crate::{netns::Netns, packet::checksum};

static PING_ID: AtomicU16 = AtomicU16::new(0);

/// Datagrams a server received, with their senders.
type Received = Arc<Mutex<Vec<(SocketAddr, Vec<u8>)>>>;

/// Sends `count` ICMP (or ICMPv6) echo requests from `ns` to `dst`, one after the other,
/// waiting up to `timeout` for each reply; returns how many replies arrived.
pub fn ping(ns: &Netns, dst: IpAddr, count: u16, timeout: Duration) -> Result<u16> {
    let id = (std::process::id() as u16).wrapping_mul(31) ^ PING_ID.fetch_add(1, Ordering::Relaxed);
    ns.run(|| {
        let v6 = dst.is_ipv6();
        let sock = if v6 {
            Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
        } else {
            Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
        }
        .context("raw ICMP socket (are you root?)")?;
        let target = SockAddr::from(SocketAddr::new(dst, 0));
        let mut received = 0;
        for seq in 0..count {
            let mut msg = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
            msg.extend_from_slice(&id.to_be_bytes());
            msg.extend_from_slice(&seq.to_be_bytes());
            msg.extend_from_slice(b"zcfw harness ping payload");
            if !v6 {
                // The kernel fills in ICMPv6 checksums of raw sockets, not ICMPv4 ones.
                let c = checksum(&[&msg]);
                msg[2..4].copy_from_slice(&c.to_be_bytes());
            }
            sock.send_to(&msg, &target)
                .with_context(|| format!("sending echo request to {dst}"))?;
            let deadline = Instant::now() + timeout;
            let mut buf = [0u8; 2048];
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                if left.is_zero() {
                    break;
                }
                sock.set_read_timeout(Some(left))?;
                let n = match (&sock).read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if is_timeout(&e) => break,
                    Err(e) => return Err(e.into()),
                };
                // IPv4 raw sockets deliver the IP header too; IPv6 ones do not.
                let icmp = if v6 {
                    &buf[..n]
                } else {
                    let ihl = usize::from(buf[0] & 0x0f) * 4;
                    if n < ihl + 8 || buf[12..16] != ip_octets(dst)[..] {
                        continue;
                    }
                    &buf[ihl..n]
                };
                let reply_type = if v6 { 129 } else { 0 };
                if icmp.len() >= 8
                    && icmp[0] == reply_type
                    && icmp[4..6] == id.to_be_bytes()
                    && icmp[6..8] == seq.to_be_bytes()
                {
                    received += 1;
                    break;
                }
            }
        }
        Ok(received)
    })
}

fn ip_octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Opens a TCP connection from `ns` to `dst`, from `src` if given (address and/or port;
/// port 0 = any), within `timeout`.
pub fn tcp_connect(
    ns: &Netns,
    src: Option<SocketAddr>,
    dst: SocketAddr,
    timeout: Duration,
) -> Result<TcpStream> {
    ns.run(|| {
        let sock = Socket::new(Domain::for_address(dst), Type::STREAM, Some(Protocol::TCP))?;
        if let Some(src) = src {
            sock.set_reuse_address(true)?;
            sock.bind(&src.into())
                .with_context(|| format!("binding {src}"))?;
        }
        sock.connect_timeout(&dst.into(), timeout)
            .with_context(|| format!("TCP connect {} -> {dst}", ns.name()))?;
        Ok(TcpStream::from(sock))
    })
}

/// Connects from `ns` to the echo server at `dst`, sends `payload`, and checks that exactly
/// `payload` comes back before the connection ends, all within `timeout`.
pub fn tcp_echo(ns: &Netns, dst: SocketAddr, payload: &[u8], timeout: Duration) -> Result<()> {
    tcp_echo_from(ns, None, dst, payload, timeout)
}

/// [`tcp_echo`] from a chosen source address/port.
pub fn tcp_echo_from(
    ns: &Netns,
    src: Option<SocketAddr>,
    dst: SocketAddr,
    payload: &[u8],
    timeout: Duration,
) -> Result<()> {
    let stream = tcp_connect(ns, src, dst, timeout)?;
    echo_over(&stream, payload, timeout).with_context(|| format!("TCP echo with {dst}"))
}

/// Sends `payload` over an open connection to an echo server and checks it all comes back;
/// the write side is shut down afterwards.
pub fn echo_over(stream: &TcpStream, payload: &[u8], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    stream.set_write_timeout(Some(timeout))?;
    let writer = stream.try_clone()?;
    thread::scope(|s| {
        // Write on another thread: a large payload would otherwise deadlock against the
        // server's echo filling our receive buffer.
        let w = s.spawn(move || -> Result<()> {
            (&writer).write_all(payload).context("sending")?;
            writer.shutdown(Shutdown::Write).context("shutting down")?;
            Ok(())
        });
        let mut got = Vec::with_capacity(payload.len());
        let mut buf = vec![0u8; 64 * 1024];
        let read_result = loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break Err(anyhow!(
                    "timed out after {timeout:?} with {} of {} bytes echoed",
                    got.len(),
                    payload.len()
                ));
            };
            if left.is_zero() {
                continue;
            }
            stream.set_read_timeout(Some(left))?;
            match (&*stream).read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if is_timeout(&e) => continue,
                Err(e) => break Err(anyhow!(e).context("receiving")),
            }
        };
        if read_result.is_err() {
            // Reset rather than close: an orphaned socket would retransmit its queue for
            // minutes, into the counters of later checks. Shutting down unblocks the writer.
            let _ = SockRef::from(stream).set_linger(Some(Duration::ZERO));
            let _ = stream.shutdown(Shutdown::Both);
        }
        let write_result = w.join().unwrap_or_else(|_| Err(anyhow!("writer panicked")));
        read_result?;
        write_result?;
        if got != payload {
            bail!(
                "echo differs: sent {} bytes, got {} bytes back",
                payload.len(),
                got.len()
            );
        }
        Ok(())
    })
}

/// Sends one UDP datagram from `ns` (ephemeral port) to `dst` and returns the first reply
/// from `dst` within `timeout`.
pub fn udp_request(
    ns: &Netns,
    dst: SocketAddr,
    payload: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>> {
    let any = match dst {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    UdpPeer::bind(ns, any)?.request(dst, payload, timeout)
}

/// A UDP socket bound in a namespace, kept open across several exchanges (so a test can
/// open a flow from a known port and then check what else reaches that port).
#[derive(Debug)]
pub struct UdpPeer {
    sock: UdpSocket,
}

impl UdpPeer {
    /// Binds `addr` inside `ns`.
    pub fn bind(ns: &Netns, addr: SocketAddr) -> Result<UdpPeer> {
        let sock = ns
            .run(|| UdpSocket::bind(addr))
            .with_context(|| format!("binding UDP {addr} in {}", ns.name()))?;
        Ok(UdpPeer { sock })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.sock.local_addr().expect("bound socket has an address")
    }

    /// Sends one datagram.
    pub fn send_to(&self, dst: SocketAddr, payload: &[u8]) -> Result<()> {
        self.sock
            .send_to(payload, dst)
            .with_context(|| format!("UDP send to {dst}"))?;
        Ok(())
    }

    /// The next datagram that arrives within `timeout`, if any.
    pub fn recv_within(&self, timeout: Duration) -> Result<Option<(SocketAddr, Vec<u8>)>> {
        self.sock
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut buf = vec![0u8; 65536];
        match self.sock.recv_from(&mut buf) {
            Ok((n, from)) => Ok(Some((from, buf[..n].to_vec()))),
            Err(e) if is_timeout(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends `payload` to `dst` and returns the first datagram from `dst` within `timeout`
    /// (others are ignored).
    pub fn request(&self, dst: SocketAddr, payload: &[u8], timeout: Duration) -> Result<Vec<u8>> {
        self.send_to(dst, payload)?;
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if left.is_zero() {
                break;
            }
            match self.recv_within(left)? {
                Some((from, data)) if from == dst => return Ok(data),
                _ => continue,
            }
        }
        bail!(
            "no UDP reply from {dst} to {} within {timeout:?}",
            self.local_addr()
        )
    }
}

/// A TCP echo server bound in a namespace; stops on drop.
#[derive(Debug)]
pub struct TcpEchoServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    thread: Option<JoinHandle<()>>,
}

impl TcpEchoServer {
    /// Listens on `addr` inside `ns` and echoes every connection until EOF.
    pub fn start(ns: &Netns, addr: SocketAddr) -> Result<TcpEchoServer> {
        let listener = ns
            .run(|| TcpListener::bind(addr))
            .with_context(|| format!("TCP listen {addr} in {}", ns.name()))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = stop.clone();
            let peers = peers.clone();
            thread::Builder::new()
                .name(format!("tcp echo {addr}"))
                .spawn(move || accept_loop(listener, stop, peers))?
        };
        Ok(TcpEchoServer {
            addr,
            stop,
            peers,
            thread: Some(thread),
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Peers of every connection accepted so far.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.peers.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

fn accept_loop(listener: TcpListener, stop: Arc<AtomicBool>, peers: Arc<Mutex<Vec<SocketAddr>>>) {
    let mut conns = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Ok(mut p) = peers.lock() {
                    p.push(peer);
                }
                let stop = stop.clone();
                conns.push(thread::spawn(move || echo_connection(stream, stop)));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(5)),
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
    for c in conns {
        let _ = c.join();
    }
}

fn echo_connection(mut stream: TcpStream, stop: Arc<AtomicBool>) {
    if stream.set_nonblocking(false).is_err()
        || stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .is_err()
        || stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .is_err()
    {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if is_timeout(&e) => continue,
            Err(_) => break,
        }
    }
}

impl Drop for TcpEchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A UDP echo server bound in a namespace: answers every datagram with the same bytes and
/// records what it received; stops on drop.
#[derive(Debug)]
pub struct UdpEchoServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    received: Received,
    thread: Option<JoinHandle<()>>,
}

impl UdpEchoServer {
    /// Binds `addr` inside `ns`.
    pub fn start(ns: &Netns, addr: SocketAddr) -> Result<UdpEchoServer> {
        let sock = ns
            .run(|| UdpSocket::bind(addr))
            .with_context(|| format!("UDP bind {addr} in {}", ns.name()))?;
        sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let received: Received = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = stop.clone();
            let received = received.clone();
            thread::Builder::new()
                .name(format!("udp echo {addr}"))
                .spawn(move || {
                    let mut buf = vec![0u8; 65536];
                    while !stop.load(Ordering::Relaxed) {
                        if let Ok((n, from)) = sock.recv_from(&mut buf) {
                            if let Ok(mut r) = received.lock() {
                                r.push((from, buf[..n].to_vec()));
                            }
                            let _ = sock.send_to(&buf[..n], from);
                        }
                    }
                })?
        };
        Ok(UdpEchoServer {
            addr,
            stop,
            received,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every datagram received so far, with its sender.
    pub fn received(&self) -> Vec<(SocketAddr, Vec<u8>)> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for UdpEchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// TCP and UDP echo servers on one host, on the given ports of each of its addresses.
#[derive(Debug, Default)]
pub struct EchoServices {
    pub tcp: Vec<TcpEchoServer>,
    pub udp: Vec<UdpEchoServer>,
}

impl EchoServices {
    /// Starts a server on every (address, port) pair.
    pub fn start(
        ns: &Netns,
        addrs: &[IpAddr],
        tcp_ports: &[u16],
        udp_ports: &[u16],
    ) -> Result<EchoServices> {
        let mut s = EchoServices::default();
        for &addr in addrs {
            for &port in tcp_ports {
                s.tcp
                    .push(TcpEchoServer::start(ns, SocketAddr::new(addr, port))?);
            }
            for &port in udp_ports {
                s.udp
                    .push(UdpEchoServer::start(ns, SocketAddr::new(addr, port))?);
            }
        }
        Ok(s)
    }

    /// The UDP server on `addr`, if any.
    pub fn udp_server(&self, addr: SocketAddr) -> Option<&UdpEchoServer> {
        self.udp.iter().find(|s| s.addr() == addr)
    }

    /// The TCP server on `addr`, if any.
    pub fn tcp_server(&self, addr: SocketAddr) -> Option<&TcpEchoServer> {
        self.tcp.iter().find(|s| s.addr() == addr)
    }
}

/// `payload` of `len` bytes with a recognisable pattern.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}
