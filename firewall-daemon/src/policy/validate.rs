//! Semantic checks: [`RawPolicy`] → [`ValidatedPolicy`], every error found (not just the
//! first), each placed at its key with a fix.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::IpAddr,
};

use firewall_common::maps::capacity;
use ipnet::IpNet;

use super::{
    diag::{Diagnostic, Diagnostics, Position, Severity, did_you_mean, list},
    locate::{KeyPath, Locator},
    model::{
        Conduit, Defaults, Interface, L2Allow, LogMode, Mode, OnViolation, PortRange,
        RateLimitSpec, Rule, ValidatedPolicy, XdpMode, Zone,
    },
    protocols::{
        ETHERTYPE_ARP, ETHERTYPE_NAMES, INDUSTRIAL_PROTOCOLS, Protocol, ProtocolSupport,
        SUPPORTED_PROTOCOLS, ethertype_reserved, icmp_type_names, protocol_support,
    },
    raw::{RawConduit, RawInterface, RawL2, RawPolicy, RawRule, RawZone, Scalar},
    space::FirstMatch,
};

mod modbus;

/// What the checks need besides the raw policy.
pub(super) struct Context<'a> {
    pub origin: &'a str,
    pub src: &'a str,
    pub locator: &'a Locator,
    pub source_hash: String,
}

/// Collects diagnostics, placing each at its key.
struct Checker<'a> {
    ctx: &'a Context<'a>,
    diags: Vec<Diagnostic>,
    /// Errors and warnings found beyond [`MAX_DIAGNOSTICS`]: counted, not kept.
    omitted: (usize, usize),
    /// What a diagnostic beyond the limit is written into (and forgotten).
    overflow: Diagnostic,
}

/// Diagnostics kept (and printed) per policy: a hostile or broken file can produce one per
/// list item (20,000 duplicate ports); each costs a source excerpt, so beyond this they are
/// only counted ("and N more").
pub(super) const MAX_DIAGNOSTICS: usize = 100;

/// Which end of a `key: value` pair a diagnostic points at.
#[derive(Clone, Copy)]
enum At {
    Key,
    Value,
}

impl Checker<'_> {
    fn push(
        &mut self,
        severity: Severity,
        path: &KeyPath,
        at: At,
        message: String,
    ) -> &mut Diagnostic {
        if self.diags.len() >= MAX_DIAGNOSTICS {
            return self.omit(severity);
        }
        let loc = self.ctx.locator;
        let mut position = match at {
            At::Key => loc.key(path).or_else(|| loc.value(path)),
            At::Value => loc.value(path).or_else(|| loc.key(path)),
        };
        // A missing key: point at the nearest enclosing node that exists.
        let mut parent = path.clone();
        while position.is_none() && parent.pop() {
            position = loc.value(&parent);
        }
        self.push_at(severity, path, position, message)
    }

    fn push_at(
        &mut self,
        severity: Severity,
        path: &KeyPath,
        position: Option<Position>,
        message: String,
    ) -> &mut Diagnostic {
        if self.diags.len() >= MAX_DIAGNOSTICS {
            return self.omit(severity);
        }
        let mut d = Diagnostic::new(severity, self.ctx.origin, message);
        if !path.is_root() {
            d.key = Some(path.to_string());
        }
        if let Some(p) = position {
            d.locate(self.ctx.src, p);
        }
        let i = self.diags.len();
        self.diags.push(d);
        &mut self.diags[i]
    }

    fn error(&mut self, path: &KeyPath, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Severity::Error, path, At::Value, message.into())
    }

    fn error_at_key(&mut self, path: &KeyPath, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Severity::Error, path, At::Key, message.into())
    }

    fn warning(&mut self, path: &KeyPath, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Severity::Warning, path, At::Value, message.into())
    }

    fn omit(&mut self, severity: Severity) -> &mut Diagnostic {
        match severity {
            Severity::Error => self.omitted.0 += 1,
            Severity::Warning => self.omitted.1 += 1,
        }
        self.overflow = Diagnostic::new(severity, "", "");
        &mut self.overflow
    }

    fn has_errors(&self) -> bool {
        self.omitted.0 > 0 || self.diags.iter().any(Diagnostic::is_error)
    }
}

trait Help {
    fn help(&mut self, text: impl Into<String>) -> &mut Self;
}

impl Help for Diagnostic {
    fn help(&mut self, text: impl Into<String>) -> &mut Self {
        self.help.push(text.into());
        self
    }
}

