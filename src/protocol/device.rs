//! A device: an iPhone or Mac of an account (Platform Security guide,
//! "iMessage security overview"; docs/design.md §2).
//!
//! It runs its user's workload (look up a handle, send a content to a
//! handle), caches directory answers, signs each content with its signing
//! key, encrypts one ciphertext per target device and hands them to the push
//! relay, falls back to SMS when the handle is not registered, and decrypts
//! what is addressed to its own key. A decrypted message is accepted as
//! "from A" only once its signature verifies under a signing key the
//! directory lists for A (fetched with a key query when not cached; under
//! sealed sender, vouched for by the sender certificate inside the envelope,
//! so no key query tells the directory whom the device heard from). Under
//! Contact Key Verification it checks every key in an answer against the
//! account's signature and raises an alert instead of using a key that does
//! not verify.

use super::wire::{sender_certificate, Answer, Entry, LookupRequest, Msg, Timer};
use super::{actor_id, Party, Role};
use crate::knowledge::{AccountId, ContentId, DeviceId, KeyId, Knowledge, Term, Token};
pub use crate::protocol::wire::Channel;
use crate::scenario::{ActionKind, Bug, LookupCache, Scenario};
use serde::{Deserialize, Serialize};
use stateright::actor::{model_timeout, Out};
use std::collections::{BTreeMap, BTreeSet};

