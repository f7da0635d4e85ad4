//! The claim language: formulas a researcher writes in a scenario or claims file, checked
//! against the scenario's finite domains and evaluated on the model's states.
//!
//! A claim is `always φ`, `sometimes φ` or `eventually φ`; `φ` is built from atoms over what
//! the parties can derive (`knows`, the Dolev–Yao synthesis of `knowledge.rs`), what they hold
//! (`holds`, a pattern over the analysed terms), the lookup log's records, disclosures, the
//! devices' sent, learned and accepted messages, with `not and or implies`, comparisons and
//! `forall`/`exists` over the scenario's finite sorts or over a state's collections. The
//! grammar is in the README ("Writing a claim").
//!
//! [`compile`] turns the text into a typed tree ([`Formula`]) or a [`FormulaError`] located in
//! the text; it knows the scenario, so names are resolved once (handles, devices, messages,
//! addresses) and fields the variant does not record are rejected. [`Formula::holds`]
//! evaluates the tree on a state; [`Formula::reads`] gives what it reads, which is what the
//! partial-order reduction may not postpone a write to (`footprints.rs`).

pub mod observe;
pub mod syntax;

use crate::knowledge::{AccountId, ContentId, Day, DeviceId, IpId, Knowledge, Term, Token};
use crate::model::{self, ProtocolModel, State};
use crate::protocol::device::Channel;
use crate::protocol::wire::{Answer, Msg, Record};
use crate::protocol::LogState;
use crate::scenario::{ActionKind, Logging, Scenario};
use std::fmt::Write as _;
use syntax::{CmpOp, Expr, PastOp, Quant, Span, Top};

/// What a formula error says and where (byte offsets into the formula text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormulaError {
    pub span: Span,
    pub message: String,
}

impl From<syntax::SyntaxError> for FormulaError {
    fn from(e: syntax::SyntaxError) -> Self {
        FormulaError {
            span: e.span,
            message: e.message,
        }
    }
}

fn err<T>(span: &Span, message: impl Into<String>) -> Result<T, FormulaError> {
    Err(FormulaError {
        span: span.clone(),
        message: message.into(),
    })
}

/// The sorts of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    Bool,
    Account,
    Device,
    /// A server party, a device, or a coalition of servers (`{directory, relay}`).
    Party,
    Address,
    Day,
    Number,
    Message,
    Record,
    Disclosure,
    Term,
    Channel,
    Answer,
}

impl Sort {
    pub fn name(self) -> &'static str {
        match self {
            Sort::Bool => "formula",
            Sort::Account => "account",
            Sort::Device => "device",
            Sort::Party => "party",
            Sort::Address => "address",
            Sort::Day => "day",
            Sort::Number => "number",
            Sort::Message => "message",
            Sort::Record => "record",
            Sort::Disclosure => "disclosure",
            Sort::Term => "term",
            Sort::Channel => "channel",
            Sort::Answer => "answer",
        }
    }
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

/// The server parties, as bits of a party set (devices follow at bit 5 + index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    Directory = 0,
    Log = 1,
    Relay = 2,
    Carrier = 3,
    Authority = 4,
}

const SERVERS: [(&str, Server); 5] = [
    ("directory", Server::Directory),
    ("log", Server::Log),
    ("relay", Server::Relay),
    ("carrier", Server::Carrier),
    ("authority", Server::Authority),
];
const SERVER_BITS: u64 = 0b11111;

/// A value of the language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    Bool(bool),
    Account(AccountId),
    Device(DeviceId),
    /// Bits 0–4 the servers, bit 5 + i device i.
    Party(u64),
    Address(IpId),
    Int(i64),
    Message(ContentId),
    Record(Record),
    Disclosure(Day, Record),
    Term(Pat),
    Channel(Channel),
    /// A device was told: `true` registered, `false` not registered.
    Answer(bool),
}

/// A term, possibly with wildcards (`_`), as `holds` matches it against what a party holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pat {
    Any,
    Atom(Term),
    Pair(Box<Pat>, Box<Pat>),
}

