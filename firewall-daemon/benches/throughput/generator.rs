//! Traffic generators of the throughput bench, and the probe of the kernel features the bench
//! depends on.
//!
//! Two generators send identical real frames out of the generator veth, so they arrive at its
//! peer, where the arm under test runs:
//!
//! - **live frames**: `zcfw_bench_redirect` (firewall-ebpf/src/bench.rs) run with
//!   `BPF_PROG_TEST_RUN` and `BPF_F_TEST_XDP_LIVE_FRAMES` (Linux 5.18+), which redirects every
//!   frame out of the veth in batches of [`BATCH`]; the receiver's NAPI poll takes a whole
//!   batch. The fastest generator, but some kernel builds refuse live frames (EPERM without
//!   `CAP_SYS_RESOURCE`, whatever other capabilities the process holds).
//! - **AF_PACKET**: a raw packet socket bound to the veth with `PACKET_QDISC_BYPASS`, frames
//!   sent in `sendmmsg(2)` batches of [`BATCH`]. Needs nothing but `CAP_NET_RAW`. Every frame is
//!   an skb of its own, and the receiver's NAPI poll runs once per frame (in the `local_bh_enable`
//!   that ends each transmit), so the receiver's own cost per frame is higher than with live
//!   frames for every arm alike.
//!
//! Both run on the calling thread, and the receiver's softirq runs on the same CPU, so the
//! thread's CPU time per received frame is the cost of sending plus receiving it.

use std::{
    fmt, io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    process::Command,
};

use aya::{
    Ebpf, EbpfLoader, TestRun,
    maps::{Array, DevMap, PerCpuArray},
    programs::{TestRunAttrs, TestRunOptions, Xdp, XdpMode, xdp::XdpLinkId},
};
use zcfw::dataplane::{EBPF_OBJECT, ifindex_of};

use crate::net::{GEN, RX, VOID, thread_cpu_ns};

/// Frames per batch: one live-frames batch (one NAPI poll), or one `sendmmsg` call.
pub const BATCH: u32 = 64;
/// 8-byte words of the frame head the live-frames generator restores in every frame (bench.rs).
const HEAD_WORDS: usize = 6;

/// Which generator to use (`--generator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Live frames where the kernel allows them, AF_PACKET otherwise.
    Auto,
    LiveFrames,
    AfPacket,
}

impl Choice {
    pub fn parse(s: &str) -> Result<Choice, String> {
        match s {
            "auto" => Ok(Choice::Auto),
            "live-frames" => Ok(Choice::LiveFrames),
            "af-packet" => Ok(Choice::AfPacket),
            other => Err(format!(
                "unknown generator {other:?}: use auto, live-frames or af-packet"
            )),
        }
    }
}

/// What the kernel offers the bench, probed on the bench's own veth pair before anything runs.
pub struct Probe {
    /// `BPF_PROG_TEST_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES`: Ok, or why not.
    pub live_frames: Result<(), String>,
    /// An XDP program attached to the receiving veth in native (driver) mode.
    pub native_veth: Result<(), String>,
    /// `nft` present and able to load a netdev table: its version, or why not.
    pub nftables: Result<String, String>,
}

impl Probe {
    /// Probes with the bench's programs; the veth pair must exist. `refuse_live_frames`
    /// behaves as a kernel that refuses live frames would (the fallback, tested anywhere).
    pub fn run(baselines: &mut Baselines, refuse_live_frames: bool) -> Probe {
        let live_frames = if refuse_live_frames {
            Err("refused by --refuse-live-frames, as on a kernel that refuses them".to_owned())
        } else {
            LiveFrames::load().and_then(|mut live| {
                let frame = probe_frame();
                live.try_send(&frame, BATCH).map(|_| ())
            })
        };
        let native_veth = baselines
            .try_attach("zcfw_bench_drop", XdpMode::Driver)
            .map(|link| baselines.detach("zcfw_bench_drop", link));
        Probe {
            live_frames,
            native_veth,
            nftables: probe_nft(),
        }
    }

