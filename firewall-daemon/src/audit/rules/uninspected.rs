//! The "passes without inspection" findings of the protocols whose port a plain tcp or udp
//! rule can take (S7comm ZCFW-A018, IEC 104 and DNP3 ZCFW-A015, EtherNet/IP ZCFW-A023,
//! BACnet/IP ZCFW-A025, OPC UA ZCFW-A027): one check, each protocol saying what passes and
//! what its rule needs.
//!
//! Modbus (ZCFW-A004) differs: every rule that wins tcp/502 uninspected is reported,
//! `protocol: any` and whole-transport rules included.

use super::{Ctx, Severity, by_level, rule_key, zone_label};
use crate::policy::{Conduit, Protocol, Rule, Zone};

/// What an inspected protocol's "uninspected" finding says.
pub(super) struct Uninspected {
    /// The finding's rule id.
    pub id: &'static str,
    pub protocol: Protocol,
    /// What then passes (`PLC stop, downloads and writes pass`).
    pub passes: &'static str,
    /// What the `protocol:` rule to put before it needs (`functions (or `read_only: true`)`).
    pub needs: &'static str,
}

/// `u.id`: `owner` wins the port of `u.protocol` for this zone pair but is a plain tcp or udp
/// rule that names the port. `protocol: any` and rules without ports are reported as such
/// (ZCFW-A001, A002).
pub(super) fn check(
    cx: &mut Ctx<'_>,
    (ci, c): (usize, &Conduit),
    to: &Zone,
    (ri, owner): (usize, &Rule),
    u: &Uninspected,
) {
    let port = u.protocol.default_port().unwrap_or(0);
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
    let at = if u.protocol.number() == Protocol::Udp.number() {
        "udp"
    } else {
        "port"
    };
    cx.push(
        u.id,
        sev,
        format!(
            "rule `{owner}` of conduit \"{}\" lets {} ({at} {port}) into {} without its inspection: {}",
            c.name,
            u.protocol.display(),
            zone_label(to),
            u.passes,
        ),
    )
    .at_conduit(c, rule_key(ci, ri))
    .fix(format!(
        "take port {port} out of this rule and put a `protocol: {}` rule with {} before it",
        u.protocol.name(),
        u.needs
    ));
}
