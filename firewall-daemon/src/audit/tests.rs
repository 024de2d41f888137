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
