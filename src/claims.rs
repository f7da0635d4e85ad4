//! The catalogue's conditions (docs/design.md §7; the claims' ids, statements and sources are
//! in `claim.rs`), and a scenario's claims as stateright properties: the catalogue's by these
//! functions, those written in the claim language by their formulas (`formula/eval.rs`).
//!
//! Conditions read what parties can *derive* (their [`Knowledge`] and the
//! facts their handlers recorded), never a flag set by the step that leaks.
//! For an `always` claim the condition is the invariant; for a `sometimes`
//! claim it describes the witness state.

use crate::claim::static_name;
pub use crate::claim::{find, Claim, ClaimDef, UserClaim, CATALOGUE, MAX_CLAIMS};
use crate::formula::eval::may_still_send;
use crate::formula::tree::{undoes, Formula, Reads, Writes};
use crate::knowledge::{AccountId, ContentId, DeviceId, Knowledge, Term};
use crate::model::ProtocolModel;
use crate::protocol::lookup_log::expired;
use crate::protocol::wire::{Answer, Channel, Msg};
use crate::protocol::LogState;
use crate::scenario::{ActionKind, Scenario};
use crate::state::{self as model, State, Step};
pub use crate::verdict::{verdict_of, ClaimKind, Verdict};
use stateright::Property;

/// A claim's condition read on a state of the model.
pub trait Conditions {
    /// The claim's condition in `state` (the invariant, the witness, or the eventual goal).
    fn condition(&self, m: &ProtocolModel, state: &State) -> bool;
    /// The claim's kind.
    fn claim_kind(&self) -> ClaimKind;
    /// Whether `state` on its own is a discovery: a counterexample of an `always` claim or a
    /// witness of a `sometimes` claim. (An `eventually` claim is decided on runs, not states:
    /// see `check.rs`.)
    fn discovered(&self, m: &ProtocolModel, state: &State) -> bool {
        let c = self.condition(m, state);
        match self.claim_kind() {
            ClaimKind::Always | ClaimKind::LeadsTo => !c,
            ClaimKind::Sometimes => c,
            ClaimKind::Eventually => false,
        }
    }
}

impl Conditions for Claim {
    fn condition(&self, m: &ProtocolModel, state: &State) -> bool {
        (RULES[self.position].condition)(m, state)
    }
    fn claim_kind(&self) -> ClaimKind {
        self.kind
    }
}

impl Conditions for ClaimDef {
    fn condition(&self, m: &ProtocolModel, state: &State) -> bool {
        match self {
            ClaimDef::Catalogue(c) => c.condition(m, state),
            ClaimDef::User(u) => u.formula.holds(m, state),
        }
    }
    fn claim_kind(&self) -> ClaimKind {
        self.kind()
    }
}

/// What the catalogue holds of a claim besides its words: its condition, and whether a step
/// can undo a discovery of it (turn a counterexample or a witness state into one that is not;
/// for an `eventually` claim, turn its condition false again). A step for which `undone_by` is
/// false is one the partial-order reduction may postpone while the claim is undecided
/// (ARCHITECTURE.md, "Partial-order reduction"); the tests check it on every edge of every
/// scenario's full state graph.
struct Rule {
    id: &'static str,
    condition: fn(&ProtocolModel, &State) -> bool,
    undone_by: fn(&Scenario, &Step) -> bool,
}

/// The catalogue claim's property.
pub fn property(c: &Claim) -> Property<ProtocolModel> {
    let cond = RULES[c.position].condition;
    match c.kind {
        ClaimKind::Always | ClaimKind::LeadsTo => Property::always(c.id, cond),
        ClaimKind::Sometimes => Property::sometimes(c.id, cond),
        ClaimKind::Eventually => Property::eventually(c.id, cond),
    }
}

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
        Some(ClaimDef::Catalogue(c)) => (RULES[c.position].undone_by)(s, step),
        Some(ClaimDef::User(u)) => u.undone_by(writes()),
        None => premises(s)
            .nth(p - s.claims.len())
            .is_none_or(|(_, (_, r))| undoes(*r, writes())),
    }
}

