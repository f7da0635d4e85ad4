//! Evaluating a formula's tree on a state of the model: its value ([`Formula::holds`]), its
//! past-time operators' history ([`Formula::update_history`]) and why it has its value
//! ([`Formula::explain`]).

use super::syntax::{CmpOp, PastOp, Quant, Span};
use super::tree::*;
use crate::knowledge::{AccountId, ContentId, DeviceId, Knowledge, Term, Token};
use crate::protocol::wire::{Answer, Msg};
use crate::protocol::{LogState, Role};
use crate::scenario::{ActionKind, Logging, Scenario};
use crate::state::{self as model, History, Run, State};
use std::fmt::Write as _;

// ---------------------------------------------------------------------------------------------
// Evaluation.

/// What evaluation reads from: the model (for the scenario) and one state.
/// The values of a predicate's or a function's arguments (at most four), kept on the stack.
type Args = smallvec::SmallVec<[Val; 4]>;

/// The records in flight to the log that it has not received yet.
pub(crate) fn in_transit(s: &State) -> impl Iterator<Item = Val> + '_ {
    let log = model::log(s);
    model::in_flight(s).filter_map(move |m| match m {
        Msg::LogWrite(r) if log.awaits(r) => Some(Val::Record(r.clone())),
        _ => None,
    })
}

/// The relay's connection records disclosed to the authority.
fn connections(s: &State) -> impl Iterator<Item = Val> + '_ {
    model::authority(s)
        .connections
        .iter()
        .map(|&(day, d, on)| Val::Connection(day, d, on))
}

pub(crate) struct Ev<'a> {
    pub(crate) m: &'a dyn Run,
    pub(crate) s: &'a State,
    /// The values of the formula's variables, by slot (on the stack for most formulas).
    pub(crate) env: smallvec::SmallVec<[Val; 8]>,
    /// The formula's first bit in the state's history.
    pub(crate) base: usize,
    /// Whether the run has ended in this state, once asked (it generates every successor).
    pub(crate) ended: Option<bool>,
}

impl Formula {
    /// An evaluation of this formula on `s`: its variables unbound, its history block.
    fn ev<'a>(&self, m: &'a dyn Run, s: &'a State) -> Ev<'a> {
        Ev {
            m,
            s,
            env: smallvec::smallvec![Val::Bool(false); self.slots],
            base: self.history_base,
            ended: None,
        }
    }

    /// Whether the formula (without its top operator) is true in `state`.
    pub fn holds(&self, m: &dyn Run, state: &State) -> bool {
        let mut ev = self.ev(m, state);
        ev.node(&self.root)
    }

    /// Writes the values its past-time operators take in `next` into `next`'s history, given
    /// their values before the step (`prev`, `None` in an initial state). Inner operators are
    /// updated first, so an outer one reads their new values.
    pub fn update_history(&self, m: &dyn Run, prev: Option<&History>, next: &mut State) {
        let mut values = Vec::new();
        for mon in &self.monitors {
            values.clear();
            {
                let mut ev = self.ev(m, next);
                let mut at = vec![0usize; mon.free.len()];
                for i in 0..mon.size() {
                    // The i-th combination, the last variable varying fastest.
                    let mut rest = i;
                    for (k, (_, d)) in mon.free.iter().enumerate().rev() {
                        at[k] = rest % d.len();
                        rest /= d.len();
                    }
                    for (k, (slot, d)) in mon.free.iter().enumerate() {
                        ev.env[*slot] = d[at[k]].clone();
                    }
                    let bit = self.history_base + mon.bit + i;
                    let old = prev.map(|h| h.get(bit));
                    let a = ev.node(&mon.a);
                    let v = match mon.op {
                        PastOp::Once => a || old == Some(true),
                        PastOp::Historically => a && old != Some(false),
                        PastOp::Since => {
                            let b = ev.node(mon.b.as_ref().expect("since has two operands"));
                            b || (a && old == Some(true))
                        }
                    };
                    values.push((bit, v));
                }
            }
            for &(bit, v) in &values {
                next.history.set(bit, v);
            }
        }
    }

