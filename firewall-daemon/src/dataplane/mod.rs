//! The kernel side, seen from the daemon: loading the embedded XDP program, writing a compiled
//! policy into its maps (one generation slot at a time, then an atomic flip), attaching it to
//! interfaces and reading its counters. No policy logic lives here.

mod attach;
pub mod bpffs;
pub mod bridge;
mod error;
mod fastpath;
pub mod fdb;
mod learn;
mod link;
mod maps;
pub mod pindir;
pub mod pinlock;
mod upgrade;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::ProgramArray,
    programs::{ProgramError, Xdp},
};
use firewall_common::{
    ABI_VERSION,
    maps::{Counter, control_flags, inspector, names},
    reason::Reason,
};
use tracing::info;

use self::attach::{pinned_links, unpin_link};
pub use self::{
    attach::{Attachment, Repair},
    error::DataplaneError,
    fastpath::FORWARDER_PROGRAM,
    maps::EventPathCounters,
};
use crate::compile::CompiledPolicy;

/// The XDP object built by build.rs from the firewall-ebpf crate.
pub static EBPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/firewall-ebpf"));

/// Name of the XDP entry point in [`EBPF_OBJECT`].
pub const PROGRAM_NAME: &str = "zcfw_xdp";
/// Name of the benchmark baseline program (drops everything, reads nothing).
pub const BASELINE_PROGRAM_NAME: &str = "zcfw_baseline_drop";

/// How XDP ended up attached to an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachedMode {
    Native,
    Skb,
}

impl std::fmt::Display for AttachedMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AttachedMode::Native => "native",
            AttachedMode::Skb => "skb",
        })
    }
}

/// Packet and byte totals (summed over CPUs) per reason and per conduit id.
#[derive(Clone, Debug, Default)]
pub struct CounterSnapshot {
    pub reasons: Vec<(Reason, Counter)>,
    /// Indexed by conduit id (entry 0 unused).
    pub conduits: Vec<Counter>,
    /// Inspection denies by conduit id (entry 0 unused), then by reason (in [`Reason::ALL`]
    /// order, by [`Reason::conduit_slot`]).
    pub conduit_denies: Vec<Vec<(Reason, Counter)>>,
    /// What was done with those denies, by conduit id (entry 0 unused), then by
    /// `firewall_common::event::action` (in `action::ALL` order: drop, alert, reset, exception).
    pub conduit_actions: Vec<Vec<(u8, Counter)>>,
}

/// A loaded program as the kernel reports it ([`Dataplane::program_stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramStats {
    /// Instructions the verifier processed to prove the program safe (its complexity; the
    /// kernel's limit is 1,000,000); `None` before Linux 5.16.
    pub verified_insns: Option<u32>,
    /// Translated (post-verifier) BPF instructions.
    pub xlated_insns: u32,
    pub jited_bytes: u32,
}

/// How long the old generation stays readable after a flip before it is cleared.
const SLOT_GRACE: std::time::Duration = std::time::Duration::from_millis(5);

/// The loaded XDP program and its maps.
pub struct Dataplane {
    ebpf: Ebpf,
    active_slot: Option<u8>,
    generation: u32,
    attachments: Vec<Attachment>,
    /// Where maps and links are pinned; `None`: nothing outlives this process.
    pins: Option<PathBuf>,
    adopted: bool,
    /// Layout version of the pins of another build this process is taking over, and whether
    /// they had island mode on (see [`upgrade`]).
    upgrading_from: Option<(u32, bool)>,
    /// What each slot's part of the array maps (zone table, pair masks) holds, as far as
    /// this process knows, so an install writes only the words that change.
    known: [maps::KnownSlot; 2],
    /// The exclusive lock of the pin directory, held for the life of the dataplane.
    lock: Option<pinlock::PinLock>,
}

impl Dataplane {
    /// Loads the embedded object and the XDP program into the kernel (verifier included),
    /// without attaching it anywhere and without pinning anything: everything is gone when
    /// the `Dataplane` is dropped. Every packet is dropped as `no_policy` until
    /// [`Dataplane::install`] has run.
    pub fn load() -> Result<Self, DataplaneError> {
        Self::load_with(EbpfLoader::new(), None)
    }

