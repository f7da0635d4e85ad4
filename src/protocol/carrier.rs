//! The SMS carrier: the fallback path when a handle is not registered for
//! iMessage (green bubble). SMS is not end to end encrypted, so the carrier
//! holds the plaintext (docs/design.md §2).
//!
//! Unregistered handles have no device in the model, so the carrier keeps
//! what it carried and forwards nothing.

use super::wire::Msg;
use crate::knowledge::{Knowledge, Term};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CarrierState {
    pub knowledge: Knowledge,
}

impl CarrierState {
    pub fn on_msg(&self, msg: Msg) -> Option<Self> {
        let Msg::Sms { from, to, body } = msg else {
            return None; // The carrier only carries SMS.
        };
        let mut next = self.clone();
        next.knowledge
            .learn(Term::tuple([Term::Handle(from), Term::Handle(to), body]));
        (next != *self).then_some(next)
    }
}
