//! The byte walker on PDUs built as pycomm3 / cpppo clients and servers send them, cut at
//! every byte, with requests nested in Unconnected Send and Multiple Service Packet, wrong
//! directions, sessions, classes and framing.

use alloc::{vec, vec::Vec};

use super::*;
use crate::pktgen::enip::*;

fn walk_all(
    segments: &[&[u8]],
    profile: Option<&EnipProfile>,
    session: &mut u8,
) -> (Vec<Result<u8, EnipDenial>>, EnipCursor) {
    walk_with(segments, profile, session, &mut EnipConnections::default())
}

fn walk_with(
    segments: &[&[u8]],
    profile: Option<&EnipProfile>,
    session: &mut u8,
    conns: &mut EnipConnections,
) -> (Vec<Result<u8, EnipDenial>>, EnipCursor) {
    let mut c = EnipCursor::default();
    let r = segments
        .iter()
        .map(|s| walk(*s, 0, s.len(), &mut c, session, conns, profile))
        .collect();
    (r, c)
}

/// A client's segments in a registered session.
fn client(segments: &[&[u8]], p: &EnipProfile) -> Vec<Result<u8, EnipViolation>> {
    let mut s = session::REGISTERED;
    walk_all(segments, Some(p), &mut s)
        .0
        .into_iter()
        .map(|r| r.map_err(|d| d.kind))
        .collect()
}

fn one(stream: &[u8], p: &EnipProfile) -> Result<u8, EnipDenial> {
    let mut s = session::REGISTERED;
    walk_all(&[stream], Some(p), &mut s).0.remove(0)
}

fn server(segments: &[&[u8]]) -> Vec<Result<u8, EnipViolation>> {
    let mut s = session::REGISTERED;
    walk_all(segments, None, &mut s)
        .0
        .into_iter()
        .map(|r| r.map_err(|d| d.kind))
        .collect()
}

/// What pycomm3 does against a read-only device: register, identify, read an attribute and
/// tags, directly, inside Unconnected Send, inside Multiple Service Packet, unregister.
fn reading_session() -> Vec<u8> {
    let mut s = register_session();
    s.extend(list_identity());
    s.extend(send_rr(&get_attribute_single(1, 1, 7)));
    s.extend(send_rr(&read_tag("Counter", 1)));
    s.extend(send_rr(&unconnected_send(&read_tag("Counter", 1))));
    s.extend(send_rr(&multiple_service_packet(&[
        read_tag("A", 1),
        get_attribute_single(1, 1, 1),
        request(0x01, &logical_path(1, 1, None), &[]),
    ])));
    s.extend(send_rr(&unconnected_send(&multiple_service_packet(&[
        read_tag("Speed", 1),
        read_tag("Counter", 2),
    ]))));
    s.extend(unregister_session());
    s
}

#[test]
fn the_pdus_wireshark_decodes_pass() {
    // pycomm3's RegisterSession, as captured (sender context "_pycomm_").
    assert_eq!(
        register_session(),
        [
            0x65, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5F, 0x70,
            0x79, 0x63, 0x6F, 0x6D, 0x6D, 0x5F, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00
        ]
    );
    // Get_Attribute_Single of the identity's product name.
    assert_eq!(
        get_attribute_single(1, 1, 7),
        [0x0E, 0x03, 0x20, 0x01, 0x24, 0x01, 0x30, 0x07]
    );
    let p = EnipProfile::read_only();
    let mut bits = 0;
    let (r, c) = walk_all(&[&reading_session()], Some(&p), &mut bits);
    assert_eq!(r, [Ok(8)]);
    assert!(c.at_boundary());
    assert_eq!(bits, session::REGISTERED);
}

#[test]
fn an_allowed_session_cut_at_every_byte_passes() {
    let p = EnipProfile::read_only();
    let s = reading_session();
    for k in 1..s.len() {
        let mut bits = 0;
        let (r, c) = walk_all(&[&s[..k], &s[k..]], Some(&p), &mut bits);
        assert!(r.iter().all(|r| r.is_ok()), "cut at {k}: {r:?}");
        assert!(c.at_boundary(), "cut at {k}");
    }
    // And one byte per segment.
    let bytes: Vec<&[u8]> = s.chunks(1).collect();
    assert!(client(&bytes, &p).iter().all(|r| r.is_ok()));
}

