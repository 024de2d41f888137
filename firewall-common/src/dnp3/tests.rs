//! The byte walker on whole frames built as outstations and masters send them, cut at every
//! byte, with bad CRCs, wrong directions and transport continuations.

use alloc::{vec, vec::Vec};

use super::*;
use crate::pktgen::dnp3::{CLASS0, frame, request};

const FIR_FIN: u8 = transport::FIR | transport::FIN;

fn profile() -> Dnp3Profile {
    let mut p = Dnp3Profile::read_only();
    p.allow_function(2);
    p.allow_addresses(10, 10).unwrap();
    p
}

fn walk_all(
    segments: &[&[u8]],
    profile: Option<&Dnp3Profile>,
) -> (Vec<Result<u8, Dnp3Violation>>, Dnp3Cursor) {
    let mut c = Dnp3Cursor::default();
    let r = segments
        .iter()
        .map(|s| walk(*s, 0, s.len(), &mut c, profile).map_err(|d| d.kind))
        .collect();
    (r, c)
}

#[test]
fn the_frame_tshark_decodes_passes() {
    let f = request(1, 10, FIR_FIN, &CLASS0);
    assert_eq!(
        f,
        [
            0x05, 0x64, 0x0B, 0xC4, 0x0A, 0x00, 0x01, 0x00, 0xAC, 0xD1, 0xC0, 0xC0, 0x01, 0x3C,
            0x01, 0x06, 0xFF, 0x50
        ]
    );
    let p = profile();
    assert_eq!(walk_all(&[&f], Some(&p)).0, [Ok(1)]);
}

#[test]
fn an_allowed_frame_cut_at_every_byte_passes() {
    let p = profile();
    let f = request(1, 10, FIR_FIN, &CLASS0);
    for k in 1..f.len() {
        let (r, c) = walk_all(&[&f[..k], &f[k..]], Some(&p));
        assert_eq!(r, [Ok(0), Ok(1)], "cut at {k}");
        assert!(c.at_boundary());
    }
}

#[test]
fn a_denied_function_is_denied_in_the_segment_that_carries_it() {
    let p = profile();
    let f = request(13, 10, FIR_FIN, &[]);
    for k in 1..f.len() {
        let (r, _) = walk_all(&[&f[..k], &f[k..]], Some(&p));
        let expected = if k > 12 {
            vec![Err(Dnp3Violation::Function)]
        } else {
            vec![Ok(0), Err(Dnp3Violation::Function)]
        };
        assert_eq!(r[..expected.len()], expected[..], "cut at {k}");
    }
    let mut c = Dnp3Cursor::default();
    let d = walk(&f[..], 0, f.len(), &mut c, Some(&p)).unwrap_err();
    assert_eq!((d.function, d.address), (13, 10));
}

#[test]
fn every_crc_is_checked() {
    let p = profile();
    let mut f = request(2, 10, FIR_FIN, &[0x50; 40]);
    assert_eq!(walk_all(&[&f], Some(&p)).0, [Ok(1)]);
    // Header CRC.
    let mut bad = f.clone();
    bad[8] ^= 1;
    assert_eq!(walk_all(&[&bad], Some(&p)).0, [Err(Dnp3Violation::Crc)]);
    // A data byte of the third block: denied in the segment that holds the block's CRC.
    let third = HEADER_LEN + 2 * (BLOCK_LEN + 2) + 3;
    f[third] ^= 0x80;
    let (r, _) = walk_all(&[&f[..third + 1], &f[third + 1..]], Some(&p));
    assert_eq!(r, [Ok(0), Err(Dnp3Violation::Crc)]);
}

#[test]
fn directions_are_enforced() {
    let p = profile();
    // A master frame without DIR.
    let mut data = vec![FIR_FIN, 0xC0, 1];
    data.extend(CLASS0);
    let f = frame(0x44, 10, 1, &data);
    assert_eq!(walk_all(&[&f], Some(&p)).0, [Err(Dnp3Violation::Direction)]);
    // A response function from the master.
    let f = request(129, 10, FIR_FIN, &[0, 0]);
    assert_eq!(walk_all(&[&f], Some(&p)).0, [Err(Dnp3Violation::Direction)]);
    // The outstation's response passes; a request from it does not.
    let response = frame(0x44, 1, 10, &[FIR_FIN, 0xC0, 129, 0x00, 0x00]);
    assert_eq!(walk_all(&[&response], None).0, [Ok(1)]);
    let from_outstation = frame(0x44, 1, 10, &[FIR_FIN, 0xC0, 13]);
    assert_eq!(
        walk_all(&[&from_outstation], None).0,
        [Err(Dnp3Violation::Direction)]
    );
}

