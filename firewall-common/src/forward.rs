//! The XDP fast path (`fast_path: true` on an interface): an allowed packet of a tracked flow
//! is forwarded by the data path itself (`bpf_fib_lookup` for the next hop, `XDP_REDIRECT`
//! through a devmap) instead of the kernel stack. What is shared between the program
//! (`zcfw_forward`) and the daemon: the counter layout, why a packet went to the stack
//! instead, and the header rewrite (unit-tested here on the host).
//!
//! Every packet is still judged first by the main program: only an allow of a tracked flow
//! is handed to the forwarder, so a flow a reload or island mode closed stops at once.

use crate::{
    maps::Counter,
    packet::{Family, PacketBytes},
    reset::PacketBytesMut,
};

/// What happened to a packet handed to the forwarder: index into
/// [`FastPathCounters::by_cause`]. Every value but [`cause::FORWARDED`] is a fallback: the
/// packet went to the kernel stack (`XDP_PASS`) unchanged.
pub mod cause {
    /// Forwarded in XDP (`XDP_REDIRECT`).
    pub const FORWARDED: usize = 0;
    /// The next hop's MAC address is not resolved: the stack resolves it (ARP / ND) and
    /// forwards the packet; later packets take the fast path.
    pub const NO_NEIGHBOUR: usize = 1;
    /// No route forwards it: a local destination (the firewall itself), or a blackhole,
    /// unreachable or prohibit route; the stack answers as it would.
    pub const NOT_FORWARDED: usize = 2;
    /// IP forwarding is off on the ingress interface (sysctl `forwarding`).
    pub const FORWARDING_OFF: usize = 3;
    /// Larger than the egress MTU: the stack fragments it or sends "packet too big".
    pub const MTU: usize = 4;
    /// TTL / hop limit of 1 or 0: the stack sends ICMP time exceeded.
    pub const TTL: usize = 5;
    /// An IP fragment.
    pub const FRAGMENT: usize = 6;
    /// IPv4 options or IPv6 extension headers.
    pub const IP_OPTIONS: usize = 7;
    /// A VLAN-tagged frame.
    pub const VLAN: usize = 8;
    /// The route leaves through an interface zcfw is not attached to (not in the devmap), a
    /// bridge for example: only interfaces of the policy are forwarding targets.
    pub const NO_EGRESS: usize = 9;
    /// Anything else the lookup cannot answer (a tunnel route, no source address).
    pub const OTHER: usize = 10;
    /// Bridge mode: the destination MAC address is not in the mirrored forwarding database
    /// of the bridge (a broadcast or multicast, an address the bridge has not learned, the
    /// bridge's own, or one behind a port zcfw cannot redirect to): the bridge floods or
    /// delivers it.
    pub const UNKNOWN_MAC: usize = 11;
    /// Bridge mode: the source MAC address is not known behind the ingress port (a host
    /// that moved, or a learned entry that aged out), or the mirror is stale (no daemon
    /// refreshed it lately): the bridge learns it from this frame.
    pub const LEARNING: usize = 12;
    /// Entries of [`super::FastPathCounters::by_cause`].
    pub const SLOTS: usize = 13;

    /// Names as `zcfw status` and the metrics show them, by index.
    pub const NAMES: [&str; SLOTS] = [
        "forwarded",
        "no_neighbour",
        "not_forwarded",
        "forwarding_off",
        "mtu",
        "ttl",
        "fragment",
        "ip_options",
        "vlan",
        "no_egress",
        "other",
        "unknown_mac",
        "learning",
    ];
}

/// Per-CPU counters of one ingress interface (map `FAST_PATH_COUNTERS`, keyed by ifindex):
/// packets and bytes by [`cause`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastPathCounters {
    pub by_cause: [Counter; cause::SLOTS],
}

const _: () = assert!(core::mem::size_of::<FastPathCounters>() == 16 * cause::SLOTS);

/// Bridge mode: a member port of a Linux bridge (map `BRIDGE_PORTS`, keyed by the port's
/// ifindex, written by the daemon for every bridge port of the policy while a `fast_path`
/// interface is one). A frame arriving on a port with an entry is never routed by the
/// forwarder: it is switched by the mirror, or goes to the bridge.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgePort {
    /// Ifindex of the bridge device: frames are switched only between ports of one bridge.
    pub bridge: u32,
    /// The port's MTU: a larger frame goes to the stack (cause [`cause::MTU`]).
    pub mtu: u16,
    /// 1: the fast path may forward from and to the port (STP state forwarding, not
    /// isolated, on a bridge without VLAN filtering); 0: its frames go to the bridge (cause
    /// [`cause::NOT_FORWARDED`]).
    pub forwarding: u8,
    pub _pad: u8,
}

