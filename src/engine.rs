//! The search engine: an exhaustive breadth-first search over any stateright
//! [`Model`] that also implements [`Footprints`], the small interface through
//! which a model tells the engine what each step touches. The engine knows
//! nothing of the protocol; the protocol knows nothing of the search.
//!
//! Guarantees, with or without reduction:
//!
//! * **Exact deduplication.** A stored state is a short vector of part ids
//!   (collapse compression: each part of a state — here one actor's local
//!   state, the network, the timers — is interned once in a table of its
//!   own); two states are equal exactly when their part ids are, and parts
//!   are compared in full, never by hash alone.
//! * **Honest bounds.** A search that stops at `max-states` or `max-depth`
//!   says so ([`Bound`]).
//! * **Shortest traces that are concrete runs.** Discoveries are found in
//!   breadth-first order; under partial-order reduction the reduced depth
//!   may exceed the shortest one, so a second, unreduced search bounded by
//!   that depth finds the shortest (see [`explore`]). Traces are rebuilt by
//!   replaying concrete steps of the model ([`Footprints::concrete_next_state`]).
//! * **`eventually` decided on the explored graph**: a run through states
//!   without the condition that ends (a state with no successor) is a
//!   counterexample; a cycle of such states is reported as a caveat.
//! * **Deterministic output**: every choice follows the model's action order.
//!
//! Partial-order reduction (persistent sets with a cycle proviso) is argued
//! sound in ARCHITECTURE.md, "Partial-order reduction"; the conditions it
//! relies on are the contract of [`Footprints`], each checked by tests on the
//! full graphs of every scenario.

use crate::rows::{Chunked, Edges, PackedRows};
use hashbrown::HashTable;
use stateright::{Expectation, Model, Property};
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// A set of owners (a model's actors), at most 64.
pub type Owners = u64;

/// Which search to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    /// Every enabled step of every state is explored.
    None,
    /// Partial-order reduction: persistent sets with a cycle proviso.
    #[default]
    Por,
}

impl Reduction {
    pub fn name(self) -> &'static str {
        match self {
            Reduction::None => "none",
            Reduction::Por => "por",
        }
    }
}

/// Whether a search asked for `reduction` reduces: partial-order reduction was asked for, the
/// model is reducible, its full graph is acyclic if it has an `eventually` property
/// ([`Footprints::acyclic`]), and there is no depth bound. A depth bound promises that every run of
/// the full system of at most that many steps was examined; a reduced search postpones steps
/// that cannot undo a discovery (a crash, a restart) and may so push a counterexample past the
/// bound, so a depth-bounded search runs unreduced (ARCHITECTURE.md, "Bounds").
pub fn reduces<M: Footprints>(model: &M, reduction: Reduction, limits: &Limits) -> bool {
    let eventually = model
        .properties()
        .iter()
        .any(|p| p.expectation == Expectation::Eventually);
    reduction == Reduction::Por
        && model.reducible()
        && limits.max_depth.is_none()
        && (!eventually || model.acyclic())
}

