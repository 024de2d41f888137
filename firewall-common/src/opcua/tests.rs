//! The chunk walker on streams laid out as asyncua sends them, cut at every byte, with
//! chunked messages, re-encoded type ids, wrong orders and directions, and bodies that are
//! encrypted.

use alloc::{vec, vec::Vec};

use super::*;
use crate::pktgen::opcua::{self as ua, Encoding, ids};

/// `None` and Basic256Sha256 channels, `read_only` services.
fn read_only() -> OpcuaProfile {
    let mut p = OpcuaProfile::new();
    p.allow_policy(policy_named("None").unwrap());
    p.allow_policy(policy_named("Basic256Sha256").unwrap());
    p.allow_read_only();
    p
}

/// Walks `segments` in order from a fresh flow (or `session`); every result, the cursor.
fn walk_all(
    segments: &[&[u8]],
    profile: Option<&OpcuaProfile>,
    session: &mut u8,
) -> (Vec<Result<(), OpcuaDenial>>, OpcuaCursor) {
    let mut c = OpcuaCursor::default();
    let r = segments
        .iter()
        .map(|s| walk(*s, 0, s.len(), &mut c, session, profile))
        .collect();
    (r, c)
}

/// The first denial of the client's stream `s` walked whole, from a fresh flow.
fn client(s: &[u8], p: &OpcuaProfile) -> Result<(), OpcuaDenial> {
    let mut bits = 0;
    let mut c = OpcuaCursor::default();
    for part in s.chunks(MAX_SEGMENT_BYTES) {
        walk(part, 0, part.len(), &mut c, &mut bits, Some(p))?;
    }
    Ok(())
}

fn kind(r: Result<(), OpcuaDenial>) -> Option<OpcuaViolation> {
    r.err().map(|d| d.kind)
}

fn with(mut s: Vec<u8>, more: &[Vec<u8>]) -> Vec<u8> {
    for m in more {
        s.extend_from_slice(m);
    }
    s
}

#[test]
fn a_read_only_session_passes_and_writes_calls_and_node_changes_do_not() {
    let p = read_only();
    let ok = with(
        ua::session("None"),
        &[
            ua::request(ids::READ, 3),
            ua::request(ids::BROWSE, 4),
            ua::request(ids::PUBLISH, 5),
            ua::close(6),
        ],
    );
    assert_eq!(client(&ok, &p), Ok(()));
    for (id, index) in [
        (ids::WRITE, "write"),
        (ids::CALL, "call"),
        (ids::ADD_NODES, "add_nodes"),
    ] {
        let s = with(ua::session("None"), &[ua::request(id, 3)]);
        let d = client(&s, &p).unwrap_err();
        assert_eq!(d.kind, OpcuaViolation::Service);
        assert_eq!(service_name(d.code), Some(index));
        assert_eq!((d.id, d.message), (id as u16, message::MSG));
        assert_eq!(
            d.known,
            crate::event::detail::SCOPE
                | crate::event::detail::CODE
                | crate::event::detail::ADDRESS
        );
    }
}

#[test]
fn a_write_is_a_write_in_every_node_id_encoding() {
    let p = read_only();
    for encoding in [Encoding::FourByte, Encoding::Numeric] {
        let s = with(
            ua::session("None"),
            &[ua::request_as(encoding, ids::WRITE, 3, 40)],
        );
        let d = client(&s, &p).unwrap_err();
        assert_eq!(
            (d.kind, d.id),
            (OpcuaViolation::Service, 673),
            "{encoding:?}"
        );
        let s = with(
            ua::session("None"),
            &[ua::request_as(encoding, ids::READ, 3, 40)],
        );
        assert_eq!(client(&s, &p), Ok(()), "{encoding:?}");
    }
    // No service has an id below 256, in another namespace, or a string NodeId.
    for body in [
        ua::node_id(Encoding::TwoByte, 0, 0x77),
        ua::node_id(Encoding::FourByte, 1, 631),
        ua::node_id(Encoding::Numeric, 2, 631),
        vec![0x03, 0, 0, 4, 0, 0, 0, b'R', b'e', b'a', b'd'],
        vec![0x41, 0, 0x77, 0x02, 0, 0, 0, 0, 0, 0],
    ] {
        let s = with(ua::session("None"), &[ua::msg_chunk(b'F', 3, &body)]);
        assert_eq!(
            kind(client(&s, &p)),
            Some(OpcuaViolation::Service),
            "{body:02x?}"
        );
    }
}

