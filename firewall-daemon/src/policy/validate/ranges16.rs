//! Lists of 16-bit addresses and `"first-last"` ranges (IEC 104 common addresses, DNP3 link
//! addresses), in decimal or `0x` hex, normalised to the few ranges a profile holds
//! ([`firewall_common::sets::Ranges16`]).

use super::{Checker, Help, KeyPath};
use crate::policy::raw::Scalar;

/// A number written as a YAML integer, or as decimal or `0x` hex text.
pub(super) fn scalar_number(s: &Scalar) -> Option<i128> {
    match s {
        Scalar::Number(n) => Some(*n),
        Scalar::Text(t) => text_number(t),
    }
}

fn text_number(t: &str) -> Option<i128> {
    let t = t.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && !hex.starts_with(['+', '-']) => {
            i128::from_str_radix(hex, 16).ok()
        }
        Some(_) => None,
        None if t.starts_with('+') => None,
        None => t.parse().ok(),
    }
}

/// Why an address or range was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RangeError {
    OutOfRange(i128),
    Reversed(u16, u16),
    Invalid(String),
}

/// `5`, `"0x10"`, `"10-20"`, `"0x10-0x1f"` within 0..=65535.
pub(super) fn parse_range16(s: &Scalar) -> Result<(u16, u16), RangeError> {
    let number = |n: i128| u16::try_from(n).map_err(|_| RangeError::OutOfRange(n));
    let text = match s {
        Scalar::Number(n) => return number(*n).map(|v| (v, v)),
        Scalar::Text(t) => t.trim(),
    };
    let parse = |part: &str| {
        text_number(part)
            .ok_or_else(|| RangeError::Invalid(text.to_owned()))
            .and_then(number)
    };
    // A leading minus is a negative number, not a range separator.
    match text.get(1..).and_then(|rest| rest.split_once('-')) {
        None => parse(text).map(|v| (v, v)),
        Some((a, b)) => {
            let a = &text[..1 + a.len()];
            let (first, last) = (parse(a)?, parse(b)?);
            if first > last {
                return Err(RangeError::Reversed(first, last));
            }
            Ok((first, last))
        }
    }
}

/// `10` or `10-20`.
pub(super) fn range_text(first: u16, last: u16) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

/// Overlapping and adjacent ranges merged, ascending.
pub(super) fn merge(ranges: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for (a, b) in sorted {
        match out.last_mut() {
            Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// `what` in the plural ("common addresses", "TSAPs").
pub(super) fn plural(what: &str) -> String {
    if what.ends_with('s') {
        format!("{what}es")
    } else {
        format!("{what}s")
    }
}

/// The address list at `path` (`what`: "common address"); `None` if an entry is refused
/// (errors reported). Overlapping entries draw a warning; the result is merged and holds at
/// most `capacity` ranges, or the list is refused with the ranges it needed.
pub(super) fn check_ranges16(
    c: &mut Checker<'_>,
    path: &KeyPath,
    list: &[Scalar],
    what: &str,
    capacity: usize,
) -> Option<Vec<(u16, u16)>> {
    if list.is_empty() {
        c.error(path, format!("empty {what} list")).help(format!(
            "list {} 0-65535 or ranges such as \"10-20\", or omit the key",
            plural(what)
        ));
        return None;
    }
    let mut ok = true;
    let mut seen: Vec<(usize, u16, u16)> = Vec::new();
    for (i, s) in list.iter().enumerate() {
        match parse_range16(s) {
            Ok((a, b)) => seen.push((i, a, b)),
            Err(e) => {
                ok = false;
                let (msg, help) = match e {
                    RangeError::OutOfRange(n) => (
                        format!("{what} {n} is out of range"),
                        format!("{} are 0 to 65535 (0xFFFF)", plural(what)),
                    ),
                    RangeError::Reversed(a, b) => (
                        format!("reversed {what} range \"{a}-{b}\""),
                        format!("write \"{b}-{a}\" (lowest {what} first)"),
                    ),
                    RangeError::Invalid(t) => (
                        format!("invalid {what} \"{t}\""),
                        format!(
                            "write a {what} 0-65535 (decimal or 0x hex) or a range \"first-last\", e.g. \"10-20\""
                        ),
                    ),
                };
                c.error(&path.index(i), msg).help(help);
            }
        }
    }
    warn_overlaps(c, path, what, &seen);
    if !ok {
        return None;
    }
    let merged = merge(&seen.iter().map(|&(_, a, b)| (a, b)).collect::<Vec<_>>());
    if merged.len() > capacity {
        let list: Vec<String> = merged.iter().map(|&(a, b)| range_text(a, b)).collect();
        c.error(
            path,
            format!(
                "{} {what} ranges after merging, but a profile holds {capacity}",
                merged.len()
            ),
        )
        .help(format!("the ranges needed: {}", list.join(", ")))
        .help(format!(
            "cover neighbouring {} with one wider range, or split the rule into rules of at most {capacity} ranges each",
            plural(what)
        ));
        return None;
    }
    Some(merged)
}

/// Warns about every entry that overlaps another of the same list.
fn warn_overlaps(c: &mut Checker<'_>, path: &KeyPath, what: &str, ranges: &[(usize, u16, u16)]) {
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&k| (ranges[k].1, ranges[k].0));
    let mut reach: Option<usize> = None;
    for k in order {
        if let Some(r) = reach
            && ranges[r].2 >= ranges[k].1
        {
            let (later, earlier) = if ranges[k].0 > ranges[r].0 {
                (k, r)
            } else {
                (r, k)
            };
            c.warning(
                &path.index(ranges[later].0),
                format!(
                    "{what} {} overlaps {what} {} of the same list",
                    range_text(ranges[later].1, ranges[later].2),
                    range_text(ranges[earlier].1, ranges[earlier].2)
                ),
            )
            .help("merge them into one entry");
        }
        if reach.is_none_or(|r| ranges[k].2 > ranges[r].2) {
            reach = Some(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ranges_parse() {
        let t = |s: &str| parse_range16(&Scalar::Text(s.into()));
        assert_eq!(t("10-20"), Ok((10, 20)));
        assert_eq!(t("0x10-0x1f"), Ok((16, 31)));
        assert_eq!(t("0xFFFF"), Ok((0xFFFF, 0xFFFF)));
        assert_eq!(t(" 7 "), Ok((7, 7)));
        assert_eq!(t("20-10"), Err(RangeError::Reversed(20, 10)));
        assert_eq!(t("0-65536"), Err(RangeError::OutOfRange(65536)));
        assert_eq!(t("-5"), Err(RangeError::OutOfRange(-5)));
        assert!(matches!(t("x"), Err(RangeError::Invalid(_))));
        assert!(matches!(t("0x"), Err(RangeError::Invalid(_))));
        assert!(matches!(t("1-"), Err(RangeError::Invalid(_))));
        assert_eq!(parse_range16(&Scalar::Number(65535)), Ok((65535, 65535)));
        assert_eq!(
            parse_range16(&Scalar::Number(70000)),
            Err(RangeError::OutOfRange(70000))
        );
        assert_eq!(scalar_number(&Scalar::Text("0x2D".into())), Some(45));
        assert_eq!(scalar_number(&Scalar::Text("+5".into())), None);
    }

    #[test]
    fn merges_overlapping_and_adjacent() {
        assert_eq!(
            merge(&[(100, 199), (0, 99), (300, 300), (150, 160), (65535, 65535)]),
            vec![(0, 199), (300, 300), (65535, 65535)]
        );
        assert_eq!(merge(&[(0, 65535), (5, 6)]), vec![(0, 65535)]);
    }
}
