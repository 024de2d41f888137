//! The OPC UA chunk walker the data path runs on every segment of an inspected flow: framing
//! of every chunk in both directions, the client's OpenSecureChannel against the security
//! policies, the first chunk of each of its messages against the services (where the body
//! is cleartext), and the order of Hello, OpenSecureChannel, messages and CloseSecureChannel.
//!
//! Byte-wise with its state in an [`OpcuaCursor`] up to each chunk's decision, then the rest
//! of the chunk is passed in one part ([`step_part`]): a 64 KiB chunk costs its header, not
//! 64 Ki steps.

use super::{
    profile::OpcuaProfile,
    services::service_of,
    wire::{
        HEADER_LEN, MAX_CHUNK_BYTES, MAX_POLICY_URI, MESSAGE_TYPES, MIN_CHUNK, POLICIES,
        POLICY_NONE, POLICY_UNKNOWN, POLICY_URIS, URI_ROW, chunk, message, node_id, offset,
        policy_uri_len,
    },
};
use crate::{event::detail, packet::PacketBytes, stream::PAYLOAD_MAX};

/// Bytes of a segment the walker reads (the data path's payload copy): a judged chunk's rest
/// may run past it, a header may not ([`beyond_window`]).
pub const WINDOW: usize = PAYLOAD_MAX;

/// Longest segment the host walker reads in one go (the fuzz target's and tests' bound).
pub const MAX_SEGMENT_BYTES: usize = WINDOW;

/// Why an OPC UA segment was denied.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpcuaViolation {
    /// Framing: an unknown message or chunk type, a size below the message type's smallest
    /// or above [`MAX_CHUNK_BYTES`], a chunk that ends before its decisive fields.
    Malformed = 0,
    /// An OpenSecureChannel asking for a security policy the profile does not allow, or for
    /// no standard policy.
    SecurityPolicy = 1,
    /// A service request the profile does not allow (or, on a `None` channel, a body whose
    /// type id is no service request).
    Service = 2,
    /// A body that is no readable service request on a channel that may be encrypted, where
    /// the conduit judges services (a SignAndEncrypt channel on a conduit whose
    /// `security_modes` does not list `sign_and_encrypt`).
    Encrypted = 3,
    /// A message of the other side: Acknowledge or Error from the client, Hello or
    /// CloseSecureChannel from the server, ReverseHello from either.
    Direction = 4,
    /// Out of order on the channel: OpenSecureChannel before Hello, Hello twice, a message
    /// before OpenSecureChannel or after CloseSecureChannel, a renewal with another policy,
    /// chunks of two messages interleaved, an abort chunk without a message.
    Channel = 5,
}

impl OpcuaViolation {
    pub const ALL: [OpcuaViolation; 6] = [
        OpcuaViolation::Malformed,
        OpcuaViolation::SecurityPolicy,
        OpcuaViolation::Service,
        OpcuaViolation::Encrypted,
        OpcuaViolation::Direction,
        OpcuaViolation::Channel,
    ];

    /// The reason name's suffix (`opcua_<name>`).
    pub const fn name(self) -> &'static str {
        match self {
            OpcuaViolation::Malformed => "malformed",
            OpcuaViolation::SecurityPolicy => "security_policy",
            OpcuaViolation::Service => "service",
            OpcuaViolation::Encrypted => "encrypted",
            OpcuaViolation::Direction => "direction",
            OpcuaViolation::Channel => "channel",
        }
    }
}

/// A denial and what the walker had read: the message type, the policy or service index, the
/// type id.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpcuaDenial {
    pub kind: OpcuaViolation,
    /// [`message`] index, [`message::UNKNOWN`] before the type was read.
    pub message: u8,
    /// Security policy index ([`POLICY_UNKNOWN`]: no standard policy) or service index
    /// (0xFF: none), by [`Self::kind`].
    pub code: u8,
    /// [`detail`] bits of what is known.
    pub known: u8,
    /// The type id of the request (services), clamped to 0xFFFF.
    pub id: u16,
    /// The NodeId encoding byte of the type id.
    pub encoding: u8,
    pub _pad: u8,
}

