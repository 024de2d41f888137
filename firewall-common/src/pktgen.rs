//! Frame builders for tests, benchmarks and the live-frame traffic generator (feature
//! `pktgen`). Headers are well-formed unless a test truncates or edits the bytes; IPv4 header
//! checksums are computed, L4 checksums are left zero (XDP does not look at them) unless
//! [`fill_l4_checksum`] fills them: [`host_frame`] builds a frame a receiving host accepts
//! (the namespace tests send those through the gateway).

use alloc::vec::Vec;
use core::net::IpAddr;

use crate::{
    flow::proto,
    packet::{Family, Frame, Packet, ethertype, parse},
};

pub mod bacnet;
pub mod dnp3;
pub mod enip;
pub mod iec104;
pub mod opcua;
pub mod s7comm;

/// An L4 header and payload, ready to be wrapped in IP.
#[derive(Clone, Debug)]
pub struct L4 {
    pub proto: u8,
    pub bytes: Vec<u8>,
}

/// TCP segment with `flags` (see [`crate::packet::tcp_flags`]), sequence number 1, no ack.
pub fn tcp(src_port: u16, dst_port: u16, flags: u8, payload: &[u8]) -> L4 {
    tcp_seq(src_port, dst_port, 1, 0, flags, payload)
}

/// TCP segment with the given sequence and acknowledgement numbers (a forged reply).
pub fn tcp_seq(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> L4 {
    let mut b = Vec::with_capacity(20 + payload.len());
    b.extend_from_slice(&src_port.to_be_bytes());
    b.extend_from_slice(&dst_port.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&ack.to_be_bytes());
    b.push(5 << 4);
    b.push(flags);
    b.extend_from_slice(&65535u16.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent
    b.extend_from_slice(payload);
    L4 {
        proto: proto::TCP,
        bytes: b,
    }
}

/// UDP datagram.
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> L4 {
    let mut b = Vec::with_capacity(8 + payload.len());
    b.extend_from_slice(&src_port.to_be_bytes());
    b.extend_from_slice(&dst_port.to_be_bytes());
    b.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(payload);
    L4 {
        proto: proto::UDP,
        bytes: b,
    }
}

/// ICMP (or ICMPv6 with `v6`) message with the given type and code; `id`/`seq` fill the
/// second word (meaningful for echo).
pub fn icmp(v6: bool, icmp_type: u8, code: u8, id: u16, seq: u16) -> L4 {
    let mut b = alloc::vec![icmp_type, code, 0, 0];
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&[0u8; 8]);
    L4 {
        proto: if v6 { proto::ICMPV6 } else { proto::ICMP },
        bytes: b,
    }
}

/// Any other protocol with a raw payload.
pub fn raw(proto: u8, payload: &[u8]) -> L4 {
    L4 {
        proto,
        bytes: payload.to_vec(),
    }
}

/// IPv4 packet builder.
#[derive(Clone, Debug)]
pub struct Ipv4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub ttl: u8,
    pub id: u16,
    pub options: Vec<u8>,
    /// Fragment offset in 8-byte units and the more-fragments flag.
    pub fragment: (u16, bool),
    /// The don't-fragment flag.
    pub dont_fragment: bool,
    pub l4: L4,
}

pub fn ipv4(src: [u8; 4], dst: [u8; 4], l4: L4) -> Ipv4 {
    Ipv4 {
        src,
        dst,
        ttl: 64,
        id: 0x1234,
        options: Vec::new(),
        fragment: (0, false),
        dont_fragment: false,
        l4,
    }
}

impl Ipv4 {
    /// IPv4 options (padded to a multiple of 4 bytes with end-of-options).
    pub fn options(mut self, opts: &[u8]) -> Self {
        self.options = opts.to_vec();
        while !self.options.len().is_multiple_of(4) {
            self.options.push(0);
        }
        self
    }

    /// Sets the don't-fragment flag, as hosts do on TCP.
    pub fn dont_fragment(mut self) -> Self {
        self.dont_fragment = true;
        self
    }

    pub fn fragment(mut self, offset_units: u16, more: bool, id: u16) -> Self {
        self.fragment = (offset_units, more);
        self.id = id;
        self
    }

    /// The IP packet (no Ethernet header).
    pub fn bytes(&self) -> Vec<u8> {
        let ihl = 20 + self.options.len();
        let total = ihl + self.l4.bytes.len();
        let mut b = Vec::with_capacity(total);
        b.push(0x40 | (ihl / 4) as u8);
        b.push(0);
        b.extend_from_slice(&(total as u16).to_be_bytes());
        b.extend_from_slice(&self.id.to_be_bytes());
        let frag = self.fragment.0 & 0x1fff
            | if self.fragment.1 { 0x2000 } else { 0 }
            | if self.dont_fragment { 0x4000 } else { 0 };
        b.extend_from_slice(&frag.to_be_bytes());
        b.push(self.ttl);
        b.push(self.l4.proto);
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&self.src);
        b.extend_from_slice(&self.dst);
        b.extend_from_slice(&self.options);
        let sum = checksum(&b[..ihl]);
        b[10..12].copy_from_slice(&sum.to_be_bytes());
        b.extend_from_slice(&self.l4.bytes);
        b
    }

    /// The Ethernet frame.
    pub fn frame(&self) -> Vec<u8> {
        ethernet(ethertype::IPV4, &[], &self.bytes())
    }
}

