//! Random OPC UA byte streams, cut into random segments, through the chunk walker of the
//! client's direction.
//!
//! Input: `ctl`, 2 profile bytes, a cut list, then chunk recipes. With `ctl & 1` the recipes
//! become well-formed chunks (Hello, OpenSecureChannel for standard, near-miss and overlong
//! policy URIs, requests with their type id in every NodeId encoding, chunked and aborted
//! messages, CloseSecureChannel, server-only messages); `ctl & 2` flips one byte; `ctl & 4`
//! starts from a flow picked up mid-stream.
//!
//! Checks against a plain reference that reads the stream whole, chunk by chunk, and says at
//! which byte it becomes invalid: every segment ending before that byte is allowed, the
//! segment that holds it is denied with the same violation, and a denial leaves cursor and
//! session alone.
#![no_main]

use firewall_common::{
    opcua::{
        MAX_CHUNK_BYTES, MAX_POLICY_URI, MIN_CHUNK, OpcuaCursor, OpcuaProfile, OpcuaViolation,
        POLICIES, POLICY_NONE, profile_flags, service_named, service_of, session, walk,
    },
    pktgen::opcua::{self as ua, Encoding},
};
use libfuzzer_sys::fuzz_target;

/// Longest segment (the walker's own bound, 2,048, never decides).
const MAX_SEGMENT: usize = 64;

fn chunk(c: &[u8]) -> Vec<u8> {
    let at = |i: usize| c.get(i).copied().unwrap_or(0);
    let ids = [
        631u32, 673, 712, 527, 461, 467, 826, 488, 12208, 446, 77, 99_999,
    ];
    let encodings = [Encoding::FourByte, Encoding::Numeric, Encoding::TwoByte];
    match at(0) % 10 {
        0 => ua::hello(),
        1 => {
            let names = [
                "None",
                "Basic256Sha256",
                "Basic256",
                "Aes256_Sha256_RsaPss",
                "Basic128Rsa15",
            ];
            ua::open(names[usize::from(at(1)) % names.len()])
        }
        2 => {
            let mut uri =
                ua::policy_uri(POLICIES[usize::from(at(1)) % POLICIES.len()].name).into_bytes();
            match at(2) % 4 {
                0 => uri.push(b' '),
                1 => {
                    let i = usize::from(at(3)) % uri.len();
                    uri[i] ^= 0x20;
                }
                2 => {
                    uri.pop();
                }
                _ => uri.resize(MAX_POLICY_URI + 1, b'x'),
            }
            ua::open_uri(&uri, usize::from(at(4) % 2) * 30, 8)
        }
        3 | 4 => {
            let id = ids[usize::from(at(1)) % ids.len()];
            ua::request_as(
                encodings[usize::from(at(2)) % 3],
                id,
                u32::from(at(3) % 4),
                usize::from(at(4) % 12),
            )
        }
        5 => ua::chunked(
            ids[usize::from(at(1)) % ids.len()],
            u32::from(at(2) % 3),
            20 + usize::from(at(3)),
            10 + usize::from(at(4) % 40),
        ),
        6 => ua::msg_chunk(
            [b'A', b'C', b'F'][usize::from(at(1)) % 3],
            u32::from(at(2) % 3),
            &c[3.min(c.len())..],
        ),
        7 => ua::close(1),
        8 => [
            ua::acknowledge(),
            ua::chunk(b"ERR", b'F', &[0; 8]),
            ua::chunk(b"RHE", b'F', &[0; 8]),
        ][usize::from(at(1)) % 3]
            .clone(),
        _ => ua::msg_chunk(b'F', 1, &c[1.min(c.len())..]),
    }
}

