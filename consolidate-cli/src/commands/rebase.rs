//! `consolidate rebase --onto REV`: move a custom branch's own steps onto a
//! new upstream revision, without relabelling them.

use std::path::PathBuf;

use upgrade_core::history::rebase::rebase;

use crate::cli_error::{CliError, EXIT_OK, io_error};

/// Arguments of `rebase`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The upstream revision (tag, branch, commit) to move the branch's steps onto.
    #[arg(long, value_name = "REV")]
    onto: String,
    /// Print the unified diff of what would change, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Run even if the git work tree has uncommitted changes.
    #[arg(long)]
    allow_dirty: bool,
}

/// Runs `rebase`.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let work = super::work_tree(root)?;
    if !args.allow_dirty && !args.dry_run {
        super::refuse_dirty(
            &work,
            "commit or stash them first (the rebase rewrites step files), or pass --allow-dirty",
        )?;
    }
    let rebase = rebase(&work, &args.onto)?;
    if args.dry_run {
        print!("{}", rebase.diff());
        eprint!("{}", rebase.summary());
        eprintln!("dry run: nothing written");
        return Ok(EXIT_OK);
    }
    rebase
        .apply(work.root())
        .map_err(|e| io_error(work.root(), &e))?;
    print!("{}", rebase.summary());
    Ok(EXIT_OK)
}
