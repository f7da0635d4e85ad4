//! Claims read the state as their sentences say: small scenarios where one clause of a claim's
//! condition decides the verdict, so a condition that drops or inverts the clause is caught.

use crate::regressions::{scenario, verdict};
use imessage_model::claims::Conditions;
use imessage_model::report::describe;
use imessage_model::state::{State, Step};
use imessage_model::{check, claims, CheckOptions, ProtocolModel, Verdict};
use stateright::Model;

fn model(text: &str) -> ProtocolModel {
    ProtocolModel::new(scenario(text)).without_symmetry()
}

/// The state after the steps whose trace lines begin with `lines`, one each, from the initial
/// state; each must select exactly one enabled step.
fn walk(m: &ProtocolModel, lines: &[&str]) -> State {
    let mut s = m.init_states().remove(0);
    for want in lines {
        let mut steps: Vec<Step> = Vec::new();
        m.actions(&s, &mut steps);
        let named: Vec<(String, Step)> = steps
            .into_iter()
            .map(|st| (describe(&m.scenario, &st).text, st))
            .collect();
        let chosen: Vec<&(String, Step)> =
            named.iter().filter(|(l, _)| l.starts_with(want)).collect();
        let all: Vec<&String> = named.iter().map(|(l, _)| l).collect();
        assert_eq!(chosen.len(), 1, "{want:?} among {all:#?}");
        s = m.next_state(&s, chosen[0].1.clone()).expect("enabled");
    }
    s
}

/// Whether `s` is a discovery for the claim `id`.
fn discovered(m: &ProtocolModel, s: &State, id: &str) -> bool {
    claims::find(id)
        .expect("a catalogue claim")
        .discovered(m, s)
}

/// The witness of the `sometimes` claim `id`, as trace lines.
fn witness(text: &str, id: &str) -> Vec<String> {
    let options = CheckOptions {
        witnesses: true,
        ..CheckOptions::default()
    };
    let r = check(scenario(text), &options);
    assert!(r.complete, "{text}");
    let c = r
        .claims
        .iter()
        .find(|c| c.id == id)
        .expect("a catalogue claim");
    c.trace.iter().flatten().map(|t| t.text.clone()).collect()
}

/// A looks B up on day 0 and sends B a message on day 1. On day 0 the log holds the record
/// while no message has gone, but the send scheduled for a later day is still to come (the
/// clock waits for it), so the log never shows a lookup without a message.
#[test]
fn a_send_scheduled_for_a_later_day_is_still_to_come() {
    let text = r#"name = "send tomorrow"
variant = "imessage-2016"
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
send = "B"
day = 1
"#;
    assert_eq!(
        verdict(text, "lookup-logged-without-message"),
        Verdict::Unreachable
    );
}

/// Without a lookup cache, A's send to B asks the directory again although A has just looked
/// B up: while that second lookup is in flight the log already holds the first one's record
/// and nothing has been sent, but the queued send is still to come (the network loses
/// nothing, so its lookup will be answered). The log never shows a lookup without a message.
#[test]
fn a_send_waiting_for_its_lookup_in_flight_is_still_to_come() {
    let text = r#"name = "second lookup in flight"
variant = "imessage-2016"
lookup-cache = false
[[account]]
handle = "A"
[[account]]
handle = "B"
[[action]]
by = "A/1"
lookup = "B"
[[action]]
by = "A/1"
send = "B"
"#;
    assert_eq!(
        verdict(text, "lookup-logged-without-message"),
        Verdict::Unreachable
    );
}

/// A verdict is the claim's success exactly when it holds or is reachable.
#[test]
fn successes_are_holds_and_reachable() {
    let successes: Vec<Verdict> = Verdict::ALL
        .into_iter()
        .filter(|v| v.is_success())
        .collect();
    assert_eq!(successes, [Verdict::Holds, Verdict::Reachable]);
    let with_a_path: Vec<Verdict> = Verdict::ALL.into_iter().filter(|v| v.has_path()).collect();
    assert_eq!(with_a_path, [Verdict::Violated, Verdict::Reachable]);
}

/// A/1 looks C up (twice) and will send to B later; nothing goes to C, so the log shows a lookup
/// without a message as soon as it records C's lookup: a send still to come counts only for
/// its own target, and a lookup still to come never does.
#[test]
fn only_a_send_to_the_looked_up_handle_is_still_to_come() {
    let text = r#"name = "lookup C, send B"
variant = "imessage-2016"
[[account]]
handle = "A"
[[account]]
handle = "B"
[[account]]
handle = "C"
[[action]]
by = "A/1"
lookup = "C"
[[action]]
by = "A/1"
send = "B"
[[action]]
by = "A/1"
lookup = "C"
"#;
    assert_eq!(
        witness(text, "lookup-logged-without-message"),
        [
            "device A/1: user looks up C",
            "device A/1 -> directory: lookup target=C requester=A ip=192.0.2.1 token=A/1",
            "directory -> lookup log: record (day 0: A looked up C from 192.0.2.1, 1 device)",
        ]
    );
}

