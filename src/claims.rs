//! The claim catalogue (docs/design.md §7): each claim is a stateright property with
//! a stable id, a kind, the sentence a researcher would write and where the
//! claim comes from.
//!
//! Conditions read what parties can *derive* (their [`Knowledge`] and the
//! facts their handlers recorded), never a flag set by the step that leaks.
//! For an `always` claim the condition is the invariant; for a `sometimes`
//! claim it describes the witness state.

use crate::formula::{Formula, Reads};
use crate::knowledge::{AccountId, ContentId, DeviceId, Knowledge, Term};
use crate::model::Step;
use crate::model::{self, ProtocolModel, State};
use crate::protocol::device::Channel;
use crate::protocol::lookup_log::expired;
use crate::protocol::wire::{Answer, Msg};
use crate::protocol::{LogState, Role};
use crate::scenario::{ActionKind, Scenario};
use serde::{Deserialize, Serialize};
use stateright::{Expectation, Property};
use std::collections::BTreeSet;
use std::sync::Arc;

/// How a claim quantifies over the behaviours of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimKind {
    /// True in every reachable state; a failure has a counterexample.
    Always,
    /// True in some reachable state; a success has a witness.
    Sometimes,
    /// True at some point of every run that ends; a failure is a run that ends without it.
    Eventually,
    /// `φ leads-to ψ`: on every run that ends, a state where φ holds is followed (or
    /// accompanied) by one where ψ holds; a failure is a run that ends while ψ has not held
    /// since φ did. Checked in every state as `ended implies not pending`.
    #[serde(rename = "leads-to")]
    LeadsTo,
}

impl ClaimKind {
    pub fn name(self) -> &'static str {
        match self {
            ClaimKind::Always => "always",
            ClaimKind::Sometimes => "sometimes",
            ClaimKind::Eventually => "eventually",
            ClaimKind::LeadsTo => "leads-to",
        }
    }
}

/// The outcome of checking one claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Whether the verdict is the claim's success: holds or reachable.
    pub fn is_success(self) -> bool {
        matches!(self, Verdict::Holds | Verdict::Reachable)
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
    /// Whether a step can undo a discovery of this claim (turn a counterexample or a witness
    /// state into one that is not; for an `eventually` claim, turn its condition false again).
    /// A step for which this is false is one the partial-order reduction may postpone while
    /// the claim is undecided (ARCHITECTURE.md, "Partial-order reduction"); the tests check it on
    /// every edge of every scenario's full state graph.
    pub undone_by: fn(&Scenario, &Step) -> bool,
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
            ClaimKind::Always | ClaimKind::LeadsTo => Property::always(self.id, self.condition),
            ClaimKind::Sometimes => Property::sometimes(self.id, self.condition),
            ClaimKind::Eventually => Property::eventually(self.id, self.condition),
        }
    }

    pub fn expectation(&self) -> Expectation {
        match self.kind {
            ClaimKind::Always | ClaimKind::LeadsTo => Expectation::Always,
            ClaimKind::Sometimes => Expectation::Sometimes,
            ClaimKind::Eventually => Expectation::Eventually,
        }
    }

    /// Whether `state` on its own is a discovery for this claim: a counterexample of an
    /// `always` claim or a witness of a `sometimes` claim. (An `eventually` claim is decided
    /// on runs, not states: see `check.rs`.)
    pub fn discovered(&self, m: &ProtocolModel, state: &State) -> bool {
        let c = (self.condition)(m, state);
        match self.kind {
            ClaimKind::Always | ClaimKind::LeadsTo => !c,
            ClaimKind::Sometimes => c,
            ClaimKind::Eventually => false,
        }
    }

    /// The verdict when a discovery was (or was not) found.
    pub fn verdict(&self, discovered: bool) -> Verdict {
        verdict_of(self.kind, discovered)
    }
}

pub fn find(id: &str) -> Option<&'static Claim> {
    CATALOGUE.iter().find(|c| c.id == id)
}

