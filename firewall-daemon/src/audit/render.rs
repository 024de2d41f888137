//! The three forms of an [`AuditReport`]: text for a terminal, Markdown for an auditor's
//! file, JSON for tools (the serialized report; docs/audit.md documents its shape). None
//! of them contains terminal escape codes.

use std::fmt::Write as _;

use super::{
    AuditReport, ConduitRef, Finding, FrLevel, Requirement, RunningState, Severity, SeverityCounts,
    ZoneReport,
    header::{END_OF_HEADER_MARKDOWN, END_OF_HEADER_TEXT, body_digest, canonical_json},
    rules,
};
use crate::policy::plural;

/// Width the text form wraps its prose at.
const WIDTH: usize = 100;

/// The digest of a JSON report's body: the report without `header`, canonical (RFC 8785).
fn json_body_digest(report: &AuditReport) -> String {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.remove("header");
    }
    let mut canonical = String::new();
    canonical_json(&value, &mut canonical);
    body_digest(canonical.as_bytes())
}

/// The report as pretty-printed JSON, with a trailing newline; `header.body_sha256` is the
/// digest of the rest (docs/audit.md says how to check it).
pub fn render_json(report: &AuditReport) -> String {
    let mut report = report.clone();
    report.header.body_sha256 = Some(json_body_digest(&report));
    match serde_json::to_string_pretty(&report) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        // Serializing plain structs of strings and numbers cannot fail; keep the shape anyway.
        Err(e) => format!(
            "{{\"schema\": \"{}\", \"error\": \"{e}\"}}\n",
            report.schema
        ),
    }
}

/// `1-4`, `3-4`, `2`; a list with gaps as `1, 3`.
fn levels(l: &[u8]) -> String {
    match (l.first(), l.last()) {
        (Some(a), Some(b)) if usize::from(b - a) + 1 == l.len() && a != b => format!("{a}-{b}"),
        _ => l.iter().map(u8::to_string).collect::<Vec<_>>().join(", "),
    }
}

