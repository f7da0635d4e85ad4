//! `check`: scenario files against their expectations, reported as text, JSON, JUnit or SARIF.

use super::{display, thread_count, ClaimArgs, Shard};
use anyhow::{bail, Context};
use imessage_model::check::Progress;
use imessage_model::{CheckOptions, Report, Scenario};
use indicatif::ProgressBar;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Scenario files or directories of scenario files.
    #[arg(default_value = "models")]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also print the witness path of every reachable `sometimes` claim.
    #[arg(long)]
    witness: bool,
    /// With --format junit: every claim is a test case, those without an expectation
    /// skipped (by default only claims with an expectation are test cases).
    #[arg(long)]
    junit_all: bool,
    /// Workers that search each scenario together, on this machine (scenarios are then
    /// checked one after another). Without it, scenarios are checked at the same time, one
    /// per CPU, each by the single-thread search. With --processes: workers per process.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Search each scenario with P processes together (on one or several hosts); every
    /// process runs the same command with its own --process, and process 0 prints the
    /// report.
    #[arg(long, value_name = "P", requires_all = ["process", "hostfile"], value_parser = clap::value_parser!(u64).range(1..=4096))]
    processes: Option<u64>,
    /// This process's index, from 0 to P - 1 (with --processes).
    #[arg(long, value_name = "I", requires = "processes")]
    process: Option<usize>,
    /// The processes' addresses, one `host:port` per line in process order (`#` starts a
    /// comment); each process listens at its own line (with --processes).
    #[arg(long, value_name = "FILE", requires = "processes")]
    hostfile: Option<PathBuf>,
    /// Check only shard I of N (1-based): every N-th scenario file in sorted order.
    #[arg(long, value_name = "I/N", value_parser = super::parse_shard)]
    shard: Option<Shard>,
    /// No progress display (it is shown only on a terminal, and only with the text format).
    #[arg(long)]
    quiet: bool,
    /// The search's reduction: `por` (partial-order reduction) or `none` (every
    /// interleaving). Verdicts and trace lengths are the same; `por` stores fewer states.
    #[arg(long, value_enum, default_value_t = ReductionArg::Por)]
    reduction: ReductionArg,
    /// Symmetry reduction of interchangeable devices (same account, same workload): `auto`
    /// canonicalises classes of five or more devices, where it pays; `on` every class; `off`
    /// none.
    #[arg(long, value_enum, default_value_t = SymmetryArg::Auto)]
    symmetry: SymmetryArg,
    /// Memory the whole process may use, in MiB, shared by the scenarios checked at once; a
    /// search that passes it stops with a bounded verdict (default: three quarters of the
    /// machine's memory).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(16..=16_777_216))]
    max_memory: Option<u64>,
    #[command(flatten)]
    claims: ClaimArgs,
}

/// The `--symmetry` values.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SymmetryArg {
    Auto,
    On,
    Off,
}

/// The `--reduction` values.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReductionArg {
    /// Every enabled step of every state.
    None,
    /// Partial-order reduction (persistent sets with a cycle proviso).
    Por,
}