const _: () = assert!(core::mem::size_of::<OpcuaDenial>() == 8);

impl OpcuaDenial {
    #[inline(always)]
    const fn new(kind: OpcuaViolation, message: u8) -> OpcuaDenial {
        OpcuaDenial {
            kind,
            message,
            code: 0xFF,
            known: if message == message::UNKNOWN {
                0
            } else {
                detail::SCOPE
            },
            id: 0,
            encoding: 0,
            _pad: 0,
        }
    }

    #[inline(always)]
    const fn with_code(mut self, code: u8) -> OpcuaDenial {
        self.code = code;
        self.known |= detail::CODE;
        self
    }

    #[inline(always)]
    const fn with_id(mut self, id: u32, encoding: u8) -> OpcuaDenial {
        self.id = if id > 0xFFFF { 0xFFFF } else { id as u16 };
        self.encoding = encoding;
        self.known |= detail::ADDRESS;
        self
    }

    /// The event detail: `message | code << 8 | id << 16` and its [`detail`] bits (scope: the
    /// message type; code: the policy or service index; address: the type id).
    #[inline(always)]
    pub const fn packed(&self) -> (u32, u8) {
        (
            self.message as u32 | (self.code as u32) << 8 | (self.id as u32) << 16,
            self.known,
        )
    }
}

/// A malformed denial at message type `message`.
#[inline(always)]
pub const fn malformed(message: u8) -> OpcuaDenial {
    OpcuaDenial::new(OpcuaViolation::Malformed, message)
}

/// Session bits of an OPC UA flow (shared by both directions, in the flow's stream state).
pub mod session {
    /// The client sent Hello.
    pub const HELLO: u8 = 1 << 0;
    /// The client asked for a secure channel (OpenSecureChannel).
    pub const OPEN: u8 = 1 << 1;
    /// The channel's security policy is known (an OpenSecureChannel was seen; a flow picked
    /// up mid-stream has [`OPEN`] without it).
    pub const POLICY_KNOWN: u8 = 1 << 2;
    /// The policy index, 3 bits from here.
    pub const POLICY_SHIFT: u8 = 3;
    /// The client closed the channel (CloseSecureChannel).
    pub const CLOSED: u8 = 1 << 6;
    /// A flow picked up mid-stream: its Hello and OpenSecureChannel were not seen.
    pub const PICKED_UP: u8 = HELLO | OPEN;

    /// The channel's policy, if known.
    #[inline(always)]
    pub const fn policy(bits: u8) -> Option<u8> {
        if bits & POLICY_KNOWN != 0 {
            Some(bits >> POLICY_SHIFT & 7)
        } else {
            None
        }
    }
}

/// Bits of [`OpcuaCursor::flags`].
pub mod cursor_flags {
    /// A message of this direction is open: its last chunk was an intermediate one, the next
    /// MSG chunk continues it ([`super::OpcuaCursor::request`]).
    pub const MESSAGE_OPEN: u8 = 1 << 0;
    /// The server's direction is no longer framed: a segment longer than the walker's window
    /// ([`super::WINDOW`], a GRO/GSO aggregate in skb mode) had a chunk header past it. Its
    /// chunks then pass unframed for the rest of the connection (the client's direction is
    /// always judged whole).
    pub const UNFRAMED: u8 = 1 << 1;
}

/// [`OpcuaCursor::at`] once the chunk is judged: the rest of it passes.
pub const JUDGED: u16 = u16::MAX;

