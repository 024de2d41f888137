//! Random frames through the TCP resets of `on_violation: reset` (`firewall_common::reset`)
//! and the Modbus exceptions and sequence shifts of `on_violation: exception`
//! (`firewall_common::exception`), as the XDP program applies them.
//!
//! The input is a frame as it is, or (first byte odd) the fields of a well-formed TCP segment
//! (family, VLAN tags, IPv4 options or an IPv6 extension header, ports, sequence and
//! acknowledgement numbers, flags, TTL, payload) from which one is built, so that every run
//! of the second kind reaches the rewrite. For every frame that parses as a TCP segment, both
//! resets (toward the receiver, in place
//! of the segment; back to the sender, for `XDP_TX`) are written over a copy. Checks: no
//! panic and no write outside the frame (`&[u8]` stores are checked); a RST is never
//! answered; otherwise the result parses again as a TCP RST without payload that ends where
//! the rewrite says, its IPv4 header checksum and TCP checksum are right, addresses, ports,
//! sequence and acknowledgement numbers are the ones the design gives (docs/design.md, "When a
//! request is denied"), and everything before the IP header is kept (MACs swapped for the
//! sender).
//!
//! Exceptions (input byte 0 bit 2: the MBAP length is first made to cover the payload, so a
//! built segment is one ADU): for every code, the answer is written exactly when the design
//! says (one whole ADU of at least 8 bytes, ACK without SYN or RST, room for 9 bytes, a code),
//! and then parses as PSH|ACK back to the sender with the 9-byte ADU (transaction, protocol
//! and unit id of the request, function | 0x80, the code), seq = its ack, ack = its end, both
//! checksums right. Shifts: a segment given a right TCP checksum keeps it right after a
//! shift by deltas from the input, carries the shifted numbers, and shifting back restores
//! them.
#![no_main]

use firewall_common::{
    exception,
    packet::{Family, Frame, Packet, ethertype, parse, tcp_flags},
    pktgen::{ipv4, ipv6, tcp, with_vlans},
    reason::Reason,
    reset::{ANSWER_TTL, Segment, Toward, rewrite_frame},
};
use libfuzzer_sys::fuzz_target;

/// RFC 1071 checksum of `bytes` (0 when a checksum inside them is right).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in bytes.chunks(2) {
        let hi = chunk[0] as u32;
        let lo = chunk.get(1).copied().unwrap_or(0) as u32;
        sum += hi << 8 | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn tcp_checksum(frame: &[u8], p: &Packet) -> u16 {
    let tcp = &frame[p.l4_offset as usize..];
    let mut pseudo = Vec::with_capacity(40 + tcp.len());
    match p.family {
        Family::Ipv4 => {
            pseudo.extend_from_slice(&p.src[..4]);
            pseudo.extend_from_slice(&p.dst[..4]);
            pseudo.extend_from_slice(&[0, 6]);
            pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        }
        Family::Ipv6 => {
            pseudo.extend_from_slice(&p.src);
            pseudo.extend_from_slice(&p.dst);
            pseudo.extend_from_slice(&(tcp.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 6]);
        }
    }
    pseudo.extend_from_slice(tcp);
    checksum(&pseudo)
}

