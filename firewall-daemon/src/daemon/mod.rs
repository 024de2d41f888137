//! `zcfw run`: load and compile the policy, load the XDP program (adopting pinned state left by
//! an earlier daemon), write the maps, attach to the policy's interfaces, then serve the
//! control socket (stats, status, reload, island) until SIGINT/SIGTERM. SIGHUP reloads.
//!
//! With pinning (the default) the program, its maps and its links outlive the daemon: when it
//! stops or dies the last policy stays enforced (fail closed, SR 5.2 RE3), and the next daemon
//! adopts it without a gap. `--ephemeral` detaches everything on exit instead.

mod accept;
mod access;
mod capture;
mod community_id;
mod events;
mod fdb;
pub mod learn;
mod metrics;
mod notify;
mod reload;
mod socket;
mod stats;
mod watch;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Instant, SystemTime},
};

use anyhow::{Context, Result, bail};
pub use capture::ip_addresses;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use crate::{
    compile::{self, CompiledPolicy},
    control::{
        reload::{ReloadError, Reloaded},
        status::NotEnforced,
    },
    dataplane::{self, Dataplane},
    policy,
};

/// What `zcfw run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub policy: PathBuf,
    pub socket: PathBuf,
    /// Pin directory; `None` for `--ephemeral` (nothing outlives the daemon).
    pub pin_dir: Option<PathBuf>,
    /// Events per second each CPU may send (denies and alerts beyond it are only counted).
    pub event_rate: u32,
    /// Append-only JSON-lines audit file of events, rotated at `audit_log_max_bytes`.
    pub audit_log: Option<PathBuf>,
    pub audit_log_max_bytes: u64,
    pub audit_log_keep: u32,
    /// Also log every event (deny, alert) through `tracing` at INFO (off: events go to the
    /// event stream and the audit log only).
    pub log_events: bool,
    /// Prometheus text endpoint (off when `None`).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// What reading a policy file may cost (size).
    pub limits: policy::limits::Limits,
    /// Members of this group may read the firewall over the socket (status, stats, events).
    pub read_group: String,
    /// Members of this group may change it (reload, island).
    pub admin_group: String,
    /// Learning mode (`zcfw learn --policy`): every deny of the policy only alerts (nothing
    /// is dropped but malformed packets), and the data path learns from the start.
    pub learn: bool,
}

/// The policy in force and the program enforcing it, shared with the control socket.
pub struct State {
    pub policy: CompiledPolicy,
    pub policy_path: PathBuf,
    pub dataplane: Dataplane,
    /// When the policy in force was loaded.
    pub loaded_at: SystemTime,
    /// How long the last load (validation, compilation, map writes, flip) took.
    pub load_time: std::time::Duration,
    pub started: Instant,
    /// Decoded events, for `zcfw events`.
    pub events: Arc<events::EventHub>,
    /// Captured denied frames, for `zcfw capture`.
    pub capture: Arc<capture::CaptureHub>,
    /// What the kernel said at the last check of the XDP attachments.
    pub health: watch::AttachmentHealth,
    /// What reading a policy file may cost.
    pub limits: policy::limits::Limits,
    /// Reloads since the start and how the last one ended (for the metrics).
    pub reload_stats: metrics::ReloadStats,
    /// Learning mode: whether the data path learns, and what it learned.
    pub learning: learn::Learning,
    /// Every policy loaded is turned to monitor mode (`zcfw run --learn`).
    pub monitor_only: bool,
}

/// Runs the daemon until SIGINT or SIGTERM.
pub fn run(opts: &RunOptions) -> Result<()> {
    one_heap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(opts))
}

/// Keeps the daemon's heap in one glibc arena. Reloads compile on whichever thread runs them;
/// with an arena per thread, memory a reload freed stayed resident in a worker's arena even
/// after `malloc_trim` (0.3-0.6 MB more per reload, `reloads_do_not_grow_resident_memory`),
/// while with one arena it is given back. The daemon allocates little concurrently, so one
/// arena costs it nothing measurable. Called before any thread starts.
fn one_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: a glibc tunable set before the process starts any other thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Loads (within `limits`), validates and compiles a policy file.
pub fn load_policy(
    path: &Path,
    limits: &policy::limits::Limits,
    monitor_only: bool,
) -> Result<CompiledPolicy, ReloadError> {
    let validated = match policy::load_file_within(path, limits) {
        Ok(v) if monitor_only => v.into_monitor(),
        Ok(v) => v,
        Err(policy::PolicyError::Invalid(diags)) => {
            return Err(ReloadError::InvalidPolicy {
                diagnostics: diags.to_string(),
            });
        }
        Err(other) => {
            return Err(ReloadError::Unreadable {
                path: path.display().to_string(),
                why: format!("{:#}", anyhow::Error::new(other)),
            });
        }
    };
    for warning in validated.warnings() {
        warn!("{warning}");
    }
    compile::compile(&validated).map_err(|e| ReloadError::InvalidPolicy {
        diagnostics: format!("{}: {e}", path.display()),
    })
}

