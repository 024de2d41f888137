//! IPv4 zones as a direct-index table (DIR-16-8-8, the layout of DPDK's `rte_lpm` with one
//! more level): the zone of an address is found with one to three array reads, each a few
//! instructions the JIT inlines, instead of a walk of the kernel's LPM trie behind a helper
//! call (the trie costs about 35 ns per address on the reference machine; this costs a few).
//!
//! The table is one array of 16-bit entries, packed four to a `u64` word of
//! [`crate::maps::names::ZONE_TABLE_V4`]:
//!
//! - level 1: per slot, one entry per /16 (`slot * 65536 + (a << 8 | b)`);
//! - blocks of 256 entries, shared by levels 2 and 3: a level-1 entry that points to a block
//!   resolves the third byte there, and a block entry that points to another block resolves
//!   the fourth byte. Each slot owns [`BLOCKS_PER_SLOT`] blocks.
//!
//! An entry is 0 (no zone), a zone (`zone_id | INTRA_ALLOW << 13`) or a pointer
//! ([`POINTER`] | block number). The daemon paints networks in ascending prefix length, so a
//! longer prefix overwrites the shorter one around it: the longest prefix wins, as in a trie.

use crate::maps::{capacity, zone_flags};

/// Entries per slot at level 1 (one per /16).
pub const L1_ENTRIES: u32 = 1 << 16;
/// Entries per block (one per value of the next address byte).
pub const BLOCK_ENTRIES: u32 = 256;
/// Blocks each slot may use (levels 2 and 3 together).
pub const BLOCKS_PER_SLOT: u32 = 4_096;
/// Entries per map word.
pub const ENTRIES_PER_WORD: u32 = 4;
/// Words of [`crate::maps::names::ZONE_TABLE_V4`]: level 1 and the blocks of both slots.
pub const WORDS: u32 = (2 * L1_ENTRIES + 2 * BLOCKS_PER_SLOT * BLOCK_ENTRIES) / ENTRIES_PER_WORD;
/// Words of one block.
pub const BLOCK_WORDS: u32 = BLOCK_ENTRIES / ENTRIES_PER_WORD;

/// Entry bit: the rest of the entry is a block number, resolving the next address byte.
pub const POINTER: u16 = 1 << 15;
/// Entry bit of a zone entry: [`zone_flags::INTRA_ALLOW`].
pub const INTRA_ALLOW: u16 = 1 << 13;
/// Bits of a zone entry holding the zone id.
pub const ZONE_ID_MASK: u16 = INTRA_ALLOW - 1;
/// Bits of a pointer entry holding the block number.
pub const BLOCK_MASK: u16 = POINTER - 1;

const _: () = {
    assert!(capacity::MAX_ZONES <= ZONE_ID_MASK as u32);
    assert!(2 * BLOCKS_PER_SLOT <= BLOCK_MASK as u32 + 1);
    assert!(zone_flags::INTRA_ALLOW == 1);
};

/// Index of the level-1 entry of `a.b.0.0/16` in `slot`.
#[inline(always)]
pub const fn l1_index(slot: u8, a: u8, b: u8) -> u32 {
    (slot as u32 & 1) * L1_ENTRIES + ((a as u32) << 8 | b as u32)
}

/// Index of entry `byte` of block `block` (a global block number, below
/// `2 * BLOCKS_PER_SLOT`).
#[inline(always)]
pub const fn block_index(block: u16, byte: u8) -> u32 {
    2 * L1_ENTRIES
        + (block & BLOCK_MASK) as u32 % (2 * BLOCKS_PER_SLOT) * BLOCK_ENTRIES
        + byte as u32
}

/// First block number of `slot`.
#[inline(always)]
pub const fn first_block(slot: u8) -> u16 {
    ((slot as u32 & 1) * BLOCKS_PER_SLOT) as u16
}

/// Entry `index` out of the word that holds it (`word` is word `index / 4` of the table).
#[inline(always)]
pub const fn entry_in(word: u64, index: u32) -> u16 {
    (word >> ((index % ENTRIES_PER_WORD) * 16)) as u16
}

/// A zone entry for `zone_id` with [`zone_flags`] `flags`.
#[inline(always)]
pub const fn zone_entry(zone_id: u16, flags: u16) -> u16 {
    (zone_id & ZONE_ID_MASK)
        | if flags & zone_flags::INTRA_ALLOW != 0 {
            INTRA_ALLOW
        } else {
            0
        }
}

/// A pointer entry to block `block`.
#[inline(always)]
pub const fn pointer_entry(block: u16) -> u16 {
    POINTER | (block & BLOCK_MASK)
}

