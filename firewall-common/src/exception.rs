//! Modbus exception responses the data path sends when a conduit's inspection denies a
//! request and the conduit says `on_violation: exception` (docs/design.md, "When a request is
//! denied"), and the sequence-number shifts that keep the connection usable afterwards.
//!
//! The violating request never reaches the server: its frame is rewritten in place into the
//! exception response and sent back to the client (`XDP_TX`): MAC addresses, IP addresses and
//! ports swapped, sequence number = the request's acknowledgement number, acknowledgement =
//! the request's sequence number + its length, PSH|ACK, and a 9-byte ADU with the request's
//! transaction id, protocol id and unit id, function code | 0x80 and the exception code
//! ([`code_for`]).
//!
//! From then on the two ends disagree about the byte stream: the server never saw the
//! request (bytes *swallowed* from client to server) and never sent the exception (bytes
//! *injected* from server to client). Conntrack keeps both totals and every later segment is
//! shifted ([`shift_segment`]): client → server `seq - swallowed`, `ack - injected`; server →
//! client `seq + injected`, `ack + swallowed`. TCP options of shifted segments other than
//! leading timestamps become NOPs, SACK blocks included (they would be in the wrong space;
//! the ends fall back to plain acknowledgements).
//! Checksums are updated incrementally (RFC 1624).

use crate::{
    flow::proto,
    packet::{Family, Packet, PacketBytes, tcp_flags},
    reason::Reason,
    reset::{ANSWER_TTL, IPV4_LEN, IPV6_LEN, PacketBytesMut, TCP_LEN, fold, words4, words16},
};

/// Length of a Modbus/TCP exception ADU: MBAP (7) + function code + exception code.
pub const ADU_LEN: usize = 9;
/// Length of the smallest request ADU: MBAP (7) + function code.
pub const MIN_REQUEST: usize = 8;
/// Window the exception advertises (the server's real window follows with its next segment).
pub const WINDOW: u16 = 8192;

/// Modbus exception codes zcfw sends.
pub mod code {
    /// 01: the function code, FC 8 sub-function or FC 43 MEI type is not allowed.
    pub const ILLEGAL_FUNCTION: u8 = 0x01;
    /// 02: an address span or quantity outside what the conduit allows.
    pub const ILLEGAL_DATA_ADDRESS: u8 = 0x02;
    /// 03: a malformed request (byte count, value, protocol id).
    pub const ILLEGAL_DATA_VALUE: u8 = 0x03;
    /// 0B: a unit id the conduit does not allow: "gateway target device failed to respond",
    /// what a gateway answers for a unit it cannot reach.
    pub const GATEWAY_TARGET_FAILED: u8 = 0x0b;
}

/// The exception code answering a request denied for `reason`, or 0 when none fits and the
/// connection is reset instead (`modbus_split`: the segment does not hold whole ADUs; any
/// reason other than a Modbus one).
#[inline(always)]
pub const fn code_for(reason: Reason) -> u8 {
    match reason {
        Reason::ModbusFunction => code::ILLEGAL_FUNCTION,
        Reason::ModbusAddress => code::ILLEGAL_DATA_ADDRESS,
        Reason::ModbusMalformed => code::ILLEGAL_DATA_VALUE,
        Reason::ModbusUnitId => code::GATEWAY_TARGET_FAILED,
        _ => 0,
    }
}

/// Everything the exception answering a request is computed from, read from the request's
/// frame by [`plan`]: scalars only (the XDP program keeps them in registers; the addresses
/// are swapped in place by [`write_exception`], never copied).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub ipv6: bool,
    /// Ports of the answer (the request's destination port first).
    pub src_port: u16,
    pub dst_port: u16,
    /// The request's acknowledgement number, and its sequence number + length.
    pub seq: u32,
    pub ack: u32,
    pub transaction: u16,
    pub protocol: u16,
    pub unit: u8,
    pub function: u8,
    pub code: u8,
    /// One's complement sum of the 16-bit words of both addresses.
    pub addr_sum: u32,
}

