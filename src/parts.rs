//! How a state of the protocol is stored: cut into parts (one per actor, the messages in
//! flight, the rest), put back together, and the successor of a stored state built from its
//! parts, so that a step copies only what it changes.
//!
//! The messages in flight are a [`Flight`]: a sorted vector of shared, reference-counted
//! messages, each hashed once when sent. A successor keeps its parent's messages (the
//! references, not copies), drops the one a delivery consumes and adds the ones the step
//! sends; every actor part the step does not touch keeps its parent's id in the store, and the
//! rest (timers, crash flags, the log's storage) is copied only by a step that changes it.
//! [`successor`] does this for deliveries, timers and drops under the conditions of
//! [`ProtocolModel::builds_from_parts`]; every other step takes the whole-state path
//! (`ProtocolModel::next_state`, then [`split`]), and the tests check on every edge of every
//! full graph that both give the same parts.

use crate::engine::hash_of;
use crate::model::ProtocolModel;
use crate::protocol::wire::{Msg, Timer};
use crate::protocol::{LogStorage, PartyState};
use crate::scenario::Order;
use crate::state::{History, State, Step};
use hashbrown::HashTable;
use stateright::actor::{
    is_no_op_with_timer, Actor, ActorModelAction, Command, Envelope, Id, Network, Out,
    RandomChoices, Timers,
};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

/// One part of a stored state: an actor's local state, the messages in flight, or the rest
/// (timers, crash flags, the log's stable storage, the claims' history).
#[derive(Clone, Debug)]
pub enum Part {
    Actor(Arc<PartyState>),
    Flight(Flight),
    Rest(Arc<Rest>),
}

/// The parts of a state that change only with timers and crashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rest {
    timers_set: Vec<Timers<Timer>>,
    random_choices: Vec<RandomChoices<()>>,
    crashed: Vec<bool>,
    storages: Vec<Option<LogStorage>>,
    /// The claims' history (`state::History`; empty unless a claim keeps one).
    history: History,
}

impl Hash for Rest {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // stateright's set hash omits the set's length; write it, so that states differing
        // only in which actor holds a timer do not collide systematically.
        for t in &self.timers_set {
            let mut items: Vec<u64> = t.iter().map(hash_of).collect();
            items.sort_unstable();
            items.len().hash(h);
            items.hash(h);
        }
        self.crashed.hash(h);
        self.storages.hash(h);
        self.history.hash(h);
    }
}

/// A message in flight, shared by every stored state that holds it (and interned: see
/// [`SENT`]), with its hash (FxHash of the envelope, the same in every process) computed once.
#[derive(Debug)]
pub struct Sent {
    hash: u64,
    env: Envelope<Msg>,
}

/// Every message put in flight since the last [`clear_sent`], by hash: one table for the
/// process, so that equal messages are one allocation, shared by every worker of a search, and
/// compare by pointer. Equality still falls back to the contents ([`Sent::same`]), so it is
/// exact whatever the table holds.
static SENT: LazyLock<Mutex<HashTable<Arc<Sent>>>> = LazyLock::new(Default::default);

