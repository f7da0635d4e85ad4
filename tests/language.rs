//! The claim language: the catalogue written in it (`claims/catalogue.toml`) agrees with the
//! catalogue's own conditions state by state; the reduction stays sound for claims written in
//! it; formulas with mistakes get located errors.

use crate::support::{full_graph_within, scenario_text};
use crate::{model, model_files, repo_path};
use imessage_model::check::{explore_with, Reduction};
use imessage_model::claims::Conditions;
use imessage_model::formula::observe::observed_writes;
use imessage_model::load::{add_claims_file, add_formula, parse};
use imessage_model::symmetry::Symmetry;
use imessage_model::{ClaimDef, ProtocolModel, Scenario, Verdict, CATALOGUE};
use proptest::prelude::*;
use std::path::Path;

const GRAPH_LIMIT: usize = 30_000;

fn library() -> String {
    std::fs::read_to_string(repo_path("claims/catalogue.toml")).expect("the library exists")
}

/// The scenario with the library's claims in place of the catalogue's conditions.
fn with_library(s: &Scenario) -> Scenario {
    let mut s = s.clone();
    add_claims_file(&mut s, Path::new("claims/catalogue.toml"), &library())
        .unwrap_or_else(|e| panic!("{e}"));
    s
}

/// The catalogue's claims over a device, a message and an account (and their premises) bind
/// the chain at once from a device's sets (a join); the agreement tests compare them with the
/// built-in conditions, and generated ones with binding every value.
#[test]
fn the_catalogues_chains_of_quantifiers_are_joined() {
    let s = with_library(&model("baseline.toml"));
    let joins = |id: &str| {
        let c = s
            .claims
            .iter()
            .find(|c| c.id() == id)
            .expect("a library claim");
        let f = c.formula().expect("a formula");
        (f.joins(), f.premise().map(|p| p.joins()))
    };
    assert_eq!(joins("ghost-device-detected"), (vec![3], Some(vec![3])));
    assert_eq!(joins("no-downgrade-to-sms"), (vec![3], Some(vec![3])));
    assert_eq!(joins("message-without-logged-lookup"), (vec![3], None));
    assert_eq!(joins("content-authentic"), (vec![2], None));
    assert_eq!(joins("content-never-in-lookup-log"), (vec![], None));
}

/// Every library claim has the value of its catalogue condition in every state of the
/// scenario's full graph; returns the states compared (0 when the graph is too large).
fn agree_on_every_state(name: &str, s: &Scenario) -> usize {
    let lib = with_library(s);
    assert!(
        lib.claims.iter().all(|c| matches!(c, ClaimDef::User(_))),
        "{name}: every catalogue claim is in the library"
    );
    let m = ProtocolModel::new(s.clone()).without_symmetry();
    let Some(graph) = full_graph_within(&m, GRAPH_LIMIT) else {
        return 0;
    };
    let lm = ProtocolModel::new(lib).without_symmetry();
    for (st, _) in &graph {
        for (i, c) in CATALOGUE.iter().enumerate() {
            assert_eq!(
                c.condition(&m, st),
                lm.scenario.claims[i].condition(&lm, st),
                "{name}: the library's `{}` differs from the catalogue's in {st:?}",
                c.id
            );
        }
    }
    graph.len()
}

#[test]
fn the_library_agrees_with_the_catalogue_on_every_state_of_every_model() {
    let mut states = 0;
    let mut graphs = 0;
    for name in model_files() {
        let n = agree_on_every_state(&name, &model(&name));
        states += n;
        graphs += usize::from(n > 0);
    }
    assert!(graphs >= 20, "only {graphs} graphs were small enough");
    assert!(states > 10_000, "{states} states compared");
}

#[test]
fn the_library_gives_the_catalogues_verdicts_and_traces_on_every_model() {
    let (mut builtin, mut library) = (0, 0);
    for name in model_files() {
        let (b, l) = library_agrees(&name, model(&name));
        builtin += b;
        library += l;
    }
    // README, "Writing a claim": what the library costs in states on models/.
    let phrase = format!(
        "`check models/` stores {} unique states where the built-in conditions store {}",
        imessage_model::report::group(library),
        imessage_model::report::group(builtin)
    );
    assert!(crate::readme_text().contains(&phrase), "README: `{phrase}`");
}

