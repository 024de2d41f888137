//! `cargo xtask setup`: every prerequisite of building and testing zcfw on Debian 12, checked
//! one by one and installed only where missing, so a second run is a fast no-op.
//!
//! Steps, in order (later ones need earlier ones): Debian packages, the stable toolchain's
//! clippy and rustfmt, the nightly toolchain (cannot be installed here), its `rust-src`
//! (rustup, or a `rust-src-nightly-*.tar.xz` kept beside the repo), bpf-linker 0.13 built
//! against LLVM 22, bpffs at /sys/fs/bpf, and the Python venv of the test peers.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::{
    Ctx,
    exec::{self, fail, probe},
};

/// Debian packages the build needs (bpf-linker links LLVM 22; xz unpacks the rust-src tarball).
const APT_BUILD: &[&str] = &["llvm-22-dev", "libpolly-22-dev", "xz-utils"];
/// Debian packages the tests, the demo and the benchmark need.
const APT_TEST: &[&str] = &[
    "bpftool",
    "iproute2",
    "iputils-ping",
    "nftables",
    "tcpdump",
    // Reads the captures of tests/tests/exception.rs (checksums, TCP analysis, Modbus fields).
    "tshark",
    // `dot`, which renders `zcfw audit --format dot` in firewall-daemon/tests/audit.rs.
    "graphviz",
    // promtool (`promtool check metrics`), which lints the /metrics output in the unit tests
    // of daemon/metrics and tests/tests/observability.rs.
    "prometheus",
    "ethtool",
    "netcat-openbsd",
    "python3-scapy",
    "python3-pip",
    "python3-venv",
    // systemd-analyze, which verifies packaging/zcfw.service (systemd need not be running).
    "systemd",
    // `cargo xtask package` (dpkg-deb, dpkg-shlibdeps, strip, readelf) and `package-test`
    // (the clean Debian 12 root) and lintian, which checks the package.
    "dpkg-dev",
    "binutils",
    "mmdebstrap",
    "lintian",
];

const LLVM_PREFIX: &str = "/usr/lib/llvm-22";
const BPF_LINKER_VERSION: &str = "0.13.0";
const BPFFS: &str = "/sys/fs/bpf";
/// Debian's python, which sees python3-scapy (the `python3` on PATH may be another one).
const SYSTEM_PYTHON: &str = "/usr/bin/python3";
/// The Python test peers, from PyPI: Modbus (pymodbus), IEC 60870-5-104 (c104, a binary
/// wheel of lib60870), DNP3 (dnp3-simulation, pure Python), S7comm (python-snap7 3.x, pure
/// Python, its `snap7.Server` the PLC), BACnet/IP (bacpypes3, pure Python, two devices) and
/// EtherNet/IP-CIP (cpppo, pure Python, its `cpppo.server.enip` the controller; pycomm3, pure
/// Python, the client) and OPC UA (asyncua, pure Python, server and client; its security
/// policies need `cryptography`, which it pulls in as a binary wheel). Pinned where the tests rely on
/// a version's behaviour (c104 checks callback signatures; the simulator's frames are test
/// vectors in tests/vectors/).
const PYTHON_PEERS: &[&str] = &[
    "pymodbus==3.*",
    "c104==2.2.1",
    "dnp3-simulation==0.1.2",
    "python-snap7==3.3.0",
    "bacpypes3==0.0.110",
    "cpppo==5.2.5",
    "pycomm3==1.2.16",
    "asyncua==2.1.0",
];
/// The versions [`check_pyenv`] requires of the pinned peers (distribution name, version).
const PINNED_PEERS: &[(&str, &str)] = &[
    ("c104", "2.2.1"),
    ("dnp3-simulation", "0.1.2"),
    ("python-snap7", "3.3.0"),
    ("bacpypes3", "0.0.110"),
    ("cpppo", "5.2.5"),
    ("pycomm3", "1.2.16"),
    ("asyncua", "2.1.0"),
];

