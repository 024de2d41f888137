//! Random EtherNet/IP byte streams (encapsulation, CPF, CIP requests nested in Unconnected
//! Send and Multiple Service Packet), cut into random segments, through the byte walker of
//! both directions.
//!
//! Input: `ctl`, 2 profile bytes, a cut list, then PDU chunks. With `ctl & 1` the chunks
//! become well-formed PDUs (session commands, reads and writes, directly and nested, some
//! too deep, connected messaging) so that the judgement paths are reached; `ctl & 2` flips
//! one byte; `ctl & 4` walks the server's direction.
//!
//! Checks the walker against itself fed one byte at a time: the byte at which the stream
//! becomes invalid is found octet by octet, then every segment ending before it must pass,
//! the segment that holds it must be denied with the same violation, and a denial leaves
//! cursor, session and the flow's open connections alone. `profile[0] & 0x80` opens the
//! connection 0x1234 beforehand; the server's direction opens connections from Forward_Open
//! replies.
#![no_main]

use firewall_common::{
    enip::{EnipConnections, EnipCursor, EnipProfile, EnipViolation, Target, session, walk},
    pktgen::enip as tp,
};
use libfuzzer_sys::fuzz_target;

/// Longest segment (the walker's own bound, 2,048, never decides).
const MAX_SEGMENT: usize = 64;

fn request(c: &[u8]) -> Vec<u8> {
    let at = |i: usize| c.get(i).copied().unwrap_or(0);
    match at(0) % 6 {
        0 => tp::get_attribute_single(u16::from(at(1) % 8), 1, u16::from(at(2))),
        1 => tp::read_tag(["A", "Counter", "Speed"][usize::from(at(1)) % 3], 1),
        2 => tp::set_attribute_single(1, 1, u16::from(at(1) % 8), &[at(2)]),
        3 => tp::write_tag_dint("A", i32::from(at(1))),
        4 => tp::reset_identity(),
        _ => tp::request(
            at(1),
            &tp::logical_path(u16::from(at(2)), 1, None),
            &[at(3)],
        ),
    }
}

fn nested(c: &[u8], depth: u8) -> Vec<u8> {
    let at = |i: usize| c.get(i).copied().unwrap_or(0);
    if depth == 0 || at(0) % 3 == 0 {
        return request(&c[c.len().min(1)..]);
    }
    let rest = &c[c.len().min(2)..];
    match at(0) % 3 {
        1 => tp::unconnected_send(&nested(rest, depth - 1)),
        _ => {
            let n = 1 + usize::from(at(1) % 3);
            let parts: Vec<Vec<u8>> = (0..n)
                .map(|i| nested(&rest[rest.len().min(i)..], depth - 1))
                .collect();
            tp::multiple_service_packet(&parts)
        }
    }
}

fn pdus(c: &[u8], server: bool) -> Vec<u8> {
    let at = |i: usize| c.get(i).copied().unwrap_or(0);
    if server {
        return match at(0) % 4 {
            0 => tp::send_rr(&tp::reply(at(1), at(2), &[at(3)])),
            1 => tp::encap(at(1) % 0x71, tp::SESSION, &c[c.len().min(2)..]),
            2 => tp::send_rr(&tp::forward_open_reply(u32::from(at(1) % 4), 9)),
            _ => tp::send_unit(1, 1, &tp::reply(at(1), 0, &[])),
        };
    }
    match at(0) % 6 {
        0 => tp::register_session(),
        1 => tp::list_identity(),
        2 => tp::send_unit(
            [0x1234, 0x1235, 0][usize::from(at(2)) % 3],
            u16::from(at(1)),
            &nested(&c[1..], 3),
        ),
        3 => tp::unregister_session(),
        _ => tp::send_rr(&nested(&c[1..], 3)),
    }
}

/// The byte at which the stream becomes invalid, walked one octet at a time.
fn reference(
    s: &[u8],
    p: Option<&EnipProfile>,
    bits: u8,
    conns: EnipConnections,
) -> Option<(usize, EnipViolation)> {
    let mut c = EnipCursor::default();
    let mut bits = bits;
    let mut conns = conns;
    for i in 0..s.len() {
        if let Err(d) = walk(s, i, 1, &mut c, &mut bits, &mut conns, p) {
            return Some((i, d.kind));
        }
    }
    None
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let ctl = data[0];
    let server = ctl & 4 != 0;
    let mut p = EnipProfile::read_only();
    let (a, b) = (data[1], data[2]);
    for (bit, code) in [0x10u8, 0x4D, 0x05, 0x54].into_iter().enumerate() {
        if a & 1 << bit != 0 {
            let target = if code == 0x54 {
                Target::ConnectionManager
            } else if code == 0x4D {
                Target::Tag
            } else {
                Target::Any
            };
            p.allow_service(code, target);
        }
    }
    if a & 0x10 != 0 {
        p.allow_command(0x70);
    }
    if a & 0x20 != 0 {
        p.allow_classes(1, u16::from(b % 8)).ok();
    }
    let bits = if a & 0x40 != 0 {
        session::REGISTERED
    } else {
        0
    };
    // Connection 0x1234 opened by an earlier Forward_Open reply (0x1235 never is).
    let mut conns = EnipConnections::default();
    if a & 0x80 != 0 {
        conns.open(0x1234);
    }
    let cuts = usize::from(data[3] % 32);
    let Some((cut_bytes, rest)) = data[4..].split_at_checked(cuts) else {
        return;
    };
    let mut stream: Vec<u8> = if ctl & 1 != 0 {
        rest.chunks(7).flat_map(|c| pdus(c, server)).collect()
    } else {
        rest.to_vec()
    };
    if ctl & 2 != 0 {
        zcfw_fuzz::corrupt(&mut stream, data[1], data[2], 7);
    }
    let profile = if server { None } else { Some(&p) };
    let bad = reference(&stream, profile, bits, conns);
    let ends = zcfw_fuzz::segment_ends(cut_bytes, stream.len(), MAX_SEGMENT);
    let mut cursor = EnipCursor::default();
    let mut s = bits;
    let mut start = 0;
    for end in ends {
        if end == start {
            continue;
        }
        let before = (cursor, s, conns);
        let r = walk(
            &stream[..],
            start,
            end - start,
            &mut cursor,
            &mut s,
            &mut conns,
            profile,
        );
        match bad {
            Some((at, kind)) if at < end => {
                let d = r.expect_err("the segment holding the deciding byte must be denied");
                assert_eq!(d.kind, kind, "decided at byte {at}: {stream:02x?}");
                assert_eq!(
                    (cursor, s, conns),
                    before,
                    "a denial leaves the state alone"
                );
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
