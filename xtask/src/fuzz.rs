//! `cargo xtask fuzz [TARGET] [--seconds N]`: runs the cargo-fuzz targets of `fuzz/` for a
//! bounded time each (all of them in turn when no target is named), installing cargo-fuzz
//! when it is missing. A crash (or a hang past [`UNIT_TIMEOUT_S`]) fails the task, so
//! `cargo xtask test` runs a short round of it as one of its steps.
//!
//! Each target fuzzes into its corpus `fuzz/corpus/TARGET` (kept between runs, not committed)
//! and starts from the seeds listed in [`seed_dirs`] too; `fuzz/TARGET.dict`, when present,
//! is its libFuzzer dictionary. Crash inputs land in `fuzz/artifacts/TARGET/`.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context, Result, bail};

use crate::{
    Ctx,
    exec::{self, fail},
    setup,
};

/// Seconds each target runs when `--seconds` is not given.
pub const DEFAULT_SECONDS: u64 = 60;
/// The seconds per target `cargo xtask test` gives the fuzz step: a smoke round (every seed
/// of every target, then a short exploration) that keeps the whole test run short; longer
/// rounds: `cargo xtask fuzz [TARGET] --seconds N`.
pub const TEST_SECONDS: &str = "15";
/// libFuzzer `-timeout`: one input running longer than this is reported as a hang (a crash).
const UNIT_TIMEOUT_S: u64 = 20;
/// Exit code when a target found a crash.
const EXIT_CRASH: u8 = 1;

/// Environment of the outer cargo that must not reach the fuzz build: cargo-fuzz picks its own
/// toolchain (nightly), target dir (`fuzz/target`) and flags (sanitizer, coverage).
pub(crate) const OUTER_ENV: &[&str] = &[
    "CARGO",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTDOC",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_MAKEFLAGS",
    "RUSTUP_TOOLCHAIN",
];

/// Read-only seed corpora of a target, besides its own corpus.
fn seed_dirs(root: &Path, target: &str) -> Vec<PathBuf> {
    match target {
        // Every example policy, valid and invalid.
        "policy" => vec![root.join("policies")],
        _ => Vec::new(),
    }
}

/// `cargo` through rustup's proxy (so that `+nightly` works), with `~/.cargo/bin` on PATH and
/// the outer build's settings removed.
fn cargo(ctx: &Ctx) -> Command {
    let mut command = Command::new("cargo");
    if let Some(path) = ctx.path_with_cargo_bin() {
        command.env("PATH", path);
    }
    for var in OUTER_ENV {
        command.env_remove(var);
    }
    command
}

pub fn cmd_fuzz(ctx: &Ctx, target: Option<&str>, seconds: u64) -> Result<()> {
    if seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    let dir = ctx.root.join("fuzz");
    let toolchain = format!("+{}", setup::nightly_channel(&ctx.root));
    ensure_cargo_fuzz(ctx)?;
    let all = targets(&dir)?;
    let chosen: Vec<String> = match target {
        Some(t) if all.contains(t) => vec![t.to_owned()],
        Some(t) => bail!(
            "no fuzz target {t:?} in fuzz/Cargo.toml; the targets are: {}",
            all.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
        None => all.into_iter().collect(),
    };
    let mut report = Vec::new();
    for target in &chosen {
        println!();
        println!("--> fuzz {target} for {seconds}s");
        exec::flush();
        let artifacts = dir.join("artifacts").join(target);
        let before = listing(&artifacts);
        let corpus = dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("cannot create {}", corpus.display()))?;
        let mut command = cargo(ctx);
        command
            .current_dir(&dir)
            .args([toolchain.as_str(), "fuzz", "run", target.as_str()])
            .arg(&corpus)
            .args(seed_dirs(&ctx.root, target))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-timeout={UNIT_TIMEOUT_S}"));
        let dict = dir.join(format!("{target}.dict"));
        if dict.is_file() {
            command.arg(format!("-dict={}", dict.display()));
        }
        let start = Instant::now();
        let result = exec::run(&mut command);
        let took = start.elapsed().as_secs();
        let found: Vec<PathBuf> = listing(&artifacts)
            .difference(&before)
            .map(|name| artifacts.join(name))
            .collect();
        if result.is_err() || !found.is_empty() {
            let inputs = if found.is_empty() {
                format!("(no new file in {})", artifacts.display())
            } else {
                found
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let reproduce = found.first().map_or(String::new(), |p| {
                format!(
                    "; reproduce with `cd fuzz && cargo {toolchain} fuzz run {target} {}`",
                    p.display()
                )
            });
            let cause = result.err().map_or(String::new(), |e| format!(" ({e:#})"));
            return Err(fail(
                EXIT_CRASH,
                format!(
                    "fuzz target {target} failed after {took}s{cause}: input {inputs}{reproduce}"
                ),
            ));
        }
        report.push(format!("{target}: {took}s, no crash"));
    }
    println!();
    println!("fuzz: {}", report.join("; "));
    Ok(())
}

/// Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) unless `cargo fuzz` runs.
fn ensure_cargo_fuzz(ctx: &Ctx) -> Result<()> {
    let works = |ctx: &Ctx| {
        cargo(ctx)
            .args(["fuzz", "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(ctx) {
        return Ok(());
    }
    println!("cargo-fuzz is missing: installing it");
    exec::run(cargo(ctx).args(["install", "cargo-fuzz", "--locked"]))?;
    if !works(ctx) {
        bail!("`cargo install cargo-fuzz` succeeded, but `cargo fuzz --version` still fails");
    }
    Ok(())
}

/// The `[[bin]]` names of `fuzz/Cargo.toml` (the fuzz targets).
fn targets(dir: &Path) -> Result<BTreeSet<String>> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let names = parse_bin_names(&text);
    if names.is_empty() {
        bail!("{} lists no [[bin]] fuzz targets", manifest.display());
    }
    Ok(names)
}

/// `name = "..."` of every `[[bin]]` table (enough TOML for cargo-fuzz's own manifest layout).
fn parse_bin_names(toml: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_bin = false;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin
            && let Some(value) = line.strip_prefix("name")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            names.insert(value.trim().trim_matches('"').to_owned());
        }
    }
    names
}

/// File names in `dir` (none if it does not exist).
fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_names_are_the_targets() {
        let toml = "[package]\nname = \"zcfw-fuzz\"\n\n[dependencies]\nname = \"x\"\n\n\
                    [[bin]]\nname = \"modbus\"\npath = \"a.rs\"\n\n[[bin]]\nname = \"policy\"\n";
        let names: Vec<String> = parse_bin_names(toml).into_iter().collect();
        assert_eq!(names, ["modbus", "policy"]);
    }

    #[test]
    fn the_fuzz_crate_has_the_modbus_and_policy_targets() {
        let names = targets(&crate::repo_root().join("fuzz")).expect("fuzz/Cargo.toml");
        assert!(
            names.contains("modbus") && names.contains("policy"),
            "{names:?}"
        );
    }
}
