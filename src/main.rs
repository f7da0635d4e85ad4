//! The command line: parse arguments, run, map the outcome to an exit code
//! (0 every verdict as expected, 1 a verdict differs, 2 an error).

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use imessage_model::report::matrix as matrix_report;
use imessage_model::scenario::Variant;
use imessage_model::{check_all, matrix, CheckOptions, Scenario};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "imessage-model",
    version,
    about = "Check privacy claims about iMessage lookup, delivery and logging, exhaustively"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check scenario files (or every `*.toml` in the directories given) against their expectations.
    Check {
        /// Scenario files or directories of scenario files.
        #[arg(default_value = "models")]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also print the witness path of every reachable `sometimes` claim.
        #[arg(long)]
        witness: bool,
        /// Scenarios checked at the same time (default: the number of CPUs).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// List the claim catalogue: id, kind, statement and source.
    Claims {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Check every claim under every variant and threat on the standard population.
    Matrix {
        /// Output format.
        #[arg(long, value_enum, default_value_t = MatrixFormat::Markdown)]
        format: MatrixFormat,
        /// Cells checked at the same time (default: the number of CPUs).
        #[arg(long)]
        threads: Option<usize>,
        /// Print the scenario file of one cell (`VARIANT/THREAT`) instead of checking.
        #[arg(long, value_name = "VARIANT/THREAT")]
        cell: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum MatrixFormat {
    Markdown,
    Html,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the command; `Ok(false)` when a verdict differs from its expectation.
fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Check {
            paths,
            format,
            witness,
            threads,
        } => {
            let files = scenario_files(&paths)?;
            let mut scenarios = Vec::new();
            let mut errors = Vec::new();
            for f in &files {
                match Scenario::load(f) {
                    Ok(s) => scenarios.push(s),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            if !errors.is_empty() {
                bail!(
                    "{} scenario file{} rejected:\n  {}",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" },
                    errors.join("\n  ")
                );
            }
            let threads = thread_count(threads)?;
            let report = check_all(scenarios, threads, CheckOptions { witnesses: witness });
            match format {
                Format::Text => print!("{}", imessage_model::report::text::render(&report, true)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report).context("serialising the report")?
                ),
            }
            Ok(report.all_as_expected())
        }
        Command::Claims { format } => {
            match format {
                Format::Text => print!("{}", matrix_report::claims_text()),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&matrix_report::claims_json())?
                ),
            }
            Ok(true)
        }
        Command::Matrix {
            format,
            threads,
            cell,
        } => {
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
                        "--cell {cell}: unknown threat `{t}` (threats: {})",
                        matrix::THREATS.join(", ")
                    );
                }
                print!("{}", matrix::cell_toml(variant, t));
                return Ok(true);
            }
            let m = matrix::compute(thread_count(threads)?, |_| true);
            match format {
                MatrixFormat::Markdown => print!("{}", matrix_report::markdown(&m)),
                MatrixFormat::Html => print!("{}", matrix_report::html(&m)),
                MatrixFormat::Json => println!("{}", serde_json::to_string_pretty(&m)?),
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
    }
}

/// The thread count asked for, or the number of CPUs.
fn thread_count(threads: Option<usize>) -> anyhow::Result<usize> {
    let n = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if n == 0 {
        bail!("--threads 0: at least one thread is needed");
    }
    Ok(n)
}

/// The scenario files named by `paths`: files as given, directories as their `*.toml` files, sorted.
fn scenario_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("{}: cannot list the directory", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml") && f.is_file())
                .collect();
            found.sort();
            if found.is_empty() {
                bail!(
                    "{}: no scenario files (*.toml) in this directory",
                    p.display()
                );
            }
            files.extend(found);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            bail!("{}: no such file or directory", display(p));
        }
    }
    Ok(files)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
