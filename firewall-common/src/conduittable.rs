//! The conduit entries of a policy as a bucketized cuckoo hash table in an array map, looked
//! up inline by the XDP program: two array reads and at most eight key compares, instead of a
//! call into the kernel's hash map (a hit there costs about 27 ns on the reference machine,
//! most of it the call, `jhash` and the return; this costs a few).
//!
//! Every [`ConduitKey`] packs into 64 bits ([`pack`]), which are stored whole, so a lookup
//! compares keys exactly: there are no false hits. A key lives in one of two buckets of
//! [`BUCKET_ENTRIES`] entries, picked by two multiplicative (Fibonacci) hashes of its packed
//! bits; the daemon places keys with cuckoo insertion (`compile::conduit_table`). Each slot
//! owns [`BUCKETS_PER_SLOT`] buckets, four times the entries of a full policy, so insertion
//! always succeeds in practice (the compiler refuses a policy if it ever did not).
//!
//! Packed key 0 would mean zone 0, which no zone has: an entry with key 0 is empty.

use crate::maps::{ConduitAction, ConduitKey, capacity};

/// log2 of the buckets of one slot.
pub const BUCKETS_LOG2: u32 = 16;
/// Buckets of one slot.
pub const BUCKETS_PER_SLOT: u32 = 1 << BUCKETS_LOG2;
/// Buckets of [`crate::maps::names::CONDUIT_TABLE`]: both slots.
pub const BUCKETS: u32 = 2 * BUCKETS_PER_SLOT;
/// Entries per bucket (one 64-byte cache line).
pub const BUCKET_ENTRIES: usize = 4;

const _: () = {
    // At most half full with the largest policy (half of CONDUIT_ENTRIES, which counts both
    // slots): cuckoo insertion then never runs long.
    assert!(BUCKETS_PER_SLOT as usize * BUCKET_ENTRIES >= capacity::CONDUIT_ENTRIES as usize);
    assert!(core::mem::size_of::<ConduitEntry>() == 16);
    assert!(core::mem::align_of::<ConduitEntry>() == 8);
    assert!(core::mem::size_of::<ConduitBucket>() == 64);
    assert!(core::mem::align_of::<ConduitBucket>() == 64);
};

/// Multipliers of the two bucket hashes: odd, with well-mixed bits (the 64-bit golden ratio
/// and the prime of xxHash64).
const HASH_1: u64 = 0x9e37_79b9_7f4a_7c15;
const HASH_2: u64 = 0xc2b2_ae3d_27d4_eb4f;

/// One entry: a packed key and what it maps to.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConduitEntry {
    /// [`pack`] of the key; 0 = empty.
    pub key: u64,
    pub action: ConduitAction,
}

/// One bucket: a cache line of entries.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConduitBucket {
    pub entries: [ConduitEntry; BUCKET_ENTRIES],
}

/// The 64 bits of `key` other than its slot: zones, protocol, level and value, each field in
/// its own bits, so two keys pack alike only if they are the same key.
#[inline(always)]
pub const fn pack(key: &ConduitKey) -> u64 {
    (key.src_zone as u64) << 48
        | (key.dst_zone as u64) << 32
        | (key.proto as u64) << 24
        | (key.level as u64) << 16
        | key.value as u64
}

/// The two buckets (within a slot, `0..BUCKETS_PER_SLOT`) a packed key may live in. They may
/// be the same bucket.
#[inline(always)]
pub const fn buckets_of(packed: u64) -> (u32, u32) {
    (
        (packed.wrapping_mul(HASH_1) >> (64 - BUCKETS_LOG2)) as u32,
        (packed.wrapping_mul(HASH_2) >> (64 - BUCKETS_LOG2)) as u32,
    )
}

/// Index in [`crate::maps::names::CONDUIT_TABLE`] of bucket `bucket` of `slot`.
#[inline(always)]
pub const fn bucket_index(slot: u8, bucket: u32) -> u32 {
    (slot as u32 & 1) * BUCKETS_PER_SLOT + bucket % BUCKETS_PER_SLOT
}

/// The action of `key` in `slot`'s table, reading buckets through `bucket` (an array map
/// lookup in the XDP program).
#[inline(always)]
pub fn lookup<'a>(
    key: &ConduitKey,
    bucket: impl Fn(u32) -> Option<&'a ConduitBucket>,
) -> Option<ConduitAction> {
    let packed = pack(key);
    let (first, second) = buckets_of(packed);
    for b in [first, second] {
        if let Some(bucket) = bucket(bucket_index(key.slot, b)) {
            for entry in &bucket.entries {
                if entry.key == packed {
                    return Some(entry.action);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conduit::{Level, key_at, point};

    #[test]
    fn packing_keeps_every_field_apart() {
        let base = key_at(0, 3, 4, point(6, 502), Level::Exact);
        let variants = [
            ConduitKey {
                src_zone: 4,
                ..base
            },
            ConduitKey {
                dst_zone: 3,
                ..base
            },
            ConduitKey { proto: 17, ..base },
            ConduitKey { level: 1, ..base },
            ConduitKey { value: 503, ..base },
        ];
        for v in variants {
            assert_ne!(pack(&v), pack(&base), "{v:?}");
        }
        // The slot is not part of the packed key: it picks the table half.
        assert_eq!(pack(&ConduitKey { slot: 1, ..base }), pack(&base));
        assert_ne!(pack(&key_at(0, 1, 0, 0, Level::AnyProtocol)), 0);
    }

    #[test]
    fn buckets_stay_in_their_slots_half() {
        for (src, dst, p) in [
            (1, 1, 0),
            (7, 9, point(17, 161)),
            (u16::MAX, u16::MAX, 0xff_ffff),
        ] {
            let (a, b) = buckets_of(pack(&key_at(0, src, dst, p, Level::Exact)));
            assert!(a < BUCKETS_PER_SLOT && b < BUCKETS_PER_SLOT);
            assert_eq!(bucket_index(0, a), a);
            assert_eq!(bucket_index(1, b), BUCKETS_PER_SLOT + b);
        }
    }

    #[test]
    fn lookup_reads_both_buckets_of_the_keys_slot() {
        let key = key_at(1, 2, 3, point(6, 443), Level::Exact);
        let (first, second) = buckets_of(pack(&key));
        let action = ConduitAction {
            conduit_id: 7,
            ..Default::default()
        };
        let mut in_second = ConduitBucket::default();
        in_second.entries[3] = ConduitEntry {
            key: pack(&key),
            action,
        };
        let empty = ConduitBucket::default();
        let read = |i: u32| {
            if i == bucket_index(1, second) {
                Some(&in_second)
            } else {
                assert!(i == bucket_index(1, first), "read bucket {i}");
                Some(&empty)
            }
        };
        assert_eq!(lookup(&key, read), Some(action));
        // The same key in slot 0 reads slot 0's buckets, which are empty here.
        let slot0 = ConduitKey { slot: 0, ..key };
        assert_eq!(lookup(&slot0, |_| Some(&empty)), None);
        // Another port of the same pair is not found in the same buckets.
        let other = key_at(1, 2, 3, point(6, 444), Level::Exact);
        assert_eq!(lookup(&other, |_| Some(&in_second)), None);
    }
}
