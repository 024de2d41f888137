//! `zcfw capture` on the daemon's side: reads the capture ring (denied frames the data path
//! copied, `firewall_common::capture`), names what each frame's numbers mean (reason, action,
//! conduit, zones, interface) and hands the lines to every connected capture client. The data
//! path copies frames only while at least one client is connected: the first one turns the
//! control flag on, the last one to leave turns it off.

use std::{
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use aya::maps::{MapData, RingBuf};
use firewall_common::{capture::Frame, decision::Decision, event::action};
use tokio::{io::unix::AsyncFd, sync::broadcast};
use tracing::{info, warn};

use super::State;
use crate::{
    compile::CompiledPolicy,
    control::capture::{CaptureLine, CapturedFrame, to_hex},
};

/// Fans captured frames out to the connected clients and counts them.
pub struct CaptureHub {
    tx: broadcast::Sender<Arc<str>>,
    clients: AtomicUsize,
}

impl Default for CaptureHub {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(2_048);
        CaptureHub {
            tx,
            clients: AtomicUsize::new(0),
        }
    }
}

/// A connected capture client; copying stops when the last one is dropped.
pub struct Subscription {
    pub rx: broadcast::Receiver<Arc<str>>,
    hub: Arc<CaptureHub>,
    state: Arc<Mutex<State>>,
}

impl CaptureHub {
    /// Registers a client; the first one turns copying on in the data path.
    pub fn subscribe(
        hub: &Arc<CaptureHub>,
        state: &Arc<Mutex<State>>,
    ) -> Result<Subscription, String> {
        let rx = hub.tx.subscribe();
        if hub.clients.fetch_add(1, Ordering::SeqCst) == 0 {
            if let Err(err) = super::lock(state).dataplane.set_capture(true) {
                hub.clients.fetch_sub(1, Ordering::SeqCst);
                return Err(format!("cannot turn capturing on: {err}"));
            }
            info!("capture client connected: denied frames are copied");
        }
        Ok(Subscription {
            rx,
            hub: hub.clone(),
            state: state.clone(),
        })
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.hub.clients.fetch_sub(1, Ordering::SeqCst) == 1 {
            match super::lock(&self.state).dataplane.set_capture(false) {
                Ok(()) => info!("last capture client gone: denied frames are no longer copied"),
                Err(err) => warn!(error = %err, "cannot turn capturing off"),
            }
        }
    }
}

/// Offset from CLOCK_MONOTONIC (what `bpf_ktime_get_ns` returns) to Unix time, in ns.
fn monotonic_to_unix_offset() -> i128 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    let mono = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as i128 * 1_000_000_000 + t.tv_nsec() as i128)
        .unwrap_or(0);
    unix - mono
}

/// Reads the capture ring until the task is aborted.
pub async fn run(ring: RingBuf<MapData>, state: Arc<Mutex<State>>, hub: Arc<CaptureHub>) {
    // SAFETY: the ring buffer owns its map fd for its whole life and never replaces it; the
    // AsyncFd owns the ring buffer.
    let registered =
        unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) };
    let mut fd = match registered {
        Ok(fd) => fd,
        Err(err) => {
            warn!(error = %err, "cannot poll the capture ring buffer: `zcfw capture` gets nothing");
            return;
        }
    };
    let offset = monotonic_to_unix_offset();
    loop {
        let Ok(mut guard) = fd.readable_mut().await else {
            return;
        };
        let mut batch = Vec::new();
        {
            let ring = guard.get_inner_mut();
            while let Some(item) = ring.next() {
                if item.len() >= std::mem::size_of::<Frame>() {
                    // SAFETY: the kernel wrote a whole `Frame` (checked length); plain data.
                    batch.push(unsafe { (item.as_ptr() as *const Frame).read_unaligned() });
                }
            }
        }
        guard.clear_ready();
        if batch.is_empty() || hub.clients.load(Ordering::SeqCst) == 0 {
            continue;
        }
        let lines: Vec<Arc<str>> = {
            let state = super::lock(&state);
            batch
                .iter()
                .map(|f| {
                    let line = CaptureLine::Frame(describe(f, &state, offset));
                    Arc::from(serde_json::to_string(&line).unwrap_or_default())
                })
                .collect()
        };
        for line in lines {
            // No receiver: the last client left meanwhile.
            let _ = hub.tx.send(line);
        }
    }
}

