//! Writing a compiled policy into one generation slot of the maps, flipping the active slot,
//! clearing a slot, and reading counters.

use std::collections::BTreeMap;

use aya::{
    Ebpf, Pod,
    maps::{Array, HashMap, LpmTrie, MapData, PerCpuArray, lpm_trie::Key},
};
use firewall_common::{
    ABI_VERSION, conduit,
    conduittable::ConduitBucket,
    event,
    maps::{
        ConduitAction, ConduitKey, Control, Counter, IfacePolicy, IfaceZoneKey, L2Key, RateLimit,
        SlotConfig, ZoneMatch, ZonePairKey, ZonePairLevels, ZoneV6Key, capacity,
        conduit_action_index, conduit_reason_index, iface_flags, iface_index, names, profile_index,
        rate_limit_index, slot_flags,
    },
    reason::Reason,
};

use super::{CounterSnapshot, DataplaneError};
use crate::compile::CompiledPolicy;

fn hash_map<'a, K: Pod, V: Pod>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<HashMap<&'a mut MapData, K, V>, DataplaneError> {
    let map = ebpf.map_mut(name).ok_or(DataplaneError::MissingMap(name))?;
    HashMap::try_from(map).map_err(DataplaneError::map(name))
}

fn lpm<'a, K: Pod, V: Pod>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<LpmTrie<&'a mut MapData, K, V>, DataplaneError> {
    let map = ebpf.map_mut(name).ok_or(DataplaneError::MissingMap(name))?;
    LpmTrie::try_from(map).map_err(DataplaneError::map(name))
}

fn array<'a, V: Pod>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<Array<&'a mut MapData, V>, DataplaneError> {
    let map = ebpf.map_mut(name).ok_or(DataplaneError::MissingMap(name))?;
    Array::try_from(map).map_err(DataplaneError::map(name))
}

/// Writes `profiles` (ids from 1) into slot `slot` of the profile map `name`; nothing when
/// the policy has none (the map is not opened).
fn write_profiles<P: Pod>(
    ebpf: &mut Ebpf,
    name: &'static str,
    slot: u8,
    profiles: &[P],
) -> Result<(), DataplaneError> {
    if profiles.is_empty() {
        return Ok(());
    }
    let mut map = array::<P>(ebpf, name)?;
    for (i, profile) in profiles.iter().enumerate() {
        map.set(profile_index(slot, (i + 1) as u16), profile, 0)
            .map_err(DataplaneError::map(name))?;
    }
    Ok(())
}

/// Removes every entry of `slot` from a hash map.
fn clear_hash<K: Pod, V: Pod>(
    ebpf: &mut Ebpf,
    name: &'static str,
    in_slot: impl Fn(&K) -> bool,
) -> Result<(), DataplaneError> {
    let mut map = hash_map::<K, V>(ebpf, name)?;
    let doomed: Vec<K> = map
        .keys()
        .filter_map(Result::ok)
        .filter(|k| in_slot(k))
        .collect();
    for key in doomed {
        map.remove(&key).map_err(DataplaneError::map(name))?;
    }
    Ok(())
}

fn clear_lpm<K: Pod>(
    ebpf: &mut Ebpf,
    name: &'static str,
    in_slot: impl Fn(&K) -> bool,
) -> Result<(), DataplaneError> {
    let mut map = lpm::<K, ZoneMatch>(ebpf, name)?;
    let doomed: Vec<Key<K>> = map
        .keys()
        .filter_map(Result::ok)
        .filter(|k| in_slot(&k.data()))
        .collect();
    for key in doomed {
        map.remove(&key).map_err(DataplaneError::map(name))?;
    }
    Ok(())
}

/// The elements of an array map this process knows the value of.
pub(super) struct Known<V> {
    values: std::collections::HashMap<u32, V>,
    /// Elements not in `values` are all-zero (a map this process created), not unknown.
    rest_zero: bool,
}

impl<V> Default for Known<V> {
    fn default() -> Self {
        Known {
            values: Default::default(),
            rest_zero: false,
        }
    }
}

impl<V: PartialEq + Default> Known<V> {
    pub(super) fn zeroed() -> Self {
        Known {
            values: Default::default(),
            rest_zero: true,
        }
    }