impl From<ReductionArg> for imessage_model::check::Reduction {
    fn from(r: ReductionArg) -> Self {
        match r {
            ReductionArg::None => Self::None,
            ReductionArg::Por => Self::Por,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum, PartialEq)]
pub enum Format {
    Text,
    Json,
    /// JUnit XML: one test suite per scenario, one test case per expected verdict.
    Junit,
    /// SARIF 2.1.0: one result per differing verdict, at its `[expect]` line, and per rejected
    /// file, at its error.
    Sarif,
}

/// Runs `check`; `Ok(false)` when a verdict differs from its expectation.
pub fn run(args: Args) -> anyhow::Result<bool> {
    let Args {
        paths,
        format,
        witness,
        junit_all,
        threads,
        processes,
        process,
        hostfile,
        shard,
        quiet,
        reduction,
        symmetry,
        max_memory,
        claims,
    } = args;
    let files: Vec<PathBuf> = scenario_files(&paths)?
        .into_iter()
        .enumerate()
        .filter(|(k, _)| shard.is_none_or(|s| s.contains(*k)))
        .map(|(_, f)| f)
        .collect();
    let mut scenarios = Vec::new();
    // Every file is read; the rejected ones are reported beside the results of the
    // others (and make the exit code 2).
    let mut rejected = Vec::new();
    let extra = claims.read()?;
    for f in &files {
        match Scenario::load(f).and_then(|s| extra.add_to(s)) {
            Ok(s) => scenarios.push(s),
            Err(e) => rejected.push(imessage_model::report::Rejected::new(f, &e)),
        }
    }
    let cluster = match (processes, process, hostfile) {
        (Some(p), Some(i), Some(file)) => Some(cluster(p as usize, i, &file, threads)?),
        _ => None,
    };
    if cluster.is_some() {
        exit_plainly_when_the_cluster_breaks();
    }
    let options = CheckOptions {
        witnesses: witness,
        reduction: reduction.into(),
        symmetry: match symmetry {
            SymmetryArg::Auto => imessage_model::Symmetry::Auto,
            SymmetryArg::On => imessage_model::Symmetry::On,
            SymmetryArg::Off => imessage_model::Symmetry::Off,
        },
        max_memory: max_memory.map(|m| m as usize * imessage_model::scenario::MIB),
    };
    let show = !quiet && format == Format::Text;
    let (report, unchecked) = match (cluster, threads) {
        (Some(workers), _) => {
            let reports = workers.reports();
            match check_together(scenarios, workers, options, show && reports)? {
                Some(report) => (report, Vec::new()),
                // Another process prints the report (and names the rejected files).
                None if rejected.is_empty() => return Ok(true),
                None => bail!("{} scenario file(s) rejected", rejected.len()),
            }
        }
        (None, Some(n)) => {
            let n = thread_count(Some(n))?;
            let workers = imessage_model::distributed::Workers::Threads(n);
            let report = check_together(scenarios, workers, options, show)?
                .expect("this process holds worker 0");
            (report, Vec::new())
        }
        (None, None) => check_until_interrupted(scenarios, thread_count(None)?, options, show)?,
    };
    match format {
        // (A text report of no scenario at all would say nothing the error does not.)
        Format::Text if report.scenarios.is_empty() && !rejected.is_empty() => {}
        Format::Text => out!("{}", imessage_model::report::text::render(&report, true)),
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&report.json(&rejected))
                .context("serialising the report")?
        ),
        Format::Sarif => outln!(
            "{}",
            serde_json::to_string_pretty(&imessage_model::report::sarif::render(
                &report, &rejected
            ))
            .context("serialising the report")?
        ),
        Format::Junit => out!(
            "{}",
            imessage_model::report::junit::render_with(&report, &rejected, junit_all)
        ),
    }
    if !rejected.is_empty() {
        let errors: Vec<&str> = rejected.iter().map(|x| x.error.as_str()).collect();
        bail!(
            "{} scenario file{} rejected:\n  {}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            errors.join("\n  ")
        );
    }
    if !unchecked.is_empty() {
        return Err(Interrupted {
            checked: report.scenarios.len(),
            unchecked,
        }
        .into());
    }
    Ok(report.all_as_expected())
}

/// timely's network threads panic when a connection breaks (another process stopped) or a
/// message cannot be read: say so plainly, and exit 2 rather than with a panic's 101.
fn exit_plainly_when_the_cluster_breaks() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.starts_with("timely communication error") {
            eprintln!(
                "error: the connection to another process of the cluster broke ({}): that \
                 process stopped or its host is unreachable",
                imessage_model::escape::terminal(text)
            );
            std::process::exit(2);
        }
        if text.starts_with("bincode::deserialize() failed") {
            eprintln!(
                "error: another process of the cluster sent data this one cannot read ({}): are \
                 all processes the same build?",
                imessage_model::escape::terminal(text)
            );
            std::process::exit(2);
        }
        default(info);
    }));
}

/// Ctrl-C stopped `check`; the reports of the scenarios it had finished were printed.
#[derive(Debug, thiserror::Error)]
#[error(
    "interrupted: {checked} of {} scenarios checked (their reports are above); not checked: {}",
    checked + unchecked.len(),
    unchecked.join(", ")
)]
pub struct Interrupted {
    checked: usize,
    unchecked: Vec<String>,
}

