//! Renaming devices everywhere in a value: the [`Rename`] trait, implemented by every type of
//! the model's state and steps, and [`Perm`], a permutation of the devices.
//!
//! Symmetry reduction (`symmetry.rs`) renames interchangeable devices; a renaming that forgot a
//! field holding a device id (a push token, a key, a lookup's identity) would make a renamed
//! state one the system cannot reach, and the reduction unsound. So renaming is total by
//! construction: every struct is renamed by destructuring *all* of its fields (no `..`) and
//! every enum by an exhaustive match (no wildcard), each field renamed through this trait. A
//! field added to a struct of the state is then a compile error here until someone says how it
//! renames; a field whose type holds no device is renamed by the identity impls below, which
//! exist only for types that cannot hold one.
//!
//! Lists whose order follows device ids (the entries of a directory answer, the payloads of a
//! push) are re-sorted after renaming, as the party that builds them sorts them; every other
//! list keeps its order. Sets and maps are rebuilt, so they are sorted by the renamed values.
//!
//! A [`Renamer`] says where each device goes. It need not be injective: symmetry reduction
//! also renames through a *colouring* (devices mapped to colours) to compute keys that no
//! renaming of interchangeable devices changes.

use crate::knowledge::{AccountId, ContentId, Day, DeviceId, IpId, KeyId, Knowledge, Term, Token};
use crate::protocol::device::{Channel, Sent};
use crate::protocol::wire::{Answer, Entry, LookupId, LookupRequest, Msg, Origin, Record, Timer};
use crate::protocol::{
    AuthorityState, CarrierState, Connections, DeviceState, DirectoryState, HashedIfUsed, LogState,
    PartyState, RelayState, SERVERS,
};
use crate::state::{State, Step};
use stateright::actor::{
    ActorModelAction, ActorModelState, Envelope, Id, Network, RandomChoices, Timers,
};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::Arc;

/// Where each device goes under a renaming.
pub trait Renamer {
    /// The new name of device `d`.
    fn device(&self, d: DeviceId) -> DeviceId;
    /// A knowledge set with its devices renamed (a renamer may cache this: it is the costly part).
    fn knowledge(&self, k: &Knowledge) -> Knowledge;
}

/// A value whose device ids can be renamed.
pub trait Rename {
    /// `self` with every device id it holds renamed by `r`.
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self;
}

/// Types that hold no device id: renaming is the identity.
macro_rules! holds_no_device {
    ($($t:ty),* $(,)?) => {$(
        impl Rename for $t {
            fn rename<R: Renamer + ?Sized>(&self, _: &R) -> Self {
                self.clone()
            }
        }
    )*};
}

holds_no_device!(AccountId, ContentId, IpId, Day, u8, usize, bool, (), String);

impl Rename for DeviceId {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        r.device(*self)
    }
}

/// An actor id: the servers keep theirs, a device's follows the device.
impl Rename for Id {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let n = usize::from(*self);
        if n < SERVERS {
            *self
        } else {
            Id::from(SERVERS + r.device(DeviceId((n - SERVERS) as u8)).0 as usize)
        }
    }
}

impl<T: Rename> Rename for Option<T> {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        self.as_ref().map(|x| x.rename(r))
    }
}

/// A list keeps its order (lists sorted by device are re-sorted by their owner type).
impl<T: Rename> Rename for Vec<T> {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        self.iter().map(|x| x.rename(r)).collect()
    }
}

impl<T: Rename> Rename for VecDeque<T> {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        self.iter().map(|x| x.rename(r)).collect()
    }
}

impl<T: Rename + Ord> Rename for BTreeSet<T> {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        self.iter().map(|x| x.rename(r)).collect()
    }
}

impl<K: Rename + Ord, V: Rename> Rename for BTreeMap<K, V> {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        self.iter()
            .map(|(k, v)| (k.rename(r), v.rename(r)))
            .collect()
    }
}

impl<T: Rename> Rename for Arc<T> {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        Arc::new((**self).rename(r))
    }
}

impl<A: Rename, B: Rename> Rename for (A, B) {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        (self.0.rename(r), self.1.rename(r))
    }
}

impl<A: Rename, B: Rename, C: Rename> Rename for (A, B, C) {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        (self.0.rename(r), self.1.rename(r), self.2.rename(r))
    }
}

