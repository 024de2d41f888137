//! `type_ids:` and the `read_only` preset: which ASDU types the controlling station may send.

use firewall_common::iec104::{
    Class, READ_ONLY_TYPE_IDS, TYPE_IDS, class_of, type_id, type_id_named,
};

use super::{Checker, Help, KeyPath};
use crate::policy::{
    diag::did_you_mean,
    protocols::{iec104_danger as danger, iec104_type_label as type_id_label},
    raw::Scalar,
    validate::ranges16::scalar_number,
};

/// The type ids a rule allows, each with the index of the `type_ids` entry that allowed it
/// (`None`: the `read_only` preset), in the order written (the preset first).
pub(super) struct Allowed {
    pub codes: Vec<(u8, Option<usize>)>,
}

impl Allowed {
    /// The first allowed type that changes the station (a command, parameter load, file
    /// transfer or system command).
    pub fn changing(&self) -> Option<u8> {
        self.codes
            .iter()
            .map(|&(code, _)| code)
            .find(|&code| danger(code).is_some())
    }
}

fn names() -> String {
    TYPE_IDS
        .iter()
        .filter(|t| !matches!(t.class, Class::Monitor | Class::Init))
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A type id mnemonic (any case) or code 1..=255.
pub(super) fn parse_type_id(s: &Scalar) -> Result<u8, (String, Vec<String>)> {
    if let Some(n) = scalar_number(s) {
        return match u8::try_from(n) {
            Ok(0) => Err((
                "type id 0 is not defined".into(),
                vec!["IEC 104 type ids are 1 to 255".into()],
            )),
            Ok(code) => Ok(code),
            Err(_) => Err((
                format!("type id {n} is out of range"),
                vec!["IEC 104 type ids are 1 to 255".into()],
            )),
        };
    }
    let text = s.to_string();
    let text = text.trim();
    if let Some(t) = type_id_named(text) {
        return Ok(t.code);
    }
    let mut help = Vec::new();
    if let Some(near) = did_you_mean(&text.to_uppercase(), TYPE_IDS.iter().map(|t| t.name)) {
        help.push(format!("did you mean \"{near}\"?"));
    }
    help.push(format!(
        "use a type id 1-255 or a mnemonic of the standard a controlling station sends: {}",
        names()
    ));
    Err((format!("unknown IEC 104 type id \"{text}\""), help))
}

/// `type_ids:` and `read_only:` of the `iec104:` block at `ip`; `None` when an entry is
/// refused (errors reported).
pub(super) fn check_type_ids(
    c: &mut Checker<'_>,
    ip: &KeyPath,
    list: Option<&[Scalar]>,
    read_only: bool,
) -> Option<Allowed> {
    let tp = ip.key("type_ids");
    let mut allowed = Allowed { codes: Vec::new() };
    if read_only {
        allowed
            .codes
            .extend(READ_ONLY_TYPE_IDS.iter().map(|&code| (code, None)));
    }
    let list = match list {
        None if !read_only => {
            c.error(ip, "IEC 104 rule allows no type id")
                .help("list the ASDU types the controlling station sends, e.g. `type_ids: [C_IC_NA_1, C_CS_NA_1]`, or write `read_only: true` (interrogation, counter interrogation, read, test)");
            return None;
        }
        None => return Some(allowed),
        Some([]) => {
            let d = c.error(&tp, "empty type id list");
            if read_only {
                d.help("remove `type_ids: []`; `read_only: true` allows C_IC_NA_1, C_CI_NA_1, C_RD_NA_1, C_TS_NA_1 and C_TS_TA_1");
            } else {
                d.help(format!(
                    "list type ids, e.g. [C_IC_NA_1]; names: {}",
                    names()
                ));
            }
            return None;
        }
        Some(l) => l,
    };
    let mut ok = true;
    for (k, s) in list.iter().enumerate() {
        let kp = tp.index(k);
        let code = match parse_type_id(s) {
            Ok(code) => code,
            Err((msg, help)) => {
                ok = false;
                let d = c.error(&kp, msg);
                for h in help {
                    d.help(h);
                }
                continue;
            }
        };
        if let Some(&(_, by)) = allowed.codes.iter().find(|(x, _)| *x == code) {
            let d = c.warning(&kp, format!("{} is listed twice", type_id_label(code)));
            match by {
                None => d.help("`read_only: true` already allows it; remove it here"),
                Some(_) => d.help("remove the repeated entry"),
            };
            continue;
        }
        let class = class_of(code);
        if matches!(class, Some(Class::Monitor | Class::Init)) {
            ok = false;
            c.error(
                &kp,
                format!(
                    "{} is monitoring-direction information: a controlling station never sends it",
                    type_id_label(code)
                ),
            )
            .help("the controlled station's measurements, states and end of initialisation pass as replies of an allowed connection without being listed; the data path denies them from the controlling station (iec104_direction)")
            .help("list only what the controlling station sends: commands C_*, parameters P_*, files F_*, e.g. C_IC_NA_1");
            continue;
        }
        if read_only && class != Some(Class::Query) {
            ok = false;
            c.error(
                &kp,
                format!(
                    "`read_only: true` cannot be combined with {}, which changes the station",
                    type_id_label(code)
                ),
            )
            .help("remove `read_only: true` and list every type the controlling station needs, e.g. `type_ids: [C_IC_NA_1, C_CS_NA_1, C_SC_NA_1]`");
            continue;
        }
        if class.is_none() {
            c.warning(
                &kp,
                format!("type id {code} is private (128-255): only its header, cause and common address are inspected, not its objects"),
            )
            .help("allow it only if the station documents it: a private type can carry anything, commands included");
        } else if type_id(code).is_none() {
            c.warning(
                &kp,
                format!("type id {code} is reserved by the standard and has no name in zcfw"),
            )
            .help("no standard station sends it; check the device's interoperability list");
        }
        if let Some(what) = danger(code) {
            c.warning(
                &kp,
                format!("{} is {what}", type_id_label(code)),
            )
            .help("allow it only on a conduit from the stations that must send it, and narrow `common_addresses` to the stations it may reach");
        }
        allowed.codes.push((code, Some(k)));
    }
    ok.then_some(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_ids_parse() {
        let t = |s: &str| parse_type_id(&Scalar::Text(s.into()));
        assert_eq!(t("C_SC_NA_1"), Ok(45));
        assert_eq!(t("c_ic_na_1"), Ok(100));
        assert_eq!(t("0x67"), Ok(103));
        assert_eq!(t("130"), Ok(130));
        assert_eq!(parse_type_id(&Scalar::Number(45)), Ok(45));
        let (m, help) = t("C_SC_NA1").expect_err("typo");
        assert_eq!(m, "unknown IEC 104 type id \"C_SC_NA1\"");
        assert_eq!(help[0], "did you mean \"C_SC_NA_1\"?");
        assert!(help[1].contains("C_CS_NA_1") && !help[1].contains("M_SP_NA_1"));
        assert!(parse_type_id(&Scalar::Number(0)).is_err());
        assert!(
            parse_type_id(&Scalar::Number(256)).is_err_and(|(m, _)| m.contains("out of range"))
        );
    }

    #[test]
    fn dangers() {
        for code in [45, 51, 58, 64, 110, 113, 120, 127, 103, 105] {
            assert!(danger(code).is_some(), "{code}");
        }
        for code in READ_ONLY_TYPE_IDS {
            assert!(danger(code).is_none(), "{code}");
        }
        assert!(danger(1).is_none() && danger(200).is_none());
    }
}
