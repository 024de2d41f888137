//! Learning mode (`zcfw learn`): what the data path aggregates while the daemon has set
//! [`crate::maps::control_flags::LEARN`].
//!
//! Every IP packet the main program decides is summarised into one entry of the LRU map
//! [`crate::maps::names::LEARN`], keyed by zone pair, protocol and service ([`LearnKey`]), and,
//! when one of its addresses is in no zone, into [`crate::maps::names::LEARN_HOSTS`]
//! ([`HostKey`]). Both maps have a fixed capacity: a flood of random ports or addresses evicts
//! the least recently used entries and never grows memory; the daemon samples the maps every
//! second into a bounded summary. With the flag off (normal operation) the program reads one
//! bit it reads anyway and writes nothing.
//!
//! What is recorded, per packet (the service side of a flow, not its answers):
//! - TCP: a SYN without ACK, keyed by destination port ([`kind::TCP`]); with a payload to
//!   port 502, the first Modbus ADU's unit id and function with its address span
//!   ([`kind::MODBUS`], [`modbus_span`]); to port 2404, the first I-format APDU's type id and
//!   common address ([`kind::IEC104`]); to port 20000, the first DNP3 frame's application
//!   function and link destination address ([`kind::DNP3`]).
//! - UDP: a datagram whose destination port is not above its source port (a server's port
//!   is the lower one; the answers, from the service port to an ephemeral one, are skipped).
//! - ICMP and ICMPv6: every type but the echo replies, keyed by type.
//! - Any other protocol: keyed by protocol only.

use crate::{
    flow::proto,
    packet::{Packet, PacketBytes, icmp_type, tcp_flags},
};

/// The Modbus/TCP port whose payload the data path decodes while learning.
pub const MODBUS_PORT: u16 = 502;
/// The IEC 60870-5-104 port whose I-format APDUs the data path decodes while learning.
pub const IEC104_PORT: u16 = 2404;
/// The DNP3 port whose link frames the data path decodes while learning.
pub const DNP3_PORT: u16 = 20000;

/// Addresses per bit of [`LearnValue::blocks`]: 64 blocks of 1,024 cover the 65,536
/// addresses of a Modbus table.
pub const BLOCK_ADDRESSES: u32 = 1_024;

/// What a [`LearnKey`] counts.
pub mod kind {
    /// TCP connection openers to `port`.
    pub const TCP: u8 = 1;
    /// UDP datagrams to `port`.
    pub const UDP: u8 = 2;
    /// ICMP or ICMPv6 messages of type `port >> 8`.
    pub const ICMP: u8 = 3;
    /// Modbus/TCP requests to `port` of unit `unit` and function `function`.
    pub const MODBUS: u8 = 4;
    /// Another IP protocol (`proto`).
    pub const OTHER: u8 = 5;
    /// IEC 104 APDUs to `port` of ASDU type id `function`; the span is the common address.
    pub const IEC104: u8 = 6;
    /// DNP3 requests to `port` of application function `function`; the span is the link
    /// destination address.
    pub const DNP3: u8 = 7;
}

/// Key of [`crate::maps::names::LEARN`]: zone pair (ids of the active slot), protocol and
/// service.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LearnKey {
    pub src_zone: u16,
    pub dst_zone: u16,
    /// TCP/UDP destination port; ICMP `type << 8`; 0 otherwise.
    pub port: u16,
    /// [`kind`].
    pub kind: u8,
    /// IP protocol number.
    pub proto: u8,
    /// Modbus unit id (0 unless [`kind::MODBUS`]).
    pub unit: u8,
    /// Modbus function code (0 unless [`kind::MODBUS`]).
    pub function: u8,
    /// IP family (4 or 6).
    pub family: u8,
    pub _pad: u8,
}

