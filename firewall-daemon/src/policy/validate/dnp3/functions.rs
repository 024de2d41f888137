//! `functions:` and the `read_only` preset: which application functions a master may send.

use firewall_common::dnp3::{
    ALIASES, Effect, FUNCTIONS, READ_ONLY_FUNCTIONS, function, function_named, is_response,
};

use super::{Checker, Help, KeyPath};
use crate::policy::{
    diag::did_you_mean,
    protocols::{dnp3_danger as danger, dnp3_function_label as function_label},
    raw::Scalar,
    validate::ranges16::scalar_number,
};

/// The functions a rule allows, each with the index of the `functions` entry that allowed it
/// (`None`: the `read_only` preset), in the order written (the preset first).
pub(super) struct Allowed {
    pub codes: Vec<(u8, Option<usize>)>,
}

impl Allowed {
    /// The first allowed function that changes the outstation.
    pub fn changing(&self) -> Option<u8> {
        self.codes
            .iter()
            .map(|&(code, _)| code)
            .find(|&code| danger(code).is_some())
    }

    fn contains(&self, code: u8) -> bool {
        self.codes.iter().any(|&(x, _)| x == code)
    }
}

fn names() -> String {
    FUNCTIONS
        .iter()
        .filter(|f| f.effect != Effect::Response)
        .map(|f| f.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A function name or alias (any case) or code 0..=255.
pub(super) fn parse_function(s: &Scalar) -> Result<u8, (String, Vec<String>)> {
    let code_help = || "request function codes are 0 to 128 (129-131 are responses)".to_string();
    if let Some(n) = scalar_number(s) {
        return match u8::try_from(n) {
            Ok(code) if is_response(code) => Err((
                format!(
                    "{} is a response: only an outstation sends it",
                    function_label(code)
                ),
                vec![
                    "responses of an allowed connection pass without being listed".into(),
                    code_help(),
                ],
            )),
            Ok(code) => Ok(code),
            Err(_) => Err((
                format!("function code {n} is out of range"),
                vec![code_help()],
            )),
        };
    }
    let text = s.to_string();
    let text = text.trim();
    if let Some(code) = function_named(text) {
        if is_response(code) {
            return Err((
                format!("{text} is a response function: only an outstation sends it"),
                vec!["responses of an allowed connection pass without being listed".into()],
            ));
        }
        return Ok(code);
    }
    let mut help = Vec::new();
    let candidates = FUNCTIONS
        .iter()
        .map(|f| f.name)
        .chain(ALIASES.iter().map(|(a, _)| *a));
    if let Some(near) = did_you_mean(&text.to_lowercase(), candidates) {
        help.push(format!("did you mean \"{near}\"?"));
    }
    help.push(format!("use a function code 0-128 or one of: {}", names()));
    Err((format!("unknown DNP3 function \"{text}\""), help))
}

/// `functions:` and `read_only:` of the `dnp3:` block at `dp`; `None` when an entry is
/// refused (errors reported).
pub(super) fn check_functions(
    c: &mut Checker<'_>,
    dp: &KeyPath,
    list: Option<&[Scalar]>,
    read_only: bool,
) -> Option<Allowed> {
    let fp = dp.key("functions");
    let mut allowed = Allowed { codes: Vec::new() };
    if read_only {
        allowed
            .codes
            .extend(READ_ONLY_FUNCTIONS.iter().map(|&code| (code, None)));
    }
    let list = match list {
        None if !read_only => {
            c.error(dp, "DNP3 rule allows no function")
                .help("list the functions the master sends, e.g. `functions: [read, confirm]`, or write `read_only: true` (read and confirm)");
            return None;
        }
        None => return Some(allowed),
        Some([]) => {
            let d = c.error(&fp, "empty function list");
            if read_only {
                d.help("remove `functions: []`; `read_only: true` allows read (1) and confirm (0)");
            } else {
                d.help(format!(
                    "list function names or codes, e.g. [read, confirm]; names: {}",
                    names()
                ));
            }
            return None;
        }
        Some(l) => l,
    };
    let mut ok = true;
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
        if let Some(&(_, by)) = allowed.codes.iter().find(|(x, _)| *x == code) {
            let d = c.warning(&kp, format!("{} is listed twice", function_label(code)));
            match by {
                None => d.help("`read_only: true` already allows it; remove it here"),
                Some(_) => d.help("remove the repeated entry"),
            };
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
            .help("remove `read_only: true` and list every function the master needs, e.g. `functions: [read, confirm, select, operate]`");
            continue;
        }
        if info.is_none() {
            c.warning(
                &kp,
                format!("function code {code} is not defined by IEEE 1815: only its link address is inspected"),
            )
            .help("allow it only if the outstation documents it: a vendor function can do anything");
        }
        if let Some(what) = danger(code) {
            c.warning(&kp, format!("{} is {what}", function_label(code)))
                .help("allow it only on a conduit from the masters that must send it, and narrow `addresses` to the outstations it may reach");
        }
        allowed.codes.push((code, Some(k)));
    }
    if !ok {
        return None;
    }
    // A master confirms responses that carry events (CON bit) and unsolicited responses.
    if allowed.contains(1) && !allowed.contains(0) {
        let at = allowed
            .codes
            .iter()
            .find(|(x, _)| *x == 1)
            .and_then(|(_, k)| *k)
            .map_or_else(|| fp.clone(), |k| fp.index(k));
        c.warning(&at, "read (1) without confirm (0): the master cannot confirm the responses that carry events")
            .help("an outstation repeats an event response until the master confirms it, and never clears its event buffer: add `confirm` to `functions` (or use `read_only: true`, which allows both)");
    }
    // Select-before-operate needs both halves.
    for (have, needs, why) in [
        (
            3u8,
            4u8,
            "a select is followed by an operate of the same objects",
        ),
        (4, 3, "an operate executes only what a select armed"),
    ] {
        if allowed.contains(have) && !allowed.contains(needs) {
            let at = allowed
                .codes
                .iter()
                .find(|(x, _)| *x == have)
                .and_then(|(_, k)| *k)
                .map_or_else(|| fp.clone(), |k| fp.index(k));
            c.warning(
                &at,
                format!(
                    "{} without {}: {why}, so every {} would fail",
                    function_label(have),
                    function_label(needs),
                    function(needs).map_or("", |f| f.name)
                ),
            )
            .help(format!(
                "add `{}` to `functions`, or remove this entry",
                function(needs).map_or("", |f| f.name)
            ));
        }
    }
    Some(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_parse() {
        let f = |s: &str| parse_function(&Scalar::Text(s.into()));
        assert_eq!(f("read"), Ok(1));
        assert_eq!(f("DIRECT_OPERATE"), Ok(5));
        assert_eq!(f("file_open"), Ok(25));
        assert_eq!(f("0x0d"), Ok(13));
        assert_eq!(parse_function(&Scalar::Number(0)), Ok(0));
        let (m, help) = f("direct_operat").expect_err("typo");
        assert_eq!(m, "unknown DNP3 function \"direct_operat\"");
        assert_eq!(help[0], "did you mean \"direct_operate\"?");
        assert!(help[1].contains("cold_restart") && !help[1].contains("unsolicited_response"));
        assert!(f("response").is_err_and(|(m, _)| m.contains("only an outstation")));
        assert!(parse_function(&Scalar::Number(129)).is_err_and(|(m, _)| m.contains("response")));
        assert!(
            parse_function(&Scalar::Number(256)).is_err_and(|(m, _)| m.contains("out of range"))
        );
    }

    #[test]
    fn dangers() {
        for code in [2, 3, 4, 5, 6, 13, 14, 18, 20, 21, 25, 27, 31] {
            assert!(danger(code).is_some(), "{code}");
        }
        for code in [0, 1, 23, 129, 200] {
            assert!(danger(code).is_none(), "{code}");
        }
    }
}
