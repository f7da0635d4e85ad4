//! What a claim of a scenario is: one of the catalogue (an id, a kind, the sentence it
//! states and its source; its condition is a function of `claims.rs`) or one written in the
//! claim language (a typed formula, `formula/tree.rs`). Scenarios hold their claims as these;
//! nothing here reads a state.

use crate::formula::tree::{undoes, Formula, Reads, Writes};
use crate::verdict::{verdict_of, ClaimKind, Verdict};
use stateright::Expectation;
use std::collections::BTreeSet;
use std::sync::Arc;

/// One claim of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct Claim {
    pub id: &'static str,
    pub kind: ClaimKind,
    pub statement: &'static str,
    pub source: &'static str,
    /// Its place in [`CATALOGUE`].
    pub position: usize,
}

impl PartialEq for Claim {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Claim {}

impl Claim {
    pub fn expectation(&self) -> Expectation {
        match self.kind {
            ClaimKind::Always | ClaimKind::LeadsTo => Expectation::Always,
            ClaimKind::Sometimes => Expectation::Sometimes,
            ClaimKind::Eventually => Expectation::Eventually,
        }
    }

    /// The verdict when a discovery was (or was not) found.
    pub fn verdict(&self, discovered: bool) -> Verdict {
        verdict_of(self.kind, discovered)
    }
}

pub fn find(id: &str) -> Option<&'static Claim> {
    CATALOGUE.iter().find(|c| c.id == id)
}

/// A catalogue entry, placed by [`numbered`].
const fn claim(
    id: &'static str,
    kind: ClaimKind,
    statement: &'static str,
    source: &'static str,
) -> Claim {
    Claim {
        id,
        kind,
        statement,
        source,
        position: 0,
    }
}

/// The entries with their positions.
const fn numbered<const N: usize>(mut claims: [Claim; N]) -> [Claim; N] {
    let mut i = 0;
    while i < N {
        claims[i].position = i;
        i += 1;
    }
    claims
}

const FAQ: &str =
    "Apple's 2016 law-enforcement FAQ on iMessage lookup logs (made public by The Intercept)";
const GUIDE: &str =
    "Apple Platform Security guide: iMessage, and Contact Key Verification (iOS 17.2)";
const GHOST: &str = "Levy and Robinson, 'Principles for a More Informed Exceptional Access Debate' (Lawfare, 2018): the ghost-user proposal";
const SIGNAL: &str = "Signal's private contact discovery (2017) and sealed sender (2018) designs";
const CARRIER: &str = "Apple Platform Security guide: SMS fallback is not end-to-end encrypted";

/// The catalogue, in the order reports list it: what each claim says and where it comes from
/// (its condition is in `claims.rs`).
pub static CATALOGUE: [Claim; 16] = numbered([
    claim(
        "content-never-in-lookup-log",
        ClaimKind::Always,
        "No lookup-log record lets its holder derive any message content.",
        FAQ,
    ),
    claim(
        "no-server-learns-content",
        ClaimKind::Always,
        "The directory, the lookup log, the relay and the authority never derive message content.",
        GUIDE,
    ),
    claim(
        "ghost-device-detected",
        ClaimKind::Always,
        "Whenever content sent over iMessage is derived by anyone but the sender's and the recipient's own devices, a device of the sender's account has raised an alert about the recipient.",
        GHOST,
    ),
    claim(
        "content-authentic",
        ClaimKind::Always,
        "A device accepts content as from A only if a device of A produced it.",
        GUIDE,
    ),
    claim(
        "sms-fallback-exposes-content",
        ClaimKind::Sometimes,
        "The carrier can hold a message's plaintext.",
        CARRIER,
    ),
    claim(
        "no-downgrade-to-sms",
        ClaimKind::Always,
        "Content sent to a handle registered for iMessage never travels by SMS.",
        GUIDE,
    ),
    claim(
        "lookup-always-logged",
        ClaimKind::Always,
        "Every lookup the directory answered has its record (requester, target, day, IP, device count) in the log or on its way there, until retention purges it.",
        FAQ,
    ),
    claim(
        "lookup-logged-without-message",
        ClaimKind::Sometimes,
        "The log shows that A looked up B although A has not sent B a message and has no send to B left to make.",
        FAQ,
    ),
    claim(
        "message-without-logged-lookup",
        ClaimKind::Sometimes,
        "A has sent B a message while the log holds no record of A looking B up.",
        FAQ,
    ),
    claim(
        "retention-respected",
        ClaimKind::Always,
        "No record older than the retention window is ever disclosed.",
        FAQ,
    ),
    claim(
        "authority-learns-contact",
        ClaimKind::Sometimes,
        "A legal request discloses that one handle looked up another.",
        FAQ,
    ),
    claim(
        "authority-links-handle-to-ip",
        ClaimKind::Sometimes,
        "A legal request discloses a (handle, IP address) pair.",
        FAQ,
    ),
    claim(
        "registration-oracle",
        ClaimKind::Sometimes,
        "A requester learns, truthfully, whether a handle is registered for iMessage.",
        FAQ,
    ),
    claim(
        "relay-learns-contact",
        ClaimKind::Sometimes,
        "The push relay can derive who sent a message to whom.",
        SIGNAL,
    ),
    claim(
        "operator-learns-contact",
        ClaimKind::Sometimes,
        "The operator (what the directory and the relay know, together) can derive that one account sent a message to another.",
        SIGNAL,
    ),
    claim(
        "message-eventually-delivered",
        ClaimKind::Eventually,
        "On every run that ends, every message of the workload is sent and reaches every device of its target, or the carrier.",
        GUIDE,
    ),
]);

