//! The bridge fast path's mirror, kept by a thread of its own (docs/fast-path.md, "Bridge
//! mode"). Every [`TICK`] it works out which interfaces of the policy are bridge ports the
//! fast path may use (`BRIDGE_PORTS`: STP forwarding, not isolated, no VLAN filtering) and
//! refreshes the mirror's heartbeat; between ticks it applies the bridges' forwarding-database
//! changes as the kernel announces them (rtnetlink `RTNLGRP_NEIGH`). A full dump every
//! [`RESYNC`] (and after the ports change or the socket overflowed) removes anything the
//! announcements missed.
//!
//! The thread does nothing, and opens no socket, unless an interface with `fast_path: true` is
//! a bridge port. When it cannot keep the mirror (the socket fails), it stops refreshing the
//! heartbeat: the data path then gives every bridged frame to the bridge within
//! [`firewall_common::forward::MIRROR_FRESH_NS`], as it does when the daemon is gone.

use std::{
    collections::BTreeMap,
    os::fd::{AsRawFd, BorrowedFd},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use firewall_common::forward::BridgePort;
use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage, neighbour::NeighbourMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::sys::{
    socket::{
        setsockopt,
        sockopt::{RcvBufForce, ReceiveTimeout},
    },
    time::TimeVal,
};
use tracing::{debug, info, warn};

use super::{State, lock};
use crate::dataplane::{
    bridge,
    fdb::{FdbChange, FdbMirror, change_of},
    monotonic_ns,
};

/// How often the ports are checked and the heartbeat refreshed.
pub const TICK: Duration = Duration::from_secs(1);
/// How often the whole forwarding database is read again.
pub const RESYNC: Duration = Duration::from_secs(30);
/// How long one receive waits: the tick is kept within this.
const RECV_WAIT: Duration = Duration::from_millis(200);

/// The mirror thread; stopped (and joined) on drop.
pub struct FdbThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FdbThread {
    pub fn spawn(state: Arc<Mutex<State>>) -> Result<FdbThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = std::thread::Builder::new()
            .name("zcfw-fdb".into())
            .spawn({
                let stop = stop.clone();
                move || Keeper::default().run(&state, &stop)
            })
            .context("cannot start the bridge forwarding-database thread")?;
        Ok(FdbThread {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for FdbThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// What the thread keeps between ticks.
#[derive(Default)]
struct Keeper {
    ports: BTreeMap<u32, BridgePort>,
    mirror: FdbMirror,
    socket: Option<Socket>,
    /// Sequence number of the dump in progress.
    dumping: Option<u32>,
    sequence: u32,
    last_dump: Option<Instant>,
    /// Whether the mirror is trustworthy (a dump completed on this socket).
    synced: bool,
    /// Why the ports were refused, as last logged (logged again only when it changes).
    refused: BTreeMap<String, String>,
    /// The last failure, while the mirror cannot be kept.
    failing: Option<String>,
    /// A link changed (a port's STP state, membership, MTU): check the ports now.
    recheck: bool,
    /// Announcements were lost while a dump ran: dump again once it is done.
    dump_again: bool,
}

impl Keeper {
    fn run(&mut self, state: &Mutex<State>, stop: &AtomicBool) {
        // Whatever a previous daemon mirrored is not known to be true any more.
        {
            let mut state = lock(state);
            // `BRIDGE_PORTS` stays as the policy's install wrote it: a frame from a bridge port
            // must never be routed by the forwarder.
            let cleared = state
                .dataplane
                .set_bridge_sync(0)
                .and_then(|()| state.dataplane.bridge_fdb()?.clear());
            match cleared {
                Ok(0) => {}
                Ok(n) => info!(entries = n, "bridge mirror of a previous daemon cleared"),
                Err(e) => warn!(error = %e, "cannot clear the bridge mirror of a previous daemon"),
            }
        }
        let mut next_tick = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if Instant::now() >= next_tick || std::mem::take(&mut self.recheck) {
                next_tick = Instant::now() + TICK;
                match self.tick(state) {
                    Ok(()) => {
                        if self.failing.take().is_some() && self.synced {
                            info!("bridge fast path: forwarding-database mirror kept again");
                        }
                    }
                    Err(e) => self.failed(state, e),
                }
            }
            if self.socket.is_some() {
                if let Err(e) = self.receive(state) {
                    self.failed(state, e.context("netlink receive"));
                }
            } else {
                std::thread::sleep(RECV_WAIT);
            }
        }
        // Stopping: the mirror is not kept any more.
        let _ = lock(state).dataplane.set_bridge_sync(0);
    }

    /// The mirror cannot be kept: the bridge gets every frame at once (no heartbeat), and the
    /// next tick starts over with a new socket and a dump. Logged when the error changes, not
    /// every tick.
    fn failed(&mut self, state: &Mutex<State>, e: anyhow::Error) {
        let why = format!("{e:#}");
        if self.failing.as_deref() != Some(why.as_str()) {
            warn!(error = %why, "bridge fast path: cannot keep the forwarding-database mirror; bridged frames go to the bridge until it can");
        }
        self.failing = Some(why);
        self.socket = None;
        self.synced = false;
        self.dumping = None;
        let _ = lock(state).dataplane.set_bridge_sync(0);
    }

    /// Which bridge ports are fast, the socket, the dump, the heartbeat.
    fn tick(&mut self, state: &Mutex<State>) -> Result<()> {
        // Worked out and written under the lock, against the policy in force: a reload
        // between the two would otherwise find its ports overwritten with the old policy's.
        let mut guard = lock(state);
        let (ports, refused) = {
            let state = &*guard;
            let ifindex = |name: &str| {
                state
                    .dataplane
                    .attachments()
                    .iter()
                    .find(|a| a.iface == name)
                    .map(|a| a.ifindex)
            };
            let interfaces: Vec<(&str, u32)> = state
                .policy
                .interfaces
                .iter()
                .filter_map(|i| Some((i.name.as_str(), ifindex(&i.name)?)))
                .collect();
            let fast = state
                .policy
                .interfaces
                .iter()
                .filter(|i| i.fast_path)
                .filter_map(|i| ifindex(&i.name))
                .collect();
            bridge::ports_of(interfaces.iter().copied(), &fast)
        };
        // Written every tick, not only when this thread saw a change: a reload may have
        // written what it read of the ports in between.
        if ports != self.ports || !ports.is_empty() {
            if ports != self.ports {
                info!(ports = ports.len(), "bridge fast path: ports changed");
            }
            guard.dataplane.set_bridge_ports(&ports)?;
            if ports.is_empty() {
                guard.dataplane.set_bridge_sync(0)?;
                self.mirror.clear(&mut guard.dataplane.bridge_fdb()?)?;
            }
            self.ports = ports;
            // What the mirror holds was chosen for the old ports.
            self.last_dump = None;
        }
        drop(guard);
        for (name, why) in &refused {
            if self.refused.get(name) != Some(why) {
                info!(interface = %name, "bridge fast path: frames from and to this port go to the bridge: {why}");
            }
        }
        self.refused = refused;
        if self.ports.is_empty() {
            self.socket = None;
            self.synced = false;
            return Ok(());
        }
        if self.socket.is_none() {
            self.socket = Some(open_socket()?);
            self.last_dump = None;
        }
        if self.dumping.is_none() && self.last_dump.is_none_or(|t| t.elapsed() >= RESYNC) {
            self.request_dump()?;
        }
        if self.synced {
            lock(state).dataplane.set_bridge_sync(monotonic_ns())?;
        }
        Ok(())
    }

    fn request_dump(&mut self) -> Result<()> {
        let Some(socket) = &self.socket else {
            return Ok(());
        };
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = self.sequence;
        let mut request = NeighbourMessage::default();
        request.header.family = AddressFamily::Bridge;
        let mut msg = NetlinkMessage::new(
            header,
            NetlinkPayload::from(RouteNetlinkMessage::GetNeighbour(request)),
        );
        msg.finalize();
        let mut buf = vec![0; msg.buffer_len()];
        msg.serialize(&mut buf);
        socket
            .send(&buf, 0)
            .context("cannot ask the kernel for the bridge forwarding database")?;
        self.dumping = Some(self.sequence);
        self.mirror.begin_resync();
        self.last_dump = Some(Instant::now());
        Ok(())
    }

    /// Receives what the kernel sent within [`RECV_WAIT`] and applies it.
    fn receive(&mut self, state: &Mutex<State>) -> Result<()> {
        let Some(socket) = &self.socket else {
            return Ok(());
        };
        let data = match socket.recv_from_full() {
            Ok((data, _)) => data,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(());
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                // Announcements were lost: the mirror may be wrong until everything is read
                // again, so the bridge gets every frame until then.
                debug!("netlink receive buffer overflowed; dumping the forwarding database");
                self.synced = false;
                lock(state).dataplane.set_bridge_sync(0)?;
                if self.dumping.is_some() {
                    self.dump_again = true;
                } else {
                    self.request_dump()?;
                }
                return Ok(());
            }
            Err(e) => return Err(e).context("netlink receive"),
        };
        let mut offset = 0;
        let mut state = lock(state);
        let mut fdb = state.dataplane.bridge_fdb()?;
        let mut dumped = false;
        let mut again = false;
        while offset < data.len() {
            let msg: NetlinkMessage<RouteNetlinkMessage> =
                NetlinkMessage::deserialize(&data[offset..])
                    .context("cannot parse a netlink message")?;
            let len = msg.header.length as usize;
            let ours = self.dumping == Some(msg.header.sequence_number);
            match msg.payload {
                NetlinkPayload::InnerMessage(
                    RouteNetlinkMessage::NewLink(_) | RouteNetlinkMessage::DelLink(_),
                ) => self.recheck = true,
                NetlinkPayload::InnerMessage(m) => {
                    if let Some(change) = change_of(&m, &self.ports) {
                        self.mirror.apply(change, &mut fdb)?;
                        if let FdbChange::Learned { .. } = change {
                            debug!(?change, "bridge fdb");
                        }
                    }
                }
                NetlinkPayload::Done(_) if ours => {
                    let removed = self.mirror.end_resync(&mut fdb)?;
                    self.dumping = None;
                    if !self.synced {
                        info!(
                            entries = self.mirror.len(),
                            ports = self.ports.len(),
                            "bridge fast path: forwarding database mirrored"
                        );
                    } else if removed > 0 {
                        debug!(removed, "stale bridge fdb entries removed");
                    }
                    if std::mem::take(&mut self.dump_again) {
                        again = true;
                    } else {
                        self.synced = true;
                        dumped = true;
                    }
                }
                NetlinkPayload::Error(e) if ours => {
                    self.dumping = None;
                    anyhow::bail!("the kernel refused the forwarding-database dump: {e:?}");
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            offset += len;
        }
        if dumped {
            state.dataplane.set_bridge_sync(monotonic_ns())?;
        }
        drop(state);
        if again {
            self.request_dump()?;
        }
        Ok(())
    }
}

/// A route netlink socket subscribed to neighbour announcements, its receives bounded by
/// [`RECV_WAIT`].
fn open_socket() -> Result<Socket> {
    let mut socket = Socket::new(NETLINK_ROUTE).context("cannot open a route netlink socket")?;
    socket
        .bind(&SocketAddr::new(0, 0))
        .context("cannot bind the route netlink socket")?;
    socket
        .add_membership(libc::RTNLGRP_NEIGH)
        .context("cannot subscribe to neighbour announcements")?;
    // A port's STP state, membership or MTU changed: checked at once, not at the next tick.
    socket
        .add_membership(libc::RTNLGRP_LINK)
        .context("cannot subscribe to link announcements")?;
    // SAFETY: the socket's descriptor, open for the duration of this call.
    let fd = unsafe { BorrowedFd::borrow_raw(socket.as_raw_fd()) };
    // Large enough for a burst of learning (a cell powering up) between two receives; past
    // `net.core.rmem_max` (root may). An overflow is handled all the same (a new dump).
    if setsockopt(&fd, RcvBufForce, &(1 << 20)).is_err() {
        let _ = socket.set_rx_buf_sz(1 << 20);
    }
    setsockopt(
        &fd,
        ReceiveTimeout,
        &TimeVal::new(0, RECV_WAIT.as_micros() as i64),
    )
    .context("cannot set the netlink receive timeout")?;
    Ok(socket)
}
