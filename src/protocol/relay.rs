//! The push relay (APNs): forwards each per-device ciphertext to the device
//! holding its push token (Platform Security guide, "How iMessage sends and
//! receives messages"; docs/design.md §2).
//!
//! It sees every envelope: sender handle (except under sealed sender),
//! target handle, token and the ciphertext, and keeps what it can derive
//! from them. It also sees the connection each push arrives on: the push
//! token of the device that pushed, which it keeps paired with the target
//! (sealed sender hides the sender's handle, not the connection; whether that
//! names the sender depends on who knows whose token it is). It forwards in the
//! handler that receives, since no claim can tell a relay that has received
//! a push from one that has also forwarded it.

use super::wire::Msg;
use super::{role_of, token_holder, Party, Role};
use crate::knowledge::{AccountId, ContentId, Knowledge, Term, Token};
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};
use stateright::actor::{Id, Out};

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RelayState {
    pub knowledge: Knowledge,
}

impl RelayState {
    pub fn on_msg(
        &self,
        scenario: &Scenario,
        src: Id,
        msg: Msg,
        o: &mut Out<Party>,
    ) -> Option<Self> {
        if let Msg::Receipt { from, to, content } = msg {
            return Some(self.on_receipt(scenario, src, from, to, content, o));
        }
        let Msg::Push { from, to, payloads } = msg else {
            return None; // The relay only receives pushes and receipts from devices.
        };
        let mut next = self.clone();
        // The pushing connection: a device's token (the directory's own forgery comes over a
        // connection that is no device's).
        if let Role::Device(d) = role_of(src) {
            next.knowledge
                .learn(Term::pair(Term::Token(Token::Device(d)), Term::Handle(to)));
        }
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

    /// A delivery receipt goes to every device of the account it is addressed to (the sender's
    /// other devices too). The relay sees the connection it came on and, per device, an
    /// envelope of sender (absent under sealed sender), target and token, without payload.
    fn on_receipt(
        &self,
        scenario: &Scenario,
        src: Id,
        from: Option<AccountId>,
        to: AccountId,
        content: ContentId,
        o: &mut Out<Party>,
    ) -> Self {
        let mut next = self.clone();
        if let Role::Device(d) = role_of(src) {
            next.knowledge
                .learn(Term::pair(Term::Token(Token::Device(d)), Term::Handle(to)));
        }
        for &e in &scenario.account(to).devices {
            let token = Token::Device(e);
            let mut envelope: Vec<Term> = from.map(Term::Handle).into_iter().collect();
            envelope.extend([Term::Handle(to), Term::Token(token)]);
            next.knowledge.learn(Term::tuple(envelope));
            o.send(
                token_holder(token),
                Msg::DeliverReceipt {
                    from,
                    to,
                    token,
                    content,
                },
            );
        }
        next
    }
}
