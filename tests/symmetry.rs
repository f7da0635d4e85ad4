//! Symmetry reduction: renaming devices is total and undoes itself; a permutation of
//! interchangeable devices is an automorphism of the full state graph; the representative is
//! the same for every member of an orbit, also with several accounts of many interchangeable
//! devices; and the reduction pays where devices are interchangeable.

use crate::regressions::{scenario, THREE_DEVICES};
use crate::support::{full_graph_within, widened};
use crate::{model_files, repo_path};
use imessage_model::check::{explore, explore_with, Limits, Reduction};
use imessage_model::load::parse;
use imessage_model::rename::{Perm, Rename};
use imessage_model::state::{State, Step};
use imessage_model::symmetry::{Symmetry, Work};
use imessage_model::{ProtocolModel, Scenario, CATALOGUE};
use stateright::Model;
use std::collections::HashSet;
use std::path::Path;

/// Largest full graph these tests walk; larger scenarios (and their widened copies) are left to
/// the comparison of searches with symmetry on and off.
const GRAPH_LIMIT: usize = 60_000;

/// The full graph of `m`, or nothing when it is larger than [`GRAPH_LIMIT`].
fn graph(m: &ProtocolModel) -> Vec<crate::support::Expanded> {
    full_graph_within(m, GRAPH_LIMIT).unwrap_or_default()
}

/// Every scenario of `models/`, and each with one more device per registered account (so that
/// every scenario has interchangeable devices, whatever its threat or network).
fn scenarios() -> Vec<(String, Scenario)> {
    let mut out = Vec::new();
    for name in model_files() {
        let text = std::fs::read_to_string(repo_path(&format!("models/{name}"))).unwrap();
        for (label, text) in [
            (name.clone(), text.clone()),
            (format!("{name} widened"), widened(&text)),
        ] {
            // Parsed at the file's own path, so that the claims files it names are found.
            let path = repo_path(&format!("models/{name}"));
            let s = parse(&path, &text).unwrap_or_else(|e| panic!("{label}: {e}"));
            out.push((label, s));
        }
    }
    out
}

/// Generators of the symmetry group: for every class, the exchange of its first two devices
/// and the cycle through all of them, which together generate every permutation of the class.
/// A property kept by every generator is kept by the whole group.
fn generators(sym: &Symmetry, n: usize) -> Vec<Perm> {
    let mut out = Vec::new();
    for class in sym.classes().iter().filter(|c| c.len() > 1) {
        out.push(Perm::swap(n, class[0], class[1]));
        if class.len() > 2 {
            let mut image: Vec<u8> = (0..n as u8).collect();
            for (k, &d) in class.iter().enumerate() {
                image[d] = class[(k + 1) % class.len()] as u8;
            }
            out.push(Perm::new(image));
        }
    }
    out
}

/// Permutations of all devices that are not automorphisms in general: the reversal and the
/// cyclic shift.
fn any_permutations(n: usize) -> Vec<Perm> {
    vec![
        Perm::new((0..n as u8).rev().collect()),
        Perm::new((0..n as u8).map(|d| (d + 1) % n as u8).collect()),
    ]
}

/// A permutation of the group drawn from `seed` (each class shuffled).
fn group_element(sym: &Symmetry, n: usize, seed: &mut u64) -> Perm {
    let mut image: Vec<u8> = (0..n as u8).collect();
    for class in sym.classes() {
        let mut members = class.clone();
        for i in (1..members.len()).rev() {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            members.swap(i, (*seed >> 33) as usize % (i + 1));
        }
        for (&from, &to) in class.iter().zip(&members) {
            image[from] = to as u8;
        }
    }
    Perm::new(image)
}

/// Renaming by any permutation and then by its inverse gives back every state and every step
/// of the full graph of every scenario (a renaming that lost or garbled a field would not).
#[test]
fn renaming_back_and_forth_gives_back_every_state_and_step() {
    for (name, s) in scenarios() {
        let n = s.devices.len();
        let sym = Symmetry::of(&s);
        let m = ProtocolModel::new(s).without_symmetry();
        let perms: Vec<Perm> = any_permutations(n)
            .into_iter()
            .chain(generators(&sym, n))
            .collect();
        for (st, succ) in graph(&m) {
            for p in &perms {
                let back = p.inverse();
                assert_eq!(back.state(&p.state(&st)), st, "{name}: {p:?}");
                for (a, _) in &succ {
                    assert_eq!(&a.rename(p).rename(&back), a, "{name}: {p:?}");
                }
            }
        }
    }
}

