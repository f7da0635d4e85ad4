//! Symbolic (Dolev–Yao) terms and the knowledge closure (docs/design.md §3).
//!
//! Nothing in the model is real cryptography. Messages carry [`Term`]s built
//! from atoms (handles, IP addresses, days, push tokens, keys, message
//! contents) and three constructors: pairing, encryption under a public key
//! and signature under a private key. A party's [`Knowledge`] is the closure
//! of everything it received under the usual analysis rules:
//!
//! * a pair yields both halves;
//! * a signature yields its body (signatures are not confidential);
//! * an encryption yields its body exactly when the matching private key is
//!   itself known.
//!
//! Synthesis ([`Knowledge::derives`]) is the dual: a party can build a pair of
//! terms it can build, an encryption under a public key it knows and a
//! signature only under a private key it knows. That last rule is why a
//! malicious directory cannot forge the account signature that Contact Key
//! Verification checks.

use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// An account (a handle: phone number or e-mail address), by its index in the scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountId(pub u8);

/// A device of the scenario, by its global index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeviceId(pub u8);

/// A message body composed by a user, by its index in the scenario (`m1`, `m2`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContentId(pub u8);

impl ContentId {
    /// The body the key-swap adversary composes itself.
    pub const FORGED: ContentId = ContentId(u8::MAX);
}

/// An IP address, by its index in `Scenario::ips` (one entry per distinct address; devices
/// behind one address share it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IpId(pub u8);

/// A day of the scenario's clock, counted from 0.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Day(pub u8);

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "day {}", self.0)
    }
}

/// A push token: the address the relay delivers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Token {
    /// The token of a real device.
    Device(DeviceId),
    /// The token of the device the directory operator adds under the ghost-device threat.
    Ghost,
}

/// The owner of an asymmetric key pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyId {
    /// A device's message encryption key pair.
    Device(DeviceId),
    /// A device's message signing key pair.
    DeviceSig(DeviceId),
    /// An account's Contact Key Verification signing key pair; the directory never holds its private half.
    Account(AccountId),
    /// The key pair of the directory operator's ghost device (also the signing key it swaps in).
    Ghost,
    /// The key of the contact-discovery enclave under private discovery; the directory's
    /// operator never holds its private half.
    Enclave,
    /// The directory's certificate key: under sealed sender it signs each device's sender
    /// certificate (the account's handle with the device's signing key), which recipients trust.
    Directory,
}

/// A symbolic message term.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Term {
    Handle(AccountId),
    Ip(IpId),
    Day(Day),
    Token(Token),
    Count(u8),
    /// The read-receipt command: what a receipt's envelope shows when it says "read" in the
    /// clear (push command 102) rather than "delivered" (101).
    Read,
    /// The `x-required-for-message` flag of a lookup (reverse-engineered clients): the lookup
    /// was made to send a message. In a record only when the log keeps it (`log-fields`).
    ForMessage,
    Content(ContentId),
    /// The public half of a key pair.
    Pk(KeyId),
    /// The private half of a key pair.
    Sk(KeyId),
    Pair(Arc<Term>, Arc<Term>),
    /// `{body}` encrypted under the public key of `KeyId`.
    Enc(KeyId, Arc<Term>),
    /// `body` signed with the private key of `KeyId`.
    Sign(KeyId, Arc<Term>),
    /// A record's mark that its lookup was made to check the sender of a received message
    /// (`log-fields` listing `sender-check`). Last, so that the other terms keep their order.
    SenderCheck,
}

impl Term {
    pub fn pair(a: Term, b: Term) -> Term {
        Term::Pair(Arc::new(a), Arc::new(b))
    }

    /// Right-nested pairing of a non-empty list: `tuple([a, b, c]) = (a, (b, c))`.
    pub fn tuple(items: impl IntoIterator<Item = Term>) -> Term {
        let mut items: Vec<Term> = items.into_iter().collect();
        let mut acc = items.pop().expect("a tuple has at least one element");
        while let Some(t) = items.pop() {
            acc = Term::pair(t, acc);
        }
        acc
    }

    pub fn enc(key: KeyId, body: Term) -> Term {
        Term::Enc(key, Arc::new(body))
    }

