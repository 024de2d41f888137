use super::*;
use crate::policy;

const BASE: &str = "version: 1
name: unit
interfaces:
  - { name: eth0, zones: [a] }
  - { name: eth1 }
zones:
  a: { security_level: 1, networks: [10.1.0.0/24] }
  b: { security_level: 3, networks: [10.3.0.0/24] }
conduits:
  - name: a-to-b
    from: a
    to: b
    rules:
      - RULE
";

fn report(rule: &str) -> AuditReport {
    let src = BASE.replace("RULE", rule);
    match policy::load_str(&src, "unit.yaml") {
        Ok(p) => audit(&p),
        Err(e) => panic!("{e}"),
    }
}

fn ids(r: &AuditReport) -> Vec<(&'static str, Severity)> {
    r.findings.iter().map(|f| (f.id, f.severity)).collect()
}

#[test]
fn severities_order_and_sort_highest_first() {
    assert!(Severity::High > Severity::Medium && Severity::Low > Severity::Info);
    let r = report("{ protocol: tcp, ports: [22, 502] }");
    assert_eq!(
        ids(&r),
        [
            (rules::MODBUS_UNINSPECTED, Severity::High),
            (rules::LEVEL_SKIP, Severity::Medium),
            (rules::NO_RATE_LIMIT, Severity::Medium),
            (rules::NO_ANTI_SPOOFING, Severity::Info),
        ]
    );
    assert_eq!(r.findings[0].key.as_deref(), Some("conduits[0].rules[0]"));
    assert_eq!(r.findings[0].zone.as_deref(), Some("b"));
    assert!(r.has_finding_at_least(Severity::High));
}

#[test]
fn modbus_port_behind_an_inspected_rule_is_not_uninspected() {
    let r = report(
        "{ protocol: modbus, modbus: { unit_ids: [1], read_only: true } }\n      - { protocol: tcp, ports: [\"1-1000\"] }",
    );
    assert!(
        !r.findings.iter().any(|f| f.id == rules::MODBUS_UNINSPECTED),
        "{:?}",
        ids(&r)
    );
}

#[test]
fn catalogue_ids_are_unique_and_sorted() {
    let mut seen: Vec<&str> = rules::RULES.iter().map(|r| r.id).collect();
    let sorted = {
        let mut s = seen.clone();
        s.sort_unstable();
        s
    };
    assert_eq!(seen, sorted);
    seen.dedup();
    assert_eq!(seen.len(), rules::RULES.len());
    for r in &rules::RULES {
        for sr in r.requirements {
            assert!(sr.starts_with("SR "), "{}: {sr}", r.id);
        }
    }
}

#[test]
fn every_finding_names_known_requirements() {
    let r = report("{ protocol: any }");
    for f in &r.findings {
        for sr in &f.requirements {
            assert!(r.requirement(sr).is_some(), "{} names unknown {sr}", f.id);
        }
    }
}