impl<A: Rename, B: Rename, C: Rename, D: Rename> Rename for (A, B, C, D) {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        (
            self.0.rename(r),
            self.1.rename(r),
            self.2.rename(r),
            self.3.rename(r),
        )
    }
}

// Symbolic terms and knowledge.

impl Rename for Token {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        match self {
            Token::Device(d) => Token::Device(d.rename(r)),
            Token::Ghost => Token::Ghost,
        }
    }
}

impl Rename for KeyId {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        match self {
            KeyId::Device(d) => KeyId::Device(d.rename(r)),
            KeyId::DeviceSig(d) => KeyId::DeviceSig(d.rename(r)),
            KeyId::Account(a) => KeyId::Account(a.rename(r)),
            KeyId::Ghost => KeyId::Ghost,
            KeyId::Enclave => KeyId::Enclave,
            KeyId::Directory => KeyId::Directory,
        }
    }
}

impl Rename for Term {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        match self {
            Term::Handle(a) => Term::Handle(a.rename(r)),
            Term::Ip(i) => Term::Ip(i.rename(r)),
            Term::Day(d) => Term::Day(d.rename(r)),
            Term::Token(t) => Term::Token(t.rename(r)),
            Term::Count(n) => Term::Count(n.rename(r)),
            Term::Read => Term::Read,
            Term::ForMessage => Term::ForMessage,
            Term::SenderCheck => Term::SenderCheck,
            Term::Content(c) => Term::Content(c.rename(r)),
            Term::Pk(k) => Term::Pk(k.rename(r)),
            Term::Sk(k) => Term::Sk(k.rename(r)),
            Term::Pair(a, b) => Term::pair(a.as_ref().rename(r), b.as_ref().rename(r)),
            Term::Enc(k, b) => Term::enc(k.rename(r), b.as_ref().rename(r)),
            Term::Sign(k, b) => Term::sign(k.rename(r), b.as_ref().rename(r)),
        }
    }
}

impl Rename for Knowledge {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        r.knowledge(self)
    }
}

// Wire messages and timers.

impl Rename for LookupRequest {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let LookupRequest {
            action,
            requester,
            token,
            ip,
            target,
            for_message,
            draft,
            also,
        } = self;
        LookupRequest {
            action: action.rename(r),
            requester: requester.rename(r),
            token: token.rename(r),
            ip: ip.rename(r),
            target: target.rename(r),
            // A flag names no device.
            for_message: *for_message,
            draft: draft.rename(r),
            also: HashedIfUsed(also.0.rename(r)),
        }
    }
}

impl Rename for LookupId {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let LookupId { device, origin } = self;
        LookupId {
            device: device.rename(r),
            origin: match origin {
                Origin::Action(n) => Origin::Action(*n),
                Origin::Sender(a) => Origin::Sender(a.rename(r)),
                Origin::Batch(n, a) => Origin::Batch(*n, a.rename(r)),
            },
        }
    }
}

impl Rename for Record {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let Record {
            day,
            requester,
            target,
            ip,
            device_count,
            draft,
            for_message,
            lookup,
            sender_check,
        } = self;
        Record {
            day: day.rename(r),
            requester: requester.rename(r),
            target: target.rename(r),
            ip: ip.rename(r),
            device_count: device_count.rename(r),
            draft: draft.rename(r),
            // A flag names no device.
            for_message: *for_message,
            lookup: lookup.rename(r),
            sender_check: *sender_check,
        }
    }
}

impl Rename for Entry {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let Entry {
            token,
            key,
            sig,
            attestation,
        } = self;
        Entry {
            token: token.rename(r),
            key: key.rename(r),
            sig: sig.rename(r),
            attestation: attestation.rename(r),
        }
    }
}

impl Rename for Answer {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        match self {
            Answer::NotRegistered => Answer::NotRegistered,
            Answer::Devices(entries) => {
                // The directory lists a handle's devices in device order (the ghost last).
                let mut e = entries.rename(r);
                e.sort();
                Answer::Devices(e)
            }
        }
    }
}

