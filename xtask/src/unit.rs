//! Checking `packaging/zcfw.service` the way systemd reads it: `systemd-analyze verify` on the
//! unit as `cargo xtask install` installs it (any complaint fails), then the offline
//! `systemd-analyze security` review (informational: the exposure score and what raises it).

use std::{fs, path::Path, process::Command};

use anyhow::{Context, Result};

use crate::{
    Ctx,
    exec::{self, fail},
    install::{self, Layout},
};

/// Stages an install of `bin` under the target directory, then verifies and reviews the unit.
pub fn check(ctx: &Ctx, bin: &Path) -> Result<()> {
    let analyze = exec::find_program("systemd-analyze", &[]).ok_or_else(|| {
        fail(
            1,
            "systemd-analyze not found: it comes with the `systemd` Debian package, which \
             `cargo xtask setup` installs",
        )
    })?;
    let tree = ctx.target_dir().join("xtask/unit-check");
    match fs::remove_dir_all(&tree) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("cannot clear {}", tree.display())),
    }
    let layout = Layout::new(Path::new(install::DEFAULT_PREFIX), Some(&tree))?;
    let installed = install::install_files(&ctx.root, bin, &layout)?;

    // `verify` insists that ExecStart='s binary exists: the copy it reads runs the staged one.
    let unit = fs::read_to_string(&installed.unit)
        .with_context(|| format!("cannot read {}", installed.unit.display()))?;
    let on_target = layout.bin_on_target();
    let unit = unit.replace(
        on_target.to_string_lossy().as_ref(),
        installed.bin.to_string_lossy().as_ref(),
    );
    let verify_dir = tree.join("verify");
    fs::create_dir_all(&verify_dir)
        .with_context(|| format!("cannot create {}", verify_dir.display()))?;
    // The file name is the unit name systemd-analyze reports and resolves dependencies for.
    let copy = verify_dir.join("zcfw.service");
    fs::write(&copy, unit).with_context(|| format!("cannot write {}", copy.display()))?;

    verify(&analyze, &copy)?;
    security(&analyze, &copy);
    Ok(())
}

/// `systemd-analyze verify`: exits 0 even for unknown keys or values it ignores, so any line
/// it prints counts as a problem.
fn verify(analyze: &Path, unit: &Path) -> Result<()> {
    let mut command = Command::new(analyze);
    command.args(["verify", "--man=no"]).arg(unit);
    let line = exec::shown(&command);
    println!("$ {line}");
    exec::flush();
    let output = command
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&output.stderr));
    let said = said.trim();
    if output.status.success() && said.is_empty() {
        println!("{}: no problems", install::UNIT_SOURCE);
        return Ok(());
    }
    eprintln!("{said}");
    Err(fail(
        1,
        format!(
            "`{line}` reported problems with {} ({}): fix the unit",
            install::UNIT_SOURCE,
            output.status
        ),
    ))
}

/// `systemd-analyze security --offline=yes`: prints the settings that add exposure and the
/// overall score. Never fails the run; an old systemd without `--offline` is only noted.
fn security(analyze: &Path, unit: &Path) {
    let mut command = Command::new(analyze);
    command
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit);
    println!("$ {}", exec::shown(&command));
    exec::flush();
    let output = match command.output() {
        Ok(output) => output,
        Err(err) => {
            println!("(security review skipped: {err})");
            return;
        }
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let summary = exposure_summary(&text);
    if summary.is_empty() {
        let err = String::from_utf8_lossy(&output.stderr);
        println!(
            "(security review unavailable here: {})",
            err.lines().next().unwrap_or("no output")
        );
        return;
    }
    println!("settings that add exposure (informational; see the unit's comments for why):");
    for line in summary {
        println!("  {line}");
    }
}

