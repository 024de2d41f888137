//! `zcfw check --format sarif`: the diagnostics as a SARIF 2.1.0 log (OASIS), which code
//! scanning in CI (GitHub, GitLab, Azure DevOps) shows on the offending line.
//!
//! One run of the tool `zcfw`; two rules, `policy-error` (the policy is refused) and
//! `policy-warning` (accepted); one result per diagnostic, its message followed by the fixes,
//! located at the policy file, line and column (counted in Unicode code points, as the run
//! says in `columnKind`). The key path is in `properties.key`.

use serde_json::{Value, json};

use super::Checked;
use crate::policy::Diagnostic;

/// The SARIF schema the log declares.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The SARIF 2.1.0 log of `checked`.
pub fn report(checked: &Checked) -> Value {
    let results: Vec<Value> = checked.diagnostics.iter().map(result).collect();
    let mut log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "zcfw",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": [
                    { "id": "policy-error",
                      "shortDescription": { "text": "The policy is refused" },
                      "defaultConfiguration": { "level": "error" } },
                    { "id": "policy-warning",
                      "shortDescription": { "text": "The policy is accepted, but check this" },
                      "defaultConfiguration": { "level": "warning" } },
                ],
            }},
            "columnKind": "unicodeCodePoints",
            "artifacts": [{ "location": { "uri": uri(&checked.origin) } }],
            "results": results,
            "properties": {
                "valid": checked.valid,
                "omittedErrors": checked.omitted_errors,
                "omittedWarnings": checked.omitted_warnings,
            },
        }],
    });
    // informationUri must be an absolute URI: only when the package names its repository.
    let repository = env!("CARGO_PKG_REPOSITORY");
    if !repository.is_empty() {
        log["runs"][0]["tool"]["driver"]["informationUri"] = json!(repository);
    }
    log
}

fn result(d: &Diagnostic) -> Value {
    let (rule, level) = if d.is_error() {
        ("policy-error", "error")
    } else {
        ("policy-warning", "warning")
    };
    let mut text = d.message.clone();
    for help in &d.help {
        text.push_str("\nhelp: ");
        text.push_str(help);
    }
    let mut location = json!({ "artifactLocation": { "uri": uri(&d.origin), "index": 0 } });
    if let Some(p) = d.position {
        let mut region = json!({ "startLine": p.line, "startColumn": p.column });
        if let Some(ex) = &d.excerpt {
            region["endColumn"] = json!(p.column + ex.width.max(1));
            region["snippet"] = json!({ "text": ex.line_text });
        }
        location["region"] = region;
    }
    let mut r = json!({
        "ruleId": rule,
        "ruleIndex": usize::from(!d.is_error()),
        "level": level,
        "message": { "text": text },
        "locations": [{ "physicalLocation": location }],
    });
    if let Some(key) = &d.key {
        r["properties"] = json!({ "key": key });
    }
    r
}

/// The artifact URI of a policy origin: a relative path as given (SARIF resolves it against
/// the repository root), `<stdin>` as is.
fn uri(origin: &str) -> String {
    origin.strip_prefix("./").unwrap_or(origin).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Position, Severity};

    #[test]
    fn sarif_log_shape() {
        let src = "a: 1\nconduits:\n  - to: contrl\n";
        let mut e = Diagnostic::new(Severity::Error, "./p.yaml", "undefined zone \"contrl\"");
        e.key = Some("conduits[0].to".into());
        e.help.push("did you mean \"control\"?".into());
        e.locate(src, Position { line: 3, column: 9 });
        let w = Diagnostic::new(Severity::Warning, "./p.yaml", "whole-file warning");
        let checked = Checked {
            origin: "./p.yaml".into(),
            valid: false,
            diagnostics: vec![w, e],
            omitted_errors: 0,
            omitted_warnings: 0,
            summary: None,
            compile_failed: false,
        };
        let log = report(&checked);
        assert_eq!(log["version"], "2.1.0");
        assert_eq!(log["$schema"], SCHEMA);
        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "zcfw");
        assert_eq!(run["columnKind"], "unicodeCodePoints");
        let results = run["results"].as_array().expect("results");
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["level"], "warning");
        assert_eq!(results[0]["ruleId"], "policy-warning");
        assert!(results[0]["locations"][0]["physicalLocation"]["region"].is_null());
        let r = &results[1];
        assert_eq!(r["ruleId"], "policy-error");
        assert_eq!(r["ruleIndex"], 0);
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "p.yaml");
        assert_eq!(loc["region"]["startLine"], 3);
        assert_eq!(loc["region"]["startColumn"], 9);
        assert_eq!(loc["region"]["endColumn"], 15);
        assert_eq!(
            r["message"]["text"],
            "undefined zone \"contrl\"\nhelp: did you mean \"control\"?"
        );
        assert_eq!(r["properties"]["key"], "conduits[0].to");
        // Every result names a rule the driver declares, by id and index.
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        for r in results {
            let i = r["ruleIndex"].as_u64().expect("index") as usize;
            assert_eq!(rules[i]["id"], r["ruleId"]);
        }
    }
}
