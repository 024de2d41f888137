//! CLI output edge cases that need the real binary.

use std::{os::unix::process::ExitStatusExt, path::Path, process::Command};

/// `zcfw … | head` closes the pipe early: the command ends quietly (killed by SIGPIPE like any
/// Unix tool), never with a Rust panic about a failed print.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/purdue-plant.yaml");
    let policy = policy.to_str().expect("a UTF-8 checkout path");
    for args in [vec!["audit", policy], vec!["compile", policy]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_zcfw"))
            .args(&args)
            .stdout(writer)
            .output()
            .expect("run zcfw");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "zcfw {args:?}: {stderr}");
        assert_eq!(
            out.status.signal(),
            Some(nix::sys::signal::Signal::SIGPIPE as i32),
            "zcfw {args:?}: {:?} {stderr}",
            out.status
        );
    }
}

fn zcfw(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::{io::Write, process::Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_zcfw"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run zcfw");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("zcfw output")
}

fn policy_path(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policies")
        .join(name)
        .to_str()
        .expect("a UTF-8 checkout path")
        .to_owned()
}

/// `zcfw diff` exits like diff(1): 0 same, 1 different, 2 trouble; `-` reads stdin.
#[test]
fn diff_exit_codes_and_stdin() {
    let minimal = policy_path("minimal.yaml");
    let src = std::fs::read_to_string(&minimal).expect("minimal policy");
    let out = zcfw(&["diff", &minimal, &minimal], None);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let wider = src.replace("ports: [502]", "ports: [502, 503]");
    let out = zcfw(&["diff", &minimal, "-"], Some(&wider));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("conduit office-reads-plant\n  + opens   rule 1 (tcp 502, 503): ports +503"),
        "{text}"
    );
    let out = zcfw(&["diff", "--format", "json", &minimal, "-"], Some(&wider));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(json["new"]["origin"], "<stdin>");
    assert_eq!(json["changes"][0]["items"][0], "503");
    // An invalid policy is trouble (2), not a difference (1).
    let out = zcfw(&["diff", &minimal, "-"], Some("version: 1\nnmae: x\n"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown key \"nmae\""));
    let out = zcfw(&["diff", "-", "-"], None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// `zcfw check -` reads stdin; `--format json` and `--format sarif` keep the exit codes and
/// list every unknown key.
#[test]
fn check_stdin_and_machine_formats() {
    let src = std::fs::read_to_string(policy_path("minimal.yaml")).expect("minimal policy");
    let out = zcfw(&["check", "-"], Some(&src));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("<stdin>: policy \"minimal\" is valid")
    );
    let out = zcfw(&["check", "--format", "json", "-"], Some(&src));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["valid"], true);
    assert_eq!(json["summary"]["conduits"], 1);

    let bad = src
        .replace("name: minimal", "nmae: minimal")
        .replace("    from: office", "    form: office");
    let out = zcfw(&["check", "--format", "json", "-"], Some(&bad));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["valid"], false);
    let diags = json["diagnostics"].as_array().expect("diagnostics");
    let keys: Vec<&str> = diags.iter().filter_map(|d| d["key"].as_str()).collect();
    assert_eq!(keys, ["nmae", "conduits[0].form"], "{json}");
    assert_eq!(diags[1]["line"], 11);
    assert_eq!(diags[1]["column"], 5);
    assert_eq!(diags[1]["severity"], "error");
    assert_eq!(diags[1]["fix"][0], "did you mean \"from\"?");

    let out = zcfw(&["check", "--format", "sarif", "-"], Some(&bad));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().map(Vec::len),
        Some(2)
    );
}

/// `zcfw compile` gives every rule its id, in file order across conduits: in the text listing
/// (each rule and each entry) and in the JSON (`rule_ids`, each entry's `rule`).
#[test]
fn compile_lists_rule_ids() {
    let policy = policy_path("minimal.yaml");
    let out = zcfw(&["compile", &policy], None);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("         rule 1: tcp 502\n"), "{text}");
    assert!(
        text.contains("-> conduit 1 office-reads-plant rule 1"),
        "{text}"
    );
    let out = zcfw(&["compile", &policy, "--format", "json"], None);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("compile JSON");
    assert_eq!(json["conduits"][0]["rule_ids"], serde_json::json!([1]));
    assert!(
        json["conduit_entries"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["rule"] == 1),
        "{json}"
    );
}