/// A claim written in the claim language (`formula.rs`), in a scenario's `[[claim]]` table, a
/// claims file or on the command line.
#[derive(Debug)]
pub struct UserClaim {
    pub id: String,
    pub statement: String,
    pub source: Option<String>,
    /// The file (or `--claim`) it was written in, for reports.
    pub origin: String,
    pub formula: Formula,
    /// What the formula reads, by the direction a change must take to undo a discovery.
    discovery_reads: Reads,
    /// For `always (p implies q)` (under any `forall`s): `sometimes exists … p`, checked beside
    /// the claim (a property of its own, so the reduction keeps it too); when it is
    /// unreachable the claim holds vacuously.
    pub premise: Option<(Formula, Reads)>,
    name: &'static str,
}

impl UserClaim {
    pub fn new(
        id: String,
        statement: String,
        source: Option<String>,
        origin: String,
        formula: Formula,
    ) -> Self {
        let reads = formula.reads();
        let discovery_reads = match formula.kind() {
            ClaimKind::Always | ClaimKind::LeadsTo => reads.negated(),
            ClaimKind::Sometimes | ClaimKind::Eventually => reads,
        };
        let premise = formula.premise().map(|p| {
            let r = p.reads();
            (p, r)
        });
        let name = static_name(&id);
        UserClaim {
            id,
            statement,
            source,
            origin,
            formula,
            discovery_reads,
            premise,
            name,
        }
    }

    /// Whether `step` can undo a discovery: it writes a part the discovery condition reads in
    /// the direction that can make it false (or is a global step). `writes` are the step's
    /// declared writes (`footprints.rs`), which the tests check on every edge of full graphs.
    pub fn undone_by(&self, writes: Option<Writes>) -> bool {
        undoes(self.discovery_reads, writes)
    }
}

/// Whether a step with `writes` (`None`: a global step) can undo a discovery whose condition
/// reads `reads`.
pub fn undoes(reads: Reads, writes: Option<Writes>) -> bool {
    match writes {
        None => true,
        Some(w) => {
            reads.pos & w.shrink != 0
                || reads.neg & w.grow & !w.fresh != 0
                || reads.enum_neg & w.grow != 0
        }
    }
}

/// What one step may change in the parts formulas read: parts that may grow, parts that may
/// shrink (a part that may change either way is in both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Writes {
    pub grow: u32,
    pub shrink: u32,
    /// Of `grow`, the parts that grow only by records new to the state: in none of its
    /// record collections before the step. Such a growth changes no membership a formula can
    /// test in the state before (its records all come from those collections), only what a
    /// quantifier over the part ranges over.
    pub fresh: u32,
}

/// A claim of a scenario: one of the catalogue, or one written in the claim language.
#[derive(Clone, Debug)]
pub enum ClaimDef {
    Catalogue(&'static Claim),
    User(Arc<UserClaim>),
}

impl ClaimDef {
    pub fn id(&self) -> &str {
        match self {
            ClaimDef::Catalogue(c) => c.id,
            ClaimDef::User(u) => &u.id,
        }
    }
    pub fn kind(&self) -> ClaimKind {
        match self {
            ClaimDef::Catalogue(c) => c.kind,
            ClaimDef::User(u) => u.formula.kind(),
        }
    }
    pub fn statement(&self) -> &str {
        match self {
            ClaimDef::Catalogue(c) => c.statement,
            ClaimDef::User(u) => &u.statement,
        }
    }
    pub fn source(&self) -> Option<&str> {
        match self {
            ClaimDef::Catalogue(c) => Some(c.source),
            ClaimDef::User(u) => u.source.as_deref(),
        }
    }
    /// The formula, for a claim written in the language.
    pub fn formula(&self) -> Option<&Formula> {
        match self {
            ClaimDef::Catalogue(_) => None,
            ClaimDef::User(u) => Some(&u.formula),
        }
    }
    /// The claim's condition in `state` (the invariant, the witness, or the eventual goal).
    pub fn condition(&self, m: &ProtocolModel, state: &State) -> bool {
        match self {
            ClaimDef::Catalogue(c) => (c.condition)(m, state),
            ClaimDef::User(u) => u.formula.holds(m, state),
        }
    }
    /// Whether `state` is a discovery: a counterexample of an `always` claim or a witness of a
    /// `sometimes` claim.
    pub fn discovered(&self, m: &ProtocolModel, state: &State) -> bool {
        let c = self.condition(m, state);
        match self.kind() {
            ClaimKind::Always | ClaimKind::LeadsTo => !c,
            ClaimKind::Sometimes => c,
            ClaimKind::Eventually => false,
        }
    }
    /// The verdict when a discovery was (or was not) found.
    pub fn verdict(&self, discovered: bool) -> Verdict {
        verdict_of(self.kind(), discovered)
    }
    fn name(&self) -> &'static str {
        match self {
            ClaimDef::Catalogue(c) => c.id,
            ClaimDef::User(u) => u.name,
        }
    }
}

