//! Symmetry reduction: devices that no claim and no step can tell apart are
//! interchangeable, so a state and the same state with those devices
//! renamed are explored once.
//!
//! Two devices are interchangeable when they belong to the same account, look up from
//! the same address and
//! have the same workload (typically devices that only receive); the devices
//! of a scenario fall into *classes* of interchangeable devices, and the
//! symmetry group is every permutation that maps each class onto itself. A
//! permutation renames devices everywhere ([`Rename`], total by construction):
//! the renamed state is exactly the state the system reaches by the renamed
//! run, so the permutation is an automorphism of the transition system, and
//! every claim reads accounts, never device numbers, so verdicts are
//! unchanged (a claim written in the language may name a device, `A/1`: that
//! device then has a class of its own).
//!
//! The representative of a state is the least member of its orbit that
//! canonical labelling reaches, by (prefix-free hash, then an exact total
//! order). A group of at most [`ENUMERATED`] permutations (a class of two or
//! three) is enumerated instead, and the representative is then the least
//! member of the whole orbit; a larger group is never enumerated (two
//! accounts of five devices make 14,400 permutations): canonical labelling
//! works by individualisation and refinement, as graph canonisers do.
//!
//! * **Refinement.** Every device has a colour, at first its class. A
//!   device's key is the state seen from that device: renamed through a
//!   *colouring* that maps the device itself to a mark of its own and every
//!   other device to its colour, and hashed with every collection whose order
//!   carries no meaning hashed as a multiset. No permutation of the group
//!   changes a device's key (it renames the device and the others alike), so
//!   splitting each colour by key splits it the same way in every member of
//!   an orbit. Refinement repeats until no colour splits.
//! * **Individualisation.** While some colour is shared by several devices (a
//!   *cell*), the first such cell is split: its devices fall into groups
//!   within which exchanging any two leaves the state unchanged (checked
//!   exactly); each group is a branch, in which the group's devices come first
//!   in the cell, in any order (any order gives the same states, exchanges
//!   within the group being automorphisms), and refinement runs again.
//! * **Leaves.** When every device has a colour of its own, the devices of
//!   each class are placed in the class's slots in colour order: a candidate.
//!   The representative is the least candidate.
//!
//! Every step depends only on what no permutation of the group changes, so
//! the set of candidates is the same for every member of an orbit, and so is
//! the least one: `canonical(s) == canonical(p(s))` for every permutation `p`
//! of the group, which trace rebuilding needs (it replays concrete steps and
//! compares representatives). Devices that are truly alike, which is what
//! symmetry is for, are settled by exchanges in one branch (quadratic in the
//! cell's size); branching multiplies only where refinement fails to tell
//! devices apart that are not alike, which this protocol's states do not
//! produce in practice. There is deliberately no cap that would trade this
//! exactness for time: any representative that differs between members of
//! one orbit breaks the rebuilding of traces.
//!
//! This runs inside the model's `next_state`, so it works under every checker
//! (stateright's built-in `symmetry()` is applied only by its DFS and
//! simulation checkers).

use crate::knowledge::{DeviceId, Knowledge};
use crate::protocol::wire::{Msg, Timer};
use crate::protocol::{PartyState, SERVERS};
use crate::rename::{bit, fx, mentions, skeleton, slots, Fixing, Perm, Rename, Renamer, Slot};
use crate::scenario::Scenario;
use crate::state::State;
use stateright::actor::{Envelope, Id, Network};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

/// The interchangeable-device classes of a scenario.
#[derive(Clone, Debug, Default)]
pub struct Symmetry {
    /// Every class of devices (singletons included), each in device order; classes in the order
    /// of their first device.
    classes: Vec<Vec<usize>>,
    /// Each device's class.
    class_of: Vec<u32>,
    /// When the group is small (at most [`ENUMERATED`] permutations): every permutation of it
    /// but the identity, as device images. The representative is then the least member of the
    /// whole orbit, found by renaming the state once per permutation, which costs less than
    /// labelling (refinement keys every device, exchanges are checked, and a leaf is renamed).
    /// Images, not `Perm`s: a `Perm` is numbered on the thread that makes it.
    elements: Option<Vec<Vec<u8>>>,
}