/// Checks `scenarios` like `check_all`, showing progress when `show` and stderr is a terminal,
/// until they are all checked or Ctrl-C is pressed. Returns the reports of the scenarios
/// checked, in the order given, and the files of those not checked (none unless interrupted).
/// A second Ctrl-C exits at once.
fn check_until_interrupted(
    scenarios: Vec<Scenario>,
    threads: usize,
    options: CheckOptions,
    show: bool,
) -> anyhow::Result<(Report, Vec<String>)> {
    use std::sync::{mpsc, Arc};
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .context("cannot install the Ctrl-C handler")?;
    let files: Vec<String> = scenarios
        .iter()
        .map(|s| s.path.display().to_string())
        .collect();
    let total = scenarios.len();
    let progress = Arc::new(Progress::default());
    let (tx, rx) = mpsc::channel();
    let counters = Arc::clone(&progress);
    // Not scoped: on Ctrl-C the searches still running are abandoned, not waited for.
    std::thread::spawn(move || {
        imessage_model::check_each(scenarios, threads, options, Some(&counters), &|i, r| {
            let _ = tx.send((i, r));
        })
    });
    let bar = (show && std::io::stderr().is_terminal()).then(ProgressBar::new_spinner);
    let start = Instant::now();
    let mut reports: Vec<Option<imessage_model::ScenarioReport>> = vec![None; total];
    let mut received = 0;
    while received < total && !interrupted.load(Ordering::SeqCst) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((i, r)) => {
                reports[i] = Some(r);
                received += 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("the check stopped before every scenario was checked")
            }
        }
        if let Some(bar) = &bar {
            bar.set_message(super::progress_message(&progress, total, start));
            bar.tick();
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let unchecked = files
        .into_iter()
        .zip(&reports)
        .filter(|(_, r)| r.is_none())
        .map(|(f, _)| f)
        .collect();
    let scenarios = reports.into_iter().flatten().collect();
    Ok((Report { scenarios }, unchecked))
}

/// Checks `scenarios` one after another, each searched by every worker of `workers` together,
/// showing progress when `show` and stderr is a terminal; `None` on a process of a cluster
/// that does not print the report.
fn check_together(
    scenarios: Vec<Scenario>,
    workers: imessage_model::distributed::Workers,
    options: CheckOptions,
    show: bool,
) -> anyhow::Result<Option<Report>> {
    let total = scenarios.len();
    // The workers cannot be abandoned half-way through a search: Ctrl-C stops at once.
    ctrlc::set_handler(|| {
        eprintln!("interrupted: the search over several workers was stopped; no report");
        std::process::exit(130);
    })
    .context("cannot install the Ctrl-C handler")?;
    let progress = std::sync::Arc::new(Progress::default());
    let counters = std::sync::Arc::clone(&progress);
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        if show && std::io::stderr().is_terminal() {
            scope.spawn(|| super::show_progress(&progress, total, &done));
        }
        let result =
            imessage_model::check_distributed(scenarios, &workers, options, Some(counters));
        done.store(true, Ordering::Relaxed);
        result
    });
    result.map_err(|e| anyhow::anyhow!(e))
}

/// The workers of process `process` of a cluster of `processes`, whose addresses are in
/// `hostfile` (one `host:port` per line, in process order; blank lines and `#` comments are
/// skipped).
fn cluster(
    processes: usize,
    process: usize,
    hostfile: &Path,
    threads: Option<usize>,
) -> anyhow::Result<imessage_model::distributed::Workers> {
    let bytes = std::fs::read(hostfile)
        .with_context(|| format!("{}: cannot read the host file", display(hostfile)))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{}: not UTF-8 text ({e})", display(hostfile)))?;
    let mut addresses = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let valid = line.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !valid {
            bail!(
                "{}:{}: `{line}` is not an address: write host:port, e.g. 10.0.0.5:2101",
                display(hostfile),
                n + 1
            );
        }
        addresses.push(line.to_string());
    }
    if addresses.len() != processes {
        bail!(
            "{}: the host file lists {} address{} but --processes is {processes}",
            display(hostfile),
            addresses.len(),
            if addresses.len() == 1 { "" } else { "es" }
        );
    }
    if process >= processes {
        bail!(
            "--process {process}: processes are numbered 0 to {}",
            processes - 1
        );
    }
    Ok(imessage_model::distributed::Workers::Cluster {
        threads: thread_count(Some(threads.unwrap_or(1)))?,
        process,
        addresses,
    })
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
