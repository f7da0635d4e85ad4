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
//! An `eventually` claim is decided after the search, on the explored
//! graph: it is violated when some run that avoids the claim's condition
//! reaches a state with no successor (a run that ends without it), and the
//! shortest such run is its counterexample. Like stateright, this does not
//! treat runs that go round a cycle for ever as counterexamples; unlike
//! stateright, the report says when such a cycle exists, and then the
//! claim's `holds` is not a proof.
//!
//! A search that stops at `max-states` or `max-depth` is *bounded*: its
//! `holds` and `unreachable` verdicts are reported as holding within the
//! bound, never as final.

use crate::claims::{Claim, ClaimKind, Verdict, CATALOGUE};
use crate::model::{ProtocolModel, State, Step};
use crate::scenario::Scenario;
use hashbrown::HashTable;
use stateright::Model;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Counters a search publishes while it runs, for a progress display; shared by the searches
/// of one command.
#[derive(Debug, Default)]
pub struct Progress {
    pub generated: AtomicUsize,
    pub unique: AtomicUsize,
    pub max_depth: AtomicUsize,
    pub scenarios_done: AtomicUsize,
}

/// How often (in unique states) a search publishes its counters.
const PUBLISH_EVERY: usize = 4096;

/// What the search found for one claim.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Finding {
    /// No discovery.
    None,
    /// A discovery, with the chain of stored states leading to it from an initial state.
    Path(Vec<u32>),
    /// An `eventually` claim with no run ending without it, but a cycle of states without it.
    Cycle,
}

/// The explored state graph, kept for rebuilding traces.
pub struct Exploration<'m> {
    pub model: &'m ProtocolModel,
    states: Vec<State>,
    table: HashTable<u32>,
    /// For every state but the initial ones: its parent and the index of the action taken.
    parent: Vec<Option<(u32, u32)>>,
    depth: Vec<u32>,
    /// Whether a state's successors were all explored.
    expanded: Vec<bool>,
    /// The successors of the expanded states, in compressed rows: the successors of state `i`
    /// are `edges[edge_start[i]..edge_start[i + 1]]` (states are expanded in index order).
    edges: Vec<u32>,
    edge_start: Vec<u32>,
    findings: Vec<Finding>,
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
    explore_with_progress(model, limits, None)
}

/// [`explore`], publishing counters to `progress` as it goes.
pub fn explore_with_progress<'m>(
    model: &'m ProtocolModel,
    limits: Limits,
    progress: Option<&Progress>,
) -> Exploration<'m> {
    let mut published = (0usize, 0usize);
    let publish = |x: &Exploration, published: &mut (usize, usize)| {
        if let Some(p) = progress {
            p.generated
                .fetch_add(x.generated - published.0, Ordering::Relaxed);
            p.unique
                .fetch_add(x.states.len() - published.1, Ordering::Relaxed);
            p.max_depth.fetch_max(x.max_depth, Ordering::Relaxed);
            *published = (x.generated, x.states.len());
        }
    };
    let start = Instant::now();
    crate::knowledge::clear_interned();
    let mut x = Exploration {
        model,
        states: Vec::new(),
        table: HashTable::new(),
        parent: Vec::new(),
        depth: Vec::new(),
        expanded: Vec::new(),
        edges: Vec::new(),
        edge_start: Vec::new(),
        findings: vec![Finding::None; CATALOGUE.len()],
        generated: 0,
        max_depth: 0,
        bound: None,
        seconds: 0.0,
    };
    for s in model.init_states() {
        x.generated += 1;
        if x.states.len() >= limits.max_states {
            x.bound = Some(Bound::States(limits.max_states));
            break;
        }
        x.insert(s, None, 0);
    }
    let mut next = 0usize;
    let mut actions = Vec::new();
    'search: while next < x.states.len() {
        let idx = next;
        next += 1;
        if idx.is_multiple_of(PUBLISH_EVERY) {
            publish(&x, &mut published);
        }
        let depth = x.depth[idx];
        x.edge_start.push(x.edges.len() as u32);
        actions.clear();
        model.actions(&x.states[idx], &mut actions);
        if let Some(max) = limits.max_depth {
            if depth as usize >= max {
                let has_successor = actions
                    .iter()
                    .any(|a| model.next_state(&x.states[idx], a.clone()).is_some());
                if has_successor {
                    x.bound = Some(Bound::Depth(max));
                } else {
                    x.expanded[idx] = true;
                }
                continue;
            }
        }
        for (ai, action) in actions.iter().enumerate() {
            let Some(succ) = model.next_state(&x.states[idx], action.clone()) else {
                continue;
            };
            x.generated += 1;
            if x.states.len() >= limits.max_states && x.find(&succ).is_none() {
                // A new state past the bound: stop here.
                x.bound = Some(Bound::States(limits.max_states));
                break 'search;
            }
            let to = x.insert(succ, Some((idx as u32, ai as u32)), depth + 1);
            x.edges.push(to);
        }
        x.expanded[idx] = true;
    }
    x.edge_start.push(x.edges.len() as u32);
    for (c, claim) in CATALOGUE.iter().enumerate() {
        if claim.kind == ClaimKind::Eventually {
            x.findings[c] = x.decide_eventually(claim);
        }
    }
    x.seconds = start.elapsed().as_secs_f64();
    publish(&x, &mut published);
    if let Some(p) = progress {
        p.scenarios_done.fetch_add(1, Ordering::Relaxed);
    }
    x
}

