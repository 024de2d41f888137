//! `zcfw compile` output of the OPC UA inspection profiles: JSON objects and text lines with
//! security policy and service names.
//!
//! JSON (fields are only ever added):
//! ```text
//! "opcua_profiles": [{ "id", "security_policies": ["Basic256Sha256", ...],
//!                      "services": [{ "id", "name" }] | "any",
//!                      "encrypted_bodies": "judged" | "pass", "flags",
//!                      "conduit_entries": [indexes] }]
//! ```

use std::fmt::Write;

use firewall_common::opcua::{OpcuaProfile, POLICIES, SERVICES, Service, profile_flags};
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
pub(super) struct JsonOpcuaProfile {
    id: u16,
    security_policies: Vec<&'static str>,
    services: Value,
    encrypted_bodies: &'static str,
    flags: u8,
    conduit_entries: Vec<usize>,
}

fn policies(p: &OpcuaProfile) -> Vec<&'static str> {
    (0u8..)
        .zip(POLICIES.iter())
        .filter(|(i, _)| p.allows_policy(*i))
        .map(|(_, policy)| policy.name)
        .collect()
}

/// The services a restricting profile allows; `None`: every service.
fn services(p: &OpcuaProfile) -> Option<Vec<&'static Service>> {
    (p.flags & profile_flags::RESTRICT_SERVICES != 0).then(|| {
        (0u8..)
            .zip(SERVICES.iter())
            .filter(|(i, _)| p.allows_service(*i))
            .map(|(_, s)| s)
            .collect()
    })
}

/// Whether the bodies of channels of a policy other than `None` are judged: the JSON value
/// and the text line.
fn encrypted_bodies(p: &OpcuaProfile) -> (&'static str, &'static str) {
    if p.flags & profile_flags::RESTRICT_SERVICES == 0 {
        ("pass", "no body is judged (every service passes)")
    } else if p.flags & profile_flags::ENCRYPTED_PASS != 0 {
        (
            "pass",
            "bodies of signing channels pass unjudged (sign_and_encrypt); None channels judged",
        )
    } else {
        (
            "judged",
            "bodies judged on every channel; an encrypted one is denied (sign)",
        )
    }
}

/// The JSON object of OPC UA profile `id`, used by the conduit entries `users`.
pub(super) fn opcua_json(id: u16, p: &OpcuaProfile, users: Vec<usize>) -> JsonOpcuaProfile {
    JsonOpcuaProfile {
        id,
        security_policies: policies(p),
        services: match services(p) {
            None => Value::String("any".into()),
            Some(list) => list
                .iter()
                .map(|s| serde_json::json!({ "id": s.id, "name": s.name }))
                .collect(),
        },
        encrypted_bodies: encrypted_bodies(p).0,
        flags: p.flags,
        conduit_entries: users,
    }
}

/// The text lines of an OPC UA profile.
pub(super) fn describe_opcua(out: &mut String, p: &OpcuaProfile) {
    let _ = writeln!(out, "         policies        {}", policies(p).join(", "));
    let services = match services(p) {
        None => "any".to_owned(),
        Some(list) => list
            .iter()
            .map(|s| format!("{}({})", s.name, s.id))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let _ = writeln!(out, "         services        {services}");
    let _ = writeln!(out, "         encrypted       {}", encrypted_bodies(p).1);
}

#[cfg(test)]
mod tests {
    use firewall_common::opcua::policy_named;

    use super::*;

    #[test]
    fn opcua_lines_and_json() {
        let mut p = OpcuaProfile::new();
        p.allow_policy(policy_named("Basic256Sha256").unwrap());
        p.allow_policy(policy_named("None").unwrap());
        let mut text = String::new();
        describe_opcua(&mut text, &p);
        assert!(
            text.contains("policies        None, Basic256Sha256"),
            "{text}"
        );
        assert!(text.contains("services        any"), "{text}");
        assert!(text.contains("no body is judged"), "{text}");
        let j = serde_json::to_value(opcua_json(1, &p, vec![3])).unwrap();
        assert_eq!(j["services"], "any");
        assert_eq!(j["security_policies"][1], "Basic256Sha256");
        p.allow_read_only();
        let mut text = String::new();
        describe_opcua(&mut text, &p);
        assert!(text.contains("bodies judged on every channel"), "{text}");
        p.flags |= profile_flags::ENCRYPTED_PASS;
        let mut text = String::new();
        describe_opcua(&mut text, &p);
        assert!(text.contains("get_endpoints(428)"), "{text}");
        assert!(text.contains("read(631)"), "{text}");
        assert!(!text.contains("write("), "{text}");
        assert!(text.contains("pass unjudged"), "{text}");
        let j = serde_json::to_value(opcua_json(1, &p, vec![3])).unwrap();
        assert_eq!(j["services"][0]["name"], "find_servers");
        assert_eq!(j["services"][0]["id"], 422);
        assert_eq!(j["encrypted_bodies"], "pass");
        assert_eq!(j["conduit_entries"][0], 3);
    }
}
