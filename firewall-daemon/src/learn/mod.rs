//! Learning mode (`zcfw learn`, issue 21): from observed traffic to a proposed policy.
//!
//! The data path aggregates what crosses each zone pair into two bounded LRU maps
//! (`firewall_common::learn`); the daemon samples them every second into a [`Summary`]
//! whose size is capped whatever the traffic; the summary travels to `zcfw learn` as
//! [`Observations`]. Everything from there is pure: [`propose`] turns observations into
//! proposed conduits (one per zone pair and direction, merged port and address ranges, caps),
//! [`render`] writes them as YAML with review comments, and [`merge`] adds them to a policy
//! text (the draft, or an existing policy) without touching what its author wrote.

pub mod merge;
pub mod propose;
pub mod render;
mod summary;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use self::summary::{Summary, ZoneNames};

/// Distinct ports one zone pair and protocol may show before they are collapsed into one
/// port range ("many ports": a scan or a flood, or a service with dynamic ports).
pub const MAX_PORTS_PER_PAIR: usize = 32;
/// Distinct Modbus unit/function (IEC 104 type id, DNP3 function) keys per zone pair kept
/// in the summary.
pub const MAX_MODBUS_PER_PAIR: usize = 256;
/// Distinct ICMP types per zone pair kept in the summary.
pub const MAX_ICMP_TYPES_PER_PAIR: usize = 32;
/// Addresses in no zone the summary lists by name; the rest are only counted.
pub const MAX_UNKNOWN_HOSTS: usize = 256;
/// Zone pairs the summary keeps (a draft of Z zones has at most Z × (Z - 1)).
pub const MAX_PAIRS: usize = 4_096;

/// What a flow entry counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    Tcp,
    Udp,
    Icmp,
    Modbus,
    /// IEC 104: `function` is the ASDU type id, `lo..=hi` the common addresses.
    Iec104,
    /// DNP3: `function` is the application function, `lo..=hi` the link destinations.
    Dnp3,
    /// Another IP protocol (its number in [`Flow::proto`]).
    Other,
}

/// One line of what was learned: a service between two zones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    pub from: String,
    pub to: String,
    pub kind: FlowKind,
    /// IP protocol number (6, 17, 1, 58, ...).
    pub proto: u8,
    /// TCP/UDP/Modbus destination port, or the ICMP type; with [`Flow::port_last`] a range
    /// when many ports were collapsed.
    pub port: u16,
    pub port_last: u16,
    /// Distinct ports seen in `port..=port_last` (1 unless collapsed).
    pub distinct: u32,
    /// Modbus unit id and function code.
    #[serde(default)]
    pub unit: u8,
    #[serde(default)]
    pub function: u8,
    /// Packets (Modbus: requests) seen.
    pub packets: u64,
    /// Unix seconds of the first and the latest.
    pub first: u64,
    pub last: u64,
    /// Modbus: lowest and highest address touched (`lo > hi`: no address field), the
    /// 1,024-address blocks touched (bit b: `b * 1024 ..`) and the largest quantity.
    #[serde(default)]
    pub lo: u16,
    #[serde(default)]
    pub hi: u16,
    #[serde(default)]
    pub blocks: u64,
    #[serde(default)]
    pub max_quantity: u16,
}

/// An address in no zone of the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub address: String,
    pub packets: u64,
    pub first: u64,
    pub last: u64,
    /// Zone of the other end (empty: none either).
    pub peer_zone: String,
    pub as_source: bool,
    pub as_destination: bool,
}

/// What a learning run saw: the answer of the daemon to `learn read`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observations {
    /// Whether the daemon is learning now.
    pub learning: bool,
    /// Unix seconds when learning started (0: never).
    pub since: u64,
    /// Unix seconds of the latest sample.
    pub until: u64,
    /// Samples of the data path's maps taken.
    pub samples: u64,
    pub flows: Vec<Flow>,
    pub hosts: Vec<Host>,
    /// Addresses in no zone beyond [`MAX_UNKNOWN_HOSTS`]: how many, and their packets.
    pub hosts_not_listed: u64,
    pub hosts_not_listed_packets: u64,
    /// What the caps did (a flood of ports or addresses), in words.
    pub warnings: Vec<String>,
}

/// What `zcfw learn` asks the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LearnAction {
    /// Clear what was learned and start learning.
    Start,
    /// Stop learning (what was learned stays readable).
    Stop,
    /// What was learned so far ([`Observations`]).
    Read,
}

/// Parses a duration: seconds (`30`), or a number with `s`, `m`, `h` or `d`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| {
        format!("invalid duration {text:?}: write seconds or a number with s, m, h or d (30s, 10m, 2h, 7d)")
    })?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3_600,
        "d" => n * 86_400,
        other => {
            return Err(format!(
                "invalid duration {text:?}: unknown unit {other:?} (use s, m, h or d)"
            ));
        }
    };
    if seconds == 0 {
        return Err(format!(
            "invalid duration {text:?}: it must be longer than 0"
        ));
    }
    Ok(std::time::Duration::from_secs(seconds))
}
