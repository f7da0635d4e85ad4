//! Cycles and `eventually`: a model that promises an acyclic full graph keeps its promise, and
//! one that does not is searched unreduced when it has an `eventually` property, so that a
//! cycle avoiding the property is reported under either reduction.

use crate::support::{full_graph_within, scenario_text};
use crate::{model, model_files};
use imessage_model::check::{Limits, Reduction};
use imessage_model::engine::{self, Finding, Footprints, Owners};
use imessage_model::load::parse;
use imessage_model::ProtocolModel;
use proptest::prelude::*;
use stateright::{Model, Property};
use std::collections::HashMap;
use std::path::Path;

/// Whether the scenario's full graph (if small enough) has no cycle, when the model says so.
fn promise_kept(name: &str, m: &ProtocolModel) -> bool {
    if !m.acyclic() {
        return true;
    }
    let Some(graph) = full_graph_within(m, 60_000) else {
        return false;
    };
    let index: HashMap<_, usize> = graph.iter().enumerate().map(|(i, (s, _))| (s, i)).collect();
    // Depth-first search with colours: 1 on the stack, 2 done; an edge to 1 closes a cycle.
    let mut colour = vec![0u8; graph.len()];
    for root in 0..graph.len() {
        if colour[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        colour[root] = 1;
        while let Some((at, next)) = stack.pop() {
            let succ = &graph[at].1;
            if next < succ.len() {
                stack.push((at, next + 1));
                let to = index[&succ[next].1];
                assert_ne!(colour[to], 1, "{name}: the full graph has a cycle");
                if colour[to] == 0 {
                    colour[to] = 1;
                    stack.push((to, 0));
                }
            } else {
                colour[at] = 2;
            }
        }
    }
    true
}

#[test]
fn every_model_that_promises_an_acyclic_graph_has_one() {
    let checked = model_files()
        .iter()
        .filter(|n| promise_kept(n, &ProtocolModel::new(model(n)).without_symmetry()))
        .count();
    assert!(checked >= 25, "{checked}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn generated_scenarios_that_promise_an_acyclic_graph_have_one(text in scenario_text()) {
        let s = parse(Path::new("generated.toml"), &text).unwrap();
        promise_kept("generated", &ProtocolModel::new(s).without_symmetry());
    }
}

/// Two independent owners: owner 0 re-arms a timer for ever (its flag goes 0, 1, 0, …), owner
/// 1 may once set `done`. `eventually done` holds on every run that ends (every run that ends
/// has set it) but a cycle of owner 0 avoids it for ever.
#[derive(Clone)]
struct Rearming;

impl Model for Rearming {
    type State = (u8, bool);
    type Action = u8;
    fn init_states(&self) -> Vec<Self::State> {
        vec![(0, false)]
    }
    fn actions(&self, s: &Self::State, actions: &mut Vec<Self::Action>) {
        actions.push(0);
        if !s.1 {
            actions.push(1);
        }
    }
    fn next_state(&self, s: &Self::State, a: Self::Action) -> Option<Self::State> {
        Some(match a {
            0 => (1 - s.0, s.1),
            _ => (s.0, true),
        })
    }
    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::eventually("done", |_, s: &(u8, bool)| s.1)]
    }
}

impl Footprints for Rearming {
    type Part = (u8, bool);
    type Memo = ();
    fn split(&self, state: Self::State, parts: &mut Vec<Self::Part>) {
        parts.push(state);
    }
    fn join(&self, parts: &[&Self::Part]) -> Self::State {
        *parts[0]
    }
    fn reducible(&self) -> bool {
        true
    }
    fn owner(&self, a: &u8) -> Option<usize> {
        Some(usize::from(*a))
    }
    fn local_key(&self, _: &u8) -> Option<u64> {
        None
    }
    fn senders_to(&self, _: &Self::State, _: Owners) -> Owners {
        0
    }
    fn global_blocked(&self, _: &Self::State, _: Owners) -> bool {
        false
    }
    fn may_undo(&self, _: usize, _: &u8) -> bool {
        false
    }
}

#[test]
fn a_cycle_that_avoids_an_eventually_claim_is_reported_under_both_reductions() {
    let limits = Limits {
        max_states: 1_000,
        max_depth: None,
        max_memory: None,
    };
    assert!(!engine::reduces(&Rearming, Reduction::Por, &limits));
    for reduction in [Reduction::None, Reduction::Por] {
        let x = engine::explore(&Rearming, limits, reduction, None);
        assert!(
            matches!(x.findings[0], Finding::Cycle),
            "{reduction:?}: the cycle is not reported"
        );
    }
}