    /// The generator `choice` resolves to, or why it cannot be had.
    pub fn resolve(&self, choice: Choice) -> Result<Choice, String> {
        match (choice, &self.live_frames) {
            (Choice::AfPacket, _) => Ok(Choice::AfPacket),
            (Choice::LiveFrames, Ok(())) | (Choice::Auto, Ok(())) => Ok(Choice::LiveFrames),
            (Choice::Auto, Err(_)) => Ok(Choice::AfPacket),
            (Choice::LiveFrames, Err(e)) => Err(format!(
                "--generator live-frames: this kernel refuses live frames ({e}); use \
                 --generator auto or af-packet"
            )),
        }
    }

    /// The XDP attach mode the arms use.
    pub fn xdp_mode(&self) -> XdpMode {
        if self.native_veth.is_ok() {
            XdpMode::Driver
        } else {
            XdpMode::Skb
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes_no = |r: &Result<(), String>, no: &str| match r {
            Ok(()) => "yes".to_owned(),
            Err(e) => format!("no ({e}); {no}"),
        };
        writeln!(
            f,
            "- live frames (`BPF_PROG_TEST_RUN` + `BPF_F_TEST_XDP_LIVE_FRAMES`): {}",
            yes_no(&self.live_frames, "the AF_PACKET generator is used")
        )?;
        writeln!(
            f,
            "- native XDP on veth: {}",
            yes_no(&self.native_veth, "XDP arms run in skb (generic) mode")
        )?;
        write!(
            f,
            "- nftables: {}",
            match &self.nftables {
                Ok(v) => format!("yes ({v})"),
                Err(e) => format!("no ({e}); the nftables arms are skipped"),
            }
        )
    }
}

fn probe_nft() -> Result<String, String> {
    let version = Command::new("nft")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let table = "zcfw_probe";
    let add = Command::new("nft")
        .args(["add", "table", "netdev", table])
        .output()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if !add.status.success() {
        return Err(format!(
            "nft cannot add a netdev table: {}",
            String::from_utf8_lossy(&add.stderr).trim()
        ));
    }
    let _ = Command::new("nft")
        .args(["delete", "table", "netdev", table])
        .status();
    Ok(version)
}

/// A frame the probe sends: a UDP datagram from the generator's MAC to the receiver's.
fn probe_frame() -> Vec<u8> {
    use firewall_common::pktgen::{ipv4, udp};
    ipv4(
        [10, 255, 0, 1],
        [10, 255, 0, 2],
        udp(9, 9, b"zcfw kernel feature probe"),
    )
    .frame()
}

/// The generator the bench runs with.
pub enum Generator {
    LiveFrames(LiveFrames),
    AfPacket(AfPacket),
}

impl Generator {
    pub fn open(choice: Choice) -> io::Result<Generator> {
        match choice {
            Choice::AfPacket => AfPacket::open(GEN).map(Generator::AfPacket),
            Choice::LiveFrames | Choice::Auto => LiveFrames::load()
                .map(Generator::LiveFrames)
                .map_err(io::Error::other),
        }
    }

    /// The short name (`throughput.json`, log lines).
    pub fn key(&self) -> &'static str {
        match self {
            Generator::LiveFrames(_) => "live-frames",
            Generator::AfPacket(_) => "af-packet",
        }
    }

    /// What the report says of it: what it is, then what that means for the numbers.
    pub fn describe(&self) -> (&'static str, &'static str) {
        match self {
            Generator::LiveFrames(_) => (
                "an XDP live-frames generator (`BPF_PROG_TEST_RUN` + `BPF_F_TEST_XDP_LIVE_FRAMES` \
                 + `XDP_REDIRECT`, batches of 64 frames)",
                "The receiver's NAPI poll takes a whole batch of frames.",
            ),
            Generator::AfPacket(_) => (
                "an AF_PACKET generator (raw packet socket with `PACKET_QDISC_BYPASS`, `sendmmsg` \
                 batches of 64 frames), used where the kernel refuses live frames (or the run \
                 says so)",
                "Every frame is an skb of its own and the receiver's NAPI poll runs once per \
                 frame, so every arm's receiver cost includes a poll and, for XDP arms, the veth's \
                 copy of the skb into an XDP buffer: absolute receiver costs are far higher than \
                 with live frames, and the differences between XDP programs (tens of ns) are \
                 within the noise of that path. Ratios to nftables stay meaningful; for the cost \
                 of the XDP program itself, read the per-packet table above.",
            ),
        }
    }

