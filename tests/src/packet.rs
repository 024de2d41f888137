//! Hand-built frames and `AF_PACKET` sockets, for what real sockets cannot do: forge a reply
//! (a TCP SYN-ACK or ACK, a UDP datagram from a server port) in a direction no conduit
//! allows, or send from an address of another zone (spoofing). Frames carry correct IP and
//! L4 checksums, so a receiving host would accept them; a capture socket on the receiving
//! side tells whether they got through.

use std::{
    ffi::CString,
    net::IpAddr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
/// IP protocol numbers.
pub use firewall_common::flow::proto as ip_proto;
/// TCP flag bits.
pub use firewall_common::packet::tcp_flags;
use firewall_common::pktgen;

use crate::netns::Netns;

const ETH_P_ALL: u16 = 0x0003;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// The transport part of a hand-built packet.
#[derive(Clone, Debug)]
pub enum Transport {
    /// A TCP segment.
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: Vec<u8>,
    },
    /// A UDP datagram.
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: Vec<u8>,
    },
}

impl Transport {
    /// A TCP SYN (sequence number 1000, no payload).
    pub fn syn(src_port: u16, dst_port: u16) -> Transport {
        Transport::Tcp {
            src_port,
            dst_port,
            seq: 1000,
            ack: 0,
            flags: tcp_flags::SYN,
            payload: Vec::new(),
        }
    }

    /// The segment or datagram, built by [`firewall_common::pktgen`].
    fn l4(&self) -> pktgen::L4 {
        match self {
            Transport::Tcp {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                payload,
            } => pktgen::tcp_seq(*src_port, *dst_port, *seq, *ack, *flags, payload),
            Transport::Udp {
                src_port,
                dst_port,
                payload,
            } => pktgen::udp(*src_port, *dst_port, payload),
        }
    }
}

/// The Internet checksum (RFC 1071) of the concatenation of `parts`.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    pktgen::checksum(&parts.concat())
}

/// An Ethernet frame carrying `l4` from `src` to `dst` (both IPv4 or both IPv6), with
/// valid checksums ([`pktgen::host_frame`]).
pub fn build_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
    l4: &Transport,
) -> Vec<u8> {
    pktgen::host_frame(src_mac, dst_mac, src, dst, l4.l4())
}

/// The interesting fields of a captured IPv4/IPv6 frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    /// TCP/UDP ports (0 for other protocols).
    pub src_port: u16,
    pub dst_port: u16,
    /// TCP flags (0 for other protocols).
    pub tcp_flags: u8,
    /// L4 payload (TCP/UDP), or the whole ICMP message.
    pub payload: Vec<u8>,
}

/// Parses an untagged Ethernet frame with IPv4 or IPv6 (no extension headers).
pub fn parse_frame(frame: &[u8]) -> Option<Parsed> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(14..)?;
    let (src, dst, proto, l4) = match ethertype {
        ETHERTYPE_IPV4 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (
                IpAddr::from(src),
                IpAddr::from(dst),
                *ip.get(9)?,
                ip.get(ihl..total.min(ip.len()))?,
            )
        }
        ETHERTYPE_IPV6 => {
            let len = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (
                IpAddr::from(src),
                IpAddr::from(dst),
                *ip.get(6)?,
                ip.get(40..(40 + len).min(ip.len()))?,
            )
        }
        _ => return None,
    };
    let (src_port, dst_port, tcp_flags, payload) = match proto {
        ip_proto::TCP => {
            let off = usize::from(l4.get(12)? >> 4) * 4;
            (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
                *l4.get(13)?,
                l4.get(off..)?.to_vec(),
            )
        }
        ip_proto::UDP => (
            u16::from_be_bytes([*l4.first()?, *l4.get(1)?]),
            u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]),
            0,
            l4.get(8..)?.to_vec(),
        ),
        _ => (0, 0, 0, l4.to_vec()),
    };
    Some(Parsed {
        src,
        dst,
        proto,
        src_port,
        dst_port,
        tcp_flags,
        payload,
    })
}

/// An `AF_PACKET` socket bound to one interface of a namespace: sends raw frames out of it
/// and captures the frames it receives.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifname: String,
}

