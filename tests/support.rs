//! What several test modules share: the full state graph of a model, the generator of small
//! valid scenarios, and scenario variants with more interchangeable devices.

use imessage_model::state::Step;
use imessage_model::ProtocolModel;
use proptest::prelude::*;
use stateright::Model;
use std::collections::{HashMap, VecDeque};

type State = imessage_model::state::State;

/// A state with its successors, each with the step that leads to it.
pub type Expanded = (State, Vec<(Step, State)>);

/// Every state of the model (without symmetry reduction, so steps name concrete actors) with
/// its enabled steps and successors, or `None` past `limit` states.
pub fn full_graph_within(m: &ProtocolModel, limit: usize) -> Option<Vec<Expanded>> {
    let mut seen: HashMap<State, ()> = HashMap::new();
    let mut queue: VecDeque<State> = m.init_states().into_iter().collect();
    let mut out = Vec::new();
    for s in &queue {
        seen.insert(s.clone(), ());
    }
    while let Some(s) = queue.pop_front() {
        let mut actions = Vec::new();
        m.actions(&s, &mut actions);
        let mut succ = Vec::new();
        for a in actions {
            if let Some(t) = m.next_state(&s, a.clone()) {
                if seen.insert(t.clone(), ()).is_none() {
                    queue.push_back(t.clone());
                }
                succ.push((a, t));
            }
        }
        out.push((s, succ));
        if out.len() > limit {
            return None;
        }
    }
    Some(out)
}

