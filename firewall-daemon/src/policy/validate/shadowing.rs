//! Rules that never match, or whose Modbus inspection earlier rules bypass.

use std::collections::BTreeMap;

use super::{Checker, Help, KeyPath};
use crate::policy::{
    model::{Conduit, Rule},
    space::FirstMatch,
};

/// Warns about every rule that earlier rules of the same zone pair already cover entirely,
/// and about every Modbus rule whose traffic an earlier rule allows without inspection.
pub(super) fn check_shadowing(c: &mut Checker<'_>, conduits: &[Conduit]) {
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
