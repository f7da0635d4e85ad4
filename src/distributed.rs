//! One search over many workers: threads of one process, or processes on
//! several hosts, on timely dataflow. Like the single-thread engine
//! (`engine.rs`, the reference), it knows nothing of the protocol.
//!
//! States are partitioned among workers by the hash of their parts: each
//! worker stores, deduplicates and expands its own partition, and sends each
//! successor to the worker that owns it. A round of exchange ends when
//! timely's progress tracking says that every note sent in it has arrived;
//! a depth of the breadth-first search takes five rounds:
//!
//! 1. every worker expands its states of depth `d` (the chosen persistent
//!    set, or every step) and sends the successors to their owners, which
//!    store them and answer whether each was already stored at depth `d` or
//!    shallower;
//! 2. the answers arrive: they give each expanded state its successors, and
//!    tell whether a reduced set closed a cycle (the cycle proviso);
//! 3. and 4. states whose reduced set closed a cycle are fully expanded, and
//!    the answers arrive;
//! 5. every worker broadcasts the keys of its new states, and each worker
//!    numbers its own.
//!
//! **The same states, numbers and traces as the reference.** A new state's
//! key is the least (number of a parent, action index) that reaches it; the
//! reference engine numbers a depth's states in exactly this order (it
//! expands parents in order and their steps in action order), so every
//! state gets the number the reference gives it, whatever the number of
//! workers or how states are partitioned. The persistent set of a state
//! depends only on the state and on the properties discovered at its depth
//! or shallower, which every worker knows at the end of a depth. So the
//! workers store the reference's states, a bound stops where the reference
//! stops (a `max-states` bound keeps the first states in number order), and
//! the discoveries, shortest traces and `eventually` decisions are the
//! reference's: at the end, worker 0 gathers the graph (numbers and edges,
//! no states) and the states of the traces, and decides as the reference
//! does. Tests check all of this on every scenario of `models/`.

use crate::engine::{
    concrete_run, decide_eventually, discovered, guards, hash_of, hash_row, intern_built,
    persistent_set, resident_memory, Bound, Exploration, Finding, Footprints, Limits, PartTable,
    Progress, Reduction, Trace, MEMORY_CHECK_EVERY, NO_PARENT, PUBLISH_EVERY,
};
use crate::rows::PackedRows;
use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use stateright::{Expectation, Property};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::ProcessBuilder;
use timely::communication::{AllocatorBuilder, Hooks};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::{Exchange, Input, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};
use timely::worker::Worker;

/// Where the workers of a search run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Workers {
    /// This many worker threads in this process.
    Threads(usize),
    /// Process `process` of a cluster whose processes listen at `addresses` (one `host:port`
    /// per process, in process order), each with `threads` worker threads.
    Cluster {
        threads: usize,
        process: usize,
        addresses: Vec<String>,
    },
}

impl Workers {
    /// Whether this process holds worker 0, which gathers the results.
    pub fn reports(&self) -> bool {
        match self {
            Workers::Threads(_) => true,
            Workers::Cluster { process, .. } => *process == 0,
        }
    }
}

/// How long a process of a cluster waits for the others to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);

/// A state's place: its worker (high 32 bits) and its index in that worker's store.
type Gid = u64;
const NO_GID: Gid = u64::MAX;

fn gid(worker: usize, local: u32) -> Gid {
    ((worker as u64) << 32) | u64::from(local)
}

fn worker_of(g: Gid) -> usize {
    (g >> 32) as usize
}

fn local_of(g: Gid) -> u32 {
    g as u32
}

/// The order of a depth's states: (number of the parent, index of the action); an initial
/// state's key is (0, its position among the initial states).
type Key = (u64, u32);

/// What workers send one another.
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "P: Serialize",
    deserialize = "P: serde::de::DeserializeOwned"
))]
enum Note<P> {
    /// A check that every worker searches the same model with the same options.
    Hello(u64),
    /// A successor for the worker that owns it: its parts and their hashes, the key it is
    /// reached by, the parent that reached it, and what its step may change
    /// (`Footprints::changes`: the owner evaluates only the properties that read it).
    Succ {
        parts: Vec<Piece<P>>,
        key: Key,
        from: Gid,
        changes: Option<u64>,
    },
    /// The owner's answer to a successor: where it is stored, and whether it was stored at the
    /// parent's depth or shallower.
    Reply {
        parent: u32,
        action: u32,
        child: Gid,
        old: bool,
    },
    /// The end of a depth on one worker.
    Level(Summary),
    /// One worker's count of generated states where the reference stopped at a states bound.
    Count(u64),
    /// One worker's share of the explored graph, for worker 0.
    Graph(Box<Skeleton>),
    /// The states (by number) whose parts worker 0 needs to rebuild traces.
    Want(Vec<u32>),
    /// The parts of wanted states.
    States(Vec<(u32, Vec<P>)>),
}

/// One part of a successor on its way to its owner: in full the first time a worker sends it
/// to a worker (a shared pointer within a process, serialised to another), and by its id in the
/// sender's table afterwards (notes from one worker to another arrive in the order sent), so a
/// part crosses to another process once per pair of workers and is interned there once; to
/// the sender itself, always by id.
#[derive(Clone, Serialize, Deserialize)]
enum Piece<P> {
    /// A part and its hash.
    Whole(P, u64),
    /// A part, its hash, and its id in the sender's table (the first time it is sent there).
    First(P, u64, u32),
    /// A part sent before, by its id in the sender's table.
    Known(u32),
}

/// One worker's account of a depth.
#[derive(Clone, Default, Serialize, Deserialize)]
struct Summary {
    /// Its new states: key, place, and the properties each is a discovery of (a bit each);
    /// sorted by key.
    new: Vec<(Key, Gid, u64)>,
    generated: u64,
    /// Some state at the depth bound had an enabled step.
    depth_bound: bool,
    /// The process passed its memory bound.
    memory: bool,
}

/// One worker's share of the explored graph, by state number.
#[derive(Clone, Default, Serialize, Deserialize)]
struct Skeleton {
    worker: u32,
    /// Per local state: its number (`NO_PARENT` if cut off by a states bound).
    number: Vec<u32>,
    /// Per local state: its parent's place (`NO_GID` for an initial state).
    parent: Vec<Gid>,
    /// Successors (places) of the local states, in compressed rows (empty if not asked for).
    edge_start: Vec<u32>,
    edges: Vec<Gid>,
    /// Local states whose successors were not all explored.
    unexpanded: Vec<u32>,
    /// Per local state (if asked for): the `eventually` properties whose condition it lacks.
    avoids: Vec<u64>,
    /// Bytes of the worker's store.
    bytes: u64,
}

/// Notes to send, each with the index of the worker it is for.
type Outbox<P> = InputHandle<u64, CapacityContainerBuilder<Vec<(u32, Note<P>)>>>;
/// Notes arrived, with the round they were sent in.
type Inbox<P> = Rc<RefCell<Vec<(u64, Note<P>)>>>;

