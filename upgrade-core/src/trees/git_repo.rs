//! The git work tree around a step tree: is it dirty, which of its
//! uncommitted changes an interrupted run of the same command left, and
//! committing a consolidation (git2, no `git` binary needed).
//!
//! `release --commit` checks everything a commit needs ([`prepare_commit`]:
//! a repository, an identity, no merge in progress, a first commit, a free
//! tag) before it writes a file, and commits exactly the paths it changed
//! ([`CommitTarget::commit_paths`]): temporary files of a killed run
//! ([`is_temp_file`]) and anything else in the work tree are never staged.

use std::path::Path;

use git2::{Repository, RepositoryState, Status, StatusOptions};

use crate::files::fsio::{FileChange, join_relative};

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

/// Is `path` a temporary file of [`crate::files::fsio::write_atomic`]
/// (`.consolidate-*.tmp`), left behind when a run was killed mid-write?
pub fn is_temp_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with(".consolidate-") && name.ends_with(".tmp")
}

/// The uncommitted changes below a tree root, sorted out against the file
/// changes a command is about to make.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirt {
    /// Temporary files of a killed run: safe to delete, never staged.
    pub temp_files: Vec<String>,
    /// Paths already holding the content the command writes (or already
    /// deleted): left by an interrupted run of the same command.
    pub done: Vec<String>,
    /// Every other change: the user's own work, which the command must not touch.
    pub foreign: Vec<String>,
}

/// What a command computed from HEAD's tree leaves at `path`: `None` when it
/// does not touch the path, `Some(None)` when it deletes it, `Some(Some(text))`
/// when it writes `text` there.
pub type Expected<'a> = &'a dyn Fn(&str) -> Option<Option<String>>;

/// [`Expected`] of a list of file changes.
pub fn expected_of(changes: &[FileChange]) -> impl Fn(&str) -> Option<Option<String>> + '_ {
    move |path| {
        changes
            .iter()
            .find(|c| c.path == path)
            .map(|c| c.after.clone())
    }
}

/// The uncommitted changes below `root` (tree-relative paths) compared with
/// what a command computed from HEAD's tree leaves there (`expected`);
/// `None` outside a repository.
pub fn classify_dirt(root: &Path, expected: Expected<'_>) -> Result<Option<Dirt>, GitError> {
    let Some(repo) = open(root) else {
        return Ok(None);
    };
    let prefix = tree_prefix(&repo, root)?;
    let Some(dirty) = dirty_paths(root)? else {
        return Ok(None);
    };
    let mut dirt = Dirt::default();
    for repo_path in dirty {
        let path = if prefix.is_empty() {
            repo_path
        } else {
            repo_path
                .strip_prefix(&format!("{prefix}/"))
                .unwrap_or(&repo_path)
                .to_string()
        };
        if is_temp_file(&path) {
            dirt.temp_files.push(path);
            continue;
        }
        let now = std::fs::read(join_relative(root, &path))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let done = expected(&path).is_some_and(|after| after == now);
        if done {
            dirt.done.push(path);
        } else {
            dirt.foreign.push(path);
        }
    }
    Ok(Some(dirt))
}

/// A repository ready to take a commit of the tree at a root: checked by
/// [`prepare_commit`] before anything is written.
pub struct CommitTarget {
    repo: Repository,
    prefix: String,
    signature: git2::Signature<'static>,
}