impl Rename for Msg {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        match self {
            Msg::Lookup(q) => Msg::Lookup(q.rename(r)),
            Msg::LookupReply { target, answer } => Msg::LookupReply {
                target: target.rename(r),
                answer: answer.rename(r),
            },
            Msg::LogWrite(rec) => Msg::LogWrite(rec.rename(r)),
            Msg::LogAck(rec) => Msg::LogAck(rec.rename(r)),
            Msg::KeyQuery { handle } => Msg::KeyQuery {
                handle: handle.rename(r),
            },
            Msg::KeyReply { handle, answer } => Msg::KeyReply {
                handle: handle.rename(r),
                answer: answer.rename(r),
            },
            Msg::Push { from, to, payloads } => {
                // A device builds its payloads in the order of the answer's entries.
                let mut p = payloads.rename(r);
                p.sort();
                Msg::Push {
                    from: from.rename(r),
                    to: to.rename(r),
                    payloads: p,
                }
            }
            Msg::Deliver {
                from,
                to,
                token,
                payload,
            } => Msg::Deliver {
                from: from.rename(r),
                to: to.rename(r),
                token: token.rename(r),
                payload: payload.rename(r),
            },
            Msg::Receipt {
                from,
                to,
                content,
                read,
            } => Msg::Receipt {
                from: from.rename(r),
                to: to.rename(r),
                content: content.rename(r),
                read: *read,
            },
            Msg::DeliverReceipt {
                from,
                to,
                token,
                content,
                read,
            } => Msg::DeliverReceipt {
                from: from.rename(r),
                to: to.rename(r),
                token: token.rename(r),
                content: content.rename(r),
                read: *read,
            },
            Msg::Typing {
                from,
                sender,
                to,
                tokens,
            } => {
                // A device lists the tokens in the order of the answer's entries.
                let mut t = tokens.rename(r);
                t.sort();
                Msg::Typing {
                    from: from.rename(r),
                    sender: sender.rename(r),
                    to: to.rename(r),
                    tokens: t,
                }
            }
            Msg::DeliverTyping {
                from,
                sender,
                to,
                token,
            } => Msg::DeliverTyping {
                from: from.rename(r),
                sender: sender.rename(r),
                to: to.rename(r),
                token: token.rename(r),
            },
            Msg::Sms { from, to, body } => Msg::Sms {
                from: from.rename(r),
                to: to.rename(r),
                body: body.rename(r),
            },
            Msg::LegalRequest { handle } => Msg::LegalRequest {
                handle: handle.rename(r),
            },
            Msg::ProspectiveOrder { handle, days } => Msg::ProspectiveOrder {
                handle: handle.rename(r),
                days: *days,
            },
            Msg::SubscriberRequest { handle } => Msg::SubscriberRequest {
                handle: handle.rename(r),
            },
            Msg::SubscriberDisclosure { handle, addresses } => Msg::SubscriberDisclosure {
                handle: handle.rename(r),
                addresses: {
                    let mut a: Vec<_> = addresses.iter().map(|ip| ip.rename(r)).collect();
                    a.sort();
                    a
                },
            },
            Msg::TokenRequest { token } => Msg::TokenRequest {
                token: token.rename(r),
            },
            Msg::TokenDisclosure { token, account } => Msg::TokenDisclosure {
                token: token.rename(r),
                account: account.rename(r),
            },
            Msg::ConnectionRequest { device } => Msg::ConnectionRequest {
                device: device.rename(r),
            },
            Msg::ConnectionDisclosure {
                device,
                day,
                connected,
            } => Msg::ConnectionDisclosure {
                device: device.rename(r),
                day: day.rename(r),
                connected: connected.rename(r),
            },
            Msg::Disclosure {
                handle,
                day,
                records,
            } => Msg::Disclosure {
                handle: handle.rename(r),
                day: day.rename(r),
                // The log discloses its records in their order (a set's): renamed records are
                // sorted again, or two devices swapped would give a disclosure the log never
                // sends.
                records: {
                    let mut renamed = records.rename(r);
                    renamed.sort();
                    renamed
                },
            },
        }
    }
}

impl Rename for Timer {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        match self {
            Timer::UserAction(n) => Timer::UserAction(n.rename(r)),
            Timer::LegalRequest(n) => Timer::LegalRequest(n.rename(r)),
            Timer::Persist => Timer::Persist,
            Timer::Forge { victim, target } => Timer::Forge {
                victim: victim.rename(r),
                target: target.rename(r),
            },
        }
    }
}