/// Check only, or install what is missing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Check,
    Ensure,
}

/// Which prerequisites a command needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Building the eBPF object and the daemon.
    Build,
    /// Everything: build, tests, demo, benchmark.
    All,
}

/// What a check found.
enum State {
    Ready(String),
    Missing(String),
}

/// Checks (and in [`Mode::Ensure`] as root, installs) the prerequisites of `scope`.
pub fn setup(ctx: &Ctx, mode: Mode, scope: Scope) -> Result<()> {
    let install = mode == Mode::Ensure && ctx.is_root;
    let mut missing: Vec<String> = Vec::new();

    apt_packages(scope, install, &mut missing)?;
    if scope == Scope::All {
        step(
            "clippy, rustfmt",
            install,
            &mut missing,
            check_stable_tools,
            || {
                exec::run(Command::new("rustup").args(["component", "add", "clippy", "rustfmt"]))
                    .context("could not add clippy and rustfmt to the stable toolchain")
            },
        )?;
    }
    let channel = nightly_channel(&ctx.root);
    let nightly = check_nightly(&channel);
    report_nightly(&channel, &nightly, mode, ctx.is_root, &mut missing)?;
    step(
        &format!("rust-src ({channel})"),
        install,
        &mut missing,
        || check_rust_src(&channel),
        || install_rust_src(ctx, &channel),
    )?;
    step(
        &format!("bpf-linker {BPF_LINKER_VERSION}"),
        install,
        &mut missing,
        check_bpf_linker,
        install_bpf_linker,
    )?;
    if scope == Scope::All {
        step("bpffs", install, &mut missing, check_bpffs, mount_bpffs)?;
        let venv = ctx.pyenv();
        step(
            "python test peers (pymodbus, c104, dnp3-simulation, python-snap7, bacpypes3, cpppo, pycomm3, asyncua)",
            install,
            &mut missing,
            || check_pyenv(&venv),
            || install_pyenv(&venv),
        )?;
    }

    if missing.is_empty() {
        println!("[setup] all prerequisites present");
        return Ok(());
    }
    let list = missing.join(", ");
    if mode == Mode::Check {
        Err(fail(
            1,
            format!("missing: {list}; run `cargo xtask setup` as root to install them"),
        ))
    } else {
        Err(fail(
            1,
            format!(
                "missing: {list}; installing needs root: run `sudo env \"PATH=$PATH\" cargo \
                 xtask setup` (or `cargo xtask setup` in a root shell)"
            ),
        ))
    }
}

/// Runs one step: prints its state and, when `install` is set, installs and checks again.
fn step(
    name: &str,
    install: bool,
    missing: &mut Vec<String>,
    check: impl Fn() -> State,
    do_install: impl FnOnce() -> Result<()>,
) -> Result<()> {
    match check() {
        State::Ready(detail) => println!("[setup] {name}: already installed ({detail})"),
        State::Missing(why) if install => {
            println!("[setup] {name}: installing ({why})");
            exec::flush();
            do_install().with_context(|| format!("setup step `{name}` failed"))?;
            match check() {
                State::Ready(detail) => println!("[setup] {name}: installed ({detail})"),
                State::Missing(why) => {
                    bail!("setup step `{name}` ran but its check still fails: {why}")
                }
            }
        }
        State::Missing(why) => {
            println!("[setup] {name}: MISSING ({why})");
            missing.push(name.to_owned());
        }
    }
    Ok(())
}

// ---- Debian packages ----