/// Checks `s` with the built-in conditions and with the library in their place: the same
/// verdict and the same trace for every catalogue claim. Returns the unique states of both.
fn library_agrees(name: &str, s: Scenario) -> (usize, usize) {
    let lib = with_library(&s);
    // With the symmetry `check` uses by default.
    let sym = imessage_model::Symmetry::default();
    let (m, lm) = (
        ProtocolModel::new(s).with_symmetry(sym),
        ProtocolModel::new(lib).with_symmetry(sym),
    );
    let limits = imessage_model::check::Limits::of(&m.scenario);
    let (x, y) = (
        imessage_model::check::explore(&m, limits),
        imessage_model::check::explore(&lm, limits),
    );
    for (i, c) in CATALOGUE.iter().enumerate() {
        assert_eq!(x.verdict(c), y.verdict_at(i), "{name}: {}", c.id);
        let steps = |t: Option<imessage_model::check::Trace>| {
            t.map(|t| t.steps.into_iter().map(|(a, _)| a).collect::<Vec<_>>())
        };
        assert_eq!(
            steps(x.trace(c)),
            steps(y.trace_at(i)),
            "{name}: the trace of {}",
            c.id
        );
    }
    (x.unique_states(), y.unique_states())
}

/// The same on the ladder's first rungs (an unordered network over three days, an account
/// that is not registered): verdicts and traces of the library and the built-in conditions.
#[test]
fn the_library_gives_the_catalogues_verdicts_and_traces_on_the_ladder() {
    for rung in [
        "ladder-1-one-send",
        "ladder-2-look-up-then-write",
        "ladder-3-answered-lookup",
        "ladder-4-two-way",
    ] {
        let path = repo_path(&format!("benches/scenarios/{rung}.toml"));
        library_agrees(rung, Scenario::load(&path).unwrap());
    }
}

/// Every edge of the scenario's full graph changes only the parts its step declares it
/// writes, in the directions declared: the read sets of every formula rest on this.
/// Returns the edges checked (0 when the graph is too large).
fn writes_cover_every_edge(name: &str, s: &Scenario) -> usize {
    let m = ProtocolModel::new(s.clone()).without_symmetry();
    let Some(graph) = full_graph_within(&m, GRAPH_LIMIT) else {
        return 0;
    };
    let mut edges = 0;
    for (st, succ) in &graph {
        for (a, t) in succ {
            edges += 1;
            let Some(declared) = m.writes(a) else {
                continue;
            };
            let seen = observed_writes(&m, st, t);
            assert!(
                seen.grow & !declared.grow == 0
                    && seen.shrink & !declared.shrink == 0
                    && seen.grow & declared.fresh & !seen.fresh == 0,
                "{name}: {a:?} changes {seen:?}, declares {declared:?}"
            );
        }
    }
    edges
}

#[test]
fn every_step_writes_only_what_it_declares_on_every_model() {
    let edges: usize = model_files()
        .iter()
        .map(|name| writes_cover_every_edge(name, &model(name)))
        .sum();
    assert!(edges > 10_000, "{edges} edges checked");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn the_library_agrees_with_the_catalogue_on_generated_scenarios(text in scenario_text()) {
        let s = parse(Path::new("generated.toml"), &text).unwrap();
        agree_on_every_state("generated", &s);
    }

    #[test]
    fn the_reduction_is_sound_for_the_library_on_generated_scenarios(text in scenario_text()) {
        let s = with_library(&parse(Path::new("generated.toml"), &text).unwrap());
        let m = ProtocolModel::new(s).without_symmetry();
        crate::reduction::check_contract("generated", &m);
    }

    #[test]
    fn every_step_writes_only_what_it_declares_on_generated_scenarios(text in scenario_text()) {
        let s = parse(Path::new("generated.toml"), &text).unwrap();
        writes_cover_every_edge("generated", &s);
    }

    /// Generated well-typed formulas on generated scenarios: the reduction's contract holds
    /// for them on the full graph (no step said not to undo a discovery undoes it; a step that
    /// writes nothing a formula reads keeps its value), and the reduced search gives the
    /// unreduced one's verdict.
    #[test]
    fn generated_formulas_keep_the_contract_on_generated_scenarios(
        text in scenario_text(),
        formula in crate::support::formula_text(),
    ) {
        let (none, por) = contract_and_verdicts(&text, &formula);
        prop_assert_eq!(none, por, "{}", formula);
    }

    #[test]
    fn a_formula_string_never_panics_the_checker(text in "[a-z(){},.:_=!<>/ \"0-9-]{0,60}") {
        let mut s = model("baseline.toml");
        let _ = add_formula(&mut s, &text);
    }
}

