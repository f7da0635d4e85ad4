//! Invariance of verdicts on generated scenarios (the generator of `support.rs`): names,
//! file order, symmetry reduction, larger bounds, agreement with stateright's own checker, and
//! traces that replay. Every case prints the scenario text when it fails; proptest saves the
//! seed (`proptest-regressions/`), and `PROPTEST_CASES=N` runs more cases (README,
//! "Development notes").

use crate::support::scenario_text;
use imessage_model::check::{explore_with, Exploration, Limits, Reduction};
use imessage_model::claims::ClaimKind;
use imessage_model::claims::Conditions;
use imessage_model::engine::Footprints;
use imessage_model::load::parse;
use imessage_model::{ProtocolModel, Scenario, Verdict, CATALOGUE};
use proptest::prelude::*;
use stateright::{Checker, HasDiscoveries, Model};
use std::collections::BTreeSet;
use std::path::Path;

fn scenario(text: &str) -> Result<Scenario, TestCaseError> {
    parse(Path::new("generated.toml"), text)
        .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))
}

/// The model of a scenario, with or without symmetry reduction, and the scenario's limits.
fn model_of(s: Scenario, symmetry: bool) -> (ProtocolModel, Limits) {
    let limits = Limits::of(&s);
    let m = ProtocolModel::new(s);
    let m = if symmetry { m } else { m.without_symmetry() };
    (m, limits)
}

fn verdicts(x: &Exploration) -> Vec<Verdict> {
    CATALOGUE.iter().map(|c| x.verdict(c)).collect()
}

fn trace_lengths(x: &Exploration) -> Vec<Option<usize>> {
    CATALOGUE
        .iter()
        .map(|c| x.trace(c).map(|t| t.steps.len()))
        .collect()
}

/// The generator's file cut into its header and its `[[account]]`, `[[action]]` and
/// `[[legal-request]]` blocks, in file order.
fn blocks(text: &str) -> (String, Vec<String>, Vec<String>, Vec<String>) {
    let mut header = String::new();
    let (mut accounts, mut actions, mut orders) = (Vec::new(), Vec::new(), Vec::new());
    let mut current: Option<(usize, String)> = None;
    let flush = |cur: &mut Option<(usize, String)>,
                 a: &mut Vec<String>,
                 b: &mut Vec<String>,
                 c: &mut Vec<String>| {
        if let Some((kind, block)) = cur.take() {
            [a, b, c][kind].push(block);
        }
    };
    for line in text.lines() {
        let kind = match line {
            "[[account]]" => Some(0),
            "[[action]]" => Some(1),
            "[[legal-request]]" => Some(2),
            _ => None,
        };
        if let Some(kind) = kind {
            flush(&mut current, &mut accounts, &mut actions, &mut orders);
            current = Some((kind, String::new()));
        }
        match &mut current {
            Some((_, block)) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {
                header.push_str(line);
                header.push('\n');
            }
        }
    }
    flush(&mut current, &mut accounts, &mut actions, &mut orders);
    (header, accounts, actions, orders)
}

/// The same scenario with other handles (a phone number, an e-mail address, a name) and
/// explicit, distinct IP addresses.
fn renamed(text: &str) -> String {
    let (header, accounts, actions, orders) = blocks(text);
    let mut out = header;
    for (i, a) in accounts.iter().enumerate() {
        out += &a.replacen(
            "handle = ",
            &format!("ip = \"10.{i}.0.{}\"\nhandle = ", 200 - i),
            1,
        );
    }
    for b in actions.iter().chain(&orders) {
        out += b;
    }
    let names = [
        ("A", "+1 (555) 010-0100"),
        ("B", "bob@example.com"),
        ("C", "Carol"),
    ];
    for (from, to) in names {
        out = out
            .replace(&format!("\"{from}\""), &format!("\"{to}\""))
            .replace(&format!("\"{from}/"), &format!("\"{to}/"));
    }
    out
}

/// The same scenario with its accounts, its actions and its court orders each in reverse
/// order (account and content numbers change, nothing else).
fn reordered(text: &str) -> String {
    let (header, accounts, actions, orders) = blocks(text);
    let mut out = header;
    for b in accounts
        .iter()
        .rev()
        .chain(actions.iter().rev())
        .chain(orders.iter().rev())
    {
        out += b;
    }
    out
}

