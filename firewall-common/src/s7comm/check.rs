//! The S7comm byte walker: TPKT header, COTP header (with the parameters of a connection
//! request), and the S7 PDU carried in the user data of one or more data TPDUs, judged byte
//! by byte so TCP, TPKT and COTP may cut it anywhere. The state between segments is an
//! [`S7Cursor`] per direction; nothing is buffered.

use super::{
    functions::{is_db_area, job},
    pi::{pi_byte, pi_start},
    profile::{S7Profile, profile_flags},
};
use crate::{event::detail, packet::PacketBytes};

/// TPKT version octet.
pub const TPKT_VERSION: u8 = 0x03;
/// TPKT header length.
pub const TPKT_LEN: u16 = 4;
/// Shortest TPDU: TPKT header and a data TPDU's COTP header (LI, type, EOT/number).
pub const MIN_TPDU: u16 = 7;
/// Most payload bytes of one segment walked; a longer segment is denied.
pub const MAX_SEGMENT_BYTES: usize = 2048;

/// COTP TPDU types (class 0).
pub mod cotp {
    pub const CR: u8 = 0xE0;
    pub const CC: u8 = 0xD0;
    pub const DR: u8 = 0x80;
    pub const DC: u8 = 0xC0;
    pub const DT: u8 = 0xF0;
    pub const ER: u8 = 0x70;
    /// Last data TPDU of the user data (in the octet after a DT's type).
    pub const EOT: u8 = 0x80;
    /// Connection request parameter: called TSAP.
    pub const CALLED_TSAP: u8 = 0xC2;
    /// LI of a data TPDU.
    pub const DT_LI: u8 = 2;
    /// Fixed header octets of CR / CC / DR after the LI (type, references, class or reason).
    pub const CR_FIXED: u8 = 6;
}

/// S7 protocol ids (first octet of the PDU).
pub const S7COMM: u8 = 0x32;
/// S7comm-plus (S7-1200/1500 TIA protocol).
pub const S7COMM_PLUS: u8 = 0x72;

/// ROSCTR (message types).
pub mod rosctr {
    pub const JOB: u8 = 1;
    pub const ACK: u8 = 2;
    pub const ACK_DATA: u8 = 3;
    pub const USERDATA: u8 = 7;
}

/// S7 header length of a job or userdata PDU (ack and ack-data add error class and code).
pub const HEADER_LEN: u16 = 10;
/// Length of a userdata request's parameter head (`00 01 12`, length, method, type/group,
/// subfunction, sequence number).
pub const USERDATA_PARAM_MIN: u16 = 8;
/// One S7ANY item of read_var / write_var: `0x12`, length 10, syntax 0x10, transport size,
/// count (2), DB number (2), area, address (3).
pub const ITEM_LEN: u16 = 12;
/// The S7ANY item syntax id.
pub const SYNTAX_S7ANY: u8 = 0x10;

/// Userdata type (high nibble of the type/group octet) of a request.
pub const USERDATA_REQUEST: u8 = 0x4;
/// Userdata type of an NC programming request.
pub const USERDATA_NC_REQUEST: u8 = 0x7;

/// Bits of a flow's S7comm session state, shared by both directions.
pub mod session {
    /// The client sent an allowed S7comm-plus PDU: the server's S7comm-plus PDUs pass.
    pub const PLUS: u8 = 1 << 0;
    /// The client sent an allowed request download: the PLC asks for the blocks with jobs
    /// of its own (download block, download ended), which the client acknowledges.
    pub const DOWNLOAD: u8 = 1 << 1;
}

/// Why an S7comm segment was denied.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S7Violation {
    /// Framing: TPKT version or length, a COTP type or length class 0 does not have,
    /// parameters that overrun the header, an S7 protocol id, ROSCTR or lengths that do not
    /// add up (also across data TPDUs), a non-data TPDU inside a fragmented S7 PDU, a
    /// segment too long to walk.
    Malformed = 0,
    /// A job function, or a userdata function group/subfunction, the profile does not allow.
    Function = 1,
    /// A read_var / write_var item whose area, DB number or addressing the profile does not
    /// allow.
    Address = 2,
    /// A connection request whose called TSAP the profile does not allow.
    Tsap = 3,
    /// An S7comm-plus PDU without `s7comm_plus: allow`.
    Plus = 4,
    /// A PDU of the other side: ack or ack-data from the client, a job from the server, a
    /// connection request from the server or confirm from the client, a userdata response
    /// or push from the client.
    Direction = 5,
}

