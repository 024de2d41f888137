//! Compiler-style diagnostics: what is wrong, where (file:line:column and key path), and how
//! to fix it.
//!
//! ```text
//! policies/x.yaml:14:9: error: conduit "historian" refers to undefined zone "contrl"
//!   --> key: conduits[0].to
//!    |
//! 14 |     to: contrl
//!    |         ^^^^^^
//!   = help: did you mean "control"?
//! ```

use std::fmt;

/// A place in the policy source. Both numbers are 1-based; the column counts characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Whether a diagnostic refuses the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The policy is refused whole.
    Error,
    /// Printed, but the policy is accepted (e.g. a rule that can never match).
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One finding about a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file (or other origin) the policy came from, as given to the loader.
    pub origin: String,
    /// What is wrong, in one line.
    pub message: String,
    /// The offending key, e.g. `conduits[2].rules[0].ports[1]`; `None` for the whole file.
    pub key: Option<String>,
    /// Where the offending key or value starts, when known.
    pub position: Option<Position>,
    /// How to fix it; one `= help:` line each.
    pub help: Vec<String>,
    /// The source line at `position` and the width of the token there, for the excerpt.
    pub excerpt: Option<Excerpt>,
}

/// The source line a diagnostic points into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Excerpt {
    pub line_text: String,
    /// Characters to underline from `position.column`.
    pub width: usize,
    /// Characters of a long line left out before `line_text` (shown as one `…`).
    pub skipped: usize,
}

impl Diagnostic {
    pub fn new(severity: Severity, origin: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            origin: origin.to_owned(),
            message: message.into(),
            key: None,
            position: None,
            help: Vec::new(),
            excerpt: None,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Points the diagnostic at `position` of `source`, with an excerpt of that line.
    pub(crate) fn locate(&mut self, source: &str, position: Position) {
        self.position = Some(position);
        self.excerpt = source
            .lines()
            .nth(position.line.saturating_sub(1))
            .map(|line| excerpt(line.trim_end_matches('\r'), position.column));
    }
}

/// Longest excerpt kept: a line of 80,000 ports is shown around the offending one.
const EXCERPT_CHARS: usize = 160;

/// The excerpt of `line` for a diagnostic at `column` (1-based, in characters): the whole line,
/// or for a long one the [`EXCERPT_CHARS`] around the column, with `…` where it was cut.
fn excerpt(line: &str, column: usize) -> Excerpt {
    let width = token_width(line, column);
    if line.len() <= EXCERPT_CHARS {
        return Excerpt {
            line_text: line.to_owned(),
            width,
            skipped: 0,
        };
    }
    let start = column.saturating_sub(1).saturating_sub(EXCERPT_CHARS / 3);
    let kept: String = line.chars().skip(start).take(EXCERPT_CHARS).collect();
    let more = line.chars().count() > start + EXCERPT_CHARS;
    let mut text = String::new();
    if start > 0 {
        text.push('…');
    }
    text.push_str(&kept);
    if more {
        text.push('…');
    }
    Excerpt {
        line_text: text,
        width: width.min(EXCERPT_CHARS),
        // The leading `…` stands for the skipped characters; one column of it is shown.
        skipped: start.saturating_sub(usize::from(start > 0)),
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{}:{}: ", self.origin, p)?,
            None => write!(f, "{}: ", self.origin)?,
        }
        write!(f, "{}: {}", self.severity, self.message)?;
        if let Some(key) = &self.key {
            write!(f, "\n  --> key: {key}")?;
        }
        if let (Some(p), Some(ex)) = (self.position, &self.excerpt) {
            let gutter = " ".repeat(p.line.to_string().len());
            let pad: String = ex
                .line_text
                .chars()
                .take(p.column.saturating_sub(1).saturating_sub(ex.skipped))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(
                f,
                "\n{gutter} |\n{} | {}\n{gutter} | {pad}{}",
                p.line,
                ex.line_text,
                "^".repeat(ex.width.max(1))
            )?;
        }
        for help in &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

/// A diagnostic for tools (`zcfw check --format json`). Field names are stable; fields are
/// only ever added.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct JsonDiagnostic {
    /// The file (or `<stdin>`) the policy came from.
    pub file: String,
    /// 1-based line and column (in characters) where the offending key or value starts;
    /// `null` for a finding about the whole file.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Characters of the offending token from `column` (`null` when not located).
    pub width: Option<usize>,
    /// `error` (the policy is refused) or `warning` (accepted).
    pub severity: &'static str,
    /// The key path, e.g. `conduits[2].rules[0].ports[1]` (`null`: the whole file).
    pub key: Option<String>,
    pub message: String,
    /// How to fix it, one sentence each (the `= help:` lines).
    pub fix: Vec<String>,
}

impl Diagnostic {
    /// This diagnostic for tools.
    pub fn to_json(&self) -> JsonDiagnostic {
        JsonDiagnostic {
            file: self.origin.clone(),
            line: self.position.map(|p| p.line),
            column: self.position.map(|p| p.column),
            width: self
                .position
                .and(self.excerpt.as_ref())
                .map(|e| e.width.max(1)),
            severity: match self.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            key: self.key.clone(),
            message: self.message.clone(),
            fix: self.help.clone(),
        }
    }
}

/// Every diagnostic of one policy, errors and warnings, in source order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics {
    origin: String,
    items: Vec<Diagnostic>,
    /// Errors and warnings found but not kept (beyond the limit of what is kept).
    omitted_errors: usize,
    omitted_warnings: usize,
}

