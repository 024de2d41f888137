//! TCP resets the data path sends when a conduit's inspection denies a segment and the
//! conduit says `on_violation: reset` (docs/design.md, "When a request is denied").
//!
//! XDP emits at most one frame per frame it receives, so a connection is ended in two steps:
//! 1. the violating segment is rewritten in place into a RST toward its receiver (the server)
//!    and passed on: its sequence number is the segment's own, the one the server expects
//!    next, so the server accepts it (RFC 5961 3.2) and frees the connection at once; the
//!    violating bytes never reach it;
//! 2. the flow is marked reset in conntrack ([`crate::flow::flow_flags::RESET`]): the next
//!    segment of either end (the client's retransmission of the denied request, at the
//!    latest) is answered with a RST back to its sender (`XDP_TX`) and goes no further.
//!
//! This module writes both resets (fresh IP and TCP headers, checksums) over the frame at
//! its IP header, from what [`Segment::read`] takes of it ([`write_headers`], [`swap_macs`]);
//! the XDP program only shortens the frame afterwards. Everything before the IP header (Ethernet, VLAN tags) is
//! kept; for a RST back to the sender the MAC addresses are swapped. The host tests and the
//! `reset` fuzz target run the same code through [`rewrite_frame`].

use crate::{
    flow::proto,
    packet::{Family, Packet, PacketBytes, tcp_flags},
};

/// Length of the IPv4 header of a reset (no options).
pub const IPV4_LEN: usize = 20;
/// Length of the IPv6 header of a reset (no extension headers).
pub const IPV6_LEN: usize = 40;
/// Length of the TCP header of a reset (no options, no payload).
pub const TCP_LEN: usize = 20;
/// Hop limit of a reset sent back to the sender (a new packet from the gateway).
pub const ANSWER_TTL: u8 = 64;

/// Which end of the connection a reset is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toward {
    /// The segment's receiver (the server): the segment itself becomes the RST.
    Receiver,
    /// The segment's sender: a RST comes back to it (`XDP_TX`).
    Sender,
}

/// The fields of a TCP segment a reset is computed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub family: Family,
    /// Addresses as in [`Packet`] (IPv4 in the first four bytes).
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// [`tcp_flags`].
    pub flags: u8,
    /// Payload bytes (as the IP header declares them).
    pub payload_len: u16,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification (kept on the RST toward the receiver).
    pub ip_id: u16,
}

impl Segment {
    /// Reads the segment of a parsed TCP packet `p` from its frame `b`; `None` if `p` is not
    /// TCP, is a later fragment, or its headers are not in the frame.
    #[inline(always)]
    pub fn read<B: PacketBytes + ?Sized>(b: &B, p: &Packet) -> Option<Segment> {
        if p.proto != proto::TCP || p.fragment == crate::packet::Fragment::Later {
            return None;
        }
        let l3 = p.l3_offset as usize;
        let l4 = p.l4_offset as usize;
        let ttl = match p.family {
            Family::Ipv4 => b.load::<1>(l3 + 8)?[0],
            Family::Ipv6 => b.load::<1>(l3 + 7)?[0],
        };
        let seq = b.load::<4>(l4 + 4)?;
        let ack = b.load::<4>(l4 + 8)?;
        Some(Segment {
            family: p.family,
            src: p.src,
            dst: p.dst,
            src_port: p.src_port,
            dst_port: p.dst_port,
            seq: u32::from_be_bytes(seq),
            ack: u32::from_be_bytes(ack),
            flags: p.tcp_flags,
            payload_len: p.payload_len,
            ttl,
            ip_id: if p.family == Family::Ipv4 {
                p.frag_id as u16
            } else {
                0
            },
        })
    }

    /// Sequence space the segment occupies: its payload, plus one each for SYN and FIN.
    #[inline(always)]
    pub fn seq_len(&self) -> u32 {
        self.payload_len as u32
            + (self.flags & tcp_flags::SYN != 0) as u32
            + (self.flags & tcp_flags::FIN != 0) as u32
    }
}

/// Write access to a frame, for the resets: [`PacketBytes`] plus stores. `store` must write
/// nothing and return `None` when `offset + N` exceeds the frame.
pub trait PacketBytesMut: PacketBytes {
    /// Writes `v` at `offset`.
    fn store<const N: usize>(&mut self, offset: usize, v: [u8; N]) -> Option<()>;
}

impl PacketBytesMut for [u8] {
    #[inline(always)]
    fn store<const N: usize>(&mut self, offset: usize, v: [u8; N]) -> Option<()> {
        let end = offset.checked_add(N)?;
        self.get_mut(offset..end)?.copy_from_slice(&v);
        Some(())
    }
}

