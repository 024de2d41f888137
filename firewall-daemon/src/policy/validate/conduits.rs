//! `conduits:`: the paths between zones, each with its rules, mode, rate limit and
//! answer to a violation.

use std::collections::HashMap;

use firewall_common::maps::capacity;

use super::{Checker, Help, KeyPath, rules::check_rule, zones::undefined_zone};
use crate::policy::{
    model::{Conduit, Mode, OnViolation, RateLimitSpec, Rule},
    raw::{RawConduit, RawRateLimit, RawRule},
};

/// Largest `rate_limit` pps and burst: ten million packets per second per source.
const MAX_PPS: u64 = 10_000_000;

pub(super) fn check_conduits(
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
        if let Some(conduit) = check_conduit(c, &at.index(i), i, r, zone_names, &mut seen) {
            out.push(conduit);
        }
    }
    out
}

/// `conduits[i]`; `seen` maps the names of the conduits before it to their index.
fn check_conduit(
    c: &mut Checker<'_>,
    cp: &KeyPath,
    i: usize,
    r: RawConduit,
    zone_names: &[String],
    seen: &mut HashMap<String, usize>,
) -> Option<Conduit> {
    let mut ok = true;
    let name = conduit_name(c, cp, i, r.name.as_deref(), seen, &mut ok);
    let from = conduit_end(c, cp, &name, "from", r.from, zone_names, &mut ok);
    let to = conduit_end(c, cp, &name, "to", r.to, zone_names, &mut ok);
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
    let mode = conduit_mode(c, cp, &name, r.mode.as_deref(), &mut ok);
    let rate_limit = r
        .rate_limit
        .and_then(|raw| check_rate_limit(c, &cp.key("rate_limit"), raw, &mut ok));
    let on_violation = parse_on_violation(c, cp, r.on_violation.as_deref(), &mut ok);
    let rules = conduit_rules(c, cp, &name, r.rules, &mut ok);
    if ok {
        check_on_violation_fits(
            c,
            cp,
            &name,
            r.on_violation.is_some(),
            on_violation,
            &rules,
            &mut ok,
        );
    }
    ok.then(|| Conduit {
        id: u16::try_from(i + 1).unwrap_or(u16::MAX),
        name,
        from,
        to,
        description: r.description,
        rules,
        on_violation,
        mode,
        rate_limit,
    })
}

/// The conduit's name, unique among the conduits before it; `conduits[i]` when it has none.
fn conduit_name(
    c: &mut Checker<'_>,
    cp: &KeyPath,
    i: usize,
    raw: Option<&str>,
    seen: &mut HashMap<String, usize>,
    ok: &mut bool,
) -> String {
    match raw.map(str::trim) {
        None => {
            *ok = false;
            c.error(cp, format!("conduits[{i}] has no name"))
                .help("add `name: <conduit name>`; counters and events are reported by it");
            format!("conduits[{i}]")
        }
        Some("") => {
            *ok = false;
            c.error(&cp.key("name"), "conduit name is empty")
                .help("name the conduit after what it is for, e.g. `historian-reads-plcs`");
            format!("conduits[{i}]")
        }
        Some(n) if n.chars().any(char::is_control) => {
            *ok = false;
            c.error(&cp.key("name"), "conduit name contains control characters")
                .help("use a single line of printable text");
            n.to_owned()
        }
        Some(n) => {
            if let Some(&first) = seen.get(n) {
                *ok = false;
                c.error(&cp.key("name"), format!("duplicate conduit name \"{n}\""))
                    .help(format!(
                        "conduits[{first}] is already called \"{n}\"; conduit names must be unique"
                    ));
            } else {
                seen.insert(n.to_owned(), i);
            }
            n.to_owned()
        }
    }
}

