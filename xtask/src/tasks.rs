//! `build`, `test`, `demo`, `bench`, `run` and `install`.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};

use crate::{
    Ctx, cargo_program,
    exec::{self, TestCounts, fail},
    install,
    setup::{self, Mode, Scope},
    unit,
};

/// Exit code when a command needs root and does not have it.
const EXIT_NOT_ROOT: u8 = 2;

/// A `cargo` command run from the repo root, with `~/.cargo/bin` on PATH so that the daemon's
/// build script finds bpf-linker even where the shell's PATH lacks it.
pub(crate) fn cargo(ctx: &Ctx) -> Command {
    let mut command = Command::new(cargo_program());
    command.current_dir(&ctx.root);
    if let Some(path) = ctx.path_with_cargo_bin() {
        command.env("PATH", path);
    }
    command
}

fn require_root(ctx: &Ctx, what: &str) -> Result<()> {
    if ctx.is_root {
        Ok(())
    } else {
        Err(fail(
            EXIT_NOT_ROOT,
            format!(
                "`cargo xtask {what}` needs root (it loads XDP programs and creates network \
                 namespaces): run it in a root shell or with `sudo env \"PATH=$PATH\" cargo \
                 xtask {what}`"
            ),
        ))
    }
}

/// Builds the eBPF object (through the daemon's build script) and the release `zcfw`.
/// Returns the absolute path of the binary.
pub fn build(ctx: &Ctx) -> Result<PathBuf> {
    exec::run(cargo(ctx).args(["build", "--release", "-p", "firewall-daemon"]))?;
    let bin = ctx.zcfw_bin();
    if !bin.is_file() {
        bail!(
            "cargo build succeeded but {} is not there; is CARGO_TARGET_DIR or build.target-dir \
             set to something else?",
            bin.display()
        );
    }
    println!("zcfw: {}", bin.display());
    Ok(bin)
}

pub fn cmd_setup(ctx: &Ctx, check: bool) -> Result<()> {
    let mode = if check { Mode::Check } else { Mode::Ensure };
    setup::setup(ctx, mode, Scope::All)
}

/// Setup (installing what `scope` needs), then the release build; returns the binary.
fn setup_and_build(ctx: &Ctx, scope: Scope) -> Result<PathBuf> {
    section("setup");
    setup::setup(ctx, Mode::Ensure, scope)?;
    section("build");
    build(ctx)
}

pub fn cmd_build(ctx: &Ctx) -> Result<()> {
    setup_and_build(ctx, Scope::Build).map(|_| ())
}

/// The last step of `run`, `demo` and `bench` replaces this process, so that Ctrl-C and the
/// exit code belong to the program itself.
pub fn cmd_run(ctx: &Ctx, args: &[String]) -> Result<()> {
    let bin = setup_and_build(ctx, Scope::Build)?;
    section("run");
    exec::replace(Command::new(bin).args(args))
}

/// Builds (unless a binary is given), then installs into the live system or under DESTDIR.
pub fn cmd_install(
    ctx: &Ctx,
    prefix: &Path,
    destdir: Option<&Path>,
    bin: Option<PathBuf>,
) -> Result<()> {
    let layout = install::Layout::new(prefix, destdir)?;
    if layout.destdir.is_none() && !ctx.is_root {
        return Err(fail(
            EXIT_NOT_ROOT,
            format!(
                "`cargo xtask install` writes {} and /etc: run it as root (`sudo env \"PATH=$PATH\" \
                 cargo xtask install`), or stage the files with --destdir DIR",
                layout.prefix.display()
            ),
        ));
    }
    let bin = match bin {
        Some(bin) => bin,
        None => setup_and_build(ctx, Scope::Build)?,
    };
    section("install");
    install::install(&ctx.root, &bin, &layout).map(|_| ())
}

pub fn cmd_demo(ctx: &Ctx, args: &[String]) -> Result<()> {
    require_root(ctx, "demo")?;
    let bin = setup_and_build(ctx, Scope::All)?;
    section("demo");
    run_integration_bin(ctx, &bin, "zcfw-demo", args)
}

