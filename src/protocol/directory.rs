//! The identity directory (IDS): handle -> devices, and the source of the
//! lookup log (the 2016 law-enforcement FAQ; Platform Security guide,
//! "iMessage security overview"; docs/design.md §2, §5).
//!
//! It answers each lookup with every registered device of the handle (key,
//! token and, under CKV, the account's signature over them) or "not
//! registered", and writes one record per lookup to the lookup log, before
//! or after the reply as the scenario says. Under the ghost-device threat it
//! adds a device whose key it holds; the account signature CKV asks for is
//! attached only if the directory can derive it, which it never can.
//! Deliveries for the ghost token reach the directory, which analyses them
//! with the ghost private key. Under the empty-answer threat it answers
//! "not registered" for every handle. Under the key-swap threat it may, at
//! a point of its choosing, impersonate one registered account toward
//! another, any pair (or the pairs a scenario's `[key-swap]` table allows),
//! one pair per run: from then on
//! it lists a signing key of its own for the victim in what it answers the
//! target's devices, and it sends the target, once, a message signed with
//! that key in the victim's name. It also answers key
//! queries (a device fetching a sender's keys to verify a message), which
//! are not lookups and are not logged.

use super::wire::Timer;
use super::wire::{
    sender_certificate, Answer, Entry, LookupId, LookupRequest, Msg, Origin, Record,
};
use super::{actor_id, role_of, Party, Role};
use crate::knowledge::IpId;
use crate::knowledge::{AccountId, ContentId, Day, DeviceId, KeyId, Knowledge, Term, Token};
use crate::scenario::{Logging, Scenario, Threat};
use serde::{Deserialize, Serialize};
use stateright::actor::{model_timeout, Id, Out};
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DirectoryState {
    pub day: Day,
    /// What the directory operator can derive: registrations, lookups, and (as the ghost) deliveries.
    pub knowledge: Knowledge,
    /// Replies held until the log acknowledges the record (logging before the reply): the
    /// requesting device, the workload action that made the lookup, the handle looked up and
    /// the record.
    pub held: BTreeSet<(DeviceId, u8, AccountId, Record)>,
    /// Key answers held the same way, when key queries are logged (`sender-lookup =
    /// "logged"`): the asking device, the handle whose keys it asked for, the record.
    pub held_keys: BTreeSet<(DeviceId, AccountId, Record)>,
    /// Every lookup answered, as the record it should have produced.
    pub answered: BTreeSet<Record>,
    /// Under key-swap: the (victim, target) pair the directory has chosen to impersonate, once
    /// it has chosen (a set, at most one element).
    pub impersonating: BTreeSet<(AccountId, AccountId)>,
    /// Prospective orders in force: the handle, and the first day no longer covered.
    pub watching: BTreeSet<(AccountId, Day)>,
}

impl DirectoryState {
    /// The directory starts out knowing what devices registered with it, and under the
    /// ghost-device and key-swap threats its own key pair (and under key-swap the body it
    /// will forge). Under key-swap it arms one forgery timer per pair it may impersonate.
    pub fn start(scenario: &Scenario, o: &mut Out<Party>) -> Self {
        let mut initial = Vec::new();
        for (a, account) in scenario.accounts.iter().enumerate() {
            let a = AccountId(a as u8);
            initial.push(Term::Handle(a));
            initial.push(Term::Pk(KeyId::Account(a)));
            for &d in &account.devices {
                let entry = device_entry(scenario, a, d);
                initial.push(entry.attested_body());
                initial.extend(entry.attestation);
                // The registry itself: which account each device (its push token) belongs to.
                initial.push(Term::pair(Term::Handle(a), Term::Token(Token::Device(d))));
            }
        }
        if scenario.features.sealed_sender {
            // The key that signs sender certificates.
            initial.extend([Term::Sk(KeyId::Directory), Term::Pk(KeyId::Directory)]);
        }
        if matches!(scenario.threat, Threat::GhostDevice | Threat::KeySwap) {
            initial.extend([
                Term::Sk(KeyId::Ghost),
                Term::Pk(KeyId::Ghost),
                Term::Token(Token::Ghost),
            ]);
        }
        let pairs = scenario.impersonations();
        if !pairs.is_empty() {
            initial.push(Term::Content(ContentId::FORGED));
        }
        for (victim, target) in pairs {
            o.set_timer(Timer::Forge { victim, target }, model_timeout());
        }
        DirectoryState {
            day: Day(0),
            knowledge: Knowledge::from_terms(initial),
            held: BTreeSet::new(),
            held_keys: BTreeSet::new(),
            answered: BTreeSet::new(),
            impersonating: BTreeSet::new(),
            watching: BTreeSet::new(),
        }
    }

