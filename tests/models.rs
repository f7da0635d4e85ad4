//! The scenarios of `models/`: verdicts, pinned state counts, pinned traces.

use crate::{model, model_files};
use imessage_model::check::Reduction;
use imessage_model::report::{self, ScenarioReport};
use imessage_model::{check, CheckOptions, ClaimKind, Verdict, CATALOGUE};

fn checked(name: &str) -> ScenarioReport {
    check(
        model(name),
        &CheckOptions {
            witnesses: true,
            ..CheckOptions::default()
        },
    )
}

fn trace_text(r: &ScenarioReport, claim: &str) -> String {
    let c = r
        .claims
        .iter()
        .find(|c| c.id == claim)
        .expect("a catalogue claim");
    let steps = c
        .trace
        .as_ref()
        .unwrap_or_else(|| panic!("{claim}: no trace ({:?})", c.verdict));
    steps
        .iter()
        .map(|s| format!("{:>2}. {}\n", s.step, s.text))
        .collect()
}

/// A claim's trace, then its explanation (`why:`).
fn trace_and_why(r: &ScenarioReport, claim: &str) -> String {
    let why = r
        .claims
        .iter()
        .find(|c| c.id == claim)
        .and_then(|c| c.explanation.clone())
        .unwrap_or_default();
    format!("{}why: {why}\n", trace_text(r, claim))
}

#[test]
fn every_model_file_checks_as_expected_and_complete() {
    for name in model_files() {
        let r = checked(&name);
        assert!(r.complete, "{name} is not complete: {:?}", r.bound);
        for c in &r.claims {
            assert_ne!(
                c.as_expected,
                Some(false),
                "{name}: {} is {:?}, expected {:?}",
                c.id,
                c.verdict,
                c.expected
            );
        }
        assert!(
            r.claims.iter().any(|c| c.expected.is_some()),
            "{name} expects nothing"
        );
    }
}

