//! The results matrix as Markdown (committed as `docs/matrix.md`) and as a
//! self-contained HTML page; the findings from the literature, checked
//! against it.

use crate::claims::{Verdict, CATALOGUE};
use crate::matrix::Matrix;
use crate::report::{group, ClaimReport};
use std::fmt::Write;

/// A result from the literature, and the cells that must show it.
pub struct Finding {
    pub statement: &'static str,
    pub source: &'static str,
    /// What the cells show, in a sentence or two (README.md and docs/matrix.md print it).
    pub detail: &'static str,
    /// (variant, threat, claim, verdict) that the matrix must contain.
    pub cells: &'static [(&'static str, &'static str, &'static str, Verdict)],
}

/// The findings the matrix reproduces.
pub const FINDINGS: [Finding; 9] = [
    Finding {
        statement: "A lookup is logged although no message is sent.",
        source: "the 2016 law-enforcement FAQ",
        detail: "`lookup-logged-without-message` is reachable under `imessage-2016`: B/1 looks C up and never writes to C, and the log keeps the record.",
        cells: &[("imessage-2016", "honest", "lookup-logged-without-message", Verdict::Reachable)],
    },
    Finding {
        statement: "A ghost device reads content silently without Contact Key Verification, and is caught with it.",
        source: "the ghost-user proposal; Contact Key Verification",
        detail: "`no-server-learns-content` and `ghost-device-detected` are violated under `imessage-2016 / ghost-device` and hold under `imessage-ckv / ghost-device`; `content-authentic` is likewise violated under `key-swap` except with CKV.",
        cells: &[
            ("imessage-2016", "ghost-device", "no-server-learns-content", Verdict::Violated),
            ("imessage-2016", "ghost-device", "ghost-device-detected", Verdict::Violated),
            ("imessage-ckv", "ghost-device", "no-server-learns-content", Verdict::Holds),
            ("imessage-ckv", "ghost-device", "ghost-device-detected", Verdict::Holds),
        ],
    },
    Finding {
        statement: "Private discovery takes the target out of the log: a court order no longer reveals who looked up whom.",
        source: "Signal's private contact discovery",
        detail: "`authority-learns-contact` is reachable under `imessage-2016` and unreachable under `private-discovery`, while `authority-links-handle-to-ip` stays reachable: the order still ties the requester to an address.",
        cells: &[
            ("imessage-2016", "honest", "authority-learns-contact", Verdict::Reachable),
            ("private-discovery", "honest", "authority-learns-contact", Verdict::Unreachable),
            ("private-discovery", "honest", "authority-links-handle-to-ip", Verdict::Reachable),
        ],
    },
    Finding {
        statement: "Sealed sender hides the sender from the relay.",
        source: "Signal's sealed sender",
        detail: "`relay-learns-contact` is reachable under `private-discovery` and unreachable under `sealed-sender`.",
        cells: &[
            ("private-discovery", "honest", "relay-learns-contact", Verdict::Reachable),
            ("sealed-sender", "honest", "relay-learns-contact", Verdict::Unreachable),
        ],
    },
    Finding {
        statement: "Sealed sender does not hide the sender from the operator, who sees the connection a message is pushed on and knows whose device it is.",
        source: "Signal's sealed sender; Martiny et al., 'Improving Signal's Sealed Sender' (NDSS 2021)",
        detail: "`operator-learns-contact` is reachable under `sealed-sender` as under `imessage-2016`: the relay sees the connection a push arrives on (the pushing device's token) and the directory knows whose device that is.",
        cells: &[
            ("sealed-sender", "honest", "operator-learns-contact", Verdict::Reachable),
            ("imessage-2016", "honest", "operator-learns-contact", Verdict::Reachable),
        ],
    },
    Finding {
        statement: "SMS fallback puts plaintext at the carrier, and an empty answer downgrades even a message to an iMessage user to SMS; no server learns the content.",
        source: "Apple Platform Security guide",
        detail: "`sms-fallback-exposes-content` is reachable (A writes to unregistered C); `no-downgrade-to-sms` holds under `honest` and is violated under `empty-answer`, where even B's message goes by SMS; `no-server-learns-content` holds either way.",
        cells: &[
            ("imessage-2016", "honest", "sms-fallback-exposes-content", Verdict::Reachable),
            ("imessage-2016", "honest", "no-downgrade-to-sms", Verdict::Holds),
            ("imessage-2016", "empty-answer", "no-downgrade-to-sms", Verdict::Violated),
            ("imessage-2016", "empty-answer", "no-server-learns-content", Verdict::Holds),
        ],
    },
    Finding {
        statement: "With delivery receipts, sealed sender does not hide the sender from the relay alone: the receipt goes back to the sender's account through the relay, which learns whose device pushed the message.",
        source: "Martiny, Kaptchuk, Aviv, Roche, Wustrow, 'Improving Signal's Sealed Sender' (NDSS 2021)",
        detail: "`relay-links-sealed-sender` (`claims/receipts.toml`) is unreachable under `sealed-sender / honest` and reachable under `sealed-sender / delivery-receipts`: B's device answers A's sealed message with a receipt addressed to A, and the relay, handing it to A's device, learns that the device that pushed the message is A's. The link that Martiny et al. find statistically is exact at a relay that routes by push token, and needs no order of events.",
        cells: &[
            ("sealed-sender", "honest", "relay-links-sealed-sender", Verdict::Unreachable),
            ("sealed-sender", "delivery-receipts", "relay-links-sealed-sender", Verdict::Reachable),
        ],
    },
    Finding {
        statement: "The lookup log does not indicate that any communication took place only while it drops the lookup's for-message flag: kept, a court order shows that one account looked another up to write to it.",
        source: "the 2016 law-enforcement FAQ; reverse-engineered clients (x-required-for-message)",
        detail: "`log-never-shows-a-message` (`claims/intent.toml`) holds under `imessage-2016 / honest` and is violated under `for-message-logged`, where `order-discloses-a-message` is reachable; under `private-discovery` the flag still shows that the requester wrote to someone, but the order cannot say to whom. Whether Apple's log keeps the flag is not public: `log-fields` is the switch.",
        cells: &[
            ("imessage-2016", "honest", "log-never-shows-a-message", Verdict::Holds),
            ("imessage-2016", "for-message-logged", "log-never-shows-a-message", Verdict::Violated),
            ("imessage-2016", "for-message-logged", "order-discloses-a-message", Verdict::Reachable),
            ("private-discovery", "for-message-logged", "log-never-shows-a-message", Verdict::Violated),
            ("private-discovery", "for-message-logged", "order-discloses-a-message", Verdict::Unreachable),
        ],
    },
    Finding {
        statement: "A log that records a recipient's lookup of its sender shows both sides of a conversation, even while the FAQ's sentence holds.",
        source: "the 2016 law-enforcement FAQ; reverse-engineered clients (a device that receives a message from a handle it has no keys for looks the sender up)",
        detail: "`log-shows-a-conversation` (`claims/intent.toml`) is unreachable under `imessage-2016 / honest` and reachable under `sender-lookup-logged`: A's lookup of B and B's devices' lookups of A, made when A's message arrives, are both in the log, while `log-never-shows-a-message` still holds (no record carries the for-message flag). Under `private-discovery` the log holds no targets and shows neither side. Whether the sender lookup is logged is not public: `sender-lookup` is the switch.",
        cells: &[
            ("imessage-2016", "honest", "log-shows-a-conversation", Verdict::Unreachable),
            ("imessage-2016", "sender-lookup-logged", "log-shows-a-conversation", Verdict::Reachable),
            ("imessage-2016", "sender-lookup-logged", "log-never-shows-a-message", Verdict::Holds),
            ("private-discovery", "sender-lookup-logged", "log-shows-a-conversation", Verdict::Unreachable),
        ],
    },
];