/// Forgets the messages of earlier searches (a search calls it when it starts, so that a
/// process that checks many scenarios does not keep every earlier scenario's messages alive;
/// messages still in use stay valid, only no longer shared with new equal ones).
pub fn clear_sent() {
    SENT.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

impl Sent {
    /// The shared copy of a message: an equal one put in flight earlier, or a new one.
    fn new(env: Envelope<Msg>) -> Arc<Sent> {
        let hash = hash_of(&env);
        // A poisoned table only means another thread panicked while holding it; it is valid.
        let mut table = SENT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = table.find(hash, |s| s.env == env) {
            return Arc::clone(found);
        }
        let sent = Arc::new(Sent { hash, env });
        table.insert_unique(hash, Arc::clone(&sent), |s| s.hash);
        sent
    }

    /// Whether two messages are the same: the same allocation, or equal hashes and contents.
    fn same(a: &Arc<Sent>, b: &Arc<Sent>) -> bool {
        Arc::ptr_eq(a, b) || (a.hash == b.hash && a.env == b.env)
    }

    /// The order of an unordered network's messages: by hash, then (on the rare equal hash)
    /// by content, so equal multisets are equal vectors.
    fn cmp_unordered(a: &Sent, b: &Sent) -> Ordering {
        a.hash.cmp(&b.hash).then_with(|| a.env.cmp(&b.env))
    }

    fn is(&self, src: Id, dst: Id, msg: &Msg) -> bool {
        self.env.src == src && self.env.dst == dst && self.env.msg == *msg
    }
}

/// The messages in flight, as stored. Each copy of a message is one entry, in an order that
/// depends only on the contents: on an unordered network by [`Sent::cmp_unordered`] (copies
/// adjacent); on an ordered one by channel (sender, recipient) and within a channel in the
/// order sent, as stateright's FIFO channels deliver them; on a duplicating one as unordered
/// without copies, with the last message delivered beside (stateright keeps it in the state).
///
/// The messages are one shared allocation, held in the part itself (not behind a pointer of
/// its own): a step that changes them makes a new one ([`Pending`]).
#[derive(Clone, Debug)]
pub struct Flight {
    order: Order,
    msgs: Arc<[Arc<Sent>]>,
    last: Option<Arc<Sent>>,
}

/// The messages in flight of a successor being built, as a vector.
struct Pending {
    order: Order,
    msgs: Vec<Arc<Sent>>,
}

impl PartialEq for Flight {
    fn eq(&self, other: &Self) -> bool {
        self.order == other.order
            && (Arc::ptr_eq(&self.msgs, &other.msgs)
                || self.msgs.len() == other.msgs.len()
                    && self
                        .msgs
                        .iter()
                        .zip(other.msgs.iter())
                        .all(|(a, b)| Sent::same(a, b)))
            && match (&self.last, &other.last) {
                (None, None) => true,
                (Some(a), Some(b)) => Sent::same(a, b),
                _ => false,
            }
    }
}

impl Eq for Flight {}

impl Hash for Flight {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.msgs.len().hash(h);
        for m in self.msgs.iter() {
            m.hash.hash(h);
        }
        self.last.as_ref().map(|m| m.hash).hash(h);
    }
}

impl Flight {
    /// stateright's network as stored.
    fn of(network: Network<Msg>) -> Flight {
        let (order, mut msgs, last) = match network {
            Network::Ordered(flows) => {
                // A BTreeMap: channels come in (sender, recipient) order.
                let msgs = flows
                    .into_iter()
                    .flat_map(|((src, dst), q)| {
                        q.into_iter()
                            .map(move |msg| Sent::new(Envelope { src, dst, msg }))
                    })
                    .collect();
                (Order::Ordered, msgs, None)
            }
            Network::UnorderedNonDuplicating(multiset) => {
                let mut msgs = Vec::new();
                for (env, &n) in multiset.iter() {
                    let sent = Sent::new(env.clone());
                    msgs.extend(std::iter::repeat_n(sent, n));
                }
                (Order::Unordered, msgs, None)
            }
            Network::UnorderedDuplicating(set, last) => (
                Order::Duplicating,
                set.iter().map(|e| Sent::new(e.clone())).collect(),
                last.map(Sent::new),
            ),
        };
        if order != Order::Ordered {
            msgs.sort_by(|a, b| Sent::cmp_unordered(a, b));
        }
        Flight {
            order,
            msgs: msgs.into(),
            last,
        }
    }

    /// stateright's network with these messages.
    fn network(&self) -> Network<Msg> {
        let envs = self.msgs.iter().map(|m| m.env.clone());
        match self.order {
            Order::Ordered => Network::new_ordered(envs),
            Order::Unordered => {
                // stateright's own map (its hasher, whose seeds the state's hash depends on),
                // sized at once; copies are adjacent, so each message is inserted once.
                let mut network = Network::new_unordered_nonduplicating([]);
                if let Network::UnorderedNonDuplicating(map) = &mut network {
                    map.reserve(self.msgs.len());
                    for run in self.msgs.chunk_by(Sent::same) {
                        map.insert(run[0].env.clone(), run.len());
                    }
                }
                network
            }
            Order::Duplicating => Network::new_unordered_duplicating_with_last_msg(
                envs,
                self.last.as_ref().map(|m| m.env.clone()),
            ),
        }
    }

    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }
}