impl S7Violation {
    pub const ALL: [S7Violation; 6] = [
        S7Violation::Malformed,
        S7Violation::Function,
        S7Violation::Address,
        S7Violation::Tsap,
        S7Violation::Plus,
        S7Violation::Direction,
    ];

    /// The reason name without the protocol prefix.
    pub const fn name(self) -> &'static str {
        match self {
            S7Violation::Malformed => "malformed",
            S7Violation::Function => "function",
            S7Violation::Address => "address",
            S7Violation::Tsap => "tsap",
            S7Violation::Plus => "plus",
            S7Violation::Direction => "direction",
        }
    }
}

/// A denied segment and what was read of the PDU (fields not in `known` are 0). `known`
/// holds [`crate::event::detail`] bits, so the event fields are these:
/// - `Function`: `code` the job function; for a userdata request `scope` the function group
///   (with [`detail::SCOPE`]) and `code` the subfunction.
/// - `Address`: `code` the job function, `scope` the area, `address` the DB number (DB
///   areas); an item that is not S7ANY has no `scope`.
/// - `Tsap`: `address` the called TSAP (when it is 2 bytes long).
/// - `Function` of a PI service job (0x28) whose service name the profile does not allow:
///   `code` 0x28 and `address` the name's index in [`super::pi::PI_SERVICES`], or
///   [`super::pi::PI_UNKNOWN`] for a name not in it (none, too long, other octets).
/// - `Direction`: `code` the ROSCTR or the COTP type.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct S7Denial {
    pub kind: S7Violation,
    pub known: u8,
    pub scope: u8,
    pub code: u8,
    pub address: u16,
}

const _: () = assert!(core::mem::size_of::<S7Denial>() == 6);

impl S7Denial {
    #[inline(always)]
    pub const fn new(kind: S7Violation) -> S7Denial {
        S7Denial {
            kind,
            known: 0,
            scope: 0,
            code: 0,
            address: 0,
        }
    }

    #[inline(always)]
    const fn code(kind: S7Violation, code: u8) -> S7Denial {
        S7Denial {
            kind,
            known: detail::CODE,
            scope: 0,
            code,
            address: 0,
        }
    }

    /// The event detail of the denial: `scope | code << 8 | address << 16` and its
    /// [`crate::event::detail`] bits (as `event::pack_iec104` does for IEC 104).
    #[inline(always)]
    pub const fn packed(&self) -> (u32, u8) {
        let packed = self.scope as u32 | (self.code as u32) << 8 | (self.address as u32) << 16;
        (
            packed,
            self.known & (detail::SCOPE | detail::CODE | detail::ADDRESS),
        )
    }
}

/// Bits of [`S7Cursor::flags`].
pub mod cursor_flags {
    /// The current data TPDU has the EOT bit.
    pub const EOT: u8 = 1 << 0;
    /// An S7 PDU is open: begun in a data TPDU without EOT, continued by the next ones.
    pub const OPEN: u8 = 1 << 1;
    /// The open PDU is S7comm-plus: passed to its EOT.
    pub const PLUS: u8 = 1 << 2;
    /// Connection request: the called TSAP parameter was read.
    pub const TSAP_SEEN: u8 = 1 << 3;
    /// Connection request: the called TSAP is not 2 octets long.
    pub const TSAP_ODD: u8 = 1 << 4;
    /// The open PDU is a read_var / write_var whose items are walked.
    pub const ITEMS: u8 = 1 << 5;
    /// The open PDU is a PI service job whose service name is walked
    /// ([`super::pi::pi_phase`] in [`super::S7Cursor::at`], octets to come in
    /// [`super::S7Cursor::value`]).
    pub const PI: u8 = 1 << 6;
}

/// Octets of an S7 PDU [`S7Cursor::s7_read`] counts exactly; beyond, only "more". Every
/// counter the walker compares with constants is small and bounded (the rest count down
/// lengths read from the wire), so the verifier's check of the `bpf_loop` step converges.
pub const S7_READ_CAP: u8 = 24;

/// [`S7Cursor::pos`] once the TPKT header, LI and type were read.
const POS_BODY: u8 = 6;

/// [`S7Cursor::phase`] in the fixed part of a connection request (references and class).
const PHASE_FIXED: u8 = 3;