/// For each finding: whether every cell it names shows it, with the verdicts that differ.
pub fn check_findings(m: &Matrix) -> Vec<(&'static Finding, Vec<String>)> {
    FINDINGS
        .iter()
        .map(|f| {
            let wrong = f
                .cells
                .iter()
                .filter_map(|(v, t, id, want)| {
                    let got = claim(m, v, t, id).map(|c| c.verdict);
                    (got != Some(*want)).then(|| {
                        format!(
                            "{v} / {t}: {id} is {}, the literature says {}",
                            got.map_or("missing", |g| g.name()),
                            want.name()
                        )
                    })
                })
                .collect();
            (f, wrong)
        })
        .collect()
}

fn claim<'m>(m: &'m Matrix, variant: &str, threat: &str, id: &str) -> Option<&'m ClaimReport> {
    m.cell(variant, threat)?
        .report
        .claims
        .iter()
        .find(|c| c.id == id)
}

fn anchor(variant: &str, threat: &str, id: &str) -> String {
    format!("{variant}--{threat}--{id}")
}

fn cell_text(c: &ClaimReport) -> String {
    let mut t = c.verdict.name().to_string();
    if c.bounded || c.note.is_some() {
        t.push('†');
    }
    t
}

/// The findings as a Markdown list, each with whether the matrix reproduces it (README.md's list
/// is this text: `imessage-model matrix --format findings` prints it).
pub fn findings_markdown(m: &Matrix) -> String {
    let mut out = String::new();
    for (f, wrong) in check_findings(m) {
        let verdict = if wrong.is_empty() {
            "reproduced".to_string()
        } else {
            format!("not reproduced: {}", wrong.join("; "))
        };
        let _ = writeln!(
            out,
            "* **{}** ({}): **{verdict}**. {}",
            f.statement, f.source, f.detail
        );
    }
    crate::escape::terminal(&out)
}

