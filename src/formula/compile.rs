//! Type-checking a claim's text against a scenario's domains: names are resolved once
//! (handles, devices, messages, addresses), sorts checked, fields the scenario's variant does
//! not record rejected, and every error located in the text ([`FormulaError`]).

use super::syntax::{self, CmpOp, Expr, PastOp, Quant, Span, Top};
use super::tree::*;
use crate::knowledge::{AccountId, ContentId, DeviceId, IpId, Term};
use crate::protocol::wire::Channel;
use crate::scenario::Scenario;

pub(crate) fn err<T>(span: &Span, message: impl Into<String>) -> Result<T, FormulaError> {
    Err(FormulaError {
        span: span.clone(),
        message: message.into(),
    })
}

/// The sorts a variable may range over with `x: sort` (finite and fixed by the scenario).
const QUANTIFIABLE: [(&str, Sort); 6] = [
    ("account", Sort::Account),
    ("device", Sort::Device),
    ("message", Sort::Message),
    ("address", Sort::Address),
    ("day", Sort::Day),
    ("party", Sort::Party),
];

struct PredInfo {
    name: &'static str,
    pred: Pred,
    args: &'static [Sort],
    doc: &'static str,
}

const PREDICATES: [PredInfo; 27] = [
    PredInfo {
        name: "knows",
        pred: Pred::Knows,
        args: &[Sort::Party, Sort::Term],
        doc: "knows(P, t): party or coalition P can derive term t",
    },
    PredInfo {
        name: "holds",
        pred: Pred::Holds,
        args: &[Sort::Party, Sort::Term],
        doc: "holds(P, t): a term P received or extracted matches t (`_` matches anything)",
    },
    PredInfo {
        name: "sent",
        pred: Pred::Sent,
        args: &[Sort::Device, Sort::Message, Sort::Account],
        doc: "sent(d, m, a): device d has sent message m to account a",
    },
    PredInfo {
        name: "sent",
        pred: Pred::SentVia,
        args: &[Sort::Device, Sort::Message, Sort::Account, Sort::Channel],
        doc: "sent(d, m, a, imessage|sms): … over that channel",
    },
    PredInfo {
        name: "learned",
        pred: Pred::Learned,
        args: &[Sort::Device, Sort::Message],
        doc: "learned(d, m): device d decrypted message m",
    },
    PredInfo {
        name: "accepted",
        pred: Pred::Accepted,
        args: &[Sort::Device, Sort::Account, Sort::Message],
        doc: "accepted(d, a, m): device d accepted message m as from account a",
    },
    PredInfo {
        name: "alerted",
        pred: Pred::Alerted,
        args: &[Sort::Device, Sort::Account],
        doc: "alerted(d, a): device d raised a key-verification alert about account a",
    },
    PredInfo {
        name: "told",
        pred: Pred::Told,
        args: &[Sort::Device, Sort::Account, Sort::Answer],
        doc: "told(d, a, registered|unregistered): device d holds that answer about a",
    },
    PredInfo {
        name: "has-token",
        pred: Pred::HasToken,
        args: &[Sort::Device, Sort::Device],
        doc: "has-token(d, e): device d holds device e's push token, from a directory answer (an answer lists each device with its token)",
    },
    PredInfo {
        name: "registered",
        pred: Pred::Registered,
        args: &[Sort::Account],
        doc: "registered(a): account a is registered for iMessage",
    },
    PredInfo {
        name: "may-send",
        pred: Pred::MaySend,
        args: &[Sort::Device, Sort::Account],
        doc: "may-send(d, a): device d has sent a message to a, or still may on some continuation",
    },
    PredInfo {
        name: "shows",
        pred: Pred::Shows,
        args: &[Sort::Record, Sort::Account, Sort::Account],
        doc: "shows(r, a, b): record r shows that a looked b up",
    },
    PredInfo {
        name: "for-message",
        pred: Pred::ForMessage,
        args: &[Sort::Record],
        doc: "for-message(r): record r says its lookup was made to send a message (the lookup's x-required-for-message flag; false unless the scenario's log-fields keeps it)",
    },
    PredInfo {
        name: "for-sender-check",
        pred: Pred::ForSenderCheck,
        args: &[Sort::Record],
        doc: "for-sender-check(r): record r says its lookup was made to check the sender of a message the requester received (false unless the scenario's log-fields keeps sender-check)",
    },
    PredInfo {
        name: "same-query",
        pred: Pred::SameQuery,
        args: &[Sort::Record, Sort::Record],
        doc: "same-query(r, q): records r and q come from one query (they bear one time stamp: a batch lookup, or r is q)",
    },
    PredInfo {
        name: "kept",
        pred: Pred::Kept,
        args: &[Sort::Record],
        doc: "kept(r): retention (or a preservation order) keeps record r today",
    },
    PredInfo {
        name: "logged",
        pred: Pred::Logged,
        args: &[Sort::Record],
        doc: "logged(r): the log holds record r, or r is on its way there",
    },
    PredInfo {
        name: "received",
        pred: Pred::Received,
        args: &[Sort::Record],
        doc: "received(r): record r has reached the log (it was written there, whatever became of it since)",
    },
    PredInfo {
        name: "purged",
        pred: Pred::Purged,
        args: &[Sort::Record],
        doc: "purged(r): record r reached the log and retention no longer keeps it",
    },
    PredInfo {
        name: "acked",
        pred: Pred::Acked,
        args: &[Sort::Record],
        doc: "acked(r): the directory has the log's acknowledgement of record r (logging before the reply only)",
    },
    PredInfo {
        name: "served",
        pred: Pred::Served,
        args: &[Sort::Account],
        doc: "served(a): a court order naming account a's handle has been answered, whatever it disclosed",
    },
    PredInfo {
        name: "crashed",
        pred: Pred::Crashed,
        args: &[Sort::Party],
        doc: "crashed(P): P (or a member of coalition P) is down; only the log crashes, under the log-crash threat",
    },
    PredInfo {
        name: "restarted",
        pred: Pred::Restarted,
        args: &[Sort::Party],
        doc: "restarted(P): P (or a member of P) has crashed and restarted at least once",
    },
    PredInfo {
        name: "receipt",
        pred: Pred::Receipt,
        args: &[Sort::Device, Sort::Message],
        doc: "receipt(d, m): device d holds a delivery receipt for message m",
    },
    PredInfo {
        name: "typing",
        pred: Pred::Typing,
        args: &[Sort::Device, Sort::Account],
        doc: "typing(d, a): device d has shown a typing indicator from account a",
    },
    PredInfo {
        name: "read",
        pred: Pred::Read,
        args: &[Sort::Device, Sort::Message],
        doc: "read(d, m): device d's user has read message m",
    },
    PredInfo {
        name: "read-receipt",
        pred: Pred::ReadReceipt,
        args: &[Sort::Device, Sort::Message],
        doc: "read-receipt(d, m): device d holds a read receipt for message m",
    },
];

