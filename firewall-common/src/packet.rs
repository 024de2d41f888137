//! Bounds-checked parsing of Ethernet → VLAN → IPv4/IPv6 → TCP/UDP/ICMP headers.
//!
//! The parser reads through [`PacketBytes`], so the XDP program runs it on packet memory
//! (every read checked against `data_end`) and host tests and fuzzers run it on `&[u8]`.
//! Any truncated or inconsistent header yields the [`Reason`] it is dropped for.

use crate::{flow::proto, reason::Reason};

/// Read access to a frame. Implemented for `[u8]` here and for the XDP context in the
/// eBPF program; `load` must return `None` when `offset + N` exceeds the frame.
pub trait PacketBytes {
    /// Whether the frame holds at least `len` bytes.
    fn holds(&self, len: usize) -> bool;
    /// `N` bytes at `offset`, or `None` if they are not all inside the frame.
    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]>;
}

impl PacketBytes for [u8] {
    #[inline(always)]
    fn holds(&self, len: usize) -> bool {
        len <= self.len()
    }

    #[inline(always)]
    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let end = offset.checked_add(N)?;
        let bytes = self.get(offset..end)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Some(out)
    }
}

/// Ethertypes the parser knows.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
}

/// Most VLAN tags accepted in front of the IP header (802.1ad outer + 802.1Q inner).
pub const MAX_VLAN_TAGS: usize = 2;
/// Most IPv6 extension headers walked before the upper-layer header.
pub const MAX_IPV6_EXT_HEADERS: usize = 4;

/// Address family of an IP packet.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Family {
    #[default]
    Ipv4 = 4,
    Ipv6 = 6,
}

/// Fragmentation state of an IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fragment {
    /// Not fragmented.
    #[default]
    None,
    /// First fragment (offset 0, more fragments follow): carries the L4 header.
    First,
    /// A later fragment: no L4 header; belongs to the datagram `Packet::frag_id`.
    Later,
}

/// TCP flag bits.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// ICMP and ICMPv6 message types the data path treats specially.
pub mod icmp_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const ECHO_REQUEST: u8 = 8;
    pub const V6_ECHO_REQUEST: u8 = 128;
    pub const V6_ECHO_REPLY: u8 = 129;
    /// Router solicitation: first of the neighbour discovery types (133-137).
    pub const V6_ND_FIRST: u8 = 133;
    /// Redirect: last of the neighbour discovery types.
    pub const V6_ND_LAST: u8 = 137;
}

/// The headers of an IP packet that the policy looks at. `repr(C, align(8))` with the
/// addresses first, so the XDP program moves and compares them as 64-bit words instead of
/// calling byte-wise `memcpy`/`memcmp` loops.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Packet {
    /// Source address (IPv4 in the first 4 bytes, rest zero).
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub family: Family,
    /// Upper-layer protocol (after IPv6 extension headers).
    pub proto: u8,
    /// TCP/UDP ports; 0 for other protocols and for later fragments.
    pub src_port: u16,
    pub dst_port: u16,
    /// ICMP/ICMPv6 type, code and echo identifier.
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub icmp_id: u16,
    /// TCP flags ([`tcp_flags`]).
    pub tcp_flags: u8,
    pub fragment: Fragment,
    /// IPv4 identification or IPv6 fragment identification.
    pub frag_id: u32,
    /// Offset of the L4 header from the start of the frame.
    pub l4_offset: u16,
    /// Offset of the L4 payload (after the TCP/UDP/ICMP header).
    pub payload_offset: u16,
    /// L4 payload length according to the IP header (not the frame, which may be padded).
    pub payload_len: u16,
    /// Offset of the IP header from the start of the frame (after any VLAN tags).
    pub l3_offset: u16,
}

// The per-CPU scratch value of the XDP program (map `SCRATCH`).
const _: () = {
    assert!(core::mem::size_of::<Packet>() == 56);
    assert!(core::mem::align_of::<Packet>() == 8);
};

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// IPv4 or IPv6.
    Ip(Packet),
    /// Any other ethertype (after VLAN tags), in host byte order.
    NonIp { ethertype: u16 },
}