impl Pending {
    /// The successor's messages: `pending`, copied from its parent's `flight` if not yet.
    fn get<'a>(pending: &'a mut Option<Pending>, flight: &Flight) -> &'a mut Pending {
        pending.get_or_insert_with(|| Pending {
            order: flight.order,
            msgs: flight.msgs.to_vec(),
        })
    }

    /// Takes one copy of a message out (the first of its channel equal to it, on an ordered
    /// network, as stateright does); false if there is none.
    fn take(&mut self, src: Id, dst: Id, msg: &Msg) -> bool {
        match self.msgs.iter().position(|m| m.is(src, dst, msg)) {
            Some(i) => {
                self.msgs.remove(i);
                true
            }
            None => false,
        }
    }

    /// Puts a message sent in (at the end of its channel, on an ordered network).
    fn put(&mut self, sent: Arc<Sent>) {
        let at = match self.order {
            Order::Ordered => {
                let key = (sent.env.src, sent.env.dst);
                self.msgs.partition_point(|m| (m.env.src, m.env.dst) <= key)
            }
            Order::Unordered => self
                .msgs
                .partition_point(|m| Sent::cmp_unordered(m, &sent) != Ordering::Greater),
            Order::Duplicating => {
                unreachable!("a duplicating network's successors are built whole")
            }
        };
        self.msgs.insert(at, sent);
    }
}

impl PartialEq for Part {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Part::Actor(a), Part::Actor(b)) => Arc::ptr_eq(a, b) || a == b,
            (Part::Flight(a), Part::Flight(b)) => a == b,
            (Part::Rest(a), Part::Rest(b)) => Arc::ptr_eq(a, b) || a == b,
            _ => false,
        }
    }
}

impl Eq for Part {}

impl Hash for Part {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            Part::Actor(a) => a.hash(h),
            Part::Flight(n) => n.hash(h),
            Part::Rest(r) => r.hash(h),
        }
    }
}

/// A state cut into parts: the actors', then the messages in flight, then the rest.
pub fn split(s: State, parts: &mut Vec<Part>) {
    parts.extend(s.actor_states.into_iter().map(Part::Actor));
    parts.push(Part::Flight(Flight::of(s.network)));
    parts.push(Part::Rest(Arc::new(Rest {
        timers_set: s.timers_set,
        random_choices: s.random_choices,
        crashed: s.crashed,
        storages: s.actor_storages,
        history: s.history,
    })));
}

/// The state of `parts` (as [`split`] cut it).
pub fn join(parts: &[&Part]) -> State {
    let n = parts.len() - 2;
    let actor_states = parts[..n]
        .iter()
        .map(|p| match p {
            Part::Actor(a) => Arc::clone(a),
            _ => unreachable!("actor parts come first"),
        })
        .collect();
    let (Part::Flight(flight), Part::Rest(rest)) = (parts[n], parts[n + 1]) else {
        unreachable!("the messages in flight and the rest come last");
    };
    State {
        actor_states,
        network: flight.network(),
        timers_set: rest.timers_set.clone(),
        random_choices: rest.random_choices.clone(),
        crashed: rest.crashed.clone(),
        history: rest.history.clone(),
        actor_storages: rest.storages.clone(),
    }
}

