//! `Consolidation`: folding a tree's standalone steps into the components'
//! major-release files, tagged with a new release — as a pure function from a
//! tree to a set of file changes, which the caller shows (`diff`) or applies
//! (`apply`).
//!
//! Order of writes when applied: the components' upgrade.toml files, the
//! release file, the root manifest's history, and only then the deletion of
//! the standalone files. A run killed at any point leaves either the old tree
//! or a tree from which re-running the same command completes the job: the
//! standalone files still present beside identical consolidated entries are
//! recognised as leftovers and deleted, never folded twice.

use std::borrow::Cow;
use std::collections::BTreeMap;

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

use crate::files::fsio::FileChange;
use crate::files::release_file;
use crate::files::upgrade_file;
use crate::model::component::ComponentName;
use crate::model::manifest::MANIFEST_FILE;
use crate::model::release_name::ReleaseName;
use crate::model::step::{Checksum, Origin, Step, StepKey};
use crate::model::step_name::StepName;
use crate::model::version::Version;
use crate::planning::plan::{self, PlanError};
use crate::trees::tree::Tree;

/// Why a release cannot be consolidated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsolidateError {
    /// The release is in the history but is not the newest one.
    #[error(
        "{release} is already in the release history and {newest} is newer: a release name must be new, or the newest one to re-run it"
    )]
    ReleaseNotNew {
        /// The release asked for.
        release: ReleaseName,
        /// The newest release of the history.
        newest: ReleaseName,
    },
    /// The project version is not newer than the last release's.
    #[error("upgrade.toml: version {version} is not newer than {last} ({last_version})")]
    VersionNotNewer {
        /// The project version.
        version: Version,
        /// The newest release.
        last: ReleaseName,
        /// Its version.
        last_version: Version,
    },
    /// The tree has no plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Released history was edited or is inconsistent.
    #[error("the tree fails its checks:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// A component has no folder (its plugin type is unknown).
    #[error("component {0} has no folder: its plugin type is not in upgrade.toml")]
    NoFolder(ComponentName),
}

impl ConsolidateError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            ConsolidateError::ReleaseNotNew { newest, .. } => format!(
                "name the new release (e.g. the next major), or run `consolidate release {newest}` to finish the newest one"
            ),
            ConsolidateError::VersionNotNewer { .. } => {
                "bump `version` in [project] of upgrade.toml before releasing".into()
            }
            ConsolidateError::Plan(e) => e.hint().into(),
            ConsolidateError::Invalid(_) => {
                "run `consolidate check` and fix what it reports".into()
            }
            ConsolidateError::NoFolder(_) => {
                "add the plugin type to [components] plugin_types".into()
            }
        }
    }
}

/// The result of consolidating a tree with a release name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consolidation {
    /// The release.
    pub release: ReleaseName,
    /// True when the release is the newest of the history already: nothing is folded.
    pub already_released: bool,
    /// The steps folded, in plan order.
    pub folded: Vec<StepKey>,
    /// Standalone steps that stay standalone (added after the newest release).
    pub kept_standalone: Vec<StepKey>,
    /// Leftover standalone files of an interrupted release that are deleted.
    pub leftovers: Vec<String>,
    /// The file changes, sorted by path.
    pub changes: Vec<FileChange>,
}

/// Consolidates `tree` with `release`: a new release folds every standalone
/// step; the newest release of the history folds nothing (I1) and only
/// finishes an interrupted run; an older one is refused (C1).
pub fn consolidate(tree: &Tree, release: &ReleaseName) -> Result<Consolidation, ConsolidateError> {
    let prepared = prepare(tree, release)?;
    let mut changes = Vec::new();
    // Collecting into a Vec cannot fail.
    let _ = prepared.each_change(&mut |change| {
        changes.push(change);
        Ok(())
    });
    Ok(Consolidation {
        release: release.clone(),
        already_released: prepared.already_released,
        folded: prepared.folded.iter().map(|s| s.key.clone()).collect(),
        kept_standalone: prepared
            .kept_standalone
            .iter()
            .map(|s| s.key.clone())
            .collect(),
        leftovers: prepared.leftovers.iter().map(|p| p.to_string()).collect(),
        changes,
    })
}