/// The largest group whose orbits are enumerated rather than labelled: on a class of three
/// (benches/symmetry/three-interchangeable-lookups.toml, symmetry on), enumerating took 0.92×
/// labelling's CPU time when it was introduced, while a group of 36 (two classes of three) was
/// slower than labelling.
pub const ENUMERATED: usize = 6;

/// The smallest class the default symmetry reduction canonicalises (`crate::Symmetry::Auto`).
/// Measured with `bash benches/symmetry.sh 5` (README, "Scale"; CPU seconds, partial-order
/// reduction on, symmetry on against off): a class of two 0.13 against 0.09, three 0.90
/// against 0.47, two classes of four 0.07 against 0.04, two of five 0.18 against 0.20.
pub const PAYING_CLASS: usize = 5;

impl Symmetry {
    /// The classes of two or more interchangeable devices, each in device order: those the
    /// search canonicalises (none: symmetry reduction does nothing).
    pub fn interchangeable(&self) -> impl Iterator<Item = &[usize]> {
        self.classes
            .iter()
            .filter(|c| c.len() > 1)
            .map(Vec::as_slice)
    }

    pub fn of(scenario: &Scenario) -> Self {
        let n = scenario.devices.len();
        // Colours are written as device ids, with one value kept for the device a key is
        // computed for; a scenario that large is explored without symmetry.
        if n >= u8::MAX as usize {
            return Symmetry::default();
        }
        let mut classes: Vec<Vec<usize>> = Vec::new();
        // A device a claim or a push-token request names is told apart from every other: it
        // has a class of its own.
        let named = scenario.devices_named_by_claims() | scenario.devices_named_by_requests();
        let is_named = |i: usize| i < 64 && named & (1 << i) != 0;
        for (i, d) in scenario.devices.iter().enumerate() {
            let found = classes.iter().position(|c| {
                let first = &scenario.devices[c[0]];
                !is_named(i)
                    && !is_named(c[0])
                    && first.account == d.account
                    && first.actions == d.actions
                    && first.ip == d.ip
            });
            match found {
                Some(k) => classes[k].push(i),
                None => classes.push(vec![i]),
            }
        }
        Self::from_classes(classes, n)
    }

    /// The symmetry of `classes` (every device of `0..n` in one, classes in the order of their
    /// first device).
    fn from_classes(classes: Vec<Vec<usize>>, n: usize) -> Self {
        let mut class_of = vec![0u32; n];
        for (k, class) in classes.iter().enumerate() {
            for &d in class {
                class_of[d] = k as u32;
            }
        }
        let elements = group_elements(&classes, n, ENUMERATED);
        Symmetry {
            classes,
            class_of,
            elements,
        }
    }

    /// Only the classes of at least `size` devices: the devices of a smaller class each keep
    /// their own identity (a subgroup of the group, whose orbits are as exact).
    pub fn classes_of_at_least(self, size: usize) -> Self {
        let n = self.class_of.len();
        let mut classes: Vec<Vec<usize>> = Vec::new();
        for class in self.classes {
            if class.len() >= size {
                classes.push(class);
            } else {
                classes.extend(class.into_iter().map(|d| vec![d]));
            }
        }
        classes.sort_by_key(|c| c[0]);
        Self::from_classes(classes, n)
    }

    /// The same classes, canonicalised by labelling whatever the group's size (the general
    /// algorithm; tests compare the two ways).
    pub fn labelled_only(mut self) -> Self {
        self.elements = None;
        self
    }

    /// Whether no two devices are interchangeable.
    pub fn is_trivial(&self) -> bool {
        self.classes.iter().all(|c| c.len() <= 1)
    }

    /// The classes of interchangeable devices (by device index), singletons included.
    pub fn classes(&self) -> &[Vec<usize>] {
        &self.classes
    }

    /// The representative of `s`'s orbit (see the module's documentation): the same state for
    /// every member of the orbit.
    pub fn canonical(&self, s: State) -> State {
        match &self.elements {
            Some(elements) if !self.is_trivial() => least_of_orbit(s, elements),
            _ => self.labelling(s).0,
        }
    }