impl Exploration<'_> {
    fn find(&self, s: &State) -> Option<u32> {
        self.table
            .find(hash_state(s), |&i| self.states[i as usize] == *s)
            .copied()
    }

    /// Adds `s` unless an equal state is already known, and returns its index; evaluates every
    /// state claim on a new state.
    fn insert(&mut self, s: State, parent: Option<(u32, u32)>, depth: u32) -> u32 {
        let h = hash_state(&s);
        if let Some(&i) = self.table.find(h, |&i| self.states[i as usize] == s) {
            return i;
        }
        let idx = self.states.len() as u32;
        for (c, claim) in CATALOGUE.iter().enumerate() {
            if self.findings[c] == Finding::None && claim.discovered(self.model, &s) {
                self.findings[c] = Finding::Path(self.chain_to(parent, idx));
            }
        }
        let states = &self.states;
        self.table
            .insert_unique(h, idx, |&i| hash_state(&states[i as usize]));
        self.states.push(s);
        self.parent.push(parent);
        self.depth.push(depth);
        self.expanded.push(false);
        self.max_depth = self.max_depth.max(depth as usize);
        idx
    }

    /// The chain of state indices from an initial state to `idx`, whose parent is `parent`.
    fn chain_to(&self, parent: Option<(u32, u32)>, idx: u32) -> Vec<u32> {
        let mut chain = vec![idx];
        let mut p = parent;
        while let Some((i, _)) = p {
            chain.push(i);
            p = self.parent[i as usize];
        }
        chain.reverse();
        chain
    }

    /// The successors of an expanded state, as recorded by the search.
    fn successors(&self, idx: u32) -> &[u32] {
        let i = idx as usize;
        &self.edges[self.edge_start[i] as usize..self.edge_start[i + 1] as usize]
    }

    /// Decides an `eventually` claim on the explored graph: a shortest run through states where
    /// the condition is false that ends in a state with no successor is a counterexample.
    fn decide_eventually(&self, claim: &Claim) -> Finding {
        let avoids = |i: u32| !(claim.condition)(self.model, &self.states[i as usize]);
        let n = self.states.len();
        let mut seen = vec![false; n];
        let mut via: Vec<Option<u32>> = vec![None; n];
        let mut succ_of: Vec<(u32, Vec<u32>)> = Vec::new();
        let mut queue: VecDeque<u32> = (0..n as u32)
            .filter(|&i| self.parent[i as usize].is_none() && avoids(i))
            .collect();
        for &i in &queue {
            seen[i as usize] = true;
        }
        while let Some(u) = queue.pop_front() {
            if !self.expanded[u as usize] {
                continue; // Beyond the bound: its future is unknown.
            }
            let succ = self.successors(u);
            if succ.is_empty() {
                let mut chain = vec![u];
                let mut at = u;
                while let Some(p) = via[at as usize] {
                    chain.push(p);
                    at = p;
                }
                chain.reverse();
                return Finding::Path(chain);
            }
            let next: Vec<u32> = succ.iter().copied().filter(|&v| avoids(v)).collect();
            for &v in &next {
                if !seen[v as usize] {
                    seen[v as usize] = true;
                    via[v as usize] = Some(u);
                    queue.push_back(v);
                }
            }
            succ_of.push((u, next));
        }
        if has_cycle(n, &succ_of) {
            Finding::Cycle
        } else {
            Finding::None
        }
    }

    pub fn unique_states(&self) -> usize {
        self.states.len()
    }

    pub fn complete(&self) -> bool {
        self.bound.is_none()
    }

    /// The stored states (representatives under symmetry reduction), in the order found.
    pub fn states(&self) -> impl Iterator<Item = &State> {
        self.states.iter()
    }

    fn finding(&self, claim: &Claim) -> &Finding {
        let c = CATALOGUE
            .iter()
            .position(|k| k == claim)
            .expect("claims come from the catalogue");
        &self.findings[c]
    }

    /// The verdict for a catalogue claim.
    pub fn verdict(&self, claim: &Claim) -> Verdict {
        claim.verdict(matches!(self.finding(claim), Finding::Path(_)))
    }

    /// Why a verdict without a path is not a proof even in a complete search: an `eventually`
    /// claim whose graph has a cycle of states without the condition.
    pub fn caveat(&self, claim: &Claim) -> Option<&'static str> {
        (*self.finding(claim) == Finding::Cycle).then_some(
            "a cycle of states without the condition exists; runs that stay in it for ever are not counted",
        )
    }

    /// The shortest path to the claim's counterexample or witness: each step with the state it
    /// leads to, after the initial state. `None` when there is no discovery.
    ///
    /// The search stores representatives under symmetry reduction; the trace is the concrete
    /// run they stand for. From a concrete state, the step taken is one whose successor has
    /// the stored next representative as its own representative (one exists by symmetry).
    pub fn trace(&self, claim: &Claim) -> Option<Trace> {
        let Finding::Path(chain) = self.finding(claim) else {
            return None;
        };
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

/// Whether the graph given by `succ_of` (node, successors) has a cycle.
fn has_cycle(n: usize, succ_of: &[(u32, Vec<u32>)]) -> bool {
    let mut adj: Vec<&[u32]> = vec![&[]; n];
    for (u, v) in succ_of {
        adj[*u as usize] = v;
    }
    // Iterative depth-first search with three colours.
    let mut colour = vec![0u8; n];
    for (root, _) in succ_of {
        if colour[*root as usize] != 0 {
            continue;
        }
        let mut stack: Vec<(u32, usize)> = vec![(*root, 0)];
        colour[*root as usize] = 1;
        while let Some((u, i)) = stack.pop() {
            if let Some(&v) = adj[u as usize].get(i) {
                stack.push((u, i + 1));
                match colour[v as usize] {
                    0 => {
                        colour[v as usize] = 1;
                        stack.push((v, 0));
                    }
                    1 => return true,
                    _ => {}
                }
            } else {
                colour[u as usize] = 2;
            }
        }
    }
    false
}

/// A path through the state space.
#[derive(Clone, Debug)]
pub struct Trace {
    pub initial: State,
    pub steps: Vec<(Step, State)>,
}
