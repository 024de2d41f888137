//! How conduit rules are found in O(1), whatever their number and port ranges.
//!
//! A rule covers points of a 24-bit space: `proto << 16 | value`, where `value` is the TCP/UDP
//! destination port or the ICMP `type << 8 | code`. The compiler splits that space, per zone
//! pair, into disjoint intervals (first matching rule in policy order wins) and covers each
//! interval with aligned blocks of four sizes, one [`Level`] each. A packet's point lies in at
//! most one block, found by at most four exact-match hash lookups, one per level, most
//! specific first. Lookup cost does not depend on the number of rules or on range widths.

use crate::maps::ConduitKey;

/// Zone ids below this have the level mask of their pairs in the dense array
/// [`crate::maps::names::PAIR_MASKS`], read inline without hashing; pairs with a larger zone
/// id use the [`crate::maps::names::ZONE_PAIRS`] hash. Real policies have far fewer zones.
pub const DENSE_ZONES: u32 = 256;
/// Pair masks (4 bits each, one per [`Level`]) per `u64` word.
pub const PAIRS_PER_WORD: u32 = 16;
/// Words of [`crate::maps::names::PAIR_MASKS`]: every dense pair of both slots.
pub const PAIR_MASK_WORDS: u32 = 2 * DENSE_ZONES * DENSE_ZONES / PAIRS_PER_WORD;

/// Where the level mask of (`src_zone`, `dst_zone`) in `slot` lives in the dense array:
/// word index and bit shift. `None` when a zone id is too large for it.
#[inline(always)]
pub const fn pair_mask_at(slot: u8, src_zone: u16, dst_zone: u16) -> Option<(u32, u32)> {
    if src_zone as u32 >= DENSE_ZONES || dst_zone as u32 >= DENSE_ZONES {
        return None;
    }
    let pair = (slot as u32 & 1) * DENSE_ZONES * DENSE_ZONES
        + src_zone as u32 * DENSE_ZONES
        + dst_zone as u32;
    Some((pair / PAIRS_PER_WORD, (pair % PAIRS_PER_WORD) * 4))
}

/// log2 of the bits of the conduit filter per slot.
pub const FILTER_BITS_LOG2: u32 = 20;
/// Words of [`crate::maps::names::CONDUIT_FILTER`]: the filters of both slots.
pub const FILTER_WORDS: u32 = 2 << (FILTER_BITS_LOG2 - 6);

/// Where the bit of `key` lives in the conduit filter: word index (in the half of `key.slot`)
/// and bit mask.
///
/// The filter is a one-hash Bloom filter in front of [`crate::maps::names::CONDUIT_TABLE`]: the
/// daemon sets the bit of every entry it writes, and the data path looks a key up only when
/// its bit is set. A clear bit proves there is no entry, so a denied packet (a scan, a flood)
/// is decided by one read of a small array instead of two in the table; a set bit may be another
/// key's (a false positive, about 1 % at 10,000 entries), which only costs the lookup.
/// The key's fields other than the slot fill exactly 64 bits; Fibonacci hashing (one
/// multiplication) spreads neighbouring ports over the whole filter, and no two ports of one
/// zone pair and protocol share a bit: scanning a pair's ports finds only the open ones set.
#[inline(always)]
pub const fn filter_at(key: &ConduitKey) -> (u32, u64) {
    let packed = crate::conduittable::pack(key);
    let bit = (packed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - FILTER_BITS_LOG2)) as u32;
    (
        (key.slot as u32 & 1) << (FILTER_BITS_LOG2 - 6) | bit >> 6,
        1 << (bit & 63),
    )
}

/// Block size of a conduit entry.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// One point: exact protocol and port (or ICMP type and code).
    Exact = 0,
    /// 256 points: exact protocol, `value >> 8` (a port block, or an ICMP type with any code).
    Block = 1,
    /// 65,536 points: one protocol, any port.
    Protocol = 2,
    /// The whole space: any protocol.
    AnyProtocol = 3,
}

impl Level {
    /// Levels in lookup order.
    pub const ALL: [Level; 4] = [
        Level::Exact,
        Level::Block,
        Level::Protocol,
        Level::AnyProtocol,
    ];

