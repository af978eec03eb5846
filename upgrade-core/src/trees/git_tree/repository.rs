//! `TreeRepository`: the git repository holding a step tree, where in it the
//! tree lies, and the revisions, merge bases, release refs and manifest
//! history the history commands read from it.

use std::collections::BTreeSet;
use std::path::Path;

use git2::{ObjectType, Oid, Repository};

use super::{GitTree, GitTreeError, Revision};
use crate::model::manifest::MANIFEST_FILE;
use crate::model::release_name::ReleaseName;

/// The git repository holding a step tree.
pub struct TreeRepository {
    repo: Repository,
    /// The tree root relative to the repository's work folder, `/`-separated,
    /// empty when the tree is the whole repository.
    prefix: String,
}

impl std::fmt::Debug for TreeRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeRepository")
            .field("path", &self.repo.path())
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl TreeRepository {
    /// The repository around the tree rooted at `root` (a work tree folder).
    pub fn discover(root: &Path) -> Result<Self, GitTreeError> {
        let not_repo = || GitTreeError::NotARepository {
            root: root.display().to_string(),
        };
        let repo = Repository::discover(root).map_err(|_| not_repo())?;
        let workdir = repo.workdir().ok_or_else(not_repo)?;
        let canonical_root = root.canonicalize().map_err(|_| not_repo())?;
        let canonical_workdir = workdir.canonicalize().map_err(|_| not_repo())?;
        let relative = canonical_root
            .strip_prefix(&canonical_workdir)
            .map_err(|_| not_repo())?;
        let prefix = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        Ok(TreeRepository { repo, prefix })
    }

    /// Opens the repository at `path` with the step tree at `prefix` in it.
    pub fn open(path: &Path, prefix: &str) -> Result<Self, GitTreeError> {
        let repo = Repository::open(path).map_err(|_| GitTreeError::NotARepository {
            root: path.display().to_string(),
        })?;
        Ok(TreeRepository {
            repo,
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// Is the repository a shallow clone (its history cut short)?
    pub fn is_shallow(&self) -> bool {
        self.repo.is_shallow()
    }

    /// Where the step tree lies in the repository (empty: at its root).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The commit `revision` names (commit id, tag, branch, `HEAD`, `REV^` ...).
    pub fn resolve(&self, revision: &str) -> Result<Revision, GitTreeError> {
        let unknown = || GitTreeError::UnknownRevision {
            revision: revision.to_string(),
        };
        let object = self.repo.revparse_single(revision).map_err(|_| unknown())?;
        let commit = object.peel_to_commit().map_err(|_| unknown())?;
        Ok(Revision {
            label: revision.to_string(),
            commit: commit.id().to_string(),
        })
    }

    /// The commit checked out.
    pub fn head(&self) -> Result<Revision, GitTreeError> {
        self.resolve("HEAD")
    }

    /// The best common ancestor of two revisions.
    pub fn merge_base(&self, left: &Revision, right: &Revision) -> Result<Revision, GitTreeError> {
        let no_base = || GitTreeError::NoMergeBase {
            left: left.label.clone(),
            right: right.label.clone(),
        };
        let base = self
            .repo
            .merge_base(self.oid(left)?, self.oid(right)?)
            .map_err(|_| no_base())?;
        Ok(Revision {
            label: format!("merge base of {left} and {right}"),
            commit: base.to_string(),
        })
    }

    /// The step tree at a revision.
    pub fn tree_at(&self, revision: &Revision) -> Result<GitTree<'_>, GitTreeError> {
        let commit = self.repo.find_commit(self.oid(revision)?).map_err(|_| {
            GitTreeError::MissingCommit {
                commit: revision.commit.clone(),
                context: revision.label.clone(),
            }
        })?;
        let root = commit
            .tree()
            .map_err(|e| GitTreeError::git(&revision.label, &e))?;
        let tree = if self.prefix.is_empty() {
            Some(root)
        } else {
            match root.get_path(Path::new(&self.prefix)) {
                Ok(entry) if entry.kind() == Some(ObjectType::Tree) => Some(
                    self.repo
                        .find_tree(entry.id())
                        .map_err(|e| GitTreeError::git(&revision.label, &e))?,
                ),
                _ => None,
            }
        };
        Ok(GitTree {
            repo: &self.repo,
            tree,
            revision: revision.clone(),
        })
    }

    /// Every local branch, remote branch and tag whose short name is one of
    /// `names`, as revisions labelled with the ref name; one per commit
    /// (a tag and a branch on the same commit are one revision), sorted by label.
    pub fn refs_named(&self, names: &[ReleaseName]) -> Result<Vec<Revision>, GitTreeError> {
        let wanted: BTreeSet<&str> = names.iter().map(ReleaseName::as_str).collect();
        let refs = self
            .repo
            .references()
            .map_err(|e| GitTreeError::git("refs", &e))?;
        let mut found: Vec<Revision> = Vec::new();
        for reference in refs.flatten() {
            let Some(name) = reference.name() else {
                continue;
            };
            let short = if let Some(rest) = name.strip_prefix("refs/heads/") {
                rest
            } else if let Some(rest) = name.strip_prefix("refs/tags/") {
                rest
            } else if let Some(rest) = name.strip_prefix("refs/remotes/") {
                rest.split_once('/').map_or(rest, |(_, branch)| branch)
            } else {
                continue;
            };
            if !wanted.contains(short) {
                continue;
            }
            let Ok(commit) = reference.peel_to_commit() else {
                continue;
            };
            let label = name
                .strip_prefix("refs/heads/")
                .or_else(|| name.strip_prefix("refs/"))
                .unwrap_or(name)
                .to_string();
            found.push(Revision {
                label,
                commit: commit.id().to_string(),
            });
        }
        // Local branches first, then tags, then remote branches: keep the first per commit.
        found.sort_by_key(|r| {
            let kind = if r.label.starts_with("tags/") {
                1
            } else if r.label.starts_with("remotes/") {
                2
            } else {
                0
            };
            (kind, r.label.clone())
        });
        let mut seen = BTreeSet::new();
        found.retain(|r| seen.insert(r.commit.clone()));
        found.sort();
        Ok(found)
    }

    /// The commits of HEAD's first-parent history, newest first, each with the
    /// id of the root manifest blob there (`None` where the tree has no
    /// manifest: the walk stops at the first such commit, where the step tree
    /// did not exist yet). Linear in the number of commits.
    pub fn manifest_history(&self, from: &Revision) -> Result<Vec<ManifestAt>, GitTreeError> {
        let manifest_path = if self.prefix.is_empty() {
            MANIFEST_FILE.to_string()
        } else {
            format!("{}/{MANIFEST_FILE}", self.prefix)
        };
        let mut out = Vec::new();
        let mut current = Some(self.oid(from)?);
        while let Some(id) = current {
            let commit = self
                .repo
                .find_commit(id)
                .map_err(|_| GitTreeError::MissingCommit {
                    commit: id.to_string(),
                    context: format!("first-parent history of {from}"),
                })?;
            let tree = commit
                .tree()
                .map_err(|e| GitTreeError::git(&id.to_string(), &e))?;
            let blob = tree
                .get_path(Path::new(&manifest_path))
                .ok()
                .filter(|e| e.kind() == Some(ObjectType::Blob))
                .map(|e| e.id());
            let Some(blob) = blob else {
                break;
            };
            let parent = if commit.parent_count() > 0 {
                Some(
                    commit
                        .parent_id(0)
                        .map_err(|e| GitTreeError::git(&id.to_string(), &e))?,
                )
            } else {
                None
            };
            out.push(ManifestAt {
                commit: id.to_string(),
                manifest_blob: blob.to_string(),
                parent: parent.map(|p| p.to_string()),
                summary: commit.summary().unwrap_or_default().to_string(),
                message: commit.message().unwrap_or_default().to_string(),
            });
            current = parent;
        }
        Ok(out)
    }

    /// The text of a blob (a manifest found by [`Self::manifest_history`]).
    pub fn blob_text(&self, id: &str) -> Result<String, GitTreeError> {
        let oid = Oid::from_str(id).map_err(|e| GitTreeError::git(id, &e))?;
        let blob = self
            .repo
            .find_blob(oid)
            .map_err(|e| GitTreeError::git(id, &e))?;
        Ok(String::from_utf8_lossy(blob.content()).into_owned())
    }

    fn oid(&self, revision: &Revision) -> Result<Oid, GitTreeError> {
        Oid::from_str(&revision.commit).map_err(|_| GitTreeError::UnknownRevision {
            revision: revision.label.clone(),
        })
    }
}

/// One commit of a first-parent walk and its root manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestAt {
    /// The commit id.
    pub commit: String,
    /// The blob id of the root manifest at that commit.
    pub manifest_blob: String,
    /// The first parent, if any.
    pub parent: Option<String>,
    /// The first line of the commit message.
    pub summary: String,
    /// The whole commit message.
    pub message: String,
}
