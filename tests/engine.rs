//! The search engine: agreement with stateright's own checker, bounds, trace replay.

use crate::{model, model_files};
use imessage_model::check::{explore, explore_with, Bound, Limits, Reduction};
use imessage_model::claims::Conditions;
use imessage_model::load::parse;
use imessage_model::{check, CheckOptions, ProtocolModel, Verdict, CATALOGUE};
use stateright::{Checker, HasDiscoveries, Model};
use std::collections::BTreeSet;
use std::path::Path;

/// Our breadth-first search explores exactly the states stateright's breadth-first checker
/// explores, and discovers exactly the same claims.
#[test]
fn search_agrees_with_stateright_checker_on_every_model() {
    for name in model_files() {
        let scenario = model(&name);
        let limits = Limits::of(&scenario);
        let ours_model = ProtocolModel::new(scenario.clone());
        let ours = explore_with(&ours_model, limits, Reduction::None, None);
        // Every claim of the scenario, the catalogue's and its own (the premises of its own
        // claims, named `ID (premise)`, are left out of both sides).
        let claims = &ours_model.scenario.claims;
        let ours_found: BTreeSet<&str> = (0..claims.len())
            .filter(|&i| ours.verdict_at(i).has_path())
            .map(|i| claims[i].id())
            .collect();

        let theirs = ProtocolModel::new(scenario)
            .checker()
            .finish_when(HasDiscoveries::AnyOf(BTreeSet::new()))
            .spawn_bfs()
            .join();
        let theirs_found: BTreeSet<&str> = theirs
            .discoveries()
            .keys()
            .copied()
            .filter(|n| !n.ends_with(" (premise)"))
            .collect();
        assert!(theirs.is_done(), "{name}");
        assert_eq!(
            ours.unique_states(),
            theirs.unique_state_count(),
            "{name}: unique states"
        );
        assert_eq!(ours_found, theirs_found, "{name}: discoveries");
    }
}

/// Symmetry reduction changes how many states are stored, never a verdict.
#[test]
fn symmetry_reduction_keeps_every_verdict() {
    let mut reduced_somewhere = false;
    for name in model_files()
        .into_iter()
        .chain(["../benches/scenarios/population.toml".to_string()])
    {
        let scenario = model(&name);
        let limits = Limits::of(&scenario);
        let with = ProtocolModel::new(scenario.clone());
        let without = ProtocolModel::new(scenario).without_symmetry();
        let a = explore(&with, limits);
        let b = explore(&without, limits);
        for c in CATALOGUE.iter() {
            assert_eq!(a.verdict(c), b.verdict(c), "{name}: {}", c.id);
            // Shortest paths have the same length in the reduced and the full space.
            assert_eq!(
                a.trace(c).map(|t| t.steps.len()),
                b.trace(c).map(|t| t.steps.len()),
                "{name}: {}",
                c.id
            );
        }
        assert!(a.unique_states() <= b.unique_states(), "{name}");
        reduced_somewhere |= a.unique_states() < b.unique_states();
    }
    assert!(reduced_somewhere, "no scenario has interchangeable devices");
}

/// Every step of a reported trace is a step of the model, from an initial state.
#[test]
fn traces_replay_in_the_model() {
    for name in [
        "ghost-device-2016.toml",
        "log-after-reply-lossy.toml",
        "retention-bug-never-purges.toml",
    ] {
        let scenario = model(name);
        let limits = Limits::of(&scenario);
        let m = ProtocolModel::new(scenario);
        let x = explore(&m, limits);
        for claim in CATALOGUE.iter().filter(|c| x.verdict(c).has_path()) {
            let t = x.trace(claim).unwrap();
            assert!(m.init_states().contains(&t.initial));
            let mut prev = t.initial.clone();
            for (step, after) in &t.steps {
                assert_eq!(
                    m.next_state(&prev, step.clone()).as_ref(),
                    Some(after),
                    "{name} {}",
                    claim.id
                );
                prev = after.clone();
            }
            assert!(
                claim.discovered(&m, &prev),
                "{name} {}: the trace ends in a discovery",
                claim.id
            );
        }
    }
}