/// The zone of `addr` in `slot`, packed as `zone_id | flags << 16` (0 = no zone), reading
/// words of the table through `word` (which returns 0 for a word it cannot read).
#[inline(always)]
pub fn lookup(slot: u8, addr: [u8; 4], word: impl Fn(u32) -> u64) -> u32 {
    let read = |index: u32| entry_in(word(index / ENTRIES_PER_WORD), index);
    let mut entry = read(l1_index(slot, addr[0], addr[1]));
    if entry & POINTER != 0 {
        entry = read(block_index(entry, addr[2]));
        if entry & POINTER != 0 {
            entry = read(block_index(entry, addr[3]));
            if entry & POINTER != 0 {
                // Only three levels exist: a pointer here is a corrupt table.
                return 0;
            }
        }
    }
    let zone_id = entry & ZONE_ID_MASK;
    if zone_id == 0 {
        return 0;
    }
    let flags = if entry & INTRA_ALLOW != 0 {
        zone_flags::INTRA_ALLOW
    } else {
        0
    };
    zone_id as u32 | (flags as u32) << 16
}

#[cfg(test)]
mod tests {
    use alloc::{vec, vec::Vec};

    use super::*;

    /// A table image with entries set one by one.
    struct Table(Vec<u64>);

    impl Table {
        fn new() -> Self {
            Table(vec![0; WORDS as usize])
        }
        fn set(&mut self, index: u32, entry: u16) {
            let w = &mut self.0[(index / ENTRIES_PER_WORD) as usize];
            let shift = (index % ENTRIES_PER_WORD) * 16;
            *w = (*w & !(0xffff << shift)) | (entry as u64) << shift;
        }
        fn zone(&self, slot: u8, addr: [u8; 4]) -> u32 {
            lookup(slot, addr, |w| self.0.get(w as usize).copied().unwrap_or(0))
        }
    }

    #[test]
    fn resolves_each_level_and_keeps_slots_apart() {
        let mut t = Table::new();
        // 10.1.0.0/16 → zone 1 (intra allow) in slot 0.
        t.set(l1_index(0, 10, 1), zone_entry(1, zone_flags::INTRA_ALLOW));
        // 10.2.0.0/16 points to a block: 10.2.3.0/24 → zone 2; 10.2.4.0/24 points to another
        // block where 10.2.4.9 → zone 3.
        let b = first_block(0);
        t.set(l1_index(0, 10, 2), pointer_entry(b));
        t.set(block_index(b, 3), zone_entry(2, 0));
        t.set(block_index(b, 4), pointer_entry(b + 1));
        t.set(block_index(b + 1, 9), zone_entry(3, 0));
        // Slot 1 has its own level 1 and blocks.
        let b1 = first_block(1);
        t.set(l1_index(1, 10, 2), pointer_entry(b1));
        t.set(block_index(b1, 3), zone_entry(7, 0));

        assert_eq!(t.zone(0, [10, 1, 200, 7]), 1 | 1 << 16);
        assert_eq!(t.zone(0, [10, 2, 3, 1]), 2);
        assert_eq!(t.zone(0, [10, 2, 4, 9]), 3);
        assert_eq!(t.zone(0, [10, 2, 4, 10]), 0);
        assert_eq!(t.zone(0, [10, 2, 5, 1]), 0);
        assert_eq!(t.zone(0, [10, 3, 0, 1]), 0);
        assert_eq!(t.zone(1, [10, 2, 3, 1]), 7);
        assert_eq!(t.zone(1, [10, 1, 200, 7]), 0);
    }

    #[test]
    fn entries_share_words_without_mixing() {
        let mut t = Table::new();
        for b in 0..4u8 {
            t.set(l1_index(0, 192, b), zone_entry(b as u16 + 1, 0));
        }
        for b in 0..4u8 {
            assert_eq!(t.zone(0, [192, b, 0, 0]), b as u32 + 1);
        }
    }

    #[test]
    fn a_pointer_at_the_last_level_is_no_zone() {
        let mut t = Table::new();
        let b = first_block(0);
        t.set(l1_index(0, 1, 1), pointer_entry(b));
        t.set(block_index(b, 1), pointer_entry(b + 1));
        t.set(block_index(b + 1, 1), pointer_entry(b + 2));
        assert_eq!(t.zone(0, [1, 1, 1, 1]), 0);
    }

    #[test]
    fn indexes_stay_inside_the_table() {
        assert!(l1_index(1, 255, 255) < 2 * L1_ENTRIES);
        let last = block_index(u16::MAX, 255);
        assert!(last / ENTRIES_PER_WORD < WORDS);
        assert_eq!(
            block_index(first_block(1) + BLOCKS_PER_SLOT as u16 - 1, 255) / ENTRIES_PER_WORD,
            WORDS - 1
        );
    }
}