/// Every permutation of interchangeable devices is an automorphism of the full state graph:
/// for every state `s` and step `a`, `p(next(s, a)) == next(p(s), p(a))`, `p(s)` has exactly
/// the renamed steps of `s`, and every claim's condition has the same value on both. This is
/// what makes the renaming total in fact: a field holding a device id that renaming left out
/// would make some renamed successor differ from the successor of the renamed state.
#[test]
fn permutations_of_interchangeable_devices_are_automorphisms() {
    let mut non_trivial = 0;
    for (name, s) in scenarios() {
        let n = s.devices.len();
        let sym = Symmetry::of(&s);
        let gens = generators(&sym, n);
        non_trivial += usize::from(!gens.is_empty());
        let m = ProtocolModel::new(s).without_symmetry();
        let props = m.properties();
        for (st, succ) in graph(&m) {
            for p in &gens {
                let ps = p.state(&st);
                let mut actions = Vec::new();
                m.actions(&ps, &mut actions);
                let theirs: HashSet<Step> = actions.into_iter().collect();
                let ours: HashSet<Step> = succ.iter().map(|(a, _)| a.rename(p)).collect();
                // Steps whose successor is `None` are not in `succ`; compare the enabled ones.
                let enabled: HashSet<Step> = theirs
                    .into_iter()
                    .filter(|a| m.next_state(&ps, a.clone()).is_some())
                    .collect();
                assert_eq!(enabled, ours, "{name}: steps of a renamed state");
                for (a, t) in &succ {
                    assert_eq!(
                        m.next_state(&ps, a.rename(p)),
                        Some(p.state(t)),
                        "{name}: {a:?} under {p:?}"
                    );
                }
                for prop in &props {
                    assert_eq!(
                        (prop.condition)(&m, &st),
                        (prop.condition)(&m, &ps),
                        "{name}: {}",
                        prop.name
                    );
                }
            }
        }
    }
    assert!(
        non_trivial >= 21,
        "only {non_trivial} scenarios have symmetry"
    );
}

/// The representative is the same for every member of an orbit, on every state of the full
/// graph of every scenario: `canonical(p(s)) == canonical(s)` for every generator `p` of the
/// group (so for the whole group), and the representative is its own representative.
#[test]
fn every_member_of_an_orbit_has_the_same_representative() {
    let mut non_trivial = 0;
    for (name, s) in scenarios() {
        let n = s.devices.len();
        let sym = Symmetry::of(&s);
        let gens = generators(&sym, n);
        if gens.is_empty() {
            continue;
        }
        non_trivial += 1;
        let m = ProtocolModel::new(s).without_symmetry();
        // Both ways of finding the representative: the orbit enumerated (small groups, the
        // default there) and labelling.
        let labelled = sym.clone().labelled_only();
        for (st, _) in graph(&m) {
            for sym in [&sym, &labelled] {
                let rep = sym.canonical(st.clone());
                assert_eq!(sym.canonical(rep.clone()), rep, "{name}");
                for p in &gens {
                    assert_eq!(sym.canonical(p.state(&st)), rep, "{name}: {p:?}");
                }
            }
        }
    }
    assert!(
        non_trivial >= 21,
        "only {non_trivial} scenarios have symmetry"
    );
}

