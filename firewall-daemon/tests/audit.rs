//! `zcfw audit`: the IEC 62443-3-3 report on the example policies and on the deliberately
//! weak ones of `policies/weak/` (exact finding ids and severities, SR statuses), the three
//! output formats, `--fail-on` exit codes, and the hidden `completions` and `man` commands.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;
use zcfw::{
    audit::{self, AuditReport, Severity, Status},
    policy,
};

fn policy_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policies")
        .join(name)
}

fn report(name: &str) -> AuditReport {
    match policy::load_file(&policy_path(name)) {
        Ok(p) => audit::audit(&p),
        Err(e) => panic!("{name}: {e}"),
    }
}

/// `(id, severity, conduit or interface or "policy")` of every finding, in report order.
fn findings(r: &AuditReport) -> Vec<(&str, Severity, &str)> {
    r.findings
        .iter()
        .map(|f| {
            let at = f
                .conduit
                .as_deref()
                .or(f.interface.as_deref())
                .or(f.zone.as_deref())
                .unwrap_or("policy");
            (f.id, f.severity, at)
        })
        .collect()
}

fn status(r: &AuditReport, sr: &str) -> Status {
    match r.requirement(sr) {
        Some(req) => req.status,
        None => panic!("no requirement {sr}"),
    }
}

fn zcfw(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_zcfw")).args(args).output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run zcfw {args:?}: {e}"),
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path_arg(name: &str) -> String {
    policy_path(name).display().to_string()
}

use Severity::{High, Info, Low, Medium};

// ---- the example policies ----

#[test]
fn purdue_plant() {
    let r = report("purdue-plant.yaml");
    assert_eq!(r.policy.name, "plant-a");
    assert_eq!(r.policy.max_security_level, 4);
    assert_eq!(r.policy.zones, 5);
    // Rate limits aside (the example may gain them), the findings are exactly these.
    let other: Vec<_> = findings(&r)
        .into_iter()
        .filter(|f| f.0 != "ZCFW-A012")
        .collect();
    assert_eq!(
        other,
        [
            ("ZCFW-A005", High, "engineering-manages-control"),
            // tcp/102 for the engineering station's TIA Portal: S7comm uninspected.
            ("ZCFW-A018", High, "engineering-manages-control"),
            // tcp/44818 likewise: EtherNet/IP uninspected.
            ("ZCFW-A023", High, "engineering-manages-control"),
            // udp/47808 in a plain udp rule: BACnet/IP uninspected.
            ("ZCFW-A025", High, "engineering-manages-control"),
            // tcp/4840 likewise: OPC UA uninspected (the historian's is inspected).
            ("ZCFW-A027", High, "engineering-manages-control"),
            ("ZCFW-A013", Medium, "engineering-manages-control"),
        ]
    );
    // ZCFW-A012 exactly for the conduits into SL2-4 zones without a rate limit.
    let unlimited: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.id == "ZCFW-A012")
        .filter_map(|f| f.conduit.as_deref())
        .collect();
    let mut expected: Vec<&str> = r
        .zones
        .iter()
        .filter(|z| z.security_level >= 2)
        .flat_map(|z| &z.inbound)
        .filter(|c| c.rate_limit.is_none())
        .map(|c| c.conduit.as_str())
        .collect();
    let mut got = unlimited.clone();
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(got, expected);
    // The Modbus writes name the functions and the write ranges.
    let writes = &r.findings[0];
    assert_eq!(writes.key.as_deref(), Some("conduits[4].rules[0].modbus"));
    assert_eq!(writes.zone.as_deref(), Some("control"));
    assert!(
        writes.message.contains(
            "write_single_coil (5), write_single_register (6), write_multiple_registers (16)"
        ),
        "{}",
        writes.message
    );
    assert!(
        writes
            .message
            .contains("write_coils 100-199, write_holding_registers 4000-4099"),
        "{}",
        writes.message
    );
    // The historian's Modbus is inspected read-only: no uninspected-Modbus or write finding.
    assert!(!r.findings.iter().any(|f| f.id == "ZCFW-A004"));
    for sr in ["SR 5.1", "SR 5.2 RE1", "SR 2.8"] {
        assert_eq!(status(&r, sr), Status::Met, "{sr}");
    }
    // The historian's OPC UA channels are signed (Basic256Sha256 only).
    assert_eq!(status(&r, "SR 3.1"), Status::Met);
    // S7comm to the PLCs passes uninspected (ZCFW-A018).
    assert_eq!(status(&r, "SR 3.5"), Status::PartiallyMet);
    for sr in ["SR 5.2 RE2", "SR 5.2 RE3", "SR 3.3", "SR 7.6 RE1"] {
        assert_eq!(status(&r, sr), Status::MetByConfiguration, "{sr}");
        assert!(r.requirement(sr).is_some_and(|q| q.required), "{sr}");
    }
    assert_eq!(status(&r, "SR 5.2"), Status::PartiallyMet); // ZCFW-A005
    assert_eq!(status(&r, "SR 7.7"), Status::PartiallyMet); // ZCFW-A005, A013
    if !unlimited.is_empty() {
        assert_eq!(status(&r, "SR 7.1"), Status::PartiallyMet);
    }
    // Zones: levels, networks, conduits both ways.
    let control = r.zones.iter().find(|z| z.name == "control");
    let Some(control) = control else {
        panic!("no zone control")
    };
    assert_eq!(control.security_level, 3);
    assert_eq!(control.networks, ["10.30.0.0/24"]);
    assert!(control.intra_zone_allow);
    assert_eq!(control.interfaces, ["eth2"]);
    let inbound: Vec<(&str, &str)> = control
        .inbound
        .iter()
        .map(|c| (c.conduit.as_str(), c.zone.as_str()))
        .collect();
    assert_eq!(
        inbound,
        [
            ("historian-reads-plcs", "dmz"),
            ("engineering-manages-control", "engineering")
        ]
    );
    assert_eq!(control.outbound[0].conduit, "control-to-dmz-services");
    assert_eq!(control.findings.high, 5); // ZCFW-A005, A018, A023, A025, A027
    let safety = r.zones.iter().find(|z| z.name == "safety");
    assert!(safety.is_some_and(|z| z.security_level == 4 && z.outbound.is_empty()));
}