/// Where one direction of an S7comm flow stands between segments.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct S7Cursor {
    /// Octets of the current TPDU still to come (from its TPKT length).
    pub tpdu_left: u16,
    /// S7 octets still to come, once the header's lengths were read.
    pub s7_left: u16,
    /// Parameter length of the current S7 PDU.
    pub param_len: u16,
    /// Parameter octets of the current S7 PDU still to come.
    pub param_left: u16,
    /// Connection request: the called TSAP; items: the DB number of the current item; PI
    /// service job: parameter block octets, then name octets, still to come.
    pub value: u16,
    /// Octets of the TPDU's TPKT header, LI and type read (0 = between TPDUs; then
    /// [`POS_BODY`]).
    pub pos: u8,
    /// The LI while the type is read, then the COTP header octets still to come.
    pub hdr_left: u8,
    /// COTP type of the current TPDU.
    pub cotp: u8,
    /// [`cursor_flags`].
    pub flags: u8,
    /// Octets of the current S7 PDU read, up to [`S7_READ_CAP`].
    pub s7_read: u8,
    /// ROSCTR of the current S7 PDU.
    pub rosctr: u8,
    /// The current S7 PDU's job function, or userdata type and group.
    pub function: u8,
    /// Connection request: the current parameter's code.
    pub param_code: u8,
    /// Connection request: octets of the fixed part read, or of the current parameter's
    /// value still to come; items: position in the current item (0-11); PI service job:
    /// [`super::pi::pi_phase`].
    pub at: u8,
    /// Connection request: 0 before a parameter code, 1 before its length, 2 in its value,
    /// [`PHASE_FIXED`] in the fixed part.
    pub phase: u8,
    /// PI service job: the key of the service name so far ([`super::pi::pi_key`] of its
    /// [`super::pi::pack_pi_name`]), high half-word first (the cursor stays 2-aligned).
    pub pi_name: [u16; 4],
}

const _: () = assert!(core::mem::size_of::<S7Cursor>() == 28);

impl S7Cursor {
    /// Whether the next octet starts a TPDU and no S7 PDU is open.
    #[inline(always)]
    pub const fn at_boundary(&self) -> bool {
        self.pos == 0 && self.flags & cursor_flags::OPEN == 0
    }

    /// S7 header length of the current PDU.
    #[inline(always)]
    const fn header_len(&self) -> u8 {
        if self.rosctr == rosctr::ACK || self.rosctr == rosctr::ACK_DATA {
            HEADER_LEN as u8 + 2
        } else {
            HEADER_LEN as u8
        }
    }
}

/// Walks the `len` payload bytes at `off` of `b`: a client's segment when `profile` is
/// `Some` (judged against it), a server's when `None` (framing and direction only).
/// `session`: the flow's session bits. Returns the number of TPDUs that ended in the segment,
/// or the first denial; on a denial `cursor` and `session` are left as they were.
#[inline(always)]
pub fn walk<B: PacketBytes + ?Sized>(
    b: &B,
    off: usize,
    len: usize,
    cursor: &mut S7Cursor,
    session: &mut u8,
    profile: Option<&S7Profile>,
) -> Result<u8, S7Denial> {
    if len > MAX_SEGMENT_BYTES {
        return Err(S7Denial::new(S7Violation::Malformed));
    }
    let mut c = *cursor;
    let mut bits = *session;
    let mut tpdus = 0u8;
    for i in 0..MAX_SEGMENT_BYTES {
        if i >= len {
            break;
        }
        let Some([byte]) = b.load::<1>(off + i) else {
            return Err(S7Denial::new(S7Violation::Malformed));
        };
        if step(&mut c, &mut bits, byte, profile)? {
            tpdus = tpdus.saturating_add(1);
        }
    }
    *cursor = c;
    *session = bits;
    Ok(tpdus)
}

