//! One module per command; shared helpers to find and load the tree.

pub mod adopt;
pub mod apply;
pub mod check;
pub mod done;
pub mod list;
pub mod maintenance;
pub mod new;
pub mod plan;
pub mod post;
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

/// The work tree and the tree loaded from it; files ignored on purpose
/// (editor leftovers) are printed to stderr as warnings.
pub fn load(root: &Option<PathBuf>) -> Result<(WorkTree, Tree), CliError> {
    let work = work_tree(root)?;
    let tree = Tree::load(&work)?;
    for warning in &tree.warnings {
        eprintln!("warning: {warning}");
    }
    Ok((work, tree))
}

/// Refuses a git work tree with uncommitted changes below the tree root
/// (`hint` says what to do); outside a repository there is nothing to refuse.
pub fn refuse_dirty(work: &WorkTree, hint: &str) -> Result<(), CliError> {
    let Some(dirty) = upgrade_core::trees::git_repo::dirty_paths(work.root())? else {
        return Ok(());
    };
    if dirty.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = dirty.iter().take(5).map(String::as_str).collect();
    Err(CliError::new(
        format!(
            "the git work tree has {} uncommitted change(s): {}{}",
            dirty.len(),
            shown.join(", "),
            if dirty.len() > 5 { ", ..." } else { "" }
        ),
        hint,
    ))
}