/// Value of [`crate::maps::names::LEARN`]: how often and when, and for Modbus the addresses.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LearnValue {
    /// Packets (Modbus: requests) since the entry was created.
    pub packets: u64,
    /// CLOCK_MONOTONIC (coarse) of the first and the latest packet.
    pub first_ns: u64,
    pub last_ns: u64,
    /// Modbus: bit `b` set when an address in `b * 1024 .. (b + 1) * 1024` was touched.
    pub blocks: u64,
    /// Modbus: lowest first and highest last address touched (`lo > hi`: none).
    pub lo: u16,
    pub hi: u16,
    /// Modbus: largest quantity of one request.
    pub max_quantity: u16,
    pub _pad: u16,
}

/// Key of [`crate::maps::names::LEARN_HOSTS`]: an address in no zone of the active slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostKey {
    /// The address (IPv4 in the first 4 bytes).
    pub addr: [u8; 16],
    /// IP family (4 or 6).
    pub family: u8,
    /// Whether it was seen as source (bit 0) or destination (bit 1) is in the value.
    pub _pad: [u8; 7],
}

/// Value of [`crate::maps::names::LEARN_HOSTS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostValue {
    pub packets: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    /// Zone of the other end of its latest packet (0: none either).
    pub peer_zone: u16,
    /// Bit 0: seen as source; bit 1: seen as destination.
    pub seen_as: u16,
    pub _pad: u32,
}

const _: () = {
    assert!(core::mem::size_of::<LearnKey>() == 12);
    assert!(core::mem::size_of::<LearnValue>() == 40);
    assert!(core::mem::size_of::<HostKey>() == 24);
    assert!(core::mem::size_of::<HostValue>() == 32);
};

/// The addresses one Modbus request touches, as the data path records them: `(first, last,
/// quantity)`, or `None` for a function without an address field. Reads FC 1-4 (address,
/// quantity), 5, 6 (one address), 15, 16 (address, quantity), 22 (one register), 23 (its
/// read half) and 24 (the FIFO pointer). `quantity` 0 is taken as 1.
#[inline(always)]
pub fn modbus_span(function: u8, start: u16, quantity: u16) -> Option<(u16, u16, u16)> {
    let quantity = match function {
        1..=4 | 15 | 16 | 23 => quantity,
        5 | 6 | 22 | 24 => 1,
        _ => return None,
    };
    let q = if quantity == 0 { 1 } else { quantity };
    let last = start as u32 + q as u32 - 1;
    let last = if last > 0xffff { 0xffff } else { last as u16 };
    Some((start, last, q))
}

/// The [`LearnValue::blocks`] bits of the span `first..=last`.
#[inline(always)]
pub fn block_bits(first: u16, last: u16) -> u64 {
    let lo = first as u32 / BLOCK_ADDRESSES;
    let hi = last as u32 / BLOCK_ADDRESSES;
    // lo, hi < 64; bits lo..=hi.
    let upto = if hi >= 63 {
        u64::MAX
    } else {
        (1u64 << (hi + 1)) - 1
    };
    upto & !((1u64 << lo) - 1)
}

/// What one packet contributes while learning: its key (zones filled in by the caller) and,
/// for a Modbus request with an address field, the span it touches
/// (`span_quantity` 0: none). Plain integers: it stays in registers in the XDP program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub key: LearnKey,
    pub span_first: u16,
    pub span_last: u16,
    pub span_quantity: u16,
}

