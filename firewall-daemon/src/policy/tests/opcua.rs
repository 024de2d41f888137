//! `protocol: opcua`: security policies by name and URI, services by name and id,
//! `read_only`, `security_modes`, the required block and key, and the warnings about
//! unsigned channels, deprecated policies, encrypted bodies and what changes a server.

use firewall_common::opcua::{OpcuaProfile, policy_named, profile_flags, service_named};

use super::*;

fn block(opts: &str) -> String {
    with_rule(&format!("{{ protocol: opcua, opcua: {{ {opts} }} }}"))
}

fn opcua(src: &str) -> (ValidatedPolicy, OpcuaProfile) {
    let p = ok(src);
    let profile = match &p.conduits()[0].rules[1] {
        Rule::Opcua { profile, .. } => *profile,
        other => panic!("rule 1 is {other:?}"),
    };
    (p, profile)
}

fn policy(name: &str) -> u8 {
    policy_named(name).unwrap_or_else(|| panic!("{name}"))
}

fn service(name: &str) -> u8 {
    service_named(name).unwrap_or_else(|| panic!("{name}"))
}

#[test]
fn read_only_with_one_signing_policy_over_tcp_4840() {
    let (p, profile) = opcua(&block(
        "security_policies: [Basic256Sha256], read_only: true",
    ));
    assert!(p.warnings().is_empty(), "{:?}", warning_texts(&p));
    let mut want = OpcuaProfile::new();
    want.allow_policy(policy("Basic256Sha256"));
    want.allow_read_only();
    assert_eq!(profile, want);
    assert_eq!(profile.flags & profile_flags::ENCRYPTED_PASS, 0);
    assert!(!profile.allows_policy(policy("None")));
    let rule = &p.conduits()[0].rules[1];
    assert_eq!(rule.to_string(), "opcua 4840");
    assert_eq!(rule.protocol(), Protocol::Opcua);
    assert_eq!(rule.inspector(), firewall_common::maps::inspector::OPCUA);
    assert_eq!(rule.points(), vec![(0x06_12E8, 0x06_12E8)]);
}

#[test]
fn uris_ids_and_lists_add_to_read_only() {
    let (p, profile) = opcua(&block(
        "security_policies: [\"http://opcfoundation.org/UA/SecurityPolicy#Aes256_Sha256_RsaPss\", Aes128_Sha256_RsaOaep], read_only: true, services: [673, \"0x2c8\", create_session, HistoryRead]",
    ));
    assert!(profile.allows_policy(policy("Aes256_Sha256_RsaPss")));
    assert!(profile.allows_policy(policy("Aes128_Sha256_RsaOaep")));
    assert!(!profile.allows_policy(policy("Basic256Sha256")));
    for name in [
        "read",
        "publish",
        "write",
        "call",
        "history_read",
        "get_endpoints",
    ] {
        assert!(profile.allows_service(service(name)), "{name}");
    }
    for name in ["add_nodes", "history_update", "register_nodes"] {
        assert!(!profile.allows_service(service(name)), "{name}");
    }
    let w = warning_texts(&p);
    assert!(
        w.iter()
            .any(|m| m.contains("write (673) is allowed: it writes")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("call (712) is allowed: it calls methods")),
        "{w:?}"
    );
    assert_eq!(w.len(), 2, "a housekeeping name listed is fine: {w:?}");
}

#[test]
fn services_without_read_only_and_the_housekeeping() {
    let (p, profile) = opcua(&block(
        "security_policies: [Basic256Sha256], services: [read, browse, read]",
    ));
    for name in [
        "read",
        "browse",
        "create_session",
        "activate_session",
        "get_endpoints",
    ] {
        assert!(profile.allows_service(service(name)), "{name}");
    }
    assert!(!profile.allows_service(service("publish")));
    let w = warning_texts(&p);
    assert_eq!(w, ["service `read` is listed twice"]);
    let (p, _) = opcua(&block(
        "security_policies: [Basic256Sha256], read_only: true, services: [browse]",
    ));
    assert_eq!(
        warning_texts(&p),
        ["`read_only: true` already allows `browse`"]
    );
}

#[test]
fn none_and_deprecated_policies_warn() {
    let (p, profile) = opcua(&block(
        "security_policies: [None, Basic128Rsa15, Basic256, Basic256Sha256], read_only: true",
    ));
    for name in ["None", "Basic128Rsa15", "Basic256", "Basic256Sha256"] {
        assert!(profile.allows_policy(policy(name)), "{name}");
    }
    let w = warning_texts(&p);
    assert!(
        w[0].contains("`None` admits channels that are neither signed nor encrypted"),
        "{w:?}"
    );
    assert!(w[0].contains("SR 3.1") && w[0].contains("SR 4.1"), "{w:?}");
    assert!(w[1].contains("`Basic128Rsa15` is deprecated"), "{w:?}");
    assert!(w[2].contains("`Basic256` is deprecated"), "{w:?}");
    assert_eq!(w.len(), 3, "{w:?}");
    let d = &p.warnings()[0];
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].opcua.security_policies[0]")
    );
}