/// Where one direction of an OPC UA flow stands (kept in the bytes of the direction's
/// [`crate::stream::StreamCursor`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpcuaCursor {
    /// Bytes of the current chunk still to come, once its size was read.
    pub left: u32,
    /// Accumulates a little-endian field (message type, size, URI length, request id,
    /// type id).
    pub value: u32,
    /// The request id of the open message ([`cursor_flags::MESSAGE_OPEN`]).
    pub request: u32,
    /// Bytes of the current chunk read (0: between chunks), or [`JUDGED`].
    pub at: u16,
    /// OPN: the SecurityPolicyUri's length.
    pub uri_len: u16,
    /// MSG: the type id's namespace.
    pub ns: u16,
    /// [`message`] index of the current chunk.
    pub kind: u8,
    /// Chunk type of the current chunk.
    pub chunk: u8,
    /// MSG: the type id's NodeId encoding.
    pub encoding: u8,
    /// OPN: the policies whose URI still matches (bit per index).
    pub candidates: u8,
    /// [`cursor_flags`].
    pub flags: u8,
    pub _pad: u8,
}

const _: () = assert!(core::mem::size_of::<OpcuaCursor>() == 24);

impl OpcuaCursor {
    /// Between chunks, no message open.
    pub const START: OpcuaCursor = OpcuaCursor {
        left: 0,
        value: 0,
        request: 0,
        at: 0,
        uri_len: 0,
        ns: 0,
        kind: message::UNKNOWN,
        chunk: 0,
        encoding: 0,
        candidates: 0,
        flags: 0,
        _pad: 0,
    };

    /// The current chunk is judged: its rest passes (or, ended, the next chunk starts).
    #[inline(always)]
    fn judged(&mut self) {
        self.at = if self.left == 0 { 0 } else { JUDGED };
    }
}

/// Walks the `len` payload bytes at `off` of `b` from `cursor` ([`step_part`] until the
/// segment is done). On a denial `cursor` and `session` are left as they were (the segment
/// does not reach the receiver). `profile`: the client's direction; `None`: the server's.
#[inline(always)]
pub fn walk<B: PacketBytes + ?Sized>(
    b: &B,
    off: usize,
    len: usize,
    cursor: &mut OpcuaCursor,
    session: &mut u8,
    profile: Option<&OpcuaProfile>,
) -> Result<(), OpcuaDenial> {
    if cursor.flags & cursor_flags::UNFRAMED != 0 {
        // The server's direction lost its framing in an aggregate ([`beyond_window`]).
        return Ok(());
    }
    let mut c = *cursor;
    let mut bits = *session;
    let end = off + len;
    let window_end = off + if len < WINDOW { len } else { WINDOW };
    let mut pos = off;
    for _ in 0..WINDOW {
        if pos >= window_end {
            break;
        }
        pos = step_part(&mut c, &mut bits, b, pos, window_end, profile)?;
    }
    beyond_window(&mut c, pos, end, profile.is_some())?;
    *cursor = c;
    *session = bits;
    Ok(())
}

/// The bytes of a segment after the walker's window (`pos..end`, only in a segment longer
/// than [`WINDOW`]): the rest of a judged chunk passes; a chunk header past the window cannot
/// be read, which denies the client's segment (`opcua_malformed`) and ends the framing of the
/// server's direction ([`cursor_flags::UNFRAMED`]).
#[inline(always)]
pub fn beyond_window(
    c: &mut OpcuaCursor,
    pos: usize,
    end: usize,
    client: bool,
) -> Result<(), OpcuaDenial> {
    if pos >= end {
        return Ok(());
    }
    let mut pos = pos;
    if c.at == JUDGED {
        let rest = end - pos;
        let n = if (c.left as usize) < rest {
            c.left as usize
        } else {
            rest
        };
        c.left -= n as u32;
        if c.left == 0 {
            c.at = 0;
        }
        pos += n;
    }
    if pos >= end {
        return Ok(());
    }
    if client {
        return Err(malformed(c.kind));
    }
    c.flags |= cursor_flags::UNFRAMED;
    Ok(())
}

