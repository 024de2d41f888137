//! `pi_services:`: which PI services (job function 0x28, by the service name the job carries)
//! a client may start. Listing them needs `pi_service` in `functions`; without the list,
//! `pi_service` allows every PI service.

use firewall_common::s7comm::{PI_SERVICES, pi_service_named};

use super::{Checker, Help, KeyPath};
use crate::policy::{diag::did_you_mean, raw::Scalar};

/// The policy names of the PI services, then how to name the others.
pub(super) fn pi_names() -> String {
    let named: Vec<&str> = PI_SERVICES.iter().filter_map(|p| p.name).collect();
    format!(
        "{}, or a wire name in quotes (\"_N_LOGIN_\", \"_INSE\")",
        named.join(", ")
    )
}

/// Why listing PI service `index` deserves a warning, if it does.
fn danger(index: u8) -> Option<&'static str> {
    match PI_SERVICES.get(index as usize)?.wire {
        "P_PROGRAM" => Some("it starts the CPU (hot or cold restart) and so the process it runs"),
        "_DELE" => Some("it deletes program blocks from the PLC"),
        "_INSE" | "_INS2" => Some("it activates downloaded blocks: the running program changes"),
        _ => None,
    }
}

/// A PI service name: the policy name or the wire name, any case.
pub(super) fn parse_pi_service(s: &Scalar) -> Result<u8, (String, Vec<String>)> {
    let text = s.to_string();
    let text = text.trim();
    if let Some(index) = pi_service_named(text) {
        return Ok(index);
    }
    let mut help = Vec::new();
    let candidates = PI_SERVICES
        .iter()
        .filter_map(|p| p.name)
        .chain(PI_SERVICES.iter().map(|p| p.wire));
    if let Some(near) = did_you_mean(&text.to_lowercase(), candidates) {
        help.push(format!("did you mean \"{near}\"?"));
    }
    help.push(format!("use one of: {}", pi_names()));
    Err((format!("unknown S7 PI service \"{text}\""), help))
}

/// `pi_services:` of the `s7comm:` block at `bp` (`pi_allowed`: `functions` allows
/// `pi_service`): `Some(indexes)` for a list, `Some(vec![])` for no key, `None` on errors
/// (reported).
pub(super) fn check_pi_services(
    c: &mut Checker<'_>,
    bp: &KeyPath,
    list: Option<&[Scalar]>,
    pi_allowed: bool,
) -> Option<Vec<u8>> {
    let Some(list) = list else {
        return Some(Vec::new());
    };
    let pp = bp.key("pi_services");
    if list.is_empty() {
        c.error(&pp, "empty PI service list").help(format!(
            "list the PI services the client starts, e.g. `pi_services: [compress]`, or omit the key; names: {}",
            pi_names()
        ));
        return None;
    }
    let mut ok = true;
    if !pi_allowed {
        ok = false;
        c.error(&pp, "`pi_services` needs `pi_service` in `functions`")
            .help("add `pi_service` to `functions` (the PI service job carries the name `pi_services` checks), or remove `pi_services`");
    }
    let mut out: Vec<u8> = Vec::new();
    for (k, s) in list.iter().enumerate() {
        let kp = pp.index(k);
        let index = match parse_pi_service(s) {
            Ok(i) => i,
            Err((msg, help)) => {
                ok = false;
                let d = c.error(&kp, msg);
                for h in help {
                    d.help(h);
                }
                continue;
            }
        };
        let p = &PI_SERVICES[index as usize];
        let label = p.name.unwrap_or(p.wire);
        if out.contains(&index) {
            c.warning(&kp, format!("PI service `{label}` is listed twice"))
                .help("remove the repeated entry (a name and its wire name are the same service)");
            continue;
        }
        if let Some(what) = danger(index) {
            c.warning(&kp, format!("PI service `{label}` ({}): {what}", p.wire))
                .help("allow it only on a conduit from the engineering stations that must send it");
        }
        out.push(index);
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        let f = |s: &str| parse_pi_service(&Scalar::Text(s.into()));
        assert_eq!(f("compress"), Ok(5));
        assert_eq!(f("_GARB"), Ok(5));
        assert_eq!(f("P_PROGRAM"), Ok(3));
        assert_eq!(f("p_program"), Ok(3));
        assert_eq!(f("_n_login_"), Ok(6));
        let (m, help) = f("compres").expect_err("typo");
        assert_eq!(m, "unknown S7 PI service \"compres\"");
        assert_eq!(help[0], "did you mean \"compress\"?");
        assert!(help.last().unwrap().contains("copy_ram_to_rom"));
        assert!(parse_pi_service(&Scalar::Number(5)).is_err());
        assert!(danger(3).is_some() && danger(2).is_some() && danger(0).is_some());
        assert!(danger(5).is_none() && danger(4).is_none() && danger(6).is_none());
    }
}
