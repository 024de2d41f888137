//! Why an EtherNet/IP segment was denied, and what the walker had read.

use crate::event::detail;

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
    pub(super) const fn code(kind: EnipViolation, code: u8) -> EnipDenial {
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
