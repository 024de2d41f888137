//! `cargo xtask package`: the Debian package, `target/debian/zcfw_<version>_<arch>.deb`,
//! built with `dpkg-deb --root-owner-group` from a staged tree (no tool beyond dpkg-dev).
//!
//! Contents (docs/debian.md has the why):
//! - `/usr/sbin/zcfw` (stripped), `/lib/systemd/system/zcfw.service` (packaging/zcfw.service
//!   with `/usr/sbin/zcfw`, rendered by [`install::render_unit_for`]);
//! - conffiles `/etc/zcfw/policy.yaml` (packaging/policy.yaml: a monitor-mode template)
//!   and `/etc/default/zcfw` (`ZCFW_OPTS=`);
//! - man pages `zcfw(8)`, `zcfw-<command>(8)` (rendered by the binary, `zcfw man`) and
//!   `zcfw-policy(5)` (packaging/zcfw-policy.5), gzip -9n;
//! - bash, zsh and fish completions (`zcfw completions SHELL`);
//! - `/usr/share/doc/zcfw`: copyright (DEP-5), changelog.Debian.gz, README and docs/, and
//!   `examples/` (the example policies, the metrics drop-in);
//! - maintainer scripts from packaging/debian (groups; no start on install; no detach on
//!   upgrade; detach on remove; purge removes the configuration).
//!
//! The man pages and completions come from a binary that runs here (the host build): for a
//! cross-built package they are the same text, as both binaries are built from this tree.

use std::{
    fs,
    io::Write,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail, ensure};

use crate::{
    Ctx, cargo_program,
    exec::{self, fail},
    install,
};

/// Where the binary is in the package.
pub const BIN: &str = "/usr/sbin/zcfw";
/// Where the unit is in the package (Debian's location for packaged units).
pub const UNIT: &str = "/lib/systemd/system/zcfw.service";
/// The package's files besides the unit (maintainer scripts, conffiles).
const DEBIAN_DIR: &str = "packaging/debian";
/// The policy-format page, hand-written roff.
const POLICY_PAGE: &str = "packaging/zcfw-policy.5";
/// Example policies shipped in /usr/share/doc/zcfw/examples.
const EXAMPLES: &[&str] = &[
    "policies/minimal.yaml",
    "policies/demo-plant.yaml",
    "policies/purdue-plant.yaml",
    "policies/substation.yaml",
    "policies/factory-line.yaml",
    "policies/bridge-cell.yaml",
    "packaging/debian/metrics.conf",
];
/// Documentation shipped in /usr/share/doc/zcfw.
const DOCS: &[&str] = &[
    "README.md",
    "docs/debian.md",
    "docs/service.md",
    "docs/audit.md",
    "docs/modbus.md",
    "docs/iec104.md",
    "docs/dnp3.md",
    "docs/s7comm.md",
    "docs/bacnet.md",
    "docs/enip.md",
    "docs/opcua.md",
    "docs/events.md",
    "docs/events.schema.json",
    "docs/capture.md",
    "docs/learn.md",
    "docs/bridge.md",
    "docs/fast-path.md",
];
/// Maintainer, unless DEBFULLNAME / DEBEMAIL say otherwise.
const DEFAULT_MAINTAINER: &str = "zcfw developers <zcfw@users.noreply.github.com>";

/// What to build.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Debian architecture (`amd64`, `arm64`); the build machine's when `None`.
    pub arch: Option<String>,
    /// Package version; the binary's (`zcfw --version`) with Debian revision `-1` when `None`.
    pub version: Option<String>,
    /// Package this binary instead of building one (it must be for `arch`).
    pub bin: Option<PathBuf>,
}

/// A Debian architecture this task can build for.
struct Arch {
    debian: String,
    /// The Rust target to cross-build for, `None` for the build machine's own.
    rust_target: Option<&'static str>,
    /// binutils prefix of the cross tools (`aarch64-linux-gnu-`), empty for native.
    tool_prefix: &'static str,
    /// qemu user-mode emulator that runs the cross-built binary here (qemu-user-static).
    qemu: &'static str,
}

fn host_arch() -> Result<String> {
    exec::probe("dpkg", ["--print-architecture"])
        .map(|s| s.trim().to_owned())
        .context("`dpkg --print-architecture` failed: is this a Debian system?")
}

