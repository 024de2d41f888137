//! The byte walker on TPDUs built as snap7 clients and PLCs send them, cut at every byte,
//! split over data TPDUs, with wrong directions, TSAPs, areas and S7comm-plus.

use alloc::{vec, vec::Vec};

use super::*;
use crate::pktgen::s7comm::*;

/// `read_only` and the TSAP of rack 0 slot 2.
fn profile() -> S7Profile {
    let mut p = S7Profile::read_only();
    p.allow_tsaps(0x0102, 0x0102).unwrap();
    p
}

fn walk_all(
    segments: &[&[u8]],
    profile: Option<&S7Profile>,
    session: &mut u8,
) -> (Vec<Result<u8, S7Denial>>, S7Cursor) {
    let mut c = S7Cursor::default();
    let r = segments
        .iter()
        .map(|s| walk(*s, 0, s.len(), &mut c, session, profile))
        .collect();
    (r, c)
}

fn client(segments: &[&[u8]], p: &S7Profile) -> Vec<Result<u8, S7Violation>> {
    let mut s = 0;
    walk_all(segments, Some(p), &mut s)
        .0
        .into_iter()
        .map(|r| r.map_err(|d| d.kind))
        .collect()
}

fn one(stream: &[u8], p: &S7Profile) -> Result<u8, S7Denial> {
    let mut s = 0;
    walk_all(&[stream], Some(p), &mut s).0.remove(0)
}

fn session() -> Vec<u8> {
    let mut s = connection_request(0x0102);
    s.extend(dt(&setup_communication(), true));
    s.extend(dt(
        &read_var(&[item(0x84, 1, 0, 4), item(0x83, 0, 2, 2)]),
        true,
    ));
    s.extend(dt(&userdata(4, 1, &[0x00, 0x11, 0x00, 0x00]), true));
    s.extend(dt(&userdata(7, 1, &[]), true));
    s
}

#[test]
fn the_tpdus_tshark_decodes_pass() {
    // snap7's connection request and setup communication, as captured.
    assert_eq!(
        connection_request(0x0102),
        [
            0x03, 0x00, 0x00, 0x16, 0x11, 0xE0, 0x00, 0x00, 0x00, 0x01, 0x00, 0xC0, 0x01, 0x0A,
            0xC1, 0x02, 0x01, 0x00, 0xC2, 0x02, 0x01, 0x02
        ]
    );
    assert_eq!(
        dt(&setup_communication(), true),
        [
            0x03, 0x00, 0x00, 0x19, 0x02, 0xF0, 0x80, 0x32, 0x01, 0x00, 0x00, 0x05, 0x00, 0x00,
            0x08, 0x00, 0x00, 0xF0, 0x00, 0x00, 0x01, 0x00, 0x01, 0x01, 0xE0
        ]
    );
    let p = profile();
    assert_eq!(one(&session(), &p), Ok(5));
}

#[test]
fn an_allowed_session_cut_at_every_byte_passes() {
    let p = profile();
    let s = session();
    for k in 1..s.len() {
        let mut bits = 0;
        let (r, c) = walk_all(&[&s[..k], &s[k..]], Some(&p), &mut bits);
        assert!(r.iter().all(|r| r.is_ok()), "cut at {k}: {r:?}");
        assert!(c.at_boundary(), "cut at {k}");
    }
}

#[test]
fn dangerous_jobs_are_denied_in_the_segment_that_carries_the_function() {
    let p = profile();
    for (pdu, code) in [
        (plc_stop(), 0x29),
        (pi_service(b"P_PROGRAM"), 0x28),
        (write_var(0x84, 1, 0, &[1, 2]), 0x05),
        (job(&[0x1A, 0, 0, 0, 0, 0, 0, 0], &[]), 0x1A),
        (job(&[0x1B, 0, 0, 0], &[]), 0x1B),
        (job(&[0x1D, 0, 0, 0], &[]), 0x1D),
    ] {
        let f = dt(&pdu, true);
        assert_eq!(
            one(&f, &p),
            Err(S7Denial {
                kind: S7Violation::Function,
                known: crate::event::detail::CODE,
                scope: 0,
                code,
                address: 0
            })
        );
        // The function is octet 17 of the TPDU.
        for k in 1..f.len() {
            let r = client(&[&f[..k], &f[k..]], &p);
            if k > 17 {
                assert_eq!(r[0], Err(S7Violation::Function), "cut at {k}");
            } else {
                assert_eq!(r, [Ok(0), Err(S7Violation::Function)], "cut at {k}");
            }
        }
    }
}

