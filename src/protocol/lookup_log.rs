//! The lookup log: one record per lookup, kept for the retention window and
//! disclosed on court order (the 2016 law-enforcement FAQ; docs/design.md §2).
//!
//! Records arrive from the directory as messages, so a record can be in
//! flight, lost or late. The day advances with the scenario's clock (a model
//! step, see `model.rs`), and each tick purges every record whose retention
//! has run out, except records under a preservation order. A legal request
//! is answered with every retained record that names the handle as
//! requester or target.
//!
//! Under the log-crash threat the log acknowledges a record once it is in
//! memory and writes its records to stable storage in a separate step; a
//! crash loses what was not yet written, and a restart reloads the rest.

use super::wire::{LookupId, Msg, Record, Timer};
use super::{actor_id, Party, Role};
use crate::knowledge::{AccountId, Day, Knowledge};
use crate::scenario::{Bug, Logging, Scenario, Threat};
use serde::{Deserialize, Serialize};
use stateright::actor::{model_timeout, Id, Out};
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogState {
    pub day: Day,
    pub records: BTreeSet<Record>,
    /// What the holder of the retained records can derive from them (a function of `records`).
    pub knowledge: Knowledge,
    /// The records last written to stable storage (under the log-crash threat only).
    pub persisted: BTreeSet<Record>,
    /// How many times the log has crashed and restarted.
    pub crashes: u8,
    /// Every lookup whose record has ever reached the log. Bookkeeping for the claims, not
    /// something the log remembers: like `crashes`, the model carries it over a restart, so
    /// that a copy of a record the log already received (on a duplicating network a delivered
    /// message stays in flight) is not counted as still on its way.
    pub received: BTreeSet<LookupId>,
}

/// What the log keeps on stable storage.
pub type LogStorage = BTreeSet<Record>;

impl LogState {
    /// Starts empty, or after a crash with what stable storage holds. Under the log-crash
    /// threat the persist step is armed.
    pub fn start(scenario: &Scenario, storage: &Option<LogStorage>, o: &mut Out<Party>) -> Self {
        let records = storage.clone().unwrap_or_default();
        if scenario.threat == Threat::LogCrash {
            o.set_timer(Timer::Persist, model_timeout());
        }
        LogState {
            day: Day(0),
            knowledge: Knowledge::from_terms(records.iter().map(Record::to_term)),
            persisted: records.clone(),
            records,
            crashes: 0,
            received: BTreeSet::new(),
        }
    }

    /// Writes the records to stable storage, if anything changed since the last write; the
    /// step stays armed.
    pub fn on_persist(&self, o: &mut Out<Party>) -> Option<Self> {
        o.set_timer(Timer::Persist, model_timeout());
        if self.persisted == self.records {
            return None;
        }
        o.save(self.records.clone());
        let mut next = self.clone();
        next.persisted = self.records.clone();
        Some(next)
    }

    /// Whether a record is kept on `today`: within retention, or preserved, or the log is buggy.
    pub fn keeps(scenario: &Scenario, r: &Record, today: Day) -> bool {
        !expired(scenario, r.day, today)
            || scenario.bugs.contains(&Bug::LogNeverPurges)
            || scenario.preserved(r.requester)
            || r.target.is_some_and(|t| scenario.preserved(t))
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
                next.received.insert(record.lookup);
                if Self::keeps(scenario, &record, self.day) && next.records.insert(record.clone()) {
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

    /// Whether a record in flight to the log is still on its way: the log has never received
    /// it. (On a duplicating network a delivered record stays in flight for ever; that copy
    /// is not on its way.)
    pub fn awaits(&self, r: &Record) -> bool {
        !self.received.contains(&r.lookup)
    }

    /// Every retained record naming `handle` as requester or target.
    pub fn records_of(&self, handle: AccountId) -> Vec<Record> {
        self.records
            .iter()
            .filter(|r| r.requester == handle || r.target == Some(handle))
            .cloned()
            .collect()
    }

    /// The clock ticks: the next day begins and records past retention are purged (from
    /// memory and from stable storage alike).
    pub fn tick(&self, scenario: &Scenario) -> Self {
        let mut next = self.clone();
        next.day = Day(self.day.0 + 1);
        let before = next.records.len();
        next.records.retain(|r| Self::keeps(scenario, r, next.day));
        next.persisted
            .retain(|r| Self::keeps(scenario, r, next.day));
        if next.records.len() != before {
            next.knowledge = Knowledge::from_terms(next.records.iter().map(Record::to_term));
        }
        next
    }
}
