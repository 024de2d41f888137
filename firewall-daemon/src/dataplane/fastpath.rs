//! The daemon's side of the XDP fast path (`fast_path: true`, docs/fast-path.md): the
//! forwarder program in its program array, the interfaces it may redirect to, and its
//! counters per interface.

use std::collections::{BTreeMap, BTreeSet};

use aya::{
    Ebpf,
    maps::{
        Array, DevMapHash, HashMap, MapData, MapError, PerCpuHashMap, PerCpuValues, ProgramArray,
        xdp::XdpMapError,
    },
    programs::ProgramError,
};
use firewall_common::{
    forward::{BridgePort, BridgeSync, FastPathCounters, FdbKey, cause},
    maps::{Counter, names},
};
use tracing::warn;

use super::{DataplaneError, fdb::FdbStore, program_named};

/// Name of the forwarder program in the object.
pub const FORWARDER_PROGRAM: &str = "zcfw_forward";

/// Loads the forwarder and puts it in entry 0 of `FORWARDER` (replacing an earlier daemon's
/// when the array is adopted from pins).
pub(super) fn load_forwarder(ebpf: &mut Ebpf) -> Result<(), DataplaneError> {
    let program = program_named(ebpf, FORWARDER_PROGRAM)?;
    program.load().map_err(DataplaneError::from_program_load)?;
    let fd = program
        .fd()
        .and_then(|fd| fd.try_clone().map_err(ProgramError::from))
        .map_err(|e| DataplaneError::Program(Box::new(e)))?;
    let map = ebpf
        .map_mut(names::FORWARDER)
        .ok_or(DataplaneError::MissingMap(names::FORWARDER))?;
    let mut array = ProgramArray::try_from(map).map_err(DataplaneError::map(names::FORWARDER))?;
    array
        .set(0, &fd, 0)
        .map_err(DataplaneError::map(names::FORWARDER))
}

fn xdp_map_error(e: XdpMapError) -> DataplaneError {
    match e {
        XdpMapError::MapError(e) => DataplaneError::map(names::FORWARD_PORTS)(e),
        other => DataplaneError::FastPath(format!("{}: {other}", names::FORWARD_PORTS)),
    }
}

/// Makes the fast path's forwarding targets exactly `ifindexes` (the policy's interfaces):
/// a route out of any other interface goes to the stack.
pub(super) fn set_ports(ebpf: &mut Ebpf, ifindexes: &BTreeSet<u32>) -> Result<(), DataplaneError> {
    let map = ebpf
        .map_mut(names::FORWARD_PORTS)
        .ok_or(DataplaneError::MissingMap(names::FORWARD_PORTS))?;
    let mut ports: DevMapHash<&mut MapData> =
        DevMapHash::try_from(map).map_err(DataplaneError::map(names::FORWARD_PORTS))?;
    let stale: Vec<u32> = ports
        .keys()
        .filter_map(Result::ok)
        .filter(|k| !ifindexes.contains(k))
        .collect();
    for &ifindex in ifindexes {
        match ports.insert(ifindex, ifindex, None, 0) {
            Ok(()) => {}
            // No such device (gone, or a test's made-up index): the forwarder hands packets
            // routed there to the stack, which knows no such route either.
            Err(XdpMapError::MapError(MapError::SyscallError(e)))
                if e.io_error.raw_os_error() == Some(libc::ENODEV) =>
            {
                warn!(
                    ifindex,
                    "no interface with this index: not a fast-path target"
                );
            }
            Err(e) => return Err(xdp_map_error(e)),
        }
    }
    for ifindex in stale {
        ports
            .remove(ifindex)
            .map_err(DataplaneError::map(names::FORWARD_PORTS))?;
    }
    Ok(())
}

fn counters_map(
    ebpf: &Ebpf,
) -> Result<PerCpuHashMap<&MapData, u32, FastPathCounters>, DataplaneError> {
    let map = ebpf
        .map(names::FAST_PATH_COUNTERS)
        .ok_or(DataplaneError::MissingMap(names::FAST_PATH_COUNTERS))?;
    PerCpuHashMap::try_from(map).map_err(DataplaneError::map(names::FAST_PATH_COUNTERS))
}

