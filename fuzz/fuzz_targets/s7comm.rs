//! Random S7comm byte streams (TPKT, COTP, S7), cut into random segments, through the byte
//! walker of the client's direction.
//!
//! Input: `ctl`, 2 profile bytes, a cut list, then TPDU chunks. With `ctl & 1` the chunks
//! become well-formed TPDUs (connection requests, jobs with items, userdata requests, jobs
//! split over data TPDUs, PI service jobs with known, unknown and overlong names and
//! parameter blocks, S7comm-plus, disconnects) so that the judgement paths are reached;
//! `ctl & 2` flips one byte.
//!
//! Checks against a plain reference that reads the stream whole, TPDU by TPDU, joins the data
//! TPDUs of each S7 PDU and judges the joined PDU, and says at which byte the stream becomes
//! invalid: every segment ending before that byte is allowed, the segment that holds it is
//! denied with the same violation, and a denial leaves cursor and session alone.
#![no_main]

use firewall_common::{
    pktgen::s7comm as tp,
    s7comm::{
        PI_SERVICES, S7Cursor, S7Profile, S7Violation, pi_service_named, profile_flags, walk,
    },
};
use libfuzzer_sys::fuzz_target;

/// Longest segment (the walker's own bound, 2,048, never decides).
const MAX_SEGMENT: usize = 64;

fn tpdus(c: &[u8]) -> Vec<u8> {
    let at = |i: usize| c.get(i).copied().unwrap_or(0);
    let functions = [0xF0, 0x04, 0x05, 0x29, 0x28, 0x1A, 0x1B, 0x00];
    match at(0) % 8 {
        0 => tp::connection_request(0x0100 | u16::from(at(1) % 4)),
        1 => {
            let f = functions[usize::from(at(1)) % functions.len()];
            let pdu = match f {
                0x04 => tp::read_var(&[
                    tp::item(
                        [0x84, 0x83, 0x81][usize::from(at(2)) % 3],
                        u16::from(at(3) % 4),
                        0,
                        2,
                    ),
                    tp::item(0x84, u16::from(at(4) % 4), 0, 2),
                ]),
                0x05 => tp::write_var(
                    [0x84, 0x83][usize::from(at(2)) % 2],
                    u16::from(at(3) % 4),
                    0,
                    &[1, 2],
                ),
                _ => tp::job(&[f, 0, 0, 0, 0, 0, 0, 0], &[]),
            };
            tp::dt(&pdu, true)
        }
        2 => tp::dt(&tp::userdata(at(1) % 16, at(2) % 8, &[0, 0x11, 0, 0]), true),
        3 => {
            let pdu = tp::job(
                &[functions[usize::from(at(1)) % functions.len()], 0, 0, 0],
                &[1],
            );
            let cut = 1 + usize::from(at(2)) % (pdu.len() - 1);
            [tp::dt(&pdu[..cut], false), tp::dt(&pdu[cut..], true)].concat()
        }
        4 => tp::dt(&tp::plus(&[0x31, 0, at(1), 4]), true),
        5 => tp::dt(&tp::ack_data(&[0x1B, 0], &[0, 4, 1, 2]), true),
        6 => {
            let names: [&[u8]; 8] = [
                b"_GARB",
                b"P_PROGRAM",
                b"_DELE",
                b"_N_LOGIN_",
                b"_GARC",
                b"_garb",
                b"ABCDEFGHIJK",
                b"",
            ];
            let blocks: [&[u8]; 3] = [b"", b"C ", b"EP"];
            let mut pdu = tp::pi_service_with(
                blocks[usize::from(at(2)) % 3],
                names[usize::from(at(1)) % names.len()],
            );
            if at(3) & 3 == 0 {
                // A length that does not add up: the block's or the name's.
                let i = if at(3) & 4 != 0 { 19 } else { pdu.len() - 1 };
                pdu[i] = pdu[i].wrapping_add(1);
            }
            if at(3) & 8 != 0 {
                let cut = 1 + usize::from(at(4)) % (pdu.len() - 1);
                [tp::dt(&pdu[..cut], false), tp::dt(&pdu[cut..], true)].concat()
            } else {
                tp::dt(&pdu, true)
            }
        }
        _ => tp::tpkt(&[6, 0x80, 0, 1, 0, 1, 0]),
    }
}

