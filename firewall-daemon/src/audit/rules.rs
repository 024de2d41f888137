//! The finding rules of `zcfw audit`: [`RULES`] is the catalogue (docs/audit.md documents
//! each entry), [`check`] applies them to a policy.
//!
//! Conduit findings belong to the zone the conduit leads into: that zone's target security
//! level decides the severity, because it is the zone the conduit's rules expose.

use std::collections::BTreeMap;

use firewall_common::conduit::point;

use super::{Finding, Severity};
use crate::policy::{
    Conduit, LogMode, OnViolation, Protocol, Rule, ValidatedPolicy, Zone, space::FirstMatch,
};

mod bacnet;
mod enip;
mod grid;
mod modbus;
mod opcua;
mod s7comm;
mod uninspected;

use uninspected::Uninspected;

/// One rule of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogueRule {
    /// Stable id: never reused for another check, kept when wording changes.
    pub id: &'static str,
    pub title: &'static str,
    /// How the severity is chosen (it may depend on the target SL of the zone).
    pub severity: &'static str,
    /// System requirements a finding of this rule weakens.
    pub requirements: &'static [&'static str],
    /// Why it matters.
    pub why: &'static str,
}

pub const ANY_PROTOCOL: &str = "ZCFW-A001";
pub const ALL_PORTS: &str = "ZCFW-A002";
pub const WIDE_PORT_RANGE: &str = "ZCFW-A003";
pub const MODBUS_UNINSPECTED: &str = "ZCFW-A004";
pub const MODBUS_WRITES: &str = "ZCFW-A005";
pub const MODBUS_UNNAMED_FUNCTIONS: &str = "ZCFW-A006";
pub const MODBUS_NOT_STRICT: &str = "ZCFW-A007";
pub const INTRA_ZONE_SL4: &str = "ZCFW-A010";
pub const LEVEL_SKIP: &str = "ZCFW-A011";
pub const NO_RATE_LIMIT: &str = "ZCFW-A012";
pub const ICMP_ALL_TYPES: &str = "ZCFW-A013";
pub const DROP_ON_VIOLATION: &str = "ZCFW-A014";
pub const GRID_UNINSPECTED: &str = "ZCFW-A015";
pub const GRID_COMMANDS: &str = "ZCFW-A016";
pub const GRID_BROADCAST: &str = "ZCFW-A017";
pub const S7_UNINSPECTED: &str = "ZCFW-A018";
pub const S7_CHANGES: &str = "ZCFW-A019";
pub const NO_ANTI_SPOOFING: &str = "ZCFW-A020";
pub const NO_EVENTS: &str = "ZCFW-A021";
pub const NOT_ENFORCED: &str = "ZCFW-A022";
pub const ENIP_UNINSPECTED: &str = "ZCFW-A023";
pub const ENIP_CHANGES: &str = "ZCFW-A024";
pub const BACNET_UNINSPECTED: &str = "ZCFW-A025";
pub const BACNET_CHANGES: &str = "ZCFW-A026";
pub const OPCUA_UNINSPECTED: &str = "ZCFW-A027";
pub const OPCUA_UNSIGNED: &str = "ZCFW-A028";
pub const OPCUA_CHANGES: &str = "ZCFW-A029";
pub const VALIDATOR_WARNING: &str = "ZCFW-A030";
pub const MONITOR_MODE: &str = "ZCFW-A031";

/// A port range wider than this many ports is reported by [`WIDE_PORT_RANGE`].
pub const WIDE_RANGE_PORTS: u32 = 1024;

