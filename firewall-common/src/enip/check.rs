//! The EtherNet/IP byte walker: encapsulation header, Common Packet Format items, and the
//! CIP requests in the data item, with the requests nested in Unconnected Send and Multiple
//! Service Packet, judged byte by byte so TCP may cut them anywhere. The state between
//! segments is an [`EnipCursor`] per direction; nothing is buffered.

use super::{
    profile::EnipProfile,
    services::{Target, command, is_command, service},
};
use crate::{event::detail, packet::PacketBytes};

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

/// Why an EtherNet/IP segment was denied.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnipViolation {
    /// Framing: header fields, lengths that do not add up (encapsulation, items, nested
    /// requests, Multiple Service Packet offsets), unknown CPF items or path segments, a
    /// segment too long to walk.
    Malformed = 0,
    /// An encapsulation command the profile does not allow.
    Command = 1,
    /// A CIP service the profile does not allow on the request's target (at any nesting
    /// level), or a container nested deeper than [`LEVELS`].
    Service = 2,
    /// A request whose path addresses a class the profile does not allow.
    Class = 3,
    /// A reply from the client, or a request from the server.
    Direction = 4,
    /// SendRRData / SendUnitData before RegisterSession, or without a session handle.
    Session = 5,
}

impl EnipViolation {
    pub const ALL: [EnipViolation; 6] = [
        EnipViolation::Malformed,
        EnipViolation::Command,
        EnipViolation::Service,
        EnipViolation::Class,
        EnipViolation::Direction,
        EnipViolation::Session,
    ];

    /// The reason name without the protocol prefix.
    pub const fn name(self) -> &'static str {
        match self {
            EnipViolation::Malformed => "malformed",
            EnipViolation::Command => "command",
            EnipViolation::Service => "service",
            EnipViolation::Class => "class",
            EnipViolation::Direction => "direction",
            EnipViolation::Session => "session",
        }
    }
}

/// A denied segment and what was read (fields not in `known` are 0). `known` holds
/// [`crate::event::detail`] bits:
/// - `Command`, `Session`: `code` the command.
/// - `Service`, `Class`: `code` the service, `scope` the nesting level (0 outermost),
///   `address` the class when the path names one.
/// - `Direction`: `code` the service octet.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnipDenial {
    pub kind: EnipViolation,
    pub known: u8,
    pub scope: u8,
    pub code: u8,
    pub address: u16,
}

const _: () = assert!(core::mem::size_of::<EnipDenial>() == 6);

impl EnipDenial {
    #[inline(always)]
    pub const fn new(kind: EnipViolation) -> EnipDenial {
        EnipDenial {
            kind,
            known: 0,
            scope: 0,
            code: 0,
            address: 0,
        }
    }

    #[inline(always)]
    const fn code(kind: EnipViolation, code: u8) -> EnipDenial {
        EnipDenial {
            kind,
            known: detail::CODE,
            scope: 0,
            code,
            address: 0,
        }
    }

    /// The event detail of the denial: `scope | code << 8 | address << 16` and its
    /// [`crate::event::detail`] bits.
    #[inline(always)]
    pub const fn packed(&self) -> (u32, u8) {
        let packed = self.scope as u32 | (self.code as u32) << 8 | (self.address as u32) << 16;
        (
            packed,
            self.known & (detail::SCOPE | detail::CODE | detail::ADDRESS),
        )
    }
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