/// What a model tells the engine beyond stateright's [`Model`].
///
/// The contract, for a model whose [`reducible`](Self::reducible) is true (every method may
/// over-approximate in the direction that reduces less; the test suite checks each point on
/// full state graphs):
///
/// * A step with an owner ([`owner`](Self::owner)) reads and writes only its
///   owner's local state, consumes at most one message addressed to its
///   owner and adds messages; steps of different owners commute and neither
///   enables nor disables the other, except that a step may enable steps of
///   the owners it sends to. A step without an owner (a global step) may
///   depend on every step.
/// * A step with a [`local_key`](Self::local_key) commutes with every step of
///   its owner that has a different key (or none), only steps with the same
///   key can disable it, and while it is enabled no global step is.
/// * [`senders_to`](Self::senders_to) returns every owner outside `frozen`
///   that may, on some run from the state on which owners in `frozen` take no
///   step, send a message to an owner in `frozen`.
/// * [`global_blocked`](Self::global_blocked) is true only if no global step
///   can be taken before a step of one of the owners given.
/// * [`may_undo`](Self::may_undo) is true for every step that can turn a
///   state where property `p`'s discovery holds (an `always` condition false,
///   a `sometimes` condition true, an `eventually` condition true) into a
///   state where it does not.
pub trait Footprints:
    Model<State: Clone + PartialEq + std::fmt::Debug, Action: Clone + std::fmt::Debug>
{
    /// One interned piece of a state (collapse compression).
    type Part: Clone + Eq + Hash;
    /// What a search keeps between the successors it builds, to build the next ones with less
    /// work (a cache: [`next_parts`](Self::next_parts) gives the same parts whatever it holds).
    /// Each search, and each worker of a distributed one, has its own.
    type Memo: Default;

    /// Splits a state into its parts; the number of parts is the same for every state.
    fn split(&self, state: Self::State, parts: &mut Vec<Self::Part>);
    /// Rebuilds a state from its parts.
    fn join(&self, parts: &[&Self::Part]) -> Self::State;
    /// Turns `state`, the join of `old`, into the join of `new` (as many parts). The default
    /// joins `new`; a model may change only what differs, since a search moves one state from
    /// each state it reads to the next, and the next differs from it in a few parts.
    fn rejoin(&self, state: &mut Self::State, old: &[&Self::Part], new: &[&Self::Part]) {
        let _ = old;
        *state = self.join(new);
    }
    /// A cheap test that a successor's part is its parent's (true only if they are equal;
    /// false may be wrong, which costs an interning lookup, never exactness).
    fn unchanged(&self, parent: &Self::Part, child: &Self::Part) -> bool {
        parent == child
    }
    /// The successor of the state stored as `parts` (`state` joined) by `action`, as parts:
    /// `next[slot]` is the new part, or `None` where the step leaves `parts[slot]` as it is;
    /// false when the step leads nowhere. The default builds the whole successor
    /// (`next_state`) and splits it; a model may build only what the step changes, and must
    /// give the same parts, whatever `memo` holds; [`stored`](Self::stored) is then told
    /// which of the parts built were stored already.
    fn next_parts(
        &self,
        state: &Self::State,
        parts: &[Self::Part],
        action: &Self::Action,
        next: &mut Vec<Option<Self::Part>>,
        _memo: &mut Self::Memo,
    ) -> bool {
        next_parts_whole(self, state, parts, action, next)
    }

    /// The part built in `slot` by the last [`next_parts`](Self::next_parts) was stored
    /// already, as `stored` (equal to it): a memo that keeps built parts may keep the stored
    /// one instead.
    fn stored(&self, _memo: &mut Self::Memo, _slot: usize, _stored: &Self::Part) {}

    /// Whether the reduction's independence holds in this model at all (for example, not on a
    /// network where every delivery writes shared state).
    fn reducible(&self) -> bool;
    /// The owner of a step, or `None` for a global step.
    fn owner(&self, action: &Self::Action) -> Option<usize>;
    /// The key of a step that commutes with every other step of its owner (see the contract).
    fn local_key(&self, action: &Self::Action) -> Option<u64>;
    /// Owners outside `frozen` that may send to an owner in `frozen` (see the contract).
    fn senders_to(&self, state: &Self::State, frozen: Owners) -> Owners;
    /// Whether no global step can be taken before a step of one of `owners`.
    fn global_blocked(&self, state: &Self::State, owners: Owners) -> bool;
    /// Whether `action` can undo a discovery of property `p` (an index into `properties()`).
    fn may_undo(&self, p: usize, action: &Self::Action) -> bool;
    /// Whether `action` can undo a discovery of any of the properties `ps`: the same as asking
    /// [`may_undo`](Self::may_undo) of each (a model may share the work between them).
    fn may_undo_any(&self, ps: &[usize], action: &Self::Action) -> bool {
        ps.iter().any(|&p| self.may_undo(p, action))
    }
    /// What `action` may change, in bits of the model's choosing (`None`: anything). A
    /// property whose [`reads`](Self::reads) a step does not change has the same value after
    /// it as before, so the search does not evaluate it on a state reached by that step
    /// from one where it was not discovered.
    fn changes(&self, _action: &Self::Action) -> Option<u64> {
        None
    }
    /// What property `p`'s condition reads, in the bits of [`changes`](Self::changes)
    /// (`None`: anything).
    fn reads(&self, _p: usize) -> Option<u64> {
        None
    }
    /// A `sometimes` property that every search discovers no later than property `p`: each
    /// state that is a discovery of `p` is a discovery of it, or is reached by a path through
    /// one (for a claim `always (φ implies ψ)`, the premise `sometimes φ`). While it is looked
    /// for and undiscovered, the search does not evaluate `p`, which cannot be discovered.
    fn guard(&self, _p: usize) -> Option<usize> {
        None
    }
    /// Whether the full state graph has no cycle (a promise the tests check on full graphs).
    /// The reduced graph may lose cycles of the full one, and an `eventually` property that
    /// holds on every run that ends can still be avoided by a cycle: a model that does not
    /// promise acyclicity is searched unreduced when it has an `eventually` property, so that
    /// its cycle caveat is computed on the full graph.
    fn acyclic(&self) -> bool {
        false
    }

    /// The initial states of the concrete system (before any canonicalisation).
    fn concrete_init_states(&self) -> Vec<Self::State> {
        self.init_states()
    }
    /// A step of the concrete system.
    fn concrete_next_state(
        &self,
        state: &Self::State,
        action: Self::Action,
    ) -> Option<Self::State> {
        self.next_state(state, action)
    }
    /// The stored representative of a concrete state.
    fn representative(&self, state: Self::State) -> Self::State {
        state
    }
}

/// Why a search stopped before exhausting the state space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// `max-states` unique states were reached.
    States(usize),
    /// States at depth `max-depth` had successors that were not explored.
    Depth(usize),
    /// The process's resident memory passed this many bytes.
    Memory(usize),
}

/// Limits of one search.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_states: usize,
    pub max_depth: Option<usize>,
    /// Stop when the process's resident memory passes this many bytes (checked every
    /// [`MEMORY_CHECK_EVERY`] generated states; shared by every search of the process, since it
    /// is the whole process that is measured).
    pub max_memory: Option<usize>,
}

/// How often (in generated states) a search with a memory bound reads the process's memory.
pub const MEMORY_CHECK_EVERY: usize = 4096;

/// The process's resident memory in bytes, where the system says (Linux: `/proc/self/status`).
pub fn resident_memory() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Counters a search publishes while it runs, for a progress display; shared by the searches
/// of one command.
#[derive(Debug, Default)]
pub struct Progress {
    pub generated: AtomicUsize,
    pub unique: AtomicUsize,
    pub max_depth: AtomicUsize,
    pub scenarios_done: AtomicUsize,
}

/// How often (in expanded states) a search publishes its counters.
pub(crate) const PUBLISH_EVERY: usize = 4096;

/// A path through the concrete state space.
#[derive(Debug)]
pub struct Trace<M: Footprints> {
    pub initial: M::State,
    pub steps: Vec<(M::Action, M::State)>,
}

impl<M: Footprints> Clone for Trace<M> {
    fn clone(&self) -> Self {
        Trace {
            initial: self.initial.clone(),
            steps: self.steps.clone(),
        }
    }
}

