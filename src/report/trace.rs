//! A counterexample or witness in every format a researcher or a tool
//! reads: numbered text with what changed in each party, JSON, the Informal
//! Trace Format (ITF, read by Apalache's and Quint's trace tools), a Mermaid
//! `sequenceDiagram`, and Graphviz DOT.
//!
//! Each party's state is shown as a set of *facts* in words ([`facts`]):
//! what it holds, what it sent, what it derives (knowledge included). A
//! step's changes are the facts it added and removed, party by party.

use super::{message, record, trace_steps, TraceStep};
use crate::check::Trace;
use crate::describe::token;
use crate::knowledge::{Knowledge, Term};
use crate::model::ProtocolModel;
use crate::protocol::device::Channel;
use crate::protocol::wire::{Answer, Origin, Record};
use crate::protocol::{role_of, Role};
use crate::scenario::Scenario;
use crate::state::{self as model, State};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The parties in display order, as (variable name, role). Variable names are identifiers
/// (letters, digits and underscores, unique), usable in ITF and Mermaid whatever the handles.
pub fn parties(s: &Scenario) -> Vec<(String, Role)> {
    let mut out = vec![
        ("directory".to_string(), Role::Directory),
        ("lookup_log".to_string(), Role::LookupLog),
        ("relay".to_string(), Role::Relay),
        ("carrier".to_string(), Role::Carrier),
        ("authority".to_string(), Role::Authority),
    ];
    for d in 0..s.devices.len() {
        let id = crate::knowledge::DeviceId(d as u8);
        let base: String = format!("device_{}", s.device_name(id))
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let mut name = base.clone();
        let mut n = 2;
        while out.iter().any(|(v, _)| *v == name)
            || ["network", "day", "action", "clock"].contains(&name.as_str())
        {
            name = format!("{base}_{n}");
            n += 1;
        }
        out.push((name, Role::Device(id)));
    }
    out
}