    /// XORs every small field with `zero`, which is 0 at run time but a value the eBPF
    /// verifier cannot know (read from a map): the program calls it after each step, so the
    /// verifier sees the fields as ranges rather than a constant per path, and its check of
    /// the `bpf_loop` step converges instead of visiting every combination of phase,
    /// position and counters. A no-op for any caller passing 0.
    #[inline(always)]
    pub fn blur(&mut self, zero: u8) {
        self.pos ^= zero;
        self.command ^= zero;
        self.phase ^= zero;
        self.at ^= zero;
        self.items ^= zero;
        self.path_left ^= zero;
        self.service ^= zero;
        self.seg ^= zero;
        self.nest ^= zero;
        self.msp ^= zero;
        self.flags ^= zero;
        let wide = zero as u16;
        self.encap_left ^= wide;
        self.item_left ^= wide;
        self.left[0] ^= wide;
        self.left[1] ^= wide;
        self.acc ^= wide;
        self.bounds[0] ^= wide;
        self.bounds[1] ^= wide;
        self.bounds[2] ^= wide;
        self.bounds[3] ^= wide;
        self.bounds[4] ^= wide;
        self.bounds[5] ^= wide;
        self.bounds[6] ^= wide;
        self.bounds[7] ^= wide;
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
/// `session`: the flow's session bits. Returns the number of PDUs that ended in the segment,
/// or the first denial; on a denial `cursor` and `session` are left as they were.
#[inline(always)]
pub fn walk<B: PacketBytes + ?Sized>(
    b: &B,
    off: usize,
    len: usize,
    cursor: &mut EnipCursor,
    session: &mut u8,
    profile: Option<&EnipProfile>,
) -> Result<u8, EnipDenial> {
    if len > MAX_SEGMENT_BYTES {
        return Err(EnipDenial::new(EnipViolation::Malformed));
    }
    let mut c = *cursor;
    let mut bits = *session;
    let mut pdus = 0u8;
    for i in 0..MAX_SEGMENT_BYTES {
        if i >= len {
            break;
        }
        let Some([byte]) = b.load::<1>(off + i) else {
            return Err(EnipDenial::new(EnipViolation::Malformed));
        };
        if step(&mut c, &mut bits, byte, profile)? {
            pdus = pdus.saturating_add(1);
        }
    }
    *cursor = c;
    *session = bits;
    Ok(pdus)
}

/// Advances `c` by one octet; `true` when the octet ended an encapsulation PDU ([`walk`]
/// octet by octet): [`consume`] then [`settle`]. On a denial `c` may be half-moved: callers
/// keep their own copy ([`walk`] does).
#[inline(always)]
pub fn step(
    c: &mut EnipCursor,
    session: &mut u8,
    byte: u8,
    profile: Option<&EnipProfile>,
) -> Result<bool, EnipDenial> {
    let mut pending = false;
    for part in 0..CONSUME_PARTS {
        consume(c, session, byte, profile, part, &mut pending)?;
    }
    let mut ended = false;
    for part in 0..SETTLE_PARTS {
        ended |= settle(c, profile, part)?;
    }
    Ok(ended)
}

/// The parts of [`consume`], run in order for each octet.
pub const CONSUME_PARTS: u8 = 3;

/// The parts of [`settle`], run in order after each [`consume`].
pub const SETTLE_PARTS: u8 = 5;

/// The first half of [`step`], in [`CONSUME_PARTS`] parts run in order: part 0 reads the
/// encapsulation header, the CPF and item heads and counts the octet off every length,
/// part 1 the sequence count, a request's service and path, part 2 the heads of Unconnected
/// Send and Multiple Service Packet (`pending` carries the octet from part to part). The
/// eBPF program runs each part as a `bpf_loop` iteration of its own, so the verifier
/// explores their paths one after the other instead of every combination of them.
#[inline(always)]
pub fn consume(
    c: &mut EnipCursor,
    session: &mut u8,
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
            *pending = body(c, byte)?;
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
                phase::CIP => cip(c, byte, profile)?,
                phase::PATH => path(c, byte, profile)?,
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
    match part {
        0 => {
            if c.flags & cursor_flags::JUDGE != 0 {
                c.flags &= !cursor_flags::JUDGE;
                if let Some(p) = profile {
                    judge(c, p)?;
                }
            }
        }
        1 => {
            if c.depth() == 2 && c.left[1] == 0 {
                end_request(c)?;
            }
        }
        2 => {
            if c.depth() == 1 && c.left[0] == 0 {
                end_request(c)?;
            }
        }
        3 => {
            if c.item_left == 0 && c.phase >= phase::ITEM_SKIP && c.phase <= phase::DATA {
                end_item(c)?;
            }
        }
        _ => {
            if c.pos == HEADER_LEN && c.encap_left == 0 {
                end_pdu(c)?;
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// An octet of the encapsulation header.
#[inline(always)]
fn header(
    c: &mut EnipCursor,
    session: &mut u8,
    byte: u8,
    profile: Option<&EnipProfile>,
) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    match c.pos {
        0 => {
            c.command = byte;
            c.flags = 0;
            c.phase = phase::SKIP;
            c.at = 0;
            c.nest = 0;
        }
        1 => {
            let known = is_command(c.command);
            if byte != 0 {
                // No command has a high octet.
                return Err(match profile {
                    Some(_) => EnipDenial::code(EnipViolation::Command, c.command),
                    None => malformed,
                });
            }
            match profile {
                Some(p) => {
                    if !p.allows_command(c.command) {
                        return Err(EnipDenial::code(EnipViolation::Command, c.command));
                    }
                }
                None => {
                    if !known {
                        return Err(malformed);
                    }
                }
            }
        }
        2 => c.encap_left = byte as u16,
        3 => c.encap_left |= (byte as u16) << 8,
        4..=7 => {
            if byte != 0 {
                c.flags |= cursor_flags::SESSION;
            }
        }
        8..=11 => {
            if byte != 0 {
                if profile.is_some() {
                    // A request has no status.
                    return Err(malformed);
                }
                c.flags |= cursor_flags::STATUS;
            }
        }
        12..=19 => {}
        _ => {
            if byte != 0 {
                // Options: a receiver discards a PDU with any set.
                return Err(malformed);
            }
            if c.pos == HEADER_LEN - 1 {
                end_header(c, session, profile)?;
            }
        }
    }
    Ok(())
}

/// The header is read: what its data holds, and whether the command may come now.
#[inline(always)]
fn end_header(
    c: &mut EnipCursor,
    session: &mut u8,
    profile: Option<&EnipProfile>,
) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    let len = c.encap_left;
    let data = c.command == command::SEND_RR_DATA || c.command == command::SEND_UNIT_DATA;
    if profile.is_none() {
        c.phase = if data && c.flags & cursor_flags::STATUS == 0 && len > 0 {
            phase::CPF
        } else {
            phase::SKIP
        };
        return Ok(());
    }
    match c.command {
        command::LIST_SERVICES
        | command::LIST_IDENTITY
        | command::LIST_INTERFACES
        | command::UNREGISTER_SESSION
            if len != 0 =>
        {
            return Err(malformed);
        }
        command::REGISTER_SESSION => {
            // Protocol version and options.
            if len != 4 {
                return Err(malformed);
            }
            *session |= session::REGISTERED;
        }
        command::SEND_RR_DATA | command::SEND_UNIT_DATA => {
            if *session & session::REGISTERED == 0 || c.flags & cursor_flags::SESSION == 0 {
                return Err(EnipDenial::code(EnipViolation::Session, c.command));
            }
            // The CPF head and two item heads at least.
            if len < 16 {
                return Err(malformed);
            }
            c.phase = phase::CPF;
        }
        _ => {}
    }
    Ok(())
}

/// The end of an encapsulation PDU: its data must be complete.
#[inline(always)]
fn end_pdu(c: &mut EnipCursor) -> Result<(), EnipDenial> {
    if c.phase != phase::SKIP && c.phase != phase::TRAILER {
        return Err(EnipDenial::new(EnipViolation::Malformed));
    }
    c.pos = 0;
    c.phase = phase::SKIP;
    c.nest = 0;
    c.flags = 0;
    Ok(())
}

/// An octet of the encapsulation data (already counted off [`EnipCursor::encap_left`]).
#[inline(always)]
fn body(c: &mut EnipCursor, byte: u8) -> Result<bool, EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    let ph = c.phase;
    match ph {
        phase::SKIP => return Ok(false),
        phase::TRAILER => return Err(malformed),
        phase::CPF => return cpf(c, byte).map(|_| false),
        phase::ITEM_HEAD => return item_head(c, byte).map(|_| false),
        _ => {}
    }
    // Inside an item.
    if c.item_left == 0 {
        return Err(malformed);
    }
    c.item_left -= 1;
    if ph >= phase::CIP {
        let depth = c.depth();
        if depth >= 1 {
            if c.left[0] == 0 {
                return Err(malformed);
            }
            c.left[0] -= 1;
        }
        if depth >= 2 {
            if c.left[1] == 0 {
                return Err(malformed);
            }
            c.left[1] -= 1;
        }
    }
    // The phase's own work: the next parts of [`consume`].
    Ok(ph != phase::ITEM_SKIP && ph != phase::DATA)
}

/// An octet of the CPF head: interface handle (0), timeout, item count.
#[inline(always)]
fn cpf(c: &mut EnipCursor, byte: u8) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    let at = c.at;
    match at {
        0..=3 => {
            if byte != 0 {
                return Err(malformed);
            }
        }
        4 | 5 => {}
        6 => c.acc = byte as u16,
        _ => {
            let count = c.acc | (byte as u16) << 8;
            if !(2..=MAX_ITEMS as u16).contains(&count) {
                return Err(malformed);
            }
            c.items = count as u8;
            c.phase = phase::ITEM_HEAD;
            c.at = 0;
            return Ok(());
        }
    }
    c.at = at + 1;
    Ok(())
}

/// An octet of an item's type id and length; the length fixes what the item holds.
#[inline(always)]
fn item_head(c: &mut EnipCursor, byte: u8) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    let at = c.at;
    match at {
        0 => c.acc = byte as u16,
        1 => c.acc |= (byte as u16) << 8,
        2 => c.item_left = byte as u16,
        _ => {
            let len = c.item_left | (byte as u16) << 8;
            c.item_left = len;
            if len > c.encap_left {
                return Err(malformed);
            }
            let index = c.items >> 4;
            let unit = c.command == command::SEND_UNIT_DATA;
            let ty = c.acc;
            c.flags &= !cursor_flags::DATA_ITEM;
            let ok = match index {
                0 => {
                    if unit {
                        ty == item::CONNECTED_ADDRESS && len == 4
                    } else {
                        ty == item::NULL_ADDRESS && len == 0
                    }
                }
                1 => {
                    c.flags |= cursor_flags::DATA_ITEM;
                    if unit {
                        ty == item::CONNECTED_DATA && len >= 4
                    } else {
                        ty == item::UNCONNECTED_DATA && len >= 2
                    }
                }
                _ => {
                    (ty == item::SOCKADDR_O2T || ty == item::SOCKADDR_T2O)
                        && len == item::SOCKADDR_LEN
                }
            };
            if !ok {
                return Err(malformed);
            }
            c.at = 0;
            c.nest = 0;
            c.phase = if c.flags & cursor_flags::DATA_ITEM == 0 {
                phase::ITEM_SKIP
            } else if unit {
                phase::SEQUENCE
            } else {
                phase::CIP
            };
            if len == 0 {
                end_item(c)?;
            }
            return Ok(());
        }
    }
    c.at = at + 1;
    Ok(())
}

/// The end of an item: the next item's head, or the end of the CPF.
#[inline(always)]
fn end_item(c: &mut EnipCursor) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    if c.depth() != 0 || (c.phase != phase::ITEM_SKIP && c.phase != phase::DATA) {
        // A request shorter than its head, or than the requests it nests.
        return Err(malformed);
    }
    let left = (c.items & 0x0F).saturating_sub(1);
    let index = (c.items >> 4) + 1;
    c.items = (index & 0x0F) << 4 | left;
    c.at = 0;
    c.phase = if left == 0 {
        phase::TRAILER
    } else {
        phase::ITEM_HEAD
    };
    Ok(())
}