#[test]
fn minimal() {
    let r = report("minimal.yaml");
    assert_eq!(
        findings(&r),
        [
            ("ZCFW-A004", High, "office-reads-plant"),
            ("ZCFW-A011", Medium, "office-reads-plant"),
            ("ZCFW-A012", Medium, "office-reads-plant"),
            ("ZCFW-A020", Info, "eth0"),
        ]
    );
    assert_eq!(r.findings[0].key.as_deref(), Some("conduits[0].rules[0]"));
    assert_eq!(r.findings[0].zone.as_deref(), Some("plant"));
    assert_eq!(r.findings[3].zone, None);
    assert_eq!(status(&r, "SR 5.1"), Status::PartiallyMet); // eth0 has no zones
    assert_eq!(status(&r, "SR 3.5"), Status::PartiallyMet); // plain tcp 502
    assert_eq!(status(&r, "SR 7.1"), Status::PartiallyMet); // no rate limit
    assert_eq!(status(&r, "SR 5.2 RE1"), Status::Met);
    assert_eq!(r.summary.findings.high, 1);
    assert_eq!(r.summary.findings.medium, 2);
    assert_eq!(r.summary.findings.info, 1);
}

// ---- the weak policies ----

#[test]
fn weak_broad_rules() {
    let r = report("weak/broad-rules.yaml");
    assert_eq!(
        findings(&r),
        [
            ("ZCFW-A001", High, "dmz-anything"),
            ("ZCFW-A004", High, "dmz-anything"),
            ("ZCFW-A002", High, "vendor-support"),
            ("ZCFW-A023", High, "vendor-support"),
            ("ZCFW-A027", High, "vendor-support"),
            ("ZCFW-A015", High, "vendor-support"),
            ("ZCFW-A015", High, "vendor-support"),
            ("ZCFW-A012", Medium, "dmz-anything"),
            ("ZCFW-A003", Medium, "vendor-support"),
            ("ZCFW-A013", Medium, "vendor-support"),
            ("ZCFW-A011", Medium, "vendor-support"),
            ("ZCFW-A012", Medium, "vendor-support"),
        ]
    );
    let wide = r.findings.iter().find(|f| f.id == "ZCFW-A003");
    assert!(wide.is_some_and(|f| f.message.contains("tcp 1024-65535 (64512 ports)")));
    assert_eq!(status(&r, "SR 5.1"), Status::Met);
    assert_eq!(status(&r, "SR 5.2"), Status::PartiallyMet);
    assert_eq!(status(&r, "SR 7.7"), Status::PartiallyMet);
    assert_eq!(status(&r, "SR 7.1"), Status::PartiallyMet);
    assert_eq!(status(&r, "SR 3.5"), Status::PartiallyMet);
    assert_eq!(
        r.requirement("SR 5.2").map(|q| q.findings.clone()),
        Some(vec!["ZCFW-A001", "ZCFW-A002", "ZCFW-A011"])
    );
}

#[test]
fn weak_modbus_writes() {
    let r = report("weak/modbus-writes.yaml");
    assert_eq!(
        findings(&r),
        [
            ("ZCFW-A004", High, "scada-polls-plcs"),
            ("ZCFW-A015", High, "scada-polls-plcs"),
            ("ZCFW-A005", High, "engineering-writes-sis"),
            ("ZCFW-A006", High, "engineering-writes-sis"),
            ("ZCFW-A012", Medium, "scada-polls-plcs"),
            ("ZCFW-A007", Medium, "engineering-writes-sis"),
            ("ZCFW-A012", Medium, "engineering-writes-sis"),
            ("ZCFW-A030", Info, "engineering-writes-sis"),
        ]
    );
    let by_id = |id: &str| r.findings.iter().find(|f| f.id == id);
    assert!(by_id("ZCFW-A005").is_some_and(|f| f.message.contains(
        "write_single_coil (5), write_multiple_registers (16); write addresses: write_coils 0-15, write_holding_registers 100-119"
    )));
    assert!(by_id("ZCFW-A006").is_some_and(|f| f.message.contains("function codes 90")));
    assert!(by_id("ZCFW-A015").is_some_and(|f| f.message.contains("lets DNP3 (port 20000)")));
    // The validator's warning keeps its place in the file.
    let source = fs::read_to_string(policy_path("weak/modbus-writes.yaml")).unwrap_or_default();
    let line = source
        .lines()
        .position(|l| l.contains("functions: [read_holding_registers"))
        .map_or(0, |i| i + 1);
    let warning = by_id("ZCFW-A030");
    assert!(
        warning.is_some_and(|f| f.position == Some(format!("{line}:92"))
            && f.key.as_deref() == Some("conduits[1].rules[0].modbus.functions[3]"))
    );
    assert_eq!(status(&r, "SR 3.5"), Status::PartiallyMet);
    assert_eq!(status(&r, "SR 7.7"), Status::PartiallyMet);
    assert_eq!(status(&r, "SR 5.1"), Status::Met);
}

