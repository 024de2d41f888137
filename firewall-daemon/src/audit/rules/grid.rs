//! The IEC 60870-5-104 and DNP3 findings: the protocol's port taken by a rule without its
//! inspection (ZCFW-A015), commands and controls into SL3-4 zones (ZCFW-A016), the global or
//! broadcast address reachable (ZCFW-A017).

use firewall_common::{
    dnp3::{self, Dnp3Profile},
    iec104::{self, GLOBAL_COMMON_ADDRESS, Iec104Profile},
    sets::Range16,
};

use super::{
    Changes, Ctx, GRID_BROADCAST, GRID_COMMANDS, GRID_UNINSPECTED, Severity, rule_key,
    uninspected::Uninspected, zone_label,
};
use crate::policy::{
    Conduit, Protocol, Rule, Zone,
    protocols::{dnp3_danger, dnp3_function_label, iec104_danger, iec104_type_label},
};

/// The used ranges of a profile, as `1-3, 7`; `every station` when the profile has none.
fn ranges_text(any: bool, ranges: &[Range16], every: &str) -> String {
    if any {
        return every.to_owned();
    }
    let mut list: Vec<(u16, u16)> = ranges
        .iter()
        .filter(|r| r.first <= r.last)
        .map(|r| (r.first, r.last))
        .collect();
    list.sort_unstable();
    list.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// [`GRID_UNINSPECTED`]: tcp/2404 or tcp/20000 taken by a plain tcp rule.
pub(super) const UNINSPECTED: [Uninspected; 2] = [
    Uninspected {
        id: GRID_UNINSPECTED,
        protocol: Protocol::Iec104,
        passes: "every command passes",
        needs: "type_ids (or `read_only: true`) and common_addresses",
    },
    Uninspected {
        id: GRID_UNINSPECTED,
        protocol: Protocol::Dnp3,
        passes: "every command passes",
        needs: "functions (or `read_only: true`) and addresses",
    },
];

/// ZCFW-A016 and ZCFW-A017 for one rule: `changing` are the labels of what changes the
/// station, `broadcast` whether the addresses reach every station at once.
#[expect(
    clippy::too_many_arguments,
    reason = "the rule, where it is, and what the profile allows"
)]
fn findings(
    cx: &mut Ctx<'_>,
    ci: usize,
    c: &Conduit,
    to: &Zone,
    ri: usize,
    rule: &Rule,
    changing: Vec<String>,
    addresses: (String, Option<&'static str>),
) {
    let key = rule_key(ci, ri);
    let into = zone_label(to);
    let block = rule.protocol().name();
    let display = rule.protocol().display();
    let (reach, broadcast) = addresses;
    Changes {
        id: GRID_COMMANDS,
        allows: &format!("allows {display} commands"),
        changes: &changing,
        detail: Some(&format!("to {reach}")),
        key: format!("{key}.{block}"),
        fix: "allow commands only from the zone that must send them (the control centre), to the narrowest station addresses, and document the reason; use `read_only: true` elsewhere",
    }
    .push(cx, c, to, rule);
    if let Some(what) = broadcast {
        cx.push(
            GRID_BROADCAST,
            Severity::Medium,
            format!(
                "rule `{rule}` of conduit \"{}\" lets {display} requests reach {what} in {into}",
                c.name
            ),
        )
        .at_conduit(c, format!("{key}.{block}"))
        .fix("end the address ranges below the broadcast addresses unless the clients broadcast on purpose");
    }
}

pub(super) fn iec104_rule(
    cx: &mut Ctx<'_>,
    ci: usize,
    c: &Conduit,
    to: &Zone,
    ri: usize,
    rule: &Rule,
    profile: &Iec104Profile,
) {
    let changing: Vec<String> = (0..=u8::MAX)
        .filter(|&code| profile.type_ids.contains(code))
        .filter(|&code| iec104_danger(code).is_some() || iec104::class_of(code).is_none())
        .map(iec104_type_label)
        .collect();
    let any = profile.flags & iec104::profile_flags::ANY_COMMON_ADDRESS != 0;
    let reach = ranges_text(
        any,
        &profile.common_addresses.ranges,
        "every common address but the global one",
    );
    let global = !any && profile.common_addresses.contains(GLOBAL_COMMON_ADDRESS);
    findings(
        cx,
        ci,
        c,
        to,
        ri,
        rule,
        changing,
        (
            format!("common addresses {reach}"),
            global.then_some("the global common address 65535 (every station)"),
        ),
    );
}

pub(super) fn dnp3_rule(
    cx: &mut Ctx<'_>,
    ci: usize,
    c: &Conduit,
    to: &Zone,
    ri: usize,
    rule: &Rule,
    profile: &Dnp3Profile,
) {
    let changing: Vec<String> = (0..=u8::MAX)
        .filter(|&code| profile.functions.contains(code))
        .filter(|&code| dnp3_danger(code).is_some() || dnp3::function(code).is_none())
        .map(dnp3_function_label)
        .collect();
    let any = profile.flags & dnp3::profile_flags::ANY_ADDRESS != 0;
    let reach = ranges_text(
        any,
        &profile.addresses.ranges,
        "every outstation address (0-65519)",
    );
    let broadcast = !any && (0xFFFD..=0xFFFF).any(|a| profile.addresses.contains(a));
    findings(
        cx,
        ci,
        c,
        to,
        ri,
        rule,
        changing,
        (
            format!("link addresses {reach}"),
            broadcast.then_some("the DNP3 broadcast addresses 0xFFFD-0xFFFF (every outstation)"),
        ),
    );
}