    /// Why the formula has the value it has in `state`, in words: the values of the quantified
    /// variables that decide it and the smallest part of the formula that does ("fails for
    /// m = m1: knows(log, content(m)) holds").
    pub fn explain(&self, m: &dyn Run, state: &State) -> String {
        let mut ev = self.ev(m, state);
        let value = ev.node(&self.root);
        let mut bindings = Vec::new();
        let leaf = ev.why(&self.root, value, &mut bindings);
        let words = |span: &Span| {
            self.text[span.clone()]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut out = String::new();
        if !bindings.is_empty() {
            let _ = write!(out, "for {}: ", bindings.join(", "));
        }
        match &leaf.leads_to {
            Some((a, b)) if leaf.value => {
                let _ = write!(
                    out,
                    "the run ends, and `{}` has not held since `{}` held",
                    words(b),
                    words(a)
                );
            }
            _ => {
                let _ = write!(
                    out,
                    "`{}` is {}",
                    words(&leaf.span),
                    if leaf.value { "true" } else { "false" }
                );
            }
        }
        out
    }
}

/// The part of a formula that decided its value (for the pending obligation of a `leads-to`,
/// the spans of its two sides).
struct Leaf {
    span: Span,
    value: bool,
    leads_to: Option<(Span, Span)>,
}

impl<'a> Ev<'a> {
    fn node(&mut self, n: &Node) -> bool {
        match &n.kind {
            NodeKind::Const(v) => *v,
            NodeKind::Not(a) => !self.node(a),
            NodeKind::And(a, b) => self.node(a) && self.node(b),
            NodeKind::Or(a, b) => self.node(a) || self.node(b),
            // `ended implies not pending` (a `leads-to`): the pending bit first, so that the
            // successors are generated only in a state where an obligation is open.
            NodeKind::Implies(a, b) if matches!(a.kind, NodeKind::Ended) => {
                self.node(b) || !self.node(a)
            }
            NodeKind::Implies(a, b) => !self.node(a) || self.node(b),
            NodeKind::Quant {
                q,
                slot,
                guide: Some(g),
                body,
                ..
            } => self.guided(*q == Quant::Exists, *slot, g, body),
            NodeKind::Quant {
                q,
                slot,
                domain,
                body,
                ..
            } => self.quantify(*q == Quant::Exists, *slot, domain, body),
            NodeKind::Cmp(op, a, b) => {
                let (x, y) = (self.expr(a), self.expr(b));
                compare(*op, &x, &y)
            }
            NodeKind::Member(x, c) => {
                let v = self.expr(x);
                self.collection(*c).contains(&v)
            }
            NodeKind::Pred(p, args) => {
                // Variables and constants are passed by reference; only computed arguments
                // (a term, a field) are built.
                let built: Args = args
                    .iter()
                    .filter(|a| !matches!(a, E::Var(_) | E::Const(_)))
                    .map(|a| self.expr(a))
                    .collect();
                let mut next = built.iter();
                let vals: smallvec::SmallVec<[&Val; 4]> = args
                    .iter()
                    .map(|a| match a {
                        E::Var(i) => &self.env[*i],
                        E::Const(v) => v,
                        _ => next.next().expect("one built value per computed argument"),
                    })
                    .collect();
                self.pred(*p, &vals)
            }
            NodeKind::Past { bit, free, .. } => {
                let s: &State = self.s;
                s.history
                    .get(self.base + history_bit(*bit, free, &self.env))
            }
            NodeKind::Ended => *self.ended.get_or_insert_with(|| self.m.ended(self.s)),
        }
    }

    /// `exists` (`want` true) or `forall` (`want` false) over a domain: the first value
    /// whose body gives `want` decides. Values are bound one at a time, straight from the
    /// state's sets, without building the domain first.
    fn quantify(&mut self, want: bool, slot: usize, domain: &Domain, body: &Node) -> bool {
        let s: &'a State = self.s;
        match domain {
            Domain::Values(v) => {
                for e in v {
                    self.env[slot] = self.expr(e);
                    if self.node(body) == want {
                        return want;
                    }
                }
                !want
            }
            Domain::Coll(Coll::Log) => self.range(
                model::log(s).records.iter().cloned().map(Val::Record),
                slot,
                want,
                body,
            ),
            Domain::Coll(Coll::Answered) => self.range(
                model::directory(s)
                    .answered
                    .iter()
                    .cloned()
                    .map(Val::Record),
                slot,
                want,
                body,
            ),
            Domain::Coll(Coll::InTransit) => self.range(in_transit(s), slot, want, body),
            // Records in the log, then those on their way (a record in both is bound twice,
            // which changes no quantifier's value).
            Domain::Coll(Coll::Logged) => {
                let log = model::log(s).records.iter().cloned().map(Val::Record);
                self.range(log.chain(in_transit(s)), slot, want, body)
            }
            Domain::Coll(Coll::Disclosures) => self.range(
                model::authority(s)
                    .disclosed
                    .iter()
                    .map(|(d, r)| Val::Disclosure(*d, r.clone())),
                slot,
                want,
                body,
            ),
            Domain::Coll(Coll::Connections) => self.range(connections(s), slot, want, body),
        }
    }