fn apt_packages(scope: Scope, install: bool, missing: &mut Vec<String>) -> Result<()> {
    let mut wanted: Vec<&str> = APT_BUILD.to_vec();
    if scope == Scope::All {
        wanted.extend_from_slice(APT_TEST);
    }
    let installed = installed_packages(&wanted);
    let mut absent = Vec::new();
    for pkg in &wanted {
        if installed.iter().any(|p| p == pkg) {
            println!("[setup] {pkg}: already installed");
        } else if install {
            println!("[setup] {pkg}: installing");
            absent.push(*pkg);
        } else {
            println!("[setup] {pkg}: MISSING");
            missing.push((*pkg).to_owned());
        }
    }
    if absent.is_empty() {
        return Ok(());
    }
    exec::flush();
    apt_install(&absent)?;
    let installed = installed_packages(&absent);
    for pkg in &absent {
        if installed.iter().any(|p| p == pkg) {
            println!("[setup] {pkg}: installed");
        } else {
            bail!("apt-get install finished but {pkg} is still not installed");
        }
    }
    Ok(())
}

/// The packages among `pkgs` that dpkg reports as installed.
fn installed_packages(pkgs: &[&str]) -> Vec<String> {
    // dpkg-query exits 1 when some package is unknown but still lists the others.
    let output = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${db:Status-Status}\n"])
        .args(pkgs)
        .stderr(std::process::Stdio::null())
        .output();
    let Ok(output) = output else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (pkg, status) = line.split_once(' ')?;
            (status == "installed").then(|| pkg.split(':').next().unwrap_or(pkg).to_owned())
        })
        .collect()
}

fn apt_install(pkgs: &[&str]) -> Result<()> {
    exec::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["update", "-qq"]),
    )
    .context("`apt-get update` failed: check the network and /etc/apt/sources.list.d")?;
    exec::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "-o",
                "Dpkg::Use-Pty=0",
            ])
            .args(pkgs),
    )
    .with_context(|| format!("`apt-get install {}` failed", pkgs.join(" ")))
}

// ---- stable tools ----

fn check_stable_tools() -> State {
    let clippy = probe("cargo", ["clippy", "--version"]);
    let fmt = probe("cargo", ["fmt", "--version"]);
    match (clippy, fmt) {
        (Some(c), Some(f)) => State::Ready(format!("{}, {}", c.trim(), f.trim())),
        (c, f) => {
            let mut absent = Vec::new();
            if c.is_none() {
                absent.push("cargo clippy");
            }
            if f.is_none() {
                absent.push("cargo fmt");
            }
            State::Missing(format!("{} not found", absent.join(" and ")))
        }
    }
}

// ---- nightly toolchain ----

/// The toolchain the eBPF crate builds with: `channel` of firewall-ebpf/rust-toolchain.toml,
/// else `nightly`.
pub fn nightly_channel(root: &Path) -> String {
    let file = root.join("firewall-ebpf/rust-toolchain.toml");
    fs::read_to_string(file)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key.trim() == "channel").then(|| value.trim().trim_matches('"').to_owned())
            })
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "nightly".to_owned())
}

fn check_nightly(channel: &str) -> State {
    let Some(list) = probe("rustup", ["toolchain", "list"]) else {
        return State::Missing("`rustup toolchain list` failed: is rustup installed?".into());
    };
    let listed = list.lines().any(|line| {
        let name = line.split_whitespace().next().unwrap_or("");
        name == channel || name.starts_with(&format!("{channel}-"))
    });
    if !listed {
        return State::Missing(format!("toolchain `{channel}` not installed"));
    }
    match probe("rustc", [format!("+{channel}"), "--version".into()]) {
        Some(v) => State::Ready(v.trim().to_owned()),
        None => State::Missing(format!("`rustc +{channel} --version` fails")),
    }
}

fn report_nightly(
    channel: &str,
    state: &State,
    mode: Mode,
    is_root: bool,
    missing: &mut Vec<String>,
) -> Result<()> {
    match state {
        State::Ready(detail) => {
            println!("[setup] {channel} toolchain: already installed ({detail})");
            Ok(())
        }
        State::Missing(why) => {
            println!("[setup] {channel} toolchain: MISSING ({why})");
            let hint = format!(
                "the `{channel}` toolchain is needed to build the eBPF program and setup cannot \
                 download toolchains: install it where a rustup server is reachable with \
                 `rustup toolchain install {channel} --profile minimal --component rust-src`"
            );
            if mode == Mode::Ensure && is_root {
                Err(fail(1, hint))
            } else {
                println!("        {hint}");
                missing.push(format!("{channel} toolchain"));
                Ok(())
            }
        }
    }
}