fn counts(c: &SeverityCounts) -> String {
    Severity::ALL
        .iter()
        .map(|&s| format!("{} {}", c.get(s), s.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends `text` wrapped at [`WIDTH`]: the first line after `first`, the others indented
/// by `indent` spaces.
fn wrap(out: &mut String, first: &str, indent: usize, text: &str) {
    let mut line = first.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(indent);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

fn rate_limit(c: &ConduitRef) -> &str {
    c.rate_limit.as_deref().unwrap_or("none")
}

/// Column where a finding's text starts: `    high    ZCFW-A001  `.
const FINDING_INDENT: usize = 23;

fn text_finding(out: &mut String, f: &Finding) {
    wrap(
        out,
        &format!("    {:<7} {}  ", f.severity.name(), f.id),
        FINDING_INDENT,
        &f.message,
    );
    let label = |l: &str| format!("{l:>width$} ", width = FINDING_INDENT - 1);
    if let Some(key) = &f.key {
        match &f.position {
            Some(p) => wrap(out, &label("at:"), FINDING_INDENT, &format!("{key} at {p}")),
            None => wrap(out, &label("at:"), FINDING_INDENT, key),
        }
    }
    wrap(out, &label("fix:"), FINDING_INDENT, &f.remediation);
}

/// The report for a terminal (plain text, no colors): the header, the line
/// [`END_OF_HEADER_TEXT`], then the body the header's digest covers.
pub fn render_text(report: &AuditReport) -> String {
    let body = text_body(report);
    let digest = body_digest(body.as_bytes());
    let mut out = String::from("zcfw audit report\n");
    for (k, v) in report.header.lines(&digest, END_OF_HEADER_TEXT) {
        let _ = writeln!(out, "  {:<15} {v}", k.to_lowercase());
    }
    out.push_str(END_OF_HEADER_TEXT);
    out.push('\n');
    out.push_str(&body);
    out
}

fn text_body(report: &AuditReport) -> String {
    let mut out = String::new();
    let p = &report.policy;
    let _ = writeln!(
        out,
        "{} audit of policy \"{}\" ({} {})",
        report.standard, p.name, report.tool.name, report.tool.version
    );
    let _ = writeln!(out, "  file      {}", p.origin);
    let _ = writeln!(out, "  sha256    {}", p.sha256);
    let _ = writeln!(
        out,
        "  policy    {} (highest target SL {}), {}, {}, {}, log {}",
        plural(p.zones, "zone"),
        p.max_security_level,
        plural(p.conduits, "conduit"),
        plural(p.rules, "rule"),
        plural(p.interfaces, "interface"),
        p.log
    );
    let _ = writeln!(out, "  findings  {}", counts(&report.summary.findings));
    let s = &report.summary.requirements;
    let _ = writeln!(
        out,
        "  coverage  {} met, {} met by the running configuration, {} partially met, {} not met",
        s.met, s.met_by_configuration, s.partially_met, s.not_met
    );

    if let Some(r) = &report.running {
        text_running(&mut out, r);
    }

    out.push_str("\nSYSTEM REQUIREMENTS\n");
    for r in &report.requirements {
        text_requirement(&mut out, r, p.max_security_level);
    }

    out.push_str("\nZONES\n");
    for z in &report.zones {
        let _ = writeln!(
            out,
            "{} (SL{}): {}",
            z.name,
            z.security_level,
            if z.findings.total() == 0 {
                "no findings".to_owned()
            } else {
                counts(&z.findings)
            }
        );
        wrap(&mut out, "    networks:   ", 16, &z.networks.join(", "));
        text_levels(&mut out, z);
        let _ = writeln!(
            out,
            "    intra-zone: {}",
            if z.intra_zone_allow {
                "allowed"
            } else {
                "denied"
            }
        );
        let _ = writeln!(
            out,
            "    interfaces: {}",
            if z.interfaces.is_empty() {
                "none lists this zone".to_owned()
            } else {
                z.interfaces.join(", ")
            }
        );
        for (label, list, arrow) in [
            ("inbound", &z.inbound, "<-"),
            ("outbound", &z.outbound, "->"),
        ] {
            if list.is_empty() {
                let _ = writeln!(out, "    {:<11} none", format!("{label}:"));
            }
            for c in list {
                wrap(
                    &mut out,
                    &format!(
                        "    {:<11} {} {arrow} {} (SL{}): ",
                        format!("{label}:"),
                        c.conduit,
                        c.zone,
                        c.security_level,
                    ),
                    16,
                    &format!(
                        "{} [rate limit: {}{}]",
                        c.rules.join("; "),
                        rate_limit(c),
                        if c.mode == "monitor" {
                            "; MONITOR MODE"
                        } else {
                            ""
                        }
                    ),
                );
                if let Some(d) = &c.description {
                    wrap(&mut out, "                ", 16, &format!("\"{d}\""));
                }
            }
        }
        for f in report.findings_in(Some(&z.name)) {
            text_finding(&mut out, f);
        }
    }

    let wide: Vec<&Finding> = report.findings_in(None).collect();
    if !wide.is_empty() {
        out.push_str("\nPOLICY-WIDE FINDINGS\n");
        for f in wide {
            text_finding(&mut out, f);
        }
    }
    out
}

fn running_summary(r: &RunningState) -> Vec<(&'static str, String)> {
    let interfaces: Vec<String> = r
        .interfaces
        .iter()
        .map(|i| {
            format!(
                "{} ({}, {})",
                i.name,
                i.xdp_mode,
                if i.enforced {
                    "enforced".to_owned()
                } else {
                    format!(
                        "NOT enforced{}",
                        i.why
                            .as_deref()
                            .map(|w| format!(": {w}"))
                            .unwrap_or_default()
                    )
                }
            )
        })
        .collect();
    vec![
        ("daemon", r.socket.clone()),
        ("policy file", r.policy_path.clone()),
        ("generation", r.generation.to_string()),
        ("loaded at", super::header::rfc3339(r.loaded_at_unix)),
        (
            "island mode",
            if r.island { "ON".into() } else { "off".into() },
        ),
        ("mode", r.mode.to_owned()),
        (
            "monitor conduits",
            if r.monitor_conduits.is_empty() {
                "none".into()
            } else {
                r.monitor_conduits.join(", ")
            },
        ),
        (
            "pinned",
            if r.pinned {
                "yes (fail close)".into()
            } else {
                "no (--ephemeral)".into()
            },
        ),
        (
            "interfaces",
            if interfaces.is_empty() {
                "none".into()
            } else {
                interfaces.join(", ")
            },
        ),
    ]
}

fn text_running(out: &mut String, r: &RunningState) {
    out.push_str("\nRUNNING DAEMON\n");
    for (k, v) in running_summary(r) {
        wrap(out, &format!("  {k:<17} "), 20, &v);
    }
}

fn level(l: Option<u8>) -> String {
    l.map_or_else(|| "-".to_owned(), |l| format!("SL{l}"))
}

fn text_levels(out: &mut String, z: &ZoneReport) {
    if z.security_levels.is_empty() {
        return;
    }
    out.push_str("    security levels (target / evidenced by zcfw):\n");
    for l in &z.security_levels {
        let _ = writeln!(
            out,
            "      {:<5} {:<42} SL{} / {:<4} {}",
            l.fr,
            l.name,
            l.target,
            level(l.achieved),
            l.status.label()
        );
        wrap(out, "            ", 12, &fr_detail(l));
    }
}

fn fr_detail(l: &FrLevel) -> String {
    if l.requirements.is_empty() {
        return "(zcfw serves none of its requirements)".to_owned();
    }
    let mut s = format!("from {}", l.requirements.join(", "));
    if !l.gaps.is_empty() {
        let _ = write!(s, "; not holding: {}", l.gaps.join(", "));
    }
    s
}

fn text_requirement(out: &mut String, r: &Requirement, max_sl: u8) {
    let mut status = r.status.label().to_owned();
    if !r.required {
        let _ = write!(status, " (not required at SL{max_sl})");
    }
    let _ = writeln!(
        out,
        "{} {} (SL {})",
        r.id,
        r.title,
        levels(&r.security_levels)
    );
    let _ = writeln!(out, "    status:   {status}");
    wrap(out, "    zcfw:     ", 14, r.zcfw);
    for e in &r.evidence {
        wrap(out, "    evidence: ", 14, e);
    }
    if !r.findings.is_empty() {
        let _ = writeln!(out, "    findings: {}", r.findings.join(", "));
    }
}

/// A Markdown table cell: no line breaks, `|` escaped.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn md_findings<'a>(out: &mut String, findings: impl Iterator<Item = &'a Finding>) {
    let list: Vec<&Finding> = findings.collect();
    if list.is_empty() {
        out.push_str("No findings.\n\n");
        return;
    }
    out.push_str("| Severity | Id | Finding | Where | Requirements | Remediation |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for f in list {
        let at = match (&f.key, &f.position) {
            (Some(k), Some(p)) => format!("`{k}` at {p}"),
            (Some(k), None) => format!("`{k}`"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            f.severity.name(),
            f.id,
            cell(&f.message),
            cell(&at),
            f.requirements.join(", "),
            cell(&f.remediation)
        );
    }
    out.push('\n');
}

/// The report as a Markdown document for an auditor: the header table, the line
/// [`END_OF_HEADER_MARKDOWN`], then the body the header's digest covers.
pub fn render_markdown(report: &AuditReport) -> String {
    let body = markdown_body(report);
    let digest = body_digest(body.as_bytes());
    let mut out = format!(
        "# {} audit of policy `{}`\n\n",
        report.standard,
        cell(&report.policy.name)
    );
    out.push_str("| Report | |\n|---|---|\n");
    for (k, v) in report.header.lines(&digest, END_OF_HEADER_MARKDOWN) {
        let _ = writeln!(out, "| {k} | {} |", cell(&v));
    }
    out.push('\n');
    out.push_str(END_OF_HEADER_MARKDOWN);
    out.push('\n');
    out.push_str(&body);
    out
}

fn markdown_body(report: &AuditReport) -> String {
    let mut out = String::new();
    let p = &report.policy;
    out.push_str("\n## Policy\n\n| | |\n|---|---|\n");
    let _ = writeln!(out, "| Policy file | `{}` |", cell(&p.origin));
    let _ = writeln!(out, "| SHA-256 | `{}` |", p.sha256);
    let _ = writeln!(
        out,
        "| Generated by | {} {} (`zcfw audit`, report schema `{}`) |",
        report.tool.name, report.tool.version, report.schema
    );
    let _ = writeln!(
        out,
        "| Zones / conduits / rules / interfaces | {} / {} / {} / {} |",
        p.zones, p.conduits, p.rules, p.interfaces
    );
    let _ = writeln!(
        out,
        "| Highest target security level | SL{} |",
        p.max_security_level
    );
    let _ = writeln!(out, "| `defaults.log` | {} |", p.log);
    let _ = writeln!(out, "| Findings | {} |", counts(&report.summary.findings));
    let s = &report.summary.requirements;
    let _ = writeln!(
        out,
        "| Requirements | {} met, {} met by the running configuration, {} partially met, {} not met |\n",
        s.met, s.met_by_configuration, s.partially_met, s.not_met
    );
    out.push_str(
        "The SHA-256 is the `hash` that `zcfw status` shows for the policy a gateway enforces.\n\n",
    );

    if let Some(r) = &report.running {
        out.push_str("## Running daemon\n\n| | |\n|---|---|\n");
        for (k, v) in running_summary(r) {
            let _ = writeln!(out, "| {k} | {} |", cell(&v));
        }
        out.push('\n');
    }

    out.push_str("## Zones and conduits\n\n```mermaid\n");
    out.push_str(&super::render_mermaid(report));
    out.push_str("```\n\n");

    out.push_str("## System requirements\n\n");
    out.push_str("| SR | Requirement | SL | Required | Status | Findings |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for r in &report.requirements {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.id,
            cell(r.title),
            levels(&r.security_levels),
            if r.required { "yes" } else { "no" },
            r.status.label(),
            r.findings.join(", ")
        );
    }
    out.push('\n');
    for r in &report.requirements {
        let _ = writeln!(out, "### {} {}: {}\n", r.id, r.title, r.status.label());
        let _ = writeln!(out, "**zcfw:** {}\n", r.zcfw);
        out.push_str("**Evidence from the policy:**\n\n");
        for e in &r.evidence {
            let _ = writeln!(out, "- {e}");
        }
        out.push('\n');
    }

    out.push_str("## Zones\n\n");
    out.push_str(
        "| Zone | SL | Networks | Intra-zone | Interfaces | High | Medium | Low | Info |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for z in &report.zones {
        let _ = writeln!(
            out,
            "| {} | SL{} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&z.name),
            z.security_level,
            z.networks.join(", "),
            if z.intra_zone_allow {
                "allowed"
            } else {
                "denied"
            },
            z.interfaces.join(", "),
            z.findings.high,
            z.findings.medium,
            z.findings.low,
            z.findings.info
        );
    }
    out.push('\n');
    for z in &report.zones {
        let _ = writeln!(
            out,
            "### Zone `{}` (SL{})\n",
            cell(&z.name),
            z.security_level
        );
        if !z.security_levels.is_empty() {
            out.push_str("| FR | Target | Evidenced by zcfw | Status | From | Not holding |\n|---|---|---|---|---|---|\n");
            for l in &z.security_levels {
                let _ = writeln!(
                    out,
                    "| {} {} | SL{} | {} | {} | {} | {} |",
                    l.fr,
                    l.name,
                    l.target,
                    level(l.achieved),
                    l.status.label(),
                    l.requirements.join(", "),
                    l.gaps.join(", ")
                );
            }
            out.push('\n');
        }
        if z.inbound.is_empty() && z.outbound.is_empty() {
            out.push_str("No conduit leads into or out of this zone.\n\n");
        } else {
            out.push_str(
                "| Direction | Conduit | Description | Peer zone | Rules | Rate limit | Mode |\n",
            );
            out.push_str("|---|---|---|---|---|---|---|\n");
            for (dir, list) in [("in from", &z.inbound), ("out to", &z.outbound)] {
                for c in list {
                    let _ = writeln!(
                        out,
                        "| {dir} | {} | {} | {} (SL{}) | {} | {} | {} |",
                        cell(&c.conduit),
                        cell(c.description.as_deref().unwrap_or("")),
                        cell(&c.zone),
                        c.security_level,
                        cell(&c.rules.join("; ")),
                        rate_limit(c),
                        c.mode
                    );
                }
            }
            out.push('\n');
        }
        md_findings(&mut out, report.findings_in(Some(&z.name)));
    }

    out.push_str("## Policy-wide findings\n\n");
    md_findings(&mut out, report.findings_in(None));

    out.push_str("## Finding rules applied\n\n");
    out.push_str("| Id | Rule | Severity | Requirements |\n|---|---|---|---|\n");
    for r in &rules::RULES {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r.id,
            cell(r.title),
            cell(r.severity),
            r.requirements.join(", ")
        );
    }
    out
}