    fn holds(&self, index: u32, value: &V) -> bool {
        match self.values.get(&index) {
            Some(known) => known == value,
            None => self.rest_zero && *value == V::default(),
        }
    }
}

/// What this process knows of one slot's part of the array maps it writes whole.
#[derive(Default)]
pub(super) struct KnownSlot {
    zones: Known<u64>,
    pairs: Known<u64>,
    filter: Known<u64>,
    conduits: Known<ConduitBucket>,
}

impl KnownSlot {
    pub(super) fn zeroed() -> Self {
        KnownSlot {
            zones: Known::zeroed(),
            pairs: Known::zeroed(),
            filter: Known::zeroed(),
            conduits: Known::zeroed(),
        }
    }
}

/// How much of the slot's part of an array a write covers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cover {
    /// Some elements (the zone table's blocks in use): the others stay as they were.
    Some,
    /// Every element of the slot's part (pair masks, conduit filter and table).
    Whole,
}

/// Writes `values` (index, value) into the array `name`, skipping those `known` to hold the
/// value already. Only non-zero values are remembered where the rest is known to be zero, so
/// the cache costs what the policy holds, not the size of the maps (with pins, whose contents
/// are unknown at first, the first write of each slot used to remember every zero bucket and
/// word: a one-time growth of the daemon's memory by about 16 MB per slot).
fn write_array<V: Pod + PartialEq + Default>(
    ebpf: &mut Ebpf,
    name: &'static str,
    values: impl IntoIterator<Item = (u32, V)>,
    known: &mut Known<V>,
    cover: Cover,
) -> Result<(), DataplaneError> {
    let mut array = array::<V>(ebpf, name)?;
    // Unknown contents written whole: every element is written, and only the non-zero ones
    // need remembering (the rest is zero once the write is done).
    let fresh = cover == Cover::Whole && !known.rest_zero;
    if fresh {
        known.values = Default::default();
    }
    for (index, value) in values {
        if !fresh && known.holds(index, &value) {
            continue;
        }
        if let Err(err) = array.set(index, value, 0) {
            // The element may or may not have changed: nothing is known any more.
            *known = Known::default();
            return Err(DataplaneError::map(name)(err));
        }
        if (fresh || known.rest_zero) && value == V::default() {
            known.values.remove(&index);
        } else {
            known.values.insert(index, value);
        }
    }
    if fresh {
        known.rest_zero = true;
    }
    Ok(())
}

/// Every word of `slot`'s part of the dense pair-mask array.
fn pair_mask_words(slot: u8, pairs: &[(ZonePairKey, ZonePairLevels)]) -> Vec<(u32, u64)> {
    let per_slot = conduit::PAIR_MASK_WORDS / 2;
    let first = (slot as u32 & 1) * per_slot;
    let mut words = vec![0u64; per_slot as usize];
    for (key, info) in pairs {
        if let Some((word, shift)) = conduit::pair_mask_at(slot, key.src_zone, key.dst_zone) {
            words[(word - first) as usize] |= u64::from(info.level_mask & 0xf) << shift;
        }
    }
    words
        .into_iter()
        .enumerate()
        .map(|(i, w)| (first + i as u32, w))
        .collect()
}

/// Every word of `slot`'s half of the conduit filter: the bit of each of `entries` set.
fn conduit_filter_words(
    slot: u8,
    entries: &[(ConduitKey, ConduitAction)],
) -> impl Iterator<Item = (u32, u64)> + use<> {
    let per_slot = conduit::FILTER_WORDS / 2;
    let first = (slot as u32 & 1) * per_slot;
    let mut words = vec![0u64; per_slot as usize];
    for (key, _) in entries {
        let (word, bit) = conduit::filter_at(&ConduitKey { slot, ..*key });
        words[(word - first) as usize] |= bit;
    }
    words
        .into_iter()
        .enumerate()
        .map(move |(i, w)| (first + i as u32, w))
}

