//! `zcfw compile` output of the EtherNet/IP inspection profiles: JSON objects and text lines
//! with command and service names.
//!
//! JSON (fields are only ever added):
//! ```text
//! "enip_profiles": [{ "id", "commands": [{ "code", "name" }],
//!                     "services": [{ "code", "name" }],            (on every class)
//!                     "tag_services": [{ "code", "name" }],        (on tags, class 0x6b)
//!                     "connection_services": [{ "code", "name" }], (on class 6)
//!                     "classes": [[first, last], ...] | "any", "flags",
//!                     "conduit_entries": [indexes] }]
//! ```

use std::fmt::Write;

use firewall_common::{
    enip::{self, EnipProfile, Target, profile_flags},
    sets::Bitmap256,
};
use serde::Serialize;
use serde_json::Value;

use super::render_profiles::{JsonCode, members, named, ranges_json, ranges_text};

#[derive(Serialize)]
pub(super) struct JsonEnipProfile {
    id: u16,
    commands: Vec<JsonCode>,
    services: Vec<JsonCode>,
    tag_services: Vec<JsonCode>,
    connection_services: Vec<JsonCode>,
    classes: Value,
    flags: u32,
    conduit_entries: Vec<usize>,
}

fn codes(b: &Bitmap256, target: Target) -> Vec<JsonCode> {
    members(b)
        .map(|code| JsonCode::new(code, enip::service_name(code, target)))
        .collect()
}

/// The JSON object of EtherNet/IP profile `id`, used by the conduit entries `users`.
pub(super) fn enip_json(id: u16, p: &EnipProfile, users: Vec<usize>) -> JsonEnipProfile {
    JsonEnipProfile {
        id,
        commands: members(&p.commands)
            .map(|code| JsonCode::new(code, enip::command_entry(code).map(|c| c.name)))
            .collect(),
        services: codes(&p.services, Target::Any),
        tag_services: codes(&p.tag_services, Target::Tag),
        connection_services: codes(&p.connection_services, Target::ConnectionManager),
        classes: ranges_json(
            p.flags & profile_flags::RESTRICT_CLASSES == 0,
            &p.classes.ranges,
        ),
        flags: p.flags,
        conduit_entries: users,
    }
}

/// The text lines of an EtherNet/IP profile.
pub(super) fn describe_enip(out: &mut String, p: &EnipProfile) {
    let _ = writeln!(
        out,
        "         commands        {}",
        named(members(&p.commands).map(|c| (c, enip::command_entry(c).map(|e| e.name))))
    );
    for (label, b, target) in [
        ("services        ", &p.services, Target::Any),
        ("on tags         ", &p.tag_services, Target::Tag),
        (
            "on conn. manager",
            &p.connection_services,
            Target::ConnectionManager,
        ),
    ] {
        let _ = writeln!(
            out,
            "         {label}{}",
            named(members(b).map(|c| (c, enip::service_name(c, target))))
        );
    }
    let _ = writeln!(
        out,
        "         classes         {}",
        if p.flags & profile_flags::RESTRICT_CLASSES != 0 {
            ranges_text(&p.classes.ranges)
        } else {
            "any".to_string()
        }
    );
    let _ = writeln!(
        out,
        "         nesting         unconnected_send and multiple_service_packet walked, {} levels, {} services per packet",
        enip::LEVELS,
        enip::MSP_MAX
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enip_lines_and_json() {
        let mut p = EnipProfile::read_only();
        p.allow_classes(1, 2).unwrap();
        let mut text = String::new();
        describe_enip(&mut text, &p);
        assert!(text.contains("register_session(101)"), "{text}");
        assert!(text.contains("get_attribute_single(14)"), "{text}");
        assert!(text.contains("on tags         read_tag(76)"), "{text}");
        assert!(text.contains("unconnected_send(82)"), "{text}");
        assert!(text.contains("classes         1-2"), "{text}");
        let j = serde_json::to_value(enip_json(1, &p, vec![2])).unwrap();
        assert_eq!(j["classes"], serde_json::json!([[1, 2]]));
        assert_eq!(j["connection_services"][0]["name"], "unconnected_send");
        assert_eq!(j["conduit_entries"], serde_json::json!([2]));
        let q = EnipProfile::new();
        let j = serde_json::to_value(enip_json(1, &q, vec![])).unwrap();
        assert_eq!(j["classes"].as_str(), Some("any"));
    }
}
