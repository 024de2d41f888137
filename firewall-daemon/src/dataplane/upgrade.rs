//! Taking over the pins of a daemon of another build whose maps have another layout (an
//! upgrade, or a downgrade), without a moment unenforced.
//!
//! The old program keeps judging packets through the pinned links until the new one replaces
//! it there, and it keeps its maps alive by itself. So a daemon that finds maps of another
//! layout version moves their pins aside, to `PIN_DIR/retired-abi<N>-<pid>`, creates and pins
//! its own maps, writes the policy, swaps the program behind each pinned link
//! (`bpf_link_update`, atomic per interface) and only then removes the retired pins. Tracked
//! flows are carried over when their layout allows, as entries of no live generation, so the
//! next packet of each is judged again against the policy (`rejudge` in the XDP program); the
//! island switch is carried over too. Counters start from zero, and so does learning: ABI 8
//! added the learning maps and the `LEARN` control flag (with the conntrack layout of ABI 7,
//! so the flows of ABI 7 pins are carried over as they are); learning is never carried over.

use std::path::{Path, PathBuf};

use aya::{
    Ebpf,
    maps::{Array, HashMap, Map, MapData, MapError},
};
use firewall_common::{
    ABI_VERSION,
    flow::{FLOWS_LAYOUT_SINCE_ABI, FlowKey, FlowState, FlowStateV2, FlowStateV3, FlowStateV7},
    maps::{Control, control_flags, names},
};
use tracing::{info, warn};

use super::DataplaneError;

/// Prefix of the directories retired maps are moved to.
const RETIRED_PREFIX: &str = "retired-abi";

/// Maps pinned by a daemon of another layout version, moved aside.
#[derive(Debug)]
pub(super) struct Retired {
    pub abi: u32,
    pub dir: PathBuf,
}

fn pin_dir_error(path: &Path, source: std::io::Error) -> DataplaneError {
    DataplaneError::PinDir {
        path: path.display().to_string(),
        source,
    }
}

/// Entry 0 of the pinned array map at `path`, read as a `V`; `Ok(None)` when it is not an
/// array of `V`-sized values (a layout this build does not know).
fn read_pinned<V: aya::Pod>(path: &Path, name: &'static str) -> Result<Option<V>, DataplaneError> {
    let map = MapData::from_pin(path).map_err(DataplaneError::map(name))?;
    let array: Result<Array<MapData, V>, MapError> =
        Map::from_map_data(map).and_then(Array::try_from);
    let array = match array {
        Ok(array) => array,
        Err(
            MapError::InvalidMapType { .. }
            | MapError::InvalidValueSize { .. }
            | MapError::InvalidKeySize { .. },
        ) => return Ok(None),
        Err(e) => return Err(DataplaneError::map(name)(e)),
    };
    array
        .get(&0, 0)
        .map(Some)
        .map_err(DataplaneError::map(name))
}

/// What the maps pinned under a directory are.
#[derive(Debug, PartialEq, Eq)]
struct Pinned {
    /// Their layout version (0: created, never written).
    abi: u32,
    /// Island mode on (read from a `CONTROL` of this build's layout; off otherwise).
    island: bool,
    /// Pinned before version 6, which added the `ABI` map.
    legacy: bool,
}

/// The layout version of the maps pinned under `maps_dir` and their island switch; `None`
/// when nothing is pinned there. The version is the one `u32` of the `ABI` map (version 6
/// on); sets pinned earlier have no `ABI` map and say their version in the first field of
/// `CONTROL`, whose layout ([`Control`]) has been the same from version 1 to this one (a
/// build that changes it must keep reading the old one here).
fn pinned(maps_dir: &Path) -> Result<Option<Pinned>, DataplaneError> {
    let abi_path = maps_dir.join(names::ABI);
    let control_path = maps_dir.join(names::CONTROL);
    let control = if control_path.exists() {
        read_pinned::<Control>(&control_path, names::CONTROL)?
    } else {
        None
    };
    let island = control.is_some_and(|c| c.flags & control_flags::ISLAND != 0);
    if abi_path.exists() {
        let abi = read_pinned::<u32>(&abi_path, names::ABI)?.ok_or_else(|| {
            DataplaneError::ForeignPins {
                path: abi_path.display().to_string(),
                what: "an ABI map whose layout no zcfw build uses",
            }
        })?;
        return Ok(Some(Pinned {
            abi,
            island,
            legacy: false,
        }));
    }
    if !control_path.exists() {
        return Ok(None);
    }
    let Some(control) = control else {
        return Err(DataplaneError::ForeignPins {
            path: control_path.display().to_string(),
            what: "a CONTROL map whose layout no zcfw build uses",
        });
    };
    Ok(Some(Pinned {
        abi: control.abi_version,
        island,
        legacy: true,
    }))
}

