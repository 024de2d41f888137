//! The scalars of a `modbus:` block: numbers, `"first-last"` ranges, named bits, and the
//! overlaps within a list.

use super::{Checker, Help, KeyPath, Scalar, did_you_mean};

/// Why a number or `"first-last"` range was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RangeError {
    /// A number outside `0..=max`.
    OutOfRange(i128),
    Reversed(u32, u32),
    /// Neither a number nor a range.
    Invalid(String),
}

/// `5`, `"5"`, `"10-20"` within `0..=max`.
pub(super) fn parse_range(s: &Scalar, max: u32) -> Result<(u32, u32), RangeError> {
    let number = |n: i128| match u32::try_from(n) {
        Ok(v) if v <= max => Ok(v),
        _ => Err(RangeError::OutOfRange(n)),
    };
    let text = match s {
        Scalar::Number(n) => return number(*n).map(|v| (v, v)),
        Scalar::Text(t) => t.trim(),
    };
    let parse = |part: &str| {
        part.trim()
            .parse::<i128>()
            .map_err(|_| RangeError::Invalid(text.to_owned()))
            .and_then(number)
    };
    match text.split_once('-') {
        None => parse(text).map(|v| (v, v)),
        Some((a, b)) => {
            let (first, last) = (parse(a)?, parse(b)?);
            if first > last {
                return Err(RangeError::Reversed(first, last));
            }
            Ok((first, last))
        }
    }
}

pub(super) fn range_text(first: u32, last: u32) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

/// A number written as a YAML integer, or as decimal or `0x` hex text.
pub(super) fn scalar_number(s: &Scalar) -> Option<i128> {
    match s {
        Scalar::Number(n) => Some(*n),
        Scalar::Text(t) => {
            let t = t.trim();
            match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) => i128::from_str_radix(hex, 16).ok(),
                None => t.parse().ok(),
            }
        }
    }
}

/// A name of `table` or a number `0..=max_allowed` (bitmap bit); `what` names the kind.
pub(super) fn parse_named_bit(
    s: &Scalar,
    table: &[(&'static str, u16)],
    what: &str,
    wire_max: i128,
) -> Result<u16, (String, Vec<String>)> {
    let names = || table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    if let Some(n) = scalar_number(s) {
        return match n {
            0..=31 => Ok(n as u16),
            n if n > 31 && n <= wire_max => Err((
                format!("{what} {n} cannot be allowed"),
                vec![format!(
                    "the inspection profile holds {what}s 0 to 31; higher ones are always denied"
                )],
            )),
            n => Err((
                format!("{what} {n} is out of range"),
                vec![format!("{what}s are 0 to 31, or one of: {}", names())],
            )),
        };
    }
    let text = s.to_string();
    let text = text.trim();
    if let Some((_, v)) = table.iter().find(|(n, _)| *n == text) {
        return Ok(*v);
    }
    let mut help = Vec::new();
    if let Some(near) = did_you_mean(&text.to_lowercase(), table.iter().map(|(n, _)| *n)) {
        help.push(format!("did you mean \"{near}\"?"));
    }
    help.push(format!("use a number 0-31 or one of: {}", names()));
    Err((format!("unknown {what} \"{text}\""), help))
}

/// Warns about every entry of a list that overlaps an earlier-sorted one (sweep, O(n log n)).
pub(super) fn warn_overlaps(
    c: &mut Checker<'_>,
    path: &KeyPath,
    what: &str,
    ranges: &[(usize, u32, u32)],
) {
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
                    "{what} {} overlap {what} {} of the same list",
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
    use crate::policy::protocols::MODBUS_DIAGNOSTICS;

    #[test]
    fn ranges_parse() {
        let t = |s: &str| parse_range(&Scalar::Text(s.into()), 255);
        assert_eq!(t("10-20"), Ok((10, 20)));
        assert_eq!(t(" 7 "), Ok((7, 7)));
        assert_eq!(t("20-10"), Err(RangeError::Reversed(20, 10)));
        assert_eq!(t("0-256"), Err(RangeError::OutOfRange(256)));
        assert!(matches!(t("x"), Err(RangeError::Invalid(_))));
        assert!(matches!(t("-5"), Err(RangeError::Invalid(_))));
        assert_eq!(
            parse_range(&Scalar::Number(65535), 65535),
            Ok((65535, 65535))
        );
        assert_eq!(
            parse_range(&Scalar::Number(-1), 65535),
            Err(RangeError::OutOfRange(-1))
        );
    }

    #[test]
    fn named_bits_parse() {
        let d = |s: Scalar| {
            parse_named_bit(&s, &MODBUS_DIAGNOSTICS, "diagnostics sub-function", 0xFFFF)
        };
        assert_eq!(d(Scalar::Text("force_listen_only".into())), Ok(4));
        assert_eq!(d(Scalar::Number(31)), Ok(31));
        assert!(d(Scalar::Number(32)).is_err_and(|(m, _)| m.contains("cannot be allowed")));
        assert!(d(Scalar::Number(70000)).is_err_and(|(m, _)| m.contains("out of range")));
        let (_, help) = d(Scalar::Text("return_querry_data".into())).expect_err("unknown");
        assert_eq!(help[0], "did you mean \"return_query_data\"?");
    }
}