const FUNCTIONS: [(&str, Func, &str); 7] = [
    (
        "content",
        Func::Content,
        "content(m): the term of message m's body",
    ),
    (
        "handle",
        Func::Handle,
        "handle(a): the term of account a's handle",
    ),
    (
        "address",
        Func::Address,
        "address(x): the term of an address, or of a device's address",
    ),
    (
        "token",
        Func::Token,
        "token(d): the term of device d's push token",
    ),
    (
        "pair",
        Func::Pair,
        "pair(t1, t2, …): the pair (right-nested for more than two)",
    ),
    (
        "sender",
        Func::Sender,
        "sender(m): the account whose device composes message m",
    ),
    (
        "recipient",
        Func::Recipient,
        "recipient(m): the account message m is sent to",
    ),
];

const COLLECTIONS: [(&str, Coll, Sort); 6] = [
    ("log", Coll::Log, Sort::Record),
    ("answered", Coll::Answered, Sort::Record),
    ("in-transit", Coll::InTransit, Sort::Record),
    ("logged", Coll::Logged, Sort::Record),
    ("disclosures", Coll::Disclosures, Sort::Disclosure),
    ("connections", Coll::Connections, Sort::Connection),
];

const FIELDS: [(Sort, &str, Field, Sort); 14] = [
    (Sort::Record, "requester", Field::Requester, Sort::Account),
    (Sort::Record, "target", Field::Target, Sort::Account),
    (Sort::Record, "day", Field::RecordDay, Sort::Day),
    (Sort::Record, "address", Field::RecordAddress, Sort::Address),
    (Sort::Record, "devices", Field::DeviceCount, Sort::Number),
    (Sort::Record, "lookup", Field::Lookup, Sort::Device),
    (
        Sort::Disclosure,
        "record",
        Field::DisclosedRecord,
        Sort::Record,
    ),
    (Sort::Disclosure, "day", Field::DisclosedDay, Sort::Day),
    (
        Sort::Connection,
        "device",
        Field::ConnectionDevice,
        Sort::Device,
    ),
    (
        Sort::Connection,
        "address",
        Field::ConnectionAddress,
        Sort::Address,
    ),
    (Sort::Connection, "day", Field::ConnectionDay, Sort::Day),
    (
        Sort::Connection,
        "connected",
        Field::ConnectedDay,
        Sort::Day,
    ),
    (Sort::Device, "account", Field::DeviceAccount, Sort::Account),
    (Sort::Device, "address", Field::DeviceAddress, Sort::Address),
];

/// The most values a formula's quantifiers may range over in one evaluation, multiplied: a
/// formula over a larger product is rejected as too large for the scenario's bounds.
pub const MAX_PRODUCT: u64 = 1 << 20;

/// Parses and type-checks a claim's formula against the scenario's domains.
pub fn compile(scenario: &Scenario, text: &str) -> Result<Formula, FormulaError> {
    let claim = syntax::parse(text)?;
    let mut cx = Checker {
        scenario,
        scope: Vec::new(),
        slots: 0,
        monitors: Vec::new(),
        leads_to: claim.top == Top::LeadsTo,
        in_past: None,
    };
    let root = cx.formula(&claim.body)?;
    let product = product(scenario, &root);
    if product > MAX_PRODUCT {
        return err(
            &claim.body.span(),
            format!(
                "this formula would evaluate up to {product} combinations of its quantified \
                 variables in every state (at most {MAX_PRODUCT}); quantify over fewer sorts"
            ),
        );
    }
    Ok(Formula {
        top: claim.top,
        root,
        text: text.to_string(),
        slots: cx.slots,
        monitors: cx.monitors,
        history_base: scenario
            .claims
            .iter()
            .filter_map(|c| c.formula())
            .map(Formula::history_bits)
            .sum(),
    })
}