#[test]
fn every_service_passes_without_services_or_read_only() {
    let (p, profile) = opcua(&block("security_policies: [Basic256Sha256]"));
    assert!(profile.allows_service(service("write")));
    assert_eq!(profile.flags & profile_flags::RESTRICT_SERVICES, 0);
    let d = &p.warnings()[0];
    assert!(
        d.message.starts_with("every OPC UA service passes"),
        "{d:?}"
    );
    assert_eq!(d.key.as_deref(), Some("conduits[0].rules[1].opcua"));
    assert!(d.help[0].contains("read_only: true"), "{:?}", d.help);
    assert_eq!(p.warnings().len(), 1);
}

#[test]
fn security_modes() {
    // Omitted or `[sign]`: bodies judged on every channel.
    let (p, profile) = opcua(&block(
        "security_policies: [Basic256Sha256], read_only: true, security_modes: [sign]",
    ));
    assert!(p.warnings().is_empty(), "{:?}", warning_texts(&p));
    assert_eq!(profile.flags & profile_flags::ENCRYPTED_PASS, 0);
    // `sign_and_encrypt` with services: only the policy is enforced on signing channels.
    let (p, profile) = opcua(&block(
        "security_policies: [None, Basic256Sha256], read_only: true, security_modes: [sign, sign_and_encrypt]",
    ));
    assert_ne!(profile.flags & profile_flags::ENCRYPTED_PASS, 0);
    let w = warning_texts(&p);
    let pass = p
        .warnings()
        .iter()
        .find(|d| {
            d.message
                .starts_with("on channels of Basic256Sha256 only the security policy")
        })
        .unwrap_or_else(|| panic!("{w:?}"));
    assert_eq!(
        pass.key.as_deref(),
        Some("conduits[0].rules[1].opcua.security_modes")
    );
    assert!(
        pass.help[0].contains("`opcua_encrypted`"),
        "{:?}",
        pass.help
    );
    assert_eq!(w.len(), 2, "None and the pass: {w:?}");
    // `sign_and_encrypt` alone cannot be required.
    let (p, profile) = opcua(&block(
        "security_policies: [Basic256Sha256], security_modes: [sign_and_encrypt]",
    ));
    assert_ne!(profile.flags & profile_flags::ENCRYPTED_PASS, 0);
    let w = warning_texts(&p);
    assert!(
        w.iter()
            .any(|m| m.contains("cannot require SignAndEncrypt")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.starts_with("every OPC UA service passes")),
        "{w:?}"
    );
    assert_eq!(w.len(), 2, "{w:?}");
    // With `None` only, modes say nothing.
    let (p, profile) = opcua(&block(
        "security_policies: [None], read_only: true, security_modes: [sign_and_encrypt]",
    ));
    assert_eq!(profile.flags & profile_flags::ENCRYPTED_PASS, 0);
    let w = warning_texts(&p);
    assert!(
        w.iter()
            .any(|m| m.starts_with("`security_modes` has no effect")),
        "{w:?}"
    );
    assert_eq!(w.len(), 2, "None and no effect: {w:?}");
}

#[test]
fn errors() {
    let d = error(
        &block("security_policies: [Basic256Sha265], read_only: true"),
        "unknown OPC UA security policy \"Basic256Sha265\"",
    );
    assert_eq!(
        d.help[0],
        "did you mean \"Basic256Sha256\"? (names are case-sensitive)"
    );
    assert!(d.help[1].contains("None, Basic128Rsa15, Basic256, Basic256Sha256"));
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].opcua.security_policies[0]")
    );
    let d = error(
        &block("read_only: true"),
        "the `opcua:` block has no `security_policies`",
    );
    assert_eq!(d.key.as_deref(), Some("conduits[0].rules[1].opcua"));
    assert!(d.help[0].contains(
        "list the security policies your servers offer, e.g. `security_policies: [Basic256Sha256]`"
    ));
    error(
        &block("security_policies: [], read_only: true"),
        "empty security policy list",
    );
    let d = error(
        &block("security_policies: [Basic256Sha256], services: [wrte]"),
        "unknown OPC UA service \"wrte\"",
    );
    assert_eq!(d.help[0], "did you mean \"write\"?");
    error(
        &block("security_policies: [Basic256Sha256], services: [634]"),
        "634 is no OPC UA service request id",
    );
    error(
        &block("security_policies: [Basic256Sha256], services: []"),
        "empty service list",
    );
    error(
        &block("security_policies: [Basic256Sha256], read_only: true, security_modes: [encrypt]"),
        "unknown OPC UA security mode \"encrypt\"",
    );
    error(
        &block("security_policies: [Basic256Sha256], read_only: true, security_modes: []"),
        "empty security mode list",
    );
    let d = error(
        &with_rule("{ protocol: opcua }"),
        "`protocol: opcua` needs a `opcua:` block",
    );
    assert!(
        d.help[1].contains("protocol: tcp, ports: [4840]"),
        "{:?}",
        d.help
    );
    let d = error(
        &block("security_policies: [Basic256Sha256], writes: true"),
        "unknown key \"writes\"",
    );
    assert_eq!(d.key.as_deref(), Some("conduits[0].rules[1].opcua.writes"));
    error(
        &with_rule("{ protocol: tcp, opcua: { security_policies: [None] } }"),
        "`opcua` options apply only to `protocol: opcua`",
    );
}
