//! `cargo xtask install`: the release binary, the systemd unit and (only where there is none)
//! an example policy, into PREFIX and /etc, or into a staging tree with `--destdir`.
//!
//! Layout (every path below DESTDIR when one is given):
//! - `PREFIX/bin/zcfw` (default PREFIX `/usr/local`), replaced atomically (a running daemon
//!   keeps its old binary until it is restarted);
//! - `/etc/systemd/system/zcfw.service` from `packaging/zcfw.service`, with `/usr/local/bin/zcfw`
//!   rewritten to `PREFIX/bin/zcfw`; always replaced (local changes belong in drop-ins);
//! - `/etc/zcfw/policy.yaml` from `packaging/policy.yaml` (the commissioning template the Debian
//!   package ships too: monitor mode, drops nothing), only when that file does not exist: a
//!   user's policy is never overwritten.

use std::{
    fs,
    io::Write,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Component, Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, ensure};

use crate::exec::{self, fail};

/// Where the unit file in the repository says the binary is.
pub const UNIT_BIN: &str = "/usr/local/bin/zcfw";
/// The unit file in the repository.
pub const UNIT_SOURCE: &str = "packaging/zcfw.service";
/// Where systemd looks for units installed by the administrator.
pub const UNIT_PATH: &str = "/etc/systemd/system/zcfw.service";
/// The policy the unit runs.
pub const POLICY_PATH: &str = "/etc/zcfw/policy.yaml";
/// The example policy installed where there is none.
pub const EXAMPLE_POLICY: &str = "packaging/policy.yaml";
/// Default installation prefix.
pub const DEFAULT_PREFIX: &str = "/usr/local";

/// Put in front of the template, so that whoever opens the file knows where it came from.
const POLICY_HEADER: &str = "\
# Installed by `cargo xtask install` from packaging/policy.yaml (read on: it is a template).
";

/// Where to install.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Absolute prefix the binary is installed under and the unit refers to.
    pub prefix: PathBuf,
    /// Staging root, or `None` to install into the live system.
    pub destdir: Option<PathBuf>,
}

/// What [`install_files`] did.
#[derive(Debug)]
pub struct Installed {
    /// The installed binary, as a path on this machine (below DESTDIR).
    pub bin: PathBuf,
    /// The installed unit file, as a path on this machine.
    pub unit: PathBuf,
    /// The policy file, as a path on this machine.
    pub policy: PathBuf,
    /// Whether the example policy was written (false: an existing policy was kept).
    pub policy_written: bool,
}

impl Layout {
    /// Checks the prefix (absolute, no `..`, nothing systemd would expand or split) and makes
    /// DESTDIR absolute.
    pub fn new(prefix: &Path, destdir: Option<&Path>) -> Result<Self> {
        ensure!(
            prefix.is_absolute(),
            "--prefix must be an absolute path, not {}",
            prefix.display()
        );
        ensure!(
            !prefix.components().any(|c| c == Component::ParentDir),
            "--prefix must not contain `..`: {}",
            prefix.display()
        );
        let text = prefix.to_str().context("--prefix is not valid UTF-8")?;
        ensure!(
            text.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._+-".contains(c)),
            "--prefix {text:?} holds characters the unit's ExecStart= line would need quoted \
             (use letters, digits and / . _ + -)"
        );
        // `/usr/local/` and `/usr/local` are the same prefix; `/` stays `/`.
        let prefix: PathBuf = prefix.components().collect();
        let destdir = match destdir.filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => Some(
                std::path::absolute(dir)
                    .with_context(|| format!("cannot resolve --destdir {}", dir.display()))?,
            ),
            None => None,
        };
        Ok(Layout { prefix, destdir })
    }

    /// Where the binary is on the target system (what the unit runs).
    pub fn bin_on_target(&self) -> PathBuf {
        self.prefix.join("bin/zcfw")
    }

    /// `path` (absolute, as on the target system) below DESTDIR.
    pub fn staged(&self, path: &Path) -> PathBuf {
        match &self.destdir {
            Some(dir) => dir.join(path.strip_prefix("/").unwrap_or(path)),
            None => path.to_owned(),
        }
    }
}

/// The unit text with the binary path of `layout`.
pub fn render_unit(template: &str, layout: &Layout) -> Result<String> {
    render_unit_for(template, &layout.bin_on_target())
}

/// The unit text running `bin` (an absolute path on the target system), as the Debian
/// package installs it (`/usr/sbin/zcfw`).
pub fn render_unit_for(template: &str, bin: &Path) -> Result<String> {
    let uses = template.matches(UNIT_BIN).count();
    ensure!(
        template.contains(&format!("ExecStart={UNIT_BIN} ")) && uses >= 2,
        "{UNIT_SOURCE} no longer runs {UNIT_BIN} in ExecStart= and ExecReload=; update \
         xtask/src/install.rs with it"
    );
    Ok(template.replace(UNIT_BIN, &bin.to_string_lossy()))
}

