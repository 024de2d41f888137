//! The policy corpus: every file of `policies/invalid/` is refused with the message and the
//! position its header promises, and every example policy of `policies/` is valid and
//! compiles. Also runs `zcfw check` / `zcfw compile` on a few of them for exit codes.
//!
//! Header of an invalid case:
//! ```text
//! # expect: <substring of the error message>
//! # at: LINE:COLUMN
//! ```

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use firewall_common::modbus::{Bitmap256, ModbusProfile, address_class};
use zcfw::{
    compile,
    policy::{self, PolicyError, Position},
};

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// `# expect:` and `# at:` of a corpus file.
fn header(path: &Path) -> (String, Position) {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let expect = lines
        .next()
        .and_then(|l| l.strip_prefix("# expect: "))
        .unwrap_or_else(|| panic!("{}: first line must be `# expect: ...`", path.display()));
    let at = lines
        .next()
        .and_then(|l| l.strip_prefix("# at: "))
        .and_then(|l| l.trim().split_once(':'))
        .and_then(|(l, c)| Some((l.parse().ok()?, c.parse().ok()?)))
        .map(|(line, column)| Position { line, column })
        .unwrap_or_else(|| panic!("{}: second line must be `# at: LINE:COL`", path.display()));
    (expect.trim().to_owned(), at)
}

