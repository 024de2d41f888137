//! `zcfw compile` output of the Modbus inspection profiles: the JSON objects of
//! `modbus_profiles` (layout in [`super::render`]) and the text lines with function,
//! table, diagnostics and MEI names.

use std::fmt::Write;

use firewall_common::modbus::{ModbusProfile, function_by_code};
use serde::Serialize;

use crate::policy::protocols::{MODBUS_ADDRESS_TABLES, modbus_diagnostics_name, modbus_mei_name};

#[derive(Serialize)]
pub(super) struct JsonModbusProfile {
    id: u16,
    unit_ids: Vec<[u8; 2]>,
    functions: Vec<JsonCode>,
    address_ranges: Vec<JsonAddressRange>,
    max_quantity: u16,
    diagnostics_subfunctions: Vec<JsonCode>,
    mei_types: Vec<JsonCode>,
    strict: bool,
    flags: u16,
    conduit_entries: Vec<usize>,
}

#[derive(Serialize)]
struct JsonCode {
    code: u16,
    name: Option<&'static str>,
}

#[derive(Serialize)]
struct JsonAddressRange {
    first: u16,
    last: u16,
    classes: u16,
    tables: Vec<&'static str>,
}

/// The JSON object of Modbus profile `id`, used by the conduit entries `users`.
pub(super) fn modbus_json(id: u16, m: &ModbusProfile, users: Vec<usize>) -> JsonModbusProfile {
    JsonModbusProfile {
        id,
        unit_ids: unit_ranges(m),
        functions: function_codes(m)
            .into_iter()
            .map(|code| JsonCode {
                code: code.into(),
                name: function_by_code(code).map(|f| f.name),
            })
            .collect(),
        address_ranges: m
            .ranges
            .iter()
            .filter(|r| r.classes != 0)
            .map(|r| JsonAddressRange {
                first: r.first,
                last: r.last,
                classes: r.classes,
                tables: tables(r.classes),
            })
            .collect(),
        max_quantity: m.max_quantity,
        diagnostics_subfunctions: bits(m.diagnostics)
            .map(|b| JsonCode {
                code: b,
                name: modbus_diagnostics_name(b),
            })
            .collect(),
        mei_types: mei_types(m)
            .map(|b| JsonCode {
                code: b,
                name: modbus_mei_name(b as u8),
            })
            .collect(),
        strict: m.is_strict(),
        flags: m.flags,
        conduit_entries: users,
    }
}

/// The allowed unit ids as inclusive ranges.
fn unit_ranges(m: &ModbusProfile) -> Vec<[u8; 2]> {
    let mut out: Vec<[u8; 2]> = Vec::new();
    for unit in 0..=u8::MAX {
        if !m.unit_ids.contains(unit) {
            continue;
        }
        match out.last_mut() {
            Some(r) if u16::from(r[1]) + 1 == u16::from(unit) => r[1] = unit,
            _ => out.push([unit, unit]),
        }
    }
    out
}

/// The allowed function codes, ascending.
fn function_codes(m: &ModbusProfile) -> Vec<u8> {
    (0..=u8::MAX).filter(|&c| m.functions.contains(c)).collect()
}

/// The bits set in a 32-bit sub-function bitmap.
fn bits(map: u32) -> impl Iterator<Item = u16> {
    (0..32u16).filter(move |b| map & (1 << b) != 0)
}

/// The MEI types that matter: those of FC 43, when FC 43 is allowed.
fn mei_types(m: &ModbusProfile) -> impl Iterator<Item = u16> {
    let fc43 = m
        .functions
        .contains(firewall_common::modbus::function::ENCAPSULATED_INTERFACE_TRANSPORT);
    bits(if fc43 { m.mei_types } else { 0 })
}

/// Table names of address class bits.
fn tables(classes: u16) -> Vec<&'static str> {
    MODBUS_ADDRESS_TABLES
        .iter()
        .filter(|(_, c)| classes & c != 0)
        .map(|(n, _)| *n)
        .collect()
}

/// `name(code)` or the bare number, comma-separated; `none` when empty.
fn named_list(items: impl Iterator<Item = (u16, Option<&'static str>)>) -> String {
    let list: Vec<String> = items
        .map(|(code, name)| match name {
            Some(n) => format!("{n}({code})"),
            None => code.to_string(),
        })
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// The text listing of one profile (indented lines).
pub(super) fn describe_profile(out: &mut String, m: &ModbusProfile) {
    let units: Vec<String> = unit_ranges(m)
        .iter()
        .map(|[a, b]| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    let _ = writeln!(out, "         unit ids        {}", units.join(", "));
    let _ = writeln!(
        out,
        "         functions       {}",
        named_list(
            function_codes(m)
                .into_iter()
                .map(|c| (c.into(), function_by_code(c).map(|f| f.name)))
        )
    );
    let ranges: Vec<String> = m
        .ranges
        .iter()
        .filter(|r| r.classes != 0)
        .map(|r| {
            let span = if r.first == r.last {
                r.first.to_string()
            } else {
                format!("{}-{}", r.first, r.last)
            };
            format!("{span} ({})", tables(r.classes).join(", "))
        })
        .collect();
    let _ = writeln!(
        out,
        "         addresses       {}",
        if ranges.is_empty() {
            "none".to_string()
        } else {
            ranges.join("; ")
        }
    );
    let _ = writeln!(
        out,
        "         max quantity    {}",
        if m.max_quantity == 0 {
            "protocol maximum".to_string()
        } else {
            m.max_quantity.to_string()
        }
    );
    let _ = writeln!(
        out,
        "         diagnostics     {}",
        named_list(bits(m.diagnostics).map(|b| (b, modbus_diagnostics_name(b))))
    );
    let _ = writeln!(
        out,
        "         mei types       {}",
        named_list(mei_types(m).map(|b| (b, modbus_mei_name(b as u8))))
    );
    let _ = writeln!(
        out,
        "         strict          {}",
        if m.is_strict() { "yes" } else { "no" }
    );
}
