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
//!   does not hold (they decide whether such a row is covered), or for a
//!   fresh site of a project with a baseline (they name components that
//!   existed at its release).
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
use crate::model::toml_doc::utf8;
use crate::model::tree_error::TreeErrors;
use crate::trees::step_cache::StepCache;
use crate::trees::tree::{Tree, read_release_file};

/// What a site already ran, as far as loading its tree needs it.
#[derive(Clone)]
pub struct SiteView<'a> {
    /// The release the site completed.
    pub completed: Option<ReleaseName>,
    /// Its ledger rows, `(component, step)` as stored, in key order
    /// (borrowed from them: nothing is built per row).
    pub rows: &'a dyn RowNames,
}

impl Default for SiteView<'_> {
    fn default() -> Self {
        static NO_ROWS: RowPairs<'static> = RowPairs(&[]);
        SiteView {
            completed: None,
            rows: &NO_ROWS,
        }
    }
}

impl std::fmt::Debug for SiteView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteView")
            .field("completed", &self.completed)
            .field("rows", &self.rows.count())
            .finish()
    }
}

/// The `(component, step)` of a site's ledger rows, in key order: what a
/// [`SiteView`] reads of them (the ledger's rows give it without building a
/// list of pairs; [`RowPairs`] gives it from such a list).
pub trait RowNames {
    /// How many rows.
    fn count(&self) -> usize;
    /// Each row's `(component, step)`, in order.
    fn names(&self) -> Box<dyn Iterator<Item = (&str, &str)> + '_>;
}

/// Rows given as `(component, step)` pairs.
#[derive(Debug, Clone, Copy)]
pub struct RowPairs<'a>(pub &'a [(&'a str, &'a str)]);

impl RowNames for RowPairs<'_> {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn names(&self) -> Box<dyn Iterator<Item = (&str, &str)> + '_> {
        Box::new(self.0.iter().copied())
    }
}

impl SiteView<'_> {
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
        // Rows and steps come in the same (byte) order: one forward walk
        // finds a row spelled exactly as its key; any other row is parsed.
        let mut keys = steps.iter().map(|s| &s.key).peekable();
        let mut rows = self.rows.names();
        rows.any(|(component, step)| {
            // Most rows are the next step.
            if keys.next_if(|k| k.is(component, step)).is_some() {
                return false;
            }
            while keys
                .next_if(|k| (k.component.as_str(), k.name.as_str()) < (component, step))
                .is_some()
            {}
            if keys.peek().is_some_and(|k| k.is(component, step)) {
                return false;
            }
            match (ComponentName::parse(component), StepName::parse(step)) {
                (Ok(component), Ok(name)) => {
                    super::standalone::holding(steps, &StepKey { component, name }).is_none()
                }
                _ => true,
            }
        })
    }
}

/// A quick load of a tree for a site whose ledger rows are not read yet:
/// everything but the release files, which [`Unfinished::finish`] reads
/// when the rows need them. `status` loads the tree this way while the
/// ledger is read on another thread.
#[derive(Debug)]
pub struct Unfinished {
    pub(super) tree: Tree,
    /// The release files' paths, not read.
    pub(super) deferred: Vec<String>,
}

impl Unfinished {
    /// The tree of the site `view` (the same completed release as the
    /// load): the release files are read when a row names a step the tree
    /// does not hold, or for a fresh site of a project with a baseline.
    pub fn finish(
        mut self,
        source: &dyn TreeSource,
        view: &SiteView<'_>,
    ) -> Result<Tree, TreeErrors> {
        // A fresh site of a project with a baseline counts the components
        // that existed at the baseline's release, which release files may
        // name alone (site/runner/installs.rs).
        let fresh_with_baseline = view.completed.is_none()
            && view.rows.count() == 0
            && self.tree.manifest.baseline.is_some();
        if fresh_with_baseline || view.needs_release_files(&self.tree.steps) {
            let read = |path: &str| utf8(path, source.read(path)?);
            for path in &self.deferred {
                let file = path.trim_start_matches("releases/");
                match read_release_file(path, file, &read) {
                    Ok(found) => {
                        self.tree
                            .release_files
                            .insert(found.rules.release.clone(), found);
                    }
                    Err(_) => return Tree::load(source),
                }
            }
        }
        Ok(self.tree)
    }
}

impl Tree {
    /// The quick load of [`Tree::load_for_site_cached`] for a site that
    /// completed `completed`, before its rows are known: finish it with
    /// [`Unfinished::finish`] and a view of the same completed release.
    pub fn load_for_release_cached(
        source: &dyn TreeSource,
        completed: Option<&ReleaseName>,
        cache: &mut StepCache,
    ) -> Result<Unfinished, TreeErrors> {
        let (tree, deferred) = Tree::load_parts(source, Some(completed), Some(cache))?;
        Ok(Unfinished { tree, deferred })
    }

    /// The tree as `status` of the site `view` needs it: like [`Tree::load`],
    /// except that entries the site's completed release covers are read
    /// from their name, release, phase and checksum only (their SQL is
    /// neither checked nor hashed: `consolidate check` does that), and release
    /// files only when a ledger row names a step the tree does not hold. Use
    /// it to answer questions about that site only, never to run steps.
    pub fn load_for_site(source: &dyn TreeSource, view: &SiteView<'_>) -> Result<Tree, TreeErrors> {
        Tree::load_with(source, Some(view), None)
    }

    /// [`Tree::load_for_site`] of a work tree with its step cache
    /// (trees/step_cache.rs): standalone steps whose files are unchanged
    /// since a previous load are not read, checked or hashed, and come with
    /// empty SQL; the cache is written back after a load without errors.
    /// `counts()` of the cache then says how many steps were read.
    /// `source` is the work tree the cache was opened for (or a listing of it).
    pub fn load_for_site_cached(
        source: &dyn TreeSource,
        view: &SiteView<'_>,
        cache: &mut StepCache,
    ) -> Result<Tree, TreeErrors> {
        Tree::load_with(source, Some(view), Some(cache))
    }
}

#[cfg(test)]
mod tests;
