//! The typed tree of a claim's formula, as [`compile`](super::compile) makes it from the text:
//! sorts, values, atoms, expressions and nodes; what a formula reads ([`Formula::reads`]), the
//! parts of the state it can read ([`Part`]) and what a step may write of them ([`Writes`]).
//! It reads no state: evaluation is in [`eval`](super::eval).

use super::syntax::{self, CmpOp, PastOp, Quant, Span, Top};
use crate::knowledge::{AccountId, ContentId, Day, DeviceId, IpId, Term};
use crate::protocol::wire::{Channel, Record};
use crate::verdict::ClaimKind;

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
    /// A connection record of the relay's, disclosed to the authority.
    Connection,
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
            Sort::Connection => "connection",
            Sort::Term => "term",
            Sort::Channel => "channel",
            Sort::Answer => "answer",
        }
    }
}

/// The server parties, as bits of a party set (devices follow at bit 5 + index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    Directory = 0,
    Log = 1,
    Relay = 2,
    Carrier = 3,
    Authority = 4,
}

pub(crate) const SERVERS: [(&str, Server); 5] = [
    ("directory", Server::Directory),
    ("log", Server::Log),
    ("relay", Server::Relay),
    ("carrier", Server::Carrier),
    ("authority", Server::Authority),
];
pub(crate) const SERVER_BITS: u64 = 0b11111;

/// The servers of a party set.
pub(crate) fn servers(bits: u64) -> impl Iterator<Item = Server> {
    SERVERS
        .into_iter()
        .filter(move |(_, s)| bits & (1 << *s as u64) != 0)
        .map(|(_, s)| s)
}

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
    /// A connection record disclosed: the day disclosed, the device, the day it was connected.
    Connection(Day, DeviceId, Day),
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
    pub(crate) fn has_wildcard(&self) -> bool {
        match self {
            Pat::Any => true,
            Pat::Atom(_) => false,
            Pat::Pair(a, b) => a.has_wildcard() || b.has_wildcard(),
        }
    }
    /// The term, when there is no wildcard in it.
    pub(crate) fn term(&self) -> Option<Term> {
        match self {
            Pat::Any => None,
            Pat::Atom(t) => Some(t.clone()),
            Pat::Pair(a, b) => Some(Term::pair(a.term()?, b.term()?)),
        }
    }
    pub(crate) fn matches(&self, t: &Term) -> bool {
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
    HasToken,
    Registered,
    MaySend,
    Shows,
    ForMessage,
    ForSenderCheck,
    SameQuery,
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
    /// The relay's connection records legal requests disclosed.
    Connections,
}

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
    ConnectionDevice,
    ConnectionAddress,
    ConnectionDay,
    ConnectedDay,
    DeviceAccount,
    DeviceAddress,
}

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
        /// Where evaluation draws the variable's values from, when its body says (see [`Guide`]).
        guide: Option<Box<Guide>>,
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

/// Where a quantifier can draw its variable's values from instead of its whole domain (found by
/// [`guide`] when the formula is checked): atoms of its body such that, for every value that
/// decides the quantifier (one that makes an `exists`'s body true, a `forall`'s body false), one
/// of them holds. Evaluation binds only the values these atoms can hold for in the state (the
/// candidates, read from the state's sets as the catalogue's conditions read them); every other
/// value gives the body the quantifier's neutral value, so the quantifier's value is the same.
#[derive(Clone, Debug)]
pub struct Guide {
    pub(crate) atoms: Vec<GuideAtom>,
    /// The quantifier's domain (fixed values): a candidate outside it is not bound.
    pub(crate) domain: Vec<Val>,
    /// When the quantifier heads a chain of quantifiers of its kind that every atom names:
    /// the values of the whole chain are bound at once, from the atoms' tuples.
    pub(crate) join: Option<Join>,
}