/// If the maps pinned under `pin_dir/maps` have another layout version than this build's,
/// moves them to a retired directory (the old program, still behind the pinned links, keeps
/// them alive) and returns their version and whether island mode was on. Maps of this
/// version, maps never written (version 0 in the `ABI` map) or none: `None`. A set pinned
/// before version 6 (no `ABI` map) is always taken over, even one whose `CONTROL` was never
/// written: its other maps have older layouts.
pub(super) fn retire_foreign_maps(pin_dir: &Path) -> Result<Option<(u32, bool)>, DataplaneError> {
    let maps_dir = pin_dir.join("maps");
    let Some(Pinned {
        abi,
        island,
        legacy,
    }) = pinned(&maps_dir)?
    else {
        return Ok(None);
    };
    if !legacy && (abi == ABI_VERSION || abi == 0) {
        return Ok(None);
    }
    let retired = pin_dir.join(format!("{RETIRED_PREFIX}{abi}-{}", std::process::id()));
    std::fs::rename(&maps_dir, &retired).map_err(|e| pin_dir_error(&retired, e))?;
    super::pindir::create_private(&maps_dir).map_err(|e| pin_dir_error(&maps_dir, e))?;
    info!(
        from_layout = abi,
        to_layout = ABI_VERSION,
        retired = %retired.display(),
        island,
        "pins of another zcfw version: taking over; the old program stays enforced until the new one replaces it"
    );
    Ok(Some((abi, island)))
}

/// Every retired map directory under `pin_dir`, oldest layout first: moved aside by this
/// daemon, or by one that stopped before it finished taking over.
pub(super) fn retired(pin_dir: &Path) -> Result<Vec<Retired>, DataplaneError> {
    let entries = match std::fs::read_dir(pin_dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(pin_dir_error(pin_dir, err)),
    };
    let mut out: Vec<Retired> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let abi = name
                .strip_prefix(RETIRED_PREFIX)?
                .split('-')
                .next()?
                .parse()
                .ok()?;
            Some(Retired {
                abi,
                dir: entry.path(),
            })
        })
        .collect();
    out.sort_by_key(|r| (r.abi, r.dir.clone()));
    Ok(out)
}

