//! `functions:` and the `read_only` preset: which function codes the rule allows.

use firewall_common::modbus::{
    Access, FUNCTIONS, READ_ONLY_FUNCTIONS, address_classes, function_by_code, function_by_name,
};

use super::{Checker, Help, KeyPath, Scalar, did_you_mean, ranges::scalar_number};

/// The functions a rule allows, and what the later steps need to know of them.
pub(super) struct Allowed {
    /// Allowed codes, each with the index of the `functions` entry that allowed it (None:
    /// the read_only preset).
    codes: Vec<(u8, Option<usize>)>,
    /// False once a `functions` entry is refused: checks that depend on the set of
    /// functions (tables used, FC 8 and FC 43 options) would then only repeat that error.
    pub ok: bool,
}

impl Allowed {
    /// The allowed codes, in the order written (the preset first).
    pub fn codes(&self) -> Vec<u8> {
        self.codes.iter().map(|&(code, _)| code).collect()
    }

    pub fn contains(&self, code: u8) -> bool {
        self.codes.iter().any(|&(x, _)| x == code)
    }

    /// Address classes (tables) the allowed functions use.
    pub fn classes(&self) -> u16 {
        self.codes
            .iter()
            .fold(0u16, |acc, &(code, _)| acc | address_classes(code))
    }

    /// Where a diagnostic about function `code` points: its `functions` entry, or
    /// `read_only` for the preset.
    pub fn path(&self, mp: &KeyPath, code: u8) -> KeyPath {
        match self.codes.iter().find(|(x, _)| *x == code) {
            Some((_, Some(k))) => mp.key("functions").index(*k),
            _ => mp.key("read_only"),
        }
    }
}

/// `functions:` and `read_only:` of the `modbus:` block at `mp`; errors clear `ok`.
pub(super) fn check_functions(
    c: &mut Checker<'_>,
    mp: &KeyPath,
    functions: Option<&[Scalar]>,
    read_only: bool,
    ok: &mut bool,
) -> Allowed {
    let fp = mp.key("functions");
    let mut allowed = Allowed {
        codes: Vec::new(),
        ok: true,
    };
    if read_only {
        allowed
            .codes
            .extend(READ_ONLY_FUNCTIONS.iter().map(|&code| (code, None)));
    }
    match functions {
        None if !read_only => {
            *ok = false;
            c.error(mp, "Modbus rule allows no function")
                .help("list the functions clients need, e.g. `functions: [read_holding_registers]`, or write `read_only: true` (FC 1, 2, 3, 4 and 43/14)");
        }
        None => {}
        Some([]) => {
            *ok = false;
            let d = c.error(&fp, "empty function list");
            if read_only {
                d.help("remove `functions: []`; `read_only: true` allows FC 1, 2, 3, 4 and 43/14");
            } else {
                d.help(format!(
                    "list function names or codes, e.g. [read_holding_registers]; names: {}",
                    function_names()
                ));
            }
        }
        Some(l) => {
            for (k, f) in l.iter().enumerate() {
                if let Some(code) = check_function(c, &fp.index(k), f, read_only, &mut allowed, ok)
                {
                    allowed.codes.push((code, Some(k)));
                }
            }
        }
    }
    allowed
}

