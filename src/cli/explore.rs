//! `explore`: stateright's Explorer for one scenario, on loopback.

use super::ClaimArgs;
use anyhow::Context;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The scenario file.
    scenario: PathBuf,
    /// The port on 127.0.0.1.
    #[arg(long, default_value_t = 3000)]
    port: u16,
    #[command(flatten)]
    claims: ClaimArgs,
}

/// Runs `explore` until the process is stopped.
pub fn run(args: Args) -> anyhow::Result<bool> {
    let Args {
        scenario,
        port,
        claims,
    } = args;
    let s = claims.read()?.load(&scenario)?;
    let model =
        imessage_model::ProtocolModel::new(s).with_symmetry(imessage_model::Symmetry::default());
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
