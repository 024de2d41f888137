//! The bridged plant: zcfw as a bump in the wire. One subnet, three hosts, each behind its own
//! port of a Linux bridge in the gateway namespace; zcfw attaches to the bridge's member
//! ports (never to the bridge device, which bridged frames do not cross).
//!
//! ```text
//!  plant host (hmi) ──veth── port ┐
//!  10.50.0.130, fd00:50::8000:0:0:130  │
//!  cell host plc1 ────veth── port ─ bridge (no address; zcfw on the ports)
//!  10.50.0.10, fd00:50::10             │
//!  cell host plc2 ────veth── port ┘
//!  10.50.0.70, fd00:50::70
//! ```
//!
//! The policy splits the subnet by address range: `plant` is the upper half
//! (10.50.0.128/25, fd00:50::8000:0:0:0/65), `cell` the lower (10.50.0.0/25, fd00:50::/65).
//! Tagged frames cross the bridge too (it is not VLAN-aware: a trunk). The tests send them
//! hand-built, 802.1Q and QinQ (the test kernel has no 802.1Q sub-interfaces), with the
//! addresses of a second subnet split the same way (10.60.0.130 / fd00:60::8000:0:0:130, ...).
//!
//! The bridge runs without STP (a bump in the wire does not take part in the spanning tree,
//! see docs/bridge.md) and forwards LLDP (`group_fwd_mask` bit 14), so that without zcfw an
//! STP BPDU or an LLDP frame from one host reaches the others: what stops them is zcfw.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use firewall_common::{
    packet::ethertype,
    pktgen::{set_macs, with_vlans},
};

use crate::{
    Family, Veth, XdpMode,
    names::Names,
    netns::Netns,
    packet::{PacketSocket, Parsed, Transport, parse_frame, tcp_flags},
};

/// The VLAN id of the tagged frames the tests send across the bridge.
pub const VLAN_ID: u16 = 100;

/// A host of the bridged plant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Station {
    /// The operator station on the plant side (zone `plant`).
    Hmi,
    /// The first PLC of the cell (zone `cell`).
    Plc1,
    /// The second PLC of the cell (zone `cell`).
    Plc2,
}

impl Station {
    /// Every station, in port order.
    pub const ALL: [Station; 3] = [Station::Hmi, Station::Plc1, Station::Plc2];

    /// Short name used in interface and namespace names, and in policy placeholders
    /// (`${IF_HMI}`, ...).
    pub fn short(self) -> &'static str {
        match self {
            Station::Hmi => "hmi",
            Station::Plc1 => "pl1",
            Station::Plc2 => "pl2",
        }
    }

    /// The zone its addresses belong to.
    pub fn zone(self) -> &'static str {
        match self {
            Station::Hmi => "plant",
            Station::Plc1 | Station::Plc2 => "cell",
        }
    }

    /// Its host number: the last octet / group.
    fn number(self) -> u16 {
        match self {
            Station::Hmi => 0x130,
            Station::Plc1 => 0x10,
            Station::Plc2 => 0x70,
        }
    }

    /// Its address on the untagged subnet.
    pub fn addr(self, family: Family) -> IpAddr {
        address(50, family, self.number(), self == Station::Hmi)
    }

    /// Its address in VLAN 100 (in hand-built tagged frames: the test kernel has no 802.1Q
    /// sub-interfaces).
    pub fn vlan_addr(self, family: Family) -> IpAddr {
        address(60, family, self.number(), self == Station::Hmi)
    }
}

impl std::fmt::Display for Station {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Station::Hmi => "hmi",
            Station::Plc1 => "plc1",
            Station::Plc2 => "plc2",
        })
    }
}

/// `10.NET.0.n` (n = the decimal reading of `number`'s hex digits: 0x130 → 130) or
/// `fd00:NET::[8000:0:0:]number` (the upper half of the /64 for the plant side).
pub fn address(net: u8, family: Family, number: u16, upper: bool) -> IpAddr {
    match family {
        Family::V4 => {
            let n: u8 = format!("{number:x}").parse().expect("decimal digits");
            IpAddr::V4(Ipv4Addr::new(10, net, 0, n))
        }
        Family::V6 => {
            let group = u16::from_str_radix(&net.to_string(), 16).expect("decimal digits");
            let half = if upper { 0x8000 } else { 0 };
            IpAddr::V6(Ipv6Addr::new(0xfd00, group, 0, 0, half, 0, 0, number))
        }
    }
}