/// IPv6 packet builder.
#[derive(Clone, Debug)]
pub struct Ipv6 {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// Extension headers in order: (header type, total length in bytes).
    pub ext: Vec<(u8, usize)>,
    /// Fragment header content: offset in 8-byte units, more flag, id (if any).
    pub fragment: Option<(u16, bool, u32)>,
    pub l4: L4,
}

pub fn ipv6(src: [u8; 16], dst: [u8; 16], l4: L4) -> Ipv6 {
    Ipv6 {
        src,
        dst,
        ext: Vec::new(),
        fragment: None,
        l4,
    }
}

impl Ipv6 {
    /// Adds an options-style extension header (0 hop-by-hop, 43 routing, 60 destination)
    /// of `len` bytes (a multiple of 8, at least 8).
    pub fn ext(mut self, header: u8, len: usize) -> Self {
        self.ext.push((header, len));
        self
    }

    /// Adds a fragment header.
    pub fn fragment(mut self, offset_units: u16, more: bool, id: u32) -> Self {
        self.fragment = Some((offset_units, more, id));
        self.ext.push((44, 8));
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut ext = Vec::new();
        for (i, &(header, len)) in self.ext.iter().enumerate() {
            let next = self.ext.get(i + 1).map(|e| e.0).unwrap_or(self.l4.proto);
            let start = ext.len();
            ext.push(next);
            if header == 44 {
                let (off, more, id) = self.fragment.unwrap_or((0, false, 0));
                ext.push(0);
                ext.extend_from_slice(&(off << 3 | more as u16).to_be_bytes());
                ext.extend_from_slice(&id.to_be_bytes());
            } else {
                ext.push((len / 8 - 1) as u8);
                ext.resize(start + len, 0);
                // PadN covering the rest, so the options are well-formed.
                ext[start + 2] = 1;
                ext[start + 3] = (len - 4) as u8;
            }
        }
        let payload = ext.len() + self.l4.bytes.len();
        let mut b = Vec::with_capacity(40 + payload);
        b.extend_from_slice(&[0x60, 0, 0, 0]);
        b.extend_from_slice(&(payload as u16).to_be_bytes());
        b.push(self.ext.first().map(|e| e.0).unwrap_or(self.l4.proto));
        b.push(64);
        b.extend_from_slice(&self.src);
        b.extend_from_slice(&self.dst);
        b.extend_from_slice(&ext);
        b.extend_from_slice(&self.l4.bytes);
        b
    }

    pub fn frame(&self) -> Vec<u8> {
        ethernet(ethertype::IPV6, &[], &self.bytes())
    }
}

/// Ethernet frame carrying `payload`, with VLAN tags `(tpid, vid)` outermost first.
pub fn ethernet(ethertype: u16, vlans: &[(u16, u16)], payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(14 + 4 * vlans.len() + payload.len());
    b.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02]); // dst MAC
    b.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]); // src MAC
    for &(tpid, vid) in vlans {
        b.extend_from_slice(&tpid.to_be_bytes());
        b.extend_from_slice(&vid.to_be_bytes());
    }
    b.extend_from_slice(&ethertype.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

/// Re-wraps an Ethernet frame's payload with VLAN tags.
pub fn with_vlans(frame: &[u8], vlans: &[(u16, u16)]) -> Vec<u8> {
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    ethernet(ethertype, vlans, &frame[14..])
}

/// An Ethernet frame a receiving host accepts: `l4` from `src` to `dst` (both IPv4 or both
/// IPv6; IPv4 with don't-fragment) between the given MAC addresses, with a valid L4 checksum.
/// Panics on mixed address families (a test's mistake).
pub fn host_frame(src_mac: [u8; 6], dst_mac: [u8; 6], src: IpAddr, dst: IpAddr, l4: L4) -> Vec<u8> {
    let mut frame = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4(s.octets(), d.octets(), l4).dont_fragment().frame(),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6(s.octets(), d.octets(), l4).frame(),
        _ => panic!("mixed address families: {src} -> {dst}"),
    };
    set_macs(&mut frame, src_mac, dst_mac);
    fill_l4_checksum(&mut frame);
    frame
}

/// Writes the source and destination MAC addresses of an Ethernet frame.
pub fn set_macs(frame: &mut [u8], src: [u8; 6], dst: [u8; 6]) {
    frame[..6].copy_from_slice(&dst);
    frame[6..12].copy_from_slice(&src);
}