/// The service octet and path size of a request (a reply's service octet, from the server).
#[inline(always)]
fn cip(c: &mut EnipCursor, byte: u8, profile: Option<&EnipProfile>) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    if c.at == 0 {
        let reply = byte & service::REPLY != 0;
        if reply != profile.is_none() {
            return Err(EnipDenial::code(EnipViolation::Direction, byte));
        }
        if profile.is_none() {
            // The rest of a reply is not walked.
            c.phase = phase::ITEM_SKIP;
            return Ok(());
        }
        c.service = byte;
        c.at = 1;
        return Ok(());
    }
    if byte > MAX_PATH_WORDS || byte as u16 * 2 > c.level_left() {
        return Err(malformed);
    }
    c.path_left = byte * 2;
    c.flags &= !(cursor_flags::CLASS | cursor_flags::SYMBOLIC | cursor_flags::CLASS_SEGMENT);
    c.seg = 0;
    c.at = 0;
    c.acc = 0;
    c.phase = phase::PATH;
    if byte == 0 && profile.is_some() {
        c.flags |= cursor_flags::JUDGE;
    }
    Ok(())
}

/// An octet of a request path: logical segments (class, instance, member, connection
/// point, attribute; 8 or 16 bits, 32 bits but for the class; the electronic key) and ANSI
/// extended symbolic segments. Judges the request at the path's end.
#[inline(always)]
fn path(c: &mut EnipCursor, byte: u8, profile: Option<&EnipProfile>) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    if c.path_left == 0 {
        return Err(malformed);
    }
    c.path_left -= 1;
    match c.seg {
        0 => {
            c.flags &= !cursor_flags::CLASS_SEGMENT;
            match byte {
                0x20..=0x3F => {
                    let format = byte & 3;
                    let logical = (byte >> 2) & 7;
                    let len = match format {
                        0 => 1,
                        1 => 3,
                        2 => 5,
                        _ => return Err(malformed),
                    };
                    match logical {
                        // Class: one per path, 8 or 16 bits.
                        0 => {
                            if c.flags & cursor_flags::CLASS != 0 || format == 2 {
                                return Err(malformed);
                            }
                            c.flags |= cursor_flags::CLASS | cursor_flags::CLASS_SEGMENT;
                            c.acc = 0;
                            c.at = len;
                        }
                        // Instance, member, connection point, attribute.
                        1..=4 => c.at = len,
                        // Special: the electronic key (format octet 4 and 8 octets).
                        5 => {
                            if byte != 0x34 {
                                return Err(malformed);
                            }
                            c.at = 9;
                        }
                        _ => return Err(malformed),
                    }
                    c.seg = byte;
                }
                SEG_SYMBOL_LEN => {
                    c.flags |= cursor_flags::SYMBOLIC;
                    c.seg = SEG_SYMBOL_LEN;
                }
                _ => return Err(malformed),
            }
        }
        SEG_SYMBOL_LEN => {
            // The name and a pad octet when its length is odd.
            let len = byte as u16 + (byte & 1) as u16;
            if byte == 0 || len > c.path_left as u16 {
                return Err(malformed);
            }
            c.at = len as u8;
            c.seg = SEG_SYMBOL;
        }
        _ => {
            if c.at == 0 {
                return Err(malformed);
            }
            c.at -= 1;
            if c.flags & cursor_flags::CLASS_SEGMENT != 0 {
                // 8 bits: the value; 16 bits: pad, low, high.
                if c.seg & 3 == 0 || c.at == 1 {
                    c.acc = byte as u16;
                } else if c.at == 0 {
                    c.acc |= (byte as u16) << 8;
                }
            }
            if c.at == 0 {
                c.seg = 0;
            }
        }
    }
    if c.path_left == 0 {
        if c.seg != 0 {
            return Err(malformed);
        }
        if profile.is_some() {
            c.flags |= cursor_flags::JUDGE;
        }
    }
    Ok(())
}