/// Exact state counts: a change to the model that moves them must say why.
#[test]
fn state_counts_are_pinned() {
    // (file, unique states and states generated without reduction, the same with
    // partial-order reduction).
    // The five files with a class of two interchangeable devices (B/1 and B/2: baseline,
    // ghost-device-*, questions-day-0-*) are checked without symmetry by default, since a
    // class below five costs more to canonicalise than it saves (`benches/symmetry.sh`).
    let pinned: &[(&str, usize, usize, usize, usize)] = &[
        ("address-per-device.toml", 236, 513, 120, 169),
        ("baseline.toml", 126, 260, 36, 39),
        ("cache-off.toml", 17, 17, 17, 17),
        ("connections-aged-out.toml", 14, 14, 14, 14),
        ("connections-bug-never-purges.toml", 14, 14, 14, 14),
        ("connections-recipient.toml", 48, 77, 25, 27),
        ("connections-subpoena-2023.toml", 20, 29, 11, 11),
        ("cache-outlives-record.toml", 13, 13, 13, 13),
        ("draft-in-lookup.toml", 10, 10, 10, 10),
        ("duplicating-network.toml", 47, 198, 47, 198),
        ("empty-answer.toml", 7, 7, 7, 7),
        ("ghost-device-2016.toml", 38, 71, 24, 29),
        ("ghost-device-ckv.toml", 22, 31, 15, 17),
        ("key-swap-2016.toml", 152, 252, 133, 176),
        ("key-swap-ckv.toml", 128, 212, 114, 160),
        // History kept for past-time operators and `leads-to` (claims/history.toml): the
        // reduction postpones no step a past-time operator reads, so it stores more than
        // `log-crash.toml` (18) on the same protocol.
        // Event atoms (claims/events.toml) keep no history; the log-crash scenario has a court
        // order that `log-crash.toml` has not.
        ("events-honest.toml", 6, 6, 6, 6),
        ("events-log-crash.toml", 162, 351, 53, 68),
        ("history-after-reply.toml", 6, 7, 5, 5),
        ("history-log-crash.toml", 30, 47, 26, 34),
        ("intent-faq.toml", 418, 934, 217, 304),
        ("intent-flag-kept.toml", 418, 934, 217, 304),
        ("intent-sender-lookup.toml", 12, 12, 12, 12),
        ("intent-sender-check-dropped.toml", 72, 113, 35, 37),
        ("intent-sender-check-kept.toml", 72, 113, 35, 37),
        ("legal-prospective-renewed.toml", 114, 174, 73, 82),
        ("legal-stored-order.toml", 17, 17, 17, 17),
        ("legal-subscriber-2023-subpoena.toml", 24, 39, 15, 17),
        ("legal-subscriber-unregistered.toml", 18, 28, 12, 14),
        ("legal-token-2016-subpoena.toml", 40, 67, 21, 23),
        ("legal-token-2023-d-order.toml", 40, 67, 21, 23),
        ("legal-token-2023-subpoena.toml", 20, 29, 11, 11),
        ("log-after-reply-lossy.toml", 12, 16, 10, 10),
        ("log-before-reply-lossy.toml", 10, 10, 10, 10),
        ("log-crash.toml", 30, 47, 18, 21),
        ("log-crash-duplicating.toml", 93, 311, 93, 311),
        ("lookup-without-message.toml", 30, 46, 16, 17),
        (
            "lossy-conversation.toml",
            239_121,
            1_362_994,
            23_195,
            36_794,
        ),
        ("lossy-delivery.toml", 18, 18, 18, 18),
        ("phone-and-laptop.toml", 11_072, 42_764, 687, 855),
        ("preservation-order.toml", 11, 11, 11, 11),
        ("private-discovery.toml", 30, 46, 16, 17),
        // The exact statements of questions 3 and 4 (claims/timing.toml) keep history for
        // `once` and `leads-to`; the cached-answer scenario is questions-ghost-device.toml's
        // run, and stores what it stores.
        // A contacts refresh (claims/refresh.toml): one query for several handles, served at
        // once; under private discovery the batch leaves one record.
        ("refresh-contacts.toml", 72, 134, 65, 97),
        ("refresh-conversation-with-message.toml", 12, 12, 12, 12),
        ("refresh-private-discovery.toml", 44, 72, 44, 64),
        ("questions-day-0-delivered.toml", 39, 74, 18, 19),
        ("questions-day-0-lost.toml", 199, 411, 139, 171),
        ("questions-ghost-device-cached-answer.toml", 17, 20, 17, 19),
        ("questions-ghost-device-same-day.toml", 119, 233, 110, 172),
        ("questions-ghost-device.toml", 17, 20, 16, 17),
        (
            "questions-private-discovery-ghost-device.toml",
            15,
            18,
            15,
            17,
        ),
        ("questions-shared-address.toml", 202, 498, 123, 226),
        ("questions-unregistered-lookup.toml", 488, 1361, 174, 242),
        // Delivery receipts (claims/receipts.toml): a receipt and its delivery to each of
        // the sender's devices follow every message.
        ("receipts-off-sealed-sender.toml", 8, 8, 8, 8),
        ("receipts-phone-and-laptop.toml", 49, 92, 46, 64),
        ("receipts-read.toml", 23, 31, 23, 31),
        ("receipts-read-sealed.toml", 19, 25, 19, 25),
        ("receipts-sealed-sender.toml", 10, 10, 10, 10),
        ("retention-aged-out.toml", 11, 11, 11, 11),
        ("retention-bug-never-purges.toml", 11, 11, 11, 11),
        ("sealed-sender.toml", 8, 8, 8, 8),
        ("sms-fallback.toml", 7, 7, 7, 7),
        ("sync-off-sealed-sender.toml", 66, 113, 66, 103),
        ("sync-sealed-sender.toml", 146, 313, 139, 247),
        ("tokens-lookup.toml", 6, 6, 6, 6),
        ("tokens-unregistered.toml", 7, 7, 7, 7),
        // Typing indicators (claims/typing.toml).
        ("typing-ghost-device.toml", 10, 11, 9, 9),
        ("typing-only.toml", 8, 8, 8, 8),
        ("typing-sealed-sender.toml", 40, 55, 39, 51),
    ];
    let names: Vec<&str> = pinned.iter().map(|p| p.0).collect();
    let files = model_files();
    for f in &files {
        assert!(names.contains(&f.as_str()), "{f} has no pinned state count");
    }
    let counts = |n: &str, reduction| {
        let r = check(
            model(n),
            &CheckOptions {
                reduction,
                ..CheckOptions::default()
            },
        );
        (r.unique_states, r.states)
    };
    let actual: Vec<(&str, usize, usize, usize, usize)> = pinned
        .iter()
        .map(|(n, ..)| {
            let (u, s) = counts(n, Reduction::None);
            let (ur, sr) = counts(n, Reduction::Por);
            (*n, u, s, ur, sr)
        })
        .collect();
    assert_eq!(actual, pinned);
    // The README's table of `models/` (from `benches/models.sh`, partial-order reduction)
    // shows these counts, and its total their sum.
    let readme = std::fs::read_to_string(crate::repo_path("README.md")).unwrap();
    let rows: Vec<(String, usize, usize)> = readme
        .lines()
        .skip_while(|l| !l.starts_with("| scenario | unique states | states | depth"))
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .map(|l| {
            let c: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let n = |x: &str| x.replace(',', "").parse::<usize>().unwrap();
            (c[0].to_string(), n(c[1]), n(c[2]))
        })
        .collect();
    let mut expected: Vec<(String, usize, usize)> = pinned
        .iter()
        .map(|(n, _, _, ur, sr)| (n.to_string(), *ur, *sr))
        .collect();
    expected.sort();
    assert_eq!(
        rows, expected,
        "README's table of models/ (bash benches/models.sh 5)"
    );
    let total: usize = pinned.iter().map(|p| p.3).sum();
    let sum = format!(
        "In all, {} unique states",
        imessage_model::report::group(total)
    );
    assert!(readme.contains(&sum), "README: `{sum}`");
}