/// What a knowledge set lets its holder derive, in words: contents, handles, addresses and
/// private keys (the atoms claims are about).
fn derived(s: &Scenario, k: &Knowledge) -> Vec<String> {
    k.terms()
        .filter_map(|t| match t {
            Term::Content(c) => Some(format!("derives {}", Scenario::content_name(*c))),
            Term::Handle(a) => Some(format!("derives handle {}", s.handle(*a))),
            Term::Ip(ip) => Some(format!("derives address {}", s.ip(*ip))),
            Term::Sk(key) => Some(format!("holds the private key {key:?}")),
            // A device's token paired with a handle: at the relay the connection a push to
            // that handle came on, at the directory a key query for that handle's keys, or
            // the registry's entry for the device.
            Term::Pair(a, b) => match (&**a, &**b) {
                (Term::Token(t), Term::Handle(h)) => {
                    Some(format!("links {} to {}", token(s, *t), s.handle(*h)))
                }
                // An envelope to a handle for a token (with a payload, or a receipt without):
                // the relay learns which devices are the handle's.
                (Term::Handle(h), Term::Token(t)) => Some(token_of(s, *t, *h)),
                (Term::Handle(h), Term::Pair(x, _)) => match &**x {
                    Term::Token(t) => Some(token_of(s, *t, *h)),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn token_of(s: &Scenario, t: crate::knowledge::Token, h: crate::knowledge::AccountId) -> String {
    format!("sees that {} is a device of {}", token(s, t), s.handle(h))
}

fn answer(s: &Scenario, a: &Answer) -> String {
    match a {
        Answer::NotRegistered => "not registered".into(),
        Answer::Devices(e) => e
            .iter()
            .map(|e| token(s, e.token))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Records in words; two distinct records that read the same (two lookups of one handle by
/// one account on one day, from devices at one address) are told apart by the lookup each
/// belongs to, so that a set of facts keeps both.
fn labelled<'a>(s: &Scenario, records: impl IntoIterator<Item = &'a Record>) -> Vec<String> {
    let records: Vec<&Record> = records.into_iter().collect();
    let texts: Vec<String> = records.iter().map(|r| record(s, r)).collect();
    texts
        .iter()
        .zip(&records)
        .map(|(text, r)| {
            if texts.iter().filter(|x| *x == text).count() > 1 {
                match r.lookup.origin {
                    Origin::Action(n) | Origin::Batch(n, _) => {
                        format!(
                            "{text} (action {} of {})",
                            n + 1,
                            s.device_name(r.lookup.device)
                        )
                    }
                    Origin::Sender(a) => format!(
                        "{text} ({} verifying a message from {})",
                        s.device_name(r.lookup.device),
                        s.handle(a)
                    ),
                }
            } else {
                text.clone()
            }
        })
        .collect()
}

/// Every party's facts in a state, plus the messages in flight and the day.
pub fn facts(s: &Scenario, st: &State) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for (var, role) in parties(s) {
        let mut f = BTreeSet::new();
        match role {
            Role::Directory => {
                let d = model::directory(st);
                f.extend(derived(s, &d.knowledge));
                for (dev, _, t, _) in &d.held {
                    f.insert(format!(
                        "holds the answer for {} to {} until the log acknowledges",
                        s.handle(*t),
                        s.device_name(*dev)
                    ));
                }
                for (dev, h, _) in &d.held_keys {
                    f.insert(format!(
                        "holds the keys of {} for {} until the log acknowledges",
                        s.handle(*h),
                        s.device_name(*dev)
                    ));
                }
                for r in labelled(s, &d.answered) {
                    f.insert(format!("answered: {r}"));
                }
                for (h, until) in &d.watching {
                    f.insert(format!(
                        "hands the authority each record naming {} until day {} begins",
                        s.handle(*h),
                        until.0
                    ));
                }
            }
            Role::LookupLog => {
                let l = model::log(st);
                for r in labelled(s, &l.records) {
                    f.insert(format!("record: {r}"));
                }
                for r in labelled(s, &l.persisted) {
                    f.insert(format!("persisted: {r}"));
                }
                if st.crashed[usize::from(crate::protocol::actor_id(role))] {
                    f.insert("crashed".into());
                }
            }
            Role::Relay => f.extend(derived(s, &model::relay(st).knowledge)),
            Role::Carrier => f.extend(derived(s, &model::carrier(st).knowledge)),
            Role::Authority => {
                let a = model::authority(st);
                for (day, h) in &a.served {
                    f.insert(format!(
                        "order for {} answered on day {}",
                        s.handle(*h),
                        day.0
                    ));
                }
                for (day, r) in &a.disclosed {
                    f.insert(format!("disclosed on day {}: {}", day.0, record(s, r)));
                }
                f.extend(derived(s, &a.knowledge));
            }
            Role::Device(d) => {
                let dev = model::device(st, d);
                for (h, a) in &dev.cache {
                    f.insert(format!(
                        "knows the devices of {}: {}",
                        s.handle(*h),
                        answer(s, a)
                    ));
                }
                for (h, c) in &dev.queued {
                    f.insert(format!(
                        "{} to {} waits for an answer",
                        Scenario::content_name(*c),
                        s.handle(*h)
                    ));
                }
                for x in &dev.sent {
                    f.insert(format!(
                        "sent {} to {} by {}",
                        Scenario::content_name(x.content),
                        s.handle(x.to),
                        match x.channel {
                            Channel::Imessage => "iMessage",
                            Channel::Sms => "SMS",
                        }
                    ));
                }
                for c in &dev.learned {
                    f.insert(format!("derives {}", Scenario::content_name(*c)));
                }
                for (a, c) in &dev.accepted {
                    f.insert(format!(
                        "accepts {} as from {}",
                        Scenario::content_name(*c),
                        s.handle(*a)
                    ));
                }
                for (a, _, c) in &dev.unverified {
                    f.insert(format!(
                        "{} claims to be from {}: waits for its keys",
                        Scenario::content_name(*c),
                        s.handle(*a)
                    ));
                }
                for a in &dev.alerts {
                    f.insert(format!(
                        "alert: a key listed for {} does not verify",
                        s.handle(*a)
                    ));
                }
                for c in &dev.receipts {
                    f.insert(format!(
                        "holds a delivery receipt for {}",
                        Scenario::content_name(*c)
                    ));
                }
                for c in &dev.read_receipts {
                    f.insert(format!(
                        "holds a read receipt for {}",
                        Scenario::content_name(*c)
                    ));
                }
                for c in &dev.read {
                    f.insert(format!("has read {}", Scenario::content_name(*c)));
                }
                for h in &dev.composing {
                    f.insert(format!(
                        "typing to {}: the indicator waits for an answer",
                        s.handle(*h)
                    ));
                }
                for a in &dev.typing {
                    f.insert(format!("shows {} typing", s.handle(*a)));
                }
            }
        }
        out.insert(var, f);
    }
    let mut net = BTreeSet::new();
    for (src, dst, m) in model::in_flight_envelopes(st) {
        net.insert(format!(
            "{} -> {}: {}",
            src.name(s),
            dst.name(s),
            message(s, m)
        ));
    }
    out.insert("network".into(), net);
    out.insert(
        "clock".into(),
        BTreeSet::from([format!("day {}", ProtocolModel::today(st).0)]),
    );
    out
}

/// What one step changed in one party.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Change {
    pub party: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// A trace step with its changes.
#[derive(Clone, Debug, Serialize)]
pub struct StepView {
    #[serde(flatten)]
    pub step: TraceStep,
    pub changes: Vec<Change>,
}

/// The steps of a trace with, for each, the facts it changed.
pub fn step_views(s: &Scenario, t: &Trace) -> Vec<StepView> {
    let names: BTreeMap<String, String> = parties(s)
        .into_iter()
        .map(|(v, r)| (v, r.name(s)))
        .collect();
    let steps = trace_steps(s, t);
    let mut before = facts(s, &t.initial);
    steps
        .into_iter()
        .zip(&t.steps)
        .map(|(step, (_, after))| {
            let now = facts(s, after);
            let changes = now
                .iter()
                .filter(|(p, _)| *p != "network" && *p != "clock")
                .filter_map(|(p, f)| {
                    let old = before.get(p).cloned().unwrap_or_default();
                    let added: Vec<String> = f.difference(&old).cloned().collect();
                    let removed: Vec<String> = old.difference(f).cloned().collect();
                    (!added.is_empty() || !removed.is_empty()).then(|| Change {
                        party: names.get(p).cloned().unwrap_or_else(|| p.clone()),
                        added,
                        removed,
                    })
                })
                .collect();
            before = now;
            StepView { step, changes }
        })
        .collect()
}

/// What a rendering marks as deciding its claim.
#[derive(Clone, Copy, Debug, Default)]
pub struct Decision<'a> {
    /// Whether the last step decides the claim: a shortest counterexample to an `always`
    /// claim, or a shortest witness of a `sometimes` claim, ends at the first state where the
    /// claim's condition changes, so the fact that violates (or reaches) it is among the facts
    /// that step added or removed (a record the log loses in a crash, say). (An `eventually` or
    /// `leads-to` counterexample is about the whole run.)
    pub marks_last_step: bool,
    /// For a claim written in the claim language: what decides its formula in the last state.
    pub why: Option<&'a str>,
}

impl<'a> Decision<'a> {
    pub fn of(kind: crate::claims::ClaimKind, why: Option<&'a str>) -> Self {
        use crate::claims::ClaimKind;
        Decision {
            marks_last_step: matches!(kind, ClaimKind::Always | ClaimKind::Sometimes),
            why,
        }
    }
}

/// A header line naming the claim, its verdict and the scenario.
pub(crate) fn headline(s: &Scenario, claim: &str, what: &str, len: usize) -> String {
    format!(
        "{what} {claim} in {} ({}; {len} step{})",
        s.path.display(),
        s.setting(),
        if len == 1 { "" } else { "s" }
    )
}

/// Numbered steps, each followed by what changed in which party; safe to show on a terminal.
pub fn text(s: &Scenario, claim: &str, what: &str, t: &Trace) -> String {
    let views = step_views(s, t);
    let mut out = headline(s, claim, what, views.len());
    out.push('\n');
    for v in &views {
        let _ = writeln!(out, "{:>2}. {}", v.step.step, v.step.text);
        for c in &v.changes {
            for a in &c.added {
                let _ = writeln!(out, "      {} + {}", c.party, a);
            }
            for r in &c.removed {
                let _ = writeln!(out, "      {} - {}", c.party, r);
            }
        }
    }
    crate::escape::terminal(&out)
}

/// The trace as JSON: the claim, the scenario and the steps with their changes.
pub fn json(s: &Scenario, claim: &str, what: &str, t: &Trace) -> Value {
    json!({
        "scenario": s.path.display().to_string(),
        "claim": claim,
        "kind": what,
        "steps": step_views(s, t),
    })
}

fn itf_set(f: &BTreeSet<String>) -> Value {
    json!({ "#set": f.iter().collect::<Vec<_>>() })
}

/// The trace in the Informal Trace Format: one record per state, one variable per party
/// (a set of facts), plus `network`, `day` and `action` (the step that led to the state).
pub fn itf(s: &Scenario, claim: &str, what: &str, t: &Trace) -> Value {
    let mut vars: Vec<String> = parties(s).into_iter().map(|(v, _)| v).collect();
    vars.extend([
        "network".to_string(),
        "day".to_string(),
        "action".to_string(),
    ]);
    let state_value = |index: usize, st: &State, action: &str| {
        let f = facts(s, st);
        let mut obj = serde_json::Map::new();
        obj.insert("#meta".into(), json!({ "index": index }));
        for (var, _) in parties(s) {
            obj.insert(var.clone(), itf_set(&f[&var]));
        }
        obj.insert("network".into(), itf_set(&f["network"]));
        obj.insert(
            "day".into(),
            json!({ "#bigint": ProtocolModel::today(st).0.to_string() }),
        );
        obj.insert("action".into(), json!(action));
        Value::Object(obj)
    };
    let steps = trace_steps(s, t);
    let mut states = vec![state_value(0, &t.initial, "init")];
    for (i, ((_, st), step)) in t.steps.iter().zip(&steps).enumerate() {
        states.push(state_value(i + 1, st, &step.text));
    }
    json!({
        "#meta": {
            "format": "ITF",
            "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
            "source": s.path.display().to_string(),
            "description": headline(s, claim, what, t.steps.len()),
            "varTypes": vars.iter().map(|v| (v.clone(), if v == "day" { "Int" } else if v == "action" { "Str" } else { "Set(Str)" })).collect::<BTreeMap<_, _>>(),
        },
        "vars": vars,
        "states": states,
    })
}

/// A Mermaid participant id: letters, digits and underscores only.
fn mermaid_id(role: Role, s: &Scenario) -> String {
    parties(s)
        .into_iter()
        .find(|(_, r)| *r == role)
        .map(|(v, _)| v)
        .expect("every role is a party")
}

/// Text Mermaid shows verbatim in a message, a note, an alias or a comment.
fn mermaid_text(t: &str) -> String {
    crate::escape::mermaid(t)
}

/// The trace as a Mermaid `sequenceDiagram`.
pub fn mermaid(s: &Scenario, claim: &str, what: &str, t: &Trace) -> String {
    let mut out = String::from("sequenceDiagram\n");
    // A comment runs to the end of its line: only a line break could end it early.
    let _ = writeln!(
        out,
        "    %% {}",
        crate::escape::line(&headline(s, claim, what, t.steps.len()))
    );
    for (var, role) in parties(s) {
        let _ = writeln!(
            out,
            "    participant {var} as {}",
            mermaid_text(&role.name(s))
        );
    }
    for (step, (st, after)) in trace_steps(s, t).iter().zip(&t.steps) {
        let n = step.step;
        match st {
            crate::state::Step::Tick => {
                let _ = writeln!(
                    out,
                    "    Note over directory,lookup_log: {n}. day {} begins",
                    ProtocolModel::today(after).0
                );
            }
            crate::state::Step::Actor(stateright::actor::ActorModelAction::Deliver {
                src,
                dst,
                ..
            }) => {
                let _ = writeln!(
                    out,
                    "    {}->>{}: {n}. {}",
                    mermaid_id(role_of(*src), s),
                    mermaid_id(role_of(*dst), s),
                    mermaid_text(&step.event)
                );
            }
            crate::state::Step::Actor(stateright::actor::ActorModelAction::Drop(env)) => {
                let _ = writeln!(
                    out,
                    "    {}-x{}: {n}. {}",
                    mermaid_id(role_of(env.src), s),
                    mermaid_id(role_of(env.dst), s),
                    mermaid_text(&step.event)
                );
            }
            crate::state::Step::Actor(a) => {
                let id = match a {
                    stateright::actor::ActorModelAction::Timeout(id, _)
                    | stateright::actor::ActorModelAction::Crash(id)
                    | stateright::actor::ActorModelAction::Recover(id) => *id,
                    _ => crate::protocol::actor_id(Role::Directory),
                };
                let _ = writeln!(
                    out,
                    "    Note over {}: {n}. {}",
                    mermaid_id(role_of(id), s),
                    mermaid_text(&step.event)
                );
            }
        }
    }
    out
}

fn dot_escape(t: &str) -> String {
    crate::escape::dot(t)
}

/// The trace as a Graphviz digraph: one node per state (with the facts the step into it
/// changed), one edge per step. The state that decides the claim is drawn in red, the facts
/// its step added or removed marked `<- decides`, and the formula's explanation hangs from it
/// as a note.
pub fn dot(s: &Scenario, claim: &str, what: &str, t: &Trace, decision: Decision) -> String {
    let mut out = String::from("digraph trace {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
    let _ = writeln!(
        out,
        "  label=\"{}\";\n  labelloc=t;",
        dot_escape(&headline(s, claim, what, t.steps.len()))
    );
    let _ = writeln!(out, "  s0 [label=\"initial state\"];");
    let views = step_views(s, t);
    let last = views.len();
    for v in views {
        let deciding = decision.marks_last_step && v.step.step == last;
        let mut label = format!("state {}", v.step.step);
        if deciding {
            label.push_str(&format!(
                ": {} {}",
                if what.starts_with("witness") {
                    "reaches"
                } else {
                    "violates"
                },
                dot_escape(claim)
            ));
        }
        for c in &v.changes {
            for a in &c.added {
                label.push_str(&format!("\\l{} + {}", dot_escape(&c.party), dot_escape(a)));
                if deciding {
                    label.push_str("   <- decides");
                }
            }
            for r in &c.removed {
                label.push_str(&format!("\\l{} - {}", dot_escape(&c.party), dot_escape(r)));
                if deciding {
                    label.push_str("   <- decides");
                }
            }
        }
        label.push_str("\\l");
        let style = if deciding {
            ", color=\"#c0392b\", fontcolor=\"#c0392b\", penwidth=2"
        } else {
            ""
        };
        let _ = writeln!(out, "  s{} [label=\"{}\"{style}];", v.step.step, label);
        let _ = writeln!(
            out,
            "  s{} -> s{} [label=\"{}. {}\"];",
            v.step.step - 1,
            v.step.step,
            v.step.step,
            dot_escape(&v.step.text)
        );
    }
    if let Some(why) = decision.why {
        let _ = writeln!(
            out,
            "  why [shape=note, color=\"#c0392b\", label=\"why: {}\\l\"];\n  s{last} -> why [style=dashed, arrowhead=none];",
            dot_escape(why)
        );
    }
    out.push_str("}\n");
    out
}