/// The `✗` rows (setting and exposure, without the long description) and the overall line.
fn exposure_summary(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("✗ ") {
            let setting = rest.split_whitespace().next().unwrap_or("");
            let exposure = rest.split_whitespace().last().unwrap_or("");
            out.push(format!("✗ {setting:<40} {exposure}"));
        } else if line.contains("Overall exposure level") {
            out.push(line.trim_start_matches(['→', ' ']).to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// `key -> values` of one section, in file order; later assignments append (as systemd
    /// does for list settings).
    fn section(unit: &str, name: &str) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut inside = false;
        for line in unit.lines().map(str::trim) {
            if line.starts_with('[') {
                inside = line == format!("[{name}]");
            } else if inside && !line.is_empty() && !line.starts_with('#') {
                let (key, value) = line.split_once('=').expect("key=value");
                out.entry(key.to_owned())
                    .or_default()
                    .push(value.to_owned());
            }
        }
        out
    }

    /// The settings the service depends on, so that an edit that would break enforcement
    /// (a private network, a user namespace, no bpf()) or weaken the sandbox fails here.
    #[test]
    fn unit_has_the_settings_the_daemon_needs() {
        let text =
            fs::read_to_string(crate::repo_root().join(install::UNIT_SOURCE)).expect("unit file");
        let service = section(&text, "Service");
        let one = |key: &str| -> &str {
            let values = service.get(key).unwrap_or_else(|| panic!("{key}= missing"));
            assert_eq!(values.len(), 1, "{key}= set more than once");
            &values[0]
        };
        assert_eq!(one("Type"), "notify");
        assert_eq!(
            one("ExecStart"),
            "/usr/local/bin/zcfw run --policy /etc/zcfw/policy.yaml $ZCFW_OPTS"
        );
        assert_eq!(one("EnvironmentFile"), "-/etc/default/zcfw");
        assert_eq!(one("ExecReload"), "/usr/local/bin/zcfw reload");
        assert_eq!(one("Restart"), "on-failure");
        assert_eq!(one("RestartPreventExitStatus"), "1 4");
        assert_eq!(one("RuntimeDirectory"), "zcfw");
        // The socket in it is 0660, group zcfw: members must reach it.
        assert_eq!(one("RuntimeDirectoryMode"), "0755");
        assert_eq!(one("LimitNOFILE"), "65536");
        let caps = "CAP_BPF CAP_NET_ADMIN CAP_PERFMON";
        assert_eq!(one("CapabilityBoundingSet"), caps);
        assert_eq!(one("AmbientCapabilities"), caps);
        assert_eq!(one("ProtectSystem"), "strict");
        assert_eq!(one("ReadWritePaths"), "/sys/fs/bpf");
        assert_eq!(one("RestrictAddressFamilies"), "AF_UNIX AF_NETLINK");
        assert_eq!(one("SystemCallFilter"), "@system-service bpf");
        assert_eq!(one("SystemCallArchitectures"), "native");
        for key in [
            "NoNewPrivileges",
            "ProtectHome",
            "PrivateTmp",
            "PrivateDevices",
            "ProtectKernelModules",
            "ProtectKernelLogs",
            "ProtectControlGroups",
            "ProtectClock",
            "ProtectHostname",
            "RestrictNamespaces",
            "RestrictRealtime",
            "RestrictSUIDSGID",
            "LockPersonality",
            "MemoryDenyWriteExecute",
        ] {
            assert_eq!(one(key), "yes", "{key}=");
        }
        // These would detach the firewall from the host it protects, or (ProtectKernelTunables=
        // up to systemd 257) make the pins read-only whatever ReadWritePaths= says.
        for key in [
            "PrivateNetwork",
            "PrivateUsers",
            "User",
            "DynamicUser",
            "ProtectKernelTunables",
        ] {
            assert!(!service.contains_key(key), "{key}= breaks XDP/bpf");
        }
        // What ProtectKernelTunables= would have made read-only, the pins excepted.
        let read_only: Vec<&str> = service["ReadOnlyPaths"]
            .iter()
            .flat_map(|v| v.split_whitespace())
            .collect();
        for path in ["/sys", "/proc/sys", "-/proc/sysrq-trigger"] {
            assert!(read_only.contains(&path), "ReadOnlyPaths= lacks {path}");
        }
        let unit = section(&text, "Unit");
        assert_eq!(
            unit.get("AssertPathIsMountPoint").map(Vec::as_slice),
            Some(&["/sys/fs/bpf".to_owned()][..])
        );
        let install = section(&text, "Install");
        assert_eq!(
            install.get("WantedBy").map(Vec::as_slice),
            Some(&["multi-user.target".to_owned()][..])
        );
    }

    /// `systemd-analyze verify` exits 0 on a setting it ignores; `verify` must fail anyway.
    #[test]
    fn verify_fails_on_what_systemd_ignores() {
        let Some(analyze) = exec::find_program("systemd-analyze", &[]) else {
            eprintln!("systemd-analyze not installed; skipping");
            return;
        };
        let dir = std::env::temp_dir().join(format!("xtask-verify-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let good = dir.join("good.service");
        fs::write(&good, "[Service]\nExecStart=/bin/true\n").expect("write");
        assert!(verify(&analyze, &good).is_ok());
        let bad = dir.join("bad.service");
        fs::write(
            &bad,
            "[Service]\nExecStart=/bin/true\nProtectSystem=bogus\nNoSuchKey=1\n",
        )
        .expect("write");
        assert!(verify(&analyze, &bad).is_err());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn summarises_security_output() {
        let text = "  NAME   DESCRIPTION   EXPOSURE\n\
                    ✓ SystemCallFilter=~@swap     System call allow list defined\n\
                    ✗ PrivateNetwork=             Service has access to the host's network      0.5\n\
                    \n\
                    → Overall exposure level for zcfw.service: 1.9 OK 🙂\n";
        assert_eq!(
            exposure_summary(text),
            vec![
                format!("✗ {:<40} 0.5", "PrivateNetwork="),
                "Overall exposure level for zcfw.service: 1.9 OK 🙂".to_owned()
            ]
        );
    }
}
