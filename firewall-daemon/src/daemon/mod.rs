//! `zcfw run`: load and compile the policy, load the XDP program, write the maps, attach to
//! the policy's interfaces, serve the control socket until SIGINT/SIGTERM, then detach.

mod socket;
mod stats;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use anyhow::{Context, Result, bail};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

use crate::{
    compile::{self, CompiledPolicy},
    dataplane::{self, Dataplane},
    policy,
};

/// Where the BPF filesystem is expected.
const BPFFS: &str = "/sys/fs/bpf";

/// What `zcfw run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub policy: PathBuf,
    pub socket: PathBuf,
}

/// The policy in force and the program enforcing it, shared with the control socket.
pub struct State {
    pub policy: CompiledPolicy,
    pub dataplane: Dataplane,
}

/// Why the daemon stopped before serving.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPolicy(pub String);

/// Runs the daemon until SIGINT or SIGTERM.
pub fn run(opts: &RunOptions) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(opts))
}

/// Loads, validates and compiles a policy file.
pub fn load_policy(path: &Path) -> Result<CompiledPolicy> {
    let validated = match policy::load_file(path) {
        Ok(v) => v,
        Err(policy::PolicyError::Invalid(diags)) => {
            return Err(InvalidPolicy(diags.to_string()).into());
        }
        Err(other) => {
            return Err(other).with_context(|| format!("cannot load policy {}", path.display()));
        }
    };
    for warning in validated.warnings() {
        warn!("{warning}");
    }
    compile::compile(&validated)
        .map_err(|e| InvalidPolicy(format!("{}: {e}", path.display())).into())
}

async fn serve(opts: &RunOptions) -> Result<()> {
    let policy = load_policy(&opts.policy)?;
    if !nix::unistd::geteuid().is_root() {
        warn!("not running as root: loading BPF needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON");
    }
    let ifindexes = resolve_interfaces(&policy)?;
    let bpffs = Path::new(BPFFS);
    if dataplane::bpffs::ensure(bpffs).context("the BPF filesystem is not available")? {
        info!(
            path = BPFFS,
            "mounted the BPF filesystem (it was missing, e.g. under `ip netns exec`)"
        );
    }
    let mut dataplane = Dataplane::load().context("cannot load the XDP program")?;
    let _logger = start_ebpf_logger(&mut dataplane);
    let generation = dataplane
        .install(&policy, &ifindexes)
        .context("cannot write the policy into the kernel maps")?;
    for iface in &policy.interfaces {
        dataplane
            .attach(&iface.name, iface.xdp_mode)
            .with_context(|| format!("cannot enforce the policy on interface {}", iface.name))?;
    }
    info!(
        policy = policy.name,
        hash = policy.hash,
        generation,
        interfaces = policy.interfaces.len(),
        conduits = policy.conduits.len(),
        "policy live"
    );
    let state = Arc::new(Mutex::new(State { policy, dataplane }));
    let listener = socket::bind(&opts.socket)?;
    let server = tokio::spawn(socket::serve(listener, state.clone()));

    let mut sigterm =
        signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut sigint =
        signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    tokio::select! {
        _ = sigterm.recv() => info!("SIGTERM received, shutting down"),
        _ = sigint.recv() => info!("SIGINT received, shutting down"),
    }
    server.abort();
    socket::remove(&opts.socket);
    let mut state = state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    state.dataplane.detach_all();
    info!("stopped; XDP detached from every interface");
    Ok(())
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

/// Forwards aya-log records of the program to `tracing`. The logger must stay alive while the
/// program is loaded; the program may also carry no log map at all (release builds).
fn start_ebpf_logger(dataplane: &mut Dataplane) -> Option<tokio::task::JoinHandle<()>> {
    let logger = match aya_log::EbpfLogger::init(dataplane.ebpf_mut()) {
        Ok(logger) => logger,
        Err(err) => {
            tracing::debug!(error = %err, "no eBPF log records (the program logs nothing per packet)");
            return None;
        }
    };
    // SAFETY: the logger owns its ring buffer map fd for its whole life and never swaps it;
    // the AsyncFd owns the logger, so the fd stays open and the same while registered.
    let registered = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(logger, tokio::io::Interest::READABLE)
    };
    let mut fd = match registered {
        Ok(fd) => fd,
        Err(err) => {
            warn!(error = %err, "cannot poll eBPF log records");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        loop {
            let Ok(mut guard) = fd.readable_mut().await else {
                return;
            };
            guard.get_inner_mut().flush();
            guard.clear_ready();
        }
    }))
}
