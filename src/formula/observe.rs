//! What a step actually changed in the parts formulas read, for the tests that check every
//! edge of full state graphs against the step's declared writes (`ProtocolModel::writes`):
//! a read set is only as sound as those declarations.

use super::eval::Ev;
use super::tree::Writes;
use super::tree::{Coll, Part, Pred, Server, Val, SERVERS};
use crate::knowledge::{AccountId, DeviceId};
use crate::model::ProtocolModel;
use crate::protocol::wire::Msg;
use crate::state::{self as model, State};
use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

/// Every part a formula can read.
pub fn parts() -> Vec<Part> {
    let mut v: Vec<Part> = SERVERS.iter().map(|(_, s)| Part::Knowledge(*s)).collect();
    v.extend([
        Part::Sent,
        Part::Learned,
        Part::Accepted,
        Part::Alerts,
        Part::Answers,
        Part::MaySend,
        Part::LogRecords,
        Part::Answered,
        Part::Logged,
        Part::Disclosed,
        Part::InTransit,
        Part::Today,
        Part::Crashes,
        Part::Received,
        Part::Receipts,
        Part::Typing,
        Part::Read,
    ]);
    v
}

fn h<T: Hash>(x: T) -> u64 {
    let mut s = DefaultHasher::new();
    x.hash(&mut s);
    s.finish()
}

/// The elements of one part in a state, each as a hash; a formula reads the part only through
/// these elements, so a part grew if an element appeared and shrank if one disappeared.
pub fn elements(m: &ProtocolModel, s: &State, part: Part) -> BTreeSet<u64> {
    let devices = || model::devices(s);
    let accounts = || (0..m.scenario.accounts.len()).map(|a| AccountId(a as u8));
    let knowledge = |server: Server| match server {
        Server::Directory => &model::directory(s).knowledge,
        Server::Log => &model::log(s).knowledge,
        Server::Relay => &model::relay(s).knowledge,
        Server::Carrier => &model::carrier(s).knowledge,
        Server::Authority => &model::authority(s).knowledge,
    };
    let ev = Ev {
        m,
        s,
        env: smallvec::SmallVec::new(),
        base: 0,
        ended: None,
    };
    match part {
        Part::Knowledge(server) => knowledge(server).terms().map(h).collect(),
        Part::Sent => devices()
            .flat_map(|(d, x)| x.sent.iter().map(move |e| h((d, e))))
            .collect(),
        Part::Learned => devices()
            .flat_map(|(d, x)| x.learned.iter().map(move |e| h((d, e))))
            .collect(),
        Part::Accepted => devices()
            .flat_map(|(d, x)| x.accepted.iter().map(move |e| h((d, e))))
            .collect(),
        Part::Alerts => devices()
            .flat_map(|(d, x)| x.alerts.iter().map(move |e| h((d, e))))
            .collect(),
        Part::Answers => devices()
            .flat_map(|(d, x)| {
                let cache = x.cache.iter().map(move |e| h((d, 0, e)));
                cache.chain(x.keys.iter().map(move |e| h((d, 1, e))))
            })
            .collect(),
        Part::MaySend => {
            let mut out = BTreeSet::new();
            for d in 0..m.scenario.devices.len() {
                let d = DeviceId(d as u8);
                for a in accounts() {
                    if ev.pred(Pred::MaySend, &[&Val::Device(d), &Val::Account(a)]) {
                        out.insert(h((d, a)));
                    }
                }
            }
            out
        }
        Part::LogRecords => model::log(s).records.iter().map(h).collect(),
        Part::Answered => model::directory(s).answered.iter().map(h).collect(),
        Part::Logged => {
            // A logged record is in the log or in flight to it, so these are every candidate.
            let log = model::log(s);
            let flying = model::in_flight(s).filter_map(|x| match x {
                Msg::LogWrite(r) => Some(r),
                _ => None,
            });
            let candidates: BTreeSet<_> = log.records.iter().chain(flying).cloned().collect();
            candidates
                .into_iter()
                .filter(|r| ev.pred(Pred::Logged, &[&Val::Record(r.clone())]))
                .map(h)
                .collect()
        }
        Part::Disclosed => {
            let a = model::authority(s);
            let served = a.served.iter().map(|x| h((0, x)));
            let connections = a.connections.iter().map(|x| h((2, x)));
            a.disclosed
                .iter()
                .map(|x| h((1, x)))
                .chain(served)
                .chain(connections)
                .collect()
        }
        Part::Crashes => {
            let log = model::log(s);
            let down = model::log_down(s).then_some(h(0));
            down.into_iter()
                .chain((log.crashes > 0).then_some(h(1)))
                .collect()
        }
        Part::Received => model::log(s).received.iter().map(h).collect(),
        Part::Typing => devices()
            .flat_map(|(d, x)| x.typing.iter().map(move |e| h((d, e))))
            .collect(),
        Part::Receipts => devices()
            .flat_map(|(d, x)| {
                let delivered = x.receipts.iter().map(move |e| h((d, 0, e)));
                delivered.chain(x.read_receipts.iter().map(move |e| h((d, 1, e))))
            })
            .collect(),
        Part::Read => devices()
            .flat_map(|(d, x)| x.read.iter().map(move |e| h((d, e))))
            .collect(),
        Part::InTransit => ev
            .collection(Coll::InTransit)
            .into_iter()
            .map(|v| match v {
                Val::Record(r) => h(r),
                _ => 0,
            })
            .collect(),
        Part::Today => BTreeSet::from([h(ProtocolModel::today(s))]),
    }
}

/// Every record the state holds in one of its record collections (the log, the answered
/// lookups, the records on their way or logged, the disclosures), as hashes.
fn records(s: &State) -> BTreeSet<u64> {
    let log = model::log(s);
    let flying = model::in_flight(s).filter_map(|x| match x {
        Msg::LogWrite(r) => Some(r),
        _ => None,
    });
    let disclosed = model::authority(s).disclosed.iter().map(|(_, r)| r);
    log.records
        .iter()
        .chain(model::directory(s).answered.iter())
        .chain(flying)
        .chain(disclosed)
        .map(h)
        .collect()
}

/// The parts that grew and shrank from `s` to `t`, and of those that grew, the record parts
/// whose new elements are all records `s` did not hold (`fresh`).
pub fn observed_writes(m: &ProtocolModel, s: &State, t: &State) -> Writes {
    let mut w = Writes::default();
    let known = records(s);
    let record_parts = [
        Part::LogRecords,
        Part::Answered,
        Part::Logged,
        Part::InTransit,
    ];
    for part in parts() {
        let (a, b) = (elements(m, s, part), elements(m, t, part));
        if !b.is_subset(&a) {
            w.grow |= part.bit();
            if record_parts.contains(&part) && b.difference(&a).all(|x| !known.contains(x)) {
                w.fresh |= part.bit();
            }
        }
        if !a.is_subset(&b) {
            w.shrink |= part.bit();
        }
    }
    w
}
