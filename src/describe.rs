//! Steps, messages and records in words, as traces and formula explanations show them.

use crate::knowledge::{AccountId, KeyId, Token};
use crate::protocol::wire::{Answer, Msg, Record, Timer};
use crate::protocol::{role_of, Role};
use crate::scenario::{ActionKind, Process, RecordKind, Scenario};
use crate::state::Step;
use serde::{Deserialize, Serialize};
use stateright::actor::ActorModelAction;

/// One step of a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStep {
    pub step: usize,
    /// `user`, `order`, `deliver`, `drop` or `tick`.
    pub kind: String,
    pub from: Option<String>,
    pub to: Option<String>,
    /// What happened, without the parties: `lookup target=B …`.
    pub event: String,
    /// The whole step as one line: `device A/1 -> directory: lookup target=B …`.
    pub text: String,
}

/// A step in words.
pub fn describe(s: &Scenario, step: &Step) -> TraceStep {
    let name = |id| role_of(id).name(s);
    let (kind, from, to, event) = match step {
        Step::Tick => ("tick", None, None, "the next day begins".to_string()),
        Step::Actor(ActorModelAction::Deliver { src, dst, msg }) => (
            "deliver",
            Some(name(*src)),
            Some(name(*dst)),
            message(s, msg),
        ),
        Step::Actor(ActorModelAction::Drop(env)) => (
            "drop",
            Some(name(env.src)),
            Some(name(env.dst)),
            format!("lost: {}", message(s, &env.msg)),
        ),
        Step::Actor(ActorModelAction::Timeout(id, timer)) => match (role_of(*id), timer) {
            (Role::Device(d), Timer::UserAction(n)) => {
                let a = s.device(d).actions[*n as usize];
                let what = match a.kind {
                    ActionKind::Lookup => format!("user looks up {}", handles(s, &a)),
                    ActionKind::Refresh => {
                        format!("contacts refresh looks up {}", handles(s, &a))
                    }
                    ActionKind::Type => format!("user starts typing to {}", s.handle(a.target)),
                    ActionKind::Read => {
                        format!("user reads the conversation with {}", s.handle(a.target))
                    }
                    ActionKind::Send(c) => format!(
                        "user sends {} to {}",
                        Scenario::content_name(c),
                        s.handle(a.target)
                    ),
                };
                ("user", Some(name(*id)), None, what)
            }
            (_, Timer::LegalRequest(n)) => {
                let r = s.legal_requests[*n as usize];
                let process = match r.process {
                    Process::Subpoena => "a subpoena",
                    Process::DOrder => "a court order",
                    Process::Warrant => "a warrant",
                };
                let mut what = match r.records {
                    RecordKind::LookupLog => {
                        format!("serves {process} for the records of {}", s.handle(r.handle))
                    }
                    RecordKind::PushToken(d) => format!(
                        "serves {process} for the account behind push token {}",
                        s.device_name(d)
                    ),
                    RecordKind::PushConnections(d) => format!(
                        "serves {process} for the relay's connection records of push token {}",
                        s.device_name(d)
                    ),
                    RecordKind::Subscriber => format!(
                        "serves {process} for the subscriber information of {}",
                        s.handle(r.handle)
                    ),
                };
                if !s.legal_rules.allows(r.process, r.records) {
                    what.push_str(&format!(
                        " (refused: under the {} rules these records need a 2703(d) order or \
                         a warrant)",
                        s.legal_rules.name()
                    ));
                }
                ("order", Some(name(*id)), None, what)
            }
            (_, Timer::Persist) => (
                "persist",
                Some(name(*id)),
                None,
                "writes its records to stable storage".to_string(),
            ),
            (_, Timer::Forge { victim, target }) => (
                "forge",
                Some(name(*id)),
                None,
                format!(
                    "impersonates {} toward {}: forges a message from {}, signed with its own key",
                    s.handle(*victim),
                    s.handle(*target),
                    s.handle(*victim),
                ),
            ),
            (_, t) => ("timer", Some(name(*id)), None, format!("{t:?}")),
        },
        Step::Actor(ActorModelAction::Crash(id)) => (
            "crash",
            Some(name(*id)),
            None,
            "crashes, losing what it had not written to stable storage".to_string(),
        ),
        Step::Actor(ActorModelAction::Recover(id)) => (
            "recover",
            Some(name(*id)),
            None,
            "restarts from stable storage".to_string(),
        ),
        Step::Actor(other) => ("other", None, None, format!("{other:?}")),
    };
    let text = match (&from, &to) {
        (Some(f), Some(t)) if kind == "drop" => format!("network, {f} -> {t}: {event}"),
        (Some(f), Some(t)) => format!("{f} -> {t}: {event}"),
        (Some(f), None) => format!("{f}: {event}"),
        _ => format!("clock: {event}"),
    };
    TraceStep {
        step: 0,
        kind: kind.to_string(),
        from,
        to,
        event,
        text,
    }
}

