//! `functions:`, `userdata:` and the `read_only` preset: which S7 job functions and userdata
//! functions a client may send.

use firewall_common::s7comm::{
    ALIASES, Effect, FUNCTIONS, READ_ONLY_FUNCTIONS, READ_ONLY_USERDATA, USERDATA, Userdata,
    function, function_named, job, userdata_named,
};

use super::{Checker, Help, KeyPath};
use crate::policy::{
    diag::did_you_mean,
    protocols::{
        s7comm_danger as danger, s7comm_function_label as function_label, s7comm_userdata_danger,
    },
    raw::Scalar,
    validate::ranges16::scalar_number,
};

/// What a rule allows: job functions and userdata entries (group, subfunctions, name).
pub(super) struct Allowed {
    pub functions: Vec<u8>,
    pub userdata: Vec<(u8, u32, String)>,
}

impl Allowed {
    pub fn has(&self, code: u8) -> bool {
        self.functions.contains(&code)
    }
}

fn function_names() -> String {
    FUNCTIONS
        .iter()
        .map(|f| f.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn userdata_names() -> String {
    USERDATA
        .iter()
        .map(|u| u.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A job function name or alias (any case) or code 0..=255.
pub(super) fn parse_function(s: &Scalar) -> Result<u8, (String, Vec<String>)> {
    if let Some(n) = scalar_number(s) {
        return u8::try_from(n).map_err(|_| {
            (
                format!("S7 function code {n} is out of range"),
                vec!["job function codes are 0 to 255 (0x00-0xFF)".into()],
            )
        });
    }
    let text = s.to_string();
    let text = text.trim();
    if let Some(code) = function_named(text) {
        return Ok(code);
    }
    let mut help = Vec::new();
    let candidates = FUNCTIONS
        .iter()
        .map(|f| f.name)
        .chain(ALIASES.iter().map(|(a, _)| *a))
        .chain(USERDATA.iter().map(|u| u.name));
    if let Some(near) = did_you_mean(&text.to_lowercase(), candidates) {
        if userdata_named(near).is_some() {
            help.push(format!(
                "\"{near}\" is a userdata function: list it under `userdata:`"
            ));
        } else {
            help.push(format!("did you mean \"{near}\"?"));
        }
    }
    help.push(format!(
        "use a function code 0x00-0xFF or one of: {}",
        function_names()
    ));
    Err((format!("unknown S7 job function \"{text}\""), help))
}

/// A userdata name (any case) or a function group 0-15 (the whole group).
pub(super) fn parse_userdata(s: &Scalar) -> Result<(u8, u32, String), (String, Vec<String>)> {
    if let Some(n) = scalar_number(s) {
        return match u8::try_from(n) {
            Ok(g) if g < 16 => {
                // The name of the whole group where one exists (`security` for 5).
                let name = USERDATA
                    .iter()
                    .find(|u| u.group == g && u.subfunctions == Userdata::ALL)
                    .map_or_else(|| format!("group {g}"), |u| u.name.to_owned());
                Ok((g, Userdata::ALL, name))
            }
            _ => Err((
                format!("userdata function group {n} is out of range"),
                vec![
                    "a number names a whole function group, 0 to 15 (4: CPU functions, 7: time)"
                        .into(),
                    format!("or use one of: {}", userdata_names()),
                ],
            )),
        };
    }
    let text = s.to_string();
    let text = text.trim();
    if let Some(u) = userdata_named(text) {
        return Ok((u.group, u.subfunctions, u.name.to_owned()));
    }
    let mut help = Vec::new();
    let candidates = USERDATA
        .iter()
        .map(|u| u.name)
        .chain(FUNCTIONS.iter().map(|f| f.name));
    if let Some(near) = did_you_mean(&text.to_lowercase(), candidates) {
        if function_named(near).is_some() {
            help.push(format!(
                "\"{near}\" is a job function: list it under `functions:`"
            ));
        } else {
            help.push(format!("did you mean \"{near}\"?"));
        }
    }
    help.push(format!(
        "use a function group 0-15 or one of: {}",
        userdata_names()
    ));
    Err((format!("unknown S7 userdata function \"{text}\""), help))
}

/// `functions:`, `userdata:` and `read_only:` of the `s7comm:` block at `bp`; `None` when an
/// entry is refused (errors reported).
pub(super) fn check_functions(
    c: &mut Checker<'_>,
    bp: &KeyPath,
    functions: Option<&[Scalar]>,
    userdata: Option<&[Scalar]>,
    read_only: bool,
    pi_listed: bool,
) -> Option<Allowed> {
    let mut allowed = Allowed {
        functions: Vec::new(),
        userdata: Vec::new(),
    };
    if read_only {
        allowed.functions.extend(READ_ONLY_FUNCTIONS);
        for name in READ_ONLY_USERDATA {
            if let Some(u) = userdata_named(name) {
                allowed
                    .userdata
                    .push((u.group, u.subfunctions, u.name.to_owned()));
            }
        }
    }
    if functions.is_none() && userdata.is_none() && !read_only {
        c.error(bp, "S7comm rule allows no function")
            .help("list the job functions the client sends, e.g. `functions: [setup_communication, read_var]`, or write `read_only: true` (setup communication, read var, SZL and clock reads, block info)");
        return None;
    }
    let mut ok = true;
    let fp = bp.key("functions");
    if let Some(list) = functions {
        if list.is_empty() {
            c.error(&fp, "empty function list").help(format!(
                "list job function names or codes, or omit the key; names: {}",
                function_names()
            ));
            return None;
        }
        for (k, s) in list.iter().enumerate() {
            let kp = fp.index(k);
            let code = match parse_function(s) {
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
            if allowed.has(code) {
                let d = c.warning(&kp, format!("{} is listed twice", function_label(code)));
                if read_only && READ_ONLY_FUNCTIONS.contains(&code) {
                    d.help("`read_only: true` already allows it; remove it here");
                } else {
                    d.help("remove the repeated entry");
                }
                continue;
            }
            let info = function(code);
            if read_only && info.is_none_or(|f| f.effect != Effect::Read) {
                ok = false;
                c.error(
                    &kp,
                    format!(
                        "`read_only: true` cannot be combined with {}, which is not a read",
                        function_label(code)
                    ),
                )
                .help("remove `read_only: true` and list every function the client needs, e.g. `functions: [setup_communication, read_var, write_var]`");
                continue;
            }
            if info.is_none() {
                c.warning(
                    &kp,
                    format!("S7 function {code:#04x} is not a known job function: only the header is inspected"),
                )
                .help("allow it only if the PLC's vendor documents it: an undocumented function can do anything");
            }
            if code == job::PI_SERVICE {
                // With `pi_services`, each dangerous name is warned about there.
                if !pi_listed {
                    c.warning(&kp, format!("{} is {}; without `pi_services` every PI service passes", function_label(code), danger(code).unwrap_or("a PI service")))
                        .help(format!("name the PI services the client starts, e.g. `pi_services: [compress, copy_ram_to_rom]`; names: {}", super::pi::pi_names()));
                }
            } else if let Some(what) = danger(code) {
                c.warning(&kp, format!("{} is {what}", function_label(code)))
                    .help("allow it only on a conduit from the engineering stations that must send it");
            }
            allowed.functions.push(code);
        }
    }
    let up = bp.key("userdata");
    if let Some(list) = userdata {
        if list.is_empty() {
            c.error(&up, "empty userdata list").help(format!(
                "list userdata function names or groups, or omit the key; names: {}",
                userdata_names()
            ));
            return None;
        }
        for (k, s) in list.iter().enumerate() {
            let kp = up.index(k);
            let (group, subs, name) = match parse_userdata(s) {
                Ok(u) => u,
                Err((msg, help)) => {
                    ok = false;
                    let d = c.error(&kp, msg);
                    for h in help {
                        d.help(h);
                    }
                    continue;
                }
            };
            if allowed
                .userdata
                .iter()
                .any(|(g, s, _)| *g == group && s & subs == subs)
            {
                let d = c.warning(&kp, format!("userdata `{name}` is listed twice"));
                if read_only && READ_ONLY_USERDATA.contains(&name.as_str()) {
                    d.help("`read_only: true` already allows it; remove it here");
                } else {
                    d.help("remove the repeated entry (or the narrower one: a group number allows the whole group)");
                }
                continue;
            }
            let is_read = userdata_named(&name).is_some_and(|u| u.effect == Effect::Read);
            if read_only && !is_read {
                ok = false;
                c.error(
                    &kp,
                    format!("`read_only: true` cannot be combined with userdata `{name}`, which is not a read"),
                )
                .help(format!(
                    "remove `read_only: true` and list what the client needs, e.g. `functions: [setup_communication, read_var]` and `userdata: [szl_read, clock_read, {name}]`"
                ));
                continue;
            }
            if let Some(what) = s7comm_userdata_danger(&name) {
                c.warning(&kp, format!("userdata `{name}`: {what}")).help(
                    "allow it only on a conduit from the engineering stations that must send it",
                );
            } else if subs == Userdata::ALL && !is_read {
                c.warning(
                    &kp,
                    format!("userdata {name} allows every subfunction of function group {group}"),
                )
                .help(format!(
                    "name what the client needs instead where a name exists: {}",
                    userdata_names()
                ));
            }
            allowed.userdata.push((group, subs, name));
        }
    }
    if !ok {
        return None;
    }
    if functions.is_some() && !read_only && !allowed.has(job::SETUP_COMMUNICATION) {
        c.warning(&fp, "no `setup_communication`: an S7 connection starts with it, so every client fails")
            .help("add `setup_communication` to `functions` (it negotiates the PDU size and changes nothing)");
    }
    Some(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_parse() {
        let f = |s: &str| parse_function(&Scalar::Text(s.into()));
        assert_eq!(f("read_var"), Ok(0x04));
        assert_eq!(f("PLC_STOP"), Ok(0x29));
        assert_eq!(f("plc_control"), Ok(0x28));
        assert_eq!(f("0xF0"), Ok(0xF0));
        assert_eq!(parse_function(&Scalar::Number(5)), Ok(5));
        let (m, help) = f("read_vars").expect_err("typo");
        assert_eq!(m, "unknown S7 job function \"read_vars\"");
        assert_eq!(help[0], "did you mean \"read_var\"?");
        let (_, help) = f("szl_read").expect_err("userdata");
        assert!(help[0].contains("list it under `userdata:`"), "{help:?}");
        assert!(parse_function(&Scalar::Number(256)).is_err());
    }

    #[test]
    fn userdata_parse() {
        let u = |s: &str| parse_userdata(&Scalar::Text(s.into()));
        assert_eq!(u("szl_read").map(|x| (x.0, x.1)), Ok((4, 1 << 1)));
        assert_eq!(u("CLOCK_SET").map(|x| x.0), Ok(7));
        assert_eq!(
            parse_userdata(&Scalar::Number(5)).map(|x| (x.0, x.1)),
            Ok((5, Userdata::ALL))
        );
        assert!(parse_userdata(&Scalar::Number(16)).is_err());
        let (_, help) = u("clock_reed").expect_err("typo");
        assert_eq!(help[0], "did you mean \"clock_read\"?");
        let (_, help) = u("write_var").expect_err("job");
        assert!(help[0].contains("`functions:`"));
    }

    #[test]
    fn dangers() {
        for code in [0x05, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x28, 0x29, 0x00] {
            assert!(danger(code).is_some(), "{code}");
        }
        for code in [0x04, 0xF0, 0x77] {
            assert!(danger(code).is_none(), "{code}");
        }
    }
}