/// The `from` or `to` zone (`key`) of conduit `name`; empty when missing or undefined.
fn conduit_end(
    c: &mut Checker<'_>,
    cp: &KeyPath,
    name: &str,
    key: &str,
    value: Option<String>,
    zone_names: &[String],
    ok: &mut bool,
) -> String {
    match value {
        None => {
            *ok = false;
            c.error(cp, format!("conduit \"{name}\" has no `{key}` zone"))
                .help(format!(
                    "add `{key}: <zone>`; conduits go from one zone to another"
                ));
            String::new()
        }
        Some(z) if !zone_names.contains(&z) => {
            *ok = false;
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
}

fn conduit_mode(
    c: &mut Checker<'_>,
    cp: &KeyPath,
    name: &str,
    raw: Option<&str>,
    ok: &mut bool,
) -> Mode {
    match raw.map(str::trim) {
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
            *ok = false;
            c.error(&cp.key("mode"), format!("unknown mode \"{other}\""))
                .help("use `mode: enforce` (the default) or `mode: monitor`");
            Mode::Enforce
        }
    }
}

/// `rate_limit: { pps, burst }` at `at`; `burst` defaults to `pps` (one second of traffic).
fn check_rate_limit(
    c: &mut Checker<'_>,
    at: &KeyPath,
    raw: RawRateLimit,
    ok: &mut bool,
) -> Option<RateLimitSpec> {
    match raw.pps {
        None => {
            *ok = false;
            c.error(
                at,
                "rate_limit needs `pps`, the packets per second each source may send",
            )
            .help("e.g. `rate_limit: { pps: 500, burst: 100 }`");
            None
        }
        Some(pps) if pps == 0 || pps > MAX_PPS => {
            *ok = false;
            c.error(
                &at.key("pps"),
                format!("rate_limit.pps {pps} is out of range"),
            )
            .help(format!("use 1 to {MAX_PPS} packets per second per source"));
            None
        }
        Some(pps) => match raw.burst.unwrap_or(pps) {
            burst if burst == 0 || burst > MAX_PPS => {
                *ok = false;
                c.error(
                    &at.key("burst"),
                    format!("rate_limit.burst {burst} is out of range"),
                )
                .help(format!(
                    "use 1 to {MAX_PPS} packets (default: the pps value, one second of traffic)"
                ));
                None
            }
            burst => Some(RateLimitSpec {
                pps: pps as u32,
                burst: burst as u32,
            }),
        },
    }
}

fn parse_on_violation(
    c: &mut Checker<'_>,
    cp: &KeyPath,
    raw: Option<&str>,
    ok: &mut bool,
) -> OnViolation {
    match raw.map(str::trim) {
        None | Some("reset") => OnViolation::Reset,
        Some("drop") => OnViolation::Drop,
        Some("exception") => OnViolation::Exception,
        Some(other) => {
            *ok = false;
            c.error(
                &cp.key("on_violation"),
                format!("unknown on_violation \"{other}\""),
            )
            .help("use `on_violation: reset` (the default), `on_violation: exception` (Modbus) or `on_violation: drop`");
            OnViolation::Reset
        }
    }
}

/// The conduit's rules: required and non-empty; a rule with errors clears `ok`.
fn conduit_rules(
    c: &mut Checker<'_>,
    cp: &KeyPath,
    name: &str,
    raw: Option<Vec<RawRule>>,
    ok: &mut bool,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    match raw {
        None => {
            *ok = false;
            c.error(cp, format!("conduit \"{name}\" has no rules"))
                .help("add `rules:`, e.g. `rules: [{ protocol: tcp, ports: [443] }]`");
        }
        Some(list) if list.is_empty() => {
            *ok = false;
            c.error(&cp.key("rules"), format!("conduit \"{name}\" has no rules"))
                .help("list what the conduit allows, e.g. `- { protocol: tcp, ports: [443] }`; a conduit without rules opens nothing");
        }
        Some(list) => {
            for (j, rule) in list.into_iter().enumerate() {
                match check_rule(c, &cp.key("rules").index(j), rule) {
                    Some(rule) => rules.push(rule),
                    None => *ok = false,
                }
            }
        }
    }
    rules
}

/// `on_violation` against the rules of an otherwise valid conduit: `exception` needs Modbus
/// rules, any setting needs an inspected rule to act on, and `drop` can lock clients out.
fn check_on_violation_fits(
    c: &mut Checker<'_>,
    cp: &KeyPath,
    name: &str,
    written: bool,
    on_violation: OnViolation,
    rules: &[Rule],
    ok: &mut bool,
) {
    let inspected = rules.iter().any(Rule::inspected);
    let not_modbus = rules
        .iter()
        .any(|rule| rule.inspected() && rule.modbus_profile().is_none());
    if on_violation == OnViolation::Exception && (!inspected || not_modbus) {
        *ok = false;
        c.error(
            &cp.key("on_violation"),
            format!("on_violation: exception on conduit \"{name}\" needs Modbus rules"),
        )
        .help("a Modbus exception answers a denied Modbus request: every inspected rule of the conduit must be `protocol: modbus`; use `on_violation: reset` (the default) otherwise, which is also what IEC 104 and DNP3 conduits get (neither protocol has an exception reply a firewall could send in the server's name)");
    } else if written && !inspected {
        c.warning(
            &cp.key("on_violation"),
            format!("on_violation has no effect: conduit \"{name}\" has no inspected rule"),
        )
        .help("on_violation applies to rules with deep inspection (`protocol: modbus`, `iec104` or `dnp3`); remove it");
    } else if inspected && on_violation == OnViolation::Drop {
        c.warning(
            &cp.key("on_violation"),
            format!("on_violation: drop on conduit \"{name}\" can lock clients out of the device"),
        )
        .help("a dropped request leaves the connection open: the client retransmits into the drop and the server keeps the connection, so a device that accepts one or a few connections serves no other client until TCP gives up (minutes); use `on_violation: reset` (the default) unless every device behind this conduit accepts many connections");
    }
}