/// A small valid scenario: 2–3 accounts, 0–2 devices each, 1–3 actions (send, look up,
/// refresh the contacts in one query, start typing or read), optional court
/// order, every variant with any further features, threat, network, logging mode, cache
/// setting, whether the log keeps the for-message flag, whether sender lookups are logged (and
/// whether the log keeps that a lookup checked a sender), and
/// the legal rules, with a court order, a refused subpoena, a prospective order, a push-token
/// request, a request for the relay's connection records or one for a handle's subscriber
/// information.
pub fn scenario_text() -> impl Strategy<Value = String> {
    let accounts = prop::collection::vec((0u8..3, any::<bool>(), any::<bool>()), 2..=3);
    (
        accounts,
        prop::collection::vec((0usize..8, 0u8..6, 0usize..3), 1..=3),
        (0usize..4, 0usize..5, 0usize..3, any::<bool>()),
        (any::<bool>(), any::<bool>(), 1u8..=2, 1u8..=2, 0u16..512),
        prop::option::of(0usize..21),
    )
        .prop_map(|(accounts, actions, (v, t, o, lossy), (before, cache, days, retention, extra), order)| {
            let handles = ["A", "B", "C"];
            let variants = ["imessage-2016", "imessage-ckv", "private-discovery", "sealed-sender"];
            let threats = ["honest", "ghost-device", "empty-answer", "key-swap", "log-crash"];
            let orders = ["ordered", "unordered", "duplicating"];
            let days = if o == 2 { 1 } else { days };
            // Features beyond the variant's preset (a feature the preset has is left out).
            let preset: &[&str] = match v {
                1 => &["ckv"],
                2 => &["private-discovery"],
                3 => &["private-discovery", "sealed-sender"],
                _ => &[],
            };
            let features: Vec<String> = ["ckv", "private-discovery", "sealed-sender", "delivery-receipts"]
                .iter()
                .enumerate()
                .filter(|(i, f)| extra & (1 << i) != 0 && !preset.contains(f))
                .map(|(_, f)| format!("\"{f}\""))
                .chain((extra & 128 != 0).then(|| "\"own-device-copies\"".to_string()))
                .collect();
            // The log keeping the lookups' for-message flag, with the fields the FAQ names.
            let private = preset.contains(&"private-discovery") || extra & 2 != 0;
            let mut log_fields = if extra & 16 == 0 {
                String::new()
            } else if private {
                "log-fields = [\"requester\", \"day\", \"address\", \"for-message\"]\n".to_string()
            } else {
                "log-fields = [\"requester\", \"target\", \"day\", \"address\", \"devices\", \"for-message\"]\n".to_string()
            };
            // A receiving device's query for the sender's keys logged as a lookup.
            if extra & 32 != 0 {
                log_fields.push_str("sender-lookup = \"logged\"\n");
                // And the log keeping why such a lookup was made.
                if extra & 256 != 0 {
                    let fields = if private {
                        "\"requester\", \"day\", \"address\", \"sender-check\""
                    } else {
                        "\"requester\", \"target\", \"day\", \"address\", \"devices\", \"sender-check\""
                    };
                    if extra & 16 == 0 {
                        log_fields.push_str(&format!("log-fields = [{fields}]\n"));
                    } else {
                        log_fields = log_fields.replace("\"for-message\"]", "\"for-message\", \"sender-check\"]");
                    }
                }
            }
            if extra & 64 != 0 {
                log_fields.push_str("legal-rules = \"after-2023-12\"\n");
            }
            let mut text = format!(
                "name = \"generated\"\nvariant = \"{}\"\nthreat = \"{}\"\nlogging = \"{}\"\nlookup-cache = {}\nfeatures = [{}]\n{}[network]\norder = \"{}\"\nlossy = {}\n[bounds]\ndays = {}\nretention = {}\nmax-states = 20000\n",
                variants[v],
                threats[t],
                if before { "before-reply" } else { "after-reply" },
                cache,
                features.join(", "),
                log_fields,
                orders[o],
                lossy,
                days,
                retention
            );
            let mut devices: Vec<(usize, String)> = Vec::new();
            for (i, (n, registered, reads)) in accounts.iter().enumerate() {
                let registered = *registered || *n > 0;
                text.push_str(&format!("[[account]]\nhandle = \"{}\"\n", handles[i]));
                if *reads {
                    text.push_str("read-receipts = true\n");
                }
                if registered {
                    text.push_str(&format!("devices = {}\n", n.max(&1)));
                    for d in 1..=*n.max(&1) {
                        devices.push((i, format!("{}/{}", handles[i], d)));
                    }
                } else {
                    text.push_str("registered = false\n");
                }
            }
            if devices.is_empty() {
                return text;
            }
            for (by, kind, target) in actions {
                let (account, by) = &devices[by % devices.len()];
                // Anyone but the device's own account.
                let target = handles[(account + 1 + target % (accounts.len() - 1)) % accounts.len()];
                let verb = match kind {
                    0 | 1 => "send",
                    2 => "lookup",
                    3 => "refresh",
                    4 => "type",
                    _ => "read",
                };
                // A refresh asks about every other account in one query (a batch of two when
                // there are three accounts).
                let value = if kind == 3 {
                    let others: Vec<String> = (0..accounts.len())
                        .filter(|i| i != account)
                        .map(|i| format!("\"{}\"", handles[i]))
                        .collect();
                    format!("[{}]", others.join(", "))
                } else {
                    format!("\"{target}\"")
                };
                text.push_str(&format!("[[action]]\nby = \"{by}\"\n{verb} = {value}\n"));
            }
            // A court order on the log (with a court order, or a subpoena the rules refuse, or
            // prospective), a request for the account behind a device's push token, one for
            // the relay's connection records of a device, or one for a handle's subscriber
            // information.
            if let Some(o) = order {
                let handle = handles[o % accounts.len()];
                text.push_str(&match o / 3 {
                    0 => format!("[[legal-request]]\nhandle = \"{handle}\"\n"),
                    1 => format!("[[legal-request]]\nhandle = \"{handle}\"\nprocess = \"subpoena\"\n"),
                    2 => format!("[[legal-request]]\nrecords = \"push-token\"\ntoken = \"{}\"\nprocess = \"subpoena\"\n", devices[0].1),
                    // A prospective order from day 0 for one day.
                    4 => format!("[[legal-request]]\nhandle = \"{handle}\"\nday = 0\nprospective = 1\n"),
                    // The relay's connection records of a device (kept, and purged after the
                    // log's retention, only for such a request).
                    5 => format!("[[legal-request]]\nrecords = \"push-connections\"\ntoken = \"{}\"\n", devices[o % devices.len()].1),
                    // A handle's subscriber information, on a subpoena.
                    3 => format!("[[legal-request]]\nrecords = \"subscriber-information\"\nhandle = \"{handle}\"\nprocess = \"subpoena\"\n"),
                    _ => format!("[[legal-request]]\nrecords = \"push-token\"\ntoken = \"{}\"\nprocess = \"warrant\"\n", devices[0].1),
                });
            }
            text
        })
}

