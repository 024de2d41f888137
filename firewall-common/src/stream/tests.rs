//! The walker with a real inspector (IEC 104): splits at every byte, several PDUs per
//! segment, denials that leave the cursor alone, and sequence positions.

use alloc::vec::Vec;

use super::*;
use crate::iec104::{
    self, Control, Iec104Profile, Iec104Violation, Monitor, START, cause, session, u_frame,
};

fn profile() -> Iec104Profile {
    let mut p = Iec104Profile::read_only();
    p.allow_type_id(45);
    p.allow_common_addresses(1, 1).unwrap();
    p
}

fn command(type_id: u8) -> Vec<u8> {
    iec104::tests::i_frame(type_id, cause::ACTIVATION, 1, 1)
}

/// Walks `segments` in order from a fresh cursor with STARTDT confirmed; the result of each.
fn walk_all(segments: &[&[u8]]) -> (Vec<Result<u8, Iec104Violation>>, StreamCursor) {
    let p = profile();
    let inspector = Control { profile: &p };
    let mut cursor = StreamCursor::default();
    let mut s = session::STARTED;
    let results = segments
        .iter()
        .map(|seg| walk(*seg, 0, seg.len(), &mut cursor, &mut s, &inspector).map_err(|d| d.kind))
        .collect();
    (results, cursor)
}

#[test]
fn an_allowed_pdu_split_at_every_byte_passes_and_leaves_a_clean_cursor() {
    let f = command(45);
    for k in 1..f.len() {
        let (r, cursor) = walk_all(&[&f[..k], &f[k..]]);
        assert!(r.iter().all(Result::is_ok), "split at {k}: {r:?}");
        assert!(cursor.at_boundary(), "split at {k}");
        // Judged exactly once, in the segment that completed the head.
        let judged: u8 = r.iter().map(|x| *x.as_ref().unwrap()).sum();
        assert_eq!(judged, 1, "split at {k}");
    }
}

#[test]
fn a_denied_pdu_split_at_every_byte_is_denied_where_its_head_completes() {
    let f = command(46);
    for k in 1..f.len() {
        let (r, _) = walk_all(&[&f[..k], &f[k..]]);
        if k < iec104::HEAD_LEN {
            assert_eq!(r[0], Ok(0), "split at {k}");
            assert_eq!(r[1], Err(Iec104Violation::TypeId), "split at {k}");
        } else {
            assert_eq!(r[0], Err(Iec104Violation::TypeId), "split at {k}");
        }
    }
}

#[test]
fn a_head_split_three_ways_is_judged_when_complete() {
    let f = command(46);
    let (r, _) = walk_all(&[&f[..1], &f[1..5], &f[5..13], &f[13..]]);
    assert_eq!(r[..2], [Ok(0), Ok(0)]);
    assert_eq!(r[2], Err(Iec104Violation::TypeId));
}

#[test]
fn the_dangerous_pdu_second_in_a_segment_denies_the_segment() {
    let mut seg = command(100);
    seg.extend(command(46));
    let (r, cursor) = walk_all(&[&seg]);
    assert_eq!(r[0], Err(Iec104Violation::TypeId));
    assert_eq!(cursor, StreamCursor::default());
    // And after an allowed PDU whose tail is in the same segment as the dangerous head.
    let a = command(100);
    let mut second = a[10..].to_vec();
    second.extend(command(46));
    let (r, _) = walk_all(&[&a[..10], &second]);
    assert_eq!(r, [Ok(0), Err(Iec104Violation::TypeId)]);
}

#[test]
fn tails_pass_and_the_next_pdu_is_judged_after_them() {
    let a = command(100);
    let b = command(45);
    let mut stream = a.clone();
    stream.extend(&b);
    stream.extend(&a);
    // Cut the stream into 5-byte segments.
    let segments: Vec<&[u8]> = stream.chunks(5).collect();
    let (r, cursor) = walk_all(&segments);
    assert!(r.iter().all(Result::is_ok), "{r:?}");
    assert_eq!(r.iter().map(|x| *x.as_ref().unwrap()).sum::<u8>(), 3);
    assert!(cursor.at_boundary());
}

#[test]
fn a_denial_leaves_cursor_and_session_as_they_were() {
    let p = profile();
    let mut cursor = StreamCursor::default();
    let mut s = session::STARTED;
    let f = command(100);
    walk(&f[..7], 0, 7, &mut cursor, &mut s, &Control { profile: &p }).unwrap();
    let before = cursor;
    let bad = [0x69u8; 9];
    assert!(
        walk(
            &bad[..],
            0,
            9,
            &mut cursor,
            &mut s,
            &Control { profile: &p }
        )
        .is_err()
    );
    assert_eq!(cursor, before);
    // The server's STOPDT confirmation in a segment that is denied as a whole does not
    // change the session either.
    let mut seg = [START, 4, u_frame::STOPDT_CON, 0, 0, 0].to_vec();
    seg.push(0x69);
    let mut server = StreamCursor::default();
    assert!(walk(&seg[..], 0, seg.len(), &mut server, &mut s, &Monitor).is_err());
    assert_eq!(s, session::STARTED);
}

