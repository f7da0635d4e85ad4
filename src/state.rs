//! A state of the whole system and what can be read of it: each party's state, the messages
//! in flight, the workload still to come, the day, and the claims' history. This is what the
//! claims read; the model (`model.rs`) makes the steps between states.

use crate::knowledge::{Day, DeviceId};
use crate::protocol::wire::{Msg, Timer};
use crate::protocol::{
    actor_id, as_authority, as_carrier, as_device, as_directory, as_log, as_relay, role_of,
    AuthorityState, CarrierState, DeviceState, DirectoryState, LogState, Party, RelayState, Role,
};
use crate::scenario::Scenario;
use stateright::actor::{ActorModelAction, ActorModelState, Network};

/// A state of the whole system.
pub type State = ActorModelState<Party, History>;

/// What the claims' past-time operators (`once`, `historically`, `since`, and the pending
/// obligations of `leads-to`) remember of the run so far: a bit per operator and combination
/// of its free variables' values (`formula::Monitor`), written after every step from the new
/// state and the bits before it. Empty unless a claim of the scenario uses such an operator,
/// so the states of every other scenario are what they would be without it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct History(Vec<u64>);

impl History {
    pub(crate) fn with_bits(bits: usize) -> Self {
        History(vec![0; bits.div_ceil(64)])
    }
    pub fn get(&self, bit: usize) -> bool {
        self.0[bit / 64] & (1 << (bit % 64)) != 0
    }
    pub fn set(&mut self, bit: usize, value: bool) {
        if value {
            self.0[bit / 64] |= 1 << (bit % 64);
        } else {
            self.0[bit / 64] &= !(1 << (bit % 64));
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One step of the system.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// A step of one actor: a delivery, a dropped message or a timer.
    Actor(ActorModelAction<Msg, Timer, ()>),
    /// The clock moves to the next day.
    Tick,
}

/// The day of the scenario's clock in this state.
pub fn today(state: &State) -> Day {
    log(state).day
}

/// What a claim reads besides a state: the scenario it belongs to, and whether a run has
/// ended in a state (no step is enabled), which only the model that makes the steps knows.
pub trait Run {
    fn scenario(&self) -> &Scenario;
    fn ended(&self, state: &State) -> bool;
}

pub(crate) fn actor_index(role: Role) -> usize {
    usize::from(actor_id(role))
}

/// The directory's state.
pub fn directory(s: &State) -> &DirectoryState {
    as_directory(&s.actor_states[actor_index(Role::Directory)])
}
/// The lookup log's state.
pub fn log(s: &State) -> &LogState {
    as_log(&s.actor_states[actor_index(Role::LookupLog)])
}
/// Whether the lookup log is down (crashed and not yet restarted).
pub fn log_down(s: &State) -> bool {
    s.crashed[actor_index(Role::LookupLog)]
}
/// The relay's state.
pub fn relay(s: &State) -> &RelayState {
    as_relay(&s.actor_states[actor_index(Role::Relay)])
}
/// The carrier's state.
pub fn carrier(s: &State) -> &CarrierState {
    as_carrier(&s.actor_states[actor_index(Role::Carrier)])
}
/// The authority's state.
pub fn authority(s: &State) -> &AuthorityState {
    as_authority(&s.actor_states[actor_index(Role::Authority)])
}
/// Every device's state, with its id.
pub fn devices(s: &State) -> impl Iterator<Item = (DeviceId, &DeviceState)> {
    s.actor_states[crate::protocol::SERVERS..]
        .iter()
        .enumerate()
        .map(|(i, st)| (DeviceId(i as u8), as_device(st)))
}

/// One device's state.
pub fn device(s: &State, d: DeviceId) -> &DeviceState {
    as_device(&s.actor_states[actor_index(Role::Device(d))])
}

/// Every message in flight, whatever the network's order.
pub fn in_flight(s: &State) -> impl Iterator<Item = &Msg> + '_ {
    in_flight_envelopes(s).map(|(_, _, m)| m)
}

/// Every message in flight with its sender and recipient.
pub fn in_flight_envelopes(s: &State) -> Box<dyn Iterator<Item = (Role, Role, &Msg)> + '_> {
    match &s.network {
        Network::Ordered(channels) => {
            Box::new(channels.iter().flat_map(|((src, dst), q)| {
                q.iter().map(move |m| (role_of(*src), role_of(*dst), m))
            }))
        }
        Network::UnorderedNonDuplicating(msgs) => Box::new(
            msgs.keys()
                .map(|e| (role_of(e.src), role_of(e.dst), &e.msg)),
        ),
        Network::UnorderedDuplicating(msgs, _) => Box::new(
            msgs.iter()
                .map(|e| (role_of(e.src), role_of(e.dst), &e.msg)),
        ),
    }
}

/// The workload actions of a device that have not fired yet.
pub fn pending_actions(s: &State, d: DeviceId) -> impl Iterator<Item = u8> + '_ {
    s.timers_set
        .get(usize::from(actor_id(Role::Device(d))))
        .into_iter()
        .flat_map(|t| t.iter())
        .filter_map(|t| match t {
            Timer::UserAction(n) => Some(*n),
            _ => None,
        })
}
