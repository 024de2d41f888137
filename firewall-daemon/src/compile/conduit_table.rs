//! Places the conduit entries of a policy in the cuckoo hash table the XDP program reads
//! inline (`firewall_common::conduittable`).

use firewall_common::{
    conduittable::{
        self, BUCKET_ENTRIES, BUCKETS_PER_SLOT, ConduitBucket, ConduitEntry, buckets_of, pack,
    },
    maps::{ConduitAction, ConduitKey},
};

/// Evictions one insertion may cause before the table counts as full. At the table's load
/// (at most half full) an insertion needs a handful; this bound only stops a cycle.
const MAX_KICKS: usize = 4_096;

/// The conduit table of one policy, independent of the slot it goes to: only the buckets
/// holding entries are kept; every other bucket is empty.
#[derive(Clone, PartialEq, Eq)]
pub struct ConduitTable {
    /// (bucket within a slot, bucket), ascending by bucket.
    buckets: Vec<(u32, ConduitBucket)>,
    entries: usize,
}

impl std::fmt::Debug for ConduitTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConduitTable")
            .field("entries", &self.entries)
            .field("buckets", &self.buckets.len())
            .finish()
    }
}

/// Cuckoo insertion found no place for an entry (never seen at the table's load).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableFull {
    pub placed: usize,
}

impl ConduitTable {
    /// Places every entry in one of its two buckets, moving earlier entries to their other
    /// bucket when both are full. Deterministic: the same entries give the same table.
    pub fn build(entries: &[(ConduitKey, ConduitAction)]) -> Result<Self, TableFull> {
        let mut table = vec![ConduitBucket::default(); BUCKETS_PER_SLOT as usize];
        // xorshift64: which entry of a full bucket to evict, reproducibly.
        let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
        for (placed, (key, action)) in entries.iter().enumerate() {
            let mut entry = ConduitEntry {
                key: pack(key),
                action: *action,
            };
            debug_assert_ne!(entry.key, 0, "zone ids start at 1");
            let (first, second) = buckets_of(entry.key);
            if let Some((b, i)) = free_place(&table, first).or_else(|| free_place(&table, second)) {
                table[b as usize].entries[i] = entry;
                continue;
            }
            // Both buckets full: evict a random entry of one and carry it on to its other
            // bucket, until an evicted entry finds room there.
            let mut bucket = first;
            let mut placed_it = false;
            for _ in 0..MAX_KICKS {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let victim = (rng % BUCKET_ENTRIES as u64) as usize;
                std::mem::swap(&mut table[bucket as usize].entries[victim], &mut entry);
                let (a, b) = buckets_of(entry.key);
                bucket = if a == bucket { b } else { a };
                if let Some(i) = free_index(&table[bucket as usize]) {
                    table[bucket as usize].entries[i] = entry;
                    placed_it = true;
                    break;
                }
            }
            if !placed_it {
                return Err(TableFull { placed });
            }
        }
        let buckets = table
            .into_iter()
            .enumerate()
            .filter(|(_, b)| *b != ConduitBucket::default())
            .map(|(i, b)| (i as u32, b))
            .collect();
        Ok(ConduitTable {
            buckets,
            entries: entries.len(),
        })
    }

    /// Entries in the table.
    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Buckets holding at least one entry.
    pub fn used_buckets(&self) -> usize {
        self.buckets.len()
    }

    /// Every bucket of `slot`'s half of the map (index, value), empty ones included, ascending.
    pub fn buckets(&self, slot: u8) -> impl Iterator<Item = (u32, ConduitBucket)> + '_ {
        let mut used = self.buckets.iter().peekable();
        (0..BUCKETS_PER_SLOT).map(move |b| {
            let bucket = match used.peek() {
                Some((i, bucket)) if *i == b => {
                    used.next();
                    *bucket
                }
                _ => ConduitBucket::default(),
            };
            (conduittable::bucket_index(slot, b), bucket)
        })
    }

    /// What the XDP program finds for `key` (in any slot: the table is the same in both).
    pub fn lookup(&self, key: &ConduitKey) -> Option<ConduitAction> {
        conduittable::lookup(key, |index| {
            let b = index % BUCKETS_PER_SLOT;
            self.buckets
                .binary_search_by_key(&b, |(i, _)| *i)
                .ok()
                .map(|at| &self.buckets[at].1)
        })
    }
}

