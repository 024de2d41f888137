//! Stream position of an inspected TCP flow: the state that lets an inspector judge a PDU
//! that starts in one segment and ends in a later one, without holding a single packet.
//!
//! The rule, for every inspector (Modbus, IEC 104, DNP3, S7comm, EtherNet/IP, OPC UA):
//! - A PDU is judged on its *head*: the first bytes that decide it (function code, type id,
//!   addresses), at most [`HELD_MAX`]. Once judged allowed, its *tail* passes in whatever
//!   segments carry it ([`StreamCursor::skip`]).
//! - A head split across segments: the segment that ends inside the head passes (a server
//!   cannot act on an incomplete PDU) and its head bytes are remembered
//!   ([`StreamCursor::held`]); the segment that completes the head is judged with them, and
//!   denied if the PDU is. Nothing is buffered, only at most [`HELD_MAX`] bytes of state.
//! - Segments are judged in stream order only. [`position`] classifies a segment by its
//!   sequence number: the next one in order is walked; a retransmission of the last segment
//!   is walked again from the state saved before it (so a retransmission carrying other bytes
//!   than the original is judged on its own bytes, the classic evasion of a filter that
//!   remembers only what it passed); a segment wholly below what the receiver acknowledged is
//!   a duplicate the receiver discards and passes; anything else (a gap, an overlap into
//!   unjudged bytes) is dropped without ending the connection: the sender retransmits it in
//!   order.

use crate::packet::PacketBytes;

/// Most head bytes a cursor keeps across segments (the largest decisive head of any
/// inspector).
pub const HELD_MAX: usize = 16;

/// What an inspector says of the bytes at the start of a PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Valid so far, not decided: at least this many bytes of the PDU are needed (never more
    /// than [`HELD_MAX`]).
    Need(usize),
    /// Allowed; the PDU is this many bytes long in all.
    Pdu(usize),
}

/// Where one direction of an inspected flow stands between segments.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamCursor {
    /// Bytes of the current PDU still to come after its head was judged: they pass.
    pub skip: u16,
    /// Head bytes of the current PDU seen in earlier segments (in [`Self::held`]).
    pub held_len: u8,
    pub _pad: u8,
    /// The head bytes themselves.
    pub held: [u8; HELD_MAX],
    /// More room for a byte walker's state (EtherNet/IP keeps the boundaries of a Multiple
    /// Service Packet's services here); unused by head-judged protocols.
    pub ext: [u8; EXT_LEN],
}

/// Bytes of [`StreamCursor::ext`].
pub const EXT_LEN: usize = 20;

const _: () = assert!(core::mem::size_of::<StreamCursor>() == 40);

impl StreamCursor {
    /// Whether the next byte starts a PDU (no tail to pass, no head begun). Bytes left in
    /// [`Self::held`] beyond [`Self::held_len`] mean nothing.
    #[inline(always)]
    pub const fn at_boundary(&self) -> bool {
        self.skip == 0 && self.held_len == 0
    }
}

/// A protocol's judge of one PDU head, called by [`walk`] on packet bytes or on a head
/// spliced from held bytes (hence generic over the byte source, and no closures: the eBPF
/// target has no indirect calls).
pub trait Inspector {
    /// What a denial says.
    type Denial: Copy;
    /// Judges the PDU that starts at `off` in `b`, of which `avail` bytes are present (`b`
    /// holds at least `min(avail, HELD_MAX)` of them), with the flow's protocol session bits
    /// (shared by both directions: IEC 104's STARTDT confirmation comes from the server and
    /// opens the client's direction).
    fn judge<B: PacketBytes + ?Sized>(
        &self,
        b: &B,
        off: usize,
        avail: usize,
        session: &mut u8,
    ) -> Result<Step, Self::Denial>;
    /// The denial of a segment whose framing cannot be walked within the bounds (more than
    /// [`PAYLOAD_MAX`] bytes, a payload that runs past the frame, a head longer than
    /// [`HELD_MAX`]).
    fn unwalkable(&self) -> Self::Denial;
}