/// Fills the TCP or UDP checksum of the (unfragmented) segment in `frame` over its
/// pseudo-header; other protocols are left as they are. A UDP checksum that computes to 0 is
/// sent as 0xffff (0 means "none").
pub fn fill_l4_checksum(frame: &mut [u8]) {
    let p = ip_packet(frame);
    let at = match p.proto {
        proto::TCP => 16,
        proto::UDP => 6,
        _ => return,
    };
    let l4 = p.l4_offset as usize;
    frame[l4 + at..l4 + at + 2].copy_from_slice(&[0, 0]);
    let mut sum = l4_checksum(frame, &p);
    if sum == 0 && p.proto == proto::UDP {
        sum = 0xffff;
    }
    frame[l4 + at..l4 + at + 2].copy_from_slice(&sum.to_be_bytes());
}

/// The checksum of `p`'s L4 header and payload in `frame` with its pseudo-header.
fn l4_checksum(frame: &[u8], p: &Packet) -> u16 {
    let l4 = &frame[p.l4_offset as usize..p.payload_offset as usize + p.payload_len as usize];
    let mut pseudo = Vec::with_capacity(40 + l4.len());
    match p.family {
        Family::Ipv4 => {
            pseudo.extend_from_slice(&p.src[..4]);
            pseudo.extend_from_slice(&p.dst[..4]);
            pseudo.extend_from_slice(&[0, p.proto]);
            pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        }
        Family::Ipv6 => {
            pseudo.extend_from_slice(&p.src);
            pseudo.extend_from_slice(&p.dst);
            pseudo.extend_from_slice(&(l4.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, p.proto]);
        }
    }
    pseudo.extend_from_slice(l4);
    checksum(&pseudo)
}

/// Internet checksum (RFC 1071).
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in bytes.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            (chunk[0] as u16) << 8
        };
        sum += word as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv6 address from eight 16-bit groups.
pub fn v6(groups: [u16; 8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    for (i, g) in groups.iter().enumerate() {
        a[2 * i..2 * i + 2].copy_from_slice(&g.to_be_bytes());
    }
    a
}

/// The parsed IP packet of `frame`; panics (a test's failure) if the parser does not see one.
pub fn ip_packet(frame: &[u8]) -> Packet {
    match parse(frame) {
        Ok(Frame::Ip(p)) => p,
        other => panic!("not an IP packet: {other:?}"),
    }
}

/// The TCP checksum of the segment in `frame` over its pseudo-header, as the receiving stack
/// computes it: 0 when the segment's checksum field is right.
pub fn tcp_checksum_residue(frame: &[u8]) -> u16 {
    let mut p = ip_packet(frame);
    p.proto = proto::TCP;
    l4_checksum(frame, &p)
}

#[cfg(test)]
mod tests {
    use core::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::packet::tcp_flags;

    #[test]
    fn checksum_of_a_known_ipv4_header() {
        // Example header from RFC 1071 discussions (checksum field zeroed): 0xb861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        assert_eq!(checksum(&[0xab]), !0xab00);
    }

    #[test]
    fn host_frames_parse_back_and_verify() {
        let v4 = (
            IpAddr::from(Ipv4Addr::new(10, 30, 0, 2)),
            IpAddr::from(Ipv4Addr::new(10, 20, 0, 2)),
        );
        let v6 = (
            IpAddr::from(Ipv6Addr::new(0xfd00, 0x30, 0, 0, 0, 0, 0, 2)),
            IpAddr::from(Ipv6Addr::new(0xfd00, 0x20, 0, 0, 0, 0, 0, 2)),
        );
        for (src, dst) in [v4, v6] {
            let syn_ack = tcp_seq(5020, 40000, 7, 9, tcp_flags::SYN | tcp_flags::ACK, b"abc");
            let f = host_frame([2; 6], [4; 6], src, dst, syn_ack);
            assert_eq!((&f[..6], &f[6..12]), (&[4u8; 6][..], &[2u8; 6][..]));
            let p = ip_packet(&f);
            assert_eq!((p.src_port, p.dst_port, p.tcp_flags), (5020, 40000, 0x12));
            let l4 = p.l4_offset as usize;
            assert_eq!(&f[l4 + 4..l4 + 12], &[0, 0, 0, 7, 0, 0, 0, 9]);
            assert_eq!(&f[p.payload_offset as usize..], b"abc");
            assert_eq!(tcp_checksum_residue(&f), 0);
            if src.is_ipv4() {
                assert_eq!(f[14 + 6] & 0x40, 0x40, "don't fragment");
            }
            let mut f = host_frame([2; 6], [4; 6], src, dst, udp(5020, 40000, b"xyz"));
            let p = ip_packet(&f);
            assert_eq!(l4_checksum(&f, &p), 0);
            // A wrong checksum no longer sums to zero.
            f[p.l4_offset as usize + 6] ^= 1;
            assert_ne!(l4_checksum(&f, &p), 0);
        }
    }
}
