//! The command line: parse arguments, run, map the outcome to an exit code
//! (0 every verdict as expected, 1 a verdict differs, 2 an error).

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use imessage_model::check::Progress;
use imessage_model::report::matrix as matrix_report;
use imessage_model::scenario::Variant;
use imessage_model::{matrix, CheckOptions, Report, Scenario};
use indicatif::ProgressBar;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// The `--symmetry` values.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SymmetryArg {
    On,
    Off,
}

/// The `--reduction` values.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReductionArg {
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
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<Shard>,
        /// No progress display (it is shown only on a terminal, and never with JSON or JUnit).
        #[arg(long)]
        quiet: bool,
        /// The search's reduction: `por` (partial-order reduction) or `none` (every
        /// interleaving). Verdicts and trace lengths are the same; `por` stores fewer states.
        #[arg(long, value_enum, default_value_t = ReductionArg::Por)]
        reduction: ReductionArg,
        /// Symmetry reduction of interchangeable devices (same account, same workload).
        #[arg(long, value_enum, default_value_t = SymmetryArg::On)]
        symmetry: SymmetryArg,
        /// Memory the whole process may use, in MiB, shared by the scenarios checked at once; a
        /// search that passes it stops with a bounded verdict (default: three quarters of the
        /// machine's memory).
        #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(16..=16_777_216))]
        max_memory: Option<u64>,
        /// A claims file (`[[claim]]` tables) whose claims are checked too; repeatable.
        #[arg(long = "claims", value_name = "FILE")]
        claims_files: Vec<PathBuf>,
        /// A claim written in the claim language, checked too as `ad-hoc` (`ad-hoc-2`, …);
        /// repeatable. Example: --claim 'always forall m: message. not knows(log, content(m))'
        #[arg(long = "claim", value_name = "FORMULA")]
        formulas: Vec<String>,
    },
    /// Print the shortest counterexample (or witness) of one claim in one scenario.
    Trace {
        /// The scenario file.
        scenario: PathBuf,
        /// The claim id (see `imessage-model claims`, the scenario's `[[claim]]` tables, or
        /// `ad-hoc` for a --claim).
        claim: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = TraceFormat::Text)]
        format: TraceFormat,
        /// A claims file (`[[claim]]` tables) whose claims are checked too; repeatable.
        #[arg(long = "claims", value_name = "FILE")]
        claims_files: Vec<PathBuf>,
        /// A claim written in the claim language, checked too as `ad-hoc` (`ad-hoc-2`, …);
        /// repeatable. Example: --claim 'always forall m: message. not knows(log, content(m))'
        #[arg(long = "claim", value_name = "FORMULA")]
        formulas: Vec<String>,
    },
    /// Random runs of a scenario, reproducible from the seed: the transcript and what every
    /// party holds at the end.
    Simulate {
        /// The scenario file.
        scenario: PathBuf,
        /// The seed of the first run; run k uses seed + k.
        #[arg(long)]
        seed: u64,
        /// How many runs.
        #[arg(long, default_value_t = 1)]
        runs: u64,
        /// Longest run, in steps.
        #[arg(long, default_value_t = imessage_model::simulate::DEFAULT_MAX_STEPS)]
        max_steps: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
        /// A claims file (`[[claim]]` tables) whose claims are checked too; repeatable.
        #[arg(long = "claims", value_name = "FILE")]
        claims_files: Vec<PathBuf>,
        /// A claim written in the claim language, checked too as `ad-hoc` (`ad-hoc-2`, …);
        /// repeatable. Example: --claim 'always forall m: message. not knows(log, content(m))'
        #[arg(long = "claim", value_name = "FORMULA")]
        formulas: Vec<String>,
    },
    /// Serve stateright's Explorer web UI for a scenario on 127.0.0.1, to walk its state space.
    Explore {
        /// The scenario file.
        scenario: PathBuf,
        /// The port on 127.0.0.1.
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// A claims file (`[[claim]]` tables) whose claims are checked too; repeatable.
        #[arg(long = "claims", value_name = "FILE")]
        claims_files: Vec<PathBuf>,
        /// A claim written in the claim language, checked too as `ad-hoc` (`ad-hoc-2`, …);
        /// repeatable. Example: --claim 'always forall m: message. not knows(log, content(m))'
        #[arg(long = "claim", value_name = "FORMULA")]
        formulas: Vec<String>,
    },
    /// List the claim catalogue: id, kind, statement and source.
    Claims {
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
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
        #[arg(long, value_name = "VARIANT/THREAT", conflicts_with_all = ["shard", "merge"])]
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
    },
}