/// Rounds of exchange among the workers, on one timely dataflow.
struct Bus<P: timely::ExchangeData + Clone> {
    input: Outbox<P>,
    probe: ProbeHandle<u64>,
    inbox: Inbox<P>,
    peers: usize,
}

impl<P: timely::ExchangeData + Clone> Bus<P> {
    fn new(worker: &mut Worker) -> Self {
        let inbox: Inbox<P> = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&inbox);
        let mut input = InputHandle::new();
        let probe = worker.dataflow(|scope| {
            scope
                .input_from(&mut input)
                .container::<Vec<_>>()
                .exchange(|n: &(u32, Note<P>)| u64::from(n.0))
                .unary::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
                    Pipeline,
                    "inbox",
                    move |_, _| {
                        move |input, _| {
                            input.for_each(|cap, data| {
                                let round = *cap.least().expect("a round is a time");
                                sink.borrow_mut()
                                    .extend(data.drain(..).map(|(_, n)| (round, n)));
                            });
                        }
                    },
                )
                .probe()
                .0
        });
        Bus {
            input,
            probe,
            inbox,
            peers: worker.peers(),
        }
    }

    fn send(&mut self, to: usize, note: Note<P>) {
        self.input.send((to as u32, note));
    }

    fn broadcast(&mut self, note: Note<P>) {
        for w in 1..self.peers {
            self.send(w, note.clone());
        }
        self.send(0, note);
    }

    /// Ends the round: returns once every note sent in it has arrived.
    fn sync(&mut self, worker: &mut Worker) {
        let next = *self.input.time() + 1;
        self.input.advance_to(next);
        while self.probe.less_than(&next) {
            // Waits for notes or progress without spinning, so that a worker that finished its
            // share of a round leaves the CPU to the others.
            worker.step_or_park(None);
        }
    }

    /// Lets notes move while a round is still open.
    fn pump(&mut self, worker: &mut Worker) {
        worker.step();
    }

    /// The notes of the rounds up to the current one (a worker that has passed the end of a
    /// round may already send notes of the next, which wait for their round).
    fn take(&self) -> Vec<Note<P>> {
        let now = *self.input.time();
        let mut inbox = self.inbox.borrow_mut();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *inbox)
            .into_iter()
            .partition(|(round, _)| *round < now);
        *inbox = later;
        due.into_iter().map(|(_, n)| n).collect()
    }

    /// The notes of the current round so far, while it is still open.
    fn take_current(&self) -> Vec<Note<P>> {
        let now = *self.input.time();
        let mut inbox = self.inbox.borrow_mut();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *inbox)
            .into_iter()
            .partition(|(round, _)| *round <= now);
        *inbox = later;
        due.into_iter().map(|(_, n)| n).collect()
    }

    /// Closes the dataflow and waits until it is done.
    fn close(self, worker: &mut Worker) {
        let Bus { input, probe, .. } = self;
        drop(input);
        while !probe.done() {
            worker.step();
        }
    }
}

/// What one search needs to know about its model.
struct Setup<'m, M: Footprints> {
    model: &'m M,
    props: Vec<Property<M>>,
    limits: Limits,
    por: bool,
    /// Properties whose discoveries are looked for.
    wanted: Vec<bool>,
    /// Stop at the end of the first depth at which every wanted property is discovered.
    stop_when_found: bool,
    /// Gather the edges too (for `eventually` properties).
    graph: bool,
    /// Per property: the parts its condition reads (`Footprints::reads`).
    reads: Vec<Option<u64>>,
}

/// What the properties' guards say (`engine::guards`): a property behind a guard is not
/// evaluated while the guard is undiscovered, here and at every shallower depth.
struct Guards {
    guard: Vec<Option<usize>>,
    order: Vec<usize>,
}

/// The state being expanded, as its successors are built from it: its parts, their hashes
/// and their ids in this worker's tables.
struct Expanding<P> {
    parts: Vec<P>,
    hashes: Vec<u64>,
    ids: Vec<u32>,
}

/// One worker's part of a search.
struct Local<'m, M: Footprints> {
    setup: Setup<'m, M>,
    guards: Guards,
    /// The `eventually` properties, if the graph is gathered (their conditions are read on
    /// each state as it is expanded).
    eventually: Vec<usize>,
    me: usize,
    peers: usize,
    /// Per other worker, per slot: the ids of the parts sent there (a bit each).
    sent: Vec<Vec<Vec<u64>>>,
    /// Per other worker, per slot: its part ids, to this worker's.
    received: Vec<Vec<Vec<u32>>>,
    width: usize,
    tables: Vec<PartTable<M::Part>>,
    ids: PackedRows,
    index: HashTable<u32>,
    /// Per state: its number (`NO_PARENT` until its depth is numbered).
    number: Vec<u32>,
    /// Per state: the parent of its least key.
    parent: Vec<Gid>,
    /// Per state of the depth being stored: its least key, and the properties it is a
    /// discovery of.
    fresh: Vec<(Key, u64)>,
    level_start: Vec<u32>,
    edge_start: Vec<u32>,
    edges: Vec<Gid>,
    unexpanded: Vec<u32>,
    /// Per state expanded so far, in order: the `eventually` properties whose condition it
    /// lacks (read off the state its expansion builds).
    avoids: Vec<u64>,
    /// Per property: its first discovery (number, place, depth), known to every worker.
    first: Vec<Option<(u32, Gid, usize)>>,
    /// States numbered so far, on every worker.
    total: usize,
    /// The states the reference would have stored when it stopped (if fewer than `total`).
    stored: Option<usize>,
    depths: usize,
    generated: usize,
    /// States generated by every worker, as of the last depth numbered.
    generated_total: usize,
    bound: Option<Bound>,
    /// Answers to this worker's successors: (parent, action, child, old).
    replies: Vec<(u32, u32, Gid, bool)>,
    summaries: Vec<Summary>,
    counts: Vec<u64>,
    /// States generated by this worker before the last depth it expanded, and the steps
    /// (parent, action index) whose successors it sent in that depth, sorted.
    generated_before: usize,
    last_sent: Vec<(u32, u32)>,
    published: (usize, usize),
    /// The model's memo of the steps this worker has taken (`Footprints::Memo`).
    memo: M::Memo,
    /// The state last read for its discoveries (see `move_view`).
    stored_view: Option<(M::State, Vec<u32>)>,
}

