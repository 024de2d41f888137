//! The EtherNet/IP byte walker: encapsulation header, Common Packet Format items, and the
//! CIP requests in the data item, with the requests nested in Unconnected Send and Multiple
//! Service Packet, judged byte by byte so TCP may cut them anywhere. The state between
//! segments is an [`EnipCursor`] per direction; nothing is buffered.

use super::{
    profile::EnipProfile,
    services::{Target, service},
};
use crate::{event::detail, packet::PacketBytes};

mod cip;
mod connection;
mod denial;
mod encap;

use cip::*;
pub use connection::EnipConnections;
pub use denial::{EnipDenial, EnipViolation};
use encap::*;

/// Encapsulation header length.
pub const HEADER_LEN: u8 = 24;
/// Most payload bytes of one segment walked; a longer segment is denied.
pub const MAX_SEGMENT_BYTES: usize = 2048;
/// Most services of one Multiple Service Packet (their boundaries are kept in the cursor).
pub const MSP_MAX: u8 = 8;
/// Most CPF items of a SendRRData / SendUnitData (address, data, two socket addresses).
pub const MAX_ITEMS: u8 = 4;
/// Longest request path walked, in 16-bit words.
pub const MAX_PATH_WORDS: u8 = 126;
/// Nesting levels of CIP requests: the outermost request, one in a container, one in a
/// container in a container. A container at the last level is denied.
pub const LEVELS: u8 = 3;

/// Common Packet Format item type ids.
pub mod item {
    pub const NULL_ADDRESS: u16 = 0x0000;
    pub const CONNECTED_ADDRESS: u16 = 0x00A1;
    pub const CONNECTED_DATA: u16 = 0x00B1;
    pub const UNCONNECTED_DATA: u16 = 0x00B2;
    pub const SOCKADDR_O2T: u16 = 0x8000;
    pub const SOCKADDR_T2O: u16 = 0x8001;
    /// Length of a socket address item.
    pub const SOCKADDR_LEN: u16 = 16;
}

/// Bits of a flow's EtherNet/IP session state, shared by both directions.
pub mod session {
    /// The client sent an allowed RegisterSession: SendRRData and SendUnitData may follow.
    pub const REGISTERED: u8 = 1 << 0;
}

/// [`EnipCursor::phase`]: where in the encapsulation data the next octet is.
pub mod phase {
    /// Data passed unwalked (listing and session commands, replies with an error status).
    pub const SKIP: u8 = 0;
    /// The CPF head: interface handle, timeout, item count.
    pub const CPF: u8 = 1;
    /// An item's type id and length.
    pub const ITEM_HEAD: u8 = 2;
    /// The rest of an item that is not walked.
    pub const ITEM_SKIP: u8 = 3;
    /// The sequence count of a connected data item.
    pub const SEQUENCE: u8 = 4;
    /// A CIP request's service and path size (a reply's service, from the server).
    pub const CIP: u8 = 5;
    /// A request path.
    pub const PATH: u8 = 6;
    /// Unconnected Send: priority, timeout ticks, size of the embedded request.
    pub const UNCONNECTED: u8 = 7;
    /// Multiple Service Packet: service count and offsets.
    pub const MULTIPLE: u8 = 8;
    /// The rest of the current request (its data; a container's after its requests).
    pub const DATA: u8 = 9;
    /// After the last item: nothing may follow in the encapsulation data.
    pub const TRAILER: u8 = 10;
    /// The connection id in the connected address item of a client's SendUnitData.
    pub const ADDRESS: u8 = 11;
    /// A Forward_Open reply from the device: reserved octet, status, additional status
    /// size, the O→T connection id.
    pub const OPENED: u8 = 12;
}

