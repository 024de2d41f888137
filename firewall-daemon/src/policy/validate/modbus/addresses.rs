//! `addresses:`: a list for every table the rule's functions use, or a mapping of table
//! name to list; then the ranges of each table merged and shared out into profile slots.

use std::collections::BTreeMap;

use firewall_common::modbus::{
    FUNCTIONS, MAX_ADDRESS_RANGES, address_class, address_classes, function,
};

use super::{
    Checker, Help, KeyPath, Scalar, did_you_mean,
    functions::{Allowed, all_functions_using, function_label, functions_using, parse_function},
    list,
    ranges::{RangeError, parse_range, range_text, warn_overlaps},
};
use crate::policy::{
    protocols::{MODBUS_ADDRESS_TABLES, modbus_table_name},
    raw::RawAddresses,
};

/// An address range as written (first, last, address classes), before normalisation.
pub(super) type Span = (u16, u16, u16);

/// The `addresses` of the `modbus:` block at `mp` (None: every address of every table the
/// functions use); errors clear `ok`.
pub(super) fn check_addresses(
    c: &mut Checker<'_>,
    mp: &KeyPath,
    raw: Option<&RawAddresses>,
    allowed: &Allowed,
    ok: &mut bool,
) -> Vec<Span> {
    let ap = mp.key("addresses");
    let classes_used = allowed.classes();
    let mut spans: Vec<Span> = Vec::new();
    match raw {
        None => {
            if classes_used != 0 {
                spans.push((0, u16::MAX, classes_used));
                warn_unlimited_writes(c, mp, allowed);
            }
        }
        Some(RawAddresses::List(items)) => {
            if items.is_empty() {
                *ok = false;
                c.error(&ap, "empty address list")
                    .help("list address ranges such as \"0-999\", or omit `addresses` to allow every address");
            } else if classes_used == 0 && allowed.ok {
                *ok = false;
                c.error_at_key(
                    &ap,
                    "`addresses` apply to functions that read or write addresses, and this rule allows none",
                )
                .help(format!(
                    "functions with addresses: {}; or remove `addresses`",
                    FUNCTIONS
                        .iter()
                        .filter(|f| address_classes(f.code) != 0)
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            } else if classes_used != 0 {
                *ok &= check_address_list(c, &ap, items, classes_used, &mut spans);
            }
        }
        Some(RawAddresses::Tables(tables)) => {
            check_tables(c, &ap, tables, allowed, &mut spans, ok);
        }
    }
    spans
}

/// No `addresses`: every address is allowed, which deserves a warning for writes.
fn warn_unlimited_writes(c: &mut Checker<'_>, mp: &KeyPath, allowed: &Allowed) {
    let writes = allowed.classes() & address_class::WRITES;
    if writes == 0 {
        return;
    }
    let fns: Vec<String> = allowed
        .codes()
        .iter()
        .filter(|&&code| address_classes(code) & writes != 0)
        .map(|&code| function_label(code))
        .collect();
    c.warning(
        mp,
        format!(
            "Modbus rule has no addresses: {} may write every address",
            fns.join(", ")
        ),
    )
    .help("list what clients may write, e.g. `addresses: { read_holding_registers: [\"0-999\"], write_holding_registers: [\"100-119\"] }`")
    .help("write `addresses: [\"0-65535\"]` to allow every address knowingly");
}

/// The address list at `lp` for the tables `classes`, its ranges added to `spans`; `false`
/// when an entry is refused.
fn check_address_list(
    c: &mut Checker<'_>,
    lp: &KeyPath,
    items: &[Scalar],
    classes: u16,
    spans: &mut Vec<Span>,
) -> bool {
    let mut good = true;
    let mut seen = Vec::new();
    for (i, s) in items.iter().enumerate() {
        match parse_range(s, u32::from(u16::MAX)) {
            Ok((a, b)) => {
                seen.push((i, a, b));
                spans.push((a as u16, b as u16, classes));
                warn_modicon(c, &lp.index(i), a, b, classes);
            }
            Err(e) => {
                good = false;
                let zero_based = "Modbus addresses are 0 to 65535, 0-based as on the wire (register 40001 of a 1-based tool is holding register address 0)";
                let (msg, help) = match e {
                    RangeError::OutOfRange(n) => (
                        format!("address {n} is out of range"),
                        if (400_001..=465_536).contains(&n) {
                            format!(
                                "{zero_based}; {n} looks like 6-digit Modicon numbering: write {}",
                                n - 400_001
                            )
                        } else {
                            zero_based.to_string()
                        },
                    ),
                    RangeError::Reversed(a, b) => (
                        format!("reversed address range \"{a}-{b}\""),
                        format!("write \"{b}-{a}\" (lowest address first)"),
                    ),
                    RangeError::Invalid(t) => (
                        format!("invalid address range \"{t}\""),
                        "write an address 0-65535 or a range \"first-last\", e.g. \"0-999\""
                            .to_string(),
                    ),
                };
                c.error(&lp.index(i), msg).help(help);
            }
        }
    }
    warn_overlaps(c, lp, "addresses", &seen);
    good
}

/// `addresses` as a mapping of table name to list: every key a table, every table a
/// function uses given.
fn check_tables(
    c: &mut Checker<'_>,
    ap: &KeyPath,
    tables: &[(Scalar, Vec<Scalar>)],
    allowed: &Allowed,
    spans: &mut Vec<Span>,
    ok: &mut bool,
) {
    let classes_used = allowed.classes();
    let code_list = allowed.codes();
    if tables.is_empty() {
        *ok = false;
        c.error(ap, "empty address mapping")
            .help("map address tables to ranges, e.g. `{ read_holding_registers: [\"0-999\"] }`, or omit `addresses` to allow every address");
    }
    let mut given = 0u16;
    let mut bad_key = false;
    for (key, items) in tables {
        let name = key.to_string();
        let kp = ap.key(&name);
        let Some(&(table, class)) = MODBUS_ADDRESS_TABLES.iter().find(|(t, _)| *t == name) else {
            *ok = false;
            bad_key = true;
            unknown_table(c, &kp, key, &name);
            continue;
        };
        if given & class != 0 {
            // A repeated key: the locator reports it.
            continue;
        }
        given |= class;
        if classes_used & class == 0 {
            if !allowed.ok {
                continue;
            }
            *ok = false;
            c.error_at_key(
                &kp,
                format!("no function of this rule uses address table `{table}`"),
            )
            .help(format!(
                "functions that use it: {}; add one to `functions`, or remove this entry",
                all_functions_using(class)
            ));
            continue;
        }
        if items.is_empty() {
            *ok = false;
            c.error(&kp, format!("empty address list for table `{table}`"))
                .help(format!(
                    "list ranges such as \"0-999\"; to deny the table, remove {} from `functions`",
                    functions_using(&code_list, class).join(", ")
                ));
            continue;
        }
        *ok &= check_address_list(c, &kp, items, class, spans);
    }
    if !tables.is_empty() && !bad_key {
        for &(table, class) in &MODBUS_ADDRESS_TABLES {
            if classes_used & class != 0 && given & class == 0 {
                *ok = false;
                let users = functions_using(&code_list, class);
                c.error_at_key(
                    ap,
                    format!(
                        "addresses has no table `{table}`, which {} {}: every such request would be denied",
                        users.join(", "),
                        if class & address_class::READS != 0 { "reads" } else { "writes" }
                    ),
                )
                .help(format!(
                    "add `{table}: [\"first-last\"]` under addresses, or remove {} from `functions`",
                    users.join(", ")
                ));
            }
        }
    }
}

/// A key of the address mapping that is no table: a function name or code, or a typo.
fn unknown_table(c: &mut Checker<'_>, kp: &KeyPath, key: &Scalar, name: &str) {
    let as_function = parse_function(key).ok();
    match as_function.map(|code| (code, address_classes(code))) {
        Some((function::READ_WRITE_MULTIPLE_REGISTERS, _)) => {
            c.error_at_key(kp, "addresses are given per address table, not per function")
                .help("read_write_multiple_registers (23) reads table read_holding_registers and writes table write_holding_registers: list ranges under both");
        }
        Some((code, classes)) if classes != 0 => {
            let table = modbus_table_name(classes).unwrap_or("?");
            c.error_at_key(
                kp,
                format!(
                    "addresses are given per address table, not per function: {} uses table `{table}`",
                    function_label(code)
                ),
            )
            .help(format!(
                "write `{table}: [...]`; the data path checks {} against it",
                all_functions_using(classes)
            ));
        }
        Some((code, _)) => {
            c.error_at_key(kp, format!("{} carries no address", function_label(code)))
                .help(format!(
                    "address tables: {}",
                    list(MODBUS_ADDRESS_TABLES.iter().map(|(t, _)| *t))
                ));
        }
        None => {
            let d = c.error_at_key(kp, format!("unknown Modbus address table \"{name}\""));
            if let Some(near) = did_you_mean(name, MODBUS_ADDRESS_TABLES.iter().map(|(t, _)| *t)) {
                d.help(format!("did you mean \"{near}\"?"));
            }
            d.help(format!(
                "use one of: {}",
                list(MODBUS_ADDRESS_TABLES.iter().map(|(t, _)| *t))
            ));
        }
    }
}

/// Normalises `spans` into profile slots: per table, overlapping and adjacent ranges merge;
/// tables with identical ranges share a slot. `None` (error at `ap`) when they need more
/// slots than a profile holds.
pub(super) fn address_slots(
    c: &mut Checker<'_>,
    ap: &KeyPath,
    spans: &[Span],
) -> Option<BTreeMap<(u16, u16), u16>> {
    let mut slots: BTreeMap<(u16, u16), u16> = BTreeMap::new();
    for &(_, class) in &MODBUS_ADDRESS_TABLES {
        let mut mine: Vec<(u16, u16)> = spans
            .iter()
            .filter(|s| s.2 & class != 0)
            .map(|s| (s.0, s.1))
            .collect();
        mine.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::new();
        for (a, b) in mine {
            match merged.last_mut() {
                Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        for r in merged {
            *slots.entry(r).or_default() |= class;
        }
    }
    if slots.len() > MAX_ADDRESS_RANGES {
        let shown: Vec<String> = slots
            .iter()
            .map(|(&(a, b), &classes)| {
                format!(
                    "{} ({})",
                    range_text(a.into(), b.into()),
                    table_names(classes).join(", ")
                )
            })
            .collect();
        c.error_at_key(
            ap,
            format!(
                "the address ranges of this rule need {} profile slots, but a Modbus inspection profile holds {MAX_ADDRESS_RANGES}",
                slots.len()
            ),
        )
        .help("merge ranges: overlapping and adjacent ranges of one table already share a slot, and tables with identical ranges share one")
        .help(format!("slots needed: {}", shown.join("; ")));
        return None;
    }
    Some(slots)
}

/// Table names of the class bits in `classes`.
fn table_names(classes: u16) -> Vec<&'static str> {
    MODBUS_ADDRESS_TABLES
        .iter()
        .filter(|(_, c)| classes & c != 0)
        .map(|(n, _)| *n)
        .collect()
}

/// Warns when a range looks like 1-based Modicon numbering (3xxxx input registers, 4xxxx
/// holding registers) for a table of that kind.
fn warn_modicon(c: &mut Checker<'_>, path: &KeyPath, first: u32, last: u32, classes: u16) {
    let holding = address_class::READ_HOLDING_REGISTERS | address_class::WRITE_HOLDING_REGISTERS;
    let (base, kind) = if classes & holding != 0 && first >= 40_001 && last <= 49_999 {
        (40_001, "4xxxx = holding registers")
    } else if classes & address_class::READ_INPUT_REGISTERS != 0
        && first >= 30_001
        && last <= 39_999
    {
        (30_001, "3xxxx = input registers")
    } else {
        return;
    };
    c.warning(
        path,
        format!(
            "address range {} looks like 1-based Modicon numbering ({kind})",
            range_text(first, last)
        ),
    )
    .help(format!(
        "addresses are 0-based as on the wire: register {base} of a 1-based tool is address 0, so this would be \"{}\"",
        range_text(first - base, last - base)
    ));
}
