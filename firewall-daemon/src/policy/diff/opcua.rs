//! What changed in an OPC UA profile: security policies, services, and whether bodies of
//! signing channels pass unjudged (and the summary of an added or removed OPC UA rule).

use firewall_common::opcua::{OpcuaProfile, POLICIES, SERVICES, profile_flags};

use super::{At, Differ, Effect};

fn policies(p: &OpcuaProfile) -> Vec<String> {
    (0u8..)
        .zip(POLICIES.iter())
        .filter(|(i, _)| p.allows_policy(*i))
        .map(|(_, policy)| policy.name.to_owned())
        .collect()
}

/// The services `p` allows as `name(id)` (every one without a `services` restriction).
fn services(p: &OpcuaProfile) -> Vec<String> {
    (0u8..)
        .zip(SERVICES.iter())
        .filter(|(i, _)| p.allows_service(*i))
        .map(|(_, s)| format!("{}({})", s.name, s.id))
        .collect()
}

fn restricted(p: &OpcuaProfile) -> bool {
    p.flags & profile_flags::RESTRICT_SERVICES != 0
}

/// `security_modes` as the bodies are treated: `sign` judges them, `sign_and_encrypt` lets
/// those of signing channels pass.
fn modes(p: &OpcuaProfile) -> &'static str {
    if p.flags & profile_flags::ENCRYPTED_PASS != 0 {
        "sign_and_encrypt"
    } else {
        "sign"
    }
}

/// `security_policies Basic256Sha256; services read(631), ...; security_modes sign`.
pub(super) fn summary(p: &OpcuaProfile) -> Vec<String> {
    vec![
        format!("security_policies {}", policies(p).join(", ")),
        if restricted(p) {
            format!("services {}", services(p).join(", "))
        } else {
            "services any".to_owned()
        },
        format!("security_modes {}", modes(p)),
    ]
}

/// Members of `new` not in `old`, and of `old` not in `new`.
fn added_removed(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    let missing = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter().filter(|x| !b.contains(x)).cloned().collect()
    };
    (missing(new, old), missing(old, new))
}

impl Differ {
    pub(super) fn opcua(&mut self, at: &At, o: &OpcuaProfile, n: &OpcuaProfile) {
        let (added, removed) = added_removed(&policies(o), &policies(n));
        self.members(at, "security_policies", added, removed);
        // Without a `services` list every service passes: the whole table.
        let (added, removed) = added_removed(&services(o), &services(n));
        self.members(at, "services", added, removed);
        if modes(o) != modes(n) {
            // Letting bodies pass unjudged opens; judging them closes.
            let effect = if n.flags & profile_flags::ENCRYPTED_PASS != 0 {
                Effect::Opens
            } else {
                Effect::Closes
            };
            self.value(
                at,
                "security_modes",
                effect,
                modes(o).to_owned(),
                modes(n).to_owned(),
            );
        }
    }
}