/// Advances `c` by one octet; `true` when the octet ended a TPDU ([`walk`] octet by octet;
/// the eBPF program drives it with `bpf_loop`). On a denial `c` may be half-moved: callers
/// keep their own copy ([`walk`] does).
#[inline(always)]
pub fn step(
    c: &mut S7Cursor,
    session: &mut u8,
    byte: u8,
    profile: Option<&S7Profile>,
) -> Result<bool, S7Denial> {
    let malformed = S7Denial::new(S7Violation::Malformed);
    let pos = c.pos;
    if pos >= TPKT_LEN as u8 {
        if c.tpdu_left == 0 {
            return Err(malformed);
        }
        c.tpdu_left -= 1;
    }
    match pos {
        0 => {
            if byte != TPKT_VERSION {
                return Err(malformed);
            }
        }
        1 => {
            if byte != 0 {
                return Err(malformed);
            }
        }
        2 => c.tpdu_left = (byte as u16) << 8,
        3 => {
            let len = c.tpdu_left | byte as u16;
            if len < MIN_TPDU {
                return Err(malformed);
            }
            c.tpdu_left = len - TPKT_LEN;
        }
        4 => {
            // The LI counts the header octets after it.
            if byte < cotp::DT_LI || byte as u16 > c.tpdu_left {
                return Err(malformed);
            }
            c.hdr_left = byte;
        }
        5 => cotp_type(c, byte, profile)?,
        _ => {
            if c.hdr_left > 0 {
                c.hdr_left -= 1;
                cotp_header(c, byte, profile)?;
            } else if c.cotp == cotp::DT {
                s7_byte(c, session, byte, profile)?;
            }
            // DR and ER may carry octets after their header: they reach no application.
        }
    }
    if pos < POS_BODY {
        c.pos = pos + 1;
    }
    if pos >= 5 && c.tpdu_left == 0 {
        end_tpdu(c)?;
        return Ok(true);
    }
    Ok(false)
}

/// The COTP type octet: what class 0 has, in its direction, with a fitting LI.
#[inline(always)]
fn cotp_type(c: &mut S7Cursor, byte: u8, profile: Option<&S7Profile>) -> Result<(), S7Denial> {
    let malformed = S7Denial::new(S7Violation::Malformed);
    let client = profile.is_some();
    if c.flags & cursor_flags::OPEN != 0 && byte != cotp::DT {
        // A fragmented S7 PDU continues only in data TPDUs.
        return Err(malformed);
    }
    let li = c.hdr_left;
    // The TPDU is its header only (no user data after it).
    let whole = li as u16 - 1 == c.tpdu_left;
    let ok = match byte {
        // Data: LI 2 and at least one octet of user data.
        cotp::DT => li == cotp::DT_LI && !whole,
        cotp::CR | cotp::CC => {
            if (byte == cotp::CR) != client {
                return Err(S7Denial::code(S7Violation::Direction, byte));
            }
            li >= cotp::CR_FIXED && whole
        }
        cotp::DR => li >= cotp::CR_FIXED,
        cotp::DC => li >= 5 && whole,
        cotp::ER => li >= 4,
        _ => false,
    };
    if !ok {
        return Err(malformed);
    }
    c.cotp = byte;
    c.hdr_left = li - 1;
    c.flags &= !(cursor_flags::EOT | cursor_flags::TSAP_SEEN | cursor_flags::TSAP_ODD);
    c.param_code = 0;
    c.phase = PHASE_FIXED;
    if c.flags & cursor_flags::OPEN == 0 {
        // A data TPDU continuing an open S7 PDU keeps the item or PI service position.
        c.at = 0;
        c.value = 0;
    }
    Ok(())
}

/// An octet of the COTP header after the type ([`S7Cursor::hdr_left`] already counts it).
#[inline(always)]
fn cotp_header(c: &mut S7Cursor, byte: u8, profile: Option<&S7Profile>) -> Result<(), S7Denial> {
    let malformed = S7Denial::new(S7Violation::Malformed);
    let last = c.hdr_left == 0;
    if c.cotp == cotp::DT {
        // LI 2: the only octet is EOT and the TPDU number.
        if byte & cotp::EOT != 0 {
            c.flags |= cursor_flags::EOT;
        }
        return Ok(());
    }
    if c.cotp != cotp::CR {
        return Ok(());
    }
    // Connection request: references and class (5 octets), then parameters.
    match c.phase {
        PHASE_FIXED => {
            c.at += 1;
            if c.at >= cotp::CR_FIXED - 1 {
                c.phase = 0;
            }
        }
        0 => {
            c.param_code = byte;
            c.phase = 1;
            if last {
                // A code without its length.
                return Err(malformed);
            }
        }
        1 => {
            if byte > c.hdr_left {
                return Err(malformed);
            }
            c.at = byte;
            c.phase = if byte == 0 { 0 } else { 2 };
            if c.param_code == cotp::CALLED_TSAP {
                if c.flags & cursor_flags::TSAP_SEEN != 0 {
                    // Two called TSAPs: which one a server takes is its choice.
                    return Err(malformed);
                }
                c.flags |= cursor_flags::TSAP_SEEN;
                if byte != 2 {
                    c.flags |= cursor_flags::TSAP_ODD;
                }
            }
        }
        _ => {
            if c.param_code == cotp::CALLED_TSAP {
                c.value = c.value << 8 | byte as u16;
            }
            c.at = c.at.wrapping_sub(1);
            if c.at == 0 {
                c.phase = 0;
            }
        }
    }
    if last {
        if c.phase != 0 {
            return Err(malformed);
        }
        if let Some(p) = profile {
            let tsap = if c.flags & cursor_flags::TSAP_SEEN != 0
                && c.flags & cursor_flags::TSAP_ODD == 0
            {
                Some(c.value)
            } else {
                None
            };
            if !p.allows_tsap(tsap) {
                let mut d = S7Denial::new(S7Violation::Tsap);
                if let Some(t) = tsap {
                    d.known = detail::ADDRESS;
                    d.address = t;
                }
                return Err(d);
            }
        }
    }
    Ok(())
}