/// One station's namespace and links.
#[derive(Debug)]
pub struct BridgeHost {
    pub station: Station,
    pub ns: Netns,
    /// Its interface (untagged subnet).
    pub ifname: String,
    /// Its port on the bridge (in the gateway namespace).
    pub port: String,
}

/// The bridged plant. Dropping it deletes the veths, the hosts and the gateway.
#[derive(Debug)]
pub struct BridgePlant {
    // Field order is drop order.
    links: Vec<Veth>,
    hosts: Vec<BridgeHost>,
    gateway: Netns,
    bridge: String,
    names: Names,
}

impl BridgePlant {
    /// Builds the plant with `names`; everything created before an error is removed again.
    pub fn new(names: Names) -> Result<BridgePlant> {
        let gateway = Netns::create(&names.netns("gw"))?;
        let bridge = names.gateway_ifname("br");
        let mut plant = BridgePlant {
            links: Vec::new(),
            hosts: Vec::new(),
            gateway,
            bridge,
            names,
        };
        let gw = &plant.gateway;
        // No routing, no address on the bridge: a transparent bridge. STP off (a bump in the
        // wire), LLDP forwarded. No VLAN filtering: the bridge carries tagged frames as they are,
        // a trunk (kernels built without CONFIG_BRIDGE_VLAN_FILTERING have nothing else).
        gw.ip(&[
            "link",
            "add",
            &plant.bridge,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "group_fwd_mask",
            "0x4000",
        ])
        .context("creating the bridge")?;
        gw.sysctl(&format!("net.ipv6.conf.{}.disable_ipv6", plant.bridge), "1")?;
        for station in Station::ALL {
            let ns = Netns::create(&plant.names.netns(station.short()))?;
            for (key, value) in [
                ("net.ipv6.conf.all.accept_dad", "0"),
                ("net.ipv6.conf.default.accept_dad", "0"),
                ("net.ipv6.conf.default.router_solicitations", "0"),
                (
                    "net.ipv6.conf.default.mldv2_unsolicited_report_interval",
                    "1",
                ),
                (
                    "net.ipv6.conf.default.mldv1_unsolicited_report_interval",
                    "1",
                ),
            ] {
                ns.sysctl(key, value)?;
            }
            let port = plant.names.gateway_ifname(station.short());
            let ifname = plant.names.host_ifname(station.short());
            plant
                .links
                .push(Veth::create(&plant.gateway, &port, &ns, &ifname)?);
            gw.ip(&["link", "set", &port, "master", &plant.bridge])?;
            // The ports themselves have no addresses either.
            gw.sysctl(&format!("net.ipv6.conf.{port}.disable_ipv6"), "1")?;
            gw.ip(&["link", "set", &port, "up"])?;
            ns.ip(&["link", "set", &ifname, "up"])?;
            add_addresses(&ns, &ifname, |f| station.addr(f))?;
            let host = BridgeHost {
                station,
                ns,
                ifname,
                port,
            };
            plant.hosts.push(host);
        }
        gw.ip(&["link", "set", &plant.bridge, "up"])?;
        plant.wait_settled()?;
        Ok(plant)
    }