/// Turns `state`, the join of `old`, into the join of `new`: only the parts that differ are
/// copied in. The messages in flight, when they differ, are built anew as [`join`] builds them
/// (not changed message by message): the order of a state's actions is the order in which
/// stateright's map holds its messages, which depends on how the map was filled, and it must
/// depend on the state alone (traces and the reduction's choices follow it).
pub fn rejoin(state: &mut State, old: &[&Part], new: &[&Part]) {
    let n = new.len() - 2;
    for (i, (a, b)) in old[..n].iter().zip(&new[..n]).enumerate() {
        if !unchanged(a, b) {
            state.actor_states[i] = Arc::clone(actor(b));
        }
    }
    let (Part::Flight(before), Part::Flight(after)) = (old[n], new[n]) else {
        unreachable!("the messages in flight come after the actors");
    };
    if before != after {
        state.network = after.network();
    }
    let (Part::Rest(before), Part::Rest(after)) = (old[n + 1], new[n + 1]) else {
        unreachable!("the rest comes last");
    };
    if !Arc::ptr_eq(before, after) {
        if before.timers_set != after.timers_set {
            state.timers_set.clone_from(&after.timers_set);
        }
        if before.random_choices != after.random_choices {
            state.random_choices.clone_from(&after.random_choices);
        }
        if before.crashed != after.crashed {
            state.crashed.clone_from(&after.crashed);
        }
        if before.storages != after.storages {
            state.actor_storages.clone_from(&after.storages);
        }
        if before.history != after.history {
            state.history.clone_from(&after.history);
        }
    }
}

/// Whether `child` is its parent's part `parent` unchanged.
pub fn unchanged(parent: &Part, child: &Part) -> bool {
    match (parent, child) {
        // A step replaces the state of the actor it changes, and shares the others.
        (Part::Actor(a), Part::Actor(b)) => Arc::ptr_eq(a, b),
        (a, b) => a == b,
    }
}

/// An actor's step as a search has taken it before: the handler's result for one stored state
/// of one actor and one input. The same step recurs in every global state that differs from
/// it only in the other actors (the interleavings), so [`successor`] looks it up before running
/// the handler. A search keeps one memo (`Footprints::Memo`) and gives it to every successor
/// it builds.
pub struct Memo {
    table: HashTable<Entry>,
    limit: usize,
    /// The hash of the step the successor being built looked up and the address of its new
    /// state, if it has one (see [`Memo::settle`]).
    last: Option<(u64, usize)>,
}

impl Default for Memo {
    fn default() -> Self {
        Memo::bounded(MEMO_ENTRIES)
    }
}

/// A memo holds at most this many steps; past it, it starts anew (its entries are a cache: a
/// step looked up after that runs the handler again and gives the same result).
pub const MEMO_ENTRIES: usize = 1 << 18;

struct Entry {
    hash: u64,
    index: usize,
    /// The actor's state the step is taken from. The entry holds it, so that while the entry
    /// lives no other state can take its address, and the address identifies the state.
    actor: Arc<PartyState>,
    input: Input,
    /// `None`: the step does nothing (a timer whose handler changes nothing).
    effect: Option<Effect>,
}

/// A message delivered (the shared copy in flight, held so that its address stays its own),
/// or a timer.
enum Input {
    Msg(Arc<Sent>),
    Timer(Timer),
}

/// What an actor's step does: its new state (`None`: the one it had) and what it outputs, in
/// order, each message sent already shared ([`Sent`]).
struct Effect {
    state: Option<Arc<PartyState>>,
    commands: Box<[Output]>,
}

enum Output {
    Send(Arc<Sent>),
    Other(Box<Command<Msg, Timer, (), LogStorage>>),
}

/// The memo's hash of a step: the actor, its state's address and the input (a message's
/// address).
fn step_hash(index: usize, actor: &Arc<PartyState>, input: InputRef) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    index.hash(&mut h);
    (Arc::as_ptr(actor) as usize).hash(&mut h);
    match input {
        InputRef::Msg(sent) => (0u8, Arc::as_ptr(sent) as usize).hash(&mut h),
        InputRef::Timer(t) => (1u8, t).hash(&mut h),
    }
    h.finish()
}

#[derive(Clone, Copy)]
enum InputRef<'a> {
    Msg(&'a Arc<Sent>),
    Timer(&'a Timer),
}

impl InputRef<'_> {
    fn is(self, input: &Input) -> bool {
        match (self, input) {
            (InputRef::Msg(a), Input::Msg(b)) => Arc::ptr_eq(a, b),
            (InputRef::Timer(t), Input::Timer(u)) => t == u,
            _ => false,
        }
    }

    fn owned(self) -> Input {
        match self {
            InputRef::Msg(sent) => Input::Msg(Arc::clone(sent)),
            InputRef::Timer(t) => Input::Timer(*t),
        }
    }
}

