//! `zcfw compile --format nft`: every example policy renders in every style, and, where `nft`
//! is installed and we may create a network namespace (root), `nft -c -f` accepts the ruleset
//! (checked against the kernel, nothing is loaded). The namespace (`unshare --net`) holds a
//! veth per policy interface, so the check also passes on kernels that refuse `netdev` hooks
//! on missing devices; it disappears with the `unshare` process.

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use zcfw::{
    compile::nft::{NftStyle, render_nft},
    policy::{self, ValidatedPolicy},
};

const STYLES: [NftStyle; 3] = [NftStyle::Linear, NftStyle::Sets, NftStyle::Conntrack];

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

/// The valid example policies: `policies/*.yaml` and `policies/weak/*.yaml`.
fn examples() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [policies_dir(), policies_dir().join("weak")] {
        for entry in fs::read_dir(&dir).expect("list policies").flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|x| x == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 5, "example policies missing: {files:?}");
    files
}

/// Whether `nft -c` can run here: nft installed and root (a new network namespace).
fn nft_checks() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let nft = Command::new("nft")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !(root && nft) {
        eprintln!("nft -c checks skipped (need root and nft)");
    }
    root && nft
}

/// Runs `nft -c -f -` on `ruleset` in a fresh network namespace with `ifaces` present.
fn nft_check(ruleset: &str, ifaces: &[String]) -> Result<(), String> {
    let mut script = String::from("set -e\n");
    for (i, name) in ifaces.iter().enumerate() {
        script.push_str(&format!(
            "ip link add '{name}' type veth peer name zcfwp{i}\n"
        ));
    }
    script.push_str("exec nft -c -f -\n");
    let mut child = Command::new("unshare")
        .args(["--net", "sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("unshare: {e}"))?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(ruleset.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn iface_names(p: &ValidatedPolicy) -> Vec<String> {
    p.interfaces().iter().map(|i| i.name.clone()).collect()
}

/// Shape every style shares, whatever the policy.
fn check_shape(p: &ValidatedPolicy, style: NftStyle, out: &str) {
    let family = if style == NftStyle::Conntrack {
        "inet"
    } else {
        "netdev"
    };
    assert!(
        out.contains(&format!(
            "table {family} zcfw\ndelete table {family} zcfw\n"
        )),
        "{style:?}: the table must replace itself\n{out}"
    );
    let deny = if p.defaults().mode == policy::Mode::Monitor {
        "accept"
    } else {
        "drop"
    };
    assert!(
        out.contains(&format!("counter {deny} comment \"default_deny\"")),
        "{style:?}: default deny"
    );
    if style == NftStyle::Conntrack {
        assert!(out.contains("ct state established,related accept"));
        assert!(out.contains("ct state new jump conduits"));
    } else {
        for i in p.interfaces() {
            assert!(
                out.contains(&format!("hook ingress device \"{}\"", i.name)),
                "{style:?}: no ingress chain for {}",
                i.name
            );
        }
    }
    let modbus = p
        .conduits()
        .iter()
        .flat_map(|c| &c.rules)
        .any(|r| matches!(r, policy::Rule::Modbus { .. }));
    if modbus && style != NftStyle::Sets {
        assert!(
            out.contains("# modbus:") && out.contains("tcp dport 502"),
            "{style:?}: Modbus rules become commented port rules"
        );
    }
}

#[test]
fn example_policies_render_and_nft_accepts_them() {
    let check = nft_checks();
    let mut failures = Vec::new();
    for path in examples() {
        let p = policy::load_file(&path).expect("example policies are valid");
        for style in STYLES {
            let out = render_nft(&p, style);
            check_shape(&p, style, &out);
            if check && let Err(e) = nft_check(&out, &iface_names(&p)) {
                failures.push(format!("{} ({style:?}): {e}", path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "nft -c refused:\n{}",
        failures.join("\n")
    );
}

/// Rate limits (meters), monitor mode, IPv6-only zones, `any` rules, ICMP without types and
/// zones carved out of other zones.
const EDGE: &str = r#"version: 1
name: edge
defaults: { action: deny, log: denied, mode: monitor }
interfaces:
  - { name: eth0.100, zones: [a, v6] }
  - { name: eth1 }
zones:
  a: { security_level: 1, networks: [10.0.0.0/8] }
  b: { security_level: 2, networks: [10.1.0.0/16, 10.3.0.0/16], intra_zone: allow }
  c: { security_level: 3, networks: [10.1.2.0/24] }
  v6: { security_level: 2, networks: ["fd00:1::/64"] }
  w6: { security_level: 2, networks: ["fd00:2::/64"] }
conduits:
  - name: a-to-b
    from: a
    to: b
    rate_limit: { pps: 500, burst: 100 }
    rules:
      - { protocol: tcp, ports: [22, "1000-2000"] }
      - { protocol: icmp }
  - name: b-to-c
    from: b
    to: c
    mode: monitor
    rules:
      - { protocol: any }
  - name: a-to-c
    from: a
    to: c
    rules:
      - { protocol: udp }
      - { protocol: tcp, ports: [80, 81, 82, "80-90"] }
      - protocol: modbus
        modbus: { unit_ids: [1], read_only: true }
  - name: v6-to-w6
    from: v6
    to: w6
    rules:
      - { protocol: icmpv6, types: [echo-request] }
      - { protocol: icmp, types: [echo-request] }
      - { protocol: tcp, ports: [443] }
"#;

#[test]
fn edge_cases_render_and_nft_accepts_them() {
    let p = policy::load_str(EDGE, "edge.yaml").expect("valid");
    let check = nft_checks();
    for style in STYLES {
        let out = render_nft(&p, style);
        check_shape(&p, style, &out);
        // Monitor mode: nothing is dropped by default.
        assert!(out.contains("counter accept comment \"default_deny\""));
        assert!(
            !out.contains("counter drop"),
            "{style:?}: monitor mode drops\n{out}"
        );
        // Zone a is 10/8 minus b and c: b is 10.1/16 minus c, plus 10.3/16.
        if style == NftStyle::Sets {
            assert!(out.contains("set c4_ports {"));
            assert!(out.contains("set c6_icmp {"));
            assert!(out.contains("10.0.0.0/16 . 10.1.2.0/24 . tcp . 80-90"));
            assert!(out.contains("ip saddr . ip daddr @c4_any accept"));
        } else {
            assert!(out.contains(
                "ip saddr { 10.0.0.0/16, 10.2.0.0/16, 10.4.0.0-10.255.255.255 } ip daddr 10.1.2.0/24 meta l4proto udp accept"
            ));
            assert!(
                out.contains("tcp dport 80-90 accept"),
                "ports merged\n{out}"
            );
        }
        // The rate-limited conduit: a meter per source, logged (monitor), then accept.
        assert!(out.contains("set rl4_c1 {"));
        assert!(out.contains(
            "update @rl4_c1 { ip saddr limit rate over 500/second burst 100 packets } log prefix"
        ));
        // ICMP (v4) rules never apply to IPv6 zones.
        assert!(!out.contains("ip6 saddr fd00:1::/64 ip6 daddr fd00:2::/64 icmp "));
        assert!(
            out.contains("icmpv6 type 128 accept")
                || out.contains("fd00:1::/64 . fd00:2::/64 . 128")
        );
        if check && let Err(e) = nft_check(&out, &iface_names(&p)) {
            panic!("nft -c refused the {style:?} ruleset: {e}\n{out}");
        }
    }
}

#[test]
fn cli_renders_nft_and_refuses_a_style_without_the_format() {
    let zcfw = env!("CARGO_BIN_EXE_zcfw");
    let policy = policies_dir().join("purdue-plant.yaml");
    for style in ["linear", "sets", "conntrack"] {
        let out = Command::new(zcfw)
            .arg("compile")
            .arg(&policy)
            .args(["--format", "nft", "--nft-style", style])
            .output()
            .expect("run zcfw");
        assert!(out.status.success(), "{style}: {out:?}");
        let text = String::from_utf8(out.stdout).expect("utf-8");
        assert!(text.starts_with("#!/usr/sbin/nft -f\n"));
        assert!(text.contains(&format!("style {style}.")));
    }
    let default = Command::new(zcfw)
        .arg("compile")
        .arg(&policy)
        .args(["--format", "nft"])
        .output()
        .expect("run zcfw");
    assert!(default.status.success());
    assert!(String::from_utf8_lossy(&default.stdout).contains("style linear."));
    let refused = Command::new(zcfw)
        .arg("compile")
        .arg(&policy)
        .args(["--nft-style", "sets"])
        .output()
        .expect("run zcfw");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--nft-style needs --format nft"));
}
