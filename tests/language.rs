//! The claim language: the catalogue written in it (`claims/catalogue.toml`) agrees with the
//! catalogue's own conditions state by state; the reduction stays sound for claims written in
//! it; formulas with mistakes get located errors.

use crate::support::{full_graph_within, scenario_text};
use crate::{model, model_files, repo_path};
use imessage_model::check::{explore_with, Reduction};
use imessage_model::formula::observe::observed_writes;
use imessage_model::scenario::{add_claims_file, add_formula, parse};
use imessage_model::symmetry::Symmetry;
use imessage_model::{ClaimDef, ProtocolModel, Scenario, CATALOGUE};
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
                (c.condition)(&m, st),
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
    for name in model_files() {
        let s = model(&name);
        let lib = with_library(&s);
        let (m, lm) = (ProtocolModel::new(s), ProtocolModel::new(lib));
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
        let mut s = parse(Path::new("generated.toml"), &text).unwrap();
        add_formula(&mut s, &formula).unwrap_or_else(|e| panic!("{formula}: {e}"));
        let m = ProtocolModel::new(s).without_symmetry();
        crate::reduction::check_contract(&formula, &m);
        let i = m.scenario.claims.len() - 1;
        let limits = imessage_model::check::Limits::of(&m.scenario);
        let verdicts = [Reduction::None, Reduction::Por]
            .map(|r| explore_with(&m, limits, r, None).verdict_at(i));
        prop_assert_eq!(verdicts[0], verdicts[1], "{}", formula);
    }

    #[test]
    fn a_formula_string_never_panics_the_checker(text in "[a-z(){},.:_=!<>/ \"0-9-]{0,60}") {
        let mut s = model("baseline.toml");
        let _ = add_formula(&mut s, &text);
    }
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