    /// What the directory answers a device of account `requester` about `target` in this state.
    pub fn answer(&self, scenario: &Scenario, requester: AccountId, target: AccountId) -> Answer {
        let account = scenario.account(target);
        if !account.registered || scenario.threat == Threat::EmptyAnswer {
            return Answer::NotRegistered;
        }
        let mut entries: Vec<Entry> = account
            .devices
            .iter()
            .map(|&d| device_entry(scenario, target, d))
            .collect();
        if self.impersonating.contains(&(target, requester)) {
            for e in &mut entries {
                e.sig = KeyId::Ghost;
                e.attestation = self.attest(scenario, target, e);
            }
        }
        if scenario.threat == Threat::GhostDevice {
            let mut ghost = Entry {
                token: Token::Ghost,
                key: KeyId::Ghost,
                sig: KeyId::Ghost,
                attestation: None,
            };
            ghost.attestation = self.attest(scenario, target, &ghost);
            entries.push(ghost);
        }
        Answer::Devices(entries)
    }

    /// The account signature over an entry the directory made up: attached only if the
    /// directory can build it from what it knows (it cannot, without the account's private key).
    fn attest(&self, scenario: &Scenario, account: AccountId, e: &Entry) -> Option<Term> {
        if !scenario.features.ckv {
            return None;
        }
        let forged = Term::sign(KeyId::Account(account), e.attested_body());
        self.knowledge.derives(&forged).then_some(forged)
    }

    /// The key-swap adversary chooses to impersonate `victim` toward `target`: it swaps its key
    /// in for the victim's in its answers to the target's devices from now on, and forges a
    /// message in the victim's name, signed with the swapped-in key and encrypted for each of
    /// the target's devices. Every part is built from the directory's knowledge, so it is sent
    /// only if the directory can derive it. The choice is made once per run: the other pairs'
    /// timers are cancelled (one impersonation is what every claim needs, and allowing several
    /// would multiply the interleavings without adding a kind of run).
    pub fn on_forge(
        &self,
        scenario: &Scenario,
        victim: AccountId,
        target: AccountId,
        o: &mut Out<Party>,
    ) -> Option<Self> {
        let mut next = self.clone();
        next.impersonating.insert((victim, target));
        next.send_forgery(scenario, victim, target, o);
        for (v, t) in scenario.impersonations() {
            if (v, t) != (victim, target) {
                o.cancel_timer(Timer::Forge {
                    victim: v,
                    target: t,
                });
            }
        }
        Some(next)
    }

    fn send_forgery(
        &self,
        scenario: &Scenario,
        victim: AccountId,
        target: AccountId,
        o: &mut Out<Party>,
    ) {
        let mut signed = Term::sign(
            KeyId::Ghost,
            Term::pair(Term::Handle(victim), Term::Content(ContentId::FORGED)),
        );
        if scenario.features.sealed_sender {
            // A sender certificate for the swapped-in key: the directory issues certificates.
            signed = Term::pair(signed, sender_certificate(victim, KeyId::Ghost));
        }
        let payloads: Vec<(Token, Term)> = scenario
            .account(target)
            .devices
            .iter()
            .map(|&d| {
                (
                    Token::Device(d),
                    Term::enc(KeyId::Device(d), signed.clone()),
                )
            })
            .filter(|(_, t)| self.knowledge.derives(t))
            .collect();
        if payloads.is_empty() {
            return;
        }
        let from = (!scenario.features.sealed_sender).then_some(victim);
        o.send(
            actor_id(Role::Relay),
            Msg::Push {
                from,
                to: target,
                payloads,
            },
        );
    }