/// Where the whole client stream becomes invalid: (byte, violation).
fn reference(s: &[u8], p: &OpcuaProfile, picked_up: bool) -> Option<(usize, OpcuaViolation)> {
    use OpcuaViolation::*;
    let (mut hello, mut open, mut closed) = (picked_up, picked_up, false);
    let mut policy: Option<u8> = None;
    let mut open_message: Option<u32> = None;
    let u32_at = |i: usize| Some(u32::from_le_bytes(s.get(i..i + 4)?.try_into().ok()?));
    let mut pos = 0;
    while pos < s.len() {
        let kind = match s.get(pos..pos + 3)? {
            b"HEL" => 0,
            b"ACK" | b"ERR" | b"RHE" => return Some((pos + 2, Direction)),
            b"OPN" => 4,
            b"MSG" => 5,
            b"CLO" => 6,
            _ => return Some((pos + 2, Malformed)),
        };
        let ct = *s.get(pos + 3)?;
        if !(ct == b'F' || kind == 5 && (ct == b'C' || ct == b'A')) {
            return Some((pos + 3, Malformed));
        }
        let size = u32_at(pos + 4)?;
        if size < MIN_CHUNK[kind] || size > MAX_CHUNK_BYTES {
            return Some((pos + 7, Malformed));
        }
        let end = pos + size as usize;
        let last = end - 1;
        match kind {
            0 => {
                if hello || open {
                    return Some((pos + 7, Channel));
                }
                hello = true;
            }
            4 => {
                if !hello || closed {
                    return Some((pos + 7, Channel));
                }
                let len = u32_at(pos + 12)?;
                if len == 0 || len as usize > MAX_POLICY_URI {
                    return Some((pos + 15, SecurityPolicy));
                }
                let len = len as usize;
                if len > size as usize - 16 {
                    return Some((pos + 15, Malformed));
                }
                let uris: Vec<String> = POLICIES.iter().map(|p| ua::policy_uri(p.name)).collect();
                let mut cands: Vec<usize> = (0..POLICIES.len())
                    .filter(|i| uris[*i].len() == len)
                    .collect();
                if cands.is_empty() {
                    return Some((pos + 15, SecurityPolicy));
                }
                for j in 0..len {
                    let byte = *s.get(pos + 16 + j)?;
                    cands.retain(|i| uris[*i].as_bytes()[j] == byte);
                    if cands.is_empty() {
                        return Some((pos + 16 + j, SecurityPolicy));
                    }
                }
                let chosen = cands[0] as u8;
                if !p.allows_policy(chosen) {
                    return Some((pos + 15 + len, SecurityPolicy));
                }
                if policy.is_some_and(|was| was != chosen) {
                    return Some((pos + 15 + len, Channel));
                }
                open = true;
                policy = Some(chosen);
            }
            5 => {
                if !open || closed {
                    return Some((pos + 7, Channel));
                }
                if p.judges_bodies(policy) {
                    let request = u32_at(pos + 20)?;
                    if let Some(r) = open_message {
                        if r != request {
                            return Some((pos + 23, Channel));
                        }
                        if ct != b'C' {
                            open_message = None;
                        }
                    } else if ct == b'A' {
                        return Some((pos + 23, Channel));
                    } else {
                        if end <= pos + 24 {
                            return Some((last, Malformed));
                        }
                        let enc = *s.get(pos + 24)?;
                        let unreadable = if policy == Some(POLICY_NONE) {
                            Service
                        } else {
                            Encrypted
                        };
                        if enc > 2 {
                            return Some((pos + 24, unreadable));
                        }
                        let (ns_len, id_len) = [(0, 1), (1, 2), (2, 4)][usize::from(enc)];
                        let decisive = pos + 24 + ns_len + id_len;
                        if decisive >= end {
                            return Some((last, Malformed));
                        }
                        let field = |from: usize, n: usize| {
                            (0..n).try_fold(0u32, |v, k| {
                                Some(v | u32::from(*s.get(from + k)?) << (8 * k))
                            })
                        };
                        let ns = field(pos + 25, ns_len)?;
                        let id = field(pos + 25 + ns_len, id_len)?;
                        if ns != 0 {
                            return Some((decisive, unreadable));
                        }
                        let Some(service) = service_of(id) else {
                            return Some((decisive, unreadable));
                        };
                        if !p.allows_service(service) {
                            return Some((decisive, Service));
                        }
                        if ct == b'C' {
                            open_message = Some(request);
                        }
                    }
                }
            }
            _ => {
                if !open || closed {
                    return Some((pos + 7, Channel));
                }
                closed = true;
            }
        }
        pos = end;
    }
    None
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let ctl = data[0];
    let mut p = OpcuaProfile::new();
    let (a, b) = (data[1], data[2]);
    p.policies = a & 0x3F;
    if a & 0x40 != 0 {
        p.allow_read_only();
    }
    if b & 1 != 0 {
        p.restrict_services();
    }
    for (bit, name) in ["write", "call", "add_nodes"].into_iter().enumerate() {
        if b & 2 << bit != 0 {
            p.allow_service(service_named(name).unwrap());
        }
    }
    if b & 0x10 != 0 {
        p.flags |= profile_flags::ENCRYPTED_PASS;
    }
    let cuts = usize::from(data[3] % 32);
    let Some((cut_bytes, rest)) = data[4..].split_at_checked(cuts) else {
        return;
    };
    let mut stream: Vec<u8> = if ctl & 1 != 0 {
        rest.chunks(5).flat_map(chunk).collect()
    } else {
        rest.to_vec()
    };
    if ctl & 2 != 0 {
        zcfw_fuzz::corrupt(&mut stream, data[1], data[2], 7);
    }
    let picked_up = ctl & 4 != 0;
    let bad = reference(&stream, &p, picked_up);
    let ends = zcfw_fuzz::segment_ends(cut_bytes, stream.len(), MAX_SEGMENT);
    let mut cursor = OpcuaCursor::default();
    let mut s = if picked_up { session::PICKED_UP } else { 0 };
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
