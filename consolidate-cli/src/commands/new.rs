//! `consolidate new`: a new standalone step with the next free name for today.

use std::path::PathBuf;

use upgrade_core::consolidation::new_step::{new_step, today_utc};
use upgrade_core::files::fsio::write_atomic;

use crate::cli_error::{CliError, EXIT_OK, io_error};

/// Arguments of `new`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component, e.g. `core` or `mod_forum`.
    component: String,
    /// The slug: lowercase letters, digits, `_` and `-`.
    slug: String,
}

/// Runs `new`.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let (work, tree) = super::load(root)?;
    let step = new_step(&tree, &args.component, &args.slug, &today_utc())?;
    let path = work.path_of(&step.path);
    write_atomic(&path, step.text.as_bytes()).map_err(|e| io_error(&path, &e))?;
    println!("created {} ({})", step.path, step.name);
    Ok(EXIT_OK)
}