/// One part of a walk from `pos` (before `end`): the rest of a judged chunk in one go, or
/// one byte of a chunk's undecided head. Returns where the next part starts.
#[inline(always)]
pub fn step_part<B: PacketBytes + ?Sized>(
    c: &mut OpcuaCursor,
    session: &mut u8,
    b: &B,
    pos: usize,
    end: usize,
    profile: Option<&OpcuaProfile>,
) -> Result<usize, OpcuaDenial> {
    if c.at == JUDGED {
        let rest = end.saturating_sub(pos);
        let n = if (c.left as usize) < rest {
            c.left as usize
        } else {
            rest
        };
        c.left -= n as u32;
        if c.left == 0 {
            c.at = 0;
        }
        return Ok(pos + n);
    }
    let Some([byte]) = b.load::<1>(pos) else {
        return Err(malformed(c.kind));
    };
    step(c, session, byte, profile)?;
    Ok(pos + 1)
}

/// Advances `c` by one byte of a chunk's head (not called on a judged chunk's rest).
#[inline(always)]
pub fn step(
    c: &mut OpcuaCursor,
    session: &mut u8,
    byte: u8,
    profile: Option<&OpcuaProfile>,
) -> Result<(), OpcuaDenial> {
    let at = c.at as usize;
    if at < HEADER_LEN {
        c.at += 1;
        return header_byte(c, session, at, byte, profile);
    }
    if c.left == 0 {
        // Not reached: a chunk whose bytes end before its decision is denied at its last.
        return Err(malformed(c.kind));
    }
    c.left -= 1;
    c.at += 1;
    match (c.kind, profile) {
        (message::OPN, Some(p)) => opn_byte(c, session, at, byte, p)?,
        (message::MSG, Some(p)) => msg_byte(c, session, at, byte, p)?,
        // Every other chunk is judged at its header.
        _ => return Err(malformed(c.kind)),
    }
    if c.left == 0 && c.at != 0 {
        // The chunk ended before its decision: a server cannot parse it either.
        return Err(malformed(c.kind));
    }
    Ok(())
}

/// Byte `at` (0-7) of a chunk header.
#[inline(always)]
fn header_byte(
    c: &mut OpcuaCursor,
    session: &mut u8,
    at: usize,
    byte: u8,
    profile: Option<&OpcuaProfile>,
) -> Result<(), OpcuaDenial> {
    match at {
        0 => {
            c.kind = message::UNKNOWN;
            c.value = byte as u32;
            Ok(())
        }
        1 => {
            c.value |= (byte as u32) << 8;
            Ok(())
        }
        2 => {
            c.value |= (byte as u32) << 16;
            let kind = message_of(c.value);
            if kind == message::UNKNOWN {
                return Err(malformed(kind));
            }
            c.kind = kind;
            let client = profile.is_some();
            let ok = match kind {
                message::HEL | message::CLO => client,
                message::ACK | message::ERR => !client,
                message::OPN | message::MSG => true,
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(OpcuaDenial::new(OpcuaViolation::Direction, kind))
            }
        }
        3 => {
            let ok = match byte {
                chunk::FINAL => true,
                chunk::INTERMEDIATE | chunk::ABORT => c.kind == message::MSG,
                _ => false,
            };
            if !ok {
                return Err(malformed(c.kind));
            }
            c.chunk = byte;
            Ok(())
        }
        4 => {
            c.value = byte as u32;
            Ok(())
        }
        5 | 6 => {
            c.value |= (byte as u32) << (8 * (at - 4));
            Ok(())
        }
        _ => {
            let size = c.value | (byte as u32) << 24;
            let min = match MIN_CHUNK.get(c.kind as usize) {
                Some(m) => *m,
                None => return Err(malformed(c.kind)),
            };
            if size < min || size > MAX_CHUNK_BYTES {
                return Err(malformed(c.kind));
            }
            c.left = size - HEADER_LEN as u32;
            match profile {
                Some(p) => client_header(c, session, p),
                None => {
                    // The server's chunks: framing only.
                    c.judged();
                    Ok(())
                }
            }
        }
    }
}

