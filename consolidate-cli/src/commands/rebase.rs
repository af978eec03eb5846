//! `consolidate rebase --onto REV`: move a custom branch's own steps onto a
//! new upstream revision, without relabelling them.
//!
//! Unless `--allow-dirty`, the branch's steps are read from HEAD's commit and
//! the work tree may differ from HEAD only by what this rebase writes (an
//! interrupted run, which the re-run completes) and temporary files of a
//! killed run (removed); any other uncommitted change is refused before
//! anything is written.

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
    /// Run even if the git work tree has uncommitted changes (the branch's
    /// steps are then read from the work tree, uncommitted ones included).
    #[arg(long)]
    allow_dirty: bool,
}

/// Runs `rebase`.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let work = super::work_tree(root)?;
    let rebase = rebase(&work, &args.onto, !args.allow_dirty && !args.dry_run)?;
    if args.dry_run {
        print!("{}", rebase.diff());
        eprint!("{}", rebase.summary());
        eprintln!("dry run: nothing written");
        return Ok(EXIT_OK);
    }
    if !args.allow_dirty {
        let temp_files = super::release::refuse_foreign_changes(&work, &|path| {
            rebase.expected(path)
        })
        .map_err(|mut e| {
            e.hint = Some(
                "commit or stash them first (the rebase rewrites step files), or pass --allow-dirty; what an interrupted rebase onto the same revision left is completed, not refused".into(),
            );
            e
        })?;
        super::release::remove_files(work.root(), &temp_files);
    }
    super::release::remove_temp_files(work.root(), &rebase.changes);
    rebase
        .apply(work.root())
        .map_err(|e| io_error(work.root(), &e))?;
    print!("{}", rebase.summary());
    Ok(EXIT_OK)
}
