//! YAML → [`RawPolicy`]: the only module that calls serde_yaml. Its errors (syntax, unknown
//! keys, wrong types) become diagnostics with the line and column serde_yaml reports.

use super::{
    diag::{Diagnostic, Position, Severity, did_you_mean, list},
    locate::{KeyPath, Locator},
    raw::RawPolicy,
};

/// Deserializes `src`. On failure returns the one structural error serde_yaml stops at;
/// every semantic check happens later, on the raw policy.
pub(super) fn parse(
    src: &str,
    origin: &str,
    locator: &Locator,
) -> Result<RawPolicy, Box<Diagnostic>> {
    if src
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
    {
        let mut d = Diagnostic::new(Severity::Error, origin, "the policy file is empty");
        d.help
            .push("a policy starts with `version: 1` and `name: ...`".into());
        return Err(Box::new(d));
    }
    serde_yaml::from_str::<RawPolicy>(src).map_err(|e| {
        let position = e.location().map(|l| Position {
            line: l.line(),
            column: l.column(),
        });
        Box::new(to_diagnostic(
            &e.to_string(),
            position,
            src,
            origin,
            locator,
        ))
    })
}

/// Most unknown keys reported for one file (the first included).
const MAX_UNKNOWN_KEYS: usize = 100;

/// Source bytes the search for further unknown keys may parse again in all: each key found
/// costs one parse of the document, so a typical policy gets every unknown key reported and
/// a policy of megabytes only the first few (its last one then says so).
const UNKNOWN_KEY_BUDGET: usize = 2 * 1024 * 1024;

/// serde_yaml stops at the first unknown key; this finds the others. `first` is the
/// diagnostic [`parse`] returned: if it is an unknown key, the key is removed from the
/// document (as a YAML value) and the rest parsed again, until no unknown key is left or
/// another kind of error stops the parser (that one is reported once the keys are fixed).
/// Each further unknown key is placed in the original source with `locator`.
pub(super) fn more_unknown_keys(
    src: &str,
    first: &mut Diagnostic,
    origin: &str,
    locator: &Locator,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(mut path) = unknown_key_path(first) else {
        return out;
    };
    let Ok(mut doc) = serde_yaml::from_str::<serde_yaml::Value>(src) else {
        return out;
    };
    let mut seen = vec![path.clone()];
    let mut spent = 0usize;
    while out.len() + 1 < MAX_UNKNOWN_KEYS && remove(&mut doc, &path) {
        spent += src.len();
        if spent > UNKNOWN_KEY_BUDGET {
            let note = "the policy is large: further unknown keys were not looked for; fix \
                        these and check again";
            out.last_mut().unwrap_or(&mut *first).help.push(note.into());
            break;
        }
        let Ok(text) = serde_yaml::to_string(&doc) else {
            break;
        };
        let Err(e) = serde_yaml::from_str::<RawPolicy>(&text) else {
            break;
        };
        // Positions refer to the re-serialized text: keep only the key path.
        let mut message = e.to_string();
        if let Some(l) = e.location() {
            message = message.replace(&format!(" at line {} column {}", l.line(), l.column()), "");
        }
        let mut d = to_diagnostic(&message, None, src, origin, locator);
        let Some(next) = unknown_key_path(&d) else {
            break;
        };
        if seen.contains(&next) {
            break;
        }
        d.position = None;
        d.excerpt = None;
        if let Some(p) = locator.key(&next) {
            d.locate(src, p);
        }
        seen.push(next.clone());
        out.push(d);
        path = next;
    }
    out
}

/// The key path of an unknown-key diagnostic.
fn unknown_key_path(d: &Diagnostic) -> Option<KeyPath> {
    if !d.message.starts_with("unknown key ") {
        return None;
    }
    KeyPath::parse(d.key.as_deref()?)
}

/// Removes the node at `path` from `doc`; false if there is none.
fn remove(doc: &mut serde_yaml::Value, path: &KeyPath) -> bool {
    use super::locate::Segment;
    let Some((last, parents)) = path.segments().split_last() else {
        return false;
    };
    let mut node = doc;
    for seg in parents {
        let next = match seg {
            Segment::Key(k) => node.as_mapping_mut().and_then(|m| m.get_mut(k.as_str())),
            Segment::Index(i) => node.as_sequence_mut().and_then(|s| s.get_mut(*i)),
        };
        match next {
            Some(n) => node = n,
            None => return false,
        }
    }
    match last {
        Segment::Key(k) => node
            .as_mapping_mut()
            .and_then(|m| m.remove(k.as_str()))
            .is_some(),
        Segment::Index(_) => false,
    }
}