/// Interfaces that have (had) the fast path on: those with counters.
pub(super) fn counted(ebpf: &Ebpf) -> Result<BTreeSet<u32>, DataplaneError> {
    Ok(counters_map(ebpf)?.keys().filter_map(Result::ok).collect())
}

/// Creates the (zero) counters of `ifindex` unless it has them: the forwarder only counts
/// into existing entries, and counters survive reloads and restarts.
pub(super) fn ensure_counters(ebpf: &mut Ebpf, ifindex: u32) -> Result<(), DataplaneError> {
    const BPF_NOEXIST: u64 = 1;
    let cpus = aya::util::nr_cpus().map_err(|(what, e)| {
        DataplaneError::FastPath(format!("cannot count the CPUs ({what}): {e}"))
    })?;
    let map = ebpf
        .map_mut(names::FAST_PATH_COUNTERS)
        .ok_or(DataplaneError::MissingMap(names::FAST_PATH_COUNTERS))?;
    let mut counters: PerCpuHashMap<&mut MapData, u32, FastPathCounters> =
        PerCpuHashMap::try_from(map).map_err(DataplaneError::map(names::FAST_PATH_COUNTERS))?;
    let zero = PerCpuValues::try_from(vec![FastPathCounters::default(); cpus])
        .map_err(|e| DataplaneError::FastPath(format!("per-CPU counters: {e}")))?;
    match counters.insert(ifindex, zero, BPF_NOEXIST) {
        Ok(()) => Ok(()),
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(DataplaneError::map(names::FAST_PATH_COUNTERS)(e)),
    }
}

/// The fast-path counters of `ifindex` summed over CPUs, by [`cause`] (all zero when it has
/// none).
pub(super) fn counters(
    ebpf: &Ebpf,
    ifindex: u32,
) -> Result<[Counter; cause::SLOTS], DataplaneError> {
    let mut out = [Counter::default(); cause::SLOTS];
    match counters_map(ebpf)?.get(&ifindex, 0) {
        Ok(values) => {
            for cpu in values.iter() {
                for (o, c) in out.iter_mut().zip(cpu.by_cause.iter()) {
                    o.packets += c.packets;
                    o.bytes += c.bytes;
                }
            }
            Ok(out)
        }
        Err(MapError::KeyNotFound) => Ok(out),
        Err(e) => Err(DataplaneError::map(names::FAST_PATH_COUNTERS)(e)),
    }
}

/// Writes `ports` as the bridge ports the fast path may forward from and to; with `prune`,
/// removes every other entry (without, entries of ports not listed stay).
pub(super) fn set_bridge_ports(
    ebpf: &mut Ebpf,
    ports: &BTreeMap<u32, BridgePort>,
    prune: bool,
) -> Result<(), DataplaneError> {
    let map = ebpf
        .map_mut(names::BRIDGE_PORTS)
        .ok_or(DataplaneError::MissingMap(names::BRIDGE_PORTS))?;
    let mut map: HashMap<&mut MapData, u32, BridgePort> =
        HashMap::try_from(map).map_err(DataplaneError::map(names::BRIDGE_PORTS))?;
    let stale: Vec<u32> = map
        .keys()
        .filter_map(Result::ok)
        .filter(|k| prune && !ports.contains_key(k))
        .collect();
    for (ifindex, port) in ports {
        map.insert(ifindex, port, 0)
            .map_err(DataplaneError::map(names::BRIDGE_PORTS))?;
    }
    for ifindex in stale {
        map.remove(&ifindex)
            .map_err(DataplaneError::map(names::BRIDGE_PORTS))?;
    }
    Ok(())
}