// ---- rust-src ----

fn nightly_sysroot(channel: &str) -> Option<PathBuf> {
    probe(
        "rustc",
        [format!("+{channel}"), "--print".into(), "sysroot".into()],
    )
    .map(|s| PathBuf::from(s.trim()))
    .filter(|p| p.is_dir())
}

fn check_rust_src(channel: &str) -> State {
    let Some(sysroot) = nightly_sysroot(channel) else {
        return State::Missing(format!("no `{channel}` toolchain"));
    };
    let core = sysroot.join("lib/rustlib/src/rust/library/core/src/lib.rs");
    if core.is_file() {
        State::Ready(sysroot.join("lib/rustlib/src").display().to_string())
    } else {
        State::Missing(format!("{} not found", core.display()))
    }
}

fn install_rust_src(ctx: &Ctx, channel: &str) -> Result<()> {
    let added = exec::run(Command::new("rustup").env("RUSTUP_MAX_RETRIES", "1").args([
        "component",
        "add",
        "rust-src",
        "--toolchain",
        channel,
    ]));
    let Err(err) = added else { return Ok(()) };
    println!("[setup] rust-src: rustup could not add it ({err:#}); trying a local tarball");
    let sysroot = nightly_sysroot(channel)
        .with_context(|| format!("`rustc +{channel} --print sysroot` failed"))?;
    let version = probe("rustc", [format!("+{channel}"), "--version".into()]).unwrap_or_default();
    let tarball = find_rust_src_tarball(ctx, &version)?;
    unpack_rust_src(&tarball, &sysroot)
}

/// The rust-src tarball: `$ZCFW_RUST_SRC_TARBALL` (a file, or a folder holding one), else
/// `../shared/toolchain/` beside the repo. Where there are several, the one named with the
/// nightly's date (from `rustc --version`) wins, then the newest name.
fn find_rust_src_tarball(ctx: &Ctx, rustc_version: &str) -> Result<PathBuf> {
    let mut places = Vec::new();
    if let Some(env) = std::env::var_os("ZCFW_RUST_SRC_TARBALL") {
        let env = PathBuf::from(env);
        if env.is_file() {
            return Ok(env);
        }
        places.push(env);
    }
    places.push(ctx.root.join("../shared/toolchain"));
    let date = rustc_version
        .split([' ', ')'])
        .find(|w| w.len() == 10 && w.as_bytes()[4] == b'-' && w.as_bytes()[7] == b'-')
        .unwrap_or("");
    for dir in &places {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("rust-src-nightly-") && n.ends_with(".tar.xz"))
            })
            .collect();
        found.sort();
        let dated = found
            .iter()
            .find(|p| !date.is_empty() && p.to_string_lossy().contains(date));
        if let Some(best) = dated.or(found.last()) {
            return Ok(best.clone());
        }
    }
    bail!(
        "rust-src for the nightly toolchain is missing, `rustup component add rust-src` failed, \
         and no rust-src-nightly-*.tar.xz was found in {}: set ZCFW_RUST_SRC_TARBALL to such a \
         tarball (the same nightly as `rustc +nightly --version`)",
        places
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    )
}

/// Unpacks a rust-src tarball (`src/rust/library/...`) into `<sysroot>/lib/rustlib`.
fn unpack_rust_src(tarball: &Path, sysroot: &Path) -> Result<()> {
    let rustlib = sysroot.join("lib/rustlib");
    fs::create_dir_all(&rustlib).with_context(|| format!("creating {}", rustlib.display()))?;
    exec::run(
        Command::new("tar")
            .arg("-xJf")
            .arg(tarball)
            .arg("-C")
            .arg(&rustlib),
    )
    .with_context(|| format!("unpacking {}", tarball.display()))
}