    /// Like [`Dataplane::load`], but the maps live pinned under `pin_dir/maps` and links under
    /// `pin_dir/links`, so the policy stays enforced when the process dies (fail closed). Maps
    /// already pinned there are adopted with their state (policy, flows, counters, island);
    /// pinned maps of another layout version are taken over ([`upgrade`]). A pin directory someone else could
    /// write to (or reach by a path someone else controls) is refused ([`pindir`]).
    pub fn load_pinned(pin_dir: &Path) -> Result<Self, DataplaneError> {
        pindir::secure(pin_dir)?;
        // Before anything pinned is touched: one daemon per pin directory.
        let lock = pinlock::PinLock::acquire(pin_dir)?;
        let maps_dir = pin_dir.join("maps");
        let links = pin_dir.join("links");
        for dir in [&maps_dir, &links.join("native"), &links.join("skb")] {
            pindir::create_private(dir).map_err(|source| DataplaneError::PinDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        // Maps of another layout are moved aside before anything opens them.
        let upgrading_from = upgrade::retire_foreign_maps(pin_dir)?;
        let mut loader = EbpfLoader::new();
        let paths: Vec<(&str, PathBuf)> =
            names::ALL.iter().map(|n| (*n, maps_dir.join(n))).collect();
        for (name, path) in &paths {
            loader.map_pin_path(name, path.as_path());
        }
        let mut dataplane = Self::load_with(loader, Some(pin_dir.to_owned()))?;
        dataplane.upgrading_from = upgrading_from;
        dataplane.lock = Some(lock);
        if let Some((_, true)) = upgrading_from {
            dataplane.set_island(true)?;
        }
        Ok(dataplane)
    }

    fn load_with(
        mut loader: EbpfLoader<'_>,
        pins: Option<PathBuf>,
    ) -> Result<Self, DataplaneError> {
        let mut ebpf = loader
            .load(EBPF_OBJECT)
            .map_err(DataplaneError::from_ebpf)?;
        // At once, so that pins this process created say their layout even if it stops
        // before anything else. Pins adopted from another daemon hold this version already
        // (others were moved aside by `upgrade::retire_foreign_maps`) or 0.
        maps::write_abi(&mut ebpf)?;
        let program = xdp_program(&mut ebpf)?;
        program.load().map_err(DataplaneError::from_program_load)?;
        load_inspectors(&mut ebpf)?;
        fastpath::load_forwarder(&mut ebpf)?;
        let fresh = pins.is_none();
        let mut dataplane = Dataplane {
            ebpf,
            active_slot: None,
            generation: 0,
            attachments: Vec::new(),
            pins,
            adopted: false,
            upgrading_from: None,
            // Maps this process created are all zero; pinned ones may hold anything.
            known: if fresh {
                [maps::KnownSlot::zeroed(), maps::KnownSlot::zeroed()]
            } else {
                Default::default()
            },
            lock: None,
        };
        if dataplane.pins.is_some() {
            let state = maps::read_state(&mut dataplane.ebpf)?;
            // Pinned maps of another version never get here (`upgrade::retire_foreign_maps`
            // moved them aside): the policy in these was written by a daemon of this build,
            // or none was (0).
            if state.abi_version == ABI_VERSION {
                dataplane.active_slot = state.active_slot;
                dataplane.generation = state.generation;
                dataplane.adopted = state.active_slot.is_some();
            }
        }
        Ok(dataplane)
    }

    /// The layout version of the pins of another zcfw build this process found and is
    /// taking over (they stay enforced until [`Dataplane::attach`] replaces their program).
    pub fn upgrading_from(&self) -> Option<u32> {
        self.upgrading_from.map(|(abi, _)| abi)
    }

    /// Copies the tracked flows of retired maps (pins of another build, see
    /// [`Dataplane::upgrading_from`]) into this program's conntrack map; the next packet of
    /// each is judged again against the current policy. Run it before attaching, so replies
    /// of established connections pass from the first packet the new program sees, and
    /// [`Dataplane::finish_upgrade`] after. Returns the flows copied.
    pub fn carry_over_flows(&mut self) -> Result<usize, DataplaneError> {
        let Some(pins) = self.pins.clone() else {
            return Ok(0);
        };
        let mut copied = 0;
        for retired in upgrade::retired(&pins)? {
            copied += upgrade::carry_flows(&retired, &mut self.ebpf)?;
        }
        Ok(copied)
    }

    /// Ends a takeover once this program is behind every pinned link: copies the flows the
    /// old program opened meanwhile, then unpins the retired maps (the old program and its
    /// maps are freed with them). Retired maps left by a daemon that stopped mid-takeover are
    /// removed as well. Returns the flows copied in this pass.
    pub fn finish_upgrade(&mut self) -> Result<usize, DataplaneError> {
        let copied = self.carry_over_flows()?;
        let Some(pins) = &self.pins else {
            return Ok(copied);
        };
        for retired in upgrade::retired(pins)? {
            let maps = upgrade::remove(&retired)?;
            info!(from_layout = retired.abi, maps, dir = %retired.dir.display(), "retired maps of the previous zcfw version removed");
        }
        self.upgrading_from = None;
        Ok(copied)
    }

    /// Whether pinned state with a live policy was adopted from an earlier daemon.
    pub fn adopted(&self) -> bool {
        self.adopted
    }

    /// The underlying object (tests and benchmarks reach its maps directly).
    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }

    /// Writes `policy` into the inactive slot, flips the active slot to it in one write, then
    /// clears the old slot. Returns the new generation number. `ifindexes` maps the policy's
    /// interface names to kernel interface indexes. On error the active policy is untouched.
    pub fn install(
        &mut self,
        policy: &CompiledPolicy,
        ifindexes: &BTreeMap<String, u32>,
    ) -> Result<u32, DataplaneError> {
        let slot = match self.active_slot {
            Some(s) => 1 - s,
            None => 0,
        };
        let generation = self.generation.wrapping_add(1).max(1);
        // Counters first: the slot's interface flags point the forwarder at them.
        let fast = fastpath::wanted(
            policy
                .interfaces
                .iter()
                .map(|i| (i.name.as_str(), i.fast_path)),
            ifindexes,
        );
        for &ifindex in &fast {
            fastpath::ensure_counters(&mut self.ebpf, ifindex)?;
        }
        let ports = policy
            .interfaces
            .iter()
            .filter_map(|i| ifindexes.get(&i.name).copied())
            .collect();
        fastpath::set_ports(&mut self.ebpf, &ports)?;
        // A frame from a bridge port is never routed by the forwarder: the new ports are
        // added before the flip, the ports the old policy alone had are removed after it.
        let (bridge_ports, _) = bridge::ports_of(
            policy
                .interfaces
                .iter()
                .filter_map(|i| Some((i.name.as_str(), *ifindexes.get(&i.name)?))),
            &fast,
        );
        fastpath::set_bridge_ports(&mut self.ebpf, &bridge_ports, false)?;
        maps::clear_slot(&mut self.ebpf, slot)?;
        let written = &mut self.known[slot as usize];
        if let Err(err) = maps::write_slot(
            &mut self.ebpf,
            slot,
            generation,
            policy,
            ifindexes,
            &fast,
            written,
        ) {
            // Leave no half-written generation behind; the active one never saw it.
            let _ = maps::clear_slot(&mut self.ebpf, slot);
            return Err(err);
        }
        maps::activate(&mut self.ebpf, slot)?;
        if let Some(old) = self.active_slot {
            // A packet that read the old slot number just before the flip may still be looking
            // up old entries; XDP runs a packet in microseconds, so after this grace period
            // nothing reads the old slot any more and it can be cleared.
            std::thread::sleep(SLOT_GRACE);
            maps::clear_slot(&mut self.ebpf, old)?;
        }
        fastpath::set_bridge_ports(&mut self.ebpf, &bridge_ports, true)?;
        self.active_slot = Some(slot);
        self.generation = generation;
        Ok(generation)
    }

    /// Island mode (SR 5.2 RE2): when on, nothing crosses a zone boundary. Kept in the
    /// (pinned) control map, so it survives daemon restarts.
    pub fn set_island(&mut self, on: bool) -> Result<(), DataplaneError> {
        maps::set_control_flag(&mut self.ebpf, control_flags::ISLAND, on)
    }

    /// How many events per second each CPU may send through the ring buffer (0: none).
    pub fn set_event_rate(&mut self, pps: u32) -> Result<(), DataplaneError> {
        maps::set_event_rate(&mut self.ebpf, pps)
    }

    /// Packets and bytes that arrived on `ifindex`: (passed, dropped), summed over CPUs.
    pub fn iface_counters(&self, ifindex: u32) -> Result<(Counter, Counter), DataplaneError> {
        maps::iface_counters(&self.ebpf, ifindex)
    }

    /// Fast-path counters of `ifindex` (summed over CPUs) by
    /// [`firewall_common::forward::cause`]; all zero for an interface without the fast path.
    pub fn fast_path_counters(
        &self,
        ifindex: u32,
    ) -> Result<[Counter; firewall_common::forward::cause::SLOTS], DataplaneError> {
        fastpath::counters(&self.ebpf, ifindex)
    }

    /// Bridge mode: makes the bridge ports the fast path may forward from and to exactly
    /// `ports` (ifindex → entry).
    pub fn set_bridge_ports(
        &mut self,
        ports: &BTreeMap<u32, firewall_common::forward::BridgePort>,
    ) -> Result<(), DataplaneError> {
        fastpath::set_bridge_ports(&mut self.ebpf, ports, true)
    }

    /// Bridge mode: the mirror of the bridges' forwarding databases, to write.
    pub fn bridge_fdb(&mut self) -> Result<fastpath::BridgeFdb<'_>, DataplaneError> {
        fastpath::BridgeFdb::of(&mut self.ebpf)
    }

