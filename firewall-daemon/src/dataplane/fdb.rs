//! The bridge fast path's mirror of the bridges' forwarding databases (docs/fast-path.md,
//! "Bridge mode"): which netlink neighbour messages are entries the forwarder may switch by
//! ([`change_of`]), and the mirror that keeps `BRIDGE_FDB` equal to them ([`FdbMirror`]),
//! including a full resynchronisation from a dump that also removes what the dump no longer
//! lists.
//!
//! Only entries of the bridge itself (`NDA_MASTER`, not a port's own `self` entries), on
//! ports that have a [`BridgePort`] entry, without a VLAN and not local (`permanent`: the
//! bridge's own addresses, delivered to this host) are mirrored. Anything else is not in the
//! map, so its frames go to the bridge.

use std::collections::{BTreeMap, BTreeSet};

use firewall_common::forward::{BridgePort, FdbKey};
use netlink_packet_route::{
    AddressFamily, RouteNetlinkMessage,
    neighbour::{NeighbourAttribute, NeighbourExtFlags, NeighbourFlags, NeighbourState},
};

/// What a neighbour message means to the mirror.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdbChange {
    /// `key` is behind port `port`.
    Learned { key: FdbKey, port: u32 },
    /// `key` is no longer behind port `port` (a removal).
    Forgotten { key: FdbKey, port: u32 },
    /// `key` is now somewhere the fast path does not switch to (a port zcfw has no entry
    /// for, the bridge itself, a locked entry): whatever port it was behind, it is not
    /// there any more.
    Elsewhere { key: FdbKey },
}

/// The change `msg` makes to the mirror of the bridges whose ports are `ports`, if any.
pub fn change_of(
    msg: &RouteNetlinkMessage,
    ports: &BTreeMap<u32, BridgePort>,
) -> Option<FdbChange> {
    let (m, new) = match msg {
        RouteNetlinkMessage::NewNeighbour(m) => (m, true),
        RouteNetlinkMessage::DelNeighbour(m) => (m, false),
        _ => return None,
    };
    if m.header.family != AddressFamily::Bridge || m.header.flags.contains(NeighbourFlags::Own) {
        return None;
    }
    let mut mac = None;
    let mut master = None;
    let mut locked = false;
    for a in &m.attributes {
        match a {
            NeighbourAttribute::LinkLayerAddress(a) => mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
            NeighbourAttribute::Controller(i) => master = Some(*i),
            // Entries of a VLAN: the mirror serves bridges without VLAN filtering only.
            NeighbourAttribute::Vlan(v) if *v != 0 => return None,
            // An 802.1X / MAB port's entry for a host not (yet) authorised: the bridge drops
            // its frames, so must the fast path.
            NeighbourAttribute::ExtFlags(f) => locked = f.contains(NeighbourExtFlags::Locked),
            _ => {}
        }
    }
    // Only bridges with a port of the policy are mirrored.
    let bridge = master.filter(|b| ports.values().any(|p| p.bridge == *b))?;
    let key = FdbKey::new(bridge, mac?);
    let port = m.header.ifindex;
    if !new {
        return Some(FdbChange::Forgotten { key, port });
    }
    let on_a_port = ports.get(&port).is_some_and(|p| p.bridge == bridge);
    // A local (permanent) entry is the bridge's own address: never switched to a port.
    if on_a_port && !locked && m.header.state != NeighbourState::Permanent {
        Some(FdbChange::Learned { key, port })
    } else {
        Some(FdbChange::Elsewhere { key })
    }
}

/// Where the mirror is written: the `BRIDGE_FDB` map (or a test's map).
pub trait FdbStore {
    type Error;
    fn insert(&mut self, key: FdbKey, port: u32) -> Result<(), Self::Error>;
    fn remove(&mut self, key: &FdbKey) -> Result<(), Self::Error>;
}

/// What the mirror has written, and the keys a running resynchronisation has confirmed.
#[derive(Debug, Default)]
pub struct FdbMirror {
    written: BTreeMap<FdbKey, u32>,
    /// `Some` while a dump runs: keys the dump listed or a change touched since it began.
    confirmed: Option<BTreeSet<FdbKey>>,
}