/// The matrix as Markdown, safe to show on a terminal.
pub fn markdown(m: &Matrix) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Results matrix\n");
    let _ = writeln!(
        out,
        "Generated by `imessage-model matrix`; do not edit by hand (a test checks it is current).\n"
    );
    let _ = writeln!(out, "**Population.** {}.\n", m.population);
    let _ = writeln!(
        out,
        "Each cell is the verdict of one claim for one protocol variant under one threat or \
         setting, from an exhaustive check of that cell's scenario (`imessage-model matrix --cell VARIANT/COLUMN` \
         prints it as a scenario file). `holds` / `violated` answer `always` and `eventually` \
         claims, `reachable` / `unreachable` answer `sometimes` claims. A `violated` cell links to \
         its shortest counterexample below. † marks a verdict that is not a proof: the search was \
         bounded, or (for `eventually`) a cycle avoids the condition. {}\n",
        crate::matrix::settings_text()
    );
    out.push_str("## Findings\n\n");
    out.push_str(&findings_markdown(m));
    out.push('\n');
    for variant in &m.variants {
        let _ = writeln!(out, "## {variant}\n");
        let _ = write!(out, "| claim | kind |");
        for t in &m.threats {
            let _ = write!(out, " {t} |");
        }
        out.push_str("\n|---|---|");
        for _ in &m.threats {
            out.push_str("---|");
        }
        out.push('\n');
        for (id, kind, _) in m.rows() {
            let _ = write!(out, "| `{}` | {} |", id, kind.name());
            for t in &m.threats {
                match claim(m, variant, t, id) {
                    Some(c) if c.verdict == Verdict::Violated => {
                        let _ = write!(
                            out,
                            " [**{}**](#{}) |",
                            cell_text(c),
                            anchor(variant, t, &c.id)
                        );
                    }
                    Some(c) => {
                        let _ = write!(out, " {} |", cell_text(c));
                    }
                    None => out.push_str(" — |"),
                }
            }
            out.push('\n');
        }
        out.push_str("| *unique states* | |");
        for t in &m.threats {
            match m.cell(variant, t) {
                Some(c) => {
                    let _ = write!(
                        out,
                        " {}{} |",
                        group(c.report.unique_states),
                        if c.report.complete { "" } else { "†" }
                    );
                }
                None => out.push_str(" — |"),
            }
        }
        out.push_str("\n\n");
    }
    out.push_str("## Counterexamples\n");
    for cell in &m.cells {
        for c in &cell.report.claims {
            let (Verdict::Violated, Some(trace)) = (c.verdict, &c.trace) else {
                continue;
            };
            let _ = writeln!(
                out,
                "\n<a id=\"{}\"></a>\n### {} / {}: `{}`\n",
                anchor(&cell.variant, &cell.threat, &c.id),
                cell.variant,
                cell.threat,
                c.id
            );
            for step in trace {
                let _ = writeln!(out, "{}. {}", step.step, step.text);
            }
        }
    }
    crate::escape::terminal(&out)
}

use crate::escape::html as escape;

