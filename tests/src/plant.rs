//! The test plant: one gateway namespace routing between one host namespace per zone.
//!
//! ```text
//!  enterprise host ──veth── ┐
//!  10.10.0.2, fd00:10::2    │ .1
//!  dmz host ────────veth── gateway (ip_forward, zcfw attaches XDP to its veths)
//!  10.20.0.2, fd00:20::2    │ .1
//!  control host ────veth── ┘
//!  10.30.0.2, fd00:30::2
//! ```
//!
//! Offloads: nothing is switched off, on purpose, and the tests send bulk TCP (hundreds of
//! KiB) to keep it that way. Measured on kernel 6.18 with a plain `XDP_PASS` program:
//! - native XDP on a veth: the kernel itself clears TSO/GSO on the *peer* veth while a
//!   program is attached (`veth_fix_features`), so the program sees MTU-sized frames;
//! - generic (skb) XDP: GSO super-packets (tens of KiB, with consistent IP lengths) reach
//!   the program as one linear packet and pass.
//!
//! If the data path ever drops large segments, that is a bug to fix there (real NICs with
//! GRO deliver the same), not something for the harness to hide with `ethtool -K`. The one
//! exception is documented where it is made: OPC UA's skb variant (tests/tests/opcua.rs),
//! whose walker cannot read a client's chunk header past a frame's first 2,048 payload bytes
//! (README, "Offloads").

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{cmd, names::Names, netns::Netns};

/// The zones of the plant, each with a /24 and a /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Zone {
    /// Business network (Purdue level 4), 10.10.0.0/24 and fd00:10::/64.
    Enterprise,
    /// Industrial DMZ (level 3.5), 10.20.0.0/24 and fd00:20::/64.
    Dmz,
    /// Control network with PLCs (levels 1-2), 10.30.0.0/24 and fd00:30::/64.
    Control,
}

impl Zone {
    /// Every zone, in plant order.
    pub const ALL: [Zone; 3] = [Zone::Enterprise, Zone::Dmz, Zone::Control];

    /// The zone's name in policies.
    pub fn name(self) -> &'static str {
        match self {
            Zone::Enterprise => "enterprise",
            Zone::Dmz => "dmz",
            Zone::Control => "control",
        }
    }

    /// Short name used in interface and namespace names.
    pub fn short(self) -> &'static str {
        match self {
            Zone::Enterprise => "ent",
            Zone::Dmz => "dmz",
            Zone::Control => "ctl",
        }
    }

    fn octet(self) -> u8 {
        match self {
            Zone::Enterprise => 10,
            Zone::Dmz => 20,
            Zone::Control => 30,
        }
    }

    /// Address number `n` in the zone's network: `10.X.0.n` or `fd00:X::n` (hex-looking
    /// `X`: `fd00:10::`, `fd00:20::`, `fd00:30::`).
    pub fn addr(self, family: Family, n: u8) -> IpAddr {
        match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(10, self.octet(), 0, n)),
            Family::V6 => {
                // fd00:10:: etc.: the group is the decimal octet written as hex digits.
                let group = u16::from_str_radix(&self.octet().to_string(), 16)
                    .expect("two decimal digits are valid hex");
                IpAddr::V6(Ipv6Addr::new(0xfd00, group, 0, 0, 0, 0, 0, u16::from(n)))
            }
        }
    }

    /// The zone's host (`.2` / `::2`).
    pub fn host(self, family: Family) -> IpAddr {
        self.addr(family, 2)
    }

    /// The gateway's address in the zone (`.1` / `::1`).
    pub fn gateway(self, family: Family) -> IpAddr {
        self.addr(family, 1)
    }

    /// The zone's network in CIDR notation.
    pub fn network(self, family: Family) -> String {
        match family {
            Family::V4 => format!("10.{}.0.0/24", self.octet()),
            Family::V6 => format!("fd00:{}::/64", self.octet()),
        }
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// IP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Both.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// `IPv4` / `IPv6`.
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// `4` / `6` (for `ip -4` / `ip -6`).
    fn flag(self) -> &'static str {
        match self {
            Family::V4 => "-4",
            Family::V6 => "-6",
        }
    }

    fn prefix_len(self) -> u8 {
        match self {
            Family::V4 => 24,
            Family::V6 => 64,
        }
    }
}

/// How zcfw attaches XDP (`xdp_mode` of an interface in the policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XdpMode {
    /// In the veth driver.
    Native,
    /// Generic XDP on the skb.
    Skb,
}