// ---- bpf-linker ----

/// Where `cargo install` puts binaries, also when that is not on PATH.
fn cargo_bin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs
}

fn check_bpf_linker() -> State {
    let Some(path) = exec::find_program("bpf-linker", &cargo_bin_dirs()) else {
        return State::Missing("not found on PATH nor in ~/.cargo/bin".into());
    };
    let Some(version) = probe(&path, ["--version"]) else {
        return State::Missing(format!("`{} --version` fails", path.display()));
    };
    let version = version.trim().to_owned();
    let wanted_minor = BPF_LINKER_VERSION.rsplit_once('.').map_or("", |(m, _)| m);
    let has_wanted = version
        .split_whitespace()
        .any(|w| w == wanted_minor || w.starts_with(&format!("{wanted_minor}.")));
    if has_wanted {
        State::Ready(format!("{version}, {}", path.display()))
    } else {
        State::Missing(format!(
            "found `{version}` at {}, need {BPF_LINKER_VERSION}",
            path.display()
        ))
    }
}

fn install_bpf_linker() -> Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![PathBuf::from(LLVM_PREFIX).join("bin")];
    dirs.extend(std::env::split_paths(&path));
    let path = std::env::join_paths(dirs).context("PATH holds a ':' in a directory name")?;
    exec::run(
        Command::new(crate::cargo_program())
            .env("PATH", path)
            .env("LLVM_PREFIX", LLVM_PREFIX)
            .args([
                "install",
                "--locked",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--no-default-features",
                "--features",
                "llvm-22",
            ]),
    )
    .context("building bpf-linker failed: it needs llvm-22-dev and libpolly-22-dev (apt)")
}

// ---- bpffs ----

fn check_bpffs() -> State {
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mounted = mounts.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(1) == Some(&BPFFS) && fields.get(2) == Some(&"bpf")
    });
    if mounted {
        State::Ready(format!("mounted at {BPFFS}"))
    } else {
        State::Missing(format!("no bpf filesystem at {BPFFS}"))
    }
}

/// `mount -t bpf -o mode=0700 bpf /sys/fs/bpf`: root only. Without `mode=` bpffs is 1777,
/// and a user who creates zcfw's pin directory first could remove its pinned links.
fn mount_bpffs_command() -> Command {
    let mut command = Command::new("mount");
    command.args([
        "-t",
        "bpf",
        "-o",
        "mode=0700,nosuid,nodev,noexec",
        "bpf",
        BPFFS,
    ]);
    command
}

fn mount_bpffs() -> Result<()> {
    fs::create_dir_all(BPFFS).with_context(|| format!("creating {BPFFS}"))?;
    exec::run(&mut mount_bpffs_command())
        .context("mounting bpffs failed (is this a container without CAP_SYS_ADMIN?)")
}

// ---- python venv with the test peers ----

/// Prints the venv's base prefix, pymodbus's version, then `name=version` of each pinned peer
/// (importing each: a wheel that installed but cannot load is missing too).
const PYENV_PROBE: &str = "import sys, importlib.util as u, importlib.metadata as m, pymodbus\n\
import c104, dnp3_sim, snap7, bacpypes3, cpppo.server.enip, pycomm3, asyncua\n\
assert u.find_spec('scapy'), 'scapy (python3-scapy) not visible'\n\
print(sys.base_prefix, pymodbus.__version__, *(d + '=' + m.version(d) for d in ('c104', 'dnp3-simulation', 'python-snap7', 'bacpypes3', 'cpppo', 'pycomm3', 'asyncua')))";