/// Offset of the octet that completes the outermost request's path in a SendRRData.
const CIP_AT: usize = 40;

#[test]
fn dangerous_requests_are_denied_in_the_segment_that_completes_their_path() {
    let p = EnipProfile::read_only();
    for (cip, code, class) in [
        (set_attribute_single(1, 1, 7, &[1, 2]), 0x10, Some(1)),
        (write_tag_dint("Counter", 7), 0x4D, None),
        (reset_identity(), 0x05, Some(1)),
        (forward_open(), 0x54, Some(6)),
        // Read-Modify-Write on a tag (0x4E), not Forward_Close.
        (
            request(0x4E, &symbolic_path("Counter"), &[2, 0, 0, 0, 0, 0]),
            0x4E,
            None,
        ),
    ] {
        let f = send_rr(&cip);
        let d = one(&f, &p).unwrap_err();
        assert_eq!(
            (d.kind, d.code, d.scope),
            (EnipViolation::Service, code, 0),
            "{cip:x?}"
        );
        assert_eq!(d.address, class.unwrap_or(0));
        assert_eq!(
            d.known & crate::event::detail::ADDRESS != 0,
            class.is_some()
        );
        let decisive = CIP_AT + 1 + 2 * cip[1] as usize;
        for k in 1..f.len() {
            let r = client(&[&f[..k], &f[k..]], &p);
            if k > decisive {
                assert_eq!(r[0], Err(EnipViolation::Service), "cut at {k}");
            } else {
                assert_eq!(r, [Ok(0), Err(EnipViolation::Service)], "cut at {k}");
            }
        }
    }
}

#[test]
fn a_write_nested_in_containers_is_denied_at_its_level() {
    let p = EnipProfile::read_only();
    let set = set_attribute_single(1, 1, 7, &[0x41]);
    for (cip, level) in [
        (unconnected_send(&set), 1),
        (multiple_service_packet(&[read_tag("A", 1), set.clone()]), 1),
        // cpppo executed this one: Unconnected Send -> Multiple Service Packet -> 0x10.
        (
            unconnected_send(&multiple_service_packet(&[
                get_attribute_single(1, 1, 1),
                set.clone(),
            ])),
            2,
        ),
        (
            multiple_service_packet(&[read_tag("A", 1), unconnected_send(&set)]),
            2,
        ),
    ] {
        let f = send_rr(&cip);
        let d = one(&f, &p).unwrap_err();
        assert_eq!(
            (d.kind, d.code, d.scope, d.address),
            (EnipViolation::Service, 0x10, level, 1)
        );
        for k in 1..f.len() {
            let r = client(&[&f[..k], &f[k..]], &p);
            assert!(
                r[0] == Err(EnipViolation::Service) || r == [Ok(0), Err(EnipViolation::Service)],
                "cut at {k}: {r:?}"
            );
        }
        // After an allowed PDU in the same segment.
        let mut s = send_rr(&read_tag("A", 1));
        s.extend(f);
        assert_eq!(client(&[&s], &p), [Err(EnipViolation::Service)]);
    }
}

#[test]
fn containers_nest_two_deep_and_no_deeper() {
    let p = EnipProfile::read_only();
    let read = read_tag("A", 1);
    let ok = unconnected_send(&unconnected_send(&read));
    assert_eq!(one(&send_rr(&ok), &p), Ok(1));
    for deep in [
        unconnected_send(&unconnected_send(&unconnected_send(&read))),
        multiple_service_packet(&[unconnected_send(&multiple_service_packet(
            core::slice::from_ref(&read),
        ))]),
    ] {
        let d = one(&send_rr(&deep), &p).unwrap_err();
        assert_eq!((d.kind, d.scope), (EnipViolation::Service, 2));
    }
}

