//! Partial-order reduction: the contract each step's footprint promises, checked on the full
//! state graph of every scenario, and the reduced search's agreement with the full search on
//! every scenario of `models/`, the benchmark's small scenario and generated scenarios.

use crate::{model, model_files, repo_path};
use imessage_model::check::{explore_with, Exploration, Limits, Reduction};
use imessage_model::engine::Footprints;
use imessage_model::model::Step;
use imessage_model::scenario::parse;
use imessage_model::{ProtocolModel, Scenario, CATALOGUE};
use proptest::prelude::*;
use stateright::{Expectation, Model};
use std::collections::{HashMap, VecDeque};
use std::path::Path;

type State = imessage_model::model::State;

/// A state with its successors, each with the step that leads to it.
type Expanded = (State, Vec<(Step, State)>);

/// Largest full graph the contract is checked on in a debug test run; larger scenarios are
/// covered by the comparison of reduced and full searches.
const CONTRACT_GRAPH_LIMIT: usize = 60_000;

/// Every state of the model (without symmetry reduction, so steps name concrete actors) with
/// its enabled steps and successors; `None` past [`CONTRACT_GRAPH_LIMIT`] states.
fn full_graph(m: &ProtocolModel) -> Option<Vec<Expanded>> {
    let mut seen: HashMap<State, ()> = HashMap::new();
    let mut queue: VecDeque<State> = m.init_states().into_iter().collect();
    let mut out = Vec::new();
    for s in &queue {
        seen.insert(s.clone(), ());
    }
    while let Some(s) = queue.pop_front() {
        let mut actions = Vec::new();
        m.actions(&s, &mut actions);
        let mut succ = Vec::new();
        for a in actions {
            if let Some(t) = m.next_state(&s, a.clone()) {
                if seen.insert(t.clone(), ()).is_none() {
                    queue.push_back(t.clone());
                }
                succ.push((a, t));
            }
        }
        out.push((s, succ));
        if out.len() > CONTRACT_GRAPH_LIMIT {
            return None;
        }
    }
    Some(out)
}

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

/// Checks every point of the `Footprints` contract on every edge and every pair of steps of
/// one scenario's full graph. The contract binds only a model that declares itself reducible
/// (on a duplicating network the engine never reduces: a delivered message stays deliverable,
/// so a lookup can be answered twice and no step is independent of another).
/// Returns whether the graph was small enough to check.
fn check_contract(name: &str, m: &ProtocolModel) -> bool {
    if !m.reducible() {
        return true;
    }
    let Some(graph) = full_graph(m) else {
        return false;
    };
    for (s, succ) in &graph {
        let tick_enabled = succ.iter().any(|(a, _)| m.owner(a).is_none());
        for (a, t) in succ {
            // Undo: a step said not to undo a discovery does not.
            for (p, claim) in CATALOGUE.iter().enumerate() {
                if discovered(m, p, s) && !m.may_undo(p, a) {
                    assert!(
                        discovered(m, p, t),
                        "{name}: {a:?} undoes {} but says it cannot",
                        claim.id
                    );
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
                assert!(
                    ab.is_some() && ab == ba,
                    "{name}: {a:?} and {b:?} do not commute"
                );
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
    let bench = repo_path("benches/scenarios/population.toml");
    scenarios.push(
        parse(
            Path::new("benches/scenarios/population.toml"),
            &std::fs::read_to_string(bench).unwrap(),
        )
        .unwrap(),
    );
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

/// A small valid scenario: 2–3 accounts, 0–2 devices each, 1–3 actions, optional court
/// order, every variant, threat, network, logging mode and cache setting.
fn scenario_text() -> impl Strategy<Value = String> {
    let accounts = prop::collection::vec((0u8..3, any::<bool>()), 2..=3);
    (
        accounts,
        prop::collection::vec((0usize..8, any::<bool>(), 0usize..3), 1..=3),
        (0usize..4, 0usize..5, 0usize..3, any::<bool>()),
        (any::<bool>(), any::<bool>(), 1u8..=2, 1u8..=2),
        prop::option::of(0usize..3),
    )
        .prop_map(|(accounts, actions, (v, t, o, lossy), (before, cache, days, retention), order)| {
            let handles = ["A", "B", "C"];
            let variants = ["imessage-2016", "imessage-ckv", "private-discovery", "sealed-sender"];
            let threats = ["honest", "ghost-device", "empty-answer", "key-swap", "log-crash"];
            let orders = ["ordered", "unordered", "duplicating"];
            let days = if o == 2 { 1 } else { days };
            let mut text = format!(
                "name = \"generated\"\nvariant = \"{}\"\nthreat = \"{}\"\nlogging = \"{}\"\nlookup-cache = {}\n[network]\norder = \"{}\"\nlossy = {}\n[bounds]\ndays = {}\nretention = {}\nmax-states = 20000\n",
                variants[v],
                threats[t],
                if before { "before-reply" } else { "after-reply" },
                cache,
                orders[o],
                lossy,
                days,
                retention
            );
            let mut devices: Vec<(usize, String)> = Vec::new();
            for (i, (n, registered)) in accounts.iter().enumerate() {
                let registered = *registered || *n > 0;
                text.push_str(&format!("[[account]]\nhandle = \"{}\"\n", handles[i]));
                if registered {
                    text.push_str(&format!("devices = {}\n", n.max(&1)));
                    for d in 1..=*n.max(&1) {
                        devices.push((i, format!("{}/{}", handles[i], d)));
                    }
                } else {
                    text.push_str("registered = false\n");
                }
            }
            if devices.is_empty() {
                return text;
            }
            for (by, send, target) in actions {
                let (account, by) = &devices[by % devices.len()];
                // Anyone but the device's own account.
                let target = handles[(account + 1 + target % (accounts.len() - 1)) % accounts.len()];
                let verb = if send { "send" } else { "lookup" };
                text.push_str(&format!("[[action]]\nby = \"{by}\"\n{verb} = \"{target}\"\n"));
            }
            if let Some(h) = order {
                text.push_str(&format!("[[legal-request]]\nhandle = \"{}\"\n", handles[h % accounts.len()]));
            }
            text
        })
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
