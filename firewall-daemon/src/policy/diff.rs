//! What changing from one validated policy to another opens and closes: `zcfw diff` and
//! `zcfw reload --dry-run`.
//!
//! The comparison is of validated models, not of YAML text: reordering keys, comments and
//! spelling (`502` or `[502]`, a function by name or by code) change nothing. Objects are
//! matched by name (zones, conduits, interfaces); the rules of a conduit are matched first
//! by protocol and exact ports, then the remaining rules of the same protocol in file order
//! (so a rule whose ports changed shows as that rule's port change).
//!
//! Each [`Change`] says its [`Effect`]: `opens` (more traffic may pass), `closes` (less
//! may pass) or `changes` (neither, e.g. a description or the XDP mode). Rules are compared
//! one by one: a rule that is added while another rule of the conduit already allows the
//! same traffic still shows as `opens`.

use std::collections::BTreeSet;

use firewall_common::{
    dnp3::{self, Dnp3Profile},
    iec104::{self, Iec104Profile},
    modbus::{self, ModbusProfile},
    sets::Bitmap256,
};
use serde::Serialize;

use super::{Conduit, Interface, Protocol, Rule, ValidatedPolicy, Zone};

mod bacnet;
mod enip;
mod opcua;
mod render;
mod s7comm;
mod values;
use values::*;

/// Whether a change lets more or less traffic through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// More traffic may pass.
    Opens,
    /// Less traffic may pass.
    Closes,
    /// Neither (a description, the XDP mode, what is logged, ...).
    Changes,
}

impl Effect {
    pub const fn name(self) -> &'static str {
        match self {
            Effect::Opens => "opens",
            Effect::Closes => "closes",
            Effect::Changes => "changes",
        }
    }

    const fn sign(self) -> char {
        match self {
            Effect::Opens => '+',
            Effect::Closes => '-',
            Effect::Changes => '~',
        }
    }
}

/// What a change is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Object {
    Policy,
    Defaults,
    L2,
    Zone,
    Interface,
    Conduit,
}

impl Object {
    const fn name(self) -> &'static str {
        match self {
            Object::Policy => "policy",
            Object::Defaults => "defaults",
            Object::L2 => "l2",
            Object::Zone => "zone",
            Object::Interface => "interface",
            Object::Conduit => "conduit",
        }
    }
}

/// One difference between two policies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub object: Object,
    /// The zone, interface or conduit (empty for the policy, defaults and l2).
    pub name: String,
    /// The rule of a conduit, as `zcfw check` shows it (`modbus 502`), for rule changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// 1-based position of the rule in the old policy's conduit (`None`: a new rule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_rule: Option<usize>,
    /// 1-based position of the rule in the new policy's conduit (`None`: a removed rule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_rule: Option<usize>,
    /// What changed: `added`, `removed`, or the field (`functions`, `ports`, `networks`, ...).
    pub field: String,
    pub effect: Effect,
    /// Members added (opens) or removed (closes) for set-valued fields, e.g.
    /// `write_single_register(6)` or `100-199`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    /// The old and new value of a single-valued field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

/// One side of a diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Side {
    pub origin: String,
    pub name: String,
    pub sha256: String,
}

impl Side {
    fn of(p: &ValidatedPolicy) -> Side {
        Side {
            origin: p.origin().to_owned(),
            name: p.name().to_owned(),
            sha256: p.source_hash().to_owned(),
        }
    }
}

/// Every difference between two policies (`zcfw diff --format json` prints this).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyDiff {
    pub old: Side,
    pub new: Side,
    /// Number of changes by effect.
    pub opens: usize,
    pub closes: usize,
    pub changes_other: usize,
    pub changes: Vec<Change>,
}

impl PolicyDiff {
    /// Whether the two policies enforce the same (the source may still differ in comments,
    /// order or spelling).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Compares `old` with `new`: what switching from `old` to `new` opens and closes.
pub fn diff(old: &ValidatedPolicy, new: &ValidatedPolicy) -> PolicyDiff {
    let mut d = Differ::default();
    d.policy(old, new);
    d.zones(old.zones(), new.zones());
    d.interfaces(old.interfaces(), new.interfaces());
    d.conduits(old.conduits(), new.conduits());
    let count = |e: Effect| d.out.iter().filter(|c| c.effect == e).count();
    PolicyDiff {
        old: Side::of(old),
        new: Side::of(new),
        opens: count(Effect::Opens),
        closes: count(Effect::Closes),
        changes_other: count(Effect::Changes),
        changes: d.out,
    }
}

#[derive(Default)]
struct Differ {
    out: Vec<Change>,
}

/// Where changes go: an object, optionally a rule of it.
#[derive(Clone)]
struct At<'a> {
    object: Object,
    name: &'a str,
    rule: Option<(String, Option<usize>, Option<usize>)>,
}

