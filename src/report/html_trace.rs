//! A trace as one self-contained HTML page (`trace --format html`): the run as a sequence
//! diagram between the parties (inline SVG), then each step with what every party learned
//! or lost, and the fact that decides the claim highlighted. No script, no external file: the
//! page opens offline and can be attached to a report.

use super::trace::{headline, parties, step_views, Decision};
use crate::check::Trace;
use crate::escape::html as esc;
use crate::scenario::Scenario;
use std::fmt::Write;

/// Width of one party's column in the diagram, and height of one step's row, in pixels.
const COLUMN: usize = 170;
const ROW: usize = 36;
const TOP: usize = 64;

const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 90em; }
h1 { font-size: 1.3em; } code, .fact { font-family: ui-monospace, monospace; }
svg { display: block; margin: 1em 0 2em; }
svg text { font-family: ui-monospace, monospace; font-size: 11px; fill: #222; }
svg .party rect { fill: #eef2f7; stroke: #6b7b93; }
svg .party text { font-weight: bold; text-anchor: middle; }
svg .lifeline { stroke: #9aa5b5; stroke-dasharray: 4 4; }
svg .arrow line { stroke: #344; stroke-width: 1.3; }
svg .arrow.dropped line { stroke-dasharray: 5 3; }
svg .note rect { fill: #fff8dc; stroke: #c9b458; }
svg .deciding line { stroke: #c0392b; stroke-width: 2.2; }
svg .deciding text { fill: #c0392b; font-weight: bold; }
svg .deciding.note rect { stroke: #c0392b; stroke-width: 2; }
ol.steps > li { margin: .6em 0; }
ol.steps ul { list-style: none; padding-left: 1.2em; margin: .2em 0; }
li.added::before { content: "+ "; color: #1e7b34; }
li.removed::before { content: "\2212\00a0"; color: #a33; }
li.removed { color: #666; }
li.deciding-step > .step { font-weight: bold; }
.violation { background: #f7c6c6; border-left: 4px solid #c0392b; padding: 0 .4em; }
.violation .tag { color: #c0392b; font-weight: bold; margin-left: 1em; }
.why { background: #f6f6f6; padding: .5em; white-space: pre-wrap; }
.legend { color: #555; }
"#;

/// The page.
pub fn html(s: &Scenario, claim: &str, what: &str, t: &Trace, decision: Decision) -> String {
    let views = step_views(s, t);
    let title = headline(s, claim, what, views.len());
    // The parties the run involves, in the usual order.
    let involved = |name: &str| {
        views.iter().any(|v| {
            v.step.from.as_deref() == Some(name)
                || v.step.to.as_deref() == Some(name)
                || v.changes.iter().any(|c| c.party == name)
        })
    };
    let columns: Vec<String> = parties(s)
        .into_iter()
        .map(|(_, role)| role.name(s))
        .filter(|n| involved(n))
        .collect();
    let x = |name: &str| {
        columns
            .iter()
            .position(|c| c == name)
            .map(|i| 20 + COLUMN / 2 + i * COLUMN)
    };
    let last = views.len();
    let deciding = |step: usize| decision.marks_last_step && step == last;
    let tag = if what.starts_with("witness") {
        "<span class=\"tag\">&#8592; reaches the claim</span>"
    } else {
        "<span class=\"tag\">&#8592; violates the claim</span>"
    };

    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\n\
         <title>{}</title>\n<style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let _ = writeln!(
        out,
        "<p class=\"legend\">{} steps between {} parties. Each step lists the facts it added \
         (+) and removed (&#8722;) party by party; {}</p>",
        views.len(),
        columns.len(),
        if decision.marks_last_step {
            "the last step is the one that decides the claim (the trace is a shortest one, so \
             in every state before it the claim's condition had not changed), and the fact that \
             decides it is among the facts it added or removed, highlighted."
        } else {
            "the claim is about the whole run: no single fact decides it."
        }
    );

    // The sequence diagram.
    // Room on the right for a label that runs past the last lifeline.
    let width = 40 + columns.len().max(1) * COLUMN + 2 * COLUMN;
    let height = TOP + (views.len() + 1) * ROW;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"sequence diagram\">"
    );
    for c in &columns {
        let cx = x(c).unwrap_or(0);
        let _ = writeln!(
            out,
            "<g class=\"party\"><rect x=\"{}\" y=\"10\" width=\"{}\" height=\"28\" rx=\"4\"/>\
             <text x=\"{cx}\" y=\"29\">{}</text></g>\n<line class=\"lifeline\" x1=\"{cx}\" \
             y1=\"38\" x2=\"{cx}\" y2=\"{}\"/>",
            cx - COLUMN / 2 + 8,
            COLUMN - 16,
            esc(c),
            height - 8
        );
    }
    for v in &views {
        let n = v.step.step;
        let y = TOP + n * ROW - ROW / 2;
        let mark = if deciding(n) { " deciding" } else { "" };
        let label = format!("{n}. {}", v.step.event);
        let from = v.step.from.as_deref().and_then(x);
        let to = v.step.to.as_deref().and_then(x);
        let _ = write!(out, "<a href=\"#step-{n}\">");
        match (from, to) {
            (Some(a), Some(b)) if a != b => {
                let dropped = if v.step.kind == "drop" {
                    " dropped"
                } else {
                    ""
                };
                let (lo, dir) = if a < b { (a, 1i64) } else { (b, -1) };
                let tip = b as i64;
                let _ = write!(
                    out,
                    "<g class=\"arrow{dropped}{mark}\"><title>{}</title><line x1=\"{a}\" y1=\"{y}\" \
                     x2=\"{b}\" y2=\"{y}\"/><line x1=\"{b}\" y1=\"{y}\" x2=\"{}\" y2=\"{}\"/>\
                     <line x1=\"{b}\" y1=\"{y}\" x2=\"{}\" y2=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
                    esc(&v.step.text),
                    tip - 8 * dir,
                    y - 4,
                    tip - 8 * dir,
                    y + 4,
                    lo + 6,
                    y - 5,
                    esc(&label)
                );
            }
            _ => {
                // A step of one party (a user action, a crash), or of nobody (a new day): a
                // note on its lifeline, or across the diagram.
                let (left, w) = match from.or(to) {
                    Some(cx) => (cx - COLUMN / 2 + 4, COLUMN - 8),
                    None => (12, width - 24),
                };
                let _ = write!(
                    out,
                    "<g class=\"note{mark}\"><title>{}</title><rect x=\"{left}\" y=\"{}\" \
                     width=\"{w}\" height=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
                    esc(&v.step.text),
                    y - ROW / 2 + 5,
                    ROW - 10,
                    left + 5,
                    y + 4,
                    esc(&label)
                );
            }
        }
        out.push_str("</a>\n");
    }
    out.push_str("</svg>\n");

    // The steps, with what each party learned.
    out.push_str("<ol class=\"steps\">\n");
    for v in &views {
        let n = v.step.step;
        let _ = write!(
            out,
            "<li id=\"step-{n}\"{}><span class=\"step\">{}</span>",
            if deciding(n) {
                " class=\"deciding-step\""
            } else {
                ""
            },
            esc(&v.step.text)
        );
        if !v.changes.is_empty() {
            out.push_str("<ul>");
            for c in &v.changes {
                for a in &c.added {
                    let _ = write!(
                        out,
                        "<li class=\"added{}\"><span class=\"fact\">{} {}</span>{}</li>",
                        if deciding(n) { " violation" } else { "" },
                        esc(&c.party),
                        esc(a),
                        if deciding(n) { tag } else { "" }
                    );
                }
                for r in &c.removed {
                    let _ = write!(
                        out,
                        "<li class=\"removed{}\"><span class=\"fact\">{} {}</span>{}</li>",
                        if deciding(n) { " violation" } else { "" },
                        esc(&c.party),
                        esc(r),
                        if deciding(n) { tag } else { "" }
                    );
                }
            }
            out.push_str("</ul>");
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ol>\n");
    if let Some(why) = decision.why {
        let _ = writeln!(out, "<h2>Why</h2>\n<p class=\"why\">{}</p>", esc(why));
    }
    out.push_str("</body></html>\n");
    out
}