#[test]
fn security_policies_are_matched_whole_on_every_open() {
    let mut only_sha = OpcuaProfile::new();
    only_sha.allow_policy(policy_named("Basic256Sha256").unwrap());
    let mut s = ua::hello();
    s.extend(ua::open("None"));
    let d = client(&s, &only_sha).unwrap_err();
    assert_eq!(
        (d.kind, d.code),
        (OpcuaViolation::SecurityPolicy, POLICY_NONE)
    );
    let mut s = ua::hello();
    s.extend(ua::open("Basic256Sha256"));
    assert_eq!(client(&s, &only_sha), Ok(()));
    // Basic256 shares Basic256Sha256's first bytes; it is its own policy.
    let mut s = ua::hello();
    s.extend(ua::open("Basic256"));
    let d = client(&s, &only_sha).unwrap_err();
    assert_eq!(d.code, policy_named("Basic256").unwrap());
    for uri in [
        &b"http://opcfoundation.org/UA/SecurityPolicy#None "[..],
        b"http://opcfoundation.org/UA/SecurityPolicy#none",
        b"http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha25",
        b"urn:vendor:SecurityPolicy#Basic256Sha256",
        b"",
    ] {
        let mut all = OpcuaProfile::new();
        all.policies = 0x3F;
        let mut s = ua::hello();
        s.extend(ua::open_uri(uri, 0, 40));
        let d = client(&s, &all).unwrap_err();
        assert_eq!(
            (d.kind, d.code),
            (OpcuaViolation::SecurityPolicy, POLICY_UNKNOWN)
        );
    }
    // A null URI (length -1).
    let mut all = OpcuaProfile::new();
    all.policies = 0x3F;
    let mut s = ua::hello();
    let mut opn = ua::open("None");
    opn[12..16].copy_from_slice(&(-1i32).to_le_bytes());
    s.extend(opn);
    assert_eq!(kind(client(&s, &all)), Some(OpcuaViolation::SecurityPolicy));
    // Every standard URI is recognised as its own policy.
    for (i, pol) in POLICIES.iter().enumerate() {
        let mut one = OpcuaProfile::new();
        one.allow_policy(i as u8);
        let mut s = ua::hello();
        s.extend(ua::open(pol.name));
        assert_eq!(client(&s, &one), Ok(()), "{}", pol.name);
        assert_eq!(policy_named(&ua::policy_uri(pol.name)), Some(i as u8));
    }
}