impl Packet {
    /// Ports that identify the flow: TCP/UDP ports, the echo id on both sides for ICMP echo,
    /// zero otherwise.
    #[inline(always)]
    pub fn flow_ports(&self) -> (u16, u16) {
        if self.proto == proto::ICMP || self.proto == proto::ICMPV6 {
            if self.is_icmp_echo() {
                (self.icmp_id, self.icmp_id)
            } else {
                (0, 0)
            }
        } else {
            (self.src_port, self.dst_port)
        }
    }

    /// ICMP echo request or reply (v4 or v6).
    #[inline(always)]
    pub fn is_icmp_echo(&self) -> bool {
        matches!(
            (self.proto, self.icmp_type),
            (proto::ICMP, icmp_type::ECHO_REQUEST | icmp_type::ECHO_REPLY)
                | (
                    proto::ICMPV6,
                    icmp_type::V6_ECHO_REQUEST | icmp_type::V6_ECHO_REPLY
                )
        )
    }

    /// The value the conduit lookup uses: destination port, or ICMP `type << 8 | code`.
    #[inline(always)]
    pub fn conduit_value(&self) -> u16 {
        if self.proto == proto::ICMP || self.proto == proto::ICMPV6 {
            (self.icmp_type as u16) << 8 | self.icmp_code as u16
        } else {
            self.dst_port
        }
    }

    /// Whether this packet may open a flow: TCP SYN without ACK, ICMP echo request, any
    /// other non-TCP, non-ICMP packet (UDP and the like). Later fragments never do.
    #[inline(always)]
    pub fn opens_flow(&self) -> bool {
        if self.fragment == Fragment::Later {
            return false;
        }
        match self.proto {
            proto::TCP => self.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN,
            proto::ICMP => self.icmp_type == icmp_type::ECHO_REQUEST,
            proto::ICMPV6 => self.icmp_type == icmp_type::V6_ECHO_REQUEST,
            _ => true,
        }
    }

    /// IPv6 link control: neighbour discovery (router/neighbour solicitation and
    /// advertisement, redirect, 133-137) and multicast listener discovery (MLD queries and
    /// reports, 130-132 and 143). Hosts send these all the time on their link; passed by
    /// the `nd` L2 setting like ARP for IPv4.
    #[inline(always)]
    pub fn is_neighbor_discovery(&self) -> bool {
        self.proto == proto::ICMPV6
            && self.fragment == Fragment::None
            && matches!(self.icmp_type, 130..=137 | 143)
    }
}

#[inline(always)]
fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

/// Parses a frame starting at its Ethernet header.
#[inline(always)]
pub fn parse<B: PacketBytes + ?Sized>(b: &B) -> Result<Frame, Reason> {
    let mut p = Packet::default();
    Ok(match parse_into(b, &mut p)? {
        None => Frame::Ip(p),
        Some(ethertype) => Frame::NonIp { ethertype },
    })
}

/// [`parse`] writing an IP packet's headers into `p` in place (the XDP program parses into a
/// map value, keeping the packet off its 512-byte stack): `Ok(None)` for an IP packet, every
/// field of `p` written; `Ok(Some(ethertype))` for another ethertype, `p` untouched.
#[inline(always)]
pub fn parse_into<B: PacketBytes + ?Sized>(b: &B, p: &mut Packet) -> Result<Option<u16>, Reason> {
    let eth = b.load::<2>(12).ok_or(Reason::MalformedEthernet)?;
    let mut ethertype = be16(eth);
    let mut off = 14usize;
    let mut tags = 0;
    while ethertype == ethertype::VLAN || ethertype == ethertype::QINQ {
        if tags == MAX_VLAN_TAGS {
            return Err(Reason::MalformedVlan);
        }
        let tag = b.load::<4>(off).ok_or(Reason::MalformedVlan)?;
        ethertype = be16([tag[2], tag[3]]);
        off += 4;
        tags += 1;
    }
    match ethertype {
        ethertype::IPV4 => parse_ipv4(b, off, p).map(|()| None),
        ethertype::IPV6 => parse_ipv6(b, off, p).map(|()| None),
        other => Ok(Some(other)),
    }
}