    /// A quantifier with a guide: the same as [`Ev::quantify`], binding only the candidates.
    fn guided(&mut self, want: bool, slot: usize, g: &Guide, body: &Node) -> bool {
        if let Some(j) = &g.join {
            return self.joined(want, g, j, body);
        }
        let mut values = smallvec::SmallVec::<[Val; 8]>::new();
        for atom in &g.atoms {
            self.candidates(atom, &g.domain, &mut values);
        }
        for v in values {
            self.env[slot] = v;
            if self.node(body) == want {
                return want;
            }
        }
        !want
    }

    /// Adds to `out` the values of `domain` (each once) for which `atom` may hold in the
    /// state: every value for which it does.
    fn candidates(&self, atom: &GuideAtom, domain: &[Val], out: &mut smallvec::SmallVec<[Val; 8]>) {
        let mut push = |v: Val| {
            if domain.contains(&v) && !out.contains(&v) {
                out.push(v);
            }
        };
        match atom {
            GuideAtom::Is(e) => push(self.expr(e)),
            GuideAtom::Knower(t) => {
                let Val::Term(t) = self.expr(t) else { return };
                let Some(term) = t.term() else { return };
                for v in domain {
                    match v {
                        Val::Party(bits) if bits.count_ones() == 1 => {
                            if servers(*bits).any(|x| self.knowledge(x).derives(&term)) {
                                push(v.clone());
                            }
                        }
                        _ => push(v.clone()),
                    }
                }
            }
            GuideAtom::DevicesOf(e) => {
                if let Val::Account(a) = self.expr(e) {
                    for d in &self.m.scenario().account(a).devices {
                        push(Val::Device(*d));
                    }
                }
            }
            GuideAtom::Atoms {
                pred,
                party,
                servers,
                func,
            } => {
                let bits = match party.as_ref().map(|e| self.expr(e)) {
                    Some(Val::Party(bits)) => bits,
                    Some(_) => 0,
                    None => *servers,
                };
                // The atom `f(v)` for a value `v` of the domain.
                let term = |v: &Val| match (func, v) {
                    (Func::Content, Val::Message(c)) => Some(Term::Content(*c)),
                    (Func::Handle, Val::Account(a)) => Some(Term::Handle(*a)),
                    (Func::Address, Val::Address(ip)) => Some(Term::Ip(*ip)),
                    (Func::Token, Val::Device(d)) => Some(Term::Token(Token::Device(*d))),
                    _ => None,
                };
                let mut members = super::tree::servers(bits);
                if *pred == Pred::Knows && party.is_some() && (bits & SERVER_BITS).count_ones() > 1
                {
                    // A coalition derives from what its members hold together (as `knows`).
                    let Some(first) = members.next() else { return };
                    let mut all = self.knowledge(first).clone();
                    for x in members {
                        all.learn_all(self.knowledge(x).terms().cloned());
                    }
                    for v in domain {
                        if term(v).is_some_and(|t| all.holds(&t)) {
                            push(v.clone());
                        }
                    }
                } else {
                    // A single party derives an atom only by holding it.
                    for v in domain {
                        let Some(t) = term(v) else { continue };
                        if super::tree::servers(bits).any(|x| self.knowledge(x).holds(&t)) {
                            push(v.clone());
                        }
                    }
                }
            }
            GuideAtom::Device {
                pred,
                args,
                wild,
                at,
            } => {
                let fixed = self.fixed(args, wild);
                device_tuples(self.s, *pred, &fixed, &mut |t| {
                    push(t[*at].clone());
                    false
                });
            }
        }
    }