/// A content this device sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Sent {
    pub to: AccountId,
    pub content: ContentId,
    pub channel: Channel,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeviceState {
    /// Lookup answers received, with only the entries this device accepted: what sends use.
    pub cache: BTreeMap<AccountId, Answer>,
    /// Key-query answers, with only the entries this device accepted: used to verify
    /// signatures only, never to send.
    pub keys: BTreeMap<AccountId, Answer>,
    /// Sends waiting for a directory answer.
    pub queued: BTreeSet<(AccountId, ContentId)>,
    pub sent: BTreeSet<Sent>,
    /// Contents this device decrypted.
    pub learned: BTreeSet<ContentId>,
    /// Contents accepted as coming from an account: their signature verified.
    pub accepted: BTreeSet<(AccountId, ContentId)>,
    /// Signed contents waiting for the claimed sender's keys: (claimed sender, signing key, content).
    pub unverified: BTreeSet<(AccountId, KeyId, ContentId)>,
    /// Handles for which an answer carried a key that failed verification.
    pub alerts: BTreeSet<AccountId>,
    /// Messages this device holds a delivery receipt for.
    pub receipts: BTreeSet<ContentId>,
    /// Messages this device holds a read receipt for.
    pub read_receipts: BTreeSet<ContentId>,
    /// Messages this device's user has read.
    pub read: BTreeSet<ContentId>,
    /// Handles this device's user is composing to, waiting for a directory answer before the
    /// typing indicator can go out.
    pub composing: BTreeSet<AccountId>,
    /// Accounts this device has shown as typing to it.
    pub typing: BTreeSet<AccountId>,
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
        action: u8,
        target: AccountId,
        draft: Option<ContentId>,
    ) -> Msg {
        Msg::Lookup(Self::query(scenario, d, action, target, draft))
    }

    fn query(
        scenario: &Scenario,
        d: DeviceId,
        action: u8,
        target: AccountId,
        draft: Option<ContentId>,
    ) -> LookupRequest {
        let account = scenario.device(d).account;
        LookupRequest {
            action,
            requester: account,
            token: Token::Device(d),
            ip: scenario.device(d).ip,
            target,
            // A lookup for a send carries the message it is for (`draft`); composing and typing
            // indicators look up without one.
            for_message: draft.is_some(),
            draft: draft.filter(|_| scenario.bugs.contains(&Bug::LookupCarriesDraft)),
            also: Default::default(),
        }
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
            ActionKind::Lookup | ActionKind::Refresh => {
                // Typing a handle into a new conversation always asks the directory, and so
                // does a contacts refresh: one query for every handle of the action.
                let mut query = Self::query(scenario, d, n, action.target, None);
                query.also.0 = action.targets().skip(1).collect();
                o.send(directory, Msg::Lookup(query));
                None
            }
            ActionKind::Read => {
                // What has arrived from the handle, verified as its, and is not read yet.
                let due: Vec<ContentId> = self
                    .accepted
                    .iter()
                    .filter(|(a, c)| *a == action.target && !self.read.contains(c))
                    .map(|(_, c)| *c)
                    .collect();
                if due.is_empty() {
                    return None;
                }
                let mut next = self.clone();
                let own = scenario.device(d).account;
                for content in due {
                    next.read.insert(content);
                    if scenario.account(own).read_receipts {
                        o.send(
                            actor_id(Role::Relay),
                            Msg::Receipt {
                                from: (!scenario.features.sealed_sender).then_some(own),
                                to: action.target,
                                content,
                                read: true,
                            },
                        );
                    }
                }
                Some(next)
            }
            ActionKind::Type => {
                let cached = match scenario.lookup_cache {
                    LookupCache::On => self.cache.get(&action.target),
                    LookupCache::Off => None,
                };
                if let Some(answer) = cached {
                    Self::indicate_typing(scenario, d, action.target, answer, o);
                    return None;
                }
                let mut next = self.clone();
                let waiting = self.waits_for(action.target);
                next.composing.insert(action.target);
                if !waiting {
                    o.send(directory, Self::lookup(scenario, d, n, action.target, None));
                }
                Some(next)
            }
            ActionKind::Send(c) => {
                let mut next = self.clone();
                let cached = match scenario.lookup_cache {
                    LookupCache::On => self.cache.get(&action.target),
                    LookupCache::Off => None,
                };
                if let Some(answer) = cached {
                    next.dispatch(scenario, d, action.target, c, &answer.clone(), o);
                } else {
                    // One lookup serves every send queued for the same handle.
                    let waiting = self.waits_for(action.target);
                    next.queued.insert((action.target, c));
                    if !waiting {
                        o.send(
                            directory,
                            Self::lookup(scenario, d, n, action.target, Some(c)),
                        );
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
                // The indicator goes out before the messages composed meanwhile.
                if next.composing.remove(&target) {
                    Self::indicate_typing(scenario, d, target, &answer, o);
                }
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
            Msg::KeyReply { handle, answer } => {
                let mut next = self.clone();
                let answer = next.verify(scenario, handle, answer);
                next.keys.insert(handle, answer);
                next.settle(handle);
                (next != *self).then_some(next)
            }
            Msg::Deliver { payload, .. } => {
                // Decrypt with this device's own private key: whatever analysis yields is learnt.
                let k = Knowledge::from_terms([Term::Sk(KeyId::Device(d)), payload]);
                let mut next = self.clone();
                let signed = signed_contents(&k);
                if scenario.features.delivery_receipts {
                    next.send_receipts(scenario, d, &signed, o);
                }
                next.learned.extend(k.contents());
                // Every signed (sender, content) now readable is accepted at once if a sender
                // certificate in the envelope vouches for its key (sealed sender), and otherwise
                // waits for the sender's keys.
                let own = scenario.device(d).account;
                for (key, a, c) in signed {
                    // A copy from a device of this account: its keys are known from
                    // registration.
                    let own_copy = a == own
                        && scenario
                            .account(own)
                            .devices
                            .iter()
                            .any(|&e| key == KeyId::DeviceSig(e));
                    if own_copy
                        || scenario.features.sealed_sender
                            && k.terms().any(|x| *x == sender_certificate(a, key))
                    {
                        next.accepted.insert((a, c));
                        continue;
                    }
                    let waiting = next.unverified.iter().any(|(x, _, _)| *x == a);
                    next.unverified.insert((a, key, c));
                    if next.signing_keys(a).is_some() {
                        next.settle(a);
                    } else if !waiting {
                        o.send(actor_id(Role::Directory), Msg::KeyQuery { handle: a });
                    }
                }
                (next != *self).then_some(next)
            }
            Msg::DeliverTyping { sender, .. } => {
                let mut next = self.clone();
                next.typing.insert(sender);
                (next != *self).then_some(next)
            }
            Msg::DeliverReceipt { content, read, .. } => {
                let mut next = self.clone();
                if read {
                    next.read_receipts.insert(content);
                } else {
                    next.receipts.insert(content);
                }
                (next != *self).then_some(next)
            }
            // Devices only receive answers and deliveries; nothing else is addressed to them.
            _ => None,
        }
    }

    /// Whether a lookup of `target` is on its way: a send or a typing indicator waits for it.
    fn waits_for(&self, target: AccountId) -> bool {
        self.queued.iter().any(|(t, _)| *t == target) || self.composing.contains(&target)
    }

    /// A typing indicator to every device an answer lists (none to a handle that is not
    /// registered: there is no SMS counterpart). It carries no payload: the relay sees the
    /// connection, the target and the tokens, and the sender's handle unless sealed (Signal
    /// sends typing indicators as sealed-sender messages).
    fn indicate_typing(
        scenario: &Scenario,
        d: DeviceId,
        to: AccountId,
        answer: &Answer,
        o: &mut Out<Party>,
    ) {
        let Answer::Devices(entries) = answer else {
            return;
        };
        if entries.is_empty() {
            return;
        }
        let sender = scenario.device(d).account;
        o.send(
            actor_id(Role::Relay),
            Msg::Typing {
                from: (!scenario.features.sealed_sender).then_some(sender),
                sender,
                to,
                tokens: entries.iter().map(|e| e.token).collect(),
            },
        );
    }

    /// Answers each signed content newly readable (`signed`) with a delivery receipt to the
    /// account it claims to come from, through the relay. A receipt carries no payload (command 101 of
    /// the push protocol, as reverse-engineered clients show); under sealed sender it is sealed
    /// like a message, so its envelope names only the account it goes to (Signal seals its
    /// receipts; Martiny et al., "Improving Signal's Sealed Sender", NDSS 2021, §3). The
    /// connection it is pushed on still names this device.
    fn send_receipts(
        &self,
        scenario: &Scenario,
        d: DeviceId,
        signed: &[(KeyId, AccountId, ContentId)],
        o: &mut Out<Party>,
    ) {
        let from = (!scenario.features.sealed_sender).then_some(scenario.device(d).account);
        let own = scenario.device(d).account;
        // None for a copy from the account's own device.
        let due: BTreeSet<(AccountId, ContentId)> = signed
            .iter()
            .filter(|(_, a, c)| *a != own && !self.learned.contains(c))
            .map(|&(_, a, c)| (a, c))
            .collect();
        for (to, content) in due {
            o.send(
                actor_id(Role::Relay),
                Msg::Receipt {
                    from,
                    to,
                    content,
                    read: false,
                },
            );
        }
    }

    /// Decides the signed contents waiting for `sender`'s keys, now that they are cached: a
    /// content is accepted if it is signed with a signing key listed (and accepted) for the
    /// sender, and dropped otherwise.
    fn settle(&mut self, sender: AccountId) {
        let Some(keys) = self.signing_keys(sender) else {
            return;
        };
        let due: Vec<_> = self
            .unverified
            .iter()
            .filter(|(a, _, _)| *a == sender)
            .copied()
            .collect();
        for (a, key, c) in due {
            self.unverified.remove(&(a, key, c));
            if keys.contains(&key) {
                self.accepted.insert((a, c));
            }
        }
    }

    /// The signing keys this device accepts for `sender`, from a key query or a lookup; `None`
    /// when it has asked for neither.
    fn signing_keys(&self, sender: AccountId) -> Option<BTreeSet<KeyId>> {
        let answer = self.keys.get(&sender).or_else(|| self.cache.get(&sender))?;
        Some(match answer {
            Answer::Devices(entries) => entries.iter().map(|e| e.sig).collect(),
            Answer::NotRegistered => BTreeSet::new(),
        })
    }

    /// Keeps the entries this device accepts. Without CKV every entry is taken on trust; with
    /// CKV an entry is kept only if it carries the target account's signature over its key and
    /// token, and any other entry raises an alert.
    fn verify(&mut self, scenario: &Scenario, target: AccountId, answer: Answer) -> Answer {
        let Answer::Devices(entries) = answer else {
            return answer;
        };
        if !scenario.features.ckv {
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
                let mut signed = Term::sign(
                    KeyId::DeviceSig(d),
                    Term::pair(Term::Handle(from), Term::Content(c)),
                );
                if scenario.features.sealed_sender {
                    // The device's certificate, issued at registration, travels sealed with it.
                    signed = Term::pair(signed, sender_certificate(from, KeyId::DeviceSig(d)));
                }
                let payloads = entries
                    .iter()
                    .map(|e| (e.token, Term::enc(e.key, signed.clone())))
                    .collect();
                let envelope_from = (!scenario.features.sealed_sender).then_some(from);
                o.send(
                    actor_id(Role::Relay),
                    Msg::Push {
                        from: envelope_from,
                        to,
                        payloads,
                    },
                );
                // A copy for each other device of the sender's account, pushed to the sender's
                // own handle and sealed alike; the keys are the account's own, known from
                // registration (no lookup of one's own handle is modelled).
                let own: Vec<(Token, Term)> = scenario
                    .account(from)
                    .devices
                    .iter()
                    .filter(|&&e| e != d && scenario.features.own_device_copies)
                    .map(|&e| {
                        (
                            Token::Device(e),
                            Term::enc(KeyId::Device(e), signed.clone()),
                        )
                    })
                    .collect();
                if !own.is_empty() {
                    o.send(
                        actor_id(Role::Relay),
                        Msg::Push {
                            from: envelope_from,
                            to: from,
                            payloads: own,
                        },
                    );
                }
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
}

/// The signed `(sender handle, content)` pairs readable in `k`, with the key that signed each.
fn signed_contents(k: &Knowledge) -> Vec<(KeyId, AccountId, ContentId)> {
    k.terms()
        .filter_map(|t| {
            let Term::Sign(key, body) = t else {
                return None;
            };
            let Term::Pair(h, c) = &**body else {
                return None;
            };
            match (&**h, &**c) {
                (Term::Handle(a), Term::Content(c)) => Some((*key, *a, *c)),
                _ => None,
            }
        })
        .collect()
}