/// The end of a TPDU: a data TPDU with EOT must complete its S7 PDU.
#[inline(always)]
fn end_tpdu(c: &mut S7Cursor) -> Result<(), S7Denial> {
    c.pos = 0;
    if c.cotp != cotp::DT || c.flags & cursor_flags::EOT == 0 {
        return Ok(());
    }
    if c.flags & cursor_flags::PLUS == 0 && (c.s7_read < c.header_len() || c.s7_left != 0) {
        // Shorter than its header says, or not even a header.
        return Err(S7Denial::new(S7Violation::Malformed));
    }
    c.flags &= !(cursor_flags::OPEN
        | cursor_flags::PLUS
        | cursor_flags::ITEMS
        | cursor_flags::PI
        | cursor_flags::EOT);
    c.s7_read = 0;
    c.s7_left = 0;
    c.param_left = 0;
    Ok(())
}

/// An octet of the S7 PDU (user data of a data TPDU).
#[inline(always)]
fn s7_byte(
    c: &mut S7Cursor,
    session: &mut u8,
    byte: u8,
    profile: Option<&S7Profile>,
) -> Result<(), S7Denial> {
    let malformed = S7Denial::new(S7Violation::Malformed);
    let at = c.s7_read;
    if at == 0 {
        c.flags |= cursor_flags::OPEN;
        c.rosctr = 0;
        c.param_len = 0;
        c.param_left = 0;
        match byte {
            S7COMM => {}
            S7COMM_PLUS => {
                let allowed = match profile {
                    Some(p) => p.flags & profile_flags::S7COMM_PLUS != 0,
                    None => *session & session::PLUS != 0,
                };
                if !allowed {
                    return Err(S7Denial::new(S7Violation::Plus));
                }
                if profile.is_some() {
                    *session |= session::PLUS;
                }
                c.flags |= cursor_flags::PLUS;
            }
            _ => return Err(malformed),
        }
    }
    if at < S7_READ_CAP {
        c.s7_read = at + 1;
    }
    if c.flags & cursor_flags::PLUS != 0 {
        // S7comm-plus is not inspected: passed to its EOT.
        return Ok(());
    }
    match at {
        0 | 2..=5 => Ok(()),
        1 => {
            let client = profile.is_some();
            let download = *session & session::DOWNLOAD != 0;
            let ok = match byte {
                // A download turns the roles around: the PLC sends jobs, the client acks.
                rosctr::JOB => client || download,
                rosctr::ACK_DATA => !client || download,
                rosctr::ACK => !client,
                rosctr::USERDATA => true,
                _ => return Err(malformed),
            };
            if !ok {
                return Err(S7Denial::code(S7Violation::Direction, byte));
            }
            c.rosctr = byte;
            Ok(())
        }
        6 => {
            c.param_len = (byte as u16) << 8;
            Ok(())
        }
        7 => {
            c.param_len |= byte as u16;
            Ok(())
        }
        // The data length, kept in `s7_left` until the header is read.
        8 => {
            c.s7_left = (byte as u16) << 8;
            Ok(())
        }
        9 => {
            let data_len = c.s7_left | byte as u16;
            let total = c.header_len() as u32 + c.param_len as u32 + data_len as u32;
            let min_param = match c.rosctr {
                rosctr::JOB => 1,
                rosctr::USERDATA => USERDATA_PARAM_MIN,
                _ => 0,
            };
            if total > u16::MAX as u32 || c.param_len < min_param {
                return Err(malformed);
            }
            c.s7_left = (total - HEADER_LEN as u32) as u16;
            c.param_left = c.param_len;
            Ok(())
        }
        _ => {
            if c.s7_left == 0 {
                // Longer than its header says.
                return Err(malformed);
            }
            c.s7_left -= 1;
            if at < c.header_len() || c.param_left == 0 {
                // Error class and code of an ack, or the data.
                return Ok(());
            }
            c.param_left -= 1;
            match profile {
                Some(p) => judge(c, session, byte, at - HEADER_LEN as u8, p),
                None => {
                    // The PLC's jobs of a download: only the block requests.
                    if c.rosctr == rosctr::JOB
                        && at == HEADER_LEN as u8
                        && byte != job::DOWNLOAD_BLOCK
                        && byte != job::DOWNLOAD_ENDED
                    {
                        return Err(S7Denial::code(S7Violation::Direction, byte));
                    }
                    Ok(())
                }
            }
        }
    }
}