/// Bits of [`EnipCursor::flags`].
pub mod cursor_flags {
    /// The session handle of the current PDU is not 0.
    pub const SESSION: u8 = 1 << 0;
    /// The status of the current PDU (a reply) is not 0.
    pub const STATUS: u8 = 1 << 1;
    /// The current item is the data item.
    pub const DATA_ITEM: u8 = 1 << 2;
    /// The current request's path named a class (in [`super::EnipCursor::acc`]).
    pub const CLASS: u8 = 1 << 3;
    /// The current request's path has a symbolic segment.
    pub const SYMBOLIC: u8 = 1 << 4;
    /// The current path segment is a class segment.
    pub const CLASS_SEGMENT: u8 = 1 << 5;
    /// The current request's path was read: it is judged next ([`super::settle`]).
    pub const JUDGE: u8 = 1 << 6;
}

/// Container kinds in [`EnipCursor::nest`].
mod kind {
    pub const UNCONNECTED: u8 = 1;
    pub const MULTIPLE: u8 = 2;
}

/// [`EnipCursor::seg`] of an ANSI extended symbolic segment before its length octet.
const SEG_SYMBOL_LEN: u8 = 0x91;
/// [`EnipCursor::seg`] of an ANSI extended symbolic segment in its characters.
const SEG_SYMBOL: u8 = 0x92;

/// Where one direction of an EtherNet/IP flow stands between segments.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EnipCursor {
    /// Encapsulation data octets still to come (from the header's length).
    pub encap_left: u16,
    /// Octets of the current CPF item still to come (the outermost request's, in the data
    /// item).
    pub item_left: u16,
    /// Octets still to come of the request at nesting level 1 and 2.
    pub left: [u16; 2],
    /// A multi-octet field being read; the class while a path is read.
    pub acc: u16,
    /// Multiple Service Packet: a queue of the container's octets left when each of the
    /// following services starts (the next one first).
    pub bounds: [u16; MSP_MAX as usize],
    /// Octets of the encapsulation header read (0 = between PDUs, [`HEADER_LEN`] in data).
    pub pos: u8,
    /// The current PDU's command.
    pub command: u8,
    /// [`phase`].
    pub phase: u8,
    /// Position in the current field; in a path segment, its octets still to come.
    pub at: u8,
    /// CPF items: those still to come (low nibble), the current one's index (high nibble).
    pub items: u8,
    /// Path octets still to come.
    pub path_left: u8,
    /// The current request's service.
    pub service: u8,
    /// The current path segment's type (0 between segments).
    pub seg: u8,
    /// Nesting: the current level (bits 0-1), the container kind of level 0 (bits 2-3) and
    /// of level 1 (bits 4-5).
    pub nest: u8,
    /// Multiple Service Packet: its services (low nibble), the current one (high nibble).
    pub msp: u8,
    /// [`cursor_flags`].
    pub flags: u8,
    pub _pad: u8,
}

const _: () = assert!(core::mem::size_of::<EnipCursor>() == 38);

impl EnipCursor {
    /// Whether the next octet starts an encapsulation PDU.
    #[inline(always)]
    pub const fn at_boundary(&self) -> bool {
        self.pos == 0
    }

    #[inline(always)]
    const fn depth(&self) -> u8 {
        self.nest & 3
    }

    /// Appends `v` to the queue [`Self::bounds`] (at the end, the others move one to the
    /// front). Only constant indexes: an index from the stream would make the verifier track
    /// the cursor's counters exactly, and the `bpf_loop` step would not converge.
    #[inline(always)]
    fn push_bound(&mut self, v: u16) {
        self.shift_bounds();
        self.bounds[MSP_MAX as usize - 1] = v;
    }

    /// Moves every bound one to the front (the first is dropped).
    #[inline(always)]
    fn shift_bounds(&mut self) {
        let b = &mut self.bounds;
        b[0] = b[1];
        b[1] = b[2];
        b[2] = b[3];
        b[3] = b[4];
        b[4] = b[5];
        b[5] = b[6];
        b[6] = b[7];
        b[7] = 0;
    }

    /// The container kind of nesting level `level` (0 or 1).
    #[inline(always)]
    const fn container(&self, level: u8) -> u8 {
        if level == 0 {
            (self.nest >> 2) & 3
        } else {
            (self.nest >> 4) & 3
        }
    }

