//! The text form of a [`PolicyDiff`] (`zcfw diff`, `zcfw reload --dry-run`).

use std::fmt::Write;

use super::{Change, Effect, Object, PolicyDiff};

impl PolicyDiff {
    /// The changes for people: one block per object, one line per change.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "--- {} (policy \"{}\", sha256 {})",
            self.old.origin,
            self.old.name,
            short(&self.old.sha256)
        );
        let _ = writeln!(
            out,
            "+++ {} (policy \"{}\", sha256 {})",
            self.new.origin,
            self.new.name,
            short(&self.new.sha256)
        );
        if self.changes.is_empty() {
            out.push_str("no difference: both policies enforce the same\n");
            return out;
        }
        let mut heading: Option<(Object, &str)> = None;
        for c in &self.changes {
            if heading != Some((c.object, c.name.as_str())) {
                heading = Some((c.object, c.name.as_str()));
                if c.name.is_empty() {
                    let _ = writeln!(out, "{}", c.object.name());
                } else {
                    let _ = writeln!(out, "{} {}", c.object.name(), c.name);
                }
            }
            let _ = writeln!(
                out,
                "  {} {:<7} {}",
                c.effect.sign(),
                c.effect.name(),
                line(c)
            );
        }
        let _ = writeln!(
            out,
            "{}: {} open, {} close, {} other",
            crate::policy::plural(self.changes.len(), "change"),
            self.opens,
            self.closes,
            self.changes_other
        );
        out
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// The text of one change after its effect.
fn line(c: &Change) -> String {
    let mut s = String::new();
    if let Some(rule) = &c.rule {
        match (c.old_rule, c.new_rule) {
            (_, Some(n)) => {
                let _ = write!(s, "rule {n} ({rule})");
            }
            (Some(o), None) => {
                let _ = write!(s, "rule {o} ({rule})");
            }
            (None, None) => s.push_str(rule),
        }
        if c.field == "added" || c.field == "removed" {
            let _ = write!(s, " {}", c.field);
            if let Some(detail) = c.new.as_ref().or(c.old.as_ref()) {
                let _ = write!(s, ": {detail}");
            }
            return s;
        }
        s.push_str(": ");
    }
    match c.field.as_str() {
        "added" | "removed" => {
            let _ = write!(s, "{}", c.field);
            if let Some(new) = &c.new {
                let _ = write!(s, " ({new})");
            } else if let Some(old) = &c.old {
                let _ = write!(s, " ({old})");
            }
        }
        field => {
            s.push_str(field);
            if !c.items.is_empty() {
                let _ = write!(
                    s,
                    " {}{}",
                    if c.effect == Effect::Closes { "-" } else { "+" },
                    c.items.join(", ")
                );
            }
            match (&c.old, &c.new) {
                (Some(o), Some(n)) => {
                    let _ = write!(s, " {o} -> {n}");
                }
                (None, Some(n)) => {
                    let _ = write!(s, " (none) -> {n}");
                }
                (Some(o), None) => {
                    let _ = write!(s, " {o} -> (none)");
                }
                (None, None) => {}
            }
        }
    }
    s
}
