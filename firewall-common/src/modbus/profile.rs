//! The inspection profile of a Modbus rule (written by the daemon, read by the data path):
//! allowed unit ids, functions, sub-functions and address ranges.

use super::*;
pub use crate::sets::Bitmap256;

/// An inclusive range of 0-based addresses that requests of the functions in `classes` may
/// touch. A slot with `classes == 0` is unused.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressRange {
    pub first: u16,
    pub last: u16,
    /// [`address_class`] bits.
    pub classes: u16,
    pub _pad: u16,
}

/// What a Modbus/TCP inspection profile allows. The daemon's policy compiler writes one per
/// Modbus rule into the inspection-profile array; the XDP program reads it for every request
/// segment of a conduit that names the profile. Everything not allowed is denied.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModbusProfile {
    /// Unit ids a request may address.
    pub unit_ids: Bitmap256,
    /// Function codes a request may carry.
    pub functions: Bitmap256,
    /// Where requests of address-bearing functions (1-6, 15, 16, 22, 23, 24) may read and
    /// write: the whole span `[start, start + quantity - 1]` of a request must lie inside one
    /// range whose classes include the request's class. No range: no address is allowed.
    pub ranges: [AddressRange; MAX_ADDRESS_RANGES],
    /// FC 8 sub-functions allowed: bit `n` allows sub-function `n` (`n < 32`; higher ones are
    /// always denied). Default none.
    pub diagnostics: u32,
    /// FC 43 MEI types allowed: bit `n` allows type `n` (`n < 32`). Default only 14.
    pub mei_types: u32,
    /// Most coils or registers one request may name (each part of FC 23 on its own); 0 = the
    /// protocol maximum of the function ([`limits`]). A smaller protocol maximum always wins.
    pub max_quantity: u16,
    /// [`profile_flags`].
    pub flags: u16,
    pub _pad: u32,
}

const _: () = {
    assert!(core::mem::size_of::<AddressRange>() == 8);
    assert!(core::mem::size_of::<ModbusProfile>() == 144);
    assert!(core::mem::align_of::<ModbusProfile>() == 8);
};

#[cfg(feature = "user")]
// SAFETY: #[repr(C)], Copy, only integers and explicit padding fields (asserted above to
// leave no implicit padding), so every bit pattern is a valid value.
unsafe impl aya::Pod for ModbusProfile {}

/// Why a [`ModbusProfile`] edit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileError {
    /// All [`MAX_ADDRESS_RANGES`] slots are in use.
    TooManyRanges,
    /// `first > last`, or no [`address_class`] bit.
    EmptyRange,
    /// FC 8 sub-function or FC 43 MEI type ≥ 32: the bitmaps cannot express it.
    OutOfBitmap,
}

impl core::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ProfileError::TooManyRanges => "a Modbus profile holds at most 8 address ranges",
            ProfileError::EmptyRange => "an address range needs first <= last and a class",
            ProfileError::OutOfBitmap => {
                "only FC 8 sub-functions and FC 43 MEI types below 32 can be allowed"
            }
        })
    }
}

impl Default for ModbusProfile {
    fn default() -> Self {
        Self::new()
    }
}

impl ModbusProfile {
    /// Denies everything (no unit, no function, no address); strict; MEI type 14 allowed
    /// once FC 43 is; no FC 8 sub-function.
    pub const fn new() -> ModbusProfile {
        ModbusProfile {
            unit_ids: Bitmap256::EMPTY,
            functions: Bitmap256::EMPTY,
            ranges: [AddressRange {
                first: 0,
                last: 0,
                classes: 0,
                _pad: 0,
            }; MAX_ADDRESS_RANGES],
            diagnostics: 0,
            mei_types: 1 << mei::READ_DEVICE_ID,
            max_quantity: 0,
            flags: profile_flags::STRICT,
            _pad: 0,
        }
    }

    /// The `read_only: true` preset: FC 1, 2, 3, 4 and 43 (MEI type 14 only), any unit, any
    /// address of the read classes. The compiler narrows units and addresses from the rule.
    pub const fn read_only() -> ModbusProfile {
        let mut p = ModbusProfile::new();
        p.unit_ids = Bitmap256::FULL;
        let mut i = 0;
        while i < READ_ONLY_FUNCTIONS.len() {
            p.functions.insert(READ_ONLY_FUNCTIONS[i]);
            i += 1;
        }
        p.ranges[0] = AddressRange {
            first: 0,
            last: u16::MAX,
            classes: address_class::READS,
            _pad: 0,
        };
        p
    }

    /// Whether [`profile_flags::STRICT`] is set.
    #[inline(always)]
    pub const fn is_strict(&self) -> bool {
        self.flags & profile_flags::STRICT != 0
    }

    /// Allows requests to `unit`.
    pub const fn allow_unit(&mut self, unit: u8) {
        self.unit_ids.insert(unit);
    }

