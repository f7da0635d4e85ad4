//! The push relay (APNs): forwards each per-device ciphertext to the device
//! holding its push token (Platform Security guide, "How iMessage sends and
//! receives messages"; DESIGN §2).
//!
//! It sees every envelope: sender handle (except under sealed sender),
//! target handle, token and the ciphertext, and keeps what it can derive
//! from them. It forwards in the
//! handler that receives, since no claim can tell a relay that has received
//! a push from one that has also forwarded it.

use super::wire::Msg;
use super::{token_holder, Party};
use crate::knowledge::{Knowledge, Term};
use serde::Serialize;
use stateright::actor::Out;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct RelayState {
    pub knowledge: Knowledge,
}

impl RelayState {
    pub fn on_msg(&self, msg: Msg, o: &mut Out<Party>) -> Option<Self> {
        let Msg::Push { from, to, payloads } = msg else {
            return None; // The relay only receives pushes from devices.
        };
        let mut next = self.clone();
        for (token, payload) in payloads {
            // The envelope: sender (absent under sealed sender), target, token, ciphertext.
            let mut envelope: Vec<Term> = from.map(Term::Handle).into_iter().collect();
            envelope.extend([Term::Handle(to), Term::Token(token), payload.clone()]);
            next.knowledge.learn(Term::tuple(envelope));
            o.send(
                token_holder(token),
                Msg::Deliver {
                    from,
                    to,
                    token,
                    payload,
                },
            );
        }
        Some(next)
    }
}