/// A client's parameter octet; `p` is its offset in the parameters, exact up to
/// [`S7_READ_CAP`] - 10 (the judged ones), larger beyond.
#[inline(always)]
fn judge(
    c: &mut S7Cursor,
    session: &mut u8,
    byte: u8,
    p: u8,
    profile: &S7Profile,
) -> Result<(), S7Denial> {
    let malformed = S7Denial::new(S7Violation::Malformed);
    if c.rosctr == rosctr::USERDATA {
        return match p {
            0..=2 => {
                let head = match p {
                    0 => 0x00,
                    1 => 0x01,
                    _ => 0x12,
                };
                if byte != head {
                    return Err(malformed);
                }
                Ok(())
            }
            3 => {
                if byte as u16 + 4 != c.param_len {
                    return Err(malformed);
                }
                Ok(())
            }
            5 => {
                let kind = byte >> 4;
                if kind != USERDATA_REQUEST && kind != USERDATA_NC_REQUEST {
                    return Err(S7Denial::code(S7Violation::Direction, byte));
                }
                c.function = byte;
                Ok(())
            }
            6 => {
                let group = c.function & 0x0F;
                if !profile.allows_userdata(group, byte) {
                    return Err(S7Denial {
                        kind: S7Violation::Function,
                        known: detail::SCOPE | detail::CODE,
                        scope: group,
                        code: byte,
                        address: 0,
                    });
                }
                Ok(())
            }
            _ => Ok(()),
        };
    }
    if c.rosctr != rosctr::JOB {
        // The client's ack-data of a download's block requests.
        return Ok(());
    }
    if p == 0 {
        c.function = byte;
        if !profile.allows_function(byte) {
            return Err(S7Denial::code(S7Violation::Function, byte));
        }
        if byte == job::PI_SERVICE && profile.flags & profile_flags::RESTRICT_PI != 0 {
            return pi_start(c);
        }
        if byte == job::REQUEST_DOWNLOAD {
            *session |= session::DOWNLOAD;
        }
        if (byte == job::READ_VAR || byte == job::WRITE_VAR)
            && profile.flags & profile_flags::RESTRICT_ITEMS != 0
        {
            c.flags |= cursor_flags::ITEMS;
            c.at = 0;
        }
        return Ok(());
    }
    if c.flags & cursor_flags::PI != 0 {
        return pi_byte(c, byte, p, profile);
    }
    if c.flags & cursor_flags::ITEMS == 0 {
        return Ok(());
    }
    if p == 1 {
        // The item count: the parameters are exactly that many S7ANY items.
        if byte == 0 || c.param_len != 2 + byte as u16 * ITEM_LEN {
            return Err(S7Denial::code(S7Violation::Address, c.function));
        }
        return Ok(());
    }
    let i = c.at;
    c.at = if i as u16 + 1 >= ITEM_LEN { 0 } else { i + 1 };
    match i {
        0 if byte != 0x12 => return Err(malformed),
        1 if byte as u16 != ITEM_LEN - 2 => {
            return Err(S7Denial::code(S7Violation::Address, c.function));
        }
        // Another addressing (DB read, NCK, drive): what it touches is not known.
        2 if byte != SYNTAX_S7ANY => {
            return Err(S7Denial::code(S7Violation::Address, c.function));
        }
        6 => c.value = (byte as u16) << 8,
        7 => c.value |= byte as u16,
        8 if !profile.allows_item(byte, c.value) => {
            return Err(S7Denial {
                kind: S7Violation::Address,
                known: detail::SCOPE
                    | detail::CODE
                    | if is_db_area(byte) { detail::ADDRESS } else { 0 },
                scope: byte,
                code: c.function,
                address: if is_db_area(byte) { c.value } else { 0 },
            });
        }
        _ => {}
    }
    Ok(())
}
