//! The inspection profile of an IEC 104 rule (written by the daemon, read by the data path):
//! the type ids a controlling station may send and the common addresses it may reach.

use crate::modbus::Bitmap256;

use super::types::READ_ONLY_TYPE_IDS;

/// Common-address ranges one profile holds.
pub const MAX_COMMON_ADDRESS_RANGES: usize = 8;

/// The global (broadcast) common address: reaches every station behind the server. Only
/// allowed when a range names it explicitly.
pub const GLOBAL_COMMON_ADDRESS: u16 = 0xFFFF;

/// An inclusive range of common addresses (ASDU addresses). `first > last` marks an unused
/// slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommonAddressRange {
    pub first: u16,
    pub last: u16,
}

impl CommonAddressRange {
    /// An unused slot.
    pub const UNUSED: CommonAddressRange = CommonAddressRange { first: 1, last: 0 };
}

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
    pub common_addresses: [CommonAddressRange; MAX_COMMON_ADDRESS_RANGES],
    /// [`profile_flags`].
    pub flags: u32,
    pub _pad: u32,
}

const _: () = {
    assert!(core::mem::size_of::<CommonAddressRange>() == 4);
    assert!(core::mem::size_of::<Iec104Profile>() == 72);
    assert!(core::mem::align_of::<Iec104Profile>() == 8);
};

#[cfg(feature = "user")]
// SAFETY: #[repr(C)], Copy, only integers and explicit padding fields (asserted above to
// leave no implicit padding), so every bit pattern is a valid value.
unsafe impl aya::Pod for Iec104Profile {}

/// Why an [`Iec104Profile`] edit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileError {
    /// All [`MAX_COMMON_ADDRESS_RANGES`] slots are in use.
    TooManyRanges,
    /// `first > last`.
    EmptyRange,
}

impl core::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ProfileError::TooManyRanges => {
                "an IEC 104 profile holds at most 8 common-address ranges"
            }
            ProfileError::EmptyRange => "a common-address range needs first <= last",
        })
    }
}

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
            common_addresses: [CommonAddressRange::UNUSED; MAX_COMMON_ADDRESS_RANGES],
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
    pub fn allow_common_addresses(&mut self, first: u16, last: u16) -> Result<(), ProfileError> {
        if first > last {
            return Err(ProfileError::EmptyRange);
        }
        self.flags &= !profile_flags::ANY_COMMON_ADDRESS;
        let slot = self
            .common_addresses
            .iter_mut()
            .find(|r| r.first > r.last)
            .ok_or(ProfileError::TooManyRanges)?;
        *slot = CommonAddressRange { first, last };
        Ok(())
    }

    /// Whether an ASDU may carry common address `ca`.
    #[inline(always)]
    pub fn allows_common_address(&self, ca: u16) -> bool {
        if self.flags & profile_flags::ANY_COMMON_ADDRESS != 0 {
            return ca != GLOBAL_COMMON_ADDRESS;
        }
        let mut i = 0;
        while i < MAX_COMMON_ADDRESS_RANGES {
            let r = self.common_addresses[i];
            if r.first <= ca && ca <= r.last {
                return true;
            }
            i += 1;
        }
        false
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
        assert_eq!(
            p.allow_common_addresses(5, 4),
            Err(ProfileError::EmptyRange)
        );
        for i in 0..6 {
            p.allow_common_addresses(100 + i, 100 + i).unwrap();
        }
        assert_eq!(
            p.allow_common_addresses(200, 200),
            Err(ProfileError::TooManyRanges)
        );
    }
}