impl XdpMode {
    /// Both.
    pub const ALL: [XdpMode; 2] = [XdpMode::Native, XdpMode::Skb];

    /// The policy spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            XdpMode::Native => "native",
            XdpMode::Skb => "skb",
        }
    }

    /// What `ip -d link show` prints for an interface with a program in this mode.
    pub fn ip_link_flag(self) -> &'static str {
        match self {
            XdpMode::Native => "xdp",
            XdpMode::Skb => "xdpgeneric",
        }
    }
}

/// A veth pair created from `ns` (one end may live in another namespace); deleted on drop
/// (deleting one end deletes both; a namespace that is already gone took it with it).
#[derive(Debug)]
pub struct Veth {
    ns: String,
    ifname: String,
}

impl Veth {
    /// Creates `ifname` in `ns` and its peer `peer_ifname` in `peer_ns`.
    pub fn create(ns: &Netns, ifname: &str, peer_ns: &Netns, peer_ifname: &str) -> Result<Veth> {
        ns.ip(&[
            "link",
            "add",
            ifname,
            "type",
            "veth",
            "peer",
            "name",
            peer_ifname,
            "netns",
            peer_ns.name(),
        ])
        .with_context(|| format!("failed to create veth {ifname} <-> {peer_ifname}"))?;
        Ok(Veth {
            ns: ns.name().to_string(),
            ifname: ifname.to_string(),
        })
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        if crate::netns::exists(&self.ns) {
            let _ = cmd::ip(&["-n", &self.ns, "link", "del", &self.ifname]);
        }
    }
}

/// One host namespace, the only host of its zone.
#[derive(Debug)]
pub struct Host {
    /// Its zone.
    pub zone: Zone,
    /// Its namespace.
    pub ns: Netns,
    /// Its interface (in `ns`).
    pub ifname: String,
    /// The gateway's interface towards it (in the gateway namespace).
    pub gateway_ifname: String,
}

impl Host {
    /// Its address in `family`.
    pub fn addr(&self, family: Family) -> IpAddr {
        self.zone.host(family)
    }
}

/// The whole topology. Dropping it deletes the veths and then every namespace.
#[derive(Debug)]
pub struct Plant {
    // Field order is drop order: links, then hosts, then the gateway.
    links: Vec<Veth>,
    hosts: Vec<Host>,
    gateway: Netns,
    names: Names,
}

impl Plant {
    /// A test's plant with names unique to `tag` and this process; panics (failing the test)
    /// when it cannot be built.
    pub fn for_test(tag: &str) -> Plant {
        Plant::new(Names::unique(tag)).unwrap_or_else(|e| panic!("building the plant: {e:#}"))
    }

    /// Builds the plant with `names` (see [`Names::unique`] / [`Names::fixed`]). Everything
    /// created before an error is removed again.
    pub fn new(names: Names) -> Result<Plant> {
        let gateway = Netns::create(&names.netns("gw"))?;
        let mut plant = Plant {
            links: Vec::new(),
            hosts: Vec::new(),
            gateway,
            names,
        };
        let gw = &plant.gateway;
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
            // Reverse-path filtering off: without zcfw a spoofed packet is forwarded, so a
            // test that sees it dropped knows zcfw dropped it.
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            // No duplicate address detection: addresses are usable at once.
            ("net.ipv6.conf.all.accept_dad", "0"),
            ("net.ipv6.conf.default.accept_dad", "0"),
        ] {
            gw.sysctl(key, value)?;
        }
        for zone in Zone::ALL {
            let ns = Netns::create(&plant.names.netns(zone.short()))?;
            for (key, value) in [
                ("net.ipv6.conf.all.accept_dad", "0"),
                ("net.ipv6.conf.default.accept_dad", "0"),
                // Fewer stray packets in zcfw's counters: no router solicitations, and the
                // multicast listener reports (from link-local addresses, which zcfw drops)
                // repeated within milliseconds of link-up instead of a second later, when
                // zcfw is already counting.
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
            let gateway_ifname = plant.names.gateway_ifname(zone.short());
            let ifname = plant.names.host_ifname(zone.short());
            plant
                .links
                .push(Veth::create(&plant.gateway, &gateway_ifname, &ns, &ifname)?);
            let host = Host {
                zone,
                ns,
                ifname,
                gateway_ifname,
            };
            for family in Family::ALL {
                let gw_addr = format!("{}/{}", zone.gateway(family), family.prefix_len());
                let host_addr = format!("{}/{}", zone.host(family), family.prefix_len());
                let mut gw_args = vec!["addr", "add", &gw_addr, "dev", &host.gateway_ifname];
                let mut host_args = vec!["addr", "add", &host_addr, "dev", &host.ifname];
                if family == Family::V6 {
                    gw_args.push("nodad");
                    host_args.push("nodad");
                }
                plant.gateway.ip(&gw_args)?;
                host.ns.ip(&host_args)?;
            }
            plant
                .gateway
                .ip(&["link", "set", &host.gateway_ifname, "up"])?;
            host.ns.ip(&["link", "set", &host.ifname, "up"])?;
            for family in Family::ALL {
                host.ns.ip(&[
                    family.flag(),
                    "route",
                    "add",
                    "default",
                    "via",
                    &zone.gateway(family).to_string(),
                ])?;
            }
            plant.hosts.push(host);
        }
        plant.wait_settled()?;
        Ok(plant)
    }