#[test]
fn multiple_service_packet_offsets_must_lay_the_services_end_to_end() {
    let p = EnipProfile::read_only();
    let a = read_tag("A", 1);
    let b = get_attribute_single(1, 1, 1);
    let good = multiple_service_packet(&[a.clone(), b.clone()]);
    assert_eq!(one(&send_rr(&good), &p), Ok(1));
    // The data: count at 6, offsets at 8 and 10, services from 12.
    let data = 6;
    for (at, value) in [
        // The first offset past the table, the second one octet short or into the first.
        (data + 2, 8u16),
        (data + 4, (6 + a.len() - 1) as u16),
        (data + 4, 6),
        (data + 4, 200),
        // The count.
        (data, 0),
        (data, 3),
    ] {
        let mut bad = good.clone();
        bad[at..at + 2].copy_from_slice(&value.to_le_bytes());
        let d = one(&send_rr(&bad), &p).unwrap_err();
        assert_eq!(d.kind, EnipViolation::Malformed, "{at} {value}");
    }
    // Nine services are more than the walker keeps boundaries for.
    let many: Vec<Vec<u8>> = (0..9).map(|_| read_tag("A", 1)).collect();
    assert_eq!(
        one(&send_rr(&multiple_service_packet(&many)), &p).map_err(|d| d.kind),
        Err(EnipViolation::Malformed)
    );
    let eight: Vec<Vec<u8>> = (0..8).map(|_| read_tag("A", 1)).collect();
    assert_eq!(one(&send_rr(&multiple_service_packet(&eight)), &p), Ok(1));
}

#[test]
fn the_service_decides_by_class_where_it_matters() {
    let p = EnipProfile::read_only();
    // 0x52 on a tag reads a fragment; on class 1 it is a class-specific service no name allows.
    let frag = request(0x52, &symbolic_path("Big"), &[1, 0, 0, 0, 0, 0]);
    assert_eq!(one(&send_rr(&frag), &p), Ok(1));
    let other = request(0x52, &logical_path(1, 1, None), &[0; 4]);
    assert_eq!(
        one(&send_rr(&other), &p).map_err(|d| d.kind),
        Err(EnipViolation::Service)
    );
    // A numeric code allows it on every class.
    let mut q = EnipProfile::read_only();
    q.allow_service(0x52, Target::Any);
    assert_eq!(one(&send_rr(&other), &q), Ok(1));
}

#[test]
fn classes_restrict_the_objects_requests_address() {
    let mut p = EnipProfile::read_only();
    p.allow_classes(1, 1).unwrap();
    assert_eq!(one(&send_rr(&get_attribute_single(1, 1, 7)), &p), Ok(1));
    let d = one(&send_rr(&get_attribute_single(0xF5, 1, 1)), &p).unwrap_err();
    assert_eq!(
        (d.kind, d.code, d.address),
        (EnipViolation::Class, 0x0E, 0xF5)
    );
    // A 16-bit class segment.
    let d = one(&send_rr(&get_attribute_single(0x300, 1, 1)), &p).unwrap_err();
    assert_eq!((d.kind, d.address), (EnipViolation::Class, 0x300));
    // Tags are the Symbol object; the containers pass on their service.
    assert_eq!(
        one(&send_rr(&unconnected_send(&read_tag("A", 1))), &p).map_err(|d| d.kind),
        Err(EnipViolation::Class)
    );
    p.allow_classes(0x6B, 0x6B).unwrap();
    assert_eq!(
        one(&send_rr(&unconnected_send(&read_tag("A", 1))), &p),
        Ok(1)
    );
}

