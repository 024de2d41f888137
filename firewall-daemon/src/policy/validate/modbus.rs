//! The `modbus:` block of a `protocol: modbus` rule → the rule's [`ModbusProfile`], every
//! mistake placed at its key with a fix (docs/modbus.md describes the language).
//!
//! Addresses are checked by the data path per address table (read coils, write holding
//! registers, ...), not per function: `addresses` is therefore a list for every table the
//! rule's functions use, or a mapping of table name to list. Ranges are normalised the way
//! a reader means them — a request passes when every address it touches is listed for its
//! table — by merging overlapping and adjacent ranges of each table, then sharing one
//! profile slot between tables with identical ranges.

use std::collections::BTreeMap;

use firewall_common::modbus::{
    Access, FUNCTIONS, MAX_ADDRESS_RANGES, ModbusProfile, READ_ONLY_FUNCTIONS, address_class,
    address_classes, diagnostics, function, function_by_code, function_by_name, limits, mei,
    profile_flags,
};

use super::{Checker, Help, KeyPath, Scalar, did_you_mean, list};
use crate::policy::{
    protocols::{MODBUS_ADDRESS_TABLES, MODBUS_DIAGNOSTICS, MODBUS_MEI_TYPES, modbus_table_name},
    raw::{RawAddresses, RawModbus},
};

/// Largest quantity any Modbus request may name (FC 1/2: 2000 coils or inputs).
const MAX_QUANTITY: u16 = limits::READ_BITS;

/// Why a number or `"first-last"` range was refused.
#[derive(Debug, PartialEq, Eq)]
enum RangeError {
    /// A number outside `0..=max`.
    OutOfRange(i128),
    Reversed(u32, u32),
    /// Neither a number nor a range.
    Invalid(String),
}

/// `5`, `"5"`, `"10-20"` within `0..=max`.
fn parse_range(s: &Scalar, max: u32) -> Result<(u32, u32), RangeError> {
    let number = |n: i128| match u32::try_from(n) {
        Ok(v) if v <= max => Ok(v),
        _ => Err(RangeError::OutOfRange(n)),
    };
    let text = match s {
        Scalar::Number(n) => return number(*n).map(|v| (v, v)),
        Scalar::Text(t) => t.trim(),
    };
    let parse = |part: &str| {
        part.trim()
            .parse::<i128>()
            .map_err(|_| RangeError::Invalid(text.to_owned()))
            .and_then(number)
    };
    match text.split_once('-') {
        None => parse(text).map(|v| (v, v)),
        Some((a, b)) => {
            let (first, last) = (parse(a)?, parse(b)?);
            if first > last {
                return Err(RangeError::Reversed(first, last));
            }
            Ok((first, last))
        }
    }
}

fn range_text(first: u32, last: u32) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

/// A number written as a YAML integer, or as decimal or `0x` hex text.
fn scalar_number(s: &Scalar) -> Option<i128> {
    match s {
        Scalar::Number(n) => Some(*n),
        Scalar::Text(t) => {
            let t = t.trim();
            match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) => i128::from_str_radix(hex, 16).ok(),
                None => t.parse().ok(),
            }
        }
    }
}

/// `read_holding_registers (3)`, or `function code 90` for codes without a name.
fn function_label(code: u8) -> String {
    match function_by_code(code) {
        Some(f) => format!("{} ({code})", f.name),
        None => format!("function code {code}"),
    }
}