/// The verdict of a claim of `kind` when a discovery was (or was not) found.
pub fn verdict_of(kind: ClaimKind, discovered: bool) -> Verdict {
    match (kind, discovered) {
        (ClaimKind::Always | ClaimKind::Eventually | ClaimKind::LeadsTo, false) => Verdict::Holds,
        (ClaimKind::Always | ClaimKind::Eventually | ClaimKind::LeadsTo, true) => Verdict::Violated,
        (ClaimKind::Sometimes, true) => Verdict::Reachable,
        (ClaimKind::Sometimes, false) => Verdict::Unreachable,
    }
}

/// Property names live as long as the program (stateright's properties name themselves with a
/// `&'static str`): each distinct claim id is stored once, however many scenarios use it.
fn static_name(id: &str) -> &'static str {
    static NAMES: std::sync::Mutex<BTreeSet<&'static str>> = std::sync::Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.get(id) {
        return n;
    }
    let n: &'static str = Box::leak(id.to_string().into_boxed_str());
    names.insert(n);
    n
}

/// The most claims one scenario may have: the catalogue and up to 48 of its own (each
/// claim is a stateright property, whose condition is a plain function: one per position).
pub const MAX_CLAIMS: usize = 64;

/// The condition of the scenario's property at position `I`: its claims, then the premises of
/// its `always (p implies q)` claims (see [`UserClaim::premise`]).
fn claim_at<const I: usize>(m: &ProtocolModel, s: &State) -> bool {
    match m.scenario.claims.get(I) {
        Some(c) => c.condition(m, s),
        None => premises(&m.scenario)
            .nth(I - m.scenario.claims.len())
            .is_some_and(|(_, (p, _))| p.holds(m, s)),
    }
}

/// The premises of the scenario's claims, with the position of their claim.
pub fn premises(s: &Scenario) -> impl Iterator<Item = (usize, &(Formula, Reads))> + '_ {
    s.claims.iter().enumerate().filter_map(|(i, c)| match c {
        ClaimDef::User(u) => u.premise.as_ref().map(|p| (i, p)),
        ClaimDef::Catalogue(_) => None,
    })
}

/// Whether property `p` of the scenario (a claim, or a premise after them) can be undone by a
/// step whose declared writes `writes` gives (asked only for claims written in the language),
/// or, for a catalogue claim, by `step` itself.
pub fn property_undone_by(
    s: &Scenario,
    p: usize,
    step: &Step,
    writes: impl FnOnce() -> Option<Writes>,
) -> bool {
    match s.claims.get(p) {
        Some(ClaimDef::Catalogue(c)) => (c.undone_by)(s, step),
        Some(ClaimDef::User(u)) => u.undone_by(writes()),
        None => premises(s)
            .nth(p - s.claims.len())
            .is_none_or(|(_, (_, r))| undoes(*r, writes())),
    }
}

