//! Host tests of the BACnet/IP datagram check.

use alloc::vec::Vec;

use super::*;
use crate::pktgen::bacnet as g;

fn check(d: &[u8], p: &BacnetProfile, from_client: bool) -> Result<(), BacnetDenial> {
    judge(d, 0, d.len(), p, from_client)
}

fn kind(d: &[u8], p: &BacnetProfile, from_client: bool) -> Option<BacnetViolation> {
    check(d, p, from_client).err().map(|e| e.kind)
}

#[test]
fn every_confirmed_service_is_judged_against_the_profile() {
    let p = BacnetProfile::read_only();
    for service in 0..=255u8 {
        for d in [
            g::unicast(&g::confirmed(service, &g::READ_PROPERTY_BODY)),
            g::unicast(&g::segmented(service, 0, 4, true, &[1, 2, 3])),
            g::unicast(&g::segmented(service, 7, 127, false, &[])),
        ] {
            let r = check(&d, &p, true);
            if [12, 14, 26].contains(&service) {
                assert_eq!(r, Ok(()), "service {service}");
            } else {
                let e = r.unwrap_err();
                assert_eq!(e.kind, BacnetViolation::Service, "service {service}");
                assert_eq!((e.scope, e.code), (0, service));
                assert_eq!(
                    e.known,
                    crate::event::detail::SCOPE | crate::event::detail::CODE
                );
            }
        }
    }
}

#[test]
fn every_unconfirmed_service_is_judged_in_both_directions() {
    let p = BacnetProfile::read_only();
    for service in 0..=255u8 {
        for from_client in [true, false] {
            let r = check(
                &g::broadcast(&g::unconfirmed(service, &[])),
                &p,
                from_client,
            );
            if [0, 1, 7, 8].contains(&service) {
                assert_eq!(r, Ok(()));
            } else {
                let e = r.unwrap_err();
                assert_eq!(
                    (e.kind, e.scope, e.code),
                    (BacnetViolation::Service, 1, service)
                );
            }
        }
    }
}

#[test]
fn names_and_codes_agree() {
    for s in CONFIRMED {
        assert_eq!(confirmed_named(s.name), Some(s.code));
        assert_eq!(confirmed_name(s.code), Some(s.name));
    }
    for s in UNCONFIRMED {
        assert_eq!(unconfirmed_named(s.name), Some(s.code));
    }
    for s in BVLC {
        assert_eq!(bvlc_named(s.name), Some(s.code));
    }
    for s in NETWORK_MESSAGES {
        assert_eq!(network_message_named(s.name), Some(s.code));
    }
    assert_eq!(confirmed_named("write_property"), Some(15));
    assert_eq!(confirmed_named("reinitialize_device"), Some(20));
    assert_eq!(confirmed_named("device_communication_control"), Some(17));
    assert_eq!(unconfirmed_named("who_is"), Some(8));
    assert_eq!(bvlc_named("original_unicast"), Some(0x0A));
    assert_eq!(bvlc_named("forwarded_npdu"), Some(0x04));
}

#[test]
fn every_bvlc_function_is_judged_against_the_list() {
    let mut p = BacnetProfile::read_only();
    for f in 0..=255u8 {
        let d = g::bvlc(f, &g::npdu(0, &g::unconfirmed(8, &[])));
        let e = check(&d, &p, true);
        if [0x0A, 0x0B].contains(&f) {
            assert_eq!(e, Ok(()), "function {f:#x}");
        } else if f == 0 {
            // BVLC-Result is 6 bytes: this one is too long.
            assert_eq!(e.unwrap_err().kind, BacnetViolation::Malformed);
        } else {
            let e = e.unwrap_err();
            assert_eq!(
                (e.kind, e.code),
                (BacnetViolation::Bvlc, f),
                "function {f:#x}"
            );
        }
    }
    // BBMD management when listed: fixed lengths.
    p.clear_bvlc();
    for f in 0..=0x0C {
        p.allow_bvlc(f);
    }
    assert_eq!(check(&g::bvlc(0x00, &[0, 0]), &p, false), Ok(()));
    assert_eq!(check(&g::bvlc(0x02, &[]), &p, true), Ok(()));
    assert_eq!(check(&g::bvlc(0x05, &[0, 60]), &p, true), Ok(()));
    assert_eq!(check(&g::bvlc(0x01, &[0; 20]), &p, true), Ok(()));
    assert_eq!(check(&g::bvlc(0x08, &[0; 6]), &p, true), Ok(()));
    assert_eq!(
        kind(&g::bvlc(0x01, &[0; 11]), &p, true),
        Some(BacnetViolation::Malformed)
    );
    assert_eq!(
        kind(&g::bvlc(0x05, &[0]), &p, true),
        Some(BacnetViolation::Malformed)
    );
    assert_eq!(check(&g::bvlc(0x0C, &[1, 2, 3]), &p, true), Ok(()));
    // Distribute-Broadcast-To-Network carries an NPDU that is judged.
    let d = g::bvlc(
        0x09,
        &g::npdu(0, &g::confirmed(15, &g::WRITE_PROPERTY_BODY)),
    );
    assert_eq!(kind(&d, &p, true), Some(BacnetViolation::Service));
}