/// A consolidation checked and planned, whose file changes are produced one
/// at a time ([`Prepared::each_change`]): a dry run of a release of 100,000
/// steps prints each file's diff and drops it, instead of holding every new
/// text (the components' upgrade.toml files, the release file) and a copy of
/// every deleted file at once.
#[derive(Debug)]
pub struct Prepared<'t> {
    tree: &'t Tree,
    /// The release.
    pub release: ReleaseName,
    /// True when the release is the newest of the history already: nothing is folded.
    pub already_released: bool,
    /// The steps folded, in plan order.
    pub folded: Vec<&'t Step>,
    /// Standalone steps that stay standalone (added after the newest release).
    pub kept_standalone: Vec<&'t Step>,
    /// Leftover standalone files of an interrupted release that are deleted.
    pub leftovers: Vec<&'t str>,
    /// The files that change, sorted by path, and how.
    entries: Vec<(Cow<'t, str>, Entry)>,
    /// The steps folded into each component's upgrade.toml, in plan order.
    folds: Vec<(&'t ComponentName, Option<&'t str>, Vec<&'t Step>)>,
}

/// How a file changes.
#[derive(Debug, Clone, Copy)]
enum Entry {
    /// Deleted (a folded standalone file or a leftover).
    Delete,
    /// The component's upgrade.toml gets the entries of `folds[i]`.
    Fold(usize),
    /// The release file is written.
    ReleaseFile,
    /// The manifest's history gets the release.
    Manifest,
    /// An empty `.gitkeep` keeps an emptied `db/upgrades` folder.
    Keep,
}

/// Checks `tree` and plans the consolidation with `release` (see
/// [`consolidate`]), without producing any file text yet.
pub fn prepare<'t>(
    tree: &'t Tree,
    release: &ReleaseName,
) -> Result<Prepared<'t>, ConsolidateError> {
    let problems = crate::consolidation::check::released_history_problems(tree, Some(release));
    if !problems.is_empty() {
        return Err(ConsolidateError::Invalid(
            problems.iter().map(ToString::to_string).collect(),
        ));
    }
    let order = plan::order(tree)?;
    let leftovers: Vec<&str> = tree.leftovers.iter().flat_map(|l| l.files.iter()).collect();
    let mut entries: Vec<(Cow<'_, str>, Entry)> = leftovers
        .iter()
        .map(|p| (Cow::Borrowed(*p), Entry::Delete))
        .collect();
    let mut prepared = Prepared {
        tree,
        release: release.clone(),
        already_released: false,
        folded: Vec::new(),
        kept_standalone: Vec::new(),
        leftovers,
        entries: Vec::new(),
        folds: Vec::new(),
    };
    if let Some(index) = tree.manifest.release_index(release) {
        let newest = tree.manifest.releases.len() - 1;
        if index != newest {
            return Err(ConsolidateError::ReleaseNotNew {
                release: release.clone(),
                newest: tree.manifest.releases[newest].name.clone(),
            });
        }
        keep_emptied_folders(tree, &mut entries);
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        prepared.already_released = true;
        prepared.kept_standalone = order
            .into_iter()
            .filter(|s| s.release().is_none())
            .collect();
        prepared.entries = entries;
        return Ok(prepared);
    }
    if let Some(last) = tree.manifest.newest_release()
        && tree.manifest.version <= last.version
    {
        return Err(ConsolidateError::VersionNotNewer {
            version: tree.manifest.version.clone(),
            last: last.name.clone(),
            last_version: last.version.clone(),
        });
    }

    // Fold standalone steps, per component, in plan order.
    let mut per_component: BTreeMap<&ComponentName, Vec<&Step>> = BTreeMap::new();
    for step in order.into_iter().filter(|s| s.release().is_none()) {
        per_component
            .entry(&step.key.component)
            .or_default()
            .push(step);
        prepared.folded.push(step);
    }
    // Sized for one file per folded step (variants grow it).
    entries.reserve_exact(prepared.folded.len() + per_component.len() + 2);
    for (component, steps) in per_component {
        let (path, before) = match tree.upgrade_files.get(component) {
            Some(f) => (Cow::Borrowed(f.path.as_str()), Some(f.text.as_str())),
            None => {
                let folder = tree
                    .manifest
                    .folder_of(component)
                    .ok_or_else(|| ConsolidateError::NoFolder(component.clone()))?;
                let path = if folder.is_empty() {
                    "db/upgrade.toml".to_string()
                } else {
                    format!("{folder}/db/upgrade.toml")
                };
                (Cow::Owned(path), None)
            }
        };
        entries.push((path, Entry::Fold(prepared.folds.len())));
        for step in &steps {
            if let Origin::Standalone { files } = &step.origin {
                entries.extend(files.iter().map(|f| (Cow::Borrowed(f), Entry::Delete)));
            }
        }
        prepared.folds.push((component, before, steps));
    }
    entries.push((
        Cow::Owned(release_file::path_of(release)),
        Entry::ReleaseFile,
    ));
    entries.push((Cow::Borrowed(MANIFEST_FILE), Entry::Manifest));
    keep_emptied_folders(tree, &mut entries);
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    prepared.entries = entries;
    Ok(prepared)
}