/// What property `p` of the scenario (a claim, or a premise after them) reads, if it is
/// written in the claim language (a catalogue condition's reads are not computed).
pub fn property_reads(s: &Scenario, p: usize) -> Option<Reads> {
    match s.claims.get(p) {
        Some(ClaimDef::Catalogue(_)) => None,
        // Whether a run has ended depends on the whole state.
        Some(ClaimDef::User(u)) if u.formula.reads_ended() => None,
        Some(ClaimDef::User(u)) => Some(u.discovery_reads),
        None => premises(s).nth(p - s.claims.len()).map(|(_, (_, r))| *r),
    }
}

macro_rules! conditions {
    ($($i:literal)*) => {
        [$(claim_at::<$i> as fn(&ProtocolModel, &State) -> bool),*]
    };
}

static CONDITIONS: [fn(&ProtocolModel, &State) -> bool; MAX_CLAIMS] = conditions!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63
);

/// The scenario's claims as stateright properties, in the order of `scenario.claims`, then
/// the premises of its `always (p implies q)` claims, as `sometimes` properties named
/// `ID (premise)`.
pub fn properties(scenario: &Scenario) -> Vec<Property<ProtocolModel>> {
    let mut out: Vec<Property<ProtocolModel>> = scenario
        .claims
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (name, cond) = (c.name(), CONDITIONS[i]);
            match c.kind() {
                ClaimKind::Always | ClaimKind::LeadsTo => Property::always(name, cond),
                ClaimKind::Sometimes => Property::sometimes(name, cond),
                ClaimKind::Eventually => Property::eventually(name, cond),
            }
        })
        .collect();
    let n = out.len();
    for (j, (i, _)) in premises(scenario).enumerate() {
        // A name of its own: stateright's checkers report discoveries by name.
        let name = static_name(&format!("{} (premise)", scenario.claims[i].id()));
        out.push(Property::sometimes(name, CONDITIONS[n + j]));
    }
    out
}

const FAQ: &str =
    "Apple's 2016 law-enforcement FAQ on iMessage lookup logs (made public by The Intercept)";
const GUIDE: &str =
    "Apple Platform Security guide: iMessage, and Contact Key Verification (iOS 17.2)";
const GHOST: &str = "Levy and Robinson, 'Principles for a More Informed Exceptional Access Debate' (Lawfare, 2018): the ghost-user proposal";
const SIGNAL: &str = "Signal's private contact discovery (2017) and sealed sender (2018) designs";
const CARRIER: &str = "Apple Platform Security guide: SMS fallback is not end-to-end encrypted";

