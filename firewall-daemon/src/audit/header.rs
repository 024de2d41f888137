//! The report header: when, where, by which zcfw and of which policy a report was written,
//! and the SHA-256 of the report's body, so a copy can be checked against the original.
//!
//! The body is everything the header does not hold, and it does not depend on the clock or
//! the host: auditing the same policy twice gives the same body and the same digest.
//!
//! - text and Markdown: the digest covers the bytes after the marker line
//!   [`END_OF_HEADER_TEXT`] / [`END_OF_HEADER_MARKDOWN`], to the end of the output;
//! - JSON: the digest covers the document without its `header` member, in the JSON
//!   Canonicalization Scheme (RFC 8785): compact, members sorted by name. For the strings,
//!   integers, booleans and nulls of the report that is `jq -cS 'del(.header)'` without its
//!   trailing newline.

use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::policy::ValidatedPolicy;

/// The line that ends the header of a text report.
pub const END_OF_HEADER_TEXT: &str = "---- end of header ----";
/// The line that ends the header of a Markdown report (an HTML comment: not rendered).
pub const END_OF_HEADER_MARKDOWN: &str = "<!-- end of header -->";

/// What was audited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Audited {
    /// A policy file (`zcfw audit POLICY`).
    File,
    /// The policy a running daemon enforces (`zcfw audit --running`), from its socket.
    Running { socket: String },
}

/// The header of a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportHeader {
    /// When the report was written, RFC 3339 in UTC (`2026-12-07T08:45:00Z`).
    pub generated_at: String,
    /// The host name of the machine that wrote it.
    pub host: String,
    /// The zcfw version that wrote it.
    pub zcfw_version: &'static str,
    /// Hex SHA-256 of the policy file's bytes (`sha256sum policy.yaml`; `zcfw status`'s hash).
    pub policy_sha256: String,
    pub audited: Audited,
    /// Hex SHA-256 of the body (see the module documentation); set when rendered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
}

impl ReportHeader {
    /// A header for `policy`, written now on this host.
    pub fn now(policy: &ValidatedPolicy, audited: Audited) -> Self {
        ReportHeader {
            generated_at: now_utc(),
            host: host_name(),
            zcfw_version: env!("CARGO_PKG_VERSION"),
            policy_sha256: policy.source_hash().to_owned(),
            audited,
            body_sha256: None,
        }
    }

    /// The header as text lines (also the Markdown header, in a table).
    pub(super) fn lines(&self, body_sha256: &str, marker: &str) -> Vec<(&'static str, String)> {
        vec![
            ("Generated", self.generated_at.clone()),
            ("Host", self.host.clone()),
            ("zcfw", self.zcfw_version.to_owned()),
            (
                "Audited",
                match &self.audited {
                    Audited::File => "the policy file".to_owned(),
                    Audited::Running { socket } => {
                        format!("the policy the daemon on {socket} enforces")
                    }
                },
            ),
            ("Policy SHA-256", self.policy_sha256.clone()),
            (
                "Report SHA-256",
                format!("{body_sha256} (of everything after the line `{marker}`)"),
            ),
        ]
    }
}

/// The current time, RFC 3339 in UTC, whole seconds.
fn now_utc() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Unix seconds as RFC 3339 in UTC.
pub(super) fn rfc3339(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{unix} (Unix time)"))
}

/// The kernel's host name (`uname -n`, of this UTS namespace).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Hex SHA-256 of `bytes`.
pub fn body_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `value` in the JSON Canonicalization Scheme (RFC 8785) for the values a report holds:
/// compact, object members sorted by name (the names are ASCII, so UTF-16 order is byte
/// order), strings as serde_json escapes them (which is JCS's escaping).
pub(super) fn canonical_json(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                canonical_json(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256() {
        assert_eq!(
            body_digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn canonical_form_sorts_members_and_is_compact() {
        let v = serde_json::json!({"b": [1, {"z": null, "a": "x\"\n"}], "a": true});
        let mut out = String::new();
        canonical_json(&v, &mut out);
        assert_eq!(out, r#"{"a":true,"b":[1,{"a":"x\"\n","z":null}]}"#);
    }

    #[test]
    fn unix_time_as_rfc3339() {
        assert_eq!(rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
    }

    #[test]
    fn time_is_rfc3339_utc() {
        let t = now_utc();
        // 2026-12-07T08:45:00Z
        let b = t.as_bytes();
        assert_eq!(b.len(), 20, "{t}");
        assert!(
            b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[19] == b'Z',
            "{t}"
        );
        assert!(t[..4].parse::<u32>().is_ok_and(|y| y >= 2024), "{t}");
    }
}
