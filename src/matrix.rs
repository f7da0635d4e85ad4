//! The results matrix: every claim under every protocol variant and every
//! threat, checked on one standard population (README.md, "The results matrix").
//!
//! Each cell is an ordinary scenario, written as the TOML a researcher
//! would write ([`cell_toml`]) and parsed by the same parser as
//! `models/*.toml`, so a cell can be printed, saved and checked on its own.

use crate::load::parse;
use crate::report::{Report, ScenarioReport};
use crate::scenario::{Scenario, Threat, Variant};
use crate::CheckOptions;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The columns: the threats of docs/design.md §5, then the [`SETTINGS`] columns.
pub const THREATS: [&str; 9] = [
    "honest",
    "ghost-device",
    "empty-answer",
    "key-swap",
    "log-crash",
    "lossy-network",
    "delivery-receipts",
    "for-message-logged",
    "sender-lookup-logged",
];

/// The columns that are no threat a scenario file can name: honest servers with one setting
/// changed, as (column, what it sets, in words, with the scenario key that sets it).
pub const SETTINGS: [(&str, &str); 4] = [
    (
        "lossy-network",
        "a network that may lose messages (`[network] lossy = true`)",
    ),
    (
        "delivery-receipts",
        "delivery receipts on (`features = [\"delivery-receipts\"]`)",
    ),
    (
        "for-message-logged",
        "a log that keeps each lookup's for-message flag (`log-fields` listing `\"for-message\"`)",
    ),
    (
        "sender-lookup-logged",
        "a device that receives a message from a handle it has no keys for looks the sender up, \
         and the log records that lookup like any other (`sender-lookup = \"logged\"`)",
    ),
];

/// The settings columns in one sentence, for the matrix's introduction.
pub fn settings_text() -> String {
    let each: Vec<String> = SETTINGS
        .iter()
        .map(|(c, what)| format!("`{c}`, {what}"))
        .collect();
    format!(
        "The last {} columns are no threat a scenario file can name: each is the `honest` \
         threat with one setting changed: {}.",
        SETTINGS.len(),
        each.join("; ")
    )
}

/// Claims of the library that findings name, checked in every cell after the catalogue's:
/// (the file, its text, the ids taken from it).
const FINDING_CLAIMS: [(&str, &str, &[&str]); 2] = [
    (
        "claims/receipts.toml",
        include_str!("../claims/receipts.toml"),
        &["relay-links-sealed-sender"],
    ),
    (
        "claims/intent.toml",
        include_str!("../claims/intent.toml"),
        &[
            "log-never-shows-a-message",
            "order-discloses-a-message",
            "log-shows-a-conversation",
        ],
    ),
];

/// The ids of the claims every cell checks after the catalogue's, in order.
pub fn finding_claim_ids() -> Vec<&'static str> {
    FINDING_CLAIMS
        .iter()
        .flat_map(|(_, _, ids)| ids.iter().copied())
        .collect()
}

/// The `[[claim]]` tables of [`FINDING_CLAIMS`], as they stand in the library files.
fn finding_claims_toml() -> String {
    #[derive(Clone, Serialize, Deserialize)]
    struct Claim {
        id: String,
        statement: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        check: String,
    }
    #[derive(Serialize, Deserialize)]
    struct File {
        claim: Vec<Claim>,
    }
    let mut out = String::new();
    for (path, text, ids) in FINDING_CLAIMS {
        let file: File = toml::from_str(text).expect("the library's claims files parse");
        let claim: Vec<Claim> = ids
            .iter()
            .map(|id| {
                file.claim
                    .iter()
                    .find(|c| c.id == *id)
                    .cloned()
                    .expect("a finding's claim is in its library file")
            })
            .collect();
        out.push_str(&format!("\n# From {path}: claims the findings name.\n"));
        out.push_str(&toml::to_string(&File { claim }).expect("claims serialise"));
    }
    out
}

/// The standard population and workload, in words.
pub const POPULATION: &str = "accounts A (one device, 198.51.100.7), B (two devices, \
203.0.113.9) and C (not registered for iMessage); A/1 sends B a message and sends C a message, \
B/1 looks C up, and an authority serves a court order for B's records; one day, retention 30 \
days, ordered network, logging before the reply";

