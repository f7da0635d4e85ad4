//! Scenario files (`models/*.toml`, docs/design.md §8): parsed once, at the edge,
//! into typed configuration.
//!
//! [`Scenario::load`] turns a file into a [`Scenario`] or a
//! [`ScenarioError`] that names the file, the line, the column and the key.
//! Everything after this module works on typed values only: account and
//! device references are indices that are known to exist, bounds are known
//! to be positive, every expectation names a claim of the catalogue with a
//! verdict of the claim's kind.

use crate::claim::ClaimDef;
use crate::knowledge::{AccountId, ContentId, Day, DeviceId, IpId};
use crate::verdict::Verdict;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The default for `bounds.max-states`: exploration stops (and says so) past this many unique states.
pub const DEFAULT_MAX_STATES: usize = 2_000_000;
/// Bytes in a MiB, the unit of `bounds.max-memory`.
pub const MIB: usize = 1024 * 1024;

/// The default for `bounds.retention`: the 30 days of the 2016 report.
pub const DEFAULT_RETENTION: u8 = 30;

/// Protocol variants (docs/design.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// As reported in 2016: lookups logged with requester, target, day, IP and device count.
    Imessage2016,
    /// With Contact Key Verification: device keys are signed by an account key the directory never holds.
    ImessageCkv,
    /// Lookups hide the target from the directory's operator (Signal-style contact discovery):
    /// the log records requester, day and IP only.
    PrivateDiscovery,
    /// Private discovery, and relay envelopes carry no sender handle.
    SealedSender,
}

impl Variant {
    pub const ALL: [(&'static str, Variant); 4] = [
        ("imessage-2016", Variant::Imessage2016),
        ("imessage-ckv", Variant::ImessageCkv),
        ("private-discovery", Variant::PrivateDiscovery),
        ("sealed-sender", Variant::SealedSender),
    ];
    pub fn name(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
    /// The features the preset stands for.
    pub fn features(self) -> Features {
        Features {
            ckv: self == Variant::ImessageCkv,
            private_discovery: matches!(self, Variant::PrivateDiscovery | Variant::SealedSender),
            sealed_sender: self == Variant::SealedSender,
            delivery_receipts: false,
            own_device_copies: false,
        }
    }
}

/// The protocol features in effect: a variant's preset and the scenario's `features` list
/// (docs/design.md §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Features {
    /// Contact Key Verification: devices verify keys against account signatures.
    pub ckv: bool,
    /// Lookups hide their target from the directory's operator.
    pub private_discovery: bool,
    /// Relay envelopes omit the sender handle.
    pub sealed_sender: bool,
    /// A device that decrypts a message sends its sender a delivery receipt.
    pub delivery_receipts: bool,
    /// A sent message goes to the sender's other devices too, so they stay in sync.
    pub own_device_copies: bool,
}

/// Where a feature's switch is in [`Features`].
pub type FeatureSwitch = fn(&mut Features) -> &mut bool;

impl Features {
    /// Every feature a scenario can list, with its switch.
    pub const ALL: [(&'static str, FeatureSwitch); 5] = [
        ("ckv", |f| &mut f.ckv),
        ("private-discovery", |f| &mut f.private_discovery),
        ("sealed-sender", |f| &mut f.sealed_sender),
        ("delivery-receipts", |f| &mut f.delivery_receipts),
        ("own-device-copies", |f| &mut f.own_device_copies),
    ];

    /// The names of the features that are on.
    pub fn names(self) -> Vec<&'static str> {
        let mut f = self;
        Self::ALL
            .iter()
            .filter(|(_, get)| *get(&mut f))
            .map(|(n, _)| *n)
            .collect()
    }
}

/// Threat models (docs/design.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Threat {
    /// Servers follow the protocol but keep and disclose what they see.
    Honest,
    /// The directory adds a device key it controls to every answer for a registered handle.
    GhostDevice,
    /// The directory answers "not registered" for every handle, forcing the SMS downgrade.
    EmptyAnswer,
    /// The directory replaces an account's signing keys with one it holds in what it answers
    /// another account, and uses it to send that account a forged message in the first one's
    /// name (impersonation); it chooses the pair in the run.
    KeySwap,
    /// The lookup log may crash once and restart, losing the records it had not persisted.
    LogCrash,
}

