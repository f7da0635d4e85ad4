//! Properties of the Dolev–Yao knowledge closure.

use imessage_model::knowledge::{AccountId, ContentId, Day, DeviceId, KeyId, Knowledge, Term};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = KeyId> {
    prop_oneof![
        (0u8..3).prop_map(|d| KeyId::Device(DeviceId(d))),
        (0u8..2).prop_map(|a| KeyId::Account(AccountId(a))),
        Just(KeyId::Ghost),
    ]
}

fn atom() -> impl Strategy<Value = Term> {
    prop_oneof![
        (0u8..3).prop_map(|a| Term::Handle(AccountId(a))),
        (0u8..3).prop_map(|c| Term::Content(ContentId(c))),
        Just(Term::Content(ContentId::FORGED)),
        key().prop_map(Term::Pk),
        key().prop_map(Term::Sk),
    ]
}

fn term() -> impl Strategy<Value = Term> {
    atom().prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Term::pair(a, b)),
            (key(), inner.clone()).prop_map(|(k, b)| Term::enc(k, b)),
            (key(), inner).prop_map(|(k, b)| Term::sign(k, b)),
        ]
    })
}

fn terms() -> impl Strategy<Value = Vec<Term>> {
    prop::collection::vec(term(), 0..6)
}

/// Whether `needle` occurs anywhere inside `t`.
fn occurs(needle: &Term, t: &Term) -> bool {
    if needle == t {
        return true;
    }
    match t {
        Term::Pair(a, b) => occurs(needle, a) || occurs(needle, b),
        Term::Enc(_, b) | Term::Sign(_, b) => occurs(needle, b),
        _ => false,
    }
}

proptest! {
    /// Content under a key whose private half appears nowhere stays underivable.
    #[test]
    fn no_key_no_content(k in key(), c in 0u8..3, others in terms()) {
        let content = Term::Content(ContentId(c));
        let others: Vec<Term> = others
            .into_iter()
            .filter(|t| !occurs(&Term::Sk(k), t) && !occurs(&content, t))
            .collect();
        let mut all = others.clone();
        all.push(Term::enc(k, Term::pair(Term::Handle(AccountId(0)), content.clone())));
        let know = Knowledge::from_terms(all);
        prop_assert!(!know.derives(&content));
        prop_assert!(!know.knows_content(ContentId(c)));
    }

    /// More received terms never means less knowledge.
    #[test]
    fn closure_is_monotone(a in terms(), b in terms()) {
        let small = Knowledge::from_terms(a.clone());
        let big = Knowledge::from_terms(a.into_iter().chain(b));
        prop_assert!(small.is_subset(&big));
    }

    /// The contents a set yields are exactly its terms that are contents, in order (it visits
    /// only the range of the set where contents sort).
    #[test]
    fn contents_are_the_content_terms(a in terms()) {
        let know = Knowledge::from_terms(a);
        let all: Vec<ContentId> = know
            .terms()
            .filter_map(|t| match t {
                Term::Content(c) => Some(*c),
                _ => None,
            })
            .collect();
        prop_assert_eq!(know.contents().collect::<Vec<_>>(), all);
    }

    /// Closing a closed set changes nothing.
    #[test]
    fn closure_is_idempotent(a in terms()) {
        let once = Knowledge::from_terms(a);
        let twice = Knowledge::from_terms(once.terms().cloned());
        prop_assert_eq!(once, twice);
    }

    /// The order terms arrive in does not matter, nor does learning them one at a time.
    #[test]
    fn closure_ignores_arrival_order(a in terms()) {
        let at_once = Knowledge::from_terms(a.clone());
        let mut one_by_one = Knowledge::new();
        for t in a.into_iter().rev() {
            one_by_one.learn(t);
        }
        prop_assert_eq!(at_once, one_by_one);
    }

    /// The right private key reveals exactly what is under the ciphertext, and nothing does
    /// without it.
    #[test]
    fn right_key_reveals_exactly_the_body(k in key(), body in term()) {
        let ct = Term::enc(k, body.clone());
        let opened = Knowledge::from_terms([ct.clone(), Term::Sk(k)]);
        let mut expected = Knowledge::from_terms([body, Term::Sk(k)]);
        expected.learn(ct.clone());
        prop_assert_eq!(&opened, &expected);
        let closed = Knowledge::from_terms([ct.clone()]);
        prop_assert_eq!(closed.len(), 1);
        prop_assert!(closed.derives(&ct));
    }

    /// A signature cannot be produced without the private key, whatever else is known.
    #[test]
    fn no_signature_without_the_private_key(k in key(), body in term(), others in terms()) {
        prop_assume!(!occurs(&Term::Sk(k), &body));
        let others: Vec<Term> = others
            .into_iter()
            .filter(|t| !occurs(&Term::Sk(k), t) && !occurs(&Term::sign(k, body.clone()), t))
            .collect();
        let mut all = others;
        all.push(body.clone());
        let know = Knowledge::from_terms(all);
        prop_assert!(!know.derives(&Term::sign(k, body)));
    }
}

