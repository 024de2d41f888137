//! The BACnet/IP findings: udp/47808 taken by a rule without BACnet inspection (ZCFW-A025),
//! and services that change or silence devices, or BBMD management, allowed into SL3-4 zones
//! (ZCFW-A026).

use firewall_common::bacnet::{self, BacnetProfile};

use super::{BACNET_CHANGES, BACNET_UNINSPECTED, Ctx, Severity, by_level, rule_key, zone_label};
use crate::policy::{
    Conduit, Rule, Zone,
    protocols::{bacnet_danger, bacnet_service_label},
};

/// [`BACNET_UNINSPECTED`]: `owner` wins udp/47808 for this zone pair but is a plain udp rule
/// that names the port.
pub(super) fn uninspected(
    cx: &mut Ctx<'_>,
    ci: usize,
    c: &Conduit,
    to: &Zone,
    ri: usize,
    owner: &Rule,
) {
    // `protocol: any` and udp rules without ports are reported as such (ZCFW-A001, A002).
    let port = bacnet::PORT;
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
        BACNET_UNINSPECTED,
        sev,
        format!(
            "rule `{owner}` of conduit \"{}\" lets BACnet/IP (udp 47808) into {} without its inspection: write_property, reinitialize_device, device_communication_control and forwarded NPDUs pass",
            c.name,
            zone_label(to)
        ),
    )
    .at_conduit(c, rule_key(ci, ri))
    .fix("take port 47808 out of this rule and put a `protocol: bacnet` rule with services (or `read_only: true`) before it");
}

/// What of `profile` changes or silences a device, or rewrites BBMD tables.
pub(super) fn changing(profile: &BacnetProfile) -> Vec<String> {
    let mut out: Vec<String> = (0..=u8::MAX)
        .filter(|&code| profile.confirmed.contains(code))
        .filter(|&code| {
            bacnet_danger(false, code).is_some() || bacnet::confirmed_name(code).is_none()
        })
        .map(|code| bacnet_service_label(false, code))
        .collect();
    out.extend(
        (0..=u8::MAX)
            .filter(|&code| profile.unconfirmed.contains(code))
            .filter(|&code| {
                bacnet_danger(true, code).is_some() || bacnet::unconfirmed_name(code).is_none()
            })
            .map(|code| bacnet_service_label(true, code)),
    );
    for code in [0x01u8, 0x05, 0x08] {
        if profile.allows_bvlc(code) {
            out.push(format!(
                "BVLC {}",
                bacnet::bvlc_name(code).unwrap_or("management")
            ));
        }
    }
    out
}

pub(super) fn bacnet_rule(
    cx: &mut Ctx<'_>,
    ci: usize,
    c: &Conduit,
    to: &Zone,
    ri: usize,
    rule: &Rule,
    profile: &BacnetProfile,
) {
    let changes = changing(profile);
    if to.security_level < 3 || changes.is_empty() {
        return;
    }
    cx.push(
        BACNET_CHANGES,
        Severity::High,
        format!(
            "rule `{rule}` of conduit \"{}\" allows BACnet services that change or silence devices into {}: {}",
            c.name,
            zone_label(to),
            changes.join(", "),
        ),
    )
    .at_conduit(c, format!("{}.bacnet", rule_key(ci, ri)))
    .fix("allow these only from the building management workstation's zone to the devices it manages, and document the reason; use `read_only: true` elsewhere");
}
