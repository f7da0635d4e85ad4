//! Running a check: exhaustive breadth-first exploration of a scenario's
//! model, verdicts, bounds and shortest traces.
//!
//! The search visits states in order of depth, so the first state found
//! that violates an `always` claim (or witnesses a `sometimes` claim) ends
//! a shortest path to such a state; its path is the trace reported.
//! stateright 0.31's own checkers do not guarantee shortest discoveries,
//! which is why the search is done here, over stateright's `Model`
//! interface (the test suite checks that it explores exactly the states
//! stateright's checker explores and finds the same discoveries).
//! Deduplication compares whole states (not only their hashes), so two
//! distinct states are never merged.
//!
//! A search that stops at `max-states` or `max-depth` is *bounded*: its
//! `holds` and `unreachable` verdicts are reported as holding within the
//! bound, never as final.

use crate::claims::{Claim, Verdict, CATALOGUE};
use crate::model::{ProtocolModel, State, Step};
use crate::scenario::Scenario;
use hashbrown::HashTable;
use stateright::Model;
use std::hash::{Hash, Hasher};
use std::time::Instant;

/// Why a search stopped before exhausting the state space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// `max-states` unique states were reached.
    States(usize),
    /// States at depth `max-depth` had successors that were not explored.
    Depth(usize),
}

/// Limits of one search.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_states: usize,
    pub max_depth: Option<usize>,
}

impl Limits {
    pub fn of(scenario: &Scenario) -> Self {
        Limits {
            max_states: scenario.max_states,
            max_depth: scenario.max_depth,
        }
    }
}

/// The explored state graph, kept for rebuilding traces.
pub struct Exploration<'m> {
    pub model: &'m ProtocolModel,
    states: Vec<State>,
    /// For every state but the initial ones: its parent and the index of the action taken.
    parent: Vec<Option<(u32, u32)>>,
    /// Per catalogue claim: the first state (in breadth-first order) that is a discovery.
    discoveries: Vec<Option<u32>>,
    /// Successor states generated, duplicates included (the initial states count too).
    pub generated: usize,
    pub max_depth: usize,
    pub bound: Option<Bound>,
    pub seconds: f64,
}

fn hash_state(s: &State) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    s.hash(&mut h);
    h.finish()
}

/// Explores the model breadth-first within `limits`.
pub fn explore(model: &ProtocolModel, limits: Limits) -> Exploration<'_> {
    let start = Instant::now();
    let mut x = Exploration {
        model,
        states: Vec::new(),
        parent: Vec::new(),
        discoveries: vec![None; CATALOGUE.len()],
        generated: 0,
        max_depth: 0,
        bound: None,
        seconds: 0.0,
    };
    let mut table: HashTable<u32> = HashTable::new();
    let mut depth_of: Vec<u32> = Vec::new();

    for s in model.init_states() {
        x.generated += 1;
        if x.states.len() >= limits.max_states {
            x.bound = Some(Bound::States(limits.max_states));
            break;
        }
        x.insert(&mut table, &mut depth_of, s, None, 0);
    }
    let mut next = 0usize;
    let mut actions = Vec::new();
    'search: while next < x.states.len() {
        let idx = next;
        next += 1;
        let depth = depth_of[idx];
        actions.clear();
        model.actions(&x.states[idx], &mut actions);
        if let Some(max) = limits.max_depth {
            if depth as usize >= max {
                let has_successor = actions
                    .iter()
                    .any(|a| model.next_state(&x.states[idx], a.clone()).is_some());
                if has_successor {
                    x.bound = Some(Bound::Depth(max));
                }
                continue;
            }
        }
        for (ai, action) in actions.iter().enumerate() {
            let Some(succ) = model.next_state(&x.states[idx], action.clone()) else {
                continue;
            };
            x.generated += 1;
            if x.states.len() >= limits.max_states {
                // Only a state already seen may still be accepted; a new one is past the bound.
                let h = hash_state(&succ);
                if table.find(h, |&i| x.states[i as usize] == succ).is_none() {
                    x.bound = Some(Bound::States(limits.max_states));
                    break 'search;
                }
                continue;
            }
            x.insert(
                &mut table,
                &mut depth_of,
                succ,
                Some((idx as u32, ai as u32)),
                depth + 1,
            );
        }
    }
    x.seconds = start.elapsed().as_secs_f64();
    x
}

impl Exploration<'_> {
    /// Adds `s` unless an equal state is already known; evaluates every claim on a new state.
    fn insert(
        &mut self,
        table: &mut HashTable<u32>,
        depth_of: &mut Vec<u32>,
        s: State,
        parent: Option<(u32, u32)>,
        depth: u32,
    ) {
        let h = hash_state(&s);
        if table.find(h, |&i| self.states[i as usize] == s).is_some() {
            return;
        }
        let idx = self.states.len() as u32;
        for (c, claim) in CATALOGUE.iter().enumerate() {
            if self.discoveries[c].is_none() && claim.discovered(self.model, &s) {
                self.discoveries[c] = Some(idx);
            }
        }
        let states = &self.states;
        table.insert_unique(h, idx, |&i| hash_state(&states[i as usize]));
        self.states.push(s);
        self.parent.push(parent);
        depth_of.push(depth);
        self.max_depth = self.max_depth.max(depth as usize);
    }

    pub fn unique_states(&self) -> usize {
        self.states.len()
    }

    pub fn complete(&self) -> bool {
        self.bound.is_none()
    }

    /// The verdict for a catalogue claim.
    pub fn verdict(&self, claim: &Claim) -> Verdict {
        claim.verdict(self.discovery(claim).is_some())
    }

    fn discovery(&self, claim: &Claim) -> Option<u32> {
        let c = CATALOGUE
            .iter()
            .position(|k| k == claim)
            .expect("claims come from the catalogue");
        self.discoveries[c]
    }

    /// The shortest path to the claim's counterexample or witness: each step with the state it
    /// leads to, after the initial state. `None` when there is no discovery.
    ///
    /// The search stores representatives under symmetry reduction; the trace is the concrete
    /// run they stand for. From a concrete state, the step taken is one whose successor has
    /// the stored next representative as its own representative (one exists by symmetry).
    pub fn trace(&self, claim: &Claim) -> Option<Trace> {
        let mut idx = self.discovery(claim)?;
        let mut chain = vec![idx];
        while let Some((p, _)) = self.parent[idx as usize] {
            chain.push(p);
            idx = p;
        }
        chain.reverse();
        let m = self.model;
        let target0 = &self.states[chain[0] as usize];
        let initial = m
            .raw_init_states()
            .into_iter()
            .find(|s| m.canonical(s.clone()) == *target0)
            .expect("every stored initial state represents a raw initial state");
        let mut current = initial.clone();
        let mut steps = Vec::new();
        let mut actions = Vec::new();
        for &child in &chain[1..] {
            let target = &self.states[child as usize];
            actions.clear();
            m.actions(&current, &mut actions);
            let (step, next) = actions
                .iter()
                .find_map(|a| {
                    let next = m.raw_next_state(&current, a.clone())?;
                    (m.canonical(next.clone()) == *target).then(|| (a.clone(), next))
                })
                .expect("a successor represented by the stored state exists by symmetry");
            steps.push((step, next.clone()));
            current = next;
        }
        Some(Trace { initial, steps })
    }
}

/// A path through the state space.
#[derive(Clone, Debug)]
pub struct Trace {
    pub initial: State,
    pub steps: Vec<(Step, State)>,
}