/// Checks everything; `Err` holds every error and warning, `Ok` the policy and its warnings.
pub(super) fn validate(
    raw: RawPolicy,
    ctx: &Context<'_>,
    earlier: Vec<Diagnostic>,
) -> Result<ValidatedPolicy, Diagnostics> {
    let mut c = Checker {
        ctx,
        diags: earlier,
        omitted: (0, 0),
        overflow: Diagnostic::new(Severity::Warning, "", ""),
    };
    let root = KeyPath::root();

    match raw.version {
        None => {
            c.error(&root, "missing key \"version\"")
                .help("add `version: 1` at the top of the file");
        }
        Some(1) => {}
        Some(v) => {
            c.error(
                &root.key("version"),
                format!("unsupported policy version {v}"),
            )
            .help("this zcfw reads policy version 1; write `version: 1`");
        }
    }

    let name = match raw.name.as_deref().map(str::trim) {
        None => {
            c.error(&root, "missing key \"name\"")
                .help("add `name: <policy name>`, shown by `zcfw status` and in events");
            String::new()
        }
        Some("") => {
            c.error(&root.key("name"), "the policy name is empty")
                .help("give the policy a name, e.g. `name: plant-a-gateway`");
            String::new()
        }
        Some(n) if n.chars().any(char::is_control) => {
            c.error(
                &root.key("name"),
                "the policy name contains control characters",
            )
            .help("use a single line of printable text");
            String::new()
        }
        Some(n) => n.to_owned(),
    };

    let defaults = check_defaults(&mut c, raw.defaults.unwrap_or_default());
    let zone_names: Vec<String> = raw
        .zones
        .as_ref()
        .map(|z| z.0.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let zones = check_zones(&mut c, raw.zones.map(|z| z.0));
    let interfaces = check_interfaces(&mut c, raw.interfaces, &zone_names);
    let conduits = check_conduits(&mut c, raw.conduits.unwrap_or_default(), &zone_names);
    let l2 = check_l2(&mut c, raw.l2, &zones);

    if !c.has_errors() {
        check_shadowing(&mut c, &conduits);
        let pairs: HashSet<(&str, &str)> = conduits
            .iter()
            .map(|x| (x.from.as_str(), x.to.as_str()))
            .collect();
        let max_pairs = capacity::ZONE_PAIRS / 2;
        if pairs.len() > max_pairs as usize {
            c.error(
                &root.key("conduits"),
                format!(
                    "conduits connect {} zone pairs, but the zone pair map holds {max_pairs} per policy",
                    pairs.len()
                ),
            )
            .help("group hosts into fewer zones");
        }
    }

    if c.has_errors() {
        return Err(Diagnostics::new(ctx.origin, c.diags).with_omitted(c.omitted.0, c.omitted.1));
    }
    let mut warnings: Vec<Diagnostic> = Diagnostics::new(ctx.origin, c.diags)
        .iter()
        .cloned()
        .collect();
    if c.omitted.1 > 0 {
        warnings.push(Diagnostic::new(
            Severity::Warning,
            ctx.origin,
            format!(
                "and {} more warning{} not shown (only the first {MAX_DIAGNOSTICS} diagnostics are kept)",
                c.omitted.1,
                if c.omitted.1 == 1 { "" } else { "s" }
            )
        ));
    }
    Ok(ValidatedPolicy {
        origin: ctx.origin.to_owned(),
        source_hash: ctx.source_hash.clone(),
        name,
        defaults,
        zones,
        interfaces,
        conduits,
        l2,
        warnings,
    })
}

fn check_defaults(c: &mut Checker<'_>, raw: super::raw::RawDefaults) -> Defaults {
    let at = KeyPath::root().key("defaults");
    match raw.action.as_deref() {
        None | Some("deny") => {}
        Some("allow") => {
            c.error(&at.key("action"), "defaults.action must be deny")
                .help("IEC 62443-3-3 SR 5.2 RE1: deny by default; conduits open the paths that are needed");
        }
        Some(other) => {
            c.error(
                &at.key("action"),
                format!("unknown default action \"{other}\""),
            )
            .help("the only default action is `deny`; conduits open paths");
        }
    }
    let log = match raw.log.as_deref() {
        None | Some("denied") => LogMode::Denied,
        Some("none") => LogMode::None,
        Some("all") => LogMode::All,
        Some(other) => {
            c.error(&at.key("log"), format!("unknown log setting \"{other}\""))
                .help("use one of: none, denied, all");
            LogMode::Denied
        }
    };
    let mode = match raw.mode.as_deref() {
        None | Some("enforce") => Mode::Enforce,
        Some("monitor") => {
            c.warning(
                &at.key("mode"),
                "defaults.mode: monitor: nothing is denied by policy; would-be denies pass and are reported as alerts",
            )
            .help("use monitor mode to commission a policy, then switch to `mode: enforce` (SR 5.2 RE1)");
            Mode::Monitor
        }
        Some(other) => {
            c.error(&at.key("mode"), format!("unknown mode \"{other}\""))
                .help("use `mode: enforce` or `mode: monitor`");
            Mode::Enforce
        }
    };
    Defaults { log, mode }
}

/// Largest `rate_limit` pps and burst: ten million packets per second per source.
const MAX_PPS: u64 = 10_000_000;

fn is_zone_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn check_zones(c: &mut Checker<'_>, raw: Option<Vec<(String, RawZone)>>) -> Vec<Zone> {
    let at = KeyPath::root().key("zones");
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        c.error(&at, "the policy defines no zones")
            .help("define zones under `zones:`, e.g. `control: { security_level: 3, networks: [10.30.0.0/24] }`");
        return Vec::new();
    }
    if raw.len() > capacity::MAX_ZONES as usize {
        c.error(
            &at,
            format!(
                "{} zones, but zcfw holds at most {}",
                raw.len(),
                capacity::MAX_ZONES
            ),
        )
        .help("group networks of the same security level into one zone");
    }
    let mut zones = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, (name, z)) in raw.iter().enumerate() {
        let zp = at.key(name);
        if let Some(&first) = seen.get(name.as_str()) {
            let reported = c.ctx.locator.duplicates().iter().any(|d| d.path == zp);
            if !reported {
                let first_at = c.ctx.locator.nth_key(&at, first);
                let again_at = c.ctx.locator.nth_key(&at, index);
                let d = c.push_at(
                    Severity::Error,
                    &zp,
                    again_at,
                    format!("zone \"{name}\" is defined twice"),
                );
                if let Some(p) = first_at {
                    d.help(format!(
                        "the first definition is at line {}; rename or merge them",
                        p.line
                    ));
                }
            }
            continue;
        }
        seen.insert(name, index);
        let mut ok = true;
        if !is_zone_name(name) {
            ok = false;
            let fixed: String = name
                .to_lowercase()
                .chars()
                .map(|ch| {
                    if ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' {
                        ch
                    } else {
                        '_'
                    }
                })
                .collect();
            c.error_at_key(&zp, format!("invalid zone name \"{name}\""))
                .help(format!(
                    "zone names use lowercase letters, digits, `_` and `-`, e.g. \"{fixed}\""
                ));
        }
        let security_level = match z.security_level {
            None => {
                ok = false;
                c.error(&zp, format!("zone \"{name}\" has no security_level"))
                    .help("add `security_level: N` with the zone's IEC 62443 target level, 1 to 4");
                0
            }
            Some(sl @ 1..=4) => sl as u8,
            Some(sl) => {
                ok = false;
                c.error(
                    &zp.key("security_level"),
                    format!("security level {sl} of zone \"{name}\" is out of range"),
                )
                .help("IEC 62443 security levels are 1, 2, 3 or 4");
                0
            }
        };
        let intra_zone_allow = match z.intra_zone.as_deref() {
            None | Some("deny") => false,
            Some("allow") => true,
            Some(other) => {
                ok = false;
                c.error(
                    &zp.key("intra_zone"),
                    format!("unknown intra_zone setting \"{other}\""),
                )
                .help("use `intra_zone: allow` or `intra_zone: deny` (the default)");
                false
            }
        };
        let mut networks = Vec::new();
        match &z.networks {
            None => {
                ok = false;
                c.error(&zp, format!("zone \"{name}\" has no networks"))
                    .help(
                        "add `networks: [...]` with the zone's IPv4/IPv6 networks in CIDR notation",
                    );
            }
            Some(list) if list.is_empty() => {
                ok = false;
                c.error(&zp.key("networks"), format!("zone \"{name}\" has no networks"))
                    .help("list at least one network, e.g. `networks: [10.30.0.0/24]`; a zone without networks matches no host");
            }
            Some(list) => {
                for (i, text) in list.iter().enumerate() {
                    match parse_network(text) {
                        Ok(net) => networks.push(net),
                        Err((msg, help)) => {
                            ok = false;
                            c.error(&zp.key("networks").index(i), msg).help(help);
                        }
                    }
                }
            }
        }
        if ok {
            zones.push(Zone {
                id: u16::try_from(zones.len() + 1).unwrap_or(u16::MAX),
                name: name.clone(),
                security_level,
                networks,
                intra_zone_allow,
            });
        }
    }
    check_overlaps(c, &zones);
    zones
}