/// Makes sure the pin directory lives on a BPF filesystem: mounts one on `/sys/fs/bpf` where
/// it is missing (as under `ip netns exec`), and refuses any other non-bpffs location.
fn prepare_pin_dir(pin_dir: &Path) -> Result<()> {
    let mut existing = pin_dir;
    while !existing.exists() {
        existing = existing.parent().unwrap_or(Path::new("/"));
    }
    if dataplane::bpffs::is_bpffs(existing)? {
        return Ok(());
    }
    let default = Path::new(dataplane::bpffs::DEFAULT_MOUNT);
    if pin_dir.starts_with(default) && dataplane::bpffs::ensure(default)? {
        warn!(
            path = dataplane::bpffs::DEFAULT_MOUNT,
            "mounted a BPF filesystem (none was mounted, e.g. under `ip netns exec`); pins there \
             live only as long as this mount namespace"
        );
        return Ok(());
    }
    bail!(
        "pin directory {} is not on a BPF filesystem; use a directory under {} or mount one with \
         `mount -t bpf -o mode=0700 bpf DIR`",
        pin_dir.display(),
        dataplane::bpffs::DEFAULT_MOUNT
    )
}

async fn serve(opts: &RunOptions) -> Result<()> {
    let started = Instant::now();
    let policy = match load_policy(&opts.policy, &opts.limits, opts.learn) {
        Ok(p) => p,
        Err(err) => {
            if let Some(dir) = opts.pin_dir.as_deref().filter(|d| d.join("links").exists()) {
                error!(
                    pin_dir = %dir.display(),
                    "the policy file is refused; the previously loaded policy stays enforced"
                );
            }
            return Err(err.into());
        }
    };
    // Claim the control socket before touching any pinned state: a second daemon started by
    // mistake must not adopt the first one's pins and swap its program.
    let roles = Arc::new(access::Roles::new(&opts.read_group, &opts.admin_group));
    let listener = socket::bind(&opts.socket, &roles)?;
    let socket_file = socket::SocketFile(opts.socket.clone());
    accept::raise_open_files_limit();
    if !nix::unistd::geteuid().is_root() {
        warn!("not running as root: loading BPF needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON");
    }
    let ifindexes = resolve_interfaces(&policy)?;
    let mut dataplane = match &opts.pin_dir {
        Some(dir) => {
            prepare_pin_dir(dir)?;
            Dataplane::load_pinned(dir).with_context(|| {
                format!(
                    "cannot load the XDP program with pins under {}",
                    dir.display()
                )
            })?
        }
        None => Dataplane::load().context("cannot load the XDP program")?,
    };
    if dataplane.adopted() {
        info!(
            generation = dataplane.generation(),
            "adopted the pinned policy of an earlier daemon; it stays enforced until the new one is live"
        );
    }
    if let Some(from) = dataplane.upgrading_from() {
        let flows = dataplane
            .carry_over_flows()
            .context("cannot carry the tracked flows over from the previous zcfw version")?;
        info!(
            from_layout = from,
            flows, "tracked flows carried over; each is judged again by its next packet"
        );
    }
    dataplane
        .set_event_rate(opts.event_rate)
        .context("cannot configure the event rate")?;
    let ring = dataplane
        .take_events()
        .context("cannot open the event ring buffer")?;
    // No capture client yet (a daemon that died with one connected left the flag on).
    dataplane
        .set_capture(false)
        .context("cannot turn frame capture off")?;
    let capture_ring = dataplane
        .take_capture()
        .context("cannot open the capture ring buffer")?;
    let capture_hub = Arc::new(capture::CaptureHub::default());
    let audit = match &opts.audit_log {
        Some(path) => Some(
            events::AuditLog::open(path.clone(), opts.audit_log_max_bytes, opts.audit_log_keep)
                .with_context(|| format!("cannot open the audit log {}", path.display()))?,
        ),
        None => None,
    };
    let hub = Arc::new(events::EventHub::new(audit));
    let generation = dataplane
        .install(&policy, &ifindexes)
        .context("cannot write the policy into the kernel maps")?;
    attach_all(&mut dataplane, &policy)?;
    // This program is behind every pinned link now: maps of a previous version can go.
    match dataplane.finish_upgrade() {
        Ok(0) => {}
        Ok(flows) => info!(flows, "flows opened during the takeover carried over"),
        Err(err) => warn!(
            error = %err,
            "cannot remove the maps of the previous zcfw version; the new policy is live, `zcfw detach` removes them"
        ),
    }
    let load_time = started.elapsed();
    info!(
        policy = policy.name,
        hash = policy.hash,
        generation,
        interfaces = policy.interfaces.len(),
        conduits = policy.conduits.len(),
        load_ms = load_time.as_millis() as u64,
        "policy live"
    );
    let state = Arc::new(Mutex::new(State {
        policy,
        policy_path: opts.policy.clone(),
        dataplane,
        loaded_at: SystemTime::now(),
        load_time,
        started,
        events: hub.clone(),
        capture: capture_hub.clone(),
        health: watch::AttachmentHealth::default(),
        limits: opts.limits,
        reload_stats: metrics::ReloadStats::default(),
        learning: learn::Learning::default(),
        monitor_only: opts.learn,
    }));
    learn::at_start(&mut lock(&state), opts.learn).map_err(anyhow::Error::msg)?;
    let reloads = Arc::new(reload::Reloads::default());
    // What validating and compiling the first policy allocated is free again.
    reload::give_back_memory();
    {
        let mut state = lock(&state);
        let lost = watch::check(&mut state);
        if !lost.is_empty() {
            bail!(
                "XDP is not attached on {} after attaching it (see the log above); nothing is \
                 enforced there",
                names(&lost)
            );
        }
    }
    let fdb_thread = fdb::FdbThread::spawn(state.clone())?;
    let reader = tokio::spawn(events::run(ring, state.clone(), hub, opts.log_events));
    let capture_reader = tokio::spawn(capture::run(capture_ring, state.clone(), capture_hub));
    let metrics = match opts.metrics_listen {
        Some(addr) => Some(tokio::spawn(metrics::serve(
            metrics::bind(addr).await?,
            state.clone(),
        ))),
        None => None,
    };
    let server = tokio::spawn(socket::serve(
        listener,
        state.clone(),
        reloads.clone(),
        roles.clone(),
    ));
    let mut sigterm =
        signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut sigint =
        signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
    // Ready once signals are handled: a stop or reload right after it finds its handler.
    notify::ready();
    let mut watch_tick = tokio::time::interval(watch::CHECK_INTERVAL);
    watch_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watchdog = notify::Watchdog::from_env();
    loop {
        tokio::select! {
            _ = watch_tick.tick() => {
                let mut state = lock(&state);
                watch::check(&mut state);
                learn::sample(&mut state);
            }
            _ = watchdog.tick() => {
                // Alive: this loop runs, the state can be locked, the servers run.
                let alive = {
                    let _state = lock(&state);
                    !server.is_finished() && !reader.is_finished()
                        && metrics.as_ref().is_none_or(|m| !m.is_finished())
                };
                if alive {
                    notify::watchdog_ping();
                } else {
                    error!("a daemon task has ended; not pinging the systemd watchdog");
                }
            }
            _ = sigterm.recv() => { info!("SIGTERM received, shutting down"); break; }
            _ = sigint.recv() => { info!("SIGINT received, shutting down"); break; }
            _ = sighup.recv() => {
                info!("SIGHUP received, reloading the policy");
                // Off this loop: signals and attachment checks go on during the reload.
                let (state, reloads) = (state.clone(), reloads.clone());
                tokio::spawn(async move {
                    notify::reloading();
                    let outcome = reload::reload(&state, &reloads, None, None).await;
                    if let Err(err) = reload::into_result(outcome) {
                        error!("reload refused, the running policy stays: {err:#}");
                    }
                    notify::ready();
                });
            }
        }
    }
    notify::stopping();
    drop(fdb_thread);
    server.abort();
    reader.abort();
    capture_reader.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    drop(socket_file);
    let mut state = lock(&state);
    // Claim only what the kernel confirms.
    let lost = if state.dataplane.pin_dir().is_some() {
        watch::check(&mut state)
    } else {
        Vec::new()
    };
    match state.dataplane.pin_dir() {
        Some(dir) if lost.is_empty() => info!(
            pin_dir = %dir.display(),
            "stopped; XDP stays attached and the policy enforced (fail closed); `zcfw detach` removes it"
        ),
        Some(dir) => error!(
            pin_dir = %dir.display(),
            "stopped; XDP is NOT attached on {}: those interfaces are not enforced; start zcfw again",
            names(&lost)
        ),
        None => {
            state.dataplane.detach_all();
            info!("stopped; XDP detached from every interface");
        }
    }
    Ok(())
}