/// The scenario text with one more device in every registered account (the new device has no
/// workload, so it is interchangeable with the account's other devices that have none). Used
/// to give every scenario of `models/` a non-trivial symmetry group.
pub fn widened(text: &str) -> String {
    let mut out = String::new();
    let mut in_account = false;
    let mut has_devices = false;
    let mut unregistered = false;
    let close = |out: &mut String, in_account: bool, has_devices: bool, unregistered: bool| {
        if in_account && !has_devices && !unregistered {
            out.push_str("devices = 2\n");
        }
    };
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            close(&mut out, in_account, has_devices, unregistered);
            in_account = t == "[[account]]";
            has_devices = false;
            unregistered = false;
        } else if in_account {
            if let Some(n) = t.strip_prefix("devices = ") {
                let n: u8 = n
                    .split('#')
                    .next()
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or_else(|| panic!("a device count: {line}"));
                out.push_str(&format!("devices = {}\n", n + 1));
                has_devices = true;
                continue;
            }
            if t.starts_with("registered = false") {
                unregistered = true;
            }
            // A list of addresses, one per device: the added device shares the last one.
            if let Some(list) = t.strip_prefix("ip = [") {
                let list = list.split(']').next().unwrap_or_default();
                let last = list.rsplit(',').next().unwrap_or_default().trim();
                out.push_str(&format!("ip = [{list}, {last}]\n"));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    close(&mut out, in_account, has_devices, unregistered);
    out
}

/// A well-typed claim over any scenario of `scenario_text` (names only variables, sorts and
/// collections): `always` or `sometimes`, four quantifiers (a device, a message, two
/// accounts, then a record of a collection), and a body of up to three levels of `not`,
/// `and`, `or` and `implies` over atoms of every predicate the language has.
pub fn formula_text() -> impl Strategy<Value = String> {
    let q = || prop::sample::select(vec!["forall", "exists"]);
    let coll = prop::sample::select(vec!["log", "answered", "in-transit", "logged"]);
    (any::<bool>(), q(), q(), q(), q(), coll, body_text()).prop_map(
        |(always, q1, q2, q3, q4, c, body)| {
            format!(
                "{} {q1} d: device. {q2} m: message. {q3} a: account, b: account. {q4} r in {c}. {body}",
                if always { "always" } else { "sometimes" }
            )
        },
    )
}

/// Like `formula_text`, with every quantifier of one kind and the body guarded by an atom
/// (`exists …. A and φ`, `forall …. A implies φ`): the shape of the catalogue's claims, whose
/// quantifiers bind only the values the guard can hold for.
pub fn guarded_formula_text() -> impl Strategy<Value = String> {
    let coll = prop::sample::select(vec!["log", "answered", "in-transit", "logged"]);
    (any::<bool>(), any::<bool>(), coll, atom_text(), body_text()).prop_map(
        |(always, exists, c, guard, body)| {
            let (q, op) = if exists { ("exists", "and") } else { ("forall", "implies") };
            format!(
                "{} {q} d: device, m: message, a: account, b: account, r in {c}. {guard} {op} {body}",
                if always { "always" } else { "sometimes" }
            )
        },
    )
}

/// The body of a generated formula: up to three levels of `not`, `and`, `or` and `implies`
/// over atoms.
fn body_text() -> impl Strategy<Value = String> {
    atom_text().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| format!("not ({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a} implies {b})")),
        ]
    })
}

