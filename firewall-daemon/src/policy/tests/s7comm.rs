//! `protocol: s7comm`: names, codes, userdata, `read_only`, TSAPs, areas, DB numbers,
//! S7comm-plus, the required block, and the warnings about what changes a PLC.

use firewall_common::s7comm::{S7Profile, Userdata, profile_flags};

use super::*;

fn block(opts: &str) -> String {
    with_rule(&format!("{{ protocol: s7comm, s7comm: {{ {opts} }} }}"))
}

fn s7(src: &str) -> (ValidatedPolicy, S7Profile) {
    let p = ok(src);
    let profile = match &p.conduits()[0].rules[1] {
        Rule::S7comm { profile, .. } => *profile,
        other => panic!("rule 1 is {other:?}"),
    };
    (p, profile)
}

#[test]
fn read_only_and_tsaps() {
    let (p, profile) = s7(&block(
        "read_only: true, tsaps: [0x0102, \"0x0300-0x0302\"]",
    ));
    assert!(p.warnings().is_empty(), "{:?}", warning_texts(&p));
    let mut want = S7Profile::read_only();
    want.allow_tsaps(0x0102, 0x0102).unwrap();
    want.allow_tsaps(0x0300, 0x0302).unwrap();
    assert_eq!(profile, want);
    let rule = &p.conduits()[0].rules[1];
    assert_eq!(rule.to_string(), "s7comm 102");
    assert_eq!(rule.protocol(), Protocol::S7comm);
    assert_eq!(rule.inspector(), firewall_common::maps::inspector::S7COMM);
    assert_eq!(rule.points(), vec![(0x06_0066, 0x06_0066)]);
    let (p, profile) = s7(&block("read_only: true"));
    assert!(p.warnings().is_empty(), "{:?}", warning_texts(&p));
    assert_eq!(profile, S7Profile::read_only());
}

#[test]
fn names_codes_userdata_and_warnings() {
    let (p, profile) = s7(&block(
        "functions: [setup_communication, READ_VAR, 0x05, plc_control, 41], userdata: [szl_read, clock_set, 5], areas: [db, merker], db_numbers: [1, \"10-20\"], s7comm_plus: allow",
    ));
    for code in [0xF0, 0x04, 0x05, 0x28, 0x29] {
        assert!(profile.allows_function(code), "{code:#x}");
    }
    assert!(!profile.allows_function(0x1A));
    assert!(profile.allows_userdata(4, 1) && profile.allows_userdata(7, 2));
    assert!(!profile.allows_userdata(7, 1));
    assert!(profile.allows_userdata(5, 77));
    assert_eq!(profile.userdata_groups, 1 << 5);
    assert!(profile.allows_item(0x84, 15) && !profile.allows_item(0x84, 2));
    assert!(profile.allows_item(0x83, 0) && !profile.allows_item(0x82, 0));
    assert!(profile.flags & profile_flags::S7COMM_PLUS != 0);
    let w = warning_texts(&p);
    for text in [
        "write_var (0x05) is write var",
        "pi_service (0x28) is a PI service",
        "plc_stop (0x29) is PLC stop",
        "userdata `clock_set`",
        "userdata `security`",
        "S7comm-plus passes uninspected",
    ] {
        assert!(w.iter().any(|m| m.contains(text)), "{text:?} in {w:?}");
    }
    assert_eq!(w.len(), 6, "{w:?}");
    // Without setup_communication, write_var without areas.
    let (p, _) = s7(&block("functions: [read_var, write_var]"));
    let w = warning_texts(&p);
    assert!(
        w.iter().any(|m| m.contains("no `setup_communication`")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("write_var to every memory area")),
        "{w:?}"
    );
    // Only userdata: no warning about setup (no `functions`), but a whole group warns.
    let (p, profile) = s7(&block("userdata: [szl_read, 2]"));
    assert_eq!(profile.userdata[2], Userdata::ALL);
    assert!(
        warning_texts(&p)[0]
            .contains("userdata cyclic_data allows every subfunction of function group 2")
    );
    // Areas without read or write var.
    let (p, _) = s7(&block("functions: [setup_communication], areas: [db]"));
    assert!(warning_texts(&p)[0].contains("`areas` has no effect"));
}