/// The catalogue, in the order reports list it.
pub static CATALOGUE: [Claim; 16] = [
    Claim {
        id: "content-never-in-lookup-log",
        kind: ClaimKind::Always,
        statement: "No lookup-log record lets its holder derive any message content.",
        source: FAQ,
        condition: content_never_in_lookup_log,
        undone_by: undo::by_log,
    },
    Claim {
        id: "no-server-learns-content",
        kind: ClaimKind::Always,
        statement: "The directory, the lookup log, the relay and the authority never derive message content.",
        source: GUIDE,
        condition: no_server_learns_content,
        undone_by: undo::by_log,
    },
    Claim {
        id: "ghost-device-detected",
        kind: ClaimKind::Always,
        statement: "Whenever content sent over iMessage is derived by anyone but the sender's and the recipient's own devices, a device of the sender's account has raised an alert about the recipient.",
        source: GHOST,
        condition: ghost_device_detected,
        undone_by: undo::by_an_alert,
    },
    Claim {
        id: "content-authentic",
        kind: ClaimKind::Always,
        statement: "A device accepts content as from A only if a device of A produced it.",
        source: GUIDE,
        condition: content_authentic,
        undone_by: undo::never,
    },
    Claim {
        id: "sms-fallback-exposes-content",
        kind: ClaimKind::Sometimes,
        statement: "The carrier can hold a message's plaintext.",
        source: CARRIER,
        condition: sms_fallback_exposes_content,
        undone_by: undo::never,
    },
    Claim {
        id: "no-downgrade-to-sms",
        kind: ClaimKind::Always,
        statement: "Content sent to a handle registered for iMessage never travels by SMS.",
        source: GUIDE,
        condition: no_downgrade_to_sms,
        undone_by: undo::never,
    },
    Claim {
        id: "lookup-always-logged",
        kind: ClaimKind::Always,
        statement: "Every lookup the directory answered has its record (requester, target, day, IP, device count) in the log or on its way there, until retention purges it.",
        source: FAQ,
        condition: lookup_always_logged,
        undone_by: undo::by_log_restoring,
    },
    Claim {
        id: "lookup-logged-without-message",
        kind: ClaimKind::Sometimes,
        statement: "The log shows that A looked up B although A has not sent B a message and has no send to B left to make.",
        source: FAQ,
        condition: lookup_logged_without_message,
        undone_by: undo::by_log_or_a_lost_send,
    },
    Claim {
        id: "message-without-logged-lookup",
        kind: ClaimKind::Sometimes,
        statement: "A has sent B a message while the log holds no record of A looking B up.",
        source: FAQ,
        condition: message_without_logged_lookup,
        undone_by: undo::by_a_log_write,
    },
    Claim {
        id: "retention-respected",
        kind: ClaimKind::Always,
        statement: "No record older than the retention window is ever disclosed.",
        source: FAQ,
        condition: retention_respected,
        undone_by: undo::never,
    },
    Claim {
        id: "authority-learns-contact",
        kind: ClaimKind::Sometimes,
        statement: "A legal request discloses that one handle looked up another.",
        source: FAQ,
        condition: authority_learns_contact,
        undone_by: undo::never,
    },
    Claim {
        id: "authority-links-handle-to-ip",
        kind: ClaimKind::Sometimes,
        statement: "A legal request discloses a (handle, IP address) pair.",
        source: FAQ,
        condition: authority_links_handle_to_ip,
        undone_by: undo::never,
    },
    Claim {
        id: "registration-oracle",
        kind: ClaimKind::Sometimes,
        statement: "A requester learns, truthfully, whether a handle is registered for iMessage.",
        source: FAQ,
        condition: registration_oracle,
        undone_by: undo::never,
    },
    Claim {
        id: "relay-learns-contact",
        kind: ClaimKind::Sometimes,
        statement: "The push relay can derive who sent a message to whom.",
        source: SIGNAL,
        condition: relay_learns_contact,
        undone_by: undo::never,
    },
    Claim {
        id: "operator-learns-contact",
        kind: ClaimKind::Sometimes,
        statement: "The operator (what the directory and the relay know, together) can derive that one account sent a message to another.",
        source: SIGNAL,
        condition: operator_learns_contact,
        undone_by: undo::never,
    },
    Claim {
        id: "message-eventually-delivered",
        kind: ClaimKind::Eventually,
        statement: "On every run that ends, every message of the workload is sent and reaches every device of its target, or the carrier.",
        source: GUIDE,
        condition: all_messages_delivered,
        undone_by: undo::never,
    },
];

/// Whether a party's knowledge holds any content a user composed (the key-swap adversary's
/// own forgery does not count: it is no one's message).
fn holds_user_content(k: &Knowledge) -> bool {
    k.contents().any(|c| c != ContentId::FORGED)
}

fn content_never_in_lookup_log(_: &ProtocolModel, s: &State) -> bool {
    !holds_user_content(&model::log(s).knowledge)
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
    !server_knowledge(s).iter().any(|k| holds_user_content(k))
}

fn ghost_device_detected(m: &ProtocolModel, s: &State) -> bool {
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
        // The alert that counts is the sender's, about the very handle it wrote to.
        let alerted = account_devices(m, s, from).any(|(_, d)| d.alerts.contains(&to));
        !(by_server || by_other_device) || alerted
    })
}

fn content_authentic(m: &ProtocolModel, s: &State) -> bool {
    model::devices(s).all(|(_, d)| {
        d.accepted
            .iter()
            .all(|(from, c)| m.scenario.sender_of(*c).map(|(_, a)| a) == Some(*from))
    })
}

fn sms_fallback_exposes_content(_: &ProtocolModel, s: &State) -> bool {
    holds_user_content(&model::carrier(s).knowledge)
}