#[test]
fn a_dangerous_pdu_after_an_allowed_one_denies_the_segment() {
    let p = profile();
    let mut s = dt(&read_var(&[item(0x84, 1, 0, 4)]), true);
    s.extend(dt(&plc_stop(), true));
    assert_eq!(client(&[&s], &p), [Err(S7Violation::Function)]);
    let mut s = dt(&userdata(4, 1, &[0, 0x11, 0, 0]), true);
    s.extend(dt(&userdata(7, 2, &[0; 10]), true));
    let mut bits = 0;
    let d = walk_all(&[&s], Some(&p), &mut bits)
        .0
        .remove(0)
        .unwrap_err();
    assert_eq!(
        (d.kind, d.scope, d.code, d.known),
        (S7Violation::Function, 7, 2, 3)
    );
}

/// A PDU split into data TPDUs: `cuts` are offsets into the S7 PDU; EOT only on the last.
fn fragments(pdu: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cuts.iter().chain(core::iter::once(&pdu.len())) {
        out.extend(dt(&pdu[at..c], c == pdu.len()));
        at = c;
    }
    out
}

#[test]
fn the_cotp_fragment_trick_is_judged_on_the_reassembled_pdu() {
    let p = profile();
    let stop = plc_stop();
    // The function octet (S7 offset 10) alone in the second data TPDU, in a second segment:
    // the first segment passes (the PLC cannot act on half a PDU), the second is denied.
    for cut in 1..stop.len() {
        let f = fragments(&stop, &[cut]);
        let first = dt(&stop[..cut], false).len();
        let r = client(&[&f[..first], &f[first..]], &p);
        if cut > 10 {
            assert_eq!(r[0], Err(S7Violation::Function), "cut {cut}");
        } else {
            assert_eq!(r, [Ok(1), Err(S7Violation::Function)], "cut {cut}");
        }
        // Every S7 octet in a TPDU of its own.
        let all: Vec<usize> = (1..stop.len()).collect();
        assert_eq!(
            client(&[&fragments(&stop, &all)], &p),
            [Err(S7Violation::Function)]
        );
    }
    // An allowed PDU fragmented passes and ends on a boundary.
    let read = read_var(&[item(0x84, 1, 0, 4)]);
    for cut in 1..read.len() {
        let f = fragments(&read, &[cut]);
        let mut bits = 0;
        let (r, c) = walk_all(&[&f], Some(&p), &mut bits);
        assert_eq!(r, [Ok(2)], "cut {cut}");
        assert!(c.at_boundary());
    }
}

#[test]
fn fragments_must_add_up_to_the_header_lengths() {
    let p = profile();
    let read = read_var(&[item(0x84, 1, 0, 4)]);
    // EOT before the PDU is complete.
    let mut f = dt(&read[..12], false);
    f.extend(dt(&read[12..20], true));
    assert_eq!(client(&[&f], &p), [Err(S7Violation::Malformed)]);
    // More octets than the header says, in the same or a later TPDU.
    let mut long = read.clone();
    long.push(0);
    assert_eq!(
        client(&[&dt(&long, true)], &p),
        [Err(S7Violation::Malformed)]
    );
    let mut f = dt(&read, false);
    f.extend(dt(&[0], true));
    assert_eq!(client(&[&f], &p), [Err(S7Violation::Malformed)]);
    // A connection request or disconnect inside a fragmented PDU.
    let mut f = dt(&read[..5], false);
    f.extend(connection_request(0x0102));
    assert_eq!(client(&[&f], &p), [Err(S7Violation::Malformed)]);
    // An empty data TPDU, a header cut by EOT.
    assert_eq!(client(&[&dt(&[], true)], &p), [Err(S7Violation::Malformed)]);
    assert_eq!(
        client(&[&dt(&read[..9], true)], &p),
        [Err(S7Violation::Malformed)]
    );
}

