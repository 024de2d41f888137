//! `zcfw learn`: observe what crosses the zones and write a proposed policy (docs/learn.md).
//!
//! With `--policy DRAFT` it starts a daemon of its own (`zcfw run --ephemeral --learn`) on
//! the draft's interfaces, in monitor mode (nothing is dropped but malformed packets), for
//! `--duration`; with `--from-daemon` it asks the running daemon. Either way the daemon
//! summarises what its data path aggregated, and the proposal is written from that summary
//! into a file: nothing is ever applied.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::{DEFAULT_SOCKET, EXIT_ERROR, EXIT_INVALID, EXIT_OK, print_error};
use crate::{
    control,
    learn::{self, LearnAction, Observations, merge, propose, render},
    policy,
};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["policy", "from_daemon"])))]
pub struct LearnArgs {
    /// Draft policy (zones and interfaces, few or no conduits): zcfw runs on its interfaces
    /// in monitor mode for --duration and learns. Needs root; no zcfw daemon may run on them.
    #[arg(long, value_name = "DRAFT")]
    pub policy: Option<PathBuf>,
    /// Learn from the running daemon instead: what it has learned if it is learning
    /// (`zcfw run --learn`), else it learns for --duration (its policy stays enforced).
    #[arg(long)]
    pub from_daemon: bool,
    /// How long to learn: seconds or a number with s, m, h or d (Ctrl-C ends it early and
    /// still writes the proposal).
    #[arg(long, value_name = "DURATION", value_parser = learn::parse_duration)]
    pub duration: Option<Duration>,
    /// Write the proposal here (default: standard output, the summary on standard error).
    #[arg(long, value_name = "PROPOSAL")]
    pub out: Option<PathBuf>,
    /// Add what was learned to this policy, keeping everything written in it (comments,
    /// conduits); only what its conduits do not already allow is added. Default: the draft
    /// (--policy) or the running daemon's policy file (--from-daemon).
    #[arg(long, value_name = "EXISTING")]
    pub merge: Option<PathBuf>,
    /// Control socket of the running daemon (--from-daemon).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET, env = "ZCFW_SOCKET")]
    pub socket: PathBuf,
}

/// Learning time when --duration is not given.
const DEFAULT_DURATION: Duration = Duration::from_secs(600);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub fn run(args: &LearnArgs) -> u8 {
    match learn_and_write(args) {
        Ok(code) => code,
        Err(err) => {
            print_error(&err);
            EXIT_ERROR
        }
    }
}

fn learn_and_write(args: &LearnArgs) -> Result<u8> {
    let (obs, base_path, source) = match &args.policy {
        Some(draft) => {
            // The draft must be valid before anything is started.
            policy::load_file(draft)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| {
                    format!(
                        "the draft {} is refused; fix it first (`zcfw check {}`)",
                        draft.display(),
                        draft.display()
                    )
                })?;
            let obs = learn_with_draft(draft, args.duration.unwrap_or(DEFAULT_DURATION))?;
            (
                obs,
                draft.clone(),
                format!("zcfw learn --policy {}", draft.display()),
            )
        }
        None => {
            let status = control::status(&args.socket)?;
            let obs = learn_from_daemon(&args.socket, args.duration)?;
            (
                obs,
                PathBuf::from(&status.policy.path),
                format!(
                    "the daemon on {} (policy {})",
                    args.socket.display(),
                    status.policy.path
                ),
            )
        }
    };
    let base_path = args.merge.clone().unwrap_or(base_path);
    let text = std::fs::read_to_string(&base_path)
        .with_context(|| format!("cannot read {}", base_path.display()))?;
    let base = policy::load_str(&text, &base_path.display().to_string())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "{} is not a valid policy to merge into",
                base_path.display()
            )
        })?;
    let out_name = args
        .out
        .as_ref()
        .map_or("PROPOSAL.yaml".to_string(), |p| p.display().to_string());
    let review = vec![
        format!("zcfw check {out_name}"),
        format!(
            "zcfw diff {} {out_name}    # what enforcing it opens and closes",
            base_path.display()
        ),
        format!("zcfw audit {out_name}      # IEC 62443-3-3 findings"),
        format!("then load it: zcfw reload --policy {out_name} (or zcfw run --policy {out_name})"),
    ];
    let proposals = propose::propose(&obs);
    let merged = merge::merge(&text, &base, &proposals, &obs, &source, &review);
    let valid = policy::load_str(&merged.text, &out_name);
    match &args.out {
        Some(path) => std::fs::write(path, &merged.text)
            .with_context(|| format!("cannot write the proposal to {}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(merged.text.as_bytes())?;
        }
    }
    let summary = summary(&obs, &merged, args.out.as_deref(), &review);
    if args.out.is_some() {
        print!("{summary}");
    } else {
        eprint!("{summary}");
    }
    if let Err(err) = valid {
        eprintln!("error: the proposal does not pass `zcfw check` (please report this): {err}");
        return Ok(EXIT_INVALID);
    }
    Ok(EXIT_OK)
}