/// Every rule, in id order.
pub const RULES: [CatalogueRule; 29] = [
    CatalogueRule {
        id: ANY_PROTOCOL,
        title: "conduit allows every protocol",
        severity: "high into an SL3-4 zone, medium into SL2, low into SL1",
        requirements: &["SR 5.2", "SR 7.7"],
        why: "a `protocol: any` rule makes the conduit a boundary in name only: every protocol and port of the source zone reaches the destination zone",
    },
    CatalogueRule {
        id: ALL_PORTS,
        title: "conduit allows every TCP or UDP port",
        severity: "high into an SL3-4 zone, medium into SL2, low into SL1",
        requirements: &["SR 5.2", "SR 7.7"],
        why: "a tcp or udp rule without `ports` opens every service of the destination zone, including industrial protocols without inspection",
    },
    CatalogueRule {
        id: WIDE_PORT_RANGE,
        title: "conduit opens a wide port range",
        severity: "medium into an SL3-4 zone, low into SL2 (not reported into SL1)",
        requirements: &["SR 7.7"],
        why: "a range of more than 1024 ports is rarely one service; least functionality asks for the ports the service uses",
    },
    CatalogueRule {
        id: MODBUS_UNINSPECTED,
        title: "Modbus/TCP passes without inspection",
        severity: "high into an SL3-4 zone, medium into SL2 (not reported into SL1)",
        requirements: &["SR 3.5", "SR 7.7"],
        why: "when the first rule of a zone pair that matches tcp port 502 is not a `protocol: modbus` rule (a plain `tcp 502`, a port range, every tcp port or `protocol: any`), every Modbus function passes, writes and diagnostics included",
    },
    CatalogueRule {
        id: MODBUS_WRITES,
        title: "Modbus writes allowed into an SL3-4 zone",
        severity: "high",
        requirements: &["SR 7.7", "SR 5.2"],
        why: "write functions (5, 6, 15, 16, 21, 22, 23) change the process; into SL3-4 zones each write path needs a documented reason and the narrowest address ranges",
    },
    CatalogueRule {
        id: MODBUS_UNNAMED_FUNCTIONS,
        title: "Modbus rule allows function codes zcfw does not know",
        severity: "high into an SL3-4 zone, medium otherwise",
        requirements: &["SR 7.7", "SR 3.5"],
        why: "codes without a name (40, 42, 90 Schneider UMAS, 125, 126, ...) are vendor programming functions: zcfw checks only their code and unit, not what they do (UMAS can stop a PLC)",
    },
    CatalogueRule {
        id: MODBUS_NOT_STRICT,
        title: "Modbus inspection is not strict",
        severity: "medium",
        requirements: &["SR 3.5"],
        why: "`strict: false` accepts trailing bytes after every fixed-size request (reads and writes) and malformed FC 43 requests: parsers of some devices mishandle them, and a server that frames requests by function code (libmodbus) reads trailing bytes as the next request, so the firewall judges other bytes than the server executes",
    },
    CatalogueRule {
        id: INTRA_ZONE_SL4,
        title: "intra-zone traffic allowed in an SL4 zone",
        severity: "medium",
        requirements: &["SR 5.1"],
        why: "with `intra_zone: allow` a compromised host reaches every other host of the zone unfiltered; SL4 zones (often safety systems) should list their internal paths",
    },
    CatalogueRule {
        id: LEVEL_SKIP,
        title: "conduit climbs two or more security levels",
        severity: "medium",
        requirements: &["SR 5.2"],
        why: "a conduit from an SLn zone into an SLn+2 (or higher) zone skips the intermediate zone (DMZ) that the Purdue model and IEC 62443-3-2 put between them",
    },
    CatalogueRule {
        id: NO_RATE_LIMIT,
        title: "conduit into an SL2-4 zone has no rate limit",
        severity: "medium",
        requirements: &["SR 7.1"],
        why: "without `rate_limit` one source can use the conduit at line rate; per-source limits keep a flood from one host from starving the zone (SR 7.1 RE1, RE2)",
    },
    CatalogueRule {
        id: ICMP_ALL_TYPES,
        title: "every ICMP type allowed",
        severity: "medium into an SL3-4 zone, low otherwise",
        requirements: &["SR 7.7"],
        why: "an icmp or icmpv6 rule without `types` passes redirects, router advertisements, timestamps and unassigned types; echo-request (and packet-too-big for IPv6) is usually all a conduit needs",
    },
    CatalogueRule {
        id: DROP_ON_VIOLATION,
        title: "a denied request can lock clients out (`on_violation: drop`)",
        severity: "high into an SL3-4 zone, medium into SL2, low into SL1",
        requirements: &["SR 7.1"],
        why: "a dropped request leaves its TCP connection open: the client retransmits into the drop, the server keeps the connection, and a device that accepts one or a few connections (many PLCs, libmodbus servers) serves no other client until TCP gives up, minutes later; one denied request becomes a denial of service. `on_violation: reset` (the default) frees the connection at once",
    },
    CatalogueRule {
        id: GRID_UNINSPECTED,
        title: "IEC 104 or DNP3 passes without inspection",
        severity: "high into an SL3-4 zone, medium into SL2 (not reported into SL1)",
        requirements: &["SR 3.5", "SR 7.7"],
        why: "when the first rule of a zone pair that matches tcp port 2404 (IEC 60870-5-104) or 20000 (DNP3) is a tcp rule that lists the port (or a range holding it) rather than a `protocol: iec104` / `protocol: dnp3` rule, every command passes: switching a breaker, a parameter load, a restart, a file write (`protocol: any` and tcp rules without ports are reported as ZCFW-A001 and ZCFW-A002)",
    },
    CatalogueRule {
        id: GRID_COMMANDS,
        title: "IEC 104 commands or DNP3 controls allowed into an SL3-4 zone",
        severity: "high",
        requirements: &["SR 7.7", "SR 5.2", "SR 3.5"],
        why: "process commands, set points, parameter loads, file transfer, reset process and clock sync (IEC 104), or write, select/operate, direct operate, restarts, file services and unsolicited control (DNP3), and private or undefined codes, change the substation; into SL3-4 zones each command path needs a documented reason and the narrowest station addresses",
    },
    CatalogueRule {
        id: GRID_BROADCAST,
        title: "IEC 104 global address or DNP3 broadcast reachable",
        severity: "medium",
        requirements: &["SR 7.7"],
        why: "an ASDU to the IEC 104 global common address 65535, or a DNP3 request to a broadcast link address (0xFFFD-0xFFFF), reaches every station behind the server at once, and DNP3 outstations do not answer broadcasts, so the master cannot tell what happened",
    },
    CatalogueRule {
        id: S7_UNINSPECTED,
        title: "S7comm passes without inspection",
        severity: "high into an SL3-4 zone, medium into SL2 (not reported into SL1)",
        requirements: &["SR 3.5", "SR 7.7"],
        why: "when the first rule of a zone pair that matches tcp port 102 is a tcp rule that lists the port (or a range holding it) rather than a `protocol: s7comm` rule, every S7 function passes: PLC stop, program download, PI services (restart, delete blocks), writes to inputs, outputs and data blocks",
    },
    CatalogueRule {
        id: S7_CHANGES,
        title: "S7 stop, download, PI services, writes or S7comm-plus allowed into an SL3-4 zone",
        severity: "high",
        requirements: &["SR 7.7", "SR 5.2", "SR 3.5"],
        why: "write_var, downloads, PLC stop, PI services, uploads, undocumented job functions, userdata that sets the clock, forces variables or tries passwords, and S7comm-plus (not inspected at all) change or copy the PLC's program and process; into SL3-4 zones each such path needs a documented reason, the engineering station as its only source, and areas and DB numbers narrowed",
    },
    CatalogueRule {
        id: NO_ANTI_SPOOFING,
        title: "interface without anti-spoofing",
        severity: "info",
        requirements: &["SR 5.1"],
        why: "an interface without `zones:` accepts sources of every zone, so a host that forges its source address chooses its zone (and the conduits that apply)",
    },
    CatalogueRule {
        id: NO_EVENTS,
        title: "denied packets are not logged",
        severity: "medium if a zone is SL2-4, low otherwise",
        requirements: &["SR 2.8", "SR 2.11", "SR 6.1"],
        why: "with `defaults.log: none` the data path counts denied packets but records no event (time, interface, zones, 5-tuple, reason) an auditor could review",
    },
    CatalogueRule {
        id: NOT_ENFORCED,
        title: "interface of the policy not enforced (zcfw audit --running)",
        severity: "high if a zone is SL3-4, medium otherwise",
        requirements: &["SR 5.2", "SR 5.2 RE3"],
        why: "the daemon reports that its XDP program is not attached to an interface the policy lists: traffic through that interface is not filtered at all",
    },
    CatalogueRule {
        id: ENIP_UNINSPECTED,
        title: "EtherNet/IP passes without inspection",
        severity: "high into an SL3-4 zone, medium into SL2 (not reported into SL1)",
        requirements: &["SR 3.5", "SR 7.7"],
        why: "when the first rule of a zone pair that matches tcp port 44818 is a tcp rule that lists the port (or a range holding it) rather than a `protocol: enip` rule, every CIP service passes: Set_Attribute_Single, Reset, tag writes, Forward_Open, also nested in Unconnected Send and Multiple Service Packet",
    },
    CatalogueRule {
        id: ENIP_CHANGES,
        title: "CIP writes, resets or connections allowed into an SL3-4 zone",
        severity: "high",
        requirements: &["SR 7.7", "SR 5.2", "SR 3.5"],
        why: "set_attribute_single/all/list, write_tag, read_modify_write_tag, reset, start/stop, create/delete, forward_open and services allowed by code on every class change the device or open connections whose traffic flows on its own; into SL3-4 zones each such path needs a documented reason, the engineering station as its only source, and the classes narrowed",
    },
    CatalogueRule {
        id: BACNET_UNINSPECTED,
        title: "BACnet/IP passes without inspection",
        severity: "high into an SL3-4 zone, medium into SL2 (not reported into SL1)",
        requirements: &["SR 3.5", "SR 7.7"],
        why: "when the first rule of a zone pair that matches udp port 47808 is a udp rule that lists the port (or a range holding it) rather than a `protocol: bacnet` rule, every BACnet service passes: write_property to setpoints and outputs, reinitialize_device, device_communication_control (a silenced controller reports no alarms), file writes, and requests wrapped in Forwarded-NPDUs",
    },
    CatalogueRule {
        id: BACNET_CHANGES,
        title: "BACnet writes, restarts, silencing or BBMD management allowed into an SL3-4 zone",
        severity: "high",
        requirements: &["SR 7.7", "SR 5.2", "SR 3.5"],
        why: "write_property(_multiple), reinitialize_device, device_communication_control, atomic_write_file, object creation and deletion, private transfers, life safety operations, write_group and BBMD table management change, restart or silence building and plant devices; into SL3-4 zones each such path needs a documented reason and the management workstation as its only source",
    },
    CatalogueRule {
        id: OPCUA_UNINSPECTED,
        title: "OPC UA passes without inspection",
        severity: "high into an SL3-4 zone, medium into SL2 (not reported into SL1)",
        requirements: &["SR 3.5", "SR 7.7"],
        why: "when the first rule of a zone pair that matches tcp port 4840 is a tcp rule that lists the port (or a range holding it) rather than a `protocol: opcua` rule, every OPC UA client passes: channels of any security policy (`None` included, unsigned), writes, method calls and changes to the address space",
    },
    CatalogueRule {
        id: OPCUA_UNSIGNED,
        title: "OPC UA channels without signature, or with a deprecated security policy",
        severity: "`None`: high into an SL3-4 zone, medium into SL2, low into SL1; deprecated policies only: medium into an SL3-4 zone, low otherwise",
        requirements: &["SR 3.1"],
        why: "a `protocol: opcua` rule that lists security policy `None` admits channels that are neither signed nor encrypted: whoever is on the path can read and change every request and reply, so communication integrity (SR 3.1) and confidentiality (SR 4.1) are not met on that conduit; Basic128Rsa15 and Basic256 sign with SHA-1 and are deprecated by OPC 10000-7",
    },
    CatalogueRule {
        id: OPCUA_CHANGES,
        title: "OPC UA writes, method calls or unjudged services allowed into an SL3-4 zone",
        severity: "high",
        requirements: &["SR 7.7", "SR 5.2", "SR 3.5"],
        why: "write, call, add/delete nodes and references, history_update and server registration change the server and the process behind it; without `services` or `read_only` every service passes, and with `security_modes: [sign_and_encrypt]` the bodies of signing channels pass unjudged, so any service may pass there; into SL3-4 zones each such path needs a documented reason and the engineering station as its only source",
    },
    CatalogueRule {
        id: VALIDATOR_WARNING,
        title: "policy validator warning",
        severity: "info",
        requirements: &["SR 7.6"],
        why: "`zcfw check` accepted the policy with a warning (a rule that never matches, a bypassed inspection, a repeated entry): the policy does not read the way it works",
    },
    CatalogueRule {
        id: MONITOR_MODE,
        title: "conduit in monitor mode",
        severity: "medium",
        requirements: &["SR 5.2"],
        why: "a monitor-mode conduit (or a policy in monitor mode) logs what it would deny but lets it pass: the boundary is not enforced (SR 5.2)",
    },
];