    /// log2 of the number of points one block of this level covers.
    pub const fn shift(self) -> u32 {
        match self {
            Level::Exact => 0,
            Level::Block => 8,
            Level::Protocol => 16,
            Level::AnyProtocol => 24,
        }
    }

    pub const fn from_u8(v: u8) -> Option<Level> {
        match v {
            0 => Some(Level::Exact),
            1 => Some(Level::Block),
            2 => Some(Level::Protocol),
            3 => Some(Level::AnyProtocol),
            _ => None,
        }
    }
}

/// Largest point of the space.
pub const POINT_MAX: u32 = (1 << 24) - 1;

/// The point of a packet: protocol and port (or ICMP type/code).
#[inline(always)]
pub const fn point(proto: u8, value: u16) -> u32 {
    (proto as u32) << 16 | value as u32
}

/// The lookup key of `point` at `level`, for zone pair (`src_zone`, `dst_zone`) in `slot`.
#[inline(always)]
pub const fn key_at(
    slot: u8,
    src_zone: u16,
    dst_zone: u16,
    point: u32,
    level: Level,
) -> ConduitKey {
    let (proto, value) = match level {
        Level::Exact => ((point >> 16) as u8, point as u16),
        Level::Block => ((point >> 16) as u8, ((point >> 8) & 0xff) as u16),
        Level::Protocol => ((point >> 16) as u8, 0),
        Level::AnyProtocol => (0, 0),
    };
    ConduitKey {
        slot,
        level: level as u8,
        proto,
        _pad: 0,
        src_zone,
        dst_zone,
        value,
        _pad2: 0,
    }
}

/// Covers the inclusive interval `[start, end]` of points with the fewest aligned blocks of
/// the four level sizes, calling `emit(level, block_start)` for each, in ascending order.
/// Returns the number of blocks. Points above [`POINT_MAX`] are clamped.
pub fn cover(start: u32, end: u32, mut emit: impl FnMut(Level, u32)) -> u32 {
    let end = if end > POINT_MAX { POINT_MAX } else { end };
    let mut at = start as u64;
    let end = end as u64;
    let mut n = 0;
    while at <= end {
        // Largest level whose block starts at `at` and fits in the interval.
        let mut chosen = Level::Exact;
        for level in [Level::AnyProtocol, Level::Protocol, Level::Block] {
            let size = 1u64 << level.shift();
            if at.is_multiple_of(size) && at + size - 1 <= end {
                chosen = level;
                break;
            }
        }
        emit(chosen, at as u32);
        n += 1;
        at += 1u64 << chosen.shift();
    }
    n
}

#[cfg(test)]
mod pair_mask_tests {
    use super::*;

    #[test]
    fn every_dense_pair_of_both_slots_has_its_own_four_bits() {
        let mut seen = alloc::collections::BTreeSet::new();
        for slot in [0u8, 1] {
            for src in 0..DENSE_ZONES as u16 {
                for dst in 0..DENSE_ZONES as u16 {
                    let (word, shift) = pair_mask_at(slot, src, dst).unwrap();
                    assert!(word < PAIR_MASK_WORDS && shift <= 60);
                    assert!(seen.insert((word, shift)));
                }
            }
        }
        assert_eq!(pair_mask_at(0, DENSE_ZONES as u16, 1), None);
        assert_eq!(pair_mask_at(1, 1, 4096), None);
        assert!(
            Level::AnyProtocol as u32 <= 3,
            "a level mask fits four bits"
        );
    }
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    #[test]
    fn each_slot_has_its_own_half_of_the_filter() {
        let half = FILTER_WORDS / 2;
        for (src, dst, p) in [
            (0, 0, 0),
            (1, 2, point(6, 502)),
            (u16::MAX, u16::MAX, POINT_MAX),
        ] {
            for level in Level::ALL {
                let (w0, b0) = filter_at(&key_at(0, src, dst, p, level));
                let (w1, b1) = filter_at(&key_at(1, src, dst, p, level));
                assert!(w0 < half, "slot 0 stays in the first half");
                assert!((half..FILTER_WORDS).contains(&w1), "slot 1 in the second");
                assert_eq!((w0 + half, b0), (w1, b1), "same bit, other half");
                assert_eq!(b0.count_ones(), 1);
            }
        }
    }

