//! The inspection profile of an IEC 104 rule (written by the daemon, read by the data path):
//! the type ids a controlling station may send and the common addresses it may reach.

use super::types::READ_ONLY_TYPE_IDS;
use crate::sets::{Bitmap256, Ranges16, RangesError};

/// Common-address ranges one profile holds.
pub const MAX_COMMON_ADDRESS_RANGES: usize = 8;

/// The global (broadcast) common address: reaches every station behind the server. Only
/// allowed when a range names it explicitly.
pub const GLOBAL_COMMON_ADDRESS: u16 = 0xFFFF;

/// Flag bits of [`Iec104Profile::flags`].
pub mod profile_flags {
    /// The rule names no `common_addresses`: any common address but the global one
    /// ([`super::GLOBAL_COMMON_ADDRESS`]) is allowed.
    pub const ANY_COMMON_ADDRESS: u32 = 1 << 0;
}

/// What an IEC 60870-5-104 inspection profile allows in the controlling direction. S and U
/// frames (link housekeeping) are always allowed in their direction; everything else not
/// allowed here is denied.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iec104Profile {
    /// ASDU type ids a controlling station may send.
    pub type_ids: Bitmap256,
    /// Common addresses its ASDUs may carry (unless [`profile_flags::ANY_COMMON_ADDRESS`]).
    pub common_addresses: Ranges16<MAX_COMMON_ADDRESS_RANGES>,
    /// [`profile_flags`].
    pub flags: u32,
    pub _pad: u32,
}

const _: () = {
    assert!(core::mem::size_of::<Iec104Profile>() == 72);
    assert!(core::mem::align_of::<Iec104Profile>() == 8);
};

#[cfg(feature = "user")]
// SAFETY: #[repr(C)], Copy, only integers and explicit padding fields (asserted above to
// leave no implicit padding), so every bit pattern is a valid value.
unsafe impl aya::Pod for Iec104Profile {}

impl Default for Iec104Profile {
    fn default() -> Self {
        Self::new()
    }
}

impl Iec104Profile {
    /// Allows nothing: no type id, no common address.
    pub const fn new() -> Iec104Profile {
        Iec104Profile {
            type_ids: Bitmap256::EMPTY,
            common_addresses: Ranges16::EMPTY,
            flags: 0,
            _pad: 0,
        }
    }

    /// The `read_only: true` preset: interrogation, counter interrogation, read and test, to
    /// any common address but the global one. The compiler narrows addresses from the rule.
    pub const fn read_only() -> Iec104Profile {
        let mut p = Iec104Profile::new();
        let mut i = 0;
        while i < READ_ONLY_TYPE_IDS.len() {
            p.type_ids.insert(READ_ONLY_TYPE_IDS[i]);
            i += 1;
        }
        p.flags |= profile_flags::ANY_COMMON_ADDRESS;
        p
    }

    /// Allows type id `code`.
    pub const fn allow_type_id(&mut self, code: u8) {
        self.type_ids.insert(code);
    }

    /// Allows the common addresses `first..=last`; the first call ends "any address".
    pub fn allow_common_addresses(&mut self, first: u16, last: u16) -> Result<(), RangesError> {
        self.common_addresses.insert(first, last)?;
        self.flags &= !profile_flags::ANY_COMMON_ADDRESS;
        Ok(())
    }

    /// Whether an ASDU may carry common address `ca`.
    #[inline(always)]
    pub fn allows_common_address(&self, ca: u16) -> bool {
        if self.flags & profile_flags::ANY_COMMON_ADDRESS != 0 {
            return ca != GLOBAL_COMMON_ADDRESS;
        }
        self.common_addresses.contains(ca)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_profile_allows_nothing() {
        let p = Iec104Profile::new();
        assert!(!p.type_ids.contains(100));
        assert!(!p.allows_common_address(1));
        assert!(!p.allows_common_address(0));
    }

    #[test]
    fn read_only_allows_queries_to_any_but_the_global_address() {
        let p = Iec104Profile::read_only();
        for code in READ_ONLY_TYPE_IDS {
            assert!(p.type_ids.contains(code));
        }
        assert!(!p.type_ids.contains(45));
        assert!(!p.type_ids.contains(103));
        assert!(p.allows_common_address(1));
        assert!(p.allows_common_address(0xFFFE));
        assert!(!p.allows_common_address(GLOBAL_COMMON_ADDRESS));
    }

    #[test]
    fn ranges_replace_any_and_are_bounded() {
        let mut p = Iec104Profile::read_only();
        p.allow_common_addresses(10, 20).unwrap();
        assert!(!p.allows_common_address(9));
        assert!(p.allows_common_address(10));
        assert!(p.allows_common_address(20));
        assert!(!p.allows_common_address(21));
        p.allow_common_addresses(0xFFFF, 0xFFFF).unwrap();
        assert!(p.allows_common_address(GLOBAL_COMMON_ADDRESS));
        assert_eq!(p.allow_common_addresses(5, 4), Err(RangesError::Empty));
        for i in 0..6 {
            p.allow_common_addresses(100 + i, 100 + i).unwrap();
        }
        assert_eq!(p.allow_common_addresses(200, 200), Err(RangesError::Full));
    }
}
