//! `security_modes:`: whether channels of a signing policy may use SignAndEncrypt, whose
//! bodies zcfw cannot read. The OpenSecureChannel does not say which mode a channel uses
//! (its body is encrypted on every policy but `None`), so the mode is a promise of the
//! policy author, not something the data path checks: `sign` (the default) judges every
//! body as cleartext and denies an encrypted one (`opcua_encrypted`); `sign_and_encrypt`
//! lets the bodies of channels of a policy other than `None` pass unjudged.

use super::super::{Checker, Help, KeyPath};
use crate::policy::{diag::did_you_mean, raw::Scalar};

/// The names `security_modes` takes, in the order of the docs.
pub(super) const MODES: [&str; 2] = ["sign", "sign_and_encrypt"];

/// What `security_modes:` lists (absent: `[sign]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Modes {
    /// The key was written.
    pub given: bool,
    pub sign: bool,
    pub sign_and_encrypt: bool,
}

/// A mode name (any case, `-` for `_`): `true` for `sign_and_encrypt`.
pub(super) fn parse_mode(s: &Scalar) -> Result<bool, (String, Vec<String>)> {
    let text = s.to_string();
    let text = text.trim();
    let norm = text.to_lowercase().replace('-', "_");
    match norm.as_str() {
        "sign" => return Ok(false),
        "sign_and_encrypt" | "signandencrypt" => return Ok(true),
        _ => {}
    }
    let mut help = Vec::new();
    if norm == "none" {
        help.push(
            "mode None goes with security policy `None` only: list `None` under `security_policies`"
                .to_owned(),
        );
    } else if let Some(near) = did_you_mean(&norm, MODES) {
        help.push(format!("did you mean \"{near}\"?"));
    }
    help.push("use `sign`, `sign_and_encrypt`, or both".to_owned());
    Err((format!("unknown OPC UA security mode \"{text}\""), help))
}

/// Checks `security_modes:` of the block at `bp`; `None` on errors (reported).
pub(super) fn check_modes(
    c: &mut Checker<'_>,
    bp: &KeyPath,
    list: Option<&[Scalar]>,
) -> Option<Modes> {
    let Some(list) = list else {
        return Some(Modes {
            sign: true,
            ..Modes::default()
        });
    };
    let mp = bp.key("security_modes");
    if list.is_empty() {
        c.error(&mp, "empty security mode list")
            .help("omit the key for `[sign]`, or list `sign`, `sign_and_encrypt` or both");
        return None;
    }
    let mut modes = Modes {
        given: true,
        ..Modes::default()
    };
    let (items, ok) = c.parse_items(&mp, list, parse_mode);
    for (kp, encrypt) in items {
        let seen = if encrypt {
            &mut modes.sign_and_encrypt
        } else {
            &mut modes.sign
        };
        if *seen {
            c.warning(
                &kp,
                format!(
                    "security mode `{}` is listed twice",
                    MODES[usize::from(encrypt)]
                ),
            )
            .help("remove the repeated entry");
        }
        *seen = true;
    }
    ok.then_some(modes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        let m = |t: &str| parse_mode(&Scalar::Text(t.into()));
        assert_eq!(m("sign"), Ok(false));
        assert_eq!(m("SignAndEncrypt"), Ok(true));
        assert_eq!(m("sign-and-encrypt"), Ok(true));
        let (msg, help) = m("sing").expect_err("typo");
        assert_eq!(msg, "unknown OPC UA security mode \"sing\"");
        assert_eq!(help[0], "did you mean \"sign\"?");
        let (_, help) = m("None").expect_err("none");
        assert!(help[0].contains("security_policies"), "{help:?}");
        assert!(m("encrypt").is_err());
    }
}
