//! `cargo xtask`: sets a machine up, builds, tests, demonstrates, benchmarks and installs zcfw.
//!
//! Every command it runs is printed first (`$ cargo ...`); a failing command's exit code
//! becomes this program's exit code.

mod clippy;
mod exec;
mod fuzz;
mod install;
mod package;
mod package_test;
mod setup;
mod tasks;
mod unit;

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Parser, Subcommand};

/// Build, test and demo tasks for zcfw. Run as root on Debian 12: `cargo xtask demo`,
/// `cargo xtask test`.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Install every prerequisite (Debian packages, bpf-linker, nightly rust-src, bpffs, the
    /// Python test peers); idempotent, a no-op when all is present.
    Setup {
        /// Only report what is present and what is missing; exit 1 if anything is missing.
        #[arg(long)]
        check: bool,
    },
    /// Clippy with warnings denied: the workspace for the host, then the XDP program
    /// (firewall-ebpf) for bpfel-unknown-none with the nightly toolchain.
    Clippy,
    /// Build the eBPF program and the release `zcfw` binary (installs what the build needs).
    Build {
        /// Build with the release profile (the default; the only profile this task builds).
        #[arg(long)]
        release: bool,
    },
    /// Set up, build, then run every test suite, clippy and rustfmt (needs root).
    ///
    /// Arguments after `--` go to every `cargo test` run, e.g. a test name filter.
    Test {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build, then run the demo plant in network namespaces (needs root).
    Demo {
        /// Passed to the demo binary.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build, then run the benchmark (needs root).
    Bench {
        /// A short run (seconds rather than minutes).
        #[arg(long)]
        quick: bool,
        /// Passed to the benchmark binary.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build, then run `target/release/zcfw ARGS`, e.g. `cargo xtask run -- check policy.yaml`.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the cargo-fuzz targets of fuzz/ for a bounded time each (installs cargo-fuzz if
    /// missing); fails when a target crashes. Needs the nightly toolchain.
    Fuzz {
        /// One target (`modbus`, `policy`); all of them in turn when omitted.
        target: Option<String>,
        /// Seconds each target runs (libFuzzer -max_total_time).
        #[arg(long, default_value_t = fuzz::DEFAULT_SECONDS)]
        seconds: u64,
    },
    /// Build, then install the binary, the systemd unit and (only if there is none) an example
    /// policy; check the policy and reload systemd (needs root unless --destdir is given).
    ///
    /// Installs PREFIX/bin/zcfw, /etc/systemd/system/zcfw.service and /etc/zcfw/policy.yaml
    /// (the monitor-mode template packaging/policy.yaml; an existing policy is never overwritten). Enables nothing.
    Install {
        /// Where the binary goes (PREFIX/bin/zcfw); the unit's ExecStart= follows it.
        #[arg(long, value_name = "DIR", default_value = install::DEFAULT_PREFIX)]
        prefix: PathBuf,
        /// Stage every file under DIR instead of the live system (packaging, tests); no root
        /// needed, and systemd is left alone.
        #[arg(long, value_name = "DIR")]
        destdir: Option<PathBuf>,
        /// Install this zcfw binary instead of building one.
        #[arg(long, value_name = "FILE")]
        bin: Option<PathBuf>,
    },
    /// Build the Debian package target/debian/zcfw_VERSION_ARCH.deb (dpkg-deb; docs/debian.md).
    Package {
        /// Debian architecture to build for (default: this machine's; `arm64` cross-builds
        /// with aarch64-linux-gnu-gcc).
        #[arg(long, value_name = "ARCH")]
        arch: Option<String>,
        /// Package version (default: the binary's, `zcfw --version`).
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
        /// Package this zcfw binary (built for ARCH) instead of building one.
        #[arg(long, value_name = "FILE")]
        bin: Option<PathBuf>,
    },
    /// Build the package, then install, run, upgrade, remove and purge it in a clean Debian 12
    /// root (mmdebstrap, cached under target/debian) against a namespace plant (needs root).
    PackageTest,
}

/// What every task needs to know about where it runs.
pub struct Ctx {
    /// The workspace root (the parent of `xtask/`).
    pub root: PathBuf,
    /// Whether this process runs with effective uid 0.
    pub is_root: bool,
}

impl Ctx {
    /// Cargo's target directory: `$CARGO_TARGET_DIR`, else `<root>/target`.
    pub fn target_dir(&self) -> PathBuf {
        match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => self.root.join(dir),
            None => self.root.join("target"),
        }
    }

    /// The release `zcfw` binary.
    pub fn zcfw_bin(&self) -> PathBuf {
        self.target_dir().join("release/zcfw")
    }

    /// The venv of the Python test peers; the tests run `target/pyenv/bin/python`.
    pub fn pyenv(&self) -> PathBuf {
        self.root.join("target/pyenv")
    }

    /// PATH with the directory `cargo install` writes to (where bpf-linker lives) appended,
    /// when it is not on PATH already; `None` when nothing needs to change.
    pub fn path_with_cargo_bin(&self) -> Option<OsString> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
        let bin = home.join("bin");
        if dirs.contains(&bin) || !bin.is_dir() {
            return None;
        }
        dirs.push(bin);
        std::env::join_paths(dirs).ok()
    }
}

/// The workspace root, from where this crate was compiled.
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo that runs us (`$CARGO`), so nested builds use the same toolchain.
pub fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Whether the effective uid is 0, read from /proc (no libc dependency for one number).
fn effective_uid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = Ctx {
        root: repo_root(),
        is_root: effective_uid_is_root(),
    };
    let result = match cli.command {
        Task::Setup { check } => tasks::cmd_setup(&ctx, check),
        Task::Clippy => clippy::cmd_clippy(&ctx),
        Task::Build { release: _ } => tasks::cmd_build(&ctx),
        Task::Test { args } => tasks::cmd_test(&ctx, &args),
        Task::Demo { args } => tasks::cmd_demo(&ctx, &args),
        Task::Bench { quick, args } => tasks::cmd_bench(&ctx, quick, &args),
        Task::Run { args } => tasks::cmd_run(&ctx, &args),
        Task::Fuzz { target, seconds } => fuzz::cmd_fuzz(&ctx, target.as_deref(), seconds),
        Task::Install {
            prefix,
            destdir,
            bin,
        } => tasks::cmd_install(&ctx, &prefix, destdir.as_deref(), bin),
        Task::Package { arch, version, bin } => {
            package::cmd_package(&ctx, &package::Options { arch, version, bin }).map(|_| ())
        }
        Task::PackageTest => package_test::cmd_package_test(&ctx),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            let code = err
                .chain()
                .find_map(|e| e.downcast_ref::<exec::Failed>())
                .map_or(1, |f| f.code);
            ExitCode::from(code)
        }
    }
}
