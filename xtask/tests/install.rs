//! `cargo xtask install --destdir DIR` end to end: the real task (files, `zcfw check` of the
//! installed policy, next steps) staged into a temporary tree.
//!
//! Under `cargo xtask test`, `ZCFW_BIN` names the release binary that run built, and it is
//! installed with `--bin`, so that the test judges exactly that binary and never rebuilds
//! midway. Without it (`cargo test -p xtask`), the first install builds as a user's would.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// A temporary staging tree, removed on drop (also when the test panics).
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("xtask-it-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        Tree(dir)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn xtask_install(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("install")
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("run xtask");
    eprintln!(
        "--- xtask install {args:?}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn install_into_destdir_stages_binary_unit_and_policy_and_keeps_a_users_policy() {
    let tree = Tree::new("install");
    let dest = tree.0.join("root");
    let dest_arg = dest.to_str().expect("utf-8 temp dir");

    // First install: binary, unit, example policy; the example passes `zcfw check`.
    let prebuilt = std::env::var("ZCFW_BIN").ok();
    let mut args = vec!["--destdir", dest_arg];
    if let Some(bin) = &prebuilt {
        args.extend(["--bin", bin.as_str()]);
    }
    let first = xtask_install(&args);
    assert!(first.status.success(), "first install failed");
    let bin = dest.join("usr/local/bin/zcfw");
    let unit = dest.join("etc/systemd/system/zcfw.service");
    let policy = dest.join("etc/zcfw/policy.yaml");
    let meta = fs::metadata(&bin).expect("binary installed");
    assert_eq!(meta.permissions().mode() & 0o777, 0o755);
    let version = Command::new(&bin)
        .arg("--version")
        .output()
        .expect("run installed zcfw");
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("zcfw "));
    let unit_text = fs::read_to_string(&unit).expect("unit installed");
    assert_eq!(
        unit_text,
        fs::read_to_string(repo_root().join("packaging/zcfw.service")).expect("unit source"),
        "with the default prefix the unit is installed as it is"
    );
    let example = fs::read_to_string(repo_root().join("packaging/policy.yaml")).expect("example");
    let policy_text = fs::read_to_string(&policy).expect("policy installed");
    assert!(policy_text.ends_with(&example));
    let out = stdout(&first);
    assert!(
        out.contains("is valid"),
        "the installed policy was not checked"
    );
    assert!(out.contains("systemctl enable --now zcfw"));
    assert!(out.contains("journalctl -u zcfw"));
    assert!(
        !out.contains("$ systemctl daemon-reload"),
        "--destdir must leave systemd alone"
    );

    // Second install, other prefix: the user's (valid) policy stays byte for byte; the binary
    // and the unit follow the prefix.
    let mine =
        fs::read_to_string(repo_root().join("policies/purdue-plant.yaml")).expect("a valid policy");
    let mine = format!("# my gateway\n{mine}");
    fs::write(&policy, &mine).expect("user policy");
    // The binary just installed, so that later installs do not build again.
    let staged_bin = tree.0.join("zcfw");
    fs::copy(&bin, &staged_bin).expect("copy the installed binary");
    let staged_bin = staged_bin.to_str().expect("utf-8 temp dir");
    let second = xtask_install(&[
        "--destdir",
        dest_arg,
        "--prefix",
        "/usr",
        "--bin",
        staged_bin,
    ]);
    assert!(second.status.success(), "second install failed");
    assert_eq!(fs::read_to_string(&policy).expect("policy"), mine);
    assert!(stdout(&second).contains("never overwritten"));
    assert!(dest.join("usr/bin/zcfw").is_file());
    let unit_text = fs::read_to_string(&unit).expect("unit");
    assert!(
        unit_text
            .contains("\nExecStart=/usr/bin/zcfw run --policy /etc/zcfw/policy.yaml $ZCFW_OPTS\n")
    );
    assert!(unit_text.contains("\nExecReload=/usr/bin/zcfw reload\n"));

    // An invalid policy is kept too, and the install says so with exit 1.
    fs::write(&policy, "version: 1\nname: broken\nzones: 42\n").expect("broken policy");
    let third = xtask_install(&["--destdir", dest_arg, "--bin", staged_bin]);
    assert_eq!(third.status.code(), Some(1));
    assert_eq!(
        fs::read_to_string(&policy).expect("policy"),
        "version: 1\nname: broken\nzones: 42\n"
    );
    assert!(String::from_utf8_lossy(&third.stderr).contains("not a valid policy"));
}

#[test]
fn bad_prefix_and_missing_root_are_refused_before_building() {
    let is_root = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false);
    // Only a relative prefix is refused before anything is touched, root or not.
    let bad = xtask_install(&["--prefix", "usr/local", "--destdir", "/nonexistent"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("absolute"));
    if !is_root {
        let refused = xtask_install(&[]);
        assert_eq!(refused.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("--destdir"));
    }
}