    /// The values of a device atom's arguments that are bound (`None` for a `wild` one).
    fn fixed(&self, args: &[E], wild: &[bool]) -> smallvec::SmallVec<[Option<Val>; 4]> {
        args.iter()
            .zip(wild)
            .map(|(a, w)| (!w).then(|| self.expr(a)))
            .collect()
    }

    /// A chain of quantifiers joined (see [`Join`]), `body` the first one's: binds the whole
    /// chain from each tuple of the guide's atoms that matches their bound arguments and
    /// whose values are in the domains, and evaluates the innermost body.
    fn joined(&mut self, want: bool, g: &Guide, j: &Join, body: &Node) -> bool {
        let mut inner = body;
        for _ in 1..j.vars.len() {
            let NodeKind::Quant { body, .. } = &inner.kind else {
                unreachable!("a join's quantifiers are nested directly")
            };
            inner = body;
        }
        // Each binding as its tuple is found (a binding twice changes no quantifier's value).
        let s: &'a State = self.s;
        for (atom, at) in g.atoms.iter().zip(&j.at) {
            let GuideAtom::Device {
                pred, args, wild, ..
            } = atom
            else {
                unreachable!("a join's atoms are device atoms")
            };
            let fixed = self.fixed(args, wild);
            let decided = device_tuples(s, *pred, &fixed, &mut |t| {
                if !j.vars.iter().zip(at).all(|((_, d), &p)| d.contains(&t[p])) {
                    return false;
                }
                for ((slot, _), &p) in j.vars.iter().zip(at) {
                    self.env[*slot] = t[p].clone();
                }
                self.node(inner) == want
            });
            if decided {
                return want;
            }
        }
        !want
    }

    fn range(
        &mut self,
        values: impl Iterator<Item = Val>,
        slot: usize,
        want: bool,
        body: &Node,
    ) -> bool {
        for v in values {
            self.env[slot] = v;
            if self.node(body) == want {
                return want;
            }
        }
        !want
    }

    /// The node that decided `n`'s value (`value`), recording the quantifier bindings on the
    /// way: a `forall` that is false is explained by a value that makes its body false, an
    /// `exists` that is true by a value that makes its body true.
    fn why(&mut self, n: &Node, value: bool, bindings: &mut Vec<String>) -> Leaf {
        match &n.kind {
            NodeKind::Not(a) => self.why(a, !value, bindings),
            NodeKind::And(a, b) => {
                if !value {
                    if !self.node(a) {
                        return self.why(a, false, bindings);
                    }
                    return self.why(b, false, bindings);
                }
                self.leaf(n, value)
            }
            NodeKind::Or(a, b) => {
                if value {
                    if self.node(a) {
                        return self.why(a, true, bindings);
                    }
                    return self.why(b, true, bindings);
                }
                self.leaf(n, value)
            }
            NodeKind::Implies(_, b) => {
                if !value {
                    // The premise holds and the conclusion does not: the conclusion failed.
                    return self.why(b, false, bindings);
                }
                self.leaf(n, value)
            }
            NodeKind::Quant {
                q,
                name,
                slot,
                domain,
                body,
                ..
            } => {
                let decisive = (*q == Quant::Exists) == value;
                if decisive {
                    for v in self.domain(domain) {
                        self.env[*slot] = v.clone();
                        if self.node(body) == value {
                            bindings.push(format!("{name} = {}", self.show(&v)));
                            return self.why(body, value, bindings);
                        }
                    }
                }
                self.leaf(n, value)
            }
            _ => self.leaf(n, value),
        }
    }

    fn leaf(&self, n: &Node, value: bool) -> Leaf {
        Leaf {
            span: n.span.clone(),
            value,
            leads_to: match &n.kind {
                NodeKind::Past { leads_to, .. } => leads_to.clone(),
                _ => None,
            },
        }
    }

