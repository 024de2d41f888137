//! Arbitrary text through the policy loader, and every valid policy through the compiler,
//! the renderers and the audit.
//!
//! Input: the bytes as UTF-8 (lossy). `cargo xtask fuzz policy` seeds the corpus with
//! `policies/` (valid and invalid examples) and uses `fuzz/policy.dict` (the keys and words
//! of the policy language), so mutations stay close to real policies.
//!
//! Checks: nothing panics. A refused policy carries at least one error, each placed inside
//! the source, and its diagnostics render. A valid policy compiles or returns a
//! `CompileError` (never panics), the same way twice; a compiled policy carries the source
//! hash, distinct conduit ids, profile ids within its profiles and the map capacity, and it
//! renders as text and as JSON that parses back; the audit and the nftables rendering of a
//! valid policy work.
#![no_main]

use firewall_common::maps::capacity;
use libfuzzer_sys::fuzz_target;
use zcfw::{
    audit,
    compile::{self, nft},
    policy::{self, PolicyError},
};

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    match policy::load_str(&src, "fuzz.yaml") {
        Ok(policy) => valid(&src, &policy),
        Err(PolicyError::Invalid(diags)) => {
            assert!(
                diags.has_errors(),
                "a refused policy must say why (no error among {} diagnostics)",
                diags.iter().count()
            );
            // Lines of the source as YAML counts them (CR LF, CR and LF each end a line),
            // plus one for a position just past the end.
            let lines = src.replace("\r\n", "\n").split(['\r', '\n']).count() + 1;
            for d in diags.iter() {
                if let Some(p) = d.position {
                    assert!(
                        p.line >= 1 && p.line <= lines && p.column >= 1,
                        "diagnostic at {}:{} outside a source of {} lines: {d}",
                        p.line,
                        p.column,
                        lines - 1
                    );
                }
            }
            let _ = diags.to_string();
        }
        // Refusals of a file (not regular, too large) come from reading one, which load_str
        // never does.
        Err(e @ (PolicyError::Io { .. } | PolicyError::Refused(_))) => {
            panic!("load_str read a file: {e}")
        }
    }
});

fn valid(src: &str, policy: &policy::ValidatedPolicy) {
    assert_eq!(policy.source_hash(), policy::sha256_hex(src.as_bytes()));
    for w in policy.warnings() {
        assert!(!w.is_error(), "a valid policy carries an error: {w}");
        let _ = w.to_string();
    }
    let first = compile::compile(policy);
    assert_eq!(
        first,
        compile::compile(policy),
        "compile is not deterministic"
    );
    match first {
        Ok(compiled) => {
            assert_eq!(compiled.hash, policy.source_hash());
            assert_eq!(compiled.name, policy.name());
            let mut ids: Vec<u16> = compiled.conduits.iter().map(|c| c.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), compiled.conduits.len(), "conduit ids repeat");
            // Profile ids are numbered per protocol: an entry's id indexes its inspector's list.
            let profiles = |inspector: u8| compiled.profile_count(inspector);
            for (inspector, _) in firewall_common::maps::inspector::PROGRAMS {
                assert!(profiles(inspector) < capacity::MAX_PROFILES as usize);
            }
            for (key, action) in &compiled.conduit_entries {
                assert!(
                    usize::from(action.profile_id) <= profiles(action.inspector),
                    "{key:?} names profile {} of {}",
                    action.profile_id,
                    profiles(action.inspector)
                );
                assert_eq!(
                    action.profile_id == 0,
                    action.inspector == firewall_common::maps::inspector::NONE,
                    "{key:?}: profile and inspector disagree"
                );
                assert!(
                    action.conduit_id == 0 || ids.binary_search(&action.conduit_id).is_ok(),
                    "{key:?} names conduit {} that does not exist",
                    action.conduit_id
                );
                assert_eq!(
                    compiled.conduit_table.lookup(key),
                    Some(*action),
                    "{key:?} is not in the conduit table as compiled"
                );
            }
            assert_eq!(compiled.conduit_table.len(), compiled.conduit_entries.len());
            for c in &compiled.conduits {
                for (p, i) in c.rule_profiles.iter().zip(&c.rule_inspectors) {
                    assert!(usize::from(*p) <= profiles(*i));
                }
            }
            let _ = compile::render_text(&compiled);
            let json = compile::render_json(&compiled);
            let text = serde_json::to_string(&json).expect("compile JSON serializes");
            let back: serde_json::Value = serde_json::from_str(&text).expect("compile JSON parses");
            assert_eq!(back, json, "compile JSON does not round-trip");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let report = audit::audit(policy);
    let _ = audit::render_text(&report);
    let _ = audit::render_markdown(&report);
    let json = audit::render_json(&report);
    serde_json::from_str::<serde_json::Value>(&json).expect("audit JSON parses");
    for style in [
        nft::NftStyle::Linear,
        nft::NftStyle::Sets,
        nft::NftStyle::Conntrack,
    ] {
        let _ = nft::render_nft(policy, style);
    }
}
