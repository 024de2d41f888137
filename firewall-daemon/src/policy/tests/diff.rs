//! The diff engine: each kind of change, its effect and its text.

use super::*;
use crate::policy::load_str;

const BASE: &str = r#"
version: 1
name: plant
interfaces:
  - { name: eth0 }
zones:
  office: { security_level: 1, networks: [192.168.1.0/24] }
  plant:  { security_level: 3, networks: [192.168.2.0/24] }
  station: { security_level: 3, networks: [192.168.3.0/24] }
conduits:
  - name: office-reads-plant
    from: office
    to: plant
    rules:
      - protocol: modbus
        modbus:
          unit_ids: [1, 2]
          read_only: true
          addresses: ["0-999"]
      - { protocol: tcp, ports: [22] }
      - { protocol: icmp, types: [echo-request] }
  - name: scada
    from: office
    to: station
    rules:
      - protocol: iec104
        iec104:
          read_only: true
          common_addresses: [1, 2]
      - protocol: dnp3
        dnp3:
          read_only: true
          addresses: ["10-13"]
"#;

fn policy(src: &str, origin: &str) -> ValidatedPolicy {
    match load_str(src, origin) {
        Ok(p) => p,
        Err(e) => panic!("{origin}: {e}"),
    }
}

/// The diff from BASE to BASE with `from` replaced by `to`.
fn diff_with(from: &str, to: &str) -> PolicyDiff {
    assert!(BASE.contains(from), "{from:?} not in BASE");
    let new = BASE.replacen(from, to, 1);
    diff(&policy(BASE, "old.yaml"), &policy(&new, "new.yaml"))
}

fn only(d: &PolicyDiff) -> &Change {
    assert_eq!(d.changes.len(), 1, "{}", d.render());
    &d.changes[0]
}

#[test]
fn identical_models_have_no_difference() {
    // Other spelling, comments and key order: the same model.
    let respelled = BASE
        .replace(
            "      - { protocol: tcp, ports: [22] }",
            "      # ssh\n      - { protocol: tcp, ports: [ 22 ] }",
        )
        .replace(
            "{ security_level: 1, networks: [192.168.1.0/24] }",
            "{ networks: [192.168.1.0/24], security_level: 1 }",
        );
    let d = diff(&policy(BASE, "a.yaml"), &policy(&respelled, "b.yaml"));
    assert!(d.is_empty(), "{}", d.render());
    assert_ne!(d.old.sha256, d.new.sha256);
    assert!(d.render().contains("no difference"), "{}", d.render());
}

#[test]
fn modbus_functions_units_and_ranges() {
    let d = diff_with(
        "read_only: true\n          addresses: [\"0-999\"]",
        "read_only: true\n          addresses: [\"0-1999\"]",
    );
    // read_only: the four read classes widen, each one change.
    assert_eq!(d.changes.len(), 4, "{}", d.render());
    for c in &d.changes {
        assert_eq!(
            (c.object, c.name.as_str()),
            (Object::Conduit, "office-reads-plant")
        );
        assert_eq!(
            (c.effect, c.items.clone()),
            (Effect::Opens, vec!["1000-1999".to_string()])
        );
        assert!(c.field.starts_with("addresses (read "), "{}", c.field);
    }
    let d = diff_with("addresses: [\"0-999\"]", "addresses: [\"0-499\"]");
    assert!(
        d.changes.iter().all(|c| c.effect == Effect::Closes),
        "{}",
        d.render()
    );
    assert!(
        d.changes
            .iter()
            .any(|c| c.field == "addresses (read holding registers)" && c.items == ["500-999"]),
        "{}",
        d.render()
    );
    assert_eq!(d.changes[0].old_rule, Some(1));
    assert_eq!(d.changes[0].new_rule, Some(1));

    let d = diff_with("unit_ids: [1, 2]", "unit_ids: [1, 2, 5]");
    let c = only(&d);
    assert_eq!(
        (c.field.as_str(), c.effect, c.items.clone()),
        ("unit_ids", Effect::Opens, vec!["5".to_string()])
    );
    let d = diff_with("unit_ids: [1, 2]", "unit_ids: [2]");
    assert_eq!(only(&d).effect, Effect::Closes);

    let d = diff_with(
        "read_only: true\n          addresses: [\"0-999\"]",
        "functions: [read_coils, read_discrete_inputs, read_holding_registers, read_input_registers, write_single_register]\n          addresses: [\"0-999\"]",
    );
    let opened: Vec<&Change> = d
        .changes
        .iter()
        .filter(|c| c.field == "functions")
        .collect();
    assert!(
        opened
            .iter()
            .any(|c| c.effect == Effect::Opens && c.items == ["write_single_register(6)"]),
        "{}",
        d.render()
    );
    assert!(
        opened
            .iter()
            .any(|c| c.effect == Effect::Closes
                && c.items == ["encapsulated_interface_transport(43)"]),
        "{}",
        d.render()
    );
    let text = d.render();
    assert!(
        text.contains("+ opens   rule 1 (modbus 502): functions +write_single_register(6)"),
        "{text}"
    );
}