    /// Sets the container kind of nesting level `level` (0 or 1).
    #[inline(always)]
    const fn set_container(&mut self, level: u8, kind: u8) {
        if level == 0 {
            self.nest = (self.nest & !(3 << 2)) | (kind & 3) << 2;
        } else {
            self.nest = (self.nest & !(3 << 4)) | (kind & 3) << 4;
        }
    }

    /// Octets left of the request at the current level.
    #[inline(always)]
    const fn level_left(&self) -> u16 {
        match self.depth() {
            0 => self.item_left,
            1 => self.left[0],
            _ => self.left[1],
        }
    }
}

/// Walks the `len` payload bytes at `off` of `b`: a client's segment when `profile` is
/// `Some` (judged against it), a server's when `None` (framing and direction only).
/// `session`: the flow's session bits; `conns`: the connections its Forward_Open replies
/// opened. Returns the number of PDUs that ended in the segment, or the first denial; on a
/// denial `cursor`, `session` and `conns` are left as they were.
#[inline(always)]
pub fn walk<B: PacketBytes + ?Sized>(
    b: &B,
    off: usize,
    len: usize,
    cursor: &mut EnipCursor,
    session: &mut u8,
    conns: &mut EnipConnections,
    profile: Option<&EnipProfile>,
) -> Result<u8, EnipDenial> {
    if len > MAX_SEGMENT_BYTES {
        return Err(EnipDenial::new(EnipViolation::Malformed));
    }
    let mut c = *cursor;
    let mut bits = *session;
    let mut opened = *conns;
    let mut pdus = 0u8;
    for i in 0..MAX_SEGMENT_BYTES {
        if i >= len {
            break;
        }
        let Some([byte]) = b.load::<1>(off + i) else {
            return Err(EnipDenial::new(EnipViolation::Malformed));
        };
        if step(&mut c, &mut bits, &mut opened, byte, profile)? {
            pdus = pdus.saturating_add(1);
        }
    }
    *cursor = c;
    *session = bits;
    *conns = opened;
    Ok(pdus)
}

/// Advances `c` by one octet; `true` when the octet ended an encapsulation PDU ([`walk`]
/// octet by octet): [`consume`] then [`settle`]. On a denial `c` may be half-moved: callers
/// keep their own copy ([`walk`] does).
#[inline(always)]
pub fn step(
    c: &mut EnipCursor,
    session: &mut u8,
    conns: &mut EnipConnections,
    byte: u8,
    profile: Option<&EnipProfile>,
) -> Result<bool, EnipDenial> {
    let mut pending = false;
    let mut ended = false;
    let mut part = 0;
    // The parts in the order [`next_part`] gives, as the eBPF program runs them.
    for _ in 0..PARTS {
        if part < CONSUME_PARTS {
            consume(c, session, conns, byte, profile, part, &mut pending)?;
        } else {
            ended |= settle(c, profile, part - CONSUME_PARTS)?;
        }
        part = next_part(c, part, pending);
        if part == NEXT_BYTE {
            break;
        }
    }
    Ok(ended)
}

/// All parts of a byte: [`consume`]'s, then [`settle`]'s.
pub const PARTS: u8 = CONSUME_PARTS + SETTLE_PARTS;

/// [`next_part`]: the octet is done, the next one starts with [`consume`] part 0.
pub const NEXT_BYTE: u8 = PARTS;

/// The part to run after `part` (numbered [`consume`]'s first, then [`settle`]'s from
/// [`CONSUME_PARTS`]), or [`NEXT_BYTE`]: the consume parts while the octet is `pending`,
/// then only the settle parts that have something to do ([`settles`]). Every part skipped
/// would have done nothing, so a byte costs one or two parts instead of [`PARTS`] (the
/// eBPF program runs one part per `bpf_loop` iteration).
#[inline(always)]
pub fn next_part(c: &EnipCursor, part: u8, pending: bool) -> u8 {
    if part + 1 < CONSUME_PARTS && pending {
        return part + 1;
    }
    let from = if part < CONSUME_PARTS {
        0
    } else {
        part - CONSUME_PARTS + 1
    };
    let mut k = from;
    while k < SETTLE_PARTS {
        if settles(c, k) {
            return CONSUME_PARTS + k;
        }
        k += 1;
    }
    NEXT_BYTE
}