const QUEUED_FOR_B: &str = r#"name = "queued for B, lookup of C"
variant = "imessage-2016"
logging = "LOGGING"
[network]
order = "unordered"
lossy = true
[[account]]
handle = "A"
[[account]]
handle = "B"
[[account]]
handle = "C"
[[action]]
by = "A/1"
lookup = "C"
[[action]]
by = "A/1"
send = "B"
"#;

/// A/1's send to B waits for an answer that was lost, after B's lookup was logged: A can no
/// longer write to B, whatever A/1's lookup of C does. Only a lookup of B (or its answer) on
/// its way keeps the queued send alive.
#[test]
fn a_lookup_of_another_handle_in_flight_does_not_release_a_queued_send() {
    let m = model(&QUEUED_FOR_B.replace("LOGGING", "after-reply"));
    let answer_for_b_lost = [
        "device A/1: user looks up C",
        "device A/1: user sends m1 to B",
        "device A/1 -> directory: lookup target=B",
        "directory -> lookup log: record (day 0: A looked up B",
        "network, directory -> device A/1: lost: answer for B",
    ];
    let s = walk(&m, &answer_for_b_lost);
    assert!(
        discovered(&m, &s, "lookup-logged-without-message"),
        "the lookup of C in flight"
    );
    let mut and_c_answered = answer_for_b_lost.to_vec();
    and_c_answered.push("device A/1 -> directory: lookup target=C");
    let s = walk(&m, &and_c_answered);
    assert!(
        discovered(&m, &s, "lookup-logged-without-message"),
        "the answer for C in flight"
    );
    // While the answer for B is on its way, the send may still go.
    let s = walk(&m, &answer_for_b_lost[..4]);
    assert!(!discovered(&m, &s, "lookup-logged-without-message"));
}

/// Logging before the reply: the directory holds A/1's lookup of C until the log acknowledges
/// it; that does not keep A/1's send to B (whose answer was lost) alive.
#[test]
fn a_held_lookup_of_another_handle_does_not_release_a_queued_send() {
    let m = model(&QUEUED_FOR_B.replace("LOGGING", "before-reply"));
    let s = walk(
        &m,
        &[
            "device A/1: user looks up C",
            "device A/1: user sends m1 to B",
            "device A/1 -> directory: lookup target=B",
            "directory -> lookup log: record (day 0: A looked up B",
            "lookup log -> directory: ack",
            "network, directory -> device A/1: lost: answer for B",
            "device A/1 -> directory: lookup target=C",
        ],
    );
    assert!(
        !imessage_model::state::directory(&s).held.is_empty(),
        "the lookup of C is held"
    );
    assert!(discovered(&m, &s, "lookup-logged-without-message"));
}

/// A/1 looked C up (logged), then wrote to B although B's record was lost: the message has no
/// logged lookup behind it. A record counts for a message only when it has both the message's
/// sender and its target.
#[test]
fn a_record_of_another_lookup_does_not_stand_for_the_message() {
    let m = model(&QUEUED_FOR_B.replace("LOGGING", "after-reply"));
    let s = walk(
        &m,
        &[
            "device A/1: user looks up C",
            "device A/1 -> directory: lookup target=C",
            "directory -> lookup log: record (day 0: A looked up C",
            "device A/1: user sends m1 to B",
            "device A/1 -> directory: lookup target=B",
            "network, directory -> lookup log: lost: record (day 0: A looked up B",
            "directory -> device A/1: answer for B",
        ],
    );
    assert!(discovered(&m, &s, "message-without-logged-lookup"));
}

/// Nothing has happened in the initial state: no `always` claim is violated there, no
/// `sometimes` claim is reached, and an `eventually` claim is never decided by one state.
#[test]
fn the_initial_state_is_no_discovery() {
    let m = model(&QUEUED_FOR_B.replace("LOGGING", "after-reply"));
    let s = walk(&m, &[]);
    for c in &imessage_model::CATALOGUE {
        assert!(!c.discovered(&m, &s), "{}", c.id);
    }
}

/// The clock's purge takes a record past retention out of the log's knowledge too, not only
/// out of its records: what the content and contact claims read of the log is what it still
/// holds.
#[test]
fn a_purged_record_leaves_the_logs_knowledge() {
    let m = model(
        r#"name = "purge"
variant = "imessage-2016"
[bounds]
days = 2
retention = 1
[[account]]
handle = "A"
[[account]]
handle = "B"
[[action]]
by = "A/1"
lookup = "B"
day = 0
"#,
    );
    let logged = [
        "device A/1: user looks up B",
        "device A/1 -> directory: lookup target=B",
        "directory -> lookup log: record (day 0: A looked up B",
        "lookup log -> directory: ack",
        "directory -> device A/1: answer for B",
    ];
    let s = walk(&m, &logged);
    assert!(imessage_model::state::log(&s).knowledge.holds(
        &imessage_model::knowledge::Term::Handle(imessage_model::knowledge::AccountId(1))
    ));
    let mut then_purged = logged.to_vec();
    then_purged.push("clock: ");
    let s = walk(&m, &then_purged);
    let log = imessage_model::state::log(&s);
    assert!(log.records.is_empty(), "the record is purged");
    assert!(log.knowledge.is_empty(), "{:?}", log.knowledge);
}
