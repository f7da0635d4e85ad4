//! Symmetry reduction: devices that no claim and no step can tell apart are
//! interchangeable, so a state and the same state with those devices
//! renamed are explored once.
//!
//! Two devices are interchangeable when they belong to the same account and
//! have the same workload and address (typically devices that only receive). A
//! permutation of interchangeable devices renames them everywhere: actor
//! slots, timers, envelopes, push tokens and keys inside terms and
//! knowledge, the directory's held replies. Lists whose order follows device
//! ids (answer entries, push payloads) are re-sorted, so the renamed state is
//! exactly the state the system reaches by the renamed run: the permutation
//! is an automorphism of the transition system, and every claim reads
//! accounts, never device numbers, so verdicts are unchanged.
//!
//! The representative of a state is the member of its orbit with the
//! smallest hash (ties: the first permutation tried, identity first). Any
//! member would be sound; this choice is canonical up to hash collisions,
//! which can only cost reduction, never soundness. This runs inside the
//! model's `next_state`, so it works under every checker (stateright's
//! built-in `symmetry()` is applied only by its DFS and simulation checkers).

use crate::knowledge::{DeviceId, KeyId, Knowledge, Term, Token};
use crate::model::State;
use crate::protocol::device::DeviceState;
use crate::protocol::directory::DirectoryState;
use crate::protocol::wire::{Answer, Entry, LookupId, LookupRequest, Msg, Record, Timer};
use crate::protocol::{PartyState, SERVERS};
use crate::scenario::Scenario;
use stateright::actor::{Envelope, Id, Network};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Most permutations tried per state; larger classes are split into chunks of this many devices'
/// factorial (a sound, partial reduction).
const MAX_CLASS: usize = 5;

/// The interchangeable-device classes of a scenario.
#[derive(Clone, Debug, Default)]
pub struct Symmetry {
    /// Every permutation of the devices to try, as a map from old to new device index;
    /// the identity is first.
    perms: Vec<Vec<u8>>,
}

impl Symmetry {
    pub fn of(scenario: &Scenario) -> Self {
        let n = scenario.devices.len();
        let mut classes: Vec<Vec<usize>> = Vec::new();
        for (i, d) in scenario.devices.iter().enumerate() {
            match classes.iter_mut().find(|c| {
                let first = &scenario.devices[c[0]];
                first.account == d.account
                    && first.actions == d.actions
                    && first.ip == d.ip
                    && c.len() < MAX_CLASS
            }) {
                Some(c) => c.push(i),
                None => classes.push(vec![i]),
            }
        }
        let mut perms: Vec<Vec<u8>> = vec![(0..n as u8).collect()];
        for class in classes.iter().filter(|c| c.len() > 1) {
            let mut next = Vec::new();
            for base in &perms {
                for order in permutations(class) {
                    let mut p = base.clone();
                    for (from, to) in class.iter().zip(order) {
                        p[*from] = base[to];
                    }
                    next.push(p);
                }
            }
            perms = next;
        }
        Symmetry { perms }
    }

    /// Whether no two devices are interchangeable.
    pub fn is_trivial(&self) -> bool {
        self.perms.len() <= 1
    }

    /// The representative of `s`'s orbit: its least member by (prefix-free hash, then an exact
    /// total order on states). Because it is the least member of the whole orbit under an order
    /// on values, every member of an orbit has the same representative.
    pub fn canonical(&self, s: State) -> State {
        if self.is_trivial() {
            return s;
        }
        let mut best_hash = hash(&s);
        let mut best = s;
        let mut candidates = Vec::with_capacity(self.perms.len() - 1);
        for (k, p) in self.perms.iter().enumerate().skip(1) {
            candidates.push(apply(&best, p, k));
        }
        for c in candidates {
            let h = hash(&c);
            if h < best_hash || (h == best_hash && c != best && total_order(&c, &best).is_lt()) {
                best_hash = h;
                best = c;
            }
        }
        best
    }
}

