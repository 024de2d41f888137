//! The policy file as written: serde structs that refuse unknown keys. Values whose checks
//! deserve a precise diagnostic (ranges, names, references) stay loose here and are checked
//! by [`super::validate`]; required keys are `Option` so a missing one is reported together
//! with every other error.

use std::{fmt, marker::PhantomData};

use serde::{
    Deserialize, Deserializer,
    de::{self, MapAccess, SeqAccess, Visitor},
};

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a policy (a mapping with version, name, zones, ...)"
)]
pub struct RawPolicy {
    pub version: Option<i64>,
    pub name: Option<String>,
    pub defaults: Option<RawDefaults>,
    pub interfaces: Option<Vec<RawInterface>>,
    pub zones: Option<NamedMap<RawZone>>,
    pub conduits: Option<Vec<RawConduit>>,
    pub l2: Option<RawL2>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "defaults: { action, log, mode }")]
pub struct RawDefaults {
    pub action: Option<String>,
    pub log: Option<String>,
    pub mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an interface: { name, zones, xdp_mode, fast_path }"
)]
pub struct RawInterface {
    pub name: Option<String>,
    pub zones: Option<Vec<String>>,
    pub xdp_mode: Option<String>,
    pub fast_path: Option<serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a zone: { security_level, networks, intra_zone, security_level_target }"
)]
pub struct RawZone {
    pub security_level: Option<i64>,
    pub networks: Option<Vec<String>>,
    pub intra_zone: Option<String>,
    /// Target security level per foundational requirement: `{ fr1: 3, ..., fr7: 2 }`.
    pub security_level_target: Option<RawSlVector>,
}

/// `security_level_target:` of a zone: one IEC 62443 SL-T per foundational requirement.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "security_level_target: { fr1, fr2, fr3, fr4, fr5, fr6, fr7 }"
)]
pub struct RawSlVector {
    pub fr1: Option<i64>,
    pub fr2: Option<i64>,
    pub fr3: Option<i64>,
    pub fr4: Option<i64>,
    pub fr5: Option<i64>,
    pub fr6: Option<i64>,
    pub fr7: Option<i64>,
}

impl RawSlVector {
    /// The seven values, FR 1 first.
    pub fn values(&self) -> [Option<i64>; 7] {
        [
            self.fr1, self.fr2, self.fr3, self.fr4, self.fr5, self.fr6, self.fr7,
        ]
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a conduit: { name, from, to, rules, description, on_violation, mode, rate_limit }"
)]
pub struct RawConduit {
    pub name: Option<String>,
    pub description: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub rules: Option<Vec<RawRule>>,
    /// What the data path does with a segment its inspection denies: `drop` or `reset`.
    pub on_violation: Option<String>,
    /// `enforce` or `monitor` (would-be denies of this conduit pass as alerts).
    pub mode: Option<String>,
    /// Per-source token bucket: `{ pps, burst }`.
    pub rate_limit: Option<RawRateLimit>,
}

/// `rate_limit: { pps, burst }` of a conduit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a rate limit: { pps, burst }")]
pub struct RawRateLimit {
    pub pps: Option<u64>,
    pub burst: Option<u64>,
}

/// A rule, with the options block of each industrial protocol (`modbus:`, `opcua:`, ...); a
/// block belongs to the rule of its own protocol only.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a rule: { protocol, ports } or { protocol, types }"
)]
pub struct RawRule {
    pub protocol: Option<String>,
    pub ports: Option<Vec<Scalar>>,
    pub types: Option<Vec<Scalar>>,
    pub modbus: Option<RawModbus>,
    pub dnp3: Option<RawDnp3>,
    pub s7comm: Option<RawS7comm>,
    pub enip: Option<RawEnip>,
    pub iec104: Option<RawIec104>,
    pub opcua: Option<RawOpcua>,
    pub bacnet: Option<RawBacnet>,
}

impl RawRule {
    /// Industrial protocol option blocks present in this rule, by keyword.
    pub fn option_blocks(&self) -> Vec<&'static str> {
        [
            ("modbus", self.modbus.is_some()),
            ("dnp3", self.dnp3.is_some()),
            ("s7comm", self.s7comm.is_some()),
            ("enip", self.enip.is_some()),
            ("iec104", self.iec104.is_some()),
            ("opcua", self.opcua.is_some()),
            ("bacnet", self.bacnet.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(k, _)| k)
        .collect()
    }
}

/// The `modbus:` block of a `protocol: modbus` rule.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "modbus: { unit_ids, functions, read_only, addresses, max_quantity, diagnostics_subfunctions, mei_types, strict }"
)]
pub struct RawModbus {
    pub unit_ids: Option<Vec<Scalar>>,
    pub functions: Option<Vec<Scalar>>,
    pub read_only: Option<bool>,
    pub addresses: Option<RawAddresses>,
    pub max_quantity: Option<Scalar>,
    pub diagnostics_subfunctions: Option<Vec<Scalar>>,
    pub mei_types: Option<Vec<Scalar>>,
    pub strict: Option<bool>,
}

