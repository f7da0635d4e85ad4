//! Partial-order reduction: the contract each step's footprint promises, checked on the full
//! state graph of every scenario, and the reduced search's agreement with the full search on
//! every scenario of `models/`, the benchmark's small scenario and generated scenarios.

use crate::support::{full_graph_within, scenario_text};
use crate::{model, model_files, repo_path};
use imessage_model::check::{explore_with, Exploration, Limits, Reduction};
use imessage_model::engine::Footprints;
use imessage_model::load::parse;
use imessage_model::state::Step;
use imessage_model::{ProtocolModel, Scenario, CATALOGUE};
use proptest::prelude::*;
use stateright::{Expectation, Model};
use std::path::Path;

type State = imessage_model::state::State;

/// Largest full graph the contract is checked on in a debug test run; larger scenarios are
/// covered by the comparison of reduced and full searches.
pub const CONTRACT_GRAPH_LIMIT: usize = 60_000;

fn discovered(m: &ProtocolModel, p: usize, s: &State) -> bool {
    let prop = &m.properties()[p];
    let c = (prop.condition)(m, s);
    match prop.expectation {
        Expectation::Always => !c,
        Expectation::Sometimes | Expectation::Eventually => c,
    }
}

fn bit(o: usize) -> u64 {
    1 << o
}

/// Guards (`Footprints::guard`): no run from an initial state reaches a discovery of a
/// property without passing through a discovery of its guard (for a claim `always (φ implies
/// ψ)` or `φ leads-to ψ`, its premise `φ`), so the search need not evaluate the property while
/// the guard is undiscovered.
fn check_guards(name: &str, m: &ProtocolModel, graph: &[crate::support::Expanded]) {
    let index: std::collections::HashMap<&State, usize> =
        graph.iter().enumerate().map(|(i, (s, _))| (s, i)).collect();
    for p in 0..m.properties().len() {
        let Some(q) = m.guard(p) else { continue };
        // The states reached without passing through a discovery of the guard.
        let mut seen = vec![false; graph.len()];
        let mut stack: Vec<usize> = m.init_states().iter().map(|s| index[s]).collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let (s, succ) = &graph[i];
            if discovered(m, q, s) {
                continue;
            }
            assert!(
                !discovered(m, p, s),
                "{name}: {} is discovered on a run where its guard {} is not",
                m.properties()[p].name,
                m.properties()[q].name
            );
            stack.extend(succ.iter().map(|(_, t)| index[t]));
        }
    }
}

