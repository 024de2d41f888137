//! `protocol: enip`: services by name (per object) and code, commands, `read_only`, classes,
//! the required block, and the warnings about what changes a device.

use firewall_common::enip::{EnipProfile, Target, command};

use super::*;

fn block(opts: &str) -> String {
    with_rule(&format!("{{ protocol: enip, enip: {{ {opts} }} }}"))
}

fn enip(src: &str) -> (ValidatedPolicy, EnipProfile) {
    let p = ok(src);
    let profile = match &p.conduits()[0].rules[1] {
        Rule::Enip { profile, .. } => *profile,
        other => panic!("rule 1 is {other:?}"),
    };
    (p, profile)
}

#[test]
fn read_only_and_classes() {
    let (p, profile) = enip(&block(
        "read_only: true, classes: [1, \"0x6b\", \"0x02-0x06\"]",
    ));
    assert!(p.warnings().is_empty(), "{:?}", warning_texts(&p));
    let mut want = EnipProfile::read_only();
    want.allow_classes(1, 1).unwrap();
    want.allow_classes(0x6B, 0x6B).unwrap();
    want.allow_classes(2, 6).unwrap();
    // Order of the ranges as the validator normalises them.
    assert!(profile.allows_class(Some(1), false) && profile.allows_class(None, true));
    assert!(profile.allows_class(Some(4), false) && !profile.allows_class(Some(7), false));
    assert_eq!(
        (profile.commands, profile.services, profile.tag_services),
        (want.commands, want.services, want.tag_services)
    );
    let rule = &p.conduits()[0].rules[1];
    assert_eq!(rule.to_string(), "enip 44818");
    assert_eq!(rule.protocol(), Protocol::Enip);
    assert_eq!(rule.inspector(), firewall_common::maps::inspector::ENIP);
    assert_eq!(rule.points(), vec![(0x06_AF12, 0x06_AF12)]);
    let (p, profile) = enip(&block("read_only: true"));
    assert!(p.warnings().is_empty(), "{:?}", warning_texts(&p));
    assert_eq!(profile, EnipProfile::read_only());
}

#[test]
fn services_by_object_codes_commands_and_warnings() {
    let (p, profile) = enip(&block(
        "services: [get_attribute_single, READ_TAG, write_tag, forward_open, forward_close, unconnected_send, 0x4E, 5]",
    ));
    assert!(profile.allows_service(0x0E, Target::Any));
    assert!(
        profile.allows_service(0x4C, Target::Tag) && !profile.allows_service(0x4C, Target::Any)
    );
    assert!(profile.allows_service(0x4D, Target::Tag));
    assert!(profile.allows_service(0x54, Target::ConnectionManager));
    assert!(!profile.allows_service(0x54, Target::Tag));
    // 0x4E by code: on every class.
    assert!(profile.allows_service(0x4E, Target::Any));
    assert!(profile.allows_service(0x05, Target::Any));
    // No `commands`: every command but nop.
    assert!(profile.allows_command(command::SEND_UNIT_DATA));
    assert!(!profile.allows_command(command::NOP));
    let w = warning_texts(&p);
    for text in [
        "write_tag (0x4d) is a tag write",
        "forward_open (0x54) is a connection service",
        "forward_close (0x4e) is a connection service",
        "service 0x4e is class-specific",
        "reset (0x05) is reset",
    ] {
        assert!(w.iter().any(|m| m.contains(text)), "{text:?} in {w:?}");
    }
    assert_eq!(w.len(), 5, "{w:?}");
    // forward_open without send_unit_data, send_unit_data without forward_open.
    let (p, profile) = enip(&block(
        "services: [get_attribute_single, forward_open], commands: [register_session, send_rr_data]",
    ));
    assert!(!profile.allows_command(command::LIST_IDENTITY));
    assert!(
        warning_texts(&p)
            .iter()
            .any(|m| m.contains("`send_unit_data` is not")),
        "{:?}",
        warning_texts(&p)
    );
    let (p, _) = enip(&block(
        "services: [read_tag], commands: [register_session, send_unit_data]",
    ));
    assert!(
        warning_texts(&p)
            .iter()
            .any(|m| m.contains("no forward_open"))
    );
    // Discovery only: no services needed.
    let (p, profile) = enip(&block("commands: [list_identity, list_services]"));
    assert!(p.warnings().is_empty());
    assert!(profile.allows_command(command::LIST_IDENTITY));
    assert!(!profile.allows_command(command::SEND_RR_DATA));
}

#[test]
fn errors() {
    let d = error(
        &block("services: [get_atribute_single]"),
        "unknown CIP service \"get_atribute_single\"",
    );
    assert_eq!(d.help[0], "did you mean \"get_attribute_single\"?");
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].enip.services[0]")
    );
    let d = error(&block("services: [send_rr_data]"), "unknown CIP service");
    assert!(d.help[0].contains("under `commands:`"), "{:?}", d.help);
    error(
        &block("commands: [send_rrdata]"),
        "unknown EtherNet/IP command \"send_rrdata\"",
    );
    error(
        &block("commands: [0x01], read_only: true"),
        "0x01 is not an EtherNet/IP command",
    );
    error(
        &block("services: [256]"),
        "CIP service code 256 is out of range",
    );
    error(&block("services: [0x8E]"), "it is a reply");
    let d = error(
        &block("read_only: true, services: [set_attribute_single]"),
        "`read_only: true` cannot be combined with `set_attribute_single`, which is not a read",
    );
    assert!(d.help[0].contains("remove `read_only: true`"));
    error(
        &block("read_only: true, services: [0x0E]"),
        "a code is allowed on every class",
    );
    error(
        &block("read_only: true, commands: [send_unit_data]"),
        "cannot be combined with `send_unit_data`",
    );
    error(&block("services: []"), "empty service list");
    error(&block("commands: []"), "empty command list");
    error(
        &block("classes: [1]"),
        "EtherNet/IP rule allows no CIP service",
    );
    error(
        &block("read_only: true, classes: [70000]"),
        "class 70000 is out of range",
    );
    error(
        &with_rule("{ protocol: enip }"),
        "`protocol: enip` needs a `enip:` block",
    );
    error(
        &with_rule("{ protocol: enip, s7comm: { read_only: true }, enip: { read_only: true } }"),
        "`s7comm` options apply only to `protocol: s7comm`",
    );
    error(&block("read_only: true, slot: 0"), "unknown key \"slot\"");
}

/// Class 0/1 I/O on udp/2222 passes by port only: a rule that opens it says so, at the port.
#[test]
fn udp_2222_io_is_allowed_by_port_with_a_warning() {
    for ports in ["[2222]", "[\"2000-3000\"]", "[161, 2222]"] {
        let p = ok(&with_rule(&format!("{{ protocol: udp, ports: {ports} }}")));
        let w: Vec<&Diagnostic> = p
            .warnings()
            .iter()
            .filter(|w| w.message.contains("udp/2222"))
            .collect();
        assert_eq!(w.len(), 1, "{ports}: {:?}", warning_texts(&p));
        assert!(w[0].message.contains("not tied to a Forward_Open"));
        assert!(w[0].help.iter().any(|h| h.contains("scanner")));
    }
    for rule in [
        "{ protocol: udp, ports: [2221, 2223] }",
        "{ protocol: tcp, ports: [2222] }",
    ] {
        let p = ok(&with_rule(rule));
        assert!(
            p.warnings().iter().all(|w| !w.message.contains("udp/2222")),
            "{rule}: {:?}",
            warning_texts(&p)
        );
    }
}