proptest! {
    // Each case compares one formula on one full graph: cheap, and a wrong atom of a guide shows
    // only when that atom guards the formula.
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Quantifiers that bind only the values their body's atoms can hold for (a formula's
    /// guides) give the value binding every value gives, in every state of the full graph, for
    /// the formula and for its premise.
    #[test]
    fn guided_quantifiers_agree_with_binding_every_value(
        text in scenario_text(),
        formula in prop_oneof![
            crate::support::formula_text(),
            crate::support::guarded_formula_text(),
        ],
    ) {
        let mut s = parse(Path::new("generated.toml"), &text).unwrap();
        add_formula(&mut s, &formula).unwrap_or_else(|e| panic!("{formula}: {e}"));
        let m = ProtocolModel::new(s).without_symmetry();
        let f = m.scenario.claims.last().and_then(|c| c.formula()).expect("a formula");
        let mut pairs = vec![(f.clone(), f.unguided())];
        pairs.extend(f.premise().map(|p| (p.clone(), p.unguided())));
        if let Some(graph) = full_graph_within(&m, GRAPH_LIMIT) {
            for (st, _) in &graph {
                for (guided, plain) in &pairs {
                    prop_assert_eq!(guided.holds(&m, st), plain.holds(&m, st), "{}", formula);
                }
            }
        }
    }
}

proptest! {
    // Each case walks a full graph evaluating whether every state ends the run: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// The same for formulas with past-time operators and `leads-to` claims, whose history
    /// is part of the state: the contract (including that a step changing nothing a
    /// past-time operator reads leaves the history alone, and that only such steps order it
    /// differently) and the agreement of the reduced and unreduced searches.
    #[test]
    fn generated_past_time_formulas_keep_the_contract_on_generated_scenarios(
        text in scenario_text(),
        formula in crate::support::past_formula_text(),
    ) {
        let (none, por) = contract_and_verdicts(&text, &formula);
        prop_assert_eq!(none, por, "{}", formula);
    }
}

/// `formula` added to the generated scenario `text`: the reduction's contract checked on its
/// full graph, and the formula's verdicts without and with reduction. Both searches are
/// given room for the whole graph when the contract could be checked on it; a search still
/// cut short by a bound decides only what it found (the reduced one, exploring fewer states
/// per depth, can find a run the unreduced one has no room to reach), so then each discovery
/// must be a run of the system, and the verdicts are compared only if both searches are
/// complete.
fn contract_and_verdicts(text: &str, formula: &str) -> (Verdict, Verdict) {
    let mut s = parse(Path::new("generated.toml"), text).unwrap();
    add_formula(&mut s, formula).unwrap_or_else(|e| panic!("{formula}: {e}"));
    let m = ProtocolModel::new(s).without_symmetry();
    let whole = crate::reduction::check_contract(formula, &m);
    let i = m.scenario.claims.len() - 1;
    let mut limits = imessage_model::check::Limits::of(&m.scenario);
    if whole {
        limits.max_states = limits
            .max_states
            .max(crate::reduction::CONTRACT_GRAPH_LIMIT + 1);
    }
    let [none, por] = [Reduction::None, Reduction::Por].map(|r| explore_with(&m, limits, r, None));
    if !(none.complete() && por.complete()) {
        for x in [&none, &por] {
            if matches!(x.verdict_at(i), Verdict::Violated | Verdict::Reachable) {
                assert!(
                    x.trace_at(i).is_some(),
                    "{formula}: a discovery with no run"
                );
            }
        }
        return (none.verdict_at(i), none.verdict_at(i));
    }
    (none.verdict_at(i), por.verdict_at(i))
}

#[test]
fn the_reduction_is_sound_for_the_library_on_every_model() {
    for name in model_files() {
        let m = ProtocolModel::new(with_library(&model(&name))).without_symmetry();
        crate::reduction::check_contract(&name, &m);
    }
}

fn error_of(formula: &str) -> String {
    let mut s = model("baseline.toml");
    add_formula(&mut s, formula).unwrap_err().to_string()
}

#[test]
fn formula_errors_name_the_place_and_underline_it() {
    insta::assert_snapshot!(
        "unknown_predicate",
        error_of("always forall m: message. not know(log, content(m))")
    );
    insta::assert_snapshot!(
        "wrong_sort",
        error_of("always forall m: message. not knows(log, m)")
    );
    insta::assert_snapshot!(
        "unbound_variable",
        error_of("always not knows(log, content(x))")
    );
    insta::assert_snapshot!(
        "nested_temporal",
        error_of("always eventually knows(log, handle(A))")
    );
    insta::assert_snapshot!(
        "device_knowledge",
        error_of("sometimes knows(B/1, handle(A))")
    );
    insta::assert_snapshot!(
        "past_time_over_a_collection",
        error_of("always forall r in answered. once r in log")
    );
    insta::assert_snapshot!(
        "future_inside_past",
        error_of("always once (eventually knows(log, handle(A)))")
    );
    insta::assert_snapshot!(
        "leads_to_inside_a_formula",
        error_of("always (registered(A) leads-to registered(B))")
    );
    insta::assert_snapshot!("no_kind", error_of("registered(A) and registered(B)"));
}