/// What the search found for one property.
#[derive(Debug)]
pub enum Finding<M: Footprints> {
    /// No discovery.
    None,
    /// A discovery, with its shortest trace (`None` if it could not be rebuilt, which a model
    /// that keeps the contract never causes).
    Found(Option<Trace<M>>),
    /// An `eventually` property with no run ending without it, but a cycle of states without it.
    Cycle,
}

impl<M: Footprints> Finding<M> {
    pub fn found(&self) -> bool {
        matches!(self, Finding::Found(_))
    }
}

/// The result of a search.
pub struct Exploration<M: Footprints> {
    pub findings: Vec<Finding<M>>,
    pub unique_states: usize,
    /// Successor states generated, duplicates included (initial states count too).
    pub generated: usize,
    pub max_depth: usize,
    pub bound: Option<Bound>,
    pub seconds: f64,
    /// The reduction the search ran with (`None` when asked for `Por` on a model where it does
    /// not apply).
    pub reduction: Reduction,
    /// Bytes held by the visited-state store at the end (state vectors, index, parents, edges,
    /// and the part tables' own bookkeeping; the parts themselves are not counted).
    pub store_bytes: usize,
    /// States stored by the unreduced search that made traces shortest (0 if none was needed).
    pub trace_search_states: usize,
    /// Per property: a trace from the reduced search that the unreduced search could not
    /// confirm as shortest, because it stopped at a bound first.
    pub unconfirmed: Vec<bool>,
    /// The stored states (kept by the single-thread search only).
    pub(crate) store: Option<Store<M>>,
}

impl<M: Footprints> Exploration<M> {
    pub fn complete(&self) -> bool {
        self.bound.is_none()
    }

    /// The stored states (representatives), in the order found (none after a distributed
    /// search, whose states stay with its workers).
    pub fn states<'a>(&'a self, model: &'a M) -> impl Iterator<Item = M::State> + 'a {
        let store = self.store.as_ref();
        (0..store.map_or(0, Store::len) as u32).map(move |i| {
            store
                .expect("a state index implies a store")
                .state(model, i)
        })
    }
}

/// One interning table per part position.
pub(crate) struct PartTable<P> {
    pub(crate) parts: Vec<P>,
    /// The hash of each part (`hash_of`), so that growing the index rehashes no part.
    pub(crate) hashes: Vec<u64>,
    index: HashTable<u32>,
}

pub(crate) fn hash_of<T: Hash + ?Sized>(x: &T) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    x.hash(&mut h);
    h.finish()
}

/// The hash of a state's part ids, the same whether they come from a row being built or from
/// the packed store.
pub(crate) fn hash_row(ids: impl Iterator<Item = u32>) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    ids.for_each(|id| h.write_u32(id));
    h.finish()
}

impl<P: Eq + Hash> PartTable<P> {
    pub(crate) fn new() -> Self {
        PartTable {
            parts: Vec::new(),
            hashes: Vec::new(),
            index: HashTable::new(),
        }
    }

    fn intern(&mut self, p: P) -> u32 {
        let h = hash_of(&p);
        self.intern_hashed(p, h)
    }

    /// Interns a part whose hash is `h` (`hash_of` of it).
    pub(crate) fn intern_hashed(&mut self, p: P, h: u64) -> u32 {
        if let Some(&i) = self.index.find(h, |&i| self.parts[i as usize] == p) {
            return i;
        }
        let i = self.parts.len() as u32;
        let hashes = &self.hashes;
        self.index.insert_unique(h, i, |&j| hashes[j as usize]);
        self.parts.push(p);
        self.hashes.push(h);
        i
    }
}

/// Interns part `p` (hash `h`) that a step built in `slot`; if an equal part is stored
/// already, tells the model's memo which (`Footprints::stored`).
pub(crate) fn intern_built<M: Footprints>(
    table: &mut PartTable<M::Part>,
    model: &M,
    memo: &mut M::Memo,
    slot: usize,
    p: M::Part,
    h: u64,
) -> u32 {
    let before = table.parts.len();
    let id = table.intern_hashed(p, h);
    if (id as usize) < before {
        model.stored(memo, slot, &table.parts[id as usize]);
    }
    id
}

pub(crate) const NO_PARENT: u32 = u32::MAX;

/// The visited states of one search.
pub(crate) struct Store<M: Footprints> {
    tables: Vec<PartTable<M::Part>>,
    /// Part ids, `width` per state, packed.
    ids: PackedRows,
    index: HashTable<u32>,
    /// Parent state and index of the action taken, per state (`NO_PARENT` for initial states).
    parent: Chunked<(u32, u32)>,
    /// The first state of each depth.
    level_start: Vec<u32>,
    /// Successors of expanded states in compressed rows, kept only for the states where the
    /// condition of some `eventually` property fails (empty rows elsewhere).
    edges: Edges,
    /// States whose successors were not all explored (beyond a bound).
    unexpanded: Vec<u32>,
}