const _: () = assert!(core::mem::size_of::<BridgePort>() == 8);

/// Bridge mode: a key of the mirrored forwarding database (map `BRIDGE_FDB`): a MAC address
/// on a bridge.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FdbKey {
    /// Ifindex of the bridge device.
    pub bridge: u32,
    pub mac: [u8; 6],
    pub _pad: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<FdbKey>() == 12);

impl FdbKey {
    #[inline(always)]
    pub const fn new(bridge: u32, mac: [u8; 6]) -> FdbKey {
        FdbKey {
            bridge,
            mac,
            _pad: [0; 2],
        }
    }
}

/// Bridge mode: the heartbeat of the daemon's forwarding-database mirror (map `BRIDGE_SYNC`,
/// one entry). The forwarder trusts the mirror only while it is fresh: a daemon that died
/// leaves the bridge fast path off within [`MIRROR_FRESH_NS`], and the bridge forwards
/// everything again.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgeSync {
    /// `CLOCK_MONOTONIC` (the clock of `bpf_ktime_get_ns`) of the mirror's last refresh; 0:
    /// never.
    pub refreshed_ns: u64,
}

const _: () = assert!(core::mem::size_of::<BridgeSync>() == 8);

/// How long a refresh of the mirror stays valid. The daemon refreshes it every second.
pub const MIRROR_FRESH_NS: u64 = 5_000_000_000;

/// What the bridge fast path looks at in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BridgedFrame {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// Length after the Ethernet header.
    pub l3_len: u32,
}

/// What the bridge fast path does with `frame` arriving on port `ingress` (whose entry is
/// `port`): `Ok(egress)` to redirect it unchanged out of port `egress`, or the [`cause`] it
/// goes to the stack for. `fdb` looks the mirror up, `port_of` the ports' entries; `fresh`
/// says whether the mirror is fresh ([`MIRROR_FRESH_NS`]).
#[inline(always)]
pub fn bridge_egress(
    ingress: u32,
    port: &BridgePort,
    frame: BridgedFrame,
    fresh: bool,
    fdb: impl Fn(&FdbKey) -> Option<u32>,
    port_of: impl Fn(u32) -> Option<BridgePort>,
) -> Result<u32, usize> {
    let BridgedFrame { dst, src, l3_len } = frame;
    if port.forwarding == 0 {
        return Err(cause::NOT_FORWARDED);
    }
    if !fresh {
        return Err(cause::LEARNING);
    }
    // Broadcast and multicast: the bridge floods them.
    if dst[0] & 1 != 0 {
        return Err(cause::UNKNOWN_MAC);
    }
    // The bridge learns from what it sees: a source not known on this port goes through it.
    if fdb(&FdbKey::new(port.bridge, src)) != Some(ingress) {
        return Err(cause::LEARNING);
    }
    let Some(egress) = fdb(&FdbKey::new(port.bridge, dst)) else {
        return Err(cause::UNKNOWN_MAC);
    };
    // Behind the port it came from (the bridge drops it) or not a port zcfw forwards to.
    if egress == ingress {
        return Err(cause::UNKNOWN_MAC);
    }
    let Some(out) = port_of(egress) else {
        return Err(cause::NO_EGRESS);
    };
    if out.bridge != port.bridge {
        return Err(cause::NO_EGRESS);
    }
    if out.forwarding == 0 {
        return Err(cause::NOT_FORWARDED);
    }
    if l3_len > out.mtu as u32 {
        return Err(cause::MTU);
    }
    Ok(egress)
}

/// `bpf_fib_lookup` return codes (`BPF_FIB_LKUP_RET_*` of the kernel UAPI).
pub mod fib {
    pub const SUCCESS: i64 = 0;
    pub const BLACKHOLE: i64 = 1;
    pub const UNREACHABLE: i64 = 2;
    pub const PROHIBIT: i64 = 3;
    pub const NOT_FWDED: i64 = 4;
    pub const FWD_DISABLED: i64 = 5;
    pub const UNSUPP_LWT: i64 = 6;
    pub const NO_NEIGH: i64 = 7;
    pub const FRAG_NEEDED: i64 = 8;
    pub const NO_SRC_ADDR: i64 = 9;
}