/// The [`message`] index of the three type bytes in `value` (little endian).
#[inline(always)]
fn message_of(value: u32) -> u8 {
    let mut i = 0;
    while i < MESSAGE_TYPES.len() {
        let t = MESSAGE_TYPES[i];
        if value == t[0] as u32 | (t[1] as u32) << 8 | (t[2] as u32) << 16 {
            return i as u8;
        }
        i += 1;
    }
    message::UNKNOWN
}

/// A client's chunk whose header was read: the order of the channel, and whether its body is
/// read further.
#[inline(always)]
fn client_header(
    c: &mut OpcuaCursor,
    session: &mut u8,
    p: &OpcuaProfile,
) -> Result<(), OpcuaDenial> {
    let out_of_order = OpcuaDenial::new(OpcuaViolation::Channel, c.kind);
    let bits = *session;
    match c.kind {
        message::HEL => {
            if bits & (session::HELLO | session::OPEN) != 0 {
                return Err(out_of_order);
            }
            *session |= session::HELLO;
            c.judged();
        }
        message::OPN => {
            if bits & session::HELLO == 0 || bits & session::CLOSED != 0 {
                return Err(out_of_order);
            }
        }
        message::MSG => {
            if bits & session::OPEN == 0 || bits & session::CLOSED != 0 {
                return Err(out_of_order);
            }
            if !p.judges_bodies(session::policy(bits)) {
                c.judged();
            }
        }
        _ => {
            // CLO.
            if bits & session::OPEN == 0 || bits & session::CLOSED != 0 {
                return Err(out_of_order);
            }
            *session |= session::CLOSED;
            c.judged();
        }
    }
    Ok(())
}

/// Byte `at` (8 on) of a client's OpenSecureChannel: the SecurityPolicyUri.
#[inline(always)]
fn opn_byte(
    c: &mut OpcuaCursor,
    session: &mut u8,
    at: usize,
    byte: u8,
    p: &OpcuaProfile,
) -> Result<(), OpcuaDenial> {
    let unknown =
        OpcuaDenial::new(OpcuaViolation::SecurityPolicy, message::OPN).with_code(POLICY_UNKNOWN);
    if at < offset::POLICY_URI_LEN {
        // SecureChannelId.
        return Ok(());
    }
    if at < offset::POLICY_URI {
        let shift = 8 * (at - offset::POLICY_URI_LEN);
        if at == offset::POLICY_URI_LEN {
            c.value = 0;
        }
        c.value |= (byte as u32) << shift;
        if at + 1 < offset::POLICY_URI {
            return Ok(());
        }
        // Int32: -1 (null) and anything longer than a standard URI name no policy.
        let len = c.value;
        if len == 0 || len as usize > MAX_POLICY_URI {
            return Err(unknown);
        }
        if c.left < len {
            return Err(malformed(message::OPN));
        }
        let mut candidates = 0u8;
        let mut i = 0;
        while i < POLICIES.len() {
            if policy_uri_len(i) == len as usize {
                candidates |= 1 << i;
            }
            i += 1;
        }
        if candidates == 0 {
            return Err(unknown);
        }
        c.uri_len = len as u16;
        c.candidates = candidates;
        return Ok(());
    }
    let i = at - offset::POLICY_URI;
    if i >= MAX_POLICY_URI {
        // Not reached (the length was checked), there for the verifier.
        return Err(unknown);
    }
    // Drops every candidate whose URI has another byte here, without a branch per
    // candidate (the verifier would walk every combination). `i` is below the candidates'
    // common length (checked when it was read).
    let mut mismatch = 0u32;
    let mut k = 0;
    while k < POLICIES.len() {
        let x = (POLICY_URIS[k & 7][i & (URI_ROW - 1)] ^ byte) as u32;
        // 1 when `x` is not 0.
        mismatch |= ((x | x.wrapping_neg()) >> 31) << k;
        k += 1;
    }
    let candidates = c.candidates & !(mismatch as u8);
    if candidates == 0 {
        return Err(unknown);
    }
    c.candidates = candidates;
    if i + 1 < c.uri_len as usize {
        return Ok(());
    }
    // The whole URI matched: one policy (the standard names of one length differ).
    let policy = candidates.trailing_zeros() as u8;
    let denied = OpcuaDenial::new(OpcuaViolation::SecurityPolicy, message::OPN).with_code(policy);
    if !p.allows_policy(policy) {
        return Err(denied);
    }
    let bits = *session;
    if let Some(was) = session::policy(bits)
        && was != policy
    {
        // A renewal asks for the channel's own policy.
        return Err(OpcuaDenial::new(OpcuaViolation::Channel, message::OPN).with_code(policy));
    }
    *session = bits | session::OPEN | session::POLICY_KNOWN | (policy & 7) << session::POLICY_SHIFT;
    c.judged();
    Ok(())
}

