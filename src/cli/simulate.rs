//! `simulate`: random runs of a scenario, reproducible from the seed.

use super::{ClaimArgs, PlainFormat};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
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
    #[command(flatten)]
    claims: ClaimArgs,
}

/// Runs `simulate`.
pub fn run(args: Args) -> anyhow::Result<bool> {
    let Args {
        scenario,
        seed,
        runs,
        max_steps,
        format,
        claims,
    } = args;
    let s = claims.read()?.load(&scenario)?;
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