/// The verdicts of past-time formulas on the two history scenarios, one claim at a time.
fn verdict_of(file: &str, formula: &str) -> imessage_model::Verdict {
    let mut s = model(file);
    add_formula(&mut s, formula).unwrap_or_else(|e| panic!("{formula}: {e}"));
    let m = ProtocolModel::new(s);
    let x = imessage_model::check::explore(&m, imessage_model::check::Limits::of(&m.scenario));
    x.verdict_at(m.scenario.claims.len() - 1)
}

#[test]
fn past_time_operators_look_back_along_the_run() {
    use imessage_model::Verdict::*;
    // L: the log holds A's lookup of B. `(not L) since L` holds from a state where L holds
    // for as long as L has not come back; with `not L` it asks that L held and went away,
    // which only the crash does.
    let gone = "sometimes (not exists r in log. shows(r, A, B)) and \
                ((not exists r in log. shows(r, A, B)) since (exists r in log. shows(r, A, B)))";
    assert_eq!(verdict_of("history-log-crash.toml", gone), Reachable);
    assert_eq!(verdict_of("history-after-reply.toml", gone), Unreachable);
    // `once` remembers what the state forgot; without it the same formula is a contradiction.
    let forgot =
        "sometimes (once exists r in log. shows(r, A, B)) and not exists r in log. shows(r, A, B)";
    assert_eq!(verdict_of("history-log-crash.toml", forgot), Reachable);
    let no_memory =
        "sometimes (exists r in log. shows(r, A, B)) and not exists r in log. shows(r, A, B)";
    assert_eq!(verdict_of("history-log-crash.toml", no_memory), Unreachable);
    // `historically` holds in the initial state of every run and fails once its operand does.
    assert_eq!(
        verdict_of(
            "history-after-reply.toml",
            "always historically not knows(relay, handle(A))"
        ),
        Holds
    );
    assert_eq!(
        verdict_of(
            "history-after-reply.toml",
            "always historically not exists r in log. shows(r, A, B)"
        ),
        Violated
    );
    // `leads-to` with a premise that never holds holds vacuously; one that holds at once
    // and is answered at once holds.
    assert_eq!(
        verdict_of(
            "history-after-reply.toml",
            "registered(A) leads-to registered(A)"
        ),
        Holds
    );
    assert_eq!(
        verdict_of(
            "history-after-reply.toml",
            "registered(A) leads-to exists r in log. shows(r, A, B)"
        ),
        Holds
    );
    assert_eq!(
        verdict_of(
            "history-after-reply.toml",
            "registered(A) leads-to knows(relay, handle(B))"
        ),
        Violated
    );
}

/// Each event atom is reachable in a scenario where its event happens and unreachable in
/// one where it cannot.
#[test]
fn event_atoms_name_what_happened() {
    use imessage_model::Verdict::*;
    let cases = [
        // The log crashes and restarts only under the log-crash threat.
        ("sometimes crashed(log)", "log-crash.toml", "baseline.toml"),
        (
            "sometimes restarted(log)",
            "log-crash.toml",
            "baseline.toml",
        ),
        // No other party crashes.
        (
            "sometimes crashed({relay, directory})",
            "",
            "log-crash.toml",
        ),
        // A record reaches the log unless it is lost on the way.
        (
            "sometimes exists r in answered. received(r)",
            "baseline.toml",
            "",
        ),
        (
            "sometimes exists r in answered. not received(r)",
            "log-after-reply-lossy.toml",
            "baseline.toml",
        ),
        // Retention purges a record the log received, unless the log never purges.
        (
            "sometimes exists r in answered. purged(r)",
            "retention-aged-out.toml",
            "retention-bug-never-purges.toml",
        ),
        // Only logging before the reply has acknowledgements.
        (
            "sometimes exists r in answered. acked(r)",
            "baseline.toml",
            "history-after-reply.toml",
        ),
        // A court order for A is answered; none names B.
        ("sometimes served(A)", "baseline.toml", ""),
        ("sometimes served(B)", "", "baseline.toml"),
    ];
    for (formula, reachable, unreachable) in cases {
        if !reachable.is_empty() {
            assert_eq!(
                verdict_of(reachable, formula),
                Reachable,
                "{formula} in {reachable}"
            );
        }
        if !unreachable.is_empty() {
            assert_eq!(
                verdict_of(unreachable, formula),
                Unreachable,
                "{formula} in {unreachable}"
            );
        }
    }
    // An acknowledged record is lost only in a crash.
    let kept = "always forall r in answered. acked(r) implies r in log or purged(r)";
    assert_eq!(verdict_of("log-crash.toml", kept), Violated);
    assert_eq!(verdict_of("baseline.toml", kept), Holds);
}

