//! Builds the IPv4 zone table (`firewall_common::zonetable`) from the zone networks.

use firewall_common::zonetable::{
    self, BLOCK_ENTRIES, BLOCK_WORDS, BLOCKS_PER_SLOT, ENTRIES_PER_WORD, L1_ENTRIES, POINTER,
};

use super::ZoneEntryV4;

/// The IPv4 zone table of one policy, independent of the slot it goes to: pointer entries
/// hold block numbers counted from 0; [`ZoneTableV4::words`] moves them to a slot's blocks.
#[derive(Clone, PartialEq, Eq)]
pub struct ZoneTableV4 {
    /// One entry per /16.
    l1: Vec<u16>,
    /// Blocks of 256 entries (levels 2 and 3).
    blocks: Vec<[u16; BLOCK_ENTRIES as usize]>,
}

impl std::fmt::Debug for ZoneTableV4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneTableV4")
            .field("blocks", &self.blocks.len())
            .finish_non_exhaustive()
    }
}

/// The networks need more blocks than a slot holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooManyBlocks {
    pub needed: usize,
}

impl ZoneTableV4 {
    /// Paints every network, shortest prefixes first, so the longest prefix wins.
    pub fn build(networks: &[ZoneEntryV4]) -> Result<Self, TooManyBlocks> {
        let mut sorted: Vec<&ZoneEntryV4> = networks.iter().collect();
        sorted.sort_by_key(|n| n.prefix_len);
        let mut table = ZoneTableV4 {
            l1: vec![0; L1_ENTRIES as usize],
            blocks: Vec::new(),
        };
        for net in sorted {
            let entry = zonetable::zone_entry(net.info.zone_id, net.info.flags);
            table.paint(net.addr, net.prefix_len.min(32), entry);
        }
        if table.blocks.len() > BLOCKS_PER_SLOT as usize {
            return Err(TooManyBlocks {
                needed: table.blocks.len(),
            });
        }
        Ok(table)
    }

    /// Blocks this policy uses (at most [`BLOCKS_PER_SLOT`]).
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    fn paint(&mut self, addr: [u8; 4], prefix_len: u8, entry: u16) {
        let [a, b, c, d] = addr;
        let l1 = usize::from(a) << 8 | usize::from(b);
        if prefix_len <= 16 {
            let span = 1usize << (16 - prefix_len);
            self.l1[l1..l1 + span].fill(entry);
            return;
        }
        let block = self.block_under(Slot::L1(l1));
        if prefix_len <= 24 {
            let span = 1usize << (24 - prefix_len);
            let c = usize::from(c);
            self.blocks[block][c..c + span].fill(entry);
            return;
        }
        let block = self.block_under(Slot::Block(block, usize::from(c)));
        let span = 1usize << (32 - prefix_len);
        let d = usize::from(d);
        self.blocks[block][d..d + span].fill(entry);
    }

    /// The block an entry points to, made (filled with the entry's zone) if it holds a zone.
    fn block_under(&mut self, at: Slot) -> usize {
        let entry = match at {
            Slot::L1(i) => self.l1[i],
            Slot::Block(b, i) => self.blocks[b][i],
        };
        if entry & POINTER != 0 {
            return usize::from(entry & !POINTER);
        }
        let block = self.blocks.len();
        self.blocks.push([entry; BLOCK_ENTRIES as usize]);
        let pointer = POINTER | block as u16;
        match at {
            Slot::L1(i) => self.l1[i] = pointer,
            Slot::Block(b, i) => self.blocks[b][i] = pointer,
        }
        block
    }

    /// Every word of `slot`'s part of the table, as (map index, value): all of level 1 and
    /// the blocks in use, with pointers moved to the slot's blocks.
    pub fn words(&self, slot: u8) -> Vec<(u32, u64)> {
        let first = zonetable::first_block(slot);
        let relocate = |e: u16| {
            if e & POINTER != 0 {
                zonetable::pointer_entry(first + (e & !POINTER))
            } else {
                e
            }
        };
        let pack = |entries: &[u16]| {
            entries
                .iter()
                .enumerate()
                .fold(0u64, |w, (i, &e)| w | u64::from(relocate(e)) << (16 * i))
        };
        let per = ENTRIES_PER_WORD as usize;
        let mut words = Vec::with_capacity(self.l1.len() / per + self.blocks.len() * 64);
        let l1_base = zonetable::l1_index(slot, 0, 0) / ENTRIES_PER_WORD;
        for (i, chunk) in self.l1.chunks(per).enumerate() {
            words.push((l1_base + i as u32, pack(chunk)));
        }
        for (b, block) in self.blocks.iter().enumerate() {
            let base = zonetable::block_index(first + b as u16, 0) / ENTRIES_PER_WORD;
            debug_assert_eq!(BLOCK_WORDS as usize, block.len() / per);
            for (i, chunk) in block.chunks(per).enumerate() {
                words.push((base + i as u32, pack(chunk)));
            }
        }
        words
    }
}

#[derive(Clone, Copy)]
enum Slot {
    L1(usize),
    Block(usize, usize),
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use firewall_common::maps::{ZoneMatch, zone_flags};

    use super::*;

    fn net(addr: [u8; 4], prefix_len: u8, zone_id: u16) -> ZoneEntryV4 {
        ZoneEntryV4 {
            prefix_len,
            addr,
            info: ZoneMatch { zone_id, flags: 0 },
        }
    }

    /// The table as the XDP program reads it: words at their map indexes.
    fn image(t: &ZoneTableV4, slot: u8) -> HashMap<u32, u64> {
        t.words(slot).into_iter().collect()
    }

