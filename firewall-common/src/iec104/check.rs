//! Framing and judgement of one APDU: the head reader ([`read_head`]) that says how long the
//! APDU is and what it carries, and the two direction checks ([`check_control`],
//! [`check_monitor`]) that judge it against a profile and the connection's session state.
//!
//! Everything decisive is in the first [`HEAD_LEN`] bytes (APCI, type id, VSQ, cause, common
//! address), so the stream walker judges an APDU on its head and lets its tail pass.

use super::{
    profile::Iec104Profile,
    types::{Class, VARIABLE, class_of, element_size},
};
use crate::packet::PacketBytes;

/// First byte of every APDU.
pub const START: u8 = 0x68;
/// APCI: start byte, length, four control octets.
pub const APCI_LEN: usize = 6;
/// APCI and the ASDU header (type id, VSQ, two cause octets, two common-address octets):
/// everything a decision needs.
pub const HEAD_LEN: usize = 12;
/// Smallest APDU length field (control octets only: S and U frames).
pub const MIN_LENGTH: u8 = 4;
/// Largest APDU length field (APDU of 255 bytes).
pub const MAX_LENGTH: u8 = 253;
/// Length of an information object address.
pub const IOA_LEN: usize = 3;

/// U-frame functions (first control octet, with the two low bits set).
pub mod u_frame {
    pub const STARTDT_ACT: u8 = 0x07;
    pub const STARTDT_CON: u8 = 0x0B;
    pub const STOPDT_ACT: u8 = 0x13;
    pub const STOPDT_CON: u8 = 0x23;
    pub const TESTFR_ACT: u8 = 0x43;
    pub const TESTFR_CON: u8 = 0x83;
}

/// Causes of transmission (low six bits of the first cause octet) the checks name.
pub mod cause {
    pub const SPONTANEOUS: u8 = 3;
    pub const REQUEST: u8 = 5;
    pub const ACTIVATION: u8 = 6;
    pub const ACTIVATION_CON: u8 = 7;
    pub const DEACTIVATION: u8 = 8;
    pub const DEACTIVATION_CON: u8 = 9;
    pub const ACTIVATION_TERMINATION: u8 = 10;
    pub const FILE_TRANSFER: u8 = 13;
    /// 44-47: unknown type id, cause, common address, object address (negative replies).
    pub const UNKNOWN_TYPE: u8 = 44;
    pub const UNKNOWN_OBJECT_ADDRESS: u8 = 47;
    /// Negative-confirm bit of the first cause octet.
    pub const NEGATIVE: u8 = 0x40;
    /// Test bit of the first cause octet.
    pub const TEST: u8 = 0x80;
}

/// Bits of a flow's IEC 104 session state, kept by the stream walker between segments.
pub mod session {
    /// The controlled station confirmed STARTDT (and has not confirmed STOPDT since): the
    /// controlling station may send I frames.
    pub const STARTED: u8 = 1 << 0;
}

/// Why an APDU was denied.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Iec104Violation {
    /// Bad start byte or length, a control field no frame type has, an ASDU whose length
    /// disagrees with its type and object count, a U function sent by the wrong side.
    Malformed = 0,
    /// A type id the profile does not allow.
    TypeId = 1,
    /// A common address the profile does not allow.
    CommonAddress = 2,
    /// A cause of transmission that the controlling direction never sends (or the negative
    /// bit set).
    Cause = 3,
    /// A type id of the other direction: process information sent to the controlled station,
    /// or a command sent by it that does not mirror one (activation confirmation, termination,
    /// negative reply).
    Direction = 4,
    /// An I frame before the controlled station confirmed STARTDT: real stacks drop the
    /// connection; the firewall does not forward it.
    NotStarted = 5,
}

/// Bits of [`Iec104Denial::known`].
pub mod denial_known {
    pub const TYPE_ID: u8 = 1 << 0;
    pub const CAUSE: u8 = 1 << 1;
    pub const COMMON_ADDRESS: u8 = 1 << 2;
}

/// A denied APDU and what was read of it (fields not in [`Iec104Denial::known`] are 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iec104Denial {
    pub kind: Iec104Violation,
    /// [`denial_known`] bits.
    pub known: u8,
    pub type_id: u8,
    /// First cause octet (cause, negative and test bits).
    pub cause: u8,
    pub common_address: u16,
}

const _: () = assert!(core::mem::size_of::<Iec104Denial>() == 6);

impl Iec104Denial {
    #[inline(always)]
    pub const fn new(kind: Iec104Violation) -> Iec104Denial {
        Iec104Denial {
            kind,
            known: 0,
            type_id: 0,
            cause: 0,
            common_address: 0,
        }
    }

