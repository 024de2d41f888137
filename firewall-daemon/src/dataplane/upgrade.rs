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
//! island switch is carried over too. Counters start from zero.

use std::{
    os::fd::{AsFd as _, AsRawFd as _},
    path::{Path, PathBuf},
};

use aya::{
    Ebpf,
    maps::{HashMap, Map, MapData},
};
use firewall_common::{
    ABI_VERSION,
    flow::{FLOWS_LAYOUT_SINCE_ABI, FlowKey, FlowState, FlowStateV2},
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

/// The value of key 0 of the pinned array map at `path`, as raw bytes (the map may come from
/// another build, so its value type is not known here).
fn read_raw_entry(path: &Path) -> Result<Vec<u8>, DataplaneError> {
    let map = MapData::from_pin(path).map_err(DataplaneError::map(names::CONTROL))?;
    let info = map.info().map_err(DataplaneError::map(names::CONTROL))?;
    let mut value = vec![0u8; info.value_size() as usize];
    if info.key_size() != 4 || value.len() < 4 {
        return Err(DataplaneError::ForeignPins {
            path: path.display().to_string(),
            what: "a CONTROL map whose layout no zcfw build uses",
        });
    }
    const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
    let key = 0u32;
    // `union bpf_attr` for BPF_MAP_LOOKUP_ELEM: map_fd (u32, padded), key, value, flags.
    let mut attr = [0u64; 4];
    attr[0] = map.fd().as_fd().as_raw_fd() as u64;
    attr[1] = &key as *const u32 as u64;
    attr[2] = value.as_mut_ptr() as u64;
    // SAFETY: `attr` is a valid bpf_attr prefix for this command; the kernel writes at most
    // `value_size` bytes to `value`, which is that long, and reads 4 bytes of `key`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_LOOKUP_ELEM,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if rc != 0 {
        return Err(pin_dir_error(path, std::io::Error::last_os_error()));
    }
    Ok(value)
}

/// The layout version and island switch recorded in the pinned CONTROL map under
/// `maps_dir`; `None` when nothing is pinned there. The version is the first field of
/// [`Control`] in every build, and the whole layout has been the same since version 1.
fn pinned_control(maps_dir: &Path) -> Result<Option<(u32, bool)>, DataplaneError> {
    let path = maps_dir.join(names::CONTROL);
    if !path.exists() {
        return Ok(None);
    }
    let raw = read_raw_entry(&path)?;
    let abi = u32::from_ne_bytes(raw[..4].try_into().expect("at least 4 bytes, checked"));
    let island = raw.len() == std::mem::size_of::<Control>() && {
        // SAFETY: `raw` holds exactly one `Control`, a plain-old-data struct.
        let control: Control = unsafe { std::ptr::read_unaligned(raw.as_ptr().cast()) };
        control.flags & control_flags::ISLAND != 0
    };
    Ok(Some((abi, island)))
}

/// If the maps pinned under `pin_dir/maps` have another layout version than this build's,
/// moves them to a retired directory (the old program, still behind the pinned links, keeps
/// them alive) and returns whether island mode was on. Maps of this version or none: `None`.
pub(super) fn retire_foreign_maps(pin_dir: &Path) -> Result<Option<(u32, bool)>, DataplaneError> {
    let maps_dir = pin_dir.join("maps");
    let Some((abi, island)) = pinned_control(&maps_dir)? else {
        return Ok(None);
    };
    if abi == ABI_VERSION || abi == 0 {
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
    // The value size tells the layout: ABI 2-4 stored the 24-byte `FlowStateV2`.
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
    } else {
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
