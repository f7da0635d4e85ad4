//! What each step of the protocol touches: the protocol's side of the search
//! engine's interface ([`Footprints`]); how a state is cut into parts for
//! compact storage is `parts.rs`.
//!
//! The owner of a step is the actor that takes it (the recipient of a
//! delivery or a drop, the owner of a timer, the log for its crash and
//! restart); the clock's tick is the only global step. Everything here is
//! argued in ARCHITECTURE.md ("Partial-order reduction") and checked by the
//! tests on the full state graph of every scenario.

use crate::engine::{Footprints, Owners};
use crate::knowledge::DeviceId;
use crate::model::ProtocolModel;
use crate::parts::Part;
use crate::protocol::wire::{Msg, Timer};
use crate::protocol::{actor_id, role_of, Role, SERVERS};
use crate::scenario::{ActionKind, Logging, Order, Scenario, Threat};
use crate::state::{State, Step};
use rustc_hash::FxHashMap;
use stateright::actor::{ActorModelAction, Envelope, Id, Network};
use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A message as the reduction sees it: who receives it and what it may cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Input {
    Timer(Timer),
    Recover,
    Lookup(DeviceId),
    LogAck,
    KeyQuery(DeviceId),
    LogWrite,
    LegalRequest,
    ProspectiveOrder,
    TokenRequest,
    SubscriberRequest,
    /// A push, with the owners its payloads go to.
    Push(Owners),
    /// A delivery receipt, with the owners it goes to.
    Receipt(Owners),
    /// A typing indicator, with the owners it goes to.
    Typing(Owners),
    /// Anything a party receives that makes it send nothing.
    Inert,
    LookupReply,
    Deliver,
}

thread_local! {
    /// [`ProtocolModel::senders_from`] remembered: the scenario it is for, and its results by
    /// (frozen owners, starting input).
    #[allow(clippy::type_complexity)]
    static SENDERS: RefCell<(Option<Arc<Scenario>>, FxHashMap<(Owners, (Id, Input)), Owners>)> =
        RefCell::default();
}

fn bit(id: Id) -> Owners {
    1u64 << usize::from(id)
}

impl ProtocolModel {
    fn input_of(&self, src: Id, msg: &Msg) -> Input {
        match msg {
            Msg::Lookup(_) => match role_of(src) {
                Role::Device(d) => Input::Lookup(d),
                _ => Input::Inert,
            },
            Msg::LogAck(_) => Input::LogAck,
            Msg::KeyQuery { .. } => match role_of(src) {
                Role::Device(d) => Input::KeyQuery(d),
                _ => Input::Inert,
            },
            Msg::LogWrite(_) => Input::LogWrite,
            Msg::LegalRequest { .. } => Input::LegalRequest,
            Msg::ProspectiveOrder { .. } => Input::ProspectiveOrder,
            // Either request for the relay's push records: it answers the authority.
            Msg::TokenRequest { .. } | Msg::ConnectionRequest { .. } => Input::TokenRequest,
            Msg::SubscriberRequest { .. } => Input::SubscriberRequest,
            Msg::Push { payloads, .. } => Input::Push(
                payloads
                    .iter()
                    .map(|(t, _)| bit(crate::protocol::token_holder(*t)))
                    .fold(0, |a, b| a | b),
            ),
            Msg::LookupReply { .. } => Input::LookupReply,
            Msg::Deliver { .. } => Input::Deliver,
            Msg::Receipt { to, .. } => Input::Receipt(self.devices_of(*to)),
            Msg::Typing { tokens, .. } => Input::Typing(
                tokens
                    .iter()
                    .map(|t| bit(crate::protocol::token_holder(*t)))
                    .fold(0, |a, b| a | b),
            ),
            Msg::KeyReply { .. }
            | Msg::Sms { .. }
            | Msg::Disclosure { .. }
            | Msg::TokenDisclosure { .. }
            | Msg::SubscriberDisclosure { .. }
            | Msg::ConnectionDisclosure { .. }
            | Msg::DeliverReceipt { .. }
            | Msg::DeliverTyping { .. } => Input::Inert,
        }
    }

