//! `pi_services`: the walker reads a PI job's service name octet by octet, through the
//! parameter block, across TCP segments and data TPDUs, and judges it at its last octet.

use alloc::{vec, vec::Vec};

use super::*;
use crate::{event::detail, pktgen::s7comm::*};

/// Setup communication and PI services (every one allowed unless `names` restricts them).
fn profile(names: &[&str]) -> S7Profile {
    let mut p = S7Profile::new();
    p.allow_function(job::SETUP_COMMUNICATION);
    p.allow_function(job::PI_SERVICE);
    for n in names {
        p.allow_pi_service(pi_service_named(n).unwrap());
    }
    p
}

fn walk_segments(segments: &[&[u8]], p: &S7Profile) -> (Vec<Result<u8, S7Denial>>, S7Cursor) {
    let mut c = S7Cursor::default();
    let mut bits = 0;
    let r = segments
        .iter()
        .map(|s| walk(*s, 0, s.len(), &mut c, &mut bits, Some(p)))
        .collect();
    (r, c)
}

fn one(stream: &[u8], p: &S7Profile) -> Result<u8, S7Denial> {
    walk_segments(&[stream], p).0.remove(0)
}

fn denied(address: u16) -> Result<u8, S7Denial> {
    Err(S7Denial {
        kind: S7Violation::Function,
        known: detail::CODE | detail::ADDRESS,
        scope: 0,
        code: 0x28,
        address,
    })
}

fn malformed() -> Result<u8, S7Denial> {
    Err(S7Denial::new(S7Violation::Malformed))
}

/// A PDU split into data TPDUs at `cuts` (offsets into the S7 PDU); EOT on the last.
fn fragments(pdu: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cuts.iter().chain(core::iter::once(&pdu.len())) {
        out.extend(dt(&pdu[at..c], c == pdu.len()));
        at = c;
    }
    out
}

/// What python-snap7 3.3.0's client sends (its `s7protocol.py` parameter constants): hot
/// start, cold start, copy RAM to ROM, in the layout of Wireshark's PI service dissector.
#[test]
fn snap7s_pi_jobs_are_the_wireshark_layout() {
    let params = |pdu: &[u8]| pdu[10..].to_vec();
    let mut hot = vec![0x28, 0, 0, 0, 0, 0, 0, 0xFD, 0, 0, 9];
    hot.extend_from_slice(b"P_PROGRAM");
    assert_eq!(params(&pi_service(b"P_PROGRAM")), hot);
    let mut cold = vec![0x28, 0, 0, 0, 0, 0, 0, 0xFD, 0, 2, b'C', b' ', 9];
    cold.extend_from_slice(b"P_PROGRAM");
    assert_eq!(params(&pi_service_with(b"C ", b"P_PROGRAM")), cold);
    let mut modu = vec![0x28, 0, 0, 0, 0, 0, 0, 0xFD, 0, 2, b'E', b'P', 5];
    modu.extend_from_slice(b"_MODU");
    assert_eq!(params(&pi_service_with(b"EP", b"_MODU")), modu);
}

#[test]
fn every_name_passes_when_listed_and_is_denied_with_its_index_otherwise() {
    for (i, s) in PI_SERVICES.iter().enumerate() {
        let allowed = profile(&[s.wire]);
        // Another service listed: this one is denied.
        let other = profile(&[if i == 5 { "p_program" } else { "compress" }]);
        let f = dt(&pi_service(s.wire.as_bytes()), true);
        assert_eq!(one(&f, &allowed), Ok(1), "{}", s.wire);
        assert_eq!(one(&f, &other), denied(i as u16), "{}", s.wire);
        // Cut at every octet: the first part passes, the name's last octet (the TPDU's last)
        // is judged in the second.
        for k in 1..f.len() {
            let (r, c) = walk_segments(&[&f[..k], &f[k..]], &allowed);
            assert_eq!(r, [Ok(0), Ok(1)], "{} cut at {k}", s.wire);
            assert!(c.at_boundary());
            let (r, _) = walk_segments(&[&f[..k], &f[k..]], &other);
            assert_eq!(r, [Ok(0), denied(i as u16)], "{} cut at {k}", s.wire);
        }
    }
}