#[test]
fn weak_grid_commands() {
    let r = report("weak/grid-commands.yaml");
    assert_eq!(
        findings(&r),
        [
            ("ZCFW-A016", High, "scada-commands-rtus"),
            ("ZCFW-A016", High, "scada-commands-rtus"),
            ("ZCFW-A015", High, "engineering-to-rtus"),
            ("ZCFW-A017", Medium, "scada-commands-rtus"),
            ("ZCFW-A017", Medium, "scada-commands-rtus"),
            ("ZCFW-A012", Medium, "engineering-to-rtus"),
            ("ZCFW-A030", Info, "scada-commands-rtus"),
            ("ZCFW-A030", Info, "scada-commands-rtus"),
            ("ZCFW-A030", Info, "scada-commands-rtus"),
            ("ZCFW-A030", Info, "scada-commands-rtus"),
            ("ZCFW-A030", Info, "scada-commands-rtus"),
            ("ZCFW-A030", Info, "scada-commands-rtus"),
        ]
    );
    assert!(r.findings[0].message.contains(
        "allows IEC 60870-5-104 commands into SL3 zone \"substation\": C_SC_NA_1 (45), C_CS_NA_1 (103); to common addresses 1-65535"
    ));
    assert_eq!(
        r.findings[0].key.as_deref(),
        Some("conduits[0].rules[0].iec104")
    );
    assert!(
        r.findings[1]
            .message
            .contains("direct_operate (5), cold_restart (13); to link addresses 10, 65533-65535")
    );
    assert_eq!(r.findings[2].key.as_deref(), Some("conduits[1].rules[0]"));
    assert!(
        r.findings[2]
            .message
            .contains("IEC 60870-5-104 (port 2404)")
    );
    assert!(
        r.findings[3]
            .message
            .contains("global common address 65535")
    );
    assert!(r.findings[4].message.contains("0xFFFD-0xFFFF"));
    assert_eq!(status(&r, "SR 3.5"), Status::PartiallyMet); // A015, A016
    assert_eq!(status(&r, "SR 7.7"), Status::PartiallyMet);
    let sr35 = r
        .requirement("SR 3.5")
        .map(|q| q.evidence.join("\n"))
        .unwrap_or_default();
    assert!(
        sr35.contains("1 rule allows IEC 60870-5-104 with inspection"),
        "{sr35}"
    );
    assert!(
        sr35.contains("1 rule allows DNP3 with inspection"),
        "{sr35}"
    );
    assert!(
        sr35.contains("1 rule lets IEC 104 (port 2404) or DNP3"),
        "{sr35}"
    );
    // A read-only substation conduit has none of these findings.
    let ro = audit::audit(
        &policy::load_str(
            &fs::read_to_string(policy_path("weak/grid-commands.yaml"))
                .unwrap_or_default()
                .replace(
                    "type_ids: [C_IC_NA_1, C_CS_NA_1, C_SC_NA_1]",
                    "read_only: true",
                )
                .replace("[\"1-65535\"]", "[1]")
                .replace(
                    "[read, confirm, direct_operate, cold_restart]",
                    "[read, confirm]",
                )
                .replace(", \"0xFFFD-0xFFFF\"", ""),
            "ro.yaml",
        )
        .expect("valid"),
    );
    assert!(
        !ro.findings
            .iter()
            .any(|f| ["ZCFW-A016", "ZCFW-A017", "ZCFW-A030"].contains(&f.id)),
        "{:?}",
        ro.findings.iter().map(|f| f.id).collect::<Vec<_>>()
    );
}

#[test]
fn weak_flat_safety() {
    let r = report("weak/flat-safety.yaml");
    assert_eq!(
        findings(&r),
        [
            ("ZCFW-A012", Medium, "control-to-safety"),
            ("ZCFW-A010", Medium, "safety"),
            ("ZCFW-A021", Medium, "policy"),
            ("ZCFW-A020", Info, "eth0"),
            ("ZCFW-A020", Info, "eth1"),
            ("ZCFW-A030", Info, "control-to-safety"),
        ]
    );
    assert!(r.findings[5].message.contains("never matches"));
    assert_eq!(
        r.findings[1].key.as_deref(),
        Some("zones.safety.intra_zone")
    );
    assert_eq!(r.findings[2].key.as_deref(), Some("defaults.log"));
    assert_eq!(status(&r, "SR 2.8"), Status::NotMet);
    assert_eq!(status(&r, "SR 2.11"), Status::NotMet);
    assert_eq!(status(&r, "SR 6.1"), Status::PartiallyMet);
    assert_eq!(status(&r, "SR 5.1"), Status::PartiallyMet);
    assert_eq!(status(&r, "SR 7.1"), Status::PartiallyMet);
    assert_eq!(status(&r, "SR 7.7"), Status::Met);
    assert_eq!(r.policy.log, "none");
}

#[test]
fn weak_office_only_is_judged_at_sl1() {
    let r = report("weak/office-only.yaml");
    assert_eq!(
        findings(&r),
        [
            ("ZCFW-A001", Low, "guests-to-staff"),
            ("ZCFW-A013", Low, "staff-to-guests"),
            ("ZCFW-A021", Low, "policy"),
            ("ZCFW-A020", Info, "eth0"),
        ]
    );
    // SL1 only: no rate limit is asked for, and SL2+ requirements are not required.
    assert_eq!(status(&r, "SR 7.1"), Status::Met);
    assert_eq!(status(&r, "SR 2.8"), Status::NotMet);
    for (sr, required) in [
        ("SR 5.2", true),
        ("SR 5.2 RE1", false),
        ("SR 5.2 RE3", false),
        ("SR 7.6 RE1", false),
    ] {
        assert_eq!(
            r.requirement(sr).map(|q| q.required),
            Some(required),
            "{sr}"
        );
    }
    assert!(!r.has_finding_at_least(Medium));
    assert!(r.has_finding_at_least(Low));
}