impl<M: Footprints> Store<M> {
    fn new(width: usize) -> Self {
        Store {
            tables: (0..width).map(|_| PartTable::new()).collect(),
            ids: PackedRows::new(width),
            index: HashTable::new(),
            parent: Chunked::new(1),
            level_start: vec![0],
            edges: Edges::new(),
            unexpanded: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.parent.len()
    }

    /// The part ids of state `i`, into `out`.
    fn row(&self, i: u32, out: &mut Vec<u32>) {
        self.ids.decode(i as usize, out)
    }

    fn parent(&self, i: u32) -> (u32, u32) {
        self.parent.row(i as usize)[0]
    }

    fn depth(&self, i: u32) -> usize {
        self.level_start.partition_point(|&s| s <= i) - 1
    }

    fn parts(&self, i: u32) -> Vec<&M::Part> {
        self.parts_of(self.ids.ids(i as usize))
    }

    /// The parts with these ids, in slot order.
    fn parts_of(&self, ids: impl Iterator<Item = u32>) -> Vec<&M::Part> {
        self.tables
            .iter()
            .zip(ids)
            .map(|(t, id)| &t.parts[id as usize])
            .collect()
    }

    fn state(&self, model: &M, i: u32) -> M::State {
        model.join(&self.parts(i))
    }

    /// Turns `view` (a state and its ids) into the state with ids `ids`.
    fn rejoin(&self, model: &M, view: &mut (M::State, Vec<u32>), ids: &[u32]) {
        if view.1 != ids {
            let old = self.parts_of(view.1.iter().copied());
            model.rejoin(&mut view.0, &old, &self.parts_of(ids.iter().copied()));
            view.1.clear();
            view.1.extend_from_slice(ids);
        }
    }

    /// The part ids of `parts`, reusing the ids of `like` (the parent's parts) where unchanged.
    fn intern(
        &mut self,
        model: &M,
        parts: Vec<M::Part>,
        like: Option<(&[M::Part], &[u32])>,
    ) -> Vec<u32> {
        parts
            .into_iter()
            .enumerate()
            .map(|(slot, p)| match like {
                Some((lp, lid)) if model.unchanged(&lp[slot], &p) => lid[slot],
                _ => self.tables[slot].intern(p),
            })
            .collect()
    }

    fn find(&self, row: &[u32]) -> Option<u32> {
        self.index
            .find(hash_row(row.iter().copied()), |&i| {
                self.ids.equals(i as usize, row)
            })
            .copied()
    }

    /// Adds a state given by its part ids; returns its index and whether it is new.
    fn insert(&mut self, row: &[u32], parent: (u32, u32)) -> (u32, bool) {
        let h = hash_row(row.iter().copied());
        if let Some(&i) = self.index.find(h, |&i| self.ids.equals(i as usize, row)) {
            return (i, false);
        }
        let i = self.len() as u32;
        self.ids.push(row);
        let ids = &self.ids;
        self.index
            .insert_unique(h, i, |&j| hash_row(ids.ids(j as usize)));
        self.parent.push(&[parent]);
        (i, true)
    }

    fn bytes(&self) -> usize {
        self.ids.bytes()
            + self.index.capacity() * 5
            + self.parent.bytes()
            + self.edges.bytes()
            + self
                .tables
                .iter()
                .map(|t| t.index.capacity() * 5 + t.hashes.capacity() * 8)
                .sum::<usize>()
    }

    fn successors(&self, i: u32, out: &mut Vec<u32>) {
        self.edges.row(i as usize, out)
    }

    fn chain(&self, i: u32) -> Vec<u32> {
        let mut chain = vec![i];
        let mut at = i;
        while self.parent(at).0 != NO_PARENT {
            at = self.parent(at).0;
            chain.push(at);
        }
        chain.reverse();
        chain
    }
}

/// [`Footprints::next_parts`] by way of the whole successor: `next_state`, then `split`.
pub fn next_parts_whole<M: Footprints>(
    model: &M,
    state: &M::State,
    parts: &[M::Part],
    action: &M::Action,
    next: &mut Vec<Option<M::Part>>,
) -> bool {
    let Some(s) = model.next_state(state, action.clone()) else {
        return false;
    };
    let mut whole = Vec::with_capacity(parts.len());
    model.split(s, &mut whole);
    next.clear();
    next.extend(
        whole
            .into_iter()
            .zip(parts)
            .map(|(p, q)| (!model.unchanged(q, &p)).then_some(p)),
    );
    true
}

/// Per property, the property it is looked for behind (`Footprints::guard`), and the order in
/// which a new state's properties are evaluated: every guard before the rest, so that a
/// property behind a guard discovered in the same state is evaluated there too.
pub(crate) fn guards<M: Footprints>(model: &M, n: usize) -> (Vec<Option<usize>>, Vec<usize>) {
    let guard: Vec<Option<usize>> = (0..n).map(|p| model.guard(p)).collect();
    let (mut order, rest): (Vec<usize>, Vec<usize>) =
        (0..n).partition(|q| guard.contains(&Some(*q)));
    order.extend(rest);
    (guard, order)
}

/// What a discovery is for each property kind.
pub(crate) fn discovered<M: Model>(p: &Property<M>, model: &M, s: &M::State) -> bool {
    match p.expectation {
        Expectation::Always => !(p.condition)(model, s),
        Expectation::Sometimes => (p.condition)(model, s),
        // Decided on the whole graph once the search ends (`decide_eventually`).
        Expectation::Eventually => false,
    }
}

/// One breadth-first search.
struct Search<'m, M: Footprints> {
    model: &'m M,
    props: Vec<Property<M>>,
    store: Store<M>,
    por: bool,
    /// Per property: the state of its first discovery.
    first: Vec<Option<u32>>,
    /// Properties whose discoveries are looked for (the others are ignored).
    wanted: Vec<bool>,
    /// Per property: what its condition reads (`Footprints::reads`).
    reads: Vec<Option<u64>>,
    /// Per property: its [`Footprints::guard`].
    guard: Vec<Option<usize>>,
    /// The order properties are evaluated in on a new state: every guard before the rest.
    order: Vec<usize>,
    /// Per wanted `eventually` property (by position in `props`): its condition on each state
    /// expanded so far, in state order, read off the state the expansion builds anyway, so
    /// that deciding the property on the graph rebuilds only the states never expanded.
    met: Vec<(usize, Bits)>,
    generated: usize,
    bound: Option<Bound>,
}