    /// Whether a request of the scenario is a prospective order (the directory then hands
    /// records to the authority as it makes them).
    fn prospective_orders(&self) -> bool {
        self.scenario
            .legal_requests
            .iter()
            .any(|r| r.prospective.is_some())
    }

    /// The owners that are devices of account `to`.
    fn devices_of(&self, to: crate::knowledge::AccountId) -> Owners {
        self.scenario
            .account(to)
            .devices
            .iter()
            .fold(0, |a, d| a | bit(actor_id(Role::Device(*d))))
    }

    /// The owners a push to account `to` may reach.
    fn push_targets(&self, to: crate::knowledge::AccountId) -> Owners {
        let mut t = self.devices_of(to);
        if self.scenario.threat == Threat::GhostDevice {
            t |= bit(actor_id(Role::Directory));
        }
        t
    }

    /// What a device may send for workload action `a` once it has an answer: a push (or an
    /// SMS) for a send, a typing indicator for a `type`.
    /// With own-device copies, a send also pushes to device `d`'s other devices.
    fn dispatch_effects(
        &self,
        d: DeviceId,
        a: crate::scenario::UserAction,
        out: &mut Vec<(Id, Input)>,
    ) {
        let relay = actor_id(Role::Relay);
        match a.kind {
            ActionKind::Send(_) => {
                out.push((relay, Input::Push(self.push_targets(a.target))));
                if self.scenario.features.own_device_copies {
                    let own = self.scenario.device(d).account;
                    let others = self.devices_of(own) & !bit(actor_id(Role::Device(d)));
                    if others != 0 {
                        out.push((relay, Input::Push(others)));
                    }
                }
                out.push((actor_id(Role::Carrier), Input::Inert));
            }
            ActionKind::Type => out.push((relay, Input::Typing(self.push_targets(a.target)))),
            ActionKind::Lookup | ActionKind::Refresh | ActionKind::Read => {}
        }
    }