#[test]
fn the_session_is_shared_by_both_directions() {
    let p = profile();
    let mut client = StreamCursor::default();
    let mut server = StreamCursor::default();
    let mut s = 0;
    let ic = command(100);
    let denied = walk(
        &ic[..],
        0,
        ic.len(),
        &mut client,
        &mut s,
        &Control { profile: &p },
    );
    assert_eq!(denied.unwrap_err().kind, Iec104Violation::NotStarted);
    let con = [START, 4, u_frame::STARTDT_CON, 0, 0, 0];
    walk(&con[..], 0, 6, &mut server, &mut s, &Monitor).unwrap();
    walk(
        &ic[..],
        0,
        ic.len(),
        &mut client,
        &mut s,
        &Control { profile: &p },
    )
    .unwrap();
}

#[test]
fn every_pdu_of_a_segment_is_judged_up_to_the_payload_bound() {
    let testfr = [START, 4, u_frame::TESTFR_ACT, 0, 0, 0];
    let n = PAYLOAD_MAX / testfr.len();
    let seg: Vec<u8> = testfr.repeat(n);
    assert_eq!(walk_all(&[&seg]).0[0], Ok(n.min(255) as u8));
    // The last one a command: the whole segment is denied.
    let mut seg: Vec<u8> = testfr.repeat(20);
    seg.extend(command(46));
    assert_eq!(walk_all(&[&seg]).0[0], Err(Iec104Violation::TypeId));
    // Longer than the payload a walker copies: unwalkable.
    let seg: Vec<u8> = testfr.repeat(n + 1);
    assert_eq!(walk_all(&[&seg]).0[0], Err(Iec104Violation::Malformed));
}

#[test]
fn positions_in_sequence_space() {
    let s = Sequence {
        next: 1000,
        last: 900,
        acked: 800,
    };
    assert_eq!(position(&s, 1000, 50), Position::InOrder);
    assert_eq!(position(&s, 900, 100), Position::Again);
    assert_eq!(position(&s, 900, 150), Position::Again);
    assert_eq!(position(&s, 700, 100), Position::Acknowledged);
    assert_eq!(position(&s, 700, 101), Position::OutOfOrder);
    assert_eq!(position(&s, 950, 50), Position::OutOfOrder);
    assert_eq!(position(&s, 1001, 10), Position::OutOfOrder);
    // Around the wrap of the sequence space.
    let w = Sequence {
        next: 10,
        last: u32::MAX - 89,
        acked: u32::MAX - 189,
    };
    assert_eq!(position(&w, 10, 5), Position::InOrder);
    assert_eq!(position(&w, u32::MAX - 89, 100), Position::Again);
    assert_eq!(position(&w, u32::MAX - 289, 100), Position::Acknowledged);
    assert_eq!(position(&w, u32::MAX - 289, 101), Position::OutOfOrder);
}

/// Runs [`segment`] for the control direction of a flow whose opener sent its SYN at 999.
struct Flow {
    side: StreamSide,
    session: u8,
    profile: Iec104Profile,
}

impl Flow {
    fn new() -> Flow {
        let mut side = StreamSide::START;
        side.syn(999);
        Flow {
            side,
            session: session::STARTED,
            profile: profile(),
        }
    }

    fn send(&mut self, seq: u32, bytes: &[u8]) -> Verdict<Iec104Violation> {
        let inspector = Control {
            profile: &self.profile,
        };
        match segment(
            bytes,
            0,
            bytes.len(),
            seq,
            &mut self.side,
            &mut self.session,
            &inspector,
        ) {
            Verdict::Pass => Verdict::Pass,
            Verdict::Denied(d) => Verdict::Denied(d.kind),
            Verdict::OutOfOrder => Verdict::OutOfOrder,
        }
    }
}

#[test]
fn segments_in_order_are_walked_and_move_the_stream() {
    let mut f = Flow::new();
    let a = command(100);
    assert_eq!(f.send(1000, &a), Verdict::Pass);
    assert_eq!(f.side.seq.next, 1000 + a.len() as u32);
    assert_eq!(f.side.seq.last, 1000);
    assert_eq!(
        f.send(1000 + a.len() as u32, &command(46)),
        Verdict::Denied(Iec104Violation::TypeId)
    );
    // The denied segment moved nothing: the sender's retransmission of it is in order again.
    assert_eq!(f.side.seq.next, 1000 + a.len() as u32);
}

#[test]
fn a_retransmission_with_other_bytes_is_judged_on_its_own_bytes() {
    let mut f = Flow::new();
    let allowed = command(100);
    let mut dangerous = command(46);
    dangerous.truncate(allowed.len());
    assert_eq!(f.send(1000, &allowed), Verdict::Pass);
    // Same sequence number, same length, a command in place of the interrogation.
    assert_eq!(
        f.send(1000, &dangerous),
        Verdict::Denied(Iec104Violation::TypeId)
    );
    // A true retransmission passes and leaves the stream where it was.
    assert_eq!(f.send(1000, &allowed), Verdict::Pass);
    assert_eq!(f.side.seq.next, 1000 + allowed.len() as u32);
    assert!(f.side.cursor.at_boundary());
}