/// The rule that keeps checks honest: every claim is met in some scenario and fails in another,
/// the catalogue's and those of `models/` written in the claim language alike.
#[test]
fn every_claim_is_met_somewhere_and_fails_somewhere() {
    let reports: Vec<ScenarioReport> = model_files().iter().map(|n| checked(n)).collect();
    let mut claims: Vec<(String, ClaimKind)> = CATALOGUE
        .iter()
        .map(|c| (c.id.to_string(), c.kind))
        .collect();
    for c in reports.iter().flat_map(|r| &r.claims) {
        if !claims.iter().any(|(id, _)| *id == c.id) {
            claims.push((c.id.clone(), c.kind));
        }
    }
    assert!(claims.len() >= CATALOGUE.len() + 5, "{claims:?}");
    for (id, kind) in &claims {
        let outcomes: Vec<(Verdict, &str)> = reports
            .iter()
            .flat_map(|r| {
                r.claims
                    .iter()
                    .filter(|c| c.id == *id && c.as_expected == Some(true))
                    .map(move |c| (c.verdict, r.file.as_str()))
            })
            .collect();
        let (good, bad) = match kind {
            ClaimKind::Always | ClaimKind::Eventually | ClaimKind::LeadsTo => {
                (Verdict::Holds, Verdict::Violated)
            }
            ClaimKind::Sometimes => (Verdict::Unreachable, Verdict::Reachable),
        };
        assert!(
            outcomes.iter().any(|o| o.0 == good),
            "{}: never expected and found {}",
            id,
            good.name()
        );
        assert!(
            outcomes.iter().any(|o| o.0 == bad),
            "{}: never expected and found {}",
            id,
            bad.name()
        );
    }
}