// The parties' states.

impl Rename for Channel {
    fn rename<R: Renamer + ?Sized>(&self, _: &R) -> Self {
        match self {
            Channel::Imessage => Channel::Imessage,
            Channel::Sms => Channel::Sms,
        }
    }
}

impl Rename for Sent {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let Sent {
            to,
            content,
            channel,
        } = self;
        Sent {
            to: to.rename(r),
            content: content.rename(r),
            channel: channel.rename(r),
        }
    }
}

impl Rename for DeviceState {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let DeviceState {
            cache,
            keys,
            queued,
            sent,
            learned,
            accepted,
            unverified,
            alerts,
            receipts,
            read_receipts,
            read,
            composing,
            typing,
        } = self;
        DeviceState {
            cache: cache.rename(r),
            keys: keys.rename(r),
            queued: queued.rename(r),
            sent: sent.rename(r),
            learned: learned.rename(r),
            accepted: accepted.rename(r),
            unverified: unverified.rename(r),
            alerts: alerts.rename(r),
            receipts: receipts.rename(r),
            read_receipts: read_receipts.rename(r),
            read: read.rename(r),
            composing: composing.rename(r),
            typing: typing.rename(r),
        }
    }
}

impl Rename for DirectoryState {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let DirectoryState {
            day,
            knowledge,
            held,
            held_keys,
            answered,
            impersonating,
            watching,
        } = self;
        DirectoryState {
            day: day.rename(r),
            knowledge: knowledge.rename(r),
            held: held.rename(r),
            held_keys: held_keys.rename(r),
            answered: answered.rename(r),
            impersonating: impersonating.rename(r),
            watching: watching.rename(r),
        }
    }
}

impl Rename for LogState {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let LogState {
            day,
            records,
            knowledge,
            persisted,
            crashes,
            received,
        } = self;
        LogState {
            day: day.rename(r),
            records: records.rename(r),
            knowledge: knowledge.rename(r),
            persisted: persisted.rename(r),
            crashes: crashes.rename(r),
            received: received.rename(r),
        }
    }
}

impl Rename for RelayState {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let RelayState {
            knowledge,
            connections,
        } = self;
        RelayState {
            knowledge: knowledge.rename(r),
            connections: HashedIfUsed(Connections {
                day: connections.day,
                records: connections.records.rename(r),
            }),
        }
    }
}

impl Rename for CarrierState {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let CarrierState { knowledge } = self;
        CarrierState {
            knowledge: knowledge.rename(r),
        }
    }
}

impl Rename for AuthorityState {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let AuthorityState {
            served,
            disclosed,
            tokens,
            connections,
            knowledge,
        } = self;
        AuthorityState {
            served: served.rename(r),
            disclosed: disclosed.rename(r),
            tokens: tokens.rename(r),
            connections: HashedIfUsed(connections.0.rename(r)),
            knowledge: knowledge.rename(r),
        }
    }
}

impl Rename for PartyState {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        match self {
            PartyState::Directory(x) => PartyState::Directory(x.rename(r)),
            PartyState::LookupLog(x) => PartyState::LookupLog(x.rename(r)),
            PartyState::Relay(x) => PartyState::Relay(x.rename(r)),
            PartyState::Carrier(x) => PartyState::Carrier(x.rename(r)),
            PartyState::Authority(x) => PartyState::Authority(x.rename(r)),
            PartyState::Device(x) => PartyState::Device(x.rename(r)),
        }
    }
}

// stateright's types: the network, timers, steps.

impl<M: Rename> Rename for Envelope<M> {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let Envelope { src, dst, msg } = self;
        Envelope {
            src: src.rename(r),
            dst: dst.rename(r),
            msg: msg.rename(r),
        }
    }
}