#[test]
fn every_weak_policy_is_valid_and_has_findings() {
    let dir = policy_path("weak");
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        n += 1;
        let out = zcfw(&["check", &path.display().to_string()]);
        assert!(out.status.success(), "{}: {out:?}", path.display());
        let p = match policy::load_file(&path) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert!(!audit::audit(&p).findings.is_empty(), "{}", path.display());
    }
    assert!(n >= 4, "only {n} weak policies");
}

// ---- formats ----

#[test]
fn json_is_valid_with_the_documented_shape() {
    let out = zcfw(&["audit", &path_arg("purdue-plant.yaml"), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => panic!("not JSON: {e}\n{}", stdout(&out)),
    };
    let keys: Vec<&str> = doc
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut documented = [
        "schema",
        "header",
        "tool",
        "standard",
        "policy",
        "running",
        "summary",
        "requirements",
        "zones",
        "findings",
    ];
    documented.sort_unstable();
    assert_eq!(keys, documented); // serde_json::Value sorts its keys
    // The printed document keeps the documented order.
    let text = stdout(&out);
    let at = |key: &str| text.find(&format!("\n  \"{key}\":")).unwrap_or(usize::MAX);
    assert!(at("schema") < at("header") && at("header") < at("tool"));
    assert!(at("zones") < at("findings") && at("findings") < text.len());
    assert_eq!(doc["schema"], "zcfw-audit/2");
    assert_eq!(doc["running"], Value::Null);
    assert_eq!(doc["standard"], "IEC 62443-3-3");
    assert_eq!(doc["tool"]["name"], "zcfw");
    assert_eq!(doc["policy"]["name"], "plant-a");
    assert_eq!(doc["policy"]["sha256"].as_str().map(str::len), Some(64));
    for key in [
        "origin",
        "max_security_level",
        "zones",
        "conduits",
        "rules",
        "interfaces",
        "log",
    ] {
        assert!(doc["policy"].get(key).is_some(), "policy.{key}");
    }
    for key in ["high", "medium", "low", "info"] {
        assert!(doc["summary"]["findings"][key].is_u64(), "{key}");
    }
    for key in ["met", "partially_met", "not_met", "met_by_configuration"] {
        assert!(doc["summary"]["requirements"][key].is_u64(), "{key}");
    }
    let reqs = doc["requirements"].as_array().cloned().unwrap_or_default();
    let ids: Vec<&str> = reqs.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "SR 5.1",
            "SR 5.2",
            "SR 5.2 RE1",
            "SR 5.2 RE2",
            "SR 5.2 RE3",
            "SR 2.8",
            "SR 2.11",
            "SR 3.1",
            "SR 3.3",
            "SR 3.5",
            "SR 6.1",
            "SR 6.2",
            "SR 7.1",
            "SR 7.6",
            "SR 7.6 RE1",
            "SR 7.7"
        ]
    );
    for r in &reqs {
        for key in [
            "title",
            "security_levels",
            "required",
            "status",
            "zcfw",
            "evidence",
            "findings",
        ] {
            assert!(r.get(key).is_some(), "{}: {key}", r["id"]);
        }
        assert!(
            ["met", "partially_met", "not_met", "met_by_configuration"]
                .contains(&r["status"].as_str().unwrap_or("")),
            "{r}"
        );
    }
    let zone = &doc["zones"][0];
    for key in [
        "name",
        "security_level",
        "networks",
        "intra_zone_allow",
        "interfaces",
        "inbound",
        "outbound",
        "findings",
    ] {
        assert!(zone.get(key).is_some(), "zones[0].{key}");
    }
    let conduit = &doc["zones"][0]["outbound"][0];
    for key in ["conduit", "zone", "security_level", "rules", "rate_limit"] {
        assert!(conduit.get(key).is_some(), "outbound[0].{key}");
    }
    let finding = &doc["findings"][0];
    for key in [
        "id",
        "severity",
        "title",
        "message",
        "zone",
        "conduit",
        "interface",
        "key",
        "position",
        "requirements",
        "remediation",
    ] {
        assert!(finding.get(key).is_some(), "findings[0].{key}");
    }
    assert_eq!(finding["id"], "ZCFW-A005");
    assert_eq!(finding["severity"], "high");
}