    #[inline(always)]
    const fn of(kind: Iec104Violation, asdu: &Asdu) -> Iec104Denial {
        Iec104Denial {
            kind,
            known: denial_known::TYPE_ID | denial_known::CAUSE | denial_known::COMMON_ADDRESS,
            type_id: asdu.type_id,
            cause: asdu.cause,
            common_address: asdu.common_address,
        }
    }
}

/// The ASDU header of an I frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asdu {
    pub type_id: u8,
    /// Variable structure qualifier: SQ bit and number of objects.
    pub vsq: u8,
    /// First cause octet.
    pub cause: u8,
    pub common_address: u16,
}

impl Asdu {
    /// No ASDU (the [`Frame::asdu`] of S and U frames).
    pub const ZERO: Asdu = Asdu {
        type_id: 0,
        vsq: 0,
        cause: 0,
        common_address: 0,
    };

    /// The cause of transmission without the negative and test bits.
    #[inline(always)]
    pub const fn cause_code(&self) -> u8 {
        self.cause & 0x3F
    }
}

/// Kinds of APDU ([`Frame::kind`]).
pub mod frame_kind {
    /// Information transfer: carries an ASDU.
    pub const I: u8 = 0;
    /// Supervisory: acknowledges I frames.
    pub const S: u8 = 1;
    /// Unnumbered control: one of the [`super::u_frame`] functions.
    pub const U: u8 = 2;
}

/// What kind of APDU it is. A struct whose every field is defined whatever the kind, not an
/// enum: the eBPF build must never carry a half-defined value in a register (the verifier
/// refuses arithmetic on a register that held a pointer, which is where the compiler takes
/// "undefined" bytes from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// [`frame_kind`].
    pub kind: u8,
    /// The [`u_frame`] function of a U frame (0 otherwise).
    pub function: u8,
    /// The ASDU header of an I frame (all zero otherwise).
    pub asdu: Asdu,
}

impl Frame {
    /// An I frame carrying `asdu`.
    #[inline(always)]
    pub const fn i(asdu: Asdu) -> Frame {
        Frame {
            kind: frame_kind::I,
            function: 0,
            asdu,
        }
    }

    /// An S frame.
    pub const S: Frame = Frame {
        kind: frame_kind::S,
        function: 0,
        asdu: Asdu::ZERO,
    };

    /// A U frame with `function`.
    #[inline(always)]
    pub const fn u(function: u8) -> Frame {
        Frame {
            kind: frame_kind::U,
            function,
            asdu: Asdu::ZERO,
        }
    }
}

/// An APDU whose head was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Apdu {
    /// Bytes of the whole APDU (length field + 2).
    pub len: usize,
    pub frame: Frame,
}

/// What the head of an APDU says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// The bytes seen so far are valid but do not decide yet: at least this many bytes of
    /// the APDU are needed.
    Need(usize),
    /// The APDU's length and content.
    Apdu(Apdu),
}

/// Reads the head of the APDU that starts at `off` in `b`, of which `avail` bytes are there
/// (`b` must hold `off + min(avail, HEAD_LEN)` bytes). Checks the framing of everything it
/// reads: start byte, length, control field, and for I frames that the length matches the
/// type and object count.
#[inline(always)]
pub fn read_head<B: PacketBytes + ?Sized>(
    b: &B,
    off: usize,
    avail: usize,
) -> Result<Head, Iec104Denial> {
    let malformed = Iec104Denial::new(Iec104Violation::Malformed);
    if avail < 2 {
        if avail == 1 && b.load::<1>(off).ok_or(malformed)?[0] != START {
            return Err(malformed);
        }
        return Ok(Head::Need(2));
    }
    let [start, length] = b.load::<2>(off).ok_or(malformed)?;
    if start != START || !(MIN_LENGTH..=MAX_LENGTH).contains(&length) {
        return Err(malformed);
    }
    let len = length as usize + 2;
    if avail < APCI_LEN {
        return Ok(Head::Need(APCI_LEN));
    }
    let c = b.load::<4>(off + 2).ok_or(malformed)?;
    if c[0] & 0x01 == 0 {
        // I frame: both sequence numbers' low bits are zero.
        if c[2] & 0x01 != 0 || (length as usize) < APCI_LEN - 2 + 6 + IOA_LEN {
            return Err(malformed);
        }
        if avail < HEAD_LEN {
            return Ok(Head::Need(HEAD_LEN));
        }
        let h = b.load::<6>(off + APCI_LEN).ok_or(malformed)?;
        let asdu = Asdu {
            type_id: h[0],
            vsq: h[1],
            cause: h[2],
            common_address: u16::from_le_bytes([h[4], h[5]]),
        };
        if !objects_fit(&asdu, len - HEAD_LEN) {
            return Err(Iec104Denial::of(Iec104Violation::Malformed, &asdu));
        }
        return Ok(Head::Apdu(Apdu {
            len,
            frame: Frame::i(asdu),
        }));
    }
    if length != MIN_LENGTH {
        return Err(malformed);
    }
    if c[0] & 0x03 == 0x01 {
        // S frame: octets 1-2 fixed, receive sequence number's low bit zero.
        if c[0] != 0x01 || c[1] != 0 || c[2] & 0x01 != 0 {
            return Err(malformed);
        }
        return Ok(Head::Apdu(Apdu {
            len,
            frame: Frame::S,
        }));
    }
    // U frame: exactly one function, the other octets zero.
    let function = c[0];
    let one_function = matches!(
        function,
        u_frame::STARTDT_ACT
            | u_frame::STARTDT_CON
            | u_frame::STOPDT_ACT
            | u_frame::STOPDT_CON
            | u_frame::TESTFR_ACT
            | u_frame::TESTFR_CON
    );
    if !one_function || c[1] != 0 || c[2] != 0 || c[3] != 0 {
        return Err(malformed);
    }
    Ok(Head::Apdu(Apdu {
        len,
        frame: Frame::u(function),
    }))
}