#[test]
fn a_forwarded_npdu_is_denied_unless_listed_then_inspected() {
    let mut p = BacnetProfile::read_only();
    let write = g::forwarded(&g::confirmed(15, &g::WRITE_PROPERTY_BODY));
    let read = g::forwarded(&g::confirmed(12, &g::READ_PROPERTY_BODY));
    assert_eq!(kind(&read, &p, true), Some(BacnetViolation::Bvlc));
    p.allow_bvlc(0x04);
    assert_eq!(check(&read, &p, true), Ok(()));
    let e = check(&write, &p, true).unwrap_err();
    assert_eq!((e.kind, e.code), (BacnetViolation::Service, 15));
    // The wrapper itself must be whole: 6 address bytes before the NPDU.
    assert_eq!(
        kind(&g::bvlc(0x04, &[10, 0, 0, 9, 0xBA]), &p, true),
        Some(BacnetViolation::Malformed)
    );
}

#[test]
fn truncation_at_every_byte_is_malformed() {
    let mut p = BacnetProfile::read_only();
    p.allow_bvlc(0x04);
    let datagrams: [Vec<u8>; 5] = [
        g::unicast(&g::confirmed(12, &[])),
        g::unicast(&g::segmented(12, 0, 2, true, &[])),
        g::forwarded(&g::unconfirmed(8, &[])),
        g::bvlc(
            0x0A,
            &g::routed_npdu(5, &[1, 2], Some((7, &[3])), &g::confirmed(12, &[])),
        ),
        g::bvlc(0x0A, &[1, 0x04, 0x20, 0x01, 0x12]), // simple ack
    ];
    for d in datagrams {
        let client = d[d.len() - 3] != 0x20;
        assert_eq!(check(&d, &p, client), Ok(()), "{d:02x?}");
        for cut in 0..d.len() {
            // The BVLC length says the whole, the datagram is shorter.
            let short = &d[..cut];
            assert!(
                judge(short, 0, d.len(), &p, client).is_err(),
                "cut at {cut} of {d:02x?}"
            );
            // The BVLC length matches the short datagram: its header is cut.
            let mut relen = short.to_vec();
            if cut >= 4 {
                relen[2..4].copy_from_slice(&(cut as u16).to_be_bytes());
                assert_eq!(
                    kind(&relen, &p, client),
                    Some(BacnetViolation::Malformed),
                    "{relen:02x?}"
                );
            }
        }
    }
}

#[test]
fn framing() {
    let p = BacnetProfile::read_only();
    let good = g::unicast(&g::confirmed(12, &g::READ_PROPERTY_BODY));
    assert_eq!(check(&good, &p, true), Ok(()));
    let mut bad = good.clone();
    bad[0] = 0x82;
    assert_eq!(kind(&bad, &p, true), Some(BacnetViolation::Malformed));
    // Length off by one either way.
    assert!(judge(&good[..], 0, good.len() - 1, &p, true).is_err());
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(kind(&longer, &p, true), Some(BacnetViolation::Malformed));
    // NPDU version and reserved control bits.
    let mut v = good.clone();
    v[4] = 2;
    assert_eq!(kind(&v, &p, true), Some(BacnetViolation::Malformed));
    for bit in [0x40, 0x10] {
        let mut c = good.clone();
        c[5] |= bit;
        assert_eq!(kind(&c, &p, true), Some(BacnetViolation::Malformed));
    }
    // Reserved PDU types.
    for ty in 8..16u8 {
        let d = g::unicast(&[ty << 4, 5, 1, 12]);
        assert_eq!(kind(&d, &p, true), Some(BacnetViolation::Malformed));
        assert_eq!(kind(&d, &p, false), Some(BacnetViolation::Malformed));
    }
    // A segmented request with window size 0 or above 127.
    for w in [0, 128, 255] {
        assert_eq!(
            kind(&g::unicast(&g::segmented(12, 0, w, true, &[])), &p, true),
            Some(BacnetViolation::Malformed)
        );
    }
}

