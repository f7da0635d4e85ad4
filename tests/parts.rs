//! Successors built from parts (`parts::successor`) against the whole-state path
//! (`ProtocolModel::next_state`, then `split`): on every state of full graphs, every enabled
//! step gives the same parts both ways, leads nowhere both ways, and a part said to be left as
//! it was is its parent's.

use crate::support::{full_graph_within, Expanded};
use crate::{model, model_files};
use imessage_model::engine::{next_parts_whole, Footprints};
use imessage_model::parts::Part;
use imessage_model::scenario::Order;
use imessage_model::ProtocolModel;
use stateright::Model;

/// The parts of a successor, the parent's where `next` leaves them.
fn resolved(parent: &[Part], next: Vec<Option<Part>>) -> Vec<Part> {
    next.into_iter()
        .zip(parent)
        .map(|(p, q)| p.unwrap_or_else(|| q.clone()))
        .collect()
}

/// Checks every step of every state of `graph`; returns how many successors were built from
/// parts (not by way of the whole state).
pub fn check_successors(name: &str, m: &ProtocolModel, graph: &[Expanded]) -> usize {
    let mut built = 0;
    let (mut fast, mut whole) = (Vec::new(), Vec::new());
    for (s, _) in graph {
        let mut parts = Vec::new();
        m.split(s.clone(), &mut parts);
        let mut actions = Vec::new();
        m.actions(s, &mut actions);
        for a in &actions {
            let by_parts = imessage_model::parts::successor(m, &parts, a, &mut fast);
            built += usize::from(by_parts == Some(true));
            let leads = m.next_parts(s, &parts, a, &mut fast);
            let leads_whole = next_parts_whole(m, s, &parts, a, &mut whole);
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
            let (f, w) = (
                resolved(&parts, std::mem::take(&mut fast)),
                resolved(&parts, std::mem::take(&mut whole)),
            );
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
    let (mut graphs, mut built_total) = (0, 0);
    for name in model_files() {
        let m = ProtocolModel::new(model(&name)).without_symmetry();
        let Some(graph) = full_graph_within(&m, crate::reduction::CONTRACT_GRAPH_LIMIT) else {
            continue;
        };
        graphs += 1;
        let built = check_successors(&name, &m, &graph);
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
}

/// Under symmetry reduction the successor is a representative, which only the whole state
/// gives: no successor is built from parts.
#[test]
fn symmetry_reduction_takes_the_whole_state_path() {
    let m = ProtocolModel::new(model("ghost-device-2016.toml"));
    assert!(!m.interchangeable_devices().is_empty());
    let graph = full_graph_within(&m, 10_000).expect("a small graph");
    assert_eq!(check_successors("ghost-device-2016", &m, &graph), 0);
}
