//! The distributed search (`src/distributed.rs`) against the single-thread reference: one
//! worker, two workers, and two processes on loopback give the same verdicts, caveats, state
//! counts, depths, bounds and traces, on every scenario of `models/` and on generated ones.

use crate::support::scenario_text;
use crate::{model, model_files};
use imessage_model::check::{self, Limits, Reduction};
use imessage_model::distributed::{explore_all, Job, Workers};
use imessage_model::load::parse;
use imessage_model::{ProtocolModel, Scenario, CATALOGUE};
use proptest::prelude::*;
use std::hash::{Hash, Hasher};
use std::path::Path;

/// Everything a report shows of a search, as text.
fn summary(x: &check::Exploration) -> String {
    let mut out = format!(
        "{} unique, {} generated, depth {}, bound {:?}, reduction {}, trace search {}\n",
        x.unique_states(),
        x.generated,
        x.max_depth,
        x.bound,
        x.reduction.name(),
        x.trace_search_states(),
    );
    for c in CATALOGUE.iter() {
        // A trace by its steps, and its states by a digest (so that a difference reads short).
        let trace = x.trace(c).map(|t| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            // States hash the same whatever the iteration order of their sets.
            t.initial.hash(&mut h);
            for (_, st) in &t.steps {
                st.hash(&mut h);
            }
            let steps: Vec<String> = t.steps.iter().map(|(a, _)| format!("{a:?}")).collect();
            (steps, h.finish())
        });
        out += &format!(
            "{} {} {:?} {:?}\n",
            c.id,
            x.verdict(c).name(),
            x.caveat(c),
            trace
        );
    }
    out
}

/// Asserts two summaries are equal, showing the lines that differ.
fn assert_same(got: &str, want: &str, what: &str) {
    let diff: Vec<(&str, &str)> = got
        .lines()
        .zip(want.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert!(diff.is_empty() && got == want, "{what}: {diff:#?}");
}

fn limits(s: &Scenario) -> Limits {
    Limits {
        max_memory: None,
        ..Limits::of(s)
    }
}

/// The reference's summary of `s`.
fn reference(s: &Scenario, reduction: Reduction) -> String {
    let m = ProtocolModel::new(s.clone());
    summary(&check::explore_with(&m, limits(s), reduction, None))
}

/// The summaries of `scenarios` searched by `workers` (the process holding worker 0).
fn distributed(scenarios: &[Scenario], workers: &Workers, reduction: Reduction) -> Vec<String> {
    let shared = std::sync::Arc::new(scenarios.to_vec());
    let make = move |k: usize| {
        imessage_model::knowledge::clear_interned();
        imessage_model::symmetry::clear_cache();
        Job {
            model: ProtocolModel::new(shared[k].clone()),
            limits: limits(&shared[k]),
            reduction,
            fingerprint: k as u64,
        }
    };
    let xs = explore_all(workers, scenarios.len(), make, None).expect("the search runs");
    if !workers.reports() {
        assert!(xs.is_empty(), "only process 0 reports");
        return Vec::new();
    }
    scenarios
        .iter()
        .zip(xs)
        .map(|(s, x)| {
            let m = ProtocolModel::new(s.clone());
            summary(&check::Exploration::of(&m, x))
        })
        .collect()
}

/// Two free ports on loopback.
fn loopback_pair() -> Vec<String> {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    vec![
        a.local_addr().unwrap().to_string(),
        b.local_addr().unwrap().to_string(),
    ]
}

/// The summaries from a cluster of two processes on loopback (two timely instances in two
/// threads, connected over TCP).
fn two_processes(scenarios: &[Scenario], reduction: Reduction) -> Vec<String> {
    let addresses = loopback_pair();
    std::thread::scope(|scope| {
        let other = scope.spawn(|| {
            let w = Workers::Cluster {
                threads: 1,
                process: 1,
                addresses: addresses.clone(),
            };
            distributed(scenarios, &w, reduction)
        });
        let w = Workers::Cluster {
            threads: 1,
            process: 0,
            addresses: addresses.clone(),
        };
        let mine = distributed(scenarios, &w, reduction);
        assert!(other.join().unwrap().is_empty());
        mine
    })
}

fn all_models() -> Vec<Scenario> {
    model_files()
        .iter()
        .filter(|f| f.as_str() != "lossy-conversation.toml")
        .map(|f| model(f))
        .collect()
}

#[test]
fn one_and_two_workers_agree_with_the_reference_on_every_model() {
    let scenarios = all_models();
    for reduction in [Reduction::Por, Reduction::None] {
        let want: Vec<String> = scenarios.iter().map(|s| reference(s, reduction)).collect();
        for n in [1, 2] {
            let got = distributed(&scenarios, &Workers::Threads(n), reduction);
            for ((s, w), g) in scenarios.iter().zip(&want).zip(&got) {
                assert_same(
                    g,
                    w,
                    &format!("{}, {n} workers, {}", s.path.display(), reduction.name()),
                );
            }
        }
    }
}

#[test]
fn two_processes_on_loopback_agree_with_the_reference_on_every_model() {
    let scenarios = all_models();
    let want: Vec<String> = scenarios
        .iter()
        .map(|s| reference(s, Reduction::Por))
        .collect();
    let got = two_processes(&scenarios, Reduction::Por);
    for ((s, w), g) in scenarios.iter().zip(&want).zip(&got) {
        assert_same(g, w, &format!("{}, two processes", s.path.display()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(16)
    ))]

    /// On generated scenarios, some cut short by a small `max-states` (so that the states bound
    /// is crossed inside a depth), two workers give the reference's summary under both
    /// reductions.
    #[test]
    fn two_workers_agree_with_the_reference_on_generated_scenarios(
        text in scenario_text(),
        cap in prop::option::of(20usize..400),
    ) {
        let text = match cap {
            Some(c) => text.replace("max-states = 20000", &format!("max-states = {c}")),
            None => text,
        };
        let s = parse(Path::new("generated.toml"), &text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        for reduction in [Reduction::Por, Reduction::None] {
            let want = reference(&s, reduction);
            let got = distributed(std::slice::from_ref(&s), &Workers::Threads(2), reduction);
            assert_same(&got[0], &want, &format!("{}\n{text}", reduction.name()));
        }
    }
}

/// A memory bound stops every worker with a bounded verdict (the process's memory is read every
/// few thousand generated states; one byte is always passed).
#[test]
fn a_memory_bound_stops_every_worker() {
    let s = model("lossy-conversation.toml");
    let shared = std::sync::Arc::new(vec![s.clone()]);
    let make = move |k: usize| Job {
        model: ProtocolModel::new(shared[k].clone()),
        limits: Limits {
            max_memory: Some(1),
            ..Limits::of(&shared[k])
        },
        reduction: Reduction::None,
        fingerprint: 0,
    };
    let xs = explore_all(&Workers::Threads(2), 1, make, None).expect("the search runs");
    assert!(
        matches!(xs[0].bound, Some(check::Bound::Memory(1))),
        "{:?}",
        xs[0].bound
    );
    assert!(xs[0].unique_states > 0 && xs[0].unique_states < 239_121);
}