impl At<'_> {
    fn change(&self, field: &str, effect: Effect) -> Change {
        let (rule, old_rule, new_rule) = match &self.rule {
            Some((r, o, n)) => (Some(r.clone()), *o, *n),
            None => (None, None, None),
        };
        Change {
            object: self.object,
            name: self.name.to_owned(),
            rule,
            old_rule,
            new_rule,
            field: field.to_owned(),
            effect,
            items: Vec::new(),
            old: None,
            new: None,
        }
    }
}

impl Differ {
    /// A single value that changed from `old` to `new`.
    fn value(&mut self, at: &At, field: &str, effect: Effect, old: String, new: String) {
        let mut c = at.change(field, effect);
        c.old = Some(old);
        c.new = Some(new);
        self.out.push(c);
    }

    fn opt_value(
        &mut self,
        at: &At,
        field: &str,
        effect: Effect,
        old: Option<String>,
        new: Option<String>,
    ) {
        let mut c = at.change(field, effect);
        c.old = old;
        c.new = new;
        self.out.push(c);
    }

    /// Members added (opening) and removed (closing) of a set-valued field.
    fn members(&mut self, at: &At, field: &str, added: Vec<String>, removed: Vec<String>) {
        if !added.is_empty() {
            let mut c = at.change(field, Effect::Opens);
            c.items = added;
            self.out.push(c);
        }
        if !removed.is_empty() {
            let mut c = at.change(field, Effect::Closes);
            c.items = removed;
            self.out.push(c);
        }
    }

    /// A set-valued field given as intervals: what `new` covers that `old` did not opens.
    fn intervals(
        &mut self,
        at: &At,
        field: &str,
        old: &[(u32, u32)],
        new: &[(u32, u32)],
        show: impl Fn(u32, u32) -> String,
    ) {
        let added = minus(new, old)
            .into_iter()
            .map(|(a, b)| show(a, b))
            .collect();
        let removed = minus(old, new)
            .into_iter()
            .map(|(a, b)| show(a, b))
            .collect();
        self.members(at, field, added, removed);
    }

    fn policy(&mut self, old: &ValidatedPolicy, new: &ValidatedPolicy) {
        let at = At {
            object: Object::Policy,
            name: "",
            rule: None,
        };
        if old.name() != new.name() {
            self.value(
                &at,
                "name",
                Effect::Changes,
                old.name().into(),
                new.name().into(),
            );
        }
        let at = At {
            object: Object::Defaults,
            ..at
        };
        let (o, n) = (old.defaults(), new.defaults());
        if o.mode != n.mode {
            self.value(
                &at,
                "mode",
                mode_effect(o.mode, n.mode),
                o.mode.as_str().into(),
                n.mode.as_str().into(),
            );
        }
        if o.log != n.log {
            self.value(
                &at,
                "log",
                Effect::Changes,
                o.log.name().into(),
                n.log.name().into(),
            );
        }
        let at = At {
            object: Object::L2,
            ..at
        };
        let types =
            |l: &super::L2Allow| -> BTreeSet<u16> { l.ethertypes.iter().copied().collect() };
        let (o, n) = (types(old.l2()), types(new.l2()));
        self.members(
            &at,
            "ethertypes",
            n.difference(&o).map(|t| format!("0x{t:04x}")).collect(),
            o.difference(&n).map(|t| format!("0x{t:04x}")).collect(),
        );
        let (o, n) = (old.l2().neighbor_discovery, new.l2().neighbor_discovery);
        if o != n {
            let effect = if n { Effect::Opens } else { Effect::Closes };
            self.value(
                &at,
                "neighbor_discovery",
                effect,
                o.to_string(),
                n.to_string(),
            );
        }
    }