/// Turns serde_yaml's `path: message at line L column C` into a diagnostic with the key
/// path, the position and a fix where one can be told.
fn to_diagnostic(
    text: &str,
    position: Option<Position>,
    src: &str,
    origin: &str,
    locator: &Locator,
) -> Diagnostic {
    // The position is shown in front; drop it from the text (libyaml puts it mid-sentence:
    // "did not find expected ',' at line 9 column 14, while parsing ...").
    let owned;
    let mut text = text;
    if let Some(p) = position {
        let at = format!(" at line {} column {}", p.line, p.column);
        if let Some(i) = text.find(at.as_str()) {
            owned = format!("{}{}", &text[..i], &text[i + at.len()..]);
            text = &owned;
        }
    }
    let (path, message) = split_path(text);
    let mut d = Diagnostic::new(Severity::Error, origin, message);
    if path.is_none() && is_syntax_error(message) {
        d.message = format!("YAML syntax error: {message}");
        d.help.push(
            "check the indentation, the `:` after each key, closing brackets and quotes \
             (quote values that contain `: `, `#`, `{`, `[` or start with `$`, `*`, `&`)"
                .into(),
        );
    } else if let Some(unknown) = between_backticks(message, "unknown field ") {
        let expected = backticked(message.split_once("expected").map_or("", |(_, e)| e));
        d.message = format!("unknown key \"{unknown}\"");
        if let Some(near) = did_you_mean(&unknown, expected.iter().map(String::as_str)) {
            d.help.push(format!("did you mean \"{near}\"?"));
        }
        if !expected.is_empty() {
            d.help
                .push(format!("keys allowed here: {}", list(&expected)));
        }
        let key_path = path.clone().unwrap_or_default().key(&unknown);
        d.key = Some(key_path.to_string());
    } else if let Some(field) = between_backticks(message, "missing field ") {
        d.message = format!("missing key \"{field}\"");
        d.key = path.as_ref().map(|p| p.key(&field).to_string());
    } else {
        d.key = path
            .as_ref()
            .filter(|p| !p.is_root())
            .map(KeyPath::to_string);
        if message.contains("expected a sequence") {
            d.help
                .push("write a list, e.g. `[a, b]` or one `- item` per line".into());
        } else if message.contains("expected a map") || message.contains("expected struct") {
            d.help
                .push("write a mapping, e.g. `{ key: value }` or one `key: value` per line".into());
        } else if message.contains("expected i64") {
            d.help.push("write a whole number without quotes".into());
        }
    }
    let position = position.filter(|p| p.line > 0);
    if let Some(p) = position {
        d.locate(src, p);
    } else if let Some(p) = path.as_ref().and_then(|p| locator.value(p)) {
        d.locate(src, p);
    }
    d
}

/// serde_yaml prefixes errors below the root with the path (`zones.dmz: unknown field ...`).
fn split_path(text: &str) -> (Option<KeyPath>, &str) {
    const SERDE_PHRASES: [&str; 4] = [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ];
    if let Some((head, rest)) = text.split_once(": ") {
        let looks_like_path = !head.contains(' ') && !SERDE_PHRASES.contains(&head);
        if looks_like_path && let Some(path) = KeyPath::parse(head) {
            return (Some(path), rest);
        }
    }
    (None, text)
}

/// Whether serde_yaml's message comes from the YAML parser rather than from deserializing.
fn is_syntax_error(message: &str) -> bool {
    const SERDE: [&str; 8] = [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
        "unknown field",
        "missing field",
        "duplicate field",
        "deserializing from YAML containing more than one document",
    ];
    !SERDE.iter().any(|p| message.starts_with(p))
}

/// The backticked word right after `prefix` at the start of `text`.
fn between_backticks(text: &str, prefix: &str) -> Option<String> {
    let rest = text.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split_once('`').map(|(w, _)| w.to_owned())
}