    /// Waits until every port forwards and every host has its link-local address (see
    /// `Plant::wait_settled` for why).
    fn wait_settled(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        for host in &self.hosts {
            loop {
                let port = self
                    .gateway
                    .ip(&["-j", "link", "show", "dev", &host.port])?;
                let link_local =
                    host.ns
                        .ip(&["-6", "addr", "show", "dev", &host.ifname, "scope", "link"])?;
                let state = self
                    .gateway
                    .ip_bridge(&["-j", "link", "show", "dev", &host.port])?;
                if port.contains("\"operstate\":\"UP\"")
                    && state.contains("\"state\":\"forwarding\"")
                    && link_local.contains("fe80::")
                    && !link_local.contains("tentative")
                {
                    break;
                }
                if Instant::now() >= deadline {
                    bail!(
                        "port {} did not come up: {port} {state} {link_local}",
                        host.port
                    );
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        thread::sleep(Duration::from_millis(50));
        Ok(())
    }

    /// The gateway namespace (the bridge and its ports).
    pub fn gateway(&self) -> &Netns {
        &self.gateway
    }

    /// The bridge device.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// The host of `station`.
    pub fn host(&self, station: Station) -> &BridgeHost {
        self.hosts
            .iter()
            .find(|h| h.station == station)
            .expect("every station has a host")
    }

    /// Every host, in port order.
    pub fn hosts(&self) -> &[BridgeHost] {
        &self.hosts
    }

    /// The bridge's member ports, in station order: where zcfw attaches.
    pub fn ports(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.port.clone()).collect()
    }

    /// The names this plant was built with.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Source and destination MAC of a frame from `from` to `to`.
    pub fn macs(&self, from: Station, to: Station) -> Result<([u8; 6], [u8; 6])> {
        let a = self.host(from);
        let b = self.host(to);
        Ok((a.ns.mac(&a.ifname)?, b.ns.mac(&b.ifname)?))
    }

    /// Substitutes `${IF_HMI}`, `${IF_PL1}`, `${IF_PL2}` (the ports), `${BRIDGE}`, `${NAME}`
    /// and `${XDP_MODE}` in a policy template. Panics if a `${...}` is left over.
    pub fn render_policy(&self, template: &str, name: &str, mode: XdpMode) -> String {
        let mut text = template
            .replace("${NAME}", name)
            .replace("${XDP_MODE}", mode.as_str())
            .replace("${BRIDGE}", &self.bridge);
        for host in &self.hosts {
            let key = format!("${{IF_{}}}", host.station.short().to_uppercase());
            text = text.replace(&key, &host.port);
        }
        assert!(
            !text.contains("${"),
            "policy template has an unknown placeholder:\n{text}"
        );
        text
    }
}

fn add_addresses(ns: &Netns, ifname: &str, addr: impl Fn(Family) -> IpAddr) -> Result<()> {
    for family in Family::ALL {
        let (cidr, extra): (String, &[&str]) = match family {
            Family::V4 => (format!("{}/24", addr(family)), &[]),
            Family::V6 => (format!("{}/64", addr(family)), &["nodad"]),
        };
        let mut args = vec!["addr", "add", &cidr, "dev", ifname];
        args.extend_from_slice(extra);
        ns.ip(&args)?;
    }
    Ok(())
}

// Frames the bridge tests send and capture by hand.

/// `frame` with the VLAN `tags` (outermost first), its MAC addresses kept.
pub fn tagged(frame: &[u8], tags: &[(u16, u16)]) -> Vec<u8> {
    let mut out = with_vlans(frame, tags);
    let (dst, src) = (frame[..6].try_into(), frame[6..12].try_into());
    set_macs(&mut out, src.expect("6 bytes"), dst.expect("6 bytes"));
    out
}

/// A bare SYN (sequence 0x1000).
pub fn syn(sport: u16, dport: u16) -> Transport {
    tcp_segment(sport, dport, tcp_flags::SYN)
}

/// A bare SYN-ACK (sequence 0x1000, acknowledging 0x2000).
pub fn syn_ack(sport: u16, dport: u16) -> Transport {
    tcp_segment(sport, dport, tcp_flags::SYN | tcp_flags::ACK)
}

/// A TCP segment without payload with `flags` (sequence 0x1000; acknowledging 0x2000 when
/// `flags` has ACK).
pub fn tcp_segment(sport: u16, dport: u16, flags: u8) -> Transport {
    Transport::Tcp {
        src_port: sport,
        dst_port: dport,
        seq: 0x1000,
        ack: if flags & tcp_flags::ACK != 0 {
            0x2000
        } else {
            0
        },
        flags,
        payload: Vec::new(),
    }
}

/// The source and destination port of `l4`.
pub fn ports(l4: &Transport) -> (u16, u16) {
    match l4 {
        Transport::Tcp {
            src_port, dst_port, ..
        }
        | Transport::Udp {
            src_port, dst_port, ..
        } => (*src_port, *dst_port),
    }
}

/// Waits up to `timeout` for a frame on `socket` whose IP packet `pred` accepts, tagged or
/// not (the receiving kernel may have taken the outer tag off already).
pub fn captured(
    socket: &PacketSocket,
    timeout: Duration,
    pred: impl Fn(&Parsed) -> bool,
) -> Option<Parsed> {
    captured_tagged(socket, timeout, pred).map(|(p, _, _)| p)
}

/// [`captured`], also returning the VLAN ids of the tags still in the frame's data. The
/// receiving kernel moves the outermost tag out of the data before a packet socket sees the
/// frame (into `PACKET_AUXDATA`), so a QinQ frame shows its inner tag here, and only if both
/// tags arrived.
pub fn captured_tagged(
    socket: &PacketSocket,
    timeout: Duration,
    pred: impl Fn(&Parsed) -> bool,
) -> Option<(Parsed, Vec<u16>, [u8; 12])> {
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let mut frame = socket.recv(left)?;
        let macs: [u8; 12] = frame.get(..12)?.try_into().ok()?;
        let mut vids = Vec::new();
        while frame.len() >= 18
            && matches!(
                u16::from_be_bytes([frame[12], frame[13]]),
                ethertype::VLAN | ethertype::QINQ
            )
        {
            vids.push(u16::from_be_bytes([frame[14], frame[15]]) & 0x0fff);
            frame.drain(12..16);
        }
        if let Some(p) = parse_frame(&frame)
            && pred(&p)
        {
            return Some((p, vids, macs));
        }
    }
    None
}

/// An IEEE 802.3 frame with an STP configuration BPDU (LLC 42 42 03: no ethertype at all).
pub fn stp_bpdu(src_mac: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0x01, 0x80, 0xc2, 0, 0, 0];
    f.extend_from_slice(&src_mac);
    let mut bpdu = vec![0x42, 0x42, 0x03, 0, 0, 0, 0, 0];
    // Root and bridge id: priority 0x1000, a MAC nobody else has.
    let id = [0x10, 0x00, 0x02, 0x7a, 0xcf, 0x77, 0x22, 0x01];
    bpdu.extend_from_slice(&id);
    bpdu.extend_from_slice(&[0, 0, 0, 0]);
    bpdu.extend_from_slice(&id);
    bpdu.extend_from_slice(&[0x80, 0x01, 0, 0, 0x14, 0, 0x02, 0, 0x0f, 0]);
    f.extend_from_slice(&(bpdu.len() as u16).to_be_bytes());
    f.extend_from_slice(&bpdu);
    f.resize(60, 0);
    f
}

/// An LLDP frame (ethertype 0x88cc to the nearest-bridge group address).
pub fn lldp(src_mac: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e];
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x88, 0xcc]);
    // Chassis id (MAC), port id (interface name "zcfw"), TTL 120, end.
    f.extend_from_slice(&[0x02, 0x07, 0x04]);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x04, 0x05, 0x05, b'z', b'c', b'f', b'w']);
    f.extend_from_slice(&[0x06, 0x02, 0x00, 0x78, 0x00, 0x00]);
    f.resize(60, 0);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_the_subnet_by_range() {
        assert_eq!(
            Station::Hmi.addr(Family::V4),
            "10.50.0.130".parse::<IpAddr>().expect("addr")
        );
        assert_eq!(
            Station::Plc2.addr(Family::V4),
            "10.50.0.70".parse::<IpAddr>().expect("addr")
        );
        assert_eq!(
            Station::Hmi.vlan_addr(Family::V6),
            "fd00:60::8000:0:0:130".parse::<IpAddr>().expect("addr")
        );
        assert_eq!(
            Station::Plc1.addr(Family::V6),
            "fd00:50::10".parse::<IpAddr>().expect("addr")
        );
    }
}
