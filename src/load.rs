//! Reading a scenario file: the TOML layer (deserialise with spans), then validation into a
//! [`Scenario`] with errors located at the offending key, and its claims' formulas compiled
//! against it (`formula/compile.rs`). Claims files and `--claim` formulas are added here too.
//! The scenario's types (`scenario/`) know nothing of reading or compiling.

use crate::claim::{ClaimDef, UserClaim, CATALOGUE, MAX_CLAIMS};
use crate::formula::{self, FormulaError};
use crate::knowledge::{AccountId, ContentId, Day, DeviceId, IpId};
use crate::scenario::*;
use crate::verdict::verdicts_for;
use crate::verdict::{ClaimKind, Verdict};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawScenario {
    name: Spanned<String>,
    description: Option<Spanned<String>>,
    variant: Spanned<String>,
    threat: Option<Spanned<String>>,
    logging: Option<Spanned<String>>,
    log_fields: Option<Spanned<Vec<Spanned<String>>>>,
    sender_lookup: Option<Spanned<String>>,
    legal_rules: Option<Spanned<String>>,
    #[serde(default)]
    bugs: Vec<Spanned<String>>,
    lookup_cache: Option<bool>,
    #[serde(default)]
    features: Vec<Spanned<String>>,
    preservation_order: Option<Spanned<bool>>,
    network: Option<RawNetwork>,
    bounds: Option<RawBounds>,
    key_swap: Option<Spanned<RawKeySwap>>,
    #[serde(rename = "account", default)]
    accounts: Vec<Spanned<RawAccount>>,
    #[serde(rename = "action", default)]
    actions: Vec<Spanned<RawAction>>,
    #[serde(rename = "legal-request", default)]
    legal_requests: Vec<Spanned<RawLegalRequest>>,
    #[serde(default)]
    expect: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Claims files whose claims this scenario checks too, relative to the scenario's folder.
    #[serde(default)]
    claims: Vec<Spanned<String>>,
    #[serde(rename = "claim", default)]
    claim_tables: Vec<Spanned<RawClaim>>,
}

/// A `[[claim]]` table: a claim written in the claim language.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawClaim {
    id: Spanned<String>,
    statement: Spanned<String>,
    source: Option<Spanned<String>>,
    check: Spanned<String>,
}