fn lookup_always_logged(m: &ProtocolModel, s: &State) -> bool {
    let today = ProtocolModel::today(s);
    let log = model::log(s);
    model::directory(s).answered.iter().all(|r| {
        !LogState::keeps(&m.scenario, r, today) || log.records.contains(r) || on_its_way(s, r)
    })
}

/// Whether a record is on its way to the log: a copy is in flight and the log has never
/// received it (a copy of a record already delivered, which a duplicating network keeps in
/// flight, is not on its way: the record reached the log once and may have been lost there).
fn on_its_way(s: &State, r: &crate::protocol::wire::Record) -> bool {
    model::log(s).awaits(r)
        && model::in_flight(s).any(|msg| matches!(msg, Msg::LogWrite(x) if x == r))
}

/// The devices of account `a`, with their states.
fn account_devices<'s>(
    m: &'s ProtocolModel,
    s: &'s State,
    a: AccountId,
) -> impl Iterator<Item = (DeviceId, &'s crate::protocol::DeviceState)> + 's {
    model::devices(s).filter(move |(id, _)| m.scenario.device(*id).account == a)
}

/// Whether device `d` can still send to `to` in some continuation of `s`: a send action to
/// `to` has not fired and its day has not passed; or a send is queued for `to` and either a
/// lookup of `to` is still to fire (its answer releases the queue) or the lookup it waits for
/// is still alive (in flight, held by the directory, or answered on its way back).
pub fn may_still_send(m: &ProtocolModel, s: &State, d: DeviceId, to: AccountId) -> bool {
    let today = ProtocolModel::today(s);
    let queued = model::device(s, d).queued.iter().any(|(t, _)| *t == to);
    // A send still to fire, or a lookup still to fire whose answer will release a queued send.
    let unfired = model::pending_actions(s, d).any(|n| {
        let a = m.scenario.device(d).actions[n as usize];
        a.target == to
            && (matches!(a.kind, ActionKind::Send(_)) || queued)
            && a.day.is_none_or(|day| day >= today)
    });
    if unfired {
        return true;
    }
    if !queued {
        return false;
    }
    let me = Role::Device(d);
    let held = model::directory(s)
        .held
        .iter()
        .any(|(dev, _, t, _)| *dev == d && *t == to);
    held || model::in_flight_envelopes(s).any(|(src, dst, msg)| match msg {
        Msg::Lookup(q) => src == me && q.target == to,
        Msg::LookupReply { target, .. } => dst == me && *target == to,
        _ => false,
    })
}

fn lookup_logged_without_message(m: &ProtocolModel, s: &State) -> bool {
    model::log(s).records.iter().any(|r| {
        let Some(target) = r.target else {
            return false; // A record without a target shows no one was looked up.
        };
        account_devices(m, s, r.requester).all(|(d, dev)| {
            !dev.sent.iter().any(|x| x.to == target) && !may_still_send(m, s, d, target)
        })
    })
}

fn message_without_logged_lookup(m: &ProtocolModel, s: &State) -> bool {
    // A record on its way to the log counts as logged, as for `lookup-always-logged` (a copy
    // of a record the log already received is not on its way).
    let matches = |r: &crate::protocol::wire::Record, from: AccountId, to: AccountId| {
        r.requester == from && r.target == Some(to)
    };
    model::devices(s).any(|(id, dev)| {
        let from = m.scenario.device(id).account;
        dev.sent.iter().any(|x| {
            !model::log(s).records.iter().any(|r| matches(r, from, x.to))
                && !model::in_flight(s).any(|msg| {
                    matches!(msg, Msg::LogWrite(r) if matches(r, from, x.to) && model::log(s).awaits(r))
                })
        })
    })
}

fn no_downgrade_to_sms(m: &ProtocolModel, s: &State) -> bool {
    model::devices(s).all(|(_, d)| {
        d.sent
            .iter()
            .all(|x| x.channel != Channel::Sms || !m.scenario.account(x.to).registered)
    })
}

fn retention_respected(m: &ProtocolModel, s: &State) -> bool {
    model::authority(s)
        .disclosed
        .iter()
        .all(|(on, r)| !expired(&m.scenario, r.day, *on))
}

fn authority_learns_contact(_: &ProtocolModel, s: &State) -> bool {
    // A record that names its requester and its target is one contact.
    let k = &model::authority(s).knowledge;
    model::authority(s).disclosed.iter().any(|(_, r)| {
        r.target.is_some_and(|t| {
            t != r.requester && k.derives(&Term::Handle(r.requester)) && k.derives(&Term::Handle(t))
        })
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

fn registration_oracle(m: &ProtocolModel, s: &State) -> bool {
    model::devices(s).any(|(_, d)| {
        d.cache.iter().chain(&d.keys).any(|(h, answer)| {
            let truly = m.scenario.account(*h).registered;
            match answer {
                Answer::NotRegistered => !truly,
                Answer::Devices(_) => truly,
            }
        })
    })
}

fn relay_learns_contact(_: &ProtocolModel, s: &State) -> bool {
    // An envelope the relay analysed names a sender and a target side by side.
    model::relay(s).knowledge.terms().any(|t| match t {
        Term::Pair(a, rest) => match (&**a, &**rest) {
            (Term::Handle(x), Term::Pair(b, _)) => matches!(&**b, Term::Handle(y) if y != x),
            _ => false,
        },
        _ => false,
    })
}

/// The (sender, target) pairs the operator can derive from what the directory and the relay
/// hold together: an envelope naming both handles; a pushing connection (a device's token
/// paired with the target) whose token the directory's registry ties to an account; a key query
/// (a device's token paired with the handle whose keys it asked for, after a message claiming
/// to be from that handle) whose token the registry ties to the recipient's account.
fn operator_contacts(m: &ProtocolModel, s: &State) -> Vec<(AccountId, AccountId)> {
    let directory = &model::directory(s).knowledge;
    let relay = &model::relay(s).knowledge;
    // Whose a device's token is, as the registry says.
    let owner = |t: &Term| match t {
        Term::Token(tok @ crate::knowledge::Token::Device(d)) => {
            let a = m.scenario.device(*d).account;
            let registered = Term::pair(Term::Handle(a), Term::Token(*tok));
            directory.terms().any(|x| *x == registered).then_some(a)
        }
        _ => None,
    };
    let mut out = Vec::new();
    for t in relay.terms().chain(directory.terms()) {
        let Term::Pair(a, rest) = t else { continue };
        match (&**a, &**rest) {
            // An envelope: sender, then target.
            (Term::Handle(x), Term::Pair(b, _)) => {
                if let Term::Handle(y) = &**b {
                    out.push((*x, *y));
                }
            }
            (tok @ Term::Token(_), Term::Handle(h)) => {
                let Some(a) = owner(tok) else { continue };
                if relay.terms().any(|x| x == t) {
                    out.push((a, *h)); // A pushing connection: its device wrote to `h`.
                }
                if directory.terms().any(|x| x == t) {
                    out.push((*h, a)); // A key query: its device heard from `h`.
                }
            }
            _ => {}
        }
    }
    out.retain(|(x, y)| x != y);
    out
}

fn operator_learns_contact(m: &ProtocolModel, s: &State) -> bool {
    // A contact counts when it is true: a device of the sender did send the target a message.
    operator_contacts(m, s).into_iter().any(|(from, to)| {
        account_devices(m, s, from).any(|(_, d)| d.sent.iter().any(|x| x.to == to))
    })
}

fn all_messages_delivered(m: &ProtocolModel, s: &State) -> bool {
    let carrier = &model::carrier(s).knowledge;
    m.scenario.devices.iter().all(|d| {
        d.actions.iter().all(|a| match a.kind {
            ActionKind::Lookup | ActionKind::Type | ActionKind::Read => true,
            ActionKind::Send(c) => {
                carrier.knows_content(c)
                    || m.scenario
                        .account(a.target)
                        .devices
                        .iter()
                        .all(|r| model::device(s, *r).learned.contains(&c))
                        && m.scenario.account(a.target).registered
            }
        })
    })
}

/// Which steps can undo a discovery, claim by claim (see [`Claim::undone_by`]). Each function
/// names what the claim's condition reads that can shrink; everything else it reads only grows
/// (knowledge, sent, learned, accepted, alerts, disclosures, answered lookups).
mod undo {
    use crate::model::Step;
    use crate::protocol::wire::Msg;
    use crate::protocol::{role_of, Role};
    use crate::scenario::Scenario;
    use stateright::actor::ActorModelAction;

    /// The role that takes a step, and the message it receives (for a delivery).
    fn taken_by(step: &Step) -> Option<(Role, Option<&Msg>)> {
        match step {
            Step::Tick => None,
            Step::Actor(a) => match a {
                ActorModelAction::Deliver { dst, msg, .. } => Some((role_of(*dst), Some(msg))),
                ActorModelAction::Drop(env) => Some((role_of(env.dst), None)),
                ActorModelAction::Timeout(id, _)
                | ActorModelAction::Crash(id)
                | ActorModelAction::Recover(id) => Some((role_of(*id), None)),
                ActorModelAction::SelectRandom { .. } => None,
            },
        }
    }

    /// A claim whose condition reads only sets that grow.
    pub fn never(_: &Scenario, _: &Step) -> bool {
        false
    }

    /// Whether a step of the log can make it forget: only its crash and its restart from stable
    /// storage replace its records and knowledge; every message it receives only adds to them.
    /// (The clock's purge is a global step, never postponed.)
    fn log_forgets(step: &Step) -> bool {
        matches!(
            step,
            Step::Actor(ActorModelAction::Crash(_) | ActorModelAction::Recover(_))
        )
    }

    /// The log's knowledge shrinks only when it forgets.
    pub fn by_log(_: &Scenario, step: &Step) -> bool {
        taken_by(step).is_none() || log_forgets(step)
    }

    /// An alert makes a leak detected; only a device verifying keys (Contact Key Verification)
    /// raises one, when it receives an answer. The leak itself can be undone only where the
    /// log's knowledge shrinks.
    pub fn by_an_alert(s: &Scenario, step: &Step) -> bool {
        match taken_by(step) {
            None => true,
            Some((Role::LookupLog, _)) => log_forgets(step),
            Some((Role::Device(_), Some(Msg::LookupReply { .. } | Msg::KeyReply { .. }))) => {
                s.features.ckv
            }
            _ => false,
        }
    }

    /// A missing record (answered, neither in the log nor on its way) is found again only when
    /// the log restores it: every lookup has its own record (its `LookupId`), so a record the
    /// directory sends for a new lookup is never one already answered, and a record the log
    /// receives was on its way, so it was not missing.
    pub fn by_log_restoring(s: &Scenario, step: &Step) -> bool {
        by_log(s, step)
    }

    /// A record of A looking B up, with no message from A to B and none still possible, is
    /// undone by the log losing the record; and, on a lossy network only, by a device sending
    /// after all: a send queued behind a lost lookup is released when another lookup of the
    /// same handle is answered. On other networks a queued send always has its lookup alive, so
    /// "no send still possible" stays true once it is.
    pub fn by_log_or_a_lost_send(s: &Scenario, step: &Step) -> bool {
        match taken_by(step) {
            None => true,
            Some((Role::LookupLog, _)) => log_forgets(step),
            Some((Role::Device(_), None)) => s.lossy,
            Some((Role::Device(_), Some(Msg::LookupReply { .. }))) => s.lossy,
            _ => false,
        }
    }

    /// A message with no record of its lookup is undone by the log restoring a record, or by
    /// the directory sending a record for a new lookup. (The log receiving a record cannot undo
    /// it: that record was on its way.)
    pub fn by_a_log_write(_: &Scenario, step: &Step) -> bool {
        match taken_by(step) {
            None => true,
            Some((Role::LookupLog, _)) => log_forgets(step),
            Some((Role::Directory, Some(Msg::Lookup(_)))) => true,
            _ => false,
        }
    }
}
