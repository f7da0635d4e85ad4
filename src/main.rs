//! The command line: parse arguments, run, map the outcome to an exit code
//! (0 every verdict as expected, 1 a verdict differs, 2 an error).

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use imessage_model::{check, CheckOptions, Report, Scenario};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

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
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
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
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            if threads == 0 {
                bail!("--threads 0: at least one thread is needed");
            }
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
    }
}

/// Checks scenarios on `threads` threads; the report lists them in the order given.
fn check_all(scenarios: Vec<Scenario>, threads: usize, options: CheckOptions) -> Report {
    let n = scenarios.len();
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Scenario>>> =
        scenarios.into_iter().map(|s| Mutex::new(Some(s))).collect();
    let results: Vec<Mutex<Option<imessage_model::ScenarioReport>>> =
        (0..n).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(n.max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let s = slots[i].lock().expect("no thread panics holding it").take();
                let s = s.expect("each slot is taken once");
                let r = check(s, &options);
                *results[i].lock().expect("no thread panics holding it") = Some(r);
            });
        }
    });
    Report {
        scenarios: results
            .into_iter()
            .map(|r| {
                r.into_inner()
                    .expect("no thread panicked")
                    .expect("every scenario was checked")
            })
            .collect(),
    }
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
