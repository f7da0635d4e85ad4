//! `trace`: the shortest counterexample (or witness) of one claim in one scenario, in several formats.

use super::ClaimArgs;
use anyhow::bail;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The scenario file.
    scenario: PathBuf,
    /// The claim id (see `imessage-model claims`, the scenario's `[[claim]]` tables, or
    /// `ad-hoc` for a --claim).
    claim: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TraceFormat::Text)]
    format: TraceFormat,
    #[command(flatten)]
    claims: ClaimArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TraceFormat {
    Text,
    Json,
    /// The Informal Trace Format of Apalache and Quint.
    Itf,
    /// A Mermaid sequence diagram.
    Mermaid,
    /// A Graphviz digraph; the state that decides the claim in red.
    Dot,
    /// One self-contained HTML page: a sequence diagram, what each party learned at each
    /// step, the fact that decides the claim highlighted.
    Html,
}

/// Runs `trace`; `Ok(false)` when the claim has no trace to show.
pub fn run(args: Args) -> anyhow::Result<bool> {
    let Args {
        scenario,
        claim,
        format,
        claims,
    } = args;
    let s = claims.read()?.load(&scenario)?;
    let Some(i) = s.claims.iter().position(|c| c.id() == claim) else {
        bail!(
            "unknown claim `{claim}` (known claims: {})",
            s.claims
                .iter()
                .map(|c| c.id())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let c = s.claims[i].clone();
    let limits = imessage_model::check::Limits::of(&s);
    let model =
        imessage_model::ProtocolModel::new(s).with_symmetry(imessage_model::Symmetry::default());
    let x = imessage_model::check::explore(&model, limits);
    let verdict = x.verdict_at(i);
    let Some(t) = x.trace_at(i) else {
        eprintln!(
            "no trace: `{claim}` {} in {} ({}), so there is no {} to show",
            verdict.name(),
            imessage_model::escape::line(&scenario.display().to_string()),
            if x.complete() {
                format!(
                    "complete search, {}",
                    imessage_model::report::count(x.unique_states(), "unique state")
                )
            } else {
                "bounded search".to_string()
            },
            if c.kind() == imessage_model::ClaimKind::Sometimes {
                "witness"
            } else {
                "counterexample"
            }
        );
        return Ok(false);
    };
    let what = if c.kind() == imessage_model::ClaimKind::Sometimes {
        "witness for"
    } else {
        "counterexample to"
    };
    let sc = &model.scenario;
    use imessage_model::report::trace as tr;
    let why = c.formula().map(|f| {
        let last = t.steps.last().map_or(&t.initial, |(_, s)| s);
        f.explain(&model, last)
    });
    let decision = tr::Decision::of(c.kind(), why.as_deref());
    match format {
        TraceFormat::Text => {
            out!("{}", tr::text(sc, c.id(), what, &t));
            if let Some(why) = &why {
                outln!("why: {}", imessage_model::escape::terminal(why));
            }
        }
        TraceFormat::Json => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&tr::json(sc, c.id(), what, &t))?
            )
        }
        TraceFormat::Itf => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&tr::itf(sc, c.id(), what, &t))?
            )
        }
        TraceFormat::Mermaid => out!("{}", tr::mermaid(sc, c.id(), what, &t)),
        TraceFormat::Dot => out!("{}", tr::dot(sc, c.id(), what, &t, decision)),
        TraceFormat::Html => out!(
            "{}",
            imessage_model::report::html_trace::html(sc, c.id(), what, &t, decision)
        ),
    }
    Ok(true)
}