    /// The representative of `s`'s orbit, with the work canonical labelling took to find it.
    pub fn labelling(&self, s: State) -> (State, Work) {
        if self.is_trivial() {
            let work = Work {
                leaves: 1,
                ..Work::default()
            };
            return (s, work);
        }
        let mut best = Best::default();
        let (slots, network) = slots(&s);
        let pieces = Pieces::of(&slots, network);
        self.search(&s, &pieces, self.class_of.clone(), &mut best);
        // The search reaches at least one leaf.
        let least = best.least.expect("canonical labelling reaches a leaf").1;
        best.work.renamed = pieces.renamed.get();
        (least, best.work)
    }

    /// One node of the individualisation-refinement tree: refines `colours`, then either places
    /// the devices (a leaf) or branches on the first cell.
    fn search(&self, s: &State, pieces: &Pieces<'_>, mut colours: Vec<u32>, best: &mut Best) {
        refine(pieces, &mut colours);
        let Some(cell) = first_cell(&colours) else {
            let candidate = self.leaf(&colours).state(s);
            let h = hash(&candidate);
            best.work.leaves += 1;
            let better = match &best.least {
                None => true,
                Some((bh, _)) if h < *bh => true,
                Some((bh, b)) if h == *bh => {
                    best.work.ties += 1;
                    candidate != *b && total_order(&candidate, b).is_lt()
                }
                Some(_) => false,
            };
            if better {
                best.least = Some((h, candidate));
            }
            return;
        };
        let groups = alike_groups(s, pieces, &cell);
        if let [group] = &groups[..] {
            // Every exchange within the cell is an automorphism: any order of the cell gives the
            // same candidates, so the cell is settled in device order, without a branch.
            let keys: Vec<(u32, usize)> = (0..colours.len())
                .map(|d| {
                    (
                        colours[d],
                        if colours[d] == colours[group[0]] {
                            d
                        } else {
                            0
                        },
                    )
                })
                .collect();
            self.search(s, pieces, ranks(&keys), best);
            return;
        }
        for group in groups {
            // The group's devices first in the cell, in device order, then the rest of the cell.
            let order = |d: usize| match group.iter().position(|&g| g == d) {
                Some(k) => k as u32,
                None if cell.contains(&d) => group.len() as u32,
                None => 0,
            };
            let keys: Vec<(u32, u32)> =
                (0..colours.len()).map(|d| (colours[d], order(d))).collect();
            self.search(s, pieces, ranks(&keys), best);
        }
    }

    /// The permutation that places the devices of each class in the class's slots in the order
    /// of their (distinct) colours.
    fn leaf(&self, colours: &[u32]) -> Perm {
        let mut image = vec![0u8; colours.len()];
        for class in &self.classes {
            let mut members = class.clone();
            members.sort_by_key(|&d| colours[d]);
            for (slot, d) in class.iter().zip(members) {
                image[d] = *slot as u8;
            }
        }
        Perm::new(image)
    }
}

/// Every permutation but the identity of the group that maps each class onto itself, as device
/// images, when the group has at most `limit` elements; `None` when it has more.
fn group_elements(classes: &[Vec<usize>], n: usize, limit: usize) -> Option<Vec<Vec<u8>>> {
    let mut order = 1usize;
    for c in classes {
        for k in 2..=c.len() {
            order = order.checked_mul(k)?;
        }
    }
    if order > limit {
        return None;
    }
    // Built class by class: each image so far composed with every arrangement of the next class.
    let mut images: Vec<Vec<u8>> = vec![(0..n as u8).collect()];
    for class in classes.iter().filter(|c| c.len() > 1) {
        let mut next = Vec::new();
        for arrangement in arrangements(class) {
            for image in &images {
                let mut image = image.clone();
                for (d, to) in class.iter().zip(&arrangement) {
                    image[*d] = *to as u8;
                }
                next.push(image);
            }
        }
        images = next;
    }
    let identity: Vec<u8> = (0..n as u8).collect();
    images.retain(|i| *i != identity);
    Some(images)
}

/// Every order of `items` (`items.len()!` of them).
fn arrangements(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in arrangements(&rest) {
            tail.insert(0, first);
            out.push(tail);
        }
    }
    out
}