impl Diagnostics {
    pub(crate) fn new(origin: &str, mut items: Vec<Diagnostic>) -> Self {
        // Whole-file findings first, then by position; stable, so equal places keep the
        // order they were found in.
        items.sort_by_key(|d| d.position.map(|p| (p.line, p.column)));
        Diagnostics {
            origin: origin.to_owned(),
            items,
            omitted_errors: 0,
            omitted_warnings: 0,
        }
    }

    /// These diagnostics, and `errors` and `warnings` more that were counted, not kept.
    pub(crate) fn with_omitted(mut self, errors: usize, warnings: usize) -> Self {
        self.omitted_errors = errors;
        self.omitted_warnings = warnings;
        self
    }

    /// The origin (file name) the diagnostics refer to.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// All diagnostics, errors and warnings, in source order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| !d.is_error())
    }

    /// Errors found, including those not kept.
    pub fn error_count(&self) -> usize {
        self.errors().count() + self.omitted_errors
    }

    /// Warnings found, including those not kept.
    pub fn warning_count(&self) -> usize {
        self.warnings().count() + self.omitted_warnings
    }

    pub fn has_errors(&self) -> bool {
        self.omitted_errors > 0 || self.items.iter().any(Diagnostic::is_error)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "{d}\n")?;
        }
        let omitted = self.omitted_errors + self.omitted_warnings;
        if omitted > 0 {
            writeln!(
                f,
                "{}: and {omitted} more not shown ({}, {}); fix the ones above first\n",
                self.origin,
                plural(self.omitted_errors, "error"),
                plural(self.omitted_warnings, "warning")
            )?;
        }
        let errors = self.error_count();
        let warnings = self.items.len() + self.omitted_warnings + self.omitted_errors - errors;
        write!(
            f,
            "{}: policy refused: {}",
            self.origin,
            plural(errors, "error")
        )?;
        if warnings > 0 {
            write!(f, ", {}", plural(warnings, "warning"))?;
        }
        Ok(())
    }
}