    fn zones(&mut self, old: &[Zone], new: &[Zone]) {
        for o in old.iter().filter(|o| !new.iter().any(|n| n.name == o.name)) {
            let at = At {
                object: Object::Zone,
                name: &o.name,
                rule: None,
            };
            let mut c = at.change("removed", Effect::Closes);
            c.old = Some(zone_summary(o));
            self.out.push(c);
        }
        for n in new {
            let at = At {
                object: Object::Zone,
                name: &n.name,
                rule: None,
            };
            let Some(o) = old.iter().find(|o| o.name == n.name) else {
                let mut c = at.change("added", Effect::Opens);
                c.new = Some(zone_summary(n));
                self.out.push(c);
                continue;
            };
            let nets = |z: &Zone| -> BTreeSet<String> {
                z.networks.iter().map(ToString::to_string).collect()
            };
            let (on, nn) = (nets(o), nets(n));
            self.members(
                &at,
                "networks",
                nn.difference(&on).cloned().collect(),
                on.difference(&nn).cloned().collect(),
            );
            if o.security_level != n.security_level {
                self.value(
                    &at,
                    "security_level",
                    Effect::Changes,
                    o.security_level.to_string(),
                    n.security_level.to_string(),
                );
            }
            if o.intra_zone_allow != n.intra_zone_allow {
                let effect = if n.intra_zone_allow {
                    Effect::Opens
                } else {
                    Effect::Closes
                };
                self.value(
                    &at,
                    "intra_zone",
                    effect,
                    intra(o.intra_zone_allow),
                    intra(n.intra_zone_allow),
                );
            }
        }
    }

    fn interfaces(&mut self, old: &[Interface], new: &[Interface]) {
        for o in old.iter().filter(|o| !new.iter().any(|n| n.name == o.name)) {
            // Detached: the interface's traffic is no longer filtered.
            let at = At {
                object: Object::Interface,
                name: &o.name,
                rule: None,
            };
            let mut c = at.change("removed", Effect::Opens);
            c.old = Some("no longer filtered: XDP is detached".into());
            self.out.push(c);
        }
        for n in new {
            let at = At {
                object: Object::Interface,
                name: &n.name,
                rule: None,
            };
            let Some(o) = old.iter().find(|o| o.name == n.name) else {
                let mut c = at.change("added", Effect::Closes);
                c.new = Some(format!(
                    "filtered from now on (xdp_mode {})",
                    n.xdp_mode.name()
                ));
                self.out.push(c);
                continue;
            };
            match (&o.zones, &n.zones) {
                (None, None) => {}
                (Some(oz), Some(nz)) => {
                    let (oz, nz): (BTreeSet<_>, BTreeSet<_>) =
                        (oz.iter().cloned().collect(), nz.iter().cloned().collect());
                    self.members(
                        &at,
                        "zones",
                        nz.difference(&oz).cloned().collect(),
                        oz.difference(&nz).cloned().collect(),
                    );
                }
                (Some(oz), None) => self.opt_value(
                    &at,
                    "zones",
                    Effect::Opens,
                    Some(oz.join(", ")),
                    Some("any zone".into()),
                ),
                (None, Some(nz)) => self.opt_value(
                    &at,
                    "zones",
                    Effect::Closes,
                    Some("any zone".into()),
                    Some(nz.join(", ")),
                ),
            }
            if o.xdp_mode != n.xdp_mode {
                self.value(
                    &at,
                    "xdp_mode",
                    Effect::Changes,
                    o.xdp_mode.name().into(),
                    n.xdp_mode.name().into(),
                );
            }
            if o.fast_path != n.fast_path {
                // Where allowed packets are forwarded, not which ones: no effect on the policy.
                self.value(
                    &at,
                    "fast_path",
                    Effect::Changes,
                    o.fast_path.to_string(),
                    n.fast_path.to_string(),
                );
            }
        }
    }

    fn conduits(&mut self, old: &[Conduit], new: &[Conduit]) {
        for o in old.iter().filter(|o| !new.iter().any(|n| n.name == o.name)) {
            let at = At {
                object: Object::Conduit,
                name: &o.name,
                rule: None,
            };
            let mut c = at.change("removed", Effect::Closes);
            c.old = Some(conduit_summary(o));
            self.out.push(c);
        }
        for n in new {
            let at = At {
                object: Object::Conduit,
                name: &n.name,
                rule: None,
            };
            let Some(o) = old.iter().find(|o| o.name == n.name) else {
                let mut c = at.change("added", Effect::Opens);
                c.new = Some(conduit_summary(n));
                self.out.push(c);
                continue;
            };
            self.conduit(&at, o, n);
        }
    }

