//! The lookup log: one record per lookup, kept for the retention window and
//! disclosed on court order (the 2016 law-enforcement FAQ; DESIGN §2).
//!
//! Records arrive from the directory as messages, so a record can be in
//! flight, lost or late. The day advances with the scenario's clock (a model
//! step, see `model.rs`), and each tick purges every record whose retention
//! has run out. A legal request is answered with every retained record that
//! names the handle as requester or target.

use super::wire::{Msg, Record};
use super::{actor_id, Party, Role};
use crate::knowledge::{AccountId, Day, Knowledge};
use crate::scenario::{Bug, Logging, Scenario};
use serde::Serialize;
use stateright::actor::{Id, Out};
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct LogState {
    pub day: Day,
    pub records: BTreeSet<Record>,
    /// What the holder of the retained records can derive from them (a function of `records`).
    pub knowledge: Knowledge,
}

impl Default for LogState {
    fn default() -> Self {
        LogState {
            day: Day(0),
            records: BTreeSet::new(),
            knowledge: Knowledge::new(),
        }
    }
}

/// Whether a record made on `record_day` is past retention on `today`.
pub fn expired(scenario: &Scenario, record_day: Day, today: Day) -> bool {
    record_day.0 as u16 + scenario.retention as u16 <= today.0 as u16
}

impl LogState {
    pub fn on_msg(
        &self,
        scenario: &Scenario,
        _src: Id,
        msg: Msg,
        o: &mut Out<Party>,
    ) -> Option<Self> {
        match msg {
            Msg::LogWrite(record) => {
                let mut next = self.clone();
                let keep = !expired(scenario, record.day, self.day)
                    || scenario.bugs.contains(&Bug::LogNeverPurges);
                if keep && next.records.insert(record.clone()) {
                    next.knowledge.learn(record.to_term());
                }
                if scenario.logging == Logging::BeforeReply {
                    o.send(actor_id(Role::Directory), Msg::LogAck(record));
                }
                (next != *self).then_some(next)
            }
            Msg::LegalRequest { handle } => {
                o.send(
                    actor_id(Role::Authority),
                    Msg::Disclosure {
                        handle,
                        day: self.day,
                        records: self.records_of(handle),
                    },
                );
                None
            }
            // The log receives only records and court orders.
            _ => None,
        }
    }

    /// Every retained record naming `handle` as requester or target.
    pub fn records_of(&self, handle: AccountId) -> Vec<Record> {
        self.records
            .iter()
            .filter(|r| r.requester == handle || r.target == handle)
            .cloned()
            .collect()
    }

    /// The clock ticks: the next day begins and expired records are purged.
    pub fn tick(&self, scenario: &Scenario) -> Self {
        let mut next = self.clone();
        next.day = Day(self.day.0 + 1);
        if !scenario.bugs.contains(&Bug::LogNeverPurges) {
            let before = next.records.len();
            next.records.retain(|r| !expired(scenario, r.day, next.day));
            if next.records.len() != before {
                next.knowledge = Knowledge::from_terms(next.records.iter().map(Record::to_term));
            }
        }
        next
    }
}