/// An atom of a generated formula, over `d`, `m`, `a`, `b` and `r`: every predicate the
/// language has.
fn atom_text() -> impl Strategy<Value = String> {
    let party = prop::sample::select(vec![
        "directory",
        "log",
        "relay",
        "carrier",
        "authority",
        "{directory, relay}",
        "{log, authority}",
    ]);
    (0usize..39, party).prop_map(|(i, p)| match i {
        0 => format!("knows({p}, content(m))"),
        1 => format!("knows({p}, handle(a))"),
        2 => format!("knows({p}, address(d))"),
        3 => format!("holds({p}, pair(handle(a), pair(handle(b), _)))"),
        4 => format!("holds({p}, pair(token(d), _))"),
        5 => "sent(d, m, a)".into(),
        6 => "sent(d, m, b, sms)".into(),
        7 => "learned(d, m)".into(),
        8 => "accepted(d, a, m)".into(),
        9 => "alerted(d, b)".into(),
        10 => "told(d, a, registered)".into(),
        11 => "told(d, b, unregistered)".into(),
        12 => "registered(a)".into(),
        13 => "may-send(d, b)".into(),
        14 => "shows(r, a, b)".into(),
        15 => "kept(r)".into(),
        16 => "logged(r)".into(),
        17 => "r.requester = a".into(),
        18 => "r.day = day".into(),
        19 => "(exists x in disclosures. x.day - x.record.day < retention)".into(),
        20 => "r in log".into(),
        21 => "received(r)".into(),
        22 => "purged(r)".into(),
        23 => "acked(r)".into(),
        24 => "served(b)".into(),
        25 => format!("crashed({p})"),
        26 => format!("restarted({p})"),
        27 => "receipt(d, m)".into(),
        28 => "typing(d, a)".into(),
        29 => "read(d, m)".into(),
        30 => "read-receipt(d, m)".into(),
        31 => format!("holds({p}, pair(handle(a), pair(handle(b), pair(_, read))))"),
        32 => "for-message(r)".into(),
        33 => "(exists e: device. has-token(d, e))".into(),
        34 => {
            "(exists x in connections. x.device = d and x.day - x.connected < connection-retention)"
                .into()
        }
        35 => "(exists x in connections. x.address = d.address)".into(),
        36 => "for-sender-check(r)".into(),
        37 => "(exists q in log. r != q and same-query(r, q))".into(),
        _ => "d.account = a".into(),
    })
}

/// Well-typed formulas with past-time operators (`once`, `historically`, `since`) over a
/// generated body, or `leads-to` claims: the free variables of a past-time operator range
/// over sorts (records only inside, under a quantifier of their own).
pub fn past_formula_text() -> impl Strategy<Value = String> {
    let atom = prop::sample::select(vec![
        "knows(log, handle(a))",
        "knows(relay, handle(b))",
        "knows(authority, handle(b))",
        "sent(d, m, a)",
        "learned(d, m)",
        "accepted(d, a, m)",
        "told(d, b, registered)",
        "may-send(d, b)",
        "(exists r in log. shows(r, a, b))",
        "(exists r in answered. shows(r, a, b))",
        "(exists r in in-transit. r.requester = a)",
        "(exists r in logged. kept(r))",
        "(exists r in log. for-message(r))",
        "(exists r in log. for-sender-check(r))",
        "(exists e: device. has-token(d, e))",
        "(exists x in disclosures. x.record.requester = b)",
        "(exists x in connections. x.device = d)",
        "(exists r in answered. received(r) and not acked(r))",
        "(exists r in answered. purged(r))",
        "served(b)",
        "receipt(d, m)",
        "typing(d, b)",
        "read(d, m)",
        "read-receipt(d, m)",
        "crashed(log)",
        "restarted(log)",
        "day = 0",
        "d.account = a",
    ])
    .prop_map(String::from);
    let body = atom.prop_recursive(3, 10, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| format!("not ({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} implies {b})")),
            inner.clone().prop_map(|a| format!("once ({a})")),
            inner.clone().prop_map(|a| format!("historically ({a})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("(({a}) since ({b}))")),
        ]
    });
    let q = || prop::sample::select(vec!["forall", "exists"]);
    (0u8..3, q(), q(), q(), body.clone(), body).prop_map(|(top, q1, q2, q3, x, y)| match top {
        0 => format!("always {q1} d: device. {q2} m: message. {q3} a: account, b: account. {x}"),
        1 => format!("sometimes {q1} d: device. {q2} m: message. {q3} a: account, b: account. {x}"),
        _ => format!("forall d: device. forall m: message. forall a, b: account. {x} leads-to {y}"),
    })
}