/// A network in CIDR notation with its host bits clear.
fn parse_network(text: &str) -> Result<IpNet, (String, String)> {
    let text = text.trim();
    match text.parse::<IpNet>() {
        Ok(net) if net.trunc() == net => Ok(net),
        Ok(net) => Err((
            format!("network {text} has host bits set"),
            format!(
                "write {} (the network), or {}/{} for the single host",
                net.trunc(),
                net.addr(),
                net.max_prefix_len()
            ),
        )),
        Err(_) => match text.parse::<IpAddr>() {
            Ok(addr) => Err((
                format!("network \"{text}\" has no prefix length"),
                format!(
                    "write {text}/{} for the single host, or the network in CIDR notation",
                    if addr.is_ipv4() { 32 } else { 128 }
                ),
            )),
            Err(_) => Err((
                format!("invalid network \"{text}\""),
                "write an IPv4 or IPv6 network in CIDR notation, e.g. 10.20.0.0/24 or \"fd00:20::/64\"".into(),
            )),
        },
    }
}

/// Identical networks are errors (one network, one zone); a network inside another one of
/// the same zone is redundant (warning); inside another zone's, the more specific wins.
fn check_overlaps(c: &mut Checker<'_>, zones: &[Zone]) {
    let mut all: Vec<(IpNet, usize, usize)> = Vec::new();
    for (zi, z) in zones.iter().enumerate() {
        for (ni, n) in z.networks.iter().enumerate() {
            all.push((*n, zi, ni));
        }
    }
    let path = |zi: usize, ni: usize| {
        KeyPath::root()
            .key("zones")
            .key(&zones[zi].name)
            .key("networks")
            .index(ni)
    };
    let mut first: HashMap<IpNet, (usize, usize)> = HashMap::new();
    for &(net, zi, ni) in &all {
        match first.get(&net) {
            None => {
                first.insert(net, (zi, ni));
            }
            Some(&(fz, _)) if fz == zi => {
                c.error(
                    &path(zi, ni),
                    format!(
                        "network {net} is listed twice in zone \"{}\"",
                        zones[zi].name
                    ),
                )
                .help("remove one of them");
            }
            Some(&(fz, _)) => {
                c.error(
                    &path(zi, ni),
                    format!(
                        "network {net} of zone \"{}\" overlaps zone \"{}\", which lists the same network",
                        zones[zi].name, zones[fz].name
                    ),
                )
                .help("a network belongs to one zone; to carve hosts out of a zone's network, give the other zone a more specific prefix (the most specific match wins)");
            }
        }
    }
    // Nesting: sort by family, address, then shorter prefix first; the nearest enclosing
    // network is on top of the stack.
    let mut sorted: Vec<&(IpNet, usize, usize)> = all.iter().collect();
    sorted.sort_by_key(|(n, _, _)| (n.network(), n.prefix_len()));
    let mut stack: Vec<&(IpNet, usize, usize)> = Vec::new();
    for item in sorted {
        while let Some(top) = stack.last() {
            if top.0.contains(&item.0) && top.0 != item.0 {
                break;
            }
            stack.pop();
        }
        if let Some(top) = stack.last()
            && top.1 == item.1
        {
            c.warning(
                &path(item.1, item.2),
                format!(
                    "network {} of zone \"{}\" is inside its network {}",
                    item.0, zones[item.1].name, top.0
                ),
            )
            .help("remove the more specific network; it changes nothing");
        }
        stack.push(item);
    }
    let v4 = all
        .iter()
        .filter(|(n, _, _)| matches!(n, IpNet::V4(_)))
        .count();
    let v6 = all.len() - v4;
    for (family, count) in [("IPv4", v4), ("IPv6", v6)] {
        if count > capacity::ZONE_NETWORKS as usize {
            c.error(
                &KeyPath::root().key("zones"),
                format!(
                    "the zones list {count} {family} networks, but the zone map holds {}",
                    capacity::ZONE_NETWORKS
                ),
            )
            .help("aggregate adjacent networks into shorter prefixes");
        }
    }
}

/// Linux interface name rules (`dev_valid_name`).
fn ifname_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.len() > 15 {
        Some("is longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("is reserved")
    } else if name.contains('/') {
        Some("contains '/'")
    } else if name.contains(':') {
        Some("contains ':'")
    } else if name.chars().any(char::is_whitespace) {
        Some("contains whitespace")
    } else {
        None
    }
}

fn undefined_zone(
    c: &mut Checker<'_>,
    path: &KeyPath,
    what: String,
    zone: &str,
    zone_names: &[String],
) {
    let d = c.error(path, format!("{what} refers to undefined zone \"{zone}\""));
    if let Some(near) = did_you_mean(zone, zone_names.iter().map(String::as_str)) {
        d.help(format!("did you mean \"{near}\"?"));
    }
    if zone_names.is_empty() {
        d.help(format!("define zone \"{zone}\" under zones:"));
    } else {
        d.help(format!(
            "define zone \"{zone}\" under zones:, or use one of: {}",
            list(zone_names)
        ));
    }
}