/// Walks the `len` payload bytes at `off` of `b` from `cursor`, a byte at a time
/// ([`step_byte`]): passes the tail of a judged PDU, adds head bytes to the held head and
/// judges it as soon as it decides. Returns the number of PDUs judged, or the first denial;
/// on success `cursor` says where the stream stands after the segment and `session` holds
/// the inspector's session bits (on a denial both are left as they were: the segment does
/// not reach the receiver). A segment of more than [`PAYLOAD_MAX`] bytes is unwalkable.
///
/// The eBPF program runs the same [`step_byte`] under `bpf_loop`; this loop is its
/// reference on the host (tests, fuzzing).
#[inline(always)]
pub fn walk<B, I>(
    b: &B,
    off: usize,
    len: usize,
    cursor: &mut StreamCursor,
    session: &mut u8,
    inspector: &I,
) -> Result<u8, I::Denial>
where
    B: PacketBytes + ?Sized,
    I: Inspector,
{
    if len > PAYLOAD_MAX {
        return Err(inspector.unwalkable());
    }
    let mut next = cursor.head();
    let mut bits = *session;
    let mut judged = 0u8;
    for i in 0..PAYLOAD_MAX {
        if i >= len {
            break;
        }
        let [byte] = b.load::<1>(off + i).ok_or(inspector.unwalkable())?;
        if step_byte(&mut next, &mut bits, byte, inspector)? {
            judged = judged.saturating_add(1);
        }
    }
    cursor.set_head(next);
    *session = bits;
    Ok(judged)
}

/// One byte of a direction's stream: a byte of a judged PDU's tail is counted off; any other
/// byte joins the held head, which is judged at once (the inspector says whether it decides
/// yet). `Ok(true)` when the byte completed a PDU's head and the PDU was allowed.
#[inline(always)]
pub fn step_byte<I: Inspector>(
    cursor: &mut Head,
    bits: &mut u8,
    byte: u8,
    inspector: &I,
) -> Result<bool, I::Denial> {
    if cursor.skip > 0 {
        cursor.skip -= 1;
        return Ok(false);
    }
    let held = cursor.held_len as usize;
    if held >= HELD_MAX {
        return Err(inspector.unwalkable());
    }
    // The mask is a no-op after the check, there for the verifier.
    cursor.held[held & (HELD_MAX - 1)] = byte;
    let avail = held + 1;
    cursor.held_len = avail as u8;
    match inspector.judge(&cursor.held[..], 0, avail, bits)? {
        Step::Need(_) => {
            if avail >= HELD_MAX {
                // The inspector needs more head than any inspector may hold.
                return Err(inspector.unwalkable());
            }
            Ok(false)
        }
        Step::Pdu(pdu) => {
            cursor.held_len = 0;
            cursor.skip = pdu.saturating_sub(avail) as u16;
            Ok(true)
        }
    }
}

/// Where a segment of one direction falls in that direction's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// Starts where the last judged segment ended: walk it.
    InOrder,
    /// Starts where the last judged segment started: a retransmission of it, walked again
    /// from the cursor saved before it.
    Again,
    /// Ends at or before what the receiver acknowledged: a duplicate it discards. Passes.
    Acknowledged,
    /// A gap or an overlap into bytes not judged yet: dropped (not reset); the sender
    /// retransmits in order.
    OutOfOrder,
}

/// Sequence numbers of one direction that [`position`] compares a segment with.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sequence {
    /// Sequence number after the last judged segment.
    pub next: u32,
    /// Sequence number the last judged segment started at.
    pub last: u32,
    /// Highest acknowledgement number the receiver sent (from its own segments).
    pub acked: u32,
}

/// Where the segment `seq..seq + len` falls (sequence numbers compared modulo 2^32, as TCP
/// does).
#[inline(always)]
pub fn position(s: &Sequence, seq: u32, len: u32) -> Position {
    if seq == s.next {
        return Position::InOrder;
    }
    if seq == s.last {
        // Possibly longer than the original (a sender may send new bytes with it).
        return Position::Again;
    }
    if before_eq(seq.wrapping_add(len), s.acked) && before_eq(s.acked, s.next) {
        return Position::Acknowledged;
    }
    Position::OutOfOrder
}

