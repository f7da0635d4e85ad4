//! Reports: what a check found, as data ([`Report`]), as text and as JSON.
//!
//! The JSON shape is an interface (README, "JSON output"); the text is for
//! people. Both are built from the same [`ScenarioReport`].

pub mod html_trace;
pub mod junit;
pub mod matrix;
pub mod sarif;
pub mod text;
pub mod trace;

use crate::check::{Bound, Exploration, Trace};
use crate::claims::{ClaimKind, Verdict};
pub(crate) use crate::describe::record;
pub use crate::describe::{describe, message, TraceStep};
use crate::model::ProtocolModel;
use crate::scenario::Scenario;
use crate::state::Step;
use serde::{Deserialize, Serialize};

/// The result of checking a set of scenarios.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub scenarios: Vec<ScenarioReport>,
}

/// Counts over a whole report: the top of the JSON output, and the text report's last line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Scenario files checked.
    pub files: usize,
    /// Verdicts that meet their expectation.
    pub as_expected: usize,
    /// Verdicts that differ from their expectation.
    pub differ: usize,
    /// Verdicts of claims the file expects nothing of.
    pub without_expectation: usize,
    /// Scenarios whose search stopped at a bound.
    pub incomplete: usize,
    /// Whether every search was complete.
    pub complete: bool,
    /// Unique states stored, over every scenario.
    pub unique_states: usize,
    /// Scenario files rejected (each has an entry in `rejected`).
    pub rejected: usize,
}

/// A scenario file that was not checked: its located error, as the text report prints it,
/// and the same in parts.
#[derive(Clone, Debug, Serialize)]
pub struct Rejected {
    pub file: String,
    pub error: String,
    /// The file the error is in: the scenario, or a claims file it reads.
    pub error_file: String,
    /// Where in `error_file` (1-based; `null` when the file could not be read).
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// What is wrong, without the place.
    pub message: String,
}

impl Rejected {
    pub fn new(file: &std::path::Path, e: &crate::ScenarioError) -> Self {
        let (error_file, at) = e.location();
        Rejected {
            file: file.display().to_string(),
            error: e.to_string(),
            error_file: error_file.display().to_string(),
            line: at.map(|p| p.line),
            column: at.map(|p| p.column),
            message: e.message(),
        }
    }
}

/// The JSON document `check --format json` prints: the summary, every scenario checked, and
/// every file rejected.
#[derive(Serialize)]
pub struct JsonReport<'a> {
    pub summary: Summary,
    pub scenarios: &'a [ScenarioReport],
    pub rejected: &'a [Rejected],
}

impl Report {
    pub fn summary(&self) -> Summary {
        let claims = || self.scenarios.iter().flat_map(|s| &s.claims);
        let with = |e: Option<bool>| claims().filter(|c| c.as_expected == e).count();
        let incomplete = self.scenarios.iter().filter(|s| !s.complete).count();
        Summary {
            files: self.scenarios.len(),
            as_expected: with(Some(true)),
            differ: with(Some(false)),
            without_expectation: with(None),
            incomplete,
            complete: incomplete == 0,
            unique_states: self.scenarios.iter().map(|s| s.unique_states).sum(),
            rejected: 0,
        }
    }

    /// The report as `check --format json` prints it, with the files that were rejected.
    pub fn json<'a>(&'a self, rejected: &'a [Rejected]) -> JsonReport<'a> {
        JsonReport {
            summary: Summary {
                rejected: rejected.len(),
                ..self.summary()
            },
            scenarios: &self.scenarios,
            rejected,
        }
    }

    /// Whether every verdict that has an expectation meets it.
    pub fn all_as_expected(&self) -> bool {
        self.scenarios
            .iter()
            .flat_map(|s| &s.claims)
            .all(|c| c.as_expected != Some(false))
    }
}

/// The result of checking one scenario.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub file: String,
    pub name: String,
    pub variant: String,
    /// Every protocol feature in effect: the variant's and those the scenario lists.
    #[serde(default)]
    pub features: Vec<String>,
    pub threat: String,
    /// States generated, duplicates included.
    pub states: usize,
    pub unique_states: usize,
    pub max_depth: usize,
    pub seconds: f64,
    /// Whether the whole state space was explored.
    pub complete: bool,
    /// The search's reduction: `none` or `por` (partial-order reduction).
    pub reduction: crate::check::Reduction,
    /// Bytes the visited-state store held per unique state.
    pub bytes_per_state: f64,
    /// Under partial-order reduction: states stored by the unreduced search, bounded by the
    /// reduced discoveries' depth, that found the shortest traces (0 when none was needed).
    pub trace_search_states: usize,
    /// The bound the search stopped at, when it is not complete.
    pub bound: Option<String>,
    /// The classes of interchangeable devices symmetry reduction canonicalised (`[["B/1",
    /// "B/2"]]`); empty when it did not run (`--symmetry off`, or no two devices alike).
    #[serde(default)]
    pub symmetry: Vec<Vec<String>>,
    pub claims: Vec<ClaimReport>,
}