    /// The owners outside `frozen` that may send to `frozen` on a run that starts with `x`
    /// (an input pending at an owner outside `frozen`) and passes only owners outside it: the
    /// abstract effects followed from `x`. It depends on the scenario alone, so it is
    /// remembered per thread; [`Footprints::senders_to`] is its union over a state's pending
    /// inputs.
    fn senders_from(&self, frozen: Owners, x: (Id, Input)) -> Owners {
        SENDERS.with(|memo| {
            let mut memo = memo.borrow_mut();
            // The memo holds the scenario it was made for, so its address is not reused.
            if !memo
                .0
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, &self.scenario))
            {
                *memo = (Some(Arc::clone(&self.scenario)), Default::default());
            }
            *memo.1.entry((frozen, x)).or_insert_with(|| {
                let mut seen = vec![x];
                let mut work = vec![x];
                let mut senders = 0;
                let mut out = Vec::new();
                while let Some((owner, input)) = work.pop() {
                    out.clear();
                    self.effects(owner, input, &mut out);
                    for &(to, what) in &out {
                        if frozen & bit(to) != 0 {
                            senders |= bit(owner);
                        } else if !seen.contains(&(to, what)) {
                            seen.push((to, what));
                            work.push((to, what));
                        }
                    }
                }
                senders
            })
        })
    }

    /// What `owner` may send when it handles `input`: (recipient, what the recipient gets).
    /// An over-approximation of the handlers of `protocol/`.
    fn effects(&self, owner: Id, input: Input, out: &mut Vec<(Id, Input)>) {
        let s = &self.scenario;
        let directory = actor_id(Role::Directory);
        let relay = actor_id(Role::Relay);
        let log = actor_id(Role::LookupLog);
        let all_devices =
            || (0..s.devices.len()).map(|d| actor_id(Role::Device(DeviceId(d as u8))));
        match (role_of(owner), input) {
            (Role::Device(d), Input::Timer(Timer::UserAction(n))) => {
                out.push((directory, Input::Lookup(d)));
                let a = s.device(d).actions[n as usize];
                if a.kind == ActionKind::Read {
                    out.push((relay, Input::Receipt(self.devices_of(a.target))));
                }
                self.dispatch_effects(d, a, out);
            }
            // Dispatches what waited for the answer: to any account the device's workload
            // writes or types to.
            (Role::Device(d), Input::LookupReply) => {
                for a in &s.device(d).actions {
                    self.dispatch_effects(d, *a, out);
                }
            }
            (Role::Device(d), Input::Deliver) => {
                out.push((directory, Input::KeyQuery(d)));
                // A receipt to whichever account the message claims to come from.
                if s.features.delivery_receipts {
                    let every = all_devices().fold(0, |a, e| a | bit(e));
                    out.push((relay, Input::Receipt(every)));
                }
            }
            (Role::Directory, Input::Lookup(d)) => {
                out.push((log, Input::LogWrite));
                if self.prospective_orders() {
                    out.push((actor_id(Role::Authority), Input::Inert));
                }
                out.push((actor_id(Role::Device(d)), Input::LookupReply));
            }
            (Role::Directory, Input::LogAck) => {
                out.extend(all_devices().map(|d| (d, Input::LookupReply)));
                // The key answer a logged sender lookup held.
                if s.sender_lookup_logged {
                    out.extend(all_devices().map(|d| (d, Input::Inert)));
                }
            }
            (Role::Directory, Input::KeyQuery(d)) => {
                if s.sender_lookup_logged {
                    out.push((log, Input::LogWrite));
                    if self.prospective_orders() {
                        out.push((actor_id(Role::Authority), Input::Inert));
                    }
                }
                out.push((actor_id(Role::Device(d)), Input::Inert));
            }
            (Role::Directory, Input::Timer(Timer::Forge { target, .. })) => {
                out.push((relay, Input::Push(self.push_targets(target))));
            }
            (Role::LookupLog, Input::LogWrite) if s.logging == Logging::BeforeReply => {
                out.push((directory, Input::LogAck));
            }
            (Role::LookupLog, Input::LegalRequest) | (Role::Directory, Input::ProspectiveOrder) => {
                out.push((actor_id(Role::Authority), Input::Inert));
            }
            (Role::Relay, Input::Receipt(targets) | Input::Typing(targets)) => {
                for i in 0..64 {
                    if targets & (1u64 << i) != 0 {
                        out.push((Id::from(i), Input::Inert));
                    }
                }
            }
            (Role::Relay, Input::Push(targets)) => {
                for i in 0..64 {
                    if targets & (1u64 << i) != 0 {
                        out.push((Id::from(i), Input::Deliver));
                    }
                }
            }
            (Role::Authority, Input::Timer(Timer::LegalRequest(n))) => {
                let order = s.legal_requests[n as usize];
                match order.records {
                    crate::scenario::RecordKind::LookupLog if order.prospective.is_some() => {
                        out.push((directory, Input::ProspectiveOrder))
                    }
                    crate::scenario::RecordKind::LookupLog => out.push((log, Input::LegalRequest)),
                    crate::scenario::RecordKind::PushToken(_)
                    | crate::scenario::RecordKind::PushConnections(_) => {
                        out.push((relay, Input::TokenRequest))
                    }
                    crate::scenario::RecordKind::Subscriber => {
                        out.push((directory, Input::SubscriberRequest))
                    }
                }
            }
            (Role::Relay, Input::TokenRequest) | (Role::Directory, Input::SubscriberRequest) => {
                out.push((actor_id(Role::Authority), Input::Inert));
            }
            // Everything else sends nothing: key replies, SMS, disclosures, the log's
            // persistence timer and restart, deliveries to the operator's ghost device.
            _ => {}
        }
    }
}

fn envelopes(network: &Network<Msg>) -> Box<dyn Iterator<Item = (Id, Id, &Msg)> + '_> {
    match network {
        Network::Ordered(channels) => Box::new(
            channels
                .iter()
                .flat_map(|((src, dst), q)| q.iter().map(move |m| (*src, *dst, m))),
        ),
        Network::UnorderedNonDuplicating(msgs) => {
            Box::new(msgs.keys().map(|e| (e.src, e.dst, &e.msg)))
        }
        Network::UnorderedDuplicating(msgs, _) => {
            Box::new(msgs.iter().map(|e| (e.src, e.dst, &e.msg)))
        }
    }
}

impl Footprints for ProtocolModel {
    type Part = Part;
    type Memo = crate::parts::Memo;