fn summary(
    obs: &Observations,
    merged: &merge::Merged,
    out: Option<&Path>,
    review: &[String],
) -> String {
    let mut s = String::new();
    let where_to = out.map_or("standard output".to_string(), |p| p.display().to_string());
    s.push_str(&format!(
        "learned {} .. {}: {} service(s) between zones, {} address(es) in no zone\n",
        propose::time(obs.since),
        propose::time(obs.until),
        obs.flows.len(),
        obs.hosts.len() as u64 + obs.hosts_not_listed
    ));
    if merged.added.is_empty() {
        s.push_str(&format!(
            "no conduit to add; proposal written to {where_to}\n"
        ));
    } else {
        s.push_str(&format!(
            "proposal written to {where_to}: {} conduit(s) added: {}\n",
            merged.added.len(),
            merged.added.join(", ")
        ));
    }
    if !merged.covered.is_empty() {
        s.push_str(&format!(
            "already allowed by the policy: {}\n",
            merged.covered.join(", ")
        ));
    }
    for w in &obs.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    s.push_str(&render::unknown_hosts(obs, "unknown hosts:").replace("unknown hosts:   ", "  "));
    s.push_str("nothing was applied. Review before enforcing:\n");
    for line in review {
        s.push_str(&format!("  {line}\n"));
    }
    s
}

/// Waits `duration` (or until Ctrl-C), checking `alive` every second.
fn wait(duration: Duration, mut alive: impl FnMut() -> Result<()>) -> Result<()> {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_interrupt as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_interrupt as *const () as libc::sighandler_t,
        );
    }
    let end = Instant::now() + duration;
    while Instant::now() < end && !INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(200).min(end - Instant::now()));
        alive()?;
    }
    if INTERRUPTED.load(Ordering::SeqCst) {
        eprintln!("interrupted: writing the proposal from what was learned so far");
    }
    Ok(())
}

fn learn_from_daemon(socket: &Path, duration: Option<Duration>) -> Result<Observations> {
    let now = control::learn(socket, LearnAction::Read)?;
    if now.learning && duration.is_none() {
        return Ok(now);
    }
    let duration = duration.unwrap_or(DEFAULT_DURATION);
    let started_here = !now.learning;
    if started_here {
        control::learn(socket, LearnAction::Start)?;
    }
    eprintln!(
        "learning from the daemon on {} for {}s (Ctrl-C ends it early); its policy stays enforced",
        socket.display(),
        duration.as_secs()
    );
    let waited = wait(duration, || Ok(()));
    let obs = control::learn(
        socket,
        if started_here {
            LearnAction::Stop
        } else {
            LearnAction::Read
        },
    );
    waited?;
    Ok(obs?)
}

/// A daemon of our own on the draft's interfaces, stopped when dropped.
struct LearningDaemon {
    child: Child,
    dir: PathBuf,
}

impl Drop for LearningDaemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn learn_with_draft(draft: &Path, duration: Duration) -> Result<Observations> {
    use std::os::unix::{fs::DirBuilderExt as _, process::CommandExt as _};
    let dir = std::env::temp_dir().join(format!("zcfw-learn-{}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let socket = dir.join("learn.sock");
    let log_path = dir.join("daemon.log");
    let log = std::fs::File::create(&log_path)?;
    let exe = std::env::current_exe().context("cannot find the zcfw binary")?;
    let child = Command::new(exe)
        .arg("run")
        .arg("--ephemeral")
        .arg("--learn")
        .arg("--policy")
        .arg(draft)
        .arg("--socket")
        .arg(&socket)
        .args(["--event-rate", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // Its own process group: a Ctrl-C in the terminal reaches `zcfw learn`, which reads
        // what was learned before it stops the daemon.
        .process_group(0)
        .spawn()
        .context("cannot start the learning daemon")?;
    let mut daemon = LearningDaemon { child, dir };
    let log_tail = |path: &Path| {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    };
    let ready_by = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = daemon.child.try_wait()? {
            bail!(
                "the learning daemon (zcfw run --ephemeral --learn) ended ({status}):\n{}",
                log_tail(&log_path)
            );
        }
        if control::status(&socket).is_ok() {
            break;
        }
        if Instant::now() > ready_by {
            bail!(
                "the learning daemon did not start within 120 s:\n{}",
                log_tail(&log_path)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "learning on the interfaces of {} for {}s in monitor mode: nothing is dropped (Ctrl-C ends it early)",
        draft.display(),
        duration.as_secs()
    );
    wait(duration, || match daemon.child.try_wait()? {
        Some(status) => bail!(
            "the learning daemon ended ({status}):\n{}",
            log_tail(&log_path)
        ),
        None => Ok(()),
    })?;
    let obs = control::learn(&socket, LearnAction::Read)?;
    drop(daemon);
    Ok(obs)
}