    fn show(&self, v: &Val) -> String {
        let sc = self.m.scenario();
        match v {
            Val::Bool(b) => b.to_string(),
            Val::Account(a) => sc.handle(*a).to_string(),
            Val::Device(d) => sc.device_name(*d),
            Val::Party(bits) => {
                let mut names: Vec<String> = SERVERS
                    .iter()
                    .filter(|(_, s)| bits & (1 << *s as u64) != 0)
                    .map(|(n, _)| n.to_string())
                    .collect();
                for d in 0..sc.devices.len() {
                    if bits & (1 << (5 + d)) != 0 {
                        names.push(sc.device_name(DeviceId(d as u8)));
                    }
                }
                if names.len() == 1 {
                    names.pop().expect("one")
                } else {
                    format!("{{{}}}", names.join(", "))
                }
            }
            Val::Address(ip) => sc.ip(*ip).to_string(),
            Val::Int(n) => n.to_string(),
            Val::Message(c) => Scenario::content_name(*c),
            Val::Record(r) => crate::describe::record(sc, r),
            Val::Disclosure(day, r) => {
                format!(
                    "{} disclosed on day {}",
                    crate::describe::record(sc, r),
                    day.0
                )
            }
            Val::Connection(day, d, on) => format!(
                "{} connected from {} on day {}, disclosed on day {}",
                sc.device_name(*d),
                sc.ip(sc.device(*d).ip),
                on.0,
                day.0
            ),
            Val::Term(_) => "a term".into(),
            Val::Channel(c) => format!("{c:?}").to_lowercase(),
            Val::Answer(true) => "registered".into(),
            Val::Answer(false) => "unregistered".into(),
        }
    }

    fn domain(&mut self, d: &Domain) -> Vec<Val> {
        match d {
            Domain::Values(v) => v.iter().map(|e| self.expr(e)).collect(),
            Domain::Coll(c) => self.collection(*c),
        }
    }

    pub(crate) fn collection(&self, c: Coll) -> Vec<Val> {
        let s = self.s;
        match c {
            Coll::Log => model::log(s)
                .records
                .iter()
                .cloned()
                .map(Val::Record)
                .collect(),
            Coll::Answered => model::directory(s)
                .answered
                .iter()
                .cloned()
                .map(Val::Record)
                .collect(),
            Coll::InTransit => {
                let mut v: Vec<Val> = in_transit(s).collect();
                v.dedup();
                v
            }
            Coll::Logged => {
                let mut v = self.collection(Coll::Log);
                for r in self.collection(Coll::InTransit) {
                    if !v.contains(&r) {
                        v.push(r);
                    }
                }
                v
            }
            Coll::Disclosures => model::authority(s)
                .disclosed
                .iter()
                .map(|(d, r)| Val::Disclosure(*d, r.clone()))
                .collect(),
            Coll::Connections => connections(s).collect(),
        }
    }