/// A growable vector of bits.
#[derive(Default)]
struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(64) {
            self.words.push(0);
        }
        if bit {
            self.words[self.len / 64] |= 1 << (self.len % 64);
        }
        self.len += 1;
    }

    /// Bit `i`, or `None` beyond the bits pushed.
    fn get(&self, i: usize) -> Option<bool> {
        (i < self.len).then(|| self.words[i / 64] & (1 << (i % 64)) != 0)
    }
}

impl<'m, M: Footprints> Search<'m, M> {
    fn new(model: &'m M, por: bool, wanted: Vec<bool>) -> Self {
        let props = model.properties();
        let mut parts = Vec::new();
        if let Some(s) = model.init_states().into_iter().next() {
            model.split(s, &mut parts);
        }
        let (guard, order) = guards(model, props.len());
        Search {
            model,
            reads: (0..props.len()).map(|p| model.reads(p)).collect(),
            guard,
            order,
            first: vec![None; props.len()],
            met: (0..props.len())
                .filter(|&p| wanted[p] && props[p].expectation == Expectation::Eventually)
                .map(|p| (p, Bits::default()))
                .collect(),
            props,
            store: Store::new(parts.len()),
            por,
            wanted,
            generated: 0,
            bound: None,
        }
    }

    /// Whether property `p` is looked for in the state being noted: wanted, undiscovered, and
    /// not behind a guard that is undiscovered still (evaluated first: see `order`).
    fn looked_for(&self, p: usize) -> bool {
        self.wanted[p]
            && self.first[p].is_none()
            && !self.guard[p].is_some_and(|q| self.wanted[q] && self.first[q].is_none())
    }

    fn note_discoveries(&mut self, i: u32, s: &M::State) {
        for k in 0..self.order.len() {
            let p = self.order[k];
            if self.looked_for(p) && discovered(&self.props[p], self.model, s) {
                self.first[p] = Some(i);
            }
        }
    }

    /// Notes the discoveries in new state `i` (part ids `ids`), reached by a step that `changes` what it says
    /// from a state where no undiscovered property was discovered: only the properties that
    /// read something the step changes can be discovered here, and the state is rebuilt from
    /// its parts only if there is one.
    fn note_discoveries_after(
        &mut self,
        (i, ids): (u32, &[u32]),
        changes: Option<u64>,
        view: &mut (M::State, Vec<u32>),
    ) {
        let may_change = |p: usize| match (changes, self.reads[p]) {
            (Some(c), Some(r)) => c & r != 0,
            _ => true,
        };
        let mut read = false;
        for k in 0..self.order.len() {
            let p = self.order[k];
            if self.looked_for(p) && may_change(p) {
                if !read {
                    self.store.rejoin(self.model, view, ids);
                    read = true;
                }
                if discovered(&self.props[p], self.model, &view.0) {
                    self.first[p] = Some(i);
                }
            }
        }
    }

    fn all_found(&self) -> bool {
        self.props.iter().enumerate().all(|(p, prop)| {
            !self.wanted[p]
                || self.first[p].is_some()
                || prop.expectation == Expectation::Eventually
        })
    }