    fn split(&self, s: State, parts: &mut Vec<Part>) {
        crate::parts::split(s, parts)
    }

    fn join(&self, parts: &[&Part]) -> State {
        crate::parts::join(parts)
    }

    fn rejoin(&self, state: &mut State, old: &[&Part], new: &[&Part]) {
        crate::parts::rejoin(state, old, new)
    }

    fn unchanged(&self, parent: &Part, child: &Part) -> bool {
        crate::parts::unchanged(parent, child)
    }

    fn next_parts(
        &self,
        state: &State,
        parts: &[Part],
        step: &Step,
        next: &mut Vec<Option<Part>>,
        memo: &mut crate::parts::Memo,
    ) -> bool {
        match crate::parts::successor(self, parts, step, next, memo) {
            Some(found) => found,
            None => crate::engine::next_parts_whole(self, state, parts, step, next),
        }
    }

    fn stored(&self, memo: &mut crate::parts::Memo, slot: usize, stored: &Part) {
        memo.settle(slot, stored)
    }

    fn reducible(&self) -> bool {
        // On a duplicating network every delivery writes the network's last message; owner
        // sets are 64-bit masks.
        self.scenario.order != Order::Duplicating && SERVERS + self.scenario.devices.len() <= 64
    }

    fn owner(&self, step: &Step) -> Option<usize> {
        match step {
            Step::Tick => None,
            Step::Actor(a) => match a {
                ActorModelAction::Deliver { dst, .. } => Some(usize::from(*dst)),
                ActorModelAction::Drop(env) => Some(usize::from(env.dst)),
                ActorModelAction::Timeout(id, _)
                | ActorModelAction::Crash(id)
                | ActorModelAction::Recover(id) => Some(usize::from(*id)),
                ActorModelAction::SelectRandom { .. } => None,
            },
        }
    }

    fn local_key(&self, step: &Step) -> Option<u64> {
        // Receipts that only add to sets, and forward on an unordered network (on an ordered
        // one the order of two receipts' sends on one channel would differ), commute with
        // each other. Which parties' receipts do depends on the scenario:
        // * the carrier and the authority always (they send nothing on receipt; the
        //   authority's court-order timers read nothing);
        // * the relay on an unordered network, unless it keeps connection records (a request
        //   for them reads what each push writes);
        // * the directory on an unordered network when its answers do not depend on what it
        //   has learnt (no forged keys: honest, empty-answer and log-crash threats) and no
        //   prospective order makes a lookup's disclosure depend on whether the order came
        //   first; each acknowledgement releases only its own lookup (`LookupId`);
        // * the log on an unordered network when nothing reads its records but the claims
        //   (no court orders to answer, no crash and no persistence timer).
        let s = &self.scenario;
        let (src, dst, msg) = match step {
            Step::Actor(ActorModelAction::Deliver { src, dst, msg }) => (*src, *dst, msg),
            Step::Actor(ActorModelAction::Drop(Envelope { src, dst, msg })) => (*src, *dst, msg),
            _ => return None,
        };
        let unordered = s.order == Order::Unordered;
        let commutes = match role_of(dst) {
            Role::Carrier | Role::Authority => true,
            Role::Relay => unordered && !s.keeps_connections(),
            Role::Directory => {
                unordered
                    && matches!(
                        s.threat,
                        Threat::Honest | Threat::EmptyAnswer | Threat::LogCrash
                    )
                    && !self.prospective_orders()
            }
            Role::LookupLog => {
                unordered && s.legal_requests.is_empty() && s.threat != Threat::LogCrash
            }
            Role::Device(_) => false,
        };
        commutes.then(|| {
            let mut h = rustc_hash::FxHasher::default();
            (src, msg).hash(&mut h);
            h.finish()
        })
    }

    fn senders_to(&self, state: &State, frozen: Owners) -> Owners {
        let mut senders = 0;
        let mut from = |x: (Id, Input)| senders |= self.senders_from(frozen, x);
        for (i, timers) in state.timers_set.iter().enumerate() {
            let id = Id::from(i);
            if frozen & bit(id) == 0 {
                for t in timers.iter() {
                    from((id, Input::Timer(*t)));
                }
                if state.crashed[i] {
                    from((id, Input::Recover));
                }
            }
        }
        for (src, dst, msg) in envelopes(&state.network) {
            if frozen & bit(dst) == 0 {
                from((dst, self.input_of(src, msg)));
            }
        }
        senders
    }