impl Memo {
    /// A memo that holds at most `limit` steps (at least one).
    pub fn bounded(limit: usize) -> Memo {
        Memo {
            table: HashTable::new(),
            limit: limit.max(1),
            last: None,
        }
    }

    /// The number of steps held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The step of actor `index` in state `actor` on `input`: from the memo, or by running
    /// the actor's handler (and then kept).
    fn step(
        &mut self,
        model: &ProtocolModel,
        index: usize,
        actor: &Arc<PartyState>,
        input: InputRef,
    ) -> Option<&Effect> {
        let hash = step_hash(index, actor, input);
        let found =
            |e: &Entry| e.index == index && Arc::ptr_eq(&e.actor, actor) && input.is(&e.input);
        if self.table.find(hash, found).is_none() {
            if self.table.len() >= self.limit {
                self.table.clear();
            }
            let effect = run_handler(model, index, actor, input);
            self.table.insert_unique(
                hash,
                Entry {
                    hash,
                    index,
                    actor: Arc::clone(actor),
                    input: input.owned(),
                    effect,
                },
                |e| e.hash,
            );
        }
        let effect = self.table.find(hash, found).and_then(|e| e.effect.as_ref());
        self.last = effect
            .and_then(|e| e.state.as_ref())
            .map(|s| (hash, Arc::as_ptr(s) as usize));
        effect
    }

    /// Tells the memo that the actor's state the last step built was stored already, as
    /// `stored` (equal to it): the step keeps the stored one, so that the memo holds no second
    /// copy of a stored state.
    pub fn settle(&mut self, slot: usize, stored: &Part) {
        let (Some((hash, built)), Part::Actor(stored)) = (self.last.take(), stored) else {
            return;
        };
        let built_state = |e: &Entry| {
            e.index == slot
                && (e.effect.as_ref().and_then(|f| f.state.as_ref()))
                    .is_some_and(|s| Arc::as_ptr(s) as usize == built)
        };
        let found = self.table.find_mut(hash, built_state);
        if let Some(state) = found.and_then(|e| e.effect.as_mut()?.state.as_mut()) {
            debug_assert!(**state == **stored, "a state is settled to an equal one");
            *state = Arc::clone(stored);
        }
    }
}

/// Runs actor `index`'s handler on `input` in state `actor`.
fn run_handler(
    model: &ProtocolModel,
    index: usize,
    actor: &Arc<PartyState>,
    input: InputRef,
) -> Option<Effect> {
    let id = Id::from(index);
    let mut state = Cow::Borrowed(&**actor);
    let mut out = Out::new();
    match input {
        InputRef::Msg(sent) => {
            let (src, msg) = (sent.env.src, sent.env.msg.clone());
            model
                .party(index)
                .on_msg(id, &mut state, src, msg, &mut out)
        }
        InputRef::Timer(timer) => {
            model
                .party(index)
                .on_timeout(id, &mut state, timer, &mut out);
            if is_no_op_with_timer(&state, &out, timer) {
                return None;
            }
        }
    }
    let state = match state {
        Cow::Owned(s) => Some(Arc::new(s)),
        Cow::Borrowed(_) => None,
    };
    let commands = out
        .into_iter()
        .map(|c| match c {
            Command::Send(dst, msg) => Output::Send(Sent::new(Envelope { src: id, dst, msg })),
            c => Output::Other(Box::new(c)),
        })
        .collect();
    Some(Effect { state, commands })
}

