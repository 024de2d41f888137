//! The inspection profile of an EtherNet/IP rule (written by the daemon, read by the data
//! path): the encapsulation commands a client may send, the CIP services it may request
//! (common services on any class, class-specific ones on tags or on the Connection Manager
//! only), and the object classes its requests may address.

use super::services::{Effect, READ_ONLY_COMMANDS, SERVICES, Target, command, service};
use crate::sets::{Bitmap256, Ranges16, RangesError};

/// Class ranges one profile holds.
pub const MAX_RANGES: usize = 8;

/// Flag bits of [`EnipProfile::flags`].
pub mod profile_flags {
    /// Requests must address a class in [`super::EnipProfile::classes`] (a symbolic path
    /// counts as the Symbol object, 0x6B; the containers are judged by service alone).
    pub const RESTRICT_CLASSES: u32 = 1 << 0;
}

/// What an EtherNet/IP inspection profile allows a client to send. A command or request not
/// allowed here is denied.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnipProfile {
    /// Encapsulation commands (low octet; the high octet of every command is 0).
    pub commands: Bitmap256,
    /// Services allowed on every class (the common services by name, any code by number).
    pub services: Bitmap256,
    /// Class-specific services allowed on tags (symbolic paths, class 0x6B).
    pub tag_services: Bitmap256,
    /// Class-specific services allowed on the Connection Manager (class 6).
    pub connection_services: Bitmap256,
    /// Object classes (with [`profile_flags::RESTRICT_CLASSES`]).
    pub classes: Ranges16<MAX_RANGES>,
    /// [`profile_flags`].
    pub flags: u32,
    pub _pad: u32,
}

const _: () = {
    assert!(core::mem::size_of::<EnipProfile>() == 168);
    assert!(core::mem::align_of::<EnipProfile>() == 8);
};

#[cfg(feature = "user")]
// SAFETY: #[repr(C)], Copy, only integers (asserted above to leave no implicit padding), so
// every bit pattern is a valid value.
unsafe impl aya::Pod for EnipProfile {}

impl Default for EnipProfile {
    fn default() -> Self {
        Self::new()
    }
}

impl EnipProfile {
    /// Allows nothing.
    pub const fn new() -> EnipProfile {
        EnipProfile {
            commands: Bitmap256::EMPTY,
            services: Bitmap256::EMPTY,
            tag_services: Bitmap256::EMPTY,
            connection_services: Bitmap256::EMPTY,
            classes: Ranges16::EMPTY,
            flags: 0,
            _pad: 0,
        }
    }

    /// The `read_only: true` preset: the session and listing commands, SendRRData, and the
    /// reading services (get_attributes_all, get_attribute_single, get_attribute_list,
    /// read_tag, ...) also inside Unconnected Send and Multiple Service Packet.
    pub fn read_only() -> EnipProfile {
        let mut p = EnipProfile::new();
        for code in READ_ONLY_COMMANDS {
            p.allow_command(code);
        }
        for s in SERVICES {
            if matches!(s.effect, Effect::Read | Effect::Container) {
                p.allow_service(s.code, s.target);
            }
        }
        p
    }

    /// Allows command `code`.
    pub const fn allow_command(&mut self, code: u8) {
        self.commands.insert(code);
    }

    /// Allows service `code` on `target` ([`Target::Any`]: on every class).
    pub const fn allow_service(&mut self, code: u8, target: Target) {
        match target {
            Target::Any => self.services.insert(code),
            Target::Tag => self.tag_services.insert(code),
            Target::ConnectionManager => self.connection_services.insert(code),
        }
    }

    /// Allows classes `first..=last`; the first call restricts classes.
    pub fn allow_classes(&mut self, first: u16, last: u16) -> Result<(), RangesError> {
        self.classes.insert(first, last)?;
        self.flags |= profile_flags::RESTRICT_CLASSES;
        Ok(())
    }

    /// Whether command `code` is allowed.
    #[inline(always)]
    pub fn allows_command(&self, code: u8) -> bool {
        self.commands.contains(code)
    }

    /// Whether service `code` is allowed on `target`.
    #[inline(always)]
    pub fn allows_service(&self, code: u8, target: Target) -> bool {
        if self.services.contains(code) {
            return true;
        }
        match target {
            Target::Any => false,
            Target::Tag => self.tag_services.contains(code),
            Target::ConnectionManager => self.connection_services.contains(code),
        }
    }

    /// Whether a request may address `class` (`None`: its path names none), symbolic or
    /// not.
    #[inline(always)]
    pub fn allows_class(&self, class: Option<u16>, symbolic: bool) -> bool {
        if self.flags & profile_flags::RESTRICT_CLASSES == 0 {
            return true;
        }
        let class = if symbolic {
            super::services::class::SYMBOL
        } else {
            match class {
                Some(c) => c,
                None => return false,
            }
        };
        self.classes.contains(class)
    }

    /// Whether the profile lets a client open connections (Forward_Open) and use them
    /// (SendUnitData).
    pub fn allows_connected(&self) -> bool {
        self.allows_command(command::SEND_UNIT_DATA)
            && (self.allows_service(service::FORWARD_OPEN, Target::ConnectionManager)
                || self.allows_service(service::LARGE_FORWARD_OPEN, Target::ConnectionManager))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_allows_nothing_read_only_allows_reads() {
        let p = EnipProfile::new();
        assert!(!p.allows_command(command::LIST_IDENTITY));
        assert!(!p.allows_service(0x0E, Target::Any));
        assert!(p.allows_class(None, false));
        let p = EnipProfile::read_only();
        assert!(p.allows_command(command::REGISTER_SESSION));
        assert!(p.allows_command(command::SEND_RR_DATA));
        assert!(!p.allows_command(command::SEND_UNIT_DATA));
        assert!(p.allows_service(0x0E, Target::Any) && p.allows_service(0x01, Target::Tag));
        assert!(!p.allows_service(0x10, Target::Any) && !p.allows_service(0x05, Target::Any));
        assert!(p.allows_service(0x4C, Target::Tag));
        assert!(!p.allows_service(0x4C, Target::Any));
        assert!(!p.allows_service(0x4D, Target::Tag));
        // 0x4E reads-and-writes a tag, closes a connection on class 6.
        assert!(!p.allows_service(0x4E, Target::Tag));
        assert!(!p.allows_service(0x4E, Target::ConnectionManager));
        assert!(p.allows_service(0x52, Target::ConnectionManager));
        assert!(p.allows_service(0x52, Target::Tag), "read_tag_fragmented");
        assert!(!p.allows_service(0x52, Target::Any));
        assert!(!p.allows_service(0x54, Target::ConnectionManager));
        assert!(p.allows_service(0x0A, Target::Any));
        assert!(!p.allows_connected());
    }

    #[test]
    fn numeric_codes_allow_every_class_and_classes_restrict() {
        let mut p = EnipProfile::new();
        p.allow_service(0x4D, Target::Any);
        assert!(p.allows_service(0x4D, Target::Tag) && p.allows_service(0x4D, Target::Any));
        p.allow_classes(1, 2).unwrap();
        assert!(p.allows_class(Some(1), false) && p.allows_class(Some(2), false));
        assert!(!p.allows_class(Some(6), false) && !p.allows_class(None, false));
        assert!(!p.allows_class(None, true));
        p.allow_classes(0x6B, 0x6B).unwrap();
        assert!(p.allows_class(None, true));
    }
}