#[test]
fn framing_errors_are_malformed() {
    let p = profile();
    let good = dt(&setup_communication(), true);
    for (at, byte) in [
        (0, 0x04),  // TPKT version
        (1, 0x01),  // TPKT reserved
        (3, 0x05),  // TPKT length below a DT's
        (4, 0x01),  // LI
        (4, 0xFE),  // LI beyond the TPKT
        (5, 0xF1),  // COTP type
        (5, 0x10),  // expedited data: not class 0
        (7, 0x33),  // protocol id
        (8, 0x05),  // ROSCTR
        (14, 0x00), // parameter length 0 for a job
        (16, 0x01), // data length beyond the PDU
    ] {
        let mut f = good.clone();
        f[at] = byte;
        assert_eq!(
            client(&[&f], &p),
            [Err(S7Violation::Malformed)],
            "{at} {byte:#x}"
        );
    }
    assert_eq!(
        client(&[&vec![0u8; 4000]], &p),
        [Err(S7Violation::Malformed)]
    );
}

#[test]
fn directions() {
    let p = profile();
    let direction = |r: Result<u8, S7Denial>| r.map_err(|d| d.kind);
    // From the client: ack-data, a connection confirm, a userdata response.
    for f in [
        dt(
            &ack_data(&[0x04, 0x01], &[0xFF, 0x04, 0x00, 0x08, 0x01]),
            true,
        ),
        connection_confirm(),
        dt(&userdata_response(4, 1, &[0; 4]), true),
    ] {
        assert_eq!(direction(one(&f, &p)), Err(S7Violation::Direction));
    }
    // From the server: a job, a connection request; its own replies pass.
    let mut bits = 0;
    for f in [dt(&plc_stop(), true), connection_request(0x0102)] {
        let r = walk_all(&[&f], None, &mut bits).0.remove(0);
        assert_eq!(direction(r), Err(S7Violation::Direction));
    }
    let mut s = connection_confirm();
    s.extend(dt(&ack_data(&[0xF0, 0, 0, 1, 0, 1, 1, 0xE0], &[]), true));
    s.extend(dt(
        &ack_data(&[0x04, 0x01], &[0xFF, 0x04, 0x00, 0x20, 1, 2, 3, 4]),
        true,
    ));
    s.extend(dt(&userdata_response(4, 1, &[0; 20]), true));
    s.extend(tpkt(&[6, cotp::DR, 0, 1, 0, 1, 0]));
    for k in 1..s.len() {
        let (r, c) = walk_all(&[&s[..k], &s[k..]], None, &mut bits);
        assert!(r.iter().all(|r| r.is_ok()), "cut {k}: {r:?}");
        assert!(c.at_boundary());
    }
}

#[test]
fn tsaps() {
    let p = profile();
    assert_eq!(one(&connection_request(0x0102), &p), Ok(1));
    let d = one(&connection_request(0x0103), &p).unwrap_err();
    assert_eq!((d.kind, d.address, d.known), (S7Violation::Tsap, 0x0103, 4));
    // No restriction: any TSAP.
    assert_eq!(
        one(&connection_request(0x0301), &S7Profile::read_only()),
        Ok(1)
    );
    // A string TSAP (S7-1200/1500 "SIMATIC-ROOT-HMI"), no called TSAP, two called TSAPs.
    let mut body = vec![0, cotp::CR, 0, 0, 0, 1, 0, 0xC2, 16];
    body.extend_from_slice(b"SIMATIC-ROOT-HMI");
    body[0] = (body.len() - 1) as u8;
    assert_eq!(client(&[&tpkt(&body)], &p), [Err(S7Violation::Tsap)]);
    let none = tpkt(&[6, cotp::CR, 0, 0, 0, 1, 0]);
    assert_eq!(client(&[&none], &p), [Err(S7Violation::Tsap)]);
    assert_eq!(client(&[&none], &S7Profile::read_only()), [Ok(1)]);
    let two = tpkt(&[14, cotp::CR, 0, 0, 0, 1, 0, 0xC2, 2, 1, 2, 0xC2, 2, 1, 3]);
    assert_eq!(client(&[&two], &p), [Err(S7Violation::Malformed)]);
    // A parameter that overruns the header.
    let over = tpkt(&[10, cotp::CR, 0, 0, 0, 1, 0, 0xC2, 3, 1, 2]);
    assert_eq!(client(&[&over], &p), [Err(S7Violation::Malformed)]);
    // Cut at every byte: the segment that ends the request decides.
    let f = connection_request(0x0103);
    for k in 1..f.len() {
        assert_eq!(
            client(&[&f[..k], &f[k..]], &p),
            [Ok(0), Err(S7Violation::Tsap)]
        );
    }
}