/// The [`cause`] of a `bpf_fib_lookup` result other than success.
#[inline(always)]
pub const fn cause_of_fib(rc: i64) -> usize {
    match rc {
        fib::NO_NEIGH => cause::NO_NEIGHBOUR,
        fib::BLACKHOLE | fib::UNREACHABLE | fib::PROHIBIT | fib::NOT_FWDED => cause::NOT_FORWARDED,
        fib::FWD_DISABLED => cause::FORWARDING_OFF,
        fib::FRAG_NEEDED => cause::MTU,
        _ => cause::OTHER,
    }
}

/// Ethernet header length: the fast path takes untagged frames only.
pub const ETH_LEN: usize = 14;
/// IPv4 header without options.
pub const IPV4_LEN: usize = 20;
/// IPv6 fixed header.
pub const IPV6_LEN: usize = 40;

/// Whether the header layout of a parsed packet lets the forwarder handle it; `Err(cause)`
/// otherwise. `l3`/`l4`: offsets of the IP and L4 headers (`Packet::l3_offset`,
/// `l4_offset`), `fragment`: it is a fragment.
#[inline(always)]
pub fn eligible(family: Family, l3: u16, l4: u16, fragment: bool) -> Result<(), usize> {
    if l3 as usize != ETH_LEN {
        return Err(cause::VLAN);
    }
    if fragment {
        return Err(cause::FRAGMENT);
    }
    let header = match family {
        Family::Ipv4 => IPV4_LEN,
        Family::Ipv6 => IPV6_LEN,
    };
    if l4 as usize != ETH_LEN + header {
        return Err(cause::IP_OPTIONS);
    }
    Ok(())
}

/// The IP header fields the next-hop lookup needs, read from the frame (untagged, no
/// options: [`eligible`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// TTL or hop limit.
    pub ttl: u8,
    /// IPv4 TOS; for IPv6 the flow information word (traffic class and flow label, network
    /// byte order as the lookup wants it).
    pub tos: u8,
    pub flowinfo: u32,
    /// Total length of the IP packet (IPv4 total length; IPv6 payload length + 40), for the
    /// lookup's MTU check.
    pub tot_len: u16,
}

/// Reads [`Header`] of an untagged IPv4 or IPv6 frame.
#[inline(always)]
pub fn header<B: PacketBytes + ?Sized>(bytes: &B, family: Family) -> Option<Header> {
    match family {
        Family::Ipv4 => {
            let h: [u8; 12] = bytes.load(ETH_LEN)?;
            Some(Header {
                ttl: h[8],
                tos: h[1],
                flowinfo: 0,
                tot_len: u16::from_be_bytes([h[2], h[3]]),
            })
        }
        Family::Ipv6 => {
            let h: [u8; 8] = bytes.load(ETH_LEN)?;
            let payload = u16::from_be_bytes([h[4], h[5]]);
            Some(Header {
                ttl: h[7],
                tos: 0,
                // Version nibble masked off; kept in network byte order.
                flowinfo: u32::from_ne_bytes([h[0] & 0x0f, h[1], h[2], h[3]]),
                tot_len: payload.saturating_add(IPV6_LEN as u16),
            })
        }
    }
}

