//! The identity directory (IDS): handle -> devices, and the source of the
//! lookup log (the 2016 law-enforcement FAQ; Platform Security guide,
//! "iMessage security overview"; DESIGN §2, §5).
//!
//! It answers each lookup with every registered device of the handle (key,
//! token and, under CKV, the account's signature over them) or "not
//! registered", and writes one record per lookup to the lookup log, before
//! or after the reply as the scenario says. Under the ghost-device threat it
//! adds a device whose key it holds; the account signature CKV asks for is
//! attached only if the directory can derive it, which it never can.
//! Deliveries for the ghost token reach the directory, which analyses them
//! with the ghost private key.

use super::wire::{Answer, Entry, LookupRequest, Msg, Record};
use super::{actor_id, role_of, Party, Role};
use crate::knowledge::{AccountId, Day, DeviceId, KeyId, Knowledge, Term, Token};
use crate::scenario::{Logging, Scenario, Threat, Variant};
use serde::Serialize;
use stateright::actor::{Id, Out};
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct DirectoryState {
    pub day: Day,
    /// What the directory operator can derive: registrations, lookups, and (as the ghost) deliveries.
    pub knowledge: Knowledge,
    /// Replies held until the log acknowledges the record (logging before the reply).
    pub held: BTreeSet<(DeviceId, Record)>,
    /// Every lookup answered, as the record it should have produced.
    pub answered: BTreeSet<Record>,
}

impl DirectoryState {
    /// The directory starts out knowing what devices registered with it, and under the
    /// ghost-device threat the ghost's key pair.
    pub fn new(scenario: &Scenario) -> Self {
        let mut initial = Vec::new();
        for (a, account) in scenario.accounts.iter().enumerate() {
            let a = AccountId(a as u8);
            initial.push(Term::Handle(a));
            initial.push(Term::Pk(KeyId::Account(a)));
            for &d in &account.devices {
                let entry = device_entry(scenario, a, d);
                initial.push(entry.attested_body());
                initial.extend(entry.attestation);
            }
        }
        if scenario.threat == Threat::GhostDevice {
            initial.extend([
                Term::Sk(KeyId::Ghost),
                Term::Pk(KeyId::Ghost),
                Term::Token(Token::Ghost),
            ]);
        }
        DirectoryState {
            day: Day(0),
            knowledge: Knowledge::from_terms(initial),
            held: BTreeSet::new(),
            answered: BTreeSet::new(),
        }
    }

    /// What the directory answers for `target` in this state.
    pub fn answer(&self, scenario: &Scenario, target: AccountId) -> Answer {
        let account = scenario.account(target);
        if !account.registered {
            return Answer::NotRegistered;
        }
        let mut entries: Vec<Entry> = account
            .devices
            .iter()
            .map(|&d| device_entry(scenario, target, d))
            .collect();
        if scenario.threat == Threat::GhostDevice {
            let mut ghost = Entry {
                token: Token::Ghost,
                key: KeyId::Ghost,
                attestation: None,
            };
            if scenario.variant == Variant::ImessageCkv {
                // The best the directory can do: attach the account signature if it can build it.
                let forged = Term::sign(KeyId::Account(target), ghost.attested_body());
                ghost.attestation = self.knowledge.derives(&forged).then_some(forged);
            }
            entries.push(ghost);
        }
        Answer::Devices(entries)
    }

    fn reply(&self, scenario: &Scenario, device: DeviceId, target: AccountId, o: &mut Out<Party>) {
        o.send(
            actor_id(Role::Device(device)),
            Msg::LookupReply {
                target,
                answer: self.answer(scenario, target),
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
            Msg::Lookup(req) => {
                let Role::Device(device) = role_of(src) else {
                    return None; // Lookups come from devices only.
                };
                let mut next = self.clone();
                next.knowledge.learn(req.to_term());
                let record = self.record(scenario, &req);
                match scenario.logging {
                    Logging::BeforeReply => {
                        next.held.insert((device, record.clone()));
                        o.send(log, Msg::LogWrite(record));
                    }
                    Logging::AfterReply => {
                        self.reply(scenario, device, req.target, o);
                        next.answered.insert(record.clone());
                        o.send(log, Msg::LogWrite(record));
                    }
                }
                Some(next)
            }
            Msg::LogAck(record) => {
                let due: Vec<_> = self
                    .held
                    .iter()
                    .filter(|(_, r)| *r == record)
                    .cloned()
                    .collect();
                if due.is_empty() {
                    return None; // An acknowledgement for a reply already sent.
                }
                let mut next = self.clone();
                for (device, r) in due {
                    self.reply(scenario, device, r.target, o);
                    next.held.remove(&(device, r.clone()));
                    next.answered.insert(r);
                }
                Some(next)
            }
            Msg::Deliver {
                from, to, payload, ..
            } => {
                // The relay routed the ghost device's ciphertext here: the operator analyses it.
                let mut next = self.clone();
                next.knowledge
                    .learn(Term::tuple([Term::Handle(from), Term::Handle(to), payload]));
                (next != *self).then_some(next)
            }
            // The directory receives nothing else.
            _ => None,
        }
    }

    /// The record the directory logs for a lookup: everything the request carried, stamped
    /// with the day and the number of devices answered.
    fn record(&self, scenario: &Scenario, req: &LookupRequest) -> Record {
        Record {
            day: self.day,
            requester: req.requester,
            target: req.target,
            ip: req.ip,
            device_count: self.answer(scenario, req.target).device_count(),
            draft: req.draft,
        }
    }
}

/// A registered device as the directory lists it: under CKV with the account's signature,
/// which the device produced at registration.
fn device_entry(scenario: &Scenario, account: AccountId, d: DeviceId) -> Entry {
    let mut e = Entry {
        token: Token::Device(d),
        key: KeyId::Device(d),
        attestation: None,
    };
    if scenario.variant == Variant::ImessageCkv {
        e.attestation = Some(Term::sign(KeyId::Account(account), e.attested_body()));
    }
    e
}