    /// Bridge mode: the port of every address in the mirror.
    pub fn bridge_fdb_ports(&self) -> Result<Vec<u32>, DataplaneError> {
        fastpath::bridge_fdb_ports(&self.ebpf)
    }

    /// Bridge mode: whether the data path trusts the mirror now (refreshed within
    /// [`firewall_common::forward::MIRROR_FRESH_NS`]).
    pub fn bridge_mirror_fresh(&self) -> bool {
        let Ok(refreshed) = fastpath::bridge_sync(&self.ebpf) else {
            return false;
        };
        let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
            .unwrap_or(0);
        refreshed != 0 && now.wrapping_sub(refreshed) < firewall_common::forward::MIRROR_FRESH_NS
    }

    /// Bridge mode: the mirror is fresh as of `refreshed_ns` (`CLOCK_MONOTONIC`); 0 turns the
    /// bridge fast path off until the next refresh.
    pub fn set_bridge_sync(&mut self, refreshed_ns: u64) -> Result<(), DataplaneError> {
        fastpath::set_bridge_sync(&mut self.ebpf, refreshed_ns)
    }

    /// Events sent, suppressed by the per-CPU bucket of each class, and lost to a full ring.
    pub fn event_counters(&self) -> Result<EventPathCounters, DataplaneError> {
        maps::event_counters(&self.ebpf)
    }

