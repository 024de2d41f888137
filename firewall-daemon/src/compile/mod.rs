//! The policy compiler: [`ValidatedPolicy`] → [`CompiledPolicy`], the exact entries of the
//! kernel maps. Pure: no I/O, no aya; the loader writes these entries (rewriting slot 0 to
//! the slot it fills).
//!
//! Conduit lookup (see [`firewall_common::conduit`]): per (from zone, to zone) pair, the rules
//! of every conduit of that pair, in file order, split the point space into disjoint
//! intervals where the first matching rule wins; adjacent intervals of the same conduit are
//! merged, and each is covered with aligned blocks, one map entry per block.
//!
//! Inspection: each inspected rule (`protocol: modbus`, `iec104`, `dnp3`, `s7comm`, `enip`,
//! `opcua`, `bacnet`) compiles to its protocol's profile ([`ModbusProfile`], [`Iec104Profile`],
//! [`Dnp3Profile`], [`S7Profile`], [`EnipProfile`], [`OpcuaProfile`], [`BacnetProfile`]); identical
//! profiles are shared. Profile ids are numbered per protocol, in the order in which rules
//! first name a profile (`modbus_profiles[i]`, `iec104_profiles[i]`, `dnp3_profiles[i]` are
//! id `i + 1` of their protocol), and the entries an inspected rule wins in the first-match
//! split carry its inspector id and profile id. An inspected rule takes part in the split
//! exactly like a tcp rule on its ports.

use std::collections::BTreeMap;

use firewall_common::{
    bacnet::BacnetProfile,
    conduit::{self, Level},
    dnp3::Dnp3Profile,
    enip::EnipProfile,
    iec104::Iec104Profile,
    maps::{
        ConduitAction, ConduitKey, ZoneMatch, ZonePairKey, ZonePairLevels, action_flags, capacity,
        inspector, slot_flags, zone_flags,
    },
    modbus::ModbusProfile,
    opcua::OpcuaProfile,
    s7comm::S7Profile,
};
use ipnet::IpNet;

pub use crate::policy::XdpMode;
use crate::policy::{LogMode, OnViolation, ValidatedPolicy, space::FirstMatch};

mod conduit_table;
pub mod nft;
mod profiles;
mod render;
mod render_bacnet;
mod render_enip;
mod render_modbus;
mod render_opcua;
mod render_profiles;
mod render_s7comm;
mod zonetable;

pub use conduit_table::ConduitTable;
pub use profiles::inspector_name;
pub use render::{render_json, render_text};
pub use zonetable::ZoneTableV4;

/// A zone as compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSummary {
    pub id: u16,
    pub name: String,
    pub security_level: u8,
    pub networks: Vec<IpNet>,
    pub intra_zone_allow: bool,
}

/// A conduit as compiled; `rules` has one human-readable line per rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConduitSummary {
    pub id: u16,
    pub name: String,
    pub from: String,
    pub to: String,
    /// The conduit's `description` in the policy.
    pub description: Option<String>,
    pub rules: Vec<String>,
    /// Per rule: the inspection profile id of an inspected rule (in its protocol's profile
    /// list), 0 for the others.
    pub rule_profiles: Vec<u16>,
    /// Per rule: the [`firewall_common::maps::inspector`] id of the rule's protocol
    /// (`NONE` = not inspected).
    pub rule_inspectors: Vec<u8>,
    /// Per rule: its id, `1..=capacity::MAX_RULES`, numbered in file order across the
    /// conduits; the data path counts the packets each rule matched under it
    /// ([`firewall_common::maps::names::RULE_COUNTERS`]).
    pub rule_ids: Vec<u16>,
    /// What the data path does with a segment inspection denies (`drop`).
    pub on_violation: OnViolation,
    /// `monitor`: the conduit's would-be denies pass as alerts.
    pub mode: crate::policy::Mode,
    pub rate_limit: Option<crate::policy::RateLimitSpec>,
}