const BOUNDED: &str = r#"name = "bounded"
variant = "imessage-2016"
[bounds]
max-states = 5
[[account]]
handle = "A"
[[account]]
handle = "B"
devices = 2
[[action]]
by = "A/1"
send = "B"
[expect]
no-server-learns-content = "holds"
sms-fallback-exposes-content = "unreachable"
"#;

#[test]
fn a_state_bound_is_reported_and_does_not_meet_holds() {
    let s = parse(Path::new("bounded.toml"), BOUNDED).unwrap();
    let r = check(s, &CheckOptions::default());
    assert!(!r.complete);
    assert_eq!(r.unique_states, 5);
    assert_eq!(
        r.bound.as_deref(),
        Some("5 states of the reduced graph (breadth-first)")
    );
    let unreduced = check(
        parse(Path::new("bounded.toml"), BOUNDED).unwrap(),
        &CheckOptions {
            reduction: imessage_model::check::Reduction::None,
            ..Default::default()
        },
    );
    assert_eq!(unreduced.bound.as_deref(), Some("5 states (breadth-first)"));
    let c = r
        .claims
        .iter()
        .find(|c| c.id == "no-server-learns-content")
        .unwrap();
    assert_eq!(
        (c.verdict, c.bounded, c.as_expected),
        (Verdict::Holds, true, Some(false))
    );
    let c = r
        .claims
        .iter()
        .find(|c| c.id == "sms-fallback-exposes-content")
        .unwrap();
    assert_eq!(
        (c.verdict, c.bounded, c.as_expected),
        (Verdict::Unreachable, true, Some(false))
    );
}

#[test]
fn allow_bounded_lets_a_bounded_verdict_meet_holds() {
    let text = BOUNDED.replace("max-states = 5", "max-states = 5\nallow-bounded = true");
    let r = check(
        parse(Path::new("b.toml"), &text).unwrap(),
        &CheckOptions::default(),
    );
    assert!(!r.complete);
    assert!(r.claims.iter().all(|c| c.as_expected != Some(false)));
}

#[test]
fn a_depth_bound_is_reported() {
    let text = BOUNDED.replace("max-states = 5", "max-depth = 3");
    let s = parse(Path::new("d.toml"), &text).unwrap();
    let limits = Limits::of(&s);
    let m = ProtocolModel::new(s);
    let x = explore(&m, limits);
    assert_eq!(x.bound, Some(Bound::Depth(3)));
    assert_eq!(x.max_depth, 3);
    let full = explore(
        &m,
        Limits {
            max_states: 1_000_000,
            max_depth: None,
            max_memory: None,
        },
    );
    assert!(full.complete());
    assert!(full.unique_states() > x.unique_states());
}

/// A violation found before the bound is final even though the search was bounded.
#[test]
fn a_counterexample_found_within_a_bound_is_final() {
    let text = std::fs::read_to_string(crate::repo_path("models/ghost-device-2016.toml"))
        .unwrap()
        .replace(
            "[[account]]\nhandle = \"A\"",
            "[bounds]\nmax-states = 10\n\n[[account]]\nhandle = \"A\"",
        );
    let r = check(
        parse(Path::new("g.toml"), &text).unwrap(),
        &CheckOptions::default(),
    );
    assert!(!r.complete);
    let c = r
        .claims
        .iter()
        .find(|c| c.id == "no-server-learns-content")
        .unwrap();
    assert_eq!(
        (c.verdict, c.bounded, c.as_expected),
        (Verdict::Violated, false, Some(true))
    );
}

