//! `zcfw compile` output of the S7comm inspection profiles: JSON objects and text lines with
//! function, userdata and area names.
//!
//! JSON (fields are only ever added):
//! ```text
//! "s7comm_profiles": [{ "id", "functions": [{ "code", "name": null | "read_var" }],
//!                       "pi_services": "any" | [{ "index", "wire": "_GARB",
//!                                                 "name": null | "compress" }],
//!                       "userdata": [{ "group", "subfunctions": "all" | [codes],
//!                                      "names": ["szl_read", ...] }],
//!                       "tsaps": [[first, last], ...] | "any",
//!                       "areas": "any" | [{ "code", "name" }],
//!                       "db_numbers": [[first, last], ...] | "any",
//!                       "s7comm_plus": "allow" | "deny", "flags",
//!                       "conduit_entries": [indexes] }]
//! ```

use std::fmt::Write;

use firewall_common::s7comm::{
    self, AREAS, PI_SERVICES, S7Profile, USERDATA, Userdata, profile_flags,
};
use serde::Serialize;
use serde_json::Value;

use super::render_profiles::{JsonCode, members, named, ranges_json, ranges_text};

#[derive(Serialize)]
pub(super) struct JsonS7Profile {
    id: u16,
    functions: Vec<JsonCode>,
    pi_services: Value,
    userdata: Vec<JsonUserdata>,
    tsaps: Value,
    areas: Value,
    db_numbers: Value,
    s7comm_plus: &'static str,
    flags: u32,
    conduit_entries: Vec<usize>,
}

#[derive(Serialize)]
struct JsonUserdata {
    group: u8,
    subfunctions: Value,
    names: Vec<&'static str>,
}

/// Per userdata group the profile allows something of: (group, whole group, subfunctions
/// below 32, the names it covers).
fn userdata(p: &S7Profile) -> Vec<(u8, bool, Vec<u8>, Vec<&'static str>)> {
    (0..16u8)
        .filter(|&g| p.userdata[g as usize] != 0 || p.userdata_groups & 1 << g != 0)
        .map(|g| {
            let whole = p.userdata_groups & 1 << g != 0;
            let subs: Vec<u8> = (0..32u8)
                .filter(|&s| p.userdata[g as usize] & 1 << s != 0)
                .collect();
            let names = USERDATA
                .iter()
                .filter(|u| u.group == g)
                .filter(|u| {
                    if u.subfunctions == Userdata::ALL {
                        whole
                    } else {
                        whole || p.userdata[g as usize] & u.subfunctions == u.subfunctions
                    }
                })
                .map(|u| u.name)
                .collect();
            (g, whole, subs, names)
        })
        .collect()
}

/// The PI services a restricting profile allows: (index, wire name, policy name).
fn pi_list(p: &S7Profile) -> Option<Vec<(u8, &'static str, Option<&'static str>)>> {
    (p.flags & profile_flags::RESTRICT_PI != 0).then(|| {
        PI_SERVICES
            .iter()
            .enumerate()
            .filter(|(i, _)| p.allows_pi_service(*i as u8))
            .map(|(i, s)| (i as u8, s.wire, s.name))
            .collect()
    })
}

fn items_restricted(p: &S7Profile) -> bool {
    p.flags & profile_flags::RESTRICT_ITEMS != 0
}

fn area_list(p: &S7Profile) -> Vec<(u8, &'static str)> {
    AREAS
        .iter()
        .filter(|a| p.areas & 1 << a.bit != 0)
        .map(|a| (a.code, a.name))
        .collect()
}

/// The JSON object of S7comm profile `id`, used by the conduit entries `users`.
pub(super) fn s7comm_json(id: u16, p: &S7Profile, users: Vec<usize>) -> JsonS7Profile {
    JsonS7Profile {
        id,
        functions: members(&p.functions)
            .map(|code| JsonCode::new(code, s7comm::function(code).map(|f| f.name)))
            .collect(),
        pi_services: match pi_list(p) {
            Some(list) => list
                .into_iter()
                .map(|(index, wire, name)| {
                    serde_json::json!({ "index": index, "wire": wire, "name": name })
                })
                .collect(),
            None => Value::from("any"),
        },
        userdata: userdata(p)
            .into_iter()
            .map(|(group, whole, subs, names)| JsonUserdata {
                group,
                subfunctions: if whole {
                    Value::from("all")
                } else {
                    Value::from(subs)
                },
                names,
            })
            .collect(),
        tsaps: ranges_json(
            p.flags & profile_flags::RESTRICT_TSAPS == 0,
            &p.tsaps.ranges,
        ),
        areas: if items_restricted(p) {
            area_list(p)
                .into_iter()
                .map(|(code, name)| serde_json::json!({ "code": code, "name": name }))
                .collect()
        } else {
            Value::from("any")
        },
        db_numbers: ranges_json(
            !items_restricted(p) || p.flags & profile_flags::ANY_DB != 0,
            &p.db_numbers.ranges,
        ),
        s7comm_plus: if p.flags & profile_flags::S7COMM_PLUS != 0 {
            "allow"
        } else {
            "deny"
        },
        flags: p.flags,
        conduit_entries: users,
    }
}

