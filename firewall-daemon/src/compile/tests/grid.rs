//! IEC 104 and DNP3 rules: profiles per protocol (shared, numbered from 1 per protocol), the
//! inspector of each conduit entry, and what `zcfw compile` shows of them.

use firewall_common::maps::inspector;

use super::*;

const IEC_RO: &str = "{ protocol: iec104, iec104: { read_only: true, common_addresses: [1] } }";
const IEC_CMD: &str = "{ protocol: iec104, ports: [2405], iec104: { type_ids: [C_IC_NA_1, C_SC_NA_1], common_addresses: [\"1-3\"] } }";
const DNP_RO: &str = "{ protocol: dnp3, dnp3: { read_only: true } }";
const MODBUS_RO: &str = "{ protocol: modbus, modbus: { unit_ids: [1], read_only: true } }";

fn mixed() -> CompiledPolicy {
    compiled(&policy(&format!(
        "conduits:\n\
         \x20 - {{ name: x, from: a, to: b, rules: [{IEC_RO}, {DNP_RO}, {MODBUS_RO}, {{ protocol: tcp, ports: [22] }}] }}\n\
         \x20 - {{ name: y, from: c, to: b, rules: [{IEC_CMD}, {IEC_RO}] }}\n\
         \x20 - {{ name: z, from: b, to: a, rules: [{DNP_RO}] }}\n"
    )))
}

/// (port, inspector, profile) of the exact tcp entries of conduit `id`.
fn inspected(c: &CompiledPolicy, id: u16) -> Vec<(u16, u8, u16)> {
    let mut out: Vec<(u16, u8, u16)> = c
        .conduit_entries
        .iter()
        .filter(|(k, a)| a.conduit_id == id && k.proto == 6 && a.profile_id != 0)
        .map(|(k, a)| (k.value, a.inspector, a.profile_id))
        .collect();
    out.sort_unstable();
    out
}

#[test]
fn profiles_are_shared_and_numbered_per_protocol() {
    let c = mixed();
    assert_eq!(c.modbus_profiles.len(), 1);
    assert_eq!(c.iec104_profiles.len(), 2);
    assert_eq!(c.dnp3_profiles.len(), 1);
    // Every protocol starts at id 1; the identical IEC 104 read-only rules share id 1.
    assert_eq!(c.conduits[0].rule_profiles, vec![1, 1, 1, 0]);
    assert_eq!(
        c.conduits[0].rule_inspectors,
        vec![
            inspector::IEC104,
            inspector::DNP3,
            inspector::MODBUS,
            inspector::NONE
        ]
    );
    assert_eq!(c.conduits[1].rule_profiles, vec![2, 1]);
    assert_eq!(c.conduits[2].rule_profiles, vec![1]);
    assert_eq!(
        inspected(&c, 1),
        vec![
            (502, inspector::MODBUS, 1),
            (2404, inspector::IEC104, 1),
            (20000, inspector::DNP3, 1)
        ]
    );
    assert_eq!(
        inspected(&c, 2),
        vec![(2404, inspector::IEC104, 1), (2405, inspector::IEC104, 2)]
    );
    assert_eq!(inspected(&c, 3), vec![(20000, inspector::DNP3, 1)]);
    // Uninspected entries carry no inspector.
    assert!(
        c.conduit_entries
            .iter()
            .all(|(_, a)| (a.profile_id == 0) == (a.inspector == inspector::NONE))
    );
    let cmd = &c.iec104_profiles[1];
    assert!(cmd.type_ids.contains(45) && cmd.type_ids.contains(100) && !cmd.type_ids.contains(103));
    assert!(cmd.allows_common_address(3) && !cmd.allows_common_address(4));
    assert_eq!(
        c.dnp3_profiles[0],
        firewall_common::dnp3::Dnp3Profile::read_only()
    );
    // Each profile is one map entry.
    let without = compiled(&policy(
        "conduits:\n  - { name: x, from: a, to: b, rules: [{ protocol: tcp, ports: [22] }] }\n",
    ));
    assert_eq!(
        c.map_entries() - c.conduit_entries.len() - c.zone_pairs.len(),
        without.map_entries() - without.conduit_entries.len() - without.zone_pairs.len() + 4
    );
}

