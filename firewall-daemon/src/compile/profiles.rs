//! Inspection profiles of the inspected rules, one vector per protocol: identical profiles
//! are shared, and ids are numbered per protocol from 1 in the order rules first name them
//! (`modbus_profiles[i]`, `opcua_profiles[i]`, ... are id `i + 1` of their protocol's profile
//! map; 0 = no inspection).

use firewall_common::{
    bacnet::BacnetProfile,
    dnp3::Dnp3Profile,
    enip::EnipProfile,
    iec104::Iec104Profile,
    maps::{capacity, inspector},
    modbus::ModbusProfile,
    opcua::OpcuaProfile,
    s7comm::S7Profile,
};

use super::CompileError;
use crate::policy::{Profile, ValidatedPolicy};

/// The profiles of a policy and, per conduit and rule, (inspector, profile id).
#[derive(Default)]
pub(super) struct Profiles {
    pub modbus: Vec<ModbusProfile>,
    pub iec104: Vec<Iec104Profile>,
    pub dnp3: Vec<Dnp3Profile>,
    pub s7comm: Vec<S7Profile>,
    pub enip: Vec<EnipProfile>,
    pub opcua: Vec<OpcuaProfile>,
    pub bacnet: Vec<BacnetProfile>,
    /// Per conduit, per rule: the inspector id and profile id (`(NONE, 0)` uninspected).
    pub rules: Vec<Vec<(u8, u16)>>,
}

/// The id of `p` in `list`, appended when new.
fn intern<T: PartialEq + Copy>(list: &mut Vec<T>, p: &T) -> u16 {
    let index = match list.iter().position(|q| q == p) {
        Some(i) => i,
        None => {
            list.push(*p);
            list.len() - 1
        }
    };
    u16::try_from(index + 1).unwrap_or(u16::MAX)
}

/// Collects the profiles of every inspected rule; refuses a protocol with more distinct
/// profiles than its map holds per policy.
pub(super) fn collect(policy: &ValidatedPolicy) -> Result<Profiles, CompileError> {
    let mut out = Profiles::default();
    for c in policy.conduits() {
        let ids = c
            .rules
            .iter()
            .map(|rule| match rule.profile() {
                None => (inspector::NONE, 0),
                Some(Profile::Modbus(p)) => (inspector::MODBUS, intern(&mut out.modbus, p)),
                Some(Profile::Iec104(p)) => (inspector::IEC104, intern(&mut out.iec104, p)),
                Some(Profile::Dnp3(p)) => (inspector::DNP3, intern(&mut out.dnp3, p)),
                Some(Profile::S7comm(p)) => (inspector::S7COMM, intern(&mut out.s7comm, p)),
                Some(Profile::Enip(p)) => (inspector::ENIP, intern(&mut out.enip, p)),
                Some(Profile::Opcua(p)) => (inspector::OPCUA, intern(&mut out.opcua, p)),
                Some(Profile::Bacnet(p)) => (inspector::BACNET, intern(&mut out.bacnet, p)),
            })
            .collect();
        out.rules.push(ids);
    }
    let limit = (capacity::MAX_PROFILES - 1) as usize;
    for (protocol, needed) in [
        ("Modbus", out.modbus.len()),
        ("IEC 104", out.iec104.len()),
        ("DNP3", out.dnp3.len()),
        ("S7comm", out.s7comm.len()),
        ("EtherNet/IP", out.enip.len()),
        ("OPC UA", out.opcua.len()),
        ("BACnet", out.bacnet.len()),
    ] {
        if needed > limit {
            return Err(CompileError::TooManyProfiles {
                protocol,
                needed,
                limit,
            });
        }
    }
    Ok(out)
}

/// The protocol name of inspector `id` as `zcfw compile` prints it.
pub fn inspector_name(id: u8) -> &'static str {
    match id {
        inspector::MODBUS => "modbus",
        inspector::IEC104 => "iec104",
        inspector::DNP3 => "dnp3",
        inspector::S7COMM => "s7comm",
        inspector::ENIP => "enip",
        inspector::OPCUA => "opcua",
        inspector::BACNET => "bacnet",
        _ => "none",
    }
}