fn check_pyenv(venv: &Path) -> State {
    let python = venv.join("bin/python");
    if !python.exists() {
        return State::Missing(format!("no venv at {}", venv.display()));
    }
    let Some(out) = probe(&python, ["-c", PYENV_PROBE]) else {
        return State::Missing(format!(
            "{} cannot import pymodbus, c104, dnp3_sim, snap7, bacpypes3, cpppo, pycomm3, asyncua and scapy",
            python.display()
        ));
    };
    let mut words = out.split_whitespace();
    let (base, version) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let pinned: Vec<&str> = words.collect();
    let wrong_pin = PINNED_PEERS
        .iter()
        .find(|(name, want)| !pinned.contains(&format!("{name}={want}").as_str()));
    if let Some((name, want)) = wrong_pin {
        State::Missing(format!("{name} {want} not installed (found {pinned:?})"))
    } else if base != "/usr" {
        State::Missing(format!(
            "{} was made from {base}, not Debian's {SYSTEM_PYTHON}",
            venv.display()
        ))
    } else if !version.starts_with("3.") {
        State::Missing(format!("pymodbus {version} installed, need 3.x"))
    } else {
        State::Ready(format!(
            "pymodbus {version}, {}, {}",
            pinned.join(", "),
            python.display()
        ))
    }
}

fn install_pyenv(venv: &Path) -> Result<()> {
    let python = venv.join("bin/python");
    let made_by_system_python = probe(&python, ["-c", "import sys; print(sys.base_prefix)"])
        .is_some_and(|base| base.trim() == "/usr");
    if !made_by_system_python {
        exec::run(
            Command::new(SYSTEM_PYTHON)
                .args(["-m", "venv", "--clear", "--system-site-packages"])
                .arg(venv),
        )
        .context("creating the venv failed: it needs the python3-venv package")?;
    }
    exec::run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PYTHON_PEERS),
    )
    .with_context(|| format!("installing {} from PyPI failed", PYTHON_PEERS.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_channel_from_toolchain_file() {
        let dir = std::env::temp_dir().join(format!("xtask-channel-{}", std::process::id()));
        fs::create_dir_all(dir.join("firewall-ebpf")).expect("temp dir");
        assert_eq!(nightly_channel(&dir), "nightly");
        fs::write(
            dir.join("firewall-ebpf/rust-toolchain.toml"),
            "[toolchain]\nchannel = \"nightly-2026-05-19\"\ncomponents = [\"rust-src\"]\n",
        )
        .expect("write");
        assert_eq!(nightly_channel(&dir), "nightly-2026-05-19");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn bpffs_is_mounted_root_only() {
        let command = mount_bpffs_command();
        let args: Vec<_> = command.get_args().filter_map(|a| a.to_str()).collect();
        let options = args
            .iter()
            .position(|a| *a == "-o")
            .and_then(|i| args.get(i + 1))
            .expect("mount options");
        assert!(options.split(',').any(|o| o == "mode=0700"), "{args:?}");
    }

    #[test]
    fn parses_dpkg_status() {
        // `bash` is installed on every Debian; the made-up name is not.
        let got = installed_packages(&["bash", "zcfw-no-such-package"]);
        assert_eq!(got, vec!["bash".to_owned()]);
    }

    /// Unpacks the shared rust-src tarball (when it is there) into a fake sysroot and checks
    /// that the layout is the one `check_rust_src` looks for.
    #[test]
    fn rust_src_tarball_unpacks_to_rustlib() {
        let root = crate::repo_root();
        let ctx = Ctx {
            root: root.clone(),
            is_root: false,
        };
        let Ok(tarball) =
            find_rust_src_tarball(&ctx, "rustc 1.97.0-nightly (e50aa6fba 2026-05-19)")
        else {
            eprintln!("no rust-src tarball beside the repo; skipping");
            return;
        };
        let sysroot = std::env::temp_dir().join(format!("xtask-sysroot-{}", std::process::id()));
        unpack_rust_src(&tarball, &sysroot).expect("unpack");
        assert!(
            sysroot
                .join("lib/rustlib/src/rust/library/core/src/lib.rs")
                .is_file()
        );
        let _ = fs::remove_dir_all(sysroot);
    }
}
