//! zcfw's pinned BPF objects read and written from tests with aya and the value types of
//! `firewall_common::maps`, instead of scraping `bpftool` JSON: a renamed field or a changed
//! layout then fails to compile or fails with aya's size check, not with a parse error.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use aya::{
    Pod,
    maps::{Array, Map, MapData},
    programs::loaded_programs,
};

/// Where map `name` is pinned under the daemon's pin directory `pin_dir`.
pub fn map_path(pin_dir: &Path, name: &str) -> PathBuf {
    pin_dir.join("maps").join(name)
}

/// The pinned array map `name` under `pin_dir`, with values of type `V` (aya checks the
/// key and value sizes against the kernel's).
fn open_array<V: Pod>(pin_dir: &Path, name: &str) -> Result<Array<MapData, V>> {
    let path = map_path(pin_dir, name);
    let data = MapData::from_pin(&path).with_context(|| format!("opening {}", path.display()))?;
    let map = Map::from_map_data(data).with_context(|| format!("{}", path.display()))?;
    Array::try_from(map).with_context(|| {
        format!(
            "{} is not an array of {} ({} bytes)",
            path.display(),
            std::any::type_name::<V>(),
            size_of::<V>()
        )
    })
}

/// Entry `index` of the pinned array map `name` under `pin_dir`, e.g.
/// `read_array::<Control>(pin_dir, names::CONTROL, 0)`.
pub fn read_array<V: Pod>(pin_dir: &Path, name: &str, index: u32) -> Result<V> {
    open_array::<V>(pin_dir, name)?
        .get(&index, 0)
        .with_context(|| format!("reading {name}[{index}] under {}", pin_dir.display()))
}

/// Overwrites entry `index` of the pinned array map `name` under `pin_dir` (a test that
/// makes the pins look like another build's, or the data path's input something else).
pub fn write_array<V: Pod>(pin_dir: &Path, name: &str, index: u32, value: &V) -> Result<()> {
    open_array::<V>(pin_dir, name)?
        .set(index, value, 0)
        .with_context(|| format!("writing {name}[{index}] under {}", pin_dir.display()))
}

/// Ids of the loaded BPF programs named `name` (the kernel keeps the first 15 bytes of it).
pub fn loaded_program_ids(name: &str) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    for info in loaded_programs() {
        let info = info.context("listing the loaded BPF programs")?;
        if info.name_as_str() == Some(name) {
            ids.push(info.id());
        }
    }
    Ok(ids)
}
