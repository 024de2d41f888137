//! The kernel side, seen from the daemon: loading the embedded XDP program, writing a compiled
//! policy into its maps (one generation slot at a time, then an atomic flip), attaching it to
//! interfaces and reading its counters. No policy logic lives here.

pub mod bpffs;
mod error;
mod maps;

use std::collections::BTreeMap;

use aya::{
    Ebpf, EbpfLoader,
    programs::{ProgramError, Xdp, XdpMode as AyaXdpMode, xdp::XdpLinkId},
};
use firewall_common::{maps::Counter, reason::Reason};
use tracing::{info, warn};

pub use self::error::DataplaneError;
use crate::compile::{CompiledPolicy, XdpMode};

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

/// One interface the program is attached to.
#[derive(Debug)]
pub struct Attachment {
    pub iface: String,
    pub ifindex: u32,
    pub mode: AttachedMode,
    link: XdpLinkId,
}

/// Packet and byte totals (summed over CPUs) per reason and per conduit id.
#[derive(Clone, Debug, Default)]
pub struct CounterSnapshot {
    pub reasons: Vec<(Reason, Counter)>,
    /// Indexed by conduit id (entry 0 unused).
    pub conduits: Vec<Counter>,
    /// Inspection denies by conduit id (entry 0 unused), then by reason (in [`Reason::ALL`]
    /// order from [`Reason::FIRST_INSPECTION`]).
    pub conduit_denies: Vec<Vec<(Reason, Counter)>>,
}

/// The loaded XDP program and its maps.
pub struct Dataplane {
    ebpf: Ebpf,
    active_slot: Option<u8>,
    generation: u32,
    attachments: Vec<Attachment>,
}

impl Dataplane {
    /// Loads the embedded object and the XDP program into the kernel (verifier included),
    /// without attaching it anywhere. Every packet is dropped as `no_policy` until
    /// [`Dataplane::install`] has run.
    pub fn load() -> Result<Self, DataplaneError> {
        let mut ebpf = EbpfLoader::new()
            .load(EBPF_OBJECT)
            .map_err(DataplaneError::from_ebpf)?;
        let program = xdp_program(&mut ebpf)?;
        program.load().map_err(DataplaneError::from_program_load)?;
        Ok(Dataplane {
            ebpf,
            active_slot: None,
            generation: 0,
            attachments: Vec::new(),
        })
    }

    /// The underlying object (for the aya-log logger).
    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }

    /// Writes `policy` into the inactive slot, flips the active slot to it in one write, then
    /// clears the old slot. Returns the new generation number. `ifindexes` maps the policy's
    /// interface names to kernel interface indexes.
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
        maps::clear_slot(&mut self.ebpf, slot)?;
        maps::write_slot(&mut self.ebpf, slot, generation, policy, ifindexes)?;
        maps::activate(&mut self.ebpf, slot)?;
        if let Some(old) = self.active_slot {
            maps::clear_slot(&mut self.ebpf, old)?;
        }
        self.active_slot = Some(slot);
        self.generation = generation;
        Ok(generation)
    }

    /// Attaches the program to `iface`. `Auto` tries native mode and falls back to skb
    /// (generic) mode with a log line.
    pub fn attach(&mut self, iface: &str, mode: XdpMode) -> Result<&Attachment, DataplaneError> {
        let ifindex = ifindex_of(iface)?;
        let program = xdp_program(&mut self.ebpf)?;
        let (link, mode) = match mode {
            XdpMode::Native => (
                attach_as(program, iface, AttachedMode::Native)?,
                AttachedMode::Native,
            ),
            XdpMode::Skb => (
                attach_as(program, iface, AttachedMode::Skb)?,
                AttachedMode::Skb,
            ),
            XdpMode::Auto => match attach_as(program, iface, AttachedMode::Native) {
                Ok(link) => (link, AttachedMode::Native),
                Err(err) => {
                    warn!(interface = iface, error = %err, "native XDP unavailable, falling back to skb (generic) mode");
                    (
                        attach_as(program, iface, AttachedMode::Skb)?,
                        AttachedMode::Skb,
                    )
                }
            },
        };
        info!(interface = iface, ifindex, %mode, "XDP attached");
        self.attachments.push(Attachment {
            iface: iface.to_owned(),
            ifindex,
            mode,
            link,
        });
        Ok(self.attachments.last().expect("just pushed"))
    }

    /// Detaches from every interface (also done when the `Dataplane` is dropped).
    pub fn detach_all(&mut self) {
        let Ok(program) = xdp_program(&mut self.ebpf) else {
            return;
        };
        for a in self.attachments.drain(..) {
            match program.detach(a.link) {
                Ok(()) => info!(interface = a.iface, "XDP detached"),
                Err(err) => warn!(interface = a.iface, error = %err, "detaching XDP failed"),
            }
        }
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
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex.
    let mut ctx = [0u8; 24];
    ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
    ctx[12..16].copy_from_slice(&ifindex.to_ne_bytes());
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(frame);
    opts.ctx_in = Some(&ctx);
    opts.repeat = repeat;
    let result = program.test_run(opts).map_err(DataplaneError::TestRun)?;
    Ok((result.return_value, result.duration.as_nanos() as f64))
}

/// The `XDP_DROP` baseline program, loaded on its own for benchmarks.
pub struct Baseline {
    ebpf: Ebpf,
}

impl Baseline {
    pub fn load() -> Result<Self, DataplaneError> {
        let mut ebpf = EbpfLoader::new()
            .load(EBPF_OBJECT)
            .map_err(DataplaneError::from_ebpf)?;
        program_named(&mut ebpf, BASELINE_PROGRAM_NAME)?
            .load()
            .map_err(DataplaneError::from_program_load)?;
        Ok(Baseline { ebpf })
    }

    /// Like [`Dataplane::test_run_repeat`], for the baseline program.
    pub fn test_run_repeat(
        &mut self,
        frame: &[u8],
        repeat: u32,
    ) -> Result<(u32, f64), DataplaneError> {
        test_run(
            program_named(&mut self.ebpf, BASELINE_PROGRAM_NAME)?,
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

fn attach_as(
    program: &mut Xdp,
    iface: &str,
    mode: AttachedMode,
) -> Result<XdpLinkId, DataplaneError> {
    let aya_mode = match mode {
        AttachedMode::Native => AyaXdpMode::Driver,
        AttachedMode::Skb => AyaXdpMode::Skb,
    };
    program
        .attach(iface, aya_mode)
        .map_err(|source| DataplaneError::Attach {
            iface: iface.to_owned(),
            mode,
            source: Box::new(source),
        })
}

/// Kernel index of a network interface.
pub fn ifindex_of(iface: &str) -> Result<u32, DataplaneError> {
    nix::net::if_::if_nametoindex(iface)
        .map_err(|_| DataplaneError::NoSuchInterface(iface.to_owned()))
}
