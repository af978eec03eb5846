//! The quick load of a tree for `status` of one site ([`Tree::load_for_site`]):
//! what the site already ran decides what the answer needs to read.
//!
//! - `[[step]]` entries tagged with the site's completed release or an
//!   earlier one are read from their `name`, `release`, `phase` and
//!   `checksum` lines only (files/upgrade_scan.rs): their SQL is not parsed,
//!   checked or hashed, since it never runs on this site and their ledger
//!   rows are covered by the release. A file with any other entry (pending
//!   on this site: a newer release, an unknown one) is read in full, so an
//!   edited pending entry or an unknown release is still reported.
//! - Release files are read only when a ledger row names a step the tree
//!   does not hold (they decide whether such a row is covered).
//! - Anything unusual (a tree error, a standalone file beside a quickly read
//!   entry, an unreadable release file) falls back to [`Tree::load`], so the
//!   messages are the same.

use std::collections::HashSet;

use crate::files::source::TreeSource;
use crate::model::component::ComponentName;
use crate::model::manifest::Manifest;
use crate::model::release_name::ReleaseName;
use crate::model::step::{Step, StepKey};
use crate::model::step_name::StepName;
use crate::model::tree_error::TreeErrors;
use crate::trees::tree::Tree;

/// What a site already ran, as far as loading its tree needs it.
#[derive(Debug, Clone, Default)]
pub struct SiteView {
    /// The release the site completed.
    pub completed: Option<ReleaseName>,
    /// Its ledger rows, `(component, step)` as stored.
    pub rows: Vec<(String, String)>,
}

impl SiteView {
    /// The releases whose entries need not be read in full: the completed
    /// one and those before it in the manifest's history (`None` when the
    /// site completed none, or one the history does not know).
    pub(super) fn covered(&self, manifest: &Manifest) -> Option<HashSet<ReleaseName>> {
        let index = manifest.release_index(self.completed.as_ref()?)?;
        Some(
            manifest.releases[..=index]
                .iter()
                .map(|r| r.name.clone())
                .collect(),
        )
    }

    /// Does a ledger row name a step not in `steps` (only the release files
    /// say whether the release covers it)?
    pub(super) fn needs_release_files(&self, steps: &[Step]) -> bool {
        self.rows.iter().any(|(component, step)| {
            match (ComponentName::parse(component), StepName::parse(step)) {
                (Ok(component), Ok(name)) => {
                    super::standalone::holding(steps, &StepKey { component, name }).is_none()
                }
                _ => true,
            }
        })
    }
}

impl Tree {
    /// The tree as `status` of the site `view` needs it: like [`Tree::load`],
    /// except that entries the site's completed release covers are read
    /// from their name, release, phase and checksum only (their SQL is
    /// neither checked nor hashed: `consolidate check` does that), and release
    /// files only when a ledger row names a step the tree does not hold. Use
    /// it to answer questions about that site only, never to run steps.
    pub fn load_for_site(source: &dyn TreeSource, view: &SiteView) -> Result<Tree, TreeErrors> {
        Tree::load_with(source, Some(view))
    }
}

#[cfg(test)]
mod tests;
