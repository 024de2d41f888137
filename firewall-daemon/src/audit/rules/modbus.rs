//! The Modbus findings of an inspected rule: writes into SL3-4 zones (ZCFW-A005), unnamed
//! function codes (ZCFW-A006), `strict: false` (ZCFW-A007).

use firewall_common::modbus::{self, Access, ModbusProfile, address_class};

use super::{
    Ctx, MODBUS_NOT_STRICT, MODBUS_UNNAMED_FUNCTIONS, MODBUS_WRITES, Severity, rule_key, zone_label,
};
use crate::policy::{Conduit, Rule, Zone, protocols::modbus_table_name};

/// Names of the Modbus function codes a profile allows, by access class.
fn modbus_functions(profile: &ModbusProfile) -> (Vec<String>, Vec<u8>) {
    let mut writes = Vec::new();
    let mut unnamed = Vec::new();
    for code in 1..=u8::MAX {
        if !profile.functions.contains(code) {
            continue;
        }
        match modbus::function_by_code(code) {
            Some(f) if f.access == Access::Write => writes.push(format!("{} ({code})", f.name)),
            Some(_) => {}
            None => unnamed.push(code),
        }
    }
    (writes, unnamed)
}

/// The address ranges a profile lets requests write, e.g. `write_coils 100-199`.
fn write_ranges(profile: &ModbusProfile) -> Vec<String> {
    let mut out = Vec::new();
    for class in [
        address_class::WRITE_COILS,
        address_class::WRITE_HOLDING_REGISTERS,
    ] {
        let name = modbus_table_name(class).unwrap_or("write");
        for r in profile.ranges.iter().filter(|r| r.classes & class != 0) {
            if r.first == r.last {
                out.push(format!("{name} {}", r.first));
            } else {
                out.push(format!("{name} {}-{}", r.first, r.last));
            }
        }
    }
    out
}

pub(super) fn modbus_rule(
    cx: &mut Ctx<'_>,
    ci: usize,
    c: &Conduit,
    to: &Zone,
    ri: usize,
    rule: &Rule,
    profile: &ModbusProfile,
) {
    let key = rule_key(ci, ri);
    let into = zone_label(to);
    let (writes, unnamed) = modbus_functions(profile);
    if to.security_level >= 3 && !writes.is_empty() {
        let ranges = write_ranges(profile);
        cx.push(
            MODBUS_WRITES,
            Severity::High,
            format!(
                "rule `{rule}` of conduit \"{}\" allows Modbus writes into {into}: {}; write addresses: {}",
                c.name,
                writes.join(", "),
                if ranges.is_empty() {
                    "none".to_owned()
                } else {
                    ranges.join(", ")
                }
            ),
        )
        .at_conduit(c, format!("{key}.modbus"))
        .fix("allow writes only from the zone that must write (engineering), to the narrowest address ranges, and document the reason; use `read_only: true` elsewhere");
    }
    if !unnamed.is_empty() {
        let list: Vec<String> = unnamed.iter().map(u8::to_string).collect();
        cx.push(
            MODBUS_UNNAMED_FUNCTIONS,
            if to.security_level >= 3 {
                Severity::High
            } else {
                Severity::Medium
            },
            format!(
                "rule `{rule}` of conduit \"{}\" allows Modbus function codes {} into {into}",
                c.name,
                list.join(", ")
            ),
        )
        .at_conduit(c, format!("{key}.modbus.functions"))
        .fix("remove vendor and programming function codes from conduits used in operation; open them for maintenance windows only");
    }
    if !profile.is_strict() {
        cx.push(
            MODBUS_NOT_STRICT,
            Severity::Medium,
            format!(
                "rule `{rule}` of conduit \"{}\" inspects Modbus into {into} with `strict: false`",
                c.name
            ),
        )
        .at_conduit(c, format!("{key}.modbus.strict"))
        .fix("remove `strict: false` (strict is the default) unless a device is known to send padded requests");
    }
}