#[test]
fn the_channel_keeps_its_order() {
    let p = read_only();
    let channel = |s: Vec<u8>| kind(client(&s, &p));
    // A message before OpenSecureChannel, OpenSecureChannel before Hello, Hello twice.
    assert_eq!(
        channel(with(ua::hello(), &[ua::request(ids::READ, 1)])),
        Some(OpcuaViolation::Channel)
    );
    assert_eq!(channel(ua::open("None")), Some(OpcuaViolation::Channel));
    assert_eq!(
        channel(with(ua::session("None"), &[ua::hello()])),
        Some(OpcuaViolation::Channel)
    );
    // After CloseSecureChannel nothing.
    assert_eq!(
        channel(with(
            ua::session("None"),
            &[ua::close(3), ua::request(ids::READ, 4)]
        )),
        Some(OpcuaViolation::Channel)
    );
    // A renewal asks for the channel's policy.
    assert_eq!(
        channel(with(ua::session("None"), &[ua::open("None")])),
        None
    );
    let d = client(
        &with(ua::session("None"), &[ua::open("Basic256Sha256")]),
        &p,
    )
    .unwrap_err();
    assert_eq!((d.kind, d.code), (OpcuaViolation::Channel, 3));
    // An abort chunk without a message, chunks of two messages interleaved.
    assert_eq!(
        channel(with(
            ua::session("None"),
            &[ua::msg_chunk(b'A', 3, &[0; 8])]
        )),
        Some(OpcuaViolation::Channel)
    );
    let first = ua::chunked(ids::READ, 3, 300, 100);
    let first_chunk = first[..8 + 16 + 100].to_vec();
    assert_eq!(
        channel(with(
            ua::session("None"),
            &[first_chunk.clone(), ua::request(ids::READ, 4)]
        )),
        Some(OpcuaViolation::Channel)
    );
    // Aborting the open message is fine; so is a new message after it.
    assert_eq!(
        channel(with(
            ua::session("None"),
            &[
                first_chunk,
                ua::msg_chunk(b'A', 3, &[0; 8]),
                ua::request(ids::READ, 4)
            ]
        )),
        None
    );
}

#[test]
fn a_chunked_message_is_judged_on_its_first_chunk() {
    let mut p = read_only();
    let big_write = ua::chunked(ids::WRITE, 3, 200_000, 65_000);
    let d = client(
        &with(ua::session("None"), core::slice::from_ref(&big_write)),
        &p,
    )
    .unwrap_err();
    assert_eq!(d.kind, OpcuaViolation::Service);
    p.allow_service(service_named("write").unwrap());
    let s = with(ua::session("None"), &[big_write, ua::request(ids::READ, 4)]);
    assert_eq!(client(&s, &p), Ok(()));
    // Passing the 64 KiB chunks costs their headers, not their bytes.
    let mut c = OpcuaCursor::default();
    let mut bits = 0;
    let mut parts = 0;
    for seg in s.chunks(1448) {
        let (mut pos, end) = (0, seg.len());
        while pos < end {
            pos = step_part(&mut c, &mut bits, seg, pos, end, Some(&p)).unwrap();
            parts += 1;
        }
    }
    assert!(parts < 2_000, "{parts} parts for {} bytes", s.len());
}

#[test]
fn directions_and_framing() {
    let p = read_only();
    let server = |s: &[u8]| {
        let mut bits = session::PICKED_UP;
        kind(walk_all(&[s], None, &mut bits).0.remove(0))
    };
    assert_eq!(server(&ua::acknowledge()), None);
    assert_eq!(server(&ua::open("Basic256Sha256")), None);
    assert_eq!(server(&ua::chunked(ids::READ + 3, 3, 1500, 400)), None);
    assert_eq!(server(&ua::hello()), Some(OpcuaViolation::Direction));
    assert_eq!(server(&ua::close(1)), Some(OpcuaViolation::Direction));
    assert_eq!(
        server(&ua::chunk(b"RHE", b'F', &[0; 16])),
        Some(OpcuaViolation::Direction)
    );
    assert_eq!(
        kind(client(&ua::acknowledge(), &p)),
        Some(OpcuaViolation::Direction)
    );
    assert_eq!(
        kind(client(&ua::chunk(b"ERR", b'F', &[0; 8]), &p)),
        Some(OpcuaViolation::Direction)
    );
    let malformed = |s: Vec<u8>| kind(client(&with(ua::session("None"), &[s]), &p));
    assert_eq!(
        malformed(ua::chunk(b"XYZ", b'F', &[0; 40])),
        Some(OpcuaViolation::Malformed)
    );
    assert_eq!(
        malformed(ua::chunk(b"MSG", b'X', &[0; 40])),
        Some(OpcuaViolation::Malformed)
    );
    assert_eq!(
        malformed(ua::chunk(b"CLO", b'C', &[0; 40])),
        Some(OpcuaViolation::Malformed)
    );
    assert_eq!(
        malformed(ua::chunk(b"MSG", b'F', &[0; 8])),
        Some(OpcuaViolation::Malformed)
    );
    // A MSG that ends inside its type id.
    assert_eq!(
        malformed(ua::msg_chunk(b'F', 3, &[0x02, 0, 0, 0x99])),
        Some(OpcuaViolation::Malformed)
    );
    let mut huge = ua::request(ids::READ, 3);
    huge[4..8].copy_from_slice(&((1u32 << 24) + 1).to_le_bytes());
    assert_eq!(malformed(huge), Some(OpcuaViolation::Malformed));
}