    pub fn sign(key: KeyId, body: Term) -> Term {
        Term::Sign(key, Arc::new(body))
    }
}

/// What one party can derive: a set of terms closed under analysis.
///
/// The set holds every term received and every subterm that analysis
/// extracts; it only grows, so claims that read it are stable (once a party
/// derives a content, it does for ever).
///
/// The set is shared (cloning a state does not copy it) and carries a digest
/// of its contents, so hashing a state does not walk every term. Sets are
/// interned per thread, so equal sets are usually the same allocation and
/// compare in constant time; equality still falls back to comparing the
/// terms themselves, so it is exact.
#[derive(Clone, Debug, Default)]
pub struct Knowledge {
    terms: Arc<Set>,
    digest: u64,
}

/// A closed term set, with the contents it holds as a bit per content id (the claims ask
/// which contents a party derives far more often than a set is built).
#[derive(Clone, Debug, Default)]
struct Set {
    terms: BTreeSet<Term>,
    contents: [u64; 4],
}

impl PartialEq for Set {
    fn eq(&self, other: &Self) -> bool {
        // The contents are a function of the terms.
        self.terms == other.terms
    }
}

impl Set {
    fn new(terms: BTreeSet<Term>) -> Self {
        let mut set = Set {
            terms,
            contents: [0; 4],
        };
        set.note_contents();
        set
    }

    /// Writes `contents` from the terms (the contents sort together in a set).
    fn note_contents(&mut self) {
        self.contents = [0; 4];
        for t in self
            .terms
            .range(Term::Content(ContentId(0))..=Term::Content(ContentId(u8::MAX)))
        {
            if let Term::Content(ContentId(c)) = t {
                self.contents[usize::from(*c) / 64] |= 1 << (c % 64);
            }
        }
    }

    fn has_content(&self, c: ContentId) -> bool {
        self.contents[usize::from(c.0) / 64] & (1 << (c.0 % 64)) != 0
    }
}

/// Term sets by digest.
type SetTable = HashMap<u64, Vec<Arc<Set>>>;

/// Every distinct term set built since the last [`clear_interned`], by digest: one table for
/// the process, so that the workers of a search share one copy of each set (and compare them
/// by pointer).
static INTERNED: std::sync::LazyLock<std::sync::Mutex<SetTable>> =
    std::sync::LazyLock::new(Default::default);

/// The shared copy of `set`: an equal set built earlier, or `set` itself.
fn intern(digest: u64, set: Arc<Set>) -> Arc<Set> {
    // A poisoned table only means another thread panicked while holding it; it is still valid.
    let mut table = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
    let bucket = table.entry(digest).or_default();
    if let Some(found) = bucket.iter().find(|s| ***s == *set) {
        return Arc::clone(found);
    }
    bucket.push(Arc::clone(&set));
    set
}

thread_local! {
    /// Results of learning one term: (the set before, the term) -> the set after. The set before
    /// is kept alive in the value, so that its address is not reused while it is part of a key.
    static LEARNT: RefCell<HashMap<(usize, Term), (Knowledge, Knowledge)>> = RefCell::new(HashMap::new());
}

/// Forgets the term sets interned, and what this thread learnt (a search calls it when it
/// starts, so that a process that checks many scenarios does not keep every earlier scenario's
/// sets alive; sets still in use stay valid, only no longer shared with new equal ones).
pub fn clear_interned() {
    INTERNED.lock().unwrap_or_else(|e| e.into_inner()).clear();
    LEARNT.with(|table| table.borrow_mut().clear());
}

impl PartialEq for Knowledge {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
            && (Arc::ptr_eq(&self.terms, &other.terms) || self.terms == other.terms)
    }
}

impl Eq for Knowledge {}

impl Hash for Knowledge {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.digest);
    }
}

impl Serialize for Knowledge {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.terms.terms.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Knowledge {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A serialised set is already closed under analysis: only its digest is recomputed.
        let set = BTreeSet::<Term>::deserialize(d)?;
        if set.is_empty() {
            return Ok(Knowledge::new());
        }
        let mut h = rustc_hash::FxHasher::default();
        set.hash(&mut h);
        let digest = h.finish();
        Ok(Knowledge {
            terms: intern(digest, Arc::new(Set::new(set))),
            digest,
        })
    }
}