/// The counterexamples and witnesses of the claims written in the claim language in
/// `models/questions-*.toml` (`claims/questions.toml`, `claims/timing.toml`).
#[test]
fn counterexamples_to_claims_of_our_own() {
    let r = checked("questions-unregistered-lookup.toml");
    insta::assert_snapshot!(
        "unregistered_target_in_the_log",
        trace_text(&r, "log-never-holds-unregistered-targets")
    );
    insta::assert_snapshot!(
        "log_learns_a_non_user_exists",
        trace_text(&r, "log-learns-a-non-user-exists")
    );
    let r = checked("questions-shared-address.toml");
    insta::assert_snapshot!(
        "address_of_a_non_requester_disclosed",
        trace_text(&r, "authority-learns-address-only-of-requesters")
    );
    insta::assert_snapshot!(
        "a_message_lost_before_it_reaches_every_device",
        trace_text(&r, "every-message-reaches-every-device")
    );
    let r = checked("questions-ghost-device.toml");
    insta::assert_snapshot!(
        "contact_seen_by_the_directory_not_in_the_log",
        trace_text(&r, "contact-the-directory-sees-is-in-the-log")
    );
    let r = checked("intent-flag-kept.toml");
    insta::assert_snapshot!(
        "a_record_shows_its_lookup_was_for_a_message",
        trace_text(&r, "log-never-shows-a-message")
    );
    insta::assert_snapshot!(
        "an_order_discloses_a_lookup_for_a_message",
        trace_text(&r, "order-discloses-a-message")
    );
    let r = checked("legal-token-2023-d-order.toml");
    insta::assert_snapshot!(
        "a_court_links_a_push_token_to_its_account",
        trace_text(&r, "court-links-token-to-account")
    );
    let r = checked("legal-subscriber-2023-subpoena.toml");
    insta::assert_snapshot!(
        "a_subpoena_links_a_handle_to_its_address",
        trace_text(&r, "subpoena-links-handle-to-address")
    );
    insta::assert_snapshot!(
        "subscriber_information_discloses_a_non_requesters_address",
        trace_text(&r, "authority-learns-address-only-of-requesters")
    );
    let r = checked("refresh-contacts.toml");
    insta::assert_snapshot!(
        "a_contacts_refresh_shows_a_conversation_that_never_took_place",
        trace_text(&r, "log-shows-a-conversation-without-a-message")
    );
    insta::assert_snapshot!(
        "a_batch_lookup_links_the_handles_it_asks_about",
        trace_text(&r, "log-links-the-handles-of-one-query")
    );
    let r = checked("tokens-lookup.toml");
    insta::assert_snapshot!(
        "a_lookup_answer_hands_over_the_targets_push_tokens",
        trace_text(&r, "requester-learns-push-tokens")
    );
    let r = checked("intent-sender-lookup.toml");
    insta::assert_snapshot!(
        "the_recipients_lookup_of_its_sender_shows_a_conversation",
        trace_text(&r, "log-shows-a-conversation")
    );
    let r = checked("intent-sender-check-kept.toml");
    insta::assert_snapshot!(
        "a_log_that_keeps_why_shows_a_message_was_received",
        trace_text(&r, "log-never-shows-a-message")
    );
    let r = checked("questions-day-0-lost.toml");
    insta::assert_snapshot!(
        "a_message_sent_on_day_0_lost_before_it_reaches_every_device",
        trace_and_why(&r, "day-0-message-reaches-every-device-by-day-1")
    );
    let r = checked("questions-private-discovery-ghost-device.toml");
    insta::assert_snapshot!(
        "a_contact_the_directory_learns_with_no_record_showing_the_lookup",
        trace_and_why(&r, "directory-learns-contact-only-after-lookup")
    );
    let r = checked("history-log-crash.toml");
    insta::assert_snapshot!(
        "the_log_forgets_a_record_it_held",
        trace_text(&r, "log-keeps-what-it-held")
    );
    let c = r
        .claims
        .iter()
        .find(|c| c.id == "answered-lookup-leads-to-record");
    insta::assert_snapshot!(
        "an_answered_lookup_without_a_record_at_the_end",
        format!(
            "{}why: {}\n",
            trace_text(&r, "answered-lookup-leads-to-record"),
            c.and_then(|c| c.explanation.clone()).unwrap_or_default()
        )
    );
    let r = checked("events-log-crash.toml");
    insta::assert_snapshot!(
        "an_acknowledged_record_lost_in_a_crash",
        trace_text(&r, "acked-record-kept")
    );
    insta::assert_snapshot!(
        "a_court_order_that_finds_nothing",
        trace_text(&r, "order-finds-nothing")
    );
    let r = checked("receipts-phone-and-laptop.toml");
    insta::assert_snapshot!(
        "a_receipt_reaches_the_senders_laptop",
        trace_text(&r, "receipt-only-to-sending-device")
    );
    let r = checked("receipts-read.toml");
    insta::assert_snapshot!(
        "the_relay_learns_that_b_read_the_message",
        trace_text(&r, "relay-learns-read")
    );
    let r = checked("receipts-sealed-sender.toml");
    insta::assert_snapshot!(
        "the_relay_links_a_sealed_sender_through_a_receipt",
        trace_text(&r, "relay-links-sealed-sender")
    );
    let r = checked("legal-prospective-renewed.toml");
    insta::assert_snapshot!(
        "a_prospective_order_and_its_renewal_reach_past_retention",
        trace_text(&r, "disclosures-outlast-retention")
    );
    let r = checked("connections-recipient.toml");
    insta::assert_snapshot!(
        "the_relays_connection_records_give_a_recipients_address",
        trace_text(&r, "authority-learns-address-only-of-requesters")
    );
    let r = checked("connections-bug-never-purges.toml");
    insta::assert_snapshot!(
        "a_relay_that_never_purges_discloses_an_aged_out_connection",
        trace_text(&r, "connection-retention-respected")
    );
    let r = checked("sync-sealed-sender.toml");
    insta::assert_snapshot!(
        "the_relay_links_a_sealed_sender_through_an_own_device_copy",
        trace_text(&r, "relay-links-sealed-sender")
    );
    let r = checked("sync-off-sealed-sender.toml");
    insta::assert_snapshot!(
        "without_own_device_copies_the_laptop_misses_the_phones_message",
        trace_text(&r, "message-reaches-senders-other-devices")
    );
    let r = checked("typing-only.toml");
    insta::assert_snapshot!(
        "the_relay_sees_typing_before_any_message",
        trace_text(&r, "typing-reveals-conversation")
    );
    let r = checked("typing-ghost-device.toml");
    insta::assert_snapshot!(
        "the_ghost_device_sees_who_is_typing",
        trace_text(&r, "operator-never-sees-typing")
    );
    let r = checked("history-after-reply.toml");
    insta::assert_snapshot!(
        "an_answer_before_any_record",
        trace_text(&r, "answer-before-any-record")
    );
}