    /// Runs the search; `stop_when_found` ends it once every wanted property is discovered.
    fn run(&mut self, limits: Limits, stop_when_found: bool, progress: Option<&Progress>) {
        let model = self.model;
        let mut parts = Vec::new();
        for s in model.init_states() {
            self.generated += 1;
            if self.store.len() >= limits.max_states {
                self.bound = Some(Bound::States(limits.max_states));
                return;
            }
            parts.clear();
            model.split(s, &mut parts);
            let row = self.store.intern(model, std::mem::take(&mut parts), None);
            let (i, new) = self.store.insert(&row, (NO_PARENT, 0));
            if new {
                self.note_discoveries(i, &self.store.state(model, i));
            }
        }
        self.store.level_start.push(self.store.len() as u32);
        let mut published = (0usize, 0usize);
        let mut actions = Vec::new();
        let mut batch: Vec<(u32, Vec<u32>)> = Vec::new();
        let mut cur_parts = Vec::new();
        let mut cur_ids = Vec::new();
        let mut succ = Vec::new();
        let mut memo = M::Memo::default();
        // The whole state last read (of the last state expanded or evaluated), and its ids.
        let mut last_read: Option<(M::State, Vec<u32>)> = None;
        let mut next = 0u32;
        let mut depth = 0usize;
        let mut memory_checked_at = 0usize;
        'search: while (next as usize) < self.store.len() {
            if stop_when_found && self.all_found() {
                break;
            }
            let idx = next;
            next += 1;
            if idx >= self.store.level_start[depth + 1] {
                depth += 1;
                self.store.level_start.push(self.store.len() as u32);
            }
            if self.generated >= memory_checked_at + MEMORY_CHECK_EVERY {
                memory_checked_at = self.generated;
                if let Some(max) = limits.max_memory {
                    if resident_memory().is_some_and(|m| m > max) {
                        self.bound = Some(Bound::Memory(max));
                        self.store.unexpanded.extend(idx..self.store.len() as u32);
                        break 'search;
                    }
                }
            }
            if let Some(p) = progress {
                if (idx as usize).is_multiple_of(PUBLISH_EVERY) {
                    publish(p, &mut published, self.generated, self.store.len(), depth);
                }
            }
            // The state's ids are read once; its parts and its whole form are built from them,
            // the whole form by changing the view from the state it holds.
            self.store.row(idx, &mut cur_ids);
            let view =
                last_read.get_or_insert_with(|| (self.store.state(model, idx), cur_ids.clone()));
            self.store.rejoin(model, view, &cur_ids);
            let current = &view.0;
            for (p, bits) in &mut self.met {
                debug_assert_eq!(bits.len, idx as usize, "states are expanded in order");
                bits.push((self.props[*p].condition)(model, current));
            }
            // Successors are read only from a state where some `eventually` condition fails
            // (`decide_eventually` walks those states alone), so only such a state keeps them.
            let keep_edges = self
                .met
                .iter()
                .any(|(_, bits)| bits.get(idx as usize) == Some(false));
            actions.clear();
            model.actions(current, &mut actions);
            if limits.max_depth.is_some_and(|max| depth >= max) {
                if !stop_when_found
                    && actions
                        .iter()
                        .any(|a| model.next_state(current, a.clone()).is_some())
                {
                    self.bound = Some(Bound::Depth(depth));
                    self.store.unexpanded.push(idx);
                }
                self.store.edges.push_row(&[]);
                continue;
            }
            // The successors to explore: a persistent set, or every enabled step.
            let chosen = if self.por {
                self.persistent_set(current, &actions, depth)
            } else {
                None
            };
            cur_parts.clear();
            cur_parts.extend(
                self.store
                    .parts_of(cur_ids.iter().copied())
                    .into_iter()
                    .cloned(),
            );
            batch.clear();
            // A successor is built from its parent's parts: a part its step leaves keeps the
            // parent's id, and only the parts it changes are interned.
            let mut next_parts = Vec::with_capacity(cur_parts.len());
            let memo = &mut memo;
            let mut add = |store: &mut Store<M>, ai: usize, batch: &mut Vec<(u32, Vec<u32>)>| {
                if model.next_parts(current, &cur_parts, &actions[ai], &mut next_parts, memo) {
                    let row = next_parts
                        .drain(..)
                        .enumerate()
                        .map(|(slot, p)| match p {
                            Some(p) if !model.unchanged(&cur_parts[slot], &p) => {
                                let h = hash_of(&p);
                                intern_built(&mut store.tables[slot], model, memo, slot, p, h)
                            }
                            _ => cur_ids[slot],
                        })
                        .collect();
                    batch.push((ai as u32, row));
                }
            };
            match &chosen {
                Some(set) => {
                    for &ai in set {
                        add(&mut self.store, ai, &mut batch);
                    }
                    // Cycle proviso: a reduced set may not lead to a state stored at this depth
                    // or shallower, so every cycle of the reduced graph holds a fully expanded
                    // state (ARCHITECTURE.md).
                    let closes = batch.is_empty()
                        || batch.iter().any(|(_, row)| {
                            self.store
                                .find(row)
                                .is_some_and(|j| self.store.depth(j) <= depth)
                        });
                    if closes {
                        for ai in (0..actions.len()).filter(|ai| !set.contains(ai)) {
                            add(&mut self.store, ai, &mut batch);
                        }
                        batch.sort_by_key(|(ai, _)| *ai);
                    }
                }
                None => {
                    for ai in 0..actions.len() {
                        add(&mut self.store, ai, &mut batch);
                    }
                }
            }
            succ.clear();
            for (ai, row) in batch.drain(..) {
                self.generated += 1;
                if self.store.len() >= limits.max_states && self.store.find(&row).is_none() {
                    self.bound = Some(Bound::States(limits.max_states));
                    self.store.unexpanded.extend(idx..self.store.len() as u32);
                    break 'search;
                }
                let (to, new) = self.store.insert(&row, (idx, ai));
                // A new state is rebuilt from its parts only while some discovery is still looked for.
                if new && !self.all_found() {
                    let changes = model.changes(&actions[ai as usize]);
                    self.note_discoveries_after((to, &row), changes, view);
                }
                if keep_edges {
                    succ.push(to);
                }
            }
            self.store.edges.push_row(&succ);
        }
        let n = self.store.len() as u32;
        if (next as usize) < self.store.len() && self.bound.is_none() {
            // Stopped early because every wanted discovery was made.
            self.store.unexpanded.extend(next..n);
        }
        while self.store.edges.rows() < n as usize {
            self.store.edges.push_row(&[]);
        }
        if let Some(p) = progress {
            publish(p, &mut published, self.generated, self.store.len(), depth);
        }
    }

    /// A persistent set of `actions` (indices), or `None` when every action must be explored.
    fn persistent_set(
        &self,
        state: &M::State,
        actions: &[M::Action],
        depth: usize,
    ) -> Option<Vec<usize>> {
        // A property counts as decided only if discovered at this depth or shallower, so the
        // sets chosen within one depth do not depend on the order its states are expanded in
        // (the distributed search expands a depth in any order and must choose the same sets).
        let undecided: Vec<usize> = (0..self.props.len())
            .filter(|&p| self.first[p].is_none_or(|i| self.store.depth(i) > depth))
            .collect();
        persistent_set(self.model, &undecided, state, actions)
    }

    /// Decides an `eventually` property on the explored graph (see [`decide_eventually`]).
    fn decide_eventually(&self, p: usize) -> Result<Option<Vec<u32>>, ()> {
        let prop = &self.props[p];
        let met = self.met.iter().find(|(q, _)| *q == p).map(|(_, bits)| bits);
        let n = self.store.len();
        let mut unexpanded = vec![false; n];
        for &i in &self.store.unexpanded {
            unexpanded[i as usize] = true;
        }
        decide_eventually(
            n,
            |i| self.store.parent(i).0 == NO_PARENT,
            |i| match met.and_then(|bits| bits.get(i as usize)) {
                Some(holds) => !holds,
                None => !(prop.condition)(self.model, &self.store.state(self.model, i)),
            },
            &unexpanded,
            |i, out| self.store.successors(i, out),
        )
    }

    /// The concrete run that ends in stored state `target` along its chain of parents.
    fn trace(&self, target: u32) -> Option<Trace<M>> {
        self.trace_along(&self.store.chain(target))
    }

    /// The concrete run through the stored states of `chain` (from an initial state).
    fn trace_along(&self, chain: &[u32]) -> Option<Trace<M>> {
        let m = self.model;
        concrete_run(m, chain.iter().map(|&i| self.store.state(m, i)))
    }
}

