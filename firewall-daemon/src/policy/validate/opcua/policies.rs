//! `security_policies:`: which security policies a client's OpenSecureChannel may ask for, by
//! short name (`Basic256Sha256`) or full URI; `None` and the deprecated policies are warned
//! about.

use firewall_common::opcua::{POLICIES, POLICY_NONE, POLICY_PREFIX, policy_named};

use super::super::{Checker, Help, KeyPath};
use crate::policy::{diag::did_you_mean, raw::Scalar};

/// The short names, in table order.
pub(super) fn policy_names() -> String {
    POLICIES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The names of the policies of `mask` (bit per index of [`POLICIES`]).
pub(super) fn names_of(mask: u8) -> Vec<&'static str> {
    POLICIES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & 1 << i != 0)
        .map(|(_, p)| p.name)
        .collect()
}

/// A short name or full URI (exact spelling): its index in [`POLICIES`].
pub(super) fn parse_policy(s: &Scalar) -> Result<u8, (String, Vec<String>)> {
    let text = s.to_string();
    let text = text.trim();
    if let Some(i) = policy_named(text) {
        return Ok(i);
    }
    let prefix = core::str::from_utf8(POLICY_PREFIX).unwrap_or_default();
    let name = text.strip_prefix(prefix).unwrap_or(text);
    let mut help = Vec::new();
    let exact = POLICIES
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.name);
    if let Some(near) = exact.or_else(|| did_you_mean(name, POLICIES.iter().map(|p| p.name))) {
        help.push(format!(
            "did you mean \"{near}\"? (names are case-sensitive)"
        ));
    }
    help.push(format!(
        "use one of: {}, or the full URI ({prefix}Basic256Sha256)",
        policy_names()
    ));
    Err((format!("unknown OPC UA security policy \"{text}\""), help))
}

/// Checks `security_policies:` of the block at `bp` (required); the mask of the listed
/// policies (bit per index), `None` on errors (reported).
pub(super) fn check_policies(
    c: &mut Checker<'_>,
    bp: &KeyPath,
    list: Option<&[Scalar]>,
) -> Option<u8> {
    let example =
        "list the security policies your servers offer, e.g. `security_policies: [Basic256Sha256]`";
    let pp = bp.key("security_policies");
    let list = match list {
        None => {
            c.error(bp, "the `opcua:` block has no `security_policies`")
                .help(example)
                .help(format!("names: {}", policy_names()));
            return None;
        }
        Some([]) => {
            c.error(&pp, "empty security policy list").help(example);
            return None;
        }
        Some(list) => list,
    };
    let (items, ok) = c.parse_items(&pp, list, parse_policy);
    let mut mask = 0u8;
    for (kp, index) in items {
        let policy = POLICIES[usize::from(index)];
        if mask & 1 << index != 0 {
            c.warning(
                &kp,
                format!("security policy `{}` is listed twice", policy.name),
            )
            .help("remove the repeated entry");
            continue;
        }
        mask |= 1 << index;
        if index == POLICY_NONE {
            c.warning(&kp, "security policy `None` admits channels that are neither signed nor encrypted: anyone on the path can read and change every request and reply (no communication integrity, SR 3.1, nor confidentiality, SR 4.1)")
                .help("list only signing policies once servers and clients have certificates; clients that discover endpoints over a `None` channel can be given the endpoint and server certificate directly (docs/opcua.md)")
                .help("if `None` must stay, keep `services` or `read_only` on this rule (judged on `None` channels) and have the servers refuse sessions on `None` channels");
        } else if policy.deprecated {
            c.warning(&kp, format!("security policy `{}` is deprecated (OPC 10000-7): it signs with SHA-1 and its key sizes and padding are no longer considered secure", policy.name))
                .help("have the servers offer Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss, and list those");
        }
    }
    ok.then_some(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> Result<u8, (String, Vec<String>)> {
        parse_policy(&Scalar::Text(t.into()))
    }

    #[test]
    fn names_and_uris_parse() {
        assert_eq!(p("None"), Ok(0));
        assert_eq!(p("Basic256Sha256"), Ok(3));
        assert_eq!(
            p("http://opcfoundation.org/UA/SecurityPolicy#Aes256_Sha256_RsaPss"),
            Ok(5)
        );
        let (m, help) = p("basic256sha256").expect_err("case");
        assert_eq!(m, "unknown OPC UA security policy \"basic256sha256\"");
        assert!(help[0].contains("\"Basic256Sha256\""), "{help:?}");
        let (_, help) =
            p("http://opcfoundation.org/UA/SecurityPolicy#Basic265Sha256").expect_err("typo");
        assert!(help[0].contains("\"Basic256Sha256\""), "{help:?}");
        let (_, help) = p("Aes128").expect_err("short");
        assert_eq!(help.len(), 1, "{help:?}");
        assert!(help[0].contains("Aes128_Sha256_RsaOaep"), "{help:?}");
        assert!(p("3").is_err(), "a number names no policy");
        assert_eq!(names_of(0b1001), ["None", "Basic256Sha256"]);
    }
}