/// The text lines of an S7comm profile.
pub(super) fn describe_s7comm(out: &mut String, p: &S7Profile) {
    let _ = writeln!(
        out,
        "         functions       {}",
        named(members(&p.functions).map(|c| (c, s7comm::function(c).map(|f| f.name))))
    );
    if p.functions.contains(s7comm::job::PI_SERVICE) {
        let pi = match pi_list(p) {
            Some(list) if list.is_empty() => "none".to_string(),
            Some(list) => list
                .iter()
                .map(|(_, wire, name)| match name {
                    Some(n) => format!("{n}({wire})"),
                    None => (*wire).to_string(),
                })
                .collect::<Vec<_>>()
                .join(", "),
            None => "any".to_string(),
        };
        let _ = writeln!(out, "         PI services     {pi}");
    }
    let ud: Vec<String> = userdata(p)
        .into_iter()
        .map(|(g, whole, subs, names)| {
            let what = if whole {
                "all".to_string()
            } else {
                subs.iter().map(u8::to_string).collect::<Vec<_>>().join("/")
            };
            if names.is_empty() {
                format!("group {g} ({what})")
            } else {
                format!("{} (group {g}: {what})", names.join(", "))
            }
        })
        .collect();
    let _ = writeln!(
        out,
        "         userdata        {}",
        if ud.is_empty() {
            "none".into()
        } else {
            ud.join(", ")
        }
    );
    if p.flags & profile_flags::RESTRICT_TSAPS != 0 {
        let tsaps: Vec<String> = super::render_profiles::used(&p.tsaps.ranges)
            .iter()
            .map(|[a, b]| {
                if a == b {
                    format!("{a:#06x}")
                } else {
                    format!("{a:#06x}-{b:#06x}")
                }
            })
            .collect();
        let _ = writeln!(out, "         called TSAPs    {}", tsaps.join(", "));
    } else {
        let _ = writeln!(out, "         called TSAPs    any");
    }
    if items_restricted(p) {
        let areas: Vec<String> = area_list(p)
            .iter()
            .map(|(c, n)| format!("{n}({c:#04x})"))
            .collect();
        let _ = writeln!(out, "         item areas      {}", areas.join(", "));
        let _ = writeln!(
            out,
            "         DB numbers      {}",
            if p.flags & profile_flags::ANY_DB != 0 {
                "any".to_string()
            } else {
                ranges_text(&p.db_numbers.ranges)
            }
        );
    } else {
        let _ = writeln!(out, "         item areas      any (items not walked)");
    }
    let _ = writeln!(
        out,
        "         S7comm-plus     {}",
        if p.flags & profile_flags::S7COMM_PLUS != 0 {
            "allowed, uninspected"
        } else {
            "denied"
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s7comm_lines_and_json() {
        let mut p = S7Profile::read_only();
        p.allow_tsaps(0x0102, 0x0102).unwrap();
        p.restrict_areas(1 << 4);
        p.allow_db_numbers(1, 3).unwrap();
        let mut text = String::new();
        describe_s7comm(&mut text, &p);
        assert!(
            text.contains("read_var(4), setup_communication(240)"),
            "{text}"
        );
        assert!(text.contains("szl_read (group 4: 1)"), "{text}");
        assert!(text.contains("clock_read (group 7: 1/3)"), "{text}");
        assert!(text.contains("called TSAPs    0x0102"), "{text}");
        assert!(text.contains("item areas      db(0x84)"), "{text}");
        assert!(text.contains("DB numbers      1-3"), "{text}");
        let j = serde_json::to_value(s7comm_json(1, &p, vec![2])).unwrap();
        assert_eq!(j["tsaps"], serde_json::json!([[0x0102, 0x0102]]));
        assert_eq!(j["areas"][0]["name"], "db");
        assert_eq!(j["db_numbers"], serde_json::json!([[1, 3]]));
        assert_eq!(j["s7comm_plus"], "deny");
        assert_eq!(j["userdata"][0]["names"][0], "block_info");
        assert!(!text.contains("PI services"), "{text}");
        assert_eq!(j["pi_services"], "any");
        let mut pi = S7Profile::read_only();
        pi.allow_function(0x28);
        let mut text = String::new();
        describe_s7comm(&mut text, &pi);
        assert!(text.contains("PI services     any"), "{text}");
        pi.allow_pi_service(s7comm::pi_service_named("compress").unwrap());
        pi.allow_pi_service(s7comm::pi_service_named("_N_LOGIN_").unwrap());
        let mut text = String::new();
        describe_s7comm(&mut text, &pi);
        assert!(
            text.contains("PI services     compress(_GARB), _N_LOGIN_"),
            "{text}"
        );
        let j = serde_json::to_value(s7comm_json(1, &pi, vec![])).unwrap();
        assert_eq!(
            j["pi_services"],
            serde_json::json!([
                { "index": 5, "wire": "_GARB", "name": "compress" },
                { "index": 6, "wire": "_N_LOGIN_", "name": null }
            ])
        );
        let q = S7Profile::read_only();
        let j = serde_json::to_value(s7comm_json(1, &q, vec![])).unwrap();
        assert_eq!(
            (j["tsaps"].as_str(), j["areas"].as_str()),
            (Some("any"), Some("any"))
        );
    }
}