/// The same scenario with `key = value` set under `[bounds]`.
fn with_bound(text: &str, key: &str, value: impl std::fmt::Display) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with(&format!("{key} = ")) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line == "[bounds]" {
            out += &format!("{key} = {value}\n");
        }
    }
    out
}

fn days_of(text: &str) -> u8 {
    text.lines()
        .find_map(|l| l.strip_prefix("days = "))
        .and_then(|d| d.parse().ok())
        .expect("the generator writes the days")
}

/// Whether a larger bound kept what the smaller one found. The rule: a search of the larger
/// space (one more day, or a deeper depth bound) that is complete never turns `violated` into
/// `holds` nor `reachable` into `unreachable`, for `always` and `sometimes` claims: every run
/// of the smaller space is a run of the larger (the clock's tick is enabled, never forced, and
/// the generator pins no action or court order to a day; a pinned day would change meaning
/// with more days, since the clock then waits for that day's actions before it moves on). For
/// `eventually` claims the same holds with one more day (a run that ends without delivery ends,
/// after any further ticks, still without it, since a tick delivers nothing and no action waits
/// for a later day); under a depth bound a state at the bound is not a run's end, so the rule
/// is not claimed there.
fn keeps_discoveries(
    small: &Exploration,
    large: &Exploration,
    eventually_too: bool,
) -> Result<(), String> {
    if !large.complete() {
        return Ok(());
    }
    for c in CATALOGUE.iter() {
        if c.kind == ClaimKind::Eventually && !eventually_too {
            continue;
        }
        if small.verdict(c).has_path() && !large.verdict(c).has_path() {
            return Err(format!(
                "{}: {:?} became {:?}",
                c.id,
                small.verdict(c),
                large.verdict(c)
            ));
        }
    }
    Ok(())
}