/// The least member of `s`'s orbit under the group whose other elements are `elements`, by
/// (hash, exact total order): the same state for every member of the orbit, since the orbit is.
fn least_of_orbit(s: State, elements: &[Vec<u8>]) -> State {
    let mut best_hash = hash(&s);
    // `None` while `s` itself is the least so far.
    let mut best: Option<State> = None;
    for image in elements {
        let candidate = Perm::new(image.clone()).state(&s);
        let h = hash(&candidate);
        let least = best.as_ref().unwrap_or(&s);
        let better = h < best_hash
            || h == best_hash && candidate != *least && total_order(&candidate, least).is_lt();
        if better {
            best_hash = h;
            best = Some(candidate);
        }
    }
    best.unwrap_or(s)
}

/// What canonical labelling has found so far: the least candidate (with its hash) and the work
/// done.
#[derive(Default)]
struct Best {
    least: Option<(u64, State)>,
    work: Work,
}

/// The work canonical labelling of one state took. Deterministic, so tests pin it like state
/// counts: a refinement that tells fewer devices apart, or a check that renames more than it
/// needs, gives the same representatives more slowly, and shows here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Leaves of the individualisation-refinement tree: 1 where refinement and exchanges settle
    /// every cell, more where labelling branched on devices that refinement could not tell
    /// apart and that are not alike.
    pub leaves: usize,
    /// Items (actor slots, channels, envelopes, whole networks) renamed to key devices or to
    /// check an exchange.
    pub renamed: usize,
    /// Leaves whose candidate has the hash of the least so far: most often the same candidate
    /// reached by another branch; a different one (a 64-bit collision) is ordered exactly.
    pub ties: usize,
}

/// Dense ranks of `keys` (equal keys, equal ranks; the order of ranks is the order of keys).
fn ranks<K: Ord + Clone>(keys: &[K]) -> Vec<u32> {
    let mut sorted = keys.to_vec();
    sorted.sort();
    sorted.dedup();
    keys.iter()
        .map(|k| {
            sorted
                .binary_search(k)
                .expect("every key is in the sorted list") as u32
        })
        .collect()
}

/// The devices of the first colour held by more than one device, in device order.
fn first_cell(colours: &[u32]) -> Option<Vec<usize>> {
    let mut count = vec![0usize; colours.len()];
    for &c in colours {
        count[c as usize] += 1;
    }
    let c = count.iter().position(|&k| k > 1)? as u32;
    Some((0..colours.len()).filter(|&d| colours[d] == c).collect())
}

/// Splits colours by the devices' keys until no colour splits.
fn refine(pieces: &Pieces<'_>, colours: &mut Vec<u32>) {
    loop {
        let cells = distinct(colours);
        if cells == colours.len() {
            return;
        }
        let mut count = vec![0usize; colours.len()];
        for &c in colours.iter() {
            count[c as usize] += 1;
        }
        let shared: Vec<bool> = colours.iter().map(|&c| count[c as usize] > 1).collect();
        let keys = pieces.keys(colours, &shared);
        let keyed: Vec<(u32, u64)> = colours.iter().copied().zip(keys).collect();
        *colours = ranks(&keyed);
        if distinct(colours) == cells {
            return;
        }
    }
}

fn distinct(colours: &[u32]) -> usize {
    let mut seen = vec![false; colours.len()];
    colours
        .iter()
        .filter(|&&c| !std::mem::replace(&mut seen[c as usize], true))
        .count()
}

/// Splits `cell` into groups of devices any two of which can be exchanged without changing the
/// state (exchanges that are automorphisms of `s`; a group's exchanges generate every
/// permutation of the group).
fn alike_groups(s: &State, pieces: &Pieces<'_>, cell: &[usize]) -> Vec<Vec<usize>> {
    let n = s.actor_states.len() - SERVERS;
    // A device joins the first group whose first device it can be exchanged with: if it can be
    // exchanged with any member of a group, it can with the first (a composition of exchanges),
    // so no group is split and none is joined twice.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &d in cell {
        match groups
            .iter_mut()
            .find(|g| pieces.fixed_by(&Perm::swap(n, g[0], d)))
        {
            Some(g) => g.push(d),
            None => groups.push(vec![d]),
        }
    }
    groups
}

/// Renames through a colouring: each device becomes its colour, and each knowledge set is
/// recorded as a hash (of the multiset of its renamed terms) and replaced by the empty set.
struct Colouring<'a> {
    colour: &'a [u8],
    knowledge: RefCell<Vec<u64>>,
}