#[test]
fn commands_and_sessions() {
    let p = EnipProfile::read_only();
    // SendUnitData is not in read_only.
    let unit = send_unit(0x1234, 1, &read_tag("A", 1));
    let d = one(&unit, &p).unwrap_err();
    assert_eq!((d.kind, d.code), (EnipViolation::Command, 0x70));
    let mut q = EnipProfile::read_only();
    q.allow_command(command::SEND_UNIT_DATA);
    let mut opened = EnipConnections::default();
    opened.open(0x1234);
    let mut bits = session::REGISTERED;
    assert_eq!(
        walk_with(&[&unit], Some(&q), &mut bits, &mut opened).0,
        [Ok(1)]
    );
    // The command is judged on its first two octets.
    for k in 1..unit.len() {
        let r = client(&[&unit[..k], &unit[k..]], &p);
        if k >= 2 {
            assert_eq!(r[0], Err(EnipViolation::Command), "cut at {k}");
        } else {
            assert_eq!(r, [Ok(0), Err(EnipViolation::Command)]);
        }
    }
    // A command with a high octet, an unknown one.
    let mut high = list_identity();
    high[1] = 1;
    assert_eq!(client(&[&high], &p), [Err(EnipViolation::Command)]);
    assert_eq!(
        client(&[&encap(0x01, 0, &[])], &p),
        [Err(EnipViolation::Command)]
    );
    // Data before RegisterSession, or without a session handle.
    let rr = send_rr(&read_tag("A", 1));
    let mut bits = 0;
    let (r, _) = walk_all(&[&rr], Some(&p), &mut bits);
    assert_eq!(r[0].map_err(|d| d.kind), Err(EnipViolation::Session));
    let mut s = register_session();
    s.extend(&rr);
    let mut bits = 0;
    assert_eq!(walk_all(&[&s], Some(&p), &mut bits).0, [Ok(2)]);
    let no_handle = encap(
        command::SEND_RR_DATA,
        0,
        &cpf_unconnected(&read_tag("A", 1)),
    );
    assert_eq!(client(&[&no_handle], &p), [Err(EnipViolation::Session)]);
}

#[test]
fn replies_from_the_client_and_requests_from_the_server_are_denied() {
    let p = EnipProfile::read_only();
    let d = one(&send_rr(&reply(0x0E, 0, &[1, 0])), &p).unwrap_err();
    assert_eq!((d.kind, d.code), (EnipViolation::Direction, 0x8E));
    // The server's replies: identity, session, data (also with an error status), connected.
    let mut s = encap(command::LIST_IDENTITY, 0, &[1, 0, 0x0C, 0, 2, 0]);
    s.extend(encap(command::REGISTER_SESSION, SESSION, &[1, 0, 0, 0]));
    s.extend(send_rr(&reply(0x4C, 0, &[0xC4, 0, 7, 0, 0, 0])));
    s.extend(encap_reply(command::SEND_RR_DATA, SESSION, 0x64, &[]));
    s.extend(send_unit(0x99, 1, &reply(0x4C, 0, &[0xC4, 0, 7, 0, 0, 0])));
    assert_eq!(server(&[&s]), [Ok(5)]);
    for k in 1..s.len() {
        let r = server(&[&s[..k], &s[k..]]);
        assert!(r.iter().all(|r| r.is_ok()), "cut at {k}: {r:?}");
    }
    assert_eq!(
        server(&[&send_rr(&set_attribute_single(1, 1, 7, &[1]))]),
        [Err(EnipViolation::Direction)]
    );
    assert_eq!(
        server(&[&encap(0x01, 0, &[])]),
        [Err(EnipViolation::Malformed)]
    );
}