fn check_interfaces(
    c: &mut Checker<'_>,
    raw: Option<Vec<RawInterface>>,
    zone_names: &[String],
) -> Vec<Interface> {
    let at = KeyPath::root().key("interfaces");
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        c.error(&at, "the policy lists no interfaces").help(
            "list where XDP attaches, e.g. `interfaces: [{ name: eth0, zones: [enterprise] }]`",
        );
        return Vec::new();
    }
    let max = capacity::IFACES / 2;
    if raw.len() > max as usize {
        c.error(
            &at,
            format!(
                "{} interfaces, but zcfw attaches to at most {max}",
                raw.len()
            ),
        )
        .help("run one zcfw per group of interfaces");
    }
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut iface_zones = 0usize;
    for (i, r) in raw.into_iter().enumerate() {
        let ip = at.index(i);
        let mut ok = true;
        let name = match r.name {
            None => {
                ok = false;
                c.error(&ip, "interface has no name")
                    .help("add `name: <ifname>`, e.g. `name: eth0`");
                String::new()
            }
            Some(n) => {
                if let Some(problem) = ifname_problem(&n) {
                    ok = false;
                    c.error(&ip.key("name"), format!("invalid interface name \"{n}\": it {problem}"))
                        .help("Linux interface names are 1 to 15 bytes without '/', ':' or whitespace; `ip link` lists them");
                } else if let Some(&first) = seen.get(&n) {
                    ok = false;
                    c.error(
                        &ip.key("name"),
                        format!("interface \"{n}\" is listed twice"),
                    )
                    .help(format!(
                        "it is already interfaces[{first}]; merge the two entries"
                    ));
                } else {
                    seen.insert(n.clone(), i);
                }
                n
            }
        };
        let zones = match r.zones {
            None => None,
            Some(list) if list.is_empty() => {
                ok = false;
                c.error(&ip.key("zones"), format!("interface \"{name}\" has an empty zone list"))
                    .help("list the zones whose hosts are behind this interface, or omit `zones` to accept any zone");
                None
            }
            Some(list) => {
                let mut kept: Vec<String> = Vec::new();
                for (j, z) in list.iter().enumerate() {
                    let zp = ip.key("zones").index(j);
                    if !zone_names.contains(z) {
                        ok = false;
                        undefined_zone(c, &zp, format!("interface \"{name}\""), z, zone_names);
                    } else if kept.contains(z) {
                        c.warning(
                            &zp,
                            format!("zone \"{z}\" is listed twice for interface \"{name}\""),
                        )
                        .help("remove the repeated zone");
                    } else {
                        kept.push(z.clone());
                    }
                }
                iface_zones += kept.len();
                Some(kept)
            }
        };
        let xdp_mode = match r.xdp_mode.as_deref() {
            None | Some("auto") => XdpMode::Auto,
            Some("native") => XdpMode::Native,
            Some("skb") => XdpMode::Skb,
            Some(other) => {
                ok = false;
                let d = c.error(&ip.key("xdp_mode"), format!("unknown xdp_mode \"{other}\""));
                if matches!(other, "generic") {
                    d.help("generic XDP is called `skb` here");
                } else if matches!(other, "drv" | "driver") {
                    d.help("driver XDP is called `native` here");
                }
                d.help("use one of: native, skb, auto (the default: native where the driver supports it)");
                XdpMode::Auto
            }
        };
        if ok {
            out.push(Interface {
                name,
                zones,
                xdp_mode,
            });
        }
    }
    let max_pairs = capacity::IFACE_ZONES / 2;
    if iface_zones > max_pairs as usize {
        c.error(
            &at,
            format!(
                "interfaces list {iface_zones} interface zones, but zcfw holds at most {max_pairs}"
            ),
        )
        .help("omit `zones` on interfaces that need no source check");
    }
    out
}