#[test]
fn markdown_is_a_document_for_an_auditor() {
    let out = zcfw(&[
        "audit",
        &path_arg("weak/flat-safety.yaml"),
        "--format",
        "markdown",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let md = stdout(&out);
    assert!(md.starts_with("# IEC 62443-3-3 audit of policy `weak-flat-safety`\n"));
    for heading in [
        "## System requirements",
        "## Zones",
        "### Zone `safety` (SL4)",
        "## Policy-wide findings",
        "## Finding rules applied",
    ] {
        assert!(md.contains(&format!("\n{heading}\n")), "{heading}");
    }
    assert!(md.contains(
        "| SR 7.1 | Denial of service protection | 1-4 | yes | partially met | ZCFW-A012 |"
    ));
    assert!(md.contains("| SR 2.8 | Auditable events | 1-4 | yes | not met | ZCFW-A021 |"));
    assert!(md.contains("| medium | ZCFW-A010 |"));
    // Every table row has as many cells as its header.
    let mut columns = 0;
    for line in md.lines().filter(|l| l.starts_with('|')) {
        let cells = line.replace("\\|", "").matches('|').count();
        if line.starts_with("|---") {
            assert_eq!(cells, columns, "{line}");
        } else if columns == 0 || cells != columns {
            columns = cells;
        }
    }
    assert!(!md.contains('\u{1b}'));
}

#[test]
fn text_has_sections_and_no_escape_codes() {
    let out = zcfw(&["audit", &path_arg("minimal.yaml")]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with("zcfw audit report\n  generated "),
        "{text}"
    );
    let body = text
        .split_once("\n---- end of header ----\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    assert!(body.starts_with("IEC 62443-3-3 audit of policy \"minimal\""));
    for section in [
        "\nSYSTEM REQUIREMENTS\n",
        "\nZONES\n",
        "\nPOLICY-WIDE FINDINGS\n",
    ] {
        assert!(text.contains(section), "{section}");
    }
    assert!(
        text.contains("    high    ZCFW-A004  rule `tcp 502` of conduit \"office-reads-plant\"")
    );
    assert!(
        text.contains(
            "\nSR 7.1 Denial of service protection (SL 1-4)\n    status:   partially met\n"
        )
    );
    assert!(text.contains(
        "\nSR 5.2 RE2 Island mode (SL 3-4)\n    status:   met by the running configuration\n"
    ));
    assert!(!text.contains('\u{1b}'));
}

// ---- exit codes ----

#[test]
fn fail_on_sets_exit_code_3() {
    let minimal = path_arg("minimal.yaml"); // high, medium, info
    let office = path_arg("weak/office-only.yaml"); // low, info
    for (policy, fail_on, code) in [
        (&minimal, None, 0),
        (&minimal, Some("high"), 3),
        (&minimal, Some("medium"), 3),
        (&minimal, Some("low"), 3),
        (&office, None, 0),
        (&office, Some("high"), 0),
        (&office, Some("medium"), 0),
        (&office, Some("low"), 3),
    ] {
        let mut args = vec!["audit", policy.as_str(), "--format", "json"];
        if let Some(level) = fail_on {
            args.extend(["--fail-on", level]);
        }
        let out = zcfw(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        // The report is printed whatever the exit code.
        assert!(
            serde_json::from_slice::<Value>(&out.stdout).is_ok(),
            "{args:?}"
        );
    }
    let out = zcfw(&["audit", &minimal, "--fail-on", "info"]);
    assert_eq!(out.status.code(), Some(2), "info is not a --fail-on level");
}

#[test]
fn invalid_policy_exits_1_with_diagnostics() {
    let out = zcfw(&[
        "audit",
        &path_arg("invalid/bad-cidr.yaml"),
        "--fail-on",
        "low",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad-cidr.yaml:") && err.contains("policy refused"),
        "{err}"
    );
    let out = zcfw(&["audit", &path_arg("no-such-policy.yaml")]);
    assert_eq!(out.status.code(), Some(2));
}

// ---- completions, man page, help ----

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = zcfw(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = stdout(&out);
        assert!(script.len() > 200, "{shell}: {script}");
        assert!(
            script.contains("zcfw") && script.contains("audit"),
            "{shell}"
        );
        assert!(script.contains("fail-on"), "{shell}");
    }
    assert_ne!(zcfw(&["completions", "tcsh"]).status.code(), Some(0));
}

#[test]
fn man_pages() {
    let out = zcfw(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = stdout(&out);
    assert!(page.contains(".TH zcfw 8"), "{page}");
    assert!(page.contains(".SH NAME") && page.contains(".SH SUBCOMMANDS"));
    assert!(page.contains("zcfw\\-audit(8)"), "{page}");
    let out = zcfw(&["man", "audit"]);
    assert_eq!(out.status.code(), Some(0));
    let page = stdout(&out);
    assert!(
        page.contains(".TH zcfw\\-audit 8") || page.contains(".TH zcfw-audit 8"),
        "{page}"
    );
    assert!(page.contains("\\-\\-fail\\-on"), "{page}");
    let out = zcfw(&["man", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_hides_packaging_commands_and_has_no_colors_off_a_terminal() {
    let out = zcfw(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    assert!(help.contains("audit"));
    assert!(!help.contains("completions") && !help.contains("\n  man "));
    assert!(!help.contains('\u{1b}'));
    for cmd in [
        "check", "compile", "run", "reload", "status", "stats", "events", "island", "audit",
        "detach", "learn",
    ] {
        let out = zcfw(&[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{cmd}");
        assert!(!out.stdout.contains(&0x1b), "{cmd}");
    }
}

// ---- documentation ----

#[test]
fn docs_document_every_rule_and_requirement() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/audit.md");
    let doc = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for rule in &audit::rules::RULES {
        assert!(
            doc.contains(&format!("| {} | ", rule.id)),
            "docs/audit.md has no row for {}",
            rule.id
        );
    }
    for req in &report("purdue-plant.yaml").requirements {
        assert!(
            doc.contains(&format!("| {} {} | ", req.id, req.title)),
            "docs/audit.md has no row for {} {}",
            req.id,
            req.title
        );
    }
    assert!(doc.contains(audit::SCHEMA));
    for fr in &audit::FOUNDATIONAL_REQUIREMENTS {
        assert!(
            doc.contains(&format!("| {} | {} | {} |", fr.key, fr.id, fr.name)),
            "{}",
            fr.key
        );
    }
    for marker in [audit::END_OF_HEADER_TEXT, audit::END_OF_HEADER_MARKDOWN] {
        assert!(doc.contains(marker), "{marker}");
    }
}

// ---- header and digest, descriptions, diagrams, security levels per FR ----

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs `script` with `input` on stdin under `sh -c`; its stdout, trimmed.
fn shell(script: &str, input: &str) -> String {
    use std::io::Write as _;
    let mut child = match Command::new("sh")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("sh: {e}"),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    match child.wait_with_output() {
        Ok(out) => {
            assert!(out.status.success(), "{script}: {:?}", out.status);
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
        Err(e) => panic!("{script}: {e}"),
    }
}

/// The value of header line `key` of a text report.
fn text_header<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .skip(1)
        .take_while(|l| *l != audit::END_OF_HEADER_TEXT)
        .find_map(|l| l.trim_start().strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no header line {key} in\n{text}"))
}

#[test]
fn text_header_and_documented_digest_check() {
    let file = path_arg("purdue-plant.yaml");
    let text = stdout(&zcfw(&["audit", &file]));
    let policy_hash = sha256_hex(&fs::read(&file).unwrap_or_default());
    assert_eq!(text_header(&text, "policy sha-256"), policy_hash);
    assert_eq!(text_header(&text, "zcfw"), env!("CARGO_PKG_VERSION"));
    assert_eq!(text_header(&text, "audited"), "the policy file");
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    assert_eq!(text_header(&text, "host"), host.trim());
    let generated = text_header(&text, "generated");
    assert!(generated.len() == 20 && generated.ends_with('Z') && generated.as_bytes()[10] == b'T');
    let digest = text_header(&text, "report sha-256");
    let digest = digest.split_whitespace().next().unwrap_or_default();
    // The command docs/audit.md gives.
    let checked = shell(
        "sed '1,/^---- end of header ----$/d' | sha256sum | cut -d' ' -f1",
        &text,
    );
    assert_eq!(checked, digest);
    // Any change to the body changes the digest.
    let tampered = text.replacen("partially met", "met", 1);
    assert_ne!(
        shell(
            "sed '1,/^---- end of header ----$/d' | sha256sum | cut -d' ' -f1",
            &tampered
        ),
        digest
    );
    // The body does not depend on the clock: a second run has the same digest.
    let again = stdout(&zcfw(&["audit", &file]));
    assert_eq!(
        text_header(&again, "report sha-256")
            .split_whitespace()
            .next(),
        Some(digest)
    );
}

#[test]
fn markdown_header_and_digest() {
    let file = path_arg("purdue-plant.yaml");
    let md = stdout(&zcfw(&["audit", &file, "--format", "markdown"]));
    let (head, body) = md
        .split_once(&format!("\n{}\n", audit::END_OF_HEADER_MARKDOWN))
        .unwrap_or_else(|| panic!("no end of header:\n{md}"));
    let policy_hash = sha256_hex(&fs::read(&file).unwrap_or_default());
    assert!(
        head.contains(&format!("| Policy SHA-256 | {policy_hash} |")),
        "{head}"
    );
    assert!(head.contains(&format!("| zcfw | {} |", env!("CARGO_PKG_VERSION"))));
    assert!(head.contains("| Generated | ") && head.contains("| Host | "));
    assert!(head.contains(&format!(
        "| Report SHA-256 | {} ",
        sha256_hex(body.as_bytes())
    )));
    assert_eq!(
        shell(
            "sed '1,/^<!-- end of header -->$/d' | sha256sum | cut -d' ' -f1",
            &md
        ),
        sha256_hex(body.as_bytes())
    );
    // The diagram is embedded, and conduit descriptions are in the zone tables.
    assert!(body.contains("\n```mermaid\nflowchart LR\n"), "{body}");
    assert!(body.contains(
        "| The DMZ historian polls PLC registers and OPC UA servers read-only (both inspected). |"
    ));
}

#[test]
fn json_header_and_canonical_digest() {
    let file = path_arg("purdue-plant.yaml");
    let out = zcfw(&["audit", &file, "--format", "json"]);
    let mut doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let header = doc["header"].clone();
    assert_eq!(
        header["policy_sha256"].as_str(),
        Some(sha256_hex(&fs::read(&file).unwrap_or_default()).as_str())
    );
    assert_eq!(header["policy_sha256"], doc["policy"]["sha256"]);
    assert_eq!(header["zcfw_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(header["audited"]["kind"], "file");
    assert!(
        header["generated_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(header["host"].as_str().is_some_and(|h| !h.is_empty()));
    let digest = header["body_sha256"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // serde_json::Value sorts members: its compact form is the canonical one.
    if let Some(o) = doc.as_object_mut() {
        o.remove("header");
    }
    let canonical = serde_json::to_string(&doc).unwrap_or_default();
    assert_eq!(sha256_hex(canonical.as_bytes()), digest);
    // The jq command of docs/audit.md, where jq is installed.
    if Command::new("jq").arg("--version").output().is_ok() {
        assert_eq!(
            shell(
                "jq -cS 'del(.header)' | head -c -1 | sha256sum | cut -d' ' -f1",
                &stdout(&out)
            ),
            digest
        );
    }
    // Conduit descriptions and modes are in the zones' conduit lists.
    let inbound = doc["zones"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|z| z["inbound"].as_array().cloned().unwrap_or_default())
        .collect::<Vec<_>>();
    assert!(inbound.iter().any(
        |c| c["description"] == "Business users reach the historian replica and patch server."
    ));
    assert!(
        inbound
            .iter()
            .all(|c| c["mode"] == "enforce" || c["mode"] == "monitor")
    );
}

#[test]
fn text_shows_conduit_descriptions() {
    let text = stdout(&zcfw(&["audit", &path_arg("purdue-plant.yaml")]));
    assert!(
        text.contains("\"Business users reach the historian replica and patch server.\""),
        "{text}"
    );
}

#[test]
fn dot_diagram_renders_with_graphviz() {
    let out = zcfw(&["audit", &path_arg("purdue-plant.yaml"), "--format", "dot"]);
    assert_eq!(out.status.code(), Some(0));
    let dot = stdout(&out);
    assert!(dot.starts_with("digraph zcfw {\n") && dot.ends_with("}\n"));
    let r = report("purdue-plant.yaml");
    // One node per zone, one edge per conduit.
    assert_eq!(
        dot.matches(" [label=").count(),
        r.zones.len() + r.policy.conduits
    );
    assert_eq!(dot.matches(" -> ").count(), r.policy.conduits);
    assert!(dot.contains("Business users reach the historian replica and patch server."));
    let rendered = match Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            use std::io::Write as _;
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(dot.as_bytes());
            }
            child.wait_with_output()
        }
        Err(e) => panic!("cannot run `dot` ({e}): install graphviz (`cargo xtask setup`)"),
    };
    let rendered = rendered.unwrap_or_else(|e| panic!("dot: {e}"));
    assert!(
        rendered.status.success(),
        "dot -Tsvg refused the diagram: {}\n{dot}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let svg = String::from_utf8_lossy(&rendered.stdout);
    assert!(svg.contains("<svg") && svg.contains("historian"), "{svg}");
}

#[test]
fn mermaid_diagram() {
    let out = zcfw(&[
        "audit",
        &path_arg("purdue-plant.yaml"),
        "--format",
        "mermaid",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let m = stdout(&out);
    let r = report("purdue-plant.yaml");
    assert!(m.starts_with("flowchart LR\n"));
    let lines: Vec<&str> = m.lines().collect();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("-->|") || l.contains("-.->|"))
            .count(),
        r.policy.conduits
    );
    for (i, z) in r.zones.iter().enumerate() {
        assert!(
            lines.iter().any(
                |l| l.starts_with(&format!("    z{i}[\"{}<br/>SL{}", z.name, z.security_level))
            ),
            "{m}"
        );
    }
    // Labels cannot break out of their quotes.
    assert!(
        lines
            .iter()
            .skip(1)
            .all(|l| l.matches('"').count() % 2 == 0),
        "{m}"
    );
}

const SL_VECTOR: &str = "version: 1
name: sl-vector
interfaces:
  - { name: eth0, zones: [office, control] }
zones:
  office: { security_level: 2, networks: [10.1.0.0/24] }
  control:
    security_level: 3
    networks: [10.3.0.0/24]
    security_level_target: { fr1: 2, fr2: 2, fr3: 3, fr4: 0, fr5: 3, fr6: 2, fr7: 3 }
conduits:
  - name: office-reads-plc
    from: office
    to: control
    description: Office HMI reads the PLC
    rate_limit: { pps: 100, burst: 200 }
    rules:
      - protocol: modbus
        ports: [502]
        modbus: { unit_ids: [1], read_only: true }
";

fn write_policy(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zcfw-audit-test-{}", std::process::id()));
    let _ = fs::create_dir_all(&dir);
    let path = dir.join(name);
    fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

#[test]
fn security_level_vector_is_compared_per_fr() {
    let p = match policy::load_str(SL_VECTOR, "sl.yaml") {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        p.zones()[1].security_level_target,
        Some([2, 2, 3, 0, 3, 2, 3])
    );
    assert_eq!(p.zones()[0].security_level_target, None);
    let r = audit::audit(&p);
    assert!(r.zones[0].security_levels.is_empty());
    let levels = &r.zones[1].security_levels;
    let row = |fr: &str| match levels.iter().find(|l| l.fr == fr) {
        Some(l) => (l.target, l.achieved, l.status),
        None => panic!("no {fr}"),
    };
    use audit::FrStatus::{NoTarget, NotEvidenced, Reached};
    assert_eq!(levels.len(), 7);
    // zcfw serves no requirement of FR 1: never claimed.
    assert_eq!(row("FR 1"), (2, None, NotEvidenced));
    assert_eq!(row("FR 4"), (0, None, NoTarget));
    // Restricted data flow: segmentation, boundary, deny by default, island, fail close hold.
    assert_eq!(row("FR 5"), (3, Some(4), Reached));
    assert_eq!(row("FR 7").1, Some(4), "{levels:?}");
    // The same policy without events: FR 2 (SR 2.8 not met) drops to 0, below its target.
    let quiet = SL_VECTOR.replace("version: 1\n", "version: 1\ndefaults: { log: none }\n");
    let r = audit::audit(&policy::load_str(&quiet, "q.yaml").unwrap_or_else(|e| panic!("{e}")));
    let fr2 = &r.zones[1].security_levels[1];
    assert_eq!(
        (fr2.achieved, fr2.status),
        (Some(0), audit::FrStatus::Below)
    );
    assert!(fr2.gaps.contains(&"SR 2.8"), "{fr2:?}");
    // Every output carries it.
    let file = write_policy("sl.yaml", &quiet);
    let file = file.display().to_string();
    let text = stdout(&zcfw(&["audit", &file]));
    assert!(
        text.contains("security levels (target / evidenced by zcfw):"),
        "{text}"
    );
    assert!(text.contains("FR 2  Use control"), "{text}");
    assert!(text.contains("\"Office HMI reads the PLC\""), "{text}");
    let md = stdout(&zcfw(&["audit", &file, "--format", "markdown"]));
    assert!(
        md.contains("| FR 2 Use control | SL2 | SL0 | below target | SR 2.8, SR 2.11 | SR 2.8"),
        "{md}"
    );
    assert!(md.contains("SL-T [2,2,3,0,3,2,3]"), "{md}");
    let json: Value = serde_json::from_slice(&zcfw(&["audit", &file, "--format", "json"]).stdout)
        .unwrap_or_default();
    assert_eq!(
        json["zones"][1]["security_level_target"],
        serde_json::json!([2, 2, 3, 0, 3, 2, 3])
    );
    assert_eq!(json["zones"][1]["security_levels"][1]["status"], "below");
    assert_eq!(json["zones"][0]["security_level_target"], Value::Null);
}

#[test]
fn security_level_vector_is_validated() {
    let bad = SL_VECTOR
        .replace("fr4: 0", "fr4: 5")
        .replace(", fr7: 3", "");
    let err = match policy::load_str(&bad, "bad.yaml") {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("security level 5 of fr4 in zone \"control\" is out of range"),
        "{err}"
    );
    assert!(
        err.contains("security_level_target of zone \"control\" has no fr7"),
        "{err}"
    );
    // Every entry below the zone's overall level reads like a mistake: a warning.
    let low = SL_VECTOR.replace(
        "{ fr1: 2, fr2: 2, fr3: 3, fr4: 0, fr5: 3, fr6: 2, fr7: 3 }",
        "{ fr1: 1, fr2: 1, fr3: 2, fr4: 0, fr5: 2, fr6: 1, fr7: 2 }",
    );
    let p = policy::load_str(&low, "low.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        p.warnings().iter().any(|w| w
            .to_string()
            .contains("every foundational requirement of zone \"control\" targets less than its security_level 3")),
        "{:?}",
        p.warnings()
    );
    assert!(policy::load_str(SL_VECTOR, "ok.yaml").is_ok_and(|p| p.warnings().is_empty()));
    let unknown = SL_VECTOR.replace("fr7: 3", "fr7: 3, fr8: 1");
    let err = match policy::load_str(&unknown, "bad.yaml") {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("fr8"), "{err}");
}

// ---- zcfw audit --running, against a stand-in daemon on a control socket ----

/// Serves one `status` request on a fresh socket with `status`; the socket's path and the
/// thread, which returns the request line it read.
fn stand_in_daemon(
    name: &str,
    status: zcfw::control::status::Status,
) -> (PathBuf, std::thread::JoinHandle<String>) {
    use std::{
        io::{BufRead as _, BufReader, Write as _},
        os::unix::{fs::PermissionsExt as _, net::UnixListener},
    };
    let dir = std::env::temp_dir().join(format!("zcfw-audit-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
    let socket = dir.join("zcfw.sock");
    let listener = UnixListener::bind(&socket).unwrap_or_else(|e| panic!("bind: {e}"));
    let thread = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap_or_else(|e| panic!("accept: {e}"));
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let answer = zcfw::control::Response::ok(status).encode();
        let _ = reader.get_mut().write_all(answer.as_bytes());
        line
    });
    (socket, thread)
}

fn daemon_status(path: &Path, hash: String, eth1_enforced: bool) -> zcfw::control::status::Status {
    use zcfw::control::status::*;
    let attachment = |name: &str, enforced: bool| InterfaceAttachment {
        name: name.into(),
        ifindex: 2,
        bridge: None,
        is_bridge: false,
        xdp_mode: "native".into(),
        enforced,
        fast_path: None,
    };
    Status {
        policy: LoadedPolicy {
            name: "sl-vector".into(),
            hash,
            path: path.display().to_string(),
            generation: 4,
            loaded_at_unix: 1_800_000_000,
            load_ms: 2.0,
            zones: 2,
            conduits: 1,
        },
        interfaces: vec![attachment("eth0", true), attachment("eth1", eth1_enforced)],
        xdp_check: XdpCheck {
            interval_s: 5.0,
            last_s_ago: Some(2.0),
            repairs: 0,
            not_enforced: Vec::new(),
        },
        island: false,
        mode: EnforcementMode::Enforce,
        monitor_conduits: Vec::new(),
        pin_dir: Some("/sys/fs/bpf/zcfw".into()),
        uptime_s: 10,
    }
}

const RUNNING_POLICY: &str = "version: 1
name: sl-vector
interfaces:
  - { name: eth0, zones: [office] }
  - { name: eth1, zones: [control] }
zones:
  office: { security_level: 2, networks: [10.1.0.0/24] }
  control: { security_level: 3, networks: [10.3.0.0/24] }
conduits:
  - name: office-ssh
    from: office
    to: control
    rate_limit: { pps: 10, burst: 20 }
    rules:
      - { protocol: tcp, ports: [22] }
";

#[test]
fn running_audits_what_the_daemon_enforces() {
    let file = write_policy("running.yaml", RUNNING_POLICY);
    let hash = sha256_hex(RUNNING_POLICY.as_bytes());
    let (socket, daemon) = stand_in_daemon("running", daemon_status(&file, hash.clone(), false));
    let socket_arg = socket.display().to_string();
    let out = zcfw(&[
        "audit",
        "--running",
        "--socket",
        &socket_arg,
        "--format",
        "json",
    ]);
    let request = daemon.join().unwrap_or_default();
    if let Some(dir) = socket.parent() {
        let _ = fs::remove_dir_all(dir);
    }
    assert_eq!(request.trim(), r#"{"protocol":2,"command":"status"}"#);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(doc["header"]["audited"]["kind"], "running");
    assert_eq!(doc["header"]["audited"]["socket"], socket_arg.as_str());
    assert_eq!(doc["header"]["policy_sha256"], hash.as_str());
    assert_eq!(doc["running"]["generation"], 4);
    assert_eq!(doc["running"]["island"], false);
    assert_eq!(doc["running"]["pinned"], true);
    assert_eq!(doc["running"]["interfaces"][1]["enforced"], false);
    let a022: Vec<&Value> = doc["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["id"] == "ZCFW-A022")
        .collect();
    assert_eq!(a022.len(), 1, "{doc}");
    assert_eq!(a022[0]["interface"], "eth1");
    assert_eq!(a022[0]["severity"], "high");
}

#[test]
fn running_refuses_a_file_changed_since_the_load() {
    let file = write_policy("changed.yaml", RUNNING_POLICY);
    let (socket, daemon) = stand_in_daemon("changed", daemon_status(&file, "0".repeat(64), true));
    let out = zcfw(&[
        "audit",
        "--running",
        "--socket",
        &socket.display().to_string(),
    ]);
    let _ = daemon.join();
    if let Some(dir) = socket.parent() {
        let _ = fs::remove_dir_all(dir);
    }
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("changed since the daemon loaded it"), "{err}");
}

#[test]
fn running_and_a_file_exclude_each_other() {
    let out = zcfw(&["audit", "--running", &path_arg("minimal.yaml")]);
    assert_eq!(out.status.code(), Some(2));
    let out = zcfw(&["audit"]);
    assert_eq!(out.status.code(), Some(2));
}