/// An interface XDP attaches to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledInterface {
    pub name: String,
    pub xdp_mode: XdpMode,
    /// Zone ids whose sources may arrive here; `None`: any zone.
    pub allowed_zones: Option<Vec<u16>>,
    /// Allowed packets of tracked flows are forwarded in XDP (`fast_path: true`).
    pub fast_path: bool,
}

/// An IPv4 zone network; together they make the [`ZoneTableV4`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneEntryV4 {
    /// Network prefix length, 0..=32.
    pub prefix_len: u8,
    pub addr: [u8; 4],
    pub info: ZoneMatch,
}

/// An entry of the IPv6 zone trie (prefix length 0..=128, kernel adds 8 for the slot byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneEntryV6 {
    pub prefix_len: u8,
    pub addr: [u8; 16],
    pub info: ZoneMatch,
}

/// Everything the loader writes into the maps of one slot (keys carry slot 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledPolicy {
    pub name: String,
    /// Hex SHA-256 of the source bytes.
    pub hash: String,
    /// [`slot_flags::ALLOW_ND`] if neighbour discovery passes, [`slot_flags::LOG_DENIED`]
    /// unless `defaults.log: none` (the loader adds `LOADED`).
    pub slot_flags: u32,
    pub zones: Vec<ZoneSummary>,
    pub conduits: Vec<ConduitSummary>,
    pub interfaces: Vec<CompiledInterface>,
    pub zones_v4: Vec<ZoneEntryV4>,
    /// The IPv4 zones as the XDP program reads them.
    pub zone_table_v4: ZoneTableV4,
    pub zones_v6: Vec<ZoneEntryV6>,
    /// Sorted by key.
    pub zone_pairs: Vec<(ZonePairKey, ZonePairLevels)>,
    /// Sorted by zone pair, then point.
    pub conduit_entries: Vec<(ConduitKey, ConduitAction)>,
    /// The conduit entries as the XDP program reads them.
    pub conduit_table: ConduitTable,
    /// Allowed non-IP ethertypes, sorted (neighbour discovery is a slot flag, not here).
    pub l2_allow: Vec<u16>,
    /// Modbus/TCP inspection profiles: `modbus_profiles[i]` has profile id `i + 1`, the
    /// [`ConduitAction::profile_id`] of the conduit entries it inspects (0 = no inspection).
    /// Identical profiles are shared; at most `capacity::MAX_PROFILES - 1`.
    pub modbus_profiles: Vec<ModbusProfile>,
    /// IEC 60870-5-104 inspection profiles: `iec104_profiles[i]` has profile id `i + 1` for
    /// the conduit entries whose inspector is `inspector::IEC104`.
    pub iec104_profiles: Vec<Iec104Profile>,
    /// DNP3 inspection profiles: `dnp3_profiles[i]` has profile id `i + 1` for the conduit
    /// entries whose inspector is `inspector::DNP3`.
    pub dnp3_profiles: Vec<Dnp3Profile>,
    /// S7comm inspection profiles: `s7comm_profiles[i]` has profile id `i + 1` for the
    /// conduit entries whose inspector is `inspector::S7COMM`.
    pub s7comm_profiles: Vec<S7Profile>,
    /// EtherNet/IP inspection profiles: `enip_profiles[i]` has profile id `i + 1` for the
    /// conduit entries whose inspector is `inspector::ENIP`.
    pub enip_profiles: Vec<EnipProfile>,
    /// OPC UA inspection profiles: `opcua_profiles[i]` has profile id `i + 1` for the conduit
    /// entries whose inspector is `inspector::OPCUA`.
    pub opcua_profiles: Vec<OpcuaProfile>,
    /// BACnet/IP inspection profiles: `bacnet_profiles[i]` has profile id `i + 1` for the
    /// conduit entries whose inspector is `inspector::BACNET`.
    pub bacnet_profiles: Vec<BacnetProfile>,
    /// Rate limits of rate-limited conduits (their entries carry `action_flags::RATE_LIMIT`).
    pub rate_limits: Vec<(u16, firewall_common::maps::RateLimit)>,
}