    fn expr(&self, e: &E) -> Val {
        match e {
            E::Var(i) => self.env[*i].clone(),
            E::Const(v) => v.clone(),
            E::Today => Val::Int(model::today(self.s).0 as i64),
            E::Parties(items) => {
                let mut bits = 0;
                for i in items {
                    if let Val::Party(b) = self.expr(i) {
                        bits |= b;
                    }
                }
                Val::Party(bits)
            }
            E::Add(a, b) => Val::Int(int(&self.expr(a)) + int(&self.expr(b))),
            E::Sub(a, b) => Val::Int(int(&self.expr(a)) - int(&self.expr(b))),
            E::Field(x, f) => {
                let v = self.expr(x);
                let sc = self.m.scenario();
                match (v, f) {
                    (Val::Record(r), Field::Requester) => Val::Account(r.requester),
                    // Checked at compile time: only variants whose records have a target get here.
                    (Val::Record(r), Field::Target) => {
                        r.target.map_or(Val::Bool(false), Val::Account)
                    }
                    (Val::Record(r), Field::RecordDay) => Val::Int(r.day.0 as i64),
                    (Val::Record(r), Field::RecordAddress) => Val::Address(r.ip),
                    (Val::Record(r), Field::DeviceCount) => {
                        Val::Int(r.device_count.map_or(-1, i64::from))
                    }
                    (Val::Record(r), Field::Lookup) => Val::Device(r.lookup.device),
                    (Val::Disclosure(_, r), Field::DisclosedRecord) => Val::Record(r),
                    (Val::Disclosure(d, _), Field::DisclosedDay) => Val::Int(d.0 as i64),
                    (Val::Connection(_, d, _), Field::ConnectionDevice) => Val::Device(d),
                    (Val::Connection(_, d, _), Field::ConnectionAddress) => {
                        Val::Address(sc.device(d).ip)
                    }
                    (Val::Connection(day, ..), Field::ConnectionDay) => Val::Int(day.0 as i64),
                    (Val::Connection(.., on), Field::ConnectedDay) => Val::Int(on.0 as i64),
                    (Val::Device(d), Field::DeviceAccount) => Val::Account(sc.device(d).account),
                    (Val::Device(d), Field::DeviceAddress) => Val::Address(sc.device(d).ip),
                    _ => Val::Bool(false),
                }
            }
            E::Call(f, args) => {
                let vals: Args = args.iter().map(|a| self.expr(a)).collect();
                let sc = self.m.scenario();
                let atom = |t: Term| Val::Term(Pat::Atom(t));
                match (f, vals.as_slice()) {
                    (Func::Content, [Val::Message(c)]) => atom(Term::Content(*c)),
                    (Func::Handle, [Val::Account(a)]) => atom(Term::Handle(*a)),
                    (Func::Address, [Val::Address(ip)]) => atom(Term::Ip(*ip)),
                    (Func::Token, [Val::Device(d)]) => atom(Term::Token(Token::Device(*d))),
                    (Func::Pair, items) => {
                        let mut pats: Vec<Pat> = items
                            .iter()
                            .map(|v| match v {
                                Val::Term(p) => p.clone(),
                                _ => Pat::Any,
                            })
                            .collect();
                        let mut acc = pats.pop().unwrap_or(Pat::Any);
                        while let Some(p) = pats.pop() {
                            acc = Pat::Pair(Box::new(p), Box::new(acc));
                        }
                        Val::Term(acc)
                    }
                    (Func::Sender, [Val::Message(c)]) => sc
                        .sender_of(*c)
                        .map_or(Val::Bool(false), |(_, a)| Val::Account(a)),
                    (Func::Recipient, [Val::Message(c)]) => {
                        recipient(sc, *c).map_or(Val::Bool(false), Val::Account)
                    }
                    _ => Val::Bool(false),
                }
            }
        }
    }

    fn knowledge(&self, server: Server) -> &Knowledge {
        let s = self.s;
        match server {
            Server::Directory => &model::directory(s).knowledge,
            Server::Log => &model::log(s).knowledge,
            Server::Relay => &model::relay(s).knowledge,
            Server::Carrier => &model::carrier(s).knowledge,
            Server::Authority => &model::authority(s).knowledge,
        }
    }

