//! The inspection profile of an S7comm rule (written by the daemon, read by the data path):
//! the job functions and userdata functions a client may send, the called TSAPs it may
//! connect to, the memory areas and data blocks its read_var / write_var items may name, and
//! whether S7comm-plus passes.

use super::functions::{
    READ_ONLY_FUNCTIONS, READ_ONLY_USERDATA, Userdata, area_bit, userdata_named,
};
use crate::sets::{Bitmap256, Ranges16, RangesError};

/// TSAP ranges and DB-number ranges one profile holds (each).
pub const MAX_RANGES: usize = 8;

/// Flag bits of [`S7Profile::flags`].
pub mod profile_flags {
    /// S7comm-plus (protocol id 0x72) passes uninspected (`s7comm_plus: allow`).
    pub const S7COMM_PLUS: u32 = 1 << 0;
    /// Connection requests must name a called TSAP in [`super::S7Profile::tsaps`].
    pub const RESTRICT_TSAPS: u32 = 1 << 1;
    /// read_var / write_var items are walked: their syntax must be S7ANY, their area in
    /// [`super::S7Profile::areas`], the DB number of a DB item in
    /// [`super::S7Profile::db_numbers`] (unless [`ANY_DB`]).
    pub const RESTRICT_ITEMS: u32 = 1 << 2;
    /// Any DB number (with [`RESTRICT_ITEMS`]: only the areas are restricted).
    pub const ANY_DB: u32 = 1 << 3;
    /// PI service jobs (0x28) are walked to their service name, which must be in
    /// [`super::S7Profile::pi_services`] (`pi_services:`).
    pub const RESTRICT_PI: u32 = 1 << 4;
}

/// What an S7comm inspection profile allows a client to send. COTP housekeeping (connection
/// request, disconnect, error) is always allowed in its direction; an S7 PDU not allowed here
/// is denied.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct S7Profile {
    /// Job functions (first parameter byte of a job).
    pub functions: Bitmap256,
    /// PI services (bit `i`: [`super::pi::PI_SERVICES`]`[i]`), with
    /// [`profile_flags::RESTRICT_PI`].
    pub pi_services: [u64; 2],
    /// Per userdata function group: bit `s` allows subfunction `s` (below 32).
    pub userdata: [u32; 16],
    /// Called TSAPs (with [`profile_flags::RESTRICT_TSAPS`]).
    pub tsaps: Ranges16<MAX_RANGES>,
    /// DB numbers of DB and instance-DB items (with [`profile_flags::RESTRICT_ITEMS`], unless
    /// [`profile_flags::ANY_DB`]).
    pub db_numbers: Ranges16<MAX_RANGES>,
    /// Userdata function groups allowed whole (every subfunction), bit per group.
    pub userdata_groups: u16,
    /// Areas items may name ([`super::functions::Area::bit`]), with
    /// [`profile_flags::RESTRICT_ITEMS`].
    pub areas: u16,
    /// [`profile_flags`].
    pub flags: u32,
}

const _: () = {
    assert!(core::mem::size_of::<S7Profile>() == 184);
    assert!(core::mem::align_of::<S7Profile>() == 8);
};

#[cfg(feature = "user")]
// SAFETY: #[repr(C)], Copy, only integers (asserted above to leave no implicit padding), so
// every bit pattern is a valid value.
unsafe impl aya::Pod for S7Profile {}

impl Default for S7Profile {
    fn default() -> Self {
        Self::new()
    }
}

impl S7Profile {
    /// Allows nothing.
    pub const fn new() -> S7Profile {
        S7Profile {
            functions: Bitmap256::EMPTY,
            pi_services: [0; 2],
            userdata: [0; 16],
            tsaps: Ranges16::EMPTY,
            db_numbers: Ranges16::EMPTY,
            userdata_groups: 0,
            areas: 0,
            flags: 0,
        }
    }

    /// The `read_only: true` preset: setup communication, read var, and the userdata reads
    /// (SZL, clock read, block info).
    pub fn read_only() -> S7Profile {
        let mut p = S7Profile::new();
        for code in READ_ONLY_FUNCTIONS {
            p.allow_function(code);
        }
        for name in READ_ONLY_USERDATA {
            if let Some(u) = userdata_named(name) {
                p.allow_userdata(u.group, u.subfunctions);
            }
        }
        p
    }

    /// Allows job function `code`.
    pub const fn allow_function(&mut self, code: u8) {
        self.functions.insert(code);
    }

    /// Allows the subfunctions `subfunctions` (bit per subfunction below 32) of userdata
    /// `group`, or the whole group with [`Userdata::ALL`].
    pub const fn allow_userdata(&mut self, group: u8, subfunctions: u32) {
        let g = (group & 0x0F) as usize;
        if subfunctions == Userdata::ALL {
            self.userdata_groups |= 1 << g;
        }
        self.userdata[g] |= subfunctions;
    }

    /// Allows called TSAPs `first..=last`; the first call restricts TSAPs.
    pub fn allow_tsaps(&mut self, first: u16, last: u16) -> Result<(), RangesError> {
        self.tsaps.insert(first, last)?;
        self.flags |= profile_flags::RESTRICT_TSAPS;
        Ok(())
    }