impl PacketSocket {
    /// Opens the socket on `ifname` inside `ns`. Open it before the traffic it should see.
    pub fn open(ns: &Netns, ifname: &str) -> Result<PacketSocket> {
        let name = CString::new(ifname)?;
        let fd = ns
            .run(|| -> Result<OwnedFd> {
                // SAFETY: plain syscalls on values we own; the fd is wrapped at once.
                unsafe {
                    let ifindex = libc::if_nametoindex(name.as_ptr());
                    if ifindex == 0 {
                        bail!("no interface {ifname}");
                    }
                    let raw = libc::socket(
                        libc::AF_PACKET,
                        libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                        i32::from(ETH_P_ALL.to_be()),
                    );
                    if raw < 0 {
                        return Err(std::io::Error::last_os_error()).context("AF_PACKET socket");
                    }
                    let fd = OwnedFd::from_raw_fd(raw);
                    let mut sll: libc::sockaddr_ll = std::mem::zeroed();
                    sll.sll_family = libc::AF_PACKET as u16;
                    sll.sll_protocol = ETH_P_ALL.to_be();
                    sll.sll_ifindex = ifindex as i32;
                    let rc = libc::bind(
                        fd.as_raw_fd(),
                        (&raw const sll).cast(),
                        std::mem::size_of::<libc::sockaddr_ll>() as u32,
                    );
                    if rc < 0 {
                        return Err(std::io::Error::last_os_error()).context("bind AF_PACKET");
                    }
                    Ok(fd)
                }
            })
            .with_context(|| format!("packet socket on {ifname} in {}", ns.name()))?;
        let s = PacketSocket {
            fd,
            ifname: ifname.to_string(),
        };
        // Frames that arrived between socket() and bind() may be from other interfaces.
        s.drain();
        Ok(s)
    }

    /// Sends one frame out of the interface.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("sending a frame on {}", self.ifname));
        }
        Ok(())
    }

    /// Discards every frame queued so far.
    pub fn drain(&self) {
        while self.recv(Duration::ZERO).is_some() {}
    }

    /// The next frame received (not sent) on the interface within `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
            if ready <= 0 {
                return None;
            }
            let mut buf = vec![0u8; 65536];
            // SAFETY: zeroed sockaddr_ll is valid; buffers are valid for their lengths.
            let (n, sll) = unsafe {
                let mut sll: libc::sockaddr_ll = std::mem::zeroed();
                let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
                let n = libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&raw mut sll).cast(),
                    &mut len,
                );
                (n, sll)
            };
            if n < 0 {
                continue;
            }
            if sll.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            buf.truncate(n as usize);
            return Some(buf);
        }
    }

    /// Waits up to `timeout` for a received frame matching `pred`; other frames are skipped.
    pub fn capture(&self, timeout: Duration, pred: impl Fn(&Parsed) -> bool) -> Option<Parsed> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let frame = self.recv(left)?;
            if let Some(p) = parse_frame(&frame)
                && pred(&p)
            {
                return Some(p);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_frames_parse_back_and_verify() {
        for (src, dst) in [("10.30.0.2", "10.20.0.2"), ("fd00:30::2", "fd00:20::2")] {
            let src: IpAddr = src.parse().expect("addr");
            let dst: IpAddr = dst.parse().expect("addr");
            let l4 = Transport::Tcp {
                src_port: 5020,
                dst_port: 40000,
                seq: 7,
                ack: 9,
                flags: tcp_flags::SYN | tcp_flags::ACK,
                payload: b"abc".to_vec(),
            };
            let f = build_frame([2; 6], [4; 6], src, dst, &l4);
            let p = parse_frame(&f).expect("parses");
            assert_eq!(
                (p.src, p.dst, p.src_port, p.dst_port),
                (src, dst, 5020, 40000)
            );
            assert_eq!(p.tcp_flags, tcp_flags::SYN | tcp_flags::ACK);
            assert_eq!(p.payload, b"abc");
            // A correct L4 checksum sums (with the pseudo header) to zero.
            let l4_bytes = &f[f.len() - 23..];
            let pseudo = match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    [&s.octets()[..], &d.octets()[..], &[0, 6, 0, 23]].concat()
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    [&s.octets()[..], &d.octets()[..], &[0, 0, 0, 23, 0, 0, 0, 6]].concat()
                }
                _ => unreachable!(),
            };
            assert_eq!(checksum(&[&pseudo, l4_bytes]), 0);
        }
    }
}
