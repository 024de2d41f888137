//! Rules that never match, or whose inspection (Modbus, IEC 104, DNP3) earlier rules bypass.

use std::collections::BTreeMap;

use super::{Checker, Help, KeyPath};
use crate::policy::{model::Conduit, space::FirstMatch};

/// Warns about every rule that earlier rules of the same zone pair already cover entirely,
/// and about every inspected rule whose traffic an earlier rule allows without inspection
/// (an earlier rule that inspects the same ports with another protocol's parser counts as
/// a bypass too: this rule's inspection never runs).
pub(super) fn check_shadowing(c: &mut Checker<'_>, conduits: &[Conduit]) {
    let mut pairs: BTreeMap<(&str, &str), FirstMatch<(usize, usize)>> = BTreeMap::new();
    let inspected = |(oc, or): (usize, usize)| conduits[oc].rules[or].inspected();
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
            if rule.inspected() {
                let protocol = rule.protocol();
                let bypass: Vec<(usize, usize)> = owners
                    .iter()
                    .copied()
                    .filter(|&(oc, or)| conduits[oc].rules[or].protocol() != protocol)
                    .collect();
                if !bypass.is_empty() {
                    let d = c.warning(
                        &rp,
                        format!(
                            "{} inspection of rule `{rule}` of conduit \"{}\" is {}bypassed: earlier rules for {} -> {} already {}",
                            protocol.label(),
                            conduit.name,
                            if got > 0 { "partly " } else { "" },
                            conduit.from,
                            conduit.to,
                            if bypass.iter().any(|&o| inspected(o)) {
                                "take this traffic with another protocol's inspection, or none"
                            } else {
                                "allow this traffic without inspection"
                            }
                        ),
                    );
                    d.help(format!("allowed uninspected by {}", describe(&bypass)));
                    if bypass.iter().all(|&(oc, _)| oc == ci) {
                        d.help("rules match in file order: move this rule before them, or take its ports out of the earlier rules");
                    } else {
                        d.help(format!(
                            "rules and conduits match in file order: move conduit \"{}\" (or this rule) before them, or take its ports out of the earlier rules",
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
            if !rule.inspected() && owners.iter().any(|&o| inspected(o)) {
                d.help("the earlier inspected rule inspects this traffic; without it, this rule would let it through uninspected");
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