/// The catalogue entry of rule `id`.
pub fn rule(id: &str) -> Option<&'static CatalogueRule> {
    RULES.iter().find(|r| r.id == id)
}

/// A conduit's `rate_limit`, as `<pps> pps, burst <n>`: the one place the audit reads it.
pub(crate) fn rate_limit(conduit: &Conduit) -> Option<String> {
    conduit
        .rate_limit
        .map(|r| format!("{} pps, burst {}", r.pps, r.burst))
}

/// Severity by the destination zone's target level: `[SL1, SL2, SL3+]`; `None`: not reported.
fn by_level(sl: u8, levels: [Option<Severity>; 3]) -> Option<Severity> {
    levels[usize::from(sl.clamp(1, 3) - 1)]
}

struct Ctx<'a> {
    policy: &'a ValidatedPolicy,
    out: Vec<Finding>,
}

impl Ctx<'_> {
    fn push(&mut self, id: &'static str, severity: Severity, message: String) -> &mut Finding {
        let info = rule(id).unwrap_or(&RULES[0]);
        self.out.push(Finding {
            id,
            severity,
            title: info.title,
            message,
            zone: None,
            conduit: None,
            interface: None,
            key: None,
            position: None,
            requirements: info.requirements.to_vec(),
            remediation: String::new(),
        });
        let last = self.out.len() - 1;
        &mut self.out[last]
    }

    fn zone(&self, name: &str) -> Option<&Zone> {
        self.policy.zone(name)
    }
}

