//! The `status` answer: what is enforced where, since when.

use serde::{Deserialize, Serialize};

/// What `zcfw status --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub policy: LoadedPolicy,
    /// The policy's interfaces, with their attachment as the kernel reported it.
    pub interfaces: Vec<InterfaceAttachment>,
    pub xdp_check: XdpCheck,
    /// Island mode: nothing crosses a zone boundary.
    pub island: bool,
    /// Who is not enforcing: the whole policy (`monitor`) or not (`enforce`, see
    /// `monitor_conduits` for single conduits; SR 5.2).
    pub mode: EnforcementMode,
    /// Conduits in monitor mode: their would-be denies pass as alerts.
    pub monitor_conduits: Vec<String>,
    /// Where the links and maps are pinned (`None`: ephemeral).
    pub pin_dir: Option<String>,
    pub uptime_s: u64,
}

/// The policy in force.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadedPolicy {
    pub name: String,
    /// SHA-256 of the policy file.
    pub hash: String,
    pub path: String,
    pub generation: u64,
    pub loaded_at_unix: u64,
    /// Validation, compilation, map writes and flip of the last load.
    pub load_ms: f64,
    pub zones: usize,
    pub conduits: usize,
}

/// One interface of the policy and its XDP attachment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterfaceAttachment {
    pub name: String,
    pub ifindex: u32,
    /// The Linux bridge this interface is a member port of (transparent bridge mode,
    /// docs/bridge.md), as sysfs said when the status was asked for.
    #[serde(default)]
    pub bridge: Option<String>,
    /// The interface is a bridge device itself: XDP on it sees only the frames the bridge
    /// delivers to this host, not those it forwards between its ports.
    #[serde(default)]
    pub is_bridge: bool,
    /// `native` or `skb`.
    pub xdp_mode: String,
    /// As the kernel said at the last check, not as the daemon remembers it.
    pub enforced: bool,
    /// The XDP fast path, on interfaces whose policy entry says `fast_path: true` (absent:
    /// off, every allowed packet goes to the kernel stack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_path: Option<FastPathStatus>,
}

/// The XDP fast path of one interface (docs/fast-path.md): allowed packets of tracked flows
/// that arrived here, forwarded in XDP or handed to the stack, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FastPathStatus {
    /// Whether the data path forwards here (`false`: asked for, but not available, see
    /// `unavailable`).
    pub active: bool,
    /// Why the fast path is not available on this interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// A bridge port: the MAC addresses the daemon's mirror of the bridge's forwarding
    /// database has behind this port (frames to them are switched here in XDP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirrored_addresses: Option<u64>,
    /// Forwarded in XDP.
    pub forwarded: PacketCount,
    /// Handed to the kernel stack, by cause (every cause listed, in a fixed order).
    pub to_stack: Vec<FastPathFallback>,
}

/// Packets and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketCount {
    pub packets: u64,
    pub bytes: u64,
}

/// Packets of a fast-path interface that went to the stack for one cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FastPathFallback {
    /// `firewall_common::forward::cause::NAMES`: `no_neighbour`, `mtu`, `ttl`, ...
    pub cause: String,
    pub packets: u64,
    pub bytes: u64,
}

/// The periodic check of the XDP attachments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XdpCheck {
    pub interval_s: f64,
    /// Seconds since the last check (`None`: not checked yet).
    pub last_s_ago: Option<f64>,
    /// Attachments repaired since the daemon started.
    pub repairs: u64,
    pub not_enforced: Vec<NotEnforced>,
}

/// An interface the program is not attached to, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotEnforced {
    pub interface: String,
    pub why: String,
}

/// Whether the policy's denies are enforced or only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnforcementMode {
    Enforce,
    Monitor,
}