/// One planned file change as [`Prepared::each_produced`] gives it.
pub enum Produced<'p> {
    /// A change with its texts.
    Change(FileChange),
    /// The release file, which the release creates (there is none yet):
    /// its text is written on demand, line by line, never held whole (it
    /// is ~10 MB for a release of 100,000 steps).
    CreatedReleaseFile(CreatedReleaseFile<'p>),
}

/// The release file a release creates, see [`Produced::CreatedReleaseFile`].
pub struct CreatedReleaseFile<'p> {
    prepared: &'p Prepared<'p>,
    /// Its path.
    pub path: &'p str,
}

impl CreatedReleaseFile<'_> {
    /// Writes its text (what [`FileChange::after`] would hold) to `out`.
    pub fn write(&self, out: &mut dyn std::fmt::Write) -> std::fmt::Result {
        self.prepared.write_release_file(out)
    }

    /// Its text.
    pub fn text(&self) -> String {
        self.prepared.release_file()
    }
}

impl<'t> Prepared<'t> {
    /// Calls `each` with every file change, in path order (the changes of
    /// [`Consolidation::changes`]), producing one text at a time.
    pub fn each_change(
        &self,
        each: &mut dyn FnMut(FileChange) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.each_produced(&mut |produced| match produced {
            Produced::Change(change) => each(change),
            Produced::CreatedReleaseFile(file) => each(FileChange {
                path: file.path.to_string(),
                before: None,
                after: Some(file.text()),
            }),
        })
    }

    /// [`Prepared::each_change`], except that a release file the release
    /// creates comes as [`Produced::CreatedReleaseFile`], whose text the
    /// caller writes where it goes (`release --dry-run`).
    pub fn each_produced<'p>(
        &'p self,
        each: &mut dyn FnMut(Produced<'p>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        for (path, entry) in &self.entries {
            if matches!(entry, Entry::ReleaseFile)
                && !self.tree.release_files.contains_key(&self.release)
            {
                // Created: no text before, so it always changes.
                each(Produced::CreatedReleaseFile(CreatedReleaseFile {
                    prepared: self,
                    path,
                }))?;
                continue;
            }
            let change = self.change(path, *entry);
            // A new release leaves out what it would not change (a re-run
            // after the release file was written).
            if self.already_released || change.before != change.after {
                each(Produced::Change(change))?;
            }
        }
        Ok(())
    }

    /// The change of one planned file.
    fn change(&self, path: &str, entry: Entry) -> FileChange {
        let tree = self.tree;
        let (before, after) = match entry {
            Entry::Delete => (tree.file_text(path), None),
            Entry::Fold(i) => {
                let (component, before, steps) = &self.folds[i];
                let after = upgrade_file::append(*before, component, steps, &self.release);
                (before.map(str::to_string), Some(after))
            }
            Entry::ReleaseFile => (
                tree.release_files
                    .get(&self.release)
                    .map(|f| f.text.clone()),
                Some(self.release_file()),
            ),
            Entry::Manifest => (
                Some(tree.manifest.text.clone()),
                Some(append_history(
                    &tree.manifest.text,
                    &self.release,
                    &tree.manifest.version,
                )),
            ),
            Entry::Keep => (None, Some(String::new())),
        };
        FileChange {
            path: path.to_string(),
            before,
            after,
        }
    }

    /// The release file: it covers every entry tagged with the release after
    /// the fold (entries of an interrupted run included). The tree's steps
    /// are sorted by component then name, the order of the file.
    fn release_file(&self) -> String {
        release_file::render_covering(&self.release, &self.tree.manifest.version, self.covered())
    }

    /// [`Prepared::release_file`] written to `out`.
    fn write_release_file(&self, out: &mut dyn std::fmt::Write) -> std::fmt::Result {
        release_file::write_covering(
            out,
            &self.release,
            &self.tree.manifest.version,
            self.covered(),
        )
    }

    /// The steps the release file covers, in its order.
    fn covered(
        &self,
    ) -> impl Iterator<Item = (&'t ComponentName, &'t StepName, &'t Checksum)> + Clone + '_ {
        self.tree
            .steps
            .iter()
            .filter(|s| s.release() == Some(&self.release) || s.release().is_none())
            .map(|s| (&s.key.component, &s.key.name, &s.checksum))
    }
}