impl Pat {
    fn has_wildcard(&self) -> bool {
        match self {
            Pat::Any => true,
            Pat::Atom(_) => false,
            Pat::Pair(a, b) => a.has_wildcard() || b.has_wildcard(),
        }
    }
    /// The term, when there is no wildcard in it.
    fn term(&self) -> Option<Term> {
        match self {
            Pat::Any => None,
            Pat::Atom(t) => Some(t.clone()),
            Pat::Pair(a, b) => Some(Term::pair(a.term()?, b.term()?)),
        }
    }
    fn matches(&self, t: &Term) -> bool {
        match (self, t) {
            (Pat::Any, _) => true,
            (Pat::Atom(a), t) => a == t,
            (Pat::Pair(a, b), Term::Pair(x, y)) => a.matches(x) && b.matches(y),
            _ => false,
        }
    }
}

/// The atoms (predicates) of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pred {
    Knows,
    Holds,
    Sent,
    SentVia,
    Learned,
    Accepted,
    Alerted,
    Told,
    Registered,
    MaySend,
    Shows,
    Kept,
    Logged,
    Received,
    Purged,
    Acked,
    Served,
    Crashed,
    Restarted,
    Receipt,
    Typing,
    Read,
    ReadReceipt,
}

struct PredInfo {
    name: &'static str,
    pred: Pred,
    args: &'static [Sort],
    doc: &'static str,
}

const PREDICATES: [PredInfo; 23] = [
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

/// Term constructors and other functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Content,
    Handle,
    Address,
    Token,
    Pair,
    Sender,
    Recipient,
}

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

/// Collections a variable can range over with `x in C`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coll {
    /// The records the lookup log holds.
    Log,
    /// The records of the lookups the directory answered.
    Answered,
    /// The records on their way to the log (in flight, not yet received).
    InTransit,
    /// The records in the log or on their way there (`r in logged` is `logged(r)`).
    Logged,
    /// What legal requests disclosed: each record with the day it was disclosed.
    Disclosures,
}

const COLLECTIONS: [(&str, Coll, Sort); 5] = [
    ("log", Coll::Log, Sort::Record),
    ("answered", Coll::Answered, Sort::Record),
    ("in-transit", Coll::InTransit, Sort::Record),
    ("logged", Coll::Logged, Sort::Record),
    ("disclosures", Coll::Disclosures, Sort::Disclosure),
];

/// Fields of records, disclosures and devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Requester,
    Target,
    RecordDay,
    RecordAddress,
    DeviceCount,
    Lookup,
    DisclosedRecord,
    DisclosedDay,
    DeviceAccount,
    DeviceAddress,
}

const FIELDS: [(Sort, &str, Field, Sort); 10] = [
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
    (Sort::Device, "account", Field::DeviceAccount, Sort::Account),
    (Sort::Device, "address", Field::DeviceAddress, Sort::Address),
];

/// A typed expression.
#[derive(Clone, Debug)]
pub enum E {
    Var(usize),
    Const(Val),
    Today,
    Field(Box<E>, Field),
    Call(Func, Vec<E>),
    /// A coalition or a set: the union of parties, or a set of values to range over.
    Parties(Vec<E>),
    Add(Box<E>, Box<E>),
    Sub(Box<E>, Box<E>),
}

/// Where a quantified variable ranges.
#[derive(Clone, Debug)]
pub enum Domain {
    /// A fixed list of values (a sort of the scenario, or a set written out).
    Values(Vec<E>),
    Coll(Coll),
}

/// A typed formula node, with the span of the text it came from.
#[derive(Clone, Debug)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum NodeKind {
    Const(bool),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Implies(Box<Node>, Box<Node>),
    Quant {
        q: Quant,
        name: String,
        slot: usize,
        domain: Domain,
        body: Box<Node>,
    },
    Cmp(CmpOp, E, E),
    /// `x in C` for a collection.
    Member(E, Coll),
    Pred(Pred, Vec<E>),
    /// A past-time operator, its value kept in the state's history: one bit per combination of
    /// the values of its free variables (`free`: slot and domain), from bit `bit` of the
    /// formula's block. `leads_to` marks the pending obligation of `φ leads-to ψ` (the spans
    /// of φ and ψ, for explanations).
    Past {
        op: PastOp,
        a: Box<Node>,
        b: Option<Box<Node>>,
        bit: usize,
        free: Vec<(usize, Vec<Val>)>,
        leads_to: Option<(Span, Span)>,
    },
    /// The run has ended here: no step is enabled.
    Ended,
}