fn arch(requested: Option<&str>) -> Result<Arch> {
    let host = host_arch()?;
    let debian = requested.unwrap_or(&host).to_owned();
    if debian == host {
        return Ok(Arch {
            debian,
            rust_target: None,
            tool_prefix: "",
            qemu: "",
        });
    }
    match debian.as_str() {
        "arm64" => Ok(Arch {
            debian,
            rust_target: Some("aarch64-unknown-linux-gnu"),
            tool_prefix: "aarch64-linux-gnu-",
            qemu: "qemu-aarch64-static",
        }),
        "amd64" => Ok(Arch {
            debian,
            rust_target: Some("x86_64-unknown-linux-gnu"),
            tool_prefix: "x86_64-linux-gnu-",
            qemu: "qemu-x86_64-static",
        }),
        other => bail!("--arch {other}: this task builds for {host} and arm64 (or amd64)"),
    }
}

/// The built package.
#[derive(Debug)]
pub struct Built {
    pub deb: PathBuf,
    pub version: String,
    pub arch: String,
}

/// Builds the binary when needed, then the package.
pub fn cmd_package(ctx: &Ctx, opts: &Options) -> Result<Built> {
    let arch = arch(opts.arch.as_deref())?;
    // The host binary renders the man pages and completions.
    let host_bin = crate::tasks::build(ctx)?;
    let bin = match (&opts.bin, arch.rust_target) {
        (Some(bin), _) => bin.clone(),
        (None, None) => host_bin.clone(),
        (None, Some(target)) => cross_build(ctx, &arch, target)?,
    };
    let built = build_package(ctx, &arch, &bin, &host_bin, opts.version.as_deref())?;
    if arch.rust_target.is_some() {
        emulated_check(ctx, &arch, &built)?;
    }
    Ok(built)
}

/// A cross-built package, checked here under qemu-user-static: the packaged binary reports
/// its version and accepts the shipped template and every example policy (`zcfw check`).
fn emulated_check(ctx: &Ctx, arch: &Arch, built: &Built) -> Result<()> {
    if exec::find_program(arch.qemu, &[]).is_none() {
        println!(
            "not run under emulation: {} not found (`apt-get install qemu-user-static`)",
            arch.qemu
        );
        return Ok(());
    }
    let stage = ctx
        .target_dir()
        .join(format!("debian/build-{}/debian/zcfw", arch.debian));
    let bin = stage.join(BIN.trim_start_matches('/'));
    let sysroot = format!("/usr/{}", arch.tool_prefix.trim_end_matches('-'));
    let run = |args: &[&Path]| -> Result<Vec<u8>> {
        output_of(
            Command::new(arch.qemu)
                .arg("-L")
                .arg(&sysroot)
                .arg(&bin)
                .args(args),
        )
    };
    let version = run(&[Path::new("--version")])?;
    let version = String::from_utf8_lossy(&version);
    let upstream = built.version.split('-').next().unwrap_or_default();
    ensure!(
        version.trim() == format!("zcfw {upstream}"),
        "the {} binary says {version:?} under {}",
        arch.debian,
        arch.qemu
    );
    println!("{} under {}: {}", arch.debian, arch.qemu, version.trim());
    let mut policies = vec![stage.join(install::POLICY_PATH.trim_start_matches('/'))];
    for path in EXAMPLES.iter().filter(|p| p.ends_with(".yaml")) {
        let name = Path::new(path).file_name().context("example name")?;
        policies.push(stage.join("usr/share/doc/zcfw/examples").join(name));
    }
    for policy in &policies {
        let out = run(&[Path::new("check"), policy])?;
        print!("{}", String::from_utf8_lossy(&out));
    }
    Ok(())
}

/// `cargo build --release --target TARGET` with Debian's cross linker.
fn cross_build(ctx: &Ctx, arch: &Arch, target: &str) -> Result<PathBuf> {
    let linker = format!("{}gcc", arch.tool_prefix);
    if exec::find_program(&linker, &[]).is_none() {
        return Err(fail(
            1,
            format!(
                "{linker} not found: `apt-get install gcc-{}` (and `rustup target add {target}`)",
                arch.tool_prefix.trim_end_matches('-').replace('_', "-")
            ),
        ));
    }
    let env_key = format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_uppercase().replace('-', "_")
    );
    let mut command = Command::new(cargo_program());
    command.current_dir(&ctx.root).env(env_key, &linker).args([
        "build",
        "--release",
        "-p",
        "firewall-daemon",
        "--target",
        target,
    ]);
    if let Some(path) = ctx.path_with_cargo_bin() {
        command.env("PATH", path);
    }
    exec::run(&mut command)?;
    let bin = ctx.target_dir().join(target).join("release/zcfw");
    ensure!(bin.is_file(), "{} was not built", bin.display());
    Ok(bin)
}