fn check_conduits(
    c: &mut Checker<'_>,
    raw: Vec<RawConduit>,
    zone_names: &[String],
) -> Vec<Conduit> {
    let at = KeyPath::root().key("conduits");
    if raw.len() > capacity::MAX_CONDUITS as usize {
        c.error(
            &at,
            format!(
                "{} conduits, but zcfw holds at most {}",
                raw.len(),
                capacity::MAX_CONDUITS
            ),
        )
        .help("merge conduits between the same zones into one with several rules");
    }
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, r) in raw.into_iter().enumerate() {
        let cp = at.index(i);
        let mut ok = true;
        let name = match r.name.as_deref().map(str::trim) {
            None => {
                ok = false;
                c.error(&cp, format!("conduits[{i}] has no name"))
                    .help("add `name: <conduit name>`; counters and events are reported by it");
                format!("conduits[{i}]")
            }
            Some("") => {
                ok = false;
                c.error(&cp.key("name"), "conduit name is empty")
                    .help("name the conduit after what it is for, e.g. `historian-reads-plcs`");
                format!("conduits[{i}]")
            }
            Some(n) if n.chars().any(char::is_control) => {
                ok = false;
                c.error(&cp.key("name"), "conduit name contains control characters")
                    .help("use a single line of printable text");
                n.to_owned()
            }
            Some(n) => {
                if let Some(&first) = seen.get(n) {
                    ok = false;
                    c.error(&cp.key("name"), format!("duplicate conduit name \"{n}\""))
                        .help(format!(
                            "conduits[{first}] is already called \"{n}\"; conduit names must be unique"
                        ));
                } else {
                    seen.insert(n.to_owned(), i);
                }
                n.to_owned()
            }
        };
        let mut end = |c: &mut Checker<'_>, key: &str, value: Option<String>| -> String {
            match value {
                None => {
                    ok = false;
                    c.error(&cp, format!("conduit \"{name}\" has no `{key}` zone"))
                        .help(format!(
                            "add `{key}: <zone>`; conduits go from one zone to another"
                        ));
                    String::new()
                }
                Some(z) if !zone_names.contains(&z) => {
                    ok = false;
                    undefined_zone(
                        c,
                        &cp.key(key),
                        format!("conduit \"{name}\""),
                        &z,
                        zone_names,
                    );
                    String::new()
                }
                Some(z) => z,
            }
        };
        let from = end(c, "from", r.from);
        let to = end(c, "to", r.to);
        if !from.is_empty() && from == to {
            ok = false;
            c.error(
                &cp.key("to"),
                format!("conduit \"{name}\" goes from zone \"{from}\" to itself"),
            )
            .help(format!(
                "conduits join two different zones; traffic inside a zone is set by `zones.{from}.intra_zone: allow`"
            ));
        }
        let mode = match r.mode.as_deref().map(str::trim) {
            None | Some("enforce") => Mode::Enforce,
            Some("monitor") => {
                c.warning(
                    &cp.key("mode"),
                    format!("conduit \"{name}\" is in monitor mode: its inspection and rate-limit denies pass as alerts"),
                )
                .help("switch to `mode: enforce` once the alerts show only traffic you mean to block");
                Mode::Monitor
            }
            Some(other) => {
                ok = false;
                c.error(&cp.key("mode"), format!("unknown mode \"{other}\""))
                    .help("use `mode: enforce` (the default) or `mode: monitor`");
                Mode::Enforce
            }
        };
        let rate_limit = match r.rate_limit {
            None => None,
            Some(raw) => {
                let at = cp.key("rate_limit");
                match raw.pps {
                    None => {
                        ok = false;
                        c.error(
                            &at,
                            "rate_limit needs `pps`, the packets per second each source may send",
                        )
                        .help("e.g. `rate_limit: { pps: 500, burst: 100 }`");
                        None
                    }
                    Some(pps) if pps == 0 || pps > MAX_PPS => {
                        ok = false;
                        c.error(
                            &at.key("pps"),
                            format!("rate_limit.pps {pps} is out of range"),
                        )
                        .help(format!("use 1 to {MAX_PPS} packets per second per source"));
                        None
                    }
                    Some(pps) => match raw.burst.unwrap_or(pps) {
                        burst if burst == 0 || burst > MAX_PPS => {
                            ok = false;
                            c.error(&at.key("burst"), format!("rate_limit.burst {burst} is out of range"))
                                .help(format!("use 1 to {MAX_PPS} packets (default: the pps value, one second of traffic)"));
                            None
                        }
                        burst => Some(RateLimitSpec {
                            pps: pps as u32,
                            burst: burst as u32,
                        }),
                    },
                }
            }
        };
        let on_violation = match r.on_violation.as_deref().map(str::trim) {
            None | Some("reset") => OnViolation::Reset,
            Some("drop") => OnViolation::Drop,
            Some("exception") => OnViolation::Exception,
            Some(other) => {
                ok = false;
                c.error(
                    &cp.key("on_violation"),
                    format!("unknown on_violation \"{other}\""),
                )
                .help("use `on_violation: reset` (the default), `on_violation: exception` (Modbus) or `on_violation: drop`");
                OnViolation::Reset
            }
        };
        let mut rules = Vec::new();
        match r.rules {
            None => {
                ok = false;
                c.error(&cp, format!("conduit \"{name}\" has no rules"))
                    .help("add `rules:`, e.g. `rules: [{ protocol: tcp, ports: [443] }]`");
            }
            Some(list) if list.is_empty() => {
                ok = false;
                c.error(&cp.key("rules"), format!("conduit \"{name}\" has no rules"))
                    .help("list what the conduit allows, e.g. `- { protocol: tcp, ports: [443] }`; a conduit without rules opens nothing");
            }
            Some(list) => {
                for (j, rule) in list.into_iter().enumerate() {
                    match check_rule(c, &cp.key("rules").index(j), rule) {
                        Some(rule) => rules.push(rule),
                        None => ok = false,
                    }
                }
            }
        }
        let inspected = rules.iter().any(Rule::inspected);
        let not_modbus = rules
            .iter()
            .any(|rule| rule.inspected() && rule.modbus_profile().is_none());
        if ok && on_violation == OnViolation::Exception && (!inspected || not_modbus) {
            ok = false;
            c.error(
                &cp.key("on_violation"),
                format!("on_violation: exception on conduit \"{name}\" needs Modbus rules"),
            )
            .help("a Modbus exception answers a denied Modbus request: every inspected rule of the conduit must be `protocol: modbus`; use `on_violation: reset` (the default) otherwise");
        } else if ok && r.on_violation.is_some() && !inspected {
            c.warning(
                &cp.key("on_violation"),
                format!("on_violation has no effect: conduit \"{name}\" has no inspected rule"),
            )
            .help("on_violation applies to rules with deep inspection (`protocol: modbus`); remove it");
        } else if ok && inspected && on_violation == OnViolation::Drop {
            c.warning(
                &cp.key("on_violation"),
                format!("on_violation: drop on conduit \"{name}\" can lock clients out of the device"),
            )
            .help("a dropped request leaves the connection open: the client retransmits into the drop and the server keeps the connection, so a device that accepts one or a few connections serves no other client until TCP gives up (minutes); use `on_violation: reset` (the default) unless every device behind this conduit accepts many connections");
        }
        if ok {
            out.push(Conduit {
                id: u16::try_from(i + 1).unwrap_or(u16::MAX),
                name,
                from,
                to,
                description: r.description,
                rules,
                on_violation,
                mode,
                rate_limit,
            });
        }
    }
    out
}