/// A claim written in the claim language (`formula/`), in a scenario's `[[claim]]` table, a
/// claims file or on the command line.
#[derive(Debug)]
pub struct UserClaim {
    pub id: String,
    pub statement: String,
    pub source: Option<String>,
    /// The file (or `--claim`) it was written in, for reports.
    pub origin: String,
    pub formula: Formula,
    /// What the formula reads, by the direction a change must take to undo a discovery.
    pub discovery_reads: Reads,
    /// For `always (p implies q)` (under any `forall`s): `sometimes exists … p`, checked beside
    /// the claim (a property of its own, so the reduction keeps it too); when it is
    /// unreachable the claim holds vacuously.
    pub premise: Option<(Formula, Reads)>,
    name: &'static str,
}

impl UserClaim {
    pub fn new(
        id: String,
        statement: String,
        source: Option<String>,
        origin: String,
        formula: Formula,
    ) -> Self {
        let reads = formula.reads();
        let discovery_reads = match formula.kind() {
            ClaimKind::Always | ClaimKind::LeadsTo => reads.negated(),
            ClaimKind::Sometimes | ClaimKind::Eventually => reads,
        };
        let premise = formula.premise().map(|p| {
            let r = p.reads();
            (p, r)
        });
        let name = static_name(&id);
        UserClaim {
            id,
            statement,
            source,
            origin,
            formula,
            discovery_reads,
            premise,
            name,
        }
    }

    /// Whether `step` can undo a discovery: it writes a part the discovery condition reads in
    /// the direction that can make it false (or is a global step). `writes` are the step's
    /// declared writes (`footprints.rs`), which the tests check on every edge of full graphs.
    pub fn undone_by(&self, writes: Option<Writes>) -> bool {
        undoes(self.discovery_reads, writes)
    }
}

/// A claim of a scenario: one of the catalogue, or one written in the claim language.
#[derive(Clone, Debug)]
pub enum ClaimDef {
    Catalogue(&'static Claim),
    User(Arc<UserClaim>),
}

impl ClaimDef {
    pub fn id(&self) -> &str {
        match self {
            ClaimDef::Catalogue(c) => c.id,
            ClaimDef::User(u) => &u.id,
        }
    }
    pub fn kind(&self) -> ClaimKind {
        match self {
            ClaimDef::Catalogue(c) => c.kind,
            ClaimDef::User(u) => u.formula.kind(),
        }
    }
    pub fn statement(&self) -> &str {
        match self {
            ClaimDef::Catalogue(c) => c.statement,
            ClaimDef::User(u) => &u.statement,
        }
    }
    pub fn source(&self) -> Option<&str> {
        match self {
            ClaimDef::Catalogue(c) => Some(c.source),
            ClaimDef::User(u) => u.source.as_deref(),
        }
    }
    /// The formula, for a claim written in the language.
    pub fn formula(&self) -> Option<&Formula> {
        match self {
            ClaimDef::Catalogue(_) => None,
            ClaimDef::User(u) => Some(&u.formula),
        }
    }
    /// The verdict when a discovery was (or was not) found.
    pub fn verdict(&self, discovered: bool) -> Verdict {
        verdict_of(self.kind(), discovered)
    }
    /// The name of its stateright property.
    pub fn name(&self) -> &'static str {
        match self {
            ClaimDef::Catalogue(c) => c.id,
            ClaimDef::User(u) => u.name,
        }
    }
}

/// Property names live as long as the program (stateright's properties name themselves with a
/// `&'static str`): each distinct claim id is stored once, however many scenarios use it.
pub fn static_name(id: &str) -> &'static str {
    static NAMES: std::sync::Mutex<BTreeSet<&'static str>> = std::sync::Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.get(id) {
        return n;
    }
    let n: &'static str = Box::leak(id.to_string().into_boxed_str());
    names.insert(n);
    n
}

/// The most claims one scenario may have: the catalogue and up to 48 of its own (each
/// claim is a stateright property, whose condition is a plain function: one per position).
pub const MAX_CLAIMS: usize = 64;