/// The version the binary reports (`zcfw 0.1.0` → `0.1.0`).
fn binary_version(bin: &Path) -> Result<String> {
    let out = exec::probe(bin, ["--version"])
        .with_context(|| format!("`{} --version` failed", bin.display()))?;
    out.split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .with_context(|| format!("unexpected `zcfw --version` output: {out:?}"))
}

/// A Debian version: digits first, then what dpkg accepts (no epoch, as we never need one).
fn check_version(version: &str) -> Result<()> {
    ensure!(
        version.starts_with(|c: char| c.is_ascii_digit())
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+~-".contains(c)),
        "version {version:?} is not a Debian version (digits first, then letters, digits, . + ~ -)"
    );
    Ok(())
}

/// The commands that get a man page: what `zcfw help` lists, without `help` (hidden helper
/// commands are not listed).
fn commands(doc_bin: &Path) -> Result<Vec<String>> {
    let help = exec::probe(doc_bin, ["help"]).context("`zcfw help` failed")?;
    let mut lines = help.lines().skip_while(|l| l.trim() != "Commands:").skip(1);
    let mut names = Vec::new();
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        if let Some(name) = line.split_whitespace().next()
            && name != "help"
        {
            names.push(name.to_owned());
        }
    }
    ensure!(
        !names.is_empty(),
        "found no commands in `zcfw help`; its format changed, update xtask/src/package.rs"
    );
    Ok(names)
}

fn output_of(command: &mut Command) -> Result<Vec<u8>> {
    let line = exec::shown(command);
    let out = command
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not run `{line}`"))?;
    ensure!(out.status.success(), "`{line}` failed ({})", out.status);
    Ok(out.stdout)
}

/// Writes `bytes` to `path` (parents created) with `mode`.
fn put(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

/// `gzip -9n` of `bytes` (no name, no time stamp: reproducible).
fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut child = Command::new("gzip")
        .args(["-9n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("could not run gzip")?;
    let mut stdin = child.stdin.take().context("gzip stdin")?;
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().context("gzip")?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("gzip writer panicked"))??;
    ensure!(out.status.success(), "gzip failed ({})", out.status);
    Ok(out.stdout)
}

/// Seconds since the epoch of the last commit (SOURCE_DATE_EPOCH when set): the date of the
/// changelog entry and the clamp of every mtime in the package, so builds are reproducible.
fn source_date_epoch(root: &Path) -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .or_else(|| {
            Command::new("git")
                .current_dir(root)
                .args(["log", "-1", "--format=%ct"])
                .output()
                .ok()
                .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        })
        .unwrap_or(0)
}

fn maintainer() -> String {
    match (std::env::var("DEBFULLNAME"), std::env::var("DEBEMAIL")) {
        (Ok(name), Ok(mail)) if !name.is_empty() && !mail.is_empty() => format!("{name} <{mail}>"),
        _ => DEFAULT_MAINTAINER.to_owned(),
    }
}