/// Removes every policy entry of `slot` and marks it not loaded.
pub(super) fn clear_slot(ebpf: &mut Ebpf, slot: u8) -> Result<(), DataplaneError> {
    array::<SlotConfig>(ebpf, names::SLOT_CONFIG)?
        .set(slot as u32, SlotConfig::default(), 0)
        .map_err(DataplaneError::map(names::SLOT_CONFIG))?;
    // The slot's part of the IPv4 zone table stays: nothing reads a slot that is not
    // loaded, and the next `write_slot` rewrites all of its first level.
    clear_lpm::<ZoneV6Key>(ebpf, names::ZONES_V6, |k| k[0] == slot)?;
    clear_hash::<ZonePairKey, ZonePairLevels>(ebpf, names::ZONE_PAIRS, |k| k.slot == slot as u16)?;
    // The slot's conduit table and filter stay, like its zone table: nothing reads a slot
    // that is not loaded, and the next `write_slot` rewrites both halves whole.
    // Every restricted interface of the slot has zone entries and every fast-path interface
    // has counters: they name the array slots to reset.
    let mut flagged: std::collections::BTreeSet<u32> =
        hash_map::<IfaceZoneKey, u32>(ebpf, names::IFACE_ZONES)?
            .keys()
            .filter_map(Result::ok)
            .filter(|k| k.slot == slot as u16)
            .map(|k| k.ifindex)
            .collect();
    flagged.extend(
        super::fastpath::counted(ebpf)?
            .into_iter()
            .filter(|&i| i < capacity::MAX_IFINDEX),
    );
    let mut ifaces = array::<IfacePolicy>(ebpf, names::IFACES)?;
    for ifindex in flagged {
        ifaces
            .set(iface_index(slot, ifindex), IfacePolicy::default(), 0)
            .map_err(DataplaneError::map(names::IFACES))?;
    }
    clear_hash::<IfaceZoneKey, u32>(ebpf, names::IFACE_ZONES, |k| k.slot == slot as u16)?;
    clear_hash::<L2Key, u32>(ebpf, names::L2_ALLOW, |k| k.slot == slot as u16)?;
    Ok(())
}