/// Attaches to every interface of `policy` and detaches (pinned) interfaces it no longer lists.
fn attach_all(dataplane: &mut Dataplane, policy: &CompiledPolicy) -> Result<()> {
    let attached: Vec<String> = dataplane
        .attachments()
        .iter()
        .map(|a| a.iface.clone())
        .collect();
    for iface in &policy.interfaces {
        if attached.contains(&iface.name) {
            continue;
        }
        let attachment = dataplane
            .attach(&iface.name, iface.xdp_mode)
            .with_context(|| format!("cannot enforce the policy on interface {}", iface.name))?;
        if crate::dataplane::bridge::role(&iface.name, attachment.ifindex)
            == crate::dataplane::bridge::BridgeRole::Bridge
        {
            tracing::warn!(
                "{} is a bridge device: XDP on it sees only the frames the bridge delivers to \
                 this host, not those it forwards between its ports; to filter what crosses \
                 the bridge, list its member ports in the policy instead (docs/bridge.md)",
                iface.name
            );
        }
    }
    let keep: Vec<&str> = policy.interfaces.iter().map(|i| i.name.as_str()).collect();
    dataplane.prune_links(&keep)?;
    Ok(())
}

pub(crate) fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes `policy` (validated and compiled from `path`, see [`reload`]) into the inactive
/// generation and flips to it. On any error the running policy is untouched.
fn commit_reload(
    state: &mut State,
    path: PathBuf,
    policy: CompiledPolicy,
    started: Instant,
) -> Result<Reloaded, ReloadError> {
    let ifindexes = resolve_interfaces(&policy).map_err(|e| ReloadError::Interfaces {
        why: format!("{e:#}"),
    })?;
    let generation =
        state
            .dataplane
            .install(&policy, &ifindexes)
            .map_err(|e| ReloadError::Dataplane {
                why: format!("cannot write the new policy into the kernel maps: {e:#}"),
            })?;
    attach_all(&mut state.dataplane, &policy).map_err(|e| ReloadError::Dataplane {
        why: format!("{e:#}"),
    })?;
    // Rule counters are kept by id: a rule that now has another rule's id starts from 0.
    let renumbered = stats::renumbered_rules(&state.policy, &policy);
    if let Err(err) = state.dataplane.reset_rule_counters(&renumbered) {
        warn!(error = %err, "cannot reset the counters of renumbered rules; `zcfw stats` may credit them with their predecessors' packets");
    }
    let load_time = started.elapsed();

    info!(
        policy = policy.name,
        hash = policy.hash,
        generation,
        load_ms = load_time.as_millis() as u64,
        "policy reloaded and live"
    );
    let answer = Reloaded {
        name: policy.name.clone(),
        hash: policy.hash.clone(),
        generation: generation.into(),
        load_ms: load_time.as_secs_f64() * 1000.0,
        path: path.display().to_string(),
        unchanged: false,
    };
    state.policy = policy;
    state.policy_path = path;
    state.loaded_at = SystemTime::now();
    state.load_time = load_time;
    let lost = watch::check(state);
    if !lost.is_empty() {
        return Err(ReloadError::NotEnforced {
            interfaces: lost
                .into_iter()
                .map(|(interface, why)| NotEnforced { interface, why })
                .collect(),
        });
    }
    Ok(answer)
}

/// `eth0 (why), eth1 (why)`.
fn names(lost: &[(String, String)]) -> String {
    lost.iter()
        .map(|(iface, why)| format!("{iface} ({why})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Kernel indexes of every interface of the policy; fails before anything is attached.
fn resolve_interfaces(policy: &CompiledPolicy) -> Result<BTreeMap<String, u32>> {
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for iface in &policy.interfaces {
        match dataplane::ifindex_of(&iface.name) {
            Ok(ifindex) => {
                out.insert(iface.name.clone(), ifindex);
            }
            Err(_) => missing.push(iface.name.as_str()),
        }
    }
    if !missing.is_empty() {
        bail!(
            "interface(s) {} listed in the policy do not exist on this host (network namespace); \
             check `ip link` or fix `interfaces:` in the policy",
            missing.join(", ")
        );
    }
    Ok(out)
}