/// Runs the data-path benchmark (`firewall-daemon/benches/dataplane.rs`) and writes
/// `bench/RESULTS.md` (machine, kernel, command, tables) and `bench/dataplane.json`.
pub fn cmd_bench(ctx: &Ctx, quick: bool, args: &[String]) -> Result<()> {
    require_root(ctx, "bench")?;
    let bin = setup_and_build(ctx, Scope::All)?;
    let out = ctx.root.join("bench");
    // The per-packet cost (BPF_PROG_TEST_RUN), then throughput on a veth pair beside
    // nftables; each writes `bench/<name>.{md,json}`.
    let benches = ["dataplane", "throughput"];
    let mut commands = Vec::new();
    for name in benches {
        section(&format!("bench: {name}"));
        let mut command = cargo(ctx);
        command.args([
            "bench",
            "-p",
            "firewall-daemon",
            "--bench",
            name,
            "--",
            "--out",
        ]);
        command.arg(&out);
        if quick {
            command.arg("--quick");
        }
        command.args(args);
        exec::run(&mut command)?;
        commands.push(format!(
            "`cargo bench -p firewall-daemon --bench {name} -- --out bench{}{}`",
            if quick { " --quick" } else { "" },
            args.iter().map(|a| format!(" {a}")).collect::<String>()
        ));
    }
    section("bench: daemon memory with the 10,000-conduit policy");
    let memory = daemon_memory(&bin, &out.join("policy-10000.yaml"))?;
    println!("{memory}");
    let dataplane = std::fs::read_to_string(out.join("dataplane.md"))?;
    let throughput = std::fs::read_to_string(out.join("throughput.md"))?;
    let report = format!(
        "# zcfw benchmark results\n\n\
         Regenerated by `cargo xtask bench{}` (as root), which runs {}. Numbers from one run on \
         one machine; compare the columns of a run with each other (ratios), not runs with \
         runs: the machine is shared and noisy.\n\n\
         - machine: {}\n- kernel: {}\n- nftables: {}\n- date: {}\n\
         - raw numbers: `bench/dataplane.json`, `bench/throughput.json`\n\n{dataplane}\n\
         For reference, 10GbE line rate with 64-byte frames is 14.88 Mpps, 67 ns per packet on one core.\n\n\
         {memory}\n\n{throughput}",
        if quick { " --quick" } else { "" },
        commands.join(" and "),
        machine(),
        command_output("uname", &["-srm"]),
        command_output("nft", &["--version"]),
        command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
    );
    std::fs::write(out.join("RESULTS.md"), report)?;
    println!("wrote {}", out.join("RESULTS.md").display());
    Ok(())
}

/// Runs `zcfw run --ephemeral` with `policy` (interface `lo`) in a throwaway network
/// namespace and reports its resident memory and the kernel memory of its maps.
fn daemon_memory(bin: &Path, policy: &Path) -> Result<String> {
    let ns = format!("zcfw-bench-rss-{}", std::process::id());
    let socket = std::env::temp_dir().join(format!("{ns}.sock"));
    let ip = |args: &[&str]| Command::new("ip").args(args).status();
    ip(&["netns", "add", &ns])?;
    let result = (|| -> Result<String> {
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(bin)
            .args(["run", "--ephemeral", "--policy"])
            .arg(policy)
            .arg("--socket")
            .arg(&socket)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let started = Instant::now();
        let ready = loop {
            let ok = Command::new(bin)
                .args(["status", "--json", "--socket"])
                .arg(&socket)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok || started.elapsed() > Duration::from_secs(60) || child.try_wait()?.is_some() {
                break ok;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| "?".into())
        };
        let memlock = map_memory(&ns);
        let _ = nix_kill(child.id());
        let _ = child.wait();
        if !ready {
            bail!("the daemon did not come up with {}", policy.display());
        }
        Ok(format!(
            "### Daemon memory\n\n`zcfw run` with the 10,000-conduit policy (`bench/policy-10000.yaml`): resident {} (peak {}). \
             Kernel memory of the maps of the loaded programs (bpftool `bytes_memlock`, both slots, conntrack and event ring preallocated): {:.1} MiB.",
            field("VmRSS:"),
            field("VmHWM:"),
            memlock as f64 / (1024.0 * 1024.0)
        ))
    })();
    let _ = ip(&["netns", "del", &ns]);
    let _ = std::fs::remove_file(&socket);
    result
}

