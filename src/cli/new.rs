//! `new`: writes a commented scenario to start from, so that an installed binary is useful
//! outside the repository.

use anyhow::{bail, Context};
use std::io::Write;
use std::path::PathBuf;

/// The scenario `new` writes; the tests check it as a scenario of its own.
pub const TEMPLATE: &str = include_str!("new.toml");

#[derive(clap::Args)]
pub struct Args {
    /// The file to write (`-` for standard output); an existing file is left alone.
    file: PathBuf,
}

/// Runs `new`.
pub fn run(args: Args) -> anyhow::Result<bool> {
    if args.file.as_os_str() == "-" {
        out!("{TEMPLATE}");
        return Ok(true);
    }
    let shown = super::display(&args.file);
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&args.file)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{shown}: the file exists; `new` writes only a new file")
        }
        Err(e) => return Err(e).with_context(|| format!("{shown}: cannot create the file")),
    };
    f.write_all(TEMPLATE.as_bytes())
        .with_context(|| format!("{shown}: cannot write the file"))?;
    eprintln!(
        "wrote {}; check it with: imessage-model check {}",
        imessage_model::escape::line(&shown),
        imessage_model::escape::line(&shown)
    );
    Ok(true)
}