impl Threat {
    pub const ALL: [(&'static str, Threat); 5] = [
        ("honest", Threat::Honest),
        ("ghost-device", Threat::GhostDevice),
        ("empty-answer", Threat::EmptyAnswer),
        ("key-swap", Threat::KeySwap),
        ("log-crash", Threat::LogCrash),
    ];
    pub fn name(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
}

/// When the directory writes the lookup record, relative to answering the requester.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Logging {
    /// The directory sends the record to the log and answers only once the log has acknowledged it.
    BeforeReply,
    /// The directory answers first and sends the record afterwards, without waiting.
    AfterReply,
}

impl Logging {
    pub const ALL: [(&'static str, Logging); 2] = [
        ("before-reply", Logging::BeforeReply),
        ("after-reply", Logging::AfterReply),
    ];
    pub fn name(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
}

/// Delivery order of the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Order {
    /// FIFO per directed channel, as IDS and APNs run over TLS over TCP.
    Ordered,
    /// Any message in flight may be delivered next.
    Unordered,
    /// Any message in flight may be delivered next, and again later (redelivery).
    Duplicating,
}

impl Order {
    pub const ALL: [(&'static str, Order); 3] = [
        ("ordered", Order::Ordered),
        ("unordered", Order::Unordered),
        ("duplicating", Order::Duplicating),
    ];
    pub fn name(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
}

/// Whether devices reuse directory answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LookupCache {
    /// A send uses a cached answer when there is one (what clients do).
    On,
    /// Every send looks the handle up afresh.
    Off,
}

/// Whether a legal preservation order is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preservation {
    /// Records are purged when their retention runs out.
    None,
    /// Records naming a handle of a legal request are preserved past retention.
    RequestedHandles,
}

/// Deliberately planted bugs: each makes a claim fail, to show the claim can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bug {
    /// The lookup log never purges records, whatever the retention window.
    LogNeverPurges,
    /// The push relay never purges its connection records.
    RelayNeverPurges,
    /// A device attaches the draft it is about to send to the lookup it makes for it, and the
    /// directory logs the request as it came.
    LookupCarriesDraft,
}

impl Bug {
    pub const ALL: [(&'static str, Bug); 3] = [
        ("log-never-purges", Bug::LogNeverPurges),
        ("relay-never-purges", Bug::RelayNeverPurges),
        ("lookup-carries-draft", Bug::LookupCarriesDraft),
    ];
    pub fn name(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
}

fn name_of<T: PartialEq + Copy>(table: &[(&'static str, T)], value: T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| *v == value)
        .map(|(n, _)| *n)
        .expect("every value is in its own table")
}

/// An account: a handle with its devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub handle: String,
    /// Whether the handle is registered for iMessage (an unregistered handle gets SMS).
    pub registered: bool,
    /// The account's devices, as global device indices.
    pub devices: Vec<DeviceId>,
    /// Whether its devices send read receipts (`read-receipts`; off by default, as on iOS).
    pub read_receipts: bool,
}

/// What a user action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionKind {
    /// Type the handle into a new conversation: the device asks the directory (about every
    /// handle of the action at once, when it lists several: a new group conversation).
    Lookup,
    /// Refresh the contacts: the device asks the directory about the action's handles in one
    /// query, with no user addressing any of them (as clients re-query the handles of the
    /// address book to keep their keys fresh).
    Refresh,
    /// Send the content to the handle, looking it up first unless the answer is cached.
    Send(ContentId),
    /// Start composing to the handle: a typing indicator to its devices, looking it up first
    /// unless the answer is cached; no message follows unless the workload sends one.
    Type,
    /// Open the conversation with the handle and read what has arrived from it: with read
    /// receipts on, a read receipt for each message read.
    Read,
}

/// One user action of a device's workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserAction {
    pub kind: ActionKind,
    pub target: AccountId,
    /// The day the user acts on; `None` for any day.
    pub day: Option<Day>,
    /// The other handles the same query asks about, a bit per account (`lookup` or `refresh`
    /// listing several handles: a batch); 0 for every other action.
    pub also: u32,
}

impl UserAction {
    /// Every handle the action's query asks about: the target, then the batch's others in
    /// account order.
    pub fn targets(&self) -> impl Iterator<Item = AccountId> + '_ {
        std::iter::once(self.target).chain(
            (0..32u8)
                .filter(|a| self.also & (1 << a) != 0)
                .map(AccountId),
        )
    }
}

/// A device and its workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub account: AccountId,
    /// 1-based number within the account (`A/1`, `A/2`).
    pub number: u8,
    /// The public IP address it looks up from, as an atom: devices behind one address share it.
    pub ip: IpId,
    pub actions: Vec<UserAction>,
}

