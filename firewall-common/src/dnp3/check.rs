//! The DNP3 byte walker: link header (start bytes, length, control, addresses, header CRC),
//! every 16-byte user-data block and its CRC, the transport byte and the application
//! function of each first fragment, judged byte by byte so frames may be cut anywhere by
//! TCP. The state between segments is a [`Dnp3Cursor`] per direction; nothing is buffered.

use super::{crc, functions::is_response, profile::Dnp3Profile};
use crate::packet::PacketBytes;

/// The two start bytes of every link frame.
pub const START: [u8; 2] = [0x05, 0x64];
/// Link header: start, length, control, destination, source, CRC.
pub const HEADER_LEN: usize = 10;
/// Smallest length field (control, destination, source: no user data).
pub const MIN_LENGTH: u8 = 5;
/// User-data bytes per CRC block.
pub const BLOCK_LEN: usize = 16;
/// Largest link frame on the wire (length 255: 250 data bytes in 16 blocks with CRCs).
pub const MAX_FRAME_LEN: usize = 292;
/// Most payload bytes of one segment walked; a longer segment is denied.
pub const MAX_SEGMENT_BYTES: usize = 2048;

/// Link control octet.
pub mod control {
    /// Set in frames a master sends.
    pub const DIR: u8 = 0x80;
    /// Set in primary (initiating) frames.
    pub const PRM: u8 = 0x40;
    /// Primary functions.
    pub const RESET_LINK_STATES: u8 = 0;
    pub const TEST_LINK_STATES: u8 = 2;
    pub const CONFIRMED_USER_DATA: u8 = 3;
    pub const UNCONFIRMED_USER_DATA: u8 = 4;
    pub const REQUEST_LINK_STATUS: u8 = 9;
    /// Secondary functions.
    pub const ACK: u8 = 0;
    pub const NACK: u8 = 1;
    pub const LINK_STATUS: u8 = 11;
    pub const NOT_SUPPORTED: u8 = 15;
}

/// Transport octet.
pub mod transport {
    pub const FIN: u8 = 0x80;
    pub const FIR: u8 = 0x40;
    pub const SEQ: u8 = 0x3F;
}

/// Why a frame was denied.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dnp3Violation {
    /// Bad start bytes, a length or control octet no frame has, a first fragment too short
    /// for its function code, a segment too long to walk.
    Malformed = 0,
    /// A header or block CRC that does not match (outstations silently drop such frames; a
    /// firewall must not be confused by them).
    Crc = 1,
    /// A function the profile does not allow.
    Function = 2,
    /// A destination link address the profile does not allow.
    Address = 3,
    /// A frame of the other side: a master's frame without the DIR bit, a response function
    /// from the master, a request function from the outstation.
    Direction = 4,
    /// A transport segment that continues no allowed fragment (no FIR before it, or out of
    /// sequence): its function cannot be judged.
    Transport = 5,
}

/// Bits of [`Dnp3Denial::known`].
pub mod denial_known {
    pub const FUNCTION: u8 = 1 << 0;
    pub const ADDRESS: u8 = 1 << 1;
}

/// A denied frame and what was read of it (fields not in `known` are 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dnp3Denial {
    pub kind: Dnp3Violation,
    pub known: u8,
    pub function: u8,
    pub _pad: u8,
    /// Link destination address.
    pub address: u16,
}

const _: () = assert!(core::mem::size_of::<Dnp3Denial>() == 6);

impl Dnp3Denial {
    #[inline(always)]
    pub const fn new(kind: Dnp3Violation) -> Dnp3Denial {
        Dnp3Denial {
            kind,
            known: 0,
            function: 0,
            _pad: 0,
            address: 0,
        }
    }

    #[inline(always)]
    const fn at(kind: Dnp3Violation, c: &Dnp3Cursor) -> Dnp3Denial {
        Dnp3Denial {
            kind,
            known: denial_known::ADDRESS,
            function: 0,
            _pad: 0,
            address: c.destination,
        }
    }
}

/// Transport state bit of [`Dnp3Cursor::fragment`]: a fragment begun by an allowed FIR
/// segment is open (its FIN not seen); the low six bits are the next sequence number.
pub const FRAGMENT_OPEN: u8 = 0x80;