/// A hash of a state that writes the length of every collection (stateright's set hashes do
/// not, so states that differ only in which actor holds a timer would tie systematically).
fn hash(s: &State) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    s.actor_states.hash(&mut h);
    let mut net: Vec<u64> = envelope_list(&s.network)
        .iter()
        .map(|e| {
            let mut x = rustc_hash::FxHasher::default();
            e.hash(&mut x);
            x.finish()
        })
        .collect();
    net.sort_unstable();
    net.hash(&mut h);
    for t in &s.timers_set {
        let mut ts: Vec<Timer> = t.iter().copied().collect();
        ts.sort_unstable();
        ts.hash(&mut h);
    }
    s.crashed.hash(&mut h);
    s.actor_storages.hash(&mut h);
    h.finish()
}

/// Every envelope in flight with its multiplicity (ordered networks keep their channel order).
fn envelope_list(n: &Network<Msg>) -> Vec<(Id, Id, &Msg, usize)> {
    let mut v: Vec<(Id, Id, &Msg, usize)> = match n {
        Network::Ordered(channels) => channels
            .iter()
            .flat_map(|((s, d), q)| q.iter().enumerate().map(move |(i, m)| (*s, *d, m, i)))
            .collect(),
        Network::UnorderedNonDuplicating(multiset) => multiset
            .iter()
            .map(|(e, count)| (e.src, e.dst, &e.msg, *count))
            .collect(),
        Network::UnorderedDuplicating(set, last) => set
            .iter()
            .map(|e| (e.src, e.dst, &e.msg, 0))
            .chain(last.iter().map(|e| (e.src, e.dst, &e.msg, 1)))
            .collect(),
    };
    v.sort();
    v
}

/// An exact total order on states, used only to break ties between equal hashes.
fn total_order(a: &State, b: &State) -> std::cmp::Ordering {
    let party = |p: &PartyState| -> Vec<u8> {
        let json = match p {
            PartyState::Directory(x) => serde_json::to_vec(x),
            PartyState::LookupLog(x) => serde_json::to_vec(x),
            PartyState::Relay(x) => serde_json::to_vec(x),
            PartyState::Carrier(x) => serde_json::to_vec(x),
            PartyState::Authority(x) => serde_json::to_vec(x),
            PartyState::Device(x) => serde_json::to_vec(x),
        };
        // The parties' states are plain data (sets, maps keyed by ids, terms).
        json.expect("party states serialise")
    };
    let timers = |s: &State| -> Vec<Vec<Timer>> {
        s.timers_set
            .iter()
            .map(|t| {
                let mut v: Vec<Timer> = t.iter().copied().collect();
                v.sort_unstable();
                v
            })
            .collect()
    };
    a.actor_states
        .iter()
        .map(|p| party(p))
        .cmp(b.actor_states.iter().map(|p| party(p)))
        .then_with(|| envelope_list(&a.network).cmp(&envelope_list(&b.network)))
        .then_with(|| timers(a).cmp(&timers(b)))
        .then_with(|| a.crashed.cmp(&b.crashed))
        .then_with(|| a.actor_storages.cmp(&b.actor_storages))
}

/// Every ordering of `items`, identity first.
fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let head = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, head);
            out.push(tail);
        }
    }
    out
}

/// Renaming of devices by one permutation (with its index, for the renaming cache).
struct Map<'a>(&'a [u8], usize);

thread_local! {
    /// Renamed knowledge sets, by (permutation, interned set), with the source kept alive so
    /// that its address is not reused while it is a key.
    static RENAMED: RefCell<HashMap<(usize, usize), (Knowledge, Knowledge)>> =
        RefCell::new(HashMap::new());
}

/// Forgets the renamed knowledge sets of this thread (a search calls it when it starts).
pub fn clear_cache() {
    RENAMED.with(|c| c.borrow_mut().clear());
}

