//! The stream position the main XDP program keeps in a flow's conntrack entry
//! ([`FlowState::fast`]), so the common segment (one or more whole PDUs, in order) is judged
//! without the inspector program, the [`crate::maps::names::STREAMS`] entry or a byte walk.
//!
//! A direction is *fast* while every segment judged in it started and ended on a PDU
//! boundary: its position is two sequence numbers, where the next segment starts
//! ([`FastSide::next`]) and where the last one started ([`FastSide::last`]). The main program
//! judges a segment that starts at either (in order, or a retransmission of the last
//! segment, judged again on its own bytes) when it holds whole PDUs it can judge
//! ([`Place::Judge`]). Everything else is *walked*: the flow is marked
//! [`stream_bits::WALKED`] and every segment goes to its inspector program, which first
//! takes the position over ([`StreamSide::from_fast`]) and then applies the rule of
//! [`crate::stream`] byte by byte. When a walked segment leaves both directions on a
//! boundary (and the last segment of each started on one), the inspector hands the position
//! back ([`StreamSide::to_fast`]).
//!
//! The only thing the fast position does not keep is what the receiver acknowledged (that
//! would cost every segment a write): the inspector program starts a taken-over direction
//! with nothing acknowledged, so until the receiver acknowledges again a stale duplicate is
//! dropped as out of order rather than passed (the sender retransmits; nothing unjudged
//! passes).

use super::{Sequence, StreamCursor, StreamSide, before_eq};
use crate::flow::{FastSide, FlowState, stream_bits};

/// What the main program does with a segment of an inspected flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Nothing to judge (no payload: an acknowledgement, a SYN): it passes.
    Pass,
    /// Judge its payload as whole PDUs from a boundary; `again`: a retransmission of the
    /// direction's last segment.
    Judge { again: bool },
    /// The inspector program walks it (and every later segment of the flow).
    Walk,
}

/// Where the segment `seq`, `len` payload bytes, sent by the opener (`from_opener`) or its
/// peer, falls in a flow the main program judges; `syn`: the segment has the SYN flag (its
/// first byte is `seq + 1`). Places a direction seen for the first time (a SYN, or a flow
/// picked up mid-stream: its first data segment is taken to start on a PDU boundary).
#[inline(always)]
pub fn place(state: &mut FlowState, from_opener: bool, seq: u32, syn: bool, len: u32) -> Place {
    if state.stream & stream_bits::WALKED != 0 {
        return Place::Walk;
    }
    let synced = stream_bits::synced(from_opener);
    let side = &mut state.fast[!from_opener as usize];
    if syn {
        let first = seq.wrapping_add(1);
        *side = FastSide {
            next: first,
            last: first,
        };
        state.stream |= synced;
        // Data on a SYN (TCP Fast Open) is rare: the inspector program walks it.
        return if len == 0 { Place::Pass } else { Place::Walk };
    }
    if len == 0 {
        return Place::Pass;
    }
    if state.stream & synced == 0 {
        *side = FastSide {
            next: seq,
            last: seq,
        };
        state.stream |= synced;
    }
    if seq == side.next {
        Place::Judge { again: false }
    } else if seq == side.last {
        Place::Judge { again: true }
    } else {
        Place::Walk
    }
}

/// The segment [`place`] put at `seq` (`again` as it said) and the main program judged as
/// whole PDUs reached its receiver (allowed, passed as an alert, or answered in the
/// receiver's name): the direction's position moves past it.
#[inline(always)]
pub fn advance(state: &mut FlowState, from_opener: bool, seq: u32, len: u32, again: bool) {
    let side = &mut state.fast[!from_opener as usize];
    let end = seq.wrapping_add(len);
    if !again {
        side.last = seq;
        side.next = end;
    } else if before_eq(side.next, end) {
        // A retransmission longer than the original ends on a boundary of its own bytes.
        side.next = end;
    }
}

/// Acknowledgement a taken-over direction starts with: far enough behind that no segment in
/// a receive window is below it ([`crate::stream::position`]'s `Acknowledged` then only
/// passes what the receiver acknowledges from here on).
const NOTHING_ACKNOWLEDGED: u32 = 1 << 30;