/// The verdict on one claim.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClaimReport {
    pub id: String,
    /// What the claim says, in words.
    #[serde(default)]
    pub statement: String,
    pub kind: ClaimKind,
    pub verdict: Verdict,
    /// True when the verdict holds only within the search's bound.
    pub bounded: bool,
    /// Why a verdict without a path is not a proof although the search is complete, if it is not.
    pub note: Option<String>,
    pub expected: Option<Verdict>,
    /// Where the file states the expectation: its key in `[expect]`.
    #[serde(default)]
    pub expected_at: Option<crate::scenario::Position>,
    /// Whether the verdict meets the expectation; `null` when the file expects nothing.
    pub as_expected: Option<bool>,
    /// The counterexample or witness, when reported.
    pub trace: Option<Vec<TraceStep>>,
    /// For a claim written in the claim language with a trace: what decides the formula in
    /// the trace's last state, with the values of its quantified variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// Builds the report of one explored scenario. Counterexamples of violated `always` claims
/// are always included; witnesses of `sometimes` claims with `witnesses`, or when the claim
/// was expected `unreachable`.
pub fn scenario_report(x: &Exploration, witnesses: bool) -> ScenarioReport {
    let scenario = &x.model.scenario;
    let complete = x.complete();
    let claims = x
        .claims()
        .map(|(i, claim)| {
            let verdict = x.verdict_at(i);
            let bounded = !complete && !verdict.has_path();
            let note = x.caveat_at(i);
            let expectation = scenario.expected(claim.id());
            let expected = expectation.map(|e| e.verdict);
            let proven = !bounded
                && note
                    .as_deref()
                    .is_none_or(|n| n.starts_with("holds vacuously"));
            let as_expected = expected.map(|e| e == verdict && (proven || scenario.allow_bounded));
            // A witness that differs from its expectation is evidence, like a counterexample.
            let want_trace = match verdict {
                Verdict::Violated => true,
                Verdict::Reachable => witnesses || as_expected == Some(false),
                _ => false,
            };
            let path = want_trace.then(|| x.trace_at(i)).flatten();
            let explanation = claim.formula().and_then(|f| {
                let last = path
                    .as_ref()
                    .map(|t| t.steps.last().map_or(&t.initial, |(_, s)| s))?;
                Some(f.explain(x.model, last))
            });
            let trace = path.map(|t| trace_steps(scenario, &t));
            ClaimReport {
                id: claim.id().to_string(),
                statement: claim.statement().to_string(),
                kind: claim.kind(),
                verdict,
                bounded,
                note,
                expected,
                expected_at: expectation.map(|e| e.at),
                as_expected,
                trace,
                explanation,
            }
        })
        .collect();
    ScenarioReport {
        file: scenario.path.display().to_string(),
        name: scenario.name.clone(),
        variant: scenario.variant.name().to_string(),
        features: scenario
            .features
            .names()
            .into_iter()
            .map(String::from)
            .collect(),
        threat: scenario.threat.name().to_string(),
        states: x.generated,
        unique_states: x.unique_states(),
        max_depth: x.max_depth,
        seconds: x.seconds,
        complete,
        reduction: x.reduction,
        bytes_per_state: x.bytes_per_state(),
        trace_search_states: x.trace_search_states(),
        bound: x.bound.map(|b| match b {
            // The states a states bound covers are the first the search stored, breadth-first:
            // under the reduction, of the reduced graph (other states than `none` covers).
            Bound::States(n) => match x.reduction {
                crate::check::Reduction::Por => {
                    format!("{} of the reduced graph (breadth-first)", count(n, "state"))
                }
                crate::check::Reduction::None => format!("{} (breadth-first)", count(n, "state")),
            },
            Bound::Depth(d) => format!("depth {d}"),
            Bound::Memory(b) => format!("{} MiB of memory", group(b / crate::scenario::MIB)),
        }),
        symmetry: x
            .model
            .interchangeable_devices()
            .into_iter()
            .map(|c| c.into_iter().map(|d| scenario.device_name(d)).collect())
            .collect(),
        claims,
    }
}

/// The steps of a trace, numbered from 1.
pub fn trace_steps(scenario: &Scenario, t: &Trace) -> Vec<TraceStep> {
    t.steps
        .iter()
        .enumerate()
        .map(|(i, (step, after))| {
            let mut v = describe(scenario, step);
            if let Step::Tick = step {
                let day = ProtocolModel::today(after).0;
                v.event = format!("day {day} begins");
                v.text = format!("clock: day {day} begins");
            }
            v.step = i + 1;
            v
        })
        .collect()
}

/// `n` things, the noun in the plural unless `n` is 1: `1 state`, `1,024 states`.
pub fn count(n: usize, noun: &str) -> String {
    format!("{} {noun}{}", group(n), if n == 1 { "" } else { "s" })
}

/// `1234567` -> `1,234,567`.
pub fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
