//! The model as stateright checks it: the steps of `model.rs`, with the scenario's claims
//! (`claims.rs`) as its properties and its steps in words (`describe.rs`).

use crate::model::ProtocolModel;
use crate::state::{State, Step};
use stateright::{Model, Property};

impl Model for ProtocolModel {
    type State = State;
    type Action = Step;

    fn init_states(&self) -> Vec<State> {
        ProtocolModel::init_states(self)
    }

    fn actions(&self, state: &State, actions: &mut Vec<Step>) {
        self.steps(state, actions)
    }

    fn next_state(&self, state: &State, action: Step) -> Option<State> {
        ProtocolModel::next_state(self, state, action)
    }

    fn format_action(&self, action: &Step) -> String {
        crate::describe::describe(&self.scenario, action).text
    }

    fn properties(&self) -> Vec<Property<Self>> {
        crate::claims::properties(&self.scenario)
    }
}