    pub(crate) fn pred(&self, p: Pred, v: &[&Val]) -> bool {
        let s = self.s;
        let sc = self.m.scenario();
        match (p, v) {
            (Pred::Knows, [Val::Party(bits), Val::Term(t)]) => {
                let Some(term) = t.term() else { return false };
                let mut parties = servers(*bits);
                let first = parties.next();
                let rest: Vec<Server> = parties.collect();
                match first {
                    None => false,
                    Some(one) if rest.is_empty() => self.knowledge(one).derives(&term),
                    Some(one) => {
                        // A coalition derives from what its members hold together.
                        let mut all = self.knowledge(one).clone();
                        for x in rest {
                            all.learn_all(self.knowledge(x).terms().cloned());
                        }
                        all.derives(&term)
                    }
                }
            }
            (Pred::Holds, [Val::Party(bits), Val::Term(t)]) => servers(*bits).any(|x| {
                let k = self.knowledge(x);
                match t.has_wildcard() {
                    false => t.term().is_some_and(|term| k.holds(&term)),
                    true => k.terms().any(|term| t.matches(term)),
                }
            }),
            (Pred::Sent, [Val::Device(d), Val::Message(c), Val::Account(a)]) => {
                model::device(s, *d)
                    .sent
                    .iter()
                    .any(|x| x.content == *c && x.to == *a)
            }
            (
                Pred::SentVia,
                [Val::Device(d), Val::Message(c), Val::Account(a), Val::Channel(ch)],
            ) => model::device(s, *d)
                .sent
                .iter()
                .any(|x| x.content == *c && x.to == *a && x.channel == *ch),
            (Pred::Learned, [Val::Device(d), Val::Message(c)]) => {
                model::device(s, *d).learned.contains(c)
            }
            (Pred::Accepted, [Val::Device(d), Val::Account(a), Val::Message(c)]) => {
                model::device(s, *d).accepted.contains(&(*a, *c))
            }
            (Pred::Alerted, [Val::Device(d), Val::Account(a)]) => {
                model::device(s, *d).alerts.contains(a)
            }
            (Pred::Told, [Val::Device(d), Val::Account(a), Val::Answer(yes)]) => {
                let dev = model::device(s, *d);
                dev.cache
                    .get(a)
                    .into_iter()
                    .chain(dev.keys.get(a))
                    .any(|ans| matches!(ans, Answer::Devices(_)) == *yes)
            }
            (Pred::HasToken, [Val::Device(d), Val::Device(e)]) => {
                let dev = model::device(s, *d);
                dev.cache
                    .values()
                    .chain(dev.keys.values())
                    .any(|ans| match ans {
                        Answer::Devices(entries) => {
                            entries.iter().any(|x| x.token == Token::Device(*e))
                        }
                        Answer::NotRegistered => false,
                    })
            }
            (Pred::Registered, [Val::Account(a)]) => sc.account(*a).registered,
            (Pred::MaySend, [Val::Device(d), Val::Account(a)]) => {
                model::device(s, *d).sent.iter().any(|x| x.to == *a)
                    || may_still_send(self.m.scenario(), s, *d, *a)
            }
            (Pred::Shows, [Val::Record(r), Val::Account(a), Val::Account(b)]) => {
                r.requester == *a && r.target == Some(*b)
            }
            (Pred::ForMessage, [Val::Record(r)]) => r.for_message == Some(true),
            (Pred::ForSenderCheck, [Val::Record(r)]) => *r.sender_check,
            (Pred::SameQuery, [Val::Record(r), Val::Record(q)]) => {
                r.lookup.query() == q.lookup.query() && r.day == q.day
            }
            (Pred::Kept, [Val::Record(r)]) => LogState::keeps(sc, r, model::today(s)),
            (Pred::Read, [Val::Device(d), Val::Message(c)]) => {
                model::device(s, *d).read.contains(c)
            }
            (Pred::ReadReceipt, [Val::Device(d), Val::Message(c)]) => {
                model::device(s, *d).read_receipts.contains(c)
            }
            (Pred::Typing, [Val::Device(d), Val::Account(a)]) => {
                model::device(s, *d).typing.contains(a)
            }
            (Pred::Receipt, [Val::Device(d), Val::Message(c)]) => {
                model::device(s, *d).receipts.contains(c)
            }
            (Pred::Received, [Val::Record(r)]) => model::log(s).received.contains(&r.lookup),
            (Pred::Purged, [Val::Record(r)]) => {
                model::log(s).received.contains(&r.lookup)
                    && !LogState::keeps(sc, r, model::today(s))
            }
            // Before the reply, the directory answers a lookup once the log has acknowledged
            // its record, and only then: an answered record is an acknowledged one.
            (Pred::Acked, [Val::Record(r)]) => {
                sc.logging == Logging::BeforeReply && model::directory(s).answered.contains(r)
            }
            (Pred::Served, [Val::Account(a)]) => {
                model::authority(s).served.iter().any(|(_, x)| x == a)
            }
            (Pred::Crashed, [Val::Party(bits)]) => {
                bits & (1 << Server::Log as u64) != 0 && model::log_down(s)
            }
            (Pred::Restarted, [Val::Party(bits)]) => {
                bits & (1 << Server::Log as u64) != 0 && model::log(s).crashes > 0
            }
            (Pred::Logged, [Val::Record(r)]) => {
                let log = model::log(s);
                log.records.contains(r)
                    || (log.awaits(r)
                        && model::in_flight(s).any(|m| matches!(m, Msg::LogWrite(x) if x == r)))
            }
            _ => false,
        }
    }
}

/// Calls `f` on each tuple of a device predicate's relation in `s` that matches the `fixed`
/// arguments, until it returns true; whether it did.
fn device_tuples(
    s: &State,
    pred: Pred,
    fixed: &[Option<Val>],
    f: &mut dyn FnMut(&[Val]) -> bool,
) -> bool {
    let mut tuple = |t: &[Val]| {
        t.iter()
            .zip(fixed)
            .all(|(v, x)| x.as_ref().is_none_or(|x| x == v))
            && f(t)
    };
    for (id, dev) in model::devices(s) {
        let d = Val::Device(id);
        if fixed[0].as_ref().is_some_and(|x| *x != d) {
            continue;
        }
        // A set of messages the device holds, as tuples (d, m).
        let mut messages = |set: &std::collections::BTreeSet<crate::knowledge::ContentId>| {
            set.iter().any(|c| tuple(&[d.clone(), Val::Message(*c)]))
        };
        let found = match pred {
            Pred::Sent => dev
                .sent
                .iter()
                .any(|x| tuple(&[d.clone(), Val::Message(x.content), Val::Account(x.to)])),
            Pred::SentVia => dev.sent.iter().any(|x| {
                tuple(&[
                    d.clone(),
                    Val::Message(x.content),
                    Val::Account(x.to),
                    Val::Channel(x.channel),
                ])
            }),
            Pred::Learned => messages(&dev.learned),
            Pred::Accepted => dev
                .accepted
                .iter()
                .any(|(a, c)| tuple(&[d.clone(), Val::Account(*a), Val::Message(*c)])),
            Pred::Alerted => dev
                .alerts
                .iter()
                .any(|a| tuple(&[d.clone(), Val::Account(*a)])),
            Pred::Told => dev.cache.iter().chain(&dev.keys).any(|(a, ans)| {
                let yes = matches!(ans, Answer::Devices(_));
                tuple(&[d.clone(), Val::Account(*a), Val::Answer(yes)])
            }),
            Pred::Receipt => messages(&dev.receipts),
            Pred::Read => messages(&dev.read),
            Pred::ReadReceipt => messages(&dev.read_receipts),
            Pred::Typing => dev
                .typing
                .iter()
                .any(|a| tuple(&[d.clone(), Val::Account(*a)])),
            _ => false,
        };
        if found {
            return true;
        }
    }
    false
}

/// The account a message is sent to (each message belongs to one send action).
pub fn recipient(s: &Scenario, c: ContentId) -> Option<AccountId> {
    s.devices
        .iter()
        .flat_map(|d| d.actions.iter())
        .find(|a| a.kind == ActionKind::Send(c))
        .map(|a| a.target)
}

pub(crate) fn int(v: &Val) -> i64 {
    match v {
        Val::Int(n) => *n,
        _ => 0,
    }
}

pub(crate) fn compare(op: CmpOp, x: &Val, y: &Val) -> bool {
    match op {
        CmpOp::Eq => x == y,
        CmpOp::Ne => x != y,
        CmpOp::Lt => int(x) < int(y),
        CmpOp::Le => int(x) <= int(y),
        CmpOp::Gt => int(x) > int(y),
        CmpOp::Ge => int(x) >= int(y),
        CmpOp::In => false,
    }
}

/// Whether device `d` can still send to `to` in some continuation of `s`: a send action to
/// `to` has not fired and its day has not passed; or a send is queued for `to` and either a
/// lookup of `to` is still to fire (its answer releases the queue) or the lookup it waits for
/// is still alive (in flight, held by the directory, or answered on its way back).
pub fn may_still_send(sc: &Scenario, s: &State, d: DeviceId, to: AccountId) -> bool {
    let today = model::today(s);
    let queued = model::device(s, d).queued.iter().any(|(t, _)| *t == to);
    // A send still to fire, or a lookup still to fire whose answer will release a queued send.
    let unfired = model::pending_actions(s, d).any(|n| {
        let a = sc.device(d).actions[n as usize];
        a.target == to
            && (matches!(a.kind, ActionKind::Send(_)) || queued)
            && a.day.is_none_or(|day| day >= today)
    });
    if unfired {
        return true;
    }
    if !queued {
        return false;
    }
    let me = Role::Device(d);
    let held = model::directory(s)
        .held
        .iter()
        .any(|(dev, _, t, _)| *dev == d && *t == to);
    held || model::in_flight_envelopes(s).any(|(src, dst, msg)| match msg {
        Msg::Lookup(q) => src == me && q.targets().any(|t| t == to),
        Msg::LookupReply { target, .. } => dst == me && *target == to,
        _ => false,
    })
}
