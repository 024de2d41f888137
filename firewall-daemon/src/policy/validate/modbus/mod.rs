//! The `modbus:` block of a `protocol: modbus` rule → the rule's [`ModbusProfile`], every
//! mistake placed at its key with a fix (docs/modbus.md describes the language).
//!
//! Addresses are checked by the data path per address table (read coils, write holding
//! registers, ...), not per function: `addresses` is therefore a list for every table the
//! rule's functions use, or a mapping of table name to list. Ranges are normalised the way
//! a reader means them — a request passes when every address it touches is listed for its
//! table — by merging overlapping and adjacent ranges of each table, then sharing one
//! profile slot between tables with identical ranges.
//!
//! One step per key, each in the file of its job: [`functions`] (and the `read_only`
//! preset), [`addresses`] (lists or tables, then the profile slots), [`options`] of FC 8 and
//! FC 43, and the [`ranges`] and numbers they all parse. This module runs them in order.

use firewall_common::modbus::{ModbusProfile, limits, profile_flags};

use super::{Checker, Help, KeyPath, Scalar, did_you_mean, list};
use crate::policy::raw::RawModbus;

mod addresses;
mod functions;
mod options;
mod ranges;

use ranges::{RangeError, parse_range, scalar_number, warn_overlaps};

/// Largest quantity any Modbus request may name (FC 1/2: 2000 coils or inputs).
const MAX_QUANTITY: u16 = limits::READ_BITS;

/// Checks the `modbus:` block at `mp`; `None` if it has errors (already reported).
pub(super) fn check_modbus(
    c: &mut Checker<'_>,
    mp: &KeyPath,
    raw: RawModbus,
) -> Option<ModbusProfile> {
    let mut ok = true;
    let mut profile = ModbusProfile::new();
    check_unit_ids(c, mp, raw.unit_ids.as_deref(), &mut profile, &mut ok);
    let allowed = functions::check_functions(
        c,
        mp,
        raw.functions.as_deref(),
        raw.read_only == Some(true),
        &mut ok,
    );
    for code in allowed.codes() {
        profile.allow_function(code);
    }
    let spans = addresses::check_addresses(c, mp, raw.addresses.as_ref(), &allowed, &mut ok);
    check_max_quantity(c, mp, raw.max_quantity.as_ref(), &mut profile, &mut ok);
    options::check_diagnostics(
        c,
        mp,
        raw.diagnostics_subfunctions.as_deref(),
        &allowed,
        &mut profile,
        &mut ok,
    );
    options::check_mei_types(
        c,
        mp,
        raw.mei_types.as_deref(),
        &allowed,
        &mut profile,
        &mut ok,
    );
    if raw.strict == Some(false) {
        profile.flags &= !profile_flags::STRICT;
    }
    if !ok {
        return None;
    }
    let slots = addresses::address_slots(c, &mp.key("addresses"), &spans)?;
    for (&(a, b), &classes) in &slots {
        profile.add_range(a, b, classes).ok()?;
    }
    Some(profile)
}

/// `unit_ids`: required; every unit behind a serial gateway is a device of its own.
fn check_unit_ids(
    c: &mut Checker<'_>,
    mp: &KeyPath,
    raw: Option<&[Scalar]>,
    profile: &mut ModbusProfile,
    ok: &mut bool,
) {
    let up = mp.key("unit_ids");
    match raw {
        None => {
            *ok = false;
            c.error(mp, "Modbus rule has no unit_ids")
                .help("list the unit ids clients may address, e.g. `unit_ids: [1]`; a TCP-native device usually answers on 0, 1 or 255")
                .help("write `unit_ids: [\"0-255\"]` to allow every unit (behind a Modbus gateway: every device on its serial lines)");
        }
        Some([]) => {
            *ok = false;
            c.error(&up, "empty unit_ids list")
                .help("list unit ids 0-255 or ranges such as \"10-20\"; write [\"0-255\"] to allow every unit");
        }
        Some(l) => {
            let mut seen = Vec::new();
            for (i, u) in l.iter().enumerate() {
                match parse_range(u, 255) {
                    Ok((a, b)) => {
                        seen.push((i, a, b));
                        for unit in a..=b {
                            profile.allow_unit(unit as u8);
                        }
                    }
                    Err(e) => {
                        *ok = false;
                        let (msg, help) = match e {
                            RangeError::OutOfRange(n) => (
                                format!("unit id {n} is out of range"),
                                "unit ids are 0 to 255".to_string(),
                            ),
                            RangeError::Reversed(a, b) => (
                                format!("reversed unit id range \"{a}-{b}\""),
                                format!("write \"{b}-{a}\" (lowest unit id first)"),
                            ),
                            RangeError::Invalid(t) => (
                                format!("invalid unit id \"{t}\""),
                                "write a unit id 0-255 or a range \"first-last\", e.g. \"10-20\""
                                    .to_string(),
                            ),
                        };
                        c.error(&up.index(i), msg).help(help);
                    }
                }
            }
            warn_overlaps(c, &up, "unit ids", &seen);
        }
    }
}

/// `max_quantity`: 1 to the largest quantity any request may name.
fn check_max_quantity(
    c: &mut Checker<'_>,
    mp: &KeyPath,
    raw: Option<&Scalar>,
    profile: &mut ModbusProfile,
    ok: &mut bool,
) {
    let qp = mp.key("max_quantity");
    match raw {
        None => {}
        Some(q) => match scalar_number(q) {
            Some(n) if (1..=i128::from(MAX_QUANTITY)).contains(&n) => {
                profile.max_quantity = n as u16;
            }
            Some(n) => {
                *ok = false;
                c.error(&qp, format!("max_quantity {n} is out of range"))
                    .help(format!(
                        "use 1 to {MAX_QUANTITY} coils or registers per request, or omit max_quantity for each function's protocol maximum (2000 coils, 125 registers)"
                    ));
            }
            None => {
                *ok = false;
                c.error(&qp, format!("invalid max_quantity \"{q}\""))
                    .help("write a number of coils or registers, e.g. `max_quantity: 100`");
            }
        },
    }
}