/// `Depends:` for the binary: dpkg-shlibdeps where it can resolve the libraries (native
/// builds, or a cross build with the target's libc installed), else computed from the ELF:
/// libc6 at the highest GLIBC_ symbol version used, libgcc-s1 when libgcc_s is linked.
fn shlib_depends(build: &Path, staged_bin: &Path, arch: &Arch, tools: &Tools) -> Result<String> {
    if exec::find_program("dpkg-shlibdeps", &[]).is_some() {
        let rel = staged_bin.strip_prefix(build).unwrap_or(staged_bin);
        let out = Command::new("dpkg-shlibdeps")
            .current_dir(build)
            .env("DEB_HOST_ARCH", &arch.debian)
            .arg("-O")
            .arg(rel)
            .stderr(Stdio::null())
            .output();
        if let Ok(out) = out
            && out.status.success()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            if let Some(deps) = text.lines().find_map(|l| l.strip_prefix("shlibs:Depends=")) {
                println!("Depends from dpkg-shlibdeps: {deps}");
                return Ok(deps.trim().to_owned());
            }
        }
        println!("dpkg-shlibdeps could not resolve the libraries; computing Depends from the ELF");
    }
    let versions = output_of(
        Command::new(&tools.readelf)
            .args(["-V", "-W"])
            .arg(staged_bin),
    )?;
    let versions = String::from_utf8_lossy(&versions);
    let glibc = versions
        .split(|c: char| c.is_whitespace())
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let parts: Option<Vec<u32>> = v.split('.').map(|p| p.parse().ok()).collect();
            parts
        })
        .max()
        .context("the binary uses no GLIBC_ symbol version: is it dynamically linked?")?;
    let glibc: Vec<String> = glibc.iter().map(u32::to_string).collect();
    let mut deps = format!("libc6 (>= {})", glibc.join("."));
    let dynamic = output_of(Command::new(&tools.readelf).arg("-d").arg(staged_bin))?;
    if String::from_utf8_lossy(&dynamic).contains("[libgcc_s.so.1]") {
        deps.push_str(", libgcc-s1 (>= 4.2)");
    }
    println!("Depends from the ELF: {deps}");
    Ok(deps)
}

/// binutils for the package's architecture.
struct Tools {
    strip: String,
    readelf: String,
}

