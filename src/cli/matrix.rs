//! `matrix`: every claim under every variant and threat on the standard population.

use super::{parse_shard, thread_count, with_progress, ClaimArgs, Shard};
use anyhow::{bail, Context};
use imessage_model::matrix;
use imessage_model::report::matrix as matrix_report;
use imessage_model::scenario::Variant;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = MatrixFormat::Markdown)]
    format: MatrixFormat,
    /// Cells checked at the same time (default: the number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the scenario file of one cell (`VARIANT/COLUMN`, a column a threat or a setting such
    /// as `lossy-network`) instead of checking.
    #[arg(long, value_name = "VARIANT/COLUMN", conflicts_with_all = ["shard", "merge"])]
    cell: Option<String>,
    /// Check only shard I of N (1-based): every N-th cell; combine the JSON shards with --merge.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Merge matrix JSON shards (from --shard ... --format json) instead of checking.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with = "shard")]
    merge: Vec<PathBuf>,
    /// No progress display (it is shown only on a terminal, and never with JSON).
    #[arg(long)]
    quiet: bool,
    /// Protocol features on in every cell besides its variant's, e.g.
    /// `--features delivery-receipts` (the literature's findings are then not checked).
    #[arg(
        long,
        value_name = "FEATURE,...",
        value_delimiter = ',',
        conflicts_with = "merge"
    )]
    features: Vec<String>,
    /// Claims checked in every cell besides the catalogue (rows of their own), or in place of
    /// the catalogue claim of the same id.
    #[command(flatten)]
    claims: ClaimArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum MatrixFormat {
    Markdown,
    Html,
    Json,
    /// The findings from the literature alone, as a Markdown list (README.md's).
    Findings,
}

/// Runs `matrix`; `Ok(false)` when a finding from the literature is not reproduced.
pub fn run(args: Args) -> anyhow::Result<bool> {
    let Args {
        format,
        threads,
        cell,
        shard,
        merge,
        quiet,
        features,
        claims,
    } = args;
    let extra = claims.read()?;
    if !extra.is_empty() && (cell.is_some() || !merge.is_empty()) {
        bail!("--claims and --claim are for checking the matrix, not with --cell or --merge");
    }
    let known = imessage_model::scenario::Features::ALL.map(|(n, _)| n);
    if let Some(f) = features.iter().find(|f| !known.contains(&f.as_str())) {
        bail!(
            "--features: unknown feature `{f}` (features: {})",
            known.join(", ")
        );
    }
    if let Some(cell) = cell {
        let (v, t) = cell.split_once('/').unwrap_or((cell.as_str(), ""));
        let variant = Variant::ALL
            .iter()
            .find(|(n, _)| *n == v)
            .map(|(_, x)| *x)
            .with_context(|| {
                format!(
                    "--cell {cell}: unknown variant `{v}` (variants: {})",
                    Variant::ALL.map(|(n, _)| n).join(", ")
                )
            })?;
        if !matrix::is_threat(t) {
            bail!(
                "--cell {cell}: unknown threat `{t}` (columns: {})",
                matrix::THREATS.join(", ")
            );
        }
        out!("{}", matrix::cell_toml(variant, t, &features));
        return Ok(true);
    }
    let m = if merge.is_empty() {
        let threads = thread_count(threads)?;
        let select = |k: usize| shard.is_none_or(|s| s.contains(k));
        let total = matrix::selected(select);
        let show = !quiet && !matches!(format, MatrixFormat::Json);
        with_progress(show, total, |p| {
            matrix::compute_with_progress(threads, select, &features, &|s| extra.add(s), p)
        })?
    } else {
        let mut shards = Vec::new();
        for f in &merge {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("{}: cannot read the shard", f.display()))?;
            let m: matrix::Matrix = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: not a matrix JSON shard (from `matrix --shard I/N --format json`)",
                    f.display()
                )
            })?;
            shards.push(m);
        }
        matrix::merge(shards)?
    };
    match format {
        MatrixFormat::Markdown => out!("{}", matrix_report::markdown(&m)),
        MatrixFormat::Html => out!("{}", matrix_report::html(&m)),
        MatrixFormat::Json => outln!("{}", serde_json::to_string_pretty(&m)?),
        MatrixFormat::Findings => out!("{}", matrix_report::findings_markdown(&m)),
    }
    if shard.is_some() {
        // A shard holds some cells only: the findings are checked on the merged matrix.
        return Ok(true);
    }
    if !m.features.is_empty() {
        // The literature's findings are about the variants as they are.
        eprintln!(
            "with --features the findings from the literature are not checked: they \
                 are about the variants as published"
        );
        return Ok(true);
    }
    let unreproduced = matrix_report::check_findings(&m)
        .into_iter()
        .filter(|(_, wrong)| !wrong.is_empty())
        .count();
    if unreproduced > 0 {
        eprintln!("{unreproduced} finding(s) from the literature not reproduced");
    }
    Ok(unreproduced == 0)
}