    /// Flows in the conntrack table, counted key by key (about a microsecond each: a full
    /// table takes a tenth of a second; callers that ask often cache the count).
    pub fn flow_entries(&self) -> Result<u64, DataplaneError> {
        maps::flow_entries(&self.ebpf)
    }

    /// Packets the conduit lookup matched to each rule, by rule id `0..=rules` (entry 0
    /// unused), summed over CPUs.
    pub fn rule_counters(&self, rules: usize) -> Result<Vec<Counter>, DataplaneError> {
        maps::rule_counters(&self.ebpf, rules)
    }

    /// Sets the counters of rules `ids` to zero (rules a reload gave another meaning).
    pub fn reset_rule_counters(&mut self, ids: &[u16]) -> Result<(), DataplaneError> {
        maps::reset_rule_counters(&mut self.ebpf, ids)
    }

    /// Frames captured, suppressed by the per-CPU capture bucket, and lost to a full ring.
    pub fn capture_counters(&self) -> Result<[u64; 3], DataplaneError> {
        maps::capture_counters(&self.ebpf)
    }

    /// Turns the copying of denied frames to the capture ring on (a `zcfw capture` client is
    /// connected) or off.
    pub fn set_capture(&mut self, on: bool) -> Result<(), DataplaneError> {
        maps::set_control_flag(&mut self.ebpf, control_flags::CAPTURE, on)
    }