    fn conduit(&mut self, at: &At, o: &Conduit, n: &Conduit) {
        // Another source or destination zone: the old path closes, the new one opens.
        for (field, old, new) in [("from", &o.from, &n.from), ("to", &o.to, &n.to)] {
            if old != new {
                let mut c = at.change(field, Effect::Closes);
                c.items = vec![old.clone()];
                self.out.push(c);
                let mut c = at.change(field, Effect::Opens);
                c.items = vec![new.clone()];
                self.out.push(c);
            }
        }
        if o.mode != n.mode {
            self.value(
                at,
                "mode",
                mode_effect(o.mode, n.mode),
                o.mode.as_str().into(),
                n.mode.as_str().into(),
            );
        }
        if o.on_violation != n.on_violation {
            self.value(
                at,
                "on_violation",
                Effect::Changes,
                o.on_violation.name().into(),
                n.on_violation.name().into(),
            );
        }
        if o.rate_limit != n.rate_limit {
            self.opt_value(
                at,
                "rate_limit",
                rate_effect(o.rate_limit, n.rate_limit),
                o.rate_limit.map(rate),
                n.rate_limit.map(rate),
            );
        }
        if o.description != n.description {
            self.opt_value(
                at,
                "description",
                Effect::Changes,
                o.description.clone(),
                n.description.clone(),
            );
        }
        self.rules(at, &o.rules, &n.rules);
    }

    fn rules(&mut self, at: &At, old: &[Rule], new: &[Rule]) {
        let pairs = match_rules(old, new);
        let mut matched_old = vec![false; old.len()];
        let mut matched_new = vec![None; new.len()];
        for &(oi, ni) in &pairs {
            matched_old[oi] = true;
            matched_new[ni] = Some(oi);
        }
        for (oi, r) in old.iter().enumerate().filter(|(i, _)| !matched_old[*i]) {
            let rat = At {
                rule: Some((r.to_string(), Some(oi + 1), None)),
                ..at.clone()
            };
            let mut c = rat.change("removed", Effect::Closes);
            c.old = profile_summary(r);
            self.out.push(c);
        }
        for (ni, r) in new.iter().enumerate() {
            let Some(oi) = matched_new[ni] else {
                let rat = At {
                    rule: Some((r.to_string(), None, Some(ni + 1))),
                    ..at.clone()
                };
                let mut c = rat.change("added", Effect::Opens);
                c.new = profile_summary(r);
                self.out.push(c);
                continue;
            };
            let rat = At {
                rule: Some((r.to_string(), Some(oi + 1), Some(ni + 1))),
                ..at.clone()
            };
            self.rule(&rat, &old[oi], r);
        }
    }

    fn rule(&mut self, at: &At, o: &Rule, n: &Rule) {
        let (op, np) = (normalize(&o.points()), normalize(&n.points()));
        if op != np {
            let icmp = matches!(n.protocol(), Protocol::Icmp | Protocol::Icmpv6);
            let protocol = n.protocol();
            let field = if icmp { "types" } else { "ports" };
            self.intervals(at, field, &op, &np, |a, b| {
                let (a, b) = ((a & 0xffff) as u16, (b & 0xffff) as u16);
                if icmp {
                    icmp_types(protocol, (a >> 8) as u8, (b >> 8) as u8)
                } else {
                    range(u32::from(a), u32::from(b))
                }
            });
        }
        match (o, n) {
            (Rule::Modbus { profile: op, .. }, Rule::Modbus { profile: np, .. }) => {
                self.modbus(at, op, np)
            }
            (Rule::Iec104 { profile: op, .. }, Rule::Iec104 { profile: np, .. }) => {
                self.iec104(at, op, np)
            }
            (Rule::Dnp3 { profile: op, .. }, Rule::Dnp3 { profile: np, .. }) => {
                self.dnp3(at, op, np)
            }
            (Rule::S7comm { profile: op, .. }, Rule::S7comm { profile: np, .. }) => {
                self.s7comm(at, op, np)
            }
            (Rule::Enip { profile: op, .. }, Rule::Enip { profile: np, .. }) => {
                self.enip(at, op, np)
            }
            (Rule::Opcua { profile: op, .. }, Rule::Opcua { profile: np, .. }) => {
                self.opcua(at, op, np)
            }
            (Rule::Bacnet { profile: op, .. }, Rule::Bacnet { profile: np, .. }) => {
                self.bacnet(at, op, np)
            }
            _ => {}
        }
    }