/// Resets every field of `p` for a packet of `family` (field by field: no `memset`).
#[inline(always)]
fn reset(p: &mut Packet, family: Family) {
    p.src = 0u128.to_le_bytes();
    p.dst = 0u128.to_le_bytes();
    p.family = family;
    p.proto = 0;
    p.src_port = 0;
    p.dst_port = 0;
    p.icmp_type = 0;
    p.icmp_code = 0;
    p.icmp_id = 0;
    p.tcp_flags = 0;
    p.fragment = Fragment::None;
    p.frag_id = 0;
    p.l4_offset = 0;
    p.payload_offset = 0;
    p.payload_len = 0;
    p.l3_offset = 0;
}

/// The common frame — Ethernet without VLAN tags, IPv4 without options, not a fragment, TCP
/// or UDP — parsed with one bounds check for both headers, for the XDP program's fast path.
/// `None` for any other frame, valid or not: the caller then runs [`parse`], which decides
/// it. For a frame this accepts the packet is exactly the one [`parse`] returns (host tests
/// and the `packet` fuzz target check it).
#[inline(always)]
pub fn parse_common<B: PacketBytes + ?Sized>(b: &B) -> Option<Packet> {
    let mut p = Packet::default();
    parse_common_into(b, &mut p).then_some(p)
}

/// [`parse_common`] writing every field of `p` in place (the XDP program parses into a map
/// value, keeping the packet off its 512-byte stack); `p` is unspecified when it returns
/// false. Header fields are read in small pieces, straight into registers.
#[inline(always)]
pub fn parse_common_into<B: PacketBytes + ?Sized>(b: &B, p: &mut Packet) -> bool {
    // Ethernet (14) + IPv4 without options (20), in words. One `let-else` per load, not a
    // tuple of options: with the tuple the compiler may look at a value before knowing its
    // load succeeded, which the verifier refuses when the register still holds a pointer.
    let Some(eth) = b.load::<2>(12) else {
        return false;
    };
    let Some(ip0) = b.load::<4>(14) else {
        return false;
    };
    let Some(ip1) = b.load::<4>(18) else {
        return false;
    };
    let Some([_, proto, _, _]) = b.load::<4>(22) else {
        return false;
    };
    let Some(src) = b.load::<4>(26) else {
        return false;
    };
    let Some(dst) = b.load::<4>(30) else {
        return false;
    };
    if be16(eth) != ethertype::IPV4 || ip0[0] != 0x45 {
        return false;
    }
    let total = be16([ip0[2], ip0[3]]) as usize;
    // Not a fragment (the DF bit may be set), and the datagram inside the frame.
    if be16([ip1[2], ip1[3]]) & 0x3fff != 0 || total < 20 || !b.holds(14 + total) {
        return false;
    }
    let ip_payload = total - 20;
    let (ports, hdr_len, flags) = match proto {
        proto::TCP => {
            let Some(ports) = b.load::<4>(34) else {
                return false;
            };
            let Some([doff, flags]) = b.load::<2>(46) else {
                return false;
            };
            let doff = ((doff >> 4) as usize) * 4;
            // Options lie inside the datagram, which lies inside the frame (checked above).
            if doff < 20 || doff > ip_payload {
                return false;
            }
            (ports, doff, flags)
        }
        proto::UDP => {
            let Some(ports) = b.load::<4>(34) else {
                return false;
            };
            let Some(len) = b.load::<2>(38) else {
                return false;
            };
            let len = be16(len) as usize;
            if len < 8 || len > ip_payload {
                return false;
            }
            (ports, 8, 0)
        }
        _ => return false,
    };
    // Whole 16-byte values, so the XDP program stores words instead of calling `memset`.
    p.src = (u32::from_le_bytes(src) as u128).to_le_bytes();
    p.dst = (u32::from_le_bytes(dst) as u128).to_le_bytes();
    p.family = Family::Ipv4;
    p.proto = proto;
    p.src_port = be16([ports[0], ports[1]]);
    p.dst_port = be16([ports[2], ports[3]]);
    p.icmp_type = 0;
    p.icmp_code = 0;
    p.icmp_id = 0;
    p.tcp_flags = flags;
    p.fragment = Fragment::None;
    p.frag_id = be16([ip1[0], ip1[1]]) as u32;
    p.l4_offset = 34;
    p.payload_offset = (34 + hdr_len) as u16;
    p.payload_len = (ip_payload - hdr_len) as u16;
    p.l3_offset = 14;
    true
}