/// Reads what the exception `code` answering `p` needs from its frame `b`, in which frame
/// offset `x` is at `x - base` (the XDP program passes a view starting at the IP header).
/// `None` when no exception fits: the payload is not exactly one ADU (several ADUs, a
/// partial one, shorter than a function code: the connection is reset instead), the segment
/// has no ACK or is a SYN or RST, `code` is 0, or the frame is too short for the answer (an
/// 8-byte ADU without TCP options).
#[inline(always)]
pub fn plan<B: PacketBytes + ?Sized>(b: &B, p: &Packet, base: usize, code: u8) -> Option<Answer> {
    if code == 0
        || p.proto != proto::TCP
        || p.tcp_flags & tcp_flags::ACK == 0
        || p.tcp_flags & (tcp_flags::SYN | tcp_flags::RST) != 0
    {
        return None;
    }
    let l3 = (p.l3_offset as usize).checked_sub(base)?;
    let l4 = (p.l4_offset as usize).checked_sub(base)?;
    let payload = (p.payload_offset as usize).checked_sub(base)?;
    let len = p.payload_len as usize;
    let ipv6 = p.family == Family::Ipv6;
    let ip_len = if ipv6 { IPV6_LEN } else { IPV4_LEN };
    if len < MIN_REQUEST || !b.holds(l3 + ip_len + TCP_LEN + ADU_LEN) {
        return None;
    }
    let h = b.load::<8>(payload)?;
    if u16::from_be_bytes([h[4], h[5]]) as usize + 6 != len {
        return None;
    }
    let seq = u32::from_be_bytes(b.load::<4>(l4 + 4)?);
    let ack = u32::from_be_bytes(b.load::<4>(l4 + 8)?);
    let addr_sum = if ipv6 {
        words16(&p.src) + words16(&p.dst)
    } else {
        words4([p.src[0], p.src[1], p.src[2], p.src[3]])
            + words4([p.dst[0], p.dst[1], p.dst[2], p.dst[3]])
    };
    Some(Answer {
        ipv6,
        src_port: p.dst_port,
        dst_port: p.src_port,
        seq: ack,
        ack: seq.wrapping_add(len as u32),
        transaction: u16::from_be_bytes([h[0], h[1]]),
        protocol: u16::from_be_bytes([h[2], h[3]]),
        unit: h[6],
        function: h[7],
        code,
        addr_sum,
    })
}

/// Swaps the `N`-byte words at `a` and `b` of the frame.
#[inline(always)]
fn swap<B: PacketBytesMut + ?Sized, const N: usize>(b: &mut B, x: usize, y: usize) -> Option<()> {
    let (vx, vy) = (b.load::<N>(x)?, b.load::<N>(y)?);
    b.store(x, vy)?;
    b.store(y, vx)
}

