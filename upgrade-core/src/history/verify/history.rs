//! Finding the consolidation commits of a history: the commits of the
//! first-parent history where the root manifest's release history grew.
//!
//! One walk, newest first; a manifest is parsed only when its blob differs
//! from the previous commit's, and each blob at most once, so the cost is
//! linear in the number of commits (plus one parse per manifest change).
//!
//! The same walk finds where each release of the history was *published*:
//! the commit whose manifest first lists it ([`publications`]). What that
//! commit recorded (its version, its place in the history, the entries tagged
//! with it, its release file) is what sites that completed the release ran.

use std::collections::HashMap;

use crate::model::manifest::{Manifest, ReleaseEntry};
use crate::model::release_name::ReleaseName;
use crate::trees::git_tree::{GitTreeError, Revision, TreeRepository};

/// The commit-message trailer `consolidate release --commit` writes.
pub const TRAILER: &str = "Consolidated-Release:";

/// A commit where the release history grew, and its first parent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConsolidationCommit {
    /// The commit.
    pub commit: Revision,
    /// Its first parent: the tree before the consolidation.
    pub parent: Revision,
    /// The releases the commit added to the history.
    #[serde(serialize_with = "crate::history::verify::as_text::list")]
    pub added: Vec<ReleaseName>,
    /// Made by `consolidate release --commit` (its message has the trailer).
    pub by_tool: bool,
    /// The first line of its message.
    pub summary: String,
}

/// The consolidation commits of the first-parent history of `from`, newest
/// first. Manifests that do not parse (a broken commit in old history) are
/// skipped: the commits around them are compared with the next readable one.
pub fn consolidation_commits(
    repo: &TreeRepository,
    from: &Revision,
) -> Result<Vec<ConsolidationCommit>, GitTreeError> {
    let walk = repo.manifest_history(from)?;
    let mut parsed: HashMap<String, Option<Vec<ReleaseName>>> = HashMap::new();
    let mut releases_of = |blob: &str| -> Result<Option<Vec<ReleaseName>>, GitTreeError> {
        if let Some(known) = parsed.get(blob) {
            return Ok(known.clone());
        }
        let text = repo.blob_text(blob)?;
        let names = Manifest::parse(crate::model::manifest::MANIFEST_FILE, &text)
            .ok()
            .map(|m| m.releases.into_iter().map(|r| r.name).collect::<Vec<_>>());
        parsed.insert(blob.to_string(), names.clone());
        Ok(names)
    };
    let mut out = Vec::new();
    for pair in walk.windows(2) {
        let (child, parent) = (&pair[0], &pair[1]);
        if child.manifest_blob == parent.manifest_blob {
            continue;
        }
        let (Some(after), Some(before)) = (
            releases_of(&child.manifest_blob)?,
            releases_of(&parent.manifest_blob)?,
        ) else {
            continue;
        };
        let added: Vec<ReleaseName> = after
            .iter()
            .filter(|r| !before.contains(r))
            .cloned()
            .collect();
        if added.is_empty() {
            continue;
        }
        let commit = Revision {
            label: child.commit[..12.min(child.commit.len())].to_string(),
            commit: child.commit.clone(),
        };
        out.push(ConsolidationCommit {
            parent: Revision {
                label: format!("{}^", commit.label),
                commit: parent.commit.clone(),
            },
            commit,
            added,
            by_tool: child.message.lines().any(|l| l.starts_with(TRAILER)),
            summary: child.summary.clone(),
        });
    }
    Ok(out)
}

/// A release as the commit that published it recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// The release and its version, as that commit's manifest lists them.
    pub entry: ReleaseEntry,
    /// Its index in that commit's release history.
    pub index: usize,
    /// The commit whose manifest first lists it (on HEAD's first-parent history).
    pub commit: Revision,
    /// True when that commit is the oldest of the walk (the manifest appeared
    /// there with the release already in it: an imported history).
    pub baseline: bool,
}

/// Where each release was published: for every commit of the first-parent
/// history of `from` whose manifest lists a release that the previous
/// readable manifest did not, one [`Publication`]; oldest first. Commits
/// whose manifest does not parse are skipped (the next readable one is compared).
/// Also returns the release names of the manifest at `from` (none when it
/// does not parse).
pub fn publications(
    repo: &TreeRepository,
    from: &Revision,
) -> Result<(Vec<Publication>, Vec<ReleaseName>), GitTreeError> {
    let walk = repo.manifest_history(from)?;
    let mut parsed: HashMap<String, Option<Vec<ReleaseEntry>>> = HashMap::new();
    // Oldest first: the readable manifests, each with its commit.
    let mut readable: Vec<(usize, Vec<ReleaseEntry>)> = Vec::new();
    for (i, at) in walk.iter().enumerate().rev() {
        let entries = match parsed.get(&at.manifest_blob) {
            Some(known) => known.clone(),
            None => {
                let text = repo.blob_text(&at.manifest_blob)?;
                let entries = Manifest::parse(crate::model::manifest::MANIFEST_FILE, &text)
                    .ok()
                    .map(|m| m.releases);
                parsed.insert(at.manifest_blob.clone(), entries.clone());
                entries
            }
        };
        if let Some(entries) = entries {
            readable.push((i, entries));
        }
    }
    let mut out = Vec::new();
    let mut previous: Option<&Vec<ReleaseEntry>> = None;
    for (i, entries) in &readable {
        let baseline = previous.is_none();
        for (index, entry) in entries.iter().enumerate() {
            if previous.is_some_and(|p| p.iter().any(|e| e.name == entry.name)) {
                continue;
            }
            let commit = &walk[*i].commit;
            out.push(Publication {
                entry: entry.clone(),
                index,
                commit: Revision {
                    label: commit[..12.min(commit.len())].to_string(),
                    commit: commit.clone(),
                },
                baseline,
            });
        }
        previous = Some(entries);
    }
    let at_from = walk
        .first()
        .and_then(|at| parsed.get(&at.manifest_blob).cloned().flatten())
        .map(|entries| entries.into_iter().map(|e| e.name).collect())
        .unwrap_or_default();
    Ok((out, at_from))
}
