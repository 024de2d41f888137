//! `zcfw compile` output of the IEC 104 and DNP3 inspection profiles (the Modbus ones are in
//! [`super::render`]): JSON objects and text lines with type id and function names.
//!
//! JSON (fields are only ever added):
//! ```text
//! "iec104_profiles": [{ "id", "type_ids": [{ "code", "name": null | "C_SC_NA_1" }],
//!                       "common_addresses": [[first, last], ...] | "any" (every address but
//!                       the global 65535), "flags", "conduit_entries": [indexes] }],
//! "dnp3_profiles":   [{ "id", "functions": [{ "code", "name": null | "read" }],
//!                       "addresses": [[first, last], ...] | "any" (every address below the
//!                       reserved 0xFFF0), "flags", "conduit_entries": [indexes] }]
//! ```

use std::fmt::Write;

use firewall_common::{
    dnp3::{self, Dnp3Profile},
    iec104::{self, Iec104Profile},
    sets::{Bitmap256, Range16},
};
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
pub(super) struct JsonCode {
    code: u8,
    name: Option<&'static str>,
}

impl JsonCode {
    pub(super) fn new(code: u8, name: Option<&'static str>) -> JsonCode {
        JsonCode { code, name }
    }
}

#[derive(Serialize)]
pub(super) struct JsonIec104Profile {
    id: u16,
    type_ids: Vec<JsonCode>,
    common_addresses: Value,
    flags: u32,
    conduit_entries: Vec<usize>,
}

#[derive(Serialize)]
pub(super) struct JsonDnp3Profile {
    id: u16,
    functions: Vec<JsonCode>,
    addresses: Value,
    flags: u32,
    conduit_entries: Vec<usize>,
}

/// Members of a 256-bit set, ascending.
pub(super) fn members(b: &Bitmap256) -> impl Iterator<Item = u8> + '_ {
    (0..=u8::MAX).filter(|&c| b.contains(c))
}

/// The used ranges of a profile's range set, ascending.
pub(super) fn used(ranges: &[Range16]) -> Vec<[u16; 2]> {
    let mut out: Vec<[u16; 2]> = ranges
        .iter()
        .filter(|r| r.first <= r.last)
        .map(|r| [r.first, r.last])
        .collect();
    out.sort_unstable();
    out
}

pub(super) fn ranges_json(any: bool, ranges: &[Range16]) -> Value {
    if any {
        Value::from("any")
    } else {
        serde_json::to_value(used(ranges)).unwrap_or(Value::Null)
    }
}

fn iec104_any(p: &Iec104Profile) -> bool {
    p.flags & iec104::profile_flags::ANY_COMMON_ADDRESS != 0
}

fn dnp3_any(p: &Dnp3Profile) -> bool {
    p.flags & dnp3::profile_flags::ANY_ADDRESS != 0
}

/// The JSON object of IEC 104 profile `id`, used by the conduit entries `users`.
pub(super) fn iec104_json(id: u16, p: &Iec104Profile, users: Vec<usize>) -> JsonIec104Profile {
    JsonIec104Profile {
        id,
        type_ids: members(&p.type_ids)
            .map(|code| JsonCode {
                code,
                name: iec104::type_id(code).map(|t| t.name),
            })
            .collect(),
        common_addresses: ranges_json(iec104_any(p), &p.common_addresses.ranges),
        flags: p.flags,
        conduit_entries: users,
    }
}

/// The JSON object of DNP3 profile `id`, used by the conduit entries `users`.
pub(super) fn dnp3_json(id: u16, p: &Dnp3Profile, users: Vec<usize>) -> JsonDnp3Profile {
    JsonDnp3Profile {
        id,
        functions: members(&p.functions)
            .map(|code| JsonCode {
                code,
                name: dnp3::function(code).map(|f| f.name),
            })
            .collect(),
        addresses: ranges_json(dnp3_any(p), &p.addresses.ranges),
        flags: p.flags,
        conduit_entries: users,
    }
}

/// `name(code)` or the bare number, comma-separated; `none` when empty.
pub(super) fn named(items: impl Iterator<Item = (u8, Option<&'static str>)>) -> String {
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

pub(super) fn ranges_text(ranges: &[Range16]) -> String {
    let list: Vec<String> = used(ranges)
        .iter()
        .map(|[a, b]| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// The text lines of an IEC 104 profile (indented like the Modbus ones).
pub(super) fn describe_iec104(out: &mut String, p: &Iec104Profile) {
    let _ = writeln!(
        out,
        "         type ids        {}",
        named(members(&p.type_ids).map(|c| (c, iec104::type_id(c).map(|t| t.name))))
    );
    let _ = writeln!(
        out,
        "         common addr.    {}",
        if iec104_any(p) {
            "any but the global address 65535".to_string()
        } else {
            ranges_text(&p.common_addresses.ranges)
        }
    );
}

/// The text lines of a DNP3 profile.
pub(super) fn describe_dnp3(out: &mut String, p: &Dnp3Profile) {
    let _ = writeln!(
        out,
        "         functions       {}",
        named(members(&p.functions).map(|c| (c, dnp3::function(c).map(|f| f.name))))
    );
    let _ = writeln!(
        out,
        "         addresses       {}",
        if dnp3_any(p) {
            "any outstation (0-65519; not the reserved 0xFFF0-0xFFFF)".to_string()
        } else {
            ranges_text(&p.addresses.ranges)
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iec104_lines_and_json() {
        let mut p = Iec104Profile::read_only();
        p.allow_type_id(45);
        let mut text = String::new();
        describe_iec104(&mut text, &p);
        assert!(text.contains("C_SC_NA_1(45), C_IC_NA_1(100)"), "{text}");
        assert!(text.contains("any but the global address"), "{text}");
        p.allow_common_addresses(7, 7).unwrap();
        p.allow_common_addresses(1, 3).unwrap();
        let j = serde_json::to_value(iec104_json(2, &p, vec![4])).unwrap();
        assert_eq!(j["common_addresses"], serde_json::json!([[1, 3], [7, 7]]));
        assert_eq!(j["type_ids"][0]["name"], "C_SC_NA_1");
        assert_eq!(j["conduit_entries"], serde_json::json!([4]));
    }

    #[test]
    fn dnp3_lines_and_json() {
        let mut p = Dnp3Profile::read_only();
        let j = serde_json::to_value(dnp3_json(1, &p, vec![])).unwrap();
        assert_eq!(j["addresses"], "any");
        assert_eq!(j["functions"][1]["name"], "read");
        p.allow_addresses(10, 12).unwrap();
        let mut text = String::new();
        describe_dnp3(&mut text, &p);
        assert!(text.contains("confirm(0), read(1)"), "{text}");
        assert!(text.contains("addresses       10-12"), "{text}");
    }
}