    /// Sends `frame` `count` times; returns the generator's own measure of time per frame (ns):
    /// the kernel's test-run duration (live frames) or this thread's CPU time (AF_PACKET).
    pub fn send(&mut self, frame: &[u8], count: u32) -> f64 {
        let result = match self {
            Generator::LiveFrames(live) => live.try_send(frame, count),
            Generator::AfPacket(packet) => packet.send(frame, count).map_err(|e| e.to_string()),
        };
        result.unwrap_or_else(|e| panic!("the {} generator failed: {e}", self.key()))
    }

    /// Makes the receiver refuse every frame before it reaches any filter, for the cost of
    /// the generator alone (`false`), or take them again (`true`).
    pub fn receiver_takes(&mut self, on: bool) {
        match self {
            // veth runs NAPI (and so takes redirected frames) when an XDP program is attached
            // or GRO is on; with neither it refuses them.
            Generator::LiveFrames(_) => crate::net::gro(on),
            // The same frames through the same socket path into an ifb device, which frees
            // every skb at transmit (a veth with its peer down has no carrier: the packet
            // socket would refuse the frames before any transmit).
            Generator::AfPacket(packet) => packet.to_void = !on,
        }
    }
}

/// The live-frames generator: its own copy of the bench programs, `zcfw_bench_redirect`
/// loaded and aimed at the generator veth.
pub struct LiveFrames {
    ebpf: Ebpf,
    /// The frame whose head is in `BENCH_HEAD`.
    head_of: Vec<u8>,
}

impl LiveFrames {
    fn load() -> Result<LiveFrames, String> {
        let mut ebpf = EbpfLoader::new()
            .load(EBPF_OBJECT)
            .map_err(|e| format!("load the XDP object: {e}"))?;
        program(&mut ebpf, "zcfw_bench_redirect")
            .load()
            .map_err(|e| format!("load zcfw_bench_redirect: {e}"))?;
        let gen_ifindex = ifindex_of(GEN).map_err(|e| format!("generator veth: {e}"))?;
        let mut tx = DevMap::try_from(ebpf.map_mut("BENCH_TX").ok_or("no BENCH_TX map")?)
            .map_err(|e| format!("BENCH_TX: {e}"))?;
        tx.set(0, gen_ifindex, None, 0)
            .map_err(|e| format!("set the generator's device: {e}"))?;
        Ok(LiveFrames {
            ebpf,
            head_of: Vec::new(),
        })
    }

    /// Sends `frame` `count` times; the kernel's time per frame (ns).
    fn try_send(&mut self, frame: &[u8], count: u32) -> Result<f64, String> {
        if self.head_of != frame {
            // The generator writes these words back into every frame it sends: live frames
            // are recycled pages, and a frame the receiver's stack forwarded comes back edited.
            if frame.len() < 8 * HEAD_WORDS {
                return Err(format!(
                    "a {}-byte frame is shorter than the {} bytes the generator restores",
                    frame.len(),
                    8 * HEAD_WORDS
                ));
            }
            let mut head = [0u64; HEAD_WORDS];
            for (word, bytes) in head.iter_mut().zip(frame.chunks_exact(8)) {
                *word = u64::from_ne_bytes(bytes.try_into().expect("8 bytes"));
            }
            let mut map = Array::<_, [u64; HEAD_WORDS]>::try_from(
                self.ebpf.map_mut("BENCH_HEAD").ok_or("no BENCH_HEAD map")?,
            )
            .map_err(|e| format!("BENCH_HEAD: {e}"))?;
            map.set(0, head, 0)
                .map_err(|e| format!("write the frame head: {e}"))?;
            self.head_of = frame.to_vec();
        }
        let mut opts = TestRunOptions::new();
        opts.data_in = Some(frame);
        opts.repeat = count;
        opts.attrs = TestRunAttrs::new().xdp_live_frames(BATCH);
        let result = program(&mut self.ebpf, "zcfw_bench_redirect")
            .test_run(opts)
            .map_err(|e| syscall_error(&e))?;
        Ok(result.duration.as_nanos() as f64)
    }
}

/// A short form of an aya error that carries an `io::Error` (EPERM, ...).
fn syscall_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return format!("BPF_PROG_TEST_RUN: {io}");
        }
        source = s.source();
    }
    e.to_string()
}