fn free_index(bucket: &ConduitBucket) -> Option<usize> {
    bucket.entries.iter().position(|e| e.key == 0)
}

fn free_place(table: &[ConduitBucket], bucket: u32) -> Option<(u32, usize)> {
    free_index(&table[bucket as usize]).map(|i| (bucket, i))
}

#[cfg(test)]
mod tests {
    use firewall_common::conduit::{Level, key_at, point};

    use super::*;

    fn action(id: u16) -> ConduitAction {
        ConduitAction {
            conduit_id: id,
            profile_id: id / 3,
            flags: (id % 4) as u8,
            inspector: (id % 3) as u8,
            rule_id: id,
        }
    }

    /// Distinct entries like a big policy's: many pairs, single ports and blocks.
    fn entries(n: usize) -> Vec<(ConduitKey, ConduitAction)> {
        (0..n)
            .map(|i| {
                let (src, dst) = (1 + (i % 256) as u16, 1 + (i / 256 % 256) as u16);
                let level = if i % 5 == 0 {
                    Level::Block
                } else {
                    Level::Exact
                };
                let value = (i / 65_536) as u32 * 1_000 + 7;
                let key = key_at(0, src, dst, point(6, value as u16), level);
                (key, action(1 + (i % 16_000) as u16))
            })
            .collect()
    }

    #[test]
    fn every_entry_is_found_with_its_action_and_nothing_else_is() {
        for n in [0, 1, 10, 5_000, 131_072] {
            let entries = entries(n);
            let table = ConduitTable::build(&entries).expect("the table has room");
            assert_eq!(table.len(), entries.len());
            for (key, action) in &entries {
                for slot in [0, 1] {
                    let key = ConduitKey { slot, ..*key };
                    assert_eq!(table.lookup(&key), Some(*action), "{key:?} of {n}");
                }
            }
            let keys: std::collections::HashSet<u64> =
                entries.iter().map(|(k, _)| pack(k)).collect();
            let mut absent = 0;
            for i in 0..2_000u16 {
                let key = key_at(0, 1 + i % 50, 1 + i % 41, point(17, i), Level::Exact);
                if !keys.contains(&pack(&key)) {
                    assert_eq!(table.lookup(&key), None, "{key:?}");
                    absent += 1;
                }
            }
            assert_eq!(absent, 2_000);
        }
    }

    #[test]
    fn the_largest_policy_fits_and_every_bucket_of_a_slot_is_written() {
        let entries = entries(131_072);
        let table = ConduitTable::build(&entries).expect("half full at most");
        for slot in [0u8, 1] {
            let buckets: Vec<(u32, ConduitBucket)> = table.buckets(slot).collect();
            assert_eq!(buckets.len(), BUCKETS_PER_SLOT as usize);
            let first = slot as u32 * BUCKETS_PER_SLOT;
            assert!(
                buckets
                    .iter()
                    .enumerate()
                    .all(|(i, (index, _))| *index == first + i as u32)
            );
            let stored: usize = buckets
                .iter()
                .map(|(_, b)| b.entries.iter().filter(|e| e.key != 0).count())
                .sum();
            assert_eq!(stored, entries.len());
        }
    }

    #[test]
    fn building_is_deterministic() {
        let entries = entries(20_000);
        assert_eq!(ConduitTable::build(&entries), ConduitTable::build(&entries));
    }

    #[test]
    fn a_table_without_room_is_refused() {
        // More entries than places: insertion must give up, not loop.
        let too_many: Vec<_> = (0..(BUCKETS_PER_SLOT as usize * BUCKET_ENTRIES + 1))
            .map(|i| {
                let key = key_at(0, 1 + (i >> 16) as u16, 1, point(6, i as u16), Level::Exact);
                (key, action(1))
            })
            .collect();
        let err = ConduitTable::build(&too_many).expect_err("cannot fit");
        assert!(err.placed <= BUCKETS_PER_SLOT as usize * BUCKET_ENTRIES);
    }
}
