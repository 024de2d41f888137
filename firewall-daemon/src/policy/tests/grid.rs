//! `protocol: iec104` and `protocol: dnp3`: names, codes, ranges, `read_only`, the required
//! block, capacity, and the warnings about what changes a station.

use firewall_common::{dnp3::Dnp3Profile, iec104::Iec104Profile};

use super::*;

/// `{ protocol: <p>, <p>: { <opts> } }` in BASE (rule 1, line 16).
fn block(protocol: &str, opts: &str) -> String {
    with_rule(&format!(
        "{{ protocol: {protocol}, {protocol}: {{ {opts} }} }}"
    ))
}

fn iec104(src: &str) -> (ValidatedPolicy, Iec104Profile) {
    let p = ok(src);
    let profile = match &p.conduits()[0].rules[1] {
        Rule::Iec104 { profile, .. } => *profile,
        other => panic!("rule 1 is {other:?}"),
    };
    (p, profile)
}

fn dnp3(src: &str) -> (ValidatedPolicy, Dnp3Profile) {
    let p = ok(src);
    let profile = match &p.conduits()[0].rules[1] {
        Rule::Dnp3 { profile, .. } => *profile,
        other => panic!("rule 1 is {other:?}"),
    };
    (p, profile)
}

#[test]
fn iec104_read_only_and_addresses() {
    let (p, profile) = iec104(&block(
        "iec104",
        "read_only: true, common_addresses: [1, \"0x10-0x1F\", \"32-40\"]",
    ));
    assert!(p.warnings().is_empty(), "{:?}", warning_texts(&p));
    let mut want = Iec104Profile::read_only();
    want.allow_common_addresses(1, 1).unwrap();
    want.allow_common_addresses(16, 40).unwrap(); // 0x10-0x1F and 32-40 merged
    assert_eq!(profile, want);
    let rule = &p.conduits()[0].rules[1];
    assert_eq!(rule.to_string(), "iec104 2404");
    assert_eq!(rule.protocol(), Protocol::Iec104);
    assert_eq!(rule.inspector(), firewall_common::maps::inspector::IEC104);
    assert_eq!(rule.points(), vec![(0x06_0964, 0x06_0964)]);
    // Without addresses: every station but the global one, no warning for queries.
    let (p, profile) = iec104(&block("iec104", "read_only: true"));
    assert!(p.warnings().is_empty(), "{:?}", warning_texts(&p));
    assert_eq!(profile, Iec104Profile::read_only());
}

#[test]
fn iec104_names_codes_and_warnings() {
    let (p, profile) = iec104(&block(
        "iec104",
        "type_ids: [C_IC_NA_1, c_cs_na_1, 45, \"0x2E\", 200], common_addresses: [1]",
    ));
    for code in [100, 103, 45, 46, 200] {
        assert!(profile.type_ids.contains(code), "{code}");
    }
    assert!(!profile.type_ids.contains(101));
    assert!(profile.allows_common_address(1) && !profile.allows_common_address(2));
    let w = warning_texts(&p);
    assert_eq!(w.len(), 4, "{w:?}");
    assert!(
        w[0].starts_with("C_CS_NA_1 (103) is clock synchronisation"),
        "{w:?}"
    );
    assert!(
        w[1].starts_with("C_SC_NA_1 (45) is a process command"),
        "{w:?}"
    );
    assert!(
        w[2].starts_with("C_DC_NA_1 (46) is a process command"),
        "{w:?}"
    );
    assert!(w[3].starts_with("type id 200 is private"), "{w:?}");
    assert_eq!(
        p.warnings()[1].key.as_deref(),
        Some("conduits[0].rules[1].iec104.type_ids[2]")
    );
    // Commands without common_addresses reach every station: a warning.
    let p = ok(&block("iec104", "type_ids: [C_SC_NA_1]"));
    assert!(
        warning_texts(&p)
            .iter()
            .any(|w| w.contains("to every common address")),
        "{:?}",
        warning_texts(&p)
    );
    // The global address listed.
    let p = ok(&block(
        "iec104",
        "read_only: true, common_addresses: [\"1-65535\"]",
    ));
    let w = &p.warnings()[0];
    assert!(w.message.contains("global address 65535"), "{}", w.message);
    assert!(w.help[1].contains("\"1-65534\""), "{:?}", w.help);
}