/// Fills `slot` with `policy` and marks it loaded (but does not activate it).
pub(super) fn write_slot(
    ebpf: &mut Ebpf,
    slot: u8,
    generation: u32,
    policy: &CompiledPolicy,
    ifindexes: &BTreeMap<String, u32>,
    fast_path: &std::collections::BTreeSet<u32>,
    known: &mut KnownSlot,
) -> Result<(), DataplaneError> {
    // All of the slot's first level and the blocks it uses, and all of its pair masks;
    // words known to hold the value already are skipped (a reload changes few).
    write_array(
        ebpf,
        names::ZONE_TABLE_V4,
        policy.zone_table_v4.words(slot),
        &mut known.zones,
        Cover::Some,
    )?;
    write_array(
        ebpf,
        names::PAIR_MASKS,
        pair_mask_words(slot, &policy.zone_pairs),
        &mut known.pairs,
        Cover::Whole,
    )?;
    {
        let mut v6 = lpm::<ZoneV6Key, ZoneMatch>(ebpf, names::ZONES_V6)?;
        for z in &policy.zones_v6 {
            let mut data = [0u8; 17];
            data[0] = slot;
            data[1..].copy_from_slice(&z.addr);
            v6.insert(&Key::new(8 + z.prefix_len as u32, data), z.info, 0)
                .map_err(DataplaneError::map(names::ZONES_V6))?;
        }
    }
    {
        let mut pairs = hash_map::<ZonePairKey, ZonePairLevels>(ebpf, names::ZONE_PAIRS)?;
        for (key, info) in &policy.zone_pairs {
            let key = ZonePairKey {
                slot: slot as u16,
                ..*key
            };
            pairs
                .insert(key, info, 0)
                .map_err(DataplaneError::map(names::ZONE_PAIRS))?;
        }
    }
    // The filter before the table: from the moment an entry exists, its bit is set.
    write_array(
        ebpf,
        names::CONDUIT_FILTER,
        conduit_filter_words(slot, &policy.conduit_entries),
        &mut known.filter,
        Cover::Whole,
    )?;
    write_array(
        ebpf,
        names::CONDUIT_TABLE,
        policy.conduit_table.buckets(slot),
        &mut known.conduits,
        Cover::Whole,
    )?;
    for iface in &policy.interfaces {
        // A restriction must never be skipped silently, nor an interface's counters: no
        // ifindex, or one past the arrays, is an error.
        let &ifindex = ifindexes
            .get(&iface.name)
            .ok_or_else(|| DataplaneError::NoSuchInterface(iface.name.clone()))?;
        if ifindex >= capacity::MAX_IFINDEX {
            return Err(DataplaneError::IfindexTooLarge {
                iface: iface.name.clone(),
                ifindex,
            });
        }
        let flags = if iface.allowed_zones.is_some() {
            iface_flags::RESTRICT_SOURCE
        } else {
            0
        } | if fast_path.contains(&ifindex) {
            iface_flags::FAST_PATH
        } else {
            0
        };
        if flags != 0 {
            array::<IfacePolicy>(ebpf, names::IFACES)?
                .set(iface_index(slot, ifindex), IfacePolicy { flags }, 0)
                .map_err(DataplaneError::map(names::IFACES))?;
        }
        let Some(zones) = &iface.allowed_zones else {
            continue;
        };
        let mut allowed = hash_map::<IfaceZoneKey, u32>(ebpf, names::IFACE_ZONES)?;
        for &zone_id in zones {
            allowed
                .insert(
                    IfaceZoneKey {
                        ifindex,
                        slot: slot as u16,
                        zone_id,
                    },
                    1,
                    0,
                )
                .map_err(DataplaneError::map(names::IFACE_ZONES))?;
        }
    }
    {
        let mut l2 = hash_map::<L2Key, u32>(ebpf, names::L2_ALLOW)?;
        for &ethertype in &policy.l2_allow {
            l2.insert(
                L2Key {
                    slot: slot as u16,
                    ethertype,
                },
                1,
                0,
            )
            .map_err(DataplaneError::map(names::L2_ALLOW))?;
        }
    }
    // Inspection profiles: ids numbered per protocol, each protocol's map indexed alike.
    // Entries of an earlier policy in this slot stay but no conduit entry names them.
    write_profiles(ebpf, names::MODBUS_PROFILES, slot, &policy.modbus_profiles)?;
    write_profiles(ebpf, names::IEC104_PROFILES, slot, &policy.iec104_profiles)?;
    write_profiles(ebpf, names::DNP3_PROFILES, slot, &policy.dnp3_profiles)?;
    write_profiles(ebpf, names::S7COMM_PROFILES, slot, &policy.s7comm_profiles)?;
    write_profiles(ebpf, names::ENIP_PROFILES, slot, &policy.enip_profiles)?;
    write_profiles(ebpf, names::OPCUA_PROFILES, slot, &policy.opcua_profiles)?;
    write_profiles(ebpf, names::BACNET_PROFILES, slot, &policy.bacnet_profiles)?;
    {
        let mut limits = array::<RateLimit>(ebpf, names::RATE_LIMITS)?;
        for &(conduit_id, limit) in &policy.rate_limits {
            limits
                .set(rate_limit_index(slot, conduit_id), limit, 0)
                .map_err(DataplaneError::map(names::RATE_LIMITS))?;
        }
    }
    let config = SlotConfig {
        generation,
        flags: policy.slot_flags | slot_flags::LOADED,
    };
    array::<SlotConfig>(ebpf, names::SLOT_CONFIG)?
        .set(slot as u32, config, 0)
        .map_err(DataplaneError::map(names::SLOT_CONFIG))?;
    Ok(())
}

/// What the control and slot maps say (pinned maps keep it across daemons).
pub(super) struct ControlState {
    pub abi_version: u32,
    pub active_slot: Option<u8>,
    pub generation: u32,
    pub flags: u32,
}

pub(super) fn read_state(ebpf: &mut Ebpf) -> Result<ControlState, DataplaneError> {
    let control = array::<Control>(ebpf, names::CONTROL)?
        .get(&0, 0)
        .map_err(DataplaneError::map(names::CONTROL))?;
    let slot = (control.active_slot & 1) as u8;
    let config = array::<SlotConfig>(ebpf, names::SLOT_CONFIG)?
        .get(&(slot as u32), 0)
        .map_err(DataplaneError::map(names::SLOT_CONFIG))?;
    let loaded = control.abi_version != 0 && config.flags & slot_flags::LOADED != 0;
    Ok(ControlState {
        abi_version: control.abi_version,
        active_slot: loaded.then_some(slot),
        generation: config.generation,
        flags: control.flags,
    })
}

