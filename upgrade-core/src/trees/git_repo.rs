//! The git work tree around a step tree: is it dirty, and committing a
//! consolidation (git2, no `git` binary needed).

use std::path::Path;

use git2::{IndexAddOption, Repository, Status, StatusOptions};

/// A git operation failed.
#[derive(Debug, thiserror::Error)]
#[error("git: {message}")]
pub struct GitError {
    /// What failed.
    pub message: String,
}

impl From<git2::Error> for GitError {
    fn from(e: git2::Error) -> Self {
        GitError {
            message: e.message().to_string(),
        }
    }
}

/// The repository holding `root`, if any.
pub fn open(root: &Path) -> Option<Repository> {
    Repository::discover(root).ok()
}

/// The paths with uncommitted changes (untracked files included, ignored ones
/// not) under `root`, relative to the repository; `None` outside a repository.
pub fn dirty_paths(root: &Path) -> Result<Option<Vec<String>>, GitError> {
    let Some(repo) = open(root) else {
        return Ok(None);
    };
    let prefix = tree_prefix(&repo, root)?;
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = repo.statuses(Some(&mut opts))?;
    let mut out: Vec<String> = statuses
        .iter()
        .filter(|s| s.status() != Status::CURRENT && !s.status().contains(Status::IGNORED))
        .filter_map(|s| s.path().map(str::to_string))
        .filter(|p| prefix.is_empty() || p.starts_with(&format!("{prefix}/")))
        .collect();
    out.sort();
    Ok(Some(out))
}

/// Stages every change under `root` (additions, edits and deletions) and
/// commits it on HEAD with `message`; returns the new commit id. With `tag`,
/// also creates an annotated tag of that name on it.
pub fn commit_all(root: &Path, message: &str, tag: Option<&str>) -> Result<String, GitError> {
    let repo = open(root).ok_or_else(|| GitError {
        message: format!("{} is not inside a git repository", root.display()),
    })?;
    let prefix = tree_prefix(&repo, root)?;
    let spec = if prefix.is_empty() {
        "*".to_string()
    } else {
        format!("{prefix}/*")
    };
    let mut index = repo.index()?;
    index.add_all([spec.as_str()], IndexAddOption::DEFAULT, None)?;
    index.update_all([spec.as_str()], None)?;
    index.write()?;
    let tree_id = index.write_tree()?;
    let tree = repo.find_tree(tree_id)?;
    let signature = repo.signature().map_err(|_| GitError {
        message: "no git identity: set `git config user.name` and `git config user.email`".into(),
    })?;
    let parent = match repo.head() {
        Ok(head) => Some(head.peel_to_commit()?),
        Err(_) => None,
    };
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let id = repo.commit(
        Some("HEAD"),
        &signature,
        &signature,
        message,
        &tree,
        &parents,
    )?;
    if let Some(name) = tag {
        let object = repo.find_object(id, None)?;
        repo.tag(name, &object, &signature, &format!("Release {name}"), false)?;
    }
    Ok(id.to_string())
}

/// The tree root's folder relative to the repository's work tree (`""` at its top).
pub fn tree_prefix(repo: &Repository, root: &Path) -> Result<String, GitError> {
    let workdir = repo.workdir().ok_or_else(|| GitError {
        message: "the repository has no work tree".into(),
    })?;
    let canonical = |p: &Path| {
        p.canonicalize().map_err(|e| GitError {
            message: format!("{}: {e}", p.display()),
        })
    };
    Ok(canonical(root)?
        .strip_prefix(canonical(workdir)?)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default())
}