#[test]
fn opcua_findings_and_communication_integrity() {
    let of = |r: &AuditReport, id: &str| -> Vec<Finding> {
        r.findings.iter().filter(|f| f.id == id).cloned().collect()
    };
    // Plain tcp/4840 into SL3: uninspected, high; SR 3.1 is listed with OPC UA rules only.
    let r = report("{ protocol: tcp, ports: [4840] }");
    let plain = of(&r, rules::OPCUA_UNINSPECTED);
    assert_eq!(plain.len(), 1, "{:?}", ids(&r));
    assert_eq!(plain[0].severity, Severity::High);
    assert!(
        plain[0]
            .message
            .contains("lets OPC UA (port 4840) into SL3 zone \"b\"")
    );
    assert!(
        plain[0]
            .remediation
            .contains("`protocol: opcua` rule with security_policies")
    );
    assert!(r.requirement("SR 3.1").is_none());

    // Signed channels, read only: nothing to report, SR 3.1 met.
    let r = report(
        "{ protocol: opcua, opcua: { security_policies: [Basic256Sha256], read_only: true } }",
    );
    for id in [
        rules::OPCUA_UNSIGNED,
        rules::OPCUA_CHANGES,
        rules::OPCUA_UNINSPECTED,
    ] {
        assert!(of(&r, id).is_empty(), "{id}: {:?}", ids(&r));
    }
    let sr31 = r.requirement("SR 3.1").expect("SR 3.1 with an OPC UA rule");
    assert_eq!(sr31.status, Status::Met);
    assert!(
        sr31.evidence[1].contains("Basic256Sha256"),
        "{:?}",
        sr31.evidence
    );

    // None, a deprecated policy, write, and bodies passing on encrypted channels.
    let r = report(
        "{ protocol: opcua, opcua: { security_policies: [None, Basic256, Basic256Sha256], services: [read, write], security_modes: [sign, sign_and_encrypt] } }",
    );
    let weak = of(&r, rules::OPCUA_UNSIGNED);
    assert_eq!(weak.len(), 2, "{:?}", ids(&r));
    assert_eq!(weak[0].severity, Severity::High);
    assert!(
        weak[0].message.contains("security policy None"),
        "{}",
        weak[0].message
    );
    assert!(weak[0].message.contains("SR 4.1"), "{}", weak[0].message);
    assert_eq!(weak[0].requirements, ["SR 3.1"]);
    assert_eq!(
        weak[0].key.as_deref(),
        Some("conduits[0].rules[0].opcua.security_policies")
    );
    assert_eq!(weak[1].severity, Severity::Medium);
    assert!(weak[1].message.contains("deprecated security policies"));
    assert!(
        weak[1].message.contains(": Basic256 (SHA-1"),
        "{}",
        weak[1].message
    );
    let changes = of(&r, rules::OPCUA_CHANGES);
    assert_eq!(changes.len(), 1, "{:?}", ids(&r));
    assert!(
        changes[0].message.contains("write (673)"),
        "{}",
        changes[0].message
    );
    assert!(
        changes[0]
            .message
            .contains("any service on channels of Basic256, Basic256Sha256"),
        "{}",
        changes[0].message
    );
    let sr31 = r.requirement("SR 3.1").expect("SR 3.1");
    assert_eq!(sr31.status, Status::PartiallyMet);
    assert_eq!(sr31.findings, [rules::OPCUA_UNSIGNED]);
    for f in &r.findings {
        for sr in &f.requirements {
            assert!(r.requirement(sr).is_some(), "{} names unknown {sr}", f.id);
        }
    }

    // No services list: every service passes.
    let r = report("{ protocol: opcua, opcua: { security_policies: [Basic256Sha256] } }");
    let changes = of(&r, rules::OPCUA_CHANGES);
    assert_eq!(changes.len(), 1, "{:?}", ids(&r));
    assert!(
        changes[0].message.contains("every service"),
        "{}",
        changes[0].message
    );
}

#[test]
fn dropping_a_denied_request_is_an_availability_finding() {
    let modbus = "{ protocol: modbus, modbus: { unit_ids: [1], read_only: true } }";
    let reset = report(modbus);
    assert!(
        !reset
            .findings
            .iter()
            .any(|f| f.id == rules::DROP_ON_VIOLATION),
        "the default resets: {:?}",
        ids(&reset)
    );
    let src = BASE
        .replace("RULE", modbus)
        .replace("    to: b\n", "    to: b\n    on_violation: drop\n");
    let r = match policy::load_str(&src, "unit.yaml") {
        Ok(p) => audit(&p),
        Err(e) => panic!("{e}"),
    };
    let f = r
        .findings
        .iter()
        .find(|f| f.id == rules::DROP_ON_VIOLATION)
        .unwrap_or_else(|| panic!("no {} in {:?}", rules::DROP_ON_VIOLATION, ids(&r)));
    assert_eq!(f.severity, Severity::High, "into an SL3 zone");
    assert_eq!(f.requirements, ["SR 7.1"]);
    assert_eq!(f.key.as_deref(), Some("conduits[0].on_violation"));
    assert!(f.message.contains("locked out"), "{}", f.message);
    assert!(f.remediation.contains("on_violation: reset"));
    let sr71 = r.requirement("SR 7.1").expect("SR 7.1 reported");
    assert!(
        sr71.evidence
            .iter()
            .any(|e| e.contains("on_violation: drop") && e.contains("a-to-b")),
        "{:?}",
        sr71.evidence
    );
}

mod running {
    use super::*;
    use crate::control::status::{
        EnforcementMode, InterfaceAttachment, LoadedPolicy, NotEnforced, Status as DaemonStatus,
        XdpCheck,
    };

    fn daemon_status(
        policy: &ValidatedPolicy,
        enforced: bool,
        mode: EnforcementMode,
        pinned: bool,
    ) -> DaemonStatus {
        DaemonStatus {
            policy: LoadedPolicy {
                name: policy.name().into(),
                hash: policy.source_hash().into(),
                path: "/etc/zcfw/policy.yaml".into(),
                generation: 7,
                loaded_at_unix: 1_800_000_000,
                load_ms: 1.0,
                zones: 2,
                conduits: 1,
            },
            interfaces: vec![
                InterfaceAttachment {
                    name: "eth0".into(),
                    ifindex: 2,
                    bridge: None,
                    is_bridge: false,
                    xdp_mode: "native".into(),
                    enforced: true,
                    fast_path: None,
                },
                InterfaceAttachment {
                    name: "eth1".into(),
                    ifindex: 3,
                    bridge: None,
                    is_bridge: false,
                    xdp_mode: "skb".into(),
                    enforced,
                    fast_path: None,
                },
            ],
            xdp_check: XdpCheck {
                interval_s: 5.0,
                last_s_ago: Some(1.5),
                repairs: 0,
                not_enforced: if enforced {
                    vec![]
                } else {
                    vec![NotEnforced {
                        interface: "eth1".into(),
                        why: "interface is down".into(),
                    }]
                },
            },
            island: true,
            mode,
            monitor_conduits: vec![],
            pin_dir: pinned.then(|| "/sys/fs/bpf/zcfw".into()),
            uptime_s: 60,
        }
    }

