//! First-match partition of the conduit point space (see [`firewall_common::conduit`]).
//!
//! Rules are offered in policy order; each point belongs to the first rule that covers it.
//! The validator uses it to find rules that can never match, the compiler to build the
//! disjoint intervals it covers with lookup entries.

use std::collections::BTreeMap;

/// Disjoint inclusive intervals of points, each owned by the first claimant.
#[derive(Clone, Debug)]
pub struct FirstMatch<T> {
    /// start → (last, owner)
    owned: BTreeMap<u32, (u32, T)>,
}

impl<T> Default for FirstMatch<T> {
    fn default() -> Self {
        FirstMatch {
            owned: BTreeMap::new(),
        }
    }
}

impl<T: Copy + PartialEq> FirstMatch<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives `owner` every point of `[first, last]` no earlier claim owns. Returns the number
    /// of points it got (0: the interval was entirely claimed already).
    pub fn claim(&mut self, first: u32, last: u32, owner: T) -> u64 {
        let free = self.free_parts(first, last);
        let mut got = 0;
        for (a, b) in free {
            self.owned.insert(a, (b, owner));
            got += u64::from(b - a) + 1;
        }
        got
    }

    /// The parts of `[first, last]` nobody owns yet.
    fn free_parts(&self, first: u32, last: u32) -> Vec<(u32, u32)> {
        let mut free = Vec::new();
        if first > last {
            return free;
        }
        let mut cursor = u64::from(first);
        if let Some((_, &(end, _))) = self.owned.range(..first).next_back() {
            cursor = cursor.max(u64::from(end) + 1);
        }
        for (&start, &(end, _)) in self.owned.range(first..=last) {
            if u64::from(start) > cursor {
                free.push((cursor as u32, start - 1));
            }
            cursor = cursor.max(u64::from(end) + 1);
        }
        if cursor <= u64::from(last) {
            free.push((cursor as u32, last));
        }
        free
    }

    /// Owners of the points of `[first, last]` already claimed, each once, in point order.
    pub fn owners_in(&self, first: u32, last: u32) -> Vec<T> {
        let mut owners: Vec<T> = Vec::new();
        let before = self
            .owned
            .range(..first)
            .next_back()
            .filter(|(_, (end, _))| *end >= first)
            .map(|(_, (_, o))| *o);
        let inside = self.owned.range(first..=last).map(|(_, (_, o))| *o);
        for o in before.into_iter().chain(inside) {
            if !owners.contains(&o) {
                owners.push(o);
            }
        }
        owners
    }

    /// The owner of `point`, if claimed.
    pub fn owner_of(&self, point: u32) -> Option<T> {
        self.owned
            .range(..=point)
            .next_back()
            .filter(|(_, (end, _))| *end >= point)
            .map(|(_, (_, o))| *o)
    }

    /// Owned intervals in ascending order, adjacent intervals whose owners map to the same
    /// `key` merged into one.
    pub fn merged_by<K: PartialEq>(&self, key: impl Fn(T) -> K) -> Vec<(u32, u32, K)> {
        let mut out: Vec<(u32, u32, K)> = Vec::new();
        for (&start, &(end, owner)) in &self.owned {
            let k = key(owner);
            match out.last_mut() {
                Some(prev) if u64::from(prev.1) + 1 == u64::from(start) && prev.2 == k => {
                    prev.1 = end;
                }
                _ => out.push((start, end, k)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_claim_wins_and_gaps_go_to_later_claims() {
        let mut fm = FirstMatch::new();
        assert_eq!(fm.claim(10, 20, 'a'), 11);
        assert_eq!(fm.claim(30, 40, 'b'), 11);
        assert_eq!(fm.claim(0, 50, 'c'), 51 - 22);
        assert_eq!(fm.claim(15, 35, 'd'), 0);
        assert_eq!(fm.owner_of(9), Some('c'));
        assert_eq!(fm.owner_of(10), Some('a'));
        assert_eq!(fm.owner_of(25), Some('c'));
        assert_eq!(fm.owner_of(40), Some('b'));
        assert_eq!(fm.owner_of(51), None);
        assert_eq!(fm.owners_in(15, 35), vec!['a', 'c', 'b']);
        assert_eq!(
            fm.merged_by(|o| o),
            vec![
                (0, 9, 'c'),
                (10, 20, 'a'),
                (21, 29, 'c'),
                (30, 40, 'b'),
                (41, 50, 'c')
            ]
        );
        assert_eq!(
            fm.merged_by(|o| o != 'a'),
            vec![(0, 9, true), (10, 20, false), (21, 50, true)]
        );
    }

    #[test]
    fn extremes() {
        let mut fm = FirstMatch::new();
        assert_eq!(fm.claim(0, u32::MAX, 1), 1 << 32);
        assert_eq!(fm.claim(u32::MAX, u32::MAX, 2), 0);
        let mut fm = FirstMatch::new();
        assert_eq!(fm.claim(u32::MAX, u32::MAX, 2), 1);
        assert_eq!(fm.claim(0, u32::MAX, 1), u64::from(u32::MAX));
        assert_eq!(
            fm.merged_by(|o| o),
            vec![(0, u32::MAX - 1, 1), (u32::MAX, u32::MAX, 2)]
        );
    }

    /// Against a brute-force array on a small space.
    #[test]
    fn matches_brute_force() {
        let mut seed = 7u32;
        let mut rnd = move |n: u32| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 8) % n
        };
        for _ in 0..200 {
            let mut fm = FirstMatch::new();
            let mut brute = [None; 64];
            for owner in 0..8u8 {
                let a = rnd(64);
                let b = (a + rnd(16)).min(63);
                let mut want = 0;
                for slot in &mut brute[a as usize..=b as usize] {
                    if slot.is_none() {
                        *slot = Some(owner);
                        want += 1;
                    }
                }
                assert_eq!(fm.claim(a, b, owner), want);
            }
            for (p, want) in brute.iter().enumerate() {
                assert_eq!(fm.owner_of(p as u32), *want);
            }
        }
    }
}