impl StreamSide {
    /// The direction `from_opener` of `state` taken over from the main program's position:
    /// at a boundary, the last segment started at one, the session bits as they are now.
    #[inline(always)]
    pub fn from_fast(state: &FlowState, from_opener: bool) -> StreamSide {
        if state.stream & stream_bits::synced(from_opener) == 0 {
            return StreamSide::START;
        }
        let f = state.fast[!from_opener as usize];
        StreamSide {
            seq: Sequence {
                next: f.next,
                last: f.last,
                acked: f.next.wrapping_sub(NOTHING_ACKNOWLEDGED),
            },
            cursor: StreamCursor::START,
            before: StreamCursor::START,
            session_before: state.session,
            synced: 1,
            _pad: 0,
        }
    }

    /// [`Self::from_fast`] written over `self` field by field.
    #[inline(always)]
    pub fn place_from_fast(&mut self, state: &FlowState, from_opener: bool) {
        if state.stream & stream_bits::synced(from_opener) == 0 {
            self.seq = Sequence {
                next: 0,
                last: 0,
                acked: 0,
            };
            self.synced = 0;
            self.session_before = 0;
        } else {
            let f = state.fast[!from_opener as usize];
            self.seq = Sequence {
                next: f.next,
                last: f.last,
                acked: f.next.wrapping_sub(NOTHING_ACKNOWLEDGED),
            };
            self.synced = 1;
            self.session_before = state.session;
        }
        self.cursor.set_head(StreamCursor::START.head());
        self.cursor.ext = [0; crate::stream::EXT_LEN];
        self.before.set_head(StreamCursor::START.head());
        self.before.ext = [0; crate::stream::EXT_LEN];
        self._pad = 0;
    }

    /// The position the main program can take back: `None` unless the direction stands on a
    /// PDU boundary after a segment that started on one; `Some(None)` for a direction not
    /// placed yet.
    #[inline(always)]
    pub fn to_fast(&self) -> Option<Option<FastSide>> {
        if self.synced == 0 {
            return Some(None);
        }
        if !self.cursor.at_boundary() || !self.before.at_boundary() {
            return None;
        }
        Some(Some(FastSide {
            next: self.seq.next,
            last: self.seq.last,
        }))
    }
}

/// Hands the position of `sides` (`[0]` the opener's) back to the main program when both
/// directions allow it ([`StreamSide::to_fast`]); returns whether it did.
#[inline(always)]
pub fn hand_back(state: &mut FlowState, sides: &[StreamSide; 2]) -> bool {
    let (Some(opener), Some(peer)) = (sides[0].to_fast(), sides[1].to_fast()) else {
        return false;
    };
    let mut bits = 0;
    if let Some(f) = opener {
        state.fast[0] = f;
        bits |= stream_bits::OPENER_SYNCED;
    }
    if let Some(f) = peer {
        state.fast[1] = f;
        bits |= stream_bits::PEER_SYNCED;
    }
    state.stream = bits;
    true
}