    /// The keys a device asked for, to verify a message claiming to come from `handle`.
    fn reply_keys(
        &self,
        scenario: &Scenario,
        device: DeviceId,
        handle: AccountId,
        o: &mut Out<Party>,
    ) {
        o.send(
            actor_id(Role::Device(device)),
            Msg::KeyReply {
                handle,
                answer: self.answer(scenario, scenario.device(device).account, handle),
            },
        );
    }

    fn reply(&self, scenario: &Scenario, device: DeviceId, target: AccountId, o: &mut Out<Party>) {
        o.send(
            actor_id(Role::Device(device)),
            Msg::LookupReply {
                target,
                answer: self.answer(scenario, scenario.device(device).account, target),
            },
        );
    }

    pub fn on_msg(
        &self,
        scenario: &Scenario,
        src: Id,
        msg: Msg,
        o: &mut Out<Party>,
    ) -> Option<Self> {
        let log = actor_id(Role::LookupLog);
        match msg {
            // A legal request for a handle's subscriber information: the addresses its
            // registered devices connect from (an account not registered has none here).
            Msg::SubscriberRequest { handle } => {
                if scenario.account(handle).registered {
                    let mut addresses: Vec<IpId> = scenario
                        .account(handle)
                        .devices
                        .iter()
                        .map(|d| scenario.device(*d).ip)
                        .collect();
                    addresses.sort();
                    addresses.dedup();
                    o.send(
                        actor_id(Role::Authority),
                        Msg::SubscriberDisclosure { handle, addresses },
                    );
                }
                None
            }
            Msg::Lookup(req) => {
                let Role::Device(device) = role_of(src) else {
                    return None; // Lookups come from devices only.
                };
                let mut next = self.clone();
                // A batch is served handle by handle, at once: one record per handle, each
                // with the query's identity (its time stamp).
                // (Under private discovery the records of a batch are one: the log never
                // sees the handles, so it gets that record once.)
                let batch = !req.also.is_empty() && !scenario.features.private_discovery;
                let mut written = Vec::new();
                for target in req.targets() {
                    let req = req.about(target);
                    next.knowledge
                        .learn(req.to_term(scenario.features.private_discovery));
                    let mut record = self.record(scenario, device, &req);
                    if batch {
                        record.lookup.origin = Origin::Batch(req.action, target);
                    }
                    match scenario.logging {
                        Logging::BeforeReply => {
                            next.held
                                .insert((device, req.action, req.target, record.clone()));
                        }
                        Logging::AfterReply => {
                            self.reply(scenario, device, req.target, o);
                            next.answered.insert(record.clone());
                        }
                    }
                    if !written.contains(&record) {
                        self.disclose_as_made(&record, o);
                        o.send(log, Msg::LogWrite(record.clone()));
                        written.push(record);
                    }
                }
                Some(next)
            }
            Msg::LogAck(record) => {
                let due: Vec<_> = self
                    .held
                    .iter()
                    .filter(|(_, _, _, r)| *r == record)
                    .cloned()
                    .collect();
                let due_keys: Vec<_> = self
                    .held_keys
                    .iter()
                    .filter(|(_, _, r)| *r == record)
                    .cloned()
                    .collect();
                if due.is_empty() && due_keys.is_empty() {
                    return None; // An acknowledgement for a reply already sent.
                }
                let mut next = self.clone();
                for (device, action, target, r) in due {
                    self.reply(scenario, device, target, o);
                    next.held.remove(&(device, action, target, r.clone()));
                    next.answered.insert(r);
                }
                for (device, handle, r) in due_keys {
                    self.reply_keys(scenario, device, handle, o);
                    next.held_keys.remove(&(device, handle, r.clone()));
                    next.answered.insert(r);
                }
                Some(next)
            }
            Msg::KeyQuery { handle } => {
                // The operator sees which device asks for whose keys.
                let Role::Device(d) = role_of(src) else {
                    return None; // Key queries come from devices only.
                };
                let mut next = self.clone();
                next.knowledge.learn(Term::pair(
                    Term::Token(Token::Device(d)),
                    Term::Handle(handle),
                ));
                if !scenario.sender_lookup_logged {
                    self.reply_keys(scenario, d, handle, o);
                    return (next != *self).then_some(next);
                }
                // Logged like a lookup (reverse-engineered clients look the sender up): the
                // operator learns it as one, and the log gets its record.
                let device = scenario.device(d);
                let req = LookupRequest {
                    action: 0,
                    requester: device.account,
                    token: Token::Device(d),
                    ip: device.ip,
                    target: handle,
                    for_message: false,
                    draft: None,
                    also: Default::default(),
                };
                next.knowledge
                    .learn(req.to_term(scenario.features.private_discovery));
                let mut record = self.record(scenario, d, &req);
                record.lookup.origin = Origin::Sender(handle);
                record.sender_check.0 = scenario.log_sender_check;
                self.disclose_as_made(&record, o);
                match scenario.logging {
                    Logging::BeforeReply => {
                        next.held_keys.insert((d, handle, record.clone()));
                    }
                    Logging::AfterReply => {
                        self.reply_keys(scenario, d, handle, o);
                        next.answered.insert(record.clone());
                    }
                }
                o.send(log, Msg::LogWrite(record));
                Some(next)
            }
            Msg::Deliver {
                from, to, payload, ..
            } => {
                // The relay routed the ghost device's ciphertext here: the operator analyses it.
                let mut next = self.clone();
                let mut parts: Vec<Term> = from.map(Term::Handle).into_iter().collect();
                parts.extend([Term::Handle(to), payload]);
                next.knowledge.learn(Term::tuple(parts));
                (next != *self).then_some(next)
            }
            // A typing indicator to the ghost device: the operator, as its recipient, learns
            // who is typing to whom, sealed sender or not.
            Msg::DeliverTyping { sender, to, .. } => {
                let mut next = self.clone();
                next.knowledge
                    .learn(Term::pair(Term::Handle(sender), Term::Handle(to)));
                (next != *self).then_some(next)
            }
            // A pen-register order: served at once (an empty disclosure says so), then in
            // force from today for `days` days.
            Msg::ProspectiveOrder { handle, days } => {
                o.send(
                    actor_id(Role::Authority),
                    Msg::Disclosure {
                        handle,
                        day: self.day,
                        records: Vec::new(),
                    },
                );
                let mut next = self.clone();
                next.watching
                    .insert((handle, Day(self.day.0.saturating_add(days))));
                (next != *self).then_some(next)
            }
            // The directory receives nothing else.
            _ => None,
        }
    }