#[test]
fn transport_ports_and_icmp_types() {
    let d = diff_with("ports: [22]", "ports: [22, 2222]");
    let c = only(&d);
    assert_eq!(
        (c.field.as_str(), c.effect, c.items.clone()),
        ("ports", Effect::Opens, vec!["2222".to_string()])
    );
    assert_eq!((c.old_rule, c.new_rule), (Some(2), Some(2)));
    let d = diff_with("ports: [22]", "ports: [\"20-21\"]");
    assert_eq!(d.changes.len(), 2, "{}", d.render());
    assert_eq!(d.closes, 1);
    assert_eq!(d.opens, 1);
    let d = diff_with("types: [echo-request]", "types: [echo-request, echo-reply]");
    let c = only(&d);
    assert_eq!(
        (c.field.as_str(), c.items.clone()),
        ("types", vec!["echo-reply(0)".to_string()])
    );
}

#[test]
fn rules_added_and_removed() {
    let d = diff_with("      - { protocol: tcp, ports: [22] }\n", "");
    let c = only(&d);
    assert_eq!(
        (c.field.as_str(), c.effect, c.old_rule, c.new_rule),
        ("removed", Effect::Closes, Some(2), None)
    );
    assert_eq!(c.rule.as_deref(), Some("tcp 22"));
    let d = diff_with(
        "      - { protocol: tcp, ports: [22] }\n",
        "      - { protocol: tcp, ports: [22] }\n      - { protocol: udp, ports: [161] }\n",
    );
    let c = only(&d);
    assert_eq!(
        (c.field.as_str(), c.effect, c.new_rule),
        ("added", Effect::Opens, Some(3))
    );
    assert!(
        d.render().contains("+ opens   rule 3 (udp 161) added"),
        "{}",
        d.render()
    );
    let d = diff_with(
        "      - { protocol: tcp, ports: [22] }\n",
        "      - { protocol: tcp, ports: [22] }\n      - protocol: modbus\n        ports: [1502]\n        modbus: { unit_ids: [7], functions: [read_coils, write_single_coil], addresses: [\"0-99\"] }\n",
    );
    let c = only(&d);
    assert_eq!(
        (c.field.as_str(), c.effect, c.new_rule),
        ("added", Effect::Opens, Some(3))
    );
    let detail = c.new.as_deref().unwrap_or_default();
    assert!(
        detail.starts_with(
            "unit_ids 7; functions read_coils(1), write_single_coil(5); addresses (read coils) 0-99"
        ),
        "{detail}"
    );
    assert!(detail.contains("addresses (write coils) 0-99"), "{detail}");
    // Moving a rule up changes nothing.
    let d = diff_with(
        "      - { protocol: tcp, ports: [22] }\n      - { protocol: icmp, types: [echo-request] }\n",
        "      - { protocol: icmp, types: [echo-request] }\n      - { protocol: tcp, ports: [22] }\n",
    );
    assert!(d.is_empty(), "{}", d.render());
}

