//! `consolidate done COMPONENT/STEP`: has a step been applied on the site?
//! Exit 0 yes (a ledger row, or covered by the completed release), 2 not
//! yet (with its progress on stderr), 1 on error. For application code:
//! "not yet upgraded, try later". The same answer as one SQL query is in
//! docs/post-steps.md.

use std::path::PathBuf;

use upgrade_core::site::runner::Runner;

use super::status::{DbArg, tree_and_url};
use crate::cli_error::{CliError, EXIT_OK, EXIT_PENDING};

/// Arguments of `done`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArg,
    /// The step: component/name (or a name unique in the tree).
    step: String,
}

/// Runs `done`.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let (tree, url) = tree_and_url(root, &args.db)?;
    let runner = Runner::new(&tree, url)?;
    let answer = runner.done(&args.step)?;
    if answer.applied {
        out!("{}: applied", answer.key);
        return Ok(EXIT_OK);
    }
    match &answer.progress {
        Some(p) => err_out!("{}: not yet: {}", answer.key, p.summary()),
        None => err_out!(
            "{}: not yet: pending (`consolidate apply` runs it)",
            answer.key
        ),
    }
    Ok(EXIT_PENDING)
}