/// `1 error`, `2 errors`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Width of the YAML token that starts at 1-based `column` of `line`: a quoted scalar to its
/// closing quote, a flow collection to its closing bracket, a plain scalar or key up to `: `,
/// `,`, `]`, `}`, ` #` or the end of the line.
fn token_width(line: &str, column: usize) -> usize {
    let rest: Vec<char> = line.chars().skip(column.saturating_sub(1)).collect();
    let Some(&first) = rest.first() else {
        return 1;
    };
    match first {
        '"' | '\'' => {
            let mut i = 1;
            while i < rest.len() {
                if first == '"' && rest[i] == '\\' {
                    i += 2;
                    continue;
                }
                if rest[i] == first {
                    if first == '\'' && rest.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    return i + 1;
                }
                i += 1;
            }
            rest.len()
        }
        '{' | '[' => {
            let close = if first == '{' { '}' } else { ']' };
            let mut depth = 0usize;
            for (i, &c) in rest.iter().enumerate() {
                if c == first {
                    depth += 1;
                } else if c == close {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
            }
            1
        }
        _ => {
            let mut end = rest.len();
            for i in 0..rest.len() {
                let c = rest[i];
                let next = rest.get(i + 1).copied();
                let ends_here = matches!(c, ',' | ']' | '}')
                    || (c == ':' && matches!(next, None | Some(' ' | '\t')))
                    || (c == '#' && i > 0 && rest[i - 1].is_whitespace());
                if ends_here {
                    end = i;
                    break;
                }
            }
            let width = rest[..end]
                .iter()
                .rposition(|c| !c.is_whitespace())
                .map_or(0, |p| p + 1);
            width.max(1)
        }
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
/// The distance counts insertions, deletions, substitutions and transpositions of adjacent
/// characters (optimal string alignment), so `lgo` is one edit from `log`.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// `a, b, c` (sorted), or `a, b, c, ... (N more)` past ten.
pub fn list(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let mut names: Vec<String> = names.into_iter().map(|n| n.as_ref().to_owned()).collect();
    names.sort();
    if names.len() > 10 {
        let more = names.len() - 10;
        names.truncate(10);
        format!("{}, ... ({more} more)", names.join(", "))
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_widths() {
        assert_eq!(token_width("    to: contrl   # typo", 9), 6);
        assert_eq!(token_width("    netwroks: [a]", 5), 8);
        assert_eq!(
            token_width("  dmz: { networks: [\"fd00::/64\", x] }", 21),
            11
        );
        assert_eq!(token_width("  ports: [22, 70000]", 15), 5);
        assert_eq!(token_width("  ports: [22, 70000]", 10), 11);
        assert_eq!(token_width("  - 'it''s'", 5), 7);
        assert_eq!(token_width("networks: [fd00:20::/64]", 12), 12);
        assert_eq!(token_width("x", 5), 1);
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("contrl", ["control", "dmz"]), Some("control"));
        assert_eq!(
            did_you_mean("netwroks", ["networks", "security_level"]),
            Some("networks")
        );
        assert_eq!(did_you_mean("zzz", ["control", "dmz"]), None);
        assert_eq!(strsim::osa_distance("kitten", "sitting"), 3);
        assert_eq!(strsim::osa_distance("lgo", "log"), 1);
        assert_eq!(did_you_mean("lgo", ["log", "mode"]), Some("log"));
    }

    #[test]
    fn renders_like_a_compiler() {
        let src = "a: 1\nconduits:\n  - to: contrl\n";
        let mut d = Diagnostic::new(Severity::Error, "p.yaml", "undefined zone \"contrl\"");
        d.key = Some("conduits[0].to".into());
        d.help.push("did you mean \"control\"?".into());
        d.locate(src, Position { line: 3, column: 9 });
        assert_eq!(
            d.to_string(),
            "p.yaml:3:9: error: undefined zone \"contrl\"\n  --> key: conduits[0].to\n  |\n\
             3 |   - to: contrl\n  |         ^^^^^^\n  = help: did you mean \"control\"?"
        );
    }

    #[test]
    fn summary_counts_errors_and_warnings() {
        let e = Diagnostic::new(Severity::Error, "p.yaml", "bad");
        let w = Diagnostic::new(Severity::Warning, "p.yaml", "meh");
        let all = Diagnostics::new("p.yaml", vec![w, e.clone(), e]);
        assert!(
            all.to_string()
                .ends_with("p.yaml: policy refused: 2 errors, 1 warning")
        );
        assert_eq!(all.error_count(), 2);
    }
}