#[test]
fn addresses_and_link_housekeeping() {
    let p = profile();
    let to_11 = request(1, 11, FIR_FIN, &CLASS0);
    assert_eq!(
        walk_all(&[&to_11], Some(&p)).0,
        [Err(Dnp3Violation::Address)]
    );
    // Request link status, reset link states: no user data.
    for control in [0xC9, 0xC0, 0xC2] {
        let f = frame(control, 10, 1, &[]);
        assert_eq!(walk_all(&[&f], Some(&p)).0, [Ok(1)], "{control:#x}");
    }
    // User data in a frame whose function carries none, and the reverse.
    let f = frame(0xC9, 10, 1, &[FIR_FIN, 0xC0, 1]);
    assert_eq!(walk_all(&[&f], Some(&p)).0, [Err(Dnp3Violation::Malformed)]);
    let f = frame(0xC4, 10, 1, &[]);
    assert_eq!(walk_all(&[&f], Some(&p)).0, [Err(Dnp3Violation::Malformed)]);
    // Broadcast only when listed.
    let f = request(1, 0xFFFF, FIR_FIN, &CLASS0);
    assert_eq!(
        walk_all(&[&f], Some(&Dnp3Profile::read_only())).0,
        [Err(Dnp3Violation::Address)]
    );
}

#[test]
fn transport_continuations_need_an_allowed_first_segment() {
    let p = profile();
    let first = request(2, 10, transport::FIR | 5, &[0x50; 20]);
    let next = frame(0xC4, 10, 1, &[transport::FIN | 6, 0x50, 0x50]);
    assert_eq!(walk_all(&[&first, &next], Some(&p)).0, [Ok(1), Ok(1)]);
    // Out of sequence.
    let wrong = frame(0xC4, 10, 1, &[transport::FIN | 7, 0x50]);
    assert_eq!(
        walk_all(&[&first, &wrong], Some(&p)).0,
        [Ok(1), Err(Dnp3Violation::Transport)]
    );
    // No first segment (or after the fragment's FIN), whatever its sequence number.
    assert_eq!(
        walk_all(&[&next], Some(&p)).0,
        [Err(Dnp3Violation::Transport)]
    );
    let zero = frame(0xC4, 10, 1, &[transport::FIN, 0x50]);
    assert_eq!(
        walk_all(&[&zero], Some(&p)).0,
        [Err(Dnp3Violation::Transport)]
    );
    let done = request(1, 10, FIR_FIN, &CLASS0);
    assert_eq!(
        walk_all(&[&done, &next], Some(&p)).0,
        [Ok(1), Err(Dnp3Violation::Transport)]
    );
    // A denied first segment opens nothing.
    let denied = request(13, 10, transport::FIR | 5, &[]);
    assert_eq!(
        walk_all(&[&denied, &next], Some(&p)).0,
        [Err(Dnp3Violation::Function), Err(Dnp3Violation::Transport)]
    );
}

#[test]
fn the_dangerous_frame_second_in_a_segment_denies_it() {
    let p = profile();
    let mut seg = request(1, 10, FIR_FIN, &CLASS0);
    seg.extend(request(13, 10, FIR_FIN, &[]));
    let (r, c) = walk_all(&[&seg], Some(&p));
    assert_eq!(r, [Err(Dnp3Violation::Function)]);
    assert_eq!(c, Dnp3Cursor::default());
}

#[test]
fn the_longest_frame_and_a_short_first_fragment() {
    let p = profile();
    let f = request(2, 10, FIR_FIN, &[0x50; 247]);
    assert_eq!(f.len(), MAX_FRAME_LEN);
    assert_eq!(walk_all(&[&f], Some(&p)).0, [Ok(1)]);
    // A first fragment that ends before its function code.
    let f = frame(0xC4, 10, 1, &[FIR_FIN, 0xC0]);
    assert_eq!(walk_all(&[&f], Some(&p)).0, [Err(Dnp3Violation::Malformed)]);
    // Garbage between frames.
    let mut seg = request(1, 10, FIR_FIN, &CLASS0);
    seg.push(0);
    assert_eq!(
        walk_all(&[&seg], Some(&p)).0,
        [Err(Dnp3Violation::Malformed)]
    );
}
