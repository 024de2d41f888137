//! Whole-policy tests of [`super::load_str`]: valid policies, every kind of error with its
//! position and help, warnings, and that all errors are reported at once.

use super::*;

const BASE: &str = "\
version: 1
name: plant-a
interfaces:
  - { name: eth0, zones: [enterprise] }
  - { name: eth1, zones: [dmz, control], xdp_mode: native }
zones:
  enterprise: { security_level: 1, networks: [10.10.0.0/16] }
  dmz:        { security_level: 2, networks: [10.20.0.0/24, \"fd00:20::/64\"] }
  control:    { security_level: 3, networks: [10.30.0.0/24], intra_zone: allow }
conduits:
  - name: historian
    from: dmz
    to: control
    rules:
      - { protocol: tcp, ports: [22, \"1024-2048\"] }
      - { protocol: icmp, types: [echo-request] }
";

fn ok(src: &str) -> ValidatedPolicy {
    match load_str(src, "t.yaml") {
        Ok(p) => p,
        Err(e) => panic!("expected a valid policy, got:\n{e}"),
    }
}

fn diags(src: &str) -> Diagnostics {
    match load_str(src, "t.yaml") {
        Ok(_) => panic!("expected an invalid policy:\n{src}"),
        Err(PolicyError::Invalid(d)) => d,
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// The single error of `src`, which must contain `text`.
fn error(src: &str, text: &str) -> Diagnostic {
    let d = diags(src);
    let errors: Vec<&Diagnostic> = d.errors().collect();
    assert_eq!(errors.len(), 1, "expected one error, got:\n{d}");
    assert!(
        errors[0].message.contains(text),
        "expected {text:?} in:\n{d}"
    );
    errors[0].clone()
}

fn at(line: usize, column: usize) -> Option<Position> {
    Some(Position { line, column })
}

#[test]
fn base_policy_is_valid() {
    let p = ok(BASE);
    assert_eq!(p.name(), "plant-a");
    assert_eq!(p.origin(), "t.yaml");
    assert_eq!(p.source_hash(), sha256_hex(BASE.as_bytes()));
    assert_eq!(p.source_hash().len(), 64);
    let names: Vec<(u16, &str)> = p.zones().iter().map(|z| (z.id, z.name.as_str())).collect();
    assert_eq!(names, [(1, "enterprise"), (2, "dmz"), (3, "control")]);
    assert!(
        p.zone("control")
            .is_some_and(|z| z.intra_zone_allow && z.security_level == 3)
    );
    assert_eq!(p.zone("dmz").map(|z| z.networks.len()), Some(2));
    assert_eq!(p.conduits()[0].id, 1);
    assert_eq!(
        p.conduits()[0].rules[0],
        Rule::Transport {
            protocol: Protocol::Tcp,
            ports: Some(vec![
                PortRange {
                    first: 22,
                    last: 22
                },
                PortRange {
                    first: 1024,
                    last: 2048
                }
            ]),
        }
    );
    assert_eq!(p.interfaces()[1].xdp_mode, XdpMode::Native);
    assert_eq!(p.interfaces()[0].xdp_mode, XdpMode::Auto);
    assert_eq!(p.defaults().log, LogMode::Denied);
    assert_eq!(p.l2().ethertypes, vec![0x0806]);
    assert!(p.l2().neighbor_discovery);
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
}

#[test]
fn undefined_zone_is_placed_and_explained() {
    let src = BASE.replace("    to: control", "    to: contrl");
    let d = error(&src, "refers to undefined zone \"contrl\"");
    assert_eq!(
        d.message,
        "conduit \"historian\" refers to undefined zone \"contrl\""
    );
    assert_eq!(d.key.as_deref(), Some("conduits[0].to"));
    assert_eq!(d.position, at(13, 9));
    assert_eq!(d.help[0], "did you mean \"control\"?");
    assert_eq!(
        d.help[1],
        "define zone \"contrl\" under zones:, or use one of: control, dmz, enterprise"
    );
    let text = d.to_string();
    assert!(text.starts_with("t.yaml:13:9: error: conduit \"historian\" refers to undefined zone \"contrl\"\n  --> key: conduits[0].to\n"), "{text}");
    assert!(
        text.contains("13 |     to: contrl\n   |         ^^^^^^"),
        "{text}"
    );
}

#[test]
fn every_semantic_error_is_reported() {
    let src = BASE
        .replace("security_level: 1", "security_level: 5")
        .replace("    to: control", "    to: dmz")
        .replace("[22, ", "[0, ")
        .replace("xdp_mode: native", "xdp_mode: turbo")
        .replace("10.30.0.0/24]", "10.30.0.1/24]");
    let d = diags(&src);
    let keys: Vec<&str> = d.errors().filter_map(|e| e.key.as_deref()).collect();
    assert_eq!(
        keys,
        [
            "interfaces[1].xdp_mode",
            "zones.enterprise.security_level",
            "zones.control.networks[0]",
            "conduits[0].to",
            "conduits[0].rules[0].ports[0]",
        ],
        "{d}"
    );
    let shown = PolicyError::Invalid(d).to_string();
    assert!(
        shown.ends_with("t.yaml: policy refused: 5 errors"),
        "{shown}"
    );
    assert!(shown.contains("host bits set"));
}

#[test]
fn top_level_requirements() {
    let d = error(
        &BASE.replace("version: 1", "version: 2"),
        "unsupported policy version 2",
    );
    assert_eq!(d.position, at(1, 10));
    let d = error(&BASE.replace("version: 1\n", ""), "missing key \"version\"");
    assert_eq!(d.key, None);
    error(
        &BASE.replace("name: plant-a", "name: \"  \""),
        "policy name is empty",
    );
    error(&BASE.replace("name: plant-a\n", ""), "missing key \"name\"");
    let d = error(
        "version: 1\nname: x\ninterfaces: [{name: eth0}]\n",
        "no zones",
    );
    assert!(d.help[0].contains("security_level"));
    error(
        &BASE.replace("interfaces:\n  - { name: eth0, zones: [enterprise] }\n  - { name: eth1, zones: [dmz, control], xdp_mode: native }\n", ""),
        "lists no interfaces",
    );
    let no_conduits = BASE
        .split("conduits:")
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(ok(&no_conduits).conduits().is_empty());
}

#[test]
fn defaults() {
    let with = |d: &str| BASE.replace("interfaces:", &format!("defaults: {{ {d} }}\ninterfaces:"));
    assert_eq!(
        ok(&with("action: deny, log: all, mode: enforce"))
            .defaults()
            .log,
        LogMode::All
    );
    assert_eq!(ok(&with("log: none")).defaults().log, LogMode::None);
    let d = error(&with("action: allow"), "defaults.action must be deny");
    assert!(d.help[0].contains("SR 5.2 RE1"));
    assert_eq!(d.key.as_deref(), Some("defaults.action"));
    assert_eq!(d.position, at(3, 21));
    let monitored = ok(&with("mode: monitor"));
    assert_eq!(monitored.defaults().mode, Mode::Monitor);
    assert!(
        monitored
            .warnings()
            .iter()
            .any(|w| w.message.contains("nothing is denied by policy")),
        "monitor mode is announced"
    );
    error(&with("log: some"), "unknown log setting");
    error(&with("mode: learn"), "unknown mode");
    let d = error(&with("lgo: all"), "unknown key \"lgo\"");
    assert_eq!(d.help[0], "did you mean \"log\"?");
}

#[test]
fn zone_errors() {
    // The interface and the conduit that refer to "dmz" are reported too.
    let all = diags(&BASE.replace("  dmz:  ", "  DMZ:  "));
    assert_eq!(all.error_count(), 3, "{all}");
    let d = all
        .errors()
        .find(|d| d.message == "invalid zone name \"DMZ\"")
        .expect("zone name error");
    assert_eq!(d.position, at(8, 3));
    assert!(d.help[0].contains("\"dmz\""));
    let d = error(
        &BASE.replace("security_level: 2, ", ""),
        "has no security_level",
    );
    assert_eq!(d.key.as_deref(), Some("zones.dmz"));
    error(
        &BASE.replace("security_level: 3", "security_level: 0"),
        "security level 0",
    );
    error(
        &BASE.replace("intra_zone: allow", "intra_zone: yes"),
        "unknown intra_zone setting",
    );
    let d = error(
        &BASE.replace("networks: [10.10.0.0/16]", "networks: []"),
        "has no networks",
    );
    assert_eq!(d.key.as_deref(), Some("zones.enterprise.networks"));
    error(
        &BASE.replace(", networks: [10.10.0.0/16]", ""),
        "has no networks",
    );
    let d = error(
        &BASE.replace("10.10.0.0/16", "10.10.0.0/33"),
        "invalid network",
    );
    assert_eq!(d.position, at(7, 47));
    let d = error(
        &BASE.replace("10.10.0.0/16", "10.10.1.1/16"),
        "host bits set",
    );
    assert!(d.help[0].contains("10.10.0.0/16"));
}

#[test]
fn network_overlaps() {
    // A more specific network of another zone is fine (routing-style carve-out).
    let p = ok(&BASE.replace("10.30.0.0/24]", "10.10.5.0/24]"));
    assert!(p.warnings().is_empty());
    // The same network in two zones is not.
    let d = error(
        &BASE.replace("10.30.0.0/24]", "10.10.0.0/16]"),
        "overlaps zone \"enterprise\"",
    );
    assert_eq!(d.key.as_deref(), Some("zones.control.networks[0]"));
    assert_eq!(d.position, at(9, 47));
    // Twice in one zone.
    error(
        &BASE.replace("[10.10.0.0/16]", "[10.10.0.0/16, 10.10.0.0/16]"),
        "listed twice in zone",
    );
    // Inside the same zone's other network: redundant.
    let p = ok(&BASE.replace("[10.10.0.0/16]", "[10.10.0.0/16, 10.10.7.0/24]"));
    assert_eq!(p.warnings().len(), 1);
    assert!(
        p.warnings()[0]
            .message
            .contains("is inside its network 10.10.0.0/16")
    );
    // ... unless another zone sits between them.
    let p = ok(&BASE
        .replace("[10.10.0.0/16]", "[10.10.0.0/16, 10.10.7.0/28]")
        .replace("10.30.0.0/24]", "10.10.7.0/24]"));
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
}

#[test]
fn duplicate_keys() {
    let src = BASE.replace("  control:  ", "  dmz:  ");
    let d = diags(&src);
    assert!(
        d.errors()
            .any(|e| e.message == "key \"dmz\" is given twice" && e.position == at(9, 3)),
        "{d}"
    );
    let src = BASE.replace("name: plant-a\n", "name: plant-a\nname: plant-b\n");
    let d = error(&src, "key \"name\" is given twice");
    assert_eq!(d.position, at(3, 1));
    assert!(d.help[0].contains("line 2"));
}

#[test]
fn interface_errors() {
    let d = error(
        &BASE.replace("name: eth1", "name: eth0"),
        "interface \"eth0\" is listed twice",
    );
    assert_eq!(d.key.as_deref(), Some("interfaces[1].name"));
    error(&BASE.replace("name: eth1", "name: eth1:0"), "contains ':'");
    error(
        &BASE.replace("name: eth1", "name: averyveryverylongname"),
        "longer than 15 bytes",
    );
    let d = error(
        &BASE.replace("[dmz, control]", "[dmz, cotnrol]"),
        "interface \"eth1\" refers to undefined zone \"cotnrol\"",
    );
    assert_eq!(d.key.as_deref(), Some("interfaces[1].zones[1]"));
    error(&BASE.replace("[dmz, control]", "[]"), "empty zone list");
    let d = error(
        &BASE.replace("native", "generic"),
        "unknown xdp_mode \"generic\"",
    );
    assert!(d.help[0].contains("skb"));
    let p = ok(&BASE.replace("[dmz, control]", "[dmz, dmz]"));
    assert!(p.warnings()[0].message.contains("listed twice"));
    let p = ok(&BASE.replace("{ name: eth0, zones: [enterprise] }", "{ name: eth0 }"));
    assert_eq!(p.interfaces()[0].zones, None);
}

#[test]
fn fast_path_is_a_boolean_per_interface() {
    let p = ok(&BASE.replace("xdp_mode: native }", "xdp_mode: native, fast_path: true }"));
    assert!(p.interfaces()[1].fast_path);
    assert!(!p.interfaces()[0].fast_path, "off unless asked for");
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    let p = ok(&BASE.replace("xdp_mode: native }", "fast_path: false }"));
    assert!(!p.interfaces()[1].fast_path);
    for (value, shown) in [("yes", "\"yes\""), ("1", "1"), ("[on]", "a list or map")] {
        let d = error(
            &BASE.replace("xdp_mode: native }", &format!("fast_path: {value} }}")),
            &format!("fast_path of interface \"eth1\" is {shown}, not true or false"),
        );
        assert_eq!(d.key.as_deref(), Some("interfaces[1].fast_path"));
        assert!(d.help[0].contains("fast_path: true"), "{:?}", d.help);
    }
    let p = ok(&BASE.replace("xdp_mode: native }", "xdp_mode: skb, fast_path: true }"));
    assert!(p.interfaces()[1].fast_path);
    let w = &p.warnings()[0];
    assert!(w.message.contains("saves little"), "{}", w.message);
    assert_eq!(w.key.as_deref(), Some("interfaces[1].fast_path"));
}

#[test]
fn conduit_errors() {
    let twice = format!(
        "{BASE}  - name: historian\n    from: control\n    to: dmz\n    rules: [{{ protocol: udp }}]\n"
    );
    let d = error(&twice, "duplicate conduit name \"historian\"");
    assert_eq!(d.position, at(17, 11));
    let d = error(
        &BASE.replace("    to: control", "    to: dmz"),
        "goes from zone \"dmz\" to itself",
    );
    assert!(d.help[0].contains("intra_zone"));
    error(&BASE.replace("    to: control\n", ""), "has no `to` zone");
    let no_rules = BASE
        .split("    rules:")
        .next()
        .unwrap_or_default()
        .to_owned()
        + "    rules: []\n";
    error(&no_rules, "has no rules");
    let p = ok(&BASE.replace("    to: control", "    to: control\n    mode: monitor"));
    assert_eq!(p.conduits()[0].mode, Mode::Monitor);
    let d = error(
        &BASE.replace("    to: control", "    to: control\n    mode: learn"),
        "unknown mode \"learn\"",
    );
    assert_eq!(d.position, at(14, 11));
    let p = ok(&BASE.replace(
        "    to: control",
        "    to: control\n    rate_limit: { pps: 10 }",
    ));
    assert_eq!(
        p.conduits()[0].rate_limit,
        Some(RateLimitSpec { pps: 10, burst: 10 })
    );
    let d = error(
        &BASE.replace(
            "    to: control",
            "    to: control\n    rate_limit: { pps: 0 }",
        ),
        "rate_limit.pps 0 is out of range",
    );
    assert_eq!(d.key.as_deref(), Some("conduits[0].rate_limit.pps"));
    error(
        &BASE.replace(
            "    to: control",
            "    to: control\n    rate_limit: { burst: 5 }",
        ),
        "rate_limit needs `pps`",
    );
    error(
        &BASE.replace(
            "    to: control",
            "    to: control\n    rate_limit: { pps: 5, brust: 5 }",
        ),
        "unknown key \"brust\"",
    );
    let p = ok(&BASE.replace(
        "    to: control",
        "    to: control\n    description: reads PLCs",
    ));
    assert_eq!(p.conduits()[0].description.as_deref(), Some("reads PLCs"));
}

#[test]
fn rule_errors() {
    let rule = |r: &str| BASE.replace("{ protocol: icmp, types: [echo-request] }", r);
    let d = error(
        &rule("{ protocol: tcp, ports: [70000] }"),
        "port 70000 is out of range",
    );
    assert_eq!(d.key.as_deref(), Some("conduits[0].rules[1].ports[0]"));
    assert_eq!(d.position, at(16, 34));
    error(&rule("{ protocol: tcp, ports: [0] }"), "port 0");
    let d = error(
        &rule("{ protocol: udp, ports: [\"2000-1000\"] }"),
        "reversed port range",
    );
    assert!(d.help[0].contains("1000-2000"));
    error(&rule("{ protocol: udp, ports: [] }"), "empty port list");
    error(
        &rule("{ protocol: any, ports: [22] }"),
        "cannot narrow `protocol: any`",
    );
    error(
        &rule("{ protocol: icmp, ports: [22] }"),
        "`ports` apply to tcp and udp",
    );
    error(
        &rule("{ protocol: tcp, types: [8] }"),
        "`types` apply to icmp",
    );
    let d = error(
        &rule("{ protocol: icmp, types: [echo] }"),
        "unknown icmp type \"echo\"",
    );
    assert!(d.help.last().is_some_and(|h| h.contains("echo-request")));
    error(&rule("{ protocol: icmp, types: [300] }"), "out of range");
    let d = error(
        &rule("{ protocol: modbus }"),
        "`protocol: modbus` needs a `modbus:` block",
    );
    assert_eq!(d.key.as_deref(), Some("conduits[0].rules[1]"));
    assert!(
        d.help[1].contains("protocol: tcp, ports: [502]"),
        "{:?}",
        d.help
    );
    error(
        &rule("{ protocol: tcp, modbus: { read_only: true } }"),
        "`modbus` options apply only to `protocol: modbus`",
    );
    let d = error(&rule("{ protocol: tpc }"), "unknown protocol \"tpc\"");
    assert_eq!(d.help[0], "did you mean \"tcp\"?");
    error(&rule("{ ports: [22] }"), "rule has no protocol");
    let d = error(
        &rule("{ protocol: tcp, port: [22] }"),
        "unknown key \"port\"",
    );
    assert_eq!(d.help[0], "did you mean \"ports\"?");
    assert_eq!(d.key.as_deref(), Some("conduits[0].rules[1].port"));
}

#[test]
fn rules_accept_every_form() {
    let rule = |r: &str| BASE.replace("{ protocol: icmp, types: [echo-request] }", r);
    let p = ok(&rule(
        "{ protocol: icmpv6, types: [echo-request, 2, \"129\"] }",
    ));
    assert_eq!(
        p.conduits()[0].rules[1],
        Rule::Icmp {
            protocol: Protocol::Icmpv6,
            types: Some(vec![128, 2, 129])
        }
    );
    let p = ok(&rule("{ protocol: udp, ports: [\"161\", 1-5, 65535] }"));
    assert!(p.warnings().is_empty());
    let overlapping = ok(&rule(
        "{ protocol: udp, ports: [\"100-200\", 7, 150, \"1-10\"] }",
    ));
    let w: Vec<(&str, &str)> = overlapping
        .warnings()
        .iter()
        .map(|w| (w.key.as_deref().unwrap_or(""), w.message.as_str()))
        .collect();
    assert_eq!(
        w,
        [
            (
                "conduits[0].rules[1].ports[2]",
                "ports 150 overlap ports 100-200 of the same rule"
            ),
            (
                "conduits[0].rules[1].ports[3]",
                "ports 1-10 overlap ports 7 of the same rule"
            ),
        ]
    );
    assert_eq!(p.conduits()[0].rules[1].to_string(), "udp 161, 1-5, 65535");
    assert_eq!(
        ok(&rule("{ protocol: any }")).conduits()[0].rules[1],
        Rule::Any
    );
}

#[test]
fn shadowed_rules_warn() {
    // A second conduit of the same pair whose rule the first already covers.
    let src = format!(
        "{BASE}  - name: late\n    from: dmz\n    to: control\n    rules:\n      - {{ protocol: tcp, ports: [1500] }}\n      - {{ protocol: udp }}\n"
    );
    let p = ok(&src);
    assert_eq!(p.warnings().len(), 1, "{:?}", p.warnings());
    let w = &p.warnings()[0];
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(w.key.as_deref(), Some("conduits[1].rules[0]"));
    assert_eq!(w.position, at(21, 9));
    assert!(w.message.contains("never matches"), "{}", w.message);
    assert!(w.help[0].contains("conduits[0].rules[0]"), "{:?}", w.help);
    // Covered only by several earlier rules together still counts.
    let src = BASE.replace(
        "      - { protocol: icmp, types: [echo-request] }\n",
        "      - { protocol: tcp, ports: [\"2049-3000\"] }\n      - { protocol: tcp, ports: [\"1500-2500\"] }\n",
    );
    let p = ok(&src);
    assert_eq!(p.warnings().len(), 1);
    assert!(
        p.warnings()[0].help[0].contains("conduits[0].rules[0]")
            && p.warnings()[0].help[0].contains("conduits[0].rules[1]")
    );
    // A rule after `any` never matches; `any` after specific rules is fine.
    let p = ok(&BASE.replace(
        "{ protocol: tcp, ports: [22, \"1024-2048\"] }",
        "{ protocol: any }",
    ));
    assert_eq!(p.warnings().len(), 1);
    let p = ok(&BASE.replace(
        "{ protocol: icmp, types: [echo-request] }",
        "{ protocol: any }",
    ));
    assert!(p.warnings().is_empty());
    // Another zone pair is not shadowed.
    let src = format!(
        "{BASE}  - name: back\n    from: control\n    to: dmz\n    rules: [{{ protocol: tcp, ports: [22] }}]\n"
    );
    assert!(ok(&src).warnings().is_empty());
}

#[test]
fn l2_allow() {
    let with = |l2: &str| format!("{BASE}l2: {l2}\n");
    let p = ok(&with(
        "{ allow: [arp, nd, 0x88b8, \"0x88ba\", 35020, goose] }",
    ));
    assert_eq!(p.l2().ethertypes, vec![0x0806, 0x88b8, 0x88ba, 0x88cc]);
    assert!(p.l2().neighbor_discovery);
    assert_eq!(p.warnings().len(), 1, "goose listed twice");
    let p = ok(&with("{ allow: [arp] }"));
    assert!(!p.l2().neighbor_discovery);
    assert!(p.warnings()[0].message.contains("does not list nd"));
    let d = error(
        &with("{ allow: [arp, nd, 0x0800] }"),
        "cannot be listed in l2.allow",
    );
    assert!(d.help[0].contains("IPv4"));
    error(&with("{ allow: [arp, nd, 1500] }"), "is not an ethertype");
    error(
        &with("{ allow: [arp, nd, apple] }"),
        "unknown ethertype name",
    );
    error(&with("{ allow: [arp, nd, 0x1FFFF] }"), "out of range");
    let p = ok(&with("{}"));
    assert_eq!(p.l2().ethertypes, vec![0x0806]);
}

#[test]
fn structural_errors_have_positions() {
    let d = error(
        &BASE.replace("security_level: 2", "security_level: two"),
        "invalid type",
    );
    assert_eq!(d.key.as_deref(), Some("zones.dmz.security_level"));
    assert_eq!(d.position, at(8, 33));
    let d = error(&BASE.replace("rules:\n", "rules:\n  x\n"), "");
    assert!(d.position.is_some());
    let d = error(&format!("{BASE}zonse: {{}}\n"), "unknown key \"zonse\"");
    assert_eq!(d.position, at(17, 1));
}

#[test]
fn capacity_limits() {
    use firewall_common::maps::capacity;
    let n = capacity::MAX_ZONES as usize + 1;
    let mut src = String::from("version: 1\nname: big\ninterfaces: [{ name: eth0 }]\nzones:\n");
    for i in 0..n {
        src.push_str(&format!(
            "  z{i}: {{ security_level: 1, networks: [10.{}.{}.0/24] }}\n",
            i / 256,
            i % 256
        ));
    }
    let d = error(&src, "4097 zones, but zcfw holds at most 4096");
    assert_eq!(d.key.as_deref(), Some("zones"));
}

#[test]
fn io_and_encoding_errors() {
    let missing = std::path::Path::new("/nonexistent/zcfw/policy.yaml");
    match load_file(missing) {
        Err(PolicyError::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    let dir = std::env::temp_dir().join(format!("zcfw-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("latin1.yaml");
    std::fs::write(&bad, b"name: caf\xe9\n").expect("write");
    match load_file(&bad) {
        Err(PolicyError::Invalid(d)) => assert!(d.to_string().contains("not valid UTF-8")),
        other => panic!("expected invalid, got {other:?}"),
    }
    let good = dir.join("ok.yaml");
    std::fs::write(&good, BASE).expect("write");
    let p = load_file(&good).expect("valid");
    assert_eq!(p.origin(), good.display().to_string());
    assert_eq!(p.source_hash(), sha256_hex(BASE.as_bytes()));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- Modbus/TCP ----

/// BASE with its icmp rule replaced by `rule` (line 16 of the source).
fn with_rule(rule: &str) -> String {
    BASE.replace("{ protocol: icmp, types: [echo-request] }", rule)
}

/// The rule `{ protocol: modbus, modbus: { <opts> } }` in BASE.
fn modbus(opts: &str) -> String {
    with_rule(&format!("{{ protocol: modbus, modbus: {{ {opts} }} }}"))
}

/// The profile of the Modbus rule of a valid policy.
fn profile_of(src: &str) -> firewall_common::modbus::ModbusProfile {
    let p = ok(src);
    match p.conduits()[0].rules[1].modbus_profile() {
        Some(m) => *m,
        None => panic!("rule 1 is not a Modbus rule"),
    }
}

fn warning_texts(p: &ValidatedPolicy) -> Vec<String> {
    p.warnings().iter().map(|w| w.message.clone()).collect()
}

#[test]
fn modbus_read_only_preset() {
    use firewall_common::modbus::{ModbusProfile, address_class};
    let src = modbus("unit_ids: [1, \"10-12\"], read_only: true, addresses: [\"0-999\"]");
    let p = ok(&src);
    assert!(p.warnings().is_empty(), "{:?}", warning_texts(&p));
    let rule = &p.conduits()[0].rules[1];
    assert_eq!(rule.to_string(), "modbus 502");
    assert_eq!(rule.protocol(), Protocol::Modbus);
    assert_eq!(rule.points(), vec![(0x06_01f6, 0x06_01f6)]);
    let mut want = ModbusProfile::read_only();
    want.unit_ids = firewall_common::modbus::Bitmap256::EMPTY;
    for u in [1, 10, 11, 12] {
        want.allow_unit(u);
    }
    want.clear_ranges();
    want.add_range(0, 999, address_class::READS).expect("range");
    assert_eq!(rule.modbus_profile(), Some(&want));
    // FC 1-4 and 43 with MEI type 14 only; no FC 8 sub-function; strict.
    assert_eq!(want.mei_types, 1 << 14);
    assert_eq!(want.diagnostics, 0);
    assert!(want.is_strict());
    // Without addresses: every address of the read tables, no warning (nothing is written).
    let m = profile_of(&modbus("unit_ids: [1], read_only: true"));
    assert_eq!(
        (m.ranges[0].first, m.ranges[0].last, m.ranges[0].classes),
        (0, u16::MAX, address_class::READS)
    );
    assert_eq!(m.ranges[1].classes, 0);
    // Functions as well as the preset: more read functions are fine.
    let m = profile_of(&modbus(
        "unit_ids: [1], read_only: true, functions: [read_exception_status, 24]",
    ));
    for code in [1, 2, 3, 4, 7, 24, 43] {
        assert!(m.functions.contains(code), "{code}");
    }
    assert!(!m.functions.contains(5));
}

#[test]
fn modbus_per_table_addresses() {
    use firewall_common::modbus::address_class::*;
    let m = profile_of(&modbus(
        "unit_ids: [\"0-255\"], functions: [read_holding_registers, write_single_register, 16, read_coils], \
         addresses: { read_holding_registers: [\"0-99\"], write_holding_registers: [\"20-29\", \"10-19\"], read_coils: [\"0-99\", 500] }",
    ));
    assert_eq!(m.unit_ids, firewall_common::modbus::Bitmap256::FULL);
    let ranges: Vec<(u16, u16, u16)> = m
        .ranges
        .iter()
        .filter(|r| r.classes != 0)
        .map(|r| (r.first, r.last, r.classes))
        .collect();
    // Adjacent write ranges merge; the identical read ranges of two tables share a slot.
    assert_eq!(
        ranges,
        [
            (0, 99, READ_HOLDING_REGISTERS | READ_COILS),
            (10, 29, WRITE_HOLDING_REGISTERS),
            (500, 500, READ_COILS)
        ]
    );
    for code in [1, 3, 6, 16] {
        assert!(m.functions.contains(code));
    }
    // A list applies to every table the functions use.
    let m = profile_of(&modbus(
        "unit_ids: [1], functions: [read_coils, write_single_coil], addresses: [\"0-9\", \"5-20\"]",
    ));
    assert_eq!(
        (m.ranges[0].first, m.ranges[0].last, m.ranges[0].classes),
        (0, 20, READ_COILS | WRITE_COILS)
    );
    let p = ok(&modbus(
        "unit_ids: [1], functions: [read_coils, write_single_coil], addresses: [\"0-9\", \"5-20\"]",
    ));
    assert_eq!(
        warning_texts(&p),
        ["addresses 5-20 overlap addresses 0-9 of the same list"]
    );
}

#[test]
fn modbus_read_write_multiple_registers_needs_both_tables() {
    use firewall_common::modbus::address_class::*;
    let m = profile_of(&modbus(
        "unit_ids: [1], functions: [read_write_multiple_registers], addresses: [\"100-199\"]",
    ));
    assert_eq!(
        (m.ranges[0].first, m.ranges[0].last, m.ranges[0].classes),
        (100, 199, READ_HOLDING_REGISTERS | WRITE_HOLDING_REGISTERS)
    );
    let m = profile_of(&modbus(
        "unit_ids: [1], functions: [23], addresses: { read_holding_registers: [\"0-99\"], write_holding_registers: [\"50-59\"] }",
    ));
    assert_eq!(m.ranges[0].classes, READ_HOLDING_REGISTERS);
    assert_eq!(m.ranges[1].classes, WRITE_HOLDING_REGISTERS);
    let d = error(
        &modbus(
            "unit_ids: [1], functions: [23], addresses: { read_holding_registers: [\"0-99\"] }",
        ),
        "addresses has no table `write_holding_registers`, which read_write_multiple_registers (23) writes",
    );
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].modbus.addresses")
    );
    let d = error(
        &modbus(
            "unit_ids: [1], functions: [23], addresses: { read_write_multiple_registers: [\"0-99\"] }",
        ),
        "addresses are given per address table, not per function",
    );
    assert!(d.help[0].contains("list ranges under both"), "{:?}", d.help);
    // Without addresses, writes are everywhere: warned.
    let p = ok(&modbus("unit_ids: [1], functions: [23]"));
    assert_eq!(
        warning_texts(&p),
        [
            "Modbus rule has no addresses: read_write_multiple_registers (23) may write every address"
        ]
    );
}

#[test]
fn modbus_diagnostics_and_mei_defaults() {
    // FC 8 needs its sub-functions listed.
    let d = error(
        &modbus("unit_ids: [1], functions: [read_coils, diagnostics]"),
        "function diagnostics (8) is allowed but no sub-function is",
    );
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].modbus.functions[1]")
    );
    let m = profile_of(&modbus(
        "unit_ids: [1], functions: [8], diagnostics_subfunctions: [return_query_data, 10, \"11\"]",
    ));
    assert_eq!(m.diagnostics, 1 | 1 << 10 | 1 << 11);
    assert!(m.functions.contains(8));
    let p = ok(&modbus(
        "unit_ids: [1], functions: [8], diagnostics_subfunctions: [force_listen_only]",
    ));
    assert_eq!(p.warnings().len(), 1);
    assert!(
        p.warnings()[0]
            .message
            .contains("force_listen_only) silences the device"),
        "{:?}",
        warning_texts(&p)
    );
    error(
        &modbus("unit_ids: [1], read_only: true, diagnostics_subfunctions: [0]"),
        "diagnostics_subfunctions apply to function diagnostics (8), which this rule does not allow",
    );
    let d = error(
        &modbus("unit_ids: [1], functions: [8], diagnostics_subfunctions: [40]"),
        "diagnostics sub-function 40 cannot be allowed",
    );
    assert_eq!(d.position, at(16, 97));
    // FC 43: read device id only, unless listed.
    let m = profile_of(&modbus(
        "unit_ids: [1], functions: [encapsulated_interface_transport]",
    ));
    assert_eq!(m.mei_types, 1 << 14);
    let p = ok(&modbus(
        "unit_ids: [1], read_only: true, mei_types: [13, read_device_id]",
    ));
    assert_eq!(
        p.conduits()[0].rules[1]
            .modbus_profile()
            .map(|m| m.mei_types),
        Some(1 << 13 | 1 << 14)
    );
    assert!(
        warning_texts(&p)[0].contains("MEI type 13 (canopen_general_reference) tunnels CANopen"),
        "{:?}",
        warning_texts(&p)
    );
    error(
        &modbus("unit_ids: [1], functions: [3], mei_types: [14]"),
        "mei_types apply to function encapsulated_interface_transport (43)",
    );
    error(
        &modbus("unit_ids: [1], read_only: true, mei_types: [32]"),
        "MEI type 32 cannot be allowed",
    );
    error(
        &modbus("unit_ids: [1], read_only: true, mei_types: []"),
        "empty mei_types list",
    );
    // strict: false clears the flag; max_quantity is copied.
    let m = profile_of(&modbus(
        "unit_ids: [1], read_only: true, strict: false, max_quantity: 100",
    ));
    assert!(!m.is_strict());
    assert_eq!(m.max_quantity, 100);
}

#[test]
fn modbus_errors_are_placed_and_explained() {
    let d = error(
        &modbus("unit_ids: [1], functions: [read_holding_register]"),
        "unknown Modbus function \"read_holding_register\"",
    );
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].modbus.functions[0]")
    );
    assert_eq!(d.position, at(16, 66));
    assert_eq!(d.help[0], "did you mean \"read_holding_registers\"?");
    assert!(d.help[1].contains("read_fifo_queue, encapsulated_interface_transport"));
    error(
        &modbus("unit_ids: [1], functions: [0]"),
        "function code 0 is not a Modbus request function",
    );
    error(
        &modbus("unit_ids: [1], functions: [131]"),
        "is an exception response",
    );
    let d = error(&modbus("read_only: true"), "Modbus rule has no unit_ids");
    assert_eq!(d.key.as_deref(), Some("conduits[0].rules[1].modbus"));
    assert!(d.help[1].contains("\"0-255\""), "{:?}", d.help);
    error(
        &modbus("unit_ids: [256], read_only: true"),
        "unit id 256 is out of range",
    );
    error(
        &modbus("unit_ids: [\"9-2\"], read_only: true"),
        "reversed unit id range",
    );
    error(
        &modbus("unit_ids: [], read_only: true"),
        "empty unit_ids list",
    );
    error(&modbus("unit_ids: [1]"), "Modbus rule allows no function");
    error(
        &modbus("unit_ids: [1], functions: []"),
        "empty function list",
    );
    let d = error(
        &modbus("unit_ids: [1], read_only: true, addresses: [\"0-65536\"]"),
        "address 65536 is out of range",
    );
    assert!(d.help[0].contains("0-based"), "{:?}", d.help);
    let d = error(
        &modbus("unit_ids: [1], read_only: true, addresses: [400001]"),
        "address 400001 is out of range",
    );
    assert!(
        d.help[0].ends_with("6-digit Modicon numbering: write 0"),
        "{:?}",
        d.help
    );
    let d = error(
        &modbus("unit_ids: [1], read_only: true, addresses: [\"999-0\"]"),
        "reversed address range \"999-0\"",
    );
    assert_eq!(d.help[0], "write \"0-999\" (lowest address first)");
    error(
        &modbus("unit_ids: [1], read_only: true, addresses: []"),
        "empty address list",
    );
    error(
        &modbus("unit_ids: [1], read_only: true, addresses: {}"),
        "empty address mapping",
    );
    error(
        &modbus("unit_ids: [1], functions: [report_server_id], addresses: [\"0-9\"]"),
        "this rule allows none",
    );
    let d = error(
        &modbus("unit_ids: [1], functions: [6], addresses: { write_single_register: [\"0-9\"] }"),
        "write_single_register (6) uses table `write_holding_registers`",
    );
    assert!(d.help[0].contains("mask_write_register"), "{:?}", d.help);
    let d = error(
        &modbus("unit_ids: [1], functions: [6], addresses: { write_holding_register: [1] }"),
        "unknown Modbus address table \"write_holding_register\"",
    );
    assert_eq!(d.help[0], "did you mean \"write_holding_registers\"?");
    error(
        &modbus(
            "unit_ids: [1], functions: [6], addresses: { write_holding_registers: [1], write_coils: [1] }",
        ),
        "no function of this rule uses address table `write_coils`",
    );
    let nine: Vec<String> = (0..9)
        .map(|i| format!("\"{}-{}\"", i * 10, i * 10 + 5))
        .collect();
    let d = error(
        &modbus(&format!(
            "unit_ids: [1], read_only: true, addresses: [{}]",
            nine.join(", ")
        )),
        "need 9 profile slots, but a Modbus inspection profile holds 8",
    );
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].modbus.addresses")
    );
    // Eight are fine, and adjacent ones merge into fewer slots.
    ok(&modbus(&format!(
        "unit_ids: [1], read_only: true, addresses: [{}]",
        nine[..8].join(", ")
    )));
    let adjacent: Vec<String> = (0..12)
        .map(|i| format!("\"{}-{}\"", i * 10, i * 10 + 9))
        .collect();
    let m = profile_of(&modbus(&format!(
        "unit_ids: [1], read_only: true, addresses: [{}]",
        adjacent.join(", ")
    )));
    assert_eq!((m.ranges[0].first, m.ranges[0].last), (0, 119));
    let d = error(
        &modbus("unit_ids: [1], read_only: true, functions: [write_single_coil]"),
        "`read_only: true` cannot be combined with write_single_coil (5) (a write function)",
    );
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].modbus.functions[0]")
    );
    error(
        &modbus("unit_ids: [1], read_only: true, max_quantity: 0"),
        "max_quantity 0 is out of range",
    );
    error(
        &modbus("unit_ids: [1], read_only: true, max_quantity: 2001"),
        "max_quantity 2001 is out of range",
    );
    let d = error(
        &modbus("unit_ids: [1], read_only: true, units: [1]"),
        "unknown key \"units\"",
    );
    assert!(
        d.help.last().is_some_and(|h| h.contains("unit_ids")),
        "{:?}",
        d.help
    );
    error(
        &with_rule("{ protocol: modbus, types: [8], modbus: { unit_ids: [1], read_only: true } }"),
        "`types` apply to icmp and icmpv6, not modbus",
    );
    error(
        &with_rule("{ protocol: modbus, ports: [], modbus: { unit_ids: [1], read_only: true } }"),
        "empty port list",
    );
    error(
        &with_rule("{ protocol: modbus, modbus: }"),
        "the `modbus:` block is empty",
    );
    error(
        &with_rule("{ protocol: modbus, dnp3: {}, modbus: { unit_ids: [1], read_only: true } }"),
        "`dnp3` options apply only to `protocol: dnp3`",
    );
}

#[test]
fn modbus_warnings() {
    // Unnamed function codes are allowed with a warning.
    let p = ok(&modbus("unit_ids: [1], functions: [3, 90]"));
    assert!(warning_texts(&p)[0].contains("function code 90 has no name"));
    // 1-based Modicon numbers for holding registers.
    let p = ok(&modbus(
        "unit_ids: [1], functions: [3], addresses: [\"40001-40010\"]",
    ));
    assert_eq!(p.warnings().len(), 1);
    assert!(
        p.warnings()[0].help[0].contains("\"0-9\""),
        "{:?}",
        p.warnings()[0].help
    );
    // Repeats.
    let p = ok(&modbus(
        "unit_ids: [1, 1], read_only: true, functions: [read_coils]",
    ));
    assert_eq!(
        warning_texts(&p),
        [
            "unit ids 1 overlap unit ids 1 of the same list",
            "read_coils (1) is listed twice"
        ]
    );
}

#[test]
fn modbus_ports_default_and_override() {
    let p = ok(&with_rule(
        "{ protocol: modbus, ports: [5020, \"1502\"], modbus: { unit_ids: [1], read_only: true } }",
    ));
    assert_eq!(p.conduits()[0].rules[1].to_string(), "modbus 5020, 1502");
    error(
        &with_rule("{ protocol: modbus, ports: [0], modbus: { unit_ids: [1], read_only: true } }"),
        "port 0",
    );
}

#[test]
fn on_violation() {
    let conduit = |v: &str| {
        modbus("unit_ids: [1], read_only: true").replace(
            "    to: control",
            &format!("    to: control\n    on_violation: {v}"),
        )
    };
    // The default resets the connection, without a word.
    let p = ok(&modbus("unit_ids: [1], read_only: true"));
    assert_eq!(p.conduits()[0].on_violation, OnViolation::Reset);
    assert!(p.warnings().is_empty());
    let p = ok(&conduit("reset"));
    assert_eq!(p.conduits()[0].on_violation, OnViolation::Reset);
    assert!(p.warnings().is_empty());
    // Drop is opt-in and warned about: it locks clients out.
    let p = ok(&conduit("drop"));
    assert_eq!(p.conduits()[0].on_violation, OnViolation::Drop);
    let w = p.warnings();
    assert_eq!(w.len(), 1);
    assert!(
        w[0].message.contains("can lock clients out"),
        "{}",
        w[0].message
    );
    assert_eq!(w[0].position, at(14, 19));
    assert!(w[0].help[0].contains("on_violation: reset"));
    // Exception: Modbus conduits only.
    let p = ok(&conduit("exception"));
    assert_eq!(p.conduits()[0].on_violation, OnViolation::Exception);
    assert!(p.warnings().is_empty());
    let d = error(
        &BASE.replace(
            "    to: control",
            "    to: control\n    on_violation: exception",
        ),
        "needs Modbus rules",
    );
    assert!(d.help[0].contains("protocol: modbus"), "{:?}", d.help);
    let d = error(&conduit("alert"), "unknown on_violation \"alert\"");
    assert!(d.help[0].contains("`on_violation: exception` (Modbus)"));
    let p = ok(&BASE.replace("    to: control", "    to: control\n    on_violation: drop"));
    assert!(warning_texts(&p)[0].contains("on_violation has no effect"));
}

#[test]
fn modbus_shadowing() {
    let rule = "{ protocol: modbus, modbus: { unit_ids: [1], read_only: true } }";
    // An earlier plain tcp rule on 502 bypasses the inspection.
    let src = with_rule(rule).replace("[22, \"1024-2048\"]", "[22, 502]");
    let p = ok(&src);
    assert_eq!(p.warnings().len(), 1, "{:?}", warning_texts(&p));
    let w = &p.warnings()[0];
    assert_eq!(
        w.message,
        "Modbus inspection of rule `modbus 502` of conduit \"historian\" is bypassed: earlier rules for dmz -> control already allow this traffic without inspection"
    );
    assert_eq!(w.key.as_deref(), Some("conduits[0].rules[1]"));
    assert!(
        w.help[0].contains("conduits[0].rules[0] (`tcp 22, 502`"),
        "{:?}",
        w.help
    );
    assert!(
        w.help[1].contains("move this rule before them"),
        "{:?}",
        w.help
    );
    // ... also from another conduit, and partly.
    let src = format!(
        "{BASE}  - name: plc\n    from: dmz\n    to: control\n    rules:\n      - {{ protocol: modbus, ports: [502, 1500], modbus: {{ unit_ids: [1], read_only: true }} }}\n"
    );
    let p = ok(&src);
    assert_eq!(p.warnings().len(), 1, "{:?}", warning_texts(&p));
    assert!(p.warnings()[0].message.contains("is partly bypassed"));
    assert!(p.warnings()[0].help[1].contains("move conduit \"plc\""));
    // A later plain tcp 502 never matches (the traffic stays inspected).
    let src = BASE.replace(
        "      - { protocol: icmp, types: [echo-request] }\n",
        "      - { protocol: icmp, types: [echo-request] }\n      - { protocol: tcp, ports: [502] }\n",
    ).replace("{ protocol: tcp, ports: [22, \"1024-2048\"] }", rule);
    let p = ok(&src);
    assert_eq!(p.warnings().len(), 1, "{:?}", warning_texts(&p));
    assert!(
        p.warnings()[0]
            .message
            .contains("rule `tcp 502` of conduit \"historian\" never matches")
    );
    assert!(p.warnings()[0].help[1].contains("the earlier inspected rule inspects this traffic"));
    // A later tcp rule for every port is fine: 502 stays inspected, the rest is plain tcp.
    let src = BASE
        .replace("{ protocol: tcp, ports: [22, \"1024-2048\"] }", rule)
        .replace(
            "{ protocol: icmp, types: [echo-request] }",
            "{ protocol: tcp }",
        );
    assert!(ok(&src).warnings().is_empty());
    // Two Modbus rules: the second never matches.
    let src = BASE
        .replace("{ protocol: tcp, ports: [22, \"1024-2048\"] }", rule)
        .replace(
            "{ protocol: icmp, types: [echo-request] }",
            "{ protocol: modbus, modbus: { unit_ids: [2], read_only: true } }",
        );
    assert!(warning_texts(&ok(&src))[0].contains("never matches"));
}

// ---- IEC 104 and DNP3 ----
mod grid;

// ---- S7comm ----
mod bacnet;
mod s7comm;

// ---- EtherNet/IP ----
mod enip;

// ---- OPC UA ----
mod opcua;
