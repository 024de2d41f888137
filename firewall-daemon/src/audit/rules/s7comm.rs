//! The S7comm findings: port 102 taken by a rule without S7comm inspection (ZCFW-A018), and
//! functions that change or copy the PLC's program or process, or S7comm-plus, allowed into
//! SL3-4 zones (ZCFW-A019).

use firewall_common::s7comm::{self, S7Profile, USERDATA, Userdata, profile_flags};

use super::{Changes, Ctx, S7_CHANGES, S7_UNINSPECTED, rule_key, uninspected::Uninspected};
use crate::policy::{
    Conduit, Protocol, Rule, Zone,
    protocols::{s7comm_danger, s7comm_function_label, s7comm_userdata_danger},
};

/// [`S7_UNINSPECTED`]: tcp/102 taken by a plain tcp rule.
pub(super) const UNINSPECTED: Uninspected = Uninspected {
    id: S7_UNINSPECTED,
    protocol: Protocol::S7comm,
    passes: "PLC stop, downloads and writes pass",
    needs: "functions (or `read_only: true`) and tsaps",
};

/// What of `profile` changes or copies the PLC's program or process.
pub(super) fn changing(profile: &S7Profile) -> Vec<String> {
    let mut out: Vec<String> = (0..=u8::MAX)
        .filter(|&code| profile.functions.contains(code))
        .filter(|&code| s7comm_danger(code).is_some() || s7comm::function(code).is_none())
        .map(|code| {
            let label = s7comm_function_label(code);
            if code != s7comm::job::PI_SERVICE || profile.flags & profile_flags::RESTRICT_PI == 0 {
                return label;
            }
            let names: Vec<&str> = (0..s7comm::PI_SERVICES.len() as u8)
                .filter(|&i| profile.allows_pi_service(i))
                .filter_map(s7comm::pi_service_label)
                .collect();
            format!("{label} [{}]", names.join(", "))
        })
        .collect();
    for u in USERDATA {
        let whole = profile.userdata_groups & 1 << u.group != 0;
        let named = u.subfunctions != Userdata::ALL
            && profile.userdata[u.group as usize] & u.subfunctions == u.subfunctions;
        if (whole || named) && s7comm_userdata_danger(u.name).is_some() {
            out.push(format!("userdata {}", u.name));
        }
    }
    if profile.flags & profile_flags::S7COMM_PLUS != 0 {
        out.push("S7comm-plus (uninspected)".into());
    }
    out
}

pub(super) fn s7comm_rule(
    cx: &mut Ctx<'_>,
    ci: usize,
    c: &Conduit,
    to: &Zone,
    ri: usize,
    rule: &Rule,
    profile: &S7Profile,
) {
    let areas = if profile.flags & profile_flags::RESTRICT_ITEMS != 0 {
        "items narrowed by areas/db_numbers"
    } else {
        "items may name every area and data block"
    };
    Changes {
        id: S7_CHANGES,
        allows: "allows S7 functions that change the PLC",
        changes: &changing(profile),
        detail: Some(areas),
        key: format!("{}.s7comm", rule_key(ci, ri)),
        fix: "allow these only from the engineering station's zone, narrow write_var with `areas` and `db_numbers`, and document the reason; use `read_only: true` elsewhere",
    }
    .push(cx, c, to, rule);
}