impl Rename for Network<Msg> {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        match self {
            // A channel is renamed with its ends; its messages keep their order.
            Network::Ordered(channels) => {
                Network::new_ordered(channels.iter().flat_map(|((src, dst), queue)| {
                    let (src, dst) = (src.rename(r), dst.rename(r));
                    queue
                        .rename(r)
                        .into_iter()
                        .map(move |msg| Envelope { src, dst, msg })
                }))
            }
            Network::UnorderedNonDuplicating(multiset) => Network::new_unordered_nonduplicating(
                multiset
                    .iter()
                    .flat_map(|(e, count)| std::iter::repeat_n(e.rename(r), *count)),
            ),
            Network::UnorderedDuplicating(set, last) => {
                Network::new_unordered_duplicating_with_last_msg(
                    set.iter().map(|e| e.rename(r)),
                    last.rename(r),
                )
            }
        }
    }
}

impl<T: Rename + Hash + Eq> Rename for Timers<T> {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        let mut out = Timers::new();
        for t in self.iter() {
            out.set(t.rename(r));
        }
        out
    }
}

/// The model has no random choices (`Party::Random` is `()`), so they name no device.
impl Rename for RandomChoices<()> {
    fn rename<R: Renamer + ?Sized>(&self, _: &R) -> Self {
        self.clone()
    }
}

impl<M: Rename, T: Rename, X: Rename> Rename for ActorModelAction<M, T, X> {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        match self {
            ActorModelAction::Deliver { src, dst, msg } => ActorModelAction::Deliver {
                src: src.rename(r),
                dst: dst.rename(r),
                msg: msg.rename(r),
            },
            ActorModelAction::Drop(e) => ActorModelAction::Drop(e.rename(r)),
            ActorModelAction::Timeout(id, t) => {
                ActorModelAction::Timeout(id.rename(r), t.rename(r))
            }
            ActorModelAction::Crash(id) => ActorModelAction::Crash(id.rename(r)),
            ActorModelAction::Recover(id) => ActorModelAction::Recover(id.rename(r)),
            ActorModelAction::SelectRandom { actor, key, random } => {
                ActorModelAction::SelectRandom {
                    actor: actor.rename(r),
                    key: key.rename(r),
                    random: random.rename(r),
                }
            }
        }
    }
}

impl Rename for Step {
    fn rename<R: Renamer + ?Sized>(&self, r: &R) -> Self {
        match self {
            Step::Actor(a) => Step::Actor(a.rename(r)),
            Step::Tick => Step::Tick,
        }
    }
}

/// One actor's slot of a state: everything the state keeps per actor.
pub struct Slot<'a> {
    pub state: &'a Arc<PartyState>,
    pub timers: &'a Timers<Timer>,
    pub random: &'a RandomChoices<()>,
    pub crashed: bool,
    pub storage: &'a Option<BTreeSet<Record>>,
}

/// Cuts a state into its actor slots and its network. Destructures every field of the state, so
/// a field stateright adds is a compile error here (and in [`Perm::state`]).
pub fn slots(s: &State) -> (Vec<Slot<'_>>, &Network<Msg>) {
    let ActorModelState {
        actor_states,
        network,
        timers_set,
        random_choices,
        crashed,
        // The claims' history names no device in any renaming symmetry applies: a past-time
        // operator kept per device (or party) keeps every device out of symmetry
        // (`Formula::devices_named`); `Perm::state` copies it.
        history: _,
        actor_storages,
    } = s;
    let slots = (0..actor_states.len())
        .map(|i| Slot {
            state: &actor_states[i],
            timers: &timers_set[i],
            random: &random_choices[i],
            crashed: crashed[i],
            storage: &actor_storages[i],
        })
        .collect();
    (slots, network)
}

/// A permutation of the devices, as a renamer: device `d` becomes `image[d]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Perm {
    image: Vec<u8>,
    /// The devices the permutation moves, as a bit set (a scenario has at most 64 devices).
    moved: u64,
    /// This permutation's number on this thread, for the cache of renamed knowledge sets.
    id: usize,
}

thread_local! {
    /// The permutations numbered on this thread (never forgotten, so that a number always means
    /// one permutation; there are few).
    static PERMS: RefCell<HashMap<Vec<u8>, usize>> = RefCell::new(HashMap::new());
    /// Renamed knowledge sets, by (permutation number, interned set), with the source kept
    /// alive so that its address is not reused while it is a key.
    static RENAMED: RefCell<HashMap<(usize, usize), (Knowledge, Knowledge)>> =
        RefCell::new(HashMap::new());
}