impl Renamer for Colouring<'_> {
    fn device(&self, d: DeviceId) -> DeviceId {
        DeviceId(self.colour[d.0 as usize])
    }

    fn knowledge(&self, k: &Knowledge) -> Knowledge {
        let h = knowledge_key(k, self.colour);
        self.knowledge.borrow_mut().push(h);
        Knowledge::new()
    }
}

/// Forgets this thread's renamings and skeletons (a search calls it when it starts).
pub fn clear_cache() {
    crate::rename::clear_cache();
}

/// The hash of the multiset of `k`'s terms renamed through `colour` (each term known by its
/// shape and the colours of its devices): the same for a set and its renaming by any
/// permutation that `colour` does not see.
fn knowledge_key(k: &Knowledge, colour: &[u8]) -> u64 {
    // A multiset is hashed as the sum of its elements' mixed hashes (order does not matter).
    let sk = skeleton(k);
    sk.terms
        .iter()
        .map(|(_, shape, devices)| {
            let mut h = rustc_hash::FxHasher::default();
            shape.hash(&mut h);
            for &d in devices {
                colour[d as usize].hash(&mut h);
            }
            mix(h.finish())
        })
        .fold(sk.fixed, u64::wrapping_add)
}

/// A bijective mixing of 64 bits (splitmix64's finaliser), so that sums of hashes do not cancel
/// by accident.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// One piece of a state that a device key hashes: an actor's slot, an ordered channel, or an
/// envelope in flight (with its count, or whether it is the last delivered).
enum Item<'a> {
    Slot(usize, &'a Slot<'a>),
    Channel(Id, Id, &'a VecDeque<Msg>),
    Envelope(&'a Envelope<Msg>, usize),
}

/// How an item enters a device key: server slots in order, device slots and the network each
/// as a multiset.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Server,
    Device,
    Network,
}

impl Item<'_> {
    fn place(&self) -> Place {
        match self {
            Item::Slot(i, _) if *i < SERVERS => Place::Server,
            Item::Slot(..) => Place::Device,
            _ => Place::Network,
        }
    }

    /// The item renamed through `c`, hashed.
    fn key(&self, c: &Colouring<'_>) -> u64 {
        match self {
            Item::Slot(i, slot) => slot_key(*i, slot, c),
            Item::Channel(src, dst, q) => fx(&(src.rename(c), dst.rename(c), q.rename(c))),
            Item::Envelope(e, n) => fx(&(e.rename(c), *n)),
        }
    }

    /// The devices the item names (a device's slot names the device).
    fn mentions(&self) -> u64 {
        match self {
            Item::Slot(i, slot) => {
                let own = if *i < SERVERS { 0 } else { bit(i - SERVERS) };
                let Slot {
                    state,
                    timers,
                    random,
                    crashed,
                    storage,
                } = slot;
                own | mentions(*state)
                    | mentions(*timers)
                    | mentions(*random)
                    | mentions(crashed)
                    | mentions(*storage)
            }
            Item::Channel(src, dst, q) => mentions(src) | mentions(dst) | mentions(*q),
            Item::Envelope(e, _) => mentions(*e),
        }
    }
}

/// A state cut into the items device keys hash, with the devices each names.
struct Pieces<'a> {
    items: Vec<(Item<'a>, u64)>,
    network: &'a Network<Msg>,
    /// Items renamed so far (see [`Work::renamed`]).
    renamed: Cell<usize>,
}