#[test]
fn iec104_and_dnp3_details() {
    let d = diff_with("common_addresses: [1, 2]", "common_addresses: [1, 2, 3]");
    let c = only(&d);
    assert_eq!(
        (c.field.as_str(), c.effect, c.items.clone()),
        ("common_addresses", Effect::Opens, vec!["3".to_string()])
    );
    let d = diff_with(
        "iec104:\n          read_only: true",
        "iec104:\n          type_ids: [C_IC_NA_1, C_CI_NA_1, C_RD_NA_1, C_TS_NA_1, C_TS_TA_1, C_SC_NA_1]",
    );
    let c = d
        .changes
        .iter()
        .find(|c| c.field == "type_ids")
        .expect("type ids");
    assert_eq!(
        (c.effect, c.items.clone()),
        (Effect::Opens, vec!["C_SC_NA_1(45)".to_string()])
    );
    let d = diff_with("addresses: [\"10-13\"]", "addresses: [\"10-11\"]");
    let c = only(&d);
    assert_eq!(
        (c.field.as_str(), c.effect, c.items.clone()),
        ("addresses", Effect::Closes, vec!["12-13".to_string()])
    );
    let d = diff_with(
        "dnp3:\n          read_only: true",
        "dnp3:\n          functions: [confirm, read, direct_operate]",
    );
    assert!(
        d.changes.iter().any(|c| c.field == "functions"
            && c.effect == Effect::Opens
            && c.items.iter().any(|i| i.starts_with("direct_operate("))),
        "{}",
        d.render()
    );
}

#[test]
fn opcua_policies_services_and_modes() {
    // BASE with its tcp/22 rule an OPC UA rule with `opts`.
    let with = |opts: &str| {
        BASE.replacen(
            "{ protocol: tcp, ports: [22] }",
            &format!("{{ protocol: opcua, opcua: {{ {opts} }} }}"),
            1,
        )
    };
    let d = |a: &str, b: &str| diff(&policy(&with(a), "old.yaml"), &policy(&with(b), "new.yaml"));
    let base = "security_policies: [Basic256Sha256], read_only: true";
    let c = d(
        base,
        "security_policies: [None, Basic256Sha256], read_only: true",
    );
    let c = only(&c);
    assert_eq!(
        (c.field.as_str(), c.effect, c.items.clone()),
        ("security_policies", Effect::Opens, vec!["None".to_string()])
    );
    let c = d(
        base,
        "security_policies: [Basic256Sha256], read_only: true, services: [write]",
    );
    let c = only(&c);
    assert_eq!(
        (c.field.as_str(), c.effect, c.items.clone()),
        ("services", Effect::Opens, vec!["write(673)".to_string()])
    );
    let c = d(
        base,
        "security_policies: [Basic256Sha256], read_only: true, security_modes: [sign, sign_and_encrypt]",
    );
    let c = only(&c);
    assert_eq!(
        (
            c.field.as_str(),
            c.effect,
            c.old.as_deref(),
            c.new.as_deref()
        ),
        (
            "security_modes",
            Effect::Opens,
            Some("sign"),
            Some("sign_and_encrypt")
        )
    );
    // From every service to a list: the services left out close.
    let c = d("security_policies: [Basic256Sha256]", base);
    let c = only(&c);
    assert_eq!((c.field.as_str(), c.effect), ("services", Effect::Closes));
    assert!(c.items.contains(&"write(673)".to_string()), "{:?}", c.items);
    assert!(!c.items.contains(&"read(631)".to_string()), "{:?}", c.items);
    // An added rule is summarised.
    let added = diff(&policy(BASE, "old.yaml"), &policy(&with(base), "new.yaml")).render();
    assert!(
        added.contains("security_policies Basic256Sha256; services find_servers(422)"),
        "{added}"
    );
    assert!(added.contains("; security_modes sign"), "{added}");
}

