//! Reproducers of reported wrong behaviours, each pinned as it should be.

use crate::repo_path;
use imessage_model::claims::Conditions;
use imessage_model::load::parse;
use imessage_model::protocol::wire::{Msg, Origin, Timer};
use imessage_model::state::{State, Step};
use imessage_model::{check, CheckOptions, ProtocolModel, Verdict};
use stateright::actor::ActorModelAction;
use stateright::Model;
use std::path::Path;
use std::process::Command;

/// The scenario `text`, which must parse.
pub fn scenario(text: &str) -> imessage_model::Scenario {
    parse(Path::new("reproducer.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

/// The verdict of `claim` on the scenario `text`, from a complete search.
pub fn verdict(text: &str, claim: &str) -> Verdict {
    let r = check(scenario(text), &CheckOptions::default());
    assert!(r.complete, "{text}");
    r.claims
        .iter()
        .find(|c| c.id == claim)
        .expect("a catalogue claim")
        .verdict
}

/// B's three devices, one sending and two looking up, on a lossy network.
pub const THREE_DEVICES: &str = r#"name = "B has three devices"
variant = "imessage-2016"
[network]
lossy = true
[[account]]
handle = "A"
[[account]]
handle = "B"
devices = 3
[[action]]
by = "B/1"
send = "A"
[[action]]
by = "B/2"
lookup = "A"
[[action]]
by = "B/3"
lookup = "A"
"#;

/// Three devices of one account, two of them interchangeable, on a lossy network: `check`
/// reports (exit 0 or 1), it does not panic.
#[test]
fn three_devices_on_a_lossy_network_are_checked_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("three-devices.toml");
    std::fs::write(
        &path,
        format!("{THREE_DEVICES}[expect]\nlookup-always-logged = \"violated\"\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_imessage-model"))
        .args(["check", "--quiet"])
        .arg(&path)
        .current_dir(repo_path(""))
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "exit {:?}\n{stdout}{stderr}",
        out.status.code()
    );
    assert!(stdout.contains("lookup-always-logged"), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

const TWO_LOOKUPS: &str = r#"name = "two lookups, one record lost"
variant = "private-discovery"
logging = "LOGGING"
[network]
lossy = true
[[account]]
handle = "A"
[[account]]
handle = "B"
[[account]]
handle = "C"
[[action]]
by = "A/1"
lookup = "B"
[[action]]
by = "A/1"
lookup = "C"
"#;

/// Takes the one enabled step of `state` that `pick` selects.
fn take(m: &ProtocolModel, state: &State, what: &str, pick: impl Fn(&Step) -> bool) -> State {
    let mut steps = Vec::new();
    m.actions(state, &mut steps);
    let chosen: Vec<Step> = steps.iter().filter(|s| pick(s)).cloned().collect();
    assert_eq!(chosen.len(), 1, "{what}: {chosen:?} among {steps:?}");
    m.next_state(state, chosen[0].clone()).expect("enabled")
}

fn log_write_of(step: &Step, action: u8, lost: bool) -> bool {
    match step {
        Step::Actor(ActorModelAction::Drop(env)) if lost => {
            matches!(&env.msg, Msg::LogWrite(r) if r.lookup.origin == Origin::Action(action))
        }
        Step::Actor(ActorModelAction::Deliver { msg, .. }) if !lost => {
            matches!(msg, Msg::LogWrite(r) if r.lookup.origin == Origin::Action(action))
        }
        _ => false,
    }
}

/// A/1 looks up B, then C; the directory sends B's record, then C's; B's record is lost and
/// C's arrives. Under private discovery the two records show the same thing (requester, day,
/// address), which once let C's record stand for B's.
fn b_lost_c_logged(m: &ProtocolModel) -> State {
    let mut s = m.init_states().remove(0);
    for n in [0u8, 1] {
        s = take(
            m,
            &s,
            "user action",
            |st| matches!(st, Step::Actor(ActorModelAction::Timeout(_, Timer::UserAction(k))) if *k == n),
        );
        s = take(
            m,
            &s,
            "lookup",
            |st| matches!(st, Step::Actor(ActorModelAction::Deliver { msg: Msg::Lookup(q), .. }) if q.action == n),
        );
    }
    s = take(m, &s, "B's record lost", |st| log_write_of(st, 0, true));
    take(m, &s, "C's record delivered", |st| {
        log_write_of(st, 1, false)
    })
}

/// Logging before the reply: the log's acknowledgement of C's record releases the answer for
/// C only; the answer for B stays held, since its record never reached the log. So
/// `lookup-always-logged` holds, and holds for the right reason.
#[test]
fn an_acknowledgement_releases_only_its_own_lookup_under_private_discovery() {
    let text = TWO_LOOKUPS.replace("LOGGING", "before-reply");
    let m = ProtocolModel::new(scenario(&text)).without_symmetry();
    let s = b_lost_c_logged(&m);
    let s = take(
        &m,
        &s,
        "C's acknowledgement",
        |st| matches!(st, Step::Actor(ActorModelAction::Deliver { msg: Msg::LogAck(r), .. }) if r.lookup.origin == Origin::Action(1)),
    );
    let directory = imessage_model::state::directory(&s);
    assert_eq!(
        directory
            .held
            .iter()
            .map(|(_, action, _, _)| *action)
            .collect::<Vec<_>>(),
        vec![0],
        "the answer for B is still held"
    );
    assert!(
        directory
            .answered
            .iter()
            .all(|r| r.lookup.origin == Origin::Action(1)),
        "only C's lookup is answered"
    );
    assert!(
        !imessage_model::state::in_flight(&s)
            .any(|msg| matches!(msg, Msg::LookupReply { target, .. } if target.0 == 1)),
        "no answer for B is on its way"
    );
    assert_eq!(verdict(&text, "lookup-always-logged"), Verdict::Holds);
}

/// Logging after the reply: both lookups are answered, and C's record in the log does not
/// stand for B's lost one: the state violates `lookup-always-logged`.
#[test]
fn a_lost_record_is_missing_although_an_equal_looking_one_is_logged() {
    let text = TWO_LOOKUPS.replace("LOGGING", "after-reply");
    let m = ProtocolModel::new(scenario(&text)).without_symmetry();
    let s = b_lost_c_logged(&m);
    let claim = imessage_model::claims::find("lookup-always-logged").unwrap();
    assert!(claim.discovered(&m, &s), "B's lost record is missing");
    assert_eq!(verdict(&text, "lookup-always-logged"), Verdict::Violated);
}

/// Under key-swap the directory impersonates any registered account toward any other, its
/// choice in the run: the verdict does not depend on the order of the file (it once picked the
/// first send it found, and forged nothing when that send went to an unregistered handle).
#[test]
fn key_swap_verdicts_do_not_depend_on_the_order_of_the_file() {
    let text = |first: &str, second: &str| {
        format!(
            r#"name = "key swap, sends in some order"
variant = "imessage-2016"
threat = "key-swap"
[[account]]
handle = "A"
[[account]]
handle = "B"
[[account]]
handle = "C"
registered = false
[[action]]
by = "A/1"
send = "{first}"
[[action]]
by = "A/1"
send = "{second}"
"#
        )
    };
    assert_eq!(
        verdict(&text("C", "B"), "content-authentic"),
        Verdict::Violated
    );
    assert_eq!(
        verdict(&text("B", "C"), "content-authentic"),
        Verdict::Violated
    );
    // With no send at all, the directory still chooses whom to impersonate.
    let quiet = text("B", "C")
        .split("[[action]]")
        .next()
        .unwrap()
        .to_string();
    assert_eq!(verdict(&quiet, "content-authentic"), Verdict::Violated);
}

/// `[key-swap]` narrows the adversary to one pair; the counterexample names it.
#[test]
fn a_narrowed_key_swap_impersonates_the_pair_it_names() {
    let text = r#"name = "key swap, one pair"
variant = "imessage-2016"
threat = "key-swap"
[[account]]
handle = "A"
[[account]]
handle = "B"
[[action]]
by = "A/1"
send = "B"
[key-swap]
impersonate = "B"
toward = "A"
"#;
    let r = check(scenario(text), &CheckOptions::default());
    let c = r
        .claims
        .iter()
        .find(|c| c.id == "content-authentic")
        .unwrap();
    assert_eq!(c.verdict, Verdict::Violated);
    let first = &c.trace.as_ref().unwrap()[0].text;
    assert_eq!(
        first,
        "directory: impersonates B toward A: forges a message from B, signed with its own key"
    );
}