/// Forgets the renamed knowledge sets and skeletons of this thread (a search calls it when it
/// starts). The permutations keep their numbers: a `Perm` may outlive a search.
pub fn clear_cache() {
    RENAMED.with(|c| c.borrow_mut().clear());
    SKELETONS.with(|c| c.borrow_mut().clear());
}

/// How many renamed knowledge sets and skeletons this thread remembers (what
/// [`clear_cache`] forgets).
pub fn remembered() -> usize {
    RENAMED.with(|c| c.borrow().len()) + SKELETONS.with(|c| c.borrow().len())
}

impl Perm {
    /// The permutation that sends device `d` to `image[d]`.
    ///
    /// # Panics
    /// If `image` is not a permutation of `0..image.len()`.
    pub fn new(image: Vec<u8>) -> Self {
        let mut seen = vec![false; image.len()];
        for &i in &image {
            assert!(
                (i as usize) < image.len() && !std::mem::replace(&mut seen[i as usize], true),
                "not a permutation: {image:?}"
            );
        }
        let id = PERMS.with(|p| {
            let mut p = p.borrow_mut();
            let next = p.len();
            *p.entry(image.clone()).or_insert(next)
        });
        let moved = image
            .iter()
            .enumerate()
            .filter(|(from, to)| *from != **to as usize)
            .fold(0, |m, (from, _)| m | bit(from));
        Perm { image, moved, id }
    }

    /// The identity on `n` devices.
    pub fn identity(n: usize) -> Self {
        Self::new((0..n as u8).collect())
    }

    /// The permutation that exchanges devices `a` and `b`.
    pub fn swap(n: usize, a: usize, b: usize) -> Self {
        let mut image: Vec<u8> = (0..n as u8).collect();
        image.swap(a, b);
        Self::new(image)
    }

    /// Whether renaming `k` by this permutation gives `k` back. Exact: the renaming is a
    /// bijection on terms, so it fixes the set exactly when it maps every term that names a
    /// moved device into the set.
    pub fn fixes_knowledge(&self, k: &Knowledge) -> bool {
        let sk = skeleton(k);
        sk.mentions & self.moved == 0
            || sk.terms.iter().all(|(t, _, devices)| {
                devices.iter().all(|&d| self.moved & bit(d as usize) == 0)
                    || k.holds(&t.rename(self))
            })
    }

    /// The inverse permutation.
    pub fn inverse(&self) -> Self {
        let mut image = vec![0; self.image.len()];
        for (from, &to) in self.image.iter().enumerate() {
            image[to as usize] = from as u8;
        }
        Self::new(image)
    }

    /// The devices the permutation moves, as a bit set.
    pub fn moved(&self) -> u64 {
        self.moved
    }

    /// `s` with its devices renamed: each device's slot moves to its new name, and every value
    /// in the state is renamed.
    pub fn state(&self, s: &State) -> State {
        let (slots, network) = slots(s);
        let n = slots.len();
        let mut actor_states = vec![None; n];
        let mut timers_set = vec![None; n];
        let mut random_choices = vec![None; n];
        let mut crashed = vec![false; n];
        let mut actor_storages = vec![None; n];
        for (i, slot) in slots.iter().enumerate() {
            let j = usize::from(Id::from(i).rename(self));
            actor_states[j] = Some(slot.state.rename(self));
            timers_set[j] = Some(slot.timers.rename(self));
            random_choices[j] = Some(slot.random.rename(self));
            crashed[j] = slot.crashed;
            actor_storages[j] = Some(slot.storage.rename(self));
        }
        // A permutation fills every slot exactly once.
        let all = "a permutation fills every slot";
        ActorModelState {
            actor_states: actor_states.into_iter().map(|x| x.expect(all)).collect(),
            network: network.rename(self),
            timers_set: timers_set.into_iter().map(|x| x.expect(all)).collect(),
            random_choices: random_choices.into_iter().map(|x| x.expect(all)).collect(),
            crashed,
            history: s.history.clone(),
            actor_storages: actor_storages.into_iter().map(|x| x.expect(all)).collect(),
        }
    }
}

impl Renamer for Perm {
    fn device(&self, d: DeviceId) -> DeviceId {
        DeviceId(self.image[d.0 as usize])
    }

