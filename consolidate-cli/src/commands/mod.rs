//! One module per command; shared helpers to find and load the tree.

pub mod apply;
pub mod check;
pub mod list;
pub mod new;
pub mod plan;
pub mod prune;
pub mod rebase;
pub mod release;
pub mod rules;
pub mod status;
pub mod verify;

use std::path::PathBuf;

use upgrade_core::{Tree, WorkTree};

use crate::cli_error::CliError;

/// The work tree: `--root`, or found upwards from the current folder.
pub fn work_tree(root: &Option<PathBuf>) -> Result<WorkTree, CliError> {
    let start = match root {
        Some(r) => r.clone(),
        None => std::env::current_dir().map_err(|e| {
            CliError::new(
                format!("cannot read the current folder: {e}"),
                "pass --root DIR",
            )
        })?,
    };
    Ok(WorkTree::find(&start)?)
}

/// The work tree and the tree loaded from it.
pub fn load(root: &Option<PathBuf>) -> Result<(WorkTree, Tree), CliError> {
    let work = work_tree(root)?;
    let tree = Tree::load(&work)?;
    Ok((work, tree))
}