/// Records this build's layout version in the `ABI` map (see [`names::ABI`]).
pub(super) fn write_abi(ebpf: &mut Ebpf) -> Result<(), DataplaneError> {
    array::<u32>(ebpf, names::ABI)?
        .set(0, ABI_VERSION, 0)
        .map_err(DataplaneError::map(names::ABI))
}

/// Sets or clears `flag` in the control map (one update; the active slot is kept).
pub(super) fn set_control_flag(ebpf: &mut Ebpf, flag: u32, on: bool) -> Result<(), DataplaneError> {
    let mut control = array::<Control>(ebpf, names::CONTROL)?;
    let mut current = control
        .get(&0, 0)
        .map_err(DataplaneError::map(names::CONTROL))?;
    if on {
        current.flags |= flag;
    } else {
        current.flags &= !flag;
    }
    control
        .set(0, current, 0)
        .map_err(DataplaneError::map(names::CONTROL))
}

/// Passed and dropped counters of interface `ifindex`, summed over CPUs.
pub(super) fn iface_counters(
    ebpf: &Ebpf,
    ifindex: u32,
) -> Result<(Counter, Counter), DataplaneError> {
    let map = ebpf
        .map(names::IFACE_COUNTERS)
        .ok_or(DataplaneError::MissingMap(names::IFACE_COUNTERS))?;
    let counters: PerCpuArray<&MapData, Counter> =
        PerCpuArray::try_from(map).map_err(DataplaneError::map(names::IFACE_COUNTERS))?;
    let read = |dropped| -> Result<Counter, DataplaneError> {
        let values = counters
            .get(
                &firewall_common::maps::iface_counter_index(ifindex, dropped),
                0,
            )
            .map_err(DataplaneError::map(names::IFACE_COUNTERS))?;
        Ok(sum(&values))
    };
    Ok((read(false)?, read(true)?))
}

/// Sets how many events per second each CPU may send (0: none).
pub(super) fn set_event_rate(ebpf: &mut Ebpf, pps: u32) -> Result<(), DataplaneError> {
    let mut control = array::<Control>(ebpf, names::CONTROL)?;
    let current = control
        .get(&0, 0)
        .map_err(DataplaneError::map(names::CONTROL))?;
    control
        .set(
            0,
            Control {
                event_pps: pps,
                ..current
            },
            0,
        )
        .map_err(DataplaneError::map(names::CONTROL))
}

/// What became of the events the data path wanted to send, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventPathCounters {
    /// Written to the ring buffer.
    pub sent: u64,
    /// Lost because the ring buffer was full (the daemon fell behind).
    pub ring_full: u64,
    /// Suppressed by the token bucket of each class, indexed by
    /// `firewall_common::event::class`.
    pub suppressed: [u64; firewall_common::event::class::COUNT as usize],
}

impl EventPathCounters {
    /// Suppressed by the token buckets, every class.
    pub fn rate_limited(&self) -> u64 {
        self.suppressed.iter().sum()
    }
}

/// Event path counters (sent, ring full, suppressed per class), summed over CPUs.
pub(super) fn event_counters(ebpf: &Ebpf) -> Result<EventPathCounters, DataplaneError> {
    use firewall_common::event::{class, counter};
    let map = ebpf
        .map(names::EVENT_COUNTERS)
        .ok_or(DataplaneError::MissingMap(names::EVENT_COUNTERS))?;
    let counters: PerCpuArray<&MapData, u64> =
        PerCpuArray::try_from(map).map_err(DataplaneError::map(names::EVENT_COUNTERS))?;
    let read = |slot: u32| -> Result<u64, DataplaneError> {
        let values = counters
            .get(&slot, 0)
            .map_err(DataplaneError::map(names::EVENT_COUNTERS))?;
        Ok(values.iter().sum())
    };
    let mut out = EventPathCounters {
        sent: read(counter::SENT)?,
        ring_full: read(counter::RING_FULL)?,
        ..EventPathCounters::default()
    };
    for c in class::ALL {
        out.suppressed[c as usize] = read(counter::SUPPRESSED + c)?;
    }
    Ok(out)
}