#[test]
fn s7comm_plus_only_when_allowed() {
    let f = dt(&plus(&[0x31, 0, 0, 4, 0xF2]), true);
    let p = profile();
    let mut bits = 0;
    let r = walk_all(&[&f], Some(&p), &mut bits).0.remove(0);
    assert_eq!(r.map_err(|d| d.kind), Err(S7Violation::Plus));
    // The server's S7comm-plus passes only after the client's was allowed.
    let r = walk_all(&[&f], None, &mut bits).0.remove(0);
    assert_eq!(r.map_err(|d| d.kind), Err(S7Violation::Plus));
    let mut allow = p;
    allow.flags |= profile_flags::S7COMM_PLUS;
    let big = plus(&[0xAA; 3000]);
    let frags = fragments(&big, &[1000, 2000]);
    let (r, c) = walk_all(&[&frags[..1500], &frags[1500..]], Some(&allow), &mut bits);
    assert_eq!(r, [Ok(1), Ok(2)]);
    assert!(c.at_boundary() && bits & session::PLUS != 0);
    assert_eq!(walk_all(&[&f], None, &mut bits).0, [Ok(1)]);
}

#[test]
fn userdata_functions() {
    let p = profile();
    for (group, sub, ok) in [
        (4, 1, true),  // SZL read
        (7, 1, true),  // clock read
        (7, 3, true),  // clock read following
        (3, 3, true),  // block info
        (7, 2, false), // set clock
        (5, 1, false), // PLC password
        (1, 2, false), // programmer: variable table (force)
        (4, 2, false), // message service
        (2, 1, false), // cyclic data
    ] {
        let r = one(
            &dt(&crate::pktgen::s7comm::userdata(group, sub, &[0; 4]), true),
            &p,
        );
        if ok {
            assert_eq!(r, Ok(1), "{group} {sub}");
        } else {
            let d = r.unwrap_err();
            assert_eq!(
                (d.kind, d.scope, d.code),
                (S7Violation::Function, group, sub)
            );
        }
    }
    // A userdata parameter head other than 00 01 12, or a length that does not add up.
    let mut u = crate::pktgen::s7comm::userdata(4, 1, &[0; 4]);
    u[12] = 0x13;
    assert_eq!(client(&[&dt(&u, true)], &p), [Err(S7Violation::Malformed)]);
    let mut u = crate::pktgen::s7comm::userdata(4, 1, &[0; 4]);
    u[13] = 8;
    assert_eq!(client(&[&dt(&u, true)], &p), [Err(S7Violation::Malformed)]);
}