/// Stages the tree under `target/debian/build-<arch>` and runs `dpkg-deb --build`.
fn build_package(
    ctx: &Ctx,
    arch: &Arch,
    bin: &Path,
    doc_bin: &Path,
    version: Option<&str>,
) -> Result<Built> {
    // Upstream version and Debian revision 1: a fixed maintainer script can ship as -2.
    let version = match version {
        Some(v) => v.to_owned(),
        None => format!("{}-1", binary_version(doc_bin)?),
    };
    check_version(&version)?;
    let tools = Tools {
        strip: format!("{}strip", arch.tool_prefix),
        // readelf reads any ELF; the native one is enough.
        readelf: "readelf".to_owned(),
    };
    for tool in ["dpkg-deb", "gzip", &tools.strip, &tools.readelf] {
        if exec::find_program(tool, &[]).is_none() {
            return Err(fail(
                1,
                format!("{tool} not found: `cargo xtask setup` installs dpkg-dev and binutils"),
            ));
        }
    }
    let out_dir = ctx.target_dir().join("debian");
    let build = out_dir.join(format!("build-{}", arch.debian));
    match fs::remove_dir_all(&build) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot clear {}", build.display())),
    }
    // dpkg-shlibdeps wants debian/control and the binary inside debian/<package>/.
    let stage = build.join("debian/zcfw");
    let at = |path: &str| stage.join(path.trim_start_matches('/'));
    let src = |path: &str| -> Result<Vec<u8>> {
        fs::read(ctx.root.join(path)).with_context(|| format!("cannot read {path}"))
    };
    put(
        &build.join("debian/control"),
        b"Source: zcfw\n\nPackage: zcfw\nArchitecture: any\n",
        0o644,
    )?;

    // The binary, stripped (the package carries no debug symbols).
    let staged_bin = at(BIN);
    put(
        &staged_bin,
        &fs::read(bin).with_context(|| format!("cannot read {}", bin.display()))?,
        0o755,
    )?;
    exec::run(
        Command::new(&tools.strip)
            .args([
                "--strip-unneeded",
                "--remove-section=.comment",
                "--remove-section=.note",
            ])
            .arg(&staged_bin),
    )?;

    // The unit, running /usr/sbin/zcfw.
    let template = String::from_utf8(src(install::UNIT_SOURCE)?)
        .with_context(|| format!("{} is not UTF-8", install::UNIT_SOURCE))?;
    let unit = install::render_unit_for(&template, Path::new(BIN))?;
    put(&at(UNIT), unit.as_bytes(), 0o644)?;

    // Configuration (conffiles).
    put(
        &at(install::POLICY_PATH),
        &src(install::EXAMPLE_POLICY)?,
        0o644,
    )?;
    put(
        &at("/etc/default/zcfw"),
        &src(&format!("{DEBIAN_DIR}/default"))?,
        0o644,
    )?;

    // Man pages: section 8 (a system daemon and its administration commands) and 5.
    let man8 = at("/usr/share/man/man8");
    let page = output_of(Command::new(doc_bin).arg("man"))?;
    put(&man8.join("zcfw.8.gz"), &gzip(&page)?, 0o644)?;
    for name in commands(doc_bin)? {
        let page = output_of(Command::new(doc_bin).args(["man", &name]))?;
        put(
            &man8.join(format!("zcfw-{name}.8.gz")),
            &gzip(&page)?,
            0o644,
        )?;
    }
    put(
        &at("/usr/share/man/man5/zcfw-policy.5.gz"),
        &gzip(&src(POLICY_PAGE)?)?,
        0o644,
    )?;

    // Shell completions, where Debian's bash-completion, zsh and fish look for them.
    for (shell, path) in [
        ("bash", "/usr/share/bash-completion/completions/zcfw"),
        ("zsh", "/usr/share/zsh/vendor-completions/_zcfw"),
        ("fish", "/usr/share/fish/vendor_completions.d/zcfw.fish"),
    ] {
        let script = output_of(Command::new(doc_bin).args(["completions", shell]))?;
        put(&at(path), &script, 0o644)?;
    }

    // Documentation: files over 4 KiB compressed (Debian policy 12.3).
    let doc = at("/usr/share/doc/zcfw");
    put(
        &doc.join("copyright"),
        &src(&format!("{DEBIAN_DIR}/copyright"))?,
        0o644,
    )?;
    let epoch = source_date_epoch(&ctx.root);
    let changelog = changelog(&version, epoch)?;
    put(
        &doc.join("changelog.Debian.gz"),
        &gzip(changelog.as_bytes())?,
        0o644,
    )?;
    for path in DOCS {
        let bytes = src(path)?;
        let name = Path::new(path)
            .file_name()
            .context("doc name")?
            .to_string_lossy()
            .into_owned();
        if bytes.len() > 4096 {
            put(&doc.join(format!("{name}.gz")), &gzip(&bytes)?, 0o644)?;
        } else {
            put(&doc.join(name), &bytes, 0o644)?;
        }
    }
    put(
        &at("/usr/share/lintian/overrides/zcfw"),
        &src(&format!("{DEBIAN_DIR}/lintian-overrides"))?,
        0o644,
    )?;
    for path in EXAMPLES {
        let name = Path::new(path).file_name().context("example name")?;
        put(&doc.join("examples").join(name), &src(path)?, 0o644)?;
    }

    // Control files.
    let control_dir = stage.join("DEBIAN");
    for script in ["postinst", "prerm", "postrm"] {
        put(
            &control_dir.join(script),
            &src(&format!("{DEBIAN_DIR}/{script}"))?,
            0o755,
        )?;
    }
    put(
        &control_dir.join("conffiles"),
        format!("/etc/default/zcfw\n{}\n", install::POLICY_PATH).as_bytes(),
        0o644,
    )?;
    let depends = shlib_depends(&build, &staged_bin, arch, &tools)?;
    // Before the md5sums and the size: nothing but DEBIAN/ may change after this.
    fs::remove_file(build.join("debian/control")).context("removing the shlibdeps control")?;
    let (md5sums, size_kib) = md5sums_and_size(&stage)?;
    put(&control_dir.join("md5sums"), md5sums.as_bytes(), 0o644)?;
    let control = format!(
        "Package: zcfw\n\
         Version: {version}\n\
         Architecture: {arch}\n\
         Maintainer: {maintainer}\n\
         Installed-Size: {size_kib}\n\
         Depends: {depends}, adduser\n\
         Section: net\n\
         Priority: optional\n\
         Homepage: https://github.com/zcfw/zcfw\n\
         Description: IEC 62443 zone-and-conduit firewall enforced in XDP\n \
         zcfw compiles a YAML policy of zones (with security levels) and conduits\n \
         into eBPF maps and judges every packet at the driver with an XDP program:\n \
         stateful L3/L4 conduits, per-source rate limits and deep inspection of\n \
         Modbus/TCP requests (unit ids, function codes, address ranges).\n \
         .\n \
         The package installs the zcfw daemon and CLI, a hardened systemd unit\n \
         (installed disabled and not started), a monitor-mode policy template in\n \
         /etc/zcfw/policy.yaml, man pages and shell completions. The enforced\n \
         policy outlives the daemon (pinned in bpffs): upgrades hand over without\n \
         a gap, and removing the package detaches the firewall.\n",
        arch = arch.debian,
        maintainer = maintainer(),
    );
    put(&control_dir.join("control"), control.as_bytes(), 0o644)?;
    normalise_dirs(&stage)?;

    let deb = out_dir.join(format!("zcfw_{version}_{}.deb", arch.debian));
    exec::run(
        Command::new("dpkg-deb")
            .env("SOURCE_DATE_EPOCH", epoch.to_string())
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&stage)
            .arg(&deb),
    )?;
    println!("package: {}", deb.display());
    Ok(Built {
        deb,
        version,
        arch: arch.debian.clone(),
    })
}