/// One direction of an inspected TCP flow in its conntrack entry
/// ([`crate::flow::FlowState::stream`]): where its stream stands, and the cursor before its
/// last judged segment (to walk a retransmission of that segment again on its own bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamSide {
    pub seq: Sequence,
    /// The parser state after the last judged segment: a [`StreamCursor`] for PDU-framed
    /// protocols, or a byte walker's state in its bytes ([`Walker`]).
    pub cursor: StreamCursor,
    /// [`Self::cursor`] before the last judged segment.
    pub before: StreamCursor,
    /// The flow's session bits before the last judged segment.
    pub session_before: u8,
    /// Non-zero once the direction's position is known (its SYN, or its first segment of a
    /// flow picked up mid-stream, which is taken to start on a PDU boundary).
    pub synced: u8,
    pub _pad: u16,
}

const _: () = assert!(core::mem::size_of::<StreamSide>() == 96);

impl StreamSide {
    /// A direction whose position is not known yet.
    pub const START: StreamSide = StreamSide {
        seq: Sequence {
            next: 0,
            last: 0,
            acked: 0,
        },
        cursor: StreamCursor::START,
        before: StreamCursor::START,
        session_before: 0,
        synced: 0,
        _pad: 0,
    };

    /// The direction sent its SYN at `seq`: its first data byte is `seq + 1`, at a PDU
    /// boundary.
    #[inline(always)]
    pub fn syn(&mut self, seq: u32) {
        let first = seq.wrapping_add(1);
        *self = StreamSide::START;
        self.seq = Sequence {
            next: first,
            last: first,
            acked: first,
        };
        self.synced = 1;
    }

    /// The receiver of this direction acknowledged `ack`. Never beyond what was judged: an
    /// acknowledgement of bytes that never passed proves nothing about them.
    #[inline(always)]
    pub fn acknowledge(&mut self, ack: u32) {
        if self.synced != 0 && before_eq(self.seq.acked, ack) && before_eq(ack, self.seq.next) {
            self.seq.acked = ack;
        }
    }
}

/// The part of a [`StreamCursor`] a head-judged protocol's walk uses ([`step_byte`]): what
/// the eBPF byte loop keeps on its stack.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Head {
    pub skip: u16,
    pub held_len: u8,
    pub _pad: u8,
    pub held: [u8; HELD_MAX],
}

impl StreamCursor {
    /// The head-judged part.
    #[inline(always)]
    pub const fn head(&self) -> Head {
        Head {
            skip: self.skip,
            held_len: self.held_len,
            _pad: self._pad,
            held: self.held,
        }
    }

    /// Replaces the head-judged part.
    #[inline(always)]
    pub const fn set_head(&mut self, h: Head) {
        self.skip = h.skip;
        self.held_len = h.held_len;
        self._pad = h._pad;
        self.held = h.held;
    }

    /// At a PDU boundary, nothing held.
    pub const START: StreamCursor = StreamCursor {
        skip: 0,
        held_len: 0,
        _pad: 0,
        held: [0; HELD_MAX],
        ext: [0; EXT_LEN],
    };
}

/// A protocol's walk of one segment of one direction over that direction's cursor: any
/// [`Inspector`] through [`walk`], or a byte walker with its own state kept in the cursor's
/// bytes (DNP3). On a denial the cursor and the session bits may be left part-way: the
/// caller ([`segment`]) walks copies and keeps them only when the segment passes.
pub trait Walker {
    type Denial: Copy;
    fn walk_segment<B: PacketBytes + ?Sized>(
        &self,
        b: &B,
        off: usize,
        len: usize,
        cursor: &mut StreamCursor,
        session: &mut u8,
    ) -> Result<(), Self::Denial>;
}

impl<I: Inspector> Walker for I {
    type Denial = I::Denial;

    #[inline(always)]
    fn walk_segment<B: PacketBytes + ?Sized>(
        &self,
        b: &B,
        off: usize,
        len: usize,
        cursor: &mut StreamCursor,
        session: &mut u8,
    ) -> Result<(), I::Denial> {
        walk(b, off, len, cursor, session, self).map(|_| ())
    }
}

/// What [`segment`] decides for a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict<D> {
    /// It passes (judged allowed, or a duplicate the receiver discards).
    Pass,
    /// A PDU in it is denied.
    Denied(D),
    /// Out of stream order ([`Position::OutOfOrder`]): dropped, the connection lives on.
    OutOfOrder,
}