impl FdbMirror {
    /// Entries written.
    pub fn len(&self) -> usize {
        self.written.len()
    }

    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    /// Applies one change (from an event or a dump).
    pub fn apply<S: FdbStore>(&mut self, change: FdbChange, store: &mut S) -> Result<(), S::Error> {
        match change {
            FdbChange::Learned { key, port } => {
                if let Some(c) = &mut self.confirmed {
                    c.insert(key);
                }
                if self.written.get(&key) != Some(&port) {
                    store.insert(key, port)?;
                    self.written.insert(key, port);
                }
            }
            FdbChange::Forgotten { key, port } => {
                // A late removal from the port the address moved away from leaves the new
                // entry alone (and does not vouch for it in a resync).
                if self.written.get(&key) == Some(&port) {
                    store.remove(&key)?;
                    self.written.remove(&key);
                    if let Some(c) = &mut self.confirmed {
                        c.insert(key);
                    }
                }
            }
            FdbChange::Elsewhere { key } => {
                if let Some(c) = &mut self.confirmed {
                    c.insert(key);
                }
                if self.written.contains_key(&key) {
                    store.remove(&key)?;
                    self.written.remove(&key);
                }
            }
        }
        Ok(())
    }

    /// A dump begins: from now on, [`FdbMirror::end_resync`] removes every entry neither
    /// the dump nor a change confirms.
    pub fn begin_resync(&mut self) {
        self.confirmed = Some(BTreeSet::new());
    }

    /// The dump is complete: removes what it did not list. Returns the entries removed.
    pub fn end_resync<S: FdbStore>(&mut self, store: &mut S) -> Result<usize, S::Error> {
        let Some(confirmed) = self.confirmed.take() else {
            return Ok(0);
        };
        let stale: Vec<FdbKey> = self
            .written
            .keys()
            .filter(|k| !confirmed.contains(k))
            .copied()
            .collect();
        for key in &stale {
            store.remove(key)?;
            self.written.remove(key);
        }
        Ok(stale.len())
    }

