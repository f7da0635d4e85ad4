//! Claims read the state as their sentences say: small scenarios where one clause of a claim's
//! condition decides the verdict, so a condition that drops or inverts the clause is caught.

use crate::regressions::verdict;
use imessage_model::Verdict;

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