/// One `functions` entry at `kp`: its code, or `None` when it is refused (error) or a
/// repeat (warning).
fn check_function(
    c: &mut Checker<'_>,
    kp: &KeyPath,
    f: &Scalar,
    read_only: bool,
    allowed: &mut Allowed,
    ok: &mut bool,
) -> Option<u8> {
    let code = match parse_function(f) {
        Ok(code) => code,
        Err((msg, help)) => {
            *ok = false;
            allowed.ok = false;
            let d = c.error(kp, msg);
            for h in help {
                d.help(h);
            }
            return None;
        }
    };
    let info = function_by_code(code);
    if let Some(&(_, by)) = allowed.codes.iter().find(|(x, _)| *x == code) {
        let d = c.warning(kp, format!("{} is listed twice", function_label(code)));
        match by {
            None => d.help("`read_only: true` already allows it; remove it here"),
            Some(_) => d.help("remove the repeated entry"),
        };
        return None;
    }
    if read_only && info.is_none_or(|i| i.access != Access::Read) {
        *ok = false;
        allowed.ok = false;
        let what = match info.map(|i| i.access) {
            Some(Access::Write) => "a write function",
            Some(Access::Diagnostic) => "it can restart or silence the device",
            _ => "it is not a known read function",
        };
        c.error(
            kp,
            format!(
                "`read_only: true` cannot be combined with {} ({what})",
                function_label(code)
            ),
        )
        .help("remove `read_only: true` and list every function the clients need, e.g. `functions: [read_holding_registers, write_single_register]`");
        return None;
    }
    if info.is_none() {
        c.warning(
            kp,
            format!(
                "function code {code} has no name in zcfw: only its unit id is inspected, not its fields"
            ),
        )
        .help("allow it only if the device needs it: vendor and programming functions (e.g. 90, Schneider UMAS) can change or stop a PLC");
    }
    Some(code)
}

/// `read_holding_registers (3)`, or `function code 90` for codes without a name.
pub(super) fn function_label(code: u8) -> String {
    match function_by_code(code) {
        Some(f) => format!("{} ({code})", f.name),
        None => format!("function code {code}"),
    }
}

pub(super) fn function_names() -> String {
    FUNCTIONS
        .iter()
        .map(|f| f.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A function name or code 1..=127.
pub(super) fn parse_function(f: &Scalar) -> Result<u8, (String, Vec<String>)> {
    let code_help = || "request function codes are 1 to 127".to_string();
    if let Some(n) = scalar_number(f) {
        return match n {
            1..=127 => Ok(n as u8),
            0 => Err((
                "function code 0 is not a Modbus request function".into(),
                vec![code_help()],
            )),
            128..=255 => Err((
                format!(
                    "function code {n} is an exception response (code {} | 0x80), not a request",
                    n - 128
                ),
                vec![code_help()],
            )),
            _ => Err((
                format!("function code {n} is out of range"),
                vec![code_help()],
            )),
        };
    }
    let text = f.to_string();
    let text = text.trim();
    if let Some(info) = function_by_name(text) {
        return Ok(info.code);
    }
    let mut help = Vec::new();
    if let Some(near) = did_you_mean(&text.to_lowercase(), FUNCTIONS.iter().map(|f| f.name)) {
        help.push(format!("did you mean \"{near}\"?"));
    }
    help.push(format!(
        "use a function code 1-127 or one of: {}",
        function_names()
    ));
    Err((format!("unknown Modbus function \"{text}\""), help))
}

/// Names of the functions among `codes` that use address table `class`.
pub(super) fn functions_using(codes: &[u8], class: u16) -> Vec<String> {
    codes
        .iter()
        .filter(|&&code| address_classes(code) & class != 0)
        .map(|&code| function_label(code))
        .collect()
}

/// Names of every function of the language that uses address table `class`.
pub(super) fn all_functions_using(class: u16) -> String {
    FUNCTIONS
        .iter()
        .filter(|f| address_classes(f.code) & class != 0)
        .map(|f| f.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_parse() {
        let f = |s: &str| parse_function(&Scalar::Text(s.into()));
        assert_eq!(f("read_holding_registers"), Ok(3));
        assert_eq!(f("0x5A"), Ok(90));
        assert_eq!(parse_function(&Scalar::Number(16)), Ok(16));
        let (m, help) = f("read_holding_register").expect_err("typo");
        assert_eq!(m, "unknown Modbus function \"read_holding_register\"");
        assert_eq!(help[0], "did you mean \"read_holding_registers\"?");
        assert!(help[1].contains("write_single_coil"), "{help:?}");
        assert!(
            parse_function(&Scalar::Number(0))
                .is_err_and(|(m, _)| m.contains("not a Modbus request"))
        );
        assert!(
            parse_function(&Scalar::Number(131))
                .is_err_and(|(m, _)| m.contains("exception response (code 3"))
        );
        assert!(
            parse_function(&Scalar::Number(256)).is_err_and(|(m, _)| m.contains("out of range"))
        );
    }
}