/// The AF_PACKET generator: a raw packet socket bound to the generator veth, and one bound
/// to an ifb device for the cost of the generator alone.
pub struct AfPacket {
    veth: PacketSocket,
    void: PacketSocket,
    /// Send into the ifb device.
    to_void: bool,
}

impl AfPacket {
    fn open(device: &str) -> io::Result<AfPacket> {
        Ok(AfPacket {
            veth: PacketSocket::open(device)?,
            void: PacketSocket::open(VOID)?,
            to_void: false,
        })
    }

    fn send(&mut self, frame: &[u8], count: u32) -> io::Result<f64> {
        if self.to_void {
            self.void.send(frame, count)
        } else {
            self.veth.send(frame, count)
        }
    }
}

/// A raw packet socket that only sends, bound to one device, bypassing its qdisc.
struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    fn open(device: &str) -> io::Result<PacketSocket> {
        let ifindex = ifindex_of(device).map_err(io::Error::other)?;
        // SAFETY: plain socket(2); the descriptor is owned below.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor this function just opened and nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let one: libc::c_int = 1;
        // SAFETY: the option value is a c_int that outlives the call.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_QDISC_BYPASS,
                (&raw const one).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // Protocol 0: the socket sends only; it receives no copy of any frame.
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: `addr` is a sockaddr_ll of the size given.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PacketSocket { fd })
    }

    /// Sends `frame` `count` times in `sendmmsg` batches; this thread's CPU time per frame (ns).
    fn send(&mut self, frame: &[u8], count: u32) -> io::Result<f64> {
        let mut iov = libc::iovec {
            iov_base: frame.as_ptr().cast_mut().cast(),
            iov_len: frame.len(),
        };
        // SAFETY: mmsghdr is plain old data; all-zero is a valid value.
        let mut msgs: Vec<libc::mmsghdr> =
            (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
        for m in &mut msgs {
            m.msg_hdr.msg_iov = &raw mut iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        let cpu0 = thread_cpu_ns();
        let mut left = count;
        while left > 0 {
            let n = left.min(BATCH);
            // SAFETY: `msgs[..n]` point at `iov`, which points at `frame`; all outlive the call.
            let sent = unsafe { libc::sendmmsg(self.fd.as_raw_fd(), msgs.as_mut_ptr(), n, 0) };
            if sent < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    // The socket's send buffer is full for a moment: the receiver frees it.
                    Some(libc::ENOBUFS | libc::EAGAIN | libc::EINTR) => continue,
                    _ => return Err(e),
                }
            }
            left -= sent as u32;
        }
        Ok((thread_cpu_ns() - cpu0) as f64 / f64::from(count.max(1)))
    }
}

/// The counting baselines (`zcfw_bench_drop`, `zcfw_bench_pass`), loaded, attached on demand.
pub struct Baselines {
    ebpf: Ebpf,
}

impl Baselines {
    pub fn load() -> Baselines {
        let mut ebpf = EbpfLoader::new()
            .load(EBPF_OBJECT)
            .expect("load the XDP object (run as root)");
        for name in ["zcfw_bench_drop", "zcfw_bench_pass"] {
            program(&mut ebpf, name).load().expect("load bench program");
        }
        Baselines { ebpf }
    }

    fn try_attach(&mut self, name: &str, mode: XdpMode) -> Result<XdpLinkId, String> {
        program(&mut self.ebpf, name)
            .attach(RX, mode)
            .map_err(|e| e.to_string())
    }

    pub fn attach(&mut self, name: &str, mode: XdpMode) -> XdpLinkId {
        self.try_attach(name, mode)
            .unwrap_or_else(|e| panic!("attach the baseline {name} to {RX}: {e}"))
    }

    pub fn detach(&mut self, name: &str, link: XdpLinkId) {
        program(&mut self.ebpf, name)
            .detach(link)
            .expect("detach the baseline");
    }

    /// Frames the baselines have seen, summed over CPUs.
    pub fn counted(&self) -> u64 {
        let map = PerCpuArray::<_, u64>::try_from(self.ebpf.map("BENCH_PACKETS").expect("map"))
            .expect("BENCH_PACKETS is a per-CPU array");
        map.get(&0, 0).expect("read counter").iter().sum()
    }
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> &'a mut Xdp {
    ebpf.program_mut(name)
        .unwrap_or_else(|| panic!("no program {name} in the XDP object"))
        .try_into()
        .expect("an XDP program")
}