    fn global_blocked(&self, state: &State, owners: Owners) -> bool {
        let today = ProtocolModel::today(state);
        if today.0 as usize + 1 >= self.scenario.days as usize {
            return true; // The clock has no day left to move to.
        }
        if envelopes(&state.network).any(|(_, dst, _)| owners & bit(dst) != 0) {
            return true; // The clock waits for an empty network.
        }
        // The clock waits for what is scheduled today.
        state.timers_set.iter().enumerate().any(|(i, timers)| {
            let id = Id::from(i);
            owners & bit(id) != 0
                && timers.iter().any(|t| match (role_of(id), t) {
                    (Role::Device(d), Timer::UserAction(n)) => {
                        self.scenario.device(d).actions[*n as usize].day == Some(today)
                    }
                    (Role::Authority, Timer::LegalRequest(n)) => {
                        self.scenario.legal_requests[*n as usize].day == Some(today)
                    }
                    _ => false,
                })
        })
    }

    fn may_undo(&self, p: usize, step: &Step) -> bool {
        crate::claims::property_undone_by(&self.scenario, p, step, || self.writes(step))
    }

    /// The step's writes are worked out once, for every claim written in the language.
    fn may_undo_any(&self, ps: &[usize], step: &Step) -> bool {
        let mut writes = None;
        ps.iter().any(|&p| {
            crate::claims::property_undone_by(&self.scenario, p, step, || {
                *writes.get_or_insert_with(|| self.writes(step))
            })
        })
    }

    /// Every step consumes a message in flight or a one-shot timer, or advances the day, the
    /// log's crash count or its crash state towards a bound, so no state repeats, except on a
    /// duplicating network, where a delivered message stays deliverable.
    fn acyclic(&self) -> bool {
        self.scenario.order != Order::Duplicating
    }

    fn changes(&self, step: &Step) -> Option<u64> {
        self.writes(step).map(|w| u64::from(w.grow | w.shrink))
    }

    fn guard(&self, p: usize) -> Option<usize> {
        crate::claims::property_guard(&self.scenario, p)
    }

    fn reads(&self, p: usize) -> Option<u64> {
        crate::claims::property_reads(&self.scenario, p).map(|r| u64::from(r.all()))
    }

    fn concrete_init_states(&self) -> Vec<State> {
        self.raw_init_states()
    }

    fn concrete_next_state(&self, state: &State, step: Step) -> Option<State> {
        self.raw_next_state(state, step)
    }

    fn representative(&self, state: State) -> State {
        self.canonical(state)
    }
}

/// Whether every message that `step` sends from `state` (reaching `next`) is covered by the
/// abstract effects that [`Footprints::senders_to`] assumes for the trigger the step consumes:
/// the test suite runs this on every edge of every scenario's full state graph, which is what
/// makes the over-approximation of `senders_to` a checked fact rather than a hope.
pub fn effects_cover_sends(
    model: &ProtocolModel,
    state: &State,
    step: &Step,
    next: &State,
) -> bool {
    let (owner, trigger) = match step {
        Step::Tick => return true,
        Step::Actor(a) => match a {
            ActorModelAction::Deliver { src, dst, msg } => (*dst, model.input_of(*src, msg)),
            ActorModelAction::Timeout(id, t) => (*id, Input::Timer(*t)),
            ActorModelAction::Recover(id) => (*id, Input::Recover),
            // Dropping a message or crashing sends nothing.
            _ => return envelopes_added(state, next).is_empty(),
        },
    };
    let mut effects = Vec::new();
    model.effects(owner, trigger, &mut effects);
    envelopes_added(state, next)
        .into_iter()
        .all(|(src, dst, msg)| {
            let produced = model.input_of(src, &msg);
            src == owner
                && effects.iter().any(|&(to, what)| {
                    to == dst
                        && match (what, produced) {
                            (Input::Push(all), Input::Push(some))
                            | (Input::Receipt(all), Input::Receipt(some))
                            | (Input::Typing(all), Input::Typing(some)) => some & !all == 0,
                            // A key reply, an SMS, a disclosure: inert whatever its abstraction.
                            (Input::Inert, p) => p == Input::Inert,
                            (w, p) => w == p,
                        }
                })
        })
}