/// Writes the mirror's heartbeat: `refreshed_ns` on the monotonic clock, 0 to turn the
/// bridge fast path off at once.
pub(super) fn set_bridge_sync(ebpf: &mut Ebpf, refreshed_ns: u64) -> Result<(), DataplaneError> {
    let map = ebpf
        .map_mut(names::BRIDGE_SYNC)
        .ok_or(DataplaneError::MissingMap(names::BRIDGE_SYNC))?;
    let mut map: Array<&mut MapData, BridgeSync> =
        Array::try_from(map).map_err(DataplaneError::map(names::BRIDGE_SYNC))?;
    map.set(0, BridgeSync { refreshed_ns }, 0)
        .map_err(DataplaneError::map(names::BRIDGE_SYNC))
}

/// The mirror's heartbeat (`CLOCK_MONOTONIC` ns of the last refresh; 0: none).
pub(super) fn bridge_sync(ebpf: &Ebpf) -> Result<u64, DataplaneError> {
    let map = ebpf
        .map(names::BRIDGE_SYNC)
        .ok_or(DataplaneError::MissingMap(names::BRIDGE_SYNC))?;
    let map: Array<&MapData, BridgeSync> =
        Array::try_from(map).map_err(DataplaneError::map(names::BRIDGE_SYNC))?;
    map.get(&0, 0)
        .map(|s| s.refreshed_ns)
        .map_err(DataplaneError::map(names::BRIDGE_SYNC))
}

/// The port of every address in `BRIDGE_FDB`.
pub(super) fn bridge_fdb_ports(ebpf: &Ebpf) -> Result<Vec<u32>, DataplaneError> {
    let map = ebpf
        .map(names::BRIDGE_FDB)
        .ok_or(DataplaneError::MissingMap(names::BRIDGE_FDB))?;
    let map: HashMap<&MapData, FdbKey, u32> =
        HashMap::try_from(map).map_err(DataplaneError::map(names::BRIDGE_FDB))?;
    Ok(map
        .iter()
        .filter_map(Result::ok)
        .map(|(_, port)| port)
        .collect())
}

/// The `BRIDGE_FDB` map as the mirror's store.
pub struct BridgeFdb<'a>(HashMap<&'a mut MapData, FdbKey, u32>);

impl<'a> BridgeFdb<'a> {
    pub(super) fn of(ebpf: &'a mut Ebpf) -> Result<Self, DataplaneError> {
        let map = ebpf
            .map_mut(names::BRIDGE_FDB)
            .ok_or(DataplaneError::MissingMap(names::BRIDGE_FDB))?;
        Ok(BridgeFdb(
            HashMap::try_from(map).map_err(DataplaneError::map(names::BRIDGE_FDB))?,
        ))
    }

    /// Removes every entry (whatever a previous daemon left).
    pub fn clear(&mut self) -> Result<usize, DataplaneError> {
        let keys: Vec<FdbKey> = self.0.keys().filter_map(Result::ok).collect();
        for key in &keys {
            self.remove(key)?;
        }
        Ok(keys.len())
    }
}

impl FdbStore for BridgeFdb<'_> {
    type Error = DataplaneError;

    fn insert(&mut self, key: FdbKey, port: u32) -> Result<(), DataplaneError> {
        self.0
            .insert(key, port, 0)
            .map_err(DataplaneError::map(names::BRIDGE_FDB))
    }

    fn remove(&mut self, key: &FdbKey) -> Result<(), DataplaneError> {
        match self.0.remove(key) {
            Ok(()) | Err(MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(DataplaneError::map(names::BRIDGE_FDB)(e)),
        }
    }
}

/// Which interfaces of the policy get the fast path: those that ask for it (a bridge port
/// among them is switched by the mirror of its bridge's forwarding database, see
/// [`super::bridge::ports_of`]).
pub(super) fn wanted<'a>(
    interfaces: impl Iterator<Item = (&'a str, bool)>,
    ifindexes: &BTreeMap<String, u32>,
) -> BTreeSet<u32> {
    interfaces
        .filter(|(_, fast_path)| *fast_path)
        .filter_map(|(name, _)| ifindexes.get(name).copied())
        .collect()
}
