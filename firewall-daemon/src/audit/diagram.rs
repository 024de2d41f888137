//! The zone and conduit diagram of a report: Graphviz DOT (`zcfw audit --format dot`) and
//! Mermaid (`--format mermaid`, also embedded in the Markdown report). Zones are nodes
//! (name, target SL, networks, finding counts), conduits are edges from the zone that opens
//! the flow to the zone it reaches (name, rules, rate limit, description).

use std::fmt::Write as _;

use super::{AuditReport, ConduitRef, ZoneReport};

/// A DOT string literal's content: `"` and `\` escaped, line breaks as DOT's `\n`.
fn dot_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text for a Mermaid quoted label: characters that end or break it as entity codes.
fn mermaid_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The lines of a zone's node label.
fn zone_lines(z: &ZoneReport) -> Vec<String> {
    let mut lines = vec![z.name.clone(), format!("SL{}", z.security_level)];
    if let Some(t) = &z.security_level_target {
        lines.push(format!(
            "SL-T [{}]",
            t.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
        ));
    }
    lines.push(z.networks.join(", "));
    if z.findings.total() > 0 {
        lines.push(format!(
            "findings: {} high, {} medium",
            z.findings.high, z.findings.medium
        ));
    }
    lines
}

/// The lines of a conduit's edge label.
fn conduit_lines(c: &ConduitRef) -> Vec<String> {
    let mut lines = vec![c.conduit.clone()];
    if let Some(d) = &c.description {
        lines.push(d.clone());
    }
    lines.extend(c.rules.iter().cloned());
    if let Some(r) = &c.rate_limit {
        lines.push(format!("rate limit {r}"));
    }
    if c.mode == "monitor" {
        lines.push("MONITOR MODE".into());
    }
    lines
}

fn edges(report: &AuditReport) -> impl Iterator<Item = (usize, usize, &ConduitRef)> {
    let index = |name: &str| report.zones.iter().position(|z| z.name == name);
    report.zones.iter().enumerate().flat_map(move |(from, z)| {
        z.outbound
            .iter()
            .filter_map(move |c| index(&c.zone).map(|to| (from, to, c)))
    })
}

/// The diagram as a Graphviz digraph (`dot -Tsvg` renders it).
pub fn render_dot(report: &AuditReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph zcfw {{");
    let _ = writeln!(
        out,
        "  label=\"{}\";\n  labelloc=t;\n  rankdir=LR;\n  node [shape=box, style=rounded];",
        dot_str(&format!(
            "{} zones and conduits of policy {} (sha256 {})",
            report.standard, report.policy.name, report.policy.sha256
        ))
    );
    for (i, z) in report.zones.iter().enumerate() {
        let color = match z.security_level {
            4 => "red",
            3 => "orange",
            2 => "gold",
            _ => "gray40",
        };
        let label: Vec<String> = zone_lines(z).iter().map(|l| dot_str(l)).collect();
        let _ = writeln!(
            out,
            "  z{i} [label=\"{}\", color={color}, penwidth={}];",
            label.join("\\n"),
            if z.findings.high > 0 { 3 } else { 1 }
        );
    }
    for (from, to, c) in edges(report) {
        let label: Vec<String> = conduit_lines(c).iter().map(|l| dot_str(l)).collect();
        let style = if c.mode == "monitor" {
            ", style=dashed"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  z{from} -> z{to} [label=\"{}\", tooltip=\"{}\"{style}];",
            label.join("\\n"),
            dot_str(c.description.as_deref().unwrap_or(&c.conduit))
        );
    }
    out.push_str("}\n");
    out
}

/// The diagram as a Mermaid flowchart (without the Markdown fence).
pub fn render_mermaid(report: &AuditReport) -> String {
    let mut out = String::from("flowchart LR\n");
    for (i, z) in report.zones.iter().enumerate() {
        let label: Vec<String> = zone_lines(z).iter().map(|l| mermaid_str(l)).collect();
        let _ = writeln!(out, "    z{i}[\"{}\"]", label.join("<br/>"));
    }
    for (from, to, c) in edges(report) {
        let label: Vec<String> = conduit_lines(c).iter().map(|l| mermaid_str(l)).collect();
        let arrow = if c.mode == "monitor" { "-.->" } else { "-->" };
        let _ = writeln!(
            out,
            "    z{from} {arrow}|\"{}\"| z{to}",
            label.join("<br/>")
        );
    }
    for (i, z) in report.zones.iter().enumerate() {
        let style = match z.security_level {
            4 => "stroke:#c00,stroke-width:3px",
            3 => "stroke:#e80,stroke-width:2px",
            2 => "stroke:#cb0",
            _ => "stroke:#666",
        };
        let _ = writeln!(out, "    style z{i} {style}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(dot_str("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(mermaid_str("a\"b|c<d>#"), "a#quot;b#124;c#lt;d#gt;#35;");
    }
}
