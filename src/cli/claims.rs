//! `claims`: the claim catalogue.

use super::PlainFormat;
use imessage_model::report::matrix as matrix_report;

#[derive(clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
    format: PlainFormat,
}

/// Runs `claims`.
pub fn run(args: Args) -> anyhow::Result<bool> {
    match args.format {
        PlainFormat::Text => out!("{}", matrix_report::claims_text()),
        PlainFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&matrix_report::claims_json())?
        ),
    }
    Ok(true)
}
