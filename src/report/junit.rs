//! The check report as JUnit XML, the format CI systems read: one test suite
//! per scenario, one test case per claim with an expectation. A verdict that differs from its
//! expectation is a failure carrying the verdict and the text trace; a claim
//! the file expects nothing of is no test case (with `--junit-all`, a skipped one); a file that
//! was rejected is a test suite whose one test case is in error.

use super::{Rejected, Report, ScenarioReport};
use crate::escape::{xml_attribute as attr, xml_text};
use std::fmt::Write;

/// The claims of a scenario that are test cases: those with an expectation, or every claim
/// with `all` (claims without one are then skipped cases).
fn cases(s: &ScenarioReport, all: bool) -> impl Iterator<Item = &super::ClaimReport> {
    s.claims
        .iter()
        .filter(move |c| all || c.as_expected.is_some())
}

fn suite(out: &mut String, s: &ScenarioReport, all: bool) {
    let failures = s
        .claims
        .iter()
        .filter(|c| c.as_expected == Some(false))
        .count();
    let skipped = cases(s, all).filter(|c| c.as_expected.is_none()).count();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.6}\">",
        attr(&format!("{}: {}", s.file, s.name)),
        cases(s, all).count(),
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
        let _ = writeln!(out, "      <property name=\"{k}\" value=\"{}\"/>", attr(&v));
    }
    let _ = writeln!(out, "    </properties>");
    for c in cases(s, all) {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
            attr(&s.file),
            attr(&c.id)
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
                    format!("{} ({note}), expected {expected}", c.verdict.name())
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
                    attr(&message),
                    xml_text(&body)
                );
            }
        }
    }
    let _ = writeln!(out, "  </testsuite>");
}

/// The whole report as a JUnit XML document: a test case per claim with an expectation.
pub fn render(r: &Report) -> String {
    render_with(r, &[], false)
}

/// The whole report as a JUnit XML document, with a test suite per rejected file holding one
/// test case in error: the file's located error. With `all`, every claim is a test case
/// (those without an expectation skipped); otherwise only claims with an expectation are.
pub fn render_with(r: &Report, rejected: &[Rejected], all: bool) -> String {
    let tests: usize = r.scenarios.iter().map(|s| cases(s, all).count()).sum();
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
        "<testsuites name=\"imessage-model\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\" time=\"{time:.6}\">",
        tests + rejected.len(),
        rejected.len()
    );
    for s in &r.scenarios {
        suite(&mut out, s, all);
    }
    for x in rejected {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"0\">\n    <testcase classname=\"{}\" name=\"scenario file\" time=\"0\">\n      <error type=\"rejected\" message=\"the file was rejected\">{}</error>\n    </testcase>\n  </testsuite>",
            attr(&x.file),
            attr(&x.file),
            xml_text(&x.error)
        );
    }
    out.push_str("</testsuites>\n");
    out
}