#[test]
fn framing_that_does_not_add_up_is_denied() {
    let p = EnipProfile::read_only();
    let good = send_rr(&read_tag("A", 1));
    let mut cases: Vec<Vec<u8>> = Vec::new();
    // Encapsulation length one longer (the item ends first) and one shorter.
    for delta in [1i16, -1] {
        let mut f = good.clone();
        let len = (u16::from_le_bytes([f[2], f[3]]) as i16 + delta) as u16;
        f[2..4].copy_from_slice(&len.to_le_bytes());
        if delta > 0 {
            f.push(0);
        } else {
            f.pop();
        }
        cases.push(f);
    }
    // Status and options in a request; an interface handle; the item count.
    for (at, v) in [(8, 1u8), (20, 1), (24, 1), (30, 1), (30, 5)] {
        let mut f = good.clone();
        f[at] = v;
        cases.push(f);
    }
    // Item types: a connected address in SendRRData, a data item type unknown.
    for (at, v) in [(32, 0xA1u8), (36, 0xB1)] {
        let mut f = good.clone();
        f[at] = v;
        cases.push(f);
    }
    // The path size past the item; a path segment that does not exist; a symbol name
    // longer than the path.
    let mut f = good.clone();
    f[CIP_AT + 1] = 60;
    cases.push(f);
    cases.push(send_rr(&request(0x0E, &[0x20, 1, 0x5F, 0], &[])));
    cases.push(send_rr(&request(0x4C, &[0x91, 9, b'A', 0], &[1, 0])));
    // Two class segments, a 32-bit class.
    cases.push(send_rr(&request(0x0E, &[0x20, 1, 0x20, 2], &[])));
    cases.push(send_rr(&request(0x0E, &[0x22, 0, 1, 0, 0, 0], &[])));
    // A request shorter than its head; an embedded request longer than its container.
    cases.push(send_rr(&[0x0E]));
    let mut us = unconnected_send(&read_tag("A", 1));
    us[8] += 40;
    cases.push(send_rr(&us));
    // Data in list_identity, register_session of another length.
    cases.push(encap(command::LIST_IDENTITY, 0, &[0]));
    cases.push(encap(command::REGISTER_SESSION, 0, &[1, 0]));
    for f in cases {
        assert_eq!(
            one(&f, &p).map_err(|d| d.kind),
            Err(EnipViolation::Malformed),
            "{f:x?}"
        );
    }
    assert_eq!(one(&good, &p), Ok(1));
}

#[test]
fn socket_address_items_and_electronic_keys_pass() {
    let p = EnipProfile::read_only();
    let mut data = cpf_unconnected(&get_attribute_single(1, 1, 1));
    data[6] = 3;
    data.extend_from_slice(&[0x00, 0x80, 16, 0]);
    data.extend_from_slice(&[0; 16]);
    assert_eq!(
        one(&encap(command::SEND_RR_DATA, SESSION, &data), &p),
        Ok(1)
    );
    let keyed = request(
        0x0E,
        &[
            0x34, 0x04, 1, 0, 0x0E, 0, 0x0C, 0, 0x14, 0x01, 0x20, 1, 0x24, 1, 0x30, 1,
        ],
        &[],
    );
    assert_eq!(one(&send_rr(&keyed), &p), Ok(1));
}

#[test]
fn random_bytes_never_panic_and_a_denial_leaves_the_cursor() {
    let p = EnipProfile::read_only();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..2000 {
        let mut f = reading_session();
        for _ in 0..3 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x as usize) % f.len();
            f[at] = (x >> 32) as u8;
        }
        let mut c = EnipCursor::default();
        let mut bits = 0;
        let mut conns = EnipConnections::default();
        let before = c;
        if walk(&f[..], 0, f.len(), &mut c, &mut bits, &mut conns, Some(&p)).is_err() {
            assert_eq!(c, before);
            assert_eq!(bits, 0);
        }
        let mut c = EnipCursor::default();
        let _ = walk(&f[..], 0, f.len(), &mut c, &mut bits, &mut conns, None);
    }
    let long = vec![0u8; MAX_SEGMENT_BYTES + 1];
    assert_eq!(client(&[&long], &p), [Err(EnipViolation::Malformed)]);
}