fn check_rule(c: &mut Checker<'_>, rp: &KeyPath, r: RawRule) -> Option<Rule> {
    let supported = || {
        SUPPORTED_PROTOCOLS
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(name) = r.protocol.as_deref() else {
        c.error(rp, "rule has no protocol")
            .help(format!("add `protocol:`, one of: {}", supported()));
        return None;
    };
    let protocol = match protocol_support(name) {
        ProtocolSupport::Supported(p) => p,
        ProtocolSupport::NotInThisBuild(ind) => {
            c.error(
                &rp.key("protocol"),
                format!(
                    "protocol `{}` ({} deep inspection) is not supported yet by this zcfw build",
                    ind.keyword, ind.display
                ),
            )
            .help(format!(
                "use {{ protocol: {}, ports: [{}] }} to allow {} without inspection",
                ind.transport.name(),
                ind.port,
                ind.display
            ));
            return None;
        }
        ProtocolSupport::Unknown => {
            let d = c.error(&rp.key("protocol"), format!("unknown protocol \"{name}\""));
            let all: Vec<&str> = SUPPORTED_PROTOCOLS
                .iter()
                .map(|p| p.name())
                .chain(INDUSTRIAL_PROTOCOLS.iter().map(|p| p.keyword))
                .collect();
            if let Some(near) = did_you_mean(&name.to_lowercase(), all) {
                d.help(format!("did you mean \"{near}\"?"));
            }
            d.help(format!("use one of: {}", supported()));
            return None;
        }
    };
    let mut ok = true;
    for block in r.option_blocks() {
        if protocol == Protocol::Modbus && block == "modbus" {
            continue;
        }
        ok = false;
        c.error_at_key(
            &rp.key(block),
            format!("`{block}` options apply only to `protocol: {block}`"),
        )
        .help(format!(
            "remove `{block}:` from this {} rule",
            protocol.name()
        ));
    }
    let rule = match protocol {
        Protocol::Any => {
            for key in ["ports", "types"] {
                if c.ctx.locator.exists(&rp.key(key))
                    || (key == "ports" && r.ports.is_some())
                    || (key == "types" && r.types.is_some())
                {
                    ok = false;
                    c.error_at_key(
                        &rp.key(key),
                        format!("`{key}` cannot narrow `protocol: any`, which matches every protocol and port"),
                    )
                    .help(format!(
                        "use `protocol: {}` to select {key}, or remove `{key}:`",
                        if key == "ports" { "tcp` or `udp" } else { "icmp` or `icmpv6" }
                    ));
                }
            }
            Rule::Any
        }
        Protocol::Tcp | Protocol::Udp => {
            if r.types.is_some() {
                ok = false;
                c.error_at_key(
                    &rp.key("types"),
                    format!("`types` apply to icmp and icmpv6, not {}", protocol.name()),
                )
                .help("select tcp and udp traffic with `ports: [...]`");
            }
            let ports = match r.ports {
                None => None,
                Some(list) if list.is_empty() => {
                    ok = false;
                    c.error(&rp.key("ports"), "empty port list")
                        .help("list ports, or omit `ports` to allow every port");
                    None
                }
                Some(list) => check_ports(c, &rp.key("ports"), &list, &mut ok),
            };
            Rule::Transport { protocol, ports }
        }
        Protocol::Modbus => {
            if r.types.is_some() {
                ok = false;
                c.error_at_key(
                    &rp.key("types"),
                    "`types` apply to icmp and icmpv6, not modbus",
                )
                .help("Modbus/TCP is selected by `ports: [...]` (default 502)");
            }
            let ports = match r.ports {
                None => Some(vec![PortRange {
                    first: firewall_common::modbus::PORT,
                    last: firewall_common::modbus::PORT,
                }]),
                Some(list) if list.is_empty() => {
                    ok = false;
                    c.error(&rp.key("ports"), "empty port list").help(
                        "list the ports Modbus/TCP servers listen on, or omit `ports` for 502",
                    );
                    None
                }
                Some(list) => check_ports(c, &rp.key("ports"), &list, &mut ok),
            };
            let mp = rp.key("modbus");
            let profile = match r.modbus {
                None => {
                    ok = false;
                    let d = if c.ctx.locator.exists(&mp) {
                        c.error_at_key(&mp, "the `modbus:` block is empty")
                    } else {
                        c.error(rp, "`protocol: modbus` needs a `modbus:` block")
                    };
                    d.help("say what clients may do, e.g. `modbus: { unit_ids: [1], read_only: true, addresses: [\"0-999\"] }`")
                        .help("to pass Modbus/TCP without inspection, write { protocol: tcp, ports: [502] }");
                    None
                }
                Some(raw) => modbus::check_modbus(c, &mp, raw),
            };
            match (ports, profile) {
                (Some(ports), Some(profile)) => Rule::Modbus { ports, profile },
                _ => return None,
            }
        }
        Protocol::Icmp | Protocol::Icmpv6 => {
            if r.ports.is_some() {
                ok = false;
                c.error_at_key(
                    &rp.key("ports"),
                    format!("`ports` apply to tcp and udp, not {}", protocol.name()),
                )
                .help(format!(
                    "select {} messages with `types: [...]`, e.g. `types: [echo-request]`",
                    protocol.name()
                ));
            }
            let types = match r.types {
                None => None,
                Some(list) if list.is_empty() => {
                    ok = false;
                    c.error(&rp.key("types"), "empty type list")
                        .help("list message types, or omit `types` to allow every type");
                    None
                }
                Some(list) => {
                    let mut types: Vec<u8> = Vec::new();
                    for (k, t) in list.iter().enumerate() {
                        let tp = rp.key("types").index(k);
                        match parse_icmp_type(protocol, t) {
                            Ok(ty) if types.contains(&ty) => {
                                c.warning(
                                    &tp,
                                    format!("{} type {ty} is listed twice", protocol.name()),
                                )
                                .help("remove the repeated type");
                            }
                            Ok(ty) => types.push(ty),
                            Err((msg, help)) => {
                                ok = false;
                                let d = c.error(&tp, msg);
                                for h in help {
                                    d.help(h);
                                }
                            }
                        }
                    }
                    Some(types)
                }
            };
            Rule::Icmp { protocol, types }
        }
    };
    ok.then_some(rule)
}

/// The non-empty port list at `path`; clears `ok` on errors.
fn check_ports(
    c: &mut Checker<'_>,
    path: &KeyPath,
    list: &[Scalar],
    ok: &mut bool,
) -> Option<Vec<PortRange>> {
    let mut ranges = Vec::new();
    let mut good = true;
    for (k, p) in list.iter().enumerate() {
        match parse_port(p) {
            Ok(range) => ranges.push(range),
            Err((msg, help)) => {
                good = false;
                c.error(&path.index(k), msg).help(help);
            }
        }
    }
    if good {
        warn_overlapping_ports(c, path, &ranges);
    }
    *ok &= good;
    good.then_some(ranges)
}

fn port_number(n: i128) -> Result<u16, (String, String)> {
    match n {
        1..=65535 => Ok(n as u16),
        0 => Err((
            "port 0 is not a valid port".into(),
            "ports are 1 to 65535; omit `ports` to allow every port".into(),
        )),
        _ => Err((
            format!("port {n} is out of range"),
            "ports are 1 to 65535".into(),
        )),
    }
}

/// `22`, `"22"`, `"1024-65535"`.
fn parse_port(p: &Scalar) -> Result<PortRange, (String, String)> {
    let text = match p {
        Scalar::Number(n) => {
            let port = port_number(*n)?;
            return Ok(PortRange {
                first: port,
                last: port,
            });
        }
        Scalar::Text(t) => t.trim(),
    };
    let bad = || {
        (
            format!("invalid port \"{text}\""),
            "write a port number 1-65535 or a range \"first-last\", e.g. \"1024-65535\""
                .to_string(),
        )
    };
    let number = |s: &str| {
        s.trim()
            .parse::<i128>()
            .map_err(|_| bad())
            .and_then(port_number)
    };
    match text.split_once('-') {
        None => {
            let port = number(text)?;
            Ok(PortRange {
                first: port,
                last: port,
            })
        }
        Some((a, b)) => {
            let (first, last) = (number(a)?, number(b)?);
            if first > last {
                return Err((
                    format!("reversed port range \"{text}\""),
                    format!("write \"{last}-{first}\" (first port first)"),
                ));
            }
            Ok(PortRange { first, last })
        }
    }
}

fn warn_overlapping_ports(c: &mut Checker<'_>, path: &KeyPath, ranges: &[PortRange]) {
    // Sweep in port order, remembering the range that reaches furthest: O(n log n) even for
    // port lists tens of thousands long.
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&k| (ranges[k].first, k));
    let mut reach: Option<usize> = None;
    for k in order {
        if let Some(r) = reach
            && ranges[r].last >= ranges[k].first
        {
            let (later, earlier) = (k.max(r), k.min(r));
            c.warning(
                &path.index(later),
                format!(
                    "ports {} overlap ports {} of the same rule",
                    ranges[later], ranges[earlier]
                ),
            )
            .help("merge them into one entry");
        }
        if reach.is_none_or(|r| ranges[k].last > ranges[r].last) {
            reach = Some(k);
        }
    }
}