#[test]
fn every_invalid_policy_is_refused_where_its_header_says() {
    let files = yaml_files(&policies_dir().join("invalid"));
    assert!(files.len() >= 60, "only {} invalid cases", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let (expect, at) = header(path);
        match policy::load_file(path) {
            Ok(_) => failures.push(format!("{}: accepted", path.display())),
            Err(PolicyError::Io { source, .. }) => {
                failures.push(format!("{}: {source}", path.display()));
            }
            Err(PolicyError::Refused(err)) => {
                failures.push(format!("{}: {err}", path.display()));
            }
            Err(PolicyError::Invalid(diags)) => {
                let hit = diags
                    .errors()
                    .any(|d| d.position == Some(at) && d.message.contains(&expect));
                let shown = diags.to_string();
                let prefix = format!("{}:{at}: error: ", path.display());
                if !hit || !shown.contains(&prefix) {
                    failures.push(format!(
                        "{}: expected an error containing {expect:?} at {at}, got:\n{shown}",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_example_policy_is_valid_and_compiles() {
    let files = yaml_files(&policies_dir());
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    for required in ["purdue-plant.yaml", "minimal.yaml", "bridge-cell.yaml"] {
        assert!(names.iter().any(|n| n == required), "{required} is missing");
    }
    for path in &files {
        let p = match policy::load_file(path) {
            Ok(p) => p,
            Err(e) => panic!("{} is invalid:\n{e}", path.display()),
        };
        let is_demo = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("demo"));
        if !is_demo {
            let warnings: Vec<String> = p.warnings().iter().map(ToString::to_string).collect();
            assert!(warnings.is_empty(), "{}", warnings.join("\n"));
        }
        let c = compile::compile(&p)
            .unwrap_or_else(|e| panic!("{} does not compile: {e}", path.display()));
        assert!(!c.zones.is_empty() && !c.interfaces.is_empty());
        assert_eq!(c.hash, p.source_hash());
    }
}

#[test]
fn purdue_plant_compiles_to_the_documented_shape() {
    let p = policy::load_file(&policies_dir().join("purdue-plant.yaml")).expect("valid");
    let c = compile::compile(&p).expect("compiles");
    let zones: Vec<(&str, u8)> = c
        .zones
        .iter()
        .map(|z| (z.name.as_str(), z.security_level))
        .collect();
    assert_eq!(
        zones,
        [
            ("enterprise", 1),
            ("dmz", 2),
            ("control", 3),
            ("engineering", 3),
            ("safety", 4)
        ]
    );
    assert!(!c.zones_v6.is_empty(), "the plant has IPv6 networks");
    // tcp 5450-5460 is 11 exact entries; no rule shadows another.
    let collector = c
        .conduits
        .iter()
        .find(|x| x.name == "control-to-dmz-services")
        .expect("conduit");
    let entries = c
        .conduit_entries
        .iter()
        .filter(|(_, a)| a.conduit_id == collector.id)
        .count();
    assert_eq!(entries, 2 + 11);
    assert!(c.l2_allow.contains(&0x88b8));

    // Two inspected Modbus conduits: the historian reads, the engineering workstations also
    // write setpoints.
    assert_eq!(c.modbus_profiles.len(), 2);
    let conduit = |name: &str| {
        c.conduits
            .iter()
            .find(|x| x.name == name)
            .unwrap_or_else(|| panic!("conduit {name}"))
    };
    let historian = conduit("historian-reads-plcs");
    // Modbus profile 1, then OPC UA profile 1: ids are numbered per protocol.
    assert_eq!(historian.rule_profiles, vec![1, 1, 0]);
    let mut opcua = firewall_common::opcua::OpcuaProfile::new();
    opcua.allow_policy(firewall_common::opcua::policy_named("Basic256Sha256").expect("policy"));
    opcua.allow_read_only();
    assert_eq!(c.opcua_profiles, [opcua]);
    let reads = &c.modbus_profiles[0];
    let expected = {
        let mut m = ModbusProfile::read_only();
        m.unit_ids = Bitmap256::EMPTY.with(1).with(2);
        m.clear_ranges();
        m.add_range(0, 999, address_class::READS).expect("range");
        m
    };
    assert_eq!(reads, &expected);
    let engineering = conduit("engineering-manages-control");
    assert_eq!(engineering.rule_profiles, vec![2, 0, 0, 0]);
    let writes = &c.modbus_profiles[1];
    for code in [1, 2, 3, 4, 5, 6, 16, 43] {
        assert!(writes.functions.contains(code), "FC {code}");
    }
    for code in [8, 15, 22, 23, 90] {
        assert!(!writes.functions.contains(code), "FC {code}");
    }
    assert!(writes.allows_span(address_class::WRITE_HOLDING_REGISTERS, 4000, 4099));
    assert!(!writes.allows_span(address_class::WRITE_HOLDING_REGISTERS, 3999, 4000));
    assert!(writes.allows_span(address_class::READ_HOLDING_REGISTERS, 0, 9999));
    assert!(!writes.allows_span(address_class::WRITE_COILS, 0, 0));
    assert_eq!(writes.max_quantity, 125);
    assert_eq!(writes.mei_types, 1 << 14);
    assert_eq!(writes.diagnostics, 0);
    // tcp 502 of each pair and the historian's tcp 4840 are the only inspected entries.
    let inspected: Vec<(u16, u16, u8, u16)> = c
        .conduit_entries
        .iter()
        .filter(|(_, a)| a.profile_id != 0)
        .map(|(k, a)| (k.proto.into(), k.value, a.inspector, a.profile_id))
        .collect();
    use firewall_common::maps::inspector::{MODBUS, OPCUA};
    assert_eq!(
        inspected,
        [
            (6, 502, MODBUS, 1),
            (6, 4840, OPCUA, 1),
            (6, 502, MODBUS, 2)
        ]
    );
}

#[test]
fn substation_compiles_to_one_profile_per_protocol() {
    use firewall_common::{dnp3::Dnp3Profile, iec104::Iec104Profile, maps::inspector};
    let p = policy::load_file(&policies_dir().join("substation.yaml")).expect("valid");
    let c = compile::compile(&p).expect("compiles");
    assert!(c.modbus_profiles.is_empty());
    let mut iec = Iec104Profile::read_only();
    iec.allow_common_addresses(1, 2).expect("range");
    assert_eq!(c.iec104_profiles, [iec]);
    let mut dnp = Dnp3Profile::read_only();
    dnp.allow_addresses(10, 13).expect("range");
    assert_eq!(c.dnp3_profiles, [dnp]);
    assert_eq!(c.conduits[0].rule_profiles, vec![1, 1, 0]);
    let inspected: Vec<(u16, u8, u16)> = c
        .conduit_entries
        .iter()
        .filter(|(_, a)| a.profile_id != 0)
        .map(|(k, a)| (k.value, a.inspector, a.profile_id))
        .collect();
    assert_eq!(
        inspected,
        [(2404, inspector::IEC104, 1), (20000, inspector::DNP3, 1)]
    );
    let (code, out, err) = zcfw(&[
        "check",
        &policies_dir().join("substation.yaml").to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("2 inspected rules (1 IEC 104 profile, 1 DNP3 profile, "),
        "{out}"
    );
}

fn zcfw(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zcfw"))
        .args(args)
        .output()
        .expect("run zcfw");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_and_compile_commands() {
    let dir = policies_dir();
    let plant = dir.join("purdue-plant.yaml");
    let plant = plant.to_string_lossy();
    let (code, out, err) = zcfw(&["check", &plant]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "policy \"plant-a\" is valid: 5 zones, 6 conduits, 3 interfaces, 3 inspected rules (2 Modbus profiles, 1 OPC UA profile, "
        ),
        "{out}"
    );

    let bad = dir.join("invalid/undefined-zone.yaml");
    let (code, out, err) = zcfw(&["check", &bad.to_string_lossy()]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains(
            ":18:9: error: conduit \"office-reads-plant\" refers to undefined zone \"plnat\""
        ),
        "{err}"
    );
    assert!(err.contains("  --> key: conduits[0].to"), "{err}");
    assert!(err.contains("  = help: did you mean \"plant\"?"), "{err}");

    let (code, _, err) = zcfw(&["check", "/nonexistent/zcfw-policy.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read policy file"), "{err}");

    let (code, out, err) = zcfw(&["compile", &plant, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["name"], "plant-a");
    assert!(
        doc["conduit_entries"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert!(doc["zone_entries"].as_array().is_some_and(|a| a.len() == 7));

    assert_eq!(doc["modbus_profiles"][1]["max_quantity"], 125);
    assert_eq!(
        doc["opcua_profiles"][0]["security_policies"],
        serde_json::json!(["Basic256Sha256"])
    );
    assert_eq!(
        doc["opcua_profiles"][0]["services"][0]["name"],
        "find_servers"
    );
    assert_eq!(doc["opcua_profiles"][0]["encrypted_bodies"], "judged");
    assert_eq!(
        doc["modbus_profiles"][0]["unit_ids"],
        serde_json::json!([[1, 2]])
    );

    let (code, out, _) = zcfw(&["compile", &plant]);
    assert_eq!(code, 0);
    assert!(out.contains("conduit entries ("), "{out}");
    assert!(out.contains("inspection profiles (3):"), "{out}");
    assert!(
        out.contains("used by         dmz -> control tcp 502 (conduit 2 historian-reads-plcs)"),
        "{out}"
    );
    assert!(
        out.contains("    1  opcua\n         policies        Basic256Sha256\n"),
        "{out}"
    );
    assert!(
        out.contains("used by         dmz -> control tcp 4840 (conduit 2 historian-reads-plcs)"),
        "{out}"
    );

    // A policy with a Modbus mistake: the diagnostic names the key and the fix.
    let bad = dir.join("invalid/modbus-unknown-function.yaml");
    let (code, _, err) = zcfw(&["check", &bad.to_string_lossy()]);
    assert_eq!(code, 1);
    assert!(
        err.contains(":24:23: error: unknown Modbus function \"read_holding_register\""),
        "{err}"
    );
    assert!(
        err.contains("  --> key: conduits[0].rules[0].modbus.functions[0]"),
        "{err}"
    );
    assert!(
        err.contains("  = help: did you mean \"read_holding_registers\"?"),
        "{err}"
    );

    let (code, out, _) = zcfw(&["compile", &bad.to_string_lossy(), "--format", "json"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
}

#[test]
fn factory_line_compiles_to_what_its_comments_promise() {
    use firewall_common::{
        bacnet::BacnetProfile,
        enip::{Target, service},
        maps::inspector,
    };
    let path = policies_dir().join("factory-line.yaml");
    let p = policy::load_file(&path).expect("valid");
    let c = compile::compile(&p).expect("compiles");
    let inspected: Vec<(u8, u16, u8, u16)> = c
        .conduit_entries
        .iter()
        .filter(|(_, a)| a.profile_id != 0)
        .map(|(k, a)| (k.proto, k.value, a.inspector, a.profile_id))
        .collect();
    assert_eq!(
        inspected,
        [
            (6, 102, inspector::S7COMM, 1),
            (6, 44818, inspector::ENIP, 1),
            (17, 47808, inspector::BACNET, 1)
        ]
    );
    // S7: reads of DB 100-199 and the process image through rack 0; nothing else.
    let [s7] = c.s7comm_profiles.as_slice() else {
        panic!("one S7comm profile: {:?}", c.s7comm_profiles)
    };
    assert!(s7.allows_function(0x04) && s7.allows_function(0xF0));
    for write_stop_or_download in [0x05, 0x29, 0x28, 0x1A, 0x1B, 0x1C, 0x1D] {
        assert!(
            !s7.allows_function(write_stop_or_download),
            "{write_stop_or_download:#x}"
        );
    }
    assert!(s7.allows_tsap(Some(0x0102)) && !s7.allows_tsap(Some(0x0200)));
    assert!(s7.allows_item(0x84, 150) && !s7.allows_item(0x84, 1) && !s7.allows_item(0x84, 200));
    // EtherNet/IP: tag and identity reads; no write, Reset, Set_Attribute or connection.
    let [enip] = c.enip_profiles.as_slice() else {
        panic!("one EtherNet/IP profile: {:?}", c.enip_profiles)
    };
    assert!(enip.allows_service(0x4C, Target::Tag) && enip.allows_service(0x0E, Target::Any));
    assert!(!enip.allows_service(0x4D, Target::Tag));
    assert!(!enip.allows_service(service::FORWARD_OPEN, Target::ConnectionManager));
    assert!(!enip.allows_service(0x05, Target::Any) && !enip.allows_service(0x10, Target::Any));
    assert!(enip.allows_class(Some(1), false) && enip.allows_class(None, true));
    assert!(!enip.allows_class(Some(6), false) && !enip.allows_class(None, false));
    // BACnet: the reads plus subscribe_cov; no write, reinitialize or DCC.
    let mut bacnet = BacnetProfile::read_only();
    bacnet.confirmed.insert(5);
    assert_eq!(c.bacnet_profiles, [bacnet]);
    assert!(!bacnet.confirmed.contains(15) && !bacnet.confirmed.contains(17));
    let (code, out, err) = zcfw(&["check", &path.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "3 inspected rules (1 S7comm profile, 1 EtherNet/IP profile, 1 BACnet profile, "
        ),
        "{out}"
    );
}