/// Connected messaging only on connections a successful Forward_Open reply of the flow
/// opened: pycomm3's sequence (register, Forward_Open, its reply, SendUnitData reads), a
/// forged or stale connection id, a failed Forward_Open, and every cut of the reply and of
/// the request.
#[test]
fn connected_messages_only_on_connections_a_forward_open_opened() {
    let mut p = EnipProfile::read_only();
    p.allow_command(command::SEND_UNIT_DATA);
    p.allow_service(0x54, Target::ConnectionManager);
    let mut bits = session::REGISTERED;
    let mut conns = EnipConnections::default();
    // The client's Forward_Open passes; before its reply no connection is open.
    let open = send_rr(&forward_open());
    assert_eq!(
        walk_with(&[&open], Some(&p), &mut bits, &mut conns).0,
        [Ok(1)]
    );
    let read = send_unit(0x8001_0203, 1, &read_tag("A", 1));
    let d = walk_with(&[&read], Some(&p), &mut bits, &mut conns).0[0].unwrap_err();
    assert_eq!((d.kind, d.code), (EnipViolation::Session, 0x70));
    // The device's reply opens its O→T id, cut anywhere; the T→O id is not opened.
    let reply = send_rr(&forward_open_reply(0x8001_0203, 0x0A0B_0C0D));
    for k in 0..reply.len() {
        let mut fresh = EnipConnections::default();
        let r = walk_with(&[&reply[..k], &reply[k..]], None, &mut bits, &mut fresh).0;
        assert!(r.iter().all(|r| r.is_ok()), "reply cut at {k}: {r:?}");
        assert!(fresh.is_open(0x8001_0203), "reply cut at {k}");
        assert!(!fresh.is_open(0x0A0B_0C0D));
    }
    assert_eq!(walk_with(&[&reply], None, &mut bits, &mut conns).0, [Ok(1)]);
    // Now the read passes, cut anywhere; another id does not, wherever it is cut.
    for k in 0..read.len() {
        let r = walk_with(&[&read[..k], &read[k..]], Some(&p), &mut bits, &mut conns).0;
        assert!(r.iter().all(|r| r.is_ok()), "read cut at {k}: {r:?}");
    }
    let forged = send_unit(0x8001_0204, 2, &read_tag("A", 1));
    for k in 1..forged.len() {
        let r = walk_with(
            &[&forged[..k], &forged[k..]],
            Some(&p),
            &mut bits,
            &mut conns,
        )
        .0;
        assert!(
            r.iter()
                .any(|r| r.map_err(|d| d.kind) == Err(EnipViolation::Session)),
            "forged id cut at {k}: {r:?}"
        );
    }
    // A write on the opened connection is still judged by its service.
    let write = send_unit(0x8001_0203, 3, &write_tag_dint("A", 7));
    let d = walk_with(&[&write], Some(&p), &mut bits, &mut conns).0[0].unwrap_err();
    assert_eq!(d.kind, EnipViolation::Service);
    // A failed Forward_Open opens nothing; neither does an id 0 or a reply to another
    // service carrying the same bytes.
    let mut none = EnipConnections::default();
    let mut failed = forward_open_reply(0x0101_0101, 2);
    failed[2] = 0x01;
    let mut other = forward_open_reply(0x0202_0202, 2);
    other[0] = 0x80 | 0x4C;
    for r in [failed, other, forward_open_reply(0, 2)] {
        assert_eq!(
            walk_with(&[&send_rr(&r)], None, &mut bits, &mut none).0,
            [Ok(1)]
        );
    }
    assert_eq!(none, EnipConnections::default());
    // The last four stay open; a fifth forgets the oldest.
    let mut four = EnipConnections::default();
    for id in 1..=5u32 {
        let r = send_rr(&forward_open_reply(id, 100 + id));
        assert_eq!(walk_with(&[&r], None, &mut bits, &mut four).0, [Ok(1)]);
    }
    assert!(!four.is_open(1));
    assert!((2..=5).all(|id| four.is_open(id)));
    // A denied segment opens nothing: the reply followed by a request from the device.
    let mut s = send_rr(&forward_open_reply(0x77, 1));
    s.extend(send_rr(&read_tag("A", 1)));
    let mut kept = EnipConnections::default();
    let r = walk_with(&[&s], None, &mut bits, &mut kept).0;
    assert_eq!(r[0].map_err(|d| d.kind), Err(EnipViolation::Direction));
    assert_eq!(kept, EnipConnections::default());
}