    /// Takes the capture ring buffer out of the object, for the daemon's capture reader.
    pub fn take_capture(
        &mut self,
    ) -> Result<aya::maps::RingBuf<aya::maps::MapData>, DataplaneError> {
        let map = self
            .ebpf
            .take_map(names::CAPTURE)
            .ok_or(DataplaneError::MissingMap(names::CAPTURE))?;
        aya::maps::RingBuf::try_from(map).map_err(DataplaneError::map(names::CAPTURE))
    }

    /// Takes the event ring buffer out of the object, for the daemon's reader task.
    pub fn take_events(
        &mut self,
    ) -> Result<aya::maps::RingBuf<aya::maps::MapData>, DataplaneError> {
        let map = self
            .ebpf
            .take_map(names::EVENTS)
            .ok_or(DataplaneError::MissingMap(names::EVENTS))?;
        aya::maps::RingBuf::try_from(map).map_err(DataplaneError::map(names::EVENTS))
    }

    pub fn island(&mut self) -> Result<bool, DataplaneError> {
        Ok(maps::read_state(&mut self.ebpf)?.flags & control_flags::ISLAND != 0)
    }

    pub fn pin_dir(&self) -> Option<&Path> {
        self.pins.as_deref()
    }

    /// Size of the verified program: translated BPF instructions and JITed bytes (a
    /// regression budget for the benchmark report).
    pub fn program_size(&mut self) -> Result<(u32, u32), DataplaneError> {
        let info = xdp_program(&mut self.ebpf)?
            .info()
            .map_err(|e| DataplaneError::Program(Box::new(e)))?;
        Ok((info.size_translated().unwrap_or(0) / 8, info.size_jitted()))
    }

    /// What the verifier and the JIT made of the object's program `name` (the XDP entry
    /// point, a tail-called inspector, ...), for the benchmark report; `None` if the object
    /// has no such program or it is not loaded.
    pub fn program_stats(&self, name: &str) -> Option<ProgramStats> {
        let info = self.ebpf.program(name)?.info().ok()?;
        Some(ProgramStats {
            verified_insns: info.verified_instruction_count(),
            xlated_insns: info.size_translated().unwrap_or(0) / 8,
            jited_bytes: info.size_jitted(),
        })
    }

    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Current counters, summed over CPUs.
    pub fn counters(&self, conduits: usize) -> Result<CounterSnapshot, DataplaneError> {
        maps::read_counters(&self.ebpf, conduits)
    }

    /// Runs the program once on `frame` with BPF_PROG_TEST_RUN, as if it arrived on
    /// `ifindex`, and returns the XDP verdict.
    pub fn test_run(&mut self, frame: &[u8], ifindex: u32) -> Result<u32, DataplaneError> {
        Ok(self.test_run_repeat(frame, ifindex, 1)?.0)
    }

    /// Runs the program once on `frame` arriving on `ifindex`; returns the verdict and the
    /// frame as the program left it (rewritten, shortened), for tests of the resets.
    pub fn test_run_output(
        &mut self,
        frame: &[u8],
        ifindex: u32,
    ) -> Result<(u32, Vec<u8>), DataplaneError> {
        use aya::{TestRun, programs::TestRunOptions};
        let ctx = test_run_ctx(frame, ifindex);
        // The program only ever shortens a frame.
        let mut out = vec![0u8; frame.len()];
        let mut opts = TestRunOptions::new();
        opts.data_in = Some(frame);
        opts.data_out = Some(&mut out);
        opts.ctx_in = Some(&ctx);
        let result = xdp_program(&mut self.ebpf)?
            .test_run(opts)
            .map_err(DataplaneError::TestRun)?;
        out.truncate(result.data_size_out as usize);
        Ok((result.return_value, out))
    }

