//! SARIF 2.1.0 (`check --format sarif`): one result per verdict that differs from its
//! expectation, located at the claim's key in the file's `[expect]` table and carrying the
//! counterexample or witness as a code flow, and one result per rejected file, located at its
//! error. Code-scanning services (and editors with a SARIF viewer) then annotate the line.
//! Every file read is an artifact of the run, with every verdict of its claims.

use super::{Rejected, Report};
use serde_json::{json, Value};

/// The rule of a file that could not be checked.
pub const REJECTED_RULE: &str = "scenario-rejected";

/// The SARIF log of a `check` run.
pub fn render(r: &Report, rejected: &[Rejected]) -> Value {
    // One rule per claim id checked, in order of first appearance (claims of different files
    // may share an id: the first statement describes the rule), and one for rejected files.
    let mut rules: Vec<(&str, &str)> = Vec::new();
    for c in r.scenarios.iter().flat_map(|s| &s.claims) {
        if !rules.iter().any(|(id, _)| *id == c.id) {
            rules.push((&c.id, &c.statement));
        }
    }
    rules.push((
        REJECTED_RULE,
        "A scenario file is rejected: it does not parse or does not validate.",
    ));
    let index = |id: &str| rules.iter().position(|(r, _)| *r == id).unwrap_or(0);
    let mut results = Vec::new();
    for s in &r.scenarios {
        for c in s.claims.iter().filter(|c| c.as_expected == Some(false)) {
            let expected = c.expected.map_or("nothing", |v| v.name());
            let mut text = format!(
                "`{}` is {}{}, but {} expects {expected}: {}",
                c.id,
                c.verdict.name(),
                if c.bounded {
                    format!(
                        " within a bound ({})",
                        s.bound.as_deref().unwrap_or("bounded")
                    )
                } else {
                    String::new()
                },
                s.file,
                c.statement
            );
            if let Some(note) = &c.note {
                text.push_str(&format!(" ({note})"));
            }
            let mut result = json!({
                "ruleId": c.id,
                "ruleIndex": index(&c.id),
                "level": "error",
                "message": { "text": text },
                "locations": [location(&s.file, c.expected_at.map(|p| (p.line, p.column)))],
                "properties": {
                    "scenario": s.name,
                    "verdict": c.verdict.name(),
                    "expected": expected,
                    "complete": s.complete,
                },
            });
            if let Some(trace) = &c.trace {
                let what = if c.verdict == crate::claims::Verdict::Reachable {
                    "witness for"
                } else {
                    "counterexample to"
                };
                let steps: Vec<Value> = trace
                    .iter()
                    .map(|t| {
                        json!({
                            "location": { "message": { "text": t.text } },
                            "executionOrder": t.step,
                        })
                    })
                    .collect();
                result["codeFlows"] = json!([{
                    "message": { "text": format!("{what} {} ({} steps)", c.id, trace.len()) },
                    "threadFlows": [{ "locations": steps }],
                }]);
            }
            results.push(result);
        }
    }
    for x in rejected {
        results.push(json!({
            "ruleId": REJECTED_RULE,
            "ruleIndex": index(REJECTED_RULE),
            "level": "error",
            "message": { "text": format!("{}: {}", x.file, x.message) },
            "locations": [location(&x.error_file, x.line.zip(x.column))],
        }));
    }
    // Every file read, checked or rejected, with (for those checked) every verdict: the
    // results above are only what differs.
    let mut artifacts: Vec<Value> = r
        .scenarios
        .iter()
        .map(|s| {
            let verdicts: Vec<Value> = s
                .claims
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "verdict": c.verdict.name(),
                        "bounded": c.bounded,
                        "expected": c.expected.map(|v| v.name()),
                        "as_expected": c.as_expected,
                    })
                })
                .collect();
            json!({
                "location": { "uri": uri(&s.file) },
                "roles": ["analysisTarget"],
                "properties": {
                    "scenario": s.name,
                    "complete": s.complete,
                    "unique_states": s.unique_states,
                    "verdicts": verdicts,
                },
            })
        })
        .collect();
    artifacts.extend(rejected.iter().map(|x| {
        json!({
            "location": { "uri": uri(&x.file) },
            "roles": ["analysisTarget"],
            "properties": { "rejected": x.error },
        })
    }));
    let rules: Vec<Value> = rules
        .iter()
        .map(|(id, statement)| {
            json!({
                "id": id,
                "shortDescription": { "text": statement },
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "imessage-model",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "invocations": [{ "executionSuccessful": rejected.is_empty() }],
            "artifacts": artifacts,
            "results": results,
            "properties": { "summary": r.json(rejected).summary },
        }]
    })
}

/// A physical location: the file, and the line and column when known.
fn location(file: &str, at: Option<(usize, usize)>) -> Value {
    let mut physical = json!({ "artifactLocation": { "uri": uri(file) } });
    if let Some((line, column)) = at {
        physical["region"] = json!({ "startLine": line, "startColumn": column });
    }
    json!({ "physicalLocation": physical })
}

/// A file path as a URI reference: relative paths stay relative (to the directory `check` ran
/// in, as code-scanning services expect), absolute ones become `file://` URIs; every byte
/// outside the unreserved characters and `/` is percent-encoded.
pub fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut out = String::new();
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
