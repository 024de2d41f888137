//! The benchmark policy shared by the dataplane and throughput benches: `conduits` conduits
//! spread over `2 + conduits / 100` zones, each a distinct (from, to, port); every
//! [`MODBUS_EVERY`]-th one inspects Modbus on its port.

use std::fmt::Write as _;

/// Every `MODBUS_EVERY`-th conduit is an inspected Modbus conduit.
pub const MODBUS_EVERY: usize = 8;

/// The policy YAML; `head` is everything before `zones:` (version, name, defaults,
/// interfaces).
pub fn policy_yaml(head: &str, conduits: usize) -> String {
    let zones = zones_for(conduits);
    let mut y = format!("{head}zones:\n");
    for z in 0..zones {
        let (a, b) = (z / 256, z % 256);
        let _ = writeln!(
            y,
            "  z{z}: {{ security_level: 2, networks: [10.{a}.{b}.0/24] }}"
        );
    }
    y.push_str("conduits:\n");
    for i in 0..conduits {
        let (from, to) = endpoints(i, zones);
        let port = port_of(i);
        let rule = if i.is_multiple_of(MODBUS_EVERY) {
            format!(
                "{{ protocol: modbus, ports: [{port}], modbus: {{ unit_ids: [1], read_only: true, addresses: [\"0-999\"] }} }}"
            )
        } else {
            format!("{{ protocol: tcp, ports: [{port}] }}")
        };
        let _ = writeln!(
            y,
            "  - {{ name: c{i}, from: z{from}, to: z{to}, rules: [{rule}] }}"
        );
    }
    y
}

pub fn zones_for(conduits: usize) -> usize {
    2 + conduits / 100
}

pub fn port_of(i: usize) -> u16 {
    1000 + i as u16
}

/// Source and destination zone of conduit `i`.
pub fn endpoints(i: usize, zones: usize) -> (usize, usize) {
    let from = i % zones;
    let to = (from + 1 + (i / zones) % (zones - 1)) % zones;
    (from, to)
}

/// Address `n` of zone `zone`.
pub fn host(zone: usize, n: u8) -> [u8; 4] {
    [10, (zone / 256) as u8, (zone % 256) as u8, n]
}