/// The observation of `p` between zones `src_zone` and `dst_zone`, or `None` for a packet
/// learning skips (an answer: TCP other than a SYN, UDP from the lower port, an echo reply).
/// `bytes` is the frame, read for the Modbus header of a TCP payload to [`MODBUS_PORT`].
#[inline(always)]
pub fn observe<B: PacketBytes + ?Sized>(
    bytes: &B,
    p: &Packet,
    src_zone: u16,
    dst_zone: u16,
) -> Option<Observed> {
    let mut o = Observed {
        key: LearnKey {
            src_zone,
            dst_zone,
            proto: p.proto,
            family: p.family as u8,
            ..LearnKey::default()
        },
        ..Observed::default()
    };
    match p.proto {
        proto::TCP => {
            o.key.port = p.dst_port;
            if p.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN {
                o.key.kind = kind::TCP;
                return Some(o);
            }
            if p.payload_len < 8 {
                return None;
            }
            match p.dst_port {
                MODBUS_PORT => modbus(bytes, p, o),
                IEC104_PORT => iec104(bytes, p, o),
                DNP3_PORT => dnp3(bytes, p, o),
                _ => None,
            }
        }
        proto::UDP => {
            if p.dst_port > p.src_port {
                return None;
            }
            o.key.kind = kind::UDP;
            o.key.port = p.dst_port;
            Some(o)
        }
        proto::ICMP | proto::ICMPV6 => {
            if p.icmp_type == icmp_type::ECHO_REPLY && p.proto == proto::ICMP
                || p.icmp_type == icmp_type::V6_ECHO_REPLY && p.proto == proto::ICMPV6
            {
                return None;
            }
            o.key.kind = kind::ICMP;
            o.key.port = (p.icmp_type as u16) << 8;
            Some(o)
        }
        _ => {
            o.key.kind = kind::OTHER;
            Some(o)
        }
    }
}

/// The first Modbus ADU of a segment: MBAP (transaction, protocol 0, length, unit), the
/// function and, for the functions with one, address and quantity.
#[inline(always)]
fn modbus<B: PacketBytes + ?Sized>(bytes: &B, p: &Packet, mut o: Observed) -> Option<Observed> {
    let head: [u8; 8] = bytes.load(p.payload_offset as usize)?;
    if head[2] != 0 || head[3] != 0 || head[7] == 0 || head[7] >= 0x80 {
        return None;
    }
    o.key.kind = kind::MODBUS;
    o.key.unit = head[6];
    o.key.function = head[7];
    if p.payload_len >= 12
        && let Some(f) = bytes.load::<4>(p.payload_offset as usize + 8)
        && let Some((first, last, q)) = modbus_span(
            head[7],
            u16::from_be_bytes([f[0], f[1]]),
            u16::from_be_bytes([f[2], f[3]]),
        )
    {
        o.span_first = first;
        o.span_last = last;
        o.span_quantity = q;
    }
    Some(o)
}

/// The first IEC 104 APDU of a segment when it is I-format: start 0x68, length, four control
/// bytes (bit 0 of the first clear), then the ASDU: type id, variable structure qualifier,
/// cause of transmission, originator address, common address (little endian).
#[inline(always)]
fn iec104<B: PacketBytes + ?Sized>(bytes: &B, p: &Packet, mut o: Observed) -> Option<Observed> {
    if p.payload_len < 12 {
        return None;
    }
    let apdu: [u8; 12] = bytes.load(p.payload_offset as usize)?;
    if apdu[0] != 0x68 || apdu[1] < 10 || apdu[2] & 1 != 0 {
        return None;
    }
    let common = u16::from_le_bytes([apdu[10], apdu[11]]);
    o.key.kind = kind::IEC104;
    o.key.function = apdu[6];
    o.span_first = common;
    o.span_last = common;
    o.span_quantity = 1;
    Some(o)
}

/// The first DNP3 link frame of a segment when it carries user data: 0x05 0x64, length,
/// control (function 3 or 4: user data), destination and source (little endian), header CRC,
/// then the transport header, the application control and the application function.
#[inline(always)]
fn dnp3<B: PacketBytes + ?Sized>(bytes: &B, p: &Packet, mut o: Observed) -> Option<Observed> {
    if p.payload_len < 13 {
        return None;
    }
    let frame: [u8; 13] = bytes.load(p.payload_offset as usize)?;
    let link_function = frame[3] & 0x0f;
    if frame[0] != 0x05
        || frame[1] != 0x64
        || frame[2] < 8
        || (link_function != 3 && link_function != 4)
    {
        return None;
    }
    let destination = u16::from_le_bytes([frame[4], frame[5]]);
    o.key.kind = kind::DNP3;
    o.key.function = frame[12];
    o.span_first = destination;
    o.span_last = destination;
    o.span_quantity = 1;
    Some(o)
}