    /// Removes every entry (no bridge port is fast any more).
    pub fn clear<S: FdbStore>(&mut self, store: &mut S) -> Result<(), S::Error> {
        self.confirmed = None;
        // An entry leaves `written` only once the map no longer holds it.
        while let Some((&key, _)) = self.written.first_key_value() {
            store.remove(&key)?;
            self.written.remove(&key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use netlink_packet_route::neighbour::{NeighbourHeader, NeighbourMessage};

    use super::*;

    const BR: u32 = 4;
    const A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];

    fn ports() -> BTreeMap<u32, BridgePort> {
        let port = BridgePort {
            bridge: BR,
            mtu: 1500,
            forwarding: 1,
            _pad: 0,
        };
        [(5, port), (6, port)].into_iter().collect()
    }

    fn neighbour(
        port: u32,
        state: NeighbourState,
        attributes: Vec<NeighbourAttribute>,
    ) -> NeighbourMessage {
        let mut m = NeighbourMessage::default();
        m.header = NeighbourHeader {
            family: AddressFamily::Bridge,
            ifindex: port,
            state,
            ..Default::default()
        };
        m.attributes = attributes;
        m
    }

    fn learned(port: u32, mac: [u8; 6]) -> RouteNetlinkMessage {
        RouteNetlinkMessage::NewNeighbour(neighbour(
            port,
            NeighbourState::Reachable,
            vec![
                NeighbourAttribute::LinkLayerAddress(mac.to_vec()),
                NeighbourAttribute::Controller(BR),
            ],
        ))
    }

    #[test]
    fn only_the_bridges_own_remote_entries_on_its_fast_ports_count() {
        let p = ports();
        let key = FdbKey::new(BR, A);
        assert_eq!(
            change_of(&learned(5, A), &p),
            Some(FdbChange::Learned { key, port: 5 })
        );
        // Moved to a port zcfw has no entry for: not behind any port it switches to.
        assert_eq!(
            change_of(&learned(9, A), &p),
            Some(FdbChange::Elsewhere { key })
        );
        // Locked (802.1X / MAB, not authorised): the bridge drops its frames.
        let locked = neighbour(
            5,
            NeighbourState::Reachable,
            vec![
                NeighbourAttribute::LinkLayerAddress(A.to_vec()),
                NeighbourAttribute::Controller(BR),
                NeighbourAttribute::ExtFlags(NeighbourExtFlags::Locked),
            ],
        );
        assert_eq!(
            change_of(&RouteNetlinkMessage::NewNeighbour(locked), &p),
            Some(FdbChange::Elsewhere { key })
        );
        // Local: the bridge's own address.
        let local = neighbour(
            5,
            NeighbourState::Permanent,
            vec![
                NeighbourAttribute::LinkLayerAddress(A.to_vec()),
                NeighbourAttribute::Controller(BR),
            ],
        );
        assert_eq!(
            change_of(&RouteNetlinkMessage::NewNeighbour(local), &p),
            Some(FdbChange::Elsewhere { key })
        );
        // A port's own (`self`) entry, no master, another bridge, a VLAN, not a MAC.
        let mut own = neighbour(
            5,
            NeighbourState::Noarp,
            vec![NeighbourAttribute::LinkLayerAddress(A.to_vec())],
        );
        own.header.flags = NeighbourFlags::Own;
        assert_eq!(change_of(&RouteNetlinkMessage::NewNeighbour(own), &p), None);
        for attrs in [
            vec![NeighbourAttribute::LinkLayerAddress(A.to_vec())],
            vec![
                NeighbourAttribute::LinkLayerAddress(A.to_vec()),
                NeighbourAttribute::Controller(7),
            ],
            vec![
                NeighbourAttribute::LinkLayerAddress(A.to_vec()),
                NeighbourAttribute::Controller(BR),
                NeighbourAttribute::Vlan(10),
            ],
            vec![
                NeighbourAttribute::LinkLayerAddress(vec![1, 2, 3]),
                NeighbourAttribute::Controller(BR),
            ],
        ] {
            let m = neighbour(5, NeighbourState::Reachable, attrs);
            assert_eq!(change_of(&RouteNetlinkMessage::NewNeighbour(m), &p), None);
        }
        // An IPv4 neighbour is not a bridge entry.
        let mut arp = neighbour(
            5,
            NeighbourState::Reachable,
            vec![NeighbourAttribute::Controller(BR)],
        );
        arp.header.family = AddressFamily::Inet;
        assert_eq!(change_of(&RouteNetlinkMessage::NewNeighbour(arp), &p), None);
        let RouteNetlinkMessage::NewNeighbour(m) = learned(6, A) else {
            unreachable!()
        };
        assert_eq!(
            change_of(&RouteNetlinkMessage::DelNeighbour(m), &p),
            Some(FdbChange::Forgotten { key, port: 6 })
        );
    }

    #[derive(Default)]
    struct Map(BTreeMap<FdbKey, u32>, usize);

    impl FdbStore for Map {
        type Error = ();
        fn insert(&mut self, key: FdbKey, port: u32) -> Result<(), ()> {
            self.1 += 1;
            self.0.insert(key, port);
            Ok(())
        }
        fn remove(&mut self, key: &FdbKey) -> Result<(), ()> {
            self.1 += 1;
            self.0.remove(key);
            Ok(())
        }
    }

    #[test]
    fn moves_late_removals_and_resyncs_keep_the_map_equal_to_the_bridge() {
        let (mut mirror, mut map) = (FdbMirror::default(), Map::default());
        let key = |last| FdbKey::new(BR, [2, 0, 0, 0, 0, last]);
        let learn = |k, port| FdbChange::Learned { key: k, port };
        let forget = |k, port| FdbChange::Forgotten { key: k, port };
        mirror.apply(learn(key(1), 5), &mut map).unwrap();
        // The same again writes nothing.
        mirror.apply(learn(key(1), 5), &mut map).unwrap();
        assert_eq!(map.1, 1);
        // The host moved to port 6; the removal from 5 arrives late and is ignored.
        mirror.apply(learn(key(1), 6), &mut map).unwrap();
        mirror.apply(forget(key(1), 5), &mut map).unwrap();
        assert_eq!(map.0.get(&key(1)), Some(&6));
        mirror.apply(learn(key(2), 5), &mut map).unwrap();
        mirror.apply(learn(key(3), 5), &mut map).unwrap();
        // A dump lists 1 and 3; 2 aged out while no event reached us; 4 is learned meanwhile.
        mirror.begin_resync();
        mirror.apply(learn(key(1), 6), &mut map).unwrap();
        mirror.apply(learn(key(4), 6), &mut map).unwrap();
        mirror.apply(learn(key(3), 5), &mut map).unwrap();
        assert_eq!(mirror.end_resync(&mut map), Ok(1));
        let want: BTreeMap<FdbKey, u32> = [(key(1), 6), (key(3), 5), (key(4), 6)]
            .into_iter()
            .collect();
        assert_eq!(map.0, want);
        assert_eq!(mirror.len(), 3);
        // Without a dump running nothing is removed.
        assert_eq!(mirror.end_resync(&mut map), Ok(0));
        // 4 moves to a port the fast path does not switch to: gone from the mirror.
        mirror
            .apply(FdbChange::Elsewhere { key: key(4) }, &mut map)
            .unwrap();
        assert_eq!(map.0.get(&key(4)), None);
        // In a resync, a removal from another port does not vouch for the entry.
        mirror.begin_resync();
        mirror.apply(forget(key(3), 6), &mut map).unwrap();
        mirror.apply(learn(key(1), 6), &mut map).unwrap();
        assert_eq!(mirror.end_resync(&mut map), Ok(1));
        assert_eq!(map.0.keys().copied().collect::<Vec<_>>(), [key(1)]);
        mirror.clear(&mut map).unwrap();
        assert!(map.0.is_empty() && mirror.is_empty());
    }
}
