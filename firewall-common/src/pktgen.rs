//! Frame builders for tests, benchmarks and the live-frame traffic generator (feature
//! `pktgen`). Headers are well-formed unless a test truncates or edits the bytes; IPv4 header
//! checksums are computed, L4 checksums are left zero (XDP does not look at them).

use alloc::vec::Vec;

use crate::{
    flow::proto,
    packet::{Family, Frame, Packet, ethertype, parse},
};

/// An L4 header and payload, ready to be wrapped in IP.
#[derive(Clone, Debug)]
pub struct L4 {
    pub proto: u8,
    pub bytes: Vec<u8>,
}

/// TCP segment with `flags` (see [`crate::packet::tcp_flags`]).
pub fn tcp(src_port: u16, dst_port: u16, flags: u8, payload: &[u8]) -> L4 {
    let mut b = Vec::with_capacity(20 + payload.len());
    b.extend_from_slice(&src_port.to_be_bytes());
    b.extend_from_slice(&dst_port.to_be_bytes());
    b.extend_from_slice(&1u32.to_be_bytes()); // seq
    b.extend_from_slice(&0u32.to_be_bytes()); // ack
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
        let frag = self.fragment.0 & 0x1fff | if self.fragment.1 { 0x2000 } else { 0 };
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
    let p = ip_packet(frame);
    let tcp = &frame[p.l4_offset as usize..p.payload_offset as usize + p.payload_len as usize];
    let mut pseudo = Vec::new();
    match p.family {
        Family::Ipv4 => {
            pseudo.extend_from_slice(&p.src[..4]);
            pseudo.extend_from_slice(&p.dst[..4]);
            pseudo.extend_from_slice(&[0, proto::TCP]);
            pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        }
        Family::Ipv6 => {
            pseudo.extend_from_slice(&p.src);
            pseudo.extend_from_slice(&p.dst);
            pseudo.extend_from_slice(&(tcp.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, proto::TCP]);
        }
    }
    pseudo.extend_from_slice(tcp);
    checksum(&pseudo)
}
