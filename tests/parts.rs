//! Successors built from parts (`parts::successor`) against the whole-state path
//! (`ProtocolModel::next_state`, then `split`): on every state of full graphs, every enabled
//! step gives the same parts both ways, leads nowhere both ways, and a part said to be left as
//! it was is its parent's.

use crate::support::{full_graph_within, Expanded};
use crate::{model, model_files};
use imessage_model::engine::{next_parts_whole, Footprints};
use imessage_model::parts::{Memo, Part};
use imessage_model::scenario::Order;
use imessage_model::state::State;
use imessage_model::ProtocolModel;
use stateright::Model;
use std::collections::HashMap;
use std::sync::Arc;

/// The parts of a successor, the parent's where `next` leaves them.
fn resolved(parent: &[Part], next: Vec<Option<Part>>) -> Vec<Part> {
    next.into_iter()
        .zip(parent)
        .map(|(p, q)| p.unwrap_or_else(|| q.clone()))
        .collect()
}

/// Checks every step of every state of `graph`; returns how many successors were built from
/// parts (not by way of the whole state). Each successor is built from parts twice with one
/// `memo` for the whole graph: first where the step may be new to the memo, then where the memo
/// holds it. Between the two, the memo is told that the actor's state the first built is
/// stored as the whole-state path's equal copy (`Footprints::stored`): the second must give
/// that very copy.
pub fn check_successors(
    name: &str,
    m: &ProtocolModel,
    graph: &[Expanded],
    memo: &mut Memo,
) -> usize {
    let mut built = 0;
    let (mut first, mut fast, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    for (s, _) in graph {
        let mut parts = Vec::new();
        m.split(s.clone(), &mut parts);
        let mut actions = Vec::new();
        m.actions(s, &mut actions);
        for a in &actions {
            let by_parts = imessage_model::parts::successor(m, &parts, a, &mut first, memo);
            let leads_whole = next_parts_whole(m, s, &parts, a, &mut whole);
            assert!(
                by_parts.is_none_or(|b| b == leads_whole),
                "{name}: {a:?} leads somewhere one way only (the memo new to it)"
            );
            built += usize::from(by_parts == Some(true));
            let settled: Vec<usize> = match by_parts {
                Some(true) => (0..parts.len())
                    .filter(|&slot| {
                        first[slot].is_some() && matches!(whole[slot], Some(Part::Actor(_)))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for &slot in &settled {
                m.stored(memo, slot, whole[slot].as_ref().expect("a built part"));
            }
            let leads = m.next_parts(s, &parts, a, &mut fast, memo);
            assert_eq!(
                leads, leads_whole,
                "{name}: {a:?} leads somewhere one way only"
            );
            assert_eq!(leads, m.next_state(s, a.clone()).is_some(), "{name}: {a:?}");
            if !leads {
                continue;
            }
            for (slot, p) in fast.iter().enumerate() {
                if p.is_none() {
                    assert!(
                        whole[slot].as_ref().is_none_or(|w| *w == parts[slot]),
                        "{name}: {a:?} is said to leave part {slot} as it was, and changes it"
                    );
                }
            }
            for &slot in &settled {
                assert!(
                    matches!((&fast[slot], &whole[slot]),
                        (Some(Part::Actor(x)), Some(Part::Actor(y))) if Arc::ptr_eq(x, y)),
                    "{name}: {a:?}: the memo does not give the stored state of actor {slot}"
                );
            }
            let w = resolved(&parts, std::mem::take(&mut whole));
            if by_parts == Some(true) {
                let f = resolved(&parts, std::mem::take(&mut first));
                assert!(
                    f == w,
                    "{name}: {a:?} gives other parts (the memo new to it)"
                );
            }
            let f = resolved(&parts, std::mem::take(&mut fast));
            assert!(f == w, "{name}: {a:?} gives other parts built from parts");
            let next = m.join(&f.iter().collect::<Vec<_>>());
            assert!(
                Some(next) == m.next_state(s, a.clone()),
                "{name}: {a:?}: the parts built join into another state"
            );
        }
    }
    built
}

#[test]
fn successors_built_from_parts_are_the_whole_successors_on_every_model() {
    let (mut graphs, mut built_total, mut held_total) = (0, 0, 0);
    for name in model_files() {
        let m = ProtocolModel::new(model(&name)).without_symmetry();
        let Some(graph) = full_graph_within(&m, crate::reduction::CONTRACT_GRAPH_LIMIT) else {
            continue;
        };
        graphs += 1;
        // A memo that starts anew every few steps, and one that keeps them all.
        let small = check_successors(&name, &m, &graph, &mut Memo::bounded(3));
        let mut memo = Memo::default();
        let built = check_successors(&name, &m, &graph, &mut memo);
        assert_eq!(small, built, "{name}");
        held_total += memo.len();
        built_total += built;
        let history = m
            .scenario
            .claims
            .iter()
            .any(|c| c.formula().is_some_and(|f| f.history_bits() > 0));
        // Every scenario but those with a duplicating network or a claim keeping history
        // takes the path from parts.
        if m.scenario.order != Order::Duplicating && !history {
            assert!(built > 0, "{name}: no successor is built from parts");
        } else {
            assert_eq!(built, 0, "{name}: a successor is built from parts");
        }
    }
    assert!(graphs >= 20, "only {graphs} full graphs are small enough");
    assert!(
        built_total > 10_000,
        "{built_total} successors built from parts"
    );
    // The same step recurs across states: the memo holds fewer steps than successors built.
    eprintln!("{held_total} steps held for {built_total} successors");
    assert!(
        held_total < built_total,
        "{held_total} steps held for {built_total} successors"
    );
}

/// Under symmetry reduction the successor is a representative, which only the whole state
/// gives: no successor is built from parts.
#[test]
fn symmetry_reduction_takes_the_whole_state_path() {
    let m = ProtocolModel::new(model("ghost-device-2016.toml"));
    assert!(!m.interchangeable_devices().is_empty());
    let graph = full_graph_within(&m, 10_000).expect("a small graph");
    let mut memo = Memo::default();
    assert_eq!(
        check_successors("ghost-device-2016", &m, &graph, &mut memo),
        0
    );
    assert!(memo.is_empty());
}

/// The parts of `s`, each shared with an equal part seen before (as the store shares them), so
/// that equal parts are one allocation as in a search.
fn interned(m: &ProtocolModel, tables: &mut Vec<HashMap<Part, Part>>, s: &State) -> Vec<Part> {
    let mut parts = Vec::new();
    m.split(s.clone(), &mut parts);
    tables.resize_with(parts.len(), HashMap::new);
    parts
        .into_iter()
        .zip(tables.iter_mut())
        .map(|(p, t)| t.entry(p.clone()).or_insert(p).clone())
        .collect()
}

/// Moves `view` from the state of parts `at` to that of parts `to`, which is `t`, and checks it
/// is `t` with its actions in `join`'s order (equality ignores the order of a map; the order of
/// the actions does not).
fn move_view(name: &str, m: &ProtocolModel, view: &mut State, at: &[Part], to: &[Part], t: &State) {
    m.rejoin(
        view,
        &at.iter().collect::<Vec<_>>(),
        &to.iter().collect::<Vec<_>>(),
    );
    assert!(
        *view == *t,
        "{name}: the view moved to a state is another state"
    );
    let (mut got, mut want) = (Vec::new(), Vec::new());
    m.actions(view, &mut got);
    m.actions(&m.join(&to.iter().collect::<Vec<_>>()), &mut want);
    assert_eq!(
        got, want,
        "{name}: the view's actions come in another order"
    );
}

/// `rejoin` against `join`: on every full graph, a view moved from state to state in the order
/// a search reads them (each state, then its successors) is each state in turn, with its
/// actions in the same order, whether the parts it moves between are shared as in the store or
/// split anew (a new list of messages in flight, though the actors' states and the messages
/// themselves are shared with the graph's states).
#[test]
fn a_view_moved_from_state_to_state_is_each_state_in_turn() {
    let (mut graphs, mut moves) = (0, 0);
    for name in model_files() {
        let m = ProtocolModel::new(model(&name)).without_symmetry();
        let Some(graph) = full_graph_within(&m, crate::reduction::CONTRACT_GRAPH_LIMIT) else {
            continue;
        };
        graphs += 1;
        let mut tables = Vec::new();
        let mut at = interned(&m, &mut tables, &graph[0].0);
        let mut view = m.join(&at.iter().collect::<Vec<_>>());
        for (k, (s, succ)) in graph.iter().enumerate() {
            for t in std::iter::once(s).chain(succ.iter().map(|(_, t)| t)) {
                let to = if k % 2 == 0 {
                    interned(&m, &mut tables, t)
                } else {
                    let mut copies = Vec::new();
                    m.split(t.clone(), &mut copies);
                    copies
                };
                move_view(&name, &m, &mut view, &at, &to, t);
                at = to;
                moves += 1;
            }
        }
        // From the state with the most messages in flight, whose map is the largest, to each
        // state: a map that held more messages must not change the order of the actions.
        let most = (graph.iter().map(|(s, _)| s))
            .max_by_key(|s| s.network.len())
            .expect("a graph has a state");
        let from = interned(&m, &mut tables, most);
        for (t, _) in &graph {
            let mut view = m.join(&from.iter().collect::<Vec<_>>());
            let to = interned(&m, &mut tables, t);
            move_view(&name, &m, &mut view, &from, &to, t);
            moves += 1;
        }
    }
    assert!(graphs >= 20, "only {graphs} full graphs are small enough");
    assert!(moves > 10_000, "{moves} moves");
}