/// An upper bound of the quantifier combinations of one evaluation (collections count as the
/// largest they can be: a scenario's lookups and legal requests bound them).
pub(crate) fn product(s: &Scenario, n: &Node) -> u64 {
    let lookups: u64 = s
        .devices
        .iter()
        .map(|d| d.actions.len() as u64)
        .sum::<u64>()
        + 1;
    match &n.kind {
        NodeKind::Not(a) => product(s, a),
        NodeKind::And(a, b) | NodeKind::Or(a, b) | NodeKind::Implies(a, b) => {
            product(s, a).max(product(s, b))
        }
        NodeKind::Quant { domain, body, .. } => {
            let size = match domain {
                Domain::Values(v) => v.len() as u64,
                Domain::Coll(Coll::Disclosures) => {
                    lookups * (s.legal_requests.len() as u64).max(1) * s.days as u64
                }
                // A request discloses at most one record a day of one device.
                Domain::Coll(Coll::Connections) => {
                    (s.legal_requests.len() as u64).max(1) * s.days as u64
                }
                Domain::Coll(_) => lookups,
            };
            size.max(1).saturating_mul(product(s, body))
        }
        // A past-time operator evaluates its operands once per combination of its free
        // variables' values when the history is updated.
        NodeKind::Past { a, b, .. } => product(s, a).max(b.as_ref().map_or(1, |b| product(s, b))),
        _ => 1,
    }
}

struct Checker<'s> {
    scenario: &'s Scenario,
    /// Variables in scope, innermost last: name, sort, slot, and the values it ranges over
    /// when they are fixed (a sort or a set of constants; not a collection).
    scope: Vec<(String, Sort, usize, Option<Vec<Val>>)>,
    slots: usize,
    /// The past-time operators checked so far, inner ones first.
    monitors: Vec<Monitor>,
    /// Whether a `leads-to` may stand here (at the top, under `forall`s).
    leads_to: bool,
    /// The past-time operator being checked, if any (a future-time one may not stand inside).
    in_past: Option<PastOp>,
}

/// The nearest of `known` to `name`, if near enough to be a likely typo.
pub fn nearest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(name, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3) && *d < name.len().max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

pub(crate) fn suggest(name: &str, known: Vec<String>) -> String {
    match nearest(name, known.iter().map(String::as_str)) {
        Some(k) => format!(" (did you mean `{k}`?)"),
        None => String::new(),
    }
}