/// Writes the exception `a` back to the request's sender over the frame `b`, whose IP
/// header starts at `l3`: a fresh IP header (no options or extension headers; addresses
/// swapped in place, where they are in every IPv4 and IPv6 header), a TCP header (no
/// options, PSH|ACK) with checksums, then the ADU. The MAC addresses are not touched (see
/// [`crate::reset::swap_macs`]). Returns where the answer ends (the caller shortens the frame
/// to it); `None` when the frame does not hold it ([`plan`] checked that it does).
#[inline(always)]
pub fn write_exception<B: PacketBytesMut + ?Sized>(
    b: &mut B,
    l3: usize,
    a: &Answer,
) -> Option<usize> {
    let ip_len = if a.ipv6 { IPV6_LEN } else { IPV4_LEN };
    let tcp_total = (TCP_LEN + ADU_LEN) as u16;
    let new_len = l3 + ip_len + TCP_LEN + ADU_LEN;
    if !b.holds(new_len) {
        return None;
    }
    if a.ipv6 {
        swap::<B, 8>(b, l3 + 8, l3 + 24)?;
        swap::<B, 8>(b, l3 + 16, l3 + 32)?;
        b.store(l3, [0x60, 0, 0, 0])?;
        b.store(l3 + 4, tcp_total.to_be_bytes())?;
        b.store(l3 + 6, [proto::TCP, ANSWER_TTL])?;
    } else {
        swap::<B, 4>(b, l3 + 12, l3 + 16)?;
        let total = IPV4_LEN as u16 + tcp_total;
        let header = 0x4500 + total as u32 + 0x4000 + ((ANSWER_TTL as u32) << 8 | 6);
        let check = !fold(header + a.addr_sum);
        let t = total.to_be_bytes();
        // Identification 0, don't fragment, TTL, protocol.
        b.store(l3, [0x45, 0, t[0], t[1], 0, 0, 0x40, 0])?;
        b.store(l3 + 8, [ANSWER_TTL, proto::TCP])?;
        b.store(l3 + 10, check.to_be_bytes())?;
    }
    let offset_flags = ((TCP_LEN as u16 / 4) << 12) | (tcp_flags::PSH | tcp_flags::ACK) as u16;
    let function = a.function | 0x80;
    let (seq, ack) = (a.seq, a.ack);
    // Pseudo-header (the same sum for both families), header and ADU.
    let sum = a.addr_sum
        + proto::TCP as u32
        + tcp_total as u32
        + a.src_port as u32
        + a.dst_port as u32
        + (seq >> 16)
        + (seq & 0xffff)
        + (ack >> 16)
        + (ack & 0xffff)
        + offset_flags as u32
        + WINDOW as u32
        + a.transaction as u32
        + a.protocol as u32
        + 3
        + ((a.unit as u32) << 8 | function as u32)
        + ((a.code as u32) << 8);
    let check = !fold(sum);
    let l4 = l3 + ip_len;
    b.store(l4, a.src_port.to_be_bytes())?;
    b.store(l4 + 2, a.dst_port.to_be_bytes())?;
    b.store(l4 + 4, seq.to_be_bytes())?;
    b.store(l4 + 8, ack.to_be_bytes())?;
    b.store(l4 + 12, offset_flags.to_be_bytes())?;
    b.store(l4 + 14, WINDOW.to_be_bytes())?;
    b.store(l4 + 16, check.to_be_bytes())?;
    b.store(l4 + 18, [0, 0])?;
    let t = a.transaction.to_be_bytes();
    let pr = a.protocol.to_be_bytes();
    b.store(l4 + 20, [t[0], t[1], pr[0], pr[1], 0, 3, a.unit, function])?;
    b.store(l4 + 28, [a.code])?;
    Some(new_len)
}

/// Most TCP option bytes a header holds (data offset 15).
const MAX_OPTIONS: usize = 40;
/// TCP NOP option.
const OPT_NOP: u8 = 1;
/// NOP, NOP, timestamps (kind 8, length 10): how Linux and most stacks lay out the only
/// option of an established connection's segments besides SACK.
const TIMESTAMPS: [u8; 4] = [1, 1, 8, 10];
/// Length of [`TIMESTAMPS`] and its values.
const TIMESTAMPS_LEN: usize = 12;

/// One's complement contribution of byte `v` at `offset` from the (even) header start.
#[inline(always)]
fn byte_word(offset: usize, v: u8) -> u32 {
    if offset & 1 == 0 {
        (v as u32) << 8
    } else {
        v as u32
    }
}

/// Shifts the TCP segment whose header starts at `l4` of `b` and is `header_len` bytes long
/// (options included): `seq + seq_delta`, and `ack + ack_delta` when `flags` has ACK (both
/// wrapping), the checksum updated incrementally (RFC 1624: `HC' = ~(~HC + ~m + m')`).
/// Options: leading timestamps (NOP, NOP, kind 8) are kept, every other option byte
/// becomes a NOP, SACK blocks included (they would be in the wrong sequence space; the ends
/// fall back to plain acknowledgements). One linear pass, which the verifier follows
/// cheaply (a kind-by-kind walk multiplies its states). `None` when the header is not in the
/// frame (nothing, or only some option bytes, written: the caller drops the frame).
#[inline(always)]
pub fn shift_segment<B: PacketBytesMut + ?Sized>(
    b: &mut B,
    l4: usize,
    header_len: usize,
    flags: u8,
    seq_delta: u32,
    ack_delta: u32,
) -> Option<()> {
    let seq = u32::from_be_bytes(b.load::<4>(l4 + 4)?);
    let ack = u32::from_be_bytes(b.load::<4>(l4 + 8)?);
    let check = u16::from_be_bytes(b.load::<2>(l4 + 16)?);
    let new_seq = seq.wrapping_add(seq_delta);
    let new_ack = if flags & tcp_flags::ACK != 0 {
        ack.wrapping_add(ack_delta)
    } else {
        ack
    };
    let mut old = (seq >> 16) + (seq & 0xffff) + (ack >> 16) + (ack & 0xffff);
    let mut new = (new_seq >> 16) + (new_seq & 0xffff) + (new_ack >> 16) + (new_ack & 0xffff);
    let options = header_len.saturating_sub(TCP_LEN);
    let keep = if options >= TIMESTAMPS_LEN && b.load::<4>(l4 + TCP_LEN)? == TIMESTAMPS {
        TIMESTAMPS_LEN
    } else {
        0
    };
    let mut i = 0;
    while i < MAX_OPTIONS {
        if keep + i >= options {
            break;
        }
        let at = TCP_LEN + keep + i;
        let v = b.load::<1>(l4 + at)?[0];
        b.store(l4 + at, [OPT_NOP])?;
        old += byte_word(at, v);
        new += byte_word(at, OPT_NOP);
        i += 1;
    }
    let check = !fold((!check) as u32 + (!fold(old)) as u32 + new);
    b.store(l4 + 4, new_seq.to_be_bytes())?;
    b.store(l4 + 8, new_ack.to_be_bytes())?;
    b.store(l4 + 16, check.to_be_bytes())
}