    fn knowledge(&self, k: &Knowledge) -> Knowledge {
        if skeleton(k).mentions & self.moved == 0 {
            return k.clone();
        }
        let key = (self.id, k.address());
        if let Some(found) = RENAMED.with(|c| c.borrow().get(&key).map(|(_, r)| r.clone())) {
            return found;
        }
        // A permutation is a bijection on atoms, so the renamed closure is the closure of the
        // renamed terms.
        let renamed = Knowledge::from_terms(k.terms().map(|t| t.rename(self)));
        RENAMED.with(|c| c.borrow_mut().insert(key, (k.clone(), renamed.clone())));
        renamed
    }
}

/// The bit of device `d` in a set of devices.
pub fn bit(d: usize) -> u64 {
    1 << d
}

/// A renamer that records the devices it is asked about (in the order renaming visits them)
/// and renames every device to device 0.
#[derive(Default)]
pub struct Recorder {
    pub seen: RefCell<Vec<u8>>,
    pub mentions: Cell<u64>,
}

impl Renamer for Recorder {
    fn device(&self, d: DeviceId) -> DeviceId {
        self.seen.borrow_mut().push(d.0);
        self.mentions.set(self.mentions.get() | bit(d.0 as usize));
        DeviceId(0)
    }

    fn knowledge(&self, k: &Knowledge) -> Knowledge {
        self.mentions
            .set(self.mentions.get() | skeleton(k).mentions);
        k.clone()
    }
}

/// The devices `x` names, as a bit set.
pub fn mentions<T: Rename>(x: &T) -> u64 {
    let r = Recorder::default();
    x.rename(&r);
    r.mentions.get()
}

/// A knowledge set seen apart from its devices: enough to hash the set as renamed by any map of
/// the devices without renaming a term.
#[derive(Debug)]
pub struct Skeleton {
    /// The devices the set's terms name, as a bit set.
    pub mentions: u64,
    /// The hash of the multiset of the terms that name no device.
    pub fixed: u64,
    /// The other terms: the term, the hash of the term with every device renamed to device 0,
    /// and the devices it names in the order renaming visits them. A term renamed by a map `f`
    /// is then known up to its hash by its shape and `f` applied to its devices in that order.
    pub terms: Vec<(Term, u64, Vec<u8>)>,
}

thread_local! {
    /// Skeletons by interned set, with the set kept alive so that its address is not reused.
    static SKELETONS: RefCell<HashMap<usize, (Knowledge, Rc<Skeleton>)>> =
        RefCell::new(HashMap::new());
}

/// The skeleton of a knowledge set (remembered per thread).
pub fn skeleton(k: &Knowledge) -> Rc<Skeleton> {
    let at = k.address();
    if let Some(found) = SKELETONS.with(|c| c.borrow().get(&at).map(|(_, s)| Rc::clone(s))) {
        return found;
    }
    let mut mentions = 0;
    let mut fixed: Vec<u64> = Vec::new();
    let mut terms = Vec::new();
    for t in k.terms() {
        let r = Recorder::default();
        let shape = fx(&t.rename(&r));
        let seen = r.seen.into_inner();
        if seen.is_empty() {
            fixed.push(shape);
        } else {
            mentions |= r.mentions.get();
            terms.push((t.clone(), shape, seen));
        }
    }
    fixed.sort_unstable();
    let s = Rc::new(Skeleton {
        mentions,
        fixed: fx(&fixed),
        terms,
    });
    SKELETONS.with(|c| c.borrow_mut().insert(at, (k.clone(), Rc::clone(&s))));
    s
}

/// An `FxHash` of a value.
pub fn fx<T: Hash + ?Sized>(x: &T) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    x.hash(&mut h);
    h.finish()
}

/// A permutation as a renamer that gives back every knowledge set it leaves unchanged as it is
/// (without renaming it): for comparing a renamed value with the original.
pub struct Fixing<'a>(pub &'a Perm);

impl Renamer for Fixing<'_> {
    fn device(&self, d: DeviceId) -> DeviceId {
        self.0.device(d)
    }

    fn knowledge(&self, k: &Knowledge) -> Knowledge {
        if self.0.fixes_knowledge(k) {
            k.clone()
        } else {
            self.0.knowledge(k)
        }
    }
}