/// Where one direction of a DNP3 flow stands between segments.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dnp3Cursor {
    /// Bytes of the link header read (0 = between frames, 10 = in the user data).
    pub header_read: u8,
    /// Length octet of the current frame.
    pub length: u8,
    /// Control octet of the current frame.
    pub control: u8,
    /// User-data bytes of the frame still to come.
    pub data_left: u8,
    /// Data bytes left in the current block before its CRC.
    pub block_left: u8,
    /// CRC bytes of the current block (or header) read: 0 or 1.
    pub crc_read: u8,
    /// The first CRC byte, while `crc_read == 1`.
    pub crc_low: u8,
    /// Bytes of the frame's user data read into `first` (transport, application control,
    /// function): at most 3.
    pub first_read: u8,
    pub first: [u8; 3],
    /// [`FRAGMENT_OPEN`] and the next transport sequence number.
    pub fragment: u8,
    /// Running CRC register of the header or the current block.
    pub crc: u16,
    /// Destination link address of the current frame.
    pub destination: u16,
}

const _: () = assert!(core::mem::size_of::<Dnp3Cursor>() == 16);

impl Dnp3Cursor {
    /// Whether the next byte starts a link frame.
    #[inline(always)]
    pub const fn at_boundary(&self) -> bool {
        self.header_read == 0
    }
}

/// Walks the `len` payload bytes at `off` of `b`: a master's segment when `profile` is
/// `Some` (judged against it), an outstation's when `None` (framing, CRCs and direction
/// only). Returns the number of frames that ended in the segment, or the first denial; on a
/// denial `cursor` is left as it was.
#[inline(always)]
pub fn walk<B: PacketBytes + ?Sized>(
    b: &B,
    off: usize,
    len: usize,
    cursor: &mut Dnp3Cursor,
    profile: Option<&Dnp3Profile>,
) -> Result<u8, Dnp3Denial> {
    if len > MAX_SEGMENT_BYTES {
        return Err(Dnp3Denial::new(Dnp3Violation::Malformed));
    }
    let mut c = *cursor;
    let mut frames = 0u8;
    for i in 0..MAX_SEGMENT_BYTES {
        if i >= len {
            break;
        }
        let Some([byte]) = b.load::<1>(off + i) else {
            return Err(Dnp3Denial::new(Dnp3Violation::Malformed));
        };
        if step(&mut c, byte, profile)? {
            frames = frames.saturating_add(1);
        }
    }
    *cursor = c;
    Ok(frames)
}

/// Advances `c` by one byte; `true` when the byte ended a frame ([`walk`] byte by byte; the
/// eBPF program drives it with `bpf_loop`).
#[inline(always)]
pub fn step(
    c: &mut Dnp3Cursor,
    byte: u8,
    profile: Option<&Dnp3Profile>,
) -> Result<bool, Dnp3Denial> {
    let malformed = Dnp3Denial::new(Dnp3Violation::Malformed);
    if (c.header_read as usize) < HEADER_LEN {
        match c.header_read {
            0 => {
                if byte != START[0] {
                    return Err(malformed);
                }
                c.crc = 0;
            }
            1 if byte != START[1] => return Err(malformed),
            2 => {
                if byte < MIN_LENGTH {
                    return Err(malformed);
                }
                c.length = byte;
            }
            3 => c.control = byte,
            4 => c.destination = byte as u16,
            5 => c.destination |= (byte as u16) << 8,
            8 => c.crc_low = byte,
            9 => {
                if u16::from_le_bytes([c.crc_low, byte]) != !c.crc {
                    return Err(Dnp3Denial::at(Dnp3Violation::Crc, c));
                }
                c.header_read = HEADER_LEN as u8;
                return start_data(c, profile);
            }
            _ => {}
        }
        if c.header_read < 8 {
            c.crc = crc::update(c.crc, byte);
        }
        c.header_read += 1;
        return Ok(false);
    }
    if c.block_left > 0 {
        c.crc = crc::update(c.crc, byte);
        c.block_left -= 1;
        c.data_left -= 1;
        if (c.first_read as usize) < c.first.len() {
            if let Some(slot) = c.first.get_mut(c.first_read as usize) {
                *slot = byte;
            }
            c.first_read += 1;
            judge_first(c, profile)?;
        }
        return Ok(false);
    }
    if c.crc_read == 0 {
        c.crc_low = byte;
        c.crc_read = 1;
        return Ok(false);
    }
    if u16::from_le_bytes([c.crc_low, byte]) != !c.crc {
        return Err(Dnp3Denial::at(Dnp3Violation::Crc, c));
    }
    c.crc_read = 0;
    c.crc = 0;
    if c.data_left == 0 {
        c.header_read = 0;
        return Ok(true);
    }
    c.block_left = c.data_left.min(BLOCK_LEN as u8);
    Ok(false)
}