    /// Waits until every link is up on both ends and every host has its IPv6 link-local
    /// address. The kernel may process a veth's carrier change up to a second late
    /// (linkwatch), and only then does IPv6 add the link-local address and send multicast
    /// listener reports: stray packets that would otherwise arrive after zcfw started.
    fn wait_settled(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        for host in &self.hosts {
            loop {
                let host_link = host.ns.ip(&["-j", "link", "show", "dev", &host.ifname])?;
                let gw_link =
                    self.gateway
                        .ip(&["-j", "link", "show", "dev", &host.gateway_ifname])?;
                let link_local =
                    host.ns
                        .ip(&["-6", "addr", "show", "dev", &host.ifname, "scope", "link"])?;
                let up = |json: &str| json.contains("\"operstate\":\"UP\"");
                if up(&host_link)
                    && up(&gw_link)
                    && link_local.contains("fe80::")
                    && !link_local.contains("tentative")
                {
                    break;
                }
                if Instant::now() >= deadline {
                    bail!(
                        "{} / {} did not come up: {host_link} {gw_link} {link_local}",
                        host.ifname,
                        host.gateway_ifname
                    );
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        // The reports are repeated 1 ms apart (see the sysctls above); let them go.
        thread::sleep(Duration::from_millis(50));
        Ok(())
    }

    /// The gateway namespace.
    pub fn gateway(&self) -> &Netns {
        &self.gateway
    }

    /// The host of `zone`.
    pub fn host(&self, zone: Zone) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.zone == zone)
            .expect("every zone has a host")
    }

    /// Every host.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The gateway's interfaces, one per zone, in plant order.
    pub fn gateway_interfaces(&self) -> Vec<String> {
        self.hosts
            .iter()
            .map(|h| h.gateway_ifname.clone())
            .collect()
    }

    /// The names this plant was built with.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Source and destination MAC for a frame that `zone`'s host sends to the gateway.
    pub fn macs_to_gateway(&self, zone: Zone) -> Result<([u8; 6], [u8; 6])> {
        let host = self.host(zone);
        Ok((
            host.ns.mac(&host.ifname)?,
            self.gateway.mac(&host.gateway_ifname)?,
        ))
    }

    /// Sends one hand-built frame (valid checksums) from `zone`'s host to the gateway through
    /// a packet socket; returns its length.
    pub fn send_frame(
        &self,
        zone: Zone,
        src: IpAddr,
        dst: IpAddr,
        l4: &crate::packet::Transport,
    ) -> Result<usize> {
        let host = self.host(zone);
        let sock = crate::packet::PacketSocket::open(&host.ns, &host.ifname)?;
        let (src_mac, dst_mac) = self.macs_to_gateway(zone)?;
        let frame = crate::packet::build_frame(src_mac, dst_mac, src, dst, l4);
        sock.send(&frame)?;
        Ok(frame.len())
    }

    /// Substitutes the plant's interface names into a policy template: `${IF_ENTERPRISE}`,
    /// `${IF_DMZ}`, `${IF_CONTROL}`, and `${NAME}` / `${XDP_MODE}` from the arguments.
    /// Panics if a `${...}` is left over.
    pub fn render_policy(&self, template: &str, name: &str, mode: XdpMode) -> String {
        let mut text = template.replace("${NAME}", name);
        text = text.replace("${XDP_MODE}", mode.as_str());
        for host in &self.hosts {
            let key = format!("${{IF_{}}}", host.zone.name().to_uppercase());
            text = text.replace(&key, &host.gateway_ifname);
        }
        assert!(
            !text.contains("${"),
            "policy template has an unknown placeholder:\n{text}"
        );
        text
    }
}