/// Whether [`settle`] part `part` has something to do in `c`'s state.
#[inline(always)]
pub fn settles(c: &EnipCursor, part: u8) -> bool {
    match part {
        0 => c.flags & cursor_flags::JUDGE != 0,
        1 => c.depth() == 2 && c.left[1] == 0,
        2 => c.depth() == 1 && c.left[0] == 0,
        3 => c.item_left == 0 && c.phase >= phase::ITEM_SKIP && c.phase <= phase::DATA,
        _ => c.pos == HEADER_LEN && c.encap_left == 0,
    }
}

/// The parts of [`consume`], run in order for each octet.
pub const CONSUME_PARTS: u8 = 3;

/// The parts of [`settle`], run in order after each [`consume`].
pub const SETTLE_PARTS: u8 = 5;

/// The first half of [`step`], in [`CONSUME_PARTS`] parts run in order: part 0 reads the
/// encapsulation header, the CPF and item heads and counts the octet off every length,
/// part 1 the connection id of a SendUnitData (checked against `conns`), the sequence
/// count, a request's service and path, a Forward_Open reply (its id opened in `conns`),
/// part 2 the heads of Unconnected
/// Send and Multiple Service Packet (`pending` carries the octet from part to part). The
/// eBPF program runs each part as a `bpf_loop` iteration of its own, so the verifier
/// explores their paths one after the other instead of every combination of them.
#[inline(always)]
pub fn consume(
    c: &mut EnipCursor,
    session: &mut u8,
    conns: &mut EnipConnections,
    byte: u8,
    profile: Option<&EnipProfile>,
    part: u8,
    pending: &mut bool,
) -> Result<(), EnipDenial> {
    match part {
        0 => {
            *pending = false;
            let pos = c.pos;
            if pos < HEADER_LEN {
                header(c, session, byte, profile)?;
                c.pos = pos + 1;
                return Ok(());
            }
            if c.encap_left == 0 {
                return Err(EnipDenial::new(EnipViolation::Malformed));
            }
            c.encap_left -= 1;
            *pending = body(c, byte, profile.is_some())?;
            Ok(())
        }
        1 => {
            if !*pending {
                return Ok(());
            }
            match c.phase {
                phase::SEQUENCE => {
                    c.at += 1;
                    if c.at >= 2 {
                        c.phase = phase::CIP;
                        c.at = 0;
                    }
                }
                phase::ADDRESS => address(c, byte, conns)?,
                phase::CIP => cip(c, byte, profile)?,
                phase::PATH => path(c, byte, profile)?,
                phase::OPENED => opened(c, byte, conns),
                // Left for part 2.
                _ => return Ok(()),
            }
            *pending = false;
            Ok(())
        }
        _ => {
            if !*pending {
                return Ok(());
            }
            *pending = false;
            match c.phase {
                phase::UNCONNECTED => unconnected(c, byte),
                phase::MULTIPLE => multiple(c, byte),
                _ => Ok(()),
            }
        }
    }
}

/// The second half of [`step`], in [`SETTLE_PARTS`] parts run in order: part 0 judges a
/// request whose path the octet completed, parts 1-4 end what the octet completed,
/// innermost first (a request at level 2, at level 1, the item, the PDU); `true` when a PDU
/// ended. The eBPF program runs each part as a `bpf_loop` iteration of its own.
#[inline(always)]
pub fn settle(
    c: &mut EnipCursor,
    profile: Option<&EnipProfile>,
    part: u8,
) -> Result<bool, EnipDenial> {
    if !settles(c, part) {
        return Ok(false);
    }
    match part {
        0 => {
            c.flags &= !cursor_flags::JUDGE;
            if let Some(p) = profile {
                judge(c, p)?;
            }
        }
        1 | 2 => end_request(c)?,
        3 => end_item(c)?,
        _ => {
            end_pdu(c)?;
            return Ok(true);
        }
    }
    Ok(false)
}
