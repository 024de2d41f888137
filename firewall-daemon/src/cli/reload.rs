//! `zcfw reload`: switch the running daemon to a policy, atomically.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{
    EXIT_ERROR, EXIT_INVALID, EXIT_OK, SocketArgs,
    diff::{DiffFormat, print as print_diff},
    print_error,
};
use crate::{
    control::{self, reload::ReloadError, status::LoadedPolicy},
    policy::{self, ValidatedPolicy, diff::PolicyDiff},
};

#[derive(Debug, clap::Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Policy file to switch to (default: the file the daemon runs, re-read). A relative path
    /// is resolved here, not in the daemon's directory.
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<PathBuf>,
    /// Print the daemon's answer (policy name, hash, generation, load time) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Change nothing: show what the reload would open and close, as `zcfw diff` does, between
    /// the policy the daemon runs and the new one. Exit 0 no difference, 1 differences, 2
    /// error (an invalid new policy included).
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: &ReloadArgs) -> u8 {
    let policy = match args.policy.as_ref().map(std::path::absolute).transpose() {
        Ok(p) => p,
        Err(err) => {
            print_error(&anyhow::Error::new(err).context("cannot resolve the policy path"));
            return EXIT_ERROR;
        }
    };
    if args.dry_run {
        return dry_run(args, policy);
    }
    match control::reload(&args.socket.socket, policy) {
        Ok(live) => {
            if args.json {
                return super::print_json(&live);
            }
            if live.unchanged {
                println!(
                    "policy {} (sha256 {}) unchanged: it compiles to what runs now; generation \
                     {} stays",
                    live.name,
                    &live.hash[..live.hash.len().min(12)],
                    live.generation
                );
                return EXIT_OK;
            }
            println!(
                "policy {} (sha256 {}) is live: generation {}, loaded in {:.1} ms",
                live.name,
                &live.hash[..live.hash.len().min(12)],
                live.generation,
                live.load_ms
            );
            EXIT_OK
        }
        Err(err) => match err.reload_error() {
            Some(reload) => print_refused(reload),
            None => {
                print_error(&anyhow::Error::new(err));
                EXIT_ERROR
            }
        },
    }
}

/// What went wrong, where, and what to do; the exit code.
fn print_refused(err: &ReloadError) -> u8 {
    match err {
        ReloadError::InvalidPolicy { diagnostics } => {
            // As `zcfw check` prints them: file:line:column, what, what to change.
            eprintln!("{diagnostics}");
            eprintln!("reload refused: the running policy stays enforced");
            EXIT_INVALID
        }
        err if err.running_policy_stays() => {
            eprintln!("error: reload failed: {err}");
            eprintln!("the running policy stays enforced");
            EXIT_ERROR
        }
        err => {
            eprintln!("error: reload incomplete: {err}");
            EXIT_ERROR
        }
    }
}

/// What `zcfw reload --dry-run` compared the new policy with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// The file the daemon runs, unchanged since it was loaded (same SHA-256): exactly the
    /// running policy.
    RunningFile,
    /// The file the daemon runs, edited since it was loaded: the daemon does not give out the
    /// text it loaded, so the comparison is with the file as it is now.
    EditedFile,
}

/// `zcfw reload --dry-run --json`.
#[derive(Debug, Serialize)]
pub struct DryRun<'a> {
    pub dry_run: bool,
    /// The policy in force, as the daemon reports it.
    pub running: &'a LoadedPolicy,
    pub baseline: Baseline,
    pub diff: &'a PolicyDiff,
}