/// The envelopes in `next` that were not in `state` (with multiplicity).
fn envelopes_added(state: &State, next: &State) -> Vec<(Id, Id, Msg)> {
    let mut before: Vec<(Id, Id, &Msg)> = envelopes_with_copies(&state.network);
    let mut added = Vec::new();
    for e in envelopes_with_copies(&next.network) {
        if let Some(i) = before.iter().position(|b| *b == e) {
            before.swap_remove(i);
        } else {
            added.push((e.0, e.1, e.2.clone()));
        }
    }
    added
}

fn envelopes_with_copies(network: &Network<Msg>) -> Vec<(Id, Id, &Msg)> {
    match network {
        Network::UnorderedNonDuplicating(msgs) => msgs
            .iter()
            .flat_map(|(e, n)| std::iter::repeat_n((e.src, e.dst, &e.msg), *n))
            .collect(),
        other => envelopes(other).collect(),
    }
}

impl ProtocolModel {
    /// What a step may change in the parts of the state that claim formulas read
    /// (`formula::Part`): the parts that may grow and those that may shrink. `None` for the
    /// clock's tick, a global step that may change anything. Claims written in the claim
    /// language are undone only by steps that write what they read (`claims::undoes`); the
    /// tests check on every edge of every scenario's full graph that a step changes nothing
    /// it does not declare here, in no direction it does not declare.
    pub fn writes(&self, step: &Step) -> Option<crate::formula::tree::Writes> {
        use crate::formula::tree::{Part as P, Server};
        let (role, msg, timer) = match step {
            Step::Tick => return None,
            Step::Actor(a) => match a {
                ActorModelAction::Deliver { dst, msg, .. } => (role_of(*dst), Some(msg), false),
                ActorModelAction::Drop(env) => (role_of(env.dst), None, false),
                ActorModelAction::Timeout(id, _) => (role_of(*id), None, true),
                ActorModelAction::Crash(id) | ActorModelAction::Recover(id) => {
                    (role_of(*id), None, false)
                }
                ActorModelAction::SelectRandom { .. } => return None,
            },
        };
        let both = |p: P| (p.bit(), p.bit());
        let grows = |p: P| (p.bit(), 0);
        let shrinks = |p: P| (0, p.bit());
        let dropped = matches!(step, Step::Actor(ActorModelAction::Drop(_)));
        let restart = matches!(
            step,
            Step::Actor(ActorModelAction::Crash(_) | ActorModelAction::Recover(_))
        );
        let ckv = self.scenario.features.ckv;
        // Whether a device has sent, or may still send, to a handle only goes from true to
        // false, except on a lossy network, where a send queued behind a lost lookup is
        // released by a device's next lookup of that handle (a user action, or another
        // lookup's answer).
        // At most ten entries (a device's crash or restart): on the stack (this runs for every
        // step the reduction weighs).
        let mut parts: smallvec::SmallVec<[(u32, u32); 10]> =
            smallvec::smallvec![shrinks(P::MaySend)];
        let mut fresh = 0;
        match role {
            Role::Device(_) if dropped => {}
            Role::Device(_) => {
                let lossy_release =
                    self.scenario.lossy && (timer || matches!(msg, Some(Msg::LookupReply { .. })));
                if lossy_release {
                    parts.push(grows(P::MaySend));
                }
                match msg {
                    // An answer replaces a cached one, may raise an alert (under key
                    // verification) and releases the sends queued behind it.
                    Some(Msg::LookupReply { .. }) => {
                        parts.extend([both(P::Answers), grows(P::Sent)]);
                        parts.extend(ckv.then(|| grows(P::Alerts)));
                    }
                    // A key answer settles the contents waiting for it.
                    Some(Msg::KeyReply { .. }) => {
                        parts.extend([both(P::Answers), grows(P::Accepted)]);
                        parts.extend(ckv.then(|| grows(P::Alerts)));
                    }
                    Some(Msg::Deliver { .. }) => {
                        parts.extend([grows(P::Learned), grows(P::Accepted)])
                    }
                    Some(Msg::DeliverReceipt { .. }) => parts.push(grows(P::Receipts)),
                    Some(Msg::DeliverTyping { .. }) => parts.push(grows(P::Typing)),
                    // Nothing else is addressed to a device.
                    Some(_) => {}
                    // A user action sends from the cache or queues a lookup; a crash or a
                    // restart may change anything the device holds.
                    None if timer => parts.extend([grows(P::Sent), grows(P::Read)]),
                    None => parts.extend(
                        [
                            P::Sent,
                            P::Learned,
                            P::Accepted,
                            P::Alerts,
                            P::Answers,
                            P::Receipts,
                            P::Typing,
                            P::Read,
                        ]
                        .map(both),
                    ),
                }
            }
            Role::Directory if dropped => {}
            Role::Directory => {
                parts.push(grows(P::Knowledge(Server::Directory)));
                match msg {
                    // A lookup makes a record, sent to the log (and answered at once unless
                    // the log must acknowledge it first).
                    Some(Msg::Lookup(_)) => {
                        parts.extend([grows(P::Answered), grows(P::InTransit), grows(P::Logged)]);
                        // Every lookup has its own record (its `LookupId`), never seen
                        // before, except on a duplicating network, where a lookup delivered
                        // again makes a record the log may already have purged.
                        if self.scenario.order != Order::Duplicating {
                            fresh = P::Answered.bit() | P::InTransit.bit() | P::Logged.bit();
                        }
                    }
                    // A key query logged as a lookup makes a record the same way.
                    Some(Msg::KeyQuery { .. }) if self.scenario.sender_lookup_logged => {
                        parts.extend([grows(P::Answered), grows(P::InTransit), grows(P::Logged)]);
                        if self.scenario.order != Order::Duplicating {
                            fresh = P::Answered.bit() | P::InTransit.bit() | P::Logged.bit();
                        }
                    }
                    // The log's acknowledgement releases the answer it held.
                    Some(Msg::LogAck(_)) => parts.push(grows(P::Answered)),
                    // A key query, a delivery to the ghost device, a forgery: what the
                    // directory learns.
                    _ => {}
                }
            }
            // A record lost on its way never reaches the log.
            Role::LookupLog if dropped => parts.extend([shrinks(P::InTransit), shrinks(P::Logged)]),
            // A crash loses what was not persisted, a restart restores what was (and records
            // received since are on their way again, or lost).
            Role::LookupLog if restart => parts.extend(
                [
                    P::Knowledge(Server::Log),
                    P::LogRecords,
                    P::Logged,
                    P::InTransit,
                    P::Crashes,
                ]
                .map(both),
            ),
            // A record received is no longer on its way; it is kept unless retention has
            // already passed it. (A legal request is answered from the records; writing them
            // to stable storage changes nothing a formula reads.)
            Role::LookupLog => {
                if let Some(Msg::LogWrite(_)) = msg {
                    parts.extend([
                        grows(P::Knowledge(Server::Log)),
                        grows(P::LogRecords),
                        grows(P::Received),
                        shrinks(P::InTransit),
                        // On a duplicating network a copy of a record lost in a crash is
                        // still in flight, though no longer on its way: delivered, it is
                        // logged again.
                        match self.scenario.order {
                            Order::Duplicating => both(P::Logged),
                            _ => shrinks(P::Logged),
                        },
                    ])
                }
            }
            Role::Relay if !dropped => parts.push(grows(P::Knowledge(Server::Relay))),
            Role::Carrier if !dropped => parts.push(grows(P::Knowledge(Server::Carrier))),
            Role::Authority if msg.is_some() && !dropped => {
                parts.extend([grows(P::Knowledge(Server::Authority)), grows(P::Disclosed)])
            }
            Role::Relay | Role::Carrier | Role::Authority => {}
        }
        let mut w = crate::formula::tree::Writes {
            fresh,
            ..Default::default()
        };
        for (g, s) in parts {
            w.grow |= g;
            w.shrink |= s;
        }
        Some(w)
    }
}