impl Finding {
    fn at_conduit(&mut self, c: &Conduit, key: String) -> &mut Self {
        self.zone = Some(c.to.clone());
        self.conduit = Some(c.name.clone());
        self.key = Some(key);
        self
    }

    fn fix(&mut self, remediation: impl Into<String>) -> &mut Self {
        self.remediation = remediation.into();
        self
    }
}

/// Applies every rule of [`RULES`] to `policy`; findings in policy order, rule by rule.
pub fn check(policy: &ValidatedPolicy) -> Vec<Finding> {
    let mut cx = Ctx {
        policy,
        out: Vec::new(),
    };
    conduit_rules(&mut cx);
    zone_rules(&mut cx);
    interface_rules(&mut cx);
    defaults_rules(&mut cx);
    validator_warnings(&mut cx);
    cx.out
}

fn rule_key(ci: usize, ri: usize) -> String {
    format!("conduits[{ci}].rules[{ri}]")
}

fn zone_label(z: &Zone) -> String {
    format!("SL{} zone \"{}\"", z.security_level, z.name)
}

/// A high finding for an inspected rule that lets operations which change devices into an
/// SL3-4 zone (ZCFW-A016, A019, A024, A026, A029): nothing below SL3, nothing when `changes`
/// is empty.
struct Changes<'a> {
    id: &'static str,
    /// What the rule allows, as the finding says it: "allows S7 functions that change the PLC".
    allows: &'a str,
    /// The operations, by name.
    changes: &'a [String],
    /// What follows the list (how far the rule is narrowed), if anything.
    detail: Option<&'a str>,
    /// The policy key the finding points at.
    key: String,
    fix: &'static str,
}