#[test]
fn conduits_zones_interfaces_defaults() {
    let d = diff_with("  - name: scada\n", "  - name: scada-new\n");
    assert_eq!(d.changes.len(), 2, "{}", d.render());
    assert!(
        d.changes
            .iter()
            .any(|c| c.name == "scada" && c.field == "removed" && c.effect == Effect::Closes)
    );
    assert!(
        d.changes
            .iter()
            .any(|c| c.name == "scada-new" && c.field == "added" && c.effect == Effect::Opens)
    );

    let d = diff_with("    to: station\n", "    to: plant\n");
    assert_eq!((d.opens, d.closes), (1, 1), "{}", d.render());

    let d = diff_with(
        "networks: [192.168.2.0/24] }",
        "networks: [192.168.2.0/24, 10.0.2.0/24] }",
    );
    let c = only(&d);
    assert_eq!(
        (c.object, c.field.as_str(), c.effect),
        (Object::Zone, "networks", Effect::Opens)
    );
    let d = diff_with("plant:  { security_level: 3", "plant:  { security_level: 2");
    assert_eq!(only(&d).effect, Effect::Changes);

    let d = diff_with(
        "  - { name: eth0 }\n",
        "  - { name: eth0 }\n  - { name: eth1, xdp_mode: skb }\n",
    );
    let c = only(&d);
    assert_eq!(
        (c.object, c.field.as_str(), c.effect),
        (Object::Interface, "added", Effect::Closes)
    );
    let d = diff_with(
        "  - { name: eth0 }\n",
        "  - { name: eth0, xdp_mode: skb }\n",
    );
    assert_eq!(only(&d).field, "xdp_mode");

    let d = diff_with(
        "name: plant\n",
        "name: plant\ndefaults: { mode: monitor, log: all }\n",
    );
    assert!(
        d.changes.iter().any(|c| c.object == Object::Defaults
            && c.field == "mode"
            && c.effect == Effect::Opens),
        "{}",
        d.render()
    );
    assert!(
        d.changes
            .iter()
            .any(|c| c.field == "log" && c.effect == Effect::Changes),
        "{}",
        d.render()
    );
}

#[test]
fn on_violation_and_rate_limit() {
    let d = diff_with("    to: plant\n", "    to: plant\n    on_violation: drop\n");
    let c = only(&d);
    assert_eq!(
        (c.field.as_str(), c.old.as_deref(), c.new.as_deref()),
        ("on_violation", Some("reset"), Some("drop"))
    );
    let d = diff_with(
        "    to: plant\n",
        "    to: plant\n    rate_limit: { pps: 100, burst: 200 }\n",
    );
    let c = only(&d);
    assert_eq!((c.field.as_str(), c.effect), ("rate_limit", Effect::Closes));
    assert!(
        d.render()
            .contains("rate_limit (none) -> 100 pps, burst 200"),
        "{}",
        d.render()
    );
}

#[test]
fn json_names_are_stable() {
    let d = diff_with("ports: [22]", "ports: [23]");
    let j = serde_json::to_value(&d).unwrap();
    assert_eq!(j["old"]["origin"], "old.yaml");
    assert_eq!(j["changes"][0]["object"], "conduit");
    assert_eq!(j["changes"][0]["effect"], "opens");
    assert_eq!(j["changes"][0]["items"][0], "23");
    assert_eq!(j["changes"][1]["effect"], "closes");
    assert_eq!(j["opens"], 1);
    assert_eq!(j["closes"], 1);
}

#[test]
fn interval_arithmetic() {
    assert_eq!(minus(&[(0, 10)], &[(3, 4), (8, 20)]), vec![(0, 2), (5, 7)]);
    assert_eq!(minus(&[(0, 10)], &[]), vec![(0, 10)]);
    assert_eq!(minus(&[(5, 6)], &[(0, 10)]), vec![]);
    assert_eq!(normalize(&[(5, 6), (0, 4), (9, 9)]), vec![(0, 6), (9, 9)]);
}