/// Which pairs the key-swap adversary may impersonate (`[key-swap]`): `None` for any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeySwapScope {
    /// The account whose signing key is swapped (`impersonate`).
    pub impersonate: Option<AccountId>,
    /// The account the forgery is sent to (`toward`).
    pub toward: Option<AccountId>,
}

/// A court order served on the lookup log for the records of one handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LegalRequest {
    /// The handle whose records a lookup-log order asks for; for a push-token request, the
    /// account of the token's device (what the relay's registration records disclose).
    pub handle: AccountId,
    /// The day the order is served on; `None` for any day.
    pub day: Option<Day>,
    pub process: Process,
    pub records: RecordKind,
    /// A prospective (pen-register) order on the lookup log: the number of days, from the day
    /// it is served, for which each new record naming the handle goes to the authority as it
    /// is made; `None` for an order on the records stored when it is served.
    pub prospective: Option<u8>,
}

/// The legal process a request is served with (Apple's legal process guidelines, US).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Process {
    Subpoena,
    /// A court order under 18 U.S.C. § 2703(d).
    DOrder,
    Warrant,
}

impl Process {
    pub const ALL: [(&'static str, Process); 3] = [
        ("subpoena", Process::Subpoena),
        ("d-order", Process::DOrder),
        ("warrant", Process::Warrant),
    ];
    pub fn name(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
}

/// What a legal request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// The lookup log's records naming the handle (as requester or target).
    LookupLog,
    /// The push relay's registration of a device's push token: the account behind it.
    PushToken(DeviceId),
    /// The push relay's connection records for a device's token: the days it was connected,
    /// from its address, to push or to receive (kept `bounds.connection-retention` days).
    PushConnections(DeviceId),
    /// The subscriber information of the account of the handle, as Apple's identity service
    /// keeps it: the handle and the addresses its registered devices connect from (basic
    /// subscriber information and IP connection logs, which Apple's guidelines give on a
    /// subpoena).
    Subscriber,
}

/// Which legal process obtains which records: the rules in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LegalRules {
    /// As the 2016 reporting describes: lookup logs on a court order; push-token
    /// registrations on a subpoena.
    Y2016,
    /// Apple's legal process guidelines since December 2023: the account behind a push token
    /// needs a § 2703(d) order or a warrant (a subpoena no longer suffices).
    After2023,
}