pub(crate) fn token(s: &Scenario, t: Token) -> String {
    match t {
        Token::Device(d) => s.device_name(d),
        Token::Ghost => "ghost".into(),
    }
}

fn key(s: &Scenario, k: KeyId) -> String {
    match k {
        KeyId::Device(d) => format!("the encryption key of {}", s.device_name(d)),
        KeyId::DeviceSig(d) => format!("the key of {}", s.device_name(d)),
        KeyId::Account(a) => format!("the account key of {}", s.handle(a)),
        KeyId::Ghost => "the directory's key".into(),
        KeyId::Enclave => "the enclave key".into(),
        KeyId::Directory => "the directory's certificate key".into(),
    }
}

/// An envelope's sender: a handle, or none under sealed sender.
/// The handles a lookup action asks about, joined with `+` when it is a batch.
fn handles(s: &Scenario, a: &crate::scenario::UserAction) -> String {
    a.targets()
        .map(|t| s.handle(t).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

fn sender(s: &Scenario, from: Option<AccountId>) -> String {
    from.map_or_else(|| "(sealed)".to_string(), |a| s.handle(a).to_string())
}

pub(crate) fn record(s: &Scenario, r: &Record) -> String {
    let mut out = format!(
        "day {}: {} looked up {} from {}",
        r.day.0,
        s.handle(r.requester),
        r.target.map_or("(hidden)", |t| s.handle(t)),
        s.ip(r.ip),
    );
    if let Some(n) = r.device_count {
        out.push_str(&format!(", {n} device{}", if n == 1 { "" } else { "s" }));
    }
    if let Some(c) = r.draft {
        out.push_str(&format!(", draft {}", Scenario::content_name(c)));
    }
    match r.for_message {
        Some(true) => out.push_str(", for a message"),
        Some(false) => out.push_str(", not for a message"),
        None => {}
    }
    if *r.sender_check {
        out.push_str(", to check a message's sender");
    }
    out
}

/// A message in words.
pub fn message(s: &Scenario, m: &Msg) -> String {
    match m {
        Msg::Lookup(q) => {
            // Under private discovery the target is sealed: only the requesting device reads it.
            let target = q
                .targets()
                .map(|t| {
                    if s.features.private_discovery {
                        format!("sealed({})", s.handle(t))
                    } else {
                        s.handle(t).to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("+");
            let mut out = format!(
                "lookup target={target} requester={} ip={} token={}",
                s.handle(q.requester),
                s.ip(q.ip),
                token(s, q.token)
            );
            if let Some(c) = q.draft {
                out.push_str(&format!(" draft={}", Scenario::content_name(c)));
            }
            out
        }
        Msg::LookupReply { target, answer } => match answer {
            Answer::NotRegistered => format!("answer for {}: not registered", s.handle(*target)),
            Answer::Devices(entries) => format!(
                "answer for {}: {}",
                s.handle(*target),
                entries
                    .iter()
                    .map(|e| format!(
                        "{}{}",
                        token(s, e.token),
                        if e.attestation.is_some() {
                            " (signed)"
                        } else {
                            ""
                        }
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        Msg::LogWrite(r) => format!("record ({})", record(s, r)),
        Msg::LogAck(r) => format!("ack ({})", record(s, r)),
        Msg::KeyQuery { handle } => format!("keys of {}?", s.handle(*handle)),
        Msg::KeyReply { handle, answer } => match answer {
            Answer::NotRegistered => format!("keys of {}: not registered", s.handle(*handle)),
            Answer::Devices(entries) => format!(
                "keys of {}: {}",
                s.handle(*handle),
                entries
                    .iter()
                    .map(|e| format!(
                        "{} signs with {}{}",
                        token(s, e.token),
                        key(s, e.sig),
                        if e.attestation.is_some() {
                            " (signed)"
                        } else {
                            ""
                        }
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        Msg::Push { from, to, payloads } => format!(
            "push from {} to {}: ciphertexts for {}",
            sender(s, *from),
            s.handle(*to),
            payloads
                .iter()
                .map(|(t, _)| token(s, *t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Msg::Deliver {
            from, to, token: t, ..
        } => format!(
            "ciphertext from {} to {} for {}",
            sender(s, *from),
            s.handle(*to),
            token(s, *t)
        ),
        Msg::Receipt {
            from,
            to,
            content,
            read,
        } => format!(
            "{} receipt from {} to {} for {}",
            if *read { "read" } else { "delivery" },
            sender(s, *from),
            s.handle(*to),
            Scenario::content_name(*content)
        ),
        Msg::DeliverReceipt {
            from,
            to,
            token: t,
            content,
            read,
        } => format!(
            "{} receipt from {} to {} for {}, to {}",
            if *read { "read" } else { "delivery" },
            sender(s, *from),
            s.handle(*to),
            Scenario::content_name(*content),
            token(s, *t)
        ),
        Msg::Typing {
            from, to, tokens, ..
        } => format!(
            "typing indicator from {} to {} for {}",
            sender(s, *from),
            s.handle(*to),
            tokens
                .iter()
                .map(|t| token(s, *t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Msg::DeliverTyping {
            from, to, token: t, ..
        } => format!(
            "typing indicator from {} to {} for {}",
            sender(s, *from),
            s.handle(*to),
            token(s, *t)
        ),
        Msg::Sms { from, to, body } => format!(
            "SMS from {} to {} in plaintext: {}",
            s.handle(*from),
            s.handle(*to),
            match body {
                crate::knowledge::Term::Content(c) => Scenario::content_name(*c),
                other => format!("{other:?}"),
            }
        ),
        Msg::LegalRequest { handle } => {
            format!("court order for the records of {}", s.handle(*handle))
        }
        Msg::ProspectiveOrder { handle, days } => format!(
            "prospective order for the records of {} made in the next {} day{}",
            s.handle(*handle),
            days,
            if *days == 1 { "" } else { "s" }
        ),
        Msg::SubscriberRequest { handle } => {
            format!(
                "request for the subscriber information of {}",
                s.handle(*handle)
            )
        }
        Msg::SubscriberDisclosure { handle, addresses } => format!(
            "subscriber information of {}: connects from {}",
            s.handle(*handle),
            addresses
                .iter()
                .map(|ip| s.ip(*ip).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Msg::TokenRequest { token: t } => {
            format!("request for the account behind push token {}", token(s, *t))
        }
        Msg::TokenDisclosure { token: t, account } => {
            format!(
                "push token {} is registered to {}",
                token(s, *t),
                s.handle(*account)
            )
        }
        Msg::Disclosure {
            handle,
            day,
            records,
        } => {
            let mut out = format!(
                "disclosure on day {} for {}: {} record{}",
                day.0,
                s.handle(*handle),
                records.len(),
                if records.len() == 1 { "" } else { "s" }
            );
            for r in records {
                out.push_str(&format!(" [{}]", record(s, r)));
            }
            out
        }
        Msg::ConnectionRequest { device } => format!(
            "request for the connection records of push token {}",
            s.device_name(*device)
        ),
        Msg::ConnectionDisclosure {
            device,
            day,
            connected,
        } => {
            let days: Vec<String> = connected.iter().map(|d| d.0.to_string()).collect();
            format!(
                "disclosure on day {}: push token {} was connected from {} on day{} {}",
                day.0,
                s.device_name(*device),
                s.ips[s.device(*device).ip.0 as usize],
                if connected.len() == 1 { "" } else { "s" },
                if days.is_empty() {
                    "(none kept)".to_string()
                } else {
                    days.join(", ")
                }
            )
        }
    }
}