    /// Hands a record it makes to the authority under each prospective order in force for a
    /// handle the record names, as the record goes to the log.
    fn disclose_as_made(&self, record: &Record, o: &mut Out<Party>) {
        for &(handle, until) in &self.watching {
            let names = record.requester == handle || record.target == Some(handle);
            if names && self.day < until {
                o.send(
                    actor_id(Role::Authority),
                    Msg::Disclosure {
                        handle,
                        day: self.day,
                        records: vec![record.clone()],
                    },
                );
            }
        }
    }

    /// The next day begins: orders whose days are over are no longer in force.
    pub fn tick(&mut self) {
        self.day = Day(self.day.0 + 1);
        let today = self.day;
        self.watching.retain(|(_, until)| *until > today);
    }

    /// The record the directory logs for a lookup: everything the request carried, stamped
    /// with the day and the number of devices answered.
    fn record(&self, scenario: &Scenario, device: DeviceId, req: &LookupRequest) -> Record {
        Record {
            lookup: LookupId {
                device,
                origin: Origin::Action(req.action),
            },
            day: self.day,
            requester: req.requester,
            target: (!scenario.features.private_discovery).then_some(req.target),
            ip: req.ip,
            device_count: (!scenario.features.private_discovery).then(|| {
                self.answer(scenario, req.requester, req.target)
                    .device_count()
            }),
            draft: req.draft,
            for_message: scenario.log_for_message.then_some(req.for_message),
            sender_check: Default::default(),
        }
    }
}

/// A registered device as the directory lists it: under CKV with the account's signature,
/// which the device produced at registration.
fn device_entry(scenario: &Scenario, account: AccountId, d: DeviceId) -> Entry {
    let mut e = Entry {
        token: Token::Device(d),
        key: KeyId::Device(d),
        sig: KeyId::DeviceSig(d),
        attestation: None,
    };
    if scenario.features.ckv {
        e.attestation = Some(Term::sign(KeyId::Account(account), e.attested_body()));
    }
    e
}