/// The link header is complete and its CRC good: checks length and control for the
/// direction and the destination address; a frame without user data ends here.
#[inline(always)]
fn start_data(c: &mut Dnp3Cursor, profile: Option<&Dnp3Profile>) -> Result<bool, Dnp3Denial> {
    let from_master = c.control & control::DIR != 0;
    if from_master != profile.is_some() {
        return Err(Dnp3Denial::at(Dnp3Violation::Direction, c));
    }
    if let Some(p) = profile
        && !p.allows_address(c.destination)
    {
        return Err(Dnp3Denial::at(Dnp3Violation::Address, c));
    }
    let function = c.control & 0x0F;
    let carries_data = if c.control & control::PRM != 0 {
        match function {
            control::CONFIRMED_USER_DATA | control::UNCONFIRMED_USER_DATA => true,
            control::RESET_LINK_STATES
            | control::TEST_LINK_STATES
            | control::REQUEST_LINK_STATUS => false,
            _ => return Err(Dnp3Denial::at(Dnp3Violation::Malformed, c)),
        }
    } else {
        match function {
            control::ACK | control::NACK | control::LINK_STATUS | control::NOT_SUPPORTED => false,
            _ => return Err(Dnp3Denial::at(Dnp3Violation::Malformed, c)),
        }
    };
    if carries_data != (c.length > MIN_LENGTH) {
        return Err(Dnp3Denial::at(Dnp3Violation::Malformed, c));
    }
    if !carries_data {
        c.header_read = 0;
        return Ok(true);
    }
    c.data_left = c.length - MIN_LENGTH;
    c.block_left = c.data_left.min(BLOCK_LEN as u8);
    c.crc = 0;
    c.crc_read = 0;
    c.first_read = 0;
    Ok(false)
}

/// Judges the frame's transport octet and, in a first fragment, its application function,
/// as soon as the bytes that decide are read (called after each of the first three user-data
/// bytes).
#[inline(always)]
fn judge_first(c: &mut Dnp3Cursor, profile: Option<&Dnp3Profile>) -> Result<(), Dnp3Denial> {
    let t = c.first[0];
    let fir = t & transport::FIR != 0;
    if !fir {
        if c.first_read == 1 {
            let expected = FRAGMENT_OPEN | (c.fragment & transport::SEQ);
            if c.fragment & FRAGMENT_OPEN == 0 || FRAGMENT_OPEN | (t & transport::SEQ) != expected {
                return Err(Dnp3Denial::at(Dnp3Violation::Transport, c));
            }
            c.fragment = next_fragment(t);
        }
        return Ok(());
    }
    if c.first_read < 3 {
        if c.data_left == 0 {
            // The frame ends before the function code.
            return Err(Dnp3Denial::at(Dnp3Violation::Malformed, c));
        }
        return Ok(());
    }
    let function = c.first[2];
    let mut d = Dnp3Denial::at(Dnp3Violation::Function, c);
    d.function = function;
    d.known |= denial_known::FUNCTION;
    match profile {
        Some(p) => {
            if is_response(function) {
                d.kind = Dnp3Violation::Direction;
                return Err(d);
            }
            if !p.functions.contains(function) {
                return Err(d);
            }
        }
        None => {
            if !is_response(function) {
                d.kind = Dnp3Violation::Direction;
                return Err(d);
            }
        }
    }
    c.fragment = next_fragment(t);
    Ok(())
}

/// Transport state after an allowed segment with transport octet `t`.
#[inline(always)]
const fn next_fragment(t: u8) -> u8 {
    if t & transport::FIN != 0 {
        0
    } else {
        FRAGMENT_OPEN | (t.wrapping_add(1) & transport::SEQ)
    }
}