#[test]
fn iec104_errors() {
    let d = error(
        &block("iec104", "type_ids: [C_SC_NA1]"),
        "unknown IEC 104 type id \"C_SC_NA1\"",
    );
    assert_eq!(d.help[0], "did you mean \"C_SC_NA_1\"?");
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].iec104.type_ids[0]")
    );
    assert_eq!(
        d.position,
        Some(Position {
            line: 16,
            column: 50
        })
    );
    let d = error(
        &block("iec104", "type_ids: [M_ME_NC_1]"),
        "M_ME_NC_1 (13) is monitoring-direction information",
    );
    assert!(d.help[0].contains("iec104_direction"), "{:?}", d.help);
    error(&block("iec104", "type_ids: [70]"), "never sends it");
    error(
        &block("iec104", "read_only: true, type_ids: [C_SC_NA_1]"),
        "`read_only: true` cannot be combined with C_SC_NA_1 (45)",
    );
    error(
        &block("iec104", "type_ids: [0]"),
        "type id 0 is not defined",
    );
    error(
        &block("iec104", "type_ids: [256]"),
        "type id 256 is out of range",
    );
    error(&block("iec104", "type_ids: []"), "empty type id list");
    error(
        &block("iec104", "common_addresses: [1]"),
        "IEC 104 rule allows no type id",
    );
    error(
        &block("iec104", "read_only: true, common_addresses: [65536]"),
        "common address 65536 is out of range",
    );
    error(
        &block("iec104", "read_only: true, common_addresses: [\"9-3\"]"),
        "reversed common address range \"9-3\"",
    );
    error(
        &block("iec104", "read_only: true, common_addresses: []"),
        "empty common address list",
    );
    let d = error(
        &with_rule("{ protocol: iec104 }"),
        "`protocol: iec104` needs a `iec104:` block",
    );
    assert!(
        d.help[1].contains("{ protocol: tcp, ports: [2404] }"),
        "{:?}",
        d.help
    );
    error(
        &with_rule("{ protocol: iec104, iec104: }"),
        "the `iec104:` block is empty",
    );
    error(
        &with_rule("{ protocol: iec104, types: [1], iec104: { read_only: true } }"),
        "`types` apply to icmp and icmpv6, not iec104",
    );
    error(
        &with_rule("{ protocol: iec104, dnp3: { read_only: true }, iec104: { read_only: true } }"),
        "`dnp3` options apply only to `protocol: dnp3`",
    );
}

#[test]
fn too_many_ranges_are_refused_with_the_list() {
    let list: Vec<String> = (0..9).map(|i| (i * 10).to_string()).collect();
    let d = error(
        &block(
            "iec104",
            &format!("read_only: true, common_addresses: [{}]", list.join(", ")),
        ),
        "9 common address ranges after merging, but a profile holds 8",
    );
    assert!(d.help[0].contains("0, 10, 20"), "{:?}", d.help);
    // Adjacent entries merge, so they fit.
    let list: Vec<String> = (0..12).map(|i| i.to_string()).collect();
    let (_, profile) = dnp3(&block(
        "dnp3",
        &format!("read_only: true, addresses: [{}]", list.join(", ")),
    ));
    assert!(profile.allows_address(11) && !profile.allows_address(12));
    error(
        &block(
            "dnp3",
            "read_only: true, addresses: [1, 3, 5, 7, 9, 11, 13, 15, 17]",
        ),
        "9 address ranges after merging, but a profile holds 8",
    );
}

#[test]
fn dnp3_functions_aliases_and_warnings() {
    let (p, profile) = dnp3(&with_rule(
        "{ protocol: dnp3, ports: [20000], dnp3: { functions: [read, CONFIRM, select, operate, file_open, 0x0e], addresses: [10, \"20-21\"] } }",
    ));
    for code in [0, 1, 3, 4, 25, 14] {
        assert!(profile.functions.contains(code), "{code}");
    }
    assert!(
        profile.allows_address(10) && profile.allows_address(21) && !profile.allows_address(11)
    );
    let w = warning_texts(&p);
    assert_eq!(w.len(), 4, "{w:?}");
    assert!(w[0].starts_with("select (3) is a control"), "{w:?}");
    assert!(
        w[2].starts_with("open_file (25) is a file service"),
        "{w:?}"
    );
    assert!(w[3].starts_with("warm_restart (14) is a restart"), "{w:?}");
    assert_eq!(p.conduits()[0].rules[1].to_string(), "dnp3 20000");
    // read_only: read and confirm to any outstation address but the reserved ones.
    let (p, profile) = dnp3(&block("dnp3", "read_only: true"));
    assert!(p.warnings().is_empty(), "{:?}", warning_texts(&p));
    assert_eq!(profile, Dnp3Profile::read_only());
    // select without operate, broadcast addresses, controls to every outstation.
    let p = ok(&block("dnp3", "functions: [select]"));
    let w = warning_texts(&p);
    assert!(
        w.iter()
            .any(|m| m.contains("select (3) without operate (4)")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|m| m.contains("to every outstation address")),
        "{w:?}"
    );
    let p = ok(&block(
        "dnp3",
        "read_only: true, addresses: [\"0xFFF0-0xFFFF\"]",
    ));
    assert!(warning_texts(&p)[0].contains("broadcast addresses 0xFFFD-0xFFFF"));
    let p = ok(&block("dnp3", "functions: [read], addresses: [1]"));
    assert_eq!(
        warning_texts(&p),
        ["read (1) without confirm (0): the master cannot confirm the responses that carry events"]
    );
    let p = ok(&block("dnp3", "read_only: true, addresses: [0xFFFC]"));
    assert!(warning_texts(&p)[0].contains("reserved link addresses"));
}