/// A type number or name of `protocol`'s table.
fn parse_icmp_type(protocol: Protocol, t: &Scalar) -> Result<u8, (String, Vec<String>)> {
    let out_of_range = |n: i128| {
        (
            format!("{} type {n} is out of range", protocol.name()),
            vec!["ICMP types are 0 to 255".to_string()],
        )
    };
    match t {
        Scalar::Number(n) => u8::try_from(*n).map_err(|_| out_of_range(*n)),
        Scalar::Text(text) => {
            let text = text.trim();
            if let Ok(n) = text.parse::<i128>() {
                return u8::try_from(n).map_err(|_| out_of_range(n));
            }
            let table = icmp_type_names(protocol);
            if let Some((_, ty)) = table.iter().find(|(n, _)| *n == text) {
                return Ok(*ty);
            }
            let mut help = Vec::new();
            let other = if protocol == Protocol::Icmp {
                Protocol::Icmpv6
            } else {
                Protocol::Icmp
            };
            if icmp_type_names(other).iter().any(|(n, _)| *n == text) {
                help.push(format!(
                    "\"{text}\" is an {} type; this rule is {}",
                    other.name(),
                    protocol.name()
                ));
            } else if let Some(near) = did_you_mean(text, table.iter().map(|(n, _)| *n)) {
                help.push(format!("did you mean \"{near}\"?"));
            }
            help.push(format!(
                "use a type number 0-255 or one of: {}",
                table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ));
            Err((format!("unknown {} type \"{text}\"", protocol.name()), help))
        }
    }
}