/// A frame with its numbers named.
pub fn describe(f: &Frame, state: &State, offset: i128) -> CapturedFrame {
    let d = Decision(u64::from(f.decision));
    let policy = &state.policy;
    let conduit = (d.conduit_id() != 0).then(|| {
        policy
            .conduits
            .iter()
            .find(|c| c.id == d.conduit_id())
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("#{}", d.conduit_id()))
    });
    let interface = state
        .dataplane
        .attachments()
        .iter()
        .find(|a| a.ifindex == f.ifindex)
        .map(|a| a.iface.clone())
        .unwrap_or_else(|| format!("if{}", f.ifindex));
    let caplen = (f.caplen as usize).min(f.data.len());
    let data = &f.data[..caplen];
    let (src_zone, dst_zone) = match ip_addresses(data) {
        Some((src, dst)) => (zone_of(policy, src), zone_of(policy, dst)),
        None => (None, None),
    };
    CapturedFrame {
        time_ns: u64::try_from(f.timestamp_ns as i128 + offset).unwrap_or(0),
        interface,
        len: f.len,
        action: action::name(d.action()).to_owned(),
        reason: d.reason().name().to_owned(),
        conduit,
        src_zone,
        dst_zone,
        generation: f.generation,
        data: to_hex(data),
    }
}

/// Source and destination address of an Ethernet frame carrying IPv4 or IPv6 (behind up to
/// two VLAN tags), if the captured bytes hold them.
pub fn ip_addresses(frame: &[u8]) -> Option<(IpAddr, IpAddr)> {
    let mut at = 12;
    let mut ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
    for _ in 0..2 {
        if ethertype != 0x8100 && ethertype != 0x88a8 {
            break;
        }
        at += 4;
        ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
    }
    let ip = frame.get(at + 2..)?;
    match ethertype {
        0x0800 if ip.len() >= 20 => Some((
            IpAddr::from([ip[12], ip[13], ip[14], ip[15]]),
            IpAddr::from([ip[16], ip[17], ip[18], ip[19]]),
        )),
        0x86dd if ip.len() >= 40 => {
            let addr = |o: usize| {
                let mut a = [0u8; 16];
                a.copy_from_slice(&ip[o..o + 16]);
                IpAddr::from(a)
            };
            Some((addr(8), addr(24)))
        }
        _ => None,
    }
}

/// The zone whose most specific network holds `addr`.
fn zone_of(policy: &CompiledPolicy, addr: IpAddr) -> Option<String> {
    policy
        .zones
        .iter()
        .flat_map(|z| z.networks.iter().map(move |n| (n, z)))
        .filter(|(n, _)| n.contains(&addr))
        .max_by_key(|(n, _)| n.prefix_len())
        .map(|(_, z)| z.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_behind_vlan_tags_and_not_past_the_snaplen() {
        let mut v4 = vec![0u8; 12];
        v4.extend_from_slice(&[0x81, 0x00, 0, 5, 0x08, 0x00]);
        let mut ip = vec![0u8; 20];
        ip[0] = 0x45;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 1, 2]);
        v4.extend_from_slice(&ip);
        assert_eq!(
            ip_addresses(&v4),
            Some(("10.0.0.1".parse().unwrap(), "10.0.1.2".parse().unwrap()))
        );
        assert_eq!(ip_addresses(&v4[..30]), None);
        let mut v6 = vec![0u8; 12];
        v6.extend_from_slice(&[0x86, 0xdd]);
        let mut ip = vec![0u8; 40];
        ip[8..24].copy_from_slice(&"fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
        ip[24..40].copy_from_slice(&"fd00::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&ip);
        assert_eq!(
            ip_addresses(&v6),
            Some(("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap()))
        );
        let arp = [0u8; 12]
            .iter()
            .chain(&[0x08, 0x06, 0, 1])
            .copied()
            .collect::<Vec<_>>();
        assert_eq!(ip_addresses(&arp), None);
    }
}
