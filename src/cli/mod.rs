//! The subcommands, one module each; `main.rs` parses the arguments and maps each outcome to
//! an exit code. What several subcommands share is here: writing to standard output, the
//! claims added on the command line, shards, thread counts and the progress display.

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

pub mod check;
pub mod claims;
pub mod explore;
pub mod matrix;
pub mod new;
pub mod simulate;
pub mod trace;

use anyhow::{bail, Context};
use imessage_model::check::Progress;
use imessage_model::Scenario;
use indicatif::ProgressBar;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The formats of `simulate` and `claims`, which have no test cases to report.
#[derive(Clone, Copy, clap::ValueEnum, PartialEq)]
pub enum PlainFormat {
    Text,
    Json,
}

/// Claims given on the command line, added to every scenario the subcommand reads.
#[derive(clap::Args)]
pub struct ClaimArgs {
    /// A claims file (`[[claim]]` tables) whose claims are checked too; repeatable.
    #[arg(long = "claims", value_name = "FILE")]
    pub claims_files: Vec<PathBuf>,
    /// A claim written in the claim language, checked too as `ad-hoc` (`ad-hoc-2`, …);
    /// repeatable. Example: --claim 'always forall m: message. not knows(log, content(m))'
    #[arg(long = "claim", value_name = "FORMULA")]
    pub formulas: Vec<String>,
}

impl ClaimArgs {
    /// Reads the claims files (the formulas are parsed with each scenario).
    pub fn read(&self) -> anyhow::Result<ExtraClaims<'_>> {
        let files = self
            .claims_files
            .iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .map(|t| (f.clone(), t))
                    .with_context(|| format!("{}: cannot read the claims file", f.display()))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(ExtraClaims {
            files,
            formulas: &self.formulas,
        })
    }
}

/// Claims given on the command line (`--claims FILE`, `--claim FORMULA`), read.
pub struct ExtraClaims<'a> {
    files: Vec<(PathBuf, String)>,
    formulas: &'a [String],
}

impl ExtraClaims<'_> {
    /// Loads a scenario file with these claims added.
    pub fn load(&self, path: &Path) -> anyhow::Result<Scenario> {
        Ok(self.add_to(Scenario::load(path)?)?)
    }

    /// Adds these claims to a scenario.
    pub fn add_to(&self, mut s: Scenario) -> Result<Scenario, imessage_model::ScenarioError> {
        self.add(&mut s)?;
        Ok(s)
    }

    /// Adds these claims to a scenario, in place.
    pub fn add(&self, s: &mut Scenario) -> Result<(), imessage_model::ScenarioError> {
        for (path, text) in &self.files {
            imessage_model::load::add_claims_file(s, path, text)?;
        }
        for f in self.formulas {
            imessage_model::load::add_formula(s, f)?;
        }
        Ok(())
    }

    /// Whether there are any.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.formulas.is_empty()
    }
}

/// Shard `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// Whether the `k`-th item (0-based) belongs to this shard.
    pub fn contains(self, k: usize) -> bool {
        k % self.count == self.index - 1
    }
}

/// Parses `I/N`.
pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let err = || format!("`{s}`: a shard is I/N with 1 <= I <= N, e.g. 2/4");
    let (i, n) = s.split_once('/').ok_or_else(err)?;
    let index: usize = i.trim().parse().map_err(|_| err())?;
    let count: usize = n.trim().parse().map_err(|_| err())?;
    if index == 0 || count == 0 || index > count {
        return Err(err());
    }
    Ok(Shard { index, count })
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

/// Shows `progress` on stderr every 100 ms until `done` is set.
fn show_progress(progress: &Progress, total: usize, done: &AtomicBool) {
    let bar = ProgressBar::new_spinner();
    let start = Instant::now();
    while !done.load(Ordering::Relaxed) {
        bar.set_message(progress_message(progress, total, start));
        bar.tick();
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
}

/// Runs `work`, showing its search counters on stderr while it runs when `enabled` and stderr
/// is a terminal: scenarios done, states, unique states, unique states per second, depth.
pub fn with_progress<T>(
    enabled: bool,
    total: usize,
    work: impl FnOnce(Option<&Progress>) -> T,
) -> T {
    if !enabled || !std::io::stderr().is_terminal() {
        return work(None);
    }
    let progress = Progress::default();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| show_progress(&progress, total, &done));
        let result = work(Some(&progress));
        done.store(true, Ordering::Relaxed);
        result
    })
}

/// The thread count asked for, or the number of CPUs.
pub fn thread_count(threads: Option<usize>) -> anyhow::Result<usize> {
    let n = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if n == 0 {
        bail!("--threads 0: at least one thread is needed");
    }
    Ok(n)
}

/// A path as the messages show it.
pub fn display(p: &Path) -> String {
    p.display().to_string()
}
