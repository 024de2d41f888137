//! The EtherNet/IP findings: port 44818 taken by a rule without EtherNet/IP inspection
//! (ZCFW-A023), and services that write, reset, or open connections allowed into SL3-4 zones
//! (ZCFW-A024).

use firewall_common::enip::{self, EnipProfile, SERVICES, Target, profile_flags};

use super::{Ctx, ENIP_CHANGES, ENIP_UNINSPECTED, Severity, by_level, rule_key, zone_label};
use crate::policy::{
    Conduit, Rule, Zone,
    protocols::{enip_danger, enip_service_label},
};

/// [`ENIP_UNINSPECTED`]: `owner` wins tcp/44818 for this zone pair but is a plain tcp rule
/// that names the port.
pub(super) fn uninspected(
    cx: &mut Ctx<'_>,
    ci: usize,
    c: &Conduit,
    to: &Zone,
    ri: usize,
    owner: &Rule,
) {
    // `protocol: any` and tcp rules without ports are reported as such (ZCFW-A001, A002).
    let port = enip::PORT;
    let Rule::Transport {
        ports: Some(ranges),
        ..
    } = owner
    else {
        return;
    };
    if !ranges.iter().any(|r| r.first <= port && port <= r.last) {
        return;
    }
    let Some(sev) = by_level(
        to.security_level,
        [None, Some(Severity::Medium), Some(Severity::High)],
    ) else {
        return;
    };
    cx.push(
        ENIP_UNINSPECTED,
        sev,
        format!(
            "rule `{owner}` of conduit \"{}\" lets EtherNet/IP (port 44818) into {} without its inspection: Set_Attribute, Reset, tag writes and Forward_Open pass, also nested in Unconnected Send",
            c.name,
            zone_label(to)
        ),
    )
    .at_conduit(c, rule_key(ci, ri))
    .fix("take port 44818 out of this rule and put a `protocol: enip` rule with services (or `read_only: true`) before it");
}

/// What of `profile` writes, resets or opens connections on the device.
pub(super) fn changing(profile: &EnipProfile) -> Vec<String> {
    let mut out: Vec<String> = SERVICES
        .iter()
        .filter(|s| profile.allows_service(s.code, s.target) && enip_danger(s).is_some())
        .map(|s| enip_service_label(s.code, s.target))
        .collect();
    // Codes without a name, allowed on every class.
    out.extend(
        (0..=u8::MAX)
            .filter(|&c| profile.services.contains(c))
            .filter(|&c| {
                !SERVICES
                    .iter()
                    .any(|s| s.code == c && s.target == Target::Any)
            })
            .map(|c| format!("service {c:#04x} on every class")),
    );
    out
}

pub(super) fn enip_rule(
    cx: &mut Ctx<'_>,
    ci: usize,
    c: &Conduit,
    to: &Zone,
    ri: usize,
    rule: &Rule,
    profile: &EnipProfile,
) {
    let changes = changing(profile);
    if to.security_level < 3 || changes.is_empty() {
        return;
    }
    let classes = if profile.flags & profile_flags::RESTRICT_CLASSES != 0 {
        "requests narrowed by classes"
    } else {
        "requests may address every object class"
    };
    cx.push(
        ENIP_CHANGES,
        Severity::High,
        format!(
            "rule `{rule}` of conduit \"{}\" allows CIP services that change the device into {}: {}; {classes}",
            c.name,
            zone_label(to),
            changes.join(", "),
        ),
    )
    .at_conduit(c, format!("{}.enip", rule_key(ci, ri)))
    .fix("allow these only from the engineering station's zone, narrow them with `classes`, and document the reason; use `read_only: true` elsewhere");
}