/// Kernel memory (`bytes_memlock`) of the maps of the XDP program attached to `lo` in `ns`.
fn map_memory(ns: &str) -> u64 {
    let link = command_output("ip", &["-n", ns, "-d", "link", "show", "lo"]);
    let Some(prog) = link
        .split("prog/xdp id ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_owned)
    else {
        return 0;
    };
    let json = |args: &[&str]| -> serde_json::Value {
        serde_json::from_str(&command_output("bpftool", args)).unwrap_or(serde_json::Value::Null)
    };
    let info = json(&["-j", "prog", "show", "id", &prog]);
    info["map_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_u64())
        .map(|id| {
            json(&["-j", "map", "show", "id", &id.to_string()])["bytes_memlock"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum()
}

fn nix_kill(pid: u32) -> std::io::Result<std::process::ExitStatus> {
    Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
}

/// CPU model and count, from /proc/cpuinfo.
fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = info.lines().filter(|l| l.starts_with("processor")).count();
    format!("{model}, {cpus} CPUs")
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// `cargo run --release -p integration-tests --bin NAME -- ARGS` with ZCFW_BIN set.
fn run_integration_bin(
    ctx: &Ctx,
    zcfw: &std::path::Path,
    name: &str,
    args: &[String],
) -> Result<()> {
    let mut command = cargo(ctx);
    command
        .env("ZCFW_BIN", zcfw)
        .env("ZCFW_PYTHON", ctx.pyenv().join("bin/python"))
        .args(["run", "--release", "-p", "integration-tests", "--bin", name]);
    if !args.is_empty() {
        command.arg("--").args(args);
    }
    exec::replace(&mut command)
}

/// One line of the test summary.
struct Outcome {
    name: String,
    state: StepState,
    took: Duration,
    counts: Option<TestCounts>,
}

enum StepState {
    Passed,
    Failed,
    NotRun,
}

pub fn cmd_test(ctx: &Ctx, args: &[String]) -> Result<()> {
    require_root(ctx, "test")?;
    let mut outcomes: Vec<Outcome> = Vec::new();
    let result = run_tests(ctx, args, &mut outcomes);
    print_summary(&outcomes);
    result
}

/// What `cargo xtask test` runs after setup and build, in order.
struct TestStep {
    name: &'static str,
    args: &'static [&'static str],
    /// Pass the extra arguments after `--`, set ZCFW_BIN, count libtest results.
    is_test: bool,
    integration: bool,
}

const TEST_STEPS: &[TestStep] = &[
    // What the kernel offers (live frames, native XDP on veth, nftables): printed first, so a
    // reader of the log knows which fallbacks the benchmarks below take. Fails only when the
    // probe cannot run at all (no namespace, no veth).
    TestStep {
        name: "kernel features (probe: live frames, native XDP on veth, nftables)",
        args: &[
            "bench",
            "-p",
            "firewall-daemon",
            "--bench",
            "throughput",
            "--",
            "--probe",
        ],
        is_test: false,
        integration: false,
    },
    TestStep {
        name: "xtask tests (install into a temp tree, unit settings)",
        args: &["test", "-p", "xtask"],
        is_test: true,
        integration: true,
    },
    TestStep {
        name: "unit tests: firewall-common (parsers, conduit levels)",
        args: &["test", "-p", "firewall-common", "--features", "pktgen"],
        is_test: true,
        integration: false,
    },
    TestStep {
        name: "daemon tests (policy, compiler, BPF_PROG_TEST_RUN verdicts)",
        args: &["test", "-p", "firewall-daemon"],
        is_test: true,
        integration: false,
    },
    TestStep {
        name: "integration tests (network namespaces, real traffic)",
        args: &["test", "-p", "integration-tests"],
        is_test: true,
        integration: true,
    },
    TestStep {
        name: "benchmark, short run (proves it works; benchmarks assert no timing)",
        args: &[
            "bench",
            "-p",
            "firewall-daemon",
            "--bench",
            "dataplane",
            "--",
            "--quick",
        ],
        is_test: false,
        integration: false,
    },
    TestStep {
        name: "throughput benchmark vs nftables, short run (proves it works)",
        args: &[
            "bench",
            "-p",
            "firewall-daemon",
            "--bench",
            "throughput",
            "--",
            "--quick",
        ],
        is_test: false,
        integration: false,
    },
    // As on a kernel that refuses live frames, so the fallback (AF_PACKET) is proven on
    // machines that allow them too (where the run above uses live frames); the bench checks
    // that the fallback was taken and that its numbers are sane.
    TestStep {
        name: "throughput benchmark with live frames refused, short run (proves the AF_PACKET fallback)",
        args: &[
            "bench",
            "-p",
            "firewall-daemon",
            "--bench",
            "throughput",
            "--",
            "--quick",
            "--refuse-live-frames",
            "--sizes",
            "10",
        ],
        is_test: false,
        integration: false,
    },
    // A short bounded fuzz round; a crash fails the run (xtask/src/fuzz.rs).
    TestStep {
        name: "fuzz, short run (cargo xtask fuzz: every target)",
        args: &["xtask", "fuzz", "--seconds", crate::fuzz::TEST_SECONDS],
        is_test: false,
        integration: false,
    },
    TestStep {
        name: "clippy",
        args: crate::clippy::HOST_ARGS,
        is_test: false,
        integration: false,
    },
    // The XDP program for its own target (nightly, build-std): the code the kernel runs.
    TestStep {
        name: "clippy (firewall-ebpf for bpfel-unknown-none)",
        args: crate::clippy::EBPF_ARGS,
        is_test: false,
        integration: false,
    },
    // Nightly rustfmt: rustfmt.toml groups imports (std, external, crate), an unstable option.
    TestStep {
        name: "rustfmt",
        args: &["+nightly", "fmt", "--all", "--", "--check"],
        is_test: false,
        integration: false,
    },
    // The Debian package: built, linted, then installed, run, upgraded under traffic, removed
    // and purged in a clean Debian 12 root (xtask/src/package_test.rs; docs/debian.md).
    TestStep {
        name: "debian package (build, lintian, install/upgrade/remove/purge in a clean root)",
        args: &["xtask", "package-test"],
        is_test: false,
        integration: false,
    },
];

fn run_tests(ctx: &Ctx, args: &[String], outcomes: &mut Vec<Outcome>) -> Result<()> {
    // Every step is listed up front so that the summary shows what did not run.
    outcomes.push(not_run("setup"));
    outcomes.push(not_run("build (release zcfw)"));
    outcomes.push(not_run("systemd unit (systemd-analyze verify, security)"));
    const FIRST_TEST_STEP: usize = 3;
    for step in TEST_STEPS {
        outcomes.push(not_run(step.name));
    }
    let total = outcomes.len();

    section(&format!("[1/{total}] setup"));
    let bin = timed(&mut outcomes[0], || {
        setup::setup(ctx, Mode::Ensure, Scope::All)
    })
    .and_then(|()| {
        section(&format!("[2/{total}] build"));
        timed(&mut outcomes[1], || build(ctx))
    })?;
    section(&format!("[3/{total}] systemd unit"));
    timed(&mut outcomes[2], || unit::check(ctx, &bin))?;

    for (i, step) in TEST_STEPS.iter().enumerate() {
        let outcome = &mut outcomes[i + FIRST_TEST_STEP];
        section(&format!(
            "[{}/{total}] {}",
            i + FIRST_TEST_STEP + 1,
            step.name
        ));
        let mut command = crate::clippy::cargo(ctx, step.args);
        if step.integration {
            command
                .env("ZCFW_BIN", &bin)
                .env("ZCFW_PYTHON", ctx.pyenv().join("bin/python"));
        }
        if step.is_test && !args.is_empty() {
            command.arg("--").args(args);
        }
        let start = Instant::now();
        let result = if step.is_test {
            let (counts, result) = exec::run_counting_tests(&mut command);
            outcome.counts = Some(counts);
            result
        } else {
            exec::run(&mut command)
        };
        outcome.took = start.elapsed();
        outcome.state = if result.is_ok() {
            StepState::Passed
        } else {
            StepState::Failed
        };
        result?;
    }
    Ok(())
}

fn not_run(name: &str) -> Outcome {
    Outcome {
        name: name.to_owned(),
        state: StepState::NotRun,
        took: Duration::ZERO,
        counts: None,
    }
}

fn timed<T>(outcome: &mut Outcome, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let start = Instant::now();
    let result = f();
    outcome.took = start.elapsed();
    outcome.state = if result.is_ok() {
        StepState::Passed
    } else {
        StepState::Failed
    };
    result
}

fn print_summary(outcomes: &[Outcome]) {
    section("summary");
    let mut tests = TestCounts::default();
    for o in outcomes {
        let state = match o.state {
            StepState::Passed => "passed ",
            StepState::Failed => "FAILED ",
            StepState::NotRun => "not run",
        };
        let took = match o.state {
            StepState::NotRun => String::new(),
            _ => format!("{:.1}s", o.took.as_secs_f64()),
        };
        let counts = o.counts.map_or(String::new(), |c| {
            tests.add(c);
            format!(
                "  ({} passed, {} failed, {} ignored)",
                c.passed, c.failed, c.ignored
            )
        });
        println!("  {state}  {took:>7}  {}{counts}", o.name);
    }
    println!(
        "tests: {} passed, {} failed, {} skipped",
        tests.passed, tests.failed, tests.ignored
    );
    exec::flush();
}

fn section(title: &str) {
    println!();
    println!("==> {title}");
    exec::flush();
}