/// The formats of `simulate` and `claims`, which have no test cases to report.
#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum PlainFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Text,
    Json,
    /// JUnit XML: one test suite per scenario, one test case per expected verdict.
    Junit,
}

/// Shard `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug)]
struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// Whether the `k`-th item (0-based) belongs to this shard.
    fn contains(self, k: usize) -> bool {
        k % self.count == self.index - 1
    }
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let err = || format!("`{s}`: a shard is I/N with 1 <= I <= N, e.g. 2/4");
    let (i, n) = s.split_once('/').ok_or_else(err)?;
    let index: usize = i.trim().parse().map_err(|_| err())?;
    let count: usize = n.trim().parse().map_err(|_| err())?;
    if index == 0 || count == 0 || index > count {
        return Err(err());
    }
    Ok(Shard { index, count })
}

#[derive(Clone, Copy, ValueEnum)]
enum TraceFormat {
    Text,
    Json,
    /// The Informal Trace Format of Apalache and Quint.
    Itf,
    /// A Mermaid sequence diagram.
    Mermaid,
    /// A Graphviz digraph.
    Dot,
}

#[derive(Clone, Copy, ValueEnum)]
enum MatrixFormat {
    Markdown,
    Html,
    Json,
}

/// Writes to standard output, returning an error (instead of panicking as `print!` does) when
/// the reader has gone away.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write;
        write!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// [`out!`] with a newline.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        // The reader of our output closed it (`... | head`): nothing is wrong.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) if e.downcast_ref::<Interrupted>().is_some() => {
            eprintln!("{}", imessage_model::escape::terminal(&e.to_string()));
            ExitCode::from(130)
        }
        Err(e) => {
            // The message may quote a file name or a value from a file: show it escaped.
            eprintln!(
                "error: {}",
                imessage_model::escape::terminal(&format!("{e:#}"))
            );
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
            claims_files,
            formulas,
        } => {
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
            let extra = ExtraClaims::read(&claims_files, &formulas)?;
            for f in &files {
                match Scenario::load(f).and_then(|s| extra.add_to(s)) {
                    Ok(s) => scenarios.push(s),
                    Err(e) => rejected.push(imessage_model::report::Rejected {
                        file: f.display().to_string(),
                        error: e.to_string(),
                    }),
                }
            }
            let cluster = match (processes, process, hostfile) {
                (Some(p), Some(i), Some(file)) => Some(cluster(p as usize, i, &file, threads)?),
                _ => None,
            };
            if cluster.is_some() {
                // timely's network threads panic when a connection breaks (another process
                // stopped): say so plainly, and exit 2 rather than with a panic's 101.
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
                            "error: the connection to another process of the cluster broke ({}): that process stopped or its host is unreachable",
                            imessage_model::escape::terminal(text)
                        );
                        std::process::exit(2);
                    }
                    if text.starts_with("bincode::deserialize() failed") {
                        eprintln!(
                            "error: another process of the cluster sent data this one cannot read ({}): are all processes the same build?",
                            imessage_model::escape::terminal(text)
                        );
                        std::process::exit(2);
                    }
                    default(info);
                }));
            }
            let options = CheckOptions {
                witnesses: witness,
                reduction: reduction.into(),
                symmetry: match symmetry {
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
                (None, None) => {
                    check_until_interrupted(scenarios, thread_count(None)?, options, show)?
                }
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
        Command::Trace {
            scenario,
            claim,
            format,
            claims_files,
            formulas,
        } => {
            let s = ExtraClaims::read(&claims_files, &formulas)?.load(&scenario)?;
            let Some(i) = s.claims.iter().position(|c| c.id() == claim) else {
                bail!(
                    "unknown claim `{claim}` (known claims: {})",
                    s.claims
                        .iter()
                        .map(|c| c.id())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            let c = s.claims[i].clone();
            let limits = imessage_model::check::Limits::of(&s);
            let model = imessage_model::ProtocolModel::new(s);
            let x = imessage_model::check::explore(&model, limits);
            let verdict = x.verdict_at(i);
            let Some(t) = x.trace_at(i) else {
                eprintln!(
                    "no trace: `{claim}` {} in {} ({}), so there is no {} to show",
                    verdict.name(),
                    imessage_model::escape::line(&scenario.display().to_string()),
                    if x.complete() {
                        format!(
                            "complete search, {}",
                            imessage_model::report::count(x.unique_states(), "unique state")
                        )
                    } else {
                        "bounded search".to_string()
                    },
                    if c.kind() == imessage_model::ClaimKind::Sometimes {
                        "witness"
                    } else {
                        "counterexample"
                    }
                );
                return Ok(false);
            };
            let what = if c.kind() == imessage_model::ClaimKind::Sometimes {
                "witness for"
            } else {
                "counterexample to"
            };
            let sc = &model.scenario;
            use imessage_model::report::trace as tr;
            match format {
                TraceFormat::Text => {
                    out!("{}", tr::text(sc, c.id(), what, &t));
                    if let Some(f) = c.formula() {
                        let last = t.steps.last().map_or(&t.initial, |(_, s)| s);
                        outln!(
                            "why: {}",
                            imessage_model::escape::terminal(&f.explain(&model, last))
                        );
                    }
                }
                TraceFormat::Json => {
                    outln!(
                        "{}",
                        serde_json::to_string_pretty(&tr::json(sc, c.id(), what, &t))?
                    )
                }
                TraceFormat::Itf => {
                    outln!(
                        "{}",
                        serde_json::to_string_pretty(&tr::itf(sc, c.id(), what, &t))?
                    )
                }
                TraceFormat::Mermaid => out!("{}", tr::mermaid(sc, c.id(), what, &t)),
                TraceFormat::Dot => out!("{}", tr::dot(sc, c.id(), what, &t)),
            }
            Ok(true)
        }
        Command::Simulate {
            scenario,
            seed,
            runs,
            max_steps,
            format,
            claims_files,
            formulas,
        } => {
            let s = ExtraClaims::read(&claims_files, &formulas)?.load(&scenario)?;
            let model = imessage_model::ProtocolModel::new(s);
            let results: Vec<imessage_model::simulate::Run> = (0..runs)
                .map(|k| imessage_model::simulate::run(&model, seed.wrapping_add(k), max_steps))
                .collect();
            match format {
                PlainFormat::Text => {
                    for r in &results {
                        outln!("{}", imessage_model::simulate::render(&model.scenario, r));
                    }
                }
                PlainFormat::Json => outln!("{}", serde_json::to_string_pretty(&results)?),
            }
            Ok(true)
        }
        Command::Explore {
            scenario,
            port,
            claims_files,
            formulas,
        } => {
            let s = ExtraClaims::read(&claims_files, &formulas)?.load(&scenario)?;
            let model = imessage_model::ProtocolModel::new(s);
            let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let listener = std::net::TcpListener::bind(address)
                .with_context(|| format!("cannot listen on {address}"))?;
            // With `--port 0` the system picks the port: print the one bound.
            let bound = listener.local_addr()?;
            outln!(
                "Explorer for {} at http://{bound}/ (stop with Ctrl-C)",
                imessage_model::escape::line(&scenario.display().to_string())
            );
            use std::io::Write;
            std::io::stdout().flush()?;
            imessage_model::explore::serve(model, listener)?;
            Ok(true)
        }
        Command::Claims { format } => {
            match format {
                PlainFormat::Text => out!("{}", matrix_report::claims_text()),
                PlainFormat::Json => outln!(
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
            shard,
            merge,
            quiet,
            features,
        } => {
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
                        "--cell {cell}: unknown threat `{t}` (threats: {})",
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
                    matrix::compute_with_progress(threads, select, &features, p)
                })
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
    }
}

/// Ctrl-C stopped `check`; the reports of the scenarios it had finished were printed.
#[derive(Debug, thiserror::Error)]
#[error(
    "interrupted: {checked} of {} scenarios checked (their reports are above); not checked: {}",
    checked + unchecked.len(),
    unchecked.join(", ")
)]
struct Interrupted {
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
            bar.set_message(progress_message(&progress, total, start));
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
            scope.spawn(|| {
                let bar = ProgressBar::new_spinner();
                let start = Instant::now();
                while !done.load(Ordering::Relaxed) {
                    bar.set_message(progress_message(&progress, total, start));
                    bar.tick();
                    std::thread::sleep(Duration::from_millis(100));
                }
                bar.finish_and_clear();
            });
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

/// The progress line: scenarios done, states, unique states, unique states per second, depth.
fn progress_message(progress: &Progress, total: usize, start: Instant) -> String {
    let unique = progress.unique.load(Ordering::Relaxed);
    format!(
        "{}/{total} scenarios, {} states, {} unique, {} unique/s, depth {}",
        progress.scenarios_done.load(Ordering::Relaxed),
        imessage_model::report::group(progress.generated.load(Ordering::Relaxed)),
        imessage_model::report::group(unique),
        imessage_model::report::group(
            (unique as f64 / start.elapsed().as_secs_f64().max(1e-3)) as usize
        ),
        progress.max_depth.load(Ordering::Relaxed),
    )
}

/// Runs `work`, showing its search counters on stderr while it runs when `enabled` and stderr
/// is a terminal: scenarios done, states, unique states, unique states per second, depth.
fn with_progress<T>(enabled: bool, total: usize, work: impl FnOnce(Option<&Progress>) -> T) -> T {
    if !enabled || !std::io::stderr().is_terminal() {
        return work(None);
    }
    let progress = Progress::default();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let bar = ProgressBar::new_spinner();
            let start = Instant::now();
            while !done.load(Ordering::Relaxed) {
                bar.set_message(progress_message(&progress, total, start));
                bar.tick();
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        let result = work(Some(&progress));
        done.store(true, Ordering::Relaxed);
        result
    })
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

/// Claims given on the command line (`--claims FILE`, `--claim FORMULA`), added to every
/// scenario checked.
struct ExtraClaims<'a> {
    files: Vec<(PathBuf, String)>,
    formulas: &'a [String],
}

impl<'a> ExtraClaims<'a> {
    fn read(files: &[PathBuf], formulas: &'a [String]) -> anyhow::Result<Self> {
        let files = files
            .iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .map(|t| (f.clone(), t))
                    .with_context(|| format!("{}: cannot read the claims file", f.display()))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(ExtraClaims { files, formulas })
    }

    /// Loads a scenario file with these claims added.
    fn load(&self, path: &Path) -> anyhow::Result<Scenario> {
        Ok(self.add_to(Scenario::load(path)?)?)
    }

    fn add_to(&self, mut s: Scenario) -> Result<Scenario, imessage_model::ScenarioError> {
        for (path, text) in &self.files {
            imessage_model::scenario::add_claims_file(&mut s, path, text)?;
        }
        for f in self.formulas {
            imessage_model::scenario::add_formula(&mut s, f)?;
        }
        Ok(s)
    }
}
