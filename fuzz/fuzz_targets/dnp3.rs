//! Random DNP3 byte streams, cut into random segments, through the byte walker.
//!
//! Input: `ctl`, 4 bytes of profile (function bitmap word 0, an address), a cut list, then
//! frame chunks. With `ctl & 1` the chunks are turned into well-formed frames (right CRCs,
//! lengths, DIR bit) so that the judgement paths are reached; `ctl & 2` flips one byte.
//!
//! Checks against a plain reference decoder that reads the whole stream at once and says at
//! which byte it becomes invalid: every segment that ends before that byte is allowed, the
//! segment that holds it is denied with the same violation, and an allowed stream leaves the
//! cursor between frames exactly when it ends on a frame boundary.
#![no_main]

use firewall_common::dnp3::{
    BLOCK_LEN, Dnp3Cursor, Dnp3Profile, Dnp3Violation, FIRST_RESERVED_ADDRESS, HEADER_LEN, crc_of,
    is_response, transport, walk,
};
use libfuzzer_sys::fuzz_target;

fn frame(control: u8, destination: u16, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x05, 0x64, (5 + data.len()) as u8, control];
    f.extend(destination.to_le_bytes());
    f.extend([1, 0]);
    f.extend(crc_of(&f).to_le_bytes());
    for block in data.chunks(BLOCK_LEN) {
        f.extend(block);
        f.extend(crc_of(block).to_le_bytes());
    }
    f
}

/// Where the whole stream becomes invalid (byte index and violation), and where its last
/// complete frame ends.
fn reference(s: &[u8], p: &Dnp3Profile) -> (Option<(usize, Dnp3Violation)>, usize) {
    use Dnp3Violation::*;
    let mut pos = 0;
    let mut fragment: Option<u8> = None;
    while pos < s.len() {
        let at = |i: usize| s.get(pos + i).copied();
        if at(0) != Some(0x05) {
            return (Some((pos, Malformed)), pos);
        }
        match at(1) {
            Some(0x64) => {}
            Some(_) => return (Some((pos + 1, Malformed)), pos),
            None => return (None, pos),
        }
        let Some(length) = at(2) else {
            return (None, pos);
        };
        if length < 5 {
            return (Some((pos + 2, Malformed)), pos);
        }
        if s.len() < pos + HEADER_LEN {
            return (None, pos);
        }
        let h = &s[pos..pos + HEADER_LEN];
        let last = pos + HEADER_LEN - 1;
        if crc_of(&h[..8]).to_le_bytes() != [h[8], h[9]] {
            return (Some((last, Crc)), pos);
        }
        let control = h[3];
        let destination = u16::from_le_bytes([h[4], h[5]]);
        if control & 0x80 == 0 {
            return (Some((last, Direction)), pos);
        }
        let allowed = if p.flags & 1 != 0 {
            destination < FIRST_RESERVED_ADDRESS
        } else {
            p.addresses
                .ranges
                .iter()
                .any(|r| r.first <= destination && destination <= r.last)
        };
        if !allowed {
            return (Some((last, Address)), pos);
        }
        let f = control & 0x0F;
        let data = if control & 0x40 != 0 {
            match f {
                3 | 4 => true,
                0 | 2 | 9 => false,
                _ => return (Some((last, Malformed)), pos),
            }
        } else {
            match f {
                0 | 1 | 11 | 15 => false,
                _ => return (Some((last, Malformed)), pos),
            }
        };
        if data != (length > 5) {
            return (Some((last, Malformed)), pos);
        }
        let mut i = pos + HEADER_LEN;
        let mut left = (length - 5) as usize;
        let mut n = 0usize; // user-data bytes read
        while left > 0 {
            let block = left.min(BLOCK_LEN);
            for k in 0..block {
                if i + k >= s.len() {
                    return (None, pos);
                }
                // The judgements of the transport octet and the function code.
                if n == 0 && s[i + k] & transport::FIR == 0 {
                    let t = s[i + k];
                    match fragment {
                        Some(next) if next == t & transport::SEQ => {}
                        _ => return (Some((i + k, Transport)), pos),
                    }
                    fragment =
                        (t & transport::FIN == 0).then_some(t.wrapping_add(1) & transport::SEQ);
                }
                let fir = s[i + k - n] & transport::FIR != 0;
                if fir && n < 2 && left - k == 1 {
                    return (Some((i + k, Malformed)), pos);
                }
                if fir && n == 2 {
                    let fc = s[i + k];
                    if is_response(fc) {
                        return (Some((i + k, Direction)), pos);
                    }
                    if !p.functions.contains(fc) {
                        return (Some((i + k, Function)), pos);
                    }
                    let t = s[i + k - 2];
                    fragment =
                        (t & transport::FIN == 0).then_some(t.wrapping_add(1) & transport::SEQ);
                }
                n += 1;
            }
            let Some(c) = s.get(i + block..i + block + 2) else {
                return (None, pos);
            };
            if crc_of(&s[i..i + block]).to_le_bytes() != [c[0], c[1]] {
                return (Some((i + block + 1, Crc)), pos);
            }
            i += block + 2;
            left -= block;
        }
        pos = i;
    }
    (None, pos)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let ctl = data[0];
    let mut p = Dnp3Profile::read_only();
    p.functions.words[0] |= u64::from(data[1]) << 1 | u64::from(data[2]) << 9;
    if ctl & 4 != 0 {
        let first = u16::from(data[3] & 0x0F);
        p.allow_addresses(first, first + u16::from(data[3] >> 4))
            .unwrap();
    }
    let cuts = (data[4] % 16) as usize;
    let Some((cut_bytes, rest)) = data[5..].split_at_checked(cuts) else {
        return;
    };
    let mut stream: Vec<u8> = if ctl & 1 != 0 {
        rest.chunks(24)
            .flat_map(|c| {
                let (control, dest, body) = (
                    c[0] | 0x80,
                    u16::from(c.get(1).copied().unwrap_or(0) & 0x1F),
                    c.get(2..).unwrap_or(&[]),
                );
                let control = if body.is_empty() {
                    (control & 0xF0) | [0, 2, 9][usize::from(c[0]) % 3]
                } else {
                    (control & 0xF0) | 0x40 | 3 + (c[0] & 1)
                };
                frame(control, dest, body)
            })
            .collect()
    } else {
        rest.to_vec()
    };
    if stream.len() > 2048 {
        return;
    }
    if ctl & 2 != 0 && !stream.is_empty() {
        let i = usize::from(data[3]) * 7 % stream.len();
        stream[i] ^= data[2] | 1;
    }
    let (bad, boundary) = reference(&stream, &p);
    let mut c = Dnp3Cursor::default();
    let mut start = 0;
    let mut ends: Vec<usize> = cut_bytes.iter().map(|b| usize::from(*b) * 3).collect();
    ends.sort_unstable();
    ends.push(stream.len());
    for end in ends {
        let end = end.clamp(start, stream.len());
        let before = c;
        let r = walk(&stream[..], start, end - start, &mut c, Some(&p));
        match bad {
            Some((at, kind)) if at < end => {
                let d = r.expect_err("the segment holding the bad byte must be denied");
                assert_eq!(d.kind, kind, "at byte {at}");
                assert_eq!(c, before, "a denial leaves the cursor alone");
                return;
            }
            _ => {
                r.unwrap_or_else(|d| {
                    panic!("segment {start}..{end} denied: {d:?}, reference {bad:?}")
                });
            }
        }
        start = end;
    }
    if bad.is_none() {
        assert_eq!(c.at_boundary(), boundary == stream.len());
    }
});