impl Checker<'_> {
    fn formula(&mut self, f: &syntax::Formula) -> Result<Node, FormulaError> {
        use syntax::Formula as F;
        let span = f.span();
        let under = self.leads_to && matches!(f, F::Quant(Quant::Forall, ..));
        let leads_to = std::mem::replace(&mut self.leads_to, under);
        let node = self.formula_inner(f, span, leads_to);
        self.leads_to = leads_to;
        node
    }

    fn formula_inner(
        &mut self,
        f: &syntax::Formula,
        span: Span,
        leads_to: bool,
    ) -> Result<Node, FormulaError> {
        use syntax::Formula as F;
        let kind = match f {
            F::Const(v, _) => NodeKind::Const(*v),
            F::Not(a, _) => NodeKind::Not(Box::new(self.formula(a)?)),
            F::And(a, b, _) => {
                NodeKind::And(Box::new(self.formula(a)?), Box::new(self.formula(b)?))
            }
            F::Or(a, b, _) => NodeKind::Or(Box::new(self.formula(a)?), Box::new(self.formula(b)?)),
            F::Implies(a, b, _) => {
                NodeKind::Implies(Box::new(self.formula(a)?), Box::new(self.formula(b)?))
            }
            F::Nested(top, _, s) => {
                let name = match top {
                    Top::Always => "always",
                    Top::Sometimes => "sometimes",
                    Top::Eventually => "eventually",
                    Top::LeadsTo => "leads-to",
                };
                if let Some(op) = self.in_past {
                    return err(
                        s,
                        format!(
                            "`{name}` looks ahead along the run, and `{}` looks back: a \
                             future-time operator cannot stand inside a past-time one",
                            op.name()
                        ),
                    );
                }
                return err(
                    s,
                    format!(
                        "`{name}` is a claim's kind and stands only at the start of the formula; \
                         inside it, state what must hold in one state"
                    ),
                );
            }
            F::LeadsTo(_, _, s) if !leads_to => {
                return err(
                    s,
                    "`leads-to` is a claim's kind: `φ leads-to ψ` stands for the whole claim \
                     (under `forall`s only)",
                );
            }
            F::LeadsTo(a, b, _) => return self.leads_to(a, b, span),
            F::Past(op, a, b, _) => return self.past(*op, a, b.as_deref(), span, None),
            F::Quant(q, bindings, body, _) => return self.quantified(*q, bindings, body, span),
            F::Cmp(op, a, b, _) => self.comparison(*op, a, b, &span)?,
            F::Atom(e) => self.atom(e)?,
        };
        Ok(Node { kind, span })
    }

    /// `φ leads-to ψ`: the run may not end while ψ has not held since φ held, that is in a
    /// state where `(not ψ) since (φ and not ψ)` (the pending obligation, a past-time
    /// operator): `ended implies not pending`, checked in every state.
    fn leads_to(
        &mut self,
        a: &syntax::Formula,
        b: &syntax::Formula,
        span: Span,
    ) -> Result<Node, FormulaError> {
        let (sa, sb) = (a.span(), b.span());
        let not = |n: Node| Node {
            span: n.span.clone(),
            kind: NodeKind::Not(Box::new(n)),
        };
        let phi = self.formula(a)?;
        let psi = self.formula(b)?;
        let waiting = not(psi.clone());
        let started = Node {
            span: sa.clone(),
            kind: NodeKind::And(Box::new(phi), Box::new(not(psi))),
        };
        let pending = self.monitor(
            PastOp::Since,
            waiting,
            Some(started),
            span.clone(),
            Some((sa, sb)),
        )?;
        Ok(Node {
            kind: NodeKind::Implies(
                Box::new(Node {
                    kind: NodeKind::Ended,
                    span: span.clone(),
                }),
                Box::new(not(pending)),
            ),
            span,
        })
    }

    fn past(
        &mut self,
        op: PastOp,
        a: &syntax::Formula,
        b: Option<&syntax::Formula>,
        span: Span,
        leads_to: Option<(Span, Span)>,
    ) -> Result<Node, FormulaError> {
        let outer = self.in_past.replace(op);
        let operands = self
            .formula(a)
            .and_then(|a| Ok((a, b.map(|b| self.formula(b)).transpose()?)));
        self.in_past = outer;
        let (a, b) = operands?;
        self.monitor(op, a, b, span, leads_to)
    }

    /// A past-time operator over checked operands: its history is kept per value of the
    /// variables it uses from outside, which must range over fixed values.
    fn monitor(
        &mut self,
        op: PastOp,
        a: Node,
        b: Option<Node>,
        span: Span,
        leads_to: Option<(Span, Span)>,
    ) -> Result<Node, FormulaError> {
        let outer = self.scope.len();
        let mut used = Vec::new();
        vars_of_node(&a, &mut used);
        if let Some(b) = &b {
            vars_of_node(b, &mut used);
        }
        used.retain(|&v| v < outer);
        used.sort_unstable();
        used.dedup();
        let mut free = Vec::new();
        for slot in used {
            let (name, _, _, domain) = &self.scope[slot];
            let Some(domain) = domain else {
                return err(
                    &span,
                    format!(
                        "`{}` keeps a history per value of `{name}`, but `{name}` ranges over a \
                         collection, whose members change from state to state; quantify inside \
                         the operator instead (`once exists {name} in log. …`)",
                        op.name()
                    ),
                );
            };
            free.push((slot, domain.clone()));
        }
        let bit: usize = self.monitors.iter().map(Monitor::size).sum();
        let m = Monitor {
            op,
            a: a.clone(),
            b: b.clone(),
            bit,
            free: free.clone(),
        };
        if m.size() > MAX_HISTORY_BITS {
            return err(
                &span,
                format!(
                    "this `{}` would keep {} bits of history (one per combination of the values \
                     of its variables from outside; at most {MAX_HISTORY_BITS})",
                    op.name(),
                    m.size()
                ),
            );
        }
        self.monitors.push(m);
        Ok(Node {
            kind: NodeKind::Past {
                op,
                a: Box::new(a),
                b: b.map(Box::new),
                bit,
                free,
                leads_to,
            },
            span,
        })
    }

    fn quantified(
        &mut self,
        q: Quant,
        bindings: &[syntax::Binding],
        body: &syntax::Formula,
        span: Span,
    ) -> Result<Node, FormulaError> {
        let Some((first, rest)) = bindings.split_first() else {
            return err(&span, "a quantifier binds at least one variable");
        };
        let (domain, sort): (Domain, Sort) = match &first.range {
            syntax::Range_::Sort(name, s) => {
                let Some((_, sort)) = QUANTIFIABLE.iter().find(|(n, _)| n == name) else {
                    let known: Vec<String> =
                        QUANTIFIABLE.iter().map(|(n, _)| n.to_string()).collect();
                    let hint = if COLLECTIONS.iter().any(|(n, _, _)| n == name) {
                        format!(
                            " (`{name}` is a collection: write `{} in {name}`)",
                            first.name
                        )
                    } else {
                        suggest(name, known.clone())
                    };
                    return err(
                        s,
                        format!(
                            "`{name}` is not a sort to quantify over{hint}; the sorts are {}",
                            known.join(", ")
                        ),
                    );
                };
                (Domain::Values(self.values_of(*sort)), *sort)
            }
            syntax::Range_::In(e) => self.range_in(e)?,
        };
        if self.scope.iter().any(|(n, ..)| *n == first.name) {
            return err(
                &first.span,
                format!(
                    "`{}` is already bound by an enclosing quantifier",
                    first.name
                ),
            );
        }
        let slot = self.scope.len();
        self.slots = self.slots.max(slot + 1);
        let fixed = match &domain {
            Domain::Values(v) => v
                .iter()
                .map(|e| match e {
                    E::Const(c) => Some(c.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<Val>>>(),
            Domain::Coll(_) => None,
        };
        self.scope.push((first.name.clone(), sort, slot, fixed));
        let inner = if rest.is_empty() {
            self.formula(body)
        } else {
            self.quantified(q, rest, body, span.clone())
        };
        self.scope.pop();
        let body = inner?;
        Ok(Node {
            kind: NodeKind::Quant {
                q,
                name: first.name.clone(),
                slot,
                guide: guide(q, slot, &domain, &body),
                domain,
                body: Box::new(body),
            },
            span,
        })
    }

    /// `x in e`: a collection, or a set written out.
    fn range_in(&mut self, e: &Expr) -> Result<(Domain, Sort), FormulaError> {
        match e {
            Expr::Name(n, s) if !self.bound(n) => {
                if let Some((_, c, sort)) = COLLECTIONS.iter().find(|(name, _, _)| name == n) {
                    return Ok((Domain::Coll(*c), *sort));
                }
                let known: Vec<String> =
                    COLLECTIONS.iter().map(|(n, _, _)| n.to_string()).collect();
                err(
                    s,
                    format!(
                        "unknown collection `{n}`{}; the collections are {} (or write a set: \
                         `{{directory, relay}}`)",
                        suggest(n, known.clone()),
                        known.join(", ")
                    ),
                )
            }
            Expr::Set(items, s) => {
                let mut sort = None;
                let mut values = Vec::new();
                for it in items {
                    let (e, so) = self.expr(it, sort)?;
                    if sort.is_some_and(|x| x != so) {
                        return err(&it.span(), "every member of a set has the same sort");
                    }
                    sort = Some(so);
                    values.push(e);
                }
                let Some(sort) = sort else {
                    return err(s, "a quantifier over an empty set");
                };
                Ok((Domain::Values(values), sort))
            }
            other => err(
                &other.span(),
                "after `in`, a collection (log, answered, in-transit, disclosures) or a set `{…}`",
            ),
        }
    }

    fn values_of(&self, sort: Sort) -> Vec<E> {
        let s = self.scenario;
        let v: Vec<Val> = match sort {
            Sort::Account => (0..s.accounts.len())
                .map(|a| Val::Account(AccountId(a as u8)))
                .collect(),
            Sort::Device => (0..s.devices.len())
                .map(|d| Val::Device(DeviceId(d as u8)))
                .collect(),
            Sort::Message => (0..s.contents)
                .map(|c| Val::Message(ContentId(c)))
                .collect(),
            Sort::Address => (0..s.ips.len())
                .map(|i| Val::Address(IpId(i as u8)))
                .collect(),
            Sort::Day => (0..s.days).map(|d| Val::Int(d as i64)).collect(),
            Sort::Party => (0..5 + s.devices.len())
                .map(|b| Val::Party(1 << b))
                .collect(),
            _ => Vec::new(),
        };
        v.into_iter().map(E::Const).collect()
    }

    fn bound(&self, name: &str) -> bool {
        self.scope.iter().any(|(n, ..)| n == name)
    }

    fn comparison(
        &mut self,
        op: CmpOp,
        a: &Expr,
        b: &Expr,
        span: &Span,
    ) -> Result<NodeKind, FormulaError> {
        if op == CmpOp::In {
            if let Expr::Name(n, s) = b {
                if !self.bound(n) {
                    let Some((_, c, sort)) = COLLECTIONS.iter().find(|(name, _, _)| name == n)
                    else {
                        return err(s, format!("unknown collection `{n}`"));
                    };
                    let (x, xs) = self.expr(a, Some(*sort))?;
                    if xs != *sort {
                        return err(
                            &a.span(),
                            format!("`{n}` holds {}s, not {}s", sort.name(), xs.name()),
                        );
                    }
                    return Ok(NodeKind::Member(x, *c));
                }
            }
            let (Domain::Values(vals), sort) = self.range_in(b)? else {
                return err(&b.span(), "`in` a collection takes a record");
            };
            let (x, xs) = self.expr(a, Some(sort))?;
            if xs != sort {
                return err(
                    &a.span(),
                    format!("the set holds {}s, not {}s", sort.name(), xs.name()),
                );
            }
            // `x in {a, b}` is `x = a or x = b`.
            let mut kind = NodeKind::Const(false);
            for v in vals {
                let eq = Node {
                    kind: NodeKind::Cmp(CmpOp::Eq, x.clone(), v),
                    span: span.clone(),
                };
                kind = match kind {
                    NodeKind::Const(false) => eq.kind,
                    k => NodeKind::Or(
                        Box::new(Node {
                            kind: k,
                            span: span.clone(),
                        }),
                        Box::new(eq),
                    ),
                };
            }
            return Ok(kind);
        }
        // Type the side that says its sort first, so a literal on the other side takes it.
        let (x, xs, y, ys) = if matches!(a, Expr::Str(..) | Expr::Number(..)) {
            let (y, ys) = self.expr(b, None)?;
            let (x, xs) = self.expr(a, Some(ys))?;
            (x, xs, y, ys)
        } else {
            let (x, xs) = self.expr(a, None)?;
            let (y, ys) = self.expr(b, Some(xs))?;
            (x, xs, y, ys)
        };
        if xs != ys {
            return err(
                span,
                format!(
                    "`{}` compares a {} with a {}",
                    op.symbol(),
                    xs.name(),
                    ys.name()
                ),
            );
        }
        if matches!(op, CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge)
            && !matches!(xs, Sort::Day | Sort::Number)
        {
            return err(
                span,
                format!(
                    "`{}` orders days and numbers, not {}s",
                    op.symbol(),
                    xs.name()
                ),
            );
        }
        Ok(NodeKind::Cmp(op, x, y))
    }

    fn atom(&mut self, e: &Expr) -> Result<NodeKind, FormulaError> {
        match e {
            Expr::Call(name, ns, args, _) => {
                let candidates: Vec<&PredInfo> =
                    PREDICATES.iter().filter(|p| p.name == name).collect();
                if candidates.is_empty() {
                    if FUNCTIONS.iter().any(|(n, _, _)| n == name) {
                        return err(
                            &e.span(),
                            format!(
                                "`{name}(…)` is a value, not a formula: compare it (`=`) or pass it \
                                 to a predicate such as `knows`"
                            ),
                        );
                    }
                    let known: Vec<String> =
                        PREDICATES.iter().map(|p| p.name.to_string()).collect();
                    return err(
                        ns,
                        format!(
                            "unknown predicate `{name}`{}; the predicates are {}",
                            suggest(name, known.clone()),
                            dedup(known).join(", ")
                        ),
                    );
                }
                let Some(info) = candidates.iter().find(|p| p.args.len() == args.len()) else {
                    let docs: Vec<&str> = candidates.iter().map(|p| p.doc).collect();
                    return err(
                        &e.span(),
                        format!(
                            "`{name}` takes {} argument{} here, not {} ({})",
                            candidates
                                .iter()
                                .map(|p| p.args.len().to_string())
                                .collect::<Vec<_>>()
                                .join(" or "),
                            if candidates[0].args.len() == 1 {
                                ""
                            } else {
                                "s"
                            },
                            args.len(),
                            docs.join("; ")
                        ),
                    );
                };
                let mut out = Vec::new();
                for (arg, want) in args.iter().zip(info.args) {
                    let (x, sort) = self.expr(arg, Some(*want))?;
                    if sort != *want {
                        return err(
                            &arg.span(),
                            format!(
                                "`{name}` takes a {} here, not a {} ({})",
                                want.name(),
                                sort.name(),
                                info.doc
                            ),
                        );
                    }
                    out.push(x);
                }
                if matches!(info.pred, Pred::Knows | Pred::Holds) {
                    self.server_parties(&args[0], &out[0])?;
                }
                if info.pred == Pred::Knows {
                    if let Some(w) = wildcard_in(&args[1]) {
                        return err(
                            &w,
                            "`_` matches any term in `holds(P, …)`; `knows` asks whether P can \
                             build one exact term",
                        );
                    }
                }
                Ok(NodeKind::Pred(info.pred, out))
            }
            Expr::Name(n, s) => {
                if self.bound(n) {
                    return err(
                        s,
                        format!("`{n}` is a variable, not a formula: compare it or pass it to a predicate"),
                    );
                }
                let known: Vec<String> = PREDICATES.iter().map(|p| p.name.to_string()).collect();
                err(
                    s,
                    format!(
                        "`{n}` is not a formula{}; a formula is a predicate such as \
                         `knows(log, content(m))`, a comparison, or `true`/`false`",
                        suggest(n, known)
                    ),
                )
            }
            other => err(&other.span(), "this is a value, not a formula"),
        }
    }

    /// `knows` and `holds` read a knowledge set: only servers keep one.
    fn server_parties(&self, arg: &Expr, e: &E) -> Result<(), FormulaError> {
        let mut bits = 0u64;
        let mut stat = true;
        collect_parties(e, &mut bits, &mut stat);
        if stat && bits & !SERVER_BITS != 0 {
            return err(
                &arg.span(),
                "a device keeps no knowledge set in the model (it is an endpoint): ask what it \
                 decrypted with `learned(d, m)`, or name a server (directory, log, relay, \
                 carrier, authority)",
            );
        }
        // A variable of sort party: a device in its range holds no knowledge set, so it knows
        // and holds nothing.
        Ok(())
    }

    fn expr(&mut self, e: &Expr, want: Option<Sort>) -> Result<(E, Sort), FormulaError> {
        let s = self.scenario;
        match e {
            Expr::Number(n, sp) => {
                let sort = match want {
                    Some(Sort::Day) => {
                        if *n < 0 || *n >= s.days as i64 {
                            return err(
                                sp,
                                format!(
                                    "day {n} is outside the scenario's days (0 to {})",
                                    s.days - 1
                                ),
                            );
                        }
                        Sort::Day
                    }
                    _ => Sort::Number,
                };
                Ok((E::Const(Val::Int(*n)), sort))
            }
            Expr::Str(text, sp) => match want {
                Some(Sort::Address) => match s.ips.iter().position(|ip| ip == text) {
                    Some(i) => Ok((E::Const(Val::Address(IpId(i as u8))), Sort::Address)),
                    None => err(
                        sp,
                        format!(
                            "no device of the scenario looks up from \"{text}\"{}",
                            suggest(text, s.ips.clone())
                        ),
                    ),
                },
                _ => match s.accounts.iter().position(|a| a.handle == *text) {
                    Some(a) => Ok((E::Const(Val::Account(AccountId(a as u8))), Sort::Account)),
                    None => err(
                        sp,
                        format!(
                            "no account has the handle \"{text}\"{}",
                            suggest(text, s.accounts.iter().map(|a| a.handle.clone()).collect())
                        ),
                    ),
                },
            },
            Expr::Wildcard(_) => Ok((E::Const(Val::Term(Pat::Any)), Sort::Term)),
            Expr::Device(acc, n, sp) => {
                let (a, sort) = self.expr(acc, Some(Sort::Account))?;
                let E::Const(Val::Account(a)) = a else {
                    return err(sp, "a device is written `HANDLE/N`, as in `B/2`");
                };
                if sort != Sort::Account {
                    return err(sp, "a device is written `HANDLE/N`, as in `B/2`");
                }
                let devs = &s.account(a).devices;
                match usize::try_from(*n)
                    .ok()
                    .and_then(|k| k.checked_sub(1))
                    .and_then(|k| devs.get(k))
                {
                    Some(d) => Ok((E::Const(Val::Device(*d)), Sort::Device)),
                    None => err(
                        sp,
                        format!(
                            "`{}` has {} device{}: `{}/{n}` is not one",
                            s.handle(a),
                            devs.len(),
                            if devs.len() == 1 { "" } else { "s" },
                            s.handle(a)
                        ),
                    ),
                }
            }
            Expr::Name(n, sp) => self.name(n, sp, want),
            Expr::Set(items, _) => {
                let mut out = Vec::new();
                for it in items {
                    let (x, sort) = self.expr(it, Some(Sort::Party))?;
                    if sort != Sort::Party {
                        return err(
                            &it.span(),
                            format!(
                                "a coalition is a set of parties, and this is a {}",
                                sort.name()
                            ),
                        );
                    }
                    out.push(x);
                }
                Ok((E::Parties(out), Sort::Party))
            }
            Expr::Add(a, b, sp) | Expr::Sub(a, b, sp) => {
                let (x, xs) = self.expr(a, None)?;
                let (y, ys) = self.expr(b, Some(Sort::Number))?;
                let sort = match (xs, ys, matches!(e, Expr::Add(..))) {
                    (Sort::Number, Sort::Number, _) => Sort::Number,
                    (Sort::Day, Sort::Number, _) => Sort::Day,
                    (Sort::Day, Sort::Day, false) => Sort::Number,
                    _ => {
                        return err(
                            sp,
                            format!(
                                "arithmetic on a {} and a {}: a day plus or minus a number, or \
                                 the number of days between two days",
                                xs.name(),
                                ys.name()
                            ),
                        )
                    }
                };
                let (x, y) = (Box::new(x), Box::new(y));
                Ok((
                    if matches!(e, Expr::Add(..)) {
                        E::Add(x, y)
                    } else {
                        E::Sub(x, y)
                    },
                    sort,
                ))
            }
            Expr::Field(inner, field, sp) => {
                let (x, sort) = self.expr(inner, None)?;
                let Some((_, _, f, out)) = FIELDS
                    .iter()
                    .find(|(on, name, _, _)| *on == sort && name == field)
                else {
                    let known: Vec<String> = FIELDS
                        .iter()
                        .filter(|(on, ..)| *on == sort)
                        .map(|(_, n, ..)| n.to_string())
                        .collect();
                    if known.is_empty() {
                        return err(
                            sp,
                            format!(
                                "a {} has no fields (to end a quantifier's bindings, put a space \
                                 after the `.`)",
                                sort.name()
                            ),
                        );
                    }
                    return err(
                        sp,
                        format!(
                            "a {} has no field `{field}`{}; its fields are {}",
                            sort.name(),
                            suggest(field, known.clone()),
                            known.join(", ")
                        ),
                    );
                };
                if s.features.private_discovery && matches!(f, Field::Target | Field::DeviceCount) {
                    return err(
                        sp,
                        format!(
                            "under private discovery (variant `{}`{}) the log records no {} \
                             (the directory never sees the target); `shows(r, a, b)` is false \
                             for every record there",
                            s.variant.name(),
                            if s.variant.features().private_discovery {
                                ""
                            } else {
                                ", feature `private-discovery`"
                            },
                            if *f == Field::Target {
                                "target"
                            } else {
                                "device count"
                            }
                        ),
                    );
                }
                Ok((E::Field(Box::new(x), *f), *out))
            }
            Expr::Call(name, ns, args, sp) => {
                let Some((_, func, doc)) = FUNCTIONS.iter().find(|(n, _, _)| n == name) else {
                    if PREDICATES.iter().any(|p| p.name == name) {
                        return err(sp, format!("`{name}(…)` is a formula, not a value"));
                    }
                    let known: Vec<String> =
                        FUNCTIONS.iter().map(|(n, ..)| n.to_string()).collect();
                    return err(
                        ns,
                        format!(
                            "unknown function `{name}`{}; the functions are {}",
                            suggest(name, known.clone()),
                            known.join(", ")
                        ),
                    );
                };
                let want_args: Vec<Sort> = match func {
                    Func::Content | Func::Sender | Func::Recipient => vec![Sort::Message],
                    Func::Handle => vec![Sort::Account],
                    Func::Token => vec![Sort::Device],
                    Func::Address => vec![Sort::Address],
                    Func::Pair => vec![Sort::Term; args.len().max(2)],
                };
                if want_args.len() != args.len() {
                    return err(
                        sp,
                        format!("`{name}` takes {} argument(s): {doc}", want_args.len()),
                    );
                }
                let mut out = Vec::new();
                for (arg, want) in args.iter().zip(&want_args) {
                    let (x, sort) = self.expr(arg, Some(*want))?;
                    // `address(B/1)`: a device's address.
                    let x = if *func == Func::Address && sort == Sort::Device {
                        E::Field(Box::new(x), Field::DeviceAddress)
                    } else if sort != *want {
                        return err(
                            &arg.span(),
                            format!(
                                "`{name}` takes a {} here, not a {} ({doc})",
                                want.name(),
                                sort.name()
                            ),
                        );
                    } else {
                        x
                    };
                    out.push(x);
                }
                let sort = match func {
                    Func::Sender | Func::Recipient => Sort::Account,
                    _ => Sort::Term,
                };
                Ok((E::Call(*func, out), sort))
            }
        }
    }

    fn name(&mut self, n: &str, sp: &Span, want: Option<Sort>) -> Result<(E, Sort), FormulaError> {
        let s = self.scenario;
        if let Some((_, sort, slot, _)) = self.scope.iter().rev().find(|(x, ..)| x == n) {
            return Ok((E::Var(*slot), *sort));
        }
        if let Some((_, srv)) = SERVERS.iter().find(|(x, _)| *x == n) {
            return Ok((E::Const(Val::Party(1 << *srv as u64)), Sort::Party));
        }
        match n {
            "day" | "today" => return Ok((E::Today, Sort::Day)),
            "retention" => return Ok((E::Const(Val::Int(s.retention as i64)), Sort::Number)),
            "connection-retention" => {
                return Ok((
                    E::Const(Val::Int(s.connection_retention as i64)),
                    Sort::Number,
                ))
            }
            "imessage" => return Ok((E::Const(Val::Channel(Channel::Imessage)), Sort::Channel)),
            "sms" => return Ok((E::Const(Val::Channel(Channel::Sms)), Sort::Channel)),
            "registered" if want == Some(Sort::Answer) => {
                return Ok((E::Const(Val::Answer(true)), Sort::Answer))
            }
            "unregistered" => return Ok((E::Const(Val::Answer(false)), Sort::Answer)),
            // The read-receipt command a receipt in the clear shows the relay.
            "read" if want == Some(Sort::Term) => {
                return Ok((E::Const(Val::Term(Pat::Atom(Term::Read))), Sort::Term))
            }
            // The key-swap adversary's own message: no user composed it.
            "forged" => return Ok((E::Const(Val::Message(ContentId::FORGED)), Sort::Message)),
            _ => {}
        }
        if let Some(a) = s.accounts.iter().position(|a| a.handle == n) {
            let a = AccountId(a as u8);
            // A handle where a party is wanted is its device, if it has exactly one.
            if want == Some(Sort::Party) {
                return err(
                    sp,
                    format!("`{n}` is an account; a party is a server, a device (`{n}/1`) or a coalition"),
                );
            }
            return Ok((E::Const(Val::Account(a)), Sort::Account));
        }
        if let Some(k) = n.strip_prefix('m').and_then(|k| k.parse::<u16>().ok()) {
            if k >= 1 && k <= s.contents as u16 {
                return Ok((
                    E::Const(Val::Message(ContentId((k - 1) as u8))),
                    Sort::Message,
                ));
            }
            return err(
                sp,
                format!(
                    "the scenario composes {} message{} (m1 … m{}): `{n}` is not one",
                    s.contents,
                    if s.contents == 1 { "" } else { "s" },
                    s.contents
                ),
            );
        }
        if COLLECTIONS.iter().any(|(c, _, _)| *c == n) {
            return err(
                sp,
                format!("`{n}` is a collection: range over it (`forall r in {n}. …`) or test membership (`r in {n}`)"),
            );
        }
        let mut known: Vec<String> = self.scope.iter().map(|(x, ..)| x.clone()).collect();
        known.extend(SERVERS.iter().map(|(x, _)| x.to_string()));
        known.extend(s.accounts.iter().map(|a| a.handle.clone()));
        known.extend(
            [
                "day",
                "retention",
                "connection-retention",
                "imessage",
                "sms",
                "registered",
                "unregistered",
            ]
            .map(String::from),
        );
        let hint = suggest(n, known);
        let what = if hint.is_empty() && n.chars().next().is_some_and(|c| c.is_lowercase()) {
            " (a variable must be bound by `forall` or `exists`)"
        } else {
            ""
        };
        err(sp, format!("unknown name `{n}`{hint}{what}"))
    }
}

pub(crate) fn wildcard_in(e: &Expr) -> Option<Span> {
    match e {
        Expr::Wildcard(s) => Some(s.clone()),
        Expr::Call(_, _, args, _) => args.iter().find_map(wildcard_in),
        _ => None,
    }
}