#[test]
fn areas_and_db_numbers() {
    let mut p = profile();
    p.allow_function(job::WRITE_VAR);
    p.restrict_areas(1 << 4 | 1 << 3);
    p.allow_db_numbers(1, 2).unwrap();
    assert_eq!(one(&dt(&write_var(0x84, 2, 0, &[1]), true), &p), Ok(1));
    assert_eq!(one(&dt(&write_var(0x83, 0, 0, &[1]), true), &p), Ok(1));
    let d = one(&dt(&write_var(0x84, 3, 0, &[1]), true), &p).unwrap_err();
    assert_eq!(
        (d.kind, d.scope, d.code, d.address, d.known),
        (S7Violation::Address, 0x84, 0x05, 3, 7)
    );
    let d = one(&dt(&write_var(0x82, 0, 0, &[1]), true), &p).unwrap_err();
    assert_eq!((d.kind, d.scope, d.known), (S7Violation::Address, 0x82, 3));
    // The second item of a read decides.
    let r = read_var(&[item(0x84, 1, 0, 4), item(0x81, 0, 0, 1)]);
    assert_eq!(client(&[&dt(&r, true)], &p), [Err(S7Violation::Address)]);
    // Another item syntax, a count that does not match the parameter length.
    let mut r = read_var(&[item(0x84, 1, 0, 4)]);
    r[14] = 0xB0;
    assert_eq!(client(&[&dt(&r, true)], &p), [Err(S7Violation::Address)]);
    let mut r = read_var(&[item(0x84, 1, 0, 4)]);
    r[11] = 2;
    assert_eq!(client(&[&dt(&r, true)], &p), [Err(S7Violation::Address)]);
    // Without a restriction items are not walked.
    let q = profile();
    let mut r = read_var(&[item(0x81, 9, 0, 4)]);
    r[14] = 0xB0;
    assert_eq!(one(&dt(&r, true), &q), Ok(1));
}

#[test]
fn a_denial_leaves_the_cursor_and_session_as_they_were() {
    let p = profile();
    let mut c = S7Cursor::default();
    let mut bits = 0;
    let start = dt(&read_var(&[item(0x84, 1, 0, 4)]), true);
    walk(&start[..7], 0, 7, &mut c, &mut bits, Some(&p)).unwrap();
    let before = c;
    let bad = [0x32u8, 0x09, 0x00];
    assert!(walk(&bad[..], 0, 3, &mut c, &mut bits, Some(&p)).is_err());
    assert_eq!(c, before);
    walk(&start[7..], 0, start.len() - 7, &mut c, &mut bits, Some(&p)).unwrap();
    assert!(c.at_boundary());
}

#[test]
fn a_download_turns_the_roles_around_only_once_allowed() {
    let mut p = profile();
    let mut bits = 0;
    let block_request = dt(
        &job(
            &[
                0x1B, 0, 0, 0, 0, 0, 0, 0, 9, b'_', b'0', b'B', b'0', b'0', b'0', b'0', b'1', b'P',
            ],
            &[],
        ),
        true,
    );
    let ack = dt(&ack_data(&[0x1B, 0], &[0, 4, 0xAA, 0xBB]), true);
    // Without an allowed request download: the PLC's job and the client's ack-data are
    // direction violations.
    let r = walk_all(&[&block_request], None, &mut bits).0.remove(0);
    assert_eq!(r.map_err(|d| d.kind), Err(S7Violation::Direction));
    let r = walk_all(&[&ack], Some(&p), &mut bits).0.remove(0);
    assert_eq!(r.map_err(|d| d.kind), Err(S7Violation::Direction));
    p.allow_function(job::REQUEST_DOWNLOAD);
    let request = dt(
        &job(
            &[
                0x1A, 0, 1, 0, 0, 0, 0, 0, 9, b'_', b'0', b'B', b'0', b'0', b'0', b'0', b'1', b'P',
                0,
            ],
            &[],
        ),
        true,
    );
    assert_eq!(walk_all(&[&request], Some(&p), &mut bits).0, [Ok(1)]);
    assert!(bits & session::DOWNLOAD != 0);
    assert_eq!(walk_all(&[&block_request], None, &mut bits).0, [Ok(1)]);
    assert_eq!(walk_all(&[&ack], Some(&p), &mut bits).0, [Ok(1)]);
    // Still, the PLC sends no other job.
    let r = walk_all(&[&dt(&plc_stop(), true)], None, &mut bits)
        .0
        .remove(0);
    assert_eq!(r.map_err(|d| d.kind), Err(S7Violation::Direction));
}