#[inline(always)]
fn parse_ipv4<B: PacketBytes + ?Sized>(b: &B, l3: usize, p: &mut Packet) -> Result<(), Reason> {
    let h = b.load::<20>(l3).ok_or(Reason::MalformedIpv4)?;
    if h[0] >> 4 != 4 {
        return Err(Reason::MalformedIpv4);
    }
    let ihl = ((h[0] & 0x0f) as usize) * 4;
    let total = be16([h[2], h[3]]) as usize;
    if ihl < 20 || total < ihl || !b.holds(l3 + total) {
        return Err(Reason::MalformedIpv4);
    }
    // Options must be present in full even though they are not interpreted.
    if ihl > 20 && b.load::<1>(l3 + ihl - 1).is_none() {
        return Err(Reason::MalformedIpv4);
    }
    reset(p, Family::Ipv4);
    p.l3_offset = l3 as u16;
    p.proto = h[9];
    p.frag_id = be16([h[4], h[5]]) as u32;
    p.src = (u32::from_le_bytes([h[12], h[13], h[14], h[15]]) as u128).to_le_bytes();
    p.dst = (u32::from_le_bytes([h[16], h[17], h[18], h[19]]) as u128).to_le_bytes();
    let frag = be16([h[6], h[7]]);
    let more_fragments = frag & 0x2000 != 0;
    let frag_offset = frag & 0x1fff;
    p.fragment = if frag_offset != 0 {
        Fragment::Later
    } else if more_fragments {
        Fragment::First
    } else {
        Fragment::None
    };
    let l4 = l3 + ihl;
    parse_l4(b, p, l4, total - ihl)
}

#[inline(always)]
fn parse_ipv6<B: PacketBytes + ?Sized>(b: &B, l3: usize, p: &mut Packet) -> Result<(), Reason> {
    let h = b.load::<8>(l3).ok_or(Reason::MalformedIpv6)?;
    if h[0] >> 4 != 6 {
        return Err(Reason::MalformedIpv6);
    }
    let payload = be16([h[4], h[5]]) as usize;
    let (Some(src), Some(dst)) = (b.load::<16>(l3 + 8), b.load::<16>(l3 + 24)) else {
        return Err(Reason::MalformedIpv6);
    };
    if !b.holds(l3 + 40 + payload) {
        return Err(Reason::MalformedIpv6);
    }
    reset(p, Family::Ipv6);
    p.l3_offset = l3 as u16;
    p.src = src;
    p.dst = dst;
    let mut next = h[6];
    let mut off = l3 + 40;
    let end = l3 + 40 + payload;
    let mut walked = 0;
    loop {
        let len = match next {
            // Hop-by-hop, routing, destination options: (hdr ext len + 1) * 8 bytes.
            0 | 43 | 60 => {
                let e = b.load::<2>(off).ok_or(Reason::MalformedIpv6)?;
                next = e[0];
                (e[1] as usize + 1) * 8
            }
            // Authentication header: (payload len + 2) * 4 bytes.
            51 => {
                let e = b.load::<2>(off).ok_or(Reason::MalformedIpv6)?;
                next = e[0];
                (e[1] as usize + 2) * 4
            }
            // Fragment header: fixed 8 bytes.
            44 => {
                let e = b.load::<8>(off).ok_or(Reason::MalformedIpv6)?;
                next = e[0];
                let frag = be16([e[2], e[3]]);
                p.frag_id = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
                p.fragment = if frag >> 3 != 0 {
                    Fragment::Later
                } else if frag & 1 != 0 {
                    Fragment::First
                } else {
                    Fragment::None
                };
                8
            }
            _ => break,
        };
        off += len;
        walked += 1;
        if off > end || walked > MAX_IPV6_EXT_HEADERS {
            return Err(Reason::MalformedIpv6);
        }
        if p.fragment == Fragment::Later {
            break;
        }
    }
    p.proto = next;
    parse_l4(b, p, off, end - off)
}