#[test]
fn a_retransmission_of_a_split_head_is_judged_from_the_state_before_it() {
    let mut f = Flow::new();
    let allowed = command(100);
    assert_eq!(f.send(1000, &allowed[..5]), Verdict::Pass);
    assert_eq!(f.send(1005, &allowed[5..]), Verdict::Pass);
    // The second part again, with the type id of a command: judged with the held head.
    let mut other = command(46);
    other.truncate(allowed.len());
    assert_eq!(
        f.send(1005, &other[5..]),
        Verdict::Denied(Iec104Violation::TypeId)
    );
}

#[test]
fn a_longer_retransmission_moves_the_stream_and_a_shorter_one_does_not() {
    let mut f = Flow::new();
    let a = command(100);
    let b = command(101);
    assert_eq!(f.send(1000, &a), Verdict::Pass);
    let mut both = a.clone();
    both.extend(&b);
    assert_eq!(f.send(1000, &both), Verdict::Pass);
    assert_eq!(f.side.seq.next, 1000 + both.len() as u32);
    // Shorter than the last segment (which started at 1000): judged, position kept.
    assert_eq!(f.send(1000, &a), Verdict::Pass);
    assert_eq!(f.side.seq.next, 1000 + both.len() as u32);
}

#[test]
fn gaps_and_overlaps_into_unjudged_bytes_are_out_of_order() {
    let mut f = Flow::new();
    let a = command(100);
    let n = a.len() as u32;
    assert_eq!(f.send(1000, &a), Verdict::Pass);
    // A gap: the segment after the next one.
    assert_eq!(f.send(1000 + 2 * n, &a), Verdict::OutOfOrder);
    // An overlap that starts inside the judged segment and runs into new bytes.
    let mut over = a[5..].to_vec();
    over.extend(command(46));
    assert_eq!(f.send(1005, &over), Verdict::OutOfOrder);
    assert_eq!(f.side.seq.next, 1000 + n);
}

#[test]
fn duplicates_below_the_receivers_acknowledgement_pass_unwalked() {
    let mut f = Flow::new();
    let a = command(100);
    let n = a.len() as u32;
    assert_eq!(f.send(1000, &a), Verdict::Pass);
    assert_eq!(f.send(1000 + n, &a), Verdict::Pass);
    // Not acknowledged yet: an old segment that is not the last one is out of order.
    assert_eq!(
        f.send(1000, &command(46)[..n as usize]),
        Verdict::OutOfOrder
    );
    f.side.acknowledge(1000 + n);
    // The receiver has those bytes and discards them, whatever they say.
    assert_eq!(f.send(1000, &command(46)[..n as usize]), Verdict::Pass);
    // An acknowledgement of bytes never judged is ignored.
    f.side.acknowledge(5000);
    assert_eq!(f.side.seq.acked, 1000 + n);
}

#[test]
fn a_direction_picked_up_mid_stream_starts_on_a_boundary() {
    let mut f = Flow::new();
    f.side = StreamSide::START;
    assert_eq!(f.send(77, &command(100)), Verdict::Pass);
    assert_eq!(f.side.seq.last, 77);
    assert_eq!(f.side.synced, 1);
}

#[test]
fn sequence_numbers_wrap() {
    let mut f = Flow::new();
    f.side.syn(u32::MAX - 5);
    let a = command(100);
    assert_eq!(f.send(u32::MAX - 4, &a), Verdict::Pass);
    assert_eq!(f.side.seq.next, (u32::MAX - 4).wrapping_add(a.len() as u32));
    assert_eq!(
        f.send(f.side.seq.next, &command(46)),
        Verdict::Denied(Iec104Violation::TypeId)
    );
}

#[test]
fn payload_bytes_stop_at_the_copied_length_and_the_buffer() {
    let mut payload = Payload {
        bytes: [0; PAYLOAD_MAX + PAYLOAD_PAD],
    };
    payload.bytes[..4].copy_from_slice(&[1, 2, 3, 4]);
    payload.bytes[PAYLOAD_MAX - 1] = 9;
    let b = PayloadBytes {
        payload: &payload,
        len: 4,
    };
    assert_eq!(b.load::<2>(2), Some([3, 4]));
    assert_eq!(b.load::<2>(3), None);
    assert_eq!(b.load::<1>(usize::MAX), None);
    let full = PayloadBytes {
        payload: &payload,
        len: PAYLOAD_MAX,
    };
    assert_eq!(full.load::<1>(PAYLOAD_MAX - 1), Some([9]));
    assert_eq!(full.load::<1>(PAYLOAD_MAX), None);
}