impl LegalRules {
    pub const ALL: [(&'static str, LegalRules); 2] = [
        ("2016", LegalRules::Y2016),
        ("after-2023-12", LegalRules::After2023),
    ];
    pub fn name(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
    /// Whether `process` obtains `records` under these rules.
    pub fn allows(self, process: Process, records: RecordKind) -> bool {
        match (records, self) {
            (RecordKind::LookupLog, _) => process != Process::Subpoena,
            // Subscriber information and connection logs: a subpoena or greater, both before
            // and since December 2023.
            (RecordKind::Subscriber, _) => true,
            (RecordKind::PushToken(_) | RecordKind::PushConnections(_), LegalRules::Y2016) => true,
            (RecordKind::PushToken(_) | RecordKind::PushConnections(_), LegalRules::After2023) => {
                process != Process::Subpoena
            }
        }
    }
}

/// A verdict the file expects for a claim.
#[derive(Clone, Debug)]
pub struct Expectation {
    pub claim: ClaimDef,
    pub verdict: Verdict,
    /// Where its key is in `[expect]` (so reports can point at the line).
    pub at: Position,
}

/// A place in a file, both 1-based; the column counts characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// A scenario, parsed and validated.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file it was read from, as given.
    pub path: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub variant: Variant,
    pub threat: Threat,
    pub logging: Logging,
    /// Which legal process obtains which records (`legal-rules`).
    pub legal_rules: LegalRules,
    /// Whether the log keeps a lookup's `for-message` flag (`log-fields`; off by default).
    pub log_for_message: bool,
    /// Whether the log keeps that a lookup was made to check a received message's sender
    /// (`log-fields` listing `sender-check`; needs `sender-lookup = "logged"`).
    pub log_sender_check: bool,
    /// Whether a device's query for the keys of a message's sender is logged as a lookup
    /// (`sender-lookup = "logged"`; by default it is an unlogged key query).
    pub sender_lookup_logged: bool,
    pub order: Order,
    pub lossy: bool,
    pub lookup_cache: LookupCache,
    /// The features in effect: the variant's, and those the scenario lists.
    pub features: Features,
    pub preservation: Preservation,
    pub bugs: BTreeSet<Bug>,
    /// Under key-swap: which pairs the adversary may impersonate.
    pub key_swap: KeySwapScope,
    /// Days the clock runs: the clock ticks from day 0 up to day `days - 1`.
    pub days: u8,
    /// A record made on day d is purged when the day reaches d + retention.
    pub retention: u8,
    /// The same for the relay's connection records (kept only when a request asks for them).
    pub connection_retention: u8,
    pub max_depth: Option<usize>,
    pub max_states: usize,
    /// `bounds.max-memory` (given in MiB, kept in bytes): the search stops (and says so) when
    /// the process's resident memory passes it. `None`: the budget of the command (see
    /// `CheckOptions::max_memory`).
    pub max_memory: Option<usize>,
    /// Whether a verdict reached within a bound may meet an expectation of `holds` / `unreachable`.
    pub allow_bounded: bool,
    pub accounts: Vec<Account>,
    pub devices: Vec<Device>,
    /// Every address of the scenario, once each, indexed by [`IpId`].
    pub ips: Vec<String>,
    pub legal_requests: Vec<LegalRequest>,
    /// Number of contents composed (`m1` … `mN`), one per send action.
    pub contents: u8,
    /// The claims checked, in report order: the catalogue (a claim written for a catalogue id
    /// in its place), then the scenario's own and its claims files', in file order.
    pub claims: Vec<ClaimDef>,
    pub expect: Vec<Expectation>,
}

impl Scenario {
    /// Whether the relay keeps connection records: only when a request asks for them, so
    /// that scenarios without one keep their states.
    pub fn keeps_connections(&self) -> bool {
        self.legal_requests
            .iter()
            .any(|r| matches!(r.records, RecordKind::PushConnections(_)))
    }

    /// The devices a push-token or connection request names, a bit per device (as
    /// [`Self::devices_named_by_claims`]).
    pub fn devices_named_by_requests(&self) -> u64 {
        self.legal_requests
            .iter()
            .filter_map(|r| match r.records {
                RecordKind::PushToken(d) | RecordKind::PushConnections(d) if d.0 < 64 => {
                    Some(1u64 << d.0)
                }
                _ => None,
            })
            .fold(0, |a, b| a | b)
    }

    /// The devices a claim of the scenario names (`A/1`), a bit per device: symmetry
    /// reduction never exchanges such a device with another.
    pub fn devices_named_by_claims(&self) -> u64 {
        self.claims
            .iter()
            .filter_map(|c| match c {
                ClaimDef::User(u) => Some(u.formula.devices_named(self.devices.len())),
                ClaimDef::Catalogue(_) => None,
            })
            .fold(0, |a, b| a | b)
    }

    pub fn account(&self, a: AccountId) -> &Account {
        &self.accounts[a.0 as usize]
    }

    pub fn device(&self, d: DeviceId) -> &Device {
        &self.devices[d.0 as usize]
    }

    /// The address an IP atom stands for.
    pub fn ip(&self, ip: IpId) -> &str {
        &self.ips[ip.0 as usize]
    }

    pub fn handle(&self, a: AccountId) -> &str {
        &self.account(a).handle
    }

    /// `A/1`: the device's account handle and its number within the account.
    pub fn device_name(&self, d: DeviceId) -> String {
        let dev = self.device(d);
        format!("{}/{}", self.handle(dev.account), dev.number)
    }

    pub fn content_name(c: ContentId) -> String {
        if c == ContentId::FORGED {
            return "forged".into();
        }
        format!("m{}", c.0 as u16 + 1)
    }

    pub fn expectation(&self, claim_id: &str) -> Option<Verdict> {
        self.expected(claim_id).map(|e| e.verdict)
    }

    /// The expectation of a claim, with where the file states it.
    pub fn expected(&self, claim_id: &str) -> Option<&Expectation> {
        self.expect.iter().find(|e| e.claim.id() == claim_id)
    }

