//! The authority: law enforcement serving court orders on the lookup log
//! (the 2016 law-enforcement FAQ; docs/design.md §2), and requests for the account behind a
//! push token on the relay (Apple's legal process guidelines).
//!
//! Each legal request of the scenario is a timer that may fire at any point
//! (on its day, if it names one). What the log discloses is kept with the
//! day it was disclosed on, so claims can ask what the authority learnt and
//! whether it was still within retention.

use super::wire::{Msg, Record, Timer};
use super::{HashedIfUsed, Party};
use crate::knowledge::{AccountId, Day, DeviceId, Knowledge, Term, Token};
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};
use stateright::actor::{model_timeout, Out};
use std::collections::BTreeSet;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuthorityState {
    /// Orders answered: the day and the handle, whatever the number of records.
    pub served: BTreeSet<(Day, AccountId)>,
    /// Records disclosed, with the day they were disclosed on.
    pub disclosed: BTreeSet<(Day, Record)>,
    /// Push tokens whose registration the relay disclosed, with the account behind each.
    pub tokens: BTreeSet<(Token, AccountId)>,
    /// The relay's connection records disclosed: (day disclosed, device, day connected).
    #[serde(default)]
    pub connections: HashedIfUsed<BTreeSet<(Day, DeviceId, Day)>>,
    /// What the authority can derive from the records disclosed to it.
    pub knowledge: Knowledge,
}

impl AuthorityState {
    pub fn start(scenario: &Scenario, o: &mut Out<Party>) -> Self {
        for n in 0..scenario.legal_requests.len() {
            o.set_timer(Timer::LegalRequest(n as u8), model_timeout());
        }
        Self::default()
    }

    pub fn on_msg(&self, scenario: &Scenario, msg: Msg) -> Option<Self> {
        // Each connection record ties the device's token to its address on a day.
        if let Msg::ConnectionDisclosure {
            device,
            day,
            connected,
        } = msg
        {
            let mut next = self.clone();
            let ip = scenario.device(device).ip;
            for on in connected {
                next.connections.insert((day, device, on));
                next.knowledge.learn(Term::tuple(vec![
                    Term::Day(on),
                    Term::Token(Token::Device(device)),
                    Term::Ip(ip),
                ]));
            }
            return (next != *self).then_some(next);
        }
        if let Msg::SubscriberDisclosure { handle, addresses } = msg {
            let mut next = self.clone();
            next.knowledge.learn_all(
                addresses
                    .into_iter()
                    .map(|ip| Term::pair(Term::Handle(handle), Term::Ip(ip))),
            );
            return (next != *self).then_some(next);
        }
        if let Msg::TokenDisclosure { token, account } = msg {
            let mut next = self.clone();
            next.tokens.insert((token, account));
            next.knowledge
                .learn(Term::pair(Term::Token(token), Term::Handle(account)));
            return (next != *self).then_some(next);
        }
        let Msg::Disclosure {
            handle,
            day,
            records,
        } = msg
        else {
            return None; // The authority only receives disclosures.
        };
        let mut next = self.clone();
        next.served.insert((day, handle));
        next.knowledge
            .learn_all(records.iter().map(Record::to_term));
        next.disclosed.extend(records.into_iter().map(|r| (day, r)));
        (next != *self).then_some(next)
    }
}
