//! Scenario -> stateright model.
//!
//! The parties run as a stateright `ActorModel` (network semantics, timers,
//! lossy delivery come from there). [`ProtocolModel`] wraps it to add what an
//! actor cannot express: the scenario's clock. A tick is a model step that
//! advances the day at the directory and the log at once (the log purges
//! what has aged out); it is enabled only while no message is in flight,
//! since a day is long next to a network delay. User actions and court
//! orders tied to a day are enabled only on that day. After every step the claims' past-time
//! operators write their values into the state's history (`formula/eval.rs`).
//!
//! The model imports neither the claims' catalogue nor the reports: `properties.rs` makes it a
//! stateright `Model`, with the claims as its properties.

use crate::formula::tree::Formula;
use crate::knowledge::Day;
use crate::protocol::wire::{Msg, Timer};
use crate::protocol::{actor_id, as_directory, role_of, Party, PartyState, Role};
use crate::scenario::{Order, Scenario, Threat};
use crate::state::{actor_index, directory, log, History, Run, State, Step};
use crate::symmetry::Symmetry;
use stateright::actor::{ActorModel, ActorModelAction, Envelope, Id, LossyNetwork, Network};
use stateright::Model as _;
use std::sync::Arc;

/// The model of one scenario.
pub struct ProtocolModel {
    pub scenario: Arc<Scenario>,
    actors: ActorModel<Party, (), History>,
    symmetry: Symmetry,
    /// Whether a claim keeps history (`History`).
    history: bool,
}

impl ProtocolModel {
    pub fn new(scenario: Scenario) -> Self {
        let scenario = Arc::new(scenario);
        let mut roles = vec![
            Role::Directory,
            Role::LookupLog,
            Role::Relay,
            Role::Carrier,
            Role::Authority,
        ];
        roles.extend(
            (0..scenario.devices.len()).map(|d| Role::Device(crate::knowledge::DeviceId(d as u8))),
        );
        let network = match scenario.order {
            Order::Ordered => Network::new_ordered([]),
            Order::Unordered => Network::new_unordered_nonduplicating([]),
            Order::Duplicating => Network::new_unordered_duplicating([]),
        };
        let bits: usize = scenario
            .claims
            .iter()
            .filter_map(|c| c.formula())
            .map(Formula::history_bits)
            .sum();
        let actors = ActorModel::new((), History::with_bits(bits))
            .actors(roles.into_iter().map(|role| Party {
                role,
                scenario: Arc::clone(&scenario),
            }))
            .init_network(network)
            .lossy_network(if scenario.lossy {
                LossyNetwork::Yes
            } else {
                LossyNetwork::No
            })
            .max_crashes(usize::from(scenario.threat == Threat::LogCrash));
        let symmetry = Symmetry::of(&scenario);
        ProtocolModel {
            scenario,
            actors,
            symmetry,
            history: bits > 0,
        }
    }

    /// The devices symmetry reduction treats as interchangeable, class by class (empty when it
    /// is off or no two devices are alike).
    pub fn interchangeable_devices(&self) -> Vec<Vec<crate::knowledge::DeviceId>> {
        self.symmetry
            .interchangeable()
            .map(|c| {
                c.iter()
                    .map(|&i| crate::knowledge::DeviceId(i as u8))
                    .collect()
            })
            .collect()
    }

    /// The same model without symmetry reduction: every state is its own representative.
    pub fn without_symmetry(mut self) -> Self {
        self.symmetry = Symmetry::default();
        self
    }

    /// The same model with symmetry reduction as `mode` says (`new` canonicalises every class).
    pub fn with_symmetry(mut self, mode: crate::Symmetry) -> Self {
        match mode {
            crate::Symmetry::On => {}
            crate::Symmetry::Off => self.symmetry = Symmetry::default(),
            crate::Symmetry::Auto => {
                self.symmetry = std::mem::take(&mut self.symmetry)
                    .classes_of_at_least(crate::symmetry::PAYING_CLASS)
            }
        }
        self
    }