    /// The account whose device sent content `c` (each content belongs to exactly one send action).
    pub fn sender_of(&self, c: ContentId) -> Option<(DeviceId, AccountId)> {
        self.devices.iter().enumerate().find_map(|(i, d)| {
            d.actions
                .iter()
                .any(|a| a.kind == ActionKind::Send(c))
                .then_some((DeviceId(i as u8), d.account))
        })
    }

    /// The (victim, target) pairs the key-swap adversary may choose to impersonate: under
    /// key-swap, every registered account toward every other registered account, narrowed by
    /// the `[key-swap]` table; none under any other threat. (An account that is not registered
    /// has no signing key to swap, and one that is not registered has no device to write to.)
    pub fn impersonations(&self) -> Vec<(AccountId, AccountId)> {
        if self.threat != Threat::KeySwap {
            return Vec::new();
        }
        let registered: Vec<AccountId> = (0..self.accounts.len())
            .map(|a| AccountId(a as u8))
            .filter(|a| self.account(*a).registered)
            .collect();
        let mut pairs = Vec::new();
        for &victim in &registered {
            for &target in &registered {
                if victim != target
                    && self.key_swap.impersonate.is_none_or(|v| v == victim)
                    && self.key_swap.toward.is_none_or(|t| t == target)
                {
                    pairs.push((victim, target));
                }
            }
        }
        pairs
    }

    /// Whether `handle` is under a preservation order.
    pub fn preserved(&self, handle: AccountId) -> bool {
        self.preservation == Preservation::RequestedHandles
            && self
                .legal_requests
                .iter()
                .any(|r| r.handle == handle && r.records == RecordKind::LookupLog)
    }

    /// A one-line summary: variant, threat, network, logging, switches, bugs.
    pub fn setting(&self) -> String {
        let mut s = format!(
            "{}, {}, {}{} network, logging {}",
            self.variant.name(),
            self.threat.name(),
            if self.lossy { "lossy " } else { "" },
            self.order.name(),
            self.logging.name().replace('-', " "),
        );
        if self.lookup_cache == LookupCache::Off {
            s.push_str(", no lookup cache");
        }
        let extra: Vec<&str> = {
            let preset = self.variant.features().names();
            self.features
                .names()
                .into_iter()
                .filter(|n| !preset.contains(n))
                .collect()
        };
        if !extra.is_empty() {
            s.push_str(&format!(", with {}", extra.join(", ")));
        }
        if self.preservation == Preservation::RequestedHandles {
            s.push_str(", preservation order");
        }
        if let Some(a) = self.key_swap.impersonate {
            s.push_str(&format!(", impersonating {}", self.handle(a)));
        }
        if let Some(a) = self.key_swap.toward {
            s.push_str(&format!(", impersonating toward {}", self.handle(a)));
        }
        for b in &self.bugs {
            s.push_str(", bug ");
            s.push_str(b.name());
        }
        s
    }
}

/// Why a scenario file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    // The I/O error is part of the message, not a `source`: a source would be printed a second
    // time by anyhow's `{:#}`.
    #[error("{}: cannot read the file: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// An error inside a claim's formula: located like the others, with the formula's line
    /// quoted and the part that is wrong underlined.
    #[error("{}:{line}:{column}: {message}\n{snippet}", path.display())]
    Formula {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        snippet: String,
    },
}

impl ScenarioError {
    /// The file the error is in (a scenario or a claims file it reads) and, unless the file
    /// could not be read, the place in it.
    pub fn location(&self) -> (&Path, Option<Position>) {
        match self {
            ScenarioError::Io { path, .. } => (path, None),
            ScenarioError::Invalid {
                path, line, column, ..
            }
            | ScenarioError::Formula {
                path, line, column, ..
            } => (
                path,
                Some(Position {
                    line: *line,
                    column: *column,
                }),
            ),
        }
    }

    /// What is wrong, without the file and place in front.
    pub fn message(&self) -> String {
        match self {
            ScenarioError::Io { error, .. } => format!("cannot read the file: {error}"),
            ScenarioError::Invalid { message, .. } => message.clone(),
            ScenarioError::Formula {
                message, snippet, ..
            } => format!("{message}\n{snippet}"),
        }
    }
}

impl ScenarioError {
    /// The 1-based line the error points at, if it points into the file.
    pub fn line(&self) -> Option<usize> {
        match self {
            ScenarioError::Io { .. } => None,
            ScenarioError::Invalid { line, .. } | ScenarioError::Formula { line, .. } => {
                Some(*line)
            }
        }
    }
}