impl CompiledPolicy {
    /// Number of map entries the loader writes for this policy (tries, zone pairs, conduit
    /// entries, ethertypes, interfaces and interface zones, the slot config).
    pub fn map_entries(&self) -> usize {
        self.zones_v4.len()
            + self.zones_v6.len()
            + self.zone_pairs.len()
            + self.conduit_entries.len()
            + self.l2_allow.len()
            + inspector::PROGRAMS
                .iter()
                .map(|&(i, _)| self.profile_count(i))
                .sum::<usize>()
            + self.interfaces.len()
            + self
                .interfaces
                .iter()
                .filter_map(|i| i.allowed_zones.as_ref())
                .map(Vec::len)
                .sum::<usize>()
            + 1
    }

    /// Number of profiles of inspector `which` (`inspector::MODBUS`, ...): a conduit entry of
    /// that inspector names profile `1..=profile_count(which)`. 0 for `inspector::NONE` and
    /// any unknown id.
    pub fn profile_count(&self, which: u8) -> usize {
        match which {
            inspector::MODBUS => self.modbus_profiles.len(),
            inspector::IEC104 => self.iec104_profiles.len(),
            inspector::DNP3 => self.dnp3_profiles.len(),
            inspector::S7COMM => self.s7comm_profiles.len(),
            inspector::ENIP => self.enip_profiles.len(),
            inspector::OPCUA => self.opcua_profiles.len(),
            inspector::BACNET => self.bacnet_profiles.len(),
            _ => 0,
        }
    }
}

/// Why a valid policy does not fit the maps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error(
        "the policy needs {needed} conduit lookup entries, but the map holds {limit} per policy \
         (zone pair {from} -> {to} alone needs {pair_needed}); merge adjacent ports into ranges \
         and list ranges that start and end on multiples of 256"
    )]
    TooManyConduitEntries {
        needed: usize,
        limit: usize,
        from: String,
        to: String,
        pair_needed: usize,
    },
    #[error(
        "the policy needs {needed} distinct {protocol} inspection profiles, but the profile map \
         holds {limit} per policy; give {protocol} rules that can share a profile identical options"
    )]
    TooManyProfiles {
        protocol: &'static str,
        needed: usize,
        limit: usize,
    },
    #[error(
        "the IPv4 zone networks need {needed} lookup blocks, but the zone table holds {limit} \
         per policy (a block for every /16 that holds a longer prefix and for every /24 that \
         holds a longer prefix); aggregate host addresses and small networks into /24s or \
         shorter prefixes"
    )]
    TooManyZoneBlocks { needed: usize, limit: usize },
    #[error(
        "the conduit lookup table found no place for entry {placed} of {needed}; this should \
         not happen below {limit} entries: please report it with the policy"
    )]
    ConduitTableFull {
        placed: usize,
        needed: usize,
        limit: usize,
    },
    #[error(
        "the policy has {needed} conduit rules, but rule ids and their counters hold {limit} per \
         policy; merge rules of a conduit that differ only in ports into one rule with a list"
    )]
    TooManyRules { needed: usize, limit: usize },
    #[error("zone {0} is not defined (the policy was not validated)")]
    UnknownZone(String),
}

/// The first point and the last point of the block a conduit key stands for.
pub fn block_range(key: &ConduitKey) -> (u32, u32) {
    let level = Level::from_u8(key.level).unwrap_or(Level::Exact);
    let proto = u32::from(key.proto) << 16;
    let first = match level {
        Level::Exact => proto | u32::from(key.value),
        Level::Block => proto | u32::from(key.value) << 8,
        Level::Protocol => proto,
        Level::AnyProtocol => 0,
    };
    (first, first + ((1u32 << level.shift()) - 1))
}

