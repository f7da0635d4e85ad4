//! Random runs: a seeded walk through a scenario's model, to read a
//! plausible transcript and see what every party holds at the end (the
//! lookup log as an authority would receive it). The same seed gives the
//! same run, with the same build.

use crate::claims::ClaimKind;
use crate::claims::Conditions;
use crate::model::ProtocolModel;
use crate::report::trace::facts;
use crate::report::{trace_steps, TraceStep};
use crate::scenario::Scenario;
use crate::state::{State, Step};
use serde::Serialize;
use stateright::Model;
use std::collections::{BTreeMap, BTreeSet};

/// The default step limit of a run.
pub const DEFAULT_MAX_STEPS: usize = 500;

/// One random run.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub seed: u64,
    /// The step limit the run was made with.
    pub max_steps: usize,
    pub steps: Vec<TraceStep>,
    /// Why the run stopped: no step was left, or the step limit was reached.
    pub ended: &'static str,
    /// `always` claims violated on this run, with the step at which each first failed
    /// (0: the initial state).
    pub violations: Vec<(String, usize)>,
    /// Every party's facts in the last state.
    pub holdings: BTreeMap<String, BTreeSet<String>>,
}

/// Walks the model from its initial state, choosing each step uniformly at random among the
/// enabled ones, for at most `max_steps` steps. Runs the concrete system (no symmetry
/// reduction), so every step is one the system takes.
pub fn run(model: &ProtocolModel, seed: u64, max_steps: usize) -> Run {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut state: State = model
        .raw_init_states()
        .into_iter()
        .next()
        .expect("a model has an initial state");
    let initial = state.clone();
    let mut path: Vec<(Step, State)> = Vec::new();
    let mut violations: Vec<(String, usize)> = Vec::new();
    let check = |st: &State, at: usize, violations: &mut Vec<(String, usize)>| {
        let always = model
            .scenario
            .claims
            .iter()
            .filter(|c| c.kind() == ClaimKind::Always);
        for c in always {
            if !violations.iter().any(|(id, _)| id == c.id()) && !c.condition(model, st) {
                violations.push((c.id().to_string(), at));
            }
        }
    };
    check(&state, 0, &mut violations);
    let mut ended = "no step was left";
    let mut actions = Vec::new();
    loop {
        if path.len() >= max_steps {
            ended = "the step limit was reached";
            break;
        }
        actions.clear();
        model.actions(&state, &mut actions);
        let enabled: Vec<(Step, State)> = actions
            .drain(..)
            .filter_map(|a| model.raw_next_state(&state, a.clone()).map(|n| (a, n)))
            .collect();
        if enabled.is_empty() {
            break;
        }
        let (step, next) = enabled[rng.usize(..enabled.len())].clone();
        check(&next, path.len() + 1, &mut violations);
        path.push((step, next.clone()));
        state = next;
    }
    let trace = crate::check::Trace {
        initial,
        steps: path,
    };
    Run {
        seed,
        max_steps,
        steps: trace_steps(&model.scenario, &trace),
        ended,
        violations,
        holdings: facts(&model.scenario, &state),
    }
}

/// A run as text: the replay command, the transcript, what failed, what each party holds; safe
/// to show on a terminal.
pub fn render(s: &Scenario, r: &Run) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run with seed {} ({} steps, stopped because {}); replay: imessage-model simulate {} --seed {}{}",
        r.seed,
        r.steps.len(),
        r.ended,
        s.path.display(),
        r.seed,
        if r.max_steps == DEFAULT_MAX_STEPS {
            String::new()
        } else {
            format!(" --max-steps {}", r.max_steps)
        }
    );
    for step in &r.steps {
        let _ = writeln!(out, "  {:>3}. {}", step.step, step.text);
    }
    if r.violations.is_empty() {
        let _ = writeln!(out, "  no always-claim failed on this run");
    }
    for (id, at) in &r.violations {
        let _ = writeln!(out, "  claim {id} failed at step {at}");
    }
    let _ = writeln!(out, "  at the end:");
    for (party, f) in &r.holdings {
        if f.is_empty() {
            continue;
        }
        let title = if party == "lookup_log" {
            "lookup log (what a court order for every handle would receive)".to_string()
        } else {
            party.replace('_', " ")
        };
        let _ = writeln!(out, "    {title}:");
        for fact in f {
            let _ = writeln!(out, "      {fact}");
        }
    }
    crate::escape::terminal(&out)
}