/// Rewrites `frame` (whose parsed headers are `p`) into the exception answering it, denied
/// for `reason`, as the XDP program does (MACs swapped). Returns the new frame length, or
/// `None` when no exception is due (no code for `reason`, not exactly one ADU, no ACK, the
/// frame too short for the answer: the XDP program then resets the connection).
pub fn rewrite_frame(frame: &mut [u8], p: &Packet, reason: Reason) -> Option<usize> {
    let code = code_for(reason);
    if code == 0 {
        return None;
    }
    let a = plan(frame, p, 0, code)?;
    crate::reset::swap_macs(frame)?;
    write_exception(frame, p.l3_offset as usize, &a)
}

/// Shifts the segment of `frame` (parsed headers `p`) as [`shift_segment`] does.
pub fn shift_frame(frame: &mut [u8], p: &Packet, seq_delta: u32, ack_delta: u32) -> Option<()> {
    if p.proto != proto::TCP {
        return None;
    }
    let l4 = p.l4_offset as usize;
    let header_len = (p.payload_offset - p.l4_offset) as usize;
    shift_segment(frame, l4, header_len, p.tcp_flags, seq_delta, ack_delta)
}

#[cfg(test)]
mod tests {
    use alloc::{vec, vec::Vec};

    use super::*;
    use crate::{
        packet::ethertype,
        pktgen::{
            L4, checksum, ip_packet as packet, ipv4, ipv6, tcp, tcp_checksum_residue, v6,
            with_vlans,
        },
    };

    const CLIENT: [u8; 4] = [10, 20, 0, 2];
    const SERVER: [u8; 4] = [10, 30, 0, 2];
    /// Write single register 200 (transaction 0x1234, unit 7).
    const WRITE: &[u8] = &[0x12, 0x34, 0, 0, 0, 6, 7, 6, 0, 200, 0, 1];
    const PSH_ACK: u8 = 0x18;

