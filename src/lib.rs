//! # imessage-model
//!
//! A formal model of iMessage's lookup, delivery and logging, checked
//! exhaustively with the [`stateright`] model checker.
//!
//! Devices, the identity directory, the lookup log, the push relay, the SMS
//! carrier and a legal authority are actors; cryptography is symbolic
//! (Dolev–Yao), so what each party can derive is computed. Privacy claims
//! ("content never reaches the log", "every lookup is logged") are
//! properties checked over every interleaving of a bounded scenario.
//!
//! The public surface is small: load a [`Scenario`], [`check`] it, read the
//! [`ScenarioReport`].
//!
//! ```no_run
//! let scenario = imessage_model::Scenario::load("models/baseline.toml".as_ref())?;
//! let report = imessage_model::check(scenario, &imessage_model::CheckOptions::default());
//! for claim in &report.claims {
//!     println!("{} {}", claim.id, claim.verdict.name());
//! }
//! # Ok::<(), imessage_model::ScenarioError>(())
//! ```

pub mod check;
pub mod claim;
pub mod claims;
pub mod describe;
pub mod distributed;
pub mod engine;
pub mod escape;
pub mod explore;
pub mod footprints;
pub mod formula;
pub mod knowledge;
pub mod load;
pub mod matrix;
pub mod model;
pub mod parts;
pub mod properties;
pub mod protocol;
pub mod rename;
pub mod report;
pub mod rows;
pub mod scenario;
pub mod simulate;
pub mod state;
pub mod symmetry;
pub mod verdict;

pub use claims::{Claim, ClaimDef, ClaimKind, Verdict, CATALOGUE};
pub use model::ProtocolModel;
pub use report::{Report, ScenarioReport};
pub use scenario::{Scenario, ScenarioError};

/// How to check.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckOptions {
    /// Also report the witness path of every reachable `sometimes` claim.
    pub witnesses: bool,
    /// The search's reduction (partial-order reduction by default).
    pub reduction: check::Reduction,
    /// Whether interchangeable devices are explored once (on by default).
    pub symmetry: Symmetry,
    /// The memory the process may use, in bytes, shared by the scenarios checked at once (a
    /// scenario's own `bounds.max-memory` may lower it); `None`: the default budget
    /// ([`default_memory_budget`]).
    pub max_memory: Option<usize>,
}

/// The default memory budget: three quarters of the machine's memory (Linux: `/proc/meminfo`),
/// or none where the system does not say.
pub fn default_memory_budget() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 4 * 3 * 1024)
}

/// Whether symmetry reduction is applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Symmetry {
    /// Where it pays: the classes of at least [`symmetry::PAYING_CLASS`] interchangeable
    /// devices are canonicalised, smaller classes are not (measured in `benches/symmetry.sh`:
    /// below that size canonicalising a state costs more than the states it saves).
    #[default]
    Auto,
    /// Interchangeable devices (same account, same workload) are explored once, in every class.
    On,
    /// Every state is its own representative.
    Off,
}

/// Checks one scenario exhaustively (within its bounds) and reports every claim.
pub fn check(scenario: Scenario, options: &CheckOptions) -> ScenarioReport {
    check_with_progress(scenario, options, None)
}

fn check_with_progress(
    scenario: Scenario,
    options: &CheckOptions,
    progress: Option<&check::Progress>,
) -> ScenarioReport {
    let (model, limits) = model_and_limits(scenario, options);
    let exploration = check::explore_with(&model, limits, options.reduction, progress);
    report::scenario_report(&exploration, options.witnesses)
}

/// The model and limits a scenario is checked with.
fn model_and_limits(scenario: Scenario, options: &CheckOptions) -> (ProtocolModel, check::Limits) {
    let mut limits = check::Limits::of(&scenario);
    limits.max_memory = match (limits.max_memory, options.max_memory) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let model = ProtocolModel::new(scenario).with_symmetry(options.symmetry);
    (model, limits)
}

