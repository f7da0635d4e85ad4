//! The check report as JUnit XML, the format CI systems read: one test suite
//! per scenario, one test case per claim. A verdict that differs from its
//! expectation is a failure carrying the verdict and the text trace; a claim
//! the file expects nothing of is reported as skipped.

use super::{Report, ScenarioReport};
use std::fmt::Write;

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

fn suite(out: &mut String, s: &ScenarioReport) {
    let failures = s
        .claims
        .iter()
        .filter(|c| c.as_expected == Some(false))
        .count();
    let skipped = s.claims.iter().filter(|c| c.as_expected.is_none()).count();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.6}\">",
        xml(&format!("{}: {}", s.file, s.name)),
        s.claims.len(),
        s.seconds
    );
    let _ = writeln!(out, "    <properties>");
    for (k, v) in [
        ("file", s.file.clone()),
        ("variant", s.variant.clone()),
        ("threat", s.threat.clone()),
        ("unique_states", s.unique_states.to_string()),
        ("complete", s.complete.to_string()),
    ] {
        let _ = writeln!(out, "      <property name=\"{k}\" value=\"{}\"/>", xml(&v));
    }
    let _ = writeln!(out, "    </properties>");
    for c in &s.claims {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
            xml(&s.file),
            xml(&c.id)
        );
        match c.as_expected {
            Some(true) => out.push_str("/>\n"),
            None => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"no expectation; verdict: {}\"/>\n    </testcase>",
                    c.verdict.name()
                );
            }
            Some(false) => {
                let expected = c.expected.map_or("nothing", |e| e.name());
                let message = if let Some(note) = &c.note {
                    format!(
                        "{} on runs that end ({note}), expected {expected}",
                        c.verdict.name()
                    )
                } else if c.bounded {
                    format!(
                        "{} within {} (not a proof), expected {expected}",
                        c.verdict.name(),
                        s.bound.as_deref().unwrap_or("the bound")
                    )
                } else {
                    format!("{}, expected {expected}", c.verdict.name())
                };
                let mut body = String::new();
                if let Some(trace) = &c.trace {
                    for step in trace {
                        let _ = writeln!(body, "{:>2}. {}", step.step, step.text);
                    }
                }
                let _ = writeln!(body, "reproduce: imessage-model check {}", s.file);
                let _ = writeln!(
                    out,
                    ">\n      <failure type=\"verdict\" message=\"{}\">{}</failure>\n    </testcase>",
                    xml(&message),
                    xml(&body)
                );
            }
        }
    }
    let _ = writeln!(out, "  </testsuite>");
}

/// The whole report as a JUnit XML document.
pub fn render(r: &Report) -> String {
    let tests: usize = r.scenarios.iter().map(|s| s.claims.len()).sum();
    let failures = r
        .scenarios
        .iter()
        .flat_map(|s| &s.claims)
        .filter(|c| c.as_expected == Some(false))
        .count();
    // An empty sum of floats is -0.0; adding 0.0 makes it 0.0.
    let time: f64 = r.scenarios.iter().map(|s| s.seconds).sum::<f64>() + 0.0;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"imessage-model\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.6}\">"
    );
    for s in &r.scenarios {
        suite(&mut out, s);
    }
    out.push_str("</testsuites>\n");
    out
}