/// The scenario of one cell, as a scenario file.
pub fn cell_toml(variant: Variant, column: &str, features: &[String]) -> String {
    let setting = SETTINGS.iter().find(|(c, _)| *c == column).map(|(c, _)| *c);
    let threat = if setting.is_some() { "honest" } else { column };
    let lossy = setting == Some("lossy-network");
    // Features on top of the variant's own (a feature the variant has is already on).
    let preset = variant.features().names();
    let mut on: Vec<&str> = features.iter().map(String::as_str).collect();
    if setting == Some("delivery-receipts") {
        on.push("delivery-receipts");
    }
    let mut extra: Vec<String> = Vec::new();
    for f in on {
        let quoted = format!("\"{f}\"");
        if !preset.contains(&f) && !extra.contains(&quoted) {
            extra.push(quoted);
        }
    }
    let features_line = if extra.is_empty() {
        String::new()
    } else {
        format!("features = [{}]\n", extra.join(", "))
    };
    let private =
        preset.contains(&"private-discovery") || features.iter().any(|f| f == "private-discovery");
    let log_fields_line = match (setting, private) {
        (Some("for-message-logged"), false) => {
            "log-fields = [\"requester\", \"target\", \"day\", \"address\", \"devices\", \
             \"for-message\"]\n"
        }
        (Some("for-message-logged"), true) => {
            "log-fields = [\"requester\", \"day\", \"address\", \"for-message\"]\n"
        }
        _ => "",
    };
    let sender_lookup_line = if setting == Some("sender-lookup-logged") {
        "sender-lookup = \"logged\"\n"
    } else {
        ""
    };
    let name = match setting {
        Some(s) => format!("honest, {s}"),
        None => threat.to_string(),
    };
    format!(
        r#"# A cell of the results matrix: `imessage-model matrix` checks this scenario.
name = "matrix: {variant} / {name}"
variant = "{variant}"
{features_line}threat = "{threat}"
logging = "before-reply"
{log_fields_line}{sender_lookup_line}
[network]
order = "ordered"
lossy = {lossy}

[[account]]
handle = "A"
ip = "198.51.100.7"

[[account]]
handle = "B"
devices = 2
ip = "203.0.113.9"

[[account]]
handle = "C"
registered = false

[[action]]
by = "A/1"
send = "B"

[[action]]
by = "A/1"
send = "C"

[[action]]
by = "B/1"
lookup = "C"

[[legal-request]]
handle = "B"
{claims}"#,
        variant = variant.name(),
        claims = finding_claims_toml(),
    )
}

/// The parsed scenario of one cell, with `features` on (names of `Features::ALL`); its path
/// reads `matrix/VARIANT/THREAT`.
pub fn cell(variant: Variant, threat: &str, features: &[String]) -> Scenario {
    let path = format!("matrix/{}/{threat}", variant.name());
    parse(Path::new(&path), &cell_toml(variant, threat, features))
        .expect("the matrix's own scenarios are valid")
}

/// The population in words, with the features every cell has on besides its variant's.
pub fn population(features: &[String]) -> String {
    if features.is_empty() {
        POPULATION.to_string()
    } else {
        format!(
            "{POPULATION}; in every cell also the features {}",
            features.join(", ")
        )
    }
}

/// Whether a threat column name is known.
pub fn is_threat(name: &str) -> bool {
    THREATS.contains(&name)
}

/// One cell's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cell {
    pub variant: String,
    pub threat: String,
    pub report: ScenarioReport,
}

/// The whole matrix.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Matrix {
    pub population: String,
    /// Features on in every cell besides its variant's (`matrix --features`).
    #[serde(default)]
    pub features: Vec<String>,
    pub variants: Vec<String>,
    pub threats: Vec<String>,
    pub cells: Vec<Cell>,
}

impl Matrix {
    pub fn cell(&self, variant: &str, threat: &str) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.variant == variant && c.threat == threat)
    }

    /// The claims every cell checks, in order (the catalogue's, then any added), as (id, kind,
    /// statement).
    pub fn rows(&self) -> Vec<(&str, crate::ClaimKind, &str)> {
        self.cells.first().map_or_else(Vec::new, |c| {
            c.report
                .claims
                .iter()
                .map(|c| (c.id.as_str(), c.kind, c.statement.as_str()))
                .collect()
        })
    }
}

/// The cells in a fixed order: variant by variant, threat by threat.
pub fn cells() -> Vec<(&'static str, &'static str)> {
    Variant::ALL
        .iter()
        .flat_map(|(v, _)| THREATS.iter().map(move |t| (*v, *t)))
        .collect()
}