/// Checks scenarios one after another, each searched by every worker of `workers` together
/// (threads of this process, or the processes of a cluster, on timely dataflow; see
/// [`distributed`]). The process that holds worker 0 gets the report; the other processes of a
/// cluster get `None`. Verdicts, state counts and traces are the single-thread search's.
pub fn check_distributed(
    scenarios: Vec<Scenario>,
    workers: &distributed::Workers,
    options: CheckOptions,
    progress: Option<std::sync::Arc<check::Progress>>,
) -> Result<Option<Report>, String> {
    use std::hash::{Hash, Hasher};
    let shared = std::sync::Arc::new(scenarios.clone());
    let make = move |k: usize| {
        crate::knowledge::clear_interned();
        crate::parts::clear_sent();
        crate::symmetry::clear_cache();
        let scenario = shared[k].clone();
        // What the scenario says, wherever its file is: equal on every process only if they
        // search the same thing.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut unplaced = scenario.clone();
        unplaced.path = std::path::PathBuf::new();
        // (The expectations are read by process 0 only, and print function addresses.)
        unplaced.expect.clear();
        // (The claims, likewise: catalogue claims print function addresses, so they count by
        // id, and claims written in the language by their formula's text.)
        let claims: Vec<String> = unplaced
            .claims
            .drain(..)
            .map(|c| match c.formula() {
                Some(f) => format!("{}={}", c.id(), f.text),
                None => c.id().to_string(),
            })
            .collect();
        // (The number of scenarios too, so that processes given different files disagree at
        // the first scenario.)
        format!(
            "{k}/{} {unplaced:?} {claims:?} {options:?} {}",
            shared.len(),
            env!("CARGO_PKG_VERSION")
        )
        .hash(&mut h);
        let (model, limits) = model_and_limits(scenario, &options);
        distributed::Job {
            model,
            limits,
            reduction: options.reduction,
            fingerprint: h.finish(),
        }
    };
    let explorations = distributed::explore_all(workers, scenarios.len(), make, progress)?;
    if !workers.reports() {
        return Ok(None);
    }
    let reports = scenarios
        .into_iter()
        .zip(explorations)
        .map(|(scenario, inner)| {
            let (model, _) = model_and_limits(scenario, &options);
            report::scenario_report(&check::Exploration::of(&model, inner), options.witnesses)
        })
        .collect();
    Ok(Some(Report { scenarios: reports }))
}

/// Checks scenarios on `threads` threads (one scenario per thread at a time); the report lists
/// them in the order given.
pub fn check_all(scenarios: Vec<Scenario>, threads: usize, options: CheckOptions) -> Report {
    check_all_with_progress(scenarios, threads, options, None)
}

/// [`check_all`], publishing search counters to `progress`.
pub fn check_all_with_progress(
    scenarios: Vec<Scenario>,
    threads: usize,
    options: CheckOptions,
    progress: Option<&check::Progress>,
) -> Report {
    use std::sync::Mutex;
    let n = scenarios.len();
    let results: Vec<Mutex<Option<ScenarioReport>>> = (0..n).map(|_| Mutex::new(None)).collect();
    check_each(scenarios, threads, options, progress, &|i, r| {
        *results[i].lock().expect("result lock") = Some(r);
    });
    Report {
        scenarios: results
            .into_iter()
            .map(|r| {
                r.into_inner()
                    .expect("result lock")
                    .expect("every scenario was checked")
            })
            .collect(),
    }
}

/// [`check_all_with_progress`], handing each scenario's report to `done`, with the scenario's
/// index, as soon as it is ready (so a caller can stop waiting and keep what is finished).
pub fn check_each(
    scenarios: Vec<Scenario>,
    threads: usize,
    options: CheckOptions,
    progress: Option<&check::Progress>,
    done: &(dyn Fn(usize, ScenarioReport) + Sync),
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let n = scenarios.len();
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Scenario>>> =
        scenarios.into_iter().map(|s| Mutex::new(Some(s))).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                // A slot is taken by exactly one thread and no thread panics while holding it.
                let s = slots[i]
                    .lock()
                    .expect("slot lock")
                    .take()
                    .expect("slot filled");
                done(i, check_with_progress(s, &options, progress));
            });
        }
    });
}