/// Parses the L4 header at `l4`; `ip_payload` is the L4 length the IP header declares.
#[inline(always)]
fn parse_l4<B: PacketBytes + ?Sized>(
    b: &B,
    p: &mut Packet,
    l4: usize,
    ip_payload: usize,
) -> Result<(), Reason> {
    p.l4_offset = l4 as u16;
    if p.fragment == Fragment::Later {
        // No L4 header in a later fragment.
        p.payload_offset = l4 as u16;
        p.payload_len = ip_payload as u16;
        return Ok(());
    }
    let hdr_len = match p.proto {
        proto::TCP => {
            let t = b.load::<20>(l4).ok_or(Reason::MalformedTcp)?;
            let doff = ((t[12] >> 4) as usize) * 4;
            if doff < 20 || doff > ip_payload {
                return Err(Reason::MalformedTcp);
            }
            if doff > 20 && b.load::<1>(l4 + doff - 1).is_none() {
                return Err(Reason::MalformedTcp);
            }
            p.src_port = be16([t[0], t[1]]);
            p.dst_port = be16([t[2], t[3]]);
            p.tcp_flags = t[13];
            doff
        }
        proto::UDP => {
            let u = b.load::<8>(l4).ok_or(Reason::MalformedUdp)?;
            let len = be16([u[4], u[5]]) as usize;
            if len < 8 || len > ip_payload {
                return Err(Reason::MalformedUdp);
            }
            p.src_port = be16([u[0], u[1]]);
            p.dst_port = be16([u[2], u[3]]);
            8
        }
        proto::ICMP | proto::ICMPV6 => {
            let i = b.load::<8>(l4).ok_or(Reason::MalformedIcmp)?;
            if ip_payload < 8 {
                return Err(Reason::MalformedIcmp);
            }
            p.icmp_type = i[0];
            p.icmp_code = i[1];
            p.icmp_id = be16([i[4], i[5]]);
            8
        }
        _ => 0,
    };
    p.payload_offset = (l4 + hdr_len) as u16;
    p.payload_len = (ip_payload - hdr_len) as u16;
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::pktgen::{self, ethernet, icmp, ipv4, ipv6, tcp, udp, v6, with_vlans};

    const A: [u8; 4] = [10, 10, 0, 5];
    const B: [u8; 4] = [10, 30, 0, 7];

    fn ip(frame: &[u8]) -> Packet {
        match parse(frame) {
            Ok(Frame::Ip(p)) => p,
            other => panic!("expected an IP packet, got {other:?}"),
        }
    }

    /// `parse_common` accepts a frame only if `parse` returns the same packet for it.
    fn common_agrees(frame: &[u8]) -> bool {
        match parse_common(frame) {
            Some(p) => {
                assert_eq!(parse(frame), Ok(Frame::Ip(p)), "{frame:02x?}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn common_parser_takes_plain_tcp_and_udp_and_agrees_with_parse() {
        let tcp_opts = {
            let mut f = ipv4(A, B, tcp(40000, 502, tcp_flags::SYN, b"abc")).frame();
            // Data offset 6: four option bytes (NOP NOP NOP NOP) before the payload.
            f[46] = 0x60;
            f.splice(54..54, [1, 1, 1, 1]);
            let total = u16::from_be_bytes([f[16], f[17]]) + 4;
            f[16..18].copy_from_slice(&total.to_be_bytes());
            f
        };
        for frame in [
            ipv4(A, B, tcp(40000, 502, tcp_flags::SYN, b"hello")).frame(),
            ipv4(A, B, tcp(1, 2, tcp_flags::ACK, b"")).frame(),
            ipv4(A, B, udp(5000, 53, b"query")).frame(),
            ipv4(A, B, udp(5000, 53, b"")).frame(),
            tcp_opts,
        ] {
            assert!(common_agrees(&frame), "{frame:02x?}");
        }
        // Ethernet padding after a short datagram is not payload.
        let mut padded = ipv4(A, B, udp(1, 2, b"x")).frame();
        padded.resize(60, 0);
        assert!(common_agrees(&padded));
    }

    #[test]
    fn common_parser_leaves_everything_else_to_parse() {
        let frames: Vec<Vec<u8>> = alloc::vec![
            ipv4(A, B, icmp(false, 8, 0, 7, 1)).frame(),
            with_vlans(
                &ipv4(A, B, tcp(1, 2, 0x02, b"")).frame(),
                &[(ethertype::VLAN, 10)]
            ),
            ipv6(
                v6([0xfd00, 0, 0, 0, 0, 0, 0, 1]),
                v6([0xfd00, 0, 0, 0, 0, 0, 0, 2]),
                tcp(1, 2, 0x02, b"")
            )
            .frame(),
            ipv4(A, B, udp(1, 2, b"")).options(&[1, 1, 1, 1]).frame(),
            ipv4(A, B, udp(1, 2, b"12345678"))
                .fragment(0, true, 9)
                .frame(),
            ipv4(A, B, udp(1, 2, b"12345678"))
                .fragment(1, false, 9)
                .frame(),
        ];
        for frame in &frames {
            assert!(!common_agrees(frame), "{frame:02x?}");
        }
        // Inconsistent lengths: parse decides (and drops) them.
        let good = ipv4(A, B, tcp(1, 2, 0x02, b"")).frame();
        for (at, value) in [(16, 0xff), (17, 19), (46, 0x40), (46, 0xf0)] {
            let mut f = good.clone();
            f[at] = value;
            if at == 16 {
                f[17] = 0xff;
            }
            assert!(!common_agrees(&f), "{f:02x?}");
            assert!(parse(&f[..]).is_err());
        }
    }

    #[test]
    fn common_parser_agrees_on_every_truncation_and_byte_flip() {
        let bases = [
            ipv4(
                A,
                B,
                tcp(40000, 502, tcp_flags::SYN | tcp_flags::ACK, b"data"),
            )
            .frame(),
            ipv4(A, B, udp(5000, 53, b"query")).frame(),
        ];
        for base in &bases {
            for len in 0..=base.len() {
                common_agrees(&base[..len]);
            }
            for at in 0..base.len() {
                for value in [0x00, 0x01, 0x05, 0x06, 0x11, 0x20, 0x3f, 0x45, 0x50, 0xff] {
                    let mut f = base.clone();
                    f[at] = value;
                    common_agrees(&f);
                }
            }
        }
    }

    #[test]
    fn ipv4_tcp() {
        let f = ipv4(A, B, tcp(40000, 502, tcp_flags::SYN, b"hello")).frame();
        let p = ip(&f);
        assert_eq!(p.family, Family::Ipv4);
        assert_eq!(&p.src[..4], &A);
        assert_eq!(&p.dst[..4], &B);
        assert_eq!(p.src[4..], [0; 12]);
        assert_eq!((p.proto, p.src_port, p.dst_port), (6, 40000, 502));
        assert_eq!(p.tcp_flags, tcp_flags::SYN);
        assert!(p.opens_flow());
        assert_eq!(p.l4_offset, 34);
        assert_eq!(p.payload_offset, 54);
        assert_eq!(p.payload_len, 5);
        assert_eq!(p.conduit_value(), 502);
    }

    #[test]
    fn ipv4_options_shift_l4() {
        let f = ipv4(A, B, udp(5000, 53, b"q"))
            .options(&[0x94, 4, 0, 0, 1, 1, 1, 1])
            .frame();
        let p = ip(&f);
        assert_eq!(p.l4_offset, 14 + 28);
        assert_eq!((p.src_port, p.dst_port, p.payload_len), (5000, 53, 1));
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut f = ipv4(A, B, udp(1, 2, b"ab")).frame();
        f.resize(60, 0);
        assert_eq!(ip(&f).payload_len, 2);
    }

    #[test]
    fn vlan_and_qinq() {
        let base = ipv4(A, B, udp(1, 161, b"")).frame();
        let one = with_vlans(&base, &[(ethertype::VLAN, 10)]);
        assert_eq!(ip(&one).dst_port, 161);
        assert_eq!(ip(&one).l4_offset, 38);
        let two = with_vlans(&base, &[(ethertype::QINQ, 100), (ethertype::VLAN, 10)]);
        assert_eq!(ip(&two).l4_offset, 42);
        let three = with_vlans(
            &base,
            &[
                (ethertype::QINQ, 1),
                (ethertype::VLAN, 2),
                (ethertype::VLAN, 3),
            ],
        );
        assert_eq!(parse(&three[..]), Err(Reason::MalformedVlan));
    }

    #[test]
    fn non_ip_frames() {
        let arp = ethernet(ethertype::ARP, &[], &[0u8; 28]);
        assert_eq!(
            parse(&arp[..]),
            Ok(Frame::NonIp {
                ethertype: ethertype::ARP
            })
        );
        let tagged = ethernet(0x88b8, &[(ethertype::VLAN, 5)], &[0u8; 10]);
        assert_eq!(parse(&tagged[..]), Ok(Frame::NonIp { ethertype: 0x88b8 }));
    }

    #[test]
    fn icmp_echo_flow_ports() {
        let p = ip(&ipv4(A, B, icmp(false, 8, 0, 77, 1)).frame());
        assert!(p.is_icmp_echo() && p.opens_flow());
        assert_eq!(p.flow_ports(), (77, 77));
        assert_eq!(p.conduit_value(), 8 << 8);
        let reply = ip(&ipv4(B, A, icmp(false, 0, 0, 77, 1)).frame());
        assert!(!reply.opens_flow());
        let unreachable = ip(&ipv4(B, A, icmp(false, 3, 1, 0, 0)).frame());
        assert_eq!(unreachable.flow_ports(), (0, 0));
        assert_eq!(unreachable.conduit_value(), 3 << 8 | 1);
    }

    #[test]
    fn tcp_opens_only_on_plain_syn() {
        for (flags, opens) in [
            (tcp_flags::SYN, true),
            (tcp_flags::SYN | tcp_flags::ACK, false),
            (tcp_flags::ACK, false),
            (tcp_flags::RST, false),
        ] {
            let p = ip(&ipv4(A, B, tcp(1, 2, flags, b"")).frame());
            assert_eq!(p.opens_flow(), opens, "flags {flags:#x}");
        }
    }

    #[test]
    fn ipv4_fragments() {
        let first = ip(&ipv4(A, B, udp(1, 2, &[0; 16])).fragment(0, true, 9).frame());
        assert_eq!(
            (first.fragment, first.frag_id, first.dst_port),
            (Fragment::First, 9, 2)
        );
        let later = ip(&ipv4(A, B, pktgen::raw(17, &[0; 16]))
            .fragment(3, false, 9)
            .frame());
        assert_eq!((later.fragment, later.dst_port), (Fragment::Later, 0));
        assert!(!later.opens_flow());
        // A first fragment too short to hold the UDP header is malformed (tiny fragment).
        let tiny = ipv4(A, B, pktgen::raw(17, &[0; 4]))
            .fragment(0, true, 9)
            .frame();
        assert_eq!(parse(&tiny[..]), Err(Reason::MalformedUdp));
    }

    #[test]
    fn ipv6_with_extension_headers_and_fragments() {
        let s = v6([0xfd00, 0x20, 0, 0, 0, 0, 0, 5]);
        let d = v6([0xfd00, 0x30, 0, 0, 0, 0, 0, 7]);
        let p = ip(&ipv6(s, d, tcp(3333, 22, tcp_flags::SYN, b"")).frame());
        assert_eq!(
            (p.family, p.proto, p.dst_port, p.l4_offset),
            (Family::Ipv6, 6, 22, 54)
        );
        assert_eq!(p.src, s);
        let p = ip(&ipv6(s, d, udp(1, 2, b"x")).ext(0, 8).ext(60, 16).frame());
        assert_eq!(
            (p.proto, p.dst_port, p.l4_offset, p.payload_len),
            (17, 2, 54 + 24, 1)
        );
        let p = ip(&ipv6(s, d, udp(1, 2, b"x"))
            .fragment(0, true, 0xabcdef)
            .frame());
        assert_eq!(
            (p.fragment, p.frag_id, p.dst_port),
            (Fragment::First, 0xabcdef, 2)
        );
        let p = ip(&ipv6(s, d, pktgen::raw(17, &[1; 8]))
            .fragment(2, false, 5)
            .frame());
        assert_eq!((p.fragment, p.proto), (Fragment::Later, 17));
        let too_many = ipv6(s, d, udp(1, 2, b""))
            .ext(0, 8)
            .ext(60, 8)
            .ext(60, 8)
            .ext(60, 8)
            .ext(60, 8)
            .frame();
        assert_eq!(parse(&too_many[..]), Err(Reason::MalformedIpv6));
        let nd = ip(&ipv6(s, d, icmp(true, 135, 0, 0, 0)).frame());
        assert!(nd.is_neighbor_discovery());
        let mld = ip(&ipv6(s, d, icmp(true, 143, 0, 0, 0)).frame());
        assert!(mld.is_neighbor_discovery());
        let echo = ip(&ipv6(s, d, icmp(true, 128, 0, 0, 0)).frame());
        assert!(!echo.is_neighbor_discovery());
    }

    #[test]
    fn inconsistent_lengths() {
        let mut f = ipv4(A, B, udp(1, 2, b"abcd")).frame();
        f[14 + 2..14 + 4].copy_from_slice(&200u16.to_be_bytes()); // total length beyond frame
        assert_eq!(parse(&f[..]), Err(Reason::MalformedIpv4));
        let mut f = ipv4(A, B, udp(1, 2, b"abcd")).frame();
        f[14] = 0x44; // IHL 4 (16 bytes)
        assert_eq!(parse(&f[..]), Err(Reason::MalformedIpv4));
        let mut f = ipv4(A, B, udp(1, 2, b"abcd")).frame();
        f[14] = 0x65; // version 6 under ethertype IPv4
        assert_eq!(parse(&f[..]), Err(Reason::MalformedIpv4));
        let mut f = ipv4(A, B, udp(1, 2, b"abcd")).frame();
        f[34 + 4..34 + 6].copy_from_slice(&40u16.to_be_bytes()); // UDP length beyond IP
        assert_eq!(parse(&f[..]), Err(Reason::MalformedUdp));
        let mut f = ipv4(A, B, tcp(1, 2, 0, b"")).frame();
        f[34 + 12] = 0x40; // data offset 4
        assert_eq!(parse(&f[..]), Err(Reason::MalformedTcp));
    }

    /// Every prefix of a frame is rejected: by the layer whose header it cuts, or by the IP
    /// layer when the IP header is whole but the frame is shorter than its length field.
    #[test]
    fn truncation_at_every_byte_is_rejected() {
        let s = v6([0xfd00, 0, 0, 0, 0, 0, 0, 1]);
        let cases: [(Vec<u8>, usize, Reason); 4] = [
            (
                ipv4(A, B, tcp(1, 2, 0, b"")).options(&[1, 1, 1, 1]).frame(),
                1,
                Reason::MalformedIpv4,
            ),
            (
                with_vlans(
                    &ipv4(A, B, udp(1, 2, b"")).frame(),
                    &[(ethertype::QINQ, 1), (ethertype::VLAN, 3)],
                ),
                2,
                Reason::MalformedIpv4,
            ),
            (
                ipv4(A, B, icmp(false, 8, 0, 1, 1)).frame(),
                0,
                Reason::MalformedIpv4,
            ),
            (
                ipv6(s, s, udp(1, 2, b"")).ext(60, 8).frame(),
                0,
                Reason::MalformedIpv6,
            ),
        ];
        for (frame, tags, l3) in cases.iter() {
            let frame: Vec<u8> = if *tags == 1 {
                with_vlans(frame, &[(ethertype::VLAN, 3)])
            } else {
                frame.clone()
            };
            let l3_start = 14 + 4 * tags;
            assert!(matches!(parse(&frame[..]), Ok(Frame::Ip(_))));
            for cut in 0..frame.len() {
                let want = if cut < 14 {
                    Reason::MalformedEthernet
                } else if cut < l3_start {
                    Reason::MalformedVlan
                } else {
                    *l3
                };
                assert_eq!(
                    parse(&frame[..cut]),
                    Err(want),
                    "cut at {cut} of {}",
                    frame.len()
                );
            }
        }
    }

    /// With the IP length fixed up to match, a cut inside the L4 header is blamed on L4.
    #[test]
    fn l4_truncation_with_consistent_ip_length() {
        for (l4, reason) in [
            (tcp(1, 2, 0, b""), Reason::MalformedTcp),
            (udp(1, 2, b""), Reason::MalformedUdp),
            (icmp(false, 8, 0, 1, 1), Reason::MalformedIcmp),
        ] {
            for keep in 0..8 {
                let mut l4 = l4.clone();
                l4.bytes.truncate(keep);
                let f = ipv4(A, B, l4).frame();
                assert_eq!(parse(&f[..]), Err(reason), "{keep} bytes of L4");
            }
        }
        let s = v6([0xfd00, 0, 0, 0, 0, 0, 0, 1]);
        let mut short = udp(1, 2, b"");
        short.bytes.truncate(5);
        assert_eq!(
            parse(&ipv6(s, s, short).frame()[..]),
            Err(Reason::MalformedUdp)
        );
    }
}