/// The premise property of claim `p`, if it has one (its position after the claims): a state
/// that is a counterexample of `always (φ implies ψ)` satisfies `φ`, and one of `φ leads-to ψ`
/// is reached through a state that does, so while the premise is undiscovered the claim cannot
/// be discovered either (see [`crate::engine::Footprints::guard`]).
pub fn property_guard(s: &Scenario, p: usize) -> Option<usize> {
    premises(s)
        .position(|(i, _)| i == p)
        .map(|j| s.claims.len() + j)
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

/// The catalogue's conditions and what can undo their discoveries, in the order of [`CATALOGUE`]
/// (by id: a test checks the order).
static RULES: [Rule; 16] = [
    Rule {
        id: "content-never-in-lookup-log",
        condition: content_never_in_lookup_log,
        undone_by: undo::by_log,
    },
    Rule {
        id: "no-server-learns-content",
        condition: no_server_learns_content,
        undone_by: undo::by_log,
    },
    Rule {
        id: "ghost-device-detected",
        condition: ghost_device_detected,
        undone_by: undo::by_an_alert,
    },
    Rule {
        id: "content-authentic",
        condition: content_authentic,
        undone_by: undo::never,
    },
    Rule {
        id: "sms-fallback-exposes-content",
        condition: sms_fallback_exposes_content,
        undone_by: undo::never,
    },
    Rule {
        id: "no-downgrade-to-sms",
        condition: no_downgrade_to_sms,
        undone_by: undo::never,
    },
    Rule {
        id: "lookup-always-logged",
        condition: lookup_always_logged,
        undone_by: undo::by_log_restoring,
    },
    Rule {
        id: "lookup-logged-without-message",
        condition: lookup_logged_without_message,
        undone_by: undo::by_log_or_a_lost_send,
    },
    Rule {
        id: "message-without-logged-lookup",
        condition: message_without_logged_lookup,
        undone_by: undo::by_a_log_write,
    },
    Rule {
        id: "retention-respected",
        condition: retention_respected,
        undone_by: undo::never,
    },
    Rule {
        id: "authority-learns-contact",
        condition: authority_learns_contact,
        undone_by: undo::never,
    },
    Rule {
        id: "authority-links-handle-to-ip",
        condition: authority_links_handle_to_ip,
        undone_by: undo::never,
    },
    Rule {
        id: "registration-oracle",
        condition: registration_oracle,
        undone_by: undo::never,
    },
    Rule {
        id: "relay-learns-contact",
        condition: relay_learns_contact,
        undone_by: undo::never,
    },
    Rule {
        id: "operator-learns-contact",
        condition: operator_learns_contact,
        undone_by: undo::never,
    },
    Rule {
        id: "message-eventually-delivered",
        condition: all_messages_delivered,
        undone_by: undo::never,
    },
];

// Each rule stands at its claim's place in the catalogue: checked when the crate compiles.
const _: () = {
    let mut i = 0;
    while i < RULES.len() {
        assert!(
            same(RULES[i].id, CATALOGUE[i].id),
            "RULES follows CATALOGUE's order"
        );
        i += 1;
    }
};

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

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

fn lookup_logged_without_message(m: &ProtocolModel, s: &State) -> bool {
    model::log(s).records.iter().any(|r| {
        let Some(target) = r.target else {
            return false; // A record without a target shows no one was looked up.
        };
        account_devices(m, s, r.requester).all(|(d, dev)| {
            !dev.sent.iter().any(|x| x.to == target) && !may_still_send(&m.scenario, s, d, target)
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
            ActionKind::Lookup | ActionKind::Refresh | ActionKind::Type | ActionKind::Read => true,
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
    use crate::protocol::wire::Msg;
    use crate::protocol::{role_of, Role};
    use crate::scenario::Scenario;
    use crate::state::Step;
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
    /// A device's query for a sender's keys makes a record too when it is logged.
    pub fn by_a_log_write(s: &Scenario, step: &Step) -> bool {
        match taken_by(step) {
            None => true,
            Some((Role::LookupLog, _)) => log_forgets(step),
            Some((Role::Directory, Some(Msg::Lookup(_)))) => true,
            Some((Role::Directory, Some(Msg::KeyQuery { .. }))) => s.sender_lookup_logged,
            _ => false,
        }
    }
}
