//! The inspection profile of a DNP3 rule (written by the daemon, read by the data path): the
//! application functions a master may send and the outstation link addresses it may reach.

use super::functions::READ_ONLY_FUNCTIONS;
use crate::sets::{Bitmap256, Ranges16, RangesError};

/// Destination-address ranges one profile holds.
pub const MAX_ADDRESS_RANGES: usize = 8;

/// Link addresses 0xFFF0-0xFFFF are reserved: 0xFFFD-0xFFFF are broadcasts (all
/// outstations at once), 0xFFFC self-address. Reachable only when a range names them.
pub const FIRST_RESERVED_ADDRESS: u16 = 0xFFF0;

/// Flag bits of [`Dnp3Profile::flags`].
pub mod profile_flags {
    /// The rule names no `addresses`: any outstation address below
    /// [`super::FIRST_RESERVED_ADDRESS`] is allowed.
    pub const ANY_ADDRESS: u32 = 1 << 0;
}

/// What a DNP3 inspection profile allows a master to send. Link-layer housekeeping (reset,
/// test, link status and their acknowledgements) is always allowed; everything else not
/// allowed here is denied.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dnp3Profile {
    /// Application function codes a master may send.
    pub functions: Bitmap256,
    /// Link destination addresses (unless [`profile_flags::ANY_ADDRESS`]).
    pub addresses: Ranges16<MAX_ADDRESS_RANGES>,
    /// [`profile_flags`].
    pub flags: u32,
    pub _pad: u32,
}

const _: () = {
    assert!(core::mem::size_of::<Dnp3Profile>() == 72);
    assert!(core::mem::align_of::<Dnp3Profile>() == 8);
};

#[cfg(feature = "user")]
// SAFETY: #[repr(C)], Copy, only integers and explicit padding fields (asserted above to
// leave no implicit padding), so every bit pattern is a valid value.
unsafe impl aya::Pod for Dnp3Profile {}

impl Default for Dnp3Profile {
    fn default() -> Self {
        Self::new()
    }
}

impl Dnp3Profile {
    /// Allows no function and no address.
    pub const fn new() -> Dnp3Profile {
        Dnp3Profile {
            functions: Bitmap256::EMPTY,
            addresses: Ranges16::EMPTY,
            flags: 0,
            _pad: 0,
        }
    }

    /// The `read_only: true` preset: read and confirm, any outstation address but the
    /// reserved ones. The compiler narrows addresses from the rule.
    pub const fn read_only() -> Dnp3Profile {
        let mut p = Dnp3Profile::new();
        let mut i = 0;
        while i < READ_ONLY_FUNCTIONS.len() {
            p.functions.insert(READ_ONLY_FUNCTIONS[i]);
            i += 1;
        }
        p.flags |= profile_flags::ANY_ADDRESS;
        p
    }

    /// Allows function `code`.
    pub const fn allow_function(&mut self, code: u8) {
        self.functions.insert(code);
    }

    /// Allows destination addresses `first..=last`; the first call ends "any address".
    pub fn allow_addresses(&mut self, first: u16, last: u16) -> Result<(), RangesError> {
        self.addresses.insert(first, last)?;
        self.flags &= !profile_flags::ANY_ADDRESS;
        Ok(())
    }

    /// Whether a master may send to link address `address`.
    #[inline(always)]
    pub fn allows_address(&self, address: u16) -> bool {
        if self.flags & profile_flags::ANY_ADDRESS != 0 {
            return address < FIRST_RESERVED_ADDRESS;
        }
        self.addresses.contains(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_ranges() {
        assert!(!Dnp3Profile::new().allows_address(1));
        let mut p = Dnp3Profile::read_only();
        assert!(p.functions.contains(0) && p.functions.contains(1));
        assert!(!p.functions.contains(2));
        assert!(p.allows_address(10) && !p.allows_address(0xFFFF));
        p.allow_addresses(10, 10).unwrap();
        assert!(p.allows_address(10) && !p.allows_address(11));
        assert_eq!(p.allow_addresses(3, 2), Err(RangesError::Empty));
        for a in 0..7 {
            p.allow_addresses(a, a).unwrap();
        }
        assert_eq!(p.allow_addresses(9, 9), Err(RangesError::Full));
    }
}