/// Judges the `len` payload bytes at `off` of `b`, sent at sequence number `seq` in the
/// direction `side`, with `walker`, and moves the direction on (the rule is in the module
/// documentation). `session`: the flow's session bits. A direction not synced yet takes the
/// segment as starting on a PDU boundary.
#[inline(always)]
pub fn segment<B, W>(
    b: &B,
    off: usize,
    len: usize,
    seq: u32,
    side: &mut StreamSide,
    session: &mut u8,
    walker: &W,
) -> Verdict<W::Denial>
where
    B: PacketBytes + ?Sized,
    W: Walker,
{
    if len == 0 {
        return Verdict::Pass;
    }
    if side.synced == 0 {
        side.syn(seq.wrapping_sub(1));
    }
    let end = seq.wrapping_add(len as u32);
    // One cursor copy for both walks (the cursor is large enough to matter on the eBPF
    // stack).
    let again = match position(&side.seq, seq, len as u32) {
        Position::InOrder => false,
        Position::Again => true,
        Position::Acknowledged => return Verdict::Pass,
        Position::OutOfOrder => return Verdict::OutOfOrder,
    };
    let (mut cursor, mut bits) = if again {
        (side.before, side.session_before)
    } else {
        (side.cursor, *session)
    };
    if let Err(d) = walker.walk_segment(b, off, len, &mut cursor, &mut bits) {
        return Verdict::Denied(d);
    }
    if !again {
        side.before = side.cursor;
        side.session_before = *session;
        side.cursor = cursor;
        *session = bits;
        side.seq.last = seq;
        side.seq.next = end;
    } else if before_eq(side.seq.next, end) {
        // A retransmission at least as long as the original moves the stream to its end; a
        // shorter one was judged on its own bytes and leaves the position where the
        // original put it.
        side.cursor = cursor;
        side.seq.next = end;
        let changed = bits ^ side.session_before;
        *session = (*session & !changed) | (bits & changed);
    }
    Verdict::Pass
}

/// Most payload bytes of one segment an inspector program walks: the payload is copied into
/// a [`Payload`] first (one helper call; the walkers then read a map value, which verifies
/// far more cheaply than packet memory at variable offsets). Eight of IEC 104's largest
/// APDUs (255 bytes) fit, and DNP3's walker stops at the same bound; a longer segment is
/// denied as unwalkable.
pub const PAYLOAD_MAX: usize = 2048;

/// Bytes after [`PAYLOAD_MAX`] in a [`Payload`] that no load returns: a load of up to this
/// many bytes at any offset below [`PAYLOAD_MAX`] stays inside the buffer, which is what the
/// verifier checks (it bounds an offset by its mask, not by the checks before it).
pub const PAYLOAD_PAD: usize = 16;

/// A copy of a segment's payload ([`PAYLOAD_MAX`] bytes at most).
#[repr(C)]
pub struct Payload {
    pub bytes: [u8; PAYLOAD_MAX + PAYLOAD_PAD],
}

const _: () = assert!(PAYLOAD_MAX.is_power_of_two());

/// The first `len` bytes of a [`Payload`], read as packet bytes from offset 0.
pub struct PayloadBytes<'a> {
    pub payload: &'a Payload,
    pub len: usize,
}

impl PacketBytes for PayloadBytes<'_> {
    #[inline(always)]
    fn holds(&self, len: usize) -> bool {
        len <= self.len
    }

    #[inline(always)]
    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        // Checked against the buffer's size first, a constant bound the verifier tracks, then
        // against the copied length.
        if N > PAYLOAD_PAD || offset > PAYLOAD_MAX - N || offset + N > self.len {
            return None;
        }
        // A no-op after the checks, there for the verifier (see `PAYLOAD_PAD`); read through
        // a volatile load so the compiler cannot prove it a no-op and drop it.
        // SAFETY: a read of a local.
        let at = unsafe { core::ptr::read_volatile(&offset) } & (PAYLOAD_MAX - 1);
        // SAFETY: `at < PAYLOAD_MAX` and `N <= PAYLOAD_PAD`: inside `bytes`.
        Some(unsafe { (self.payload.bytes.as_ptr().add(at) as *const [u8; N]).read_unaligned() })
    }
}

/// `a <= b` in sequence space.
#[inline(always)]
const fn before_eq(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) >= 0
}

pub mod fast;

#[cfg(test)]
mod tests;