impl Map<'_> {
    fn device(&self, d: DeviceId) -> DeviceId {
        DeviceId(self.0[d.0 as usize])
    }
    fn id(&self, id: Id) -> Id {
        let n = usize::from(id);
        if n < SERVERS {
            id
        } else {
            Id::from(SERVERS + self.0[n - SERVERS] as usize)
        }
    }
    fn token(&self, t: Token) -> Token {
        match t {
            Token::Device(d) => Token::Device(self.device(d)),
            Token::Ghost => Token::Ghost,
        }
    }
    fn key(&self, k: KeyId) -> KeyId {
        match k {
            KeyId::Device(d) => KeyId::Device(self.device(d)),
            KeyId::DeviceSig(d) => KeyId::DeviceSig(self.device(d)),
            other => other,
        }
    }
    fn term(&self, t: &Term) -> Term {
        match t {
            Term::Token(tok) => Term::Token(self.token(*tok)),
            Term::Pk(k) => Term::Pk(self.key(*k)),
            Term::Sk(k) => Term::Sk(self.key(*k)),
            Term::Pair(a, b) => Term::pair(self.term(a), self.term(b)),
            Term::Enc(k, b) => Term::enc(self.key(*k), self.term(b)),
            Term::Sign(k, b) => Term::sign(self.key(*k), self.term(b)),
            atom => atom.clone(),
        }
    }
    fn knowledge(&self, k: &Knowledge) -> Knowledge {
        let key = (self.1, k.address());
        if let Some(found) = RENAMED.with(|c| c.borrow().get(&key).map(|(_, r)| r.clone())) {
            return found;
        }
        // Renaming is a bijection on atoms, so the renamed closure is the closure of the renamed terms.
        let renamed = Knowledge::from_terms(k.terms().map(|t| self.term(t)));
        RENAMED.with(|c| c.borrow_mut().insert(key, (k.clone(), renamed.clone())));
        renamed
    }
    fn lookup(&self, id: LookupId) -> LookupId {
        LookupId {
            device: self.device(id.device),
            action: id.action,
        }
    }
    fn record(&self, r: &Record) -> Record {
        Record {
            lookup: self.lookup(r.lookup),
            ..r.clone()
        }
    }
    fn records(&self, rs: &BTreeSet<Record>) -> BTreeSet<Record> {
        rs.iter().map(|r| self.record(r)).collect()
    }
    fn answer(&self, a: &Answer) -> Answer {
        match a {
            Answer::NotRegistered => Answer::NotRegistered,
            Answer::Devices(entries) => {
                let mut e: Vec<Entry> = entries
                    .iter()
                    .map(|e| Entry {
                        token: self.token(e.token),
                        key: self.key(e.key),
                        sig: self.key(e.sig),
                        attestation: e.attestation.as_ref().map(|t| self.term(t)),
                    })
                    .collect();
                e.sort();
                Answer::Devices(e)
            }
        }
    }
    fn msg(&self, m: &Msg) -> Msg {
        match m {
            Msg::Lookup(q) => Msg::Lookup(LookupRequest {
                token: self.token(q.token),
                ..q.clone()
            }),
            Msg::LookupReply { target, answer } => Msg::LookupReply {
                target: *target,
                answer: self.answer(answer),
            },
            Msg::KeyReply { handle, answer } => Msg::KeyReply {
                handle: *handle,
                answer: self.answer(answer),
            },
            Msg::Push { from, to, payloads } => {
                let mut p: Vec<(Token, Term)> = payloads
                    .iter()
                    .map(|(t, x)| (self.token(*t), self.term(x)))
                    .collect();
                p.sort();
                Msg::Push {
                    from: *from,
                    to: *to,
                    payloads: p,
                }
            }
            Msg::Deliver {
                from,
                to,
                token,
                payload,
            } => Msg::Deliver {
                from: *from,
                to: *to,
                token: self.token(*token),
                payload: self.term(payload),
            },
            Msg::Sms { from, to, body } => Msg::Sms {
                from: *from,
                to: *to,
                body: self.term(body),
            },
            Msg::LogWrite(r) => Msg::LogWrite(self.record(r)),
            Msg::LogAck(r) => Msg::LogAck(self.record(r)),
            Msg::Disclosure {
                handle,
                day,
                records,
            } => Msg::Disclosure {
                handle: *handle,
                day: *day,
                records: records.iter().map(|r| self.record(r)).collect(),
            },
            // Key queries and court orders name accounts only.
            Msg::KeyQuery { .. } | Msg::LegalRequest { .. } => m.clone(),
        }
    }
    fn envelope(&self, e: &Envelope<Msg>) -> Envelope<Msg> {
        Envelope {
            src: self.id(e.src),
            dst: self.id(e.dst),
            msg: self.msg(&e.msg),
        }
    }
    fn network(&self, n: &Network<Msg>) -> Network<Msg> {
        match n {
            Network::Ordered(channels) => Network::new_ordered(
                channels
                    .iter()
                    .flat_map(|((s, d), q)| {
                        q.iter().map(move |m| Envelope {
                            src: *s,
                            dst: *d,
                            msg: m.clone(),
                        })
                    })
                    .map(|e| self.envelope(&e)),
            ),
            Network::UnorderedNonDuplicating(multiset) => Network::new_unordered_nonduplicating(
                multiset
                    .iter()
                    .flat_map(|(e, count)| std::iter::repeat_n(self.envelope(e), *count)),
            ),
            Network::UnorderedDuplicating(set, last) => {
                Network::new_unordered_duplicating_with_last_msg(
                    set.iter().map(|e| self.envelope(e)),
                    last.as_ref().map(|e| self.envelope(e)),
                )
            }
        }
    }
    fn party(&self, p: &PartyState) -> PartyState {
        match p {
            PartyState::Directory(d) => PartyState::Directory(DirectoryState {
                day: d.day,
                knowledge: self.knowledge(&d.knowledge),
                held: d
                    .held
                    .iter()
                    .map(|(dev, n, t, r)| (self.device(*dev), *n, *t, self.record(r)))
                    .collect(),
                answered: self.records(&d.answered),
                impersonating: d.impersonating.clone(),
            }),
            PartyState::Relay(r) => {
                let mut r = r.clone();
                r.knowledge = self.knowledge(&r.knowledge);
                PartyState::Relay(r)
            }
            PartyState::Carrier(c) => {
                let mut c = c.clone();
                c.knowledge = self.knowledge(&c.knowledge);
                PartyState::Carrier(c)
            }
            PartyState::Device(d) => PartyState::Device(DeviceState {
                cache: d
                    .cache
                    .iter()
                    .map(|(a, ans)| (*a, self.answer(ans)))
                    .collect(),
                keys: d
                    .keys
                    .iter()
                    .map(|(a, ans)| (*a, self.answer(ans)))
                    .collect(),
                unverified: d
                    .unverified
                    .iter()
                    .map(|(a, k, c)| (*a, self.key(*k), *c))
                    .collect(),
                ..d.clone()
            }),
            // A record's term names no device, so the log's knowledge is unchanged.
            PartyState::LookupLog(l) => {
                let mut l = l.clone();
                l.records = self.records(&l.records);
                l.persisted = self.records(&l.persisted);
                l.received = l.received.iter().map(|id| self.lookup(*id)).collect();
                PartyState::LookupLog(l)
            }
            PartyState::Authority(a) => {
                let mut a = a.clone();
                a.disclosed = a
                    .disclosed
                    .iter()
                    .map(|(day, r)| (*day, self.record(r)))
                    .collect();
                PartyState::Authority(a)
            }
        }
    }
}

/// `s` with its devices renamed by `perm` (the `index`-th permutation).
fn apply(s: &State, perm: &[u8], index: usize) -> State {
    let m = Map(perm, index);
    let mut out = s.clone();
    let slot = |i: usize| usize::from(m.id(Id::from(i)));
    for i in 0..s.actor_states.len() {
        let j = slot(i);
        out.actor_states[j] = Arc::new(m.party(&s.actor_states[i]));
        out.timers_set[j] = s.timers_set[i].clone();
        out.random_choices[j] = s.random_choices[i].clone();
        out.crashed[j] = s.crashed[i];
        out.actor_storages[j] = s.actor_storages[i].as_ref().map(|r| m.records(r));
    }
    out.network = m.network(&s.network);
    out
}