/// A chain of directly nested quantifiers of one kind over fixed domains (`exists d: device,
/// m: message, b: account. φ`), each of whose variables every atom of the first one's guide
/// (all [`GuideAtom::Device`]) names as a plain argument. For every binding of the chain that
/// decides it, one atom holds, so one of its relation's tuples carries the whole binding:
/// evaluation binds the chain from each matching tuple (in the domains) and evaluates the
/// innermost body once per tuple, instead of drawing each variable's candidates in turn.
#[derive(Clone, Debug)]
pub struct Join {
    /// The chain's variables, outermost first: slot and domain.
    pub(crate) vars: Vec<(usize, Vec<Val>)>,
    /// Per atom of the guide, the argument each variable of the chain is read from.
    pub(crate) at: Vec<Vec<usize>>,
}

/// An atom of a [`Guide`], with the quantified variable in it.
#[derive(Clone, Debug)]
pub(crate) enum GuideAtom {
    /// A predicate over a device's own sets (`sent`, `learned`, `accepted`, …), the variable as
    /// argument `at`; a `wild` argument names a variable not bound yet, and matches anything.
    Device {
        pred: Pred,
        args: Vec<E>,
        wild: Vec<bool>,
        at: usize,
    },
    /// `knows(x, t)`: the single servers that derive `t` (any other party is a candidate).
    Knower(E),
    /// `x = e`: the value of `e`.
    Is(E),
    /// `x.account = e`: the devices of that account.
    DevicesOf(E),
    /// `knows(P, f(x))` or `holds(P, f(x))`, `f` a constructor of an atom (`content`, `handle`,
    /// `address`, `token`): the values whose atom P holds. `party` is `None` when P is a
    /// variable bound inside, ranging over single servers (`servers`, as bits).
    Atoms {
        pred: Pred,
        party: Option<E>,
        servers: u64,
        func: Func,
    },
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
pub(crate) fn history_bit(bit: usize, free: &[(usize, Vec<Val>)], env: &[Val]) -> usize {
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
    pub(crate) slots: usize,
    /// Its past-time operators, inner ones first.
    pub monitors: Vec<Monitor>,
    /// Where its block of history bits starts in a state's history (after the blocks of the
    /// scenario's claims before it).
    pub history_base: usize,
}

pub(crate) fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.dedup();
    v
}

pub(crate) fn collect_parties(e: &E, bits: &mut u64, stat: &mut bool) {
    match e {
        E::Const(Val::Party(b)) => *bits |= b,
        E::Parties(items) => items.iter().for_each(|i| collect_parties(i, bits, stat)),
        _ => *stat = false,
    }
}

impl Formula {
    /// Bits of history its past-time operators keep.
    pub fn history_bits(&self) -> usize {
        self.monitors.iter().map(Monitor::size).sum()
    }

    /// Whether it reads the end of a run (`leads-to`), which any step can change.
    pub fn reads_ended(&self) -> bool {
        self.top == Top::LeadsTo
    }

