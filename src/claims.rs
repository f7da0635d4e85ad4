//! The claim catalogue (DESIGN §6): each claim is a stateright property with
//! a stable id, a kind, the sentence a researcher would write and where the
//! claim comes from.
//!
//! Conditions read what parties can *derive* (their [`Knowledge`] and the
//! facts their handlers recorded), never a flag set by the step that leaks.
//! For an `always` claim the condition is the invariant; for a `sometimes`
//! claim it describes the witness state.

use crate::knowledge::{AccountId, ContentId, Knowledge, Term};
use crate::model::{self, ProtocolModel, State};
use crate::protocol::device::Channel;
use crate::protocol::lookup_log::expired;
use crate::protocol::wire::Msg;
use serde::Serialize;
use stateright::{Expectation, Property};

/// How a claim quantifies over the reachable states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimKind {
    /// True in every reachable state; a failure has a counterexample.
    Always,
    /// True in some reachable state; a success has a witness.
    Sometimes,
}

impl ClaimKind {
    pub fn name(self) -> &'static str {
        match self {
            ClaimKind::Always => "always",
            ClaimKind::Sometimes => "sometimes",
        }
    }
}

/// The outcome of checking one claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Holds,
    Violated,
    Reachable,
    Unreachable,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::Holds,
        Verdict::Violated,
        Verdict::Reachable,
        Verdict::Unreachable,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Violated => "violated",
            Verdict::Reachable => "reachable",
            Verdict::Unreachable => "unreachable",
        }
    }
    /// Whether a path was found (a counterexample or a witness): such a verdict is final even
    /// when the search was bounded.
    pub fn has_path(self) -> bool {
        matches!(self, Verdict::Violated | Verdict::Reachable)
    }
}

/// One claim of the catalogue.
#[derive(Debug)]
pub struct Claim {
    pub id: &'static str,
    pub kind: ClaimKind,
    pub statement: &'static str,
    pub source: &'static str,
    pub condition: fn(&ProtocolModel, &State) -> bool,
}

impl PartialEq for Claim {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Claim {}

impl Claim {
    /// The claim as a stateright property.
    pub fn property(&self) -> Property<ProtocolModel> {
        match self.kind {
            ClaimKind::Always => Property::always(self.id, self.condition),
            ClaimKind::Sometimes => Property::sometimes(self.id, self.condition),
        }
    }

    pub fn expectation(&self) -> Expectation {
        match self.kind {
            ClaimKind::Always => Expectation::Always,
            ClaimKind::Sometimes => Expectation::Sometimes,
        }
    }

    /// Whether `state` is a discovery for this claim: a counterexample or a witness.
    pub fn discovered(&self, m: &ProtocolModel, state: &State) -> bool {
        let c = (self.condition)(m, state);
        match self.kind {
            ClaimKind::Always => !c,
            ClaimKind::Sometimes => c,
        }
    }

    /// The verdict when a discovery was (or was not) found.
    pub fn verdict(&self, discovered: bool) -> Verdict {
        match (self.kind, discovered) {
            (ClaimKind::Always, false) => Verdict::Holds,
            (ClaimKind::Always, true) => Verdict::Violated,
            (ClaimKind::Sometimes, true) => Verdict::Reachable,
            (ClaimKind::Sometimes, false) => Verdict::Unreachable,
        }
    }
}

pub fn find(id: &str) -> Option<&'static Claim> {
    CATALOGUE.iter().find(|c| c.id == id)
}

const FAQ: &str =
    "Apple's 2016 law-enforcement FAQ on iMessage lookup logs (made public by The Intercept)";
const GUIDE: &str = "Apple Platform Security guide, iMessage and Contact Key Verification";

/// The catalogue, in the order reports list it.
pub static CATALOGUE: [Claim; 9] = [
    Claim {
        id: "content-never-in-lookup-log",
        kind: ClaimKind::Always,
        statement: "No lookup-log record lets its holder derive any message content.",
        source: FAQ,
        condition: content_never_in_lookup_log,
    },
    Claim {
        id: "no-server-learns-content",
        kind: ClaimKind::Always,
        statement: "The directory, the lookup log, the relay and the authority never derive message content.",
        source: GUIDE,
        condition: no_server_learns_content,
    },
    Claim {
        id: "ghost-device-detected",
        kind: ClaimKind::Always,
        statement: "Whenever content sent over iMessage is derived by anyone but the sender's and the recipient's own devices, some device has raised an alert.",
        source: GUIDE,
        condition: ghost_device_detected,
    },
    Claim {
        id: "lookup-always-logged",
        kind: ClaimKind::Always,
        statement: "Every lookup the directory answered has its record (requester, target, day, IP, device count) in the log or on its way there, until retention purges it.",
        source: FAQ,
        condition: lookup_always_logged,
    },
    Claim {
        id: "lookup-logged-without-message",
        kind: ClaimKind::Sometimes,
        statement: "The log shows that A looked up B although A has not sent B a message and has no send to B left to make.",
        source: FAQ,
        condition: lookup_logged_without_message,
    },
    Claim {
        id: "sms-fallback-exposes-content",
        kind: ClaimKind::Sometimes,
        statement: "The carrier can hold a message's plaintext.",
        source: GUIDE,
        condition: sms_fallback_exposes_content,
    },
    Claim {
        id: "retention-respected",
        kind: ClaimKind::Always,
        statement: "No record older than the retention window is ever disclosed.",
        source: FAQ,
        condition: retention_respected,
    },
    Claim {
        id: "authority-learns-contact",
        kind: ClaimKind::Sometimes,
        statement: "A legal request discloses that one handle looked up another.",
        source: FAQ,
        condition: authority_learns_contact,
    },
    Claim {
        id: "authority-links-handle-to-ip",
        kind: ClaimKind::Sometimes,
        statement: "A legal request discloses a (handle, IP address) pair.",
        source: FAQ,
        condition: authority_links_handle_to_ip,
    },
];

