//! Random IEC 104 byte streams, cut into random segments, through the stream walker with
//! the controlling-direction inspector.
//!
//! Input: `ctl`, 2 profile bytes, a cut list, then APDU chunks. With `ctl & 1` the chunks
//! become well-formed APDUs (I frames sized by the type table, S and U frames) so that the
//! judgement paths are reached; `ctl & 2` flips one byte.
//!
//! Checks against a reference that reads the stream whole, APDU by APDU, and says at which
//! byte it becomes invalid: every segment ending before that byte is allowed, the segment that
//! holds it is denied with the same violation, and a denial leaves cursor and session alone.
#![no_main]

use firewall_common::{
    iec104::{
        Control, HEAD_LEN, Head, Iec104Profile, Iec104Violation, START, check_control, read_head,
        session, type_id,
    },
    stream::{StreamCursor, walk},
};
use libfuzzer_sys::fuzz_target;

/// Longest segment: at most seven PDU heads fit, so the per-segment bound never decides.
const MAX_SEGMENT: usize = 36;

fn apdu(c: &[u8]) -> Vec<u8> {
    let kind = c[0] % 4;
    match kind {
        0 => vec![
            START,
            4,
            0x01,
            0,
            (c.get(1).copied().unwrap_or(0)) & 0xFE,
            0,
        ],
        1 => vec![
            START,
            4,
            [0x07, 0x13, 0x43, 0x83][usize::from(c[0] >> 4) % 4],
            0,
            0,
            0,
        ],
        _ => {
            let code = c.get(1).copied().unwrap_or(100);
            let count = c.get(2).copied().unwrap_or(1) % 3 + 1;
            let element = type_id(code).map_or(1, |t| usize::from(t.element.min(20)));
            let body = usize::from(count) * (3 + element);
            let mut f = vec![START, (4 + 6 + body) as u8, 0, 0, 0, 0, code, count];
            f.extend([c.get(3).copied().unwrap_or(6), 0]);
            f.extend(u16::from(c.get(4).copied().unwrap_or(1) % 4).to_le_bytes());
            f.resize(HEAD_LEN + body, 0);
            f
        }
    }
}

/// Where the whole stream becomes invalid: the byte at which its first bad APDU is decided.
fn reference(s: &[u8], p: &Iec104Profile) -> Option<(usize, Iec104Violation)> {
    let mut pos = 0;
    while pos < s.len() {
        let mut decided = false;
        for k in 1..=HEAD_LEN.min(s.len() - pos) {
            match read_head(&s[pos..pos + k], 0, k) {
                Ok(Head::Need(_)) => continue,
                Err(d) => return Some((pos + k - 1, d.kind)),
                Ok(Head::Apdu(a)) => {
                    if let Err(d) = check_control(&a, p, session::STARTED) {
                        return Some((pos + k - 1, d.kind));
                    }
                    pos += a.len;
                    decided = true;
                    break;
                }
            }
        }
        if !decided {
            return None;
        }
    }
    None
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let ctl = data[0];
    let mut p = Iec104Profile::read_only();
    p.type_ids.words[0] = u64::from(data[1]) << 45 | u64::from(data[2]) << 53;
    if ctl & 4 != 0 {
        p.allow_common_addresses(1, 2).unwrap();
    }
    let cuts = usize::from(data[3] % 32);
    let Some((cut_bytes, rest)) = data[4..].split_at_checked(cuts) else {
        return;
    };
    let mut stream: Vec<u8> = if ctl & 1 != 0 {
        rest.chunks(5).flat_map(apdu).collect()
    } else {
        rest.to_vec()
    };
    if ctl & 2 != 0 {
        zcfw_fuzz::corrupt(&mut stream, data[1], data[2], 5);
    }
    let bad = reference(&stream, &p);
    // Segment lengths: the cut list, then the rest in pieces no longer than the bound.
    let ends = zcfw_fuzz::segment_ends(cut_bytes, stream.len(), MAX_SEGMENT);
    let inspector = Control { profile: &p };
    let mut cursor = StreamCursor::default();
    let mut s = session::STARTED;
    let mut start = 0;
    for end in ends {
        let before = (cursor, s);
        let r = walk(
            &stream[..],
            start,
            end - start,
            &mut cursor,
            &mut s,
            &inspector,
        );
        match bad {
            Some((at, kind)) if at < end => {
                let d = r.expect_err("the segment holding the deciding byte must be denied");
                assert_eq!(d.kind, kind, "decided at byte {at}");
                assert_eq!((cursor, s), before, "a denial leaves the state alone");
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
});