impl Changes<'_> {
    fn push(self, cx: &mut Ctx<'_>, c: &Conduit, to: &Zone, rule: &Rule) {
        if to.security_level < 3 || self.changes.is_empty() {
            return;
        }
        let detail = self.detail.map(|d| format!("; {d}")).unwrap_or_default();
        cx.push(
            self.id,
            Severity::High,
            format!(
                "rule `{rule}` of conduit \"{}\" {} into {}: {}{detail}",
                c.name,
                self.allows,
                zone_label(to),
                self.changes.join(", "),
            ),
        )
        .at_conduit(c, self.key)
        .fix(self.fix);
    }
}

/// For every zone pair, the rule (conduit index, rule index) that wins the port of inspected
/// protocol `protocol` (on its transport) in the data path's first-match order, if any rule
/// covers it.
fn port_owners(
    policy: &ValidatedPolicy,
    protocol: Protocol,
) -> BTreeMap<(String, String), (usize, usize)> {
    let mut pairs: BTreeMap<(String, String), FirstMatch<(usize, usize)>> = BTreeMap::new();
    for (ci, c) in policy.conduits().iter().enumerate() {
        let fm = pairs.entry((c.from.clone(), c.to.clone())).or_default();
        for (ri, rule) in c.rules.iter().enumerate() {
            for (first, last) in rule.points() {
                fm.claim(first, last, (ci, ri));
            }
        }
    }
    let proto = protocol.number().unwrap_or(6);
    let port = protocol.default_port().unwrap_or(0);
    pairs
        .into_iter()
        .filter_map(|(pair, fm)| fm.owner_of(point(proto, port)).map(|o| (pair, o)))
        .collect()
}