fn content_never_in_lookup_log(_: &ProtocolModel, s: &State) -> bool {
    model::log(s).knowledge.contents().next().is_none()
}

/// What each server party can derive: the parties `no-server-learns-content` covers.
fn server_knowledge(s: &State) -> [&Knowledge; 4] {
    [
        &model::directory(s).knowledge,
        &model::log(s).knowledge,
        &model::relay(s).knowledge,
        &model::authority(s).knowledge,
    ]
}

fn no_server_learns_content(_: &ProtocolModel, s: &State) -> bool {
    server_knowledge(s)
        .iter()
        .all(|k| k.contents().next().is_none())
}

fn ghost_device_detected(m: &ProtocolModel, s: &State) -> bool {
    let alerted = model::devices(s).any(|(_, d)| !d.alerts.is_empty());
    if alerted {
        return true;
    }
    // Contents that left a device over iMessage, with their endpoints.
    let imessages: Vec<(ContentId, AccountId, AccountId)> = model::devices(s)
        .flat_map(|(id, d)| {
            let from = m.scenario.device(id).account;
            d.sent
                .iter()
                .filter(|x| x.channel == Channel::Imessage)
                .map(move |x| (x.content, from, x.to))
        })
        .collect();
    if imessages.is_empty() {
        return true;
    }
    let servers = server_knowledge(s);
    let carrier = &model::carrier(s).knowledge;
    imessages.iter().all(|&(c, from, to)| {
        let by_server = servers
            .into_iter()
            .chain([carrier])
            .any(|k| k.knows_content(c));
        let by_other_device = model::devices(s).any(|(id, d)| {
            let account = m.scenario.device(id).account;
            account != from && account != to && d.learned.contains(&c)
        });
        !(by_server || by_other_device)
    })
}

fn lookup_always_logged(m: &ProtocolModel, s: &State) -> bool {
    let today = ProtocolModel::today(s);
    let log = model::log(s);
    model::directory(s).answered.iter().all(|r| {
        expired(&m.scenario, r.day, today)
            || log.records.contains(r)
            || model::in_flight(s).any(|msg| matches!(msg, Msg::LogWrite(x) if x == r))
    })
}

fn lookup_logged_without_message(m: &ProtocolModel, s: &State) -> bool {
    model::log(s).records.iter().any(|r| {
        let requester = m.scenario.account(r.requester);
        requester.devices.iter().all(|&d| {
            let dev = model::devices(s)
                .nth(d.0 as usize)
                .expect("every account device is an actor")
                .1;
            !dev.sent.iter().any(|x| x.to == r.target)
                && !dev.may_still_send(&m.scenario, d, r.target, model::pending_actions(s, d))
        })
    })
}

fn sms_fallback_exposes_content(_: &ProtocolModel, s: &State) -> bool {
    model::carrier(s).knowledge.contents().next().is_some()
}

fn retention_respected(m: &ProtocolModel, s: &State) -> bool {
    model::authority(s)
        .disclosed
        .iter()
        .all(|(on, r)| !expired(&m.scenario, r.day, *on))
}

fn authority_learns_contact(_: &ProtocolModel, s: &State) -> bool {
    // A record names its requester and its target: one disclosed record is one contact.
    let k = &model::authority(s).knowledge;
    model::authority(s).disclosed.iter().any(|(_, r)| {
        r.requester != r.target
            && k.derives(&Term::Handle(r.requester))
            && k.derives(&Term::Handle(r.target))
    })
}

fn authority_links_handle_to_ip(_: &ProtocolModel, s: &State) -> bool {
    // A record pairs the requester's handle with the IP address it looked up from.
    let k = &model::authority(s).knowledge;
    model::authority(s)
        .disclosed
        .iter()
        .any(|(_, r)| k.derives(&Term::Handle(r.requester)) && k.derives(&Term::Ip(r.ip)))
}