impl<'m, M: Footprints> Local<'m, M>
where
    M::Part: timely::ExchangeData,
{
    fn new(setup: Setup<'m, M>, me: usize, peers: usize) -> Self {
        let mut parts = Vec::new();
        if let Some(s) = setup.model.init_states().into_iter().next() {
            setup.model.split(s, &mut parts);
        }
        let n = setup.props.len();
        let (guard, order) = guards(setup.model, n);
        let eventually = (0..n)
            .filter(|&p| setup.graph && setup.props[p].expectation == Expectation::Eventually)
            .collect();
        Local {
            setup,
            guards: Guards { guard, order },
            eventually,
            avoids: Vec::new(),
            me,
            peers,
            sent: vec![vec![Vec::new(); parts.len()]; peers],
            received: vec![vec![Vec::new(); parts.len()]; peers],
            width: parts.len(),
            tables: (0..parts.len()).map(|_| PartTable::new()).collect(),
            ids: PackedRows::new(parts.len()),
            index: HashTable::new(),
            number: Vec::new(),
            parent: Vec::new(),
            fresh: Vec::new(),
            level_start: vec![0],
            edge_start: Vec::new(),
            edges: Vec::new(),
            unexpanded: Vec::new(),
            first: vec![None; n],
            total: 0,
            stored: None,
            depths: 0,
            generated: 0,
            generated_total: 0,
            bound: None,
            replies: Vec::new(),
            summaries: Vec::new(),
            counts: Vec::new(),
            generated_before: 0,
            last_sent: Vec::new(),
            published: (0, 0),
            memo: M::Memo::default(),
            stored_view: None,
        }
    }

    fn len(&self) -> u32 {
        self.number.len() as u32
    }

    fn parts(&self, i: u32) -> Vec<&M::Part> {
        self.tables
            .iter()
            .zip(self.ids.ids(i as usize))
            .map(|(t, id)| &t.parts[id as usize])
            .collect()
    }

    fn state(&self, i: u32) -> M::State {
        self.setup.model.join(&self.parts(i))
    }

    /// Moves `view` (a state and its ids) to state `i`, changing only the parts that differ
    /// (`Footprints::rejoin`); the first time, joins it.
    fn move_view(&self, view: &mut Option<(M::State, Vec<u32>)>, i: u32) {
        let ids: Vec<u32> = self.ids.ids(i as usize).collect();
        match view {
            Some((s, at)) if *at != ids => {
                let old: Vec<&M::Part> = (self.tables.iter().zip(at.iter()))
                    .map(|(t, &id)| &t.parts[id as usize])
                    .collect();
                self.setup.model.rejoin(s, &old, &self.parts(i));
                *at = ids;
            }
            Some(_) => {}
            None => *view = Some((self.state(i), ids)),
        }
    }

    /// State `i`'s parts, their hashes and ids, to build its successors from.
    fn expanding(&self, i: u32) -> Expanding<M::Part> {
        let ids: Vec<u32> = self.ids.ids(i as usize).collect();
        Expanding {
            parts: ids
                .iter()
                .enumerate()
                .map(|(slot, &id)| self.tables[slot].parts[id as usize].clone())
                .collect(),
            hashes: ids
                .iter()
                .enumerate()
                .map(|(slot, &id)| self.tables[slot].hashes[id as usize])
                .collect(),
            ids,
        }
    }

    /// Properties still looked for at depth `d`: wanted, not `eventually`, and not discovered
    /// at `d` or shallower.
    fn undecided(&self, d: usize) -> Vec<usize> {
        (0..self.setup.props.len())
            .filter(|&p| self.first[p].is_none_or(|(_, _, at)| at > d))
            .collect()
    }

    /// The properties state `i` is a discovery of, among those still looked for and, when
    /// the step that reached it `changes` what it says, reading something it changes; the
    /// state is rebuilt from its parts only if there is one.
    fn discoveries(&mut self, i: u32, changes: Option<u64>) -> u64 {
        let mut mask = 0;
        let mut view = self.stored_view.take();
        let mut read = false;
        let undiscovered = |p: usize, mask: u64| {
            self.setup.wanted[p] && self.first[p].is_none() && mask & (1 << p) == 0
        };
        for &p in &self.guards.order {
            let may_change = match (changes, self.setup.reads[p]) {
                (Some(c), Some(r)) => c & r != 0,
                _ => true,
            };
            // Behind a guard still undiscovered, and not discovered here either: no discovery.
            // Every run to a discovery of `p` passes through one of its guard, here or at a
            // shallower depth, whose discoveries `first` holds (`Footprints::guard`).
            let guarded = self.guards.guard[p].is_some_and(|q| undiscovered(q, mask));
            if undiscovered(p, mask) && may_change && !guarded {
                if !read {
                    self.move_view(&mut view, i);
                    read = true;
                }
                let s = &view.as_ref().expect("the view is moved to the state").0;
                if discovered(&self.setup.props[p], self.setup.model, s) {
                    mask |= 1 << p;
                }
            }
        }
        self.stored_view = view;
        mask
    }

    fn looking(&self) -> bool {
        (0..self.setup.props.len()).any(|p| {
            self.setup.wanted[p]
                && self.first[p].is_none()
                && self.setup.props[p].expectation != Expectation::Eventually
        })
    }

    /// The owner of a state whose parts have these hashes.
    fn owner(&self, hashes: &[u64]) -> usize {
        (hash_of(hashes) % self.peers as u64) as usize
    }

    /// Stores a state given by its parts, or finds it; returns its index and whether it is new.
    fn store(&mut self, parts: Vec<M::Part>, hashes: Vec<u64>, key: Key, from: Gid) -> (u32, bool) {
        let row: Vec<u32> = parts
            .into_iter()
            .zip(hashes)
            .enumerate()
            .map(|(slot, (p, h))| self.tables[slot].intern_hashed(p, h))
            .collect();
        self.store_row(row, key, from, None)
    }

    /// The local part ids of a successor that worker `sender` sent.
    fn receive(&mut self, sender: usize, pieces: Vec<Piece<M::Part>>) -> Vec<u32> {
        pieces
            .into_iter()
            .enumerate()
            .map(|(slot, piece)| match piece {
                Piece::Whole(p, h) => self.tables[slot].intern_hashed(p, h),
                Piece::First(p, h, id) => {
                    let mine = self.tables[slot].intern_hashed(p, h);
                    let map = &mut self.received[sender][slot];
                    if map.len() <= id as usize {
                        map.resize(id as usize + 1, NO_PARENT);
                    }
                    map[id as usize] = mine;
                    mine
                }
                Piece::Known(id) if sender == self.me => id,
                Piece::Known(id) => self.received[sender][slot][id as usize],
            })
            .collect()
    }

    /// Stores a state given by its part ids, or finds it; returns its index and whether it is
    /// new. A new state reached by a step that `changes` what it says (from a parent that is no
    /// discovery of a property still looked for: it would be decided) can be a discovery only
    /// of the properties that read something the step changes; only those are evaluated.
    fn store_row(
        &mut self,
        row: Vec<u32>,
        key: Key,
        from: Gid,
        changes: Option<u64>,
    ) -> (u32, bool) {
        let h = hash_row(row.iter().copied());
        let ids = &self.ids;
        if let Some(&i) = self.index.find(h, |&i| ids.equals(i as usize, &row)) {
            let newest = *self.level_start.last().expect("a depth is open");
            if i >= newest && key < self.fresh[(i - newest) as usize].0 {
                self.fresh[(i - newest) as usize].0 = key;
                self.parent[i as usize] = from;
            }
            return (i, false);
        }
        let i = self.len();
        self.ids.push(&row);
        let ids = &self.ids;
        self.index
            .insert_unique(h, i, |&j| hash_row(ids.ids(j as usize)));
        self.parent.push(from);
        self.number.push(NO_PARENT);
        let mask = if self.looking() {
            self.discoveries(i, changes)
        } else {
            0
        };
        self.fresh.push((key, mask));
        (i, true)
    }

    /// Handles the notes that have arrived.
    fn absorb(&mut self, bus: &mut Bus<M::Part>) {
        let notes = bus.take();
        self.absorb_notes(bus, notes);
    }

    /// Handles the notes of the current round that have arrived while it is open.
    fn absorb_open(&mut self, bus: &mut Bus<M::Part>) {
        let notes = bus.take_current();
        self.absorb_notes(bus, notes);
    }

    fn absorb_notes(&mut self, bus: &mut Bus<M::Part>, notes: Vec<Note<M::Part>>) {
        for note in notes {
            match note {
                Note::Succ {
                    parts,
                    key,
                    from,
                    changes,
                } => {
                    let row = self.receive(worker_of(from), parts);
                    let (i, _) = self.store_row(row, key, from, changes);
                    let old = i < *self.level_start.last().expect("a depth is open");
                    bus.send(
                        worker_of(from),
                        Note::Reply {
                            parent: local_of(from),
                            action: key.1,
                            child: gid(self.me, i),
                            old,
                        },
                    );
                }
                Note::Reply {
                    parent,
                    action,
                    child,
                    old,
                } => self.replies.push((parent, action, child, old)),
                Note::Level(s) => self.summaries.push(s),
                Note::Count(c) => self.counts.push(c),
                Note::Hello(_) => unreachable!("hello during a search"),
                Note::Graph(_) => unreachable!("graph during a search"),
                Note::Want(_) => unreachable!("want during a search"),
                Note::States(_) => unreachable!("states during a search"),
            }
        }
    }

    /// Sends the successor of state `i` (being expanded: `cur`) by step `ai`, which may change
    /// what `changes` says, given as `next` (`Footprints::next_parts`: `None` where the step
    /// left a part).
    fn send_successor(
        &mut self,
        bus: &mut Bus<M::Part>,
        i: u32,
        (ai, changes): (usize, Option<u64>),
        mut next: Vec<Option<M::Part>>,
        cur: &Expanding<M::Part>,
    ) {
        let model = self.setup.model;
        let mut hashes = cur.hashes.clone();
        for ((p, q), h) in next.iter_mut().zip(&cur.parts).zip(&mut hashes) {
            if p.as_ref().is_some_and(|p| model.unchanged(q, p)) {
                *p = None;
            }
            if let Some(p) = p {
                *h = hash_of(p);
            }
        }
        let to = self.owner(&hashes);
        self.generated += 1;
        // Every part gets its id in this worker's table: a part the step did not change has its
        // parent's; only the parts it changed are interned (as the reference does).
        let pieces = if to == self.me {
            next.into_iter()
                .zip(&hashes)
                .enumerate()
                .map(|(slot, (p, &h))| {
                    Piece::Known(match p {
                        None => cur.ids[slot],
                        Some(p) => {
                            intern_built(&mut self.tables[slot], model, &mut self.memo, slot, p, h)
                        }
                    })
                })
                .collect()
        } else {
            // To another worker: a part in full the first time, by its id afterwards.
            let mut pieces = Vec::with_capacity(self.width);
            for (slot, (p, &h)) in next.into_iter().zip(&hashes).enumerate() {
                let (id, p) = match p {
                    None => (cur.ids[slot], None),
                    Some(p) => {
                        let table = &mut self.tables[slot];
                        let id = intern_built(table, model, &mut self.memo, slot, p.clone(), h);
                        (id, Some(p))
                    }
                };
                let sent = &mut self.sent[to][slot];
                let (word, bit) = (id as usize / 64, 1u64 << (id % 64));
                if sent.len() <= word {
                    sent.resize(word + 1, 0);
                }
                if sent[word] & bit != 0 {
                    pieces.push(Piece::Known(id));
                } else {
                    sent[word] |= bit;
                    let p = p.unwrap_or_else(|| cur.parts[slot].clone());
                    pieces.push(Piece::First(p, h, id));
                }
            }
            pieces
        };
        bus.send(
            to,
            Note::Succ {
                parts: pieces,
                key: (u64::from(self.number[i as usize]), ai as u32),
                from: gid(self.me, i),
                changes,
            },
        );
    }

    /// Runs the search; every worker returns with the same counts, bound and discoveries.
    fn run(&mut self, worker: &mut Worker, bus: &mut Bus<M::Part>, progress: Option<&Progress>) {
        let model = self.setup.model;
        // Depth 0: every worker computes the initial states and stores those it owns.
        for (k, s) in model.init_states().into_iter().enumerate() {
            let mut parts = Vec::new();
            model.split(s, &mut parts);
            let hashes: Vec<u64> = parts.iter().map(hash_of).collect();
            if self.owner(&hashes) == self.me {
                self.generated += 1;
                self.store(parts, hashes, (0, k as u32), NO_GID);
            }
        }
        let mut depth = 0usize;
        let mut flags = (false, false);
        loop {
            // The states of `depth` are stored: number them (round 5), then expand them.
            self.level_start.push(self.len());
            let go_on = self.finish_depth(worker, bus, depth, flags);
            if let Some(p) = progress {
                self.publish(p, depth);
            }
            if !go_on {
                break;
            }
            flags = self.expand_depth(worker, bus, depth);
            depth += 1;
        }
        while self.edge_start.len() <= self.len() as usize {
            self.edge_start.push(self.edges.len() as u32);
        }
    }

    /// Numbers the new states of depth `d` on every worker, notes discoveries and bounds
    /// (`flags`: the depth bound and memory flags of `d - 1`'s expansion); returns whether the
    /// search goes on.
    fn finish_depth(
        &mut self,
        worker: &mut Worker,
        bus: &mut Bus<M::Part>,
        d: usize,
        flags: (bool, bool),
    ) -> bool {
        let (start, end) = (self.level_start[d], self.level_start[d + 1]);
        let fresh = std::mem::take(&mut self.fresh);
        debug_assert_eq!(fresh.len(), (end - start) as usize);
        let mut mine: Vec<(Key, Gid, u64)> = (start..end)
            .zip(fresh)
            .map(|(i, (key, mask))| (key, gid(self.me, i), mask))
            .collect();
        mine.sort_unstable_by_key(|e| e.0);
        bus.broadcast(Note::Level(Summary {
            new: mine,
            generated: self.generated as u64,
            depth_bound: flags.0,
            memory: flags.1,
        }));
        bus.sync(worker);
        self.absorb(bus);
        let summaries = std::mem::take(&mut self.summaries);
        debug_assert_eq!(summaries.len(), self.peers);
        let generated: u64 = summaries.iter().map(|s| s.generated).sum();
        let depth_bound = summaries.iter().any(|s| s.depth_bound);
        let memory = summaries.iter().any(|s| s.memory);
        let mut all: Vec<(Key, Gid, u64)> = summaries.into_iter().flat_map(|s| s.new).collect();
        // Every summary is sorted: a stable sort merges the runs.
        all.sort_by_key(|e| e.0);
        self.generated_total = generated as usize;
        let count = all.len();
        let limits = self.setup.limits;
        let keep = count.min(limits.max_states.saturating_sub(self.total));
        for (r, &(_, g, _)) in all[..keep].iter().enumerate() {
            if worker_of(g) == self.me {
                self.number[local_of(g) as usize] = (self.total + r) as u32;
            }
        }
        for p in 0..self.setup.props.len() {
            if self.setup.wanted[p] && self.first[p].is_none() {
                if let Some(r) = all[..keep].iter().position(|e| e.2 & (1 << p) != 0) {
                    self.first[p] = Some(((self.total + r) as u32, all[r].1, d));
                }
            }
        }
        let kept_here: Vec<u32> = (start..end)
            .filter(|&i| self.number[i as usize] != NO_PARENT)
            .collect();
        if keep > 0 {
            self.depths = d + 1;
        }
        self.total += keep;
        if self.setup.stop_when_found && !self.looking() {
            // The reference stops once the parent that reached the last discovery is expanded
            // (unless the states bound stops it first): it has stored the states of this depth
            // reached from that parent or earlier ones.
            let last_parent = (0..self.setup.props.len())
                .filter_map(|p| self.first[p].filter(|f| f.2 == d && self.setup.wanted[p]))
                .filter_map(|(k, _, _)| all.get(k as usize + keep - self.total).map(|e| e.0 .0))
                .max();
            let before_cut = keep == count || last_parent.is_some_and(|lp| lp < all[keep].0 .0);
            if before_cut {
                if let (Some(lp), true) = (last_parent, d > 0) {
                    let reached = all[..keep].iter().filter(|e| e.0 .0 <= lp).count();
                    self.stored = Some(self.total - keep + reached);
                }
                self.unexpanded.extend(kept_here);
                return false;
            }
        }
        if keep < count {
            // The states bound: the reference stops while expanding the parent of the first
            // state beyond it, leaving that parent and every later state unexpanded.
            self.bound = Some(Bound::States(limits.max_states));
            let (cut, cut_action) = all[keep].0;
            self.generated_total = self.generated_at_cut(worker, bus, d, keep, cut, cut_action);
            if d > 0 {
                let (ps, pe) = (self.level_start[d - 1], self.level_start[d]);
                self.unexpanded
                    .extend((ps..pe).filter(|&i| u64::from(self.number[i as usize]) >= cut));
            }
            self.unexpanded.extend(kept_here);
            return false;
        }
        if memory {
            self.bound = Some(Bound::Memory(limits.max_memory.unwrap_or(0)));
            self.unexpanded.extend(kept_here);
            return false;
        }
        if depth_bound {
            self.bound = Some(Bound::Depth(d.saturating_sub(1)));
        }
        if count == 0 {
            return false;
        }
        true
    }

    fn publish(&mut self, p: &Progress, depth: usize) {
        let unique = self.number.iter().filter(|&&n| n != NO_PARENT).count();
        crate::engine::publish(p, &mut self.published, self.generated, unique, depth);
    }

    /// Expands the states of depth `d` (rounds 1 to 4); returns whether a state at the depth
    /// bound had an enabled step, and whether the memory bound was passed.
    fn expand_depth(
        &mut self,
        worker: &mut Worker,
        bus: &mut Bus<M::Part>,
        d: usize,
    ) -> (bool, bool) {
        let model = self.setup.model;
        let limits = self.setup.limits;
        let (from, to) = (self.level_start[d], self.level_start[d + 1]);
        self.generated_before = self.generated;
        let undecided = self.undecided(d);
        let mut reduced: Vec<(u32, Vec<usize>)> = Vec::new();
        let mut memory_checked_at = self.generated;
        let mut actions = Vec::new();
        let mut depth_bound = false;
        let mut memory = false;
        // The state being expanded, moved from each to the next.
        let mut view = None;
        for i in from..to {
            if self.generated >= memory_checked_at + MEMORY_CHECK_EVERY {
                memory_checked_at = self.generated;
                if limits
                    .max_memory
                    .is_some_and(|max| resident_memory().is_some_and(|m| m > max))
                {
                    memory = true;
                    self.unexpanded.extend(i..to);
                    break;
                }
            }
            if (i as usize).is_multiple_of(PUBLISH_EVERY / 16) {
                bus.pump(worker);
                self.absorb_open(bus);
            }
            self.move_view(&mut view, i);
            let current = &view.as_ref().expect("the view is moved to the state").0;
            if !self.eventually.is_empty() && self.avoids.len() == i as usize {
                let lacks = self.lacks(current);
                self.avoids.push(lacks);
            }
            actions.clear();
            model.actions(current, &mut actions);
            if limits.max_depth.is_some_and(|max| d >= max) {
                if !self.setup.stop_when_found
                    && actions
                        .iter()
                        .any(|a| model.next_state(current, a.clone()).is_some())
                {
                    depth_bound = true;
                    self.unexpanded.push(i);
                }
                continue;
            }
            let chosen = if self.setup.por {
                persistent_set(model, &undecided, current, &actions)
            } else {
                None
            };
            let cur = self.expanding(i);
            let mut sent = 0;
            let all: Vec<usize>;
            let list = match &chosen {
                Some(set) => set,
                None => {
                    all = (0..actions.len()).collect();
                    &all
                }
            };
            for &ai in list {
                let mut next = Vec::with_capacity(self.width);
                if model.next_parts(current, &cur.parts, &actions[ai], &mut next, &mut self.memo) {
                    let step = (ai, model.changes(&actions[ai]));
                    self.send_successor(bus, i, step, next, &cur);
                    sent += 1;
                }
            }
            if let Some(set) = chosen {
                if sent == 0 {
                    // The cycle proviso: an empty reduced set is no set at all.
                    self.expand_rest(bus, i, &set, current, &actions, &cur);
                } else {
                    reduced.push((i, set));
                }
            }
        }
        bus.sync(worker);
        self.absorb(bus);
        bus.sync(worker);
        self.absorb(bus);
        // The cycle proviso: a reduced set with a successor stored at depth `d` or shallower
        // is expanded fully.
        let closes: std::collections::HashSet<u32> =
            self.replies.iter().filter(|r| r.3).map(|r| r.0).collect();
        for (i, set) in reduced {
            if closes.contains(&i) {
                let current = self.state(i);
                actions.clear();
                model.actions(&current, &mut actions);
                let cur = self.expanding(i);
                self.expand_rest(bus, i, &set, &current, &actions, &cur);
            }
        }
        bus.sync(worker);
        self.absorb(bus);
        bus.sync(worker);
        self.absorb(bus);
        // The successors of each expanded state, in action order.
        let mut replies = std::mem::take(&mut self.replies);
        replies.sort_unstable_by_key(|r| (r.0, r.1));
        self.last_sent = replies.iter().map(|r| (r.0, r.1)).collect();
        let mut r = replies.into_iter().peekable();
        for i in from..to {
            self.edge_start.push(self.edges.len() as u32);
            while let Some(&(p, _, child, _)) = r.peek() {
                if p != i {
                    break;
                }
                self.edges.push(child);
                r.next();
            }
        }
        (depth_bound, memory)
    }
}