    /// Runs the program `repeat` times on `frame`; returns the verdict and the kernel's
    /// average duration per run in nanoseconds.
    pub fn test_run_repeat(
        &mut self,
        frame: &[u8],
        ifindex: u32,
        repeat: u32,
    ) -> Result<(u32, f64), DataplaneError> {
        test_run(xdp_program(&mut self.ebpf)?, frame, ifindex, repeat)
    }
}

/// BPF_PROG_TEST_RUN of `program` on `frame` arriving on `ifindex`, `repeat` times: the
/// verdict and the kernel's average time per run in nanoseconds.
fn test_run(
    program: &mut Xdp,
    frame: &[u8],
    ifindex: u32,
    repeat: u32,
) -> Result<(u32, f64), DataplaneError> {
    use aya::{TestRun, programs::TestRunOptions};
    let ctx = test_run_ctx(frame, ifindex);
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(frame);
    opts.ctx_in = Some(&ctx);
    opts.repeat = repeat;
    let result = program.test_run(opts).map_err(DataplaneError::TestRun)?;
    Ok((result.return_value, result.duration.as_nanos() as f64))
}

/// The `struct xdp_md` of a test run of `frame` arriving on `ifindex`: data, data_end,
/// data_meta, ingress_ifindex, rx_queue_index, egress_ifindex.
fn test_run_ctx(frame: &[u8], ifindex: u32) -> [u8; 24] {
    let mut ctx = [0u8; 24];
    ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
    ctx[12..16].copy_from_slice(&ifindex.to_ne_bytes());
    ctx
}

/// A benchmark program of the object loaded on its own: the empty `XDP_DROP` baseline, or
/// the LRU insert.
pub struct Baseline {
    ebpf: Ebpf,
    program: &'static str,
}

impl Baseline {
    /// The empty program ([`BASELINE_PROGRAM_NAME`]).
    pub fn load() -> Result<Self, DataplaneError> {
        Self::load_program(EbpfLoader::new(), BASELINE_PROGRAM_NAME)
    }

    /// `zcfw_bench_lru_insert`: one insert into an LRU hash with the conntrack's key, value and
    /// capacity per run, the kernel's share of opening a flow.
    pub fn lru_insert() -> Result<Self, DataplaneError> {
        let mut loader = EbpfLoader::new();
        loader.map_max_entries("BENCH_LRU", firewall_common::maps::capacity::FLOWS);
        Self::load_program(loader, "zcfw_bench_lru_insert")
    }

    fn load_program(mut loader: EbpfLoader, program: &'static str) -> Result<Self, DataplaneError> {
        let mut ebpf = loader
            .load(EBPF_OBJECT)
            .map_err(DataplaneError::from_ebpf)?;
        program_named(&mut ebpf, program)?
            .load()
            .map_err(DataplaneError::from_program_load)?;
        Ok(Baseline { ebpf, program })
    }

    /// Like [`Dataplane::test_run_repeat`], for the baseline program.
    pub fn test_run_repeat(
        &mut self,
        frame: &[u8],
        repeat: u32,
    ) -> Result<(u32, f64), DataplaneError> {
        test_run(
            program_named(&mut self.ebpf, self.program)?,
            frame,
            1,
            repeat,
        )
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.detach_all();
    }
}

/// Loads the inspector programs the main program tail-calls and puts each in its entry of
/// the `INSPECTORS` program array (replacing the programs of an earlier daemon when the
/// array is adopted from pins: the entries always point at this build's inspectors).
fn load_inspectors(ebpf: &mut Ebpf) -> Result<(), DataplaneError> {
    let mut fds = Vec::with_capacity(inspector::PROGRAMS.len());
    for (id, name) in inspector::PROGRAMS {
        let program = program_named(ebpf, name)?;
        program.load().map_err(DataplaneError::from_program_load)?;
        let fd = program
            .fd()
            .and_then(|fd| fd.try_clone().map_err(ProgramError::from))
            .map_err(|e| DataplaneError::Program(Box::new(e)))?;
        fds.push((id, fd));
    }
    let map = ebpf
        .map_mut(names::INSPECTORS)
        .ok_or(DataplaneError::MissingMap(names::INSPECTORS))?;
    let mut array = ProgramArray::try_from(map).map_err(DataplaneError::map(names::INSPECTORS))?;
    for (id, fd) in &fds {
        array
            .set(u32::from(*id), fd, 0)
            .map_err(DataplaneError::map(names::INSPECTORS))?;
    }
    Ok(())
}