    #[test]
    fn neighbouring_keys_spread_over_the_filter() {
        // 10,000 conduit ports of one pair, and one port on 10,000 pairs: almost every key
        // gets a bit of its own (a false positive rate near 1 %, not a clustered filter).
        let mut ports = alloc::collections::BTreeSet::new();
        let mut pairs = alloc::collections::BTreeSet::new();
        for i in 0..10_000u32 {
            ports.insert(filter_at(&key_at(
                0,
                1,
                2,
                point(6, i as u16),
                Level::Exact,
            )));
            let (src, dst) = ((i / 100) as u16 + 1, (i % 100) as u16 + 1);
            pairs.insert(filter_at(&key_at(0, src, dst, point(6, 502), Level::Exact)));
        }
        assert!(ports.len() > 9_900, "{} distinct bits", ports.len());
        assert!(pairs.len() > 9_900, "{} distinct bits", pairs.len());
        // Within one pair and protocol no two ports share a bit (consecutive multiples of the
        // golden ratio stay further apart than one bit): a port scan finds every bit clear
        // but those of open ports.
        let one_pair: alloc::collections::BTreeSet<_> = (0..=u16::MAX)
            .map(|p| filter_at(&key_at(1, 7, 9, point(17, p), Level::Exact)))
            .collect();
        assert_eq!(one_pair.len(), 65_536);
        // Keys that differ only in their level have different bits too.
        let levels: alloc::collections::BTreeSet<_> = Level::ALL
            .iter()
            .map(|&l| filter_at(&key_at(0, 1, 2, 0, l)))
            .collect();
        assert_eq!(levels.len(), 4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(start: u32, end: u32) -> ([(Level, u32); 1024], usize) {
        let mut out = [(Level::Exact, 0); 1024];
        let mut n = 0;
        cover(start, end, |l, s| {
            out[n] = (l, s);
            n += 1;
        });
        (out, n)
    }

    #[test]
    fn single_port_is_one_exact_entry() {
        let p = point(6, 502);
        let (b, n) = blocks(p, p);
        assert_eq!(n, 1);
        assert_eq!(b[0], (Level::Exact, p));
    }

    #[test]
    fn whole_protocol_and_whole_space() {
        let (b, n) = blocks(point(17, 0), point(17, 0xffff));
        assert_eq!(&b[..n], &[(Level::Protocol, point(17, 0))]);
        let (b, n) = blocks(0, POINT_MAX);
        assert_eq!(&b[..n], &[(Level::AnyProtocol, 0)]);
    }

    #[test]
    fn port_range_uses_blocks_and_covers_exactly() {
        // tcp 1000-65535: 24 exact ports (1000..=1023), then blocks 4..=255.
        let (b, n) = blocks(point(6, 1000), point(6, 65535));
        assert_eq!(n, 24 + 252);
        let mut covered = 0u32;
        let mut next = point(6, 1000);
        for &(l, s) in &b[..n] {
            assert_eq!(s, next, "blocks must be contiguous and ascending");
            assert_eq!(s % (1 << l.shift()), 0, "block must be aligned");
            covered += 1 << l.shift();
            next = s + (1 << l.shift());
        }
        assert_eq!(covered, 65535 - 1000 + 1);
    }

    #[test]
    fn each_point_found_at_exactly_one_level() {
        // Cover [6:21 .. 7:5] and check lookup keys of points inside and at the edges.
        let (b, n) = blocks(point(6, 21), point(7, 5));
        let keys: [ConduitKey; 1024] = core::array::from_fn(|i| {
            if i < n {
                key_at(0, 1, 2, b[i].1, b[i].0)
            } else {
                ConduitKey::default()
            }
        });
        let hits = |p: u32| {
            Level::ALL
                .iter()
                .filter(|&&l| keys[..n].contains(&key_at(0, 1, 2, p, l)))
                .count()
        };
        assert_eq!(hits(point(6, 20)), 0);
        assert_eq!(hits(point(6, 21)), 1);
        assert_eq!(hits(point(6, 300)), 1);
        assert_eq!(hits(point(6, 65535)), 1);
        assert_eq!(hits(point(7, 0)), 1);
        assert_eq!(hits(point(7, 5)), 1);
        assert_eq!(hits(point(7, 6)), 0);
    }
}