/// Entries in the conntrack table, walked key by key (one syscall each; the walk is bounded
/// by the table's capacity, as keys the data path evicts meanwhile can restart it).
pub(super) fn flow_entries(ebpf: &Ebpf) -> Result<u64, DataplaneError> {
    let map = ebpf
        .map(names::FLOWS)
        .ok_or(DataplaneError::MissingMap(names::FLOWS))?;
    let flows: HashMap<&MapData, firewall_common::flow::FlowKey, firewall_common::flow::FlowState> =
        HashMap::try_from(map).map_err(DataplaneError::map(names::FLOWS))?;
    let mut entries = 0u64;
    for key in flows.keys() {
        key.map_err(DataplaneError::map(names::FLOWS))?;
        entries += 1;
        if entries >= u64::from(capacity::FLOWS) {
            break;
        }
    }
    Ok(entries)
}

/// Makes `slot` the one every following packet uses (one map update).
pub(super) fn activate(ebpf: &mut Ebpf, slot: u8) -> Result<(), DataplaneError> {
    let mut control = array::<Control>(ebpf, names::CONTROL)?;
    let current = control
        .get(&0, 0)
        .map_err(DataplaneError::map(names::CONTROL))?;
    let next = Control {
        abi_version: ABI_VERSION,
        active_slot: slot as u32,
        ..current
    };
    control
        .set(0, next, 0)
        .map_err(DataplaneError::map(names::CONTROL))
}

fn sum(values: &aya::maps::PerCpuValues<Counter>) -> Counter {
    values.iter().fold(Counter::default(), |acc, c| Counter {
        packets: acc.packets + c.packets,
        bytes: acc.bytes + c.bytes,
    })
}

/// Packets the conduit lookup matched to rules `0..=rules`, by rule id (entry 0 unused),
/// summed over CPUs.
pub(super) fn rule_counters(ebpf: &Ebpf, rules: usize) -> Result<Vec<Counter>, DataplaneError> {
    let map = ebpf
        .map(names::RULE_COUNTERS)
        .ok_or(DataplaneError::MissingMap(names::RULE_COUNTERS))?;
    let counters: PerCpuArray<&MapData, Counter> =
        PerCpuArray::try_from(map).map_err(DataplaneError::map(names::RULE_COUNTERS))?;
    (0..=rules as u32)
        .map(|id| {
            counters
                .get(&id, 0)
                .map(|v| sum(&v))
                .map_err(DataplaneError::map(names::RULE_COUNTERS))
        })
        .collect()
}

/// Sets the counters of rules `ids` to zero on every CPU.
pub(super) fn reset_rule_counters(ebpf: &mut Ebpf, ids: &[u16]) -> Result<(), DataplaneError> {
    let map = ebpf
        .map_mut(names::RULE_COUNTERS)
        .ok_or(DataplaneError::MissingMap(names::RULE_COUNTERS))?;
    let mut counters: PerCpuArray<&mut MapData, Counter> =
        PerCpuArray::try_from(map).map_err(DataplaneError::map(names::RULE_COUNTERS))?;
    let cpus = aya::util::nr_cpus().map_err(|(_, e)| {
        DataplaneError::map(names::RULE_COUNTERS)(aya::maps::MapError::from(e))
    })?;
    for &id in ids {
        let zero = aya::maps::PerCpuValues::try_from(vec![Counter::default(); cpus])
            .map_err(|e| DataplaneError::map(names::RULE_COUNTERS)(aya::maps::MapError::from(e)))?;
        counters
            .set(u32::from(id), zero, 0)
            .map_err(DataplaneError::map(names::RULE_COUNTERS))?;
    }
    Ok(())
}

/// Frames captured, suppressed by the per-CPU bucket, and lost to a full ring
/// (`firewall_common::capture::counter`), summed over CPUs.
pub(super) fn capture_counters(ebpf: &Ebpf) -> Result<[u64; 3], DataplaneError> {
    let map = ebpf
        .map(names::CAPTURE_COUNTERS)
        .ok_or(DataplaneError::MissingMap(names::CAPTURE_COUNTERS))?;
    let counters: PerCpuArray<&MapData, u64> =
        PerCpuArray::try_from(map).map_err(DataplaneError::map(names::CAPTURE_COUNTERS))?;
    let mut out = [0u64; 3];
    for (slot, total) in out.iter_mut().enumerate() {
        let values = counters
            .get(&(slot as u32), 0)
            .map_err(DataplaneError::map(names::CAPTURE_COUNTERS))?;
        *total = values.iter().sum();
    }
    Ok(out)
}