#[test]
fn a_parameter_block_is_skipped_in_segments_and_data_tpdus() {
    let p = profile(&["p_program", "copy_ram_to_rom", "delete"]);
    let q = profile(&["compress"]);
    let step7_delete = pi_service_with(
        &[1, 0, b'0', b'A', b'0', b'0', b'0', b'0', b'1', b'P'],
        b"_DELE",
    );
    for (pdu, index) in [
        (pi_service_with(b"C ", b"P_PROGRAM"), 3),
        (pi_service_with(b"EP", b"_MODU"), 4),
        (step7_delete, 2),
        // A block that spells an allowed name is no name.
        (pi_service_with(b"_GARB", b"_DELE"), 2),
    ] {
        let f = dt(&pdu, true);
        assert_eq!(one(&f, &p), Ok(1));
        assert_eq!(one(&f, &q), denied(index));
        for k in 1..f.len() {
            assert_eq!(
                walk_segments(&[&f[..k], &f[k..]], &p).0,
                [Ok(0), Ok(1)],
                "cut {k}"
            );
            assert_eq!(
                walk_segments(&[&f[..k], &f[k..]], &q).0,
                [Ok(0), denied(index)],
                "cut {k}"
            );
        }
        // Split over data TPDUs anywhere (the function alone in the first, the name cut).
        for cut in 1..pdu.len() {
            let f = fragments(&pdu, &[cut]);
            assert_eq!(one(&f, &p), Ok(2), "cut {cut}");
            assert_eq!(one(&f, &q), denied(index), "cut {cut}");
        }
        let all: Vec<usize> = (1..pdu.len()).collect();
        assert_eq!(one(&fragments(&pdu, &all), &p), Ok(pdu.len() as u8));
        assert_eq!(one(&fragments(&pdu, &all), &q), denied(index));
    }
}

#[test]
fn unknown_and_overlong_names_are_denied_when_a_list_is_given() {
    let p = profile(&["compress"]);
    // Not in the table; lower case; other octets; 11 octets (longer than any in the table,
    // denied at the length octet); empty.
    for (name, at) in [
        (&b"_GARC"[..], 4),
        (b"_garb", 1),
        (b"_GA B", 3),
        (b"ABCDEFGHIJ", 9),
        (b"_N_LOGIN_XY", 0),
        (b"", 0),
    ] {
        let pdu = pi_service(name);
        let f = dt(&pdu, true);
        assert_eq!(one(&f, &p), denied(PI_UNKNOWN), "{name:?}");
        // Denied in the segment that carries octet `at` of the name (or its length octet).
        let decisive =
            f.len() - name.len() + at - usize::from(name.len() > MAX_PI_NAME || name.is_empty());
        for k in 1..f.len() {
            let r = walk_segments(&[&f[..k], &f[k..]], &p).0;
            if k > decisive {
                assert_eq!(r[0], denied(PI_UNKNOWN), "{name:?} cut {k}");
            } else {
                assert_eq!(r, [Ok(0), denied(PI_UNKNOWN)], "{name:?} cut {k}");
            }
        }
    }
    // The parameters end before the name: after the function, the unknown octets, the
    // block length.
    for params in [
        &[0x28][..],
        &[0x28, 0, 0, 0, 0, 0, 0, 0xFD],
        &[0x28, 0, 0, 0, 0, 0, 0, 0xFD, 0, 0],
    ] {
        assert_eq!(
            one(&dt(&job(params, &[]), true), &p),
            denied(PI_UNKNOWN),
            "{params:?}"
        );
    }
}