/// Enumerating a small group's orbits and labelling pick different representatives, but of the
/// same orbits: on every state of the full graph of every scenario with symmetry, two states
/// have the same representative one way exactly when they have the same the other way.
#[test]
fn enumerated_and_labelled_representatives_split_states_alike() {
    let mut enumerated = 0;
    for (name, s) in scenarios() {
        let sym = Symmetry::of(&s);
        if sym.is_trivial() {
            continue;
        }
        let labelled = sym.clone().labelled_only();
        let m = ProtocolModel::new(s).without_symmetry();
        let mut pairs = std::collections::HashMap::new();
        let mut back = std::collections::HashMap::new();
        let mut differ = false;
        for (st, _) in graph(&m) {
            let (e, l) = (sym.canonical(st.clone()), labelled.canonical(st));
            differ |= e != l;
            assert_eq!(pairs.entry(l.clone()).or_insert(e.clone()), &e, "{name}");
            assert_eq!(back.entry(e).or_insert(l.clone()), &l, "{name}");
        }
        enumerated += usize::from(differ);
    }
    // The two ways do choose differently somewhere (else this test would compare nothing).
    assert!(
        enumerated >= 1,
        "no scenario where the representatives differ"
    );
}

/// A scenario with accounts of interchangeable receiving devices: a sender S messages each.
fn receivers(sizes: &[u8]) -> Scenario {
    let handles = ["A", "B", "C"];
    let mut text = format!(
        "name = \"receivers {sizes:?}\"\nvariant = \"imessage-2016\"\n[[account]]\nhandle = \"S\"\n"
    );
    for (h, n) in handles.iter().zip(sizes) {
        text += &format!("[[account]]\nhandle = \"{h}\"\ndevices = {n}\n");
    }
    for h in handles.iter().take(sizes.len()) {
        text += &format!("[[action]]\nby = \"S/1\"\nsend = \"{h}\"\n");
    }
    parse(Path::new("receivers.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

/// With two and three accounts of three to five interchangeable receiving devices, every
/// stored representative is the representative of every member of its orbit: of a random
/// member, and of its images under each generator.
#[test]
fn representatives_are_exact_across_accounts() {
    let mut seed = 7;
    for sizes in [&[3, 4][..], &[5, 5], &[3, 3, 3]] {
        let s = receivers(sizes);
        let n = s.devices.len();
        let sym = Symmetry::of(&s);
        let gens = generators(&sym, n);
        let m = ProtocolModel::new(s);
        let x = explore(&m, Limits::of(&m.scenario));
        assert!(x.complete(), "{sizes:?}");
        for rep in x.states() {
            assert_eq!(sym.canonical(rep.clone()), rep, "{sizes:?}");
            let member = group_element(&sym, n, &mut seed).state(&rep);
            assert_eq!(sym.canonical(member.clone()), rep, "{sizes:?}");
            for p in &gens {
                assert_eq!(sym.canonical(p.state(&member)), rep, "{sizes:?}: {p:?}");
            }
        }
    }
}

/// Two accounts of five interchangeable receiving devices (14,400 permutations, which the
/// former canonicalisation enumerated for every state: 299 s) check in well under a second,
/// with the verdicts and trace lengths of the search without symmetry and 22 times fewer states.
#[test]
fn two_accounts_of_five_receiving_devices_check_quickly() {
    let s = receivers(&[5, 5]);
    let limits = Limits::of(&s);
    let with = ProtocolModel::new(s.clone());
    let without = ProtocolModel::new(s).without_symmetry();
    let a = explore_with(&with, limits, Reduction::Por, None);
    let b = explore_with(&without, limits, Reduction::Por, None);
    assert!(a.complete() && b.complete());
    assert_eq!((a.unique_states(), b.unique_states()), (757, 16_745));
    for c in CATALOGUE.iter() {
        assert_eq!(a.verdict(c), b.verdict(c), "{}", c.id);
        assert_eq!(
            a.trace(c).map(|t| t.steps.len()),
            b.trace(c).map(|t| t.steps.len()),
            "{}",
            c.id
        );
        assert_eq!(a.caveat(c), None, "{}: the trace is rebuilt", c.id);
    }
}

/// Where colour refinement cannot tell devices apart although they are not alike, the
/// representative is still the least candidate, whatever the member of the orbit: seven
/// interchangeable devices whose push tokens the directory holds as the edges of a directed
/// 3-cycle and a directed 4-cycle (every device has one edge in and one out, so refinement
/// sees them all alike, yet a device on the 3-cycle is not exchangeable with one on the
/// 4-cycle). Canonical labelling then branches (24 leaves), and candidates differ.
#[test]
fn representatives_are_exact_where_refinement_cannot_split() {
    use imessage_model::knowledge::{DeviceId, Term, Token};
    use imessage_model::protocol::PartyState;
    use std::sync::Arc;
    let s = receivers(&[7]);
    let n = s.devices.len();
    let sym = Symmetry::of(&s).labelled_only();
    let m = ProtocolModel::new(s).without_symmetry();
    let mut st = m.init_states().remove(0);
    let PartyState::Directory(dir) = &*st.actor_states[0] else {
        unreachable!("the directory is actor 0")
    };
    let mut dir = dir.clone();
    let token = |d: u8| Term::Token(Token::Device(DeviceId(d)));
    // Devices 1..=7 are A's: 1 -> 2 -> 3 -> 1 and 4 -> 5 -> 6 -> 7 -> 4.
    for (a, b) in [(1, 2), (2, 3), (3, 1), (4, 5), (5, 6), (6, 7), (7, 4)] {
        dir.knowledge.learn(Term::pair(token(a), token(b)));
    }
    st.actor_states[0] = Arc::new(PartyState::Directory(dir));
    let (rep, work) = sym.labelling(st.clone());
    // The 24 leaves are two distinct candidates, each reached by the 12 automorphisms of the
    // two cycles; the labelling keeps the least hash, so the ties it counts (equal hashes,
    // compared exactly) are 11 when the first candidate it reaches is the least and 22 when
    // the second one is: which one that is follows the states' hashes.
    assert_eq!(
        work,
        Work {
            leaves: 24,
            renamed: 1010,
            ties: 11
        },
        "labelling branches where refinement cannot split"
    );
    assert_eq!(sym.canonical(rep.clone()), rep);
    assert_one_representative(&sym, n, &st, &rep, 11);
}

/// `rep` is the representative of 24 members of `st`'s orbit drawn from `seed`.
fn assert_one_representative(sym: &Symmetry, n: usize, st: &State, rep: &State, mut seed: u64) {
    for _ in 0..24 {
        let p = group_element(sym, n, &mut seed);
        assert_eq!(sym.canonical(p.state(st)), *rep, "{p:?}");
    }
}

/// Cycles held this time by messages in flight that name no other device (the relay delivering
/// to each device the token of its predecessor): the same two cycles, and a lone 3-cycle, in
/// which every message names a device that any exchange moves. Telling devices that are not
/// alike apart must read every item that names a device the exchange moves, not only the
/// servers' states, and must compare the network even when no message is left unmoved.
#[test]
fn representatives_are_exact_where_only_messages_in_flight_tell_devices_apart() {
    use imessage_model::knowledge::{AccountId, DeviceId, Term, Token};
    use imessage_model::protocol::wire::Msg;
    use imessage_model::protocol::SERVERS;
    use stateright::actor::{Envelope, Id, Network};
    let token = |d: u8| Token::Device(DeviceId(d));
    let two_cycles = vec![(1, 2), (2, 3), (3, 1), (4, 5), (5, 6), (6, 7), (7, 4)];
    let one_cycle = vec![(1, 2), (2, 3), (3, 1)];
    let works = [
        Work {
            leaves: 24,
            renamed: 1660,
            ties: 11,
        },
        Work {
            leaves: 3,
            renamed: 96,
            ties: 2,
        },
    ];
    for ((size, edges), want) in [(7, two_cycles), (3, one_cycle)].into_iter().zip(works) {
        let s = receivers(&[size]);
        let n = s.devices.len();
        // Labelling (a class of three is enumerated by default: checked too, below).
        let enumerated = Symmetry::of(&s);
        let sym = enumerated.clone().labelled_only();
        let m = ProtocolModel::new(s).without_symmetry();
        let mut st = m.init_states().remove(0);
        let deliveries = edges.iter().map(|&(a, b)| Envelope {
            src: Id::from(2),
            dst: Id::from(SERVERS + b as usize),
            msg: Msg::Deliver {
                from: None,
                to: AccountId(1),
                token: token(b),
                payload: Term::Token(token(a)),
            },
        });
        st.network = Network::new_ordered(deliveries);
        let (rep, work) = sym.labelling(st.clone());
        assert_eq!(
            work, want,
            "{size}: labelling branches where refinement cannot split"
        );
        assert_one_representative(&sym, n, &st, &rep, 5);
        let rep = enumerated.canonical(st.clone());
        assert_one_representative(&enumerated, n, &st, &rep, 5);
    }
}

/// Renaming by an exchange is exact at its edges: the first device's actor id moves (device
/// ids start right after the servers'), a knowledge set that names exactly the exchanged
/// devices is renamed (not taken as unchanged), and a term or a pair of sets that names a
/// device twice mentions it.
#[test]
fn renaming_is_exact_at_the_edges() {
    use imessage_model::knowledge::{DeviceId, KeyId, Knowledge, Term, Token};
    use imessage_model::protocol::SERVERS;
    use imessage_model::rename::{bit, mentions};
    use stateright::actor::Id;
    let swap = Perm::swap(3, 0, 1);
    assert_eq!(Id::from(SERVERS).rename(&swap), Id::from(SERVERS + 1));
    assert_eq!(Id::from(SERVERS + 2).rename(&swap), Id::from(SERVERS + 2));
    assert_eq!(Id::from(SERVERS - 1).rename(&swap), Id::from(SERVERS - 1));
    let key = |d: u8| KeyId::Device(DeviceId(d));
    let set = |terms: Vec<Term>| Knowledge::from_terms(terms);
    assert_eq!(
        set(vec![Term::Sk(key(0)), Term::Pk(key(1))]).rename(&swap),
        set(vec![Term::Sk(key(1)), Term::Pk(key(0))])
    );
    let token = |d: u8| Term::Token(Token::Device(DeviceId(d)));
    assert_eq!(mentions(&Term::pair(token(1), token(1))), bit(1));
    assert_eq!(mentions(&Term::pair(token(1), token(2))), bit(1) | bit(2));
    assert_eq!(mentions(&token(2)), bit(2));
    let naming_1 = set(vec![token(1)]);
    assert_eq!(mentions(&(naming_1.clone(), naming_1)), bit(1));
}

/// `Perm::fixes_knowledge` is exact, also for a set that names exactly the devices an exchange
/// moves (where its fast path, "names no moved device", does not apply): such a set is fixed
/// only when the exchange maps it onto itself.
#[test]
fn fixing_a_knowledge_set_is_exact_when_it_names_exactly_the_moved_devices() {
    use imessage_model::knowledge::{DeviceId, KeyId, Knowledge, Term};
    let swap = Perm::swap(3, 0, 1);
    let key = |d: u8| KeyId::Device(DeviceId(d));
    let set = |terms: Vec<Term>| Knowledge::from_terms(terms);
    // Names devices 0 and 1, but the exchange turns 0's private key into 1's.
    assert!(!swap.fixes_knowledge(&set(vec![Term::Sk(key(0)), Term::Pk(key(1))])));
    assert!(!swap.fixes_knowledge(&set(vec![Term::Sk(key(0))])));
    assert!(swap.fixes_knowledge(&set(vec![Term::Sk(key(0)), Term::Sk(key(1))])));
    assert!(swap.fixes_knowledge(&set(vec![Term::Sk(key(2)), Term::Pk(key(2))])));
    assert!(swap.fixes_knowledge(&set(vec![])));
}

/// Devices are interchangeable exactly when they share account, actions and address: A/1
/// acts; A/2, A/3 and A/4 are idle, and only A/3 and A/4 share an address; B's two devices and
/// C's one are idle with one address, but B and C are different accounts.
#[test]
fn devices_are_interchangeable_when_account_actions_and_address_agree() {
    let s = scenario(
        r#"name = "classes"
variant = "imessage-2016"
[[account]]
handle = "A"
devices = 4
ip = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.3"]
[[account]]
handle = "B"
devices = 2
ip = "203.0.113.9"
[[account]]
handle = "C"
ip = "203.0.113.9"
[[action]]
by = "A/1"
send = "B"
"#,
    );
    let sym = Symmetry::of(&s);
    assert_eq!(
        sym.classes(),
        [vec![0], vec![1], vec![2, 3], vec![4, 5], vec![6]]
    );
    assert!(!sym.is_trivial());
    let one_each = scenario(
        r#"name = "one device each"
variant = "imessage-2016"
[[account]]
handle = "A"
[[account]]
handle = "B"
"#,
    );
    let trivial = Symmetry::of(&one_each);
    assert!(trivial.is_trivial());
    // Without interchangeable devices a state is its own representative, in one leaf.
    let start = ProtocolModel::new(one_each).init_states().remove(0);
    let (rep, work) = trivial.labelling(start.clone());
    assert_eq!(rep, start);
    assert_eq!(
        work,
        Work {
            leaves: 1,
            renamed: 0,
            ties: 0
        }
    );
}

/// The scenario of a panic once reported: B/2's and B/3's pending lookups hashed alike
/// (stateright hashes a timer set without its length), and a representative chosen by hash
/// alone was not one per orbit. On its whole graph, every member of an orbit has the same
/// representative.
#[test]
fn interchangeable_pending_lookups_give_one_representative_per_orbit() {
    let s = scenario(THREE_DEVICES);
    let n = s.devices.len();
    let sym = Symmetry::of(&s);
    let gens = generators(&sym, n);
    assert!(!gens.is_empty());
    let m = ProtocolModel::new(s).without_symmetry();
    let states = graph(&m);
    assert!(states.len() > 1000, "{} states", states.len());
    for (st, _) in &states {
        let rep = sym.canonical(st.clone());
        for p in &gens {
            assert_eq!(sym.canonical(p.state(st)), rep, "{p:?}");
        }
    }
}

/// Refinement tells apart every two devices of a reachable state that are not alike, so
/// canonical labelling never branches there: on the whole graph of scenarios whose
/// interchangeable devices act, receive, look up, lose messages and crash, every state is
/// labelled in one leaf. (Refinement that told fewer devices apart would still give exact
/// representatives, by trying every branch, only more slowly; this is what keeps labelling
/// polynomial.) The items renamed over each graph are pinned like state counts: a check that
/// renames more than it needs is as exact, and slower.
#[test]
fn labelling_settles_reachable_states_without_branching() {
    let renamed = [26_630, 5_716, 6_468, 4_968, 542, 31_130];
    let mut texts: Vec<(String, String)> = [
        "key-swap-2016.toml",
        "ghost-device-2016.toml",
        "duplicating-network.toml",
        "address-per-device.toml",
        "log-crash.toml",
    ]
    .iter()
    .map(|name| {
        let text = std::fs::read_to_string(repo_path(&format!("models/{name}"))).unwrap();
        (format!("{name} widened"), widened(&text))
    })
    .collect();
    texts.push(("B has three devices".into(), THREE_DEVICES.into()));
    let mut got = Vec::new();
    for (name, text) in texts {
        let s = scenario(&text);
        let sym = Symmetry::of(&s);
        assert!(!sym.is_trivial(), "{name}");
        let m = ProtocolModel::new(s).without_symmetry();
        let states = graph(&m);
        assert!(states.len() > 20, "{name}: {} states", states.len());
        let mut items = 0;
        for (st, _) in &states {
            let (rep, work) = sym.labelling(st.clone());
            assert_eq!((work.leaves, work.ties), (1, 0), "{name}: {st:?}");
            assert_eq!(sym.labelling(rep).1.leaves, 1, "{name}");
            items += work.renamed;
        }
        got.push(items);
    }
    assert_eq!(got, renamed);
}

/// Canonical labelling remembers renamed knowledge sets and skeletons on its thread, and
/// `clear_cache` (which every search calls when it starts) forgets them: a long-lived process,
/// such as the Explorer, would otherwise keep every set of every search it ran.
#[test]
fn a_search_forgets_what_labelling_remembered() {
    let s = scenario(THREE_DEVICES);
    let sym = Symmetry::of(&s).labelled_only();
    let m = ProtocolModel::new(s.clone()).without_symmetry();
    for (st, _) in graph(&m).into_iter().take(50) {
        sym.canonical(st);
    }
    assert!(imessage_model::rename::remembered() > 0);
    imessage_model::symmetry::clear_cache();
    assert_eq!(imessage_model::rename::remembered(), 0);
    // One skeleton, and no renamed set.
    let set = imessage_model::knowledge::Knowledge::from_terms(vec![
        imessage_model::knowledge::Term::Token(imessage_model::knowledge::Token::Device(
            imessage_model::knowledge::DeviceId(1),
        )),
    ]);
    imessage_model::rename::skeleton(&set);
    assert_eq!(imessage_model::rename::remembered(), 1);
    for (st, _) in graph(&m).into_iter().take(50) {
        sym.canonical(st);
    }
    // Pinned: a renaming that renamed (and remembered) sets naming no device it moves would
    // remember more.
    assert_eq!(imessage_model::rename::remembered(), 17);
    // What enumerating a small group's orbits remembers is forgotten the same way.
    let enumerated = Symmetry::of(&s);
    for (st, _) in graph(&m).into_iter().take(50) {
        enumerated.canonical(st);
    }
    assert!(imessage_model::rename::remembered() > 17);
    imessage_model::symmetry::clear_cache();
    assert_eq!(imessage_model::rename::remembered(), 0);
}

/// Two interchangeable devices that only one thing tells apart, each in turn: the first
/// device's own state, the second's, a device's state naming itself, an alert where both
/// devices' states name themselves, a message in flight to one of them naming only it, and a
/// record of one's lookup that only the log's stable storage holds. Every such state and its
/// image under the exchange have one representative, which is not the representative of the
/// state without the difference.
#[test]
fn representatives_are_exact_where_one_item_tells_two_devices_apart() {
    use imessage_model::knowledge::{
        AccountId, ContentId, Day, DeviceId, IpId, KeyId, Term, Token,
    };
    use imessage_model::protocol::wire::{Answer, Entry, LookupId, Msg, Origin, Record};
    use imessage_model::protocol::{PartyState, SERVERS};
    use stateright::actor::{Envelope, Id, Network};
    use std::sync::Arc;
    let s = scenario(
        r#"name = "A's idle pair"
variant = "imessage-2016"
[[account]]
handle = "A"
devices = 2
[[account]]
handle = "B"
[[action]]
by = "B/1"
send = "A"
"#,
    );
    let sym = Symmetry::of(&s);
    assert_eq!(sym.classes(), [vec![0, 1], vec![2]]);
    let m = ProtocolModel::new(s).without_symmetry();
    let start = m.init_states().remove(0);
    let with_device = |d: usize, change: &dyn Fn(&mut imessage_model::protocol::DeviceState)| {
        let mut st = start.clone();
        let PartyState::Device(dev) = &*st.actor_states[SERVERS + d] else {
            unreachable!("devices come after the servers")
        };
        let mut dev = dev.clone();
        change(&mut dev);
        st.actor_states[SERVERS + d] = Arc::new(PartyState::Device(dev));
        st
    };
    let alert = |dev: &mut imessage_model::protocol::DeviceState| {
        dev.alerts.insert(AccountId(1));
    };
    let names_itself = |d: u8| {
        move |dev: &mut imessage_model::protocol::DeviceState| {
            let entry = Entry {
                token: Token::Device(DeviceId(d)),
                key: KeyId::Device(DeviceId(d)),
                sig: KeyId::DeviceSig(DeviceId(d)),
                attestation: None,
            };
            dev.cache.insert(AccountId(0), Answer::Devices(vec![entry]));
        }
    };
    // Each device's answer names itself, and the first device also has an alert.
    let both_name_themselves = {
        let st = with_device(0, &names_itself(0));
        let PartyState::Device(dev) = &*st.actor_states[SERVERS + 1] else {
            unreachable!("devices come after the servers")
        };
        let mut dev = dev.clone();
        names_itself(1)(&mut dev);
        let mut st = st.clone();
        st.actor_states[SERVERS + 1] = Arc::new(PartyState::Device(dev));
        let PartyState::Device(dev) = &*st.actor_states[SERVERS] else {
            unreachable!("devices come after the servers")
        };
        let mut dev = dev.clone();
        alert(&mut dev);
        st.actor_states[SERVERS] = Arc::new(PartyState::Device(dev));
        st
    };
    let mut in_flight = start.clone();
    in_flight.network = Network::new_ordered([Envelope {
        src: Id::from(2),
        dst: Id::from(SERVERS),
        msg: Msg::Deliver {
            from: Some(AccountId(1)),
            to: AccountId(0),
            token: Token::Device(DeviceId(0)),
            payload: Term::Content(ContentId(0)),
        },
    }]);
    // Stable storage holds a record of the first device's lookup that the log no longer holds
    // in memory (purged since it was written).
    let persisted = {
        let mut st = start.clone();
        let record = Record {
            day: Day(0),
            requester: AccountId(0),
            target: Some(AccountId(1)),
            ip: IpId(0),
            device_count: Some(1),
            draft: None,
            for_message: None,
            lookup: LookupId {
                device: DeviceId(0),
                origin: Origin::Action(0),
            },
            sender_check: Default::default(),
        };
        st.actor_storages[1] = Some([record].into());
        st
    };
    let cases = [
        ("a record on the log's storage only", persisted),
        ("the first device's alert", with_device(0, &alert)),
        ("the second device's alert", with_device(1, &alert)),
        (
            "a device's answer naming itself",
            with_device(0, &names_itself(0)),
        ),
        (
            "answers naming themselves, and an alert",
            both_name_themselves,
        ),
        ("a delivery in flight", in_flight),
    ];
    let plain = sym.canonical(start.clone());
    let swap = Perm::swap(3, 0, 1);
    for (what, st) in cases {
        let rep = sym.canonical(st.clone());
        assert_ne!(rep, plain, "{what}");
        assert_eq!(sym.canonical(swap.state(&st)), rep, "{what}");
        assert_eq!(
            sym.labelling(st).1.leaves,
            1,
            "{what}: refinement tells the two apart"
        );
    }
}

/// The mixing of knowledge-key hashes is splitmix64's finaliser: from a state of 0, splitmix64
/// adds the golden-ratio increment and mixes, and its first three outputs are the published
/// ones. (A weaker mixing lets the sums that hash a multiset of terms collide, which makes
/// refinement tell fewer devices apart.)
#[test]
fn knowledge_keys_mix_with_splitmix64s_finaliser() {
    use imessage_model::symmetry::mix;
    let golden: u64 = 0x9e37_79b9_7f4a_7c15;
    assert_eq!(mix(golden), 0xe220_a839_7b1d_cdaf);
    assert_eq!(mix(golden.wrapping_mul(2)), 0x6e78_9e6a_a1b9_65f4);
    assert_eq!(mix(golden.wrapping_mul(3)), 0x06c4_5d18_8009_454f);
    assert_eq!(mix(0), 0);
}

#[test]
fn the_readme_symmetry_figures_are_what_the_code_computes() {
    // README, "Scale": the states stored with symmetry off, on and auto (benches/symmetry.sh).
    let count = |file: &str, mode: imessage_model::Symmetry| {
        let s = imessage_model::Scenario::load(&repo_path(file)).unwrap();
        let m = ProtocolModel::new(s).with_symmetry(mode);
        let x = explore(&m, Limits::of(&m.scenario));
        assert!(x.complete());
        imessage_model::report::group(x.unique_states())
    };
    let raw = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let lines: Vec<&str> = raw.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("| scenario | symmetry | unique states |"))
        .expect("README has the symmetry table");
    let mut rows = 0;
    for line in lines[start + 2..]
        .iter()
        .take_while(|l| l.starts_with("| "))
    {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let file = if cells[0].starts_with("ladder-") {
            format!("benches/scenarios/{}.toml", cells[0])
        } else {
            format!("benches/symmetry/{}.toml", cells[0])
        };
        let mode = match cells[1] {
            "off" => imessage_model::Symmetry::Off,
            "on" => imessage_model::Symmetry::On,
            "auto" => imessage_model::Symmetry::Auto,
            other => panic!("README: symmetry `{other}`"),
        };
        assert_eq!(cells[2], count(&file, mode), "README: {line}");
        rows += 1;
    }
    assert_eq!(rows, 12, "three settings of four scenarios");
    // The claim language's benchmark checks ladder-5 with symmetry on in every class.
    let on = count(
        "benches/scenarios/ladder-5-interchangeable-lookups.toml",
        imessage_model::Symmetry::On,
    );
    let phrase = format!("(the same {on} states, symmetry on in every class)");
    assert!(crate::readme_text().contains(&phrase), "README: `{phrase}`");
}