#[test]
fn segmented_request_shifts_the_service_byte() {
    let p = BacnetProfile::read_only();
    // Unsegmented, the byte at the segmented service position is harmless body.
    let d = g::unicast(&g::segmented(15, 1, 4, false, &g::WRITE_PROPERTY_BODY));
    let e = check(&d, &p, true).unwrap_err();
    assert_eq!((e.kind, e.code), (BacnetViolation::Service, 15));
    // A read whose sequence number (at the unsegmented service position) is 15.
    let d = g::unicast(&g::segmented(12, 15, 4, true, &[]));
    assert_eq!(check(&d, &p, true), Ok(()));
}

#[test]
fn replies_pass_from_the_device_only() {
    let p = BacnetProfile::read_only();
    let replies = [
        g::unicast(&g::simple_ack(15)),
        g::unicast(&g::complex_ack(12, &[0x0C, 0, 0x80, 0, 1])),
        g::unicast(&[0x38, 0x01, 0x00, 0x02, 12]), // segmented complex ack
        g::unicast(&[0x50, 0x01, 15, 0x91, 2, 0x91, 40]), // error
        g::unicast(&[0x60, 0x01, 9]),              // reject
    ];
    for r in &replies {
        assert_eq!(check(r, &p, false), Ok(()), "{r:02x?}");
        let e = check(r, &p, true).unwrap_err();
        assert_eq!((e.kind, e.scope), (BacnetViolation::Direction, r[6] >> 4));
    }
    // Segment-ACK and abort either way.
    for d in [g::unicast(&[0x40, 1, 0, 4]), g::unicast(&[0x70, 1, 4])] {
        assert_eq!(check(&d, &p, true), Ok(()));
        assert_eq!(check(&d, &p, false), Ok(()));
    }
    // A confirmed request from the device is the other side's PDU.
    let e = check(&g::unicast(&g::confirmed(12, &[])), &p, false).unwrap_err();
    assert_eq!((e.kind, e.scope), (BacnetViolation::Direction, 0));
}

#[test]
fn routed_npdus_and_network_messages() {
    let mut p = BacnetProfile::read_only();
    let write = g::bvlc(
        0x0A,
        &g::routed_npdu(77, &[5], None, &g::confirmed(15, &[])),
    );
    let e = check(&write, &p, true).unwrap_err();
    assert_eq!(
        (e.kind, e.code, e.address),
        (BacnetViolation::Service, 15, 77)
    );
    let read = g::bvlc(
        0x0A,
        &g::routed_npdu(
            0xFFFF,
            &[],
            Some((3, &[1, 2, 3, 4, 5, 6])),
            &g::confirmed(12, &[]),
        ),
    );
    assert_eq!(check(&read, &p, true), Ok(()));
    // SLEN 0, SNET 0xFFFF, DLEN 8: malformed.
    for d in [
        g::bvlc(
            0x0A,
            &g::routed_npdu(1, &[], Some((3, &[])), &g::confirmed(12, &[])),
        ),
        g::bvlc(
            0x0A,
            &g::routed_npdu(1, &[], Some((0xFFFF, &[1])), &g::confirmed(12, &[])),
        ),
        g::bvlc(
            0x0A,
            &g::routed_npdu(1, &[0; 8], None, &g::confirmed(12, &[])),
        ),
    ] {
        assert_eq!(
            kind(&d, &p, true),
            Some(BacnetViolation::Malformed),
            "{d:02x?}"
        );
    }
    let who_is_router = g::network_message(0x00, &[]);
    let e = check(&who_is_router, &p, true).unwrap_err();
    assert_eq!((e.kind, e.code), (BacnetViolation::Network, 0));
    p.network_messages.insert(0);
    assert_eq!(check(&who_is_router, &p, true), Ok(()));
    assert_eq!(check(&who_is_router, &p, false), Ok(()));
    // Proprietary messages carry a vendor id.
    p.network_messages.insert(0x80);
    assert_eq!(check(&g::network_message(0x80, &[0, 7]), &p, true), Ok(()));
    assert_eq!(
        kind(&g::network_message(0x80, &[0]), &p, true),
        Some(BacnetViolation::Malformed)
    );
}

#[test]
fn judged_at_an_offset() {
    let p = BacnetProfile::read_only();
    let mut frame = alloc::vec![0xEE; 42];
    let d = g::unicast(&g::confirmed(12, &[]));
    frame.extend_from_slice(&d);
    assert_eq!(judge(&frame[..], 42, d.len(), &p, true), Ok(()));
}