/// Every reported trace is a concrete run from an initial state whose last state shows the
/// verdict: a counterexample or witness state, or for an `eventually` claim a state with no
/// successor, with the condition false all along.
fn traces_replay(m: &ProtocolModel, x: &Exploration) -> Result<(), String> {
    for c in CATALOGUE.iter() {
        let Some(t) = x.trace(c) else { continue };
        if !m.concrete_init_states().contains(&t.initial) {
            return Err(format!("{}: the trace starts in no initial state", c.id));
        }
        let mut prev = t.initial.clone();
        let mut states = vec![prev.clone()];
        for (step, after) in &t.steps {
            if m.raw_next_state(&prev, step.clone()).as_ref() != Some(after) {
                return Err(format!(
                    "{}: {step:?} does not lead to the next state",
                    c.id
                ));
            }
            prev = after.clone();
            states.push(prev.clone());
        }
        let ok = match c.kind {
            ClaimKind::Always | ClaimKind::Sometimes | ClaimKind::LeadsTo => c.discovered(m, &prev),
            ClaimKind::Eventually => {
                let mut actions = Vec::new();
                m.actions(&prev, &mut actions);
                actions
                    .into_iter()
                    .all(|a| m.raw_next_state(&prev, a).is_none())
                    && states.iter().all(|s| !c.condition(m, s))
            }
        };
        if !ok {
            return Err(format!(
                "{}: the trace's last state does not show the verdict",
                c.id
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(12)
    ))]

    /// Names, file order, symmetry and larger bounds do not change what a check finds, and
    /// every trace replays.
    #[test]
    fn verdicts_are_invariant_on_generated_scenarios(text in scenario_text()) {
        let s = scenario(&text)?;
        let (m, limits) = model_of(s.clone(), true);
        let x = explore_with(&m, limits, Reduction::Por, None);
        prop_assume!(x.complete());
        let fail = |what: &str| TestCaseError::fail(format!("{what}\n{text}"));

        // Handles and addresses are names: same verdicts, same state counts.
        let r = renamed(&text);
        let (mr, lr) = model_of(scenario(&r)?, true);
        let xr = explore_with(&mr, lr, Reduction::Por, None);
        prop_assert_eq!(verdicts(&x), verdicts(&xr), "renamed\n{}", r);
        prop_assert_eq!(x.unique_states(), xr.unique_states(), "renamed\n{}", r);

        // File order: same verdicts (key-swap included: the directory chooses whom to
        // impersonate toward whom in the run, whatever the order of the file).
        let o = reordered(&text);
        let (mo, lo) = model_of(scenario(&o)?, true);
        let xo = explore_with(&mo, lo, Reduction::Por, None);
        prop_assert_eq!(verdicts(&x), verdicts(&xo), "reordered\n{}", o);

        // Symmetry on and off: same verdicts and trace lengths.
        let (mf, lf) = model_of(s.clone(), false);
        let xf = explore_with(&mf, lf, Reduction::Por, None);
        if xf.complete() {
            prop_assert_eq!(verdicts(&x), verdicts(&xf));
            prop_assert_eq!(trace_lengths(&x), trace_lengths(&xf));
        }

        // One more day; a depth bound one deeper than a smaller one.
        // (A duplicating network keeps every message in flight, so its clock never moves and
        // a scenario file may not ask for a second day there.)
        if !text.contains("order = \"duplicating\"") {
            let more = with_bound(&text, "days", days_of(&text) + 1);
            let (md, ld) = model_of(scenario(&more)?, true);
            let xd = explore_with(&md, ld, Reduction::Por, None);
            keeps_discoveries(&x, &xd, true).map_err(|e| fail(&format!("one more day: {e}")))?;
        }
        let depth = x.max_depth / 2 + 1;
        let (m1, l1) = model_of(scenario(&with_bound(&text, "max-depth", depth))?, true);
        let x1 = explore_with(&m1, l1, Reduction::Por, None);
        let (m2, l2) = model_of(scenario(&with_bound(&text, "max-depth", depth + 1))?, true);
        let x2 = explore_with(&m2, l2, Reduction::Por, None);
        let depth_rule = |small: &Exploration, large: &Exploration| -> Result<(), String> {
            for c in CATALOGUE.iter().filter(|c| c.kind != ClaimKind::Eventually) {
                if small.verdict(c).has_path() && !large.verdict(c).has_path() {
                    return Err(format!("{}: {:?} became {:?}", c.id, small.verdict(c), large.verdict(c)));
                }
            }
            Ok(())
        };
        depth_rule(&x1, &x2).map_err(|e| fail(&format!("max-depth {depth} -> {}: {e}", depth + 1)))?;
        depth_rule(&x2, &x).map_err(|e| fail(&format!("max-depth {} -> none: {e}", depth + 1)))?;

        // Every trace replays in the model to a state that shows the verdict.
        traces_replay(&m, &x).map_err(|e| fail(&e))?;
    }

    /// Our unreduced search finds the unique states and discoveries of stateright's own
    /// breadth-first checker. stateright deduplicates by a 64-bit fingerprint in which a set of
    /// timers hashes without its length, so two states that differ only in which device still
    /// holds a timer of the same number (two devices with workloads, one of which has acted
    /// and lost its message) hash alike and are merged (STATERIGHT-NOTES.md): the state counts
    /// are equal when at most one device has a workload, and ours is never smaller otherwise.
    /// Small cases only, for time.
    #[test]
    fn search_agrees_with_stateright_on_generated_scenarios(text in scenario_text()) {
        let s = scenario(&text)?;
        let (m, limits) = model_of(s.clone(), true);
        let ours = explore_with(&m, limits, Reduction::None, None);
        prop_assume!(ours.complete() && ours.unique_states() <= 2_000);
        let ours_found: BTreeSet<&str> = CATALOGUE
            .iter()
            .filter(|c| ours.verdict(c).has_path())
            .map(|c| c.id)
            .collect();
        let theirs = ProtocolModel::new(s)
            .checker()
            .finish_when(HasDiscoveries::AnyOf(BTreeSet::new()))
            .spawn_bfs()
            .join();
        let theirs_found: BTreeSet<&str> = theirs.discoveries().keys().copied().collect();
        let acting = m.scenario.devices.iter().filter(|d| !d.actions.is_empty()).count();
        if acting <= 1 {
            prop_assert_eq!(ours.unique_states(), theirs.unique_state_count(), "{}", text);
        } else {
            prop_assert!(ours.unique_states() >= theirs.unique_state_count(), "{}", text);
        }
        prop_assert_eq!(ours_found, theirs_found, "{}", text);
    }
}