/// Compiles a validated policy into map entries.
pub fn compile(policy: &ValidatedPolicy) -> Result<CompiledPolicy, CompileError> {
    let zone_id = |name: &str| {
        policy
            .zone(name)
            .map(|z| z.id)
            .ok_or_else(|| CompileError::UnknownZone(name.to_owned()))
    };

    let zones: Vec<ZoneSummary> = policy
        .zones()
        .iter()
        .map(|z| ZoneSummary {
            id: z.id,
            name: z.name.clone(),
            security_level: z.security_level,
            networks: z.networks.clone(),
            intra_zone_allow: z.intra_zone_allow,
        })
        .collect();

    let mut zones_v4 = Vec::new();
    let mut zones_v6 = Vec::new();
    for z in policy.zones() {
        let info = ZoneMatch {
            zone_id: z.id,
            flags: if z.intra_zone_allow {
                zone_flags::INTRA_ALLOW
            } else {
                0
            },
        };
        for net in &z.networks {
            match net {
                IpNet::V4(n) => zones_v4.push(ZoneEntryV4 {
                    prefix_len: n.prefix_len(),
                    addr: n.network().octets(),
                    info,
                }),
                IpNet::V6(n) => zones_v6.push(ZoneEntryV6 {
                    prefix_len: n.prefix_len(),
                    addr: n.network().octets(),
                    info,
                }),
            }
        }
    }

    // Inspection profiles in rule order, identical ones shared, ids per protocol.
    let profiles::Profiles {
        modbus: modbus_profiles,
        iec104: iec104_profiles,
        dnp3: dnp3_profiles,
        s7comm: s7comm_profiles,
        enip: enip_profiles,
        opcua: opcua_profiles,
        bacnet: bacnet_profiles,
        rules: rule_profiles,
    } = profiles::collect(policy)?;

    let rule_count: usize = policy.conduits().iter().map(|c| c.rules.len()).sum();
    if rule_count > capacity::MAX_RULES as usize {
        return Err(CompileError::TooManyRules {
            needed: rule_count,
            limit: capacity::MAX_RULES as usize,
        });
    }
    // Rule ids in file order: the first rule of the first conduit is 1.
    let mut next_rule = 0u16;
    let rule_ids: Vec<Vec<u16>> = policy
        .conduits()
        .iter()
        .map(|c| {
            c.rules
                .iter()
                .map(|_| {
                    next_rule += 1;
                    next_rule
                })
                .collect()
        })
        .collect();

    let conduits: Vec<ConduitSummary> = policy
        .conduits()
        .iter()
        .zip(&rule_profiles)
        .zip(&rule_ids)
        .map(|((c, profiles), ids)| ConduitSummary {
            id: c.id,
            name: c.name.clone(),
            from: c.from.clone(),
            to: c.to.clone(),
            description: c.description.clone(),
            rules: c.rules.iter().map(ToString::to_string).collect(),
            rule_profiles: profiles.iter().map(|&(_, id)| id).collect(),
            rule_inspectors: profiles.iter().map(|&(inspector, _)| inspector).collect(),
            rule_ids: ids.clone(),
            on_violation: c.on_violation,
            mode: c.mode,
            rate_limit: c.rate_limit,
        })
        .collect();

    let mut interfaces = Vec::new();
    for i in policy.interfaces() {
        let allowed_zones = match &i.zones {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| zone_id(n))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        interfaces.push(CompiledInterface {
            name: i.name.clone(),
            xdp_mode: i.xdp_mode,
            allowed_zones,
            fast_path: i.fast_path,
        });
    }

    // First-match partition per zone pair, rules offered in file order; the owner of a
    // point is (conduit id, inspector id, profile id, rule id).
    type Owner = (u16, u8, u16, u16);
    let mut pairs: BTreeMap<(u16, u16), FirstMatch<Owner>> = BTreeMap::new();
    for ((c, profiles), ids) in policy.conduits().iter().zip(&rule_profiles).zip(&rule_ids) {
        let fm = pairs
            .entry((zone_id(&c.from)?, zone_id(&c.to)?))
            .or_default();
        for ((rule, &(inspector, profile_id)), &rule_id) in c.rules.iter().zip(profiles).zip(ids) {
            for (first, last) in rule.points() {
                fm.claim(first, last, (c.id, inspector, profile_id, rule_id));
            }
        }
    }
    let log_flags = if policy.defaults().log == LogMode::All {
        action_flags::LOG_ALL
    } else {
        0
    };
    // Per-conduit action flags, indexed by conduit id.
    let mut conduit_flags = vec![log_flags; policy.conduits().len() + 1];
    let mut rate_limits = Vec::new();
    for c in policy.conduits() {
        if c.mode == crate::policy::Mode::Monitor {
            conduit_flags[c.id as usize] |= action_flags::MONITOR;
        }
        let inspected = c.rules.iter().any(|r| r.inspected());
        if c.on_violation != OnViolation::Drop && inspected {
            conduit_flags[c.id as usize] |= action_flags::RESET_ON_VIOLATION;
        }
        if c.on_violation == OnViolation::Exception && inspected {
            conduit_flags[c.id as usize] |= action_flags::EXCEPTION_ON_VIOLATION;
        }
        if let Some(rl) = c.rate_limit {
            conduit_flags[c.id as usize] |= action_flags::RATE_LIMIT;
            rate_limits.push((
                c.id,
                firewall_common::maps::RateLimit {
                    pps: rl.pps,
                    burst: rl.burst,
                },
            ));
        }
    }
    let mut zone_pairs = Vec::new();
    let mut conduit_entries = Vec::new();
    let mut largest: Option<((u16, u16), usize)> = None;
    for (&(src, dst), fm) in &pairs {
        let before = conduit_entries.len();
        let mut level_mask = 0u32;
        for (first, last, (conduit_id, inspector, profile_id, rule_id)) in
            fm.merged_by(|owner| owner)
        {
            conduit::cover(first, last, |level, block_start| {
                level_mask |= 1 << level as u32;
                conduit_entries.push((
                    conduit::key_at(0, src, dst, block_start, level),
                    ConduitAction {
                        conduit_id,
                        profile_id,
                        flags: conduit_flags[conduit_id as usize],
                        inspector,
                        rule_id,
                    },
                ));
            });
        }
        let n = conduit_entries.len() - before;
        if largest.is_none_or(|(_, m)| n > m) {
            largest = Some(((src, dst), n));
        }
        zone_pairs.push((
            ZonePairKey {
                slot: 0,
                src_zone: src,
                dst_zone: dst,
                _pad: 0,
            },
            ZonePairLevels { level_mask },
        ));
    }
    let limit = (capacity::CONDUIT_ENTRIES / 2) as usize;
    if conduit_entries.len() > limit {
        let name = |id: u16| {
            policy
                .zones()
                .iter()
                .find(|z| z.id == id)
                .map_or_else(|| id.to_string(), |z| z.name.clone())
        };
        let ((src, dst), pair_needed) = largest.unwrap_or(((0, 0), 0));
        return Err(CompileError::TooManyConduitEntries {
            needed: conduit_entries.len(),
            limit,
            from: name(src),
            to: name(dst),
            pair_needed,
        });
    }

    let zone_table_v4 =
        ZoneTableV4::build(&zones_v4).map_err(|e| CompileError::TooManyZoneBlocks {
            needed: e.needed,
            limit: firewall_common::zonetable::BLOCKS_PER_SLOT as usize,
        })?;

    let conduit_table =
        ConduitTable::build(&conduit_entries).map_err(|e| CompileError::ConduitTableFull {
            placed: e.placed,
            needed: conduit_entries.len(),
            limit,
        })?;

    Ok(CompiledPolicy {
        name: policy.name().to_owned(),
        hash: policy.source_hash().to_owned(),
        slot_flags: if policy.l2().neighbor_discovery {
            slot_flags::ALLOW_ND
        } else {
            0
        } | if policy.defaults().log == crate::policy::LogMode::None {
            0
        } else {
            slot_flags::LOG_DENIED
        } | if policy.defaults().mode == crate::policy::Mode::Monitor {
            slot_flags::MONITOR
        } else {
            0
        },
        zones,
        conduits,
        interfaces,
        zones_v4,
        zone_table_v4,
        zones_v6,
        zone_pairs,
        conduit_entries,
        conduit_table,
        l2_allow: policy.l2().ethertypes.clone(),
        modbus_profiles,
        iec104_profiles,
        dnp3_profiles,
        s7comm_profiles,
        enip_profiles,
        opcua_profiles,
        bacnet_profiles,
        rate_limits,
    })
}

#[cfg(test)]
mod tests;
