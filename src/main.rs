//! The command line: parse arguments, run the subcommand (one module of `cli` each), map the
//! outcome to an exit code (0 every verdict as expected, 1 a verdict differs, 2 an error,
//! 130 interrupted).

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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

#[derive(Subcommand)]
enum Command {
    /// Check scenario files (or every `*.toml` in the directories given) against their expectations.
    Check(cli::check::Args),
    /// Print the shortest counterexample (or witness) of one claim in one scenario.
    Trace(cli::trace::Args),
    /// Random runs of a scenario, reproducible from the seed: the transcript and what every
    /// party holds at the end.
    Simulate(cli::simulate::Args),
    /// Serve stateright's Explorer web UI for a scenario on 127.0.0.1, to walk its state space.
    Explore(cli::explore::Args),
    /// List the claim catalogue: id, kind, statement and source.
    Claims(cli::claims::Args),
    /// Check every claim under every variant and threat on the standard population.
    Matrix(cli::matrix::Args),
    /// Write a commented scenario file to start from.
    New(cli::new::Args),
}

fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Check(a) => cli::check::run(a),
        Command::Trace(a) => cli::trace::run(a),
        Command::Simulate(a) => cli::simulate::run(a),
        Command::Explore(a) => cli::explore::run(a),
        Command::Claims(a) => cli::claims::run(a),
        Command::Matrix(a) => cli::matrix::run(a),
        Command::New(a) => cli::new::run(a),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        // The reader of our output closed it (`... | head`): nothing is wrong.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) if e.downcast_ref::<cli::check::Interrupted>().is_some() => {
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