fn conduit_rules(cx: &mut Ctx<'_>) {
    let policy = cx.policy;
    let modbus_owners = port_owners(policy, Protocol::Modbus);
    let uninspected: Vec<(&Uninspected, _)> = [
        &s7comm::UNINSPECTED,
        &enip::UNINSPECTED,
        &bacnet::UNINSPECTED,
        &opcua::UNINSPECTED,
    ]
    .into_iter()
    .chain(&grid::UNINSPECTED)
    .map(|u| (u, port_owners(policy, u.protocol)))
    .collect();
    for (ci, c) in policy.conduits().iter().enumerate() {
        let (Some(from), Some(to)) = (cx.zone(&c.from).cloned(), cx.zone(&c.to).cloned()) else {
            continue;
        };
        let sl = to.security_level;
        let into = zone_label(&to);
        for (ri, rule) in c.rules.iter().enumerate() {
            let key = rule_key(ci, ri);
            let broad = [
                Some(Severity::Low),
                Some(Severity::Medium),
                Some(Severity::High),
            ];
            match rule {
                Rule::Any => {
                    if let Some(sev) = by_level(sl, broad) {
                        cx.push(
                            ANY_PROTOCOL,
                            sev,
                            format!(
                                "conduit \"{}\" allows every protocol and port from zone \"{}\" into {into}",
                                c.name, c.from
                            ),
                        )
                        .at_conduit(c, key.clone())
                        .fix("replace `protocol: any` with one rule per service the destination offers (protocol and ports, or `protocol: modbus` with a profile)");
                    }
                }
                Rule::Transport {
                    protocol,
                    ports: None,
                } => {
                    if let Some(sev) = by_level(sl, broad) {
                        cx.push(
                            ALL_PORTS,
                            sev,
                            format!(
                                "rule `{rule}` of conduit \"{}\" allows every {} port from zone \"{}\" into {into}",
                                c.name,
                                protocol.name(),
                                c.from
                            ),
                        )
                        .at_conduit(c, key.clone())
                        .fix(format!(
                            "list the {} ports the destination's services use: `ports: [...]`",
                            protocol.name()
                        ));
                    }
                }
                Rule::Transport {
                    protocol,
                    ports: Some(ranges),
                } => {
                    let wide = [None, Some(Severity::Low), Some(Severity::Medium)];
                    if let Some(sev) = by_level(sl, wide) {
                        for r in ranges {
                            let n = u32::from(r.last) - u32::from(r.first) + 1;
                            if n > WIDE_RANGE_PORTS {
                                cx.push(
                                    WIDE_PORT_RANGE,
                                    sev,
                                    format!(
                                        "rule `{rule}` of conduit \"{}\" opens {} {r} ({n} ports) into {into}",
                                        c.name,
                                        protocol.name()
                                    ),
                                )
                                .at_conduit(c, key.clone())
                                .fix("narrow the range to the ports the service uses, or split it into the few ranges it needs");
                            }
                        }
                    }
                }
                Rule::Icmp {
                    protocol,
                    types: None,
                } => {
                    let sev = if sl >= 3 {
                        Severity::Medium
                    } else {
                        Severity::Low
                    };
                    cx.push(
                        ICMP_ALL_TYPES,
                        sev,
                        format!(
                            "rule `{rule}` of conduit \"{}\" allows every {} type into {into}",
                            c.name,
                            protocol.name()
                        ),
                    )
                    .at_conduit(c, key.clone())
                    .fix(if *protocol == Protocol::Icmpv6 {
                        "list the types needed: `types: [echo-request, packet-too-big]`"
                    } else {
                        "list the types needed: `types: [echo-request]`"
                    });
                }
                Rule::Icmp { .. } => {}
                Rule::Modbus { profile, .. } => {
                    modbus::modbus_rule(cx, ci, c, &to, ri, rule, profile);
                }
                Rule::Iec104 { profile, .. } => {
                    grid::iec104_rule(cx, ci, c, &to, ri, rule, profile)
                }
                Rule::Dnp3 { profile, .. } => grid::dnp3_rule(cx, ci, c, &to, ri, rule, profile),
                Rule::S7comm { profile, .. } => {
                    s7comm::s7comm_rule(cx, ci, c, &to, ri, rule, profile)
                }
                Rule::Enip { profile, .. } => enip::enip_rule(cx, ci, c, &to, ri, rule, profile),
                Rule::Opcua { profile, .. } => opcua::opcua_rule(cx, ci, c, &to, ri, rule, profile),
                Rule::Bacnet { profile, .. } => {
                    bacnet::bacnet_rule(cx, ci, c, &to, ri, rule, profile)
                }
            }
        }

        // Plain Modbus/TCP: the first rule of the pair on tcp/502 is not an inspected one.
        if let Some(&(oci, ori)) = modbus_owners.get(&(c.from.clone(), c.to.clone()))
            && oci == ci
            && let Some(owner) = c.rules.get(ori)
            && !matches!(owner, Rule::Modbus { .. })
            && let Some(sev) = by_level(sl, [None, Some(Severity::Medium), Some(Severity::High)])
        {
            cx.push(
                MODBUS_UNINSPECTED,
                sev,
                format!(
                    "rule `{owner}` of conduit \"{}\" lets Modbus/TCP (port 502) into {into} without inspection: every function passes, writes included",
                    c.name
                ),
            )
            .at_conduit(c, rule_key(ci, ori))
            .fix("take port 502 out of this rule and put a `protocol: modbus` rule with unit_ids, functions (or `read_only: true`) and addresses before it");
        }

        for (u, owners) in &uninspected {
            if let Some(&(oci, ori)) = owners.get(&(c.from.clone(), c.to.clone()))
                && oci == ci
                && let Some(owner) = c.rules.get(ori)
            {
                uninspected::check(cx, (ci, c), &to, (ori, owner), u);
            }
        }

        if from.security_level.saturating_add(2) <= sl {
            cx.push(
                LEVEL_SKIP,
                Severity::Medium,
                format!(
                    "conduit \"{}\" leads from SL{} zone \"{}\" into {into}, {} levels higher",
                    c.name,
                    from.security_level,
                    from.name,
                    sl - from.security_level
                ),
            )
            .at_conduit(c, format!("conduits[{ci}]"))
            .fix("route the traffic through an intermediate zone (a DMZ with a proxy, historian replica or jump host), or document why the direct path is needed");
        }

        if c.on_violation == OnViolation::Drop && c.rules.iter().any(Rule::inspected) {
            let levels = [
                Some(Severity::Low),
                Some(Severity::Medium),
                Some(Severity::High),
            ];
            if let Some(sev) = by_level(sl, levels) {
                cx.push(
                    DROP_ON_VIOLATION,
                    sev,
                    format!(
                        "conduit \"{}\" into {into} drops a denied request and keeps its connection open: a device that serves one or a few connections is locked out for every other client",
                        c.name
                    ),
                )
                .at_conduit(c, format!("conduits[{ci}].on_violation"))
                .fix("use `on_violation: reset` (the default; or remove the line): the device receives a TCP reset in place of the denied request and frees the connection, the client a reset and reconnects");
            }
        }

        if c.mode == crate::policy::Mode::Monitor {
            cx.push(
                MONITOR_MODE,
                Severity::Medium,
                format!("conduit \"{}\" into {into} is in monitor mode: its would-be denies pass", c.name),
            )
            .at_conduit(c, format!("conduits[{ci}]"))
            .fix("switch the conduit to `mode: enforce` once its alerts (`zcfw events`) show only traffic you mean to block");
        }

        if sl >= 2 && rate_limit(c).is_none() {
            cx.push(
                NO_RATE_LIMIT,
                Severity::Medium,
                format!("conduit \"{}\" into {into} has no rate_limit", c.name),
            )
            .at_conduit(c, format!("conduits[{ci}]"))
            .fix("add `rate_limit: { pps: <packets per second>, burst: <packets> }` (per source address) sized to the conduit's normal traffic");
        }
    }
}