    fn policy() -> ValidatedPolicy {
        let src = BASE.replace("RULE", "{ protocol: tcp, ports: [22] }");
        policy::load_str(&src, "unit.yaml").unwrap_or_else(|e| panic!("{e}"))
    }

    fn running_report(enforced: bool, mode: EnforcementMode, pinned: bool) -> AuditReport {
        let p = policy();
        let state = RunningState::from_status(
            "/run/zcfw/zcfw.sock",
            &daemon_status(&p, enforced, mode, pinned),
        );
        let header = ReportHeader::now(
            &p,
            Audited::Running {
                socket: state.socket.clone(),
            },
        );
        audit_as(&p, header, Some(state))
    }

    #[test]
    fn state_comes_from_the_status_answer() {
        let p = policy();
        let s = RunningState::from_status(
            "/s",
            &daemon_status(&p, false, EnforcementMode::Enforce, true),
        );
        assert_eq!(s.generation, 7);
        assert_eq!(s.policy_sha256, p.source_hash());
        assert!(s.island && s.pinned);
        assert_eq!(s.mode, "enforce");
        assert_eq!(s.checked_s_ago, Some(1));
        assert_eq!(s.interfaces[1].why.as_deref(), Some("interface is down"));
        assert_eq!(s.interfaces[0].why, None);
    }

    #[test]
    fn an_interface_not_enforced_is_a_finding() {
        let r = running_report(false, EnforcementMode::Enforce, true);
        let f = r
            .findings
            .iter()
            .find(|f| f.id == rules::NOT_ENFORCED)
            .unwrap_or_else(|| panic!("{:?}", r.findings));
        // Zone b is SL3: high.
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.interface.as_deref(), Some("eth1"));
        assert_eq!(f.key.as_deref(), Some("interfaces[1]"));
        assert!(f.message.contains("interface is down"), "{}", f.message);
        let ok = running_report(true, EnforcementMode::Enforce, true);
        assert!(ok.findings.iter().all(|f| f.id != rules::NOT_ENFORCED));
        assert!(ok.findings.iter().all(|f| f.id != rules::MONITOR_MODE));
        // The file audit has no running section; the running one has it, and says so.
        assert!(audit(&policy()).running.is_none());
        assert!(ok.running.is_some());
        assert_eq!(
            ok.header.audited,
            Audited::Running {
                socket: "/run/zcfw/zcfw.sock".into()
            }
        );
        let text = render_text(&ok);
        assert!(text.contains("\nRUNNING DAEMON\n"), "{text}");
        assert!(text.contains("island mode       ON"), "{text}");
        assert!(render_markdown(&ok).contains("## Running daemon"));
    }

    #[test]
    fn monitor_mode_and_ephemeral_daemon() {
        let r = running_report(true, EnforcementMode::Monitor, false);
        assert!(r.findings.iter().any(|f| f.id == rules::MONITOR_MODE
            && f.severity == Severity::Medium
            && f.zone.is_none()));
        let re3 = r
            .requirement("SR 5.2 RE3")
            .unwrap_or_else(|| panic!("no RE3"));
        assert_eq!(re3.status, Status::NotMet);
        assert!(re3.evidence.iter().any(|e| e.contains("--ephemeral")));
        let re2 = r
            .requirement("SR 5.2 RE2")
            .unwrap_or_else(|| panic!("no RE2"));
        assert!(
            re2.evidence
                .iter()
                .any(|e| e.contains("island mode was ON"))
        );
        assert_eq!(
            r.summary.requirements.not_met,
            r.requirements
                .iter()
                .filter(|q| q.status == Status::NotMet)
                .count()
        );
        let pinned = running_report(true, EnforcementMode::Enforce, true);
        assert_eq!(
            pinned.requirement("SR 5.2 RE3").map(|q| q.status),
            Some(Status::MetByConfiguration)
        );
    }

    #[test]
    fn a_changed_file_is_refused() {
        assert_eq!(super::super::running::file_mismatch("ab", "AB", "/p"), None);
        let why = super::super::running::file_mismatch("aa", "bb", "/etc/zcfw/policy.yaml")
            .unwrap_or_default();
        assert!(
            why.contains("changed since the daemon loaded it") && why.contains("zcfw reload"),
            "{why}"
        );
    }
}