/// The Debian changelog of a package built from this tree (one entry for this version).
fn changelog(version: &str, epoch: u64) -> Result<String> {
    let date = output_of(Command::new("date").args(["-u", "-R", "-d", &format!("@{epoch}")]))?;
    let date = String::from_utf8_lossy(&date).trim().to_owned();
    Ok(format!(
        "zcfw ({version}) unstable; urgency=medium\n\n  \
         * Built from the zcfw source tree by `cargo xtask package`; the changes\n    \
         are in the project's git history.\n\n \
         -- {}  {date}\n",
        maintainer()
    ))
}

/// `md5sums` (every file outside DEBIAN/, relative paths) and the installed size in KiB.
fn md5sums_and_size(stage: &Path) -> Result<(String, u64)> {
    let mut files = Vec::new();
    collect_files(stage, stage, &mut files)?;
    files.sort();
    let mut bytes = 0u64;
    let mut list = Vec::new();
    for rel in &files {
        let path = stage.join(rel);
        bytes += fs::metadata(&path)?.len().div_ceil(1024) * 1024;
        list.push(rel.to_string_lossy().into_owned());
    }
    let out = output_of(Command::new("md5sum").current_dir(stage).args(&list))?;
    Ok((String::from_utf8_lossy(&out).into_owned(), bytes / 1024))
}

fn collect_files(stage: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let rel = path.strip_prefix(stage).unwrap_or(&path).to_path_buf();
        if rel.starts_with("DEBIAN") {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect_files(stage, &path, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

/// Every directory 0755, whatever the umask made of it.
fn normalise_dirs(dir: &Path) -> Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            normalise_dirs(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_checked() {
        assert!(check_version("0.1.0").is_ok());
        assert!(check_version("0.1.0+pkgtest1").is_ok());
        assert!(check_version("0.1.0~rc1-1").is_ok());
        assert!(check_version("v0.1.0").is_err());
        assert!(check_version("0.1 0").is_err());
        assert!(check_version("1:0.1.0").is_err());
    }

    #[test]
    fn maintainer_scripts_are_executable_shell() {
        let root = crate::repo_root();
        for script in ["postinst", "prerm", "postrm"] {
            let path = root.join(DEBIAN_DIR).join(script);
            let text = fs::read_to_string(&path).expect("script");
            assert!(text.starts_with("#!/bin/sh\n"), "{script}");
            assert!(text.contains("\nset -e\n"), "{script}");
            let status = Command::new("sh")
                .arg("-n")
                .arg(&path)
                .status()
                .expect("sh");
            assert!(status.success(), "{script} does not parse");
        }
    }

    /// What the issue asks of the scripts: no start on install, no detach on upgrade.
    #[test]
    fn upgrade_never_detaches_and_install_never_starts() {
        let root = crate::repo_root().join(DEBIAN_DIR);
        let prerm = fs::read_to_string(root.join("prerm")).expect("prerm");
        let detach = prerm.find("zcfw detach --force;").expect("prerm detaches");
        let remove = prerm.find("    remove)").expect("remove case");
        let upgrade = prerm.find("    upgrade|").expect("upgrade case");
        assert!(
            remove < detach && detach < upgrade,
            "detach only under remove"
        );
        let postinst = fs::read_to_string(root.join("postinst")).expect("postinst");
        assert!(
            !postinst.contains(" start "),
            "postinst must not start the service"
        );
        assert!(postinst.contains("if [ -n \"$2\" ]"));
        assert!(postinst.contains("try-restart 'zcfw.service'"));
    }
}