fn function_names() -> String {
    FUNCTIONS
        .iter()
        .map(|f| f.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A function name or code 1..=127.
fn parse_function(f: &Scalar) -> Result<u8, (String, Vec<String>)> {
    let code_help = || "request function codes are 1 to 127".to_string();
    if let Some(n) = scalar_number(f) {
        return match n {
            1..=127 => Ok(n as u8),
            0 => Err((
                "function code 0 is not a Modbus request function".into(),
                vec![code_help()],
            )),
            128..=255 => Err((
                format!(
                    "function code {n} is an exception response (code {} | 0x80), not a request",
                    n - 128
                ),
                vec![code_help()],
            )),
            _ => Err((
                format!("function code {n} is out of range"),
                vec![code_help()],
            )),
        };
    }
    let text = f.to_string();
    let text = text.trim();
    if let Some(info) = function_by_name(text) {
        return Ok(info.code);
    }
    let mut help = Vec::new();
    if let Some(near) = did_you_mean(&text.to_lowercase(), FUNCTIONS.iter().map(|f| f.name)) {
        help.push(format!("did you mean \"{near}\"?"));
    }
    help.push(format!(
        "use a function code 1-127 or one of: {}",
        function_names()
    ));
    Err((format!("unknown Modbus function \"{text}\""), help))
}

/// A name of `table` or a number `0..=max_allowed` (bitmap bit); `what` names the kind.
fn parse_named_bit(
    s: &Scalar,
    table: &[(&'static str, u16)],
    what: &str,
    wire_max: i128,
) -> Result<u16, (String, Vec<String>)> {
    let names = || table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    if let Some(n) = scalar_number(s) {
        return match n {
            0..=31 => Ok(n as u16),
            n if n > 31 && n <= wire_max => Err((
                format!("{what} {n} cannot be allowed"),
                vec![format!(
                    "the inspection profile holds {what}s 0 to 31; higher ones are always denied"
                )],
            )),
            n => Err((
                format!("{what} {n} is out of range"),
                vec![format!("{what}s are 0 to 31, or one of: {}", names())],
            )),
        };
    }
    let text = s.to_string();
    let text = text.trim();
    if let Some((_, v)) = table.iter().find(|(n, _)| *n == text) {
        return Ok(*v);
    }
    let mut help = Vec::new();
    if let Some(near) = did_you_mean(&text.to_lowercase(), table.iter().map(|(n, _)| *n)) {
        help.push(format!("did you mean \"{near}\"?"));
    }
    help.push(format!("use a number 0-31 or one of: {}", names()));
    Err((format!("unknown {what} \"{text}\""), help))
}

/// Warns about every entry of a list that overlaps an earlier-sorted one (sweep, O(n log n)).
fn warn_overlaps(c: &mut Checker<'_>, path: &KeyPath, what: &str, ranges: &[(usize, u32, u32)]) {
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&k| (ranges[k].1, ranges[k].0));
    let mut reach: Option<usize> = None;
    for k in order {
        if let Some(r) = reach
            && ranges[r].2 >= ranges[k].1
        {
            let (later, earlier) = if ranges[k].0 > ranges[r].0 {
                (k, r)
            } else {
                (r, k)
            };
            c.warning(
                &path.index(ranges[later].0),
                format!(
                    "{what} {} overlap {what} {} of the same list",
                    range_text(ranges[later].1, ranges[later].2),
                    range_text(ranges[earlier].1, ranges[earlier].2)
                ),
            )
            .help("merge them into one entry");
        }
        if reach.is_none_or(|r| ranges[k].2 > ranges[r].2) {
            reach = Some(k);
        }
    }
}

/// Names of the functions among `codes` that use address table `class`.
fn functions_using(codes: &[u8], class: u16) -> Vec<String> {
    codes
        .iter()
        .filter(|&&code| address_classes(code) & class != 0)
        .map(|&code| function_label(code))
        .collect()
}

/// Names of every function of the language that uses address table `class`.
fn all_functions_using(class: u16) -> String {
    FUNCTIONS
        .iter()
        .filter(|f| address_classes(f.code) & class != 0)
        .map(|f| f.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Table names of the class bits in `classes`.
fn table_names(classes: u16) -> Vec<&'static str> {
    MODBUS_ADDRESS_TABLES
        .iter()
        .filter(|(_, c)| classes & c != 0)
        .map(|(n, _)| *n)
        .collect()
}

/// Checks the `modbus:` block at `mp`; `None` if it has errors (already reported).
pub(super) fn check_modbus(
    c: &mut Checker<'_>,
    mp: &KeyPath,
    raw: RawModbus,
) -> Option<ModbusProfile> {
    let mut ok = true;
    let mut profile = ModbusProfile::new();

    // unit_ids: required; every unit behind a serial gateway is a device of its own.
    let up = mp.key("unit_ids");
    match &raw.unit_ids {
        None => {
            ok = false;
            c.error(mp, "Modbus rule has no unit_ids")
                .help("list the unit ids clients may address, e.g. `unit_ids: [1]`; a TCP-native device usually answers on 0, 1 or 255")
                .help("write `unit_ids: [\"0-255\"]` to allow every unit (behind a Modbus gateway: every device on its serial lines)");
        }
        Some(l) if l.is_empty() => {
            ok = false;
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
                        ok = false;
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

    // functions, and the read_only preset.
    let fp = mp.key("functions");
    let read_only = raw.read_only == Some(true);
    // Allowed codes, each with the index of the `functions` entry that allowed it (None:
    // the read_only preset).
    let mut codes: Vec<(u8, Option<usize>)> = Vec::new();
    // False once a `functions` entry is refused: checks that depend on the set of functions
    // (tables used, FC 8 and FC 43 options) would then only repeat that error.
    let mut functions_ok = true;
    if read_only {
        codes.extend(READ_ONLY_FUNCTIONS.iter().map(|&code| (code, None)));
    }
    match &raw.functions {
        None if !read_only => {
            ok = false;
            c.error(mp, "Modbus rule allows no function")
                .help("list the functions clients need, e.g. `functions: [read_holding_registers]`, or write `read_only: true` (FC 1, 2, 3, 4 and 43/14)");
        }
        None => {}
        Some(l) if l.is_empty() => {
            ok = false;
            let d = c.error(&fp, "empty function list");
            if read_only {
                d.help("remove `functions: []`; `read_only: true` allows FC 1, 2, 3, 4 and 43/14");
            } else {
                d.help(format!(
                    "list function names or codes, e.g. [read_holding_registers]; names: {}",
                    function_names()
                ));
            }
        }
        Some(l) => {
            for (k, f) in l.iter().enumerate() {
                let kp = fp.index(k);
                let code = match parse_function(f) {
                    Ok(code) => code,
                    Err((msg, help)) => {
                        ok = false;
                        functions_ok = false;
                        let d = c.error(&kp, msg);
                        for h in help {
                            d.help(h);
                        }
                        continue;
                    }
                };
                let info = function_by_code(code);
                if let Some(&(_, by)) = codes.iter().find(|(x, _)| *x == code) {
                    let d = c.warning(&kp, format!("{} is listed twice", function_label(code)));
                    match by {
                        None => d.help("`read_only: true` already allows it; remove it here"),
                        Some(_) => d.help("remove the repeated entry"),
                    };
                    continue;
                }
                if read_only && info.is_none_or(|i| i.access != Access::Read) {
                    ok = false;
                    functions_ok = false;
                    let what = match info.map(|i| i.access) {
                        Some(Access::Write) => "a write function",
                        Some(Access::Diagnostic) => "it can restart or silence the device",
                        _ => "it is not a known read function",
                    };
                    c.error(
                        &kp,
                        format!(
                            "`read_only: true` cannot be combined with {} ({what})",
                            function_label(code)
                        ),
                    )
                    .help("remove `read_only: true` and list every function the clients need, e.g. `functions: [read_holding_registers, write_single_register]`");
                    continue;
                }
                if info.is_none() {
                    c.warning(
                        &kp,
                        format!(
                            "function code {code} has no name in zcfw: only its unit id is inspected, not its fields"
                        ),
                    )
                    .help("allow it only if the device needs it: vendor and programming functions (e.g. 90, Schneider UMAS) can change or stop a PLC");
                }
                codes.push((code, Some(k)));
            }
        }
    }
    let code_list: Vec<u8> = codes.iter().map(|&(code, _)| code).collect();
    for &code in &code_list {
        profile.allow_function(code);
    }
    let classes_used = code_list
        .iter()
        .fold(0u16, |acc, &code| acc | address_classes(code));
    // Where a diagnostic about function `code` points: its `functions` entry, or
    // `read_only` for the preset.
    let code_path = |code: u8| match codes.iter().find(|(x, _)| *x == code) {
        Some((_, Some(k))) => fp.index(*k),
        _ => mp.key("read_only"),
    };

    // addresses
    let ap = mp.key("addresses");
    // (first, last, classes) as written, before normalisation.
    let mut spans: Vec<(u16, u16, u16)> = Vec::new();
    let mut check_list = |c: &mut Checker<'_>, lp: &KeyPath, items: &[Scalar], classes: u16| {
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
    };
    match &raw.addresses {
        None => {
            if classes_used != 0 {
                spans.push((0, u16::MAX, classes_used));
                let writes = classes_used & address_class::WRITES;
                if writes != 0 {
                    let fns: Vec<String> = code_list
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
            }
        }
        Some(RawAddresses::List(items)) => {
            if items.is_empty() {
                ok = false;
                c.error(&ap, "empty address list")
                    .help("list address ranges such as \"0-999\", or omit `addresses` to allow every address");
            } else if classes_used == 0 && functions_ok {
                ok = false;
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
                ok &= check_list(c, &ap, items, classes_used);
            }
        }
        Some(RawAddresses::Tables(tables)) => {
            if tables.is_empty() {
                ok = false;
                c.error(&ap, "empty address mapping")
                    .help("map address tables to ranges, e.g. `{ read_holding_registers: [\"0-999\"] }`, or omit `addresses` to allow every address");
            }
            let mut given = 0u16;
            let mut bad_key = false;
            for (key, items) in tables {
                let name = key.to_string();
                let kp = ap.key(&name);
                let Some(&(table, class)) = MODBUS_ADDRESS_TABLES.iter().find(|(t, _)| *t == name)
                else {
                    ok = false;
                    bad_key = true;
                    let as_function = parse_function(key).ok();
                    match as_function.map(|code| (code, address_classes(code))) {
                        Some((function::READ_WRITE_MULTIPLE_REGISTERS, _)) => {
                            c.error_at_key(&kp, "addresses are given per address table, not per function")
                                .help("read_write_multiple_registers (23) reads table read_holding_registers and writes table write_holding_registers: list ranges under both");
                        }
                        Some((code, classes)) if classes != 0 => {
                            let table = modbus_table_name(classes).unwrap_or("?");
                            c.error_at_key(
                                &kp,
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
                            c.error_at_key(
                                &kp,
                                format!("{} carries no address", function_label(code)),
                            )
                            .help(format!(
                                "address tables: {}",
                                list(MODBUS_ADDRESS_TABLES.iter().map(|(t, _)| *t))
                            ));
                        }
                        None => {
                            let d = c.error_at_key(
                                &kp,
                                format!("unknown Modbus address table \"{name}\""),
                            );
                            if let Some(near) =
                                did_you_mean(&name, MODBUS_ADDRESS_TABLES.iter().map(|(t, _)| *t))
                            {
                                d.help(format!("did you mean \"{near}\"?"));
                            }
                            d.help(format!(
                                "use one of: {}",
                                list(MODBUS_ADDRESS_TABLES.iter().map(|(t, _)| *t))
                            ));
                        }
                    }
                    continue;
                };
                if given & class != 0 {
                    // A repeated key: the locator reports it.
                    continue;
                }
                given |= class;
                if classes_used & class == 0 {
                    if !functions_ok {
                        continue;
                    }
                    ok = false;
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
                    ok = false;
                    c.error(&kp, format!("empty address list for table `{table}`"))
                        .help(format!(
                            "list ranges such as \"0-999\"; to deny the table, remove {} from `functions`",
                            functions_using(&code_list, class).join(", ")
                        ));
                    continue;
                }
                ok &= check_list(c, &kp, items, class);
            }
            if !tables.is_empty() && !bad_key {
                for &(table, class) in &MODBUS_ADDRESS_TABLES {
                    if classes_used & class != 0 && given & class == 0 {
                        ok = false;
                        let users = functions_using(&code_list, class);
                        c.error_at_key(
                            &ap,
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
    }

    // max_quantity
    let qp = mp.key("max_quantity");
    match &raw.max_quantity {
        None => {}
        Some(q) => match scalar_number(q) {
            Some(n) if (1..=i128::from(MAX_QUANTITY)).contains(&n) => {
                profile.max_quantity = n as u16;
            }
            Some(n) => {
                ok = false;
                c.error(&qp, format!("max_quantity {n} is out of range"))
                    .help(format!(
                        "use 1 to {MAX_QUANTITY} coils or registers per request, or omit max_quantity for each function's protocol maximum (2000 coils, 125 registers)"
                    ));
            }
            None => {
                ok = false;
                c.error(&qp, format!("invalid max_quantity \"{q}\""))
                    .help("write a number of coils or registers, e.g. `max_quantity: 100`");
            }
        },
    }

    // FC 8 sub-functions: none unless listed.
    let dp = mp.key("diagnostics_subfunctions");
    let fc8 = code_list.contains(&function::DIAGNOSTICS);
    match &raw.diagnostics_subfunctions {
        None if fc8 && functions_ok => {
            ok = false;
            c.error(
                &code_path(function::DIAGNOSTICS),
                "function diagnostics (8) is allowed but no sub-function is: every FC 8 request would be denied",
            )
            .help("list the sub-functions clients need, e.g. `diagnostics_subfunctions: [return_query_data]`");
        }
        None => {}
        Some(_) if !fc8 && !functions_ok => {}
        Some(_) if !fc8 => {
            ok = false;
            c.error_at_key(
                &dp,
                "diagnostics_subfunctions apply to function diagnostics (8), which this rule does not allow",
            )
            .help("add `diagnostics` to `functions`, or remove diagnostics_subfunctions");
        }
        Some(l) if l.is_empty() => {
            ok = false;
            c.error(&dp, "empty diagnostics_subfunctions list")
                .help("list sub-functions such as return_query_data; to allow none, remove `diagnostics` from `functions`");
        }
        Some(l) => {
            let mut bits = 0u32;
            for (i, s) in l.iter().enumerate() {
                match parse_named_bit(s, &MODBUS_DIAGNOSTICS, "diagnostics sub-function", 0xFFFF) {
                    Ok(sub) if bits & (1 << sub) != 0 => {
                        c.warning(
                            &dp.index(i),
                            format!("diagnostics sub-function {sub} is listed twice"),
                        )
                        .help("remove the repeated entry");
                    }
                    Ok(sub) => {
                        bits |= 1 << sub;
                        if sub == diagnostics::FORCE_LISTEN_ONLY {
                            c.warning(
                                &dp.index(i),
                                "diagnostics sub-function 4 (force_listen_only) silences the device until it is restarted: one request is a denial of service",
                            )
                            .help("remove it unless clients must be able to take the device off the network this way");
                        }
                    }
                    Err((msg, help)) => {
                        ok = false;
                        let d = c.error(&dp.index(i), msg);
                        for h in help {
                            d.help(h);
                        }
                    }
                }
            }
            profile.diagnostics = bits;
        }
    }

    // FC 43 MEI types: read device id unless listed.
    let tp = mp.key("mei_types");
    let fc43 = code_list.contains(&function::ENCAPSULATED_INTERFACE_TRANSPORT);
    match &raw.mei_types {
        None => {}
        Some(_) if !fc43 && !functions_ok => {}
        Some(_) if !fc43 => {
            ok = false;
            c.error_at_key(
                &tp,
                "mei_types apply to function encapsulated_interface_transport (43), which this rule does not allow",
            )
            .help("add `encapsulated_interface_transport` to `functions` (or write `read_only: true`), or remove mei_types");
        }
        Some(l) if l.is_empty() => {
            ok = false;
            c.error(&tp, "empty mei_types list")
                .help("omit mei_types to allow read_device_id (14) only; to allow none, remove encapsulated_interface_transport from `functions`");
        }
        Some(l) => {
            let table: Vec<(&str, u16)> = MODBUS_MEI_TYPES
                .iter()
                .map(|&(n, t)| (n, u16::from(t)))
                .collect();
            let mut types: Vec<u8> = Vec::new();
            for (i, s) in l.iter().enumerate() {
                match parse_named_bit(s, &table, "MEI type", 255) {
                    Ok(t) if types.contains(&(t as u8)) => {
                        c.warning(&tp.index(i), format!("MEI type {t} is listed twice"))
                            .help("remove the repeated entry");
                    }
                    Ok(t) => {
                        types.push(t as u8);
                        if t as u8 == mei::CANOPEN_GENERAL_REFERENCE {
                            c.warning(
                                &tp.index(i),
                                "MEI type 13 (canopen_general_reference) tunnels CANopen requests, which can write to the device",
                            )
                            .help("allow only read_device_id (14), the default, unless clients need CANopen access");
                        }
                    }
                    Err((msg, help)) => {
                        ok = false;
                        let d = c.error(&tp.index(i), msg);
                        for h in help {
                            d.help(h);
                        }
                    }
                }
            }
            if profile.set_mei_types(&types).is_err() {
                ok = false;
            }
        }
    }

    if raw.strict == Some(false) {
        profile.flags &= !profile_flags::STRICT;
    }

    if !ok {
        return None;
    }
    // Normalise: per table, merge overlapping and adjacent ranges; tables with identical
    // ranges share a slot.
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
            &ap,
            format!(
                "the address ranges of this rule need {} profile slots, but a Modbus inspection profile holds {MAX_ADDRESS_RANGES}",
                slots.len()
            ),
        )
        .help("merge ranges: overlapping and adjacent ranges of one table already share a slot, and tables with identical ranges share one")
        .help(format!("slots needed: {}", shown.join("; ")));
        return None;
    }
    for (&(a, b), &classes) in &slots {
        profile.add_range(a, b, classes).ok()?;
    }
    Some(profile)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        let t = |s: &str| parse_range(&Scalar::Text(s.into()), 255);
        assert_eq!(t("10-20"), Ok((10, 20)));
        assert_eq!(t(" 7 "), Ok((7, 7)));
        assert_eq!(t("20-10"), Err(RangeError::Reversed(20, 10)));
        assert_eq!(t("0-256"), Err(RangeError::OutOfRange(256)));
        assert!(matches!(t("x"), Err(RangeError::Invalid(_))));
        assert!(matches!(t("-5"), Err(RangeError::Invalid(_))));
        assert_eq!(
            parse_range(&Scalar::Number(65535), 65535),
            Ok((65535, 65535))
        );
        assert_eq!(
            parse_range(&Scalar::Number(-1), 65535),
            Err(RangeError::OutOfRange(-1))
        );
    }

    #[test]
    fn functions_parse() {
        let f = |s: &str| parse_function(&Scalar::Text(s.into()));
        assert_eq!(f("read_holding_registers"), Ok(3));
        assert_eq!(f("0x5A"), Ok(90));
        assert_eq!(parse_function(&Scalar::Number(16)), Ok(16));
        let (m, help) = f("read_holding_register").expect_err("typo");
        assert_eq!(m, "unknown Modbus function \"read_holding_register\"");
        assert_eq!(help[0], "did you mean \"read_holding_registers\"?");
        assert!(help[1].contains("write_single_coil"), "{help:?}");
        assert!(
            parse_function(&Scalar::Number(0))
                .is_err_and(|(m, _)| m.contains("not a Modbus request"))
        );
        assert!(
            parse_function(&Scalar::Number(131))
                .is_err_and(|(m, _)| m.contains("exception response (code 3"))
        );
        assert!(
            parse_function(&Scalar::Number(256)).is_err_and(|(m, _)| m.contains("out of range"))
        );
    }

    #[test]
    fn named_bits_parse() {
        let d = |s: Scalar| {
            parse_named_bit(&s, &MODBUS_DIAGNOSTICS, "diagnostics sub-function", 0xFFFF)
        };
        assert_eq!(d(Scalar::Text("force_listen_only".into())), Ok(4));
        assert_eq!(d(Scalar::Number(31)), Ok(31));
        assert!(d(Scalar::Number(32)).is_err_and(|(m, _)| m.contains("cannot be allowed")));
        assert!(d(Scalar::Number(70000)).is_err_and(|(m, _)| m.contains("out of range")));
        let (_, help) = d(Scalar::Text("return_querry_data".into())).expect_err("unknown");
        assert_eq!(help[0], "did you mean \"return_query_data\"?");
    }
}