#[test]
fn a_layout_that_does_not_add_up_is_malformed() {
    let p = profile(&["compress"]);
    // The block overruns the parameters.
    let mut pdu = pi_service(b"_GARB");
    pdu[19] = 6;
    assert_eq!(one(&dt(&pdu, true), &p), malformed());
    // An octet after the name (the name length does not reach the parameters' end).
    let mut params = pi_service(b"_GARB")[10..].to_vec();
    params.push(0);
    assert_eq!(one(&dt(&job(&params, &[]), true), &p), malformed());
    // A name length beyond the parameters.
    params.pop();
    params[10] = 6;
    assert_eq!(one(&dt(&job(&params, &[]), true), &p), malformed());
    // python-snap7 3.3.0's delete block: `28 00 00 00 00 00 08 05 00 "4100001P" "_DELE"`
    // puts the lengths where the unknown octets are: its "block length" 0x0034 overruns.
    let mut snap7_delete = vec![0x28, 0, 0, 0, 0, 0, 8, 5, 0];
    snap7_delete.extend_from_slice(b"4100001P_DELE");
    assert_eq!(
        one(&dt(&job(&snap7_delete, &[]), true), &profile(&["delete"])),
        malformed()
    );
}

#[test]
fn without_a_list_every_pi_service_passes() {
    let p = profile(&[]);
    assert_eq!(p.flags & profile_flags::RESTRICT_PI, 0);
    for pdu in [
        pi_service(b"_GARC"),
        pi_service(b"_N_LOGIN_XY"),
        job(&[0x28], &[]),
        job(
            &[
                0x28, 0, 0, 0, 0, 0, 8, 5, 0, b'4', b'1', b'0', b'0', b'0', b'0', b'1', b'P', b'_',
                b'D', b'E', b'L', b'E',
            ],
            &[],
        ),
    ] {
        assert_eq!(one(&dt(&pdu, true), &p), Ok(1));
    }
    // And the function itself still needs listing.
    let mut q = profile(&[]);
    q.functions = crate::sets::Bitmap256::EMPTY;
    assert_eq!(
        one(&dt(&pi_service(b"_GARB"), true), &q).map_err(|d| d.kind),
        Err(S7Violation::Function)
    );
}

#[test]
fn the_name_state_does_not_leak_into_the_next_pdu() {
    let p = profile(&["compress"]);
    // An allowed PI job, then a denied one, then setup communication: each judged alone.
    let mut s = dt(&pi_service(b"_GARB"), true);
    s.extend(dt(&setup_communication(), true));
    s.extend(dt(&pi_service(b"_GARB"), true));
    assert_eq!(one(&s, &p), Ok(3));
    s.extend(dt(&pi_service(b"_DELE"), true));
    assert_eq!(one(&s, &p), denied(2));
    // The denial packs into the event detail: code 0x28, address the index.
    let d = one(&dt(&pi_service(b"P_PROGRAM"), true), &p).unwrap_err();
    assert_eq!(
        d.packed(),
        (0x28 << 8 | 3 << 16, detail::CODE | detail::ADDRESS)
    );
}

/// Items of a read_var split over data TPDUs anywhere (also inside an item) are walked on
/// the joined PDU: the item position survives the TPDU boundary (it was reset there, so the
/// walker read the rest of a cut item as a new one).
#[test]
fn items_keep_their_position_across_data_tpdus() {
    let mut p = S7Profile::read_only();
    p.restrict_areas(1 << 4);
    let allowed = read_var(&[item(0x84, 1, 0, 4), item(0x84, 2, 0, 2)]);
    let denied = read_var(&[item(0x84, 1, 0, 4), item(0x83, 0, 0, 2)]);
    for cut in 1..allowed.len() {
        assert_eq!(one(&fragments(&allowed, &[cut]), &p), Ok(2), "cut {cut}");
        let r = one(&fragments(&denied, &[cut]), &p).map_err(|d| (d.kind, d.scope));
        assert_eq!(r, Err((S7Violation::Address, 0x83)), "cut {cut}");
    }
}