#[test]
fn a_key_learnt_later_opens_ciphertexts_held_earlier() {
    let ct = Term::enc(KeyId::Ghost, Term::Content(ContentId(0)));
    let mut k = Knowledge::from_terms([ct]);
    assert!(!k.knows_content(ContentId(0)));
    k.learn(Term::pair(
        Term::Handle(AccountId(1)),
        Term::Sk(KeyId::Ghost),
    ));
    assert!(k.knows_content(ContentId(0)));
}

/// A day reads as reports write it.
#[test]
fn a_day_reads_as_reports_write_it() {
    assert_eq!(Day(0).to_string(), "day 0");
    assert_eq!(Day(12).to_string(), "day 12");
}

/// Two equal sets built along different paths are stored once (the search compares them by
/// pointer and keeps one copy); after `clear_interned` an equal set is built anew, so a
/// process that checks many scenarios does not keep every earlier set alive. (Other tests clear
/// the process's table at any time, so sharing is asked of one attempt in many.)
#[test]
fn equal_sets_are_stored_once_until_the_table_is_cleared() {
    use imessage_model::knowledge::clear_interned;
    let a = Term::Content(ContentId(201));
    let b = Term::Day(Day(202));
    let build =
        |first: &Term, second: &Term| Knowledge::from_terms([first.clone(), second.clone()]);
    assert!(
        (0..100).any(|_| build(&a, &b).address() == build(&b, &a).address()),
        "equal sets are not shared"
    );
    let kept = build(&a, &b);
    clear_interned();
    let anew = build(&b, &a);
    assert_eq!(kept, anew);
    assert_ne!(
        kept.address(),
        anew.address(),
        "the table still held the set"
    );
}

/// `is_subset` is inclusion of the closures: a set with a term the other lacks is not a subset.
#[test]
fn a_set_with_a_term_the_other_lacks_is_not_its_subset() {
    let small = Knowledge::from_terms([Term::Content(ContentId(1))]);
    let big = Knowledge::from_terms([Term::Content(ContentId(1)), Term::Day(Day(2))]);
    assert!(small.is_subset(&big));
    assert!(!big.is_subset(&small));
    assert!(!small.is_subset(&Knowledge::new()));
}

/// A pair is built only from both halves; an encryption only from the public key and the body;
/// a signature only from the private key and the body.
#[test]
fn a_compound_term_needs_every_part() {
    let (a, b) = (Term::Content(ContentId(1)), Term::Day(Day(3)));
    let key = KeyId::Device(DeviceId(0));
    let know = |terms: Vec<Term>| Knowledge::from_terms(terms);
    assert!(know(vec![a.clone(), b.clone()]).derives(&Term::pair(a.clone(), b.clone())));
    assert!(!know(vec![a.clone()]).derives(&Term::pair(a.clone(), b.clone())));
    assert!(!know(vec![b.clone()]).derives(&Term::pair(a.clone(), b.clone())));
    assert!(know(vec![Term::Pk(key), a.clone()]).derives(&Term::enc(key, a.clone())));
    assert!(!know(vec![Term::Pk(key)]).derives(&Term::enc(key, a.clone())));
    assert!(!know(vec![a.clone()]).derives(&Term::enc(key, a.clone())));
    assert!(know(vec![Term::Sk(key), a.clone()]).derives(&Term::sign(key, a.clone())));
    assert!(!know(vec![Term::Sk(key)]).derives(&Term::sign(key, a.clone())));
}

/// Size, emptiness and hashing follow the set.
#[test]
fn size_emptiness_and_hash_follow_the_set() {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let hash = |k: &Knowledge| {
        let mut h = DefaultHasher::new();
        k.hash(&mut h);
        h.finish()
    };
    let none = Knowledge::new();
    let two = Knowledge::from_terms([Term::Content(ContentId(1)), Term::Day(Day(3))]);
    let other = Knowledge::from_terms([Term::Content(ContentId(2)), Term::Day(Day(3))]);
    assert!(none.is_empty() && !two.is_empty());
    assert_eq!((none.len(), two.len()), (0, 2));
    assert_ne!(hash(&two), hash(&other));
    assert_eq!(
        hash(&two),
        hash(&Knowledge::from_terms([
            Term::Day(Day(3)),
            Term::Content(ContentId(1))
        ]))
    );
}