/// A client's request whose path was read: its service on its target, its class, and what
/// follows (a container's requests, or data).
#[inline(always)]
fn judge(c: &mut EnipCursor, profile: &EnipProfile) -> Result<(), EnipDenial> {
    let class = if c.flags & cursor_flags::CLASS != 0 {
        Some(c.acc)
    } else {
        None
    };
    let symbolic = c.flags & cursor_flags::SYMBOLIC != 0;
    let target = Target::of(class, symbolic);
    let service = c.service;
    let depth = c.depth();
    let denial = |kind| EnipDenial {
        kind,
        known: detail::CODE | detail::SCOPE | if class.is_some() { detail::ADDRESS } else { 0 },
        scope: depth,
        code: service,
        address: class.unwrap_or_default(),
    };
    if !profile.allows_service(service, target) {
        return Err(denial(EnipViolation::Service));
    }
    let container = if service == service::UNCONNECTED_SEND && target == Target::ConnectionManager {
        kind::UNCONNECTED
    } else if service == service::MULTIPLE_SERVICE_PACKET {
        kind::MULTIPLE
    } else {
        0
    };
    if container == 0 && !profile.allows_class(class, symbolic) {
        return Err(denial(EnipViolation::Class));
    }
    c.at = 0;
    if container == 0 {
        c.phase = phase::DATA;
        return Ok(());
    }
    if depth + 1 >= LEVELS {
        // Nested deeper than the walker follows.
        return Err(denial(EnipViolation::Service));
    }
    // The container kind of this level.
    c.set_container(depth, container);
    c.phase = if container == kind::UNCONNECTED {
        phase::UNCONNECTED
    } else {
        phase::MULTIPLE
    };
    Ok(())
}

