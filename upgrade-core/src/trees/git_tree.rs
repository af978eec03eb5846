//! `GitTree`: a step tree read straight from git objects at any commit, tag or
//! branch, without touching the work tree; and `TreeRepository`, the
//! repository holding a step tree (where in it the tree lies, resolving
//! revisions, merge bases and the refs named like releases).
//!
//! A `GitTree` is a [`TreeSource`](crate::TreeSource) like [`crate::WorkTree`]:
//! the same files load into the same [`crate::Tree`] whichever way they are
//! read. The step tree root may be a subfolder of the repository; paths stay
//! relative to it.
//!
//! This module holds what both share, the errors and [`Revision`];
//! `repository.rs` holds [`TreeRepository`], `source.rs` the [`GitTree`]
//! itself (re-exported here).

mod repository;
mod source;

pub use repository::{ManifestAt, TreeRepository};
pub use source::GitTree;

/// Why the git side of a command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitTreeError {
    /// The tree root is not inside a git repository.
    #[error("{root} is not inside a git repository")]
    NotARepository {
        /// The tree root.
        root: String,
    },
    /// A revision names no commit.
    #[error("`{revision}` names no commit of the repository")]
    UnknownRevision {
        /// The revision as given.
        revision: String,
    },
    /// A commit the history walk needs is not in the repository.
    #[error("commit {commit} ({context}) is not in the repository")]
    MissingCommit {
        /// The commit id.
        commit: String,
        /// Why it was needed.
        context: String,
    },
    /// Two revisions share no history.
    #[error("{left} and {right} have no common ancestor")]
    NoMergeBase {
        /// One revision.
        left: String,
        /// The other one.
        right: String,
    },
    /// Any other git failure.
    #[error("git, at {revision}: {message}")]
    Git {
        /// The revision being read.
        revision: String,
        /// What git said.
        message: String,
    },
}

impl GitTreeError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            GitTreeError::NotARepository { .. } => {
                "run the command inside a git clone of the project (`consolidate check` needs no history)".into()
            }
            GitTreeError::UnknownRevision { .. } => {
                "give a commit id, tag or branch (`git tag`, `git branch -a` list them); in CI fetch them with `git fetch --tags origin`".into()
            }
            GitTreeError::MissingCommit { .. } => {
                "the clone is shallow: fetch the full history with `git fetch --unshallow --tags`".into()
            }
            GitTreeError::NoMergeBase { .. } => {
                "rebase onto a revision of the same project history".into()
            }
            GitTreeError::Git { .. } => "check the repository with `git status` and `git fsck`".into(),
        }
    }

    fn git(revision: &str, e: &git2::Error) -> Self {
        GitTreeError::Git {
            revision: revision.to_string(),
            message: e.message().to_string(),
        }
    }
}

/// A revision of the repository: what the user (or the history walk) called
/// it, and the commit it names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Revision {
    /// The name shown in messages: a ref name, `HEAD`, or a short commit id.
    pub label: String,
    /// The full commit id.
    pub commit: String,
}

impl Revision {
    /// The commit id shortened to 12 digits.
    pub fn short(&self) -> &str {
        &self.commit[..12.min(self.commit.len())]
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

#[cfg(test)]
mod tests;