#[test]
fn dnp3_errors() {
    let d = error(
        &block("dnp3", "functions: [direct_operat]"),
        "unknown DNP3 function \"direct_operat\"",
    );
    assert_eq!(d.help[0], "did you mean \"direct_operate\"?");
    error(
        &block("dnp3", "functions: [response]"),
        "only an outstation sends it",
    );
    error(&block("dnp3", "functions: [130]"), "is a response");
    error(
        &block("dnp3", "functions: [300]"),
        "function code 300 is out of range",
    );
    error(
        &block("dnp3", "read_only: true, functions: [write]"),
        "`read_only: true` cannot be combined with write (2)",
    );
    error(
        &block("dnp3", "addresses: [1]"),
        "DNP3 rule allows no function",
    );
    error(
        &block("dnp3", "read_only: true, addresses: [x]"),
        "invalid address \"x\"",
    );
    error(
        &with_rule("{ protocol: dnp3 }"),
        "`protocol: dnp3` needs a `dnp3:` block",
    );
    error(
        &block("dnp3", "read_only: true, unit_ids: [1]"),
        "unknown key \"unit_ids\"",
    );
    // A repeat of the preset is a warning, not an error.
    let p = ok(&block("dnp3", "read_only: true, functions: [read]"));
    assert!(warning_texts(&p)[0].contains("read (1) is listed twice"));
}

#[test]
fn inspected_rules_shadow_each_other_by_protocol() {
    // An earlier IEC 104 rule on 20000 takes DNP3's port: the DNP3 inspection never runs.
    let src = BASE.replace(
        "{ protocol: icmp, types: [echo-request] }",
        "{ protocol: iec104, ports: [20000], iec104: { read_only: true } }\n      - { protocol: dnp3, dnp3: { read_only: true } }",
    );
    let p = ok(&src);
    let w = warning_texts(&p);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with(
            "DNP3 inspection of rule `dnp3 20000` of conduit \"historian\" is bypassed"
        ),
        "{w:?}"
    );
    assert!(w[0].contains("with another protocol's inspection"), "{w:?}");
    // A plain tcp rule on 2404 before the IEC 104 rule: uninspected.
    let src = with_rule("{ protocol: iec104, iec104: { read_only: true } }")
        .replace("[22, \"1024-2048\"]", "[22, 2404]");
    let w = warning_texts(&ok(&src));
    assert!(
        w[0].contains("IEC 104 inspection of rule `iec104 2404`"),
        "{w:?}"
    );
    assert!(w[0].contains("without inspection"), "{w:?}");
}

#[test]
fn exception_is_refused_and_overlaps_are_warned() {
    let src = block("iec104", "read_only: true").replace(
        "    to: control",
        "    to: control\n    on_violation: exception",
    );
    let d = error(
        &src,
        "on_violation: exception on conduit \"historian\" needs Modbus rules",
    );
    assert!(d.help[0].contains("IEC 104 and DNP3"), "{:?}", d.help);
    // reset and drop apply to IEC 104 and DNP3 rules like to Modbus ones.
    let p = ok(&block("dnp3", "read_only: true")
        .replace("    to: control", "    to: control\n    on_violation: drop"));
    assert!(warning_texts(&p)[0].contains("can lock clients out"));
    let p = ok(&block(
        "dnp3",
        "read_only: true, addresses: [\"10-20\", 15]",
    ));
    let w = &p.warnings()[0];
    assert_eq!(
        w.message,
        "address 15 overlaps address 10-20 of the same list"
    );
    assert_eq!(
        w.key.as_deref(),
        Some("conduits[0].rules[1].dnp3.addresses[1]")
    );
}