/// A claims file: `[[claim]]` tables only, shared by scenarios (`claims = [...]`, `--claims`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawClaimsFile {
    #[serde(rename = "claim", default)]
    claim_tables: Vec<Spanned<RawClaim>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawNetwork {
    order: Option<Spanned<String>>,
    lossy: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawBounds {
    days: Option<Spanned<i64>>,
    retention: Option<Spanned<i64>>,
    connection_retention: Option<Spanned<i64>>,
    max_depth: Option<Spanned<i64>>,
    max_states: Option<Spanned<i64>>,
    max_memory: Option<Spanned<i64>>,
    allow_bounded: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawKeySwap {
    impersonate: Option<Spanned<String>>,
    toward: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawAccount {
    handle: Spanned<String>,
    devices: Option<Spanned<i64>>,
    ip: Option<Spanned<RawIp>>,
    registered: Option<bool>,
    read_receipts: Option<bool>,
}

/// A key that takes one string or a list: `ip` (one address for every device of the account,
/// or one per device), `lookup` and `refresh` (one handle, or several asked about in one query).
enum OneOrList<T> {
    One(String),
    List(Vec<T>),
}

/// What a [`OneOrList`] key's values are, for the error when the value is neither.
trait Expected {
    const EXPECTED: &'static str;
}

/// `ip`.
type RawIp = OneOrList<String>;

impl Expected for String {
    const EXPECTED: &'static str = "an IP address, or a list with one address per device";
}

/// `lookup`, `refresh`: each handle with where it is written.
type RawHandles = OneOrList<Spanned<String>>;

impl Expected for Spanned<String> {
    const EXPECTED: &'static str = "a handle, or a list of handles to look up in one query";
}

impl RawHandles {
    /// Each handle with where it is written (a lone handle is where the whole value is).
    fn each(value: &Spanned<RawHandles>) -> Vec<Spanned<String>> {
        match value.get_ref() {
            OneOrList::One(h) => vec![Spanned::new(value.span(), h.clone())],
            OneOrList::List(list) => list.clone(),
        }
    }
}

impl<'de, T: Deserialize<'de> + Expected> Deserialize<'de> for OneOrList<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Expected> serde::de::Visitor<'de> for V<T> {
            type Value = OneOrList<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(T::EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrList<T>, E> {
                Ok(OneOrList::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrList<T>, A::Error> {
                let mut list = Vec::new();
                while let Some(x) = seq.next_element::<T>()? {
                    list.push(x);
                }
                Ok(OneOrList::List(list))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawAction {
    by: Spanned<String>,
    lookup: Option<Spanned<RawHandles>>,
    refresh: Option<Spanned<RawHandles>>,
    send: Option<Spanned<String>>,
    #[serde(rename = "type")]
    typing: Option<Spanned<String>>,
    read: Option<Spanned<String>>,
    day: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLegalRequest {
    handle: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
    process: Option<Spanned<String>>,
    records: Option<Spanned<String>>,
    day: Option<Spanned<i64>>,
    prospective: Option<Spanned<i64>>,
}

/// Builds located errors for one file.
struct Locator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    /// An error at `span`. The message may quote a value from the file: it is shown escaped,
    /// on one line.
    /// The line and column (1-based, in characters) of byte `offset`.
    fn position(&self, offset: usize) -> Position {
        let mut start = offset.min(self.text.len());
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Position { line, column }
    }

    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        let Position { line, column } = self.position(span.start);
        ScenarioError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            message: crate::escape::line(&message.into()),
        }
    }

    /// The key whose value starts at `offset`, with its table (`account.devices`), when the
    /// value is on the key's line (`key = value`).
    fn key_at(&self, offset: usize) -> Option<String> {
        let before = self.text.get(..offset)?;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let (key, _) = before[line_start..].split_once('=')?;
        let key = key.trim().trim_matches('"');
        if key.is_empty() || key.contains(['[', '{', ',']) {
            return None;
        }
        let table = before[..line_start].lines().rev().find_map(|l| {
            let l = l.trim_start();
            l.starts_with('[').then(|| {
                l.split(']')
                    .next()
                    .unwrap_or("")
                    .trim_start_matches('[')
                    .trim()
            })
        });
        Some(match table {
            Some(t) if !t.is_empty() => format!("{t}.{key}"),
            _ => key.to_string(),
        })
    }

    /// Where the top-level table starts: its first key, or the first table header when it has
    /// none (the file has parsed, so the first line that is neither blank nor a comment is one
    /// of the two).
    fn top_level(&self) -> Range<usize> {
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            let trimmed = line.trim_start();
            if !trimmed.is_empty() && !trimmed.starts_with('#') {
                let start = offset + (line.len() - trimmed.len());
                return start..start;
            }
            offset += line.len();
        }
        0..0
    }

    /// A key that a table lacks, located at the table: its header (`[[account]]`), the brace of
    /// an inline table, or the top level of the file when `span` is `None`.
    fn missing_key(&self, span: Option<Range<usize>>, key: &str) -> ScenarioError {
        let key = key.trim_matches('`');
        match span {
            Some(span)
                if self
                    .text
                    .get(span.start..)
                    .is_some_and(|t| t.starts_with(['[', '{'])) =>
            {
                let table = self.text[span.start..]
                    .lines()
                    .next()
                    .filter(|l| l.starts_with('['))
                    .map_or_else(
                        || "this table".to_string(),
                        |l| format!("this `{}`", l.split('#').next().unwrap_or(l).trim()),
                    );
                self.error(span, format!("missing key `{key}`: {table} must set it"))
            }
            _ => self.error(
                self.top_level(),
                format!(
                    "missing key `{key}`: the top level of the file (above the first `[table]`) \
                     must set it"
                ),
            ),
        }
    }

    fn at<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> ScenarioError {
        self.error(value.span(), message)
    }

    /// Parses a string value against a table of names.
    fn choice<T: Copy>(
        &self,
        key: &str,
        value: &Spanned<String>,
        table: &[(&'static str, T)],
    ) -> Result<T, ScenarioError> {
        table
            .iter()
            .find(|(n, _)| *n == value.get_ref())
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                self.at(
                    value,
                    format!(
                        "key `{key}`: unknown value `{}` (expected one of: {})",
                        value.get_ref(),
                        table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                    ),
                )
            })
    }

    /// An integer in `min..=max`.
    fn int(
        &self,
        key: &str,
        value: &Spanned<i64>,
        min: i64,
        max: i64,
    ) -> Result<i64, ScenarioError> {
        let v = *value.get_ref();
        if v < min || v > max {
            return Err(self.at(
                value,
                format!("key `{key}`: {v} is out of range (it must be from {min} to {max})"),
            ));
        }
        Ok(v)
    }
}

/// The longest handle, in characters.
const MAX_HANDLE: usize = 64;
/// The longest scenario name, in characters.
const MAX_LABEL: usize = 120;
/// The longest description, in characters.
const MAX_TEXT: usize = 4000;

/// What a phone number (`+1 (555) 010-0100`), an e-mail address (`bob@example.com`) or a short
/// label (`A`, `alice_2`) holds: letters, digits, spaces and `+ - _ . @ ( )`.
/// The fields of a lookup the log keeps (`log-fields`): the 2016 FAQ's (requester, day,
/// address, and the target and the device count unless private discovery hides them), and
/// optionally the lookup's `for-message` flag (`x-required-for-message` in reverse-engineered
/// clients; whether Apple's log keeps it is not public), and whether a lookup was made to check
/// a received message's sender (`sender-check`: an assumption, and only with the sender lookup
/// logged). Returns whether each of the two is kept.
fn log_fields(
    loc: &Locator,
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
    features: Features,
    sender_lookup_logged: bool,
) -> Result<(bool, bool), ScenarioError> {
    const FIELDS: [(&str, ()); 7] = [
        ("requester", ()),
        ("target", ()),
        ("day", ()),
        ("address", ()),
        ("devices", ()),
        ("for-message", ()),
        ("sender-check", ()),
    ];
    let Some(list) = raw else {
        return Ok((false, false));
    };
    let mut seen = BTreeSet::new();
    for f in list.get_ref() {
        loc.choice("log-fields", f, &FIELDS)?;
        let name = f.get_ref().as_str();
        if !seen.insert(name) {
            return Err(loc.at(f, format!("key `log-fields`: `{name}` is listed twice")));
        }
        if name == "sender-check" && !sender_lookup_logged {
            return Err(loc.at(
                f,
                "key `log-fields`: `sender-check` needs `sender-lookup = \"logged\"` (without \
                 it no lookup is made to check a message's sender, and the field could change \
                 nothing)",
            ));
        }
        if features.private_discovery && matches!(name, "target" | "devices") {
            return Err(loc.at(
                f,
                format!(
                    "key `log-fields`: under private discovery the log never sees `{name}` \
                     (the target travels encrypted to the enclave, and a device count would \
                     identify it)"
                ),
            ));
        }
    }
    let faq: Vec<&str> = FIELDS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !matches!(*n, "for-message" | "sender-check"))
        .filter(|n| !(features.private_discovery && matches!(*n, "target" | "devices")))
        .collect();
    let missing: Vec<&str> = faq.iter().copied().filter(|n| !seen.contains(n)).collect();
    if !missing.is_empty() {
        return Err(loc.at(
            list,
            format!(
                "key `log-fields`: the log keeps every field the 2016 FAQ names ({}); missing {} \
                 (`log-fields` may add `for-message` and `sender-check`)",
                faq.join(", "),
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok((seen.contains("for-message"), seen.contains("sender-check")))
}

fn is_handle(h: &str) -> bool {
    !h.is_empty()
        && h.chars().count() <= MAX_HANDLE
        && h.chars()
            .all(|c| c.is_alphanumeric() || " +-_.@()".contains(c))
}

/// One line of printable text (see [`crate::escape::is_unsafe`]).
fn is_label(s: &str) -> bool {
    s.chars().count() <= MAX_LABEL && !s.chars().any(crate::escape::is_unsafe)
}

/// Printable text, newlines and tabs included.
fn is_text(s: &str) -> bool {
    s.chars().count() <= MAX_TEXT
        && !s
            .chars()
            .any(|c| crate::escape::is_unsafe(c) && c != '\n' && c != '\t')
}

/// Parses the text of a scenario file; `path` is used in error messages and kept in the result.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let loc = Locator { path, text };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end().to_string();
        if let Some(rest) = message.strip_prefix("missing field") {
            return loc.missing_key(e.span(), rest.trim());
        }
        let message = match message.strip_prefix("unknown field") {
            Some(rest) => format!("unknown key{rest}"),
            // A bad value (`devices = "two"`, a number out of range): name its key.
            None => match e.span().and_then(|s| loc.key_at(s.start)) {
                Some(key) => format!("key `{key}`: {message}"),
                None => message,
            },
        };
        loc.error(e.span().unwrap_or(0..0), message)
    })?;

    if raw.name.get_ref().trim().is_empty() {
        return Err(loc.at(&raw.name, "key `name`: must not be empty"));
    }
    if !is_label(raw.name.get_ref().trim()) {
        return Err(loc.at(
            &raw.name,
            format!(
                "key `name`: `{}` is not a short label: one line of at most {MAX_LABEL} \
                 printable characters",
                raw.name.get_ref()
            ),
        ));
    }
    if let Some(d) = &raw.description {
        if !is_text(d.get_ref()) {
            return Err(loc.at(
                d,
                format!(
                    "key `description`: `{}` is not plain text: at most {MAX_TEXT} printable \
                     characters, newlines and tabs",
                    d.get_ref()
                ),
            ));
        }
    }
    let variant = loc.choice("variant", &raw.variant, &Variant::ALL)?;
    let mut features = variant.features();
    for f in &raw.features {
        let set = loc.choice("features", f, &Features::ALL)?;
        let on = set(&mut features);
        if *on {
            let why = if variant.features().names().contains(&f.get_ref().as_str()) {
                format!("it is part of variant `{}`", variant.name())
            } else {
                "it is listed twice".to_string()
            };
            return Err(loc.at(
                f,
                format!("key `features`: `{}` is already on: {why}", f.get_ref()),
            ));
        }
        *on = true;
    }
    let legal_rules = match &raw.legal_rules {
        Some(r) => loc.choice("legal-rules", r, &LegalRules::ALL)?,
        None => LegalRules::Y2016,
    };
    let sender_lookup_logged = match &raw.sender_lookup {
        Some(v) => loc.choice(
            "sender-lookup",
            v,
            &[("key-query", false), ("logged", true)],
        )?,
        None => false,
    };
    let (log_for_message, log_sender_check) = log_fields(
        &loc,
        raw.log_fields.as_ref(),
        features,
        sender_lookup_logged,
    )?;
    let threat = match &raw.threat {
        Some(t) => loc.choice("threat", t, &Threat::ALL)?,
        None => Threat::Honest,
    };
    let logging = match &raw.logging {
        Some(l) => loc.choice("logging", l, &Logging::ALL)?,
        None => Logging::BeforeReply,
    };
    let mut bugs = BTreeSet::new();
    for b in &raw.bugs {
        if !bugs.insert(loc.choice("bugs", b, &Bug::ALL)?) {
            return Err(loc.at(b, format!("key `bugs`: `{}` is listed twice", b.get_ref())));
        }
    }
    let (order, lossy) = match &raw.network {
        Some(n) => (
            match &n.order {
                Some(o) => loc.choice("network.order", o, &Order::ALL)?,
                None => Order::Ordered,
            },
            n.lossy.unwrap_or(false),
        ),
        None => (Order::Ordered, false),
    };

    let mut days = 1u8;
    let mut retention = DEFAULT_RETENTION;
    let mut connection_retention = None;
    let mut max_depth = None;
    let mut max_states = DEFAULT_MAX_STATES;
    let mut max_memory = None;
    let mut allow_bounded = false;
    if let Some(b) = &raw.bounds {
        if let Some(d) = &b.days {
            days = loc.int("bounds.days", d, 1, 60)? as u8;
        }
        if let Some(r) = &b.retention {
            retention = loc.int("bounds.retention", r, 1, 255)? as u8;
        }
        if let Some(r) = &b.connection_retention {
            connection_retention =
                Some((r, loc.int("bounds.connection-retention", r, 1, 255)? as u8));
        }
        if let Some(d) = &b.max_depth {
            max_depth = Some(loc.int("bounds.max-depth", d, 1, 1_000_000)? as usize);
        }
        if let Some(s) = &b.max_states {
            max_states = loc.int("bounds.max-states", s, 1, 1_000_000_000)? as usize;
        }
        if let Some(m) = &b.max_memory {
            max_memory =
                Some(loc.int("bounds.max-memory", m, 16, 16 * 1024 * 1024)? as usize * MIB);
        }
        allow_bounded = b.allow_bounded.unwrap_or(false);
    }

    // Accounts and their devices.
    if raw.accounts.is_empty() {
        return Err(loc.error(
            loc.top_level(),
            "missing table `[[account]]`: a scenario needs at least one account",
        ));
    }
    let mut accounts: Vec<Account> = Vec::new();
    let mut devices: Vec<Device> = Vec::new();
    let mut ips: Vec<String> = Vec::new();
    for (i, acc) in raw.accounts.iter().enumerate() {
        let acc = acc.get_ref();
        let handle = acc.handle.get_ref().trim().to_string();
        if !is_handle(&handle) {
            return Err(loc.at(
                &acc.handle,
                format!(
                    "key `account.handle`: `{}` is not a handle: a handle is a phone number, \
                     an e-mail address or a short label, written with letters, digits, spaces \
                     and `+ - _ . @ ( )` (no `/`: it separates a handle from a device number), \
                     at most {MAX_HANDLE} characters",
                    acc.handle.get_ref()
                ),
            ));
        }
        if accounts.iter().any(|a| a.handle == handle) {
            return Err(loc.at(
                &acc.handle,
                format!("key `account.handle`: `{handle}` is declared twice"),
            ));
        }
        let registered = acc.registered.unwrap_or(true);
        let count = match &acc.devices {
            Some(d) if registered => loc.int("account.devices", d, 1, 8)?,
            Some(d) => {
                loc.int("account.devices", d, 0, 0).map_err(|_| {
                    loc.at(
                        d,
                        format!(
                            "key `account.devices`: `{handle}` is not registered for iMessage, \
                             so it has no iMessage devices (use 0 or leave the key out)"
                        ),
                    )
                })?;
                0
            }
            None if registered => 1,
            None => 0,
        };
        let address = |text: &str| -> Result<String, ScenarioError> {
            let text = text.trim();
            let ip = acc.ip.as_ref().expect("called for a given `ip`");
            let parsed: std::net::IpAddr = text.parse().map_err(|_| {
                loc.at(
                    ip,
                    format!("key `account.ip`: `{text}` is not an IPv4 or IPv6 address"),
                )
            })?;
            Ok(parsed.to_string())
        };
        // One address per device: the per-account form gives every device the same one.
        let addresses: Vec<String> = match acc.ip.as_ref().map(|ip| ip.get_ref()) {
            None => vec![format!("192.0.2.{}", i + 1); count as usize],
            Some(OneOrList::One(text)) => vec![address(text)?; count as usize],
            Some(OneOrList::List(list)) => {
                if list.len() != count as usize {
                    return Err(loc.at(
                        acc.ip.as_ref().expect("matched"),
                        format!(
                            "key `account.ip`: {} address{} for {count} device{} of `{handle}` \
                             (give one address for every device, or a list with one per device)",
                            list.len(),
                            if list.len() == 1 { "" } else { "es" },
                            if count == 1 { "" } else { "s" },
                        ),
                    ));
                }
                list.iter().map(|t| address(t)).collect::<Result<_, _>>()?
            }
        };
        let mut ids = Vec::new();
        for n in 0..count {
            if devices.len() >= 64 {
                let span = acc.devices.as_ref().map_or(acc.handle.span(), |d| d.span());
                return Err(loc.error(
                    span,
                    "key `account.devices`: a scenario has at most 64 devices",
                ));
            }
            // Devices behind the same address share its atom: the address links them.
            let ip = &addresses[n as usize];
            let ip_id = IpId(ips.iter().position(|a| a == ip).unwrap_or(ips.len()) as u8);
            if ip_id.0 as usize == ips.len() {
                ips.push(ip.clone());
            }
            ids.push(DeviceId(devices.len() as u8));
            devices.push(Device {
                account: AccountId(i as u8),
                number: n as u8 + 1,
                ip: ip_id,
                actions: Vec::new(),
            });
        }
        accounts.push(Account {
            handle,
            registered,
            read_receipts: acc.read_receipts.unwrap_or(false),
            devices: ids,
        });
        if accounts.len() > 32 {
            return Err(loc.at(
                &acc.handle,
                "key `account`: a scenario has at most 32 accounts",
            ));
        }
    }
    let find_account = |value: &Spanned<String>, key: &str| -> Result<AccountId, ScenarioError> {
        accounts
            .iter()
            .position(|a| a.handle == value.get_ref().trim())
            .map(|i| AccountId(i as u8))
            .ok_or_else(|| {
                loc.at(
                    value,
                    format!(
                        "key `{key}`: no account has the handle `{}` (accounts: {})",
                        value.get_ref(),
                        accounts
                            .iter()
                            .map(|a| a.handle.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    };
    let find_device = |value: &Spanned<String>, key: &str| -> Result<DeviceId, ScenarioError> {
        let by = value.get_ref().trim();
        let device = by.split_once('/').and_then(|(h, n)| {
            let acc = accounts.iter().position(|acc| acc.handle == h)?;
            let num: usize = n.parse().ok()?;
            if num.to_string() != n {
                return None; // `A/01`, `A/+1`: only the plain number names a device.
            }
            accounts[acc].devices.get(num.checked_sub(1)?).copied()
        });
        device.ok_or_else(|| {
            loc.at(
                value,
                format!(
                    "key `{key}`: `{by}` is not a device of the scenario \
                     (write HANDLE/N, e.g. `{}/1`, for the N-th device of an account)",
                    accounts[0].handle
                ),
            )
        })
    };
    let day_of = |d: &Option<Spanned<i64>>, key: &str| -> Result<Option<Day>, ScenarioError> {
        d.as_ref()
            .map(|d| {
                loc.int(key, d, 0, days as i64 - 1)
                    .map(|v| Day(v as u8))
                    .map_err(|_| {
                        loc.at(
                            d,
                            format!(
                                "key `{key}`: day {} is outside the scenario's days 0..={} \
                                 (set `bounds.days` to run the clock longer)",
                                d.get_ref(),
                                days - 1
                            ),
                        )
                    })
            })
            .transpose()
    };

    // The workload.
    let mut contents = 0u8;
    for action in &raw.actions {
        let a = action.get_ref();
        let device = find_device(&a.by, "action.by")?;
        let by = a.by.get_ref().trim();
        let own = devices[device.0 as usize].account;
        let mut also = 0u32;
        // A lookup or a refresh of several handles is one query (a batch).
        let mut batch =
            |value: &Spanned<RawHandles>, key: &str| -> Result<AccountId, ScenarioError> {
                let handles = RawHandles::each(value);
                if handles.is_empty() {
                    return Err(loc.at(value, format!("key `{key}`: the list names no handle")));
                }
                let mut first = None;
                for h in &handles {
                    let t = find_account(h, key)?;
                    if t == own {
                        return Err(loc.at(
                            h,
                            format!("key `{key}`: `{by}` would address its own account"),
                        ));
                    }
                    if first == Some(t) || also & (1 << t.0) != 0 {
                        return Err(loc.at(
                            h,
                            format!("key `{key}`: `{}` is listed twice", h.get_ref().trim()),
                        ));
                    }
                    match first {
                        None => first = Some(t),
                        Some(_) => also |= 1 << t.0,
                    }
                }
                Ok(first.expect("the list is not empty"))
            };
        let (kind, target) = match (&a.lookup, &a.refresh, &a.send, &a.typing, &a.read) {
            (Some(t), None, None, None, None) => (ActionKind::Lookup, batch(t, "action.lookup")?),
            (None, Some(t), None, None, None) => (ActionKind::Refresh, batch(t, "action.refresh")?),
            (None, None, None, Some(t), None) => {
                (ActionKind::Type, find_account(t, "action.type")?)
            }
            (None, None, None, None, Some(t)) => {
                (ActionKind::Read, find_account(t, "action.read")?)
            }
            (None, None, Some(t), None, None) => {
                if contents == u8::MAX - 1 {
                    return Err(loc.at(t, "key `action.send`: too many send actions (at most 254)"));
                }
                contents += 1;
                (
                    ActionKind::Send(ContentId(contents - 1)),
                    find_account(t, "action.send")?,
                )
            }
            _ => {
                return Err(loc.at(
                    action,
                    "an `[[action]]` has exactly one of the keys `lookup`, `refresh`, `send`, \
                     `type` or `read`",
                ))
            }
        };
        if target == own {
            let value = a
                .send
                .as_ref()
                .or(a.typing.as_ref())
                .or(a.read.as_ref())
                .expect("a lookup or refresh checked its own handles");
            return Err(loc.at(
                value,
                format!("key `action`: `{by}` would address its own account"),
            ));
        }
        let day = day_of(&a.day, "action.day")?;
        devices[device.0 as usize].actions.push(UserAction {
            kind,
            target,
            day,
            also,
        });
        if devices[device.0 as usize].actions.len() > 16 {
            return Err(loc.at(action, format!("`{by}` has more than 16 actions")));
        }
    }

    let key_swap = match &raw.key_swap {
        None => KeySwapScope::default(),
        Some(table) => {
            if threat != Threat::KeySwap {
                return Err(loc.at(
                    table,
                    format!(
                        "table `[key-swap]` has no effect: the threat is `{}` (it narrows whom \
                         the `key-swap` threat impersonates)",
                        threat.name()
                    ),
                ));
            }
            let registered = |value: &Spanned<String>, key: &str, role: &str| {
                let a = find_account(value, key)?;
                if accounts[a.0 as usize].registered {
                    Ok(a)
                } else {
                    Err(loc.at(
                        value,
                        format!(
                            "key `{key}`: `{}` is not registered for iMessage, so it has {role}",
                            accounts[a.0 as usize].handle
                        ),
                    ))
                }
            };
            let t = table.get_ref();
            let scope = KeySwapScope {
                impersonate: t
                    .impersonate
                    .as_ref()
                    .map(|v| registered(v, "key-swap.impersonate", "no signing key to swap"))
                    .transpose()?,
                toward: t
                    .toward
                    .as_ref()
                    .map(|v| registered(v, "key-swap.toward", "no device to forge a message to"))
                    .transpose()?,
            };
            if let (Some(v), Some(w)) = (scope.impersonate, scope.toward) {
                if v == w {
                    let value = t.toward.as_ref().expect("set when `toward` is");
                    return Err(loc.at(
                        value,
                        format!(
                            "key `key-swap.toward`: the directory would impersonate `{}` toward \
                             its own account",
                            accounts[v.0 as usize].handle
                        ),
                    ));
                }
            }
            let others = |a: AccountId| {
                accounts
                    .iter()
                    .enumerate()
                    .any(|(i, x)| i != a.0 as usize && x.registered)
            };
            if let Some(a) = scope.impersonate.or(scope.toward) {
                if !others(a) {
                    return Err(loc.at(
                        table,
                        format!(
                            "table `[key-swap]`: no other account is registered for iMessage, so \
                             there is no pair for `{}` to be part of",
                            accounts[a.0 as usize].handle
                        ),
                    ));
                }
            }
            scope
        }
    };

    let mut legal_requests = Vec::new();
    for spanned in &raw.legal_requests {
        if legal_requests.len() == 64 {
            return Err(loc.at(spanned, "a scenario has at most 64 `[[legal-request]]`s"));
        }
        let lr = spanned.get_ref();
        // The records asked for: the lookup log or the subscriber information (by handle), or
        // one of the relay's two kinds of push records (by token).
        let kind: Result<RecordKind, fn(DeviceId) -> RecordKind> = match &lr.records {
            Some(r) => loc.choice(
                "legal-request.records",
                r,
                &[
                    ("lookup-log", Ok(RecordKind::LookupLog)),
                    ("subscriber-information", Ok(RecordKind::Subscriber)),
                    ("push-token", Err(RecordKind::PushToken as fn(_) -> _)),
                    ("push-connections", Err(RecordKind::PushConnections)),
                ],
            )?,
            None => Ok(RecordKind::LookupLog),
        };
        let (handle, records) = match (kind, &lr.handle, &lr.token) {
            (Ok(k), Some(h), None) => (find_account(h, "legal-request.handle")?, k),
            (Err(k), None, Some(t)) => {
                let d = find_device(t, "legal-request.token")?;
                (devices[d.0 as usize].account, k(d))
            }
            (Ok(k), _, Some(t)) => {
                let asks = match k {
                    RecordKind::Subscriber => "subscriber-information",
                    _ => "lookup-log",
                };
                return Err(loc.at(
                        t,
                        format!(
                            "key `legal-request.token`: a token names the device of a push-token or \
                     push-connections request; this request asks for {asks} records (set \
                     `records = \"push-token\"` or `\"push-connections\"`, or name the records' handle with `handle`)"
                        ),
                    ));
            }
            (Err(_), Some(h), _) => {
                return Err(loc.at(
                    h,
                    "key `legal-request.handle`: a request for the relay's push records names a \
                     device's token (`token = \"B/1\"`), not a handle",
                ))
            }
            (Ok(_), None, None) => return Err(loc.missing_key(Some(spanned.span()), "handle")),
            (Err(_), None, None) => return Err(loc.missing_key(Some(spanned.span()), "token")),
        };
        let prospective = match &lr.prospective {
            None => None,
            Some(p) if records != RecordKind::LookupLog => {
                return Err(loc.at(
                    p,
                    "key `legal-request.prospective`: only an order on the lookup log is \
                     prospective (push records and subscriber information are stored records)",
                ))
            }
            Some(p) => match u8::try_from(*p.get_ref()) {
                Ok(n) if n >= 1 && u16::from(n) <= u16::from(days) => Some(n),
                _ => {
                    return Err(loc.at(
                        p,
                        format!(
                            "key `legal-request.prospective`: the days a prospective order \
                             covers, from 1 to `bounds.days` ({days}); got {}",
                            p.get_ref()
                        ),
                    ))
                }
            },
        };
        legal_requests.push(LegalRequest {
            handle,
            prospective,
            day: day_of(&lr.day, "legal-request.day")?,
            process: match &lr.process {
                Some(p) => loc.choice("legal-request.process", p, &Process::ALL)?,
                None => Process::DOrder,
            },
            records,
        });
    }

    // The clock waits for an empty network (no message spans a day), and a duplicating network
    // never empties: the two cannot be combined.
    if order == Order::Duplicating && days > 1 {
        let span = raw
            .network
            .as_ref()
            .and_then(|n| n.order.as_ref())
            .map_or(0..0, |o| o.span());
        return Err(loc.error(
            span,
            format!(
                "key `network.order`: a duplicating network keeps every message in flight, and \
                 the clock only moves on once the network is empty, so `bounds.days` = {days} \
                 would never be reached (use one day, or an unordered network)"
            ),
        ));
    }
    // Switches and bugs that cannot change anything are mistakes, not scenarios.
    let bug_at = |name: &str| {
        raw.bugs
            .iter()
            .find(|b| b.get_ref() == name)
            .expect("parsed from it")
    };
    if bugs.contains(&Bug::LogNeverPurges) && days <= retention {
        return Err(loc.at(
            bug_at("log-never-purges"),
            format!(
                "key `bugs`: `log-never-purges` has no effect here: with `bounds.days` = {days} \
                 and `bounds.retention` = {retention} no record ages out (set days > retention)"
            ),
        ));
    }
    // The relay keeps connection records only for a request that asks for them.
    let asks_connections = legal_requests
        .iter()
        .any(|r: &LegalRequest| matches!(r.records, RecordKind::PushConnections(_)));
    let connection_retention = match connection_retention {
        Some((span, _)) if !asks_connections => {
            return Err(loc.at(
                span,
                "key `bounds.connection-retention`: the relay keeps connection records only \
                 for a `[[legal-request]]` with `records = \"push-connections\"`, and this \
                 scenario has none",
            ))
        }
        Some((_, n)) => n,
        None => retention,
    };
    if bugs.contains(&Bug::RelayNeverPurges) && (!asks_connections || days <= connection_retention)
    {
        return Err(loc.at(
            bug_at("relay-never-purges"),
            format!(
                "key `bugs`: `relay-never-purges` has no effect here: the relay keeps connection \
                 records only for a `push-connections` request, and with `bounds.days` = {days} \
                 and a connection retention of {connection_retention} none would age out"
            ),
        ));
    }
    let preservation_order = raw.preservation_order.as_ref().map(|p| *p.get_ref());
    if let Some(p) = raw.preservation_order.as_ref().filter(|p| *p.get_ref()) {
        if !legal_requests
            .iter()
            .any(|r: &LegalRequest| r.records == RecordKind::LookupLog)
        {
            return Err(loc.at(
                p,
                "key `preservation-order`: a preservation order needs a `[[legal-request]]` \
                 for lookup-log records naming the handle to preserve",
            ));
        }
    }
    let lookup_cache = match raw.lookup_cache {
        Some(false) => LookupCache::Off,
        _ => LookupCache::On,
    };
    let preservation = match preservation_order {
        Some(true) => Preservation::RequestedHandles,
        _ => Preservation::None,
    };
    let mut scenario = Scenario {
        path: path.to_path_buf(),
        name: raw.name.into_inner().trim().to_string(),
        description: raw.description.map(|d| d.get_ref().trim().to_string()),
        variant,
        threat,
        logging,
        legal_rules,
        log_for_message,
        log_sender_check,
        sender_lookup_logged,
        order,
        lossy,
        lookup_cache,
        features,
        preservation,
        bugs,
        key_swap,
        days,
        retention,
        connection_retention,
        max_depth,
        max_states,
        max_memory,
        allow_bounded,
        accounts,
        devices,
        ips,
        legal_requests,
        contents,
        claims: CATALOGUE.iter().map(ClaimDef::Catalogue).collect(),
        expect: Vec::new(),
    };
    for file in &raw.claims {
        let base = path.parent().unwrap_or(Path::new(""));
        let claims_path = base.join(file.get_ref());
        let text = std::fs::read_to_string(&claims_path).map_err(|e| {
            loc.at(
                file,
                format!(
                    "key `claims`: cannot read the claims file {}: {e}",
                    claims_path.display()
                ),
            )
        })?;
        add_claims_file(&mut scenario, &claims_path, &text)?;
    }
    add_claim_tables(&mut scenario, &loc, &raw.claim_tables)?;
    let mut expect = Vec::new();
    for (id, verdict) in &raw.expect {
        let Some(claim) = scenario
            .claims
            .iter()
            .find(|c| c.id() == id.get_ref())
            .cloned()
        else {
            let known: Vec<&str> = scenario.claims.iter().map(|c| c.id()).collect();
            let near = crate::formula::nearest(id.get_ref(), known.iter().copied())
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            return Err(loc.at(
                id,
                format!(
                    "key `expect.{}`: unknown claim id{near} (known claims: {})",
                    id.get_ref(),
                    known.join(", ")
                ),
            ));
        };
        let kind = claim.kind();
        let allowed = verdicts_for(kind);
        let v =
            allowed
                .iter()
                .copied()
                .find(|v| v.name() == verdict.get_ref())
                .ok_or_else(|| {
                    let all = Verdict::ALL.iter().any(|v| v.name() == verdict.get_ref());
                    loc.at(
                        verdict,
                        format!(
                        "key `expect.{}`: {} `{}`; `{}` is a{} {} claim, so expect `{}` or `{}`",
                        claim.id(),
                        if all { "a verdict of the wrong kind:" } else { "unknown verdict" },
                        verdict.get_ref(),
                        claim.id(),
                        if kind == ClaimKind::Sometimes { "" } else { "n" },
                        kind.name(),
                        allowed[0].name(),
                        allowed[1].name()
                    ),
                    )
                })?;
        expect.push(Expectation {
            claim,
            verdict: v,
            at: loc.position(id.span().start),
        });
    }
    scenario.expect = expect;
    Ok(scenario)
}

/// Adds the claims of a claims file to a parsed scenario.
pub fn add_claims_file(
    scenario: &mut Scenario,
    path: &Path,
    text: &str,
) -> Result<(), ScenarioError> {
    let loc = Locator { path, text };
    let raw: RawClaimsFile = toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end().to_string();
        let message = match message.strip_prefix("unknown field") {
            Some(rest) => {
                format!("unknown key{rest} (a claims file holds `[[claim]]` tables only)")
            }
            None => message,
        };
        loc.error(e.span().unwrap_or(0..0), message)
    })?;
    if raw.claim_tables.is_empty() {
        return Err(loc.error(0..0, "a claims file holds at least one `[[claim]]` table"));
    }
    add_claim_tables(scenario, &loc, &raw.claim_tables)
}

/// Adds one claim written on the command line (`check --claim FORMULA`): its id is `ad-hoc`
/// (`ad-hoc-2`, … for more).
pub fn add_formula(scenario: &mut Scenario, text: &str) -> Result<String, ScenarioError> {
    let taken = |id: &str| scenario.claims.iter().any(|c| c.id() == id);
    let mut id = "ad-hoc".to_string();
    let mut n = 1;
    while taken(&id) {
        n += 1;
        id = format!("ad-hoc-{n}");
    }
    let path = Path::new("--claim");
    let formula = formula::compile(scenario, text).map_err(|e| formula_error(path, text, 0, e))?;
    let claim = UserClaim::new(
        id.clone(),
        text.split_whitespace().collect::<Vec<_>>().join(" "),
        None,
        "--claim".into(),
        formula,
    );
    push_claim(scenario, ClaimDef::User(Arc::new(claim))).map_err(|m| ScenarioError::Invalid {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        message: m,
    })?;
    Ok(id)
}

fn add_claim_tables(
    scenario: &mut Scenario,
    loc: &Locator,
    tables: &[Spanned<RawClaim>],
) -> Result<(), ScenarioError> {
    for t in tables {
        let c = t.get_ref();
        let id = c.id.get_ref().trim();
        if !is_claim_id(id) {
            return Err(loc.at(
                &c.id,
                "key `claim.id`: a claim id is lowercase words and digits joined by `-` (as in \
                 `log-never-holds-unregistered-targets`)",
            ));
        }
        let texts = [
            ("statement", Some(&c.statement)),
            ("source", c.source.as_ref()),
        ];
        for (key, v) in texts {
            if let Some(v) = v {
                if !is_text(v.get_ref()) || v.get_ref().trim().is_empty() {
                    return Err(loc.at(
                        v,
                        format!("key `claim.{key}`: empty, too long or not printable text"),
                    ));
                }
            }
        }
        let text = c.check.get_ref();
        let formula = formula::compile(scenario, text).map_err(|e| {
            match formula_start(loc.text, c.check.span(), text) {
                Some(start) => formula_error(loc.path, loc.text, start, e),
                // Escapes in the string: offsets into the formula are not offsets into the file,
                // so the error points at the string and quotes the formula on its own.
                None => formula_error(loc.path, text, 0, e),
            }
        })?;
        let claim = UserClaim::new(
            id.to_string(),
            c.statement.get_ref().trim().to_string(),
            c.source.as_ref().map(|s| s.get_ref().trim().to_string()),
            loc.path.display().to_string(),
            formula,
        );
        push_claim(scenario, ClaimDef::User(Arc::new(claim))).map_err(|m| loc.at(&c.id, m))?;
    }
    Ok(())
}

/// Adds a claim: a new id goes after the others; a catalogue id is replaced by the claim written
/// for it, which must be of the same kind (its expectations keep their meaning).
fn push_claim(scenario: &mut Scenario, claim: ClaimDef) -> Result<(), String> {
    if let Some(i) = scenario.claims.iter().position(|c| c.id() == claim.id()) {
        let old = &scenario.claims[i];
        if matches!(old, ClaimDef::User(_)) {
            return Err(format!(
                "key `claim.id`: the claim `{}` is defined twice",
                claim.id()
            ));
        }
        if old.kind() != claim.kind() {
            return Err(format!(
                "key `claim.id`: `{}` is a catalogue claim of kind {}; a claim written for it \
                 must be one too (this one is {})",
                claim.id(),
                old.kind().name(),
                claim.kind().name()
            ));
        }
        scenario.claims[i] = claim;
        return Ok(());
    }
    let premises = crate::claims::premises(scenario).count()
        + usize::from(matches!(&claim, ClaimDef::User(u) if u.premise.is_some()));
    if scenario.claims.len() + 1 + premises > MAX_CLAIMS {
        return Err(format!(
            "key `claim.id`: a scenario checks at most {MAX_CLAIMS} claims (the catalogue's \
             included, and one more for each `always … implies …`)"
        ));
    }
    scenario.claims.push(claim);
    Ok(())
}

fn is_claim_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 80
        && id.split('-').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// Where a formula's text begins in the file, when the file's bytes between the quotes are the
/// formula's (no escapes): then an offset into the formula is one into the file.
fn formula_start(text: &str, span: Range<usize>, value: &str) -> Option<usize> {
    let raw = text.get(span.clone())?;
    let open = ["\"\"\"", "'''", "\"", "'"]
        .into_iter()
        .find(|q| raw.starts_with(q))?;
    let mut start = span.start + open.len();
    if open.len() == 3 {
        // TOML drops a newline right after a multi-line string's opening quotes.
        if text[start..].starts_with("\r\n") {
            start += 2;
        } else if text[start..].starts_with('\n') {
            start += 1;
        }
    }
    (text.get(start..start + value.len()) == Some(value)).then_some(start)
}

/// A formula error located in `text` (the file, or the formula alone): the line and column of
/// its first byte, and the line quoted with the span underlined.
fn formula_error(path: &Path, text: &str, start: usize, e: FormulaError) -> ScenarioError {
    use codespan_reporting::diagnostic::{Diagnostic, Label};
    use codespan_reporting::files::SimpleFile;
    let at = (start + e.span.start).min(text.len());
    let end = (start + e.span.end).clamp(at, text.len());
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let message = crate::escape::line(&e.message);
    let file = SimpleFile::new(path.display().to_string(), text);
    let diagnostic = Diagnostic::error()
        .with_message(message.clone())
        .with_label(Label::primary((), at..end));
    let config = codespan_reporting::term::Config::default();
    let snippet =
        codespan_reporting::term::emit_into_string(&config, &file, &diagnostic).unwrap_or_default();
    ScenarioError::Formula {
        path: path.to_path_buf(),
        line,
        column,
        message,
        snippet: crate::escape::terminal(&snippet),
    }
}

impl Scenario {
    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let bytes = std::fs::read(path).map_err(|error| ScenarioError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let text =
            String::from_utf8(bytes).map_err(|e| not_utf8(path, e.as_bytes(), e.utf8_error()))?;
        parse(path, &text)
    }
}

/// The error for a file that is not UTF-8, located at its first bad byte.
fn not_utf8(path: &Path, bytes: &[u8], e: std::str::Utf8Error) -> ScenarioError {
    let at = e.valid_up_to();
    // The prefix before the bad byte is valid UTF-8 by definition.
    let before = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    ScenarioError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        message: format!(
            "the file is not UTF-8 text: byte 0x{:02X} cannot start or continue a character here \
             (save the file as UTF-8)",
            bytes[at]
        ),
    }
}