#[test]
fn ghost_device_read_without_ckv_takes_seven_steps() {
    let r = checked("ghost-device-2016.toml");
    let c = r
        .claims
        .iter()
        .find(|c| c.id == "no-server-learns-content")
        .unwrap();
    assert_eq!(c.verdict, Verdict::Violated);
    assert_eq!(c.trace.as_ref().unwrap().len(), 7);
    insta::assert_snapshot!(
        "ghost_device_read_without_ckv",
        trace_text(&r, "no-server-learns-content")
    );
    insta::assert_snapshot!(
        "ghost_device_undetected_without_ckv",
        trace_text(&r, "ghost-device-detected")
    );
}

#[test]
fn lost_log_record_takes_three_steps() {
    let r = checked("log-after-reply-lossy.toml");
    let c = r
        .claims
        .iter()
        .find(|c| c.id == "lookup-always-logged")
        .unwrap();
    assert_eq!(c.trace.as_ref().unwrap().len(), 3);
    insta::assert_snapshot!(
        "lookup_record_lost_after_reply",
        trace_text(&r, "lookup-always-logged")
    );
}

#[test]
fn content_in_lookup_log_under_the_draft_bug() {
    let r = checked("draft-in-lookup.toml");
    insta::assert_snapshot!(
        "draft_reaches_lookup_log",
        trace_text(&r, "content-never-in-lookup-log")
    );
}

#[test]
fn retention_violated_when_the_log_never_purges() {
    let r = checked("retention-bug-never-purges.toml");
    insta::assert_snapshot!(
        "aged_out_record_disclosed",
        trace_text(&r, "retention-respected")
    );
}