impl Knowledge {
    pub fn new() -> Self {
        Self::default()
    }

    /// The closure of `terms`.
    pub fn from_terms(terms: impl IntoIterator<Item = Term>) -> Self {
        let mut k = Self::new();
        k.learn_all(terms);
        k
    }

    /// Adds `term` and everything analysis extracts from it. The same set learns the same term
    /// in many interleavings, so results are remembered per thread (sets are interned, so the
    /// set's address and the term identify the result).
    pub fn learn(&mut self, term: Term) {
        if self.terms.terms.contains(&term) {
            return;
        }
        let key = (self.address(), term);
        if let Some(after) = LEARNT.with(|t| t.borrow().get(&key).map(|(_, a)| a.clone())) {
            *self = after;
            return;
        }
        let before = self.clone();
        self.learn_all(std::iter::once(key.1.clone()));
        let after = self.clone();
        LEARNT.with(|t| t.borrow_mut().insert(key, (before, after)));
    }

    /// Adds `terms` and closes the set under analysis.
    pub fn learn_all(&mut self, terms: impl IntoIterator<Item = Term>) {
        let mut work: Vec<Term> = terms
            .into_iter()
            .filter(|t| !self.terms.terms.contains(t))
            .collect();
        if work.is_empty() {
            return;
        }
        let whole = Arc::make_mut(&mut self.terms);
        let set = &mut whole.terms;
        while let Some(t) = work.pop() {
            if set.contains(&t) {
                continue;
            }
            match &t {
                Term::Pair(a, b) => {
                    work.push((**a).clone());
                    work.push((**b).clone());
                }
                Term::Sign(_, body) => work.push((**body).clone()),
                Term::Enc(key, body) if set.contains(&Term::Sk(*key)) => {
                    work.push((**body).clone());
                }
                Term::Sk(key) => {
                    // A newly learnt private key opens every ciphertext already held under it.
                    for held in set.iter() {
                        if let Term::Enc(k, body) = held {
                            if k == key {
                                work.push((**body).clone());
                            }
                        }
                    }
                }
                _ => {}
            }
            set.insert(t);
        }
        let mut h = rustc_hash::FxHasher::default();
        set.hash(&mut h);
        self.digest = h.finish();
        whole.note_contents();
        self.terms = intern(self.digest, std::mem::take(&mut self.terms));
    }

    /// Whether the party can produce `term`: it holds it, or can build it from parts it can produce.
    pub fn derives(&self, term: &Term) -> bool {
        if self.terms.terms.contains(term) {
            return true;
        }
        match term {
            Term::Pair(a, b) => self.derives(a) && self.derives(b),
            Term::Enc(key, body) => self.derives(&Term::Pk(*key)) && self.derives(body),
            Term::Sign(key, body) => self.derives(&Term::Sk(*key)) && self.derives(body),
            _ => false,
        }
    }

    /// The message contents this party can derive, in order.
    pub fn contents(&self) -> impl Iterator<Item = ContentId> + '_ {
        let words = self.terms.contents;
        (0..4u8).flat_map(move |w| {
            let mut bits = words[usize::from(w)];
            std::iter::from_fn(move || {
                let b = bits.trailing_zeros();
                (b < 64).then(|| {
                    bits &= bits - 1;
                    ContentId(w * 64 + b as u8)
                })
            })
        })
    }

    pub fn knows_content(&self, c: ContentId) -> bool {
        self.terms.has_content(c)
    }

    /// Whether `term` is in the set itself (not whether it could be built: see [`Self::derives`]).
    pub fn holds(&self, term: &Term) -> bool {
        self.terms.terms.contains(term)
    }

    pub fn terms(&self) -> impl Iterator<Item = &Term> {
        self.terms.terms.iter()
    }

    pub fn is_subset(&self, other: &Knowledge) -> bool {
        self.terms.terms.is_subset(&other.terms.terms)
    }

    pub fn len(&self) -> usize {
        self.terms.terms.len()
    }

    /// The address of the shared term set: equal for clones, and (sets being interned) usually
    /// for equal sets built on one thread.
    pub fn address(&self) -> usize {
        Arc::as_ptr(&self.terms) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.terms.terms.is_empty()
    }
}
