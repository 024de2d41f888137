//! Port lists of tcp, udp and modbus rules: numbers, `"first-last"` ranges, overlaps.

use super::{Checker, Help, KeyPath};
use crate::policy::{model::PortRange, raw::Scalar};

/// The non-empty port list at `path`; clears `ok` on errors.
pub(super) fn check_ports(
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
}