#[test]
fn witnesses_of_the_metadata_findings() {
    let r = checked("lookup-without-message.toml");
    insta::assert_snapshot!(
        "lookup_logged_without_message",
        trace_text(&r, "lookup-logged-without-message")
    );
    let r = checked("sms-fallback.toml");
    insta::assert_snapshot!(
        "sms_plaintext_at_carrier",
        trace_text(&r, "sms-fallback-exposes-content")
    );
    let r = checked("baseline.toml");
    insta::assert_snapshot!(
        "authority_learns_contact",
        trace_text(&r, "authority-learns-contact")
    );
}

#[test]
fn json_report_of_the_ckv_scenario() {
    let r = report::Report {
        scenarios: vec![check(
            model("ghost-device-ckv.toml"),
            &CheckOptions::default(),
        )],
    };
    insta::assert_json_snapshot!("json_report_ghost_device_ckv", r, {
        ".scenarios[].seconds" => "[seconds]",
        ".scenarios[].bytes_per_state" => "[bytes]",
    });
}

#[test]
fn text_report_of_the_lossy_after_reply_scenario() {
    let r = report::Report {
        scenarios: vec![check(
            model("log-after-reply-lossy.toml"),
            &CheckOptions::default(),
        )],
    };
    insta::assert_snapshot!(
        "text_report_log_after_reply_lossy",
        report::text::render(&r, false)
    );
}

#[test]
fn impersonation_without_ckv() {
    let r = checked("key-swap-2016.toml");
    insta::assert_snapshot!(
        "forged_message_accepted_without_ckv",
        trace_text(&r, "content-authentic")
    );
}

#[test]
fn a_lost_message_is_never_delivered() {
    let r = checked("lossy-delivery.toml");
    insta::assert_snapshot!(
        "message_lost_on_lossy_network",
        trace_text(&r, "message-eventually-delivered")
    );
}

#[test]
fn a_log_crash_loses_an_acknowledged_record() {
    let r = checked("log-crash.toml");
    insta::assert_snapshot!(
        "record_lost_in_log_crash",
        trace_text(&r, "lookup-always-logged")
    );
}

/// A duplicating network keeps a delivered record in flight; that copy is not on its way, so
/// the record the crash lost is missing.
#[test]
fn a_log_crash_loses_a_record_on_a_duplicating_network_too() {
    let r = checked("log-crash-duplicating.toml");
    insta::assert_snapshot!(
        "record_lost_in_log_crash_on_duplicating_network",
        trace_text(&r, "lookup-always-logged")
    );
}

#[test]
fn a_preservation_order_discloses_aged_out_records() {
    let r = checked("preservation-order.toml");
    insta::assert_snapshot!(
        "preserved_record_disclosed",
        trace_text(&r, "retention-respected")
    );
}

#[test]
fn the_ghost_device_reads_the_draft_even_under_ckv() {
    let r = checked("draft-in-lookup.toml");
    let c = r
        .claims
        .iter()
        .find(|c| c.id == "ghost-device-detected")
        .unwrap();
    assert_eq!(c.verdict, Verdict::Violated);
}

