//! The messages the parties exchange, and the timers that fire user actions.
//!
//! The flow (docs/design.md §2): a device sends a [`Msg::Lookup`] to the directory;
//! the directory answers with a [`Msg::LookupReply`] and sends the record to
//! the lookup log as a [`Msg::LogWrite`] (acknowledged by [`Msg::LogAck`] when
//! the directory logs before replying). A send goes as one [`Msg::Push`] to
//! the relay, which fans it out as one [`Msg::Deliver`] per target device, or
//! as an [`Msg::Sms`] through the carrier when the handle is not registered.
//! With delivery receipts on, a device that decrypts a message answers its
//! sender with a [`Msg::Receipt`] (as it does, for read receipts, when its user
//! reads), which the relay hands each of the sender's devices as a
//! [`Msg::DeliverReceipt`]; a typing indicator goes as a [`Msg::Typing`] and
//! arrives as a [`Msg::DeliverTyping`].
//! The authority serves a [`Msg::LegalRequest`] on the log and receives a
//! [`Msg::Disclosure`].

use crate::knowledge::{AccountId, ContentId, Day, DeviceId, IpId, KeyId, Term, Token};
use serde::{Deserialize, Serialize};

/// A lookup as the directory receives it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LookupRequest {
    /// The workload action of the requesting device that made this lookup (its identity).
    pub action: u8,
    pub requester: AccountId,
    pub token: Token,
    pub ip: IpId,
    pub target: AccountId,
    /// Whether the lookup is made to send a message (`x-required-for-message`, set by a send;
    /// not by composing or a typing indicator).
    pub for_message: bool,
    /// Only under the planted bug `lookup-carries-draft`: the draft the lookup is made for.
    pub draft: Option<ContentId>,
    /// The other handles the same query asks about (a batch: a `lookup` or `refresh` listing
    /// several handles). Last, and hashed only when set, so that single lookups hash and order
    /// as before batches existed.
    #[serde(default)]
    pub also: HashedIfUsed<Vec<AccountId>>,
}

impl LookupRequest {
    /// Every handle the query asks about: `target`, then the batch's others.
    pub fn targets(&self) -> impl Iterator<Item = AccountId> + '_ {
        std::iter::once(self.target).chain(self.also.iter().copied())
    }

    /// The part of the query about one of its handles, as the directory serves it.
    pub fn about(&self, target: AccountId) -> LookupRequest {
        LookupRequest {
            target,
            also: HashedIfUsed::default(),
            ..self.clone()
        }
    }

    /// The request as the directory's operator receives it. Under private discovery the target
    /// travels encrypted to the discovery enclave, whose private key the operator never holds.
    pub fn to_term(&self, private_discovery: bool) -> Term {
        let target = if private_discovery {
            Term::enc(KeyId::Enclave, Term::Handle(self.target))
        } else {
            Term::Handle(self.target)
        };
        let mut parts = vec![
            Term::Handle(self.requester),
            Term::Token(self.token),
            Term::Ip(self.ip),
            target,
        ];
        parts.extend(self.draft.map(Term::Content));
        Term::tuple(parts)
    }
}

/// Which lookup a record is of: the device that looked up and what made it look up (each
/// workload action looks up at most once, and a device looks a message's sender up at most
/// once). It stands for the time stamp of each entry of the real log, so two lookups are two
/// records even when everything else about them is equal, and an acknowledgement names the
/// one lookup it releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LookupId {
    pub device: DeviceId,
    pub origin: Origin,
}

/// What made a device look a handle up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Origin {
    /// The workload action of that index (composing, sending, typing).
    Action(u8),
    /// A message claiming to come from this account, whose keys the device did not have
    /// (`sender-lookup = "logged"`: the key query is logged as a lookup).
    Sender(AccountId),
    /// The workload action of that index, for the record of one handle of a batch (a query
    /// about several handles): the records of a batch are one query's, as their time stamp
    /// says, and each is a record of its own. (Under private discovery, where no record names
    /// a handle, a batch leaves one record, of `Action`.)
    Batch(u8, AccountId),
}