/// The concrete run whose states have the stored representatives `chain` (the first one an
/// initial state), replaying the model's concrete steps; `None` if there is none.
pub(crate) fn concrete_run<M: Footprints>(
    m: &M,
    mut chain: impl Iterator<Item = M::State>,
) -> Option<Trace<M>> {
    let first = chain.next()?;
    let initial = m
        .concrete_init_states()
        .into_iter()
        .find(|s| m.representative(s.clone()) == first)?;
    let mut current = initial.clone();
    let mut steps = Vec::new();
    let mut actions = Vec::new();
    for target in chain {
        actions.clear();
        m.actions(&current, &mut actions);
        let (step, next) = actions.iter().find_map(|a| {
            let next = m.concrete_next_state(&current, a.clone())?;
            (m.representative(next.clone()) == target).then(|| (a.clone(), next))
        })?;
        steps.push((step, next.clone()));
        current = next;
    }
    Some(Trace { initial, steps })
}

pub(crate) fn publish(
    p: &Progress,
    published: &mut (usize, usize),
    generated: usize,
    unique: usize,
    depth: usize,
) {
    p.generated
        .fetch_add(generated - published.0, Ordering::Relaxed);
    p.unique.fetch_add(unique - published.1, Ordering::Relaxed);
    p.max_depth.fetch_max(depth, Ordering::Relaxed);
    *published = (generated, unique);
}

/// A persistent set of `actions` (indices), or `None` when every action must be explored;
/// `undecided` are the properties whose discovery a postponed step must not undo.
pub(crate) fn persistent_set<M: Footprints>(
    model: &M,
    undecided: &[usize],
    state: &M::State,
    actions: &[M::Action],
) -> Option<Vec<usize>> {
    if actions.len() <= 1 {
        return None;
    }
    let owners: Vec<Option<usize>> = actions.iter().map(|a| model.owner(a)).collect();
    if owners.iter().any(Option::is_none) {
        return None; // A global step depends on every step.
    }
    // Whether a step may undo an undecided discovery, asked once per step.
    let known: Vec<std::cell::Cell<Option<bool>>> = vec![Default::default(); actions.len()];
    let visible = |i: usize| match known[i].get() {
        Some(v) => v,
        None => {
            let v = model.may_undo_any(undecided, &actions[i]);
            known[i].set(Some(v));
            v
        }
    };
    let mut best: Option<Vec<usize>> = None;
    let consider = |best: &mut Option<Vec<usize>>, set: Vec<usize>| {
        if set.len() < actions.len()
            && best.as_ref().is_none_or(|b| set.len() < b.len())
            && !set.iter().any(|&i| visible(i))
        {
            *best = Some(set);
        }
    };
    // Steps that commute with everything of their owner: the steps with the same key.
    let mut seen_keys: Vec<(usize, u64)> = Vec::new();
    for (i, a) in actions.iter().enumerate() {
        if let Some(k) = model.local_key(a) {
            let o = owners[i].expect("no global step, checked above");
            if seen_keys.contains(&(o, k)) {
                continue;
            }
            seen_keys.push((o, k));
            let set: Vec<usize> = (0..actions.len())
                .filter(|&j| owners[j] == Some(o) && model.local_key(&actions[j]) == Some(k))
                .collect();
            consider(&mut best, set);
            if best.as_ref().is_some_and(|b| b.len() == 1) {
                return best;
            }
        }
    }
    // Sets of owners closed under "may send to the set".
    let mut tried: Owners = 0;
    for o in owners.iter().flatten() {
        let bit = 1u64 << o;
        if tried & bit != 0 {
            continue;
        }
        tried |= bit;
        let mut set: Owners = bit;
        loop {
            let more = model.senders_to(state, set) & !set;
            if more == 0 {
                break;
            }
            set |= more;
        }
        if !model.global_blocked(state, set) {
            continue;
        }
        let members: Vec<usize> = (0..actions.len())
            .filter(|&j| set & (1u64 << owners[j].expect("no global step, checked above")) != 0)
            .collect();
        consider(&mut best, members);
    }
    best
}