fn word(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A well-formed TCP segment from the fields in `b` (`None` if `b` is too short).
fn build(b: &[u8]) -> Option<Vec<u8>> {
    let f: [u8; 24] = b.get(..24)?.try_into().ok()?;
    let payload = &b[24..b.len().min(24 + 80)];
    let word = |i: usize| u32::from_be_bytes([f[i], f[i + 1], f[i + 2], f[i + 3]]);
    let mut l4 = tcp(
        u16::from_be_bytes([f[1], f[2]]),
        u16::from_be_bytes([f[3], f[4]]),
        f[5],
        payload,
    );
    l4.bytes[4..8].copy_from_slice(&word(6).to_be_bytes());
    l4.bytes[8..12].copy_from_slice(&word(10).to_be_bytes());
    let ip = if f[0] & 2 == 0 {
        let mut p = ipv4([10, f[14], f[15], 1], [10, f[16], f[17], 2], l4);
        p.ttl = f[18];
        p.id = u16::from_be_bytes([f[19], f[20]]);
        let options = vec![1u8; 4 * (f[21] % 11) as usize];
        p.options(&options).frame()
    } else {
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src[..2].copy_from_slice(&[0xfd, 0]);
        dst[..2].copy_from_slice(&[0xfd, 1]);
        src[15] = f[14];
        dst[15] = f[15];
        let p = ipv6(src, dst, l4);
        if f[21] & 1 != 0 { p.ext(60, 8) } else { p }.frame()
    };
    let tags = match f[22] % 3 {
        0 => vec![],
        1 => vec![(ethertype::VLAN, u16::from(f[23]))],
        _ => vec![(ethertype::QINQ, 100), (ethertype::VLAN, u16::from(f[23]))],
    };
    Some(with_vlans(&ip, &tags))
}

fuzz_target!(|input: &[u8]| {
    let built;
    let frame = match input.first() {
        Some(b) if b & 1 == 1 => match build(input) {
            Some(f) => {
                built = f;
                &built[..]
            }
            None => return,
        },
        _ => input,
    };
    let Ok(Frame::Ip(p)) = parse(frame) else {
        assert!(
            input.first().is_none_or(|b| b & 1 == 0),
            "a built segment does not parse"
        );
        return;
    };
    let Some(s) = Segment::read(frame, &p) else {
        return;
    };
    for toward in [Toward::Receiver, Toward::Sender] {
        let mut out = frame.to_vec();
        let Some(len) = rewrite_frame(&mut out, &p, toward) else {
            assert!(
                s.flags & tcp_flags::RST != 0,
                "no {toward:?} reset for a segment without RST: {frame:02x?}"
            );
            continue;
        };
        assert_eq!(s.flags & tcp_flags::RST, 0, "a RST was answered");
        let l3 = p.l3_offset as usize;
        let ip_len = if p.family == Family::Ipv4 { 20 } else { 40 };
        assert_eq!(len, l3 + ip_len + 20);
        out.truncate(len);
        let r = match parse(&out[..]) {
            Ok(Frame::Ip(r)) => r,
            other => panic!("the {toward:?} reset does not parse: {other:?}"),
        };
        assert_eq!((r.proto, r.payload_len, r.l3_offset), (6, 0, p.l3_offset));
        assert_eq!(r.l4_offset as usize, l3 + ip_len);
        if p.family == Family::Ipv4 {
            assert_eq!(checksum(&out[l3..l3 + 20]), 0, "IPv4 header checksum");
        }
        assert_eq!(tcp_checksum(&out, &r), 0, "TCP checksum");
        let l4 = r.l4_offset as usize;
        let (seq, ack, flags) = (word(&out, l4 + 4), word(&out, l4 + 8), out[l4 + 13]);
        assert_eq!(&out[12..l3], &frame[12..l3], "VLAN tags and ethertype kept");
        match toward {
            Toward::Receiver => {
                assert_eq!(
                    (r.src, r.dst, r.src_port, r.dst_port),
                    (p.src, p.dst, p.src_port, p.dst_port)
                );
                assert_eq!(seq, s.seq, "the receiver's expected sequence number");
                assert_eq!(flags & tcp_flags::RST, tcp_flags::RST);
                assert_eq!(flags & tcp_flags::ACK, s.flags & tcp_flags::ACK);
                assert_eq!(&out[..12], &frame[..12], "MACs kept");
            }
            Toward::Sender => {
                assert_eq!(
                    (r.src, r.dst, r.src_port, r.dst_port),
                    (p.dst, p.src, p.dst_port, p.src_port)
                );
                let want_seq = if s.flags & tcp_flags::ACK != 0 {
                    s.ack
                } else {
                    0
                };
                assert_eq!(seq, want_seq);
                assert_eq!(ack, s.seq.wrapping_add(s.seq_len()));
                assert_eq!(flags, tcp_flags::RST | tcp_flags::ACK);
                assert_eq!(
                    (&out[..6], &out[6..12]),
                    (&frame[6..12], &frame[..6]),
                    "MACs swapped"
                );
                let ttl = if p.family == Family::Ipv4 {
                    out[l3 + 8]
                } else {
                    out[l3 + 7]
                };
                assert_eq!(ttl, ANSWER_TTL);
            }
        }
    }
    exceptions(input, frame, &p, &s);
    shifts(input, frame, &p);
});

/// TCP checksum over the pseudo-header and `frame[l4..end]` of the segment `p`.
fn segment_checksum(frame: &[u8], p: &Packet) -> u16 {
    let end = p.payload_offset as usize + p.payload_len as usize;
    tcp_checksum(&frame[..end.min(frame.len())], p)
}

fn exceptions(input: &[u8], frame: &[u8], p: &Packet, s: &Segment) {
    let mut request = frame.to_vec();
    let (off, len) = (p.payload_offset as usize, p.payload_len as usize);
    if input.first().is_some_and(|b| b & 4 != 0) && len >= 8 && off + 6 <= request.len() {
        request[off + 4..off + 6].copy_from_slice(&((len - 6) as u16).to_be_bytes());
    }
    let l3 = p.l3_offset as usize;
    let ip_len = if p.family == Family::Ipv4 { 20 } else { 40 };
    let one_adu = len >= 8
        && off + 8 <= request.len()
        && u16::from_be_bytes([request[off + 4], request[off + 5]]) as usize + 6 == len;
    for reason in [
        Reason::ModbusFunction,
        Reason::ModbusAddress,
        Reason::ModbusMalformed,
        Reason::ModbusUnitId,
        Reason::ModbusSplit,
    ] {
        let code = exception::code_for(reason);
        let due = code != 0
            && one_adu
            && s.flags & tcp_flags::ACK != 0
            && s.flags & (tcp_flags::SYN | tcp_flags::RST) == 0
            && request.len() >= l3 + ip_len + 20 + 9;
        let mut out = request.clone();
        let Some(end) = exception::rewrite_frame(&mut out, p, reason) else {
            assert!(!due, "no exception for {reason:?}: {request:02x?}");
            continue;
        };
        assert!(
            due,
            "an exception that is not due: {reason:?} {request:02x?}"
        );
        assert_eq!(end, l3 + ip_len + 20 + 9);
        out.truncate(end);
        let r = match parse(&out[..]) {
            Ok(Frame::Ip(r)) => r,
            other => panic!("the exception does not parse: {other:?}"),
        };
        assert_eq!((r.proto, r.payload_len, r.l3_offset), (6, 9, p.l3_offset));
        assert_eq!(
            (r.src, r.dst, r.src_port, r.dst_port),
            (p.dst, p.src, p.dst_port, p.src_port)
        );
        if p.family == Family::Ipv4 {
            assert_eq!(checksum(&out[l3..l3 + 20]), 0, "IPv4 header checksum");
        }
        assert_eq!(tcp_checksum(&out, &r), 0, "TCP checksum");
        let l4 = r.l4_offset as usize;
        assert_eq!(word(&out, l4 + 4), s.ack, "seq = the request's ack");
        assert_eq!(word(&out, l4 + 8), s.seq.wrapping_add(len as u32));
        assert_eq!(out[l4 + 13], tcp_flags::ACK | 0x08, "PSH|ACK");
        let q = &request[off..off + 8];
        assert_eq!(
            &out[l4 + 20..],
            &[q[0], q[1], q[2], q[3], 0, 3, q[6], q[7] | 0x80, code]
        );
        assert_eq!((&out[..6], &out[6..12]), (&request[6..12], &request[..6]));
        assert_eq!(&out[12..l3], &request[12..l3], "VLAN tags kept");
    }
}

fn shifts(input: &[u8], frame: &[u8], p: &Packet) {
    let end = p.payload_offset as usize + p.payload_len as usize;
    if end > frame.len() {
        return;
    }
    let delta = |i: usize| {
        input
            .get(i..i + 4)
            .map_or(9, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (seq_delta, ack_delta) = (
        delta(input.len().saturating_sub(8)),
        delta(input.len().saturating_sub(4)),
    );
    let l4 = p.l4_offset as usize;
    let mut seg = frame.to_vec();
    seg[l4 + 16..l4 + 18].copy_from_slice(&[0, 0]);
    let c = segment_checksum(&seg, p);
    seg[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
    assert_eq!(segment_checksum(&seg, p), 0);
    let (seq, ack) = (word(&seg, l4 + 4), word(&seg, l4 + 8));
    let mut out = seg.clone();
    exception::shift_frame(&mut out, p, seq_delta, ack_delta).expect("the header is in the frame");
    let has_ack = p.tcp_flags & tcp_flags::ACK != 0;
    let want_ack = if has_ack {
        ack.wrapping_add(ack_delta)
    } else {
        ack
    };
    assert_eq!(
        (word(&out, l4 + 4), word(&out, l4 + 8)),
        (seq.wrapping_add(seq_delta), want_ack)
    );
    assert_eq!(segment_checksum(&out, p), 0, "checksum after the shift");
    assert_eq!(
        &out[p.payload_offset as usize..],
        &seg[p.payload_offset as usize..]
    );
    exception::shift_frame(
        &mut out,
        p,
        seq_delta.wrapping_neg(),
        ack_delta.wrapping_neg(),
    )
    .expect("again");
    assert_eq!((word(&out, l4 + 4), word(&out, l4 + 8)), (seq, ack));
    assert_eq!(segment_checksum(&out, p), 0, "checksum after shifting back");
}