impl<'m, M: Footprints> Local<'m, M>
where
    M::Part: timely::ExchangeData,
{
    /// Sends the successors of state `i` by the steps outside `set` (the cycle proviso).
    fn expand_rest(
        &mut self,
        bus: &mut Bus<M::Part>,
        i: u32,
        set: &[usize],
        current: &M::State,
        actions: &[M::Action],
        cur: &Expanding<M::Part>,
    ) {
        let model = self.setup.model;
        for (ai, a) in actions.iter().enumerate() {
            if set.contains(&ai) {
                continue;
            }
            let mut next = Vec::with_capacity(self.width);
            if model.next_parts(current, &cur.parts, a, &mut next, &mut self.memo) {
                let step = (ai, model.changes(a));
                self.send_successor(bus, i, step, next, cur);
            }
        }
    }

    /// The states generated, on every worker, when the reference stops at the states bound:
    /// every step of the parents numbered before `cut`, and the steps of `cut` up to action
    /// `cut_action` (the first new state beyond the bound). One more round.
    fn generated_at_cut(
        &mut self,
        worker: &mut Worker,
        bus: &mut Bus<M::Part>,
        d: usize,
        keep: usize,
        cut: u64,
        cut_action: u32,
    ) -> usize {
        if d == 0 {
            return keep + 1; // The initial states, up to the first beyond the bound.
        }
        let mine = self.generated_before
            + self
                .last_sent
                .iter()
                .filter(|&&(p, ai)| {
                    let n = u64::from(self.number[p as usize]);
                    n < cut || (n == cut && ai <= cut_action)
                })
                .count();
        bus.broadcast(Note::Count(mine as u64));
        bus.sync(worker);
        self.absorb(bus);
        std::mem::take(&mut self.counts).iter().sum::<u64>() as usize
    }

    fn bytes(&self) -> usize {
        self.ids.bytes()
            + self.index.capacity() * 5
            + self.parent.capacity() * 8
            + self.fresh.capacity() * 24
            + (self.number.capacity() + self.edge_start.capacity()) * 4
            + self.edges.capacity() * 8
            + self
                .tables
                .iter()
                .map(|t| t.hashes.capacity() * 8 + t.parts.capacity() * 4)
                .sum::<usize>()
    }

    /// The `eventually` properties whose condition `s` lacks.
    fn lacks(&self, s: &M::State) -> u64 {
        self.eventually
            .iter()
            .filter(|&&p| !(self.setup.props[p].condition)(self.setup.model, s))
            .fold(0u64, |m, &p| m | 1 << p)
    }

    /// This worker's share of the graph, for worker 0 (its parents and edges move into it).
    fn skeleton(&mut self) -> Skeleton {
        let graph = self.setup.graph;
        let mut avoids = std::mem::take(&mut self.avoids);
        if !self.eventually.is_empty() {
            // The states never expanded (beyond a bound) are rebuilt here; a state cut off by
            // a states bound lacks nothing.
            for i in 0..self.len() {
                if i as usize == avoids.len() {
                    let lacks = self.number[i as usize] != NO_PARENT;
                    avoids.push(if lacks { self.lacks(&self.state(i)) } else { 0 });
                } else if self.number[i as usize] == NO_PARENT {
                    avoids[i as usize] = 0;
                }
            }
        }
        let bytes = self.bytes() as u64;
        let (edge_start, edges) = if graph {
            (
                std::mem::take(&mut self.edge_start),
                std::mem::take(&mut self.edges),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Skeleton {
            worker: self.me as u32,
            number: self.number.clone(),
            parent: std::mem::take(&mut self.parent),
            edge_start,
            edges,
            unexpanded: std::mem::take(&mut self.unexpanded),
            avoids,
            bytes,
        }
    }
}

/// The explored graph in the reference's numbering, assembled by worker 0.
struct Graph {
    /// Per state: its parent's number (`NO_PARENT` for an initial state).
    parent: Vec<u32>,
    edge_start: Vec<u32>,
    edges: Vec<u32>,
    unexpanded: Vec<bool>,
    avoids: Vec<u64>,
    /// Per state: where it is stored.
    place: Vec<Gid>,
    bytes: usize,
}

impl Graph {
    fn assemble(mut parts: Vec<Skeleton>, n: usize, graph: bool) -> Graph {
        parts.sort_by_key(|s| s.worker);
        let number_of = |g: Gid, parts: &[Skeleton]| -> u32 {
            parts[worker_of(g)].number[local_of(g) as usize]
        };
        let mut place = vec![NO_GID; n];
        for s in &parts {
            for (l, &k) in s.number.iter().enumerate() {
                if k != NO_PARENT {
                    place[k as usize] = gid(s.worker as usize, l as u32);
                }
            }
        }
        let mut parent = vec![NO_PARENT; n];
        let mut unexpanded = vec![false; n];
        let mut avoids = vec![0u64; if graph { n } else { 0 }];
        for s in &parts {
            for (l, &k) in s.number.iter().enumerate() {
                if k == NO_PARENT {
                    continue;
                }
                let p = s.parent[l];
                parent[k as usize] = if p == NO_GID {
                    NO_PARENT
                } else {
                    number_of(p, &parts)
                };
                if graph && !s.avoids.is_empty() {
                    avoids[k as usize] = s.avoids[l];
                }
            }
            for &l in &s.unexpanded {
                let k = s.number[l as usize];
                if k != NO_PARENT {
                    unexpanded[k as usize] = true;
                }
            }
        }
        let mut edge_start = Vec::with_capacity(if graph { n + 1 } else { 0 });
        let mut edges = Vec::new();
        if graph {
            for &g in &place {
                edge_start.push(edges.len() as u32);
                let s = &parts[worker_of(g)];
                let l = local_of(g) as usize;
                if l + 1 < s.edge_start.len() {
                    let row = &s.edges[s.edge_start[l] as usize..s.edge_start[l + 1] as usize];
                    edges.extend(
                        row.iter()
                            .map(|&c| number_of(c, &parts))
                            .filter(|&c| c != NO_PARENT),
                    );
                }
            }
            edge_start.push(edges.len() as u32);
        }
        Graph {
            parent,
            edge_start,
            edges,
            unexpanded,
            avoids,
            place,
            bytes: parts.iter().map(|s| s.bytes as usize).sum(),
        }
    }

    fn chain(&self, mut k: u32) -> Vec<u32> {
        let mut chain = vec![k];
        while self.parent[k as usize] != NO_PARENT {
            k = self.parent[k as usize];
            chain.push(k);
        }
        chain.reverse();
        chain
    }
}

/// What one search left on worker 0.
struct Outcome<M: Footprints> {
    /// Per property: the chain of states (by number) of its discovery, or for an `eventually`
    /// property the decision.
    chains: Vec<Option<Result<Option<Vec<u32>>, ()>>>,
    /// The states of the chains.
    states: HashMap<u32, M::State>,
    unique: usize,
    generated: usize,
    depths: usize,
    bound: Option<Bound>,
    bytes: usize,
}

/// Runs one search on every worker: every worker returns the first discoveries (number,
/// place, depth, per property), and worker 0 its outcome too.
#[allow(clippy::type_complexity)]
fn search<M: Footprints>(
    worker: &mut Worker,
    setup: Setup<'_, M>,
    progress: Option<&Progress>,
) -> (Vec<Option<(u32, Gid, usize)>>, Option<Outcome<M>>)
where
    M::Part: timely::ExchangeData,
{
    let model = setup.model;
    let mut bus = Bus::new(worker);
    let mut local = Local::new(setup, worker.index(), worker.peers());
    local.run(worker, &mut bus, progress);
    // Worker 0 gathers the graph, decides, and asks for the states of the traces.
    bus.send(0, Note::Graph(Box::new(local.skeleton())));
    bus.sync(worker);
    let me = worker.index();
    let n = local.total;
    let mut outcome = None;
    let mut wanted: Vec<u32> = Vec::new();
    if me == 0 {
        let skeletons: Vec<Skeleton> = bus
            .take()
            .into_iter()
            .filter_map(|note| match note {
                Note::Graph(s) => Some(*s),
                _ => None,
            })
            .collect();
        let graph = Graph::assemble(skeletons, n, local.setup.graph);
        let props = &local.setup.props;
        let chains: Vec<Option<Result<Option<Vec<u32>>, ()>>> = (0..props.len())
            .map(|p| {
                if !local.setup.wanted[p] {
                    return None;
                }
                if props[p].expectation == Expectation::Eventually {
                    if !local.setup.graph {
                        return None;
                    }
                    let bit = 1u64 << p;
                    return Some(decide_eventually(
                        n,
                        |k| graph.parent[k as usize] == NO_PARENT,
                        |k| graph.avoids[k as usize] & bit != 0,
                        &graph.unexpanded,
                        |k, out| {
                            out.clear();
                            out.extend_from_slice(
                                &graph.edges[graph.edge_start[k as usize] as usize
                                    ..graph.edge_start[k as usize + 1] as usize],
                            )
                        },
                    ));
                }
                Some(Ok(local.first[p].map(|(k, _, _)| graph.chain(k))))
            })
            .collect();
        for c in chains.iter().flatten() {
            if let Ok(Some(chain)) = c {
                wanted.extend(chain);
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        let by_worker: Vec<(usize, u32)> = wanted
            .iter()
            .map(|&k| (worker_of(graph.place[k as usize]), k))
            .collect();
        for w in 0..worker.peers() {
            let mine: Vec<u32> = by_worker.iter().filter(|e| e.0 == w).map(|e| e.1).collect();
            bus.send(w, Note::Want(mine));
        }
        outcome = Some(Outcome {
            chains,
            states: HashMap::new(),
            unique: local.stored.unwrap_or(n),
            generated: local.generated_total,
            depths: local.depths,
            bound: local.bound,
            bytes: graph.bytes,
        });
    }
    bus.sync(worker);
    let asked: Vec<u32> = bus
        .take()
        .into_iter()
        .flat_map(|note| match note {
            Note::Want(v) => v,
            _ => Vec::new(),
        })
        .collect();
    if !asked.is_empty() {
        let asked: std::collections::HashSet<u32> = asked.into_iter().collect();
        let found: Vec<(u32, Vec<M::Part>)> = (0..local.len())
            .filter(|&i| asked.contains(&local.number[i as usize]))
            .map(|i| {
                (
                    local.number[i as usize],
                    local.parts(i).into_iter().cloned().collect(),
                )
            })
            .collect();
        bus.send(0, Note::States(found));
    }
    bus.sync(worker);
    if let Some(o) = outcome.as_mut() {
        for note in bus.take() {
            if let Note::States(v) = note {
                for (k, parts) in v {
                    let refs: Vec<&M::Part> = parts.iter().collect();
                    o.states.insert(k, model.join(&refs));
                }
            }
        }
    }
    bus.close(worker);
    (local.first, outcome)
}

impl<M: Footprints> Outcome<M> {
    /// The concrete run of chain `chain`.
    fn trace(&self, model: &M, chain: &[u32]) -> Option<Trace<M>> {
        let states: Option<Vec<M::State>> =
            chain.iter().map(|k| self.states.get(k).cloned()).collect();
        concrete_run(model, states?.into_iter())
    }
}

/// Explores `model` on every worker of the dataflow `worker` belongs to, as
/// [`engine::explore`](crate::engine::explore) does on one thread; worker 0 returns the result.
pub fn explore_on<M: Footprints>(
    worker: &mut Worker,
    model: &M,
    limits: Limits,
    reduction: Reduction,
    progress: Option<&Progress>,
) -> Option<Exploration<M>>
where
    M::Part: timely::ExchangeData,
{
    let start = Instant::now();
    let por = crate::engine::reduces(model, reduction, &limits);
    let props = model.properties();
    let n = props.len();
    let (first, main) = search(
        worker,
        Setup {
            model,
            props: model.properties(),
            limits,
            por,
            wanted: vec![true; n],
            stop_when_found: false,
            graph: true,
            reads: (0..n).map(|p| model.reads(p)).collect(),
        },
        progress,
    );
    // Under reduction, shortest traces come from an unreduced search to the deepest discovery,
    // as in the reference; the discoveries are known to every worker, so all take part.
    let depths: Vec<Option<usize>> = (0..n)
        .map(|p| {
            (por && props[p].expectation != Expectation::Eventually)
                .then_some(first[p])
                .flatten()
                .map(|(_, _, d)| d)
                .filter(|&d| d > 0)
        })
        .collect();
    let full = depths.iter().flatten().max().map(|&deepest| {
        search(
            worker,
            Setup {
                model,
                props: model.properties(),
                limits: Limits {
                    max_depth: Some(deepest),
                    ..limits
                },
                por: false,
                wanted: depths.iter().map(Option::is_some).collect(),
                stop_when_found: true,
                graph: false,
                reads: (0..n).map(|p| model.reads(p)).collect(),
            },
            None,
        )
    });
    let main = main?;
    let mut findings: Vec<Finding<M>> = Vec::with_capacity(n);
    for p in 0..n {
        findings.push(match &main.chains[p] {
            Some(Ok(Some(chain))) => Finding::Found(main.trace(model, chain)),
            Some(Ok(None)) | None => Finding::None,
            Some(Err(())) => Finding::Cycle,
        });
    }
    let mut trace_search_states = 0;
    let mut unconfirmed = vec![false; n];
    if let Some((_, Some(full))) = &full {
        trace_search_states = full.unique;
        for p in 0..n {
            if depths[p].is_none() {
                continue;
            }
            match &full.chains[p] {
                Some(Ok(Some(chain))) => findings[p] = Finding::Found(full.trace(model, chain)),
                _ => unconfirmed[p] = full.bound.is_some(),
            }
        }
    }
    Some(Exploration {
        findings,
        unique_states: main.unique,
        generated: main.generated,
        max_depth: main.depths.saturating_sub(1),
        bound: main.bound,
        seconds: start.elapsed().as_secs_f64(),
        reduction: if por { Reduction::Por } else { Reduction::None },
        store_bytes: main.bytes,
        trace_search_states,
        unconfirmed,
        store: None,
    })
}

/// One search to run: the model (built on the worker's own thread), its limits and reduction,
/// and a fingerprint of what it checks, equal on every process of a cluster only if they check
/// the same thing (the scenario's text and the options).
pub struct Job<M> {
    pub model: M,
    pub limits: Limits,
    pub reduction: Reduction,
    pub fingerprint: u64,
}

/// Whether every worker has the same fingerprint.
fn same_everywhere<P: timely::ExchangeData + Clone>(worker: &mut Worker, fingerprint: u64) -> bool {
    let mut bus: Bus<P> = Bus::new(worker);
    bus.broadcast(Note::Hello(fingerprint));
    bus.sync(worker);
    let agree = bus
        .take()
        .iter()
        .all(|n| matches!(n, Note::Hello(f) if *f == fingerprint));
    bus.close(worker);
    agree
}

/// Explores `count` models, one after another, each with every worker given: `make(k)` is
/// called on each worker's thread for the `k`-th. Returns, on the process that holds worker 0,
/// the explorations in order; on the other processes of a cluster, none.
pub fn explore_all<M, F>(
    workers: &Workers,
    count: usize,
    make: F,
    progress: Option<Arc<Progress>>,
) -> Result<Vec<Exploration<M>>, String>
where
    M: Footprints + 'static,
    M::Part: timely::ExchangeData,
    M::State: Send,
    M::Action: Send,
    F: Fn(usize) -> Job<M> + Send + Sync + 'static,
{
    let work = move |worker: &mut Worker| -> Result<Vec<Exploration<M>>, String> {
        let mut out = Vec::new();
        for k in 0..count {
            let job = make(k);
            if !same_everywhere::<M::Part>(worker, job.fingerprint) {
                return Err(format!(
                    "the processes of the cluster do not check the same scenarios with the same options (scenario {} of {count} differs)",
                    k + 1
                ));
            }
            let x = explore_on(
                worker,
                &job.model,
                job.limits,
                job.reduction,
                progress.as_deref(),
            );
            if let Some(p) = &progress {
                p.scenarios_done.fetch_add(1, Ordering::Relaxed);
            }
            out.extend(x);
        }
        Ok(out)
    };
    let guards = match workers {
        Workers::Threads(n) => timely::execute(
            timely::Config {
                communication: timely::CommunicationConfig::Process((*n).max(1)),
                worker: timely::WorkerConfig::default(),
            },
            work,
        )?,
        Workers::Cluster {
            threads,
            process,
            addresses,
        } => {
            let sockets = connect(*process, addresses, CONNECT_TIMEOUT)?;
            let hooks = Hooks::default();
            let threads = (*threads).max(1);
            let local = ProcessBuilder::new_typed_vector(threads, hooks.refill.clone(), None);
            let (builders, guard) =
                initialize_networking_from_sockets(local, sockets, *process, threads, hooks)
                    .map_err(|e| format!("cannot start the cluster's network: {e}"))?;
            timely::execute::execute_from(
                builders.into_iter().map(AllocatorBuilder::Tcp).collect(),
                Box::new(guard),
                timely::WorkerConfig::default(),
                work,
            )?
        }
    };
    let mut results = guards.join().into_iter();
    // Worker 0, the first worker of process 0, returns the explorations; the others none.
    let first = results
        .next()
        .ok_or_else(|| "no worker ran".to_string())?
        .map_err(|e| format!("a worker stopped: {e}"))??;
    for r in results {
        r.map_err(|e| format!("a worker stopped: {e}"))??;
    }
    Ok(first)
}

/// What a process of a cluster sends first on each connection: a magic number, its index and
/// the number of processes.
const MAGIC: u64 = u64::from_be_bytes(*b"imsg-mdl");

/// Connects process `me` to every other process at `addresses` (timely's layout: a socket per
/// other process, `None` at `me`): it connects to the processes before it and accepts those
/// after it, each identified by a short handshake, within `timeout`.
pub fn connect(
    me: usize,
    addresses: &[String],
    timeout: Duration,
) -> Result<Vec<Option<TcpStream>>, String> {
    let n = addresses.len();
    if me >= n {
        return Err(format!(
            "process {me} does not exist: the host file lists {n} process{}",
            if n == 1 { "" } else { "es" }
        ));
    }
    let listener = TcpListener::bind(&addresses[me])
        .map_err(|e| format!("process {me}: cannot listen at {}: {e}", addresses[me]))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("process {me}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let mut sockets: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
    for (j, address) in addresses.iter().enumerate().take(me) {
        let stream = loop {
            match TcpStream::connect(address) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!(
                        "process {me}: process {j} at {address} did not answer within {} s: {e}",
                        timeout.as_secs()
                    ))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let mut stream = stream;
        let hello = [MAGIC, me as u64, n as u64];
        let bytes: Vec<u8> = hello.iter().flat_map(|x| x.to_be_bytes()).collect();
        stream
            .set_nodelay(true)
            .and_then(|()| stream.write_all(&bytes))
            .map_err(|e| format!("process {me}: cannot greet process {j} at {address}: {e}"))?;
        sockets[j] = Some(stream);
    }
    let mut waiting = n - me - 1;
    while waiting > 0 {
        match listener.accept() {
            Ok((mut stream, peer)) => {
                let mut buf = [0u8; 24];
                let greeted = stream
                    .set_nonblocking(false)
                    .and_then(|()| stream.set_read_timeout(Some(Duration::from_secs(10))))
                    .and_then(|()| stream.read_exact(&mut buf));
                let word = |k: usize| {
                    u64::from_be_bytes(buf[8 * k..8 * k + 8].try_into().expect("8 bytes"))
                };
                if greeted.is_err() || word(0) != MAGIC {
                    continue; // Not a process of this cluster: ignore it.
                }
                let (j, size) = (word(1) as usize, word(2) as usize);
                if size != n || j <= me || j >= n || sockets[j].is_some() {
                    return Err(format!(
                        "process {me}: {peer} claims to be process {j} of {size}, but this cluster has {n} processes and expects processes {} to {} to connect here",
                        me + 1,
                        n - 1
                    ));
                }
                stream
                    .set_read_timeout(None)
                    .and_then(|()| stream.set_nodelay(true))
                    .map_err(|e| format!("process {me}: {e}"))?;
                sockets[j] = Some(stream);
                waiting -= 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    let missing: Vec<String> = (me + 1..n)
                        .filter(|&j| sockets[j].is_none())
                        .map(|j| format!("{j} ({})", addresses[j]))
                        .collect();
                    return Err(format!(
                        "process {me}: process{} {} did not connect within {} s",
                        if missing.len() == 1 { "" } else { "es" },
                        missing.join(", "),
                        timeout.as_secs()
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(format!("process {me}: accepting a connection: {e}")),
        }
    }
    Ok(sockets)
}