/// Decides an `eventually` property on an explored graph of `n` states: a shortest run from an
/// initial state through states that `avoid` the condition that ends in a state with no
/// successor (and not `unexpanded`, whose future is unknown) is a counterexample, returned as
/// its chain of states; `Err` when there is none but such states form a cycle.
pub(crate) fn decide_eventually(
    n: usize,
    initial: impl Fn(u32) -> bool,
    avoids: impl Fn(u32) -> bool,
    unexpanded: &[bool],
    successors: impl Fn(u32, &mut Vec<u32>),
) -> Result<Option<Vec<u32>>, ()> {
    let mut seen = vec![false; n];
    let mut via: Vec<u32> = vec![NO_PARENT; n];
    // The states whose successors were walked (the graph a cycle would lie in, with the edges
    // to states that avoid the condition).
    let mut walked = vec![false; n];
    // Each state's condition is read once, however many edges lead to it.
    let mut avoided: Vec<Option<bool>> = vec![None; n];
    let mut queue: VecDeque<u32> = VecDeque::new();
    let mut succ = Vec::new();
    for i in 0..n as u32 {
        if initial(i) && *avoided[i as usize].get_or_insert_with(|| avoids(i)) {
            seen[i as usize] = true;
            queue.push_back(i);
        }
    }
    while let Some(u) = queue.pop_front() {
        if unexpanded[u as usize] {
            continue; // Beyond the bound: its future is unknown.
        }
        successors(u, &mut succ);
        if succ.is_empty() {
            let mut chain = vec![u];
            let mut at = u;
            while via[at as usize] != NO_PARENT {
                at = via[at as usize];
                chain.push(at);
            }
            chain.reverse();
            return Ok(Some(chain));
        }
        for &v in &succ {
            if *avoided[v as usize].get_or_insert_with(|| avoids(v)) && !seen[v as usize] {
                seen[v as usize] = true;
                via[v as usize] = u;
                queue.push_back(v);
            }
        }
        walked[u as usize] = true;
    }
    let next = |u: u32, out: &mut Vec<u32>| {
        if walked[u as usize] {
            successors(u, out)
        } else {
            out.clear()
        }
    };
    if has_cycle(n, &walked, next, |v| avoided[v as usize] == Some(true)) {
        Err(())
    } else {
        Ok(None)
    }
}

/// Whether the graph of the `roots` (a flag per state) and their successors (`next`) that
/// `keep` has a cycle.
fn has_cycle(
    n: usize,
    roots: &[bool],
    next: impl Fn(u32, &mut Vec<u32>),
    keep: impl Fn(u32) -> bool,
) -> bool {
    // Iterative depth-first search with three colours.
    let mut colour = vec![0u8; n];
    let mut succ = Vec::new();
    for root in (0..n as u32).filter(|&r| roots[r as usize]) {
        if colour[root as usize] != 0 {
            continue;
        }
        let mut stack: Vec<(u32, usize)> = vec![(root, 0)];
        colour[root as usize] = 1;
        while let Some((u, i)) = stack.pop() {
            next(u, &mut succ);
            match (i..succ.len()).find(|&j| keep(succ[j])) {
                Some(j) => {
                    let v = succ[j];
                    stack.push((u, j + 1));
                    match colour[v as usize] {
                        0 => {
                            colour[v as usize] = 1;
                            stack.push((v, 0));
                        }
                        1 => return true,
                        _ => {}
                    }
                }
                None => colour[u as usize] = 2,
            }
        }
    }
    false
}

/// Explores `model` breadth-first within `limits`, with the reduction asked for.
///
/// Under [`Reduction::Por`], a discovery of an `always` or `sometimes` property at reduced depth
/// `d` may have a shorter path in the full system; an unreduced breadth-first search to depth
/// `d` (stopping as soon as every such property is found) then supplies the shortest trace,
/// the very trace an unreduced search reports.
/// An `eventually` counterexample ends in a state with no successor, and persistent sets keep
/// the shortest distance to every such state, so its trace needs no second search.
pub fn explore<M: Footprints>(
    model: &M,
    limits: Limits,
    reduction: Reduction,
    progress: Option<&Progress>,
) -> Exploration<M> {
    let start = Instant::now();
    let por = reduces(model, reduction, &limits);
    let n = model.properties().len();
    let mut search = Search::new(model, por, vec![true; n]);
    search.run(limits, false, progress);
    let mut findings: Vec<Finding<M>> = Vec::with_capacity(n);
    for p in 0..n {
        let finding = if search.props[p].expectation == Expectation::Eventually {
            match search.decide_eventually(p) {
                Ok(Some(chain)) => Finding::Found(search.trace_along(&chain)),
                Ok(None) => Finding::None,
                Err(()) => Finding::Cycle,
            }
        } else {
            match search.first[p] {
                Some(i) => Finding::Found(search.trace(i)),
                None => Finding::None,
            }
        };
        findings.push(finding);
    }
    let mut trace_search_states = 0;
    let mut unconfirmed = vec![false; n];
    if por {
        // Shortest traces: look for each discovery in the full system below its reduced depth.
        let depths: Vec<Option<usize>> = (0..n)
            .map(|p| {
                (search.props[p].expectation != Expectation::Eventually)
                    .then_some(search.first[p])
                    .flatten()
                    .map(|i| search.store.depth(i))
                    .filter(|&d| d > 0)
            })
            .collect();
        if let Some(deepest) = depths.iter().flatten().max() {
            let wanted = depths.iter().map(Option::is_some).collect();
            let mut full = Search::new(model, false, wanted);
            full.run(
                Limits {
                    max_depth: Some(*deepest),
                    ..limits
                },
                true,
                None,
            );
            trace_search_states = full.store.len();
            for p in 0..n {
                match (depths[p], full.first[p]) {
                    (Some(_), Some(i)) => findings[p] = Finding::Found(full.trace(i)),
                    (Some(_), None) => unconfirmed[p] = full.bound.is_some(),
                    _ => {}
                }
            }
        }
    }
    let store = search.store;
    Exploration {
        findings,
        unique_states: store.len(),
        generated: search.generated,
        max_depth: store
            .level_start
            .iter()
            .filter(|&&s| (s as usize) < store.len())
            .count()
            .saturating_sub(1),
        bound: search.bound,
        seconds: start.elapsed().as_secs_f64(),
        reduction: if por { Reduction::Por } else { Reduction::None },
        store_bytes: store.bytes(),
        trace_search_states,
        unconfirmed,
        store: Some(store),
    }
}