/// Takes the flow's position over for the inspector program (once, when it starts walking
/// the flow): both directions of `sides` from [`FlowState::fast`], and the flow marked
/// [`stream_bits::WALKED`]. A flow already walked keeps `sides` as they are.
#[inline(always)]
pub fn take_over(state: &mut FlowState, sides: &mut [StreamSide; 2]) {
    if state.stream & stream_bits::WALKED != 0 {
        return;
    }
    // In place: a side built on the stack and copied costs an inspector program's frame
    // its size.
    sides[0].place_from_fast(state, true);
    sides[1].place_from_fast(state, false);
    state.stream |= stream_bits::WALKED;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{Position, position};

    fn flow() -> FlowState {
        FlowState::new(1, 1, 1, 0, 0)
    }

    #[test]
    fn a_syn_places_the_direction_after_it() {
        let mut s = flow();
        assert_eq!(place(&mut s, true, 99, true, 0), Place::Pass);
        assert_eq!(
            place(&mut s, true, 100, false, 12),
            Place::Judge { again: false }
        );
        advance(&mut s, true, 100, 12, false);
        assert_eq!(
            s.fast[0],
            FastSide {
                next: 112,
                last: 100
            }
        );
        // The peer's direction is its own.
        assert_eq!(
            place(&mut s, false, 5000, false, 9),
            Place::Judge { again: false }
        );
        assert_eq!(
            s.stream,
            stream_bits::OPENER_SYNCED | stream_bits::PEER_SYNCED
        );
    }

    #[test]
    fn in_order_and_the_last_segment_again_are_judged_everything_else_walked() {
        let mut s = flow();
        assert_eq!(
            place(&mut s, true, 1000, false, 12),
            Place::Judge { again: false }
        );
        advance(&mut s, true, 1000, 12, false);
        assert_eq!(
            place(&mut s, true, 1012, false, 12),
            Place::Judge { again: false }
        );
        advance(&mut s, true, 1012, 12, false);
        // The last segment again, shorter or longer.
        assert_eq!(
            place(&mut s, true, 1012, false, 6),
            Place::Judge { again: true }
        );
        advance(&mut s, true, 1012, 6, true);
        assert_eq!(
            s.fast[0],
            FastSide {
                next: 1024,
                last: 1012
            }
        );
        advance(&mut s, true, 1012, 24, true);
        assert_eq!(
            s.fast[0],
            FastSide {
                next: 1036,
                last: 1012
            }
        );
        // A gap, an overlap, an older segment: walked.
        for seq in [1040, 1030, 1000, 1013] {
            assert_eq!(place(&mut s, true, seq, false, 12), Place::Walk, "{seq}");
        }
        // Acknowledgements pass and move nothing.
        assert_eq!(place(&mut s, true, 7, false, 0), Place::Pass);
        assert_eq!(
            s.fast[0],
            FastSide {
                next: 1036,
                last: 1012
            }
        );
    }

    #[test]
    fn a_walked_flow_stays_walked_until_handed_back() {
        let mut s = flow();
        assert_eq!(
            place(&mut s, true, 1000, false, 12),
            Place::Judge { again: false }
        );
        advance(&mut s, true, 1000, 12, false);
        let mut sides = [StreamSide::START; 2];
        take_over(&mut s, &mut sides);
        assert_eq!(s.stream & stream_bits::WALKED, stream_bits::WALKED);
        assert_eq!(sides[0].seq.next, 1012);
        assert_eq!(sides[0].seq.last, 1000);
        assert_eq!(sides[1], StreamSide::START);
        assert_eq!(place(&mut s, true, 1012, false, 12), Place::Walk);
        assert_eq!(place(&mut s, false, 1, false, 0), Place::Walk);
        // A second take-over keeps the walker's state.
        sides[0].cursor.held_len = 3;
        take_over(&mut s, &mut sides);
        assert_eq!(sides[0].cursor.held_len, 3);
        // Not on a boundary: kept.
        assert!(!hand_back(&mut s, &sides));
        sides[0].cursor.held_len = 0;
        sides[0].seq.next = 1030;
        sides[0].seq.last = 1012;
        assert!(hand_back(&mut s, &sides));
        assert_eq!(s.stream, stream_bits::OPENER_SYNCED);
        assert_eq!(
            place(&mut s, true, 1030, false, 12),
            Place::Judge { again: false }
        );
        assert_eq!(
            place(&mut s, true, 1012, false, 18),
            Place::Judge { again: true }
        );
    }

    #[test]
    fn a_taken_over_direction_acknowledges_nothing_yet() {
        let mut s = flow();
        place(&mut s, true, 1000, false, 12);
        advance(&mut s, true, 1000, 12, false);
        let side = StreamSide::from_fast(&s, true);
        // An old segment below the position is not a duplicate the receiver acknowledged.
        assert_eq!(position(&side.seq, 988, 12), Position::OutOfOrder);
        assert_eq!(position(&side.seq, 1012, 12), Position::InOrder);
        assert_eq!(position(&side.seq, 1000, 12), Position::Again);
        let mut side = side;
        side.acknowledge(1012);
        assert_eq!(position(&side.seq, 990, 12), Position::Acknowledged);
    }

    #[test]
    fn a_side_placed_in_place_is_the_side_built() {
        let mut s = flow();
        for from_opener in [true, false] {
            let mut side = StreamSide::START;
            side.cursor.skip = 9;
            side.before.ext[3] = 7;
            side.place_from_fast(&s, from_opener);
            assert_eq!(side, StreamSide::from_fast(&s, from_opener));
        }
        place(&mut s, true, 1000, false, 12);
        advance(&mut s, true, 1000, 12, false);
        for from_opener in [true, false] {
            let mut side = StreamSide::START;
            side.cursor.held_len = 3;
            side.place_from_fast(&s, from_opener);
            assert_eq!(side, StreamSide::from_fast(&s, from_opener));
        }
    }

    #[test]
    fn a_syn_with_data_is_walked() {
        let mut s = flow();
        assert_eq!(place(&mut s, true, 99, true, 5), Place::Walk);
    }
}