/// Every backticked word in `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> Diagnostic {
        match parse(src, "t.yaml", &Locator::new(src)) {
            Ok(_) => panic!("expected an error for {src:?}"),
            Err(d) => *d,
        }
    }

    #[test]
    fn unknown_nested_key_with_suggestion() {
        let d = err("version: 1\nzones:\n  dmz:\n    security_level: 2\n    netwroks: [a]\n");
        assert_eq!(d.message, "unknown key \"netwroks\"");
        assert_eq!(d.key.as_deref(), Some("zones.dmz.netwroks"));
        assert_eq!(d.position, Some(Position { line: 5, column: 5 }));
        assert_eq!(d.help[0], "did you mean \"networks\"?");
        assert!(
            d.help[1].contains("intra_zone, networks, security_level"),
            "{:?}",
            d.help
        );
    }

    #[test]
    fn every_unknown_key_is_reported() {
        let src = "version: 1\nnmae: x\nzones:\n  dmz:\n    security_level: 2\n    netwroks: [a]\n  ops: { levle: 1 }\nconduits:\n  - name: c\n    form: dmz\n    rules:\n      - { protocol: tcp, prots: [22] }\n";
        let locator = Locator::new(src);
        let mut first = err(src);
        assert_eq!(first.key.as_deref(), Some("nmae"));
        let mut more = more_unknown_keys(src, &mut first, "t.yaml", &locator);
        // Found in the parser's order; shown in source order (as `Diagnostics` sorts them).
        more.sort_by_key(|d| d.position);
        let keys: Vec<_> = more
            .iter()
            .map(|d| d.key.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            [
                "zones.dmz.netwroks",
                "zones.ops.levle",
                "conduits[0].form",
                "conduits[0].rules[0].prots"
            ]
        );
        // Placed in the original source, with the suggestion.
        assert_eq!(more[0].position, Some(Position { line: 6, column: 5 }));
        assert_eq!(more[0].help[0], "did you mean \"networks\"?");
        assert_eq!(
            more[1].position,
            Some(Position {
                line: 7,
                column: 10
            })
        );
        assert_eq!(
            more[3].position,
            Some(Position {
                line: 12,
                column: 26
            })
        );
        assert!(more[3].excerpt.is_some());
        // Not an unknown key: nothing more.
        let src = "version: 1\nzones:\n  dmz: { security_level: high }\n";
        let mut first = err(src);
        assert!(more_unknown_keys(src, &mut first, "t.yaml", &Locator::new(src)).is_empty());
    }

    #[test]
    fn unknown_top_level_key() {
        let d = err("version: 1\nzone: {}\n");
        assert_eq!(d.message, "unknown key \"zone\"");
        assert_eq!(d.key.as_deref(), Some("zone"));
        assert_eq!(d.help[0], "did you mean \"zones\"?");
        assert_eq!(d.position, Some(Position { line: 2, column: 1 }));
    }

    #[test]
    fn wrong_type_keeps_path() {
        let d = err("version: 1\nzones:\n  dmz: { security_level: high }\n");
        assert_eq!(d.key.as_deref(), Some("zones.dmz.security_level"));
        assert!(
            d.message.starts_with("invalid type: string \"high\""),
            "{}",
            d.message
        );
        assert_eq!(
            d.position,
            Some(Position {
                line: 3,
                column: 26
            })
        );
        let d = err("interfaces: eth0\n");
        assert!(d.help[0].contains("list"));
        let d = err("- a\n- b\n");
        assert_eq!(d.key, None);
    }

    #[test]
    fn syntax_error_and_empty_file() {
        let d = err("version: 1\nzones: [\n");
        assert!(d.position.is_some());
        let d = err("version: 1\nname: x\n  bad: indent\n");
        assert_eq!(d.position, Some(Position { line: 3, column: 6 }));
        assert!(
            d.message.starts_with("YAML syntax error: "),
            "{}",
            d.message
        );
        let d = err("a: 1\n- { name: ${X}, b: 1 }\n");
        assert!(!d.message.contains("at line"), "{}", d.message);
        let d = err("version: 1\n---\nversion: 1\n");
        assert!(
            d.message.contains("more than one document"),
            "{}",
            d.message
        );
        let d = err("# nothing\n\n");
        assert_eq!(d.message, "the policy file is empty");
    }

    #[test]
    fn path_splitting() {
        assert_eq!(split_path("invalid type: x").0, None);
        assert_eq!(
            split_path("conduits[0].rules[1]: bad")
                .0
                .map(|p| p.to_string()),
            Some("conduits[0].rules[1]".into())
        );
        assert_eq!(split_path("unknown field `a`, expected `b`").0, None);
    }
}