impl<'a> Pieces<'a> {
    fn of(slots: &'a [Slot<'a>], network: &'a Network<Msg>) -> Self {
        let mut items: Vec<Item<'a>> = slots
            .iter()
            .enumerate()
            .map(|(i, s)| Item::Slot(i, s))
            .collect();
        match network {
            Network::Ordered(channels) => {
                items.extend(channels.iter().map(|((s, d), q)| Item::Channel(*s, *d, q)))
            }
            Network::UnorderedNonDuplicating(multiset) => {
                items.extend(multiset.iter().map(|(e, n)| Item::Envelope(e, *n)))
            }
            Network::UnorderedDuplicating(set, last) => {
                items.extend(set.iter().map(|e| Item::Envelope(e, 0)));
                items.extend(last.iter().map(|e| Item::Envelope(e, 1)));
            }
        }
        Pieces {
            network,
            renamed: Cell::new(0),
            items: items
                .into_iter()
                .map(|i| {
                    let m = i.mentions();
                    (i, m)
                })
                .collect(),
        }
    }

    /// Whether renaming by `p` leaves the state unchanged (exactly): every slot renamed equals
    /// the slot it moves to, and the network renamed equals the network. Only what names a
    /// device `p` moves is renamed; device slots are compared first, being the cheapest.
    fn fixed_by(&self, p: &Perm) -> bool {
        let moved = p.moved();
        let f = Fixing(p);
        let mut devices_first: Vec<usize> = (0..self.items.len()).collect();
        devices_first.sort_by_key(|&k| self.items[k].0.place() == Place::Server);
        for k in devices_first {
            let (item, m) = &self.items[k];
            if m & moved == 0 {
                continue;
            }
            match item {
                Item::Slot(i, slot) => {
                    self.count(1);
                    let j = usize::from(Id::from(*i).rename(p));
                    let Some((Item::Slot(_, target), _)) = self.items.get(j) else {
                        unreachable!("the first items are the slots, in order")
                    };
                    let Slot {
                        state,
                        timers,
                        random,
                        crashed,
                        storage,
                    } = slot;
                    if *target.state != state.rename(&f)
                        || *target.timers != timers.rename(&f)
                        || *target.random != random.rename(&f)
                        || target.crashed != *crashed
                        || *target.storage != storage.rename(&f)
                    {
                        return false;
                    }
                }
                // Messages are compared as a whole network, once, below.
                Item::Channel(..) | Item::Envelope(..) => {}
            }
        }
        let network_moves = self
            .items
            .iter()
            .any(|(item, m)| item.place() == Place::Network && m & moved != 0);
        if !network_moves {
            return true;
        }
        self.count(1);
        self.network.rename(&f) == *self.network
    }

    fn count(&self, items: usize) {
        self.renamed.set(self.renamed.get() + items);
    }

    /// The keys of the devices in `wanted` (others get 0): the whole state renamed through the
    /// colouring that maps the device to a mark of its own and every other device to its
    /// colour, hashed with server slots in order and device slots and messages in flight as
    /// multisets (their order names devices, nothing else). An item that does not name the
    /// device hashes as under the plain colouring, computed once.
    fn keys(&self, colours: &[u32], wanted: &[bool]) -> Vec<u64> {
        let plain: Vec<u8> = colours.iter().map(|&c| c as u8).collect();
        let base_colouring = Colouring {
            colour: &plain,
            knowledge: RefCell::new(Vec::new()),
        };
        let base: Vec<u64> = self
            .items
            .iter()
            .map(|(item, _)| item.key(&base_colouring))
            .collect();
        self.count(base.len());
        (0..colours.len())
            .map(|d| {
                if !wanted[d] {
                    return 0;
                }
                let mut own = plain.clone();
                own[d] = u8::MAX;
                let c = Colouring {
                    colour: &own,
                    knowledge: RefCell::new(Vec::new()),
                };
                let mut servers = Vec::new();
                let mut devices = Vec::new();
                let mut network = Vec::new();
                for ((item, m), b) in self.items.iter().zip(&base) {
                    let k = if m & bit(d) != 0 {
                        self.count(1);
                        item.key(&c)
                    } else {
                        *b
                    };
                    match item.place() {
                        Place::Server => servers.push(k),
                        Place::Device => devices.push(k),
                        Place::Network => network.push(k),
                    }
                }
                devices.sort_unstable();
                network.sort_unstable();
                fx(&(servers, devices, network))
            })
            .collect()
    }
}

/// One actor's slot renamed through a colouring, hashed.
fn slot_key(i: usize, slot: &Slot<'_>, c: &Colouring<'_>) -> u64 {
    let Slot {
        state,
        timers,
        random,
        crashed,
        storage,
    } = slot;
    c.knowledge.borrow_mut().clear();
    let mut h = rustc_hash::FxHasher::default();
    Id::from(i).rename(c).hash(&mut h);
    state.rename(c).hash(&mut h);
    c.knowledge.borrow().hash(&mut h);
    let mut ts: Vec<Timer> = timers.iter().map(|t| t.rename(c)).collect();
    ts.sort_unstable();
    ts.hash(&mut h);
    random.rename(c).hash(&mut h);
    crashed.hash(&mut h);
    storage.rename(c).hash(&mut h);
    h.finish()
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