/// A scenario without a past-time operator keeps no history: its states are what they were.
#[test]
fn history_is_kept_only_for_past_time_operators() {
    let m = ProtocolModel::new(model("log-crash.toml"));
    assert!(m.init_states().iter().all(|s| s.history.is_empty()));
    let m = ProtocolModel::new(model("history-log-crash.toml"));
    assert!(m.init_states().iter().all(|s| !s.history.is_empty()));
}

/// On a network that can repeat a state, a `leads-to` that holds says runs that never end
/// were not counted.
#[test]
fn leads_to_on_a_cyclic_network_carries_a_caveat() {
    let mut s = model("duplicating-network.toml");
    add_formula(&mut s, "registered(A) leads-to registered(A)").unwrap();
    let m = ProtocolModel::new(s);
    let x = imessage_model::check::explore(&m, imessage_model::check::Limits::of(&m.scenario));
    let i = m.scenario.claims.len() - 1;
    assert_eq!(x.verdict_at(i), imessage_model::Verdict::Holds);
    let note = x.caveat_at(i).expect("a caveat");
    assert!(note.contains("never end"), "{note}");
}

#[test]
fn private_discovery_records_have_no_target() {
    let mut s = model("private-discovery.toml");
    let e = add_formula(&mut s, "always forall r in log. registered(r.target)")
        .unwrap_err()
        .to_string();
    assert!(e.contains("records no target"), "{e}");
}

#[test]
fn a_vacuous_implication_is_reported() {
    let mut s = model("baseline.toml");
    // No lookup here is of an unregistered handle: the premise never holds.
    add_formula(
        &mut s,
        "always forall r in answered, b: account. shows(r, r.requester, b) and not registered(b) implies false",
    )
    .unwrap();
    let m = ProtocolModel::new(s);
    let x = imessage_model::check::explore(&m, imessage_model::check::Limits::of(&m.scenario));
    let i = m.scenario.claims.len() - 1;
    assert_eq!(x.verdict_at(i), imessage_model::Verdict::Holds);
    let note = x.caveat_at(i).expect("a vacuity caveat");
    assert!(note.starts_with("holds vacuously"), "{note}");
}

/// A claim that names one of two interchangeable devices tells them apart: the symmetry
/// reduction must not merge the states where only one of them has the message.
#[test]
fn a_claim_naming_a_device_keeps_it_apart_from_its_twins() {
    let text = r#"
name = "twins"
variant = "imessage-2016"
threat = "honest"
logging = "after-reply"
[network]
order = "unordered"
[bounds]
days = 1
retention = 30
[[account]]
handle = "A"
[[account]]
handle = "B"
devices = 2
[[action]]
by = "A/1"
send = "B"
"#;
    let mut s = parse(Path::new("twins.toml"), text).unwrap();
    add_formula(
        &mut s,
        "sometimes learned(B/1, m1) and not learned(B/2, m1)",
    )
    .unwrap();
    add_formula(
        &mut s,
        "sometimes learned(B/2, m1) and not learned(B/1, m1)",
    )
    .unwrap();
    // B/1 and B/2 were interchangeable; the claims name them.
    assert_eq!(Symmetry::of(&s).classes(), [vec![0], vec![1], vec![2]]);
    let mut quantified = parse(Path::new("twins.toml"), text).unwrap();
    add_formula(
        &mut quantified,
        "sometimes exists d: device. learned(d, m1)",
    )
    .unwrap();
    assert_eq!(Symmetry::of(&quantified).classes(), [vec![0], vec![1, 2]]);
    let m = ProtocolModel::new(s);
    let x = imessage_model::check::explore(&m, imessage_model::check::Limits::of(&m.scenario));
    let n = m.scenario.claims.len();
    for i in [n - 2, n - 1] {
        assert_eq!(
            x.verdict_at(i),
            imessage_model::Verdict::Reachable,
            "{}",
            m.scenario.claims[i].id()
        );
    }
}