/// Writes the IP and TCP headers of the reset for `s` toward `toward` over the frame `b`,
/// whose IP header starts at `l3`: fresh IP (no options or extension headers) and TCP
/// headers (no options, no payload) with their checksums. Returns where the reset ends (the
/// caller shortens the frame to it; a reset back to the sender also needs [`swap_macs`]), or
/// `None` when no reset is due: `s` is itself a RST (a reset is never answered with one,
/// RFC 9293 3.10.7.1) or the frame is too short (nothing was written).
///
/// Checksums are computed from the field values, not by reading back what was written, so
/// the XDP program needs no buffer on its 512-byte stack. It passes its frame from the IP
/// header on (`l3` = 0), so every store is at a constant offset from one packet pointer.
#[inline(always)]
pub fn write_headers<B: PacketBytesMut + ?Sized>(
    b: &mut B,
    l3: usize,
    s: &Segment,
    toward: Toward,
) -> Option<usize> {
    if s.flags & tcp_flags::RST != 0 {
        return None;
    }
    let ip_len = match s.family {
        Family::Ipv4 => IPV4_LEN,
        Family::Ipv6 => IPV6_LEN,
    };
    let new_len = l3 + ip_len + TCP_LEN;
    if !b.holds(new_len) {
        return None;
    }
    let (src, dst, sport, dport, seq, ack, flags, ttl, id) = match toward {
        // In place of the segment: the receiver expects exactly this sequence number.
        Toward::Receiver => {
            let has_ack = s.flags & tcp_flags::ACK != 0;
            (
                &s.src,
                &s.dst,
                s.src_port,
                s.dst_port,
                s.seq,
                if has_ack { s.ack } else { 0 },
                tcp_flags::RST | (s.flags & tcp_flags::ACK),
                s.ttl,
                s.ip_id,
            )
        }
        // Back to the sender: its acknowledgement number is what it expects next from us.
        Toward::Sender => (
            &s.dst,
            &s.src,
            s.dst_port,
            s.src_port,
            if s.flags & tcp_flags::ACK != 0 {
                s.ack
            } else {
                0
            },
            s.seq.wrapping_add(s.seq_len()),
            tcp_flags::RST | tcp_flags::ACK,
            ANSWER_TTL,
            0,
        ),
    };
    let addr_sum = match s.family {
        Family::Ipv4 => {
            let (src4, dst4) = (
                [src[0], src[1], src[2], src[3]],
                [dst[0], dst[1], dst[2], dst[3]],
            );
            let addrs = words4(src4) + words4(dst4);
            let total = (IPV4_LEN + TCP_LEN) as u16;
            let header = 0x4500 + total as u32 + id as u32 + 0x4000 + ((ttl as u32) << 8 | 6);
            let check = !fold(header + addrs);
            b.store(l3, [0x45, 0])?;
            b.store(l3 + 2, total.to_be_bytes())?;
            b.store(l3 + 4, id.to_be_bytes())?;
            // Don't fragment; TTL; protocol; checksum.
            b.store(l3 + 6, [0x40, 0, ttl, proto::TCP])?;
            b.store(l3 + 10, check.to_be_bytes())?;
            b.store(l3 + 12, src4)?;
            b.store(l3 + 16, dst4)?;
            addrs
        }
        Family::Ipv6 => {
            b.store(l3, [0x60, 0, 0, 0])?;
            b.store(l3 + 4, (TCP_LEN as u16).to_be_bytes())?;
            b.store(l3 + 6, [proto::TCP, ttl])?;
            b.store(l3 + 8, *src)?;
            b.store(l3 + 24, *dst)?;
            words16(src) + words16(dst)
        }
    };
    let l4 = l3 + ip_len;
    let offset_flags = ((TCP_LEN as u16 / 4) << 12) | flags as u16;
    // Pseudo-header (RFC 9293 3.1, RFC 8200 8.1: the same sum for both families) and header.
    let sum = addr_sum
        + proto::TCP as u32
        + TCP_LEN as u32
        + sport as u32
        + dport as u32
        + (seq >> 16)
        + (seq & 0xffff)
        + (ack >> 16)
        + (ack & 0xffff)
        + offset_flags as u32;
    let check = !fold(sum);
    b.store(l4, sport.to_be_bytes())?;
    b.store(l4 + 2, dport.to_be_bytes())?;
    b.store(l4 + 4, seq.to_be_bytes())?;
    b.store(l4 + 8, ack.to_be_bytes())?;
    b.store(l4 + 12, offset_flags.to_be_bytes())?;
    // Window 0, checksum, urgent pointer 0.
    b.store(l4 + 14, [0, 0])?;
    b.store(l4 + 16, check.to_be_bytes())?;
    b.store(l4 + 18, [0, 0])?;
    Some(new_len)
}