    /// Sets sequence and acknowledgement numbers, then a correct TCP checksum.
    fn finish(mut frame: Vec<u8>, seq: u32, ack: u32) -> Vec<u8> {
        let l4 = packet(&frame).l4_offset as usize;
        frame[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
        frame[l4 + 8..l4 + 12].copy_from_slice(&ack.to_be_bytes());
        frame[l4 + 16..l4 + 18].copy_from_slice(&[0, 0]);
        let c = tcp_checksum_residue(&frame);
        frame[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
        assert_eq!(tcp_checksum_residue(&frame), 0);
        frame
    }

    fn seq_ack(frame: &[u8]) -> (u32, u32) {
        let l4 = packet(frame).l4_offset as usize;
        (
            u32::from_be_bytes(frame[l4 + 4..l4 + 8].try_into().expect("4 bytes")),
            u32::from_be_bytes(frame[l4 + 8..l4 + 12].try_into().expect("4 bytes")),
        )
    }

    fn answered(frame: &[u8], reason: Reason) -> Vec<u8> {
        let mut f = frame.to_vec();
        let len = rewrite_frame(&mut f, &packet(frame), reason).expect("an exception is due");
        f.truncate(len);
        f
    }

    /// A TCP segment with options.
    fn tcp_opts(sport: u16, dport: u16, flags: u8, opts: &[u8], payload: &[u8]) -> L4 {
        let mut l4 = tcp(sport, dport, flags, b"");
        assert_eq!(opts.len() % 4, 0);
        l4.bytes[12] = (((20 + opts.len()) / 4) << 4) as u8;
        l4.bytes.extend_from_slice(opts);
        l4.bytes.extend_from_slice(payload);
        l4
    }

    #[test]
    fn codes_per_reason() {
        assert_eq!(code_for(Reason::ModbusFunction), 0x01);
        assert_eq!(code_for(Reason::ModbusAddress), 0x02);
        assert_eq!(code_for(Reason::ModbusMalformed), 0x03);
        assert_eq!(code_for(Reason::ModbusUnitId), 0x0b);
        assert_eq!(code_for(Reason::ModbusSplit), 0);
        assert_eq!(code_for(Reason::DefaultDeny), 0);
    }

    #[test]
    fn ipv4_exception_goes_back_with_the_request_ids() {
        // Timestamps on the request (12 option bytes), as Linux clients send them.
        let ts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        let frame = finish(
            ipv4(CLIENT, SERVER, tcp_opts(40000, 502, PSH_ACK, &ts, WRITE)).frame(),
            1000,
            5000,
        );
        let e = answered(&frame, Reason::ModbusAddress);
        assert_eq!(e.len(), 14 + 20 + 20 + 9);
        let p = packet(&e);
        assert_eq!((&p.src[..4], &p.dst[..4]), (&SERVER[..], &CLIENT[..]));
        assert_eq!((p.src_port, p.dst_port, p.tcp_flags), (502, 40000, PSH_ACK));
        assert_eq!(seq_ack(&e), (5000, 1000 + WRITE.len() as u32));
        assert_eq!(
            &e[54..],
            &[0x12, 0x34, 0, 0, 0, 3, 7, 0x86, 0x02],
            "same transaction, protocol and unit id; FC | 0x80; code 02"
        );
        assert_eq!(&e[..6], &frame[6..12], "to the client's MAC");
        assert_eq!(&e[6..12], &frame[..6]);
        assert_eq!(checksum(&e[14..34]), 0, "IPv4 header checksum");
        assert_eq!(tcp_checksum_residue(&e), 0, "TCP checksum");
    }

    #[test]
    fn ipv6_with_vlan_tags_and_an_extension_header() {
        let c = v6([0xfd00, 0x20, 0, 0, 0, 0, 0, 2]);
        let s = v6([0xfd00, 0x30, 0, 0, 0, 0, 0, 2]);
        let frame = with_vlans(
            &finish(
                ipv6(c, s, tcp(40000, 502, PSH_ACK, &[0, 9, 0, 0, 0, 2, 1, 0x2b]))
                    .ext(60, 8)
                    .frame(),
                0xffff_fffc,
                77,
            ),
            &[(ethertype::QINQ, 100), (ethertype::VLAN, 200)],
        );
        let e = answered(&frame, Reason::ModbusFunction);
        assert_eq!(e.len(), 22 + 40 + 20 + 9);
        assert_eq!(&e[12..22], &frame[12..22], "VLAN tags kept");
        let p = packet(&e);
        assert_eq!((p.src, p.dst, p.payload_len), (s, c, 9));
        assert_eq!(e[22 + 6], proto::TCP, "extension header dropped");
        assert_eq!(seq_ack(&e), (77, 4), "the acknowledgement wraps around");
        assert_eq!(&e[82..], &[0, 9, 0, 0, 0, 3, 1, 0xab, 0x01]);
        assert_eq!(tcp_checksum_residue(&e), 0);
    }

    #[test]
    fn no_exception_for_several_adus_a_split_or_a_short_frame() {
        let two = [WRITE, WRITE].concat();
        let frame = finish(
            ipv4(CLIENT, SERVER, tcp(1, 502, PSH_ACK, &two)).frame(),
            1,
            1,
        );
        let p = packet(&frame);
        assert_eq!(
            rewrite_frame(&mut frame.clone(), &p, Reason::ModbusAddress),
            None
        );
        let one = finish(
            ipv4(CLIENT, SERVER, tcp(1, 502, PSH_ACK, WRITE)).frame(),
            1,
            1,
        );
        let p = packet(&one);
        assert_eq!(
            rewrite_frame(&mut one.clone(), &p, Reason::ModbusSplit),
            None
        );
        // No ACK: nothing to answer with.
        let syn = ipv4(CLIENT, SERVER, tcp(1, 502, 0x08, WRITE)).frame();
        let p = packet(&syn);
        assert_eq!(
            rewrite_frame(&mut syn.clone(), &p, Reason::ModbusAddress),
            None
        );
        // An 8-byte request in a frame without options has no room for the 9-byte answer.
        let short = ipv4(
            CLIENT,
            SERVER,
            tcp(1, 502, PSH_ACK, &[0, 1, 0, 0, 0, 2, 1, 7]),
        )
        .frame();
        let p = packet(&short);
        assert_eq!(
            rewrite_frame(&mut short.clone(), &p, Reason::ModbusFunction),
            None
        );
        let mut longer = short.clone();
        longer.push(0);
        assert!(rewrite_frame(&mut longer, &p, Reason::ModbusFunction).is_some());
    }

    #[test]
    fn shifts_keep_the_checksum_right_and_blank_sack() {
        // NOP NOP TS(10) NOP NOP SACK(2 blocks, 18) = 34 -> pad to 36 with END.
        let mut opts = vec![1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 1, 1, 5, 18];
        opts.extend_from_slice(&[0, 0, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 0x30, 0, 0, 0, 0x40, 0]);
        opts.extend_from_slice(&[0, 0, 0, 0]);
        for frame in [
            ipv4(
                SERVER,
                CLIENT,
                tcp_opts(502, 40000, PSH_ACK, &opts, b"abcde"),
            )
            .frame(),
            with_vlans(
                &ipv6(
                    v6([0xfd00, 0x30, 0, 0, 0, 0, 0, 2]),
                    v6([0xfd00, 0x20, 0, 0, 0, 0, 0, 2]),
                    tcp_opts(502, 40000, 0x10, &opts, b""),
                )
                .frame(),
                &[(ethertype::VLAN, 5)],
            ),
        ] {
            let frame = finish(frame, 0xffff_fff0, 1000);
            let p = packet(&frame);
            let mut f = frame.clone();
            shift_frame(&mut f, &p, 9, 12u32.wrapping_neg()).expect("shifted");
            assert_eq!(seq_ack(&f), (0xffff_fff9, 988));
            assert_eq!(
                tcp_checksum_residue(&f),
                0,
                "checksum updated incrementally"
            );
            let l4 = p.l4_offset as usize;
            assert_eq!(&f[l4 + 20..l4 + 32], &opts[..12], "timestamps kept");
            assert_eq!(&f[l4 + 32..l4 + 56], &[1; 24], "SACK and the rest blanked");
            assert_eq!(
                &f[p.payload_offset as usize..],
                &frame[p.payload_offset as usize..]
            );
            // Back again: the original numbers.
            shift_frame(&mut f, &p, 9u32.wrapping_neg(), 12).expect("shifted");
            assert_eq!(seq_ack(&f), seq_ack(&frame));
            assert_eq!(tcp_checksum_residue(&f), 0);
            // Without timestamps first, every option byte becomes a NOP.
            let mut g = frame.clone();
            g[l4 + 22] = 3;
            g[l4 + 23] = 3;
            let g = finish(g, 5, 6);
            let mut h = g.clone();
            shift_frame(&mut h, &p, 1, 1).expect("shifted");
            assert_eq!(&h[l4 + 20..l4 + 56], &[1; 36]);
            assert_eq!(tcp_checksum_residue(&h), 0);
        }
    }

    #[test]
    fn without_ack_the_acknowledgement_number_stays() {
        let frame = finish(
            ipv4(CLIENT, SERVER, tcp(1, 502, tcp_flags::RST, b"")).frame(),
            50,
            60,
        );
        let mut f = frame.clone();
        shift_frame(&mut f, &packet(&frame), 100u32.wrapping_neg(), 9).expect("shifted");
        assert_eq!(seq_ack(&f), (50u32.wrapping_sub(100), 60));
        assert_eq!(tcp_checksum_residue(&f), 0);
    }
}