/// The successor of the state stored as `parts` by `step`, built from the parts: `next[slot]`
/// is the new part, or `None` where the step leaves the parent's. `None` when the step is not
/// one this builds (the caller takes the whole-state path); `Some(false)` when it leads
/// nowhere. The same successor as `ProtocolModel::next_state` (stateright's `ActorModel`, with
/// the model's consumption of a delivery that changes nothing on an unordered network). The
/// actor's handler runs only for a step that is not in `memo` yet.
pub fn successor(
    model: &ProtocolModel,
    parts: &[Part],
    step: &Step,
    next: &mut Vec<Option<Part>>,
    memo: &mut Memo,
) -> Option<bool> {
    memo.last = None;
    if !model.builds_from_parts() {
        return None;
    }
    let n = parts.len() - 2;
    let (Part::Flight(flight), Part::Rest(rest)) = (&parts[n], &parts[n + 1]) else {
        unreachable!("the messages in flight and the rest come last");
    };
    if flight.order == Order::Duplicating {
        return None;
    }
    let Step::Actor(action) = step else {
        return None;
    };
    next.clear();
    next.resize(parts.len(), None);
    // The messages in flight, copied out only once the step changes them.
    let mut pending: Option<Pending> = None;
    let mut rest = Cow::Borrowed(&**rest);
    let (index, effect) = match action {
        ActorModelAction::Deliver { src, dst, msg } => {
            let index = usize::from(*dst);
            if index >= n || rest.crashed[index] {
                return Some(false);
            }
            // A delivery that changes nothing consumes its message all the same (stateright
            // on an ordered network, the model on an unordered one): the first copy in flight
            // (on an ordered network, the first of its channel equal to it, as stateright).
            let Some(at) = flight.msgs.iter().position(|m| m.is(*src, *dst, msg)) else {
                return Some(false);
            };
            let effect = memo
                .step(
                    model,
                    index,
                    actor(&parts[index]),
                    InputRef::Msg(&flight.msgs[at]),
                )
                .expect("a delivery always takes effect");
            Pending::get(&mut pending, flight).msgs.remove(at);
            (index, Some(effect))
        }
        ActorModelAction::Timeout(id, timer) => {
            let index = usize::from(*id);
            let Some(effect) =
                memo.step(model, index, actor(&parts[index]), InputRef::Timer(timer))
            else {
                return Some(false);
            };
            rest.to_mut().timers_set[index].cancel(timer);
            (index, Some(effect))
        }
        ActorModelAction::Drop(env) => {
            if !Pending::get(&mut pending, flight).take(env.src, env.dst, &env.msg) {
                return Some(false);
            }
            (usize::from(env.dst), None)
        }
        _ => return None,
    };
    for c in effect.iter().flat_map(|e| e.commands.iter()) {
        let c = match c {
            Output::Send(sent) => {
                Pending::get(&mut pending, flight).put(Arc::clone(sent));
                continue;
            }
            Output::Other(c) => &**c,
        };
        match c {
            Command::SetTimer(timer, _) => {
                let r = rest.to_mut();
                if r.timers_set.len() <= index {
                    r.timers_set.resize_with(index + 1, Timers::new);
                }
                r.timers_set[index].set(*timer);
            }
            Command::CancelTimer(timer) => {
                rest.to_mut().timers_set[index].cancel(timer);
            }
            Command::ChooseRandom(key, random) => {
                let r = rest.to_mut();
                if random.is_empty() {
                    r.random_choices[index].remove(key);
                } else {
                    r.random_choices[index].insert(key.clone(), random.clone())
                }
            }
            Command::Save(storage) => {
                let r = rest.to_mut();
                if r.storages.len() <= index {
                    r.storages.resize_with(index + 1, Default::default);
                }
                r.storages[index] = Some(storage.clone());
            }
            Command::Send(..) => unreachable!("sends are shared when kept"),
        }
    }
    if let Some(s) = effect.and_then(|e| e.state.as_ref()) {
        next[index] = Some(Part::Actor(Arc::clone(s)));
    }
    if let Some(p) = pending {
        next[n] = Some(Part::Flight(Flight {
            order: p.order,
            msgs: p.msgs.into(),
            last: None,
        }));
    }
    if let Cow::Owned(r) = rest {
        next[n + 1] = Some(Part::Rest(Arc::new(r)));
    }
    Some(true)
}

fn actor(part: &Part) -> &Arc<PartyState> {
    match part {
        Part::Actor(a) => a,
        _ => unreachable!("actor parts come first"),
    }
}

