//! Running a check of one scenario: the protocol model searched by the
//! engine (`engine.rs`), with verdicts per claim of the catalogue.
//!
//! The engine explores breadth-first, so the first discovery of a claim ends
//! a shortest path; under partial-order reduction it confirms that length in
//! the full system (see `engine::explore`). An `eventually` claim is decided
//! on the explored graph: it is violated when some run that avoids the
//! claim's condition reaches a state with no successor, and a cycle of states
//! without it is reported as a caveat (runs that stay in it for ever are not
//! counted). A search that stops at `max-states` or `max-depth` is
//! *bounded*: its `holds` and `unreachable` verdicts hold within the bound
//! only.

use crate::claims::{Claim, ClaimDef, Verdict, CATALOGUE};
use crate::engine::{self, Finding};
use crate::model::ProtocolModel;
use crate::scenario::Scenario;
use crate::state::State;

pub use crate::engine::{Bound, Limits, Progress, Reduction};

/// A path through the state space of the protocol.
pub type Trace = engine::Trace<ProtocolModel>;

impl Limits {
    pub fn of(scenario: &Scenario) -> Self {
        Limits {
            max_states: scenario.max_states,
            max_depth: scenario.max_depth,
            max_memory: scenario.max_memory.or_else(crate::default_memory_budget),
        }
    }
}

/// The result of searching one scenario.
pub struct Exploration<'m> {
    pub model: &'m ProtocolModel,
    inner: engine::Exploration<ProtocolModel>,
    /// Successor states generated, duplicates included (the initial states count too).
    pub generated: usize,
    pub max_depth: usize,
    pub bound: Option<Bound>,
    pub seconds: f64,
    /// The reduction the search ran with.
    pub reduction: Reduction,
}

/// Explores the model breadth-first within `limits`, with partial-order reduction.
pub fn explore(model: &ProtocolModel, limits: Limits) -> Exploration<'_> {
    explore_with(model, limits, Reduction::Por, None)
}

/// Explores the model with the reduction asked for, publishing counters to `progress`.
pub fn explore_with<'m>(
    model: &'m ProtocolModel,
    limits: Limits,
    reduction: Reduction,
    progress: Option<&Progress>,
) -> Exploration<'m> {
    crate::knowledge::clear_interned();
    crate::parts::clear_sent();
    crate::symmetry::clear_cache();
    let inner = engine::explore(model, limits, reduction, progress);
    if let Some(p) = progress {
        p.scenarios_done
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    Exploration::of(model, inner)
}

impl<'m> Exploration<'m> {
    /// The result of a search of `model` by the engine (here, or elsewhere: a distributed search).
    pub fn of(model: &'m ProtocolModel, inner: engine::Exploration<ProtocolModel>) -> Self {
        Exploration {
            model,
            generated: inner.generated,
            max_depth: inner.max_depth,
            bound: inner.bound,
            seconds: inner.seconds,
            reduction: inner.reduction,
            inner,
        }
    }
}

impl Exploration<'_> {
    pub fn unique_states(&self) -> usize {
        self.inner.unique_states
    }

    pub fn complete(&self) -> bool {
        self.inner.complete()
    }

    /// Bytes the visited-state store holds per unique state.
    pub fn bytes_per_state(&self) -> f64 {
        self.inner.store_bytes as f64 / self.inner.unique_states.max(1) as f64
    }

    /// States stored by the unreduced search that confirmed shortest traces.
    pub fn trace_search_states(&self) -> usize {
        self.inner.trace_search_states
    }

    /// The stored states (representatives under symmetry reduction), in the order found.
    pub fn states(&self) -> impl Iterator<Item = State> + '_ {
        self.inner.states(self.model)
    }

    /// The position of a catalogue claim among the scenario's claims.
    fn position(&self, claim: &Claim) -> usize {
        CATALOGUE
            .iter()
            .position(|k| k == claim)
            .expect("claims come from the catalogue")
    }

    /// The scenario's claims with their positions.
    pub fn claims(&self) -> impl Iterator<Item = (usize, &ClaimDef)> + '_ {
        self.model.scenario.claims.iter().enumerate()
    }

    /// The verdict for a catalogue claim (as the scenario checks it: a claim written for its
    /// id in its place).
    pub fn verdict(&self, claim: &Claim) -> Verdict {
        self.verdict_at(self.position(claim))
    }

    /// The verdict for the scenario's claim at position `i`.
    pub fn verdict_at(&self, i: usize) -> Verdict {
        self.model.scenario.claims[i].verdict(self.inner.findings[i].found())
    }

    /// Why a verdict is not a proof although the search is complete: an `eventually` claim
    /// whose graph has a cycle of states without the condition; or a discovery whose trace
    /// could not be rebuilt, or not confirmed as the shortest.
    pub fn caveat(&self, claim: &Claim) -> Option<String> {
        self.caveat_at(self.position(claim))
    }

    /// The caveat of the scenario's claim at position `i` (see [`Self::caveat`]); for an
    /// `always (p implies q)` claim that holds on a complete search where no state satisfies
    /// `p`, that it holds vacuously.
    pub fn caveat_at(&self, i: usize) -> Option<String> {
        if self.inner.unconfirmed[i] {
            return Some(
                "the trace is a run of the system, but the unreduced search that confirms it is the shortest stopped at a bound".into(),
            );
        }
        match &self.inner.findings[i] {
            Finding::Cycle => {
                return Some(
                    "a cycle of states without the condition exists; runs that stay in it for ever are not counted".into(),
                )
            }
            Finding::Found(None) => {
                return Some("the path to this discovery could not be rebuilt as a run".into())
            }
            _ => {}
        }
        let scenario = &self.model.scenario;
        if let Some(c) = scenario.claims.get(i) {
            if c.kind() == crate::claims::ClaimKind::LeadsTo
                && self.verdict_at(i) == Verdict::Holds
                && !crate::engine::Footprints::acyclic(self.model)
            {
                return Some(
                    "on this network a run can repeat a state and never end; such runs are not counted".into(),
                );
            }
        }
        let n = scenario.claims.len();
        let (j, _) = crate::claims::premises(scenario)
            .enumerate()
            .find(|(_, (c, _))| *c == i)?;
        let premise = scenario.claims[i].formula()?.premise_text()?;
        (self.verdict_at(i) == Verdict::Holds && !self.inner.findings[n + j].found()).then(|| {
            format!(
                "holds vacuously: no {}state satisfies the premise `{}`",
                if self.complete() {
                    "reachable "
                } else {
                    "explored "
                },
                premise.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })
    }

    /// The shortest path to a discovery of the scenario's claim at position `i`.
    pub fn trace_at(&self, i: usize) -> Option<Trace> {
        match &self.inner.findings[i] {
            Finding::Found(t) => t.as_ref().cloned(),
            _ => None,
        }
    }

    /// The shortest path to the claim's counterexample or witness, as a concrete run of the
    /// system: each step with the state it leads to, after the initial state. `None` when
    /// there is no discovery.
    pub fn trace(&self, claim: &Claim) -> Option<Trace> {
        self.trace_at(self.position(claim))
    }
}