/// Copies the binary, the unit and (if absent) the example policy. `root` is the repository.
pub fn install_files(root: &Path, bin: &Path, layout: &Layout) -> Result<Installed> {
    let bin_dest = layout.staged(&layout.bin_on_target());
    let binary = fs::read(bin).with_context(|| format!("cannot read {}", bin.display()))?;
    write_atomically(&bin_dest, &binary, 0o755)?;
    println!("installed {}", bin_dest.display());

    let template = fs::read_to_string(root.join(UNIT_SOURCE))
        .with_context(|| format!("cannot read {UNIT_SOURCE}"))?;
    let unit = render_unit(&template, layout)?;
    let unit_dest = layout.staged(Path::new(UNIT_PATH));
    write_atomically(&unit_dest, unit.as_bytes(), 0o644)?;
    println!("installed {}", unit_dest.display());

    let policy_dest = layout.staged(Path::new(POLICY_PATH));
    let policy_written = install_example_policy(root, &policy_dest)?;
    if policy_written {
        println!(
            "installed {} (the monitor-mode template {EXAMPLE_POLICY}: edit it for this gateway)",
            policy_dest.display()
        );
    } else {
        println!(
            "kept {}: a policy is already there and is never overwritten",
            policy_dest.display()
        );
    }
    Ok(Installed {
        bin: bin_dest,
        unit: unit_dest,
        policy: policy_dest,
        policy_written,
    })
}

/// Writes the example policy to `dest` unless something (even a dangling symlink) is there.
fn install_example_policy(root: &Path, dest: &Path) -> Result<bool> {
    if dest.symlink_metadata().is_ok() {
        return Ok(false);
    }
    let example = fs::read_to_string(root.join(EXAMPLE_POLICY))
        .with_context(|| format!("cannot read {EXAMPLE_POLICY}"))?;
    let dir = dest.parent().context("policy path has no parent")?;
    create_dir(dir, 0o755)?;
    // create_new: should a policy appear between the check and here, it is not clobbered.
    let mut file = match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(dest)
    {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(err) => {
            return Err(err).with_context(|| format!("cannot create {}", dest.display()));
        }
    };
    file.write_all(POLICY_HEADER.as_bytes())
        .and_then(|()| file.write_all(example.as_bytes()))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", dest.display()))?;
    Ok(true)
}

fn create_dir(dir: &Path, mode: u32) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Writes `dest` through a temporary file in the same directory and a rename, so that a
/// running binary is never modified in place ("text file busy") and a reader sees the old or
/// the new file, never half of one.
fn write_atomically(dest: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = dest.parent().context("destination has no parent")?;
    create_dir(dir, 0o755)?;
    let name = dest
        .file_name()
        .context("destination has no file name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.xtask-{}", std::process::id()));
    let written = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        // The mode given to open() is filtered by the umask; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&tmp, dest)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot write {}", dest.display()))
}

/// Whether systemd is the running init (as `sd_booted()` decides).
pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The whole task once the binary exists: files, `zcfw check`, `systemctl daemon-reload`,
/// next steps. Fails (after installing) when the installed policy is invalid.
pub fn install(root: &Path, bin: &Path, layout: &Layout) -> Result<Installed> {
    let installed = install_files(root, bin, layout)?;

    let checked = exec::run(
        Command::new(&installed.bin)
            .arg("check")
            .arg(&installed.policy),
    );

    let live = layout.destdir.is_none() && systemd_running();
    if live {
        exec::run(Command::new("systemctl").arg("daemon-reload"))
            .context("the files are installed but systemd did not reload its units")?;
    } else if layout.destdir.is_some() {
        println!("not running `systemctl daemon-reload`: files were staged under --destdir");
    } else {
        println!("not running `systemctl daemon-reload`: systemd is not running here");
    }
    let running = live
        && exec::probe("systemctl", ["is-active", "zcfw.service"])
            .is_some_and(|s| s.trim() == "active");

    print_next_steps(layout, &installed, running);
    if let Err(err) = checked {
        return Err(fail(
            1,
            format!(
                "installed, but {} is not a valid policy ({err}): fix it and run `zcfw check` \
                 before starting the service",
                installed.policy.display()
            ),
        ));
    }
    Ok(installed)
}