/// Where the whole stream becomes invalid for a client: (byte, violation).
fn reference(s: &[u8], p: &S7Profile) -> Option<(usize, S7Violation)> {
    use S7Violation::*;
    let b = |i: usize| s.get(i).copied();
    let mut download = false;
    // The open S7 PDU: its octets and their stream positions.
    let mut pdu: Vec<u8> = Vec::new();
    let mut at: Vec<usize> = Vec::new();
    let mut pos = 0;
    while pos < s.len() {
        if b(pos)? != 3 {
            return Some((pos, Malformed));
        }
        if b(pos + 1)? != 0 {
            return Some((pos + 1, Malformed));
        }
        let len = usize::from(b(pos + 2)?) << 8 | usize::from(b(pos + 3)?);
        if len < 7 {
            return Some((pos + 3, Malformed));
        }
        let li = usize::from(b(pos + 4)?);
        if li < 2 || li + 5 > len {
            return Some((pos + 4, Malformed));
        }
        let ty = b(pos + 5)?;
        let whole = li + 5 == len;
        if !pdu.is_empty() && ty != 0xF0 {
            return Some((pos + 5, Malformed));
        }
        if ty == 0xD0 {
            return Some((pos + 5, Direction));
        }
        let ok = match ty {
            0xF0 => li == 2 && !whole,
            0xE0 => li >= 6 && whole,
            0x80 => li >= 6,
            0xC0 => li >= 5 && whole,
            0x70 => li >= 4,
            _ => false,
        };
        if !ok {
            return Some((pos + 5, Malformed));
        }
        let last = pos + 4 + li;
        if ty == 0xE0 {
            // Parameters after the fixed part, the called TSAP.
            let mut k = pos + 11;
            let mut tsap: Option<Option<u16>> = None;
            while k <= last {
                let code = b(k)?;
                if k == last {
                    return Some((k, Malformed));
                }
                let plen = usize::from(b(k + 1)?);
                if k + 1 + plen > last {
                    return Some((k + 1, Malformed));
                }
                if code == 0xC2 {
                    if tsap.is_some() {
                        return Some((k + 1, Malformed));
                    }
                    tsap = Some(if plen == 2 {
                        Some(u16::from(b(k + 2)?) << 8 | u16::from(b(k + 3)?))
                    } else {
                        None
                    });
                }
                k += 2 + plen;
            }
            b(last)?;
            if !p.allows_tsap(tsap.flatten()) {
                return Some((last, Tsap));
            }
        }
        let end = pos + len;
        if ty == 0xF0 {
            let eot = b(pos + 6)? & 0x80 != 0;
            for i in pos + 7..end.min(s.len()) {
                pdu.push(s[i]);
                at.push(i);
            }
            if let Some((o, v)) = judge(&pdu, p, &mut download) {
                return Some((at[o], v));
            }
            if end > s.len() {
                return None;
            }
            if eot {
                if !complete(&pdu) {
                    return Some((end - 1, Malformed));
                }
                pdu.clear();
                at.clear();
            }
        }
        pos = end;
    }
    None
}

fn header_len(rosctr: u8) -> usize {
    if rosctr == 2 || rosctr == 3 { 12 } else { 10 }
}

/// Whether the joined PDU is as long as its header says (S7comm-plus: always).
fn complete(pdu: &[u8]) -> bool {
    if pdu.first() == Some(&0x72) {
        return true;
    }
    if pdu.len() < 10 {
        return false;
    }
    let pl = usize::from(pdu[6]) << 8 | usize::from(pdu[7]);
    let dl = usize::from(pdu[8]) << 8 | usize::from(pdu[9]);
    pdu.len() == header_len(pdu[1]) + pl + dl && pdu.len() >= header_len(pdu[1])
}

/// The first offset of the (partial) joined PDU at which it is denied.
fn judge(pdu: &[u8], p: &S7Profile, download: &mut bool) -> Option<(usize, S7Violation)> {
    use S7Violation::*;
    let g = |o: usize| pdu.get(o).copied();
    match g(0)? {
        0x32 => {}
        0x72 if p.flags & profile_flags::S7COMM_PLUS != 0 => return None,
        0x72 => return Some((0, Plus)),
        _ => return Some((0, Malformed)),
    }
    let rosctr = g(1)?;
    match rosctr {
        1 | 7 => {}
        3 if *download => {}
        2 | 3 => return Some((1, Direction)),
        _ => return Some((1, Malformed)),
    }
    g(9)?;
    let hdr = header_len(rosctr);
    let pl = usize::from(pdu[6]) << 8 | usize::from(pdu[7]);
    let dl = usize::from(pdu[8]) << 8 | usize::from(pdu[9]);
    let total = hdr + pl + dl;
    let min = match rosctr {
        1 => 1,
        7 => 8,
        _ => 0,
    };
    if total > 0xFFFF || pl < min {
        return Some((9, Malformed));
    }
    if pdu.len() > total {
        // Checked octet by octet, so only after the earlier octets' judgements below.
    }
    for o in 10..pdu.len() {
        if o >= total {
            return Some((o, Malformed));
        }
        if o < hdr || o >= hdr + pl {
            continue;
        }
        let q = o - hdr;
        let byte = pdu[o];
        if rosctr == 7 {
            match q {
                0 | 1 | 2 if byte != [0, 1, 0x12][q] => return Some((o, Malformed)),
                3 if usize::from(byte) + 4 != pl => return Some((o, Malformed)),
                5 if !matches!(byte >> 4, 4 | 7) => return Some((o, Direction)),
                6 if !p.allows_userdata(pdu[o - 1] & 0x0F, byte) => return Some((o, Function)),
                _ => {}
            }
            continue;
        }
        if rosctr != 1 {
            continue;
        }
        let f = pdu[hdr];
        if q == 0 {
            if !p.allows_function(byte) {
                return Some((o, Function));
            }
            if byte == 0x1A {
                *download = true;
            }
            if byte == 0x28 && p.flags & profile_flags::RESTRICT_PI != 0 && pl == 1 {
                return Some((o, Function));
            }
            continue;
        }
        if f == 0x28 && p.flags & profile_flags::RESTRICT_PI != 0 {
            if let Some(v) = pi(&pdu[hdr..], pl, q, p) {
                return Some((o, v));
            }
            continue;
        }
        if !(f == 4 || f == 5) || p.flags & profile_flags::RESTRICT_ITEMS == 0 {
            continue;
        }
        if q == 1 {
            if byte == 0 || pl != 2 + 12 * usize::from(byte) {
                return Some((o, Address));
            }
            continue;
        }
        match (q - 2) % 12 {
            0 if byte != 0x12 => return Some((o, Malformed)),
            1 if byte != 10 => return Some((o, Address)),
            2 if byte != 0x10 => return Some((o, Address)),
            8 => {
                let db = u16::from(pdu[o - 2]) << 8 | u16::from(pdu[o - 1]);
                if !p.allows_item(byte, db) {
                    return Some((o, Address));
                }
            }
            _ => {}
        }
    }
    None
}