    /// Whether a successor may be built from its parent's parts (`parts::successor`): only
    /// where the successor is the raw one (no symmetry class to canonicalise) and no claim
    /// keeps history (written from the whole new state).
    pub(crate) fn builds_from_parts(&self) -> bool {
        !self.history && self.symmetry.is_trivial()
    }

    /// The actor at `index` of the layout.
    pub(crate) fn party(&self, index: usize) -> &Party {
        &self.actors.actors[index]
    }

    /// The successor of `state` by `action`, as the system reaches it (not its representative),
    /// with the claims' history updated.
    pub fn raw_next_state(&self, state: &State, action: Step) -> Option<State> {
        let mut next = self.step(state, action)?;
        if self.history {
            self.update_history(Some(&state.history), &mut next);
        }
        Some(next)
    }

    /// Writes the claims' past-time operators' values in `next` into its history.
    fn update_history(&self, prev: Option<&History>, next: &mut State) {
        for f in self.scenario.claims.iter().filter_map(|c| c.formula()) {
            if !f.monitors.is_empty() {
                f.update_history(self, prev, next);
            }
        }
    }

    /// Whether the run has ended in `state`: no step is enabled.
    pub fn ended(&self, state: &State) -> bool {
        let mut steps = Vec::new();
        self.steps(state, &mut steps);
        steps.into_iter().all(|a| self.step(state, a).is_none())
    }

    /// The successor of `state` by `action`, without the history.
    fn step(&self, state: &State, action: Step) -> Option<State> {
        match action {
            Step::Actor(ActorModelAction::Recover(id)) => {
                // The restarted log reads the day from the global clock.
                let mut next = self
                    .actors
                    .next_state(state, ActorModelAction::Recover(id))?;
                let mut restarted = log(&next).clone();
                restarted.day = directory(&next).day;
                restarted.crashes = log(state).crashes + 1;
                restarted.received = log(state).received.clone();
                next.actor_states[actor_index(Role::LookupLog)] =
                    Arc::new(PartyState::LookupLog(restarted));
                Some(next)
            }
            // stateright leaves a message whose delivery changes nothing in flight on an
            // unordered network; here every message delivered to a running actor is consumed,
            // so no stale message keeps the clock from ticking. Only that network needs the
            // message kept aside (other networks take the plain path below, without a copy).
            Step::Actor(ActorModelAction::Deliver { src, dst, msg })
                if matches!(state.network, Network::UnorderedNonDuplicating(_)) =>
            {
                let action = ActorModelAction::Deliver {
                    src,
                    dst,
                    msg: msg.clone(),
                };
                if let Some(next) = self.actors.next_state(state, action) {
                    return Some(next);
                }
                if state.crashed[usize::from(dst)] {
                    return None;
                }
                let mut next = state.clone();
                if let Network::UnorderedNonDuplicating(multiset) = &mut next.network {
                    let env = Envelope { src, dst, msg };
                    match multiset.get(&env).copied() {
                        Some(1) => {
                            multiset.remove(&env);
                        }
                        Some(n) => {
                            multiset.insert(env, n - 1);
                        }
                        None => return None,
                    }
                }
                Some(next)
            }
            Step::Actor(a) => self.actors.next_state(state, a),
            Step::Tick => {
                let mut next = state.clone();
                let dir = actor_index(Role::Directory);
                let mut directory = as_directory(&state.actor_states[dir]).clone();
                directory.tick();
                next.actor_states[dir] = Arc::new(PartyState::Directory(directory));
                let lg = actor_index(Role::LookupLog);
                let ticked = log(state).tick(&self.scenario);
                if next.actor_storages[lg].is_some() {
                    next.actor_storages[lg] = Some(ticked.persisted.clone());
                }
                next.actor_states[lg] = Arc::new(PartyState::LookupLog(ticked));
                if self.scenario.keeps_connections() {
                    let rl = actor_index(Role::Relay);
                    let mut relay = crate::protocol::as_relay(&state.actor_states[rl]).clone();
                    relay.tick(&self.scenario);
                    next.actor_states[rl] = Arc::new(PartyState::Relay(relay));
                }
                Some(next)
            }
        }
    }

