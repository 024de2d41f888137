//! Learning mode seen from the daemon: the `LEARN` control flag and the two learning maps
//! (`firewall_common::learn`).

use aya::maps::{HashMap, MapData};
use firewall_common::{
    learn::{HostKey, HostValue, LearnKey, LearnValue},
    maps::{control_flags, names},
};

use super::{Dataplane, DataplaneError, maps};

impl Dataplane {
    /// Turns learning on or off. Turning it on first empties the learning maps, so what is
    /// read afterwards is what crossed the zones since.
    pub fn set_learning(&mut self, on: bool) -> Result<(), DataplaneError> {
        if on {
            clear::<LearnKey, LearnValue>(&mut self.ebpf, names::LEARN)?;
            clear::<HostKey, HostValue>(&mut self.ebpf, names::LEARN_HOSTS)?;
        }
        maps::set_control_flag(&mut self.ebpf, control_flags::LEARN, on)
    }

    /// Whether the data path is learning.
    pub fn learning(&mut self) -> Result<bool, DataplaneError> {
        Ok(maps::read_state(&mut self.ebpf)?.flags & control_flags::LEARN != 0)
    }

    /// The entries of both learning maps (bounded by their capacities).
    #[expect(clippy::type_complexity, reason = "the two maps' entries, as they are")]
    pub fn learned(
        &self,
    ) -> Result<(Vec<(LearnKey, LearnValue)>, Vec<(HostKey, HostValue)>), DataplaneError> {
        Ok((
            entries(&self.ebpf, names::LEARN)?,
            entries(&self.ebpf, names::LEARN_HOSTS)?,
        ))
    }
}

fn entries<K: aya::Pod, V: aya::Pod>(
    ebpf: &aya::Ebpf,
    name: &'static str,
) -> Result<Vec<(K, V)>, DataplaneError> {
    let map = ebpf.map(name).ok_or(DataplaneError::MissingMap(name))?;
    let map: HashMap<&MapData, K, V> = HashMap::try_from(map).map_err(DataplaneError::map(name))?;
    // Entries the program evicts meanwhile end the walk early or are skipped: a sample is
    // a snapshot of what is there, taken again a second later.
    Ok(map.iter().filter_map(Result::ok).collect())
}

fn clear<K: aya::Pod, V: aya::Pod>(
    ebpf: &mut aya::Ebpf,
    name: &'static str,
) -> Result<(), DataplaneError> {
    let map = ebpf.map_mut(name).ok_or(DataplaneError::MissingMap(name))?;
    let mut map: HashMap<&mut MapData, K, V> =
        HashMap::try_from(map).map_err(DataplaneError::map(name))?;
    let keys: Vec<K> = map.keys().filter_map(Result::ok).collect();
    for k in keys {
        let _ = map.remove(&k);
    }
    Ok(())
}
