//! What a claim asserts of a scenario's behaviours (its kind) and the outcomes of checking
//! it (verdicts): the vocabulary every layer shares, from the scenario's `[expect]` table to
//! the reports. It imports nothing of the crate.

use serde::{Deserialize, Serialize};

/// How a claim quantifies over the behaviours of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimKind {
    /// True in every reachable state; a failure has a counterexample.
    Always,
    /// True in some reachable state; a success has a witness.
    Sometimes,
    /// True at some point of every run that ends; a failure is a run that ends without it.
    Eventually,
    /// `φ leads-to ψ`: on every run that ends, a state where φ holds is followed (or
    /// accompanied) by one where ψ holds; a failure is a run that ends while ψ has not held
    /// since φ did. Checked in every state as `ended implies not pending`.
    #[serde(rename = "leads-to")]
    LeadsTo,
}

impl ClaimKind {
    pub fn name(self) -> &'static str {
        match self {
            ClaimKind::Always => "always",
            ClaimKind::Sometimes => "sometimes",
            ClaimKind::Eventually => "eventually",
            ClaimKind::LeadsTo => "leads-to",
        }
    }
}

/// The outcome of checking one claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Holds,
    Violated,
    Reachable,
    Unreachable,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::Holds,
        Verdict::Violated,
        Verdict::Reachable,
        Verdict::Unreachable,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Violated => "violated",
            Verdict::Reachable => "reachable",
            Verdict::Unreachable => "unreachable",
        }
    }
    /// Whether a path was found (a counterexample or a witness): such a verdict is final even
    /// when the search was bounded.
    pub fn has_path(self) -> bool {
        matches!(self, Verdict::Violated | Verdict::Reachable)
    }
    /// Whether the verdict is the claim's success: holds or reachable.
    pub fn is_success(self) -> bool {
        matches!(self, Verdict::Holds | Verdict::Reachable)
    }
}

/// The verdict of a claim of `kind` when a discovery was (or was not) found.
pub fn verdict_of(kind: ClaimKind, discovered: bool) -> Verdict {
    match (kind, discovered) {
        (ClaimKind::Always | ClaimKind::Eventually | ClaimKind::LeadsTo, false) => Verdict::Holds,
        (ClaimKind::Always | ClaimKind::Eventually | ClaimKind::LeadsTo, true) => Verdict::Violated,
        (ClaimKind::Sometimes, true) => Verdict::Reachable,
        (ClaimKind::Sometimes, false) => Verdict::Unreachable,
    }
}

/// Which verdicts a claim of this kind can have.
pub fn verdicts_for(kind: ClaimKind) -> [Verdict; 2] {
    match kind {
        ClaimKind::Always | ClaimKind::Eventually | ClaimKind::LeadsTo => {
            [Verdict::Holds, Verdict::Violated]
        }
        ClaimKind::Sometimes => [Verdict::Reachable, Verdict::Unreachable],
    }
}