fn inline(text: &str) -> imessage_model::Scenario {
    parse(Path::new("inline.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

/// On an unordered network a delivery that changes nothing still consumes the message, so the
/// clock (which waits for an empty network) can always move on.
#[test]
fn repeated_lookups_do_not_stall_the_clock() {
    let s = inline(
        r#"name = "twice"
variant = "imessage-2016"
[network]
order = "unordered"
[bounds]
days = 2
[[account]]
handle = "A"
[[account]]
handle = "B"
[[action]]
by = "A/1"
lookup = "B"
day = 0
[[action]]
by = "A/1"
lookup = "B"
day = 0
"#,
    );
    let m = ProtocolModel::new(s);
    let x = explore(
        &m,
        Limits {
            max_states: 100_000,
            max_depth: None,
            max_memory: None,
        },
    );
    assert!(x.complete());
    let both_answered_then_next_day = x.states().any(|ref st| {
        ProtocolModel::today(st).0 == 1
            && imessage_model::state::pending_actions(st, imessage_model::knowledge::DeviceId(0))
                .count()
                == 0
            && imessage_model::state::directory(st).held.is_empty()
            && st.network.len() == 0
    });
    assert!(both_answered_then_next_day);
}

/// A send that can no longer happen (its lookup was lost) does not count as a send still to
/// come. (A send tied to a day always happens: the clock waits for it.)
#[test]
fn sends_that_cannot_happen_do_not_hide_a_logged_lookup() {
    let lost_answer = inline(
        r#"name = "lost"
variant = "imessage-2016"
[network]
lossy = true
[[account]]
handle = "A"
[[account]]
handle = "B"
[[action]]
by = "A/1"
send = "B"
"#,
    );
    let r = check(lost_answer, &CheckOptions::default());
    let c = r
        .claims
        .iter()
        .find(|c| c.id == "lookup-logged-without-message")
        .unwrap();
    assert_eq!(c.verdict, Verdict::Reachable);
}

/// Under CKV the ghost key is not only left unused: the sender raises an alert about it.
#[test]
fn ckv_raises_an_alert_for_the_ghost_key() {
    let m = ProtocolModel::new(crate::model("ghost-device-ckv.toml"));
    let x = explore(&m, Limits::of(&m.scenario));
    let alerted = x
        .states()
        .any(|ref st| imessage_model::state::devices(st).any(|(_, d)| !d.alerts.is_empty()));
    assert!(alerted);
    let m = ProtocolModel::new(crate::model("ghost-device-2016.toml"));
    let x = explore(&m, Limits::of(&m.scenario));
    assert!(!x
        .states()
        .any(|ref st| imessage_model::state::devices(st).any(|(_, d)| !d.alerts.is_empty())));
}

/// The log crashes at most once, so runs end and `eventually` is decided without a caveat.
#[test]
fn the_log_crashes_at_most_once() {
    let m = ProtocolModel::new(crate::model("log-crash.toml"));
    let x = explore(&m, Limits::of(&m.scenario));
    assert!(x
        .states()
        .all(|ref st| imessage_model::state::log(st).crashes <= 1));
    assert!(x
        .states()
        .any(|ref st| imessage_model::state::log(st).crashes == 1));
    let c = imessage_model::claims::find("message-eventually-delivered").unwrap();
    assert_eq!(x.caveat(c), None, "no cycle: every run ends");
}

/// On a duplicating network a message can be delivered again and again, so a run can stay for
/// ever in a cycle of states where the last message never arrives: `message-eventually-delivered`
/// holds with that caveat, and no other claim has one.
#[test]
fn a_cycle_without_the_condition_is_a_caveat_of_that_claim_only() {
    let m = ProtocolModel::new(crate::model("duplicating-network.toml"));
    let x = explore(&m, Limits::of(&m.scenario));
    assert!(x.complete());
    for c in &CATALOGUE {
        let want = (c.id == "message-eventually-delivered").then_some(
            "a cycle of states without the condition exists; runs that stay in it for ever are not counted",
        );
        assert_eq!(x.caveat(c).as_deref(), want, "{}", c.id);
    }
}

/// With `max-states` at 20, the reduced search of `baseline` finds its discoveries, but the
/// unreduced search that confirms their traces as shortest stops at the bound before it reaches
/// four of them: exactly those four carry the caveat.
#[test]
fn an_unconfirmed_trace_is_a_caveat_of_its_own_claim() {
    let m = ProtocolModel::new(crate::model("baseline.toml"));
    let limits = Limits {
        max_states: 20,
        ..Limits::of(&m.scenario)
    };
    let x = explore(&m, limits);
    let unconfirmed: Vec<&str> = CATALOGUE
        .iter()
        .filter(|c| {
            x.caveat(c).as_deref()
                == Some("the trace is a run of the system, but the unreduced search that confirms it is the shortest stopped at a bound")
        })
        .map(|c| c.id)
        .collect();
    assert_eq!(
        unconfirmed,
        [
            "authority-learns-contact",
            "authority-links-handle-to-ip",
            "relay-learns-contact",
            "operator-learns-contact"
        ]
    );
}

/// Bytes per state is the store's bytes over its unique states.
#[test]
fn bytes_per_state_divides_the_store_by_its_states() {
    let m = ProtocolModel::new(crate::model("baseline.toml"));
    let inner = imessage_model::engine::explore(&m, Limits::of(&m.scenario), Reduction::Por, None);
    let (bytes, states) = (inner.store_bytes, inner.unique_states);
    assert!(states > 1 && bytes > states);
    let x = imessage_model::check::Exploration::of(&m, inner);
    assert_eq!(x.bytes_per_state(), bytes as f64 / states as f64);
}

/// The clock does not skip a day on which an action is scheduled.
#[test]
fn a_scheduled_action_happens_on_its_day() {
    let s = inline(
        r#"name = "scheduled"
variant = "imessage-2016"
[bounds]
days = 2
[[account]]
handle = "A"
[[account]]
handle = "B"
[[action]]
by = "A/1"
send = "B"
day = 0
"#,
    );
    let r = check(s, &CheckOptions::default());
    let c = r
        .claims
        .iter()
        .find(|c| c.id == "message-eventually-delivered")
        .unwrap();
    assert_eq!((c.verdict, c.note.as_deref()), (Verdict::Holds, None));
}

/// The memory figure of a report is the store's bytes per stored state: each stored state
/// keeps at least the link to its parent (8 bytes), whatever else the store holds.
#[test]
fn a_stored_state_takes_at_least_its_parent_link() {
    let s = inline(
        r#"name = "one lookup"
variant = "imessage-2016"
[[account]]
handle = "A"
[[account]]
handle = "B"
[[action]]
by = "A/1"
lookup = "B"
"#,
    );
    let m = ProtocolModel::new(s);
    let x = explore(&m, Limits::of(&m.scenario));
    assert!(x.complete());
    assert!(x.unique_states() > 1);
    assert!(
        (8.0..1_000_000.0).contains(&x.bytes_per_state()),
        "{} bytes per state over {} states",
        x.bytes_per_state(),
        x.unique_states()
    );
}

/// The verdicts and bounds of one scenario checked under both reductions.
fn verdicts_under_both(s: &imessage_model::Scenario) -> [(Vec<(Verdict, bool)>, bool); 2] {
    [Reduction::None, Reduction::Por].map(|reduction| {
        let r = check(
            s.clone(),
            &CheckOptions {
                reduction,
                ..CheckOptions::default()
            },
        );
        let verdicts = r.claims.iter().map(|c| (c.verdict, c.bounded)).collect();
        (
            verdicts,
            r.claims.iter().any(|c| c.as_expected == Some(false)),
        )
    })
}

/// A depth bound means every run of the full system of at most that many steps: under either
/// reduction the log's crash and restart come within six steps, and so does the
/// counterexample (a reduced search would postpone them past the bound).
#[test]
fn a_depth_bound_means_the_same_under_both_reductions() {
    let text = std::fs::read_to_string(crate::repo_path("models/log-crash.toml"))
        .unwrap()
        .replace(
            "[expect]\nlookup-always-logged = \"violated\"",
            "[bounds]\nmax-depth = 6\nallow-bounded = true\n\n[expect]\nlookup-always-logged = \"holds\"",
        );
    let s = parse(Path::new("log-crash-depth-6.toml"), &text).unwrap();
    let [none, por] = verdicts_under_both(&s);
    assert_eq!(none, por);
    let i = s
        .claims
        .iter()
        .position(|c| c.id() == "lookup-always-logged")
        .unwrap();
    assert_eq!(por.0[i].0, Verdict::Violated);
    assert!(por.1, "the expectation `holds` differs under both");
    let r = check(s, &CheckOptions::default());
    assert_eq!(
        r.reduction,
        Reduction::None,
        "a depth-bounded search runs unreduced"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// On generated scenarios with depth bounds from 3 to 10, both reductions give the same
    /// verdicts and the same bounded flags.
    #[test]
    fn depth_bounds_agree_under_both_reductions_on_generated_scenarios(
        text in crate::support::scenario_text(),
        depth in 3usize..=10,
    ) {
        let text = text.replace("[bounds]\n", &format!("[bounds]\nmax-depth = {depth}\n"));
        let s = parse(Path::new("generated.toml"), &text).unwrap();
        let [none, por] = verdicts_under_both(&s);
        proptest::prop_assert_eq!(none, por);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
    /// Packed rows give back exactly the ids pushed, across every widening of a slot (ids
    /// drawn from 0 to beyond three bytes, more rows than a chunk holds), and a row equals
    /// exactly the ids it was made of.
    #[test]
    fn packed_rows_give_back_what_was_pushed(
        slots in 1usize..6,
        seeds in proptest::collection::vec(proptest::prelude::any::<u64>(), 1..40),
    ) {
        use imessage_model::rows::PackedRows;
        // Rows more numerous than a chunk, ids growing so each slot widens mid-way.
        let rows: Vec<Vec<u32>> = (0..40_000u64)
            .map(|r| {
                let seed = seeds[r as usize % seeds.len()];
                (0..slots)
                    .map(|slot| {
                        let bits = (r * (slot as u64 + 1) / 1_300).min(32) as u32;
                        let x = (seed.rotate_left(slot as u32 * 7) ^ r) as u32;
                        if bits == 0 { 0 } else { x >> (32 - bits) }
                    })
                    .collect()
            })
            .collect();
        let mut packed = PackedRows::new(slots);
        for row in &rows {
            packed.push(row);
        }
        let mut out = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            packed.decode(i, &mut out);
            proptest::prop_assert_eq!(&out, row, "row {}", i);
            proptest::prop_assert!(packed.equals(i, row));
            let mut other = row.clone();
            other[i % slots] ^= 1;
            proptest::prop_assert!(!packed.equals(i, &other));
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Rows of successors come back as pushed, in order, whatever the differences between
    /// successive values (either sign, up to the whole range of a state number) and with
    /// empty rows among them.
    #[test]
    fn edge_rows_give_back_what_was_pushed(
        rows in proptest::collection::vec(
            proptest::collection::vec(
                proptest::prop_oneof![0u32..8, proptest::prelude::any::<u32>()],
                0..12,
            ),
            1..300,
        ),
    ) {
        use imessage_model::rows::Edges;
        let mut edges = Edges::new();
        for row in &rows {
            edges.push_row(row);
        }
        proptest::prop_assert_eq!(edges.rows(), rows.len());
        let mut out = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            edges.row(i, &mut out);
            proptest::prop_assert_eq!(&out, row, "row {}", i);
        }
    }
}