/// Byte `at` (8 on) of a client's MSG whose body is judged: the request id, and in a
/// message's first chunk the type id.
#[inline(always)]
fn msg_byte(
    c: &mut OpcuaCursor,
    session: &mut u8,
    at: usize,
    byte: u8,
    p: &OpcuaProfile,
) -> Result<(), OpcuaDenial> {
    if at < offset::REQUEST_ID {
        // SecureChannelId, TokenId, SequenceNumber.
        return Ok(());
    }
    if at < offset::TYPE_ID {
        if at == offset::REQUEST_ID {
            c.value = 0;
        }
        c.value |= (byte as u32) << (8 * (at - offset::REQUEST_ID));
        if at + 1 < offset::TYPE_ID {
            return Ok(());
        }
        let request = c.value;
        let interleaved = OpcuaDenial::new(OpcuaViolation::Channel, message::MSG);
        if c.flags & cursor_flags::MESSAGE_OPEN != 0 {
            // A continuation of the open message: judged with its first chunk.
            if request != c.request {
                return Err(interleaved);
            }
            if c.chunk != chunk::INTERMEDIATE {
                c.flags &= !cursor_flags::MESSAGE_OPEN;
            }
            c.judged();
        } else if c.chunk == chunk::ABORT {
            return Err(interleaved);
        } else {
            // A message's first chunk: its request id, for the chunks that continue it.
            c.request = request;
        }
        return Ok(());
    }
    let k = at - offset::TYPE_ID;
    if k == 0 {
        if byte > node_id::NUMERIC {
            // A string, GUID or opaque NodeId, or the expanded flags: no request type id.
            return Err(unreadable(session, 0xFFFF_FFFF, byte));
        }
        c.encoding = byte;
        c.ns = 0;
        c.value = 0;
        return Ok(());
    }
    let (ns_end, id_end) = match c.encoding {
        node_id::TWO_BYTE => (1, 2),
        node_id::FOUR_BYTE => (2, 4),
        _ => (3, 7),
    };
    if k < ns_end {
        c.ns |= (byte as u16) << (8 * (k - 1));
        return Ok(());
    }
    c.value |= (byte as u32) << (8 * (k - ns_end));
    if k + 1 < id_end {
        return Ok(());
    }
    let id = c.value;
    if c.ns != 0 {
        return Err(unreadable(session, id, c.encoding));
    }
    let Some(service) = service_of(id) else {
        return Err(unreadable(session, id, c.encoding));
    };
    if !p.allows_service(service) {
        return Err(OpcuaDenial::new(OpcuaViolation::Service, message::MSG)
            .with_code(service)
            .with_id(id, c.encoding));
    }
    if c.chunk == chunk::INTERMEDIATE {
        c.flags |= cursor_flags::MESSAGE_OPEN;
    }
    c.judged();
    Ok(())
}

/// The denial of a body that is no service request: on a `None` channel a request the
/// profile cannot allow (`opcua_service`), elsewhere most likely an encrypted body.
#[inline(always)]
fn unreadable(session: &u8, id: u32, encoding: u8) -> OpcuaDenial {
    let kind = match session::policy(*session) {
        Some(POLICY_NONE) => OpcuaViolation::Service,
        _ => OpcuaViolation::Encrypted,
    };
    OpcuaDenial::new(kind, message::MSG).with_id(id, encoding)
}