/// Checks every point of the `Footprints` contract on every edge and every pair of steps of
/// one scenario's full graph. The contract binds only a model that declares itself reducible
/// (on a duplicating network the engine never reduces: a delivered message stays deliverable,
/// so a lookup can be answered twice and no step is independent of another).
/// Returns whether the graph was small enough to check.
pub fn check_contract(name: &str, m: &ProtocolModel) -> bool {
    if !m.reducible() {
        return true;
    }
    let Some(graph) = full_graph_within(m, CONTRACT_GRAPH_LIMIT) else {
        return false;
    };
    // The claims that keep history (past-time operators, `leads-to`).
    let history: Vec<usize> = (m.scenario.claims.iter().enumerate())
        .filter(|(_, c)| c.formula().is_some_and(|f| f.history_bits() > 0))
        .map(|(p, _)| p)
        .collect();
    check_guards(name, m, &graph);
    crate::parts::check_successors(name, m, &graph, &mut Default::default());
    let props: Vec<usize> = (0..m.properties().len()).collect();
    for (s, succ) in &graph {
        let tick_enabled = succ.iter().any(|(a, _)| m.owner(a).is_none());
        for (a, t) in succ {
            // Stutter: a step that changes nothing a past-time operator reads (so that no
            // claim keeping history counts it as able to undo) leaves the history alone.
            if !history.iter().any(|&p| m.may_undo(p, a)) {
                assert_eq!(
                    s.history, t.history,
                    "{name}: {a:?} changes the history though it writes nothing a past-time \
                     operator reads"
                );
            }
            // Asked of many properties at once, the same answer.
            assert_eq!(
                m.may_undo_any(&props, a),
                props.iter().any(|&p| m.may_undo(p, a)),
                "{name}: {a:?}"
            );
            // Undo: a step said not to undo a discovery does not.
            // Every property: the catalogue's, claims written in the language, premises.
            for (p, prop) in m.properties().iter().enumerate() {
                if discovered(m, p, s) && !m.may_undo(p, a) {
                    assert!(
                        discovered(m, p, t),
                        "{name}: {a:?} undoes {} but says it cannot",
                        prop.name
                    );
                }
            }
            // A property that reads nothing a step changes keeps its value across it (the
            // search does not evaluate it again there).
            for (p, prop) in m.properties().iter().enumerate() {
                if let (Some(c), Some(r)) = (m.changes(a), m.reads(p)) {
                    if c & r == 0 {
                        assert_eq!(
                            (prop.condition)(m, s),
                            (prop.condition)(m, t),
                            "{name}: {a:?} changes {} though it writes nothing it reads",
                            prop.name
                        );
                    }
                }
            }
            // What a step sends is covered by the abstraction of `senders_to`.
            assert!(
                imessage_model::footprints::effects_cover_sends(m, s, a, t),
                "{name}: {a:?} sends what its abstract effects do not cover"
            );
            if m.local_key(a).is_some() {
                assert!(
                    !tick_enabled,
                    "{name}: {a:?} is keyed while the clock can tick"
                );
            }
        }
        // Independence: steps of different owners (or of one owner with different keys, one
        // of them keyed) commute and do not disable each other.
        for (i, (a, sa)) in succ.iter().enumerate() {
            for (b, sb) in &succ[i + 1..] {
                let (Some(oa), Some(ob)) = (m.owner(a), m.owner(b)) else {
                    continue;
                };
                let (ka, kb) = (m.local_key(a), m.local_key(b));
                let independent = oa != ob || ((ka.is_some() || kb.is_some()) && ka != kb);
                if !independent {
                    continue;
                }
                let ab = m.next_state(sa, b.clone());
                let ba = m.next_state(sb, a.clone());
                let (Some(ab), Some(ba)) = (ab, ba) else {
                    panic!("{name}: {a:?} and {b:?} disable each other");
                };
                if ab != ba {
                    // Only the claims' history may tell the two orders apart, and only when
                    // both steps change what a past-time operator reads: such steps are never
                    // postponed while that claim is undecided.
                    let mut x = ab.clone();
                    x.history = ba.history.clone();
                    assert!(x == ba, "{name}: {a:?} and {b:?} do not commute");
                    let seen_by_history =
                        |step: &Step| history.iter().any(|&p| m.may_undo(p, step));
                    assert!(
                        seen_by_history(a) && seen_by_history(b),
                        "{name}: {a:?} and {b:?} order the history differently, though one of \
                         them changes nothing a past-time operator reads"
                    );
                }
            }
        }
        // The clock: blocked by an owner means no tick now, and still blocked after any step
        // of another owner.
        let owners = m.scenario.devices.len() + imessage_model::protocol::SERVERS;
        for o in 0..owners {
            if m.global_blocked(s, bit(o)) {
                assert!(
                    !tick_enabled,
                    "{name}: owner {o} blocks a tick that is enabled"
                );
                for (a, t) in succ {
                    if m.owner(a).is_some_and(|x| x != o) {
                        assert!(
                            m.global_blocked(t, bit(o)),
                            "{name}: {a:?} unblocks the clock that owner {o} held"
                        );
                    }
                }
            }
        }
    }
    true
}

#[test]
fn footprint_contract_holds_on_every_full_graph() {
    let mut checked = 0;
    for name in model_files() {
        let m = ProtocolModel::new(model(&name)).without_symmetry();
        checked += usize::from(check_contract(&name, &m));
    }
    assert!(
        checked >= 20,
        "only {checked} scenarios are small enough for the contract check"
    );
}