fn print_next_steps(layout: &Layout, installed: &Installed, running: bool) {
    let zcfw = layout.bin_on_target();
    let zcfw = zcfw.display();
    println!();
    if let Some(dir) = &layout.destdir {
        println!(
            "Staged under {}; copy the tree to the gateway, then on it:",
            dir.display()
        );
    } else {
        println!("Next steps:");
    }
    let edit = if installed.policy_written {
        "the installed policy is a monitor-mode template"
    } else {
        "your existing policy was kept"
    };
    println!("  1. edit {POLICY_PATH} ({edit}): zones, conduits and the interfaces to enforce on");
    println!("  2. {zcfw} check {POLICY_PATH}");
    if running {
        println!(
            "  3. systemctl restart zcfw      (zcfw is running the previous binary; the new one \
             adopts the pinned policy without a gap)"
        );
    } else {
        println!("  3. systemctl enable --now zcfw");
    }
    println!("  4. journalctl -u zcfw          (logs and policy diagnostics)");
    println!(
        "Then: `systemctl reload zcfw` applies an edited policy, `systemctl stop zcfw` stops the \
         daemon but keeps the policy enforced (fail closed), and `{zcfw} detach` removes it."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_tree(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-install-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn prefix_is_checked_and_normalised() {
        let layout = Layout::new(Path::new("/opt/zcfw/"), None).expect("valid prefix");
        assert_eq!(layout.bin_on_target(), Path::new("/opt/zcfw/bin/zcfw"));
        assert!(Layout::new(Path::new("usr/local"), None).is_err());
        assert!(Layout::new(Path::new("/usr/../tmp"), None).is_err());
        assert!(Layout::new(Path::new("/opt/my zcfw"), None).is_err());
        assert!(Layout::new(Path::new("/opt/%n"), None).is_err());
        let staged =
            Layout::new(Path::new("/usr"), Some(Path::new("/tmp/stage"))).expect("valid layout");
        assert_eq!(
            staged.staged(Path::new(UNIT_PATH)),
            Path::new("/tmp/stage/etc/systemd/system/zcfw.service")
        );
        // An empty DESTDIR (as `make DESTDIR=`) means the live system.
        let live = Layout::new(Path::new("/usr"), Some(Path::new(""))).expect("valid layout");
        assert!(live.destdir.is_none());
    }

    #[test]
    fn unit_binary_path_follows_the_prefix() {
        let template = fs::read_to_string(crate::repo_root().join(UNIT_SOURCE)).expect("unit file");
        let default = Layout::new(Path::new(DEFAULT_PREFIX), None).expect("layout");
        let same = render_unit(&template, &default).expect("render");
        assert_eq!(same, template);
        let usr = render_unit(
            &template,
            &Layout::new(Path::new("/usr"), None).expect("layout"),
        )
        .expect("render");
        assert!(
            usr.contains(
                "\nExecStart=/usr/bin/zcfw run --policy /etc/zcfw/policy.yaml $ZCFW_OPTS\n"
            )
        );
        assert!(usr.contains("\nExecReload=/usr/bin/zcfw reload\n"));
        assert!(!usr.contains(UNIT_BIN));
        assert!(render_unit("[Service]\nExecStart=/bin/true\n", &default).is_err());
    }

    /// Files land where they belong, with their modes; a second install replaces the binary
    /// and the unit but keeps the policy, also one the user wrote.
    #[test]
    fn stages_files_and_never_overwrites_the_policy() {
        let root = crate::repo_root();
        let tree = temp_tree("files");
        let fake_bin = tree.join("fake-zcfw");
        fs::write(&fake_bin, "#!/bin/sh\necho v1\n").expect("fake binary");
        let layout =
            Layout::new(Path::new("/opt/zcfw"), Some(&tree.join("stage"))).expect("layout");

        let first = install_files(&root, &fake_bin, &layout).expect("first install");
        assert!(first.policy_written);
        assert_eq!(first.bin, tree.join("stage/opt/zcfw/bin/zcfw"));
        let mode = |p: &Path| fs::metadata(p).expect("installed").permissions().mode() & 0o777;
        assert_eq!(mode(&first.bin), 0o755);
        assert_eq!(mode(&first.unit), 0o644);
        let unit = fs::read_to_string(&first.unit).expect("unit");
        assert!(unit.contains("ExecStart=/opt/zcfw/bin/zcfw run"));
        let policy = fs::read_to_string(&first.policy).expect("policy");
        assert!(policy.starts_with(POLICY_HEADER));
        assert!(policy.ends_with(&fs::read_to_string(root.join(EXAMPLE_POLICY)).expect("ex")));

        fs::write(&first.policy, "# mine\n").expect("user edit");
        fs::write(&fake_bin, "#!/bin/sh\necho v2\n").expect("fake binary v2");
        let second = install_files(&root, &fake_bin, &layout).expect("second install");
        assert!(!second.policy_written);
        assert_eq!(
            fs::read_to_string(&second.policy).expect("policy"),
            "# mine\n"
        );
        assert!(fs::read_to_string(&second.bin).expect("bin").contains("v2"));
        // No temporary file is left beside what was replaced.
        let leftovers: Vec<_> = fs::read_dir(second.bin.parent().expect("dir"))
            .expect("bin dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        // A dangling symlink counts as the user's policy too.
        fs::remove_file(&second.policy).expect("rm policy");
        std::os::unix::fs::symlink("/nonexistent/policy.yaml", &second.policy).expect("link");
        let third = install_files(&root, &fake_bin, &layout).expect("third install");
        assert!(!third.policy_written);
        let _ = fs::remove_dir_all(tree);
    }
}