/// A `db/upgrades` folder the release empties stays, for the next steps: it
/// gets an empty `.gitkeep` (so that git keeps it too) unless it holds one,
/// or a `.keep`, already.
fn keep_emptied_folders(tree: &Tree, entries: &mut Vec<(Cow<'_, str>, Entry)>) {
    use std::collections::BTreeSet;
    let folder_of = |path: &str| path.rsplit_once('/').map(|(dir, _)| dir.to_string());
    let deleted: BTreeSet<&str> = entries
        .iter()
        .filter(|(_, e)| matches!(e, Entry::Delete))
        .map(|(p, _)| p.as_ref())
        .collect();
    // Per `db/upgrades` folder: does every standalone file in it go? One pass.
    let mut emptied: BTreeMap<String, bool> = BTreeMap::new();
    for path in &deleted {
        if let Some(dir) = folder_of(path).filter(|d| crate::files::source::is_upgrades_dir(d)) {
            emptied.insert(dir, true);
        }
    }
    // Every standalone file: those of standalone steps and the leftovers.
    let standalone = tree
        .standalone()
        .filter_map(|s| match &s.origin {
            Origin::Standalone { files } => Some(files),
            Origin::Released { .. } => None,
        })
        .chain(tree.leftovers.iter().map(|l| &l.files))
        .flat_map(|files| files.iter());
    for path in standalone {
        if let Some(dir) = folder_of(path)
            && let Some(all_go) = emptied.get_mut(&dir)
        {
            *all_go &= deleted.contains(path);
        }
    }
    let kept: BTreeSet<String> = tree
        .kept_files
        .iter()
        .filter_map(|f| folder_of(f))
        .collect();
    let keeps: Vec<_> = emptied
        .into_iter()
        .filter(|(folder, all_go)| *all_go && !kept.contains(folder))
        .map(|(folder, _)| (Cow::Owned(format!("{folder}/.gitkeep")), Entry::Keep))
        .collect();
    drop(deleted);
    entries.reserve_exact(keeps.len());
    entries.extend(keeps);
}

/// Appends `[[release]]` to the manifest's history with toml_edit: every other
/// byte of the file stays as it was, and the new entry follows the last one.
pub fn append_history(manifest_text: &str, release: &ReleaseName, version: &Version) -> String {
    let Ok(mut doc) = manifest_text.parse::<DocumentMut>() else {
        return manifest_text.to_string();
    };
    let mut table = Table::new();
    table.insert("name", Item::Value(release.as_str().into()));
    table.insert("version", Item::Value(version.as_str().into()));
    match doc
        .get_mut("release")
        .and_then(Item::as_array_of_tables_mut)
    {
        Some(array) => array.push(table),
        None => {
            let mut array = ArrayOfTables::new();
            array.push(table);
            doc.insert("release", Item::ArrayOfTables(array));
        }
    }
    doc.to_string()
}