/// Checks the cells selected by `select` (all, or one shard) on `threads` threads.
pub fn compute(threads: usize, select: impl Fn(usize) -> bool) -> Matrix {
    compute_with_progress(threads, select, &[], &|_| Ok(()), None)
        .expect("the catalogue alone adds no claim that could be rejected")
}

/// Claims added to every cell's scenario (`matrix --claims FILE`, `--claim FORMULA`).
pub type AddClaims<'a> = &'a (dyn Fn(&mut Scenario) -> Result<(), crate::ScenarioError> + Sync);

/// The cells `select` picks, by index in [`cells`] order.
pub fn selected(select: impl Fn(usize) -> bool) -> usize {
    (0..cells().len()).filter(|k| select(*k)).count()
}

/// [`compute`], publishing search counters to `progress`.
/// Every cell checks the catalogue and the claims `add` adds (an error if `add` rejects them).
pub fn compute_with_progress(
    threads: usize,
    select: impl Fn(usize) -> bool,
    features: &[String],
    add: AddClaims,
    progress: Option<&crate::check::Progress>,
) -> Result<Matrix, crate::ScenarioError> {
    let chosen: Vec<(usize, (&'static str, &'static str))> = cells()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| select(*i))
        .collect();
    let scenarios: Vec<Scenario> = chosen
        .iter()
        .map(|(_, (v, t))| {
            let variant = Variant::ALL
                .iter()
                .find(|(n, _)| n == v)
                .map(|(_, x)| *x)
                .expect("a variant of the table");
            let mut s = cell(variant, t, features);
            add(&mut s)?;
            Ok(s)
        })
        .collect::<Result<_, crate::ScenarioError>>()?;
    let Report { scenarios: reports } = crate::check_all_with_progress(
        scenarios,
        threads,
        CheckOptions {
            witnesses: true,
            ..CheckOptions::default()
        },
        progress,
    );
    Ok(Matrix {
        population: population(features),
        features: features.to_vec(),
        variants: Variant::ALL.iter().map(|(n, _)| n.to_string()).collect(),
        threats: THREATS.iter().map(|t| t.to_string()).collect(),
        cells: chosen
            .into_iter()
            .zip(reports)
            .map(|((_, (variant, threat)), report)| Cell {
                variant: variant.to_string(),
                threat: threat.to_string(),
                report,
            })
            .collect(),
    })
}

/// The threat a column stands for (a [`SETTINGS`] column is honest servers).
pub fn column_threat(column: &str) -> Option<Threat> {
    let name = if SETTINGS.iter().any(|(c, _)| *c == column) {
        "honest"
    } else {
        column
    };
    Threat::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
}

/// Why shards could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("cell {0}/{1} appears in more than one shard")]
    Duplicate(String, String),
    #[error("cell {0}/{1} is in no shard (did every shard run?)")]
    Missing(String, String),
    #[error("the shards were computed on different populations, grids, features or claims")]
    Mismatch,
}

/// Combines matrix shards into the whole matrix, in the canonical cell order.
pub fn merge(shards: Vec<Matrix>) -> Result<Matrix, MergeError> {
    let mut shards = shards.into_iter();
    let Some(first) = shards.next() else {
        return Err(MergeError::Mismatch);
    };
    let mut all = first.cells.clone();
    let ids = |m: &Matrix| -> Vec<String> {
        m.rows()
            .into_iter()
            .map(|(id, ..)| id.to_string())
            .collect()
    };
    for s in shards {
        if s.population != first.population
            || s.variants != first.variants
            || s.threats != first.threats
            || s.features != first.features
            || (!s.cells.is_empty() && !first.cells.is_empty() && ids(&s) != ids(&first))
        {
            return Err(MergeError::Mismatch);
        }
        all.extend(s.cells);
    }
    let mut cells = Vec::new();
    for (v, t) in cells_of(&first.variants, &first.threats) {
        let mut found = all.iter().filter(|c| c.variant == v && c.threat == t);
        let cell = found
            .next()
            .ok_or_else(|| MergeError::Missing(v.clone(), t.clone()))?;
        if found.next().is_some() {
            return Err(MergeError::Duplicate(v, t));
        }
        cells.push(cell.clone());
    }
    Ok(Matrix { cells, ..first })
}

fn cells_of(variants: &[String], threats: &[String]) -> Vec<(String, String)> {
    variants
        .iter()
        .flat_map(|v| threats.iter().map(move |t| (v.clone(), t.clone())))
        .collect()
}
