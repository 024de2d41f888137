//! Small fixed-size sets the inspection profiles are made of: [`Bitmap256`] for codes (unit
//! ids, function codes, type ids) and [`Ranges16`] for 16-bit addresses (IEC 104 common
//! addresses, DNP3 link addresses). Plain `#[repr(C)]` integers, read by the data path
//! without a loop longer than the set.

/// A 256-bit set (unit ids, function codes), eight bytes at a time.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bitmap256 {
    /// Bit `n` is bit `n % 64` of word `n / 64`.
    pub words: [u64; 4],
}

impl Bitmap256 {
    /// No member.
    pub const EMPTY: Bitmap256 = Bitmap256 { words: [0; 4] };
    /// All 256 members.
    pub const FULL: Bitmap256 = Bitmap256 {
        words: [u64::MAX; 4],
    };

    /// Whether the set has no member.
    #[inline(always)]
    pub const fn is_empty(&self) -> bool {
        self.words[0] | self.words[1] | self.words[2] | self.words[3] == 0
    }

    /// Whether `n` is a member.
    #[inline(always)]
    pub const fn contains(&self, n: u8) -> bool {
        let word = match n >> 6 {
            0 => self.words[0],
            1 => self.words[1],
            2 => self.words[2],
            _ => self.words[3],
        };
        (word >> (n & 63)) & 1 != 0
    }

    /// Adds `n`.
    pub const fn insert(&mut self, n: u8) {
        let bit = 1u64 << (n & 63);
        match n >> 6 {
            0 => self.words[0] |= bit,
            1 => self.words[1] |= bit,
            2 => self.words[2] |= bit,
            _ => self.words[3] |= bit,
        }
    }

    /// Removes `n`.
    pub const fn remove(&mut self, n: u8) {
        let bit = !(1u64 << (n & 63));
        match n >> 6 {
            0 => self.words[0] &= bit,
            1 => self.words[1] &= bit,
            2 => self.words[2] &= bit,
            _ => self.words[3] &= bit,
        }
    }

    /// This set with `n` added.
    pub const fn with(mut self, n: u8) -> Bitmap256 {
        self.insert(n);
        self
    }
}

const _: () = assert!(core::mem::size_of::<Bitmap256>() == 32);

/// An inclusive range of 16-bit values; `first > last` marks an unused slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range16 {
    pub first: u16,
    pub last: u16,
}

impl Range16 {
    /// An unused slot.
    pub const UNUSED: Range16 = Range16 { first: 1, last: 0 };
}

/// Why a range was not added to a [`Ranges16`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangesError {
    /// All slots are in use.
    Full,
    /// `first > last`.
    Empty,
}

/// Up to `N` inclusive ranges of 16-bit values.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ranges16<const N: usize> {
    pub ranges: [Range16; N],
}

impl<const N: usize> Default for Ranges16<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> Ranges16<N> {
    /// No value.
    pub const EMPTY: Ranges16<N> = Ranges16 {
        ranges: [Range16::UNUSED; N],
    };

    /// Adds `first..=last` in the first unused slot.
    pub fn insert(&mut self, first: u16, last: u16) -> Result<(), RangesError> {
        if first > last {
            return Err(RangesError::Empty);
        }
        let slot = self
            .ranges
            .iter_mut()
            .find(|r| r.first > r.last)
            .ok_or(RangesError::Full)?;
        *slot = Range16 { first, last };
        Ok(())
    }

    /// Whether a range holds `v`.
    #[inline(always)]
    pub fn contains(&self, v: u16) -> bool {
        let mut i = 0;
        while i < N {
            let r = self.ranges[i];
            if r.first <= v && v <= r.last {
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
    fn bitmap_members() {
        let b = Bitmap256::EMPTY.with(0).with(63).with(64).with(255);
        for n in 0..=255u8 {
            assert_eq!(b.contains(n), matches!(n, 0 | 63 | 64 | 255), "{n}");
        }
        let mut f = Bitmap256::FULL;
        f.remove(7);
        assert!(!f.contains(7) && f.contains(8));
    }

    #[test]
    fn ranges_are_inclusive_bounded_and_refuse_empty_ones() {
        let mut r = Ranges16::<2>::EMPTY;
        assert!(!r.contains(0) && !r.contains(1));
        r.insert(10, 20).unwrap();
        assert!(!r.contains(9) && r.contains(10) && r.contains(20) && !r.contains(21));
        assert_eq!(r.insert(5, 4), Err(RangesError::Empty));
        r.insert(u16::MAX, u16::MAX).unwrap();
        assert!(r.contains(u16::MAX));
        assert_eq!(r.insert(1, 1), Err(RangesError::Full));
    }
}