impl LookupId {
    /// The query this record's lookup was part of: equal for the records of one batch.
    pub fn query(&self) -> (DeviceId, Origin) {
        let origin = match self.origin {
            Origin::Batch(n, _) => Origin::Action(n),
            o => o,
        };
        (self.device, origin)
    }
}

/// One record of the lookup log: what the directory logs about one lookup.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Record {
    pub day: Day,
    pub requester: AccountId,
    /// The handle looked up; `None` under private discovery, where the log never sees it.
    pub target: Option<AccountId>,
    pub ip: IpId,
    /// How many devices the answer listed (ghost included); `None` under private discovery,
    /// where a count would identify the target as well as its handle.
    pub device_count: Option<u8>,
    /// Whatever else of the request the directory logged (only under a planted bug).
    pub draft: Option<ContentId>,
    /// The lookup's `x-required-for-message` flag, when the log keeps it (`log-fields`
    /// listing `for-message`; not public whether Apple's does, so off by default).
    pub for_message: Option<bool>,
    /// Which lookup this is (not a term: no claim reads the time stamp itself).
    pub lookup: LookupId,
    /// Whether the record says its lookup was made to check the sender of a message the
    /// device received (`log-fields` listing `sender-check`; an assumption, off by default).
    /// Last, and hashed only when set, so that records of the scenarios that do not keep it
    /// order and hash as before it existed.
    #[serde(default)]
    pub sender_check: HashedIfUsed<bool>,
}

impl Record {
    /// The record as a term: what a holder of the record can analyse.
    pub fn to_term(&self) -> Term {
        let mut parts = vec![Term::Day(self.day), Term::Handle(self.requester)];
        parts.extend(self.target.map(Term::Handle));
        parts.push(Term::Ip(self.ip));
        parts.extend(self.device_count.map(Term::Count));
        parts.extend(self.draft.map(Term::Content));
        if self.for_message == Some(true) {
            parts.push(Term::ForMessage);
        }
        if *self.sender_check {
            parts.push(Term::SenderCheck);
        }
        Term::tuple(parts)
    }
}

/// A sender certificate (sealed sender): the directory's signature over an account's handle and
/// a signing key it lists for the account. A sealed envelope carries the sender's inside the
/// encryption, so the recipient verifies the sender without asking the directory for keys.
pub fn sender_certificate(account: AccountId, signing_key: KeyId) -> Term {
    Term::sign(
        KeyId::Directory,
        Term::pair(Term::Handle(account), Term::Pk(signing_key)),
    )
}

/// One device in a directory answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    pub token: Token,
    /// The device's encryption key.
    pub key: KeyId,
    /// The device's signing key.
    pub sig: KeyId,
    /// Under Contact Key Verification: the account's signature over the keys and the token.
    pub attestation: Option<Term>,
}

impl Entry {
    /// The body an account signature must cover for this entry to verify.
    pub fn attested_body(&self) -> Term {
        Term::tuple([
            Term::Pk(self.key),
            Term::Pk(self.sig),
            Term::Token(self.token),
        ])
    }
}

/// The directory's answer to a lookup.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Answer {
    NotRegistered,
    Devices(Vec<Entry>),
}