fn check_l2(c: &mut Checker<'_>, raw: Option<RawL2>, zones: &[Zone]) -> L2Allow {
    let at = KeyPath::root().key("l2").key("allow");
    let Some(list) = raw.and_then(|l| l.allow) else {
        return L2Allow {
            ethertypes: vec![ETHERTYPE_ARP],
            neighbor_discovery: true,
        };
    };
    let mut ethertypes: Vec<u16> = Vec::new();
    let mut nd = false;
    let names = || {
        std::iter::once("nd")
            .chain(ETHERTYPE_NAMES.iter().map(|(n, _)| *n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, item) in list.iter().enumerate() {
        let ip = at.index(i);
        let value: Result<u16, String> = match item {
            Scalar::Text(t) if t.trim() == "nd" => {
                if nd {
                    c.warning(&ip, "nd is listed twice")
                        .help("remove the repeated entry");
                }
                nd = true;
                continue;
            }
            Scalar::Text(t) => {
                let t = t.trim();
                if let Some((_, v)) = ETHERTYPE_NAMES.iter().find(|(n, _)| *n == t) {
                    Ok(*v)
                } else if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                    u16::from_str_radix(hex, 16).map_err(|_| format!("invalid ethertype \"{t}\""))
                } else if let Ok(n) = t.parse::<i128>() {
                    u16::try_from(n).map_err(|_| format!("ethertype {t} is out of range"))
                } else {
                    Err(format!("unknown ethertype name \"{t}\""))
                }
            }
            Scalar::Number(n) => {
                u16::try_from(*n).map_err(|_| format!("ethertype {n} is out of range"))
            }
        };
        match value {
            Err(msg) => {
                c.error(&ip, msg).help(format!(
                    "write an ethertype in hex (e.g. 0x88b8) or one of: {}",
                    names()
                ));
            }
            Ok(v) if v < 0x0600 => {
                c.error(&ip, format!("{v:#06x} is not an ethertype"))
                    .help("values below 0x0600 are IEEE 802.3 frame lengths; ethertypes are 0x0600 to 0xffff");
            }
            Ok(v) => {
                if let Some(why) = ethertype_reserved(v) {
                    c.error(
                        &ip,
                        format!("ethertype {v:#06x} cannot be listed in l2.allow"),
                    )
                    .help(format!("it is {why}; l2.allow lists non-IP ethertypes"));
                } else if ethertypes.contains(&v) {
                    c.warning(&ip, format!("ethertype {v:#06x} is listed twice"))
                        .help("remove the repeated entry");
                } else {
                    ethertypes.push(v);
                }
            }
        }
    }
    let max = capacity::L2_ALLOW / 2;
    if ethertypes.len() > max as usize {
        c.error(
            &at,
            format!(
                "{} ethertypes, but zcfw holds at most {max}",
                ethertypes.len()
            ),
        )
        .help("allow only the non-IP protocols the plant uses");
    }
    let has_v4 = zones
        .iter()
        .flat_map(|z| &z.networks)
        .any(|n| matches!(n, IpNet::V4(_)));
    let has_v6 = zones
        .iter()
        .flat_map(|z| &z.networks)
        .any(|n| matches!(n, IpNet::V6(_)));
    if has_v4 && !ethertypes.contains(&ETHERTYPE_ARP) {
        c.warning(&at, "l2.allow does not list arp, but zones have IPv4 networks")
            .help("IPv4 hosts cannot resolve each other's addresses through this gateway without ARP; add `arp`");
    }
    if has_v6 && !nd {
        c.warning(&at, "l2.allow does not list nd, but zones have IPv6 networks")
            .help("IPv6 hosts cannot resolve each other's addresses through this gateway without neighbour discovery; add `nd`");
    }
    ethertypes.sort_unstable();
    L2Allow {
        ethertypes,
        neighbor_discovery: nd,
    }
}

/// Warns about every rule that earlier rules of the same zone pair already cover entirely,
/// and about every Modbus rule whose traffic an earlier rule allows without inspection.
fn check_shadowing(c: &mut Checker<'_>, conduits: &[Conduit]) {
    let mut pairs: BTreeMap<(&str, &str), FirstMatch<(usize, usize)>> = BTreeMap::new();
    let inspected =
        |(oc, or): (usize, usize)| matches!(conduits[oc].rules[or], Rule::Modbus { .. });
    let describe = |owners: &[(usize, usize)]| {
        owners
            .iter()
            .map(|&(oc, or)| {
                format!(
                    "conduits[{oc}].rules[{or}] (`{}` of conduit \"{}\")",
                    conduits[oc].rules[or], conduits[oc].name
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (ci, conduit) in conduits.iter().enumerate() {
        let fm = pairs
            .entry((conduit.from.as_str(), conduit.to.as_str()))
            .or_default();
        for (ri, rule) in conduit.rules.iter().enumerate() {
            let points = rule.points();
            let mut owners: Vec<(usize, usize)> = Vec::new();
            for &(a, b) in &points {
                for o in fm.owners_in(a, b) {
                    if !owners.contains(&o) {
                        owners.push(o);
                    }
                }
            }
            let got: u64 = points.iter().map(|&(a, b)| fm.claim(a, b, (ci, ri))).sum();
            let rp = KeyPath::root()
                .key("conduits")
                .index(ci)
                .key("rules")
                .index(ri);
            if matches!(rule, Rule::Modbus { .. }) {
                let bypass: Vec<(usize, usize)> =
                    owners.iter().copied().filter(|&o| !inspected(o)).collect();
                if !bypass.is_empty() {
                    let d = c.warning(
                        &rp,
                        format!(
                            "Modbus inspection of rule `{rule}` of conduit \"{}\" is {}bypassed: earlier rules for {} -> {} already allow this traffic without inspection",
                            conduit.name,
                            if got > 0 { "partly " } else { "" },
                            conduit.from,
                            conduit.to
                        ),
                    );
                    d.help(format!("allowed uninspected by {}", describe(&bypass)));
                    if bypass.iter().all(|&(oc, _)| oc == ci) {
                        d.help("rules match in file order: move this rule before them, or take the Modbus ports out of the earlier rules");
                    } else {
                        d.help(format!(
                            "rules and conduits match in file order: move conduit \"{}\" (or this rule) before them, or take the Modbus ports out of the earlier rules",
                            conduit.name
                        ));
                    }
                    continue;
                }
            }
            if got > 0 {
                continue;
            }
            let d = c.warning(
                &rp,
                format!(
                    "rule `{rule}` of conduit \"{}\" never matches: earlier rules for {} -> {} already cover it",
                    conduit.name, conduit.from, conduit.to
                ),
            );
            d.help(format!("covered by {}", describe(&owners)));
            if !matches!(rule, Rule::Modbus { .. }) && owners.iter().any(|&o| inspected(o)) {
                d.help("the earlier Modbus rule inspects this traffic; without it, this rule would let it through uninspected");
            }
            if owners.iter().all(|&(oc, _)| oc == ci) {
                d.help("remove the rule");
            } else {
                d.help(format!(
                    "remove the rule, or move conduit \"{}\" before the others if its counters should get this traffic",
                    conduit.name
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse() {
        let t = |s: &str| parse_port(&Scalar::Text(s.into()));
        assert_eq!(
            t("1024-65535"),
            Ok(PortRange {
                first: 1024,
                last: 65535
            })
        );
        assert_eq!(
            t(" 22 "),
            Ok(PortRange {
                first: 22,
                last: 22
            })
        );
        assert_eq!(
            t("10 - 20"),
            Ok(PortRange {
                first: 10,
                last: 20
            })
        );
        assert!(
            t("2000-1000").is_err_and(|(m, h)| m.contains("reversed") && h.contains("1000-2000"))
        );
        assert!(t("0-10").is_err_and(|(m, _)| m.contains("port 0")));
        assert!(t("ssh").is_err_and(|(m, _)| m.contains("invalid port")));
        assert!(t("1-2-3").is_err());
        assert!(parse_port(&Scalar::Number(70000)).is_err_and(|(m, _)| m.contains("out of range")));
        assert!(parse_port(&Scalar::Number(-1)).is_err());
        assert_eq!(
            parse_port(&Scalar::Number(65535)),
            Ok(PortRange {
                first: 65535,
                last: 65535
            })
        );
    }

    #[test]
    fn networks_parse() {
        assert!(parse_network("10.0.0.0/8").is_ok());
        assert!(parse_network("fd00:20::/64").is_ok());
        let (m, h) = parse_network("10.20.0.5/24").expect_err("invalid");
        assert!(m.contains("host bits"));
        assert!(
            h.contains("10.20.0.0/24") && h.contains("10.20.0.5/32"),
            "{h}"
        );
        let (m, h) = parse_network("10.0.0.5").expect_err("invalid");
        assert!(m.contains("no prefix") && h.contains("10.0.0.5/32"));
        assert!(
            parse_network("10.0.0.0/33")
                .expect_err("invalid")
                .0
                .contains("invalid network")
        );
    }

    #[test]
    fn icmp_types_parse() {
        let t = |p, s: &str| parse_icmp_type(p, &Scalar::Text(s.into()));
        assert_eq!(t(Protocol::Icmp, "echo-request"), Ok(8));
        assert_eq!(t(Protocol::Icmpv6, "echo-request"), Ok(128));
        assert_eq!(t(Protocol::Icmp, "13"), Ok(13));
        let (m, help) = t(Protocol::Icmp, "packet-too-big").expect_err("invalid");
        assert!(m.contains("unknown icmp type"));
        assert!(help[0].contains("icmpv6 type"));
        let (_, help) = t(Protocol::Icmp, "echo-reqest").expect_err("invalid");
        assert!(help[0].contains("echo-request"));
        assert!(parse_icmp_type(Protocol::Icmp, &Scalar::Number(256)).is_err());
    }

    #[test]
    fn ifnames() {
        assert_eq!(ifname_problem("eth0"), None);
        assert_eq!(ifname_problem("enp0s31f6.100"), None);
        assert!(ifname_problem("").is_some());
        assert!(ifname_problem("a234567890123456").is_some());
        assert_eq!(ifname_problem("a23456789012345"), None);
        assert!(ifname_problem("eth0:1").is_some());
        assert!(ifname_problem("a/b").is_some());
        assert!(ifname_problem("a b").is_some());
        assert!(ifname_problem("..").is_some());
    }

    #[test]
    fn zone_names() {
        assert!(is_zone_name("control-2_a"));
        assert!(!is_zone_name("Control"));
        assert!(!is_zone_name("a b"));
        assert!(!is_zone_name(""));
    }
}