/// `docs/matrix.md` is the output of `imessage-model matrix`, and every finding from the
/// literature comes out of it.
#[test]
fn committed_matrix_is_current_and_reproduces_the_findings() {
    // Computed as two shards merged, which must equal the unsharded output committed.
    let shard = |i: usize| imessage_model::matrix::compute(2, move |k| k % 2 == i);
    let merged = imessage_model::matrix::merge(vec![shard(1), shard(0)]).expect("shards merge");
    let m = merged;
    for (f, wrong) in imessage_model::report::matrix::check_findings(&m) {
        assert!(wrong.is_empty(), "{}: {:?}", f.statement, wrong);
    }
    // Every claim id of the catalogue, then the library claims the findings name, appears
    // under every variant and column.
    let mut want: Vec<&str> = CATALOGUE.iter().map(|c| c.id).collect();
    want.extend(imessage_model::matrix::finding_claim_ids());
    for (v, t) in imessage_model::matrix::cells() {
        let cell = m.cell(v, t).expect("every cell is checked");
        assert!(cell.report.complete, "{v}/{t}");
        let ids: Vec<&str> = cell.report.claims.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, want);
    }
    // README.md's list of findings is the tool's (`matrix --format findings`).
    let findings = imessage_model::report::matrix::findings_markdown(&m);
    assert!(
        std::fs::read_to_string(crate::repo_path("README.md"))
            .unwrap()
            .contains(&format!(
                "<!-- findings: generated by `imessage-model matrix --format findings` -->\n\
             {findings}<!-- end of findings -->"
            )),
        "README.md's findings are out of date: paste `imessage-model matrix --format findings`"
    );
    let committed = std::fs::read_to_string(crate::repo_path("docs/matrix.md")).unwrap();
    let current = imessage_model::report::matrix::markdown(&m);
    assert!(
        committed == current,
        "docs/matrix.md is out of date: run `cargo run --release -- matrix > docs/matrix.md`"
    );
    // README, "The results matrix": the cells and the states they store in all, and the
    // largest cell.
    let cells: Vec<usize> = imessage_model::matrix::cells()
        .into_iter()
        .map(|(v, t)| m.cell(v, t).unwrap().report.unique_states)
        .collect();
    let readme = crate::readme_text();
    let total = format!(
        "{} cells, {} unique states",
        cells.len(),
        imessage_model::report::group(cells.iter().sum())
    );
    assert!(readme.contains(&total), "README: `{total}`");
    let largest = imessage_model::matrix::cells()
        .into_iter()
        .max_by_key(|(v, t)| m.cell(v, t).unwrap().report.unique_states)
        .unwrap();
    let phrase = format!(
        "against {} in `{} / {}`",
        imessage_model::report::group(m.cell(largest.0, largest.1).unwrap().report.unique_states),
        largest.0,
        largest.1
    );
    assert!(readme.contains(&phrase), "README: `{phrase}`");
}

#[test]
fn witnesses_of_the_other_sometimes_claims() {
    let r = checked("cache-outlives-record.toml");
    insta::assert_snapshot!(
        "message_sent_from_cache_after_record_aged_out",
        trace_text(&r, "message-without-logged-lookup")
    );
    let r = checked("baseline.toml");
    insta::assert_snapshot!(
        "requester_learns_registration",
        trace_text(&r, "registration-oracle")
    );
    insta::assert_snapshot!(
        "relay_sees_sender_and_target",
        trace_text(&r, "relay-learns-contact")
    );
    let r = checked("private-discovery.toml");
    insta::assert_snapshot!(
        "order_links_handle_to_ip_without_target",
        trace_text(&r, "authority-links-handle-to-ip")
    );
}

/// Sealed sender hides the sender's handle from the relay, not from the operator: the relay
/// sees which device's connection pushed, and the directory knows whose device that is.
#[test]
fn the_operator_learns_the_sender_under_sealed_sender() {
    let r = checked("sealed-sender.toml");
    insta::assert_snapshot!(
        "operator_links_pushing_connection_to_sender",
        trace_text(&r, "operator-learns-contact")
    );
}

/// The log records the address each lookup came from: with an address per device, a court
/// order can tie one handle to two addresses.
#[test]
fn a_court_order_ties_one_handle_to_two_addresses() {
    use imessage_model::check::{explore_with, Limits, Reduction};
    use std::collections::BTreeSet;
    let s = model("address-per-device.toml");
    let limits = Limits::of(&s);
    let m = imessage_model::ProtocolModel::new(s);
    let e = explore_with(&m, limits, Reduction::None, None);
    assert!(e.complete());
    let addresses = |st: &imessage_model::state::State| -> BTreeSet<String> {
        imessage_model::state::authority(st)
            .disclosed
            .iter()
            .filter(|(_, r)| m.scenario.handle(r.requester) == "A")
            .map(|(_, r)| m.scenario.ip(r.ip).to_string())
            .collect()
    };
    let most = e.states().map(|st| addresses(&st)).max_by_key(|a| a.len());
    assert_eq!(
        most.unwrap().into_iter().collect::<Vec<_>>(),
        ["198.51.100.7", "203.0.113.50"]
    );
}

#[test]
fn an_empty_answer_downgrades_an_imessage_user_to_sms() {
    let r = checked("empty-answer.toml");
    insta::assert_snapshot!(
        "registered_handle_reached_by_sms",
        trace_text(&r, "no-downgrade-to-sms")
    );
}
