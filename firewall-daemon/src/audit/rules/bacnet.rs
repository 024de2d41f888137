//! The BACnet/IP findings: udp/47808 taken by a rule without BACnet inspection (ZCFW-A025),
//! and services that change or silence devices, or BBMD management, allowed into SL3-4 zones
//! (ZCFW-A026).

use firewall_common::bacnet::{self, BacnetProfile};

use super::{BACNET_CHANGES, BACNET_UNINSPECTED, Changes, Ctx, rule_key, uninspected::Uninspected};
use crate::policy::{
    Conduit, Protocol, Rule, Zone,
    protocols::{bacnet_danger, bacnet_service_label},
};

/// [`BACNET_UNINSPECTED`]: udp/47808 taken by a plain udp rule.
pub(super) const UNINSPECTED: Uninspected = Uninspected {
    id: BACNET_UNINSPECTED,
    protocol: Protocol::Bacnet,
    passes: "write_property, reinitialize_device, device_communication_control and forwarded NPDUs pass",
    needs: "services (or `read_only: true`)",
};

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
    Changes {
        id: BACNET_CHANGES,
        allows: "allows BACnet services that change or silence devices",
        changes: &changing(profile),
        detail: None,
        key: format!("{}.bacnet", rule_key(ci, ri)),
        fix: "allow these only from the building management workstation's zone to the devices it manages, and document the reason; use `read_only: true` elsewhere",
    }
    .push(cx, c, to, rule);
}
