//! The `s7comm:` block of a `protocol: s7comm` rule → the rule's [`S7Profile`], every mistake
//! placed at its key with a fix (docs/s7comm.md describes the language).
//!
//! [`functions`] resolves the job function and userdata allow-lists and the `read_only`
//! preset; [`pi`] the PI service names `pi_service` jobs may carry; `tsaps` (called TSAPs of connection requests) and `db_numbers` are lists of 16-bit
//! ranges ([`super::ranges16`]); `areas` names the memory areas read_var / write_var items
//! may touch; `s7comm_plus` passes S7comm-plus uninspected.

use firewall_common::s7comm::{
    AREA_ALIASES, AREAS, MAX_RANGES, S7Profile, area, area_named, job, profile_flags,
};

use super::{Checker, Help, KeyPath, ranges16};
use crate::policy::{
    diag::did_you_mean,
    raw::{RawS7comm, Scalar},
};

mod functions;
mod pi;

/// Checks the `s7comm:` block at `bp`; `None` if it has errors (already reported).
pub(super) fn check_s7comm(c: &mut Checker<'_>, bp: &KeyPath, raw: RawS7comm) -> Option<S7Profile> {
    let read_only = raw.read_only == Some(true);
    let allowed = functions::check_functions(
        c,
        bp,
        raw.functions.as_deref(),
        raw.userdata.as_deref(),
        read_only,
        raw.pi_services.is_some(),
    );
    let mut ok = allowed.is_some();
    let mut profile = S7Profile::new();
    if let Some(a) = &allowed {
        for &code in &a.functions {
            profile.allow_function(code);
        }
        for &(group, subs, _) in &a.userdata {
            profile.allow_userdata(group, subs);
        }
    }
    // Without a function list to check against (errors above), the PI names are still checked.
    let pi_allowed = allowed.as_ref().is_none_or(|a| a.has(job::PI_SERVICE));
    match pi::check_pi_services(c, bp, raw.pi_services.as_deref(), pi_allowed) {
        Some(list) => {
            for index in list {
                profile.allow_pi_service(index);
            }
        }
        None => ok = false,
    }
    if let Some(list) = raw.tsaps.as_deref() {
        match ranges16::check_ranges16(c, &bp.key("tsaps"), list, "TSAP", MAX_RANGES) {
            Some(ranges) => {
                for (a, b) in ranges {
                    profile.allow_tsaps(a, b).ok()?;
                }
            }
            None => ok = false,
        }
    }
    let items = raw.areas.is_some() || raw.db_numbers.is_some();
    if let Some(list) = raw.areas.as_deref() {
        match check_areas(c, &bp.key("areas"), list) {
            Some(bits) => profile.restrict_areas(bits),
            None => ok = false,
        }
    }
    if let Some(list) = raw.db_numbers.as_deref() {
        match ranges16::check_ranges16(c, &bp.key("db_numbers"), list, "DB number", MAX_RANGES) {
            Some(ranges) => {
                for (a, b) in ranges {
                    profile.allow_db_numbers(a, b).ok()?;
                }
                if raw.areas.is_some() && profile.areas & (1 << 4 | 1 << 5) == 0 {
                    c.warning(
                        &bp.key("db_numbers"),
                        "`db_numbers` has no effect: `areas` lists neither `db` nor `instance_db`",
                    )
                    .help("add `db` to `areas`, or remove `db_numbers`");
                }
            }
            None => ok = false,
        }
    }
    match raw.s7comm_plus.as_deref().map(str::trim) {
        None | Some("deny") => {}
        Some("allow") => {
            profile.flags |= profile_flags::S7COMM_PLUS;
            c.warning(&bp.key("s7comm_plus"), "S7comm-plus passes uninspected: every function of an S7-1200/1500 TIA connection, writes, downloads and stop included")
                .help("allow it only on a conduit from the engineering stations (TIA Portal, HMIs) that need it; S7comm functions stay inspected on the same conduit");
        }
        Some(other) => {
            ok = false;
            c.error(&bp.key("s7comm_plus"), format!("invalid s7comm_plus value \"{other}\""))
                .help("write `s7comm_plus: allow` to pass S7comm-plus (S7-1200/1500 TIA protocol) uninspected, or omit the key to deny it");
        }
    }
    let allowed = allowed?;
    if items && !allowed.has(job::READ_VAR) && !allowed.has(job::WRITE_VAR) {
        let at = if raw.areas.is_some() {
            "areas"
        } else {
            "db_numbers"
        };
        c.warning(&bp.key(at), format!("`{at}` has no effect: the rule allows neither read_var nor write_var"))
            .help("items name areas only in read_var and write_var jobs; remove the key or allow those functions");
    }
    if allowed.has(job::WRITE_VAR) && !items {
        c.warning(&bp.key("functions"), "write_var to every memory area: inputs, outputs, flags, timers, counters and every data block")
            .help("narrow what it may write with `areas: [db]` and `db_numbers: [...]` (both also apply to read_var)");
    }
    ok.then_some(profile)
}

fn area_names() -> String {
    AREAS.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
}

/// `areas:`: names or area codes; the mask of their profile bits, `None` on errors.
fn check_areas(c: &mut Checker<'_>, ap: &KeyPath, list: &[Scalar]) -> Option<u16> {
    if list.is_empty() {
        c.error(ap, "empty area list").help(format!(
            "list the areas items may name, e.g. `areas: [db]`; names: {}",
            area_names()
        ));
        return None;
    }
    let mut bits = 0u16;
    let mut ok = true;
    for (k, s) in list.iter().enumerate() {
        let kp = ap.index(k);
        let found = match ranges16::scalar_number(s) {
            Some(n) => u8::try_from(n).ok().and_then(area),
            None => area_named(s.to_string().trim()),
        };
        let Some(a) = found else {
            ok = false;
            let text = s.to_string();
            let d = c.error(&kp, format!("unknown S7 memory area \"{}\"", text.trim()));
            let candidates = AREAS
                .iter()
                .map(|a| a.name)
                .chain(AREA_ALIASES.iter().map(|(n, _)| *n));
            if let Some(near) = did_you_mean(&text.trim().to_lowercase(), candidates) {
                d.help(format!("did you mean \"{near}\"?"));
            }
            d.help(format!(
                "use an area code (0x84 = db) or one of: {}",
                area_names()
            ));
            continue;
        };
        if bits & 1 << a.bit != 0 {
            c.warning(&kp, format!("area `{}` is listed twice", a.name))
                .help("remove the repeated entry");
        }
        bits |= 1 << a.bit;
    }
    ok.then_some(bits)
}