/// Rewrites a frame for its next hop: destination and source MAC, TTL / hop limit minus one
/// and (IPv4) the header checksum updated incrementally (RFC 1624, as the kernel's
/// `ip_decrease_ttl`). The caller checked `ttl > 1`. `None` (nothing written) when the frame
/// is too short.
#[inline(always)]
pub fn rewrite<B: PacketBytesMut + ?Sized>(
    bytes: &mut B,
    family: Family,
    dmac: [u8; 6],
    smac: [u8; 6],
) -> Option<()> {
    match family {
        Family::Ipv4 => {
            // TTL, protocol, checksum: bytes 8..12 of the header.
            let [ttl, proto, c0, c1]: [u8; 4] = bytes.load(ETH_LEN + 8)?;
            let check = u16::from_be_bytes([c0, c1]) as u32 + 0x0100;
            let check = (check + (check >= 0xffff) as u32) as u16;
            let [c0, c1] = check.to_be_bytes();
            bytes.store(ETH_LEN + 8, [ttl.wrapping_sub(1), proto, c0, c1])?;
        }
        Family::Ipv6 => {
            let [hop]: [u8; 1] = bytes.load(ETH_LEN + 7)?;
            bytes.store(ETH_LEN + 7, [hop.wrapping_sub(1)])?;
        }
    }
    let mut macs = [0u8; 12];
    macs[..6].copy_from_slice(&dmac);
    macs[6..].copy_from_slice(&smac);
    bytes.store(0, macs)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use alloc::vec::Vec;

    use super::*;
    use crate::pktgen::{self, checksum};

    fn v4_frame(ttl: u8, id: u16) -> Vec<u8> {
        let mut f = pktgen::ipv4(
            [10, 0, 1, 5],
            [10, 0, 2, 7],
            pktgen::tcp(40000, 502, 0x10, b"abc"),
        )
        .frame();
        // Vary the fields the checksum covers, then make it right again.
        f[ETH_LEN + 4..ETH_LEN + 6].copy_from_slice(&id.to_be_bytes());
        f[ETH_LEN + 8] = ttl;
        f[ETH_LEN + 10..ETH_LEN + 12].copy_from_slice(&[0, 0]);
        let c = checksum(&f[ETH_LEN..ETH_LEN + IPV4_LEN]);
        f[ETH_LEN + 10..ETH_LEN + 12].copy_from_slice(&c.to_be_bytes());
        f
    }

    #[test]
    fn the_incremental_checksum_equals_a_recomputed_one() {
        let (dmac, smac) = ([2, 0, 0, 0, 0, 0xd], [2, 0, 0, 0, 0, 0x5]);
        // Every identification value moves the checksum through its whole range, its
        // wrap-around (0xffff) included.
        for ttl in [2u8, 64, 255] {
            for id in 0..=u16::MAX {
                let mut f = v4_frame(ttl, id);
                rewrite(f.as_mut_slice(), Family::Ipv4, dmac, smac).unwrap();
                assert_eq!(f[ETH_LEN + 8], ttl - 1);
                assert_eq!(
                    checksum(&f[ETH_LEN..ETH_LEN + IPV4_LEN]),
                    0,
                    "ttl {ttl} id {id}: header checksum no longer verifies"
                );
                let expected = v4_frame(ttl - 1, id);
                assert_eq!(
                    f[ETH_LEN + 10..ETH_LEN + 12],
                    expected[ETH_LEN + 10..ETH_LEN + 12],
                    "ttl {ttl} id {id}: not the checksum a full computation gives"
                );
                assert_eq!(f[..6], dmac);
                assert_eq!(f[6..12], smac);
                assert_eq!(f[12..], expected[12..]);
            }
        }
    }

    #[test]
    fn ipv6_hop_limit_is_decremented_and_nothing_else_of_ip_changes() {
        let mut f = pktgen::ipv6(
            pktgen::v6([0xfd00, 1, 0, 0, 0, 0, 0, 5]),
            pktgen::v6([0xfd00, 2, 0, 0, 0, 0, 0, 7]),
            pktgen::udp(1000, 2000, b"x"),
        )
        .frame();
        let before = f.clone();
        let hop = f[ETH_LEN + 7];
        rewrite(f.as_mut_slice(), Family::Ipv6, [1; 6], [2; 6]).unwrap();
        assert_eq!(f[ETH_LEN + 7], hop - 1);
        assert_eq!(f[..12], [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);
        assert_eq!(f[12..ETH_LEN + 7], before[12..ETH_LEN + 7]);
        assert_eq!(f[ETH_LEN + 8..], before[ETH_LEN + 8..]);
    }

    #[test]
    fn header_fields_for_the_lookup() {
        let f = v4_frame(9, 1);
        let h = header(f.as_slice(), Family::Ipv4).unwrap();
        assert_eq!(h.ttl, 9);
        assert_eq!(h.tot_len as usize, f.len() - ETH_LEN);
        let f = pktgen::ipv6(
            pktgen::v6([0xfd00, 1, 0, 0, 0, 0, 0, 5]),
            pktgen::v6([0xfd00, 2, 0, 0, 0, 0, 0, 7]),
            pktgen::udp(1000, 2000, b"xyz"),
        )
        .frame();
        let h = header(f.as_slice(), Family::Ipv6).unwrap();
        assert_eq!(h.tot_len as usize, f.len() - ETH_LEN);
        assert!(rewrite(&mut f.clone()[..ETH_LEN + 8], Family::Ipv6, [0; 6], [0; 6]).is_some());
        assert!(rewrite(&mut f.clone()[..ETH_LEN + 7], Family::Ipv6, [0; 6], [0; 6]).is_none());
    }

    #[test]
    fn only_plain_headers_are_eligible() {
        assert_eq!(eligible(Family::Ipv4, 14, 34, false), Ok(()));
        assert_eq!(eligible(Family::Ipv6, 14, 54, false), Ok(()));
        assert_eq!(eligible(Family::Ipv4, 18, 38, false), Err(cause::VLAN));
        assert_eq!(eligible(Family::Ipv4, 14, 34, true), Err(cause::FRAGMENT));
        assert_eq!(
            eligible(Family::Ipv4, 14, 38, false),
            Err(cause::IP_OPTIONS)
        );
        assert_eq!(
            eligible(Family::Ipv6, 14, 62, false),
            Err(cause::IP_OPTIONS)
        );
        assert_eq!(cause_of_fib(fib::NO_NEIGH), cause::NO_NEIGHBOUR);
        assert_eq!(cause_of_fib(fib::FRAG_NEEDED), cause::MTU);
        assert_eq!(cause_of_fib(fib::NOT_FWDED), cause::NOT_FORWARDED);
        assert_eq!(cause_of_fib(99), cause::OTHER);
        assert_eq!(cause::NAMES.len(), cause::SLOTS);
    }

    #[test]
    fn the_bridge_forwards_known_unicast_between_its_ports_only() {
        const BR: u32 = 10;
        let (a, b, c) = (
            [2, 0, 0, 0, 0, 0xa],
            [2, 0, 0, 0, 0, 0xb],
            [2, 0, 0, 0, 0, 0xc],
        );
        let fdb = |k: &FdbKey| match (k.bridge, k.mac) {
            (BR, m) if m == a => Some(1),
            (BR, m) if m == b => Some(2),
            // Learned behind a port zcfw has no entry for.
            (BR, m) if m == c => Some(9),
            _ => None,
        };
        let at_port = |bridge, mtu, forwarding| BridgePort {
            bridge,
            mtu,
            forwarding,
            _pad: 0,
        };
        let ports = |i: u32| match i {
            1 => Some(at_port(BR, 1500, 1)),
            2 => Some(at_port(BR, 1400, 1)),
            3 => Some(at_port(11, 1500, 1)),
            4 => Some(at_port(BR, 1500, 0)),
            _ => None,
        };
        let p1 = at_port(BR, 1500, 1);
        let at = |dst, src, l3_len| BridgedFrame { dst, src, l3_len };
        let go = |dst, src, fresh| bridge_egress(1, &p1, at(dst, src, 1400), fresh, fdb, ports);
        assert_eq!(go(b, a, true), Ok(2));
        assert_eq!(
            bridge_egress(1, &p1, at(b, a, 1401), true, fdb, ports),
            Err(cause::MTU)
        );
        assert_eq!(go(b, a, false), Err(cause::LEARNING));
        // Broadcast, multicast, unknown.
        assert_eq!(go([0xff; 6], a, true), Err(cause::UNKNOWN_MAC));
        assert_eq!(
            go([0x33, 0x33, 0, 0, 0, 1], a, true),
            Err(cause::UNKNOWN_MAC)
        );
        assert_eq!(go([2, 0, 0, 0, 0, 0xee], a, true), Err(cause::UNKNOWN_MAC));
        // A source the bridge knows elsewhere (it moved) or not at all.
        assert_eq!(go(a, b, true), Err(cause::LEARNING));
        assert_eq!(go(b, [2, 0, 0, 0, 0, 0xee], true), Err(cause::LEARNING));
        // Back out of the ingress port; behind a port with no entry.
        assert_eq!(go(a, a, true), Err(cause::UNKNOWN_MAC));
        assert_eq!(go(c, a, true), Err(cause::NO_EGRESS));
        // A port of another bridge, and one the bridge does not forward on (STP).
        let fdb3 = |k: &FdbKey| if k.mac == b { Some(3) } else { fdb(k) };
        assert_eq!(
            bridge_egress(1, &p1, at(b, a, 100), true, fdb3, ports),
            Err(cause::NO_EGRESS)
        );
        let fdb4 = |k: &FdbKey| if k.mac == b { Some(4) } else { fdb(k) };
        assert_eq!(
            bridge_egress(1, &p1, at(b, a, 100), true, fdb4, ports),
            Err(cause::NOT_FORWARDED)
        );
        let blocked = at_port(BR, 1500, 0);
        assert_eq!(
            bridge_egress(1, &blocked, at(b, a, 100), true, fdb, ports),
            Err(cause::NOT_FORWARDED)
        );
    }
}
