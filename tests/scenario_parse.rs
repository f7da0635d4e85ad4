//! Scenario files: what parses into what, and what is rejected where.

use imessage_model::load::parse;
use imessage_model::scenario::{ActionKind, Logging, Order, Threat, Variant};
use imessage_model::ScenarioError;
use proptest::prelude::*;
use std::path::Path;

const MINIMAL: &str = r#"name = "minimal"
variant = "imessage-2016"

[[account]]
handle = "A"

[[account]]
handle = "B"

[[action]]
by = "A/1"
send = "B"
"#;

/// Parses `text`, expecting an error; returns its line and message.
fn rejected(text: &str) -> (usize, String) {
    match parse(Path::new("bad.toml"), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e @ ScenarioError::Invalid { line, .. }) => (line, e.to_string()),
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

#[test]
fn minimal_file_gets_documented_defaults() {
    let s = parse(Path::new("m.toml"), MINIMAL).unwrap();
    assert_eq!(s.variant, Variant::Imessage2016);
    assert_eq!(s.threat, Threat::Honest);
    assert_eq!(s.logging, Logging::BeforeReply);
    assert_eq!(s.order, Order::Ordered);
    assert!(!s.lossy);
    assert_eq!((s.days, s.retention), (1, 30));
    assert_eq!(s.max_states, imessage_model::scenario::DEFAULT_MAX_STATES);
    assert_eq!(s.ip(s.devices[0].ip), "192.0.2.1");
    assert_eq!(s.accounts[1].devices.len(), 1);
    assert_eq!(
        s.devices[0].actions[0].kind,
        ActionKind::Send(imessage_model::knowledge::ContentId(0))
    );
    assert_eq!(s.contents, 1);
}

/// Each variant is a preset of features; `features` adds to it, in any combination.
#[test]
fn variants_are_presets_of_features_and_features_combine() {
    use imessage_model::scenario::Features;
    let with = |variant: &str, features: &str| {
        let text = MINIMAL.replace(
            "variant = \"imessage-2016\"",
            &format!("variant = \"{variant}\"\nfeatures = [{features}]"),
        );
        parse(Path::new("m.toml"), &text).unwrap().features
    };
    let none = Features::default();
    assert_eq!(with("imessage-2016", ""), none);
    assert_eq!(with("imessage-ckv", ""), Features { ckv: true, ..none });
    let pd = Features {
        private_discovery: true,
        ..none
    };
    assert_eq!(with("private-discovery", ""), pd);
    let sealed = Features {
        sealed_sender: true,
        ..pd
    };
    assert_eq!(with("sealed-sender", ""), sealed);
    // The presets are exactly their features.
    for (name, v) in Variant::ALL {
        assert_eq!(with(name, ""), v.features(), "{name}");
    }
    assert_eq!(
        with("imessage-2016", "\"ckv\", \"private-discovery\""),
        Features { ckv: true, ..pd }
    );
    assert_eq!(
        with("sealed-sender", "\"ckv\", \"delivery-receipts\""),
        Features {
            ckv: true,
            delivery_receipts: true,
            ..sealed
        }
    );
    assert_eq!(
        with("imessage-2016", "\"sealed-sender\""),
        Features {
            sealed_sender: true,
            ..none
        }
    );
}

#[test]
fn a_feature_that_is_unknown_or_already_on_is_rejected_where_it_stands() {
    let text = |features: &str| {
        MINIMAL.replace(
            "variant = \"imessage-2016\"",
            &format!("variant = \"sealed-sender\"\nfeatures = [{features}]"),
        )
    };
    let (line, msg) = rejected(&text("\"read-receipts\""));
    assert_eq!(line, 3, "{msg}");
    assert!(
        msg.contains("key `features`: unknown value `read-receipts`"),
        "{msg}"
    );
    assert!(
        msg.contains("ckv, private-discovery, sealed-sender, delivery-receipts, own-device-copies"),
        "{msg}"
    );
    let (line, msg) = rejected(&text("\"private-discovery\""));
    assert_eq!(line, 3, "{msg}");
    assert!(
        msg.contains("`private-discovery` is already on: it is part of variant `sealed-sender`"),
        "{msg}"
    );
    let (_, msg) = rejected(&text("\"ckv\", \"ckv\""));
    assert!(
        msg.contains("`ckv` is already on: it is listed twice"),
        "{msg}"
    );
}

#[test]
fn log_fields_keep_the_faqs_fields_and_may_add_the_for_message_flag() {
    let with = |variant: &str, fields: &str| {
        MINIMAL.replace(
            "variant = \"imessage-2016\"",
            &format!("variant = \"{variant}\"\nlog-fields = [{fields}]"),
        )
    };
    let faq = "\"requester\", \"target\", \"day\", \"address\", \"devices\"";
    let s = parse(Path::new("g.toml"), MINIMAL).unwrap();
    assert!(!s.log_for_message, "the flag is not kept unless listed");
    let s = parse(Path::new("g.toml"), &with("imessage-2016", faq)).unwrap();
    assert!(!s.log_for_message);
    let kept = format!("{faq}, \"for-message\"");
    let s = parse(Path::new("g.toml"), &with("imessage-2016", &kept)).unwrap();
    assert!(s.log_for_message);
    let private = "\"requester\", \"day\", \"address\", \"for-message\"";
    assert!(
        parse(Path::new("g.toml"), &with("private-discovery", private))
            .unwrap()
            .log_for_message
    );
    // Errors, each at the value or the list it is about.
    let (line, msg) = rejected(&with("imessage-2016", "\"requester\", \"reason\""));
    assert_eq!(line, 3, "{msg}");
    assert!(
        msg.contains("key `log-fields`: unknown value `reason`"),
        "{msg}"
    );
    assert!(
        msg.contains("requester, target, day, address, devices, for-message, sender-check"),
        "{msg}"
    );
    let (line, msg) = rejected(&with(
        "imessage-2016",
        "\"requester\", \"day\", \"address\"",
    ));
    assert_eq!(line, 3, "{msg}");
    assert!(msg.contains("missing `target`, `devices`"), "{msg}");
    let (_, msg) = rejected(&with("imessage-2016", &format!("{faq}, \"day\"")));
    assert!(msg.contains("`day` is listed twice"), "{msg}");
    let (line, msg) = rejected(&with("sealed-sender", &kept));
    assert_eq!(line, 3, "{msg}");
    assert!(
        msg.contains("under private discovery the log never sees `target`"),
        "{msg}"
    );
    // Why a lookup was made to check a sender: kept only where such lookups are logged.
    let check = format!("{faq}, \"sender-check\"");
    assert!(!s_sender_check(MINIMAL));
    let logged = with("imessage-2016", &check)
        .replace("log-fields", "sender-lookup = \"logged\"\nlog-fields");
    assert!(s_sender_check(&logged));
    let (line, msg) = rejected(&with("imessage-2016", &check));
    assert_eq!(line, 3, "{msg}");
    assert!(
        msg.contains("key `log-fields`: `sender-check` needs `sender-lookup = \"logged\"`"),
        "{msg}"
    );
}

fn s_sender_check(text: &str) -> bool {
    parse(Path::new("g.toml"), text).unwrap().log_sender_check
}

#[test]
fn legal_requests_name_their_process_and_records_and_the_rules_decide() {
    use imessage_model::scenario::{LegalRules, Process, RecordKind};
    let with = |rules: &str, request: &str| {
        let top = if rules.is_empty() {
            String::new()
        } else {
            format!("\nlegal-rules = \"{rules}\"")
        };
        MINIMAL.replace(
            "variant = \"imessage-2016\"",
            &format!("variant = \"imessage-2016\"{top}"),
        ) + "\n[[legal-request]]\n"
            + request
    };
    let s = parse(Path::new("g.toml"), &with("", "handle = \"A\"\n")).unwrap();
    assert_eq!(s.legal_rules, LegalRules::Y2016);
    let r = s.legal_requests[0];
    assert_eq!(
        (r.process, r.records, r.prospective),
        (Process::DOrder, RecordKind::LookupLog, None)
    );
    let s = parse(
        Path::new("g.toml"),
        &with(
            "after-2023-12",
            "records = \"push-token\"\ntoken = \"B/1\"\nprocess = \"subpoena\"\n",
        ),
    )
    .unwrap();
    let r = s.legal_requests[0];
    assert_eq!(
        r.records,
        RecordKind::PushToken(imessage_model::knowledge::DeviceId(1))
    );
    assert_eq!(s.handle(r.handle), "B", "the account behind the token");
    // What each process obtains, under each rules preset.
    let token = RecordKind::PushToken(imessage_model::knowledge::DeviceId(1));
    assert!(LegalRules::Y2016.allows(Process::Subpoena, token));
    assert!(!LegalRules::After2023.allows(Process::Subpoena, token));
    assert!(LegalRules::After2023.allows(Process::DOrder, token));
    assert!(LegalRules::After2023.allows(Process::Warrant, token));
    for rules in [LegalRules::Y2016, LegalRules::After2023] {
        assert!(!rules.allows(Process::Subpoena, RecordKind::LookupLog));
        assert!(rules.allows(Process::DOrder, RecordKind::LookupLog));
    }
    // Errors, each where it stands.
    let (line, msg) = rejected(&with("2024", "handle = \"A\"\n"));
    assert_eq!(line, 3, "{msg}");
    assert!(
        msg.contains(
            "key `legal-rules`: unknown value `2024` (expected one of: 2016, after-2023-12)"
        ),
        "{msg}"
    );
    let (_, msg) = rejected(&with("", "handle = \"A\"\nprocess = \"letter\"\n"));
    assert!(msg.contains("key `legal-request.process`: unknown value `letter` (expected one of: subpoena, d-order, warrant)"), "{msg}");
    let (_, msg) = rejected(&with("", "handle = \"A\"\ntoken = \"B/1\"\n"));
    assert!(
        msg.contains(
            "key `legal-request.token`: a token names the device of a push-token or \
             push-connections request"
        ),
        "{msg}"
    );
    let (_, msg) = rejected(&with(
        "",
        "records = \"subscriber-information\"\ntoken = \"B/1\"\n",
    ));
    assert!(
        msg.contains("this request asks for subscriber-information records"),
        "{msg}"
    );
    let (_, msg) = rejected(&with("", "records = \"push-token\"\nhandle = \"B\"\n"));
    assert!(
        msg.contains(
            "key `legal-request.handle`: a request for the relay's push records names a \
             device's token"
        ),
        "{msg}"
    );
    let (_, msg) = rejected(&with("", "records = \"push-token\"\n"));
    assert!(msg.contains("missing key `token`"), "{msg}");
    // A prospective order: on the lookup log only, for 1 to `bounds.days` days.
    let s = parse(
        Path::new("g.toml"),
        &with("", "handle = \"A\"\nprospective = 1\n"),
    )
    .unwrap();
    assert_eq!(s.legal_requests[0].prospective, Some(1));
    for n in ["0", "2", "-1"] {
        let (_, msg) = rejected(&with("", &format!("handle = \"A\"\nprospective = {n}\n")));
        assert!(
            msg.contains(&format!(
                "key `legal-request.prospective`: the days a prospective order covers, from 1 \
                 to `bounds.days` (1); got {n}"
            )),
            "{msg}"
        );
    }
    let (_, msg) = rejected(&with(
        "",
        "records = \"push-token\"\ntoken = \"B/1\"\nprospective = 1\n",
    ));
    assert!(
        msg.contains(
            "key `legal-request.prospective`: only an order on the lookup log is prospective"
        ),
        "{msg}"
    );
    let (_, msg) = rejected(&with("", "records = \"push-token\"\ntoken = \"B/2\"\n"));
    assert!(
        msg.contains("key `legal-request.token`: `B/2` is not a device of the scenario"),
        "{msg}"
    );
    // A preservation order preserves lookup-log records: a push-token request names none.
    let preserve = with("", "records = \"push-token\"\ntoken = \"B/1\"\n").replace(
        "variant = \"imessage-2016\"",
        "variant = \"imessage-2016\"\npreservation-order = true",
    );
    let (_, msg) = rejected(&preserve);
    assert!(
        msg.contains("needs a `[[legal-request]]` for lookup-log records"),
        "{msg}"
    );
    let (_, msg) = rejected(&with("", "records = \"call-logs\"\nhandle = \"B\"\n"));
    assert!(msg.contains("key `legal-request.records`: unknown value `call-logs` (expected one of: lookup-log, subscriber-information, push-token, push-connections)"), "{msg}");
}

#[test]
fn connection_records_are_kept_only_when_asked_for_and_their_retention_is_checked() {
    use imessage_model::scenario::{LegalRules, Process, RecordKind};
    let request = "\n[[legal-request]]\nrecords = \"push-connections\"\ntoken = \"B/1\"\n";
    let with = |bounds: &str, request: &str| {
        let days = MINIMAL.replace(
            "variant = \"imessage-2016\"",
            "variant = \"imessage-2016\"\nbugs = []",
        );
        format!("{days}\n[bounds]\n{bounds}\n{request}")
    };
    let s = parse(Path::new("g.toml"), &with("days = 2", request)).unwrap();
    let b1 = imessage_model::knowledge::DeviceId(1);
    assert_eq!(s.legal_requests[0].records, RecordKind::PushConnections(b1));
    assert_eq!(s.handle(s.legal_requests[0].handle), "B");
    assert!(s.keeps_connections());
    assert_eq!(
        s.connection_retention, s.retention,
        "the default: the log's"
    );
    // Push-notification records: as a push token's registration under each preset.
    let c = RecordKind::PushConnections(b1);
    assert!(LegalRules::Y2016.allows(Process::Subpoena, c));
    assert!(!LegalRules::After2023.allows(Process::Subpoena, c));
    assert!(LegalRules::After2023.allows(Process::DOrder, c));
    let s = parse(
        Path::new("g.toml"),
        &with("days = 2\nconnection-retention = 1", request),
    )
    .unwrap();
    assert_eq!(s.connection_retention, 1);
    // Without a request for them the relay keeps none: a retention for them is a mistake.
    let s = parse(Path::new("g.toml"), &with("days = 2", "")).unwrap();
    assert!(!s.keeps_connections());
    let (line, msg) = rejected(&with("days = 2\nconnection-retention = 1", ""));
    assert!(
        msg.contains(
            "key `bounds.connection-retention`: the relay keeps connection records only for a \
             `[[legal-request]]` with `records = \"push-connections\"`"
        ),
        "{msg}"
    );
    assert!(line > 1, "located at the key: {line}");
    let (_, msg) = rejected(&with("days = 2\nconnection-retention = 0", request));
    assert!(msg.contains("bounds.connection-retention"), "{msg}");
    // The planted bug needs records that could age out.
    let bug = |bounds: &str, request: &str| {
        with(bounds, request).replace("bugs = []", "bugs = [\"relay-never-purges\"]")
    };
    assert!(parse(
        Path::new("g.toml"),
        &bug("days = 2\nconnection-retention = 1", request)
    )
    .is_ok());
    for (bounds, req) in [
        ("days = 2\nconnection-retention = 2", request),
        ("days = 2", ""),
    ] {
        let (_, msg) = rejected(&bug(bounds, req));
        assert!(
            msg.contains("key `bugs`: `relay-never-purges` has no effect here"),
            "{msg}"
        );
    }
    let (_, msg) = rejected(&with(
        "days = 2",
        "\n[[legal-request]]\nrecords = \"push-connections\"\ntoken = \"B/1\"\nprospective = 1\n",
    ));
    assert!(
        msg.contains("only an order on the lookup log is prospective"),
        "{msg}"
    );
}

#[test]
fn a_sender_lookup_is_an_unlogged_key_query_unless_the_scenario_says_logged() {
    let with = |value: &str| {
        MINIMAL.replace(
            "variant = \"imessage-2016\"",
            &format!("variant = \"imessage-2016\"\nsender-lookup = \"{value}\""),
        )
    };
    assert!(
        !parse(Path::new("g.toml"), MINIMAL)
            .unwrap()
            .sender_lookup_logged
    );
    assert!(
        !parse(Path::new("g.toml"), &with("key-query"))
            .unwrap()
            .sender_lookup_logged
    );
    assert!(
        parse(Path::new("g.toml"), &with("logged"))
            .unwrap()
            .sender_lookup_logged
    );
    let (line, msg) = rejected(&with("always"));
    assert_eq!(line, 3, "{msg}");
    assert!(
        msg.contains(
            "key `sender-lookup`: unknown value `always` (expected one of: key-query, logged)"
        ),
        "{msg}"
    );
}

#[test]
fn unknown_key_names_the_line_and_the_key() {
    let text = MINIMAL.replace("[[action]]\nby", "[[action]]\nspeed = 3\nby");
    let (line, msg) = rejected(&text);
    assert_eq!(line, 11, "{msg}");
    assert!(msg.starts_with("bad.toml:11:"), "{msg}");
    assert!(msg.contains("unknown key `speed`"), "{msg}");
}

#[test]
fn unknown_top_level_key() {
    let text = format!("retention_days = 30\n{MINIMAL}");
    let (line, msg) = rejected(&text);
    assert_eq!(line, 1, "{msg}");
    assert!(msg.contains("unknown key `retention_days`"), "{msg}");
}

#[test]
fn unknown_claim_id() {
    let text = format!("{MINIMAL}\n[expect]\ncontent-never-logged = \"holds\"\n");
    let (line, msg) = rejected(&text);
    assert_eq!(line, 15, "{msg}");
    assert!(msg.contains("expect.content-never-logged"), "{msg}");
    assert!(msg.contains("unknown claim id"), "{msg}");
}

#[test]
fn verdict_of_the_wrong_kind() {
    let text = format!("{MINIMAL}\n[expect]\nlookup-always-logged = \"reachable\"\n");
    let (line, msg) = rejected(&text);
    assert_eq!(line, 15);
    assert!(
        msg.contains("`lookup-always-logged` is an always claim, so expect `holds` or `violated`"),
        "{msg}"
    );
}

#[test]
fn device_of_an_unknown_account() {
    let text = MINIMAL.replace("by = \"A/1\"", "by = \"Z/1\"");
    let (line, msg) = rejected(&text);
    assert_eq!(line, 11);
    assert!(
        msg.contains("key `action.by`: `Z/1` is not a device"),
        "{msg}"
    );
}

#[test]
fn device_number_beyond_the_account() {
    let text = MINIMAL.replace("by = \"A/1\"", "by = \"A/2\"");
    let (line, msg) = rejected(&text);
    assert_eq!(line, 11);
    assert!(msg.contains("`A/2` is not a device"), "{msg}");
}

#[test]
fn send_to_an_unknown_handle() {
    let text = MINIMAL.replace("send = \"B\"", "send = \"Q\"");
    let (line, msg) = rejected(&text);
    assert_eq!(line, 12);
    assert!(
        msg.contains("key `action.send`: no account has the handle `Q` (accounts: A, B)"),
        "{msg}"
    );
}

#[test]
fn a_bound_of_zero() {
    let text = format!("{MINIMAL}\n[bounds]\ndays = 0\n");
    let (line, msg) = rejected(&text);
    assert_eq!(line, 15);
    assert!(
        msg.contains("key `bounds.days`: 0 is out of range (it must be from 1 to 60)"),
        "{msg}"
    );
    let text = format!("{MINIMAL}\n[bounds]\nmax-states = 0\n");
    let (_, msg) = rejected(&text);
    assert!(
        msg.contains("key `bounds.max-states`: 0 is out of range"),
        "{msg}"
    );
}

#[test]
fn unknown_variant_lists_the_known_ones() {
    let text = MINIMAL.replace("imessage-2016", "imessage-2030");
    let (line, msg) = rejected(&text);
    assert_eq!(line, 2);
    assert!(msg.contains("key `variant`: unknown value `imessage-2030` (expected one of: imessage-2016, imessage-ckv, private-discovery, sealed-sender)"), "{msg}");
}

#[test]
fn an_action_needs_exactly_one_of_lookup_or_send() {
    let text = MINIMAL.replace("send = \"B\"", "send = \"B\"\nlookup = \"B\"");
    let (_, msg) = rejected(&text);
    assert!(
        msg.contains("exactly one of the keys `lookup`, `refresh`, `send`, `type` or `read`"),
        "{msg}"
    );
}

/// MINIMAL with a third account, `C`, and A/1's action replaced by `action`.
fn with_batch(action: &str) -> String {
    MINIMAL
        .replace("[[action]]", "[[account]]\nhandle = \"C\"\n\n[[action]]")
        .replace("send = \"B\"", action)
}

#[test]
fn a_batch_lookup_is_one_action_for_several_handles() {
    use imessage_model::knowledge::AccountId;
    for (text, kind) in [
        ("refresh = [\"C\", \"B\"]", ActionKind::Refresh),
        ("lookup = [\"C\", \"B\"]", ActionKind::Lookup),
    ] {
        let s = parse(Path::new("m.toml"), &with_batch(text)).unwrap();
        let a = s.devices[0].actions[0];
        assert_eq!(a.kind, kind);
        assert_eq!(
            a.targets().collect::<Vec<_>>(),
            [AccountId(2), AccountId(1)]
        );
    }
    let s = parse(Path::new("m.toml"), &with_batch("refresh = \"B\"")).unwrap();
    assert_eq!(s.devices[0].actions[0].targets().count(), 1);
}

#[test]
fn a_batch_with_a_bad_handle_is_located_at_it() {
    let (line, msg) = rejected(&with_batch("refresh = [\"B\",\n  \"D\"]"));
    assert_eq!(line, 16);
    assert!(
        msg.contains("key `action.refresh`: no account has the handle `D`"),
        "{msg}"
    );
    let (line, msg) = rejected(&with_batch("lookup = [\"B\", \"C\",\n  \"B\"]"));
    assert_eq!(line, 16);
    assert!(
        msg.contains("key `action.lookup`: `B` is listed twice"),
        "{msg}"
    );
    let (_, msg) = rejected(&with_batch("refresh = [\"B\", \"A\"]"));
    assert!(
        msg.contains("key `action.refresh`: `A/1` would address its own account"),
        "{msg}"
    );
    let (_, msg) = rejected(&with_batch("refresh = []"));
    assert!(
        msg.contains("key `action.refresh`: the list names no handle"),
        "{msg}"
    );
    let (_, msg) = rejected(&with_batch("send = [\"B\", \"C\"]"));
    assert!(msg.contains("send"), "{msg}");
}

#[test]
fn an_unregistered_account_has_no_devices() {
    let text = MINIMAL.replace(
        "handle = \"B\"",
        "handle = \"B\"\nregistered = false\ndevices = 2",
    );
    let (line, msg) = rejected(&text);
    assert_eq!(line, 10);
    assert!(msg.contains("`B` is not registered for iMessage"), "{msg}");
}

#[test]
fn a_day_outside_the_clock() {
    let text = MINIMAL.replace("send = \"B\"", "send = \"B\"\nday = 1");
    let (line, msg) = rejected(&text);
    assert_eq!(line, 13);
    assert!(
        msg.contains("day 1 is outside the scenario's days 0..=0"),
        "{msg}"
    );
}

#[test]
fn a_syntax_error_is_located() {
    let (line, _) = rejected("name = \"x\"\nvariant = \n");
    assert_eq!(line, 2);
}

#[test]
fn a_missing_file_is_an_io_error() {
    let e = imessage_model::Scenario::load(Path::new("no/such/file.toml")).unwrap_err();
    assert!(matches!(e, ScenarioError::Io { .. }));
    assert!(e
        .to_string()
        .starts_with("no/such/file.toml: cannot read the file"));
}

/// A generated, valid scenario: accounts with device counts, and actions by index.
#[derive(Debug, Clone)]
struct Gen {
    accounts: Vec<(bool, u8)>,
    actions: Vec<(usize, usize, bool)>,
    expect: Vec<(usize, bool)>,
}

fn gen() -> impl Strategy<Value = Gen> {
    (
        prop::collection::vec((any::<bool>(), 1u8..4), 2..5),
        prop::collection::vec((0usize..100, 0usize..100, any::<bool>()), 0..5),
        prop::collection::vec((0usize..9, any::<bool>()), 0..5),
    )
        .prop_map(|(accounts, actions, expect)| Gen {
            accounts,
            actions,
            expect,
        })
}

impl Gen {
    fn handles(&self) -> Vec<String> {
        (0..self.accounts.len()).map(|i| format!("h{i}")).collect()
    }
    /// Registered accounts with their device counts.
    fn devices(&self) -> Vec<(usize, u8)> {
        self.accounts
            .iter()
            .enumerate()
            .filter(|(_, (reg, _))| *reg)
            .map(|(i, (_, n))| (i, *n))
            .collect()
    }
    fn render(&self) -> String {
        let mut t = String::from("name = \"generated\"\nvariant = \"imessage-ckv\"\n");
        for (i, (reg, n)) in self.accounts.iter().enumerate() {
            t += &format!("\n[[account]]\nhandle = \"h{i}\"\nregistered = {reg}\n");
            if *reg {
                t += &format!("devices = {n}\n");
            }
        }
        let devs = self.devices();
        if !devs.is_empty() {
            for &(a, b, send) in &self.actions {
                let (acc, n) = devs[a % devs.len()];
                let num = (b % n as usize) + 1;
                let target = (acc + 1 + b % (self.accounts.len() - 1)) % self.accounts.len();
                let verb = if send { "send" } else { "lookup" };
                t += &format!("\n[[action]]\nby = \"h{acc}/{num}\"\n{verb} = \"h{target}\"\n");
            }
        }
        if !self.expect.is_empty() {
            t += "\n[expect]\n";
            let mut seen = std::collections::BTreeSet::new();
            for &(c, yes) in &self.expect {
                let claim = &imessage_model::CATALOGUE[c];
                if !seen.insert(c) {
                    continue;
                }
                let v = imessage_model::verdict::verdicts_for(claim.kind)[usize::from(!yes)];
                t += &format!("{} = \"{}\"\n", claim.id, v.name());
            }
        }
        t
    }
}

proptest! {
    /// Every generated valid file parses into exactly what it says.
    #[test]
    fn valid_files_parse_to_what_they_say(g in gen()) {
        let text = g.render();
        let s = parse(Path::new("g.toml"), &text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(s.accounts.len(), g.accounts.len());
        let handles = g.handles();
        for (i, (reg, n)) in g.accounts.iter().enumerate() {
            prop_assert_eq!(&s.accounts[i].handle, &handles[i]);
            prop_assert_eq!(s.accounts[i].registered, *reg);
            prop_assert_eq!(s.accounts[i].devices.len(), if *reg { *n as usize } else { 0 });
        }
        let actions: usize = s.devices.iter().map(|d| d.actions.len()).sum();
        let expected_actions = if g.devices().is_empty() { 0 } else { g.actions.len() };
        prop_assert_eq!(actions, expected_actions);
        let sends = g.actions.iter().filter(|a| a.2).count();
        prop_assert_eq!(s.contents as usize, if g.devices().is_empty() { 0 } else { sends });
        for e in &s.expect {
            prop_assert!(imessage_model::verdict::verdicts_for(e.claim.kind()).contains(&e.verdict));
        }
    }

    /// An unknown key inserted on any line of a valid file is reported on that line.
    #[test]
    fn an_unknown_key_is_reported_where_it_stands(g in gen(), at in 0usize..100) {
        let text = g.render();
        let lines: Vec<&str> = text.lines().collect();
        // Insert right after a table header or the top-level keys, where a key is legal syntax.
        let spots: Vec<usize> = lines.iter().enumerate()
            .filter(|(_, l)| l.starts_with('[') || l.starts_with("variant"))
            .map(|(i, _)| i + 1)
            .collect();
        let spot = spots[at % spots.len()];
        let mut out: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        out.insert(spot, "bogus-key = \"x\"".to_string());
        let bad = out.join("\n");
        match parse(Path::new("g.toml"), &bad) {
            Err(ScenarioError::Invalid { line, message, .. }) => {
                prop_assert_eq!(line, spot + 1, "{}", message);
                prop_assert!(message.contains("bogus-key"), "{}", message);
            }
            other => prop_assert!(false, "not rejected: {:?}", other.map(|s| s.name)),
        }
    }

    /// No input makes the parser panic.
    #[test]
    fn arbitrary_text_never_panics(text in "[a-z\\[\\]=\"\\n. 0-9/-]{0,200}") {
        let _ = parse(Path::new("x.toml"), &text);
    }
}

#[test]
fn the_device_limit_is_an_error_not_a_panic() {
    let mut text = String::from("name = \"many\"\nvariant = \"imessage-2016\"\n");
    for i in 0..8 {
        text += &format!("[[account]]\nhandle = \"h{i}\"\ndevices = 8\n");
    }
    text += "[[account]]\nhandle = \"last\"\n";
    let (line, msg) = rejected(&text);
    assert_eq!(line, 28, "{msg}");
    assert!(msg.contains("at most 64 devices"), "{msg}");
}

#[test]
fn an_ip_must_be_an_address() {
    let text = MINIMAL.replace("handle = \"A\"", "handle = \"A\"\nip = \"not an ip\"");
    let (line, msg) = rejected(&text);
    assert_eq!(line, 6);
    assert!(
        msg.contains("key `account.ip`: `not an ip` is not an IPv4 or IPv6 address"),
        "{msg}"
    );
}

#[test]
fn accounts_behind_one_address_share_it() {
    let text = MINIMAL
        .replace("handle = \"A\"", "handle = \"A\"\nip = \"198.51.100.7\"")
        .replace("handle = \"B\"", "handle = \"B\"\nip = \"198.51.100.7\"");
    let s = parse(Path::new("m.toml"), &text).unwrap();
    assert_eq!(s.devices[0].ip, s.devices[1].ip);
}

#[test]
fn an_address_may_be_given_per_device() {
    let text = MINIMAL.replace(
        "handle = \"B\"",
        "handle = \"B\"\ndevices = 2\nip = [\"198.51.100.7\", \"2001:db8::1\"]",
    );
    let s = parse(Path::new("m.toml"), &text).unwrap();
    let b: Vec<&str> = s.accounts[1]
        .devices
        .iter()
        .map(|d| s.ip(s.device(*d).ip))
        .collect();
    assert_eq!(b, ["198.51.100.7", "2001:db8::1"]);
    let (_, msg) = rejected(&text.replace("ip = [", "ip = 5\nx = ["));
    assert!(
        msg.contains(
            "key `account.ip`: invalid type: integer `5`, expected an IP address, or a list"
        ),
        "{msg}"
    );
    let (line, msg) = rejected(&text.replace(", \"2001:db8::1\"", ""));
    assert_eq!(line, 10, "{msg}");
    assert!(
        msg.contains("key `account.ip`: 1 address for 2 devices of `B`"),
        "{msg}"
    );
    let (line, msg) = rejected(&text.replace("2001:db8::1", "not an ip"));
    assert_eq!(line, 10, "{msg}");
    assert!(
        msg.contains("key `account.ip`: `not an ip` is not an IPv4 or IPv6 address"),
        "{msg}"
    );
}

#[test]
fn a_device_number_is_written_plainly() {
    let text = MINIMAL.replace("by = \"A/1\"", "by = \"A/01\"");
    let (_, msg) = rejected(&text);
    assert!(msg.contains("`A/01` is not a device"), "{msg}");
}

#[test]
fn a_bug_without_effect_is_rejected() {
    let text = MINIMAL.replace(
        "variant = \"imessage-2016\"",
        "variant = \"imessage-2016\"\nbugs = [\"log-never-purges\"]",
    );
    let (line, msg) = rejected(&text);
    assert_eq!(line, 3);
    assert!(
        msg.contains("`log-never-purges` has no effect here"),
        "{msg}"
    );
}

#[test]
fn a_preservation_order_needs_a_legal_request() {
    let text = format!("# the order\n\npreservation-order = true\n{MINIMAL}");
    let (_, msg) = rejected(&text);
    assert!(
        msg.starts_with(
            "bad.toml:3:22: key `preservation-order`: a preservation order needs a `[[legal-request]]`"
        ),
        "{msg}"
    );
}

/// A missing key is located at the table that lacks it: a table's header, an inline table's
/// brace, or the first line of the top level.
#[test]
fn a_missing_key_is_located_at_its_table() {
    let cases = [
        (
            "# a comment\n\nname = \"x\"\n\n[[account]]\nhandle = \"A\"\n",
            "bad.toml:3:1: missing key `variant`: the top level of the file (above the first `[table]`) must set it",
        ),
        (
            "\n[[account]]\nhandle = \"A\"\n",
            "bad.toml:2:1: missing key `name`: the top level of the file (above the first `[table]`) must set it",
        ),
        (
            "name = \"x\"\nvariant = \"imessage-2016\"\n\n[[account]]\nhandle = \"A\"\n\n[[account]] # B\ndevices = 2\n",
            "bad.toml:7:1: missing key `handle`: this `[[account]]` must set it",
        ),
        (
            "name = \"x\"\nvariant = \"imessage-2016\"\naccount = [{ devices = 2 }]\n",
            "bad.toml:3:12: missing key `handle`: this table must set it",
        ),
        (
            "name = \"x\"\nvariant = \"imessage-2016\"\n",
            "bad.toml:1:1: missing table `[[account]]`: a scenario needs at least one account",
        ),
    ];
    for (text, want) in cases {
        let (_, msg) = rejected(text);
        assert_eq!(msg, want, "{text}");
    }
}

#[test]
fn a_duplicating_network_runs_one_day() {
    let text = format!("{MINIMAL}\n[network]\norder = \"duplicating\"\n[bounds]\ndays = 2\n");
    let (line, msg) = rejected(&text);
    assert_eq!(line, 15);
    assert!(
        msg.contains("a duplicating network keeps every message in flight"),
        "{msg}"
    );
}

/// Hostile handles, names and values are rejected at their value, with the key and the value
/// shown escaped on one line.
#[test]
fn hostile_values_are_rejected_where_they_are() {
    let handle = |h: &str| MINIMAL.replace("handle = \"B\"", &format!("handle = {h}"));
    let long = format!("\"{}\"", "a".repeat(65));
    let cases: Vec<(String, &str)> = vec![
        (
            handle(r#""B\"]; evil""#),
            "bad.toml:8:10: key `account.handle`: `B\"]; evil` is not a handle",
        ),
        (
            handle(r#""B\nC""#),
            "bad.toml:8:10: key `account.handle`: `B\\u{a}C` is not a handle",
        ),
        (
            handle(r#""B\u001b[31m""#),
            "bad.toml:8:10: key `account.handle`: `B\\u{1b}[31m` is not a handle",
        ),
        (
            handle(r#""\uFFFF""#),
            "bad.toml:8:10: key `account.handle`: `\\u{ffff}` is not a handle",
        ),
        (
            handle(r#""</x>-->""#),
            "bad.toml:8:10: key `account.handle`: `</x>-->` is not a handle",
        ),
        (
            handle(r#""A/2""#),
            "bad.toml:8:10: key `account.handle`: `A/2` is not a handle",
        ),
        (handle(&long), "bad.toml:8:10: key `account.handle`: `aaaa"),
        (
            MINIMAL.replace("name = \"minimal\"", r#"name = "a\nb""#),
            "bad.toml:1:8: key `name`: `a\\u{a}b` is not a short label",
        ),
        (
            MINIMAL.replace("name = \"minimal\"", r#"name = "ok\uFFFE""#),
            "bad.toml:1:8: key `name`: `ok\\u{fffe}` is not a short label",
        ),
        (
            format!("description = \"\\u001b[2J\"\n{MINIMAL}"),
            "bad.toml:1:15: key `description`: `\\u{1b}[2J` is not plain text",
        ),
        (
            MINIMAL.replace("send = \"B\"", r#"send = "B\u001b""#),
            "bad.toml:12:8: key `action.send`: no account has the handle `B\\u{1b}`",
        ),
        (
            MINIMAL.replace("by = \"A/1\"", r#"by = "A/1\u0000""#),
            "bad.toml:11:6: key `action.by`: `A/1\\u{0}` is not a device",
        ),
        (
            format!("threat = \"\\u001b[2J\"\n{MINIMAL}"),
            "bad.toml:1:10: key `threat`: unknown value `\\u{1b}[2J`",
        ),
        (
            format!("{MINIMAL}\n[expect]\n\"\\u202e\" = \"holds\"\n"),
            "bad.toml:15:1: key `expect.\\u{202e}`: unknown claim id",
        ),
    ];
    for (text, want) in &cases {
        let (_, msg) = rejected(text);
        assert!(msg.starts_with(want), "got:  {msg}\nwant: {want}…");
        assert!(
            !msg.chars().any(imessage_model::escape::is_unsafe),
            "{msg:?}"
        );
    }
}

/// What phone numbers, e-mail addresses and short labels hold is accepted.
#[test]
fn real_handles_are_accepted() {
    for h in [
        "+1 (555) 010-0100",
        "bob@example.com",
        "Zoë",
        "alice_2.work",
    ] {
        let text = MINIMAL.replace("\"B\"", &format!("\"{h}\""));
        let s = parse(Path::new("ok.toml"), &text).unwrap_or_else(|e| panic!("{h}: {e}"));
        assert_eq!(s.accounts[1].handle, h);
    }
}

/// A value of the wrong type or out of range is located at the value and names its key.
#[test]
fn a_bad_value_names_its_key() {
    let (line, msg) =
        rejected(&MINIMAL.replace("handle = \"B\"", "handle = \"B\"\ndevices = \"two\""));
    assert_eq!(line, 9);
    assert!(
        msg.starts_with("bad.toml:9:11: key `account.devices`: invalid type"),
        "{msg}"
    );
    let (_, msg) = rejected(&format!(
        "{MINIMAL}\n[bounds]\nmax-depth = 99999999999999999999\n"
    ));
    assert!(
        msg.starts_with("bad.toml:15:13: key `bounds.max-depth`: "),
        "{msg}"
    );
}

#[test]
fn max_memory_is_given_in_mib_and_bounded_below() {
    let s = parse(
        Path::new("m.toml"),
        &format!("{MINIMAL}\n[bounds]\nmax-memory = 512\n"),
    )
    .unwrap();
    assert_eq!(s.max_memory, Some(512 * 1024 * 1024));
    assert_eq!(
        parse(Path::new("m.toml"), MINIMAL).unwrap().max_memory,
        None
    );
    let (line, msg) = rejected(&format!("{MINIMAL}\n[bounds]\nmax-memory = 8\n"));
    assert_eq!(line, 15, "{msg}");
    assert!(
        msg.contains("key `bounds.max-memory`: 8 is out of range"),
        "{msg}"
    );
}

const KEY_SWAP: &str = r#"name = "key swap"
variant = "imessage-2016"
threat = "key-swap"

[[account]]
handle = "A"

[[account]]
handle = "B"

[[account]]
handle = "C"
registered = false

[key-swap]
impersonate = "A"
toward = "B"
"#;

#[test]
fn key_swap_pairs_are_every_registered_pair_unless_narrowed() {
    use imessage_model::knowledge::AccountId;
    let s = parse(Path::new("k.toml"), KEY_SWAP).unwrap();
    assert_eq!(s.impersonations(), vec![(AccountId(0), AccountId(1))]);
    let all = KEY_SWAP.replace("impersonate = \"A\"\ntoward = \"B\"\n", "");
    let s = parse(Path::new("k.toml"), &all).unwrap();
    assert_eq!(
        s.impersonations(),
        vec![(AccountId(0), AccountId(1)), (AccountId(1), AccountId(0))]
    );
    let honest = parse(Path::new("m.toml"), MINIMAL).unwrap();
    assert!(honest.impersonations().is_empty());
}

#[test]
fn a_key_swap_table_is_validated_where_it_is() {
    let (line, msg) = rejected(&KEY_SWAP.replace("threat = \"key-swap\"", "threat = \"honest\""));
    assert_eq!(line, 15, "{msg}");
    assert!(msg.contains("table `[key-swap]` has no effect"), "{msg}");
    let (line, msg) = rejected(&KEY_SWAP.replace("impersonate = \"A\"", "impersonate = \"C\""));
    assert_eq!(line, 16, "{msg}");
    assert!(
        msg.contains("key `key-swap.impersonate`: `C` is not registered for iMessage"),
        "{msg}"
    );
    let (line, msg) = rejected(&KEY_SWAP.replace("toward = \"B\"", "toward = \"D\""));
    assert_eq!(line, 17, "{msg}");
    assert!(
        msg.contains("key `key-swap.toward`: no account has the handle `D`"),
        "{msg}"
    );
    let (line, msg) = rejected(&KEY_SWAP.replace("toward = \"B\"", "toward = \"A\""));
    assert_eq!(line, 17, "{msg}");
    assert!(msg.contains("toward its own account"), "{msg}");
    let (line, msg) = rejected(&KEY_SWAP.replace("toward = \"B\"", "colour = \"B\""));
    assert_eq!(line, 17, "{msg}");
    assert!(msg.contains("unknown key `colour`"), "{msg}");
    let alone = KEY_SWAP
        .replace("[[account]]\nhandle = \"B\"\n\n", "")
        .replace("toward = \"B\"\n", "");
    let (_, msg) = rejected(&alone);
    assert!(msg.contains("no other account is registered"), "{msg}");
}