/// Compares what the daemon runs with `policy` (default: the file it runs); changes nothing.
fn dry_run(args: &ReloadArgs, policy: Option<PathBuf>) -> u8 {
    let status = match control::status(&args.socket.socket) {
        Ok(s) => s,
        Err(err) => {
            print_error(&anyhow::Error::new(err));
            return EXIT_ERROR;
        }
    };
    let running_path = PathBuf::from(&status.policy.path);
    let old = match load(&running_path, "the policy file the daemon runs") {
        Ok(p) => p,
        Err(code) => return code,
    };
    let baseline = baseline(&status.policy, &old);
    if baseline == Baseline::EditedFile {
        if policy.is_none() {
            eprintln!(
                "error: {} changed since the daemon loaded it (sha256 {} runs, the file has {}); \
                 the daemon does not give out the policy text it loaded, so what reloading the \
                 edited file changes cannot be shown\n  = help: keep a copy of the policy in \
                 force and compare with `zcfw diff COPY {}`",
                status.policy.path,
                short(&status.policy.hash),
                short(old.source_hash()),
                status.policy.path
            );
            return EXIT_ERROR;
        }
        eprintln!(
            "warning: {} changed since the daemon loaded it (sha256 {} runs, the file has {}): \
             comparing with the file as it is now, not exactly with what runs",
            status.policy.path,
            short(&status.policy.hash),
            short(old.source_hash())
        );
    }
    let new_path = policy.unwrap_or_else(|| running_path.clone());
    let new = match load(&new_path, "the new policy") {
        Ok(p) => p,
        Err(code) => {
            eprintln!("a reload would be refused: the running policy would stay");
            return code;
        }
    };
    let diff = policy::diff::diff(&old, &new);
    if args.json {
        let code = super::print_json(&DryRun {
            dry_run: true,
            running: &status.policy,
            baseline,
            diff: &diff,
        });
        if code != EXIT_OK {
            return code;
        }
        return if diff.is_empty() {
            EXIT_OK
        } else {
            super::diff::EXIT_DIFFERENT
        };
    }
    println!("{}", header(&status.policy, baseline));
    print_diff(&diff, DiffFormat::Text)
}

/// Whether the file the daemon runs is still what it loaded.
fn baseline(running: &LoadedPolicy, file: &ValidatedPolicy) -> Baseline {
    if file.source_hash() == running.hash {
        Baseline::RunningFile
    } else {
        Baseline::EditedFile
    }
}

/// The first line of a dry run: what is compared, and that nothing changes.
fn header(running: &LoadedPolicy, baseline: Baseline) -> String {
    format!(
        "dry run, nothing changes: the daemon runs policy \"{}\" (generation {}) from {}, {}",
        running.name,
        running.generation,
        running.path,
        match baseline {
            Baseline::RunningFile => "the file is unchanged since it was loaded (same sha256)",
            Baseline::EditedFile =>
                "the file was edited since it was loaded (compared as it is now)",
        }
    )
}

/// Loads `path` for the dry run; diagnostics and exit 2 if it cannot be.
fn load(path: &Path, what: &str) -> Result<ValidatedPolicy, u8> {
    policy::load_file(path).map_err(|e| {
        eprintln!("{what}, {}:", path.display());
        super::check::report_load_error(e);
        EXIT_ERROR
    })
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(hash: &str) -> LoadedPolicy {
        LoadedPolicy {
            name: "minimal".into(),
            hash: hash.into(),
            path: "/etc/zcfw/policy.yaml".into(),
            generation: 3,
            loaded_at_unix: 0,
            load_ms: 1.0,
            zones: 2,
            conduits: 1,
        }
    }

    #[test]
    fn baseline_is_the_running_file_only_with_the_same_hash() {
        let src = include_str!("../../../policies/minimal.yaml");
        let file = policy::load_str(src, "p.yaml").expect("valid");
        let same = running(file.source_hash());
        assert_eq!(baseline(&same, &file), Baseline::RunningFile);
        assert!(header(&same, Baseline::RunningFile).contains("generation 3"));
        assert_eq!(baseline(&running("00"), &file), Baseline::EditedFile);
        let j = serde_json::to_value(DryRun {
            dry_run: true,
            running: &same,
            baseline: Baseline::EditedFile,
            diff: &policy::diff::diff(&file, &file),
        })
        .unwrap();
        assert_eq!(j["baseline"], "edited_file");
        assert_eq!(j["running"]["generation"], 3);
        assert_eq!(j["diff"]["changes"], serde_json::json!([]));
    }
}