    fn modbus(&mut self, at: &At, o: &ModbusProfile, n: &ModbusProfile) {
        self.intervals(
            at,
            "unit_ids",
            &bitmap_ranges(&o.unit_ids),
            &bitmap_ranges(&n.unit_ids),
            range,
        );
        self.bitmap_named(at, "functions", &o.functions, &n.functions, |c| {
            modbus::function_by_code(c).map(|f| f.name)
        });
        for (bit, name) in ADDRESS_CLASSES {
            let class = |p: &ModbusProfile| -> Vec<(u32, u32)> {
                normalize(
                    &p.ranges
                        .iter()
                        .filter(|r| r.classes & bit != 0 && r.first <= r.last)
                        .map(|r| (u32::from(r.first), u32::from(r.last)))
                        .collect::<Vec<_>>(),
                )
            };
            self.intervals(
                at,
                &format!("addresses ({name})"),
                &class(o),
                &class(n),
                range,
            );
        }
        let bits = |v: u32| -> Vec<(u32, u32)> {
            normalize(
                &(0..32)
                    .filter(|b| v & (1 << b) != 0)
                    .map(|b| (b, b))
                    .collect::<Vec<_>>(),
            )
        };
        self.intervals(
            at,
            "diagnostics sub-functions",
            &bits(o.diagnostics),
            &bits(n.diagnostics),
            range,
        );
        self.intervals(
            at,
            "mei_types",
            &bits(o.mei_types),
            &bits(n.mei_types),
            range,
        );
        if o.max_quantity != n.max_quantity {
            // 0 means the protocol maximum: the most permissive.
            let size = |q: u16| if q == 0 { u32::MAX } else { u32::from(q) };
            let effect = if size(n.max_quantity) > size(o.max_quantity) {
                Effect::Opens
            } else {
                Effect::Closes
            };
            let show = |q: u16| {
                if q == 0 {
                    "protocol maximum".to_string()
                } else {
                    q.to_string()
                }
            };
            self.value(
                at,
                "max_quantity",
                effect,
                show(o.max_quantity),
                show(n.max_quantity),
            );
        }
        if o.is_strict() != n.is_strict() {
            let effect = if n.is_strict() {
                Effect::Closes
            } else {
                Effect::Opens
            };
            self.value(
                at,
                "strict",
                effect,
                o.is_strict().to_string(),
                n.is_strict().to_string(),
            );
        }
    }

    fn iec104(&mut self, at: &At, o: &Iec104Profile, n: &Iec104Profile) {
        self.bitmap_named(at, "type_ids", &o.type_ids, &n.type_ids, |c| {
            iec104::type_id(c).map(|t| t.name)
        });
        let cas = |p: &Iec104Profile| {
            if p.flags & iec104::profile_flags::ANY_COMMON_ADDRESS != 0 {
                vec![(0, u32::from(iec104::GLOBAL_COMMON_ADDRESS) - 1)]
            } else {
                used(&p.common_addresses.ranges)
            }
        };
        self.intervals(at, "common_addresses", &cas(o), &cas(n), range);
    }

    fn dnp3(&mut self, at: &At, o: &Dnp3Profile, n: &Dnp3Profile) {
        self.bitmap_named(at, "functions", &o.functions, &n.functions, |c| {
            dnp3::function(c).map(|f| f.name)
        });
        let addrs = |p: &Dnp3Profile| {
            if p.flags & dnp3::profile_flags::ANY_ADDRESS != 0 {
                vec![(0, 0xFFEF)]
            } else {
                used(&p.addresses.ranges)
            }
        };
        self.intervals(at, "addresses", &addrs(o), &addrs(n), range);
    }

    /// A code set (functions, type ids): each member as `name(code)`.
    fn bitmap_named(
        &mut self,
        at: &At,
        field: &str,
        o: &Bitmap256,
        n: &Bitmap256,
        name: impl Fn(u8) -> Option<&'static str>,
    ) {
        let show = |c: u8| match name(c) {
            Some(nm) => format!("{nm}({c})"),
            None => c.to_string(),
        };
        let added = (0..=u8::MAX)
            .filter(|&c| n.contains(c) && !o.contains(c))
            .map(show)
            .collect();
        let removed = (0..=u8::MAX)
            .filter(|&c| o.contains(c) && !n.contains(c))
            .map(show)
            .collect();
        self.members(at, field, added, removed);
    }
}

#[cfg(test)]
#[path = "tests/diff.rs"]
mod tests;