    /// Allows function code `code`.
    pub const fn allow_function(&mut self, code: u8) {
        self.functions.insert(code);
    }

    /// Allows FC 8 sub-function `sub` (FC 8 itself must be allowed too).
    pub const fn allow_diagnostics(&mut self, sub: u16) -> Result<(), ProfileError> {
        if sub >= 32 {
            return Err(ProfileError::OutOfBitmap);
        }
        self.diagnostics |= 1 << sub;
        Ok(())
    }

    /// Sets the FC 43 MEI types allowed to exactly `types` (FC 43 itself must be allowed too).
    pub fn set_mei_types(&mut self, types: &[u8]) -> Result<(), ProfileError> {
        let mut mask = 0u32;
        for &t in types {
            if t >= 32 {
                return Err(ProfileError::OutOfBitmap);
            }
            mask |= 1 << t;
        }
        self.mei_types = mask;
        Ok(())
    }

    /// Adds the address range `first..=last` for the [`address_class`] bits `classes`.
    pub fn add_range(&mut self, first: u16, last: u16, classes: u16) -> Result<(), ProfileError> {
        if first > last || classes & address_class::ALL == 0 {
            return Err(ProfileError::EmptyRange);
        }
        let slot = self
            .ranges
            .iter_mut()
            .find(|r| r.classes == 0)
            .ok_or(ProfileError::TooManyRanges)?;
        *slot = AddressRange {
            first,
            last,
            classes: classes & address_class::ALL,
            _pad: 0,
        };
        Ok(())
    }

    /// Removes every address range (no address is allowed until ranges are added).
    pub fn clear_ranges(&mut self) {
        self.ranges = [AddressRange::default(); MAX_ADDRESS_RANGES];
    }

    /// Whether one range of class `class` holds all of `first..=last`.
    #[inline(always)]
    pub fn allows_span(&self, class: u16, first: u16, last: u16) -> bool {
        for r in self.ranges.iter() {
            if r.classes & class != 0 && r.first <= first && last <= r.last {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_layout() {
        assert_eq!(core::mem::offset_of!(ModbusProfile, unit_ids), 0);
        assert_eq!(core::mem::offset_of!(ModbusProfile, functions), 32);
        assert_eq!(core::mem::offset_of!(ModbusProfile, ranges), 64);
        assert_eq!(core::mem::offset_of!(ModbusProfile, diagnostics), 128);
        assert_eq!(core::mem::offset_of!(ModbusProfile, mei_types), 132);
        assert_eq!(core::mem::offset_of!(ModbusProfile, max_quantity), 136);
        assert_eq!(core::mem::offset_of!(ModbusProfile, flags), 138);
        assert_eq!(core::mem::offset_of!(ModbusProfile, _pad), 140);
        let p = ModbusProfile::default();
        assert!(p.is_strict());
        assert_eq!((p.diagnostics, p.mei_types), (0, 1 << 14));
        assert_eq!(
            (p.unit_ids, p.functions),
            (Bitmap256::EMPTY, Bitmap256::EMPTY)
        );
    }

    #[test]
    fn bitmap_members() {
        let mut b = Bitmap256::EMPTY
            .with(0)
            .with(63)
            .with(64)
            .with(200)
            .with(255);
        for n in 0..=255u8 {
            assert_eq!(b.contains(n), matches!(n, 0 | 63 | 64 | 200 | 255), "{n}");
        }
        b.remove(64);
        assert!(!b.contains(64) && b.contains(63));
        assert!((0..=255).all(|n| Bitmap256::FULL.contains(n)));
    }

    #[test]
    fn profile_edits() {
        let mut p = ModbusProfile::new();
        assert_eq!(
            p.add_range(5, 4, address_class::ALL),
            Err(ProfileError::EmptyRange)
        );
        assert_eq!(p.add_range(0, 4, 0), Err(ProfileError::EmptyRange));
        for i in 0..MAX_ADDRESS_RANGES as u16 {
            p.add_range(i * 10, i * 10 + 5, address_class::READS)
                .unwrap();
        }
        assert_eq!(
            p.add_range(0, 1, address_class::READS),
            Err(ProfileError::TooManyRanges)
        );
        assert!(p.allows_span(address_class::READ_COILS, 70, 75));
        assert!(!p.allows_span(address_class::READ_COILS, 74, 76));
        assert!(!p.allows_span(address_class::WRITE_COILS, 70, 70));
        p.clear_ranges();
        assert!(!p.allows_span(address_class::READ_COILS, 0, 0));
        assert_eq!(p.allow_diagnostics(32), Err(ProfileError::OutOfBitmap));
        assert_eq!(p.allow_diagnostics(0), Ok(()));
        assert_eq!(p.set_mei_types(&[13, 14]), Ok(()));
        assert_eq!(p.mei_types, 3 << 13);
        assert_eq!(p.set_mei_types(&[40]), Err(ProfileError::OutOfBitmap));
    }
}