/// Whether `body` bytes (after the common address) hold exactly the objects the VSQ
/// announces for a type with a fixed element size; at least one object address for the
/// others.
#[inline(always)]
fn objects_fit(asdu: &Asdu, body: usize) -> bool {
    let count = (asdu.vsq & 0x7F) as usize;
    if count == 0 {
        return false;
    }
    let element = match element_size(asdu.type_id) {
        Some(size) if size != VARIABLE => size as usize,
        _ => return body >= IOA_LEN,
    };
    let expected = if asdu.vsq & 0x80 != 0 {
        IOA_LEN + count * element
    } else {
        count * (IOA_LEN + element)
    };
    body == expected
}

/// Judges an APDU sent by the controlling station (client to server) against `profile`,
/// with the connection's [`session`] state.
#[inline(always)]
pub fn check_control(
    apdu: &Apdu,
    profile: &Iec104Profile,
    session: u8,
) -> Result<(), Iec104Denial> {
    let asdu = match apdu.frame.kind {
        frame_kind::I => apdu.frame.asdu,
        frame_kind::U => {
            return match apdu.frame.function {
                u_frame::STARTDT_ACT
                | u_frame::STOPDT_ACT
                | u_frame::TESTFR_ACT
                | u_frame::TESTFR_CON => Ok(()),
                _ => Err(Iec104Denial::new(Iec104Violation::Malformed)),
            };
        }
        _ => return Ok(()),
    };
    if session & session::STARTED == 0 {
        return Err(Iec104Denial::of(Iec104Violation::NotStarted, &asdu));
    }
    if matches!(class_of(asdu.type_id), Some(Class::Monitor | Class::Init)) {
        return Err(Iec104Denial::of(Iec104Violation::Direction, &asdu));
    }
    if !profile.type_ids.contains(asdu.type_id) {
        return Err(Iec104Denial::of(Iec104Violation::TypeId, &asdu));
    }
    let code = asdu.cause_code();
    let control_cause = matches!(
        code,
        cause::REQUEST | cause::ACTIVATION | cause::DEACTIVATION | cause::FILE_TRANSFER
    );
    if !control_cause || asdu.cause & cause::NEGATIVE != 0 {
        return Err(Iec104Denial::of(Iec104Violation::Cause, &asdu));
    }
    if !profile.allows_common_address(asdu.common_address) {
        return Err(Iec104Denial::of(Iec104Violation::CommonAddress, &asdu));
    }
    Ok(())
}

/// Judges an APDU sent by the controlled station (server to client) and updates the
/// connection's [`session`] state from its STARTDT / STOPDT confirmations.
#[inline(always)]
pub fn check_monitor(apdu: &Apdu, session: &mut u8) -> Result<(), Iec104Denial> {
    let asdu = match apdu.frame.kind {
        frame_kind::I => apdu.frame.asdu,
        frame_kind::U => {
            match apdu.frame.function {
                u_frame::STARTDT_CON => *session |= session::STARTED,
                u_frame::STOPDT_CON => *session &= !session::STARTED,
                u_frame::TESTFR_ACT | u_frame::TESTFR_CON => {}
                _ => return Err(Iec104Denial::new(Iec104Violation::Malformed)),
            }
            return Ok(());
        }
        _ => return Ok(()),
    };
    let control_type = matches!(
        class_of(asdu.type_id),
        Some(Class::Command | Class::Query | Class::System | Class::Parameter)
    );
    let mirrors = matches!(
        asdu.cause_code(),
        cause::ACTIVATION_CON
            | cause::DEACTIVATION_CON
            | cause::ACTIVATION_TERMINATION
            | cause::UNKNOWN_TYPE..=cause::UNKNOWN_OBJECT_ADDRESS
    );
    if control_type && !mirrors {
        return Err(Iec104Denial::of(Iec104Violation::Direction, &asdu));
    }
    Ok(())
}