/// A walked PI job's parameter octet `q` (of `pl`; `params` holds at least 0..=q): its
/// layout (7 unknown octets, block length, block, name length, name ending the parameters)
/// and its name compared whole with the table's wire names.
fn pi(params: &[u8], pl: usize, q: usize, p: &S7Profile) -> Option<S7Violation> {
    use S7Violation::*;
    let last = q + 1 == pl;
    if q <= 8 {
        return last.then_some(Function);
    }
    let block = usize::from(params[8]) << 8 | usize::from(params[9]);
    if q == 9 {
        if last {
            return Some(Function);
        }
        return (block + 1 > pl - 10).then_some(Malformed);
    }
    let lq = 10 + block;
    if q < lq {
        return None;
    }
    let n = usize::from(params[lq]);
    if q == lq {
        if n != pl - q - 1 {
            return Some(Malformed);
        }
        return (n == 0 || n > 10).then_some(Function);
    }
    let byte = params[q];
    if !(byte.is_ascii_digit() || byte.is_ascii_uppercase() || byte == b'_') {
        return Some(Function);
    }
    if q == lq + n {
        let name = &params[lq + 1..=q];
        return match PI_SERVICES.iter().position(|s| s.wire.as_bytes() == name) {
            Some(i) if p.allows_pi_service(i as u8) => None,
            _ => Some(Function),
        };
    }
    None
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let ctl = data[0];
    let mut p = S7Profile::read_only();
    let (a, b) = (data[1], data[2]);
    for (bit, code) in [0x05u8, 0x29, 0x28, 0x1A, 0x00].into_iter().enumerate() {
        if a & 1 << bit != 0 {
            p.allow_function(code);
        }
    }
    if a & 0x20 != 0 {
        p.flags |= profile_flags::S7COMM_PLUS;
    }
    if a & 0x40 != 0 {
        p.allow_tsaps(0x0101, 0x0102).unwrap();
    }
    if a & 0x80 != 0 {
        p.allow_userdata(b >> 4, u32::from(b) << 1);
    }
    if b & 1 != 0 {
        p.restrict_areas(1 << 4 | u16::from(b & 2) << 2);
    }
    if b & 4 != 0 {
        p.allow_db_numbers(1, 2).unwrap();
    }
    if b & 8 != 0 {
        p.allow_pi_service(pi_service_named("compress").unwrap());
    }
    if b & 16 != 0 {
        p.allow_pi_service(pi_service_named("_N_LOGIN_").unwrap());
    }
    let cuts = usize::from(data[3] % 32);
    let Some((cut_bytes, rest)) = data[4..].split_at_checked(cuts) else {
        return;
    };
    let mut stream: Vec<u8> = if ctl & 1 != 0 {
        rest.chunks(5).flat_map(tpdus).collect()
    } else {
        rest.to_vec()
    };
    if ctl & 2 != 0 {
        zcfw_fuzz::corrupt(&mut stream, data[1], data[2], 7);
    }
    let bad = reference(&stream, &p);
    let ends = zcfw_fuzz::segment_ends(cut_bytes, stream.len(), MAX_SEGMENT);
    let mut cursor = S7Cursor::default();
    let mut s = 0u8;
    let mut start = 0;
    for end in ends {
        let before = (cursor, s);
        let r = walk(
            &stream[..],
            start,
            end - start,
            &mut cursor,
            &mut s,
            Some(&p),
        );
        match bad {
            Some((at, kind)) if at < end => {
                let d = r.expect_err("the segment holding the deciding byte must be denied");
                assert_eq!(d.kind, kind, "decided at byte {at}: {stream:02x?}");
                assert_eq!((cursor, s), before, "a denial leaves the state alone");
                return;
            }
            _ => {
                r.unwrap_or_else(|d| {
                    panic!("segment {start}..{end} denied: {d:?}, reference {bad:?}: {stream:02x?}")
                });
            }
        }
        start = end;
    }
});