/// The matrix as a self-contained HTML page.
pub fn html(m: &Matrix) -> String {
    let mut out = String::new();
    out.push_str(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>imessage-model: results matrix</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #bbb; padding: .3em .6em; text-align: center; }
th:first-child, td:first-child { text-align: left; font-family: ui-monospace, monospace; }
.holds { background: #d9f2d9; } .violated { background: #f7c6c6; font-weight: bold; }
.reachable { background: #fde7b0; } .unreachable { background: #dde6f2; }
.legend span { display: inline-block; padding: .2em .6em; margin-right: .5em; border: 1px solid #bbb; }
small { color: #666; } details { margin: .3em 0; } pre { background: #f6f6f6; padding: .5em; }
</style></head><body>
<h1>Results matrix</h1>
"#,
    );
    let _ = writeln!(
        out,
        "<p><b>Population.</b> {}.</p>\n<p class=\"legend\">Legend: <span class=\"holds\">holds</span>\
         <span class=\"violated\">violated</span><span class=\"reachable\">reachable</span>\
         <span class=\"unreachable\">unreachable</span> † not a proof (bounded search, or a cycle \
         avoids an <i>eventually</i> condition). Hover a cell for the states it was checked over. \
         {}</p>",
        escape(&m.population),
        escape(&crate::matrix::settings_text())
    );
    out.push_str("<h2>Findings</h2><ul>\n");
    for (f, wrong) in check_findings(m) {
        let _ = writeln!(
            out,
            "<li>{} <small>({})</small>: <b>{}</b> {}</li>",
            escape(f.statement),
            escape(f.source),
            if wrong.is_empty() {
                "reproduced".to_string()
            } else {
                escape(&format!("not reproduced: {}", wrong.join("; ")))
            },
            escape(f.detail)
        );
    }
    out.push_str("</ul>\n");
    for variant in &m.variants {
        let _ = writeln!(
            out,
            "<h2>{}</h2>\n<table><tr><th>claim</th><th>kind</th>",
            escape(variant)
        );
        for t in &m.threats {
            let _ = write!(out, "<th>{}</th>", escape(t));
        }
        out.push_str("</tr>\n");
        for (id, kind, statement) in m.rows() {
            let _ = write!(
                out,
                "<tr><td title=\"{}\">{}</td><td>{}</td>",
                escape(statement),
                escape(id),
                kind.name()
            );
            for t in &m.threats {
                let Some(cell) = m.cell(variant, t) else {
                    out.push_str("<td>—</td>");
                    continue;
                };
                let c = claim(m, variant, t, id).expect("every cell reports every claim");
                let bound = if cell.report.complete {
                    format!(
                        "complete: {}, depth {}",
                        crate::report::count(cell.report.unique_states, "unique state"),
                        cell.report.max_depth
                    )
                } else {
                    format!("bounded at {}", cell.report.bound.as_deref().unwrap_or("?"))
                };
                let target = if c.verdict == Verdict::Violated {
                    format!(
                        "<a href=\"#{}\">{}</a>",
                        escape(&anchor(variant, t, &c.id)),
                        cell_text(c)
                    )
                } else {
                    cell_text(c)
                };
                let _ = write!(
                    out,
                    "<td class=\"{}\" title=\"{}\">{}</td>",
                    c.verdict.name(),
                    escape(&bound),
                    target
                );
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Counterexamples</h2>\n");
    for cell in &m.cells {
        for c in &cell.report.claims {
            let (Verdict::Violated, Some(trace)) = (c.verdict, &c.trace) else {
                continue;
            };
            let _ = writeln!(
                out,
                "<details id=\"{}\"><summary>{} / {}: {}</summary><pre>",
                escape(&anchor(&cell.variant, &cell.threat, &c.id)),
                escape(&cell.variant),
                escape(&cell.threat),
                escape(&c.id)
            );
            for step in trace {
                let _ = writeln!(out, "{:>2}. {}", step.step, escape(&step.text));
            }
            out.push_str("</pre></details>\n");
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// The claim catalogue as text.
pub fn claims_text() -> String {
    let mut out = String::new();
    for c in &CATALOGUE {
        let _ = writeln!(
            out,
            "{} ({})\n  {}\n  source: {}\n",
            c.id,
            c.kind.name(),
            c.statement,
            c.source
        );
    }
    out
}

/// The claim catalogue as JSON values.
pub fn claims_json() -> serde_json::Value {
    serde_json::Value::Array(
        CATALOGUE
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id,
                    "kind": c.kind,
                    "statement": c.statement,
                    "source": c.source,
                })
            })
            .collect(),
    )
}