/// Starts a request of `len` octets one level deeper.
#[inline(always)]
fn push(c: &mut EnipCursor, len: u16) -> Result<(), EnipDenial> {
    let depth = c.depth();
    if len < 2 || len > c.level_left() {
        return Err(EnipDenial::new(EnipViolation::Malformed));
    }
    match depth {
        0 => c.left[0] = len,
        _ => c.left[1] = len,
    }
    c.nest = (c.nest & !3) | (depth + 1);
    c.phase = phase::CIP;
    c.at = 0;
    Ok(())
}

/// An octet of Unconnected Send's head: priority, timeout ticks, embedded request size.
#[inline(always)]
fn unconnected(c: &mut EnipCursor, byte: u8) -> Result<(), EnipDenial> {
    let at = c.at;
    match at {
        0 | 1 => {}
        2 => c.acc = byte as u16,
        _ => return push(c, c.acc | (byte as u16) << 8),
    }
    c.at = at + 1;
    Ok(())
}

/// An octet of a Multiple Service Packet's head: the count, then an offset per service
/// (from the count), which must put the services one after the other, each at least a
/// service octet and a path size long.
#[inline(always)]
fn multiple(c: &mut EnipCursor, byte: u8) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    let at = c.at;
    // Octets of the container read (with this one) and left.
    let read = at as u32 + 1;
    let left = c.level_left() as u32;
    let total = read + left;
    if at == 0 {
        c.acc = byte as u16;
        c.at = 1;
        return Ok(());
    }
    if at == 1 {
        let n = c.acc | (byte as u16) << 8;
        if n == 0 || n > MSP_MAX as u16 || total < 4 * n as u32 + 2 {
            return Err(malformed);
        }
        c.msp = n as u8;
        c.at = 2;
        return Ok(());
    }
    if at & 1 == 0 {
        c.acc = byte as u16;
        c.at = at + 1;
        return Ok(());
    }
    let n = (c.msp & 0x0F) as u32;
    let k = ((at - 2) / 2) as u32;
    let offset = (c.acc | (byte as u16) << 8) as u32;
    let table = 2 + 2 * n;
    if k == 0 {
        if offset != table {
            return Err(malformed);
        }
    } else {
        // Where service k - 1 started (the previous offset): at least 2 octets before.
        let previous = if k == 1 {
            table
        } else {
            total - c.bounds[MSP_MAX as usize - 1] as u32
        };
        if offset < previous + 2 || offset + 2 > total {
            return Err(malformed);
        }
        c.push_bound((total - offset) as u16);
    }
    if k + 1 < n {
        c.at = at + 1;
        return Ok(());
    }
    // The table is read: the n - 1 bounds are the last of the queue; to its front.
    let mut moves = MSP_MAX - (n as u8 - 1);
    for _ in 0..MSP_MAX {
        if moves > 0 {
            c.shift_bounds();
            moves -= 1;
        }
    }
    c.msp = n as u8;
    next_service(c)
}

