//! The one integration-test binary: every test module links once.

mod claims;
mod cli;
mod cycles;
mod distributed;
mod engine;
mod escaping;
mod explorer;
mod formats;
mod invariance;
mod knowledge;
mod language;
mod layers;
mod models;
mod parts;
pub mod reduction;
mod regressions;
mod scenario_parse;
mod support;
mod symmetry;

use imessage_model::Scenario;
use std::path::{Path, PathBuf};

/// The path of a file under the repository root.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Loads a scenario of `models/` by file name, with a path relative to the repository root
/// (so that reports and snapshots do not depend on where the repository lives).
pub fn model(name: &str) -> Scenario {
    let text = std::fs::read_to_string(repo_path(&format!("models/{name}")))
        .unwrap_or_else(|e| panic!("models/{name}: {e}"));
    imessage_model::load::parse(Path::new(&format!("models/{name}")), &text)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The README with every run of whitespace made one space, so that a test can look for a
/// phrase whatever the line breaks.
pub fn readme_text() -> String {
    std::fs::read_to_string(repo_path("README.md"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every scenario file of `models/`, by file name, sorted.
pub fn model_files() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(repo_path("models"))
        .expect("models/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    v.sort();
    v
}