/// Copies the tracked flows of `from` into `ebpf`'s conntrack map, except those it holds
/// already (they are newer). Copies carry generation 0, which is never live: the next packet
/// of each flow is judged against the current policy, which keeps or closes it. Returns how
/// many were copied; 0 when the retired layout of flows differs from this build's.
pub(super) fn carry_flows(from: &Retired, ebpf: &mut Ebpf) -> Result<usize, DataplaneError> {
    if from.abi < FLOWS_LAYOUT_SINCE_ABI || from.abi > ABI_VERSION {
        warn!(
            from_layout = from.abi,
            "tracked flows of that version cannot be read by this one: connections opened before the upgrade must be opened again"
        );
        return Ok(0);
    }
    let path = from.dir.join(names::FLOWS);
    let old = MapData::from_pin(&path).map_err(DataplaneError::map(names::FLOWS))?;
    let old = Map::from_map_data(old).map_err(DataplaneError::map(names::FLOWS))?;
    let map = ebpf
        .map_mut(names::FLOWS)
        .ok_or(DataplaneError::MissingMap(names::FLOWS))?;
    let mut flows: HashMap<&mut MapData, FlowKey, FlowState> =
        HashMap::try_from(map).map_err(DataplaneError::map(names::FLOWS))?;
    // The value size tells the layout: ABI 2-4 stored the 24-byte `FlowStateV2`, ABI 5-6 the
    // 32-byte `FlowStateV3`, ABI 7 the 32-byte `FlowStateV7` (which an ABI 8 build before the
    // stream positions also stored: the layout is the same, the inspector ids 1-3 mean the same).
    let value_size = match &old {
        Map::LruHashMap(m) | Map::HashMap(m) => m.info().map(|i| i.value_size()).unwrap_or(0),
        _ => 0,
    };
    if value_size as usize == std::mem::size_of::<FlowStateV2>() {
        let old: HashMap<MapData, FlowKey, FlowStateV2> =
            HashMap::try_from(old).map_err(DataplaneError::map(names::FLOWS))?;
        copy_flows(
            old.iter()
                .filter_map(Result::ok)
                .map(|(k, v)| (k, v.into())),
            &mut flows,
        )
    } else if value_size as usize == std::mem::size_of::<FlowStateV3>() && from.abi < 7 {
        // The same size as this layout, told apart by the version: ABI 7 named two of its
        // padding bytes (inspector and session).
        let old: HashMap<MapData, FlowKey, FlowStateV3> =
            HashMap::try_from(old).map_err(DataplaneError::map(names::FLOWS))?;
        copy_flows(
            old.iter()
                .filter_map(Result::ok)
                .map(|(k, v)| (k, v.into())),
            &mut flows,
        )
    } else if value_size as usize == std::mem::size_of::<FlowStateV7>() {
        // ABI 7: without the stream positions the main program keeps (a flow's next segment
        // in each direction is taken to start on a PDU boundary, as after a pick-up).
        let old: HashMap<MapData, FlowKey, FlowStateV7> =
            HashMap::try_from(old).map_err(DataplaneError::map(names::FLOWS))?;
        copy_flows(
            old.iter()
                .filter_map(Result::ok)
                .map(|(k, v)| (k, v.into())),
            &mut flows,
        )
    } else {
        // This build's `FlowState`: copied as it is.
        let old: HashMap<MapData, FlowKey, FlowState> =
            HashMap::try_from(old).map_err(DataplaneError::map(names::FLOWS))?;
        copy_flows(old.iter().filter_map(Result::ok), &mut flows)
    }
}

/// Inserts `old` flows with generation 0 unless `flows` holds them already.
fn copy_flows(
    old: impl Iterator<Item = (FlowKey, FlowState)>,
    flows: &mut HashMap<&mut MapData, FlowKey, FlowState>,
) -> Result<usize, DataplaneError> {
    const BPF_NOEXIST: u64 = 1;
    let mut copied = 0;
    // Entries the old program removes or evicts meanwhile end the walk early or are skipped:
    // such a flow is gone either way.
    for (key, state) in old {
        let state = FlowState {
            generation: 0,
            ..state
        };
        match flows.insert(key, state, BPF_NOEXIST) {
            Ok(()) => copied += 1,
            Err(aya::maps::MapError::SyscallError(e))
                if e.io_error.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(DataplaneError::map(names::FLOWS)(e)),
        }
    }
    Ok(copied)
}

/// Unpins every map of a retired directory and removes it.
pub(super) fn remove(retired: &Retired) -> Result<usize, DataplaneError> {
    let mut removed = 0;
    let entries = std::fs::read_dir(&retired.dir).map_err(|e| pin_dir_error(&retired.dir, e))?;
    for entry in entries.flatten() {
        std::fs::remove_file(entry.path()).map_err(|e| pin_dir_error(&entry.path(), e))?;
        removed += 1;
    }
    std::fs::remove_dir(&retired.dir).map_err(|e| pin_dir_error(&retired.dir, e))?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retired_directories_are_found_by_name_oldest_layout_first() {
        let dir = std::env::temp_dir().join(format!("zcfw-retired-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for name in [
            "maps",
            "links",
            "retired-abi2-77",
            "retired-abi1-5",
            "retired-abix-1",
            "retired",
        ] {
            std::fs::create_dir_all(dir.join(name)).expect("create a test directory");
        }
        std::fs::write(dir.join("retired-abi1-5").join("FLOWS"), b"").expect("a file");
        let found = retired(&dir).expect("list");
        let summary: Vec<(u32, String)> = found
            .iter()
            .map(|r| {
                let name = r.dir.file_name().expect("a name").to_string_lossy();
                (r.abi, name.into_owned())
            })
            .collect();
        assert_eq!(
            summary,
            [
                (1, "retired-abi1-5".to_string()),
                (2, "retired-abi2-77".to_string())
            ]
        );
        assert_eq!(remove(&found[0]).expect("remove"), 1);
        assert!(!dir.join("retired-abi1-5").exists());
        assert_eq!(retired(&dir.join("missing")).expect("no pin dir").len(), 0);
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