pub(super) fn read_counters(
    ebpf: &Ebpf,
    conduits: usize,
) -> Result<CounterSnapshot, DataplaneError> {
    let per_cpu = |name: &'static str| -> Result<PerCpuArray<&MapData, Counter>, DataplaneError> {
        let map = ebpf.map(name).ok_or(DataplaneError::MissingMap(name))?;
        PerCpuArray::try_from(map).map_err(DataplaneError::map(name))
    };
    let reasons_map = per_cpu(names::REASON_COUNTERS)?;
    let mut reasons = Vec::with_capacity(Reason::ALL.len());
    for reason in Reason::ALL {
        let v = reasons_map
            .get(&(reason as u32), 0)
            .map_err(DataplaneError::map(names::REASON_COUNTERS))?;
        reasons.push((reason, sum(&v)));
    }
    let conduit_map = per_cpu(names::CONDUIT_COUNTERS)?;
    let mut per_conduit = Vec::with_capacity(conduits + 1);
    for id in 0..=conduits as u32 {
        let v = conduit_map
            .get(&id, 0)
            .map_err(DataplaneError::map(names::CONDUIT_COUNTERS))?;
        per_conduit.push(sum(&v));
    }
    let deny_map = per_cpu(names::CONDUIT_DENY_COUNTERS)?;
    let inspection: Vec<Reason> = Reason::ALL
        .into_iter()
        .filter(|r| r.is_inspection())
        .collect();
    let mut conduit_denies = Vec::with_capacity(conduits + 1);
    for id in 0..=conduits as u16 {
        let mut denies = Vec::with_capacity(inspection.len());
        for &reason in &inspection {
            let slot = reason.conduit_slot();
            let v = deny_map
                .get(&conduit_reason_index(id, slot), 0)
                .map_err(DataplaneError::map(names::CONDUIT_DENY_COUNTERS))?;
            denies.push((reason, sum(&v)));
        }
        conduit_denies.push(denies);
    }
    let mut conduit_actions = Vec::with_capacity(conduits + 1);
    for id in 0..=conduits as u16 {
        let mut actions = Vec::with_capacity(event::action::ALL.len());
        for a in event::action::ALL {
            let v = deny_map
                .get(&conduit_action_index(id, a), 0)
                .map_err(DataplaneError::map(names::CONDUIT_DENY_COUNTERS))?;
            actions.push((a, sum(&v)));
        }
        conduit_actions.push(actions);
    }
    Ok(CounterSnapshot {
        reasons,
        conduits: per_conduit,
        conduit_denies,
        conduit_actions,
    })
}

#[cfg(test)]
mod tests {
    use firewall_common::conduit::{FILTER_WORDS, Level, filter_at, key_at, point};

    use super::*;

    #[test]
    fn conduit_filter_has_the_bit_of_every_entry_in_its_slots_half() {
        // Keys as the compiler emits them: slot 0, fixed up to the slot being written.
        let entries: Vec<(ConduitKey, ConduitAction)> = (0..5_000u16)
            .map(|i| {
                let key = key_at(0, 1 + i % 7, 2 + i % 5, point(6, 1000 + i), Level::Exact);
                (key, ConduitAction::default())
            })
            .chain([(
                key_at(0, 3, 4, point(17, 0), Level::Protocol),
                ConduitAction::default(),
            )])
            .collect();
        let half = FILTER_WORDS / 2;
        for slot in [0u8, 1] {
            let words: std::collections::HashMap<u32, u64> =
                conduit_filter_words(slot, &entries).collect();
            assert_eq!(words.len() as u32, half, "the whole half is written");
            assert!(words.keys().all(|&w| w / half == slot as u32));
            for (key, _) in &entries {
                let (word, bit) = filter_at(&ConduitKey { slot, ..*key });
                assert_ne!(words[&word] & bit, 0, "{key:?} in slot {slot}");
            }
            let set: u32 = words.values().map(|w| w.count_ones()).sum();
            assert!(set as usize <= entries.len());
            // A key that is not an entry mostly finds its bit clear.
            let absent = (0..1_000u16)
                .map(|i| filter_at(&key_at(slot, 9, 9, point(6, i), Level::Exact)))
                .filter(|(word, bit)| words[word] & bit == 0)
                .count();
            assert!(absent > 950, "{absent} of 1000 absent keys filtered");
        }
    }
}