    /// The representative of a state under symmetry reduction.
    pub fn canonical(&self, state: State) -> State {
        self.symmetry.canonical(state)
    }

    /// The raw initial states (before symmetry reduction).
    pub fn raw_init_states(&self) -> Vec<State> {
        let mut states = self.actors.init_states();
        if self.history {
            for s in &mut states {
                self.update_history(None, s);
            }
        }
        states
    }

    /// Whether an actor step is enabled: only the log crashes (under the log-crash threat),
    /// and actions tied to a day wait for it.
    fn enabled(&self, state: &State, action: &ActorModelAction<Msg, Timer, ()>) -> bool {
        let log_id = actor_id(Role::LookupLog);
        let (id, timer) = match action {
            // The log crashes at most once (stateright bounds only simultaneous crashes).
            ActorModelAction::Crash(id) => return *id == log_id && log(state).crashes == 0,
            ActorModelAction::Recover(id) => return *id == log_id,
            ActorModelAction::Timeout(id, timer) => (id, timer),
            _ => return true,
        };
        let day = match (role_of(*id), timer) {
            (Role::Device(d), Timer::UserAction(n)) => {
                self.scenario.device(d).actions[*n as usize].day
            }
            (Role::Authority, Timer::LegalRequest(n)) => {
                self.scenario.legal_requests[*n as usize].day
            }
            _ => None,
        };
        day.is_none_or(|d| d == Self::today(state))
    }
}

impl ProtocolModel {
    /// Whether a user action or court order tied to today has not happened yet.
    fn scheduled_today(&self, state: &State) -> bool {
        let today = Some(Self::today(state));
        state.timers_set.iter().enumerate().any(|(i, timers)| {
            timers.iter().any(|t| match (role_of(Id::from(i)), t) {
                (Role::Device(d), Timer::UserAction(n)) => {
                    self.scenario.device(d).actions[*n as usize].day == today
                }
                (Role::Authority, Timer::LegalRequest(n)) => {
                    self.scenario.legal_requests[*n as usize].day == today
                }
                _ => false,
            })
        })
    }
}

impl ProtocolModel {
    /// The initial states, as representatives.
    pub fn init_states(&self) -> Vec<State> {
        self.raw_init_states()
            .into_iter()
            .map(|s| self.canonical(s))
            .collect()
    }

    /// The steps enabled in `state` (some may lead nowhere: see [`Self::ended`]).
    pub fn steps(&self, state: &State, actions: &mut Vec<Step>) {
        let mut inner = Vec::new();
        self.actors.actions(state, &mut inner);
        actions.extend(
            inner
                .into_iter()
                .filter(|a| self.enabled(state, a))
                .map(Step::Actor),
        );
        // A day is long next to a network delay: the clock moves on only once every message
        // in flight has been delivered or lost, so a message never spans a day boundary; and
        // only once every action and court order scheduled for today has happened.
        if Self::today(state).0 + 1 < self.scenario.days
            && state.network.len() == 0
            && !self.scheduled_today(state)
        {
            actions.push(Step::Tick);
        }
    }

    /// The successor of `state` by `action`, as its representative.
    pub fn next_state(&self, state: &State, action: Step) -> Option<State> {
        self.raw_next_state(state, action)
            .map(|s| self.canonical(s))
    }
}

impl ProtocolModel {
    /// The day of the scenario's clock in this state.
    pub fn today(state: &State) -> Day {
        crate::state::today(state)
    }
}

impl Run for ProtocolModel {
    fn scenario(&self) -> &Scenario {
        &self.scenario
    }
    fn ended(&self, state: &State) -> bool {
        ProtocolModel::ended(self, state)
    }
}