/// Starts service `i` (the high nibble of [`EnipCursor::msp`]) of the Multiple Service
/// Packet at the current level: up to the next service's start, or to the container's end.
#[inline(always)]
fn next_service(c: &mut EnipCursor) -> Result<(), EnipDenial> {
    let n = c.msp & 0x0F;
    let i = c.msp >> 4;
    let left = c.level_left();
    // The next service's bound is the queue's front.
    let next = if i + 1 < n { c.bounds[0] } else { 0 };
    c.shift_bounds();
    if next > left {
        return Err(EnipDenial::new(EnipViolation::Malformed));
    }
    push(c, left - next)
}

/// The request at the current level ended: it must have been read whole; the level above
/// goes on (the rest of an Unconnected Send, the next service of a Multiple Service
/// Packet).
#[inline(always)]
fn end_request(c: &mut EnipCursor) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    if c.phase != phase::DATA {
        return Err(malformed);
    }
    let depth = c.depth();
    if depth == 0 {
        return Err(malformed);
    }
    let parent = depth - 1;
    c.nest = (c.nest & !3) | parent;
    let container = c.container(parent);
    c.phase = phase::DATA;
    c.at = 0;
    if container == kind::MULTIPLE {
        let n = c.msp & 0x0F;
        let i = (c.msp >> 4) + 1;
        c.msp = (i & 0x0F) << 4 | n;
        if i < n {
            return next_service(c);
        }
    }
    Ok(())
}
