//! The EtherNet/IP findings: port 44818 taken by a rule without EtherNet/IP inspection
//! (ZCFW-A023), and services that write, reset, or open connections allowed into SL3-4 zones
//! (ZCFW-A024).

use firewall_common::enip::{EnipProfile, SERVICES, Target, profile_flags};

use super::{Changes, Ctx, ENIP_CHANGES, ENIP_UNINSPECTED, rule_key, uninspected::Uninspected};
use crate::policy::{
    Conduit, Protocol, Rule, Zone,
    protocols::{enip_danger, enip_service_label},
};

/// [`ENIP_UNINSPECTED`]: tcp/44818 taken by a plain tcp rule.
pub(super) const UNINSPECTED: Uninspected = Uninspected {
    id: ENIP_UNINSPECTED,
    protocol: Protocol::Enip,
    passes: "Set_Attribute, Reset, tag writes and Forward_Open pass, also nested in Unconnected Send",
    needs: "services (or `read_only: true`)",
};

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
    let classes = if profile.flags & profile_flags::RESTRICT_CLASSES != 0 {
        "requests narrowed by classes"
    } else {
        "requests may address every object class"
    };
    Changes {
        id: ENIP_CHANGES,
        allows: "allows CIP services that change the device",
        changes: &changing(profile),
        detail: Some(classes),
        key: format!("{}.enip", rule_key(ci, ri)),
        fix: "allow these only from the engineering station's zone, narrow them with `classes`, and document the reason; use `read_only: true` elsewhere",
    }
    .push(cx, c, to, rule);
}