/// Swaps the destination and source MAC addresses of the frame `b`, for a reset going back
/// out of the interface the segment came in on. `None` (nothing written) if the frame is
/// shorter than the two addresses.
#[inline(always)]
pub fn swap_macs<B: PacketBytesMut + ?Sized>(b: &mut B) -> Option<()> {
    let to = b.load::<6>(0)?;
    let from = b.load::<6>(6)?;
    b.store(0, from)?;
    b.store(6, to)
}

/// Sum of the two big-endian 16-bit words of an IPv4 address.
#[inline(always)]
pub(crate) fn words4(a: [u8; 4]) -> u32 {
    u16::from_be_bytes([a[0], a[1]]) as u32 + u16::from_be_bytes([a[2], a[3]]) as u32
}

/// Sum of the eight big-endian 16-bit words of an IPv6 address.
#[inline(always)]
pub(crate) fn words16(a: &[u8; 16]) -> u32 {
    let mut sum = 0;
    let mut i = 0;
    while i < 16 {
        sum += u16::from_be_bytes([a[i], a[i + 1]]) as u32;
        i += 2;
    }
    sum
}

/// Folds a 32-bit one's complement sum into 16 bits.
#[inline(always)]
pub(crate) fn fold(mut sum: u32) -> u16 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Rewrites `frame` (whose parsed headers are `p`) into the reset toward `toward`, as the XDP
/// program does. Returns the new frame length (the caller shortens the frame), or `None`
/// when no reset is due (not TCP, a RST, headers not in the frame).
pub fn rewrite_frame(frame: &mut [u8], p: &Packet, toward: Toward) -> Option<usize> {
    let s = Segment::read(frame, p)?;
    let len = write_headers(frame, p.l3_offset as usize, &s, toward)?;
    if toward == Toward::Sender {
        swap_macs(frame)?;
    }
    Some(len)
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::{
        packet::ethertype,
        pktgen::{
            checksum, ip_packet as packet, ipv4, ipv6, tcp, tcp_checksum_residue, v6, with_vlans,
        },
    };

    const CLIENT: [u8; 4] = [10, 20, 0, 2];
    const SERVER: [u8; 4] = [10, 30, 0, 2];

    /// A segment with sequence and acknowledgement numbers set.
    fn segment(mut frame: Vec<u8>, seq: u32, ack: u32) -> Vec<u8> {
        let l4 = packet(&frame).l4_offset as usize;
        frame[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
        frame[l4 + 8..l4 + 12].copy_from_slice(&ack.to_be_bytes());
        frame
    }

    fn rewritten(frame: &[u8], toward: Toward) -> Vec<u8> {
        let mut f = frame.to_vec();
        let p = packet(frame);
        let len = rewrite_frame(&mut f, &p, toward).expect("a reset is due");
        f.truncate(len);
        f
    }

    fn seq_ack_flags(frame: &[u8]) -> (u32, u32, u8) {
        let l4 = packet(frame).l4_offset as usize;
        let f = frame;
        (
            u32::from_be_bytes([f[l4 + 4], f[l4 + 5], f[l4 + 6], f[l4 + 7]]),
            u32::from_be_bytes([f[l4 + 8], f[l4 + 9], f[l4 + 10], f[l4 + 11]]),
            f[l4 + 13],
        )
    }

    const REQUEST: &[u8] = &[0, 1, 0, 0, 0, 6, 1, 6, 0, 0, 0, 1];
    const PSH_ACK: u8 = 0x18;

    #[test]
    fn ipv4_reset_toward_the_server_keeps_the_segment_sequence_number() {
        let frame = segment(
            ipv4(CLIENT, SERVER, tcp(40000, 502, PSH_ACK, REQUEST)).frame(),
            1000,
            5000,
        );
        let rst = rewritten(&frame, Toward::Receiver);
        assert_eq!(rst.len(), 14 + 40);
        let p = packet(&rst);
        assert_eq!((&p.src[..4], &p.dst[..4]), (&CLIENT[..], &SERVER[..]));
        assert_eq!((p.src_port, p.dst_port), (40000, 502));
        assert_eq!(p.payload_len, 0, "the violating bytes are gone");
        assert_eq!(
            seq_ack_flags(&rst),
            (1000, 5000, tcp_flags::RST | tcp_flags::ACK)
        );
        assert_eq!(checksum(&rst[14..34]), 0, "IPv4 header checksum");
        assert_eq!(tcp_checksum_residue(&rst), 0, "TCP checksum");
        assert_eq!(
            &rst[..12],
            &frame[..12],
            "MACs unchanged: forwarded as usual"
        );
        assert_eq!(rst[14 + 8], 64, "TTL kept (the router decrements it)");
    }

    #[test]
    fn ipv4_reset_back_to_the_client_acknowledges_its_segment() {
        let frame = segment(
            ipv4(CLIENT, SERVER, tcp(40000, 502, PSH_ACK, REQUEST)).frame(),
            1000,
            5000,
        );
        let rst = rewritten(&frame, Toward::Sender);
        let p = packet(&rst);
        assert_eq!((&p.src[..4], &p.dst[..4]), (&SERVER[..], &CLIENT[..]));
        assert_eq!((p.src_port, p.dst_port), (502, 40000));
        assert_eq!(
            seq_ack_flags(&rst),
            (
                5000,
                1000 + REQUEST.len() as u32,
                tcp_flags::RST | tcp_flags::ACK
            )
        );
        assert_eq!(&rst[..6], &frame[6..12], "to the client's MAC");
        assert_eq!(&rst[6..12], &frame[..6], "from the gateway's MAC");
        assert_eq!(checksum(&rst[14..34]), 0);
        assert_eq!(tcp_checksum_residue(&rst), 0);
    }

    #[test]
    fn ipv4_options_and_vlan_tags() {
        let frame = with_vlans(
            &segment(
                ipv4(CLIENT, SERVER, tcp(40000, 502, PSH_ACK, REQUEST))
                    .options(&[1, 1, 1, 1])
                    .frame(),
                7,
                9,
            ),
            &[(ethertype::QINQ, 100), (ethertype::VLAN, 200)],
        );
        for toward in [Toward::Receiver, Toward::Sender] {
            let rst = rewritten(&frame, toward);
            assert_eq!(rst.len(), 22 + 40, "{toward:?}");
            assert_eq!(&rst[12..22], &frame[12..22], "VLAN tags kept");
            assert_eq!(rst[22], 0x45, "options dropped");
            assert_eq!(checksum(&rst[22..42]), 0);
            assert_eq!(tcp_checksum_residue(&rst), 0);
        }
    }

    #[test]
    fn ipv6_both_ways_with_an_extension_header() {
        let c = v6([0xfd00, 0x20, 0, 0, 0, 0, 0, 2]);
        let s = v6([0xfd00, 0x30, 0, 0, 0, 0, 0, 2]);
        let frame = with_vlans(
            &segment(
                ipv6(c, s, tcp(40000, 502, PSH_ACK, REQUEST))
                    .ext(60, 8)
                    .frame(),
                0xffff_fff0,
                77,
            ),
            &[(ethertype::VLAN, 5)],
        );
        let rst = rewritten(&frame, Toward::Receiver);
        assert_eq!(rst.len(), 18 + 60);
        let p = packet(&rst);
        assert_eq!((p.src, p.dst, p.payload_len), (c, s, 0));
        assert_eq!(rst[18 + 6], proto::TCP, "extension header dropped");
        assert_eq!(seq_ack_flags(&rst), (0xffff_fff0, 77, 0x14));
        assert_eq!(tcp_checksum_residue(&rst), 0);
        let back = rewritten(&frame, Toward::Sender);
        let p = packet(&back);
        assert_eq!((p.src, p.dst), (s, c));
        assert_eq!(
            seq_ack_flags(&back),
            (77, 0xffff_fff0u32.wrapping_add(12), 0x14),
            "the acknowledgement wraps around"
        );
        assert_eq!(back[18 + 7], ANSWER_TTL);
        assert_eq!(tcp_checksum_residue(&back), 0);
    }

    #[test]
    fn no_reset_for_a_reset_or_a_non_tcp_packet() {
        let rst = ipv4(CLIENT, SERVER, tcp(1, 502, tcp_flags::RST, b"")).frame();
        let p = packet(&rst);
        for toward in [Toward::Receiver, Toward::Sender] {
            assert_eq!(rewrite_frame(&mut rst.clone(), &p, toward), None);
        }
        let udp = ipv4(CLIENT, SERVER, crate::pktgen::udp(1, 502, b"x")).frame();
        assert_eq!(
            rewrite_frame(&mut udp.clone(), &packet(&udp), Toward::Sender),
            None
        );
    }

    #[test]
    fn a_segment_without_ack_gets_sequence_zero_and_its_syn_and_fin_count() {
        let frame = segment(
            ipv4(
                CLIENT,
                SERVER,
                tcp(1, 502, tcp_flags::SYN | tcp_flags::FIN, b"ab"),
            )
            .frame(),
            10,
            999,
        );
        let back = rewritten(&frame, Toward::Sender);
        assert_eq!(seq_ack_flags(&back), (0, 14, 0x14));
        let fwd = rewritten(&frame, Toward::Receiver);
        assert_eq!(seq_ack_flags(&fwd), (10, 0, tcp_flags::RST));
    }
}