#[test]
fn errors() {
    let d = error(
        &block("functions: [read_vars]"),
        "unknown S7 job function \"read_vars\"",
    );
    assert_eq!(d.help[0], "did you mean \"read_var\"?");
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].s7comm.functions[0]")
    );
    let d = error(&block("functions: [szl_read]"), "unknown S7 job function");
    assert!(d.help[0].contains("under `userdata:`"), "{:?}", d.help);
    error(
        &block("userdata: [clock_sett]"),
        "unknown S7 userdata function \"clock_sett\"",
    );
    error(
        &block("userdata: [16]"),
        "userdata function group 16 is out of range",
    );
    error(
        &block("functions: [256]"),
        "S7 function code 256 is out of range",
    );
    let d = error(
        &block("read_only: true, functions: [plc_stop]"),
        "`read_only: true` cannot be combined with plc_stop (0x29), which is not a read",
    );
    assert!(d.help[0].contains("remove `read_only: true`"));
    error(
        &block("read_only: true, userdata: [clock_set]"),
        "cannot be combined with userdata `clock_set`",
    );
    error(&block("functions: []"), "empty function list");
    error(&block("tsaps: [1]"), "S7comm rule allows no function");
    error(
        &block("read_only: true, tsaps: [70000]"),
        "TSAP 70000 is out of range",
    );
    error(
        &block("read_only: true, areas: [dbs]"),
        "unknown S7 memory area \"dbs\"",
    );
    error(
        &block("read_only: true, db_numbers: [\"5-1\"]"),
        "reversed DB number range",
    );
    error(
        &block("read_only: true, s7comm_plus: yes"),
        "invalid s7comm_plus value \"yes\"",
    );
    error(
        &with_rule("{ protocol: s7comm }"),
        "`protocol: s7comm` needs a `s7comm:` block",
    );
    error(
        &with_rule(
            "{ protocol: s7comm, modbus: { unit_ids: [1], read_only: true }, s7comm: { read_only: true } }",
        ),
        "`modbus` options apply only to `protocol: modbus`",
    );
    error(&block("read_only: true, rack: 0"), "unknown key \"rack\"");
}

#[test]
fn pi_services_names_wire_names_and_warnings() {
    use firewall_common::s7comm::{PI_UNKNOWN, pi_service_named};
    let (p, profile) = s7(&block(
        "functions: [setup_communication, pi_service], pi_services: [compress, \"_MODU\", P_PROGRAM, \"_N_LOGIN_\"]",
    ));
    assert!(profile.flags & profile_flags::RESTRICT_PI != 0);
    for name in ["_GARB", "copy_ram_to_rom", "p_program", "_N_LOGIN_"] {
        assert!(
            profile.allows_pi_service(pi_service_named(name).unwrap()),
            "{name}"
        );
    }
    for name in ["delete", "insert", "_N_LOGOUT"] {
        assert!(
            !profile.allows_pi_service(pi_service_named(name).unwrap()),
            "{name}"
        );
    }
    assert!(!profile.allows_pi_service(PI_UNKNOWN as u8));
    // Only p_program warns (it starts the CPU); the function itself no longer warns.
    let w = warning_texts(&p);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("PI service `p_program` (P_PROGRAM): it starts the CPU"),
        "{w:?}"
    );
    // A name and its wire name twice.
    let (p, _) = s7(&block(
        "functions: [setup_communication, pi_service], pi_services: [compress, _GARB]",
    ));
    assert!(warning_texts(&p)[0].contains("PI service `compress` is listed twice"));
    // Without `pi_services`: every PI service passes, and the warning says so and how to
    // narrow it.
    let (p, profile) = s7(&block("functions: [setup_communication, plc_control]"));
    assert_eq!(profile.flags & profile_flags::RESTRICT_PI, 0);
    let d = p
        .warnings()
        .iter()
        .find(|d| d.message.contains("every PI service passes"))
        .expect("the pi_service warning");
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].s7comm.functions[1]")
    );
    assert!(
        d.help[0].contains("pi_services: [compress, copy_ram_to_rom]"),
        "{:?}",
        d.help
    );
}

#[test]
fn pi_services_errors() {
    let d = error(
        &block("functions: [setup_communication, pi_service], pi_services: [compres]"),
        "unknown S7 PI service \"compres\"",
    );
    assert_eq!(d.help[0], "did you mean \"compress\"?");
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].s7comm.pi_services[0]")
    );
    let d = error(
        &block("functions: [setup_communication, read_var], pi_services: [compress]"),
        "`pi_services` needs `pi_service` in `functions`",
    );
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].s7comm.pi_services")
    );
    assert!(
        d.help[0].contains("add `pi_service` to `functions`"),
        "{:?}",
        d.help
    );
    error(
        &block("read_only: true, pi_services: [compress]"),
        "`pi_services` needs `pi_service` in `functions`",
    );
    error(
        &block("functions: [setup_communication, pi_service], pi_services: []"),
        "empty PI service list",
    );
    error(
        &block("functions: [setup_communication, pi_service], pi_services: [\"_N_NOPE\"]"),
        "unknown S7 PI service \"_N_NOPE\"",
    );
}