impl std::fmt::Debug for CommitTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitTarget")
            .field("path", &self.repo.path())
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Checks, before anything is written, that a commit of the tree at `root`
/// (and the tag `tag`) can be made: the root is in a git repository with a
/// work tree, HEAD has a commit, no merge, rebase or cherry-pick is in
/// progress, `user.name` and `user.email` are set, and the tag is free.
pub fn prepare_commit(root: &Path, tag: Option<&str>) -> Result<CommitTarget, GitError> {
    let fail = |message: String| GitError { message };
    let repo = open(root).ok_or_else(|| {
        fail(format!(
            "{} is not inside a git repository: `--commit` has nothing to commit to (run `git init` and commit the tree, or leave out --commit)",
            root.display()
        ))
    })?;
    let prefix = tree_prefix(&repo, root)?;
    if repo.state() != RepositoryState::Clean {
        return Err(fail(format!(
            "the repository is in the middle of a {} (state {:?}): finish or abort it first (`git status` says how)",
            match repo.state() {
                RepositoryState::Merge => "merge",
                RepositoryState::CherryPick | RepositoryState::CherryPickSequence => "cherry-pick",
                RepositoryState::Revert | RepositoryState::RevertSequence => "revert",
                RepositoryState::Bisect => "bisect",
                _ => "rebase",
            },
            repo.state()
        )));
    }
    if repo.head().and_then(|h| h.peel_to_commit()).is_err() {
        return Err(fail(
            "the repository has no commit yet: commit the tree first (`git add -A && git commit`), then release".into(),
        ));
    }
    let signature = repo
        .signature()
        .map_err(|_| {
            fail("no git identity: set `git config user.name` and `git config user.email`, then re-run".into())
        })?
        .to_owned();
    if let Some(name) = tag
        && let Ok(existing) = repo.find_reference(&format!("refs/tags/{name}"))
    {
        // A re-run after the tag was made: HEAD is this release's commit
        // and the tag is on it.
        let head = repo.head().and_then(|h| h.peel_to_commit()).ok();
        let tagged = existing.peel_to_commit().ok();
        let trailer = format!("Consolidated-Release: {name}");
        let done = matches!((head, tagged), (Some(h), Some(t)) if h.id() == t.id()
                && h.message().unwrap_or_default().lines().any(|l| l.trim() == trailer));
        if !done {
            return Err(fail(format!(
                "the tag {name} exists already on another commit: delete it (`git tag -d {name}`) if it is wrong, or leave out --tag"
            )));
        }
    }
    Ok(CommitTarget {
        repo,
        prefix,
        signature,
    })
}

impl CommitTarget {
    /// Stages exactly `paths` (tree-relative: written files are added,
    /// missing ones removed from the index) and commits them on HEAD with
    /// `message`; nothing else of the work tree is staged. With `tag`, also
    /// creates an annotated tag of that name on the commit. Returns the id.
    pub fn commit_paths(
        &self,
        root: &Path,
        paths: &[String],
        message: &str,
        tag: Option<&str>,
    ) -> Result<String, GitError> {
        let mut index = self.repo.index()?;
        for path in paths {
            let in_repo = if self.prefix.is_empty() {
                path.clone()
            } else {
                format!("{}/{path}", self.prefix)
            };
            if join_relative(root, path).is_file() {
                index.add_path(Path::new(&in_repo))?;
            } else if index.get_path(Path::new(&in_repo), 0).is_some() {
                index.remove_path(Path::new(&in_repo))?;
            }
        }
        index.write()?;
        let tree_id = index.write_tree()?;
        let tree = self.repo.find_tree(tree_id)?;
        let parent = self.repo.head()?.peel_to_commit()?;
        let id = self.repo.commit(
            Some("HEAD"),
            &self.signature,
            &self.signature,
            message,
            &tree,
            &[&parent],
        )?;
        if let Some(name) = tag {
            let object = self.repo.find_object(id, None)?;
            self.repo.tag(
                name,
                &object,
                &self.signature,
                &format!("Release {name}"),
                false,
            )?;
        }
        Ok(id.to_string())
    }

    /// Tags HEAD `name` (annotated) when HEAD is the consolidation commit of
    /// that release (its message has the `Consolidated-Release: NAME` trailer)
    /// and the tag does not exist yet: finishes a run killed between its
    /// commit and its tag. Returns whether a tag was made.
    pub fn tag_head_if_released(&self, name: &str) -> Result<bool, GitError> {
        if self
            .repo
            .find_reference(&format!("refs/tags/{name}"))
            .is_ok()
        {
            return Ok(false);
        }
        let head = self.repo.head()?.peel_to_commit()?;
        let trailer = format!("Consolidated-Release: {name}");
        if !head
            .message()
            .unwrap_or_default()
            .lines()
            .any(|l| l.trim() == trailer)
        {
            return Ok(false);
        }
        self.repo.tag(
            name,
            head.as_object(),
            &self.signature,
            &format!("Release {name}"),
            false,
        )?;
        Ok(true)
    }

    /// Does HEAD's tree differ from the index or the work tree at `paths`
    /// (tree-relative)? False when every path is committed as it is.
    pub fn has_uncommitted(&self, paths: &[String]) -> Result<bool, GitError> {
        let mut opts = StatusOptions::new();
        opts.include_untracked(true).recurse_untracked_dirs(true);
        for path in paths {
            if self.prefix.is_empty() {
                opts.pathspec(path);
            } else {
                opts.pathspec(format!("{}/{path}", self.prefix));
            }
        }
        if paths.is_empty() {
            return Ok(false);
        }
        let statuses = self.repo.statuses(Some(&mut opts))?;
        Ok(statuses
            .iter()
            .any(|s| s.status() != Status::CURRENT && !s.status().contains(Status::IGNORED)))
    }
}