/// The `iec104:` block of a `protocol: iec104` rule.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "iec104: { type_ids, common_addresses, read_only }"
)]
pub struct RawIec104 {
    pub type_ids: Option<Vec<Scalar>>,
    pub common_addresses: Option<Vec<Scalar>>,
    pub read_only: Option<bool>,
}

/// The `dnp3:` block of a `protocol: dnp3` rule.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "dnp3: { functions, addresses, read_only }"
)]
pub struct RawDnp3 {
    pub functions: Option<Vec<Scalar>>,
    pub addresses: Option<Vec<Scalar>>,
    pub read_only: Option<bool>,
}

/// The `s7comm:` block of a `protocol: s7comm` rule.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "s7comm: { functions, pi_services, userdata, read_only, tsaps, areas, db_numbers, s7comm_plus }"
)]
pub struct RawS7comm {
    pub functions: Option<Vec<Scalar>>,
    pub pi_services: Option<Vec<Scalar>>,
    pub userdata: Option<Vec<Scalar>>,
    pub read_only: Option<bool>,
    pub tsaps: Option<Vec<Scalar>>,
    pub areas: Option<Vec<Scalar>>,
    pub db_numbers: Option<Vec<Scalar>>,
    pub s7comm_plus: Option<String>,
}

/// The `enip:` block of a `protocol: enip` rule.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "enip: { services, commands, read_only, classes }"
)]
pub struct RawEnip {
    pub services: Option<Vec<Scalar>>,
    pub commands: Option<Vec<Scalar>>,
    pub read_only: Option<bool>,
    pub classes: Option<Vec<Scalar>>,
}

/// The `bacnet:` block of a `protocol: bacnet` rule.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "bacnet: { services, read_only, bvlc, network_messages }"
)]
pub struct RawBacnet {
    pub services: Option<Vec<Scalar>>,
    pub read_only: Option<bool>,
    pub bvlc: Option<Vec<Scalar>>,
    pub network_messages: Option<Vec<Scalar>>,
}

/// The `opcua:` block of a `protocol: opcua` rule.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "opcua: { security_policies, security_modes, services, read_only }"
)]
pub struct RawOpcua {
    pub security_policies: Option<Vec<Scalar>>,
    pub security_modes: Option<Vec<Scalar>>,
    pub services: Option<Vec<Scalar>>,
    pub read_only: Option<bool>,
}

/// `addresses:` of a Modbus rule: one list for every table the rule's functions use, or a
/// mapping of table name to list.
#[derive(Debug)]
pub enum RawAddresses {
    List(Vec<Scalar>),
    Tables(Vec<(Scalar, Vec<Scalar>)>),
}

impl<'de> Deserialize<'de> for RawAddresses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AddressesVisitor;
        impl<'de> Visitor<'de> for AddressesVisitor {
            type Value = RawAddresses;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of address ranges, or a mapping of address table to ranges")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawAddresses, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Scalar>()? {
                    items.push(item);
                }
                Ok(RawAddresses::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawAddresses, A::Error> {
                let mut tables = Vec::new();
                while let Some(entry) = map.next_entry::<Scalar, Vec<Scalar>>()? {
                    tables.push(entry);
                }
                Ok(RawAddresses::Tables(tables))
            }
        }
        d.deserialize_any(AddressesVisitor)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "l2: { allow: [...] }")]
pub struct RawL2 {
    pub allow: Option<Vec<Scalar>>,
}

/// A number or a string, as written: ports (`22`, `"1024-65535"`), ICMP types (`8`,
/// `echo-request`), ethertypes (`0x88b8`, `arp`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scalar {
    /// An integer; `i128` holds every YAML integer serde hands over.
    Number(i128),
    Text(String),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Number(n) => write!(f, "{n}"),
            Scalar::Text(t) => f.write_str(t),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Number(i128::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Number(i128::from(v)))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Scalar, E> {
                Ok(Scalar::Number(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Scalar, E> {
                Ok(Scalar::Number(i128::try_from(v).unwrap_or(i128::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_owned()))
            }
        }
        d.deserialize_any(ScalarVisitor)
    }
}

/// A YAML mapping read in source order, duplicates kept (the validator reports them).
#[derive(Debug)]
pub struct NamedMap<T>(pub Vec<(String, T)>);

impl<T> Default for NamedMap<T> {
    fn default() -> Self {
        NamedMap(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for NamedMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for MapVisitor<T> {
            type Value = NamedMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of names to definitions")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NamedMap<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, T>()? {
                    entries.push((k, v));
                }
                Ok(NamedMap(entries))
            }
        }
        d.deserialize_map(MapVisitor(PhantomData))
    }
}