    /// The claim kind its top operator gives.
    pub fn kind(&self) -> ClaimKind {
        match self.top {
            Top::Always => ClaimKind::Always,
            Top::Sometimes => ClaimKind::Sometimes,
            Top::Eventually => ClaimKind::Eventually,
            Top::LeadsTo => ClaimKind::LeadsTo,
        }
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
                    ..
                } => {
                    let body = strip(body)?;
                    Some(Node {
                        kind: NodeKind::Quant {
                            q: Quant::Exists,
                            name: name.clone(),
                            slot: *slot,
                            // The body is another: so may its guide be.
                            guide: guide(Quant::Exists, *slot, domain, &body),
                            domain: domain.clone(),
                            body: Box::new(body),
                        },
                        span: n.span.clone(),
                    })
                }
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

pub(crate) fn reads_node(n: &Node, pos: bool, r: &mut Reads) {
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
                    servers(bits).map(Part::Knowledge).collect()
                }
                Pred::Sent | Pred::SentVia => vec![Part::Sent],
                Pred::Learned => vec![Part::Learned],
                Pred::Accepted => vec![Part::Accepted],
                Pred::Alerted => vec![Part::Alerts],
                // Answers can be replaced by fresher ones: read both ways.
                Pred::Told | Pred::HasToken => {
                    r.add(Part::Answers, !pos);
                    vec![Part::Answers]
                }
                Pred::Registered => vec![],
                Pred::MaySend => vec![Part::MaySend],
                Pred::Shows | Pred::ForMessage | Pred::ForSenderCheck | Pred::SameQuery => vec![],
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

pub(crate) fn reads_expr(e: &E, r: &mut Reads) {
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

pub(crate) fn coll_parts(c: Coll) -> Vec<Part> {
    match c {
        Coll::Log => vec![Part::LogRecords],
        Coll::Answered => vec![Part::Answered],
        Coll::InTransit => vec![Part::InTransit],
        Coll::Logged => vec![Part::Logged],
        Coll::Disclosures | Coll::Connections => vec![Part::Disclosed],
    }
}

/// Whether a step with `writes` (`None`: a global step) can undo a discovery whose condition
/// reads `reads`.
pub fn undoes(reads: Reads, writes: Option<Writes>) -> bool {
    match writes {
        None => true,
        Some(w) => {
            reads.pos & w.shrink != 0
                || reads.neg & w.grow & !w.fresh != 0
                || reads.enum_neg & w.grow != 0
        }
    }
}

/// What one step may change in the parts formulas read: parts that may grow, parts that may
/// shrink (a part that may change either way is in both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Writes {
    pub grow: u32,
    pub shrink: u32,
    /// Of `grow`, the parts that grow only by records new to the state: in none of its
    /// record collections before the step. Such a growth changes no membership a formula can
    /// test in the state before (its records all come from those collections), only what a
    /// quantifier over the part ranges over.
    pub fresh: u32,
}

/// The variables (slots) a node uses.
pub(crate) fn vars_of_node(n: &Node, out: &mut Vec<usize>) {
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

pub(crate) fn vars_of_expr(e: &E, out: &mut Vec<usize>) {
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

/// The [`Guide`] of a quantifier `q` of variable `slot` over `domain` (fixed values only), if
/// its body has one.
pub(crate) fn guide(q: Quant, slot: usize, domain: &Domain, body: &Node) -> Option<Box<Guide>> {
    let Domain::Values(v) = domain else {
        return None;
    };
    let domain = v
        .iter()
        .map(|e| match e {
            E::Const(c) => Some(c.clone()),
            _ => None,
        })
        .collect::<Option<Vec<Val>>>()?;
    let atoms = guide_atoms(body, q == Quant::Exists, slot, &mut Vec::new())?;
    let join = join(q, (slot, &domain), body, &atoms);
    Some(Box::new(Guide {
        atoms,
        domain,
        join,
    }))
}

/// The [`Join`] of a guided quantifier (its slot and fixed domain first), if the quantifiers
/// directly under it make one: the longest chain of quantifiers of its kind over fixed domains
/// whose variables each atom names as a plain argument, if it has two variables or more.
fn join(q: Quant, first: (usize, &[Val]), body: &Node, atoms: &[GuideAtom]) -> Option<Join> {
    let args: Vec<&[E]> = atoms
        .iter()
        .map(|a| match a {
            GuideAtom::Device { args, .. } => Some(args.as_slice()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let position = |slot: usize| -> Option<Vec<usize>> {
        args.iter()
            .map(|a| a.iter().position(|e| matches!(e, E::Var(i) if *i == slot)))
            .collect()
    };
    let mut vars = vec![(first.0, first.1.to_vec())];
    let mut at = vec![position(first.0)?];
    let mut n = body;
    while let NodeKind::Quant {
        q: inner,
        slot,
        domain: Domain::Values(values),
        body,
        ..
    } = &n.kind
    {
        let fixed = values
            .iter()
            .map(|e| match e {
                E::Const(c) => Some(c.clone()),
                _ => None,
            })
            .collect::<Option<Vec<Val>>>();
        let (Some(fixed), Some(p), true) = (fixed, position(*slot), *inner == q) else {
            break;
        };
        vars.push((*slot, fixed));
        at.push(p);
        n = body;
    }
    if vars.len() < 2 {
        return None;
    }
    // Per atom, the position of each variable.
    let at = (0..atoms.len())
        .map(|k| at.iter().map(|p| p[k]).collect())
        .collect();
    Some(Join { vars, at })
}

/// Atoms of `n` naming variable `slot`, one of which holds whenever `n` has the value `want`.
/// Variables with higher slots are bound inside (by the quantifiers of `inner` on the way, of
/// the same kind, so that `exists x. exists y. p(x, y)` needs `p(x, _)`).
fn guide_atoms<'n>(
    n: &'n Node,
    want: bool,
    slot: usize,
    inner: &mut Vec<(usize, &'n Domain)>,
) -> Option<Vec<GuideAtom>> {
    // The operands' values that give `want`: both of them (`conj`), or either.
    let (a, wa, b, wb, conj) = match &n.kind {
        NodeKind::Not(a) => return guide_atoms(a, !want, slot, inner),
        NodeKind::And(a, b) => (a, want, b, want, want),
        NodeKind::Or(a, b) => (a, want, b, want, !want),
        NodeKind::Implies(a, b) => (a, !want, b, want, !want),
        NodeKind::Quant {
            q,
            slot: s,
            domain,
            body,
            ..
        } if (*q == Quant::Exists) == want => {
            inner.push((*s, domain));
            let atoms = guide_atoms(body, want, slot, inner);
            inner.pop();
            return atoms;
        }
        NodeKind::Pred(p, args) if want => {
            return guide_pred(*p, args, slot, inner).map(|a| vec![a]);
        }
        NodeKind::Cmp(CmpOp::Eq, x, y) if want => {
            return guide_eq(x, y, slot)
                .or_else(|| guide_eq(y, x, slot))
                .map(|a| vec![a]);
        }
        _ => return None,
    };
    if conj {
        // Both operands have their values: the atoms of either will do.
        guide_atoms(a, wa, slot, inner).or_else(|| guide_atoms(b, wb, slot, inner))
    } else {
        // One of them has: the atoms of both.
        let mut atoms = guide_atoms(a, wa, slot, inner)?;
        atoms.extend(guide_atoms(b, wb, slot, inner)?);
        Some(atoms)
    }
}

/// Whether `e` names variable `slot` or one bound inside it (it has no value yet).
fn names_unbound(e: &E, slot: usize) -> bool {
    let mut vars = Vec::new();
    vars_of_expr(e, &mut vars);
    vars.iter().any(|&i| i >= slot)
}

/// A predicate as an atom of a guide.
fn guide_pred(p: Pred, args: &[E], slot: usize, inner: &[(usize, &Domain)]) -> Option<GuideAtom> {
    match p {
        Pred::Sent
        | Pred::SentVia
        | Pred::Learned
        | Pred::Accepted
        | Pred::Alerted
        | Pred::Told
        | Pred::Receipt
        | Pred::Typing
        | Pred::Read
        | Pred::ReadReceipt => Some(GuideAtom::Device {
            pred: p,
            at: args
                .iter()
                .position(|a| matches!(a, E::Var(i) if *i == slot))?,
            wild: args.iter().map(|a| names_unbound(a, slot)).collect(),
            args: args.to_vec(),
        }),
        Pred::Knows if matches!(args[0], E::Var(i) if i == slot) => {
            (!names_unbound(&args[1], slot)).then(|| GuideAtom::Knower(args[1].clone()))
        }
        Pred::Knows | Pred::Holds => {
            let E::Call(func @ (Func::Content | Func::Handle | Func::Address | Func::Token), x) =
                &args[1]
            else {
                return None;
            };
            if !matches!(x.as_slice(), [E::Var(i)] if *i == slot) {
                return None;
            }
            if !names_unbound(&args[0], slot) {
                return Some(GuideAtom::Atoms {
                    pred: p,
                    party: Some(args[0].clone()),
                    servers: 0,
                    func: *func,
                });
            }
            // A party bound inside: over single parties only (a coalition derives more).
            let E::Var(i) = &args[0] else { return None };
            let (_, Domain::Values(parties)) = inner.iter().rev().find(|(s, _)| s == i)? else {
                return None;
            };
            let mut servers = 0;
            for v in parties {
                match v {
                    E::Const(Val::Party(bits)) if bits.count_ones() == 1 => servers |= bits,
                    _ => return None,
                }
            }
            Some(GuideAtom::Atoms {
                pred: p,
                party: None,
                servers: servers & SERVER_BITS,
                func: *func,
            })
        }
        _ => None,
    }
}

/// `x = e` as an atom of a guide, `x` the variable or its account.
fn guide_eq(x: &E, e: &E, slot: usize) -> Option<GuideAtom> {
    if names_unbound(e, slot) {
        return None;
    }
    match x {
        E::Var(i) if *i == slot => Some(GuideAtom::Is(e.clone())),
        E::Field(v, Field::DeviceAccount) if matches!(**v, E::Var(i) if i == slot) => {
            Some(GuideAtom::DevicesOf(e.clone()))
        }
        _ => None,
    }
}

impl Formula {
    /// The lengths of its joined chains of quantifiers (see [`Join`]), outermost first: the
    /// tests check that the catalogue's chains are joined.
    #[doc(hidden)]
    pub fn joins(&self) -> Vec<usize> {
        fn walk(n: &Node, out: &mut Vec<usize>) {
            match &n.kind {
                NodeKind::Const(_) | NodeKind::Cmp(..) | NodeKind::Member(..) => {}
                NodeKind::Pred(..) | NodeKind::Ended => {}
                NodeKind::Not(a) => walk(a, out),
                NodeKind::And(a, b) | NodeKind::Or(a, b) | NodeKind::Implies(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                NodeKind::Quant { guide, body, .. } => {
                    if let Some(j) = guide.as_ref().and_then(|g| g.join.as_ref()) {
                        out.push(j.vars.len());
                        // The chain's inner quantifiers are bound by the join.
                        let mut inner: &Node = body;
                        for _ in 1..j.vars.len() {
                            if let NodeKind::Quant { body, .. } = &inner.kind {
                                inner = body;
                            }
                        }
                        walk(inner, out);
                    } else {
                        walk(body, out);
                    }
                }
                NodeKind::Past { a, b, .. } => {
                    walk(a, out);
                    b.iter().for_each(|b| walk(b, out));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }

    /// The formula with no quantifier guided (see [`Guide`]): each binds every value of its
    /// domain. The tests compare the two evaluations.
    #[doc(hidden)]
    pub fn unguided(&self) -> Formula {
        fn clear(n: &mut Node) {
            match &mut n.kind {
                NodeKind::Const(_) | NodeKind::Cmp(..) | NodeKind::Member(..) => {}
                NodeKind::Pred(..) | NodeKind::Ended => {}
                NodeKind::Not(a) => clear(a),
                NodeKind::And(a, b) | NodeKind::Or(a, b) | NodeKind::Implies(a, b) => {
                    clear(a);
                    clear(b);
                }
                NodeKind::Quant { guide, body, .. } => {
                    *guide = None;
                    clear(body);
                }
                NodeKind::Past { a, b, .. } => {
                    clear(a);
                    b.iter_mut().for_each(|b| clear(b));
                }
            }
        }
        let mut f = self.clone();
        clear(&mut f.root);
        for mon in &mut f.monitors {
            clear(&mut mon.a);
            mon.b.iter_mut().for_each(clear);
        }
        f
    }
}