/// A past-time operator of a formula, in the order its history is updated (inner ones first).
#[derive(Clone, Debug)]
pub struct Monitor {
    pub op: PastOp,
    pub a: Node,
    pub b: Option<Node>,
    /// First bit of the formula's block.
    pub bit: usize,
    pub free: Vec<(usize, Vec<Val>)>,
}

impl Monitor {
    /// Bits it keeps: one per combination of its free variables' values.
    pub fn size(&self) -> usize {
        self.free.iter().map(|(_, d)| d.len()).product()
    }
}

/// The bit of a past-time operator for the values its free variables have in `env`.
fn history_bit(bit: usize, free: &[(usize, Vec<Val>)], env: &[Val]) -> usize {
    let mut index = 0;
    for (slot, domain) in free {
        let pos = domain
            .iter()
            .position(|v| *v == env[*slot])
            .expect("a free variable of a past-time operator takes a value of its domain");
        index = index * domain.len() + pos;
    }
    bit + index
}

/// The most history bits one past-time operator may keep.
pub const MAX_HISTORY_BITS: usize = 1 << 12;

/// How a claim's formula is read: its kind, its tree, and the text it was written as.
#[derive(Clone, Debug)]
pub struct Formula {
    pub top: Top,
    pub root: Node,
    pub text: String,
    /// Variables in scope at most at once (the evaluation environment's size).
    slots: usize,
    /// Its past-time operators, inner ones first.
    pub monitors: Vec<Monitor>,
    /// Where its block of history bits starts in a state's history (after the blocks of the
    /// scenario's claims before it).
    pub history_base: usize,
}

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
fn product(s: &Scenario, n: &Node) -> u64 {
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

/// The variables (slots) a node uses.
fn vars_of_node(n: &Node, out: &mut Vec<usize>) {
    match &n.kind {
        NodeKind::Const(_) | NodeKind::Ended => {}
        NodeKind::Not(a) => vars_of_node(a, out),
        NodeKind::And(a, b) | NodeKind::Or(a, b) | NodeKind::Implies(a, b) => {
            vars_of_node(a, out);
            vars_of_node(b, out);
        }
        NodeKind::Quant { domain, body, .. } => {
            if let Domain::Values(v) = domain {
                v.iter().for_each(|e| vars_of_expr(e, out));
            }
            vars_of_node(body, out);
        }
        NodeKind::Cmp(_, a, b) => {
            vars_of_expr(a, out);
            vars_of_expr(b, out);
        }
        NodeKind::Member(x, _) => vars_of_expr(x, out),
        NodeKind::Pred(_, args) => args.iter().for_each(|a| vars_of_expr(a, out)),
        NodeKind::Past { a, b, free, .. } => {
            vars_of_node(a, out);
            if let Some(b) = b {
                vars_of_node(b, out);
            }
            out.extend(free.iter().map(|(slot, _)| *slot));
        }
    }
}

fn vars_of_expr(e: &E, out: &mut Vec<usize>) {
    match e {
        E::Var(i) => out.push(*i),
        E::Const(_) | E::Today => {}
        E::Field(x, _) => vars_of_expr(x, out),
        E::Call(_, args) | E::Parties(args) => args.iter().for_each(|a| vars_of_expr(a, out)),
        E::Add(a, b) | E::Sub(a, b) => {
            vars_of_expr(a, out);
            vars_of_expr(b, out);
        }
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

fn suggest(name: &str, known: Vec<String>) -> String {
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
        Ok(Node {
            kind: NodeKind::Quant {
                q,
                name: first.name.clone(),
                slot,
                domain,
                body: Box::new(inner?),
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

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.dedup();
    v
}

fn wildcard_in(e: &Expr) -> Option<Span> {
    match e {
        Expr::Wildcard(s) => Some(s.clone()),
        Expr::Call(_, _, args, _) => args.iter().find_map(wildcard_in),
        _ => None,
    }
}

fn collect_parties(e: &E, bits: &mut u64, stat: &mut bool) {
    match e {
        E::Const(Val::Party(b)) => *bits |= b,
        E::Parties(items) => items.iter().for_each(|i| collect_parties(i, bits, stat)),
        _ => *stat = false,
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

/// What evaluation reads from: the model (for the scenario) and one state.
/// The values of a predicate's or a function's arguments (at most four), kept on the stack.
type Args = smallvec::SmallVec<[Val; 4]>;

/// The records in flight to the log that it has not received yet.
fn in_transit(s: &State) -> impl Iterator<Item = Val> + '_ {
    let log = model::log(s);
    model::in_flight(s).filter_map(move |m| match m {
        Msg::LogWrite(r) if log.awaits(r) => Some(Val::Record(r.clone())),
        _ => None,
    })
}

struct Ev<'a> {
    m: &'a ProtocolModel,
    s: &'a State,
    env: Vec<Val>,
    /// The formula's first bit in the state's history.
    base: usize,
    /// Whether the run has ended in this state, once asked (it generates every successor).
    ended: Option<bool>,
}

impl Formula {
    /// Whether the formula (without its top operator) is true in `state`.
    pub fn holds(&self, m: &ProtocolModel, state: &State) -> bool {
        let mut ev = Ev {
            m,
            s: state,
            env: vec![Val::Bool(false); self.slots],
            base: self.history_base,
            ended: None,
        };
        ev.node(&self.root)
    }

    /// Bits of history its past-time operators keep.
    pub fn history_bits(&self) -> usize {
        self.monitors.iter().map(Monitor::size).sum()
    }

    /// Whether it reads the end of a run (`leads-to`), which any step can change.
    pub fn reads_ended(&self) -> bool {
        self.top == Top::LeadsTo
    }

    /// Writes the values its past-time operators take in `next` into `next`'s history, given
    /// their values before the step (`prev`, `None` in an initial state). Inner operators are
    /// updated first, so an outer one reads their new values.
    pub fn update_history(
        &self,
        m: &ProtocolModel,
        prev: Option<&model::History>,
        next: &mut State,
    ) {
        let mut values = Vec::new();
        for mon in &self.monitors {
            values.clear();
            {
                let mut ev = Ev {
                    m,
                    s: next,
                    env: vec![Val::Bool(false); self.slots],
                    base: self.history_base,
                    ended: None,
                };
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

    pub fn kind(&self) -> crate::claims::ClaimKind {
        match self.top {
            Top::Always => crate::claims::ClaimKind::Always,
            Top::Sometimes => crate::claims::ClaimKind::Sometimes,
            Top::Eventually => crate::claims::ClaimKind::Eventually,
            Top::LeadsTo => crate::claims::ClaimKind::LeadsTo,
        }
    }

    /// Why the formula has the value it has in `state`, in words: the values of the quantified
    /// variables that decide it and the smallest part of the formula that does ("fails for
    /// m = m1: knows(log, content(m)) holds").
    pub fn explain(&self, m: &ProtocolModel, state: &State) -> String {
        let mut ev = Ev {
            m,
            s: state,
            env: vec![Val::Bool(false); self.slots],
            base: self.history_base,
            ended: None,
        };
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
        }
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
        let sc = &self.m.scenario;
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
            Val::Record(r) => crate::report::record(sc, r),
            Val::Disclosure(day, r) => {
                format!(
                    "{} disclosed on day {}",
                    crate::report::record(sc, r),
                    day.0
                )
            }
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

    fn collection(&self, c: Coll) -> Vec<Val> {
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
        }
    }

    fn expr(&self, e: &E) -> Val {
        match e {
            E::Var(i) => self.env[*i].clone(),
            E::Const(v) => v.clone(),
            E::Today => Val::Int(ProtocolModel::today(self.s).0 as i64),
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
                let sc = &self.m.scenario;
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
                    (Val::Device(d), Field::DeviceAccount) => Val::Account(sc.device(d).account),
                    (Val::Device(d), Field::DeviceAddress) => Val::Address(sc.device(d).ip),
                    _ => Val::Bool(false),
                }
            }
            E::Call(f, args) => {
                let vals: Args = args.iter().map(|a| self.expr(a)).collect();
                let sc = &self.m.scenario;
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

    fn servers(bits: u64) -> impl Iterator<Item = Server> {
        SERVERS
            .into_iter()
            .filter(move |(_, s)| bits & (1 << *s as u64) != 0)
            .map(|(_, s)| s)
    }

    fn pred(&self, p: Pred, v: &[&Val]) -> bool {
        let s = self.s;
        let sc = &self.m.scenario;
        match (p, v) {
            (Pred::Knows, [Val::Party(bits), Val::Term(t)]) => {
                let Some(term) = t.term() else { return false };
                let mut parties = Self::servers(*bits);
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
            (Pred::Holds, [Val::Party(bits), Val::Term(t)]) => Self::servers(*bits).any(|x| {
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
            (Pred::Registered, [Val::Account(a)]) => sc.account(*a).registered,
            (Pred::MaySend, [Val::Device(d), Val::Account(a)]) => {
                model::device(s, *d).sent.iter().any(|x| x.to == *a)
                    || crate::claims::may_still_send(self.m, s, *d, *a)
            }
            (Pred::Shows, [Val::Record(r), Val::Account(a), Val::Account(b)]) => {
                r.requester == *a && r.target == Some(*b)
            }
            (Pred::Kept, [Val::Record(r)]) => LogState::keeps(sc, r, ProtocolModel::today(s)),
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
                    && !LogState::keeps(sc, r, ProtocolModel::today(s))
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

/// The account a message is sent to (each message belongs to one send action).
pub fn recipient(s: &Scenario, c: ContentId) -> Option<AccountId> {
    s.devices
        .iter()
        .flat_map(|d| d.actions.iter())
        .find(|a| a.kind == ActionKind::Send(c))
        .map(|a| a.target)
}

fn int(v: &Val) -> i64 {
    match v {
        Val::Int(n) => *n,
        _ => 0,
    }
}

fn compare(op: CmpOp, x: &Val, y: &Val) -> bool {
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

// ---------------------------------------------------------------------------------------------
// Read sets.

/// A part of the state a formula can read. Each is written by the steps `footprints.rs` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// A server's knowledge set (bit = the server).
    Knowledge(Server),
    /// Devices' sent messages.
    Sent,
    /// Devices' decrypted messages.
    Learned,
    /// Devices' accepted messages.
    Accepted,
    /// Devices' alerts.
    Alerts,
    /// Devices' answers (lookup cache and verified keys).
    Answers,
    /// Whether a device has sent, or may still send, to a handle.
    MaySend,
    /// The log's records.
    LogRecords,
    /// The directory's answered lookups.
    Answered,
    /// Records on their way to the log (or in it: `logged`).
    Logged,
    /// The authority's disclosures.
    Disclosed,
    /// Records in flight to the log that it has not received (`in-transit`).
    InTransit,
    /// The day.
    Today,
    /// Whether the log is down, and whether it has restarted.
    Crashes,
    /// The records that have reached the log.
    Received,
    /// Devices' delivery receipts.
    Receipts,
    /// The typing indicators devices have shown.
    Typing,
    /// The messages devices' users have read.
    Read,
}

impl Part {
    pub fn bit(self) -> u32 {
        match self {
            Part::Knowledge(s) => 1 << s as u32,
            Part::Sent => 1 << 5,
            Part::Learned => 1 << 6,
            Part::Accepted => 1 << 7,
            Part::Alerts => 1 << 8,
            Part::Answers => 1 << 9,
            Part::MaySend => 1 << 10,
            Part::LogRecords => 1 << 11,
            Part::Answered => 1 << 12,
            Part::Logged => 1 << 13,
            Part::Disclosed => 1 << 14,
            Part::InTransit => 1 << 15,
            Part::Today => 1 << 16,
            Part::Crashes => 1 << 17,
            Part::Received => 1 << 18,
            Part::Receipts => 1 << 19,
            Part::Typing => 1 << 20,
            Part::Read => 1 << 21,
        }
    }
}

/// What a formula reads, split by the direction a change must take to change its value: a
/// part read where it only makes the formula truer as it grows (`pos`), or falser (`neg`).
/// A part is also *enumerated* when a quantifier ranges over it (`exists r in log`); a part
/// read only by membership (`logged(r)`, `r in answered`) is read at values the state
/// already holds, which an element new to the state cannot change (`Writes::fresh`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// Parts whose growth can only make the formula true (read positively).
    pub pos: u32,
    /// Parts whose growth can only make the formula false (read negatively).
    pub neg: u32,
    /// Of `pos`, the parts a quantifier ranges over.
    pub enum_pos: u32,
    /// Of `neg`, the parts a quantifier ranges over.
    pub enum_neg: u32,
}

impl Reads {
    fn add(&mut self, part: Part, positive: bool) {
        if positive {
            self.pos |= part.bit();
        } else {
            self.neg |= part.bit();
        }
    }
    fn add_enumerated(&mut self, part: Part, positive: bool) {
        self.add(part, positive);
        if positive {
            self.enum_pos |= part.bit();
        } else {
            self.enum_neg |= part.bit();
        }
    }
    /// Every part read, either way.
    pub fn all(&self) -> u32 {
        self.pos | self.neg
    }
    /// The same reads with the directions exchanged (the formula's negation).
    pub fn negated(self) -> Reads {
        Reads {
            pos: self.neg,
            neg: self.pos,
            enum_pos: self.enum_neg,
            enum_neg: self.enum_pos,
        }
    }
}

impl Formula {
    /// For `always (p implies q)`, under any number of `forall`s: the claim `sometimes exists
    /// … p` (the same variables, existentially). If no explored state satisfies it, the claim
    /// holds vacuously.
    pub fn premise(&self) -> Option<Formula> {
        if self.top != Top::Always && self.top != Top::LeadsTo {
            return None;
        }
        fn strip(n: &Node) -> Option<Node> {
            match &n.kind {
                NodeKind::Quant {
                    q: Quant::Forall,
                    name,
                    slot,
                    domain,
                    body,
                } => Some(Node {
                    kind: NodeKind::Quant {
                        q: Quant::Exists,
                        name: name.clone(),
                        slot: *slot,
                        domain: domain.clone(),
                        body: Box::new(strip(body)?),
                    },
                    span: n.span.clone(),
                }),
                // `φ leads-to ψ`: `ended implies not ((not ψ) since (φ and not ψ))`; its
                // premise is φ.
                NodeKind::Implies(e, p) if matches!(e.kind, NodeKind::Ended) => {
                    let NodeKind::Not(p) = &p.kind else {
                        return None;
                    };
                    let NodeKind::Past {
                        b: Some(started), ..
                    } = &p.kind
                    else {
                        return None;
                    };
                    let NodeKind::And(phi, _) = &started.kind else {
                        return None;
                    };
                    Some((**phi).clone())
                }
                NodeKind::Implies(p, _) => Some((**p).clone()),
                _ => None,
            }
        }
        Some(Formula {
            top: Top::Sometimes,
            root: strip(&self.root)?,
            text: self.text.clone(),
            slots: self.slots,
            monitors: self.monitors.clone(),
            history_base: self.history_base,
        })
    }

    /// The text of the premise (for `always (p implies q)`: `p`).
    pub fn premise_text(&self) -> Option<&str> {
        let mut n = &self.root;
        loop {
            match &n.kind {
                NodeKind::Quant {
                    q: Quant::Forall,
                    body,
                    ..
                } => n = body,
                NodeKind::Implies(e, p) if matches!(e.kind, NodeKind::Ended) => {
                    let NodeKind::Not(p) = &p.kind else {
                        return None;
                    };
                    let NodeKind::Past {
                        leads_to: Some((a, _)),
                        ..
                    } = &p.kind
                    else {
                        return None;
                    };
                    return Some(self.text[a.clone()].trim());
                }
                NodeKind::Implies(p, _) => return Some(self.text[p.span.clone()].trim()),
                _ => return None,
            }
        }
    }

    /// The devices the formula names (as constants, `A/1`, or in a coalition or a set), as a
    /// bit per device. A quantifier over every device names none: it cannot tell devices
    /// apart, which is what symmetry reduction needs (`symmetry.rs`).
    pub fn devices_named(&self, devices: usize) -> u64 {
        let all = if devices >= 64 {
            u64::MAX
        } else {
            (1u64 << devices) - 1
        };
        fn expr(e: &E, out: &mut u64) {
            match e {
                E::Const(Val::Device(d)) => *out |= 1 << d.0,
                E::Const(Val::Party(bits)) => *out |= bits >> 5,
                E::Const(_) | E::Var(_) | E::Today => {}
                E::Field(x, _) => expr(x, out),
                E::Call(_, args) | E::Parties(args) => args.iter().for_each(|a| expr(a, out)),
                E::Add(a, b) | E::Sub(a, b) => {
                    expr(a, out);
                    expr(b, out);
                }
            }
        }
        fn node(n: &Node, all: u64, out: &mut u64) {
            match &n.kind {
                NodeKind::Const(_) => {}
                NodeKind::Not(a) => node(a, all, out),
                NodeKind::And(a, b) | NodeKind::Or(a, b) | NodeKind::Implies(a, b) => {
                    node(a, all, out);
                    node(b, all, out);
                }
                NodeKind::Quant { domain, body, .. } => {
                    if let Domain::Values(v) = domain {
                        let mut named = 0;
                        v.iter().for_each(|e| expr(e, &mut named));
                        // Every device at once (the sort `device`, or `party`) names none.
                        if named & all != all {
                            *out |= named;
                        }
                    }
                    node(body, all, out);
                }
                NodeKind::Cmp(_, a, b) => {
                    expr(a, out);
                    expr(b, out);
                }
                NodeKind::Member(x, _) => expr(x, out),
                NodeKind::Pred(_, args) => args.iter().for_each(|a| expr(a, out)),
                NodeKind::Past { a, b, free, .. } => {
                    // A history kept per device (or party) would have to be renamed with the
                    // devices: every device keeps its own identity instead.
                    if free.iter().any(|(_, d)| {
                        d.iter()
                            .any(|v| matches!(v, Val::Device(_) | Val::Party(_)))
                    }) {
                        *out |= all;
                    }
                    node(a, all, out);
                    if let Some(b) = b {
                        node(b, all, out);
                    }
                }
                NodeKind::Ended => {}
            }
        }
        let mut out = 0;
        node(&self.root, all, &mut out);
        out & all
    }

    /// What the formula (without its top operator) reads, by direction.
    pub fn reads(&self) -> Reads {
        let mut r = Reads::default();
        reads_node(&self.root, true, &mut r);
        r
    }
}

fn reads_node(n: &Node, pos: bool, r: &mut Reads) {
    match &n.kind {
        NodeKind::Const(_) => {}
        NodeKind::Not(a) => reads_node(a, !pos, r),
        NodeKind::And(a, b) | NodeKind::Or(a, b) => {
            reads_node(a, pos, r);
            reads_node(b, pos, r);
        }
        NodeKind::Implies(a, b) => {
            reads_node(a, !pos, r);
            reads_node(b, pos, r);
        }
        NodeKind::Quant {
            q, domain, body, ..
        } => {
            if let Domain::Coll(c) = domain {
                // `exists x in C` grows with C; `forall x in C` shrinks.
                for p in coll_parts(*c) {
                    r.add_enumerated(p, pos == (*q == Quant::Exists));
                }
            }
            if let Domain::Values(v) = domain {
                v.iter().for_each(|e| reads_expr(e, r));
            }
            reads_node(body, pos, r);
        }
        NodeKind::Cmp(_, a, b) => {
            // A comparison of values read from the state reads them both ways.
            let mut inner = Reads::default();
            reads_expr(a, &mut inner);
            reads_expr(b, &mut inner);
            r.pos |= inner.all();
            r.neg |= inner.all();
        }
        NodeKind::Member(x, c) => {
            let mut inner = Reads::default();
            reads_expr(x, &mut inner);
            r.pos |= inner.all();
            r.neg |= inner.all();
            for p in coll_parts(*c) {
                r.add(p, pos);
            }
        }
        NodeKind::Pred(p, args) => {
            let mut inner = Reads::default();
            args.iter().for_each(|a| reads_expr(a, &mut inner));
            r.pos |= inner.all();
            r.neg |= inner.all();
            let parts: Vec<Part> = match p {
                Pred::Knows | Pred::Holds => {
                    let mut bits = 0;
                    let mut stat = true;
                    collect_parties(&args[0], &mut bits, &mut stat);
                    if !stat {
                        bits = SERVER_BITS; // A variable may stand for any server.
                    }
                    Ev::servers(bits).map(Part::Knowledge).collect()
                }
                Pred::Sent | Pred::SentVia => vec![Part::Sent],
                Pred::Learned => vec![Part::Learned],
                Pred::Accepted => vec![Part::Accepted],
                Pred::Alerted => vec![Part::Alerts],
                // Answers can be replaced by fresher ones: read both ways.
                Pred::Told => {
                    r.add(Part::Answers, !pos);
                    vec![Part::Answers]
                }
                Pred::Registered => vec![],
                Pred::MaySend => vec![Part::MaySend],
                Pred::Shows => vec![],
                Pred::Kept => vec![Part::Today],
                Pred::Logged => vec![Part::Logged],
                Pred::Received => vec![Part::Received],
                Pred::Receipt => vec![Part::Receipts],
                Pred::Typing => vec![Part::Typing],
                Pred::Read => vec![Part::Read],
                Pred::ReadReceipt => vec![Part::Receipts],
                Pred::Acked => vec![Part::Answered],
                Pred::Purged => vec![Part::Received, Part::Today],
                Pred::Served => vec![Part::Disclosed],
                // A crash and a restart each change both atoms: read both ways.
                Pred::Crashed | Pred::Restarted => {
                    r.add(Part::Crashes, !pos);
                    vec![Part::Crashes]
                }
            };
            for part in parts {
                r.add(part, pos);
            }
        }
        NodeKind::Past { a, b, .. } => {
            // A past-time operator's value changes only when a step changes its operands
            // (it is insensitive to steps that change nothing it reads); any such change,
            // either way, may change it either way.
            let mut inner = Reads::default();
            for positive in [true, false] {
                reads_node(a, positive, &mut inner);
                if let Some(b) = b {
                    reads_node(b, positive, &mut inner);
                }
            }
            r.pos |= inner.all();
            r.neg |= inner.all();
            r.enum_pos |= inner.enum_pos | inner.enum_neg;
            r.enum_neg |= inner.enum_pos | inner.enum_neg;
        }
        // Whether the run ends depends on every part; a state where it has ended has no step
        // that could change it (`Formula::reads_ended` makes the search evaluate it always).
        NodeKind::Ended => {}
    }
}

fn reads_expr(e: &E, r: &mut Reads) {
    match e {
        E::Today => {
            r.pos |= Part::Today.bit();
            r.neg |= Part::Today.bit();
        }
        E::Field(x, _) => reads_expr(x, r),
        E::Call(_, args) | E::Parties(args) => args.iter().for_each(|a| reads_expr(a, r)),
        E::Add(a, b) | E::Sub(a, b) => {
            reads_expr(a, r);
            reads_expr(b, r);
        }
        E::Var(_) | E::Const(_) => {}
    }
}

fn coll_parts(c: Coll) -> Vec<Part> {
    match c {
        Coll::Log => vec![Part::LogRecords],
        Coll::Answered => vec![Part::Answered],
        Coll::InTransit => vec![Part::InTransit],
        Coll::Logged => vec![Part::Logged],
        Coll::Disclosures => vec![Part::Disclosed],
    }
}