#[test]
fn compile_output_names_types_functions_and_ranges() {
    let c = mixed();
    let json = render_json(&c);
    let iec = &json["iec104_profiles"];
    assert_eq!(iec[1]["id"], 2);
    assert_eq!(iec[1]["type_ids"][0]["name"], "C_SC_NA_1");
    assert_eq!(iec[1]["type_ids"][1]["code"], 100);
    assert_eq!(iec[1]["common_addresses"], serde_json::json!([[1, 3]]));
    assert_eq!(json["dnp3_profiles"][0]["addresses"], "any");
    assert_eq!(json["dnp3_profiles"][0]["functions"][1]["name"], "read");
    // The entries of a profile are those of its protocol only (ids overlap across protocols).
    let users = |v: &serde_json::Value| -> Vec<u64> {
        v["conduit_entries"]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
            .unwrap_or_default()
    };
    for n in users(&iec[0]) {
        assert_eq!(json["conduit_entries"][n as usize]["inspector"], "iec104");
    }
    assert_eq!(users(&iec[0]).len(), 2);
    assert_eq!(users(&json["dnp3_profiles"][0]).len(), 2);
    assert_eq!(users(&json["modbus_profiles"][0]).len(), 1);
    assert_eq!(
        json["conduits"][0]["rule_inspectors"],
        serde_json::json!(["iec104", "dnp3", "modbus", "none"])
    );
    let text = render_text(&c);
    for want in [
        "iec104 2404  (iec104 inspection profile 1, on violation reset)",
        "dnp3 20000  (dnp3 inspection profile 1, on violation reset)",
        "inspect iec104 profile 2",
        "inspection profiles (4):",
        "    2  iec104",
        "type ids        C_SC_NA_1(45), C_IC_NA_1(100)",
        "common addr.    1-3",
        "    1  dnp3",
        "functions       confirm(0), read(1)",
        "addresses       any outstation",
        "used by         c -> b tcp 2405 (conduit 2 y)",
        "                         c -> b tcp 2404 (conduit 2 y)",
    ] {
        assert!(text.contains(want), "{want:?} missing in:\n{text}");
    }
}

#[test]
fn nft_says_what_it_does_not_check() {
    let p = policy(&format!(
        "conduits:\n  - {{ name: x, from: a, to: b, rules: [{IEC_RO}, {DNP_RO}] }}\n"
    ));
    let out = nft::render_nft(&p, nft::NftStyle::default());
    assert!(out.contains("# iec104: APDU framing"), "{out}");
    assert!(out.contains("# dnp3: link framing and CRCs"), "{out}");
    assert!(out.contains("port rule only"), "{out}");
    assert!(out.contains("tcp dport 2404"), "{out}");
    assert!(out.contains("tcp dport 20000"), "{out}");
}

#[test]
fn too_many_iec104_profiles_is_refused() {
    let limit = capacity::MAX_PROFILES as usize - 1;
    let body = |n: usize| {
        let rules: String = (1..=n)
            .map(|q| {
                format!(
                    "      - {{ protocol: iec104, ports: [{}], iec104: {{ read_only: true, common_addresses: [{q}] }} }}\n",
                    1000 + q
                )
            })
            .collect();
        format!("conduits:\n  - name: x\n    from: a\n    to: b\n    rules:\n{rules}")
    };
    assert_eq!(compiled(&policy(&body(limit))).iec104_profiles.len(), limit);
    match compile(&policy(&body(limit + 1))) {
        Err(e @ CompileError::TooManyProfiles { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("1024 distinct IEC 104 inspection profiles"),
                "{text}"
            );
        }
        other => panic!("expected too many profiles, got {other:?}"),
    }
}