/// What must agree between the reduced and the full search.
fn agree(name: &str, none: &Exploration, por: &Exploration) {
    assert_eq!(none.complete(), por.complete(), "{name}: completeness");
    for c in CATALOGUE.iter() {
        assert_eq!(none.verdict(c), por.verdict(c), "{name}: {}", c.id);
        assert_eq!(none.caveat(c), por.caveat(c), "{name}: {} caveat", c.id);
        assert_eq!(
            none.trace(c).map(|t| t.steps.len()),
            por.trace(c).map(|t| t.steps.len()),
            "{name}: {} trace length",
            c.id
        );
    }
    assert!(
        por.unique_states() <= none.unique_states(),
        "{name}: the reduced search stored more states ({} > {})",
        por.unique_states(),
        none.unique_states()
    );
}

fn both(s: Scenario) -> (String, ProtocolModel) {
    (s.name.clone(), ProtocolModel::new(s))
}

#[test]
fn reduction_keeps_every_verdict_and_trace_length_on_every_model() {
    let mut reduced_somewhere = false;
    let mut scenarios: Vec<Scenario> = model_files().iter().map(|n| model(n)).collect();
    // The benchmark scenarios whose unreduced search takes seconds, not minutes (the larger
    // rungs are compared in release builds: README, "Scale").
    for rel in [
        "benches/scenarios/population.toml",
        "benches/scenarios/ladder-1-one-send.toml",
        "benches/scenarios/ladder-2-look-up-then-write.toml",
        "benches/scenarios/ladder-3-answered-lookup.toml",
        "benches/scenarios/ladder-4-two-way.toml",
    ] {
        let text = std::fs::read_to_string(repo_path(rel)).unwrap();
        scenarios.push(parse(Path::new(rel), &text).unwrap());
    }
    for s in scenarios {
        let limits = Limits::of(&s);
        let (name, m) = both(s);
        let none = explore_with(&m, limits, Reduction::None, None);
        let por = explore_with(&m, limits, Reduction::Por, None);
        assert!(none.complete(), "{name}");
        agree(&name, &none, &por);
        reduced_somewhere |= por.unique_states() < none.unique_states();
    }
    assert!(reduced_somewhere, "the reduction never stored fewer states");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24)
    ))]

    /// On generated scenarios the reduced search gives the full search's verdicts, caveats and
    /// trace lengths, never storing more states; and the footprint contract holds.
    #[test]
    fn reduction_agrees_on_generated_scenarios(text in scenario_text()) {
        let s = match parse(Path::new("generated.toml"), &text) {
            Ok(s) => s,
            Err(e) => {
                // A generated file must be valid; say which rule it broke.
                return Err(TestCaseError::fail(format!("{e}\n{text}")));
            }
        };
        let limits = Limits::of(&s);
        let (_, m) = both(s.clone());
        let none = explore_with(&m, limits, Reduction::None, None);
        if none.complete() {
            let por = explore_with(&m, limits, Reduction::Por, None);
            agree(&text, &none, &por);
            if none.unique_states() < 3_000 {
                check_contract(&text, &ProtocolModel::new(s).without_symmetry());
            }
        }
    }
}

/// Whether some edge of the full graph of `m` undoes a discovery of the claim `id`.
fn some_step_undoes(m: &ProtocolModel, id: &str) -> bool {
    let p = CATALOGUE.iter().position(|c| c.id == id).unwrap();
    let graph = full_graph_within(m, CONTRACT_GRAPH_LIMIT).expect("a small graph");
    graph
        .iter()
        .any(|(s, succ)| discovered(m, p, s) && succ.iter().any(|(_, t)| !discovered(m, p, t)))
}

/// The log learns the draft that travels with a lookup, then crashes before it persists the
/// record and restarts without it: the restart undoes the violation of
/// `content-never-in-lookup-log`, and the contract (a step said not to undo a discovery does
/// not) holds on a graph where such undoing happens.
#[test]
fn the_contract_holds_where_the_log_forgets_what_it_learnt() {
    let text = r#"name = "the log forgets a draft"
variant = "imessage-2016"
bugs = ["lookup-carries-draft"]
threat = "log-crash"
logging = "before-reply"
[[account]]
handle = "A"
[[account]]
handle = "B"
[[action]]
by = "A/1"
send = "B"
"#;
    let m = ProtocolModel::new(crate::regressions::scenario(text)).without_symmetry();
    assert!(m.reducible());
    assert!(some_step_undoes(&m, "content-never-in-lookup-log"));
    assert!(check_contract("the log forgets a draft", &m));
}