    fn zone(img: &HashMap<u32, u64>, slot: u8, addr: [u8; 4]) -> u32 {
        zonetable::lookup(slot, addr, |w| img.get(&w).copied().unwrap_or(0))
    }

    /// Longest-prefix match by brute force.
    fn reference(nets: &[ZoneEntryV4], addr: [u8; 4]) -> u32 {
        let a = u32::from_be_bytes(addr);
        nets.iter()
            .filter(|n| {
                let mask = if n.prefix_len == 0 {
                    0
                } else {
                    u32::MAX << (32 - n.prefix_len)
                };
                a & mask == u32::from_be_bytes(n.addr) & mask
            })
            .max_by_key(|n| n.prefix_len)
            .map_or(0, |n| {
                u32::from(n.info.zone_id) | u32::from(n.info.flags) << 16
            })
    }

    #[test]
    fn nested_networks_resolve_like_a_trie_in_both_slots() {
        let nets = [
            net([0, 0, 0, 0], 0, 9),
            net([10, 0, 0, 0], 8, 1),
            net([10, 1, 0, 0], 16, 2),
            net([10, 1, 2, 0], 23, 3),
            net([10, 1, 3, 128], 25, 4),
            net([10, 1, 3, 7], 32, 5),
            net([192, 168, 0, 0], 24, 6),
            net([172, 16, 0, 0], 12, 7),
        ];
        let t = ZoneTableV4::build(&nets).expect("fits");
        // 10.1.0.0/16 and 192.168.0.0/16 hold longer prefixes; 10.1.3.0/24 holds two more.
        assert_eq!(t.blocks(), 3);
        for slot in [0, 1] {
            let img = image(&t, slot);
            for addr in [
                [10, 1, 3, 7],
                [10, 1, 3, 8],
                [10, 1, 3, 129],
                [10, 1, 2, 1],
                [10, 1, 4, 1],
                [10, 2, 0, 1],
                [11, 0, 0, 1],
                [192, 168, 0, 1],
                [192, 168, 1, 1],
                [172, 31, 255, 255],
                [172, 32, 0, 0],
            ] {
                assert_eq!(
                    zone(&img, slot, addr),
                    reference(&nets, addr),
                    "slot {slot} {addr:?}"
                );
            }
        }
    }

    #[test]
    fn slots_do_not_see_each_other() {
        let a = ZoneTableV4::build(&[net([10, 0, 0, 0], 24, 1)]).expect("fits");
        let b = ZoneTableV4::build(&[net([10, 0, 0, 0], 24, 2)]).expect("fits");
        let mut img = image(&a, 0);
        img.extend(image(&b, 1));
        assert_eq!(zone(&img, 0, [10, 0, 0, 1]), 1);
        assert_eq!(zone(&img, 1, [10, 0, 0, 1]), 2);
    }

    #[test]
    fn flags_survive_every_level() {
        let info = ZoneMatch {
            zone_id: 4096,
            flags: zone_flags::INTRA_ALLOW,
        };
        for prefix_len in [8, 20, 30] {
            let nets = [ZoneEntryV4 {
                prefix_len,
                addr: [10, 9, 8, 4],
                info,
            }];
            let img = image(&ZoneTableV4::build(&nets).expect("fits"), 1);
            assert_eq!(zone(&img, 1, [10, 9, 8, 5]), 4096 | 1 << 16);
        }
    }

    #[test]
    fn random_policies_match_a_brute_force_lpm() {
        // A small xorshift generator: deterministic, no dependency.
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..20 {
            let mut nets: Vec<ZoneEntryV4> = Vec::new();
            for z in 0..40u16 {
                let r = next();
                // Addresses clustered in 10.0.0.0/14 so networks nest and share blocks.
                let addr = [10, (r & 3) as u8, (r >> 8) as u8, (r >> 16) as u8];
                let prefix_len = [8, 14, 16, 18, 22, 24, 26, 29, 32][(r >> 24) as usize % 9];
                let a = u32::from_be_bytes(addr) & (u32::MAX << (32 - prefix_len));
                if nets
                    .iter()
                    .any(|n| n.prefix_len == prefix_len && u32::from_be_bytes(n.addr) == a)
                {
                    continue;
                }
                nets.push(net(a.to_be_bytes(), prefix_len, z + 1));
            }
            let t = ZoneTableV4::build(&nets).expect("fits");
            let img = image(&t, (next() & 1) as u8);
            let slot = if img.contains_key(&0) { 0 } else { 1 };
            for _ in 0..2000 {
                let r = next();
                let addr = [
                    if r & 0x100 == 0 { 10 } else { 11 },
                    (r & 3) as u8,
                    (r >> 8) as u8,
                    (r >> 16) as u8,
                ];
                assert_eq!(zone(&img, slot, addr), reference(&nets, addr), "{addr:?}");
            }
        }
    }

    #[test]
    fn refuses_more_blocks_than_a_slot_holds() {
        // One /32 in each of BLOCKS_PER_SLOT / 2 + 1 distinct /16s: two blocks each.
        let nets: Vec<ZoneEntryV4> = (0..=BLOCKS_PER_SLOT / 2)
            .map(|i| net([1 + (i >> 8) as u8, i as u8, 0, 1], 32, 1))
            .collect();
        let err = ZoneTableV4::build(&nets).expect_err("too many blocks");
        assert_eq!(err.needed, BLOCKS_PER_SLOT as usize + 2);
        let fits: Vec<ZoneEntryV4> = nets[..BLOCKS_PER_SLOT as usize / 2].to_vec();
        assert_eq!(
            ZoneTableV4::build(&fits).expect("fits").blocks(),
            BLOCKS_PER_SLOT as usize
        );
    }
}