impl LearnValue {
    /// A value for its first packet at `now`.
    #[inline(always)]
    pub fn first(now: u64) -> Self {
        Self {
            packets: 1,
            first_ns: now,
            last_ns: now,
            blocks: 0,
            lo: u16::MAX,
            hi: 0,
            max_quantity: 0,
            _pad: 0,
        }
    }

    /// Adds a Modbus span.
    #[inline(always)]
    pub fn add_span(&mut self, first: u16, last: u16, quantity: u16) {
        self.blocks |= block_bits(first, last);
        if first < self.lo {
            self.lo = first;
        }
        if last > self.hi {
            self.hi = last;
        }
        if quantity > self.max_quantity {
            self.max_quantity = quantity;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_follow_the_function() {
        assert_eq!(modbus_span(3, 100, 10), Some((100, 109, 10)));
        assert_eq!(modbus_span(6, 4000, 1234), Some((4000, 4000, 1)));
        assert_eq!(modbus_span(16, 65530, 100), Some((65530, 65535, 100)));
        assert_eq!(modbus_span(1, 7, 0), Some((7, 7, 1)));
        assert_eq!(modbus_span(8, 0, 0), None);
        assert_eq!(modbus_span(43, 0, 0), None);
    }

    #[test]
    fn block_bits_cover_the_span() {
        assert_eq!(block_bits(0, 0), 1);
        assert_eq!(block_bits(0, 1023), 1);
        assert_eq!(block_bits(1023, 1024), 0b11);
        assert_eq!(block_bits(4000, 4099), 0b1_1000);
        assert_eq!(block_bits(0, 65535), u64::MAX);
        assert_eq!(block_bits(65535, 65535), 1 << 63);
    }

    fn parse(frame: &[u8]) -> Packet {
        match crate::packet::parse(frame).expect("a valid frame") {
            crate::packet::Frame::Ip(p) => p,
            other => panic!("not IP: {other:?}"),
        }
    }

    #[test]
    fn observations_keep_the_service_side() {
        use crate::pktgen::{icmp, ipv4, tcp, udp};
        let syn = ipv4(
            [10, 0, 0, 1],
            [10, 1, 0, 1],
            tcp(40000, 22, tcp_flags::SYN, &[]),
        )
        .frame();
        let o = observe(&syn[..], &parse(&syn), 1, 2).expect("a SYN");
        assert_eq!(
            (o.key.kind, o.key.port, o.key.src_zone, o.key.dst_zone),
            (kind::TCP, 22, 1, 2)
        );
        let ack = ipv4(
            [10, 1, 0, 1],
            [10, 0, 0, 1],
            tcp(22, 40000, tcp_flags::ACK, b"x"),
        )
        .frame();
        assert_eq!(observe(&ack[..], &parse(&ack), 2, 1), None);
        let dns = ipv4([10, 0, 0, 1], [10, 1, 0, 1], udp(53000, 53, b"q")).frame();
        assert_eq!(
            observe(&dns[..], &parse(&dns), 1, 2).map(|o| o.key.port),
            Some(53)
        );
        let answer = ipv4([10, 1, 0, 1], [10, 0, 0, 1], udp(53, 53000, b"a")).frame();
        assert_eq!(observe(&answer[..], &parse(&answer), 2, 1), None);
        let ping = ipv4([10, 0, 0, 1], [10, 1, 0, 1], icmp(false, 8, 0, 1, 1)).frame();
        assert_eq!(
            observe(&ping[..], &parse(&ping), 1, 2).map(|o| o.key.port),
            Some(8 << 8)
        );
        let pong = ipv4([10, 1, 0, 1], [10, 0, 0, 1], icmp(false, 0, 0, 1, 1)).frame();
        assert_eq!(observe(&pong[..], &parse(&pong), 2, 1), None);
    }

    #[test]
    fn modbus_requests_carry_unit_function_and_span() {
        use crate::pktgen::{ipv4, tcp};
        // Read holding registers 100-109 of unit 1.
        let adu = [0, 1, 0, 0, 0, 6, 1, 3, 0, 100, 0, 10];
        let f = ipv4(
            [10, 0, 0, 1],
            [10, 1, 0, 1],
            tcp(40000, 502, tcp_flags::ACK, &adu),
        )
        .frame();
        let o = observe(&f[..], &parse(&f), 1, 2).expect("a request");
        assert_eq!(
            (o.key.kind, o.key.unit, o.key.function),
            (kind::MODBUS, 1, 3)
        );
        assert_eq!((o.span_first, o.span_last, o.span_quantity), (100, 109, 10));
        // Not Modbus (protocol id 1): skipped.
        let junk = [0, 1, 0, 1, 0, 6, 1, 3, 0, 100, 0, 10];
        let f = ipv4(
            [10, 0, 0, 1],
            [10, 1, 0, 1],
            tcp(40000, 502, tcp_flags::ACK, &junk),
        )
        .frame();
        assert_eq!(observe(&f[..], &parse(&f), 1, 2), None);
        // Modbus function without an address field: no span.
        let adu = [0, 1, 0, 0, 0, 2, 1, 7];
        let f = ipv4(
            [10, 0, 0, 1],
            [10, 1, 0, 1],
            tcp(40000, 502, tcp_flags::ACK, &adu),
        )
        .frame();
        let o = observe(&f[..], &parse(&f), 1, 2).expect("FC 7");
        assert_eq!((o.key.function, o.span_quantity), (7, 0));
    }

    #[test]
    fn iec104_and_dnp3_carry_type_or_function_and_address() {
        use crate::pktgen::{ipv4, tcp};
        // Interrogation (100) of common address 0x0102, I-format.
        let apdu = [0x68, 14, 0, 0, 0, 0, 100, 1, 6, 0, 0x02, 0x01, 0, 0, 0, 20];
        let f = ipv4(
            [10, 0, 0, 1],
            [10, 1, 0, 1],
            tcp(40000, 2404, tcp_flags::ACK, &apdu),
        )
        .frame();
        let o = observe(&f[..], &parse(&f), 1, 2).expect("an APDU");
        assert_eq!(
            (o.key.kind, o.key.function, o.span_first),
            (kind::IEC104, 100, 0x0102)
        );
        // STARTDT (U-format): nothing to learn.
        let u = [0x68, 4, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let f = ipv4(
            [10, 0, 0, 1],
            [10, 1, 0, 1],
            tcp(40000, 2404, tcp_flags::ACK, &u),
        )
        .frame();
        assert_eq!(observe(&f[..], &parse(&f), 1, 2), None);
        // DNP3 read (1) to outstation 10 from master 1.
        let frame = [
            0x05, 0x64, 0x0b, 0xc4, 10, 0, 1, 0, 0xaa, 0xbb, 0xc0, 0xc0, 0x01, 0x3c, 0x02, 0x06, 0,
            0,
        ];
        let f = ipv4(
            [10, 0, 0, 1],
            [10, 1, 0, 1],
            tcp(40000, 20000, tcp_flags::ACK, &frame),
        )
        .frame();
        let o = observe(&f[..], &parse(&f), 1, 2).expect("a request");
        assert_eq!(
            (o.key.kind, o.key.function, o.span_first),
            (kind::DNP3, 1, 10)
        );
        let junk = [0, 1, 0, 1, 0, 6, 1, 3, 0, 100, 0, 10];
        let f = ipv4(
            [10, 0, 0, 1],
            [10, 1, 0, 1],
            tcp(40000, 502, tcp_flags::ACK, &junk),
        )
        .frame();
        assert_eq!(observe(&f[..], &parse(&f), 1, 2), None);
    }

    #[test]
    fn values_keep_bounds() {
        let mut v = LearnValue::first(5);
        v.add_span(100, 109, 10);
        v.add_span(50, 52, 3);
        assert_eq!((v.lo, v.hi, v.max_quantity, v.blocks), (50, 109, 10, 1));
    }
}