#[test]
fn bodies_of_secured_channels_are_judged_as_sign_unless_encrypted_may_pass() {
    let mut p = read_only();
    let encrypted = ua::msg_chunk(
        b'F',
        0x9E3B_11C4,
        &[0xA7, 0x13, 0x5C, 0xE2, 0x90, 0x04, 0x71, 0x38],
    );
    let signed_write = ua::request(ids::WRITE, 3);
    let on = |policy: &str, m: &Vec<u8>, p: &OpcuaProfile| {
        kind(client(
            &with(ua::session(policy), core::slice::from_ref(m)),
            p,
        ))
    };
    // Sign: bodies are cleartext and judged; an encrypted body fails closed.
    assert_eq!(
        on("Basic256Sha256", &signed_write, &p),
        Some(OpcuaViolation::Service)
    );
    assert_eq!(
        on("Basic256Sha256", &encrypted, &p),
        Some(OpcuaViolation::Encrypted)
    );
    assert_eq!(on("Basic256Sha256", &ua::request(ids::READ, 3), &p), None);
    // On a None channel the same bytes are no service request.
    assert_eq!(on("None", &encrypted, &p), Some(OpcuaViolation::Service));
    // sign_and_encrypt listed: secured bodies pass, None channels are still judged.
    p.flags |= profile_flags::ENCRYPTED_PASS;
    assert_eq!(on("Basic256Sha256", &encrypted, &p), None);
    assert_eq!(on("Basic256Sha256", &signed_write, &p), None);
    assert_eq!(on("None", &signed_write, &p), Some(OpcuaViolation::Service));
    // No services list: every body passes on an allowed channel.
    let mut any = OpcuaProfile::new();
    any.allow_policy(POLICY_NONE);
    assert_eq!(on("None", &signed_write, &any), None);
}

#[test]
fn a_flow_picked_up_mid_stream_is_judged_fail_closed() {
    let p = read_only();
    let picked = |m: Vec<u8>| {
        let mut bits = session::PICKED_UP;
        kind(walk_all(&[&m], Some(&p), &mut bits).0.remove(0))
    };
    assert_eq!(picked(ua::request(ids::READ, 9)), None);
    assert_eq!(
        picked(ua::request(ids::WRITE, 9)),
        Some(OpcuaViolation::Service)
    );
    assert_eq!(
        picked(ua::msg_chunk(b'F', 7, &[0xA7, 0x13, 0x5C, 0xE2])),
        Some(OpcuaViolation::Encrypted)
    );
    // A renewal then names the policy.
    let mut bits = session::PICKED_UP;
    let (r, _) = walk_all(&[&ua::open("None")], Some(&p), &mut bits);
    assert_eq!(r, [Ok(())]);
    assert_eq!(session::policy(bits), Some(POLICY_NONE));
}

