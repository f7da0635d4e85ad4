//! A device: an iPhone or Mac of an account (Platform Security guide,
//! "iMessage security overview"; DESIGN §2).
//!
//! It runs its user's workload (look up a handle, send a content to a
//! handle), caches directory answers, encrypts one ciphertext per target
//! device and hands them to the push relay, falls back to SMS when the handle
//! is not registered, and decrypts what is addressed to its own key. Under
//! Contact Key Verification it checks every key in an answer against the
//! target account's signature and raises an alert instead of using a key
//! that does not verify.

use super::wire::{Answer, Entry, LookupRequest, Msg, Timer};
use super::{actor_id, Party, Role};
use crate::knowledge::{AccountId, ContentId, DeviceId, IpId, KeyId, Knowledge, Term, Token};
use crate::scenario::{ActionKind, Bug, Scenario, Variant};
use serde::Serialize;
use stateright::actor::{model_timeout, Out};
use std::collections::{BTreeMap, BTreeSet};

/// How a content left the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Channel {
    /// End to end encrypted, through the push relay.
    Imessage,
    /// In plaintext, through the carrier.
    Sms,
}

/// A content this device sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Sent {
    pub to: AccountId,
    pub content: ContentId,
    pub channel: Channel,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct DeviceState {
    /// Answers received, with only the entries this device accepted.
    pub cache: BTreeMap<AccountId, Answer>,
    /// Sends waiting for a directory answer.
    pub queued: BTreeSet<(AccountId, ContentId)>,
    pub sent: BTreeSet<Sent>,
    /// Contents this device decrypted.
    pub learned: BTreeSet<ContentId>,
    /// Handles for which an answer carried a key that failed verification.
    pub alerts: BTreeSet<AccountId>,
}

impl DeviceState {
    /// Arms one timer per workload action: the user may act at any point.
    pub fn start(scenario: &Scenario, d: DeviceId, o: &mut Out<Party>) -> Self {
        for n in 0..scenario.device(d).actions.len() {
            o.set_timer(Timer::UserAction(n as u8), model_timeout());
        }
        Self::default()
    }

    fn lookup(
        scenario: &Scenario,
        d: DeviceId,
        target: AccountId,
        draft: Option<ContentId>,
    ) -> Msg {
        let account = scenario.device(d).account;
        Msg::Lookup(LookupRequest {
            requester: account,
            token: Token::Device(d),
            ip: IpId(account.0),
            target,
            draft: draft.filter(|_| scenario.bugs.contains(&Bug::LookupCarriesDraft)),
        })
    }

    pub fn on_user_action(
        &self,
        scenario: &Scenario,
        d: DeviceId,
        n: u8,
        o: &mut Out<Party>,
    ) -> Option<Self> {
        let action = scenario.device(d).actions[n as usize];
        let directory = actor_id(Role::Directory);
        match action.kind {
            ActionKind::Lookup => {
                // Typing a handle into a new conversation always asks the directory.
                o.send(directory, Self::lookup(scenario, d, action.target, None));
                None
            }
            ActionKind::Send(c) => {
                let mut next = self.clone();
                if let Some(answer) = self.cache.get(&action.target) {
                    next.dispatch(scenario, d, action.target, c, &answer.clone(), o);
                } else {
                    // One lookup serves every send queued for the same handle.
                    let waiting = self.queued.iter().any(|(t, _)| *t == action.target);
                    next.queued.insert((action.target, c));
                    if !waiting {
                        o.send(directory, Self::lookup(scenario, d, action.target, Some(c)));
                    }
                }
                Some(next)
            }
        }
    }

    pub fn on_msg(
        &self,
        scenario: &Scenario,
        d: DeviceId,
        msg: Msg,
        o: &mut Out<Party>,
    ) -> Option<Self> {
        match msg {
            Msg::LookupReply { target, answer } => {
                let mut next = self.clone();
                let answer = next.verify(scenario, target, answer);
                next.cache.insert(target, answer.clone());
                let due: Vec<_> = next
                    .queued
                    .iter()
                    .filter(|(t, _)| *t == target)
                    .copied()
                    .collect();
                for (t, c) in due {
                    next.queued.remove(&(t, c));
                    next.dispatch(scenario, d, t, c, &answer, o);
                }
                (next != *self).then_some(next)
            }
            Msg::Deliver { payload, .. } => {
                // Decrypt with this device's own private key: whatever analysis yields is learnt.
                let k = Knowledge::from_terms([Term::Sk(KeyId::Device(d)), payload]);
                let mut next = self.clone();
                next.learned.extend(k.contents());
                (next != *self).then_some(next)
            }
            // Devices only receive answers and deliveries; nothing else is addressed to them.
            _ => None,
        }
    }

    /// Keeps the entries this device accepts. Without CKV every entry is taken on trust; with
    /// CKV an entry is kept only if it carries the target account's signature over its key and
    /// token, and any other entry raises an alert.
    fn verify(&mut self, scenario: &Scenario, target: AccountId, answer: Answer) -> Answer {
        let Answer::Devices(entries) = answer else {
            return answer;
        };
        if scenario.variant != Variant::ImessageCkv {
            return Answer::Devices(entries);
        }
        let (good, bad): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(|e| {
            e.attestation.as_ref() == Some(&Term::sign(KeyId::Account(target), e.attested_body()))
        });
        if !bad.is_empty() {
            self.alerts.insert(target);
        }
        Answer::Devices(good)
    }

    fn dispatch(
        &mut self,
        scenario: &Scenario,
        d: DeviceId,
        to: AccountId,
        c: ContentId,
        answer: &Answer,
        o: &mut Out<Party>,
    ) {
        let from = scenario.device(d).account;
        match answer {
            Answer::NotRegistered => {
                o.send(
                    actor_id(Role::Carrier),
                    Msg::Sms {
                        from,
                        to,
                        body: Term::Content(c),
                    },
                );
                self.sent.insert(Sent {
                    to,
                    content: c,
                    channel: Channel::Sms,
                });
            }
            Answer::Devices(entries) if !entries.is_empty() => {
                let payloads = entries
                    .iter()
                    .map(|e| {
                        let body = Term::pair(Term::Handle(from), Term::Content(c));
                        (e.token, Term::enc(e.key, body))
                    })
                    .collect();
                o.send(actor_id(Role::Relay), Msg::Push { from, to, payloads });
                self.sent.insert(Sent {
                    to,
                    content: c,
                    channel: Channel::Imessage,
                });
            }
            // Every key was rejected: the content is withheld rather than sent to unverified keys.
            Answer::Devices(_) => {}
        }
    }

    /// Whether a send from this device to `to` is still to come: its action has not fired, or it
    /// waits for an answer.
    pub fn may_still_send(
        &self,
        scenario: &Scenario,
        d: DeviceId,
        to: AccountId,
        pending_actions: impl Iterator<Item = u8>,
    ) -> bool {
        self.queued.iter().any(|(t, _)| *t == to)
            || pending_actions.into_iter().any(|n| {
                let a = scenario.device(d).actions[n as usize];
                a.target == to && matches!(a.kind, ActionKind::Send(_))
            })
    }
}