fn xdp_program(ebpf: &mut Ebpf) -> Result<&mut Xdp, DataplaneError> {
    program_named(ebpf, PROGRAM_NAME)
}

fn program_named<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut Xdp, DataplaneError> {
    ebpf.program_mut(name)
        .ok_or(DataplaneError::MissingProgram(name))?
        .try_into()
        .map_err(|e: ProgramError| DataplaneError::Program(Box::new(e)))
}

/// What [`remove_pins`] removed.
#[derive(Debug, Default)]
pub struct RemovedPins {
    pub links: Vec<String>,
    pub maps: usize,
}

/// `zcfw detach`: detaches every link pinned under `pin_dir`, unpins every map and removes the
/// directory, so nothing of this instance is left in the kernel or on bpffs.
pub fn remove_pins(pin_dir: &Path) -> Result<RemovedPins, DataplaneError> {
    let mut removed = RemovedPins::default();
    for (iface, path) in pinned_links(pin_dir)? {
        unpin_link(&path)?;
        removed.links.push(iface);
    }
    let maps_dir = pin_dir.join("maps");
    if let Ok(entries) = std::fs::read_dir(&maps_dir) {
        for entry in entries.flatten() {
            std::fs::remove_file(entry.path()).map_err(|source| DataplaneError::PinDir {
                path: entry.path().display().to_string(),
                source,
            })?;
            removed.maps += 1;
        }
    }
    for retired in upgrade::retired(pin_dir)? {
        removed.maps += upgrade::remove(&retired)?;
    }
    let links = pin_dir.join("links");
    for dir in [
        links.join("native"),
        links.join("skb"),
        links,
        maps_dir,
        pin_dir.to_owned(),
    ] {
        match std::fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(DataplaneError::PinDir {
                    path: dir.display().to_string(),
                    source,
                });
            }
        }
    }
    Ok(removed)
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock of `bpf_ktime_get_ns`.
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// Kernel index of a network interface.
pub fn ifindex_of(iface: &str) -> Result<u32, DataplaneError> {
    nix::net::if_::if_nametoindex(iface)
        .map_err(|_| DataplaneError::NoSuchInterface(iface.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The maps the daemon pins ([`names::ALL`]) are exactly the maps of the embedded object
    /// but those deliberately left unpinned: a map missing from the list would not be pinned,
    /// so a restarted daemon would not adopt it and the data path would silently start it
    /// empty (fail-closed broken), and a name in the list that the object lacks would make
    /// every pinned load fail.
    #[test]
    fn the_pinned_maps_are_every_map_of_the_object() {
        let object = aya_obj::Object::parse(EBPF_OBJECT).expect("the embedded object parses");
        // `.rodata`, `.bss` and the like are the object's data sections, not maps of its own.
        let in_object: BTreeSet<&str> = object
            .maps
            .keys()
            .map(String::as_str)
            .filter(|name| !name.starts_with('.'))
            .collect();
        let pinned: BTreeSet<&str> = names::ALL.into_iter().collect();
        let unpinned: BTreeSet<&str> = names::NOT_PINNED.into_iter().collect();
        assert_eq!(pinned.len(), names::ALL.len(), "a name is listed twice");
        assert!(
            pinned.is_disjoint(&unpinned),
            "pinned and not pinned: {:?}",
            pinned.intersection(&unpinned).collect::<Vec<_>>()
        );
        let listed: BTreeSet<&str> = pinned.union(&unpinned).copied().collect();
        assert_eq!(
            in_object.difference(&listed).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "maps of the object in neither names::ALL nor names::NOT_PINNED"
        );
        assert_eq!(
            listed.difference(&in_object).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "names listed that the object does not define"
        );
    }
}