fn zone_rules(cx: &mut Ctx<'_>) {
    for z in cx.policy.zones() {
        if z.intra_zone_allow && z.security_level >= 4 {
            let f = cx
                .push(
                    INTRA_ZONE_SL4,
                    Severity::Medium,
                    format!(
                        "{} allows all traffic between its own hosts (`intra_zone: allow`)",
                        zone_label(z)
                    ),
                )
                .fix("remove `intra_zone: allow` and open the paths the zone needs internally, or split the zone");
            f.zone = Some(z.name.clone());
            f.key = Some(format!("zones.{}.intra_zone", z.name));
        }
    }
}

fn interface_rules(cx: &mut Ctx<'_>) {
    for (i, iface) in cx.policy.interfaces().iter().enumerate() {
        if iface.zones.is_none() {
            let f = cx
                .push(
                    NO_ANTI_SPOOFING,
                    Severity::Info,
                    format!(
                        "interface \"{}\" has no `zones:` list: sources of any zone are accepted on it",
                        iface.name
                    ),
                )
                .fix("list the zones whose networks lie behind the interface: `zones: [...]`; other sources are then dropped as spoofed");
            f.interface = Some(iface.name.clone());
            f.key = Some(format!("interfaces[{i}]"));
        }
    }
}

fn defaults_rules(cx: &mut Ctx<'_>) {
    if cx.policy.defaults().log == LogMode::None {
        let sev = if super::max_security_level(cx.policy) >= 2 {
            Severity::Medium
        } else {
            Severity::Low
        };
        cx.push(
            NO_EVENTS,
            sev,
            "`defaults.log: none`: denied packets are counted, but no event records them"
                .to_owned(),
        )
        .fix("set `defaults.log: denied` (the default) so every denied packet produces an event")
        .key = Some("defaults.log".to_owned());
    }
}

fn validator_warnings(cx: &mut Ctx<'_>) {
    for w in cx.policy.warnings() {
        let conduit = w
            .key
            .as_deref()
            .and_then(|k| k.strip_prefix("conduits["))
            .and_then(|k| k.split(']').next())
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| cx.policy.conduits().get(n));
        let zone = match conduit {
            Some(c) => Some(c.to.clone()),
            None => w
                .key
                .as_deref()
                .and_then(|k| k.strip_prefix("zones."))
                .and_then(|k| k.split(['.', '[']).next())
                .filter(|z| cx.policy.zone(z).is_some())
                .map(str::to_owned),
        };
        let f = cx.push(VALIDATOR_WARNING, Severity::Info, w.message.clone());
        f.zone = zone;
        f.conduit = conduit.map(|c| c.name.clone());
        f.key = w.key.clone();
        f.position = w.position.map(|p| p.to_string());
        f.remediation = if w.help.is_empty() {
            "see `zcfw check`".to_owned()
        } else {
            w.help.join("; ")
        };
    }
}
