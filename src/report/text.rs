//! The text report: one block per scenario, then a summary line.

use super::{count, group, ClaimReport, Report, ScenarioReport, Summary};
use crate::claims::ClaimKind;
use std::fmt::Write;

/// Renders a whole report, safe to show on a terminal (see [`crate::escape::terminal`]).
/// `timings` adds seconds and states per second (off in snapshots).
pub fn render(report: &Report, timings: bool) -> String {
    let mut out = String::new();
    for s in &report.scenarios {
        scenario(&mut out, s, timings);
    }
    summary(&mut out, report, timings);
    crate::escape::terminal(&out)
}

fn verdict_text(c: &ClaimReport, s: &ScenarioReport) -> String {
    let note = c.note.as_deref().unwrap_or("");
    if note.starts_with("a cycle") {
        format!("{} on runs that end (a cycle avoids it)", c.verdict.name())
    } else if note.starts_with("holds vacuously") {
        "holds vacuously".to_string()
    } else if !note.is_empty() {
        format!("{} (see the note below)", c.verdict.name())
    } else if c.bounded {
        format!(
            "{} within {}",
            c.verdict.name(),
            s.bound.as_deref().unwrap_or("the bound")
        )
    } else {
        c.verdict.name().to_string()
    }
}

fn scenario(out: &mut String, s: &ScenarioReport, timings: bool) {
    let _ = writeln!(out, "{}: {}", s.file, s.name);
    let _ = write!(
        out,
        "  {}, {} unique, depth {}, reduction {}, {}",
        count(s.states, "state"),
        group(s.unique_states),
        s.max_depth,
        s.reduction.name(),
        if s.complete {
            "complete".to_string()
        } else {
            format!(
                "NOT complete: stopped at {}",
                s.bound.as_deref().unwrap_or("a bound")
            )
        }
    );
    for class in &s.symmetry {
        let _ = write!(out, ", symmetry over {}", class.join(" "));
    }
    if timings {
        let _ = write!(
            out,
            ", {:.2} s, {} unique states/s",
            s.seconds,
            group((s.unique_states as f64 / s.seconds.max(1e-9)) as usize)
        );
    }
    out.push('\n');
    let width = s.claims.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &s.claims {
        let mark = match c.as_expected {
            Some(true) => "ok  ",
            Some(false) => "DIFF",
            None => "    ",
        };
        let expected = match c.expected {
            Some(e) => format!("expected {}", e.name()),
            None => "no expectation".to_string(),
        };
        let _ = writeln!(
            out,
            "  {mark} {:width$}  {:12} ({expected})",
            c.id,
            verdict_text(c, s),
        );
    }
    for c in &s.claims {
        match c.note.as_deref() {
            Some(n) if !n.starts_with("a cycle") => {
                let _ = writeln!(out, "\n  note on {}: {n}", c.id);
            }
            _ => {}
        }
    }
    for c in &s.claims {
        let Some(trace) = &c.trace else { continue };
        let what = match c.kind {
            ClaimKind::Always | ClaimKind::Eventually | ClaimKind::LeadsTo => "counterexample to",
            ClaimKind::Sometimes => "witness for",
        };
        let _ = writeln!(
            out,
            "\n  {what} {} ({} step{}):",
            c.id,
            trace.len(),
            if trace.len() == 1 { "" } else { "s" }
        );
        for step in trace {
            let _ = writeln!(out, "    {:>2}. {}", step.step, step.text);
        }
    }
    if s.claims.iter().any(|c| c.as_expected == Some(false)) {
        let _ = writeln!(out, "\n  reproduce: imessage-model check {}", s.file);
    }
    out.push('\n');
}

fn summary(out: &mut String, r: &Report, timings: bool) {
    let Summary {
        files,
        as_expected: met,
        differ,
        without_expectation: unexpected,
        incomplete,
        unique_states: unique,
        ..
    } = r.summary();
    let _ = write!(
        out,
        "{} scenario{}: {met} verdicts as expected, {differ} differ, {unexpected} without expectation; \
         {}{}",
        files,
        if files == 1 { "" } else { "s" },
        count(unique, "unique state"),
        if incomplete > 0 {
            format!(", {} NOT complete", count(incomplete, "scenario"))
        } else {
            ", every scenario complete".to_string()
        },
    );
    if timings {
        // An empty sum of floats is -0.0, which would print as `-0.00 s`; adding 0.0 makes it 0.0.
        let secs: f64 = r.scenarios.iter().map(|s| s.seconds).sum::<f64>() + 0.0;
        let _ = write!(out, ", {secs:.2} s of checking");
    }
    out.push('\n');
}