impl Answer {
    pub fn device_count(&self) -> u8 {
        match self {
            Answer::NotRegistered => 0,
            Answer::Devices(e) => e.len() as u8,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Msg {
    /// device -> directory
    Lookup(LookupRequest),
    /// directory -> device
    LookupReply { target: AccountId, answer: Answer },
    /// directory -> lookup log
    LogWrite(Record),
    /// lookup log -> directory (logging before the reply only)
    LogAck(Record),
    /// device -> directory: the keys of a handle, to verify a message signed in its name
    /// (not a lookup: it is not logged)
    KeyQuery { handle: AccountId },
    /// directory -> device
    KeyReply { handle: AccountId, answer: Answer },
    /// device -> relay: one ciphertext per target device; no sender under sealed sender
    Push {
        from: Option<AccountId>,
        to: AccountId,
        payloads: Vec<(Token, Term)>,
    },
    /// relay -> the device holding `token`
    Deliver {
        from: Option<AccountId>,
        to: AccountId,
        token: Token,
        payload: Term,
    },
    /// device -> relay: a delivery (or, `read`, a read) receipt for message `content`, to the
    /// account it came from (no payload; no sender under sealed sender)
    Receipt {
        from: Option<AccountId>,
        to: AccountId,
        content: ContentId,
        read: bool,
    },
    /// relay -> the device holding `token`, one of the devices of `to`
    DeliverReceipt {
        from: Option<AccountId>,
        to: AccountId,
        token: Token,
        content: ContentId,
        read: bool,
    },
    /// device -> relay: a typing indicator from `sender` to `to`'s devices (no payload; no
    /// sender on the envelope under sealed sender)
    Typing {
        from: Option<AccountId>,
        sender: AccountId,
        to: AccountId,
        tokens: Vec<Token>,
    },
    /// relay -> the device holding `token`
    DeliverTyping {
        from: Option<AccountId>,
        sender: AccountId,
        to: AccountId,
        token: Token,
    },
    /// device -> carrier: SMS fallback, in plaintext
    Sms {
        from: AccountId,
        to: AccountId,
        body: Term,
    },
    /// authority -> lookup log: a court order for the records of a handle
    LegalRequest { handle: AccountId },
    /// authority -> directory: a prospective (pen-register) order for the records of a handle
    /// made from today for `days` days
    ProspectiveOrder { handle: AccountId, days: u8 },
    /// authority -> relay: a request for the registration of a push token
    TokenRequest { token: Token },
    /// relay -> authority: the account a push token is registered to
    TokenDisclosure { token: Token, account: AccountId },
    /// authority -> directory: a request for the subscriber information of a handle's account
    SubscriberRequest { handle: AccountId },
    /// directory -> authority: a handle's subscriber information: the addresses its
    /// registered devices connect from
    SubscriberDisclosure {
        handle: AccountId,
        addresses: Vec<IpId>,
    },
    /// authority -> relay: a request for the connection records of a device's push token
    ConnectionRequest { device: DeviceId },
    /// relay -> authority: the days the device was connected (from its address) that the
    /// relay still keeps, disclosed on `day`
    ConnectionDisclosure {
        device: DeviceId,
        day: Day,
        connected: Vec<Day>,
    },
    /// lookup log -> authority (a stored order), or directory -> authority (a prospective
    /// order: nothing when it is served, then each record as it is made)
    Disclosure {
        handle: AccountId,
        day: Day,
        records: Vec<Record>,
    },
}

/// Timers: user actions and court orders, which fire in any order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timer {
    /// The device's user performs its `n`-th workload action.
    UserAction(u8),
    /// The authority serves its `n`-th legal request.
    LegalRequest(u8),
    /// The lookup log writes its records to stable storage (under the log-crash threat).
    Persist,
    /// The key-swap adversary impersonates `victim` toward `target`: from now on it swaps its
    /// own signing key in for the victim's in the answers it gives the target's devices, and
    /// sends the target a forged message in the victim's name. One such timer is armed per
    /// pair the adversary may choose, so a run shows which pair it chose.
    Forge {
        victim: AccountId,
        target: AccountId,
    },
}

/// How a content left the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Channel {
    /// End to end encrypted, through the push relay.
    Imessage,
    /// In plaintext, through the carrier.
    Sms,
}

/// A part of a party's state that only some scenarios use: while it is as at the start it
/// hashes to nothing, so the states of a scenario that never uses it hash as they did before
/// the part existed (the states' hashes choose symmetry's representatives, and so shape the
/// reduced graph and its pinned counts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HashedIfUsed<T>(pub T);

impl<T: Default + PartialEq> HashedIfUsed<T> {
    pub fn is_unused(&self) -> bool {
        self.0 == T::default()
    }
}

impl<T: Default + PartialEq + std::hash::Hash> std::hash::Hash for HashedIfUsed<T> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        if !self.is_unused() {
            self.0.hash(h);
        }
    }
}

impl<T> std::ops::Deref for HashedIfUsed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for HashedIfUsed<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}
