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
//!
//! When a legal request of the scenario asks for them, it also keeps connection records: each
//! day a device was connected to push or to be pushed to (APNs delivers over the device's own
//! connection, so a recipient is connected too), from the device's address, purged after
//! `bounds.connection-retention` days. What APNs keeps and for how long is not public; these
//! records are the scenario's assumption, off unless asked for.

use super::wire::Msg;
use super::HashedIfUsed;
use super::{role_of, token_holder, Party, Role};
use crate::knowledge::{AccountId, Day, DeviceId, Knowledge, Term, Token};
use crate::scenario::{Bug, Scenario};
use serde::{Deserialize, Serialize};
use stateright::actor::{Id, Out};
use std::collections::BTreeSet;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RelayState {
    pub knowledge: Knowledge,
    /// Connection records, kept only when a request asks for them (empty otherwise).
    #[serde(default)]
    pub connections: HashedIfUsed<Connections>,
}

/// The relay's connection records and its day (it stamps each record with the day).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Connections {
    pub day: Day,
    /// (device, day it was connected on).
    pub records: BTreeSet<(DeviceId, Day)>,
}

impl RelayState {
    /// A push, a delivery receipt or a typing indicator from a device: the relay learns the
    /// connection it came on and, per device it goes to, the envelope (sender, absent under
    /// sealed sender; target; token; the ciphertext, for a push), and forwards each leg.
    pub fn on_msg(
        &self,
        scenario: &Scenario,
        src: Id,
        msg: Msg,
        o: &mut Out<Party>,
    ) -> Option<Self> {
        // A legal request for a push token's registration: APNs keeps which account and device
        // each token is registered to.
        if let Msg::TokenRequest { token } = msg {
            if let Token::Device(d) = token {
                o.send(
                    super::actor_id(super::Role::Authority),
                    Msg::TokenDisclosure {
                        token,
                        account: scenario.device(d).account,
                    },
                );
            }
            return None;
        }
        if let Msg::ConnectionRequest { device } = msg {
            o.send(
                super::actor_id(super::Role::Authority),
                Msg::ConnectionDisclosure {
                    device,
                    day: self.connections.day,
                    connected: self
                        .connections
                        .records
                        .iter()
                        .filter(|(d, _)| *d == device)
                        .map(|(_, day)| *day)
                        .collect(),
                },
            );
            return None;
        }
        // (sender on the envelope, target, per device: token, payload, what goes on to it)
        type Legs = Vec<(Token, Option<Term>, Msg)>;
        let (from, to, legs): (Option<AccountId>, AccountId, Legs) = match msg {
            Msg::Push { from, to, payloads } => {
                let legs = payloads
                    .into_iter()
                    .map(|(token, payload)| {
                        let forward = Msg::Deliver {
                            from,
                            to,
                            token,
                            payload: payload.clone(),
                        };
                        (token, Some(payload), forward)
                    })
                    .collect();
                (from, to, legs)
            }
            // A receipt goes to every device of the account it is addressed to (the sender's
            // other devices too); a read receipt in the clear says so (its push command), a
            // sealed one does not.
            Msg::Receipt {
                from,
                to,
                content,
                read,
            } => {
                let shown = (read && from.is_some()).then_some(Term::Read);
                let legs = scenario
                    .account(to)
                    .devices
                    .iter()
                    .map(|&e| {
                        let token = Token::Device(e);
                        let forward = Msg::DeliverReceipt {
                            from,
                            to,
                            token,
                            content,
                            read,
                        };
                        (token, shown.clone(), forward)
                    })
                    .collect();
                (from, to, legs)
            }
            Msg::Typing {
                from,
                sender,
                to,
                tokens,
            } => {
                let legs = tokens
                    .into_iter()
                    .map(|token| {
                        let forward = Msg::DeliverTyping {
                            from,
                            sender,
                            to,
                            token,
                        };
                        (token, None, forward)
                    })
                    .collect();
                (from, to, legs)
            }
            _ => return None, // The relay receives only what devices push.
        };
        let mut next = self.clone();
        // The pushing connection: a device's token (the directory's own forgery comes over a
        // connection that is no device's).
        let keeps = scenario.keeps_connections();
        if let Role::Device(d) = role_of(src) {
            next.knowledge
                .learn(Term::pair(Term::Token(Token::Device(d)), Term::Handle(to)));
            if keeps {
                next.connections.records.insert((d, self.connections.day));
            }
        }
        for (token, payload, forward) in legs {
            if let (true, Token::Device(e)) = (keeps, token) {
                next.connections.records.insert((e, self.connections.day));
            }
            let mut envelope: Vec<Term> = from.map(Term::Handle).into_iter().collect();
            envelope.extend([Term::Handle(to), Term::Token(token)]);
            envelope.extend(payload);
            next.knowledge.learn(Term::tuple(envelope));
            o.send(token_holder(token), forward);
        }
        Some(next)
    }

    /// The next day begins: connection records past their retention are purged (unless the
    /// relay is buggy). A no-op in a scenario that keeps none.
    pub fn tick(&mut self, scenario: &Scenario) {
        if !scenario.keeps_connections() {
            return;
        }
        let c = &mut self.connections;
        c.day = Day(c.day.0 + 1);
        let today = c.day.0 as u16;
        if !scenario.bugs.contains(&Bug::RelayNeverPurges) {
            let keep = scenario.connection_retention as u16;
            c.records.retain(|(_, d)| d.0 as u16 + keep > today);
        }
    }
}