    /// Restricts the items of read_var / write_var to the areas of `bits` (a mask of
    /// [`super::functions::Area::bit`]s); DB numbers stay any until [`Self::allow_db_numbers`].
    pub fn restrict_areas(&mut self, bits: u16) {
        if self.flags & profile_flags::RESTRICT_ITEMS == 0 {
            self.flags |= profile_flags::RESTRICT_ITEMS | profile_flags::ANY_DB;
            self.areas = 0;
        }
        self.areas |= bits;
    }

    /// Allows DB numbers `first..=last` in DB items; the first call restricts items (every
    /// area stays allowed unless [`Self::restrict_areas`] names them).
    pub fn allow_db_numbers(&mut self, first: u16, last: u16) -> Result<(), RangesError> {
        self.db_numbers.insert(first, last)?;
        if self.flags & profile_flags::RESTRICT_ITEMS == 0 {
            self.flags |= profile_flags::RESTRICT_ITEMS;
            self.areas = u16::MAX;
        }
        self.flags &= !profile_flags::ANY_DB;
        Ok(())
    }

    /// Allows PI service `index` ([`super::pi::PI_SERVICES`]); the first call restricts PI
    /// services (an unknown name is then denied).
    pub const fn allow_pi_service(&mut self, index: u8) {
        self.flags |= profile_flags::RESTRICT_PI;
        self.pi_services[(index >> 6) as usize & 1] |= 1 << (index & 63);
    }

    /// Whether PI service `index` is allowed (with [`profile_flags::RESTRICT_PI`]).
    #[inline(always)]
    pub const fn allows_pi_service(&self, index: u8) -> bool {
        index < 128 && self.pi_services[(index >> 6) as usize & 1] & (1 << (index & 63)) != 0
    }

    /// Whether a job of function `code` is allowed.
    #[inline(always)]
    pub fn allows_function(&self, code: u8) -> bool {
        self.functions.contains(code)
    }

    /// Whether a userdata request of `group` / `subfunction` is allowed.
    #[inline(always)]
    pub fn allows_userdata(&self, group: u8, subfunction: u8) -> bool {
        let g = (group & 0x0F) as usize;
        if self.userdata_groups & (1 << g) != 0 {
            return true;
        }
        subfunction < 32 && self.userdata[g] & (1u32 << (subfunction & 31)) != 0
    }

    /// Whether a connection request may name called TSAP `tsap` (`None`: none, or not a
    /// 2-byte one).
    #[inline(always)]
    pub fn allows_tsap(&self, tsap: Option<u16>) -> bool {
        if self.flags & profile_flags::RESTRICT_TSAPS == 0 {
            return true;
        }
        match tsap {
            Some(t) => self.tsaps.contains(t),
            None => false,
        }
    }

    /// Whether an item may name area `code` (and, for a DB area, DB `db`).
    #[inline(always)]
    pub fn allows_item(&self, code: u8, db: u16) -> bool {
        if self.flags & profile_flags::RESTRICT_ITEMS == 0 {
            return true;
        }
        let Some(bit) = area_bit(code) else {
            return false;
        };
        if self.areas & (1 << (bit & 15)) == 0 {
            return false;
        }
        if matches!(code, 0x84 | 0x85) && self.flags & profile_flags::ANY_DB == 0 {
            return self.db_numbers.contains(db);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_allows_nothing_read_only_allows_reads() {
        let p = S7Profile::new();
        assert!(!p.allows_function(0x04));
        assert!(!p.allows_userdata(4, 1));
        assert!(p.allows_tsap(None));
        let p = S7Profile::read_only();
        assert!(p.allows_function(0xF0) && p.allows_function(0x04));
        assert!(!p.allows_function(0x05) && !p.allows_function(0x29));
        assert!(p.allows_userdata(4, 1));
        assert!(!p.allows_userdata(4, 2));
        assert!(p.allows_userdata(7, 1) && p.allows_userdata(7, 3));
        assert!(!p.allows_userdata(7, 2) && !p.allows_userdata(7, 4));
        assert!(p.allows_userdata(3, 2));
        assert!(!p.allows_userdata(5, 1));
        assert!(!p.allows_userdata(4, 33));
    }

    #[test]
    fn whole_groups_allow_high_subfunctions() {
        let mut p = S7Profile::new();
        p.allow_userdata(5, Userdata::ALL);
        assert!(p.allows_userdata(5, 1) && p.allows_userdata(5, 200));
        assert!(!p.allows_userdata(4, 1));
    }

    #[test]
    fn tsaps_and_items() {
        let mut p = S7Profile::read_only();
        p.allow_tsaps(0x0102, 0x0102).unwrap();
        assert!(p.allows_tsap(Some(0x0102)));
        assert!(!p.allows_tsap(Some(0x0103)));
        assert!(!p.allows_tsap(None));
        assert!(p.allows_item(0x83, 0), "no restriction yet");
        p.restrict_areas(1 << 4);
        assert!(p.allows_item(0x84, 77));
        assert!(!p.allows_item(0x83, 0));
        p.allow_db_numbers(1, 3).unwrap();
        assert!(p.allows_item(0x84, 3) && !p.allows_item(0x84, 4));
        assert!(!p.allows_item(0x85, 1), "instance DBs not listed");
        assert!(!p.allows_item(0x42, 1));
        let mut q = S7Profile::new();
        q.allow_db_numbers(10, 10).unwrap();
        assert!(q.allows_item(0x83, 0) && q.allows_item(0x84, 10) && !q.allows_item(0x84, 11));
    }
}