/// A part as it crosses a process boundary in a distributed search (stateright's network and
/// timer sets are serialisable but not deserialisable, so they travel as plain lists and are
/// rebuilt with stateright's own constructors).
#[derive(serde::Serialize, serde::Deserialize)]
enum WirePart {
    Actor(PartyState),
    Ordered(Vec<((Id, Id), Vec<Msg>)>),
    Unordered(Vec<(Id, Id, Msg, usize)>),
    Duplicating(Vec<(Id, Id, Msg)>, Option<(Id, Id, Msg)>),
    Rest {
        timers: Vec<Vec<Timer>>,
        random: Vec<Vec<(String, usize)>>,
        crashed: Vec<bool>,
        storages: Vec<Option<LogStorage>>,
        history: History,
    },
}

fn envelope(src: Id, dst: Id, msg: Msg) -> Envelope<Msg> {
    Envelope { src, dst, msg }
}

fn triple(m: &Sent) -> (Id, Id, Msg) {
    (m.env.src, m.env.dst, m.env.msg.clone())
}

impl serde::Serialize for Part {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let wire = match self {
            Part::Actor(a) => WirePart::Actor((**a).clone()),
            Part::Flight(f) => match f.order {
                Order::Ordered => {
                    let mut flows: Vec<((Id, Id), Vec<Msg>)> = Vec::new();
                    for m in f.msgs.iter() {
                        let key = (m.env.src, m.env.dst);
                        match flows.last_mut() {
                            Some((k, q)) if *k == key => q.push(m.env.msg.clone()),
                            _ => flows.push((key, vec![m.env.msg.clone()])),
                        }
                    }
                    WirePart::Ordered(flows)
                }
                Order::Unordered => {
                    let mut items: Vec<(Id, Id, Msg, usize)> = Vec::new();
                    let mut prev: Option<&Arc<Sent>> = None;
                    for m in f.msgs.iter() {
                        match (prev, items.last_mut()) {
                            (Some(p), Some(item)) if Sent::same(p, m) => item.3 += 1,
                            _ => {
                                let (src, dst, msg) = triple(m);
                                items.push((src, dst, msg, 1));
                            }
                        }
                        prev = Some(m);
                    }
                    WirePart::Unordered(items)
                }
                Order::Duplicating => WirePart::Duplicating(
                    f.msgs.iter().map(|m| triple(m)).collect(),
                    f.last.as_deref().map(triple),
                ),
            },
            Part::Rest(r) => WirePart::Rest {
                timers: r
                    .timers_set
                    .iter()
                    .map(|t| t.iter().cloned().collect())
                    .collect(),
                random: r
                    .random_choices
                    .iter()
                    .map(|c| c.map.iter().map(|(k, v)| (k.clone(), v.len())).collect())
                    .collect(),
                crashed: r.crashed.clone(),
                storages: r.storages.clone(),
                history: r.history.clone(),
            },
        };
        wire.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Part {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let network = |n| Part::Flight(Flight::of(n));
        Ok(match WirePart::deserialize(d)? {
            WirePart::Actor(a) => Part::Actor(Arc::new(a)),
            WirePart::Ordered(flows) => network(Network::new_ordered(flows.into_iter().flat_map(
                |((src, dst), q)| q.into_iter().map(move |msg| envelope(src, dst, msg)),
            ))),
            WirePart::Unordered(items) => network(Network::new_unordered_nonduplicating(
                items
                    .into_iter()
                    .flat_map(|(src, dst, msg, n)| std::iter::repeat_n(envelope(src, dst, msg), n)),
            )),
            WirePart::Duplicating(items, last) => {
                network(Network::new_unordered_duplicating_with_last_msg(
                    items
                        .into_iter()
                        .map(|(src, dst, msg)| envelope(src, dst, msg)),
                    last.map(|(src, dst, msg)| envelope(src, dst, msg)),
                ))
            }
            WirePart::Rest {
                timers,
                random,
                crashed,
                storages,
                history,
            } => Part::Rest(Arc::new(Rest {
                timers_set: timers
                    .into_iter()
                    .map(|ts| {
                        let mut set = Timers::new();
                        for t in ts {
                            set.set(t);
                        }
                        set
                    })
                    .collect(),
                random_choices: random
                    .into_iter()
                    .map(|cs| {
                        let mut c = RandomChoices::default();
                        for (k, n) in cs {
                            c.insert(k, vec![(); n]);
                        }
                        c
                    })
                    .collect(),
                crashed,
                storages,
                history,
            })),
        })
    }
}