#[test]
fn every_cut_gives_the_verdict_of_the_whole_stream() {
    let p = read_only();
    let allowed = with(
        ua::session("Basic256Sha256"),
        &[
            ua::request_as(Encoding::Numeric, ids::READ, 3, 10),
            ua::close(4),
        ],
    );
    let denied = with(
        ua::session("None"),
        &[
            ua::request(ids::READ, 3),
            ua::request_as(Encoding::Numeric, ids::WRITE, 4, 10),
        ],
    );
    let decisive = denied.len() - 10 - 1;
    for cut in 0..=allowed.len() {
        let mut bits = 0;
        let (r, c) = walk_all(&[&allowed[..cut], &allowed[cut..]], Some(&p), &mut bits);
        assert_eq!(r, [Ok(()), Ok(())], "cut {cut}");
        assert_eq!((c.at, c.left), (0, 0), "cut {cut}");
    }
    for cut in 0..=denied.len() {
        let mut bits = 0;
        let (r, _) = walk_all(&[&denied[..cut], &denied[cut..]], Some(&p), &mut bits);
        // The segment holding the type id's last byte is the first one denied.
        let expect = if cut > decisive { 0 } else { 1 };
        assert_eq!(r.iter().position(|r| r.is_err()), Some(expect), "cut {cut}");
    }
    // Three segments, and a denial leaves the cursor and session as they were.
    for a in (0..denied.len()).step_by(7) {
        for b in (a..denied.len()).step_by(11) {
            let mut bits = 0;
            let mut c = OpcuaCursor::default();
            let mut denied_at = None;
            for (i, seg) in [&denied[..a], &denied[a..b], &denied[b..]]
                .iter()
                .enumerate()
            {
                let (before, bits_before) = (c, bits);
                if walk(*seg, 0, seg.len(), &mut c, &mut bits, Some(&p)).is_err() {
                    assert_eq!((c, bits), (before, bits_before));
                    denied_at = Some(i);
                    break;
                }
            }
            let expect = if a > decisive {
                0
            } else if b > decisive {
                1
            } else {
                2
            };
            assert_eq!(denied_at, Some(expect), "cuts {a} {b}");
        }
    }
}

#[test]
fn segments_longer_than_the_window_pass_the_rest_of_judged_chunks_only() {
    let p = read_only();
    // A GRO/GSO aggregate of skb mode: the client's 5 kB read in one segment passes, and the
    // stream stands right after it.
    let big_read = ua::request_as(Encoding::FourByte, ids::READ, 3, 5000);
    let s = with(ua::session("None"), core::slice::from_ref(&big_read));
    let mut bits = 0;
    let (r, c) = walk_all(&[&s, &ua::request(ids::READ, 4)], Some(&p), &mut bits);
    assert_eq!(r, [Ok(()), Ok(())]);
    assert_eq!((c.at, c.left), (0, 0));
    // A chunk header past the window cannot be read: the client's segment is denied.
    let two = with(ua::session("None"), &[big_read, ua::request(ids::WRITE, 4)]);
    let mut bits = 0;
    let (r, _) = walk_all(&[&two], Some(&p), &mut bits);
    assert_eq!(kind(r[0]), Some(OpcuaViolation::Malformed));
    // Zeroes are no header, whatever the length.
    let mut bits = 0;
    let (r, _) = walk_all(&[&vec![0u8; WINDOW + 1]], Some(&p), &mut bits);
    assert_eq!(kind(r[0]), Some(OpcuaViolation::Malformed));
    // The server's 5 kB CreateSession response passes framed; an aggregate with a header past
    // the window passes and ends the framing of the server's direction.
    let response = ua::request_as(Encoding::FourByte, ids::CREATE_SESSION + 3, 1, 5283 - 24);
    let mut bits = session::PICKED_UP;
    let (r, c) = walk_all(&[&response], None, &mut bits);
    assert_eq!((r[0], c.at, c.left, c.flags), (Ok(()), 0, 0, 0));
    let mut bits = session::PICKED_UP;
    let responses = [response.clone(), response].concat();
    let (r, c) = walk_all(&[&responses, b"garbage after"], None, &mut bits);
    assert_eq!(r, [Ok(()), Ok(())]);
    assert_ne!(c.flags & cursor_flags::UNFRAMED, 0);
}
