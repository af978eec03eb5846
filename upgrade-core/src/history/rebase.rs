//! `Rebase`: moving a custom branch's own steps onto a new upstream revision
//! without relabelling them (`consolidate rebase --onto REV`).
//!
//! The branch's own steps are the steps of the work tree that the merge base
//! of HEAD and REV lacks. The result is the step tree of REV (manifest,
//! upgrade.toml files, release files, standalone steps) plus:
//!
//! - each own step REV lacks, as its standalone file(s), byte for byte;
//! - each custom component (one that neither REV nor the merge base knows,
//!   such as an institution's local plugin) whole: all its tree files.
//!
//! Own steps REV already has with the same content (standalone or
//! consolidated) are dropped and reported. A name REV has with other content,
//! an upstream step the branch edited, or an own step the branch consolidated
//! itself is a conflict: nothing is written. The result must load and pass
//! [`crate::consolidation::check::check`] before anything is written. Only tree files are
//! touched; writes go first (atomic), deletions last.
//!
//! Every path written or deleted must stay inside the tree root: a relative
//! path without `..`, `.` or empty segments, whose existing folders are not
//! symlinks leading out of the root. A target whose manifest would place a
//! carried step elsewhere (`folder = "../escaped"`) is refused before
//! anything is written ([`RebaseError::OutsideRoot`]).
//!
//! The branch's own steps are read from HEAD's commit (or from the work tree
//! with `--allow-dirty`), so that a re-run after an interrupted rebase, whose
//! work tree is half rewritten, computes the same result and completes it;
//! [`Rebase::expected`] tells the caller which uncommitted changes such a run left.

mod conflict;
mod settings;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use crate::consolidation::check;
use crate::consolidation::paths::inside_root;
use crate::files::fsio::FileChange;
use crate::files::source::{MemoryTree, TreeSource, WorkTree};
use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::step::{Origin, Step, StepKey};
use crate::model::tree_error::TreeErrors;
use crate::trees::git_tree::{Revision, TreeRepository};
use crate::trees::tree::Tree;

pub use conflict::{Conflict, ConflictKind, RebaseError};

/// An own step carried onto the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// The step.
    pub key: StepKey,
    /// Its standalone file(s) in the result.
    pub files: Vec<String>,
}

/// An own step dropped because the target already has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The step.
    pub key: StepKey,
    /// Where the target has it.
    pub at: String,
    /// The release the target consolidated it into, if any.
    pub release: Option<ReleaseName>,
}

/// A custom component carried whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedComponent {
    /// The component.
    pub component: ComponentName,
    /// Its tree files.
    pub files: Vec<String>,
    /// How many steps it has.
    pub steps: usize,
}

/// The rebase of the work tree onto a revision: what moves, and the file changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebase {
    /// The target.
    pub onto: Revision,
    /// The merge base of HEAD and the target.
    pub base: Revision,
    /// Own steps carried as standalone files, in key order.
    pub carried: Vec<Carried>,
    /// Own steps the target has already, in key order.
    pub dropped: Vec<Dropped>,
    /// Custom components carried whole.
    pub components: Vec<CarriedComponent>,
    /// The file changes, sorted by path.
    pub changes: Vec<FileChange>,
    /// Every tree file of the result, by path.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Computes the rebase of the tree in `work` onto `onto`; writes nothing.
/// The branch's steps are read from HEAD's commit when `ours_at_head`, from
/// the work tree otherwise; the changes turn the work tree as it is into the result.
pub fn rebase(work: &WorkTree, onto: &str, ours_at_head: bool) -> Result<Rebase, RebaseError> {
    let repo = TreeRepository::discover(work.root())?;
    let head = repo.head()?;
    let ours = if ours_at_head {
        let source = repo.tree_at(&head)?;
        Tree::load(&source).map_err(|error| RebaseError::Tree {
            revision: "HEAD".into(),
            error: Box::new(error),
        })?
    } else {
        Tree::load(work).map_err(|error| RebaseError::Tree {
            revision: "the work tree".into(),
            error: Box::new(error),
        })?
    };
    let target = repo.resolve(onto)?;
    let base = repo.merge_base(&head, &target)?;
    let load = |rev: &Revision| -> Result<(Tree, BTreeMap<String, Vec<u8>>), RebaseError> {
        let source = repo.tree_at(rev)?;
        let tree_error = |error: TreeErrors| RebaseError::Tree {
            revision: rev.label.clone(),
            error: Box::new(error),
        };
        let tree = Tree::load(&source).map_err(tree_error)?;
        let mut files = BTreeMap::new();
        // The tree's files, and the `.gitkeep` files that keep its empty
        // `db/upgrades` folders.
        let listed = source.files().map_err(|e| tree_error(e.into()))?;
        for path in listed.into_iter().chain(tree.kept_files.iter().cloned()) {
            let bytes = source.read(&path).map_err(|e| tree_error(e.into()))?;
            files.insert(path, bytes);
        }
        Ok((tree, files))
    };
    let (base_tree, _) = load(&base)?;
    let (theirs, their_files) = load(&target)?;

    let known = |tree: &Tree, c: &ComponentName| {
        tree.upgrade_files.contains_key(c)
            || tree.component_files.contains_key(c)
            || tree.steps.iter().any(|s| &s.key.component == c)
    };
    let mut custom: BTreeSet<&ComponentName> = BTreeSet::new();
    for step in &ours.steps {
        let c = &step.key.component;
        if !known(&theirs, c) && !known(&base_tree, c) {
            custom.insert(c);
        }
    }
    // A plugin with only its settings (e.g. one that declares plugin types
    // for its subplugins, `db/component.toml`) is carried whole too.
    for c in ours.upgrade_files.keys().chain(ours.component_files.keys()) {
        if !known(&theirs, c) && !known(&base_tree, c) {
            custom.insert(c);
        }
    }

    let location =
        |label: &str, step: &Step| format!("{label}:{} ({})", step.location(), step.computed());
    let mut result: BTreeMap<String, Vec<u8>> = their_files.clone();
    let mut conflicts = Vec::new();
    let mut carried = Vec::new();
    let mut dropped = Vec::new();
    let mut components = Vec::new();

    for component in &custom {
        let mut files: Vec<String> = Vec::new();
        if let Some(f) = ours.upgrade_files.get(*component) {
            files.push(f.path.clone());
        }
        // Its own settings (db/component.toml) go with it.
        if let Some(f) = ours.component_files.get(*component) {
            files.push(f.path.clone());
        }
        // And its install snapshot.
        if let Some(snapshot) = ours.installs.get(*component) {
            files.extend(snapshot.files.iter().cloned());
        }
        let steps: Vec<&Step> = ours
            .steps
            .iter()
            .filter(|s| &&s.key.component == component)
            .collect();
        for step in &steps {
            if let Origin::Standalone { files: f } = &step.origin {
                files.extend(f.iter().map(str::to_string));
            }
        }
        for leftover in ours
            .leftovers
            .iter()
            .filter(|l| &&l.key.component == component)
        {
            files.extend(leftover.files.iter().map(str::to_string));
        }
        files.sort();
        files.dedup();
        for path in &files {
            if let Some(text) = ours.file_text(path) {
                result.insert(path.clone(), text.into_bytes());
            }
        }
        components.push(CarriedComponent {
            component: (*component).clone(),
            files,
            steps: steps.len(),
        });
    }

    settings::carry_settings_edits(
        &ours,
        &base_tree,
        &theirs,
        &custom,
        &target.label,
        &mut result,
    )?;

    for step in &ours.steps {
        if custom.contains(&step.key.component) {
            continue;
        }
        let upstream = theirs.step(&step.key);
        if let Some(at_base) = base_tree.step(&step.key) {
            // Not the branch's own step; an edit of it would be lost.
            if at_base.computed() != step.computed()
                && upstream.is_none_or(|u| u.computed() != step.computed())
            {
                conflicts.push(Conflict {
                    key: step.key.clone(),
                    kind: ConflictKind::EditedUpstreamStep,
                    ours: location("the work tree", step),
                    theirs: upstream.map_or_else(
                        || format!("{target} (which no longer has it)"),
                        |u| location(&target.label, u),
                    ),
                });
            }
            continue;
        }
        match upstream {
            Some(u) if u.computed() == step.computed() => dropped.push(Dropped {
                key: step.key.clone(),
                at: format!("{}:{}", target.label, u.location()),
                release: u.release().cloned(),
            }),
            Some(u) => conflicts.push(Conflict {
                key: step.key.clone(),
                kind: ConflictKind::SameNameOtherContent,
                ours: location("the work tree", step),
                theirs: location(&target.label, u),
            }),
            None => match &step.origin {
                Origin::Released { release, .. } => conflicts.push(Conflict {
                    key: step.key.clone(),
                    kind: ConflictKind::OwnStepReleased(release.clone()),
                    ours: location("the work tree", step),
                    theirs: String::new(),
                }),
                Origin::Standalone { files } => {
                    let folder =
                        theirs
                            .manifest
                            .folder_of(&step.key.component)
                            .ok_or_else(|| RebaseError::NoFolder {
                                key: step.key.clone(),
                                component: step.key.component.clone(),
                                onto: target.label.clone(),
                                fix: settings::declare_fix(&ours, &theirs, &step.key.component),
                            })?;
                    let mut placed = Vec::new();
                    for file in files {
                        let name = file.rsplit('/').next().unwrap_or(file);
                        let path = if folder.is_empty() {
                            format!("db/upgrades/{name}")
                        } else {
                            format!("{folder}/db/upgrades/{name}")
                        };
                        if let Some(text) = ours.file_text(file) {
                            result.insert(path.clone(), text.into_bytes());
                        }
                        placed.push(path);
                    }
                    carried.push(Carried {
                        key: step.key.clone(),
                        files: placed,
                    });
                }
            },
        }
    }
    if !conflicts.is_empty() {
        return Err(RebaseError::Conflicts {
            onto: target.label.clone(),
            conflicts,
        });
    }

    for path in result.keys() {
        if let Err(why) = inside_root(work.root(), path) {
            return Err(RebaseError::OutsideRoot {
                path: path.clone(),
                why,
                onto: target.label.clone(),
            });
        }
    }
    let memory = MemoryTree {
        files: result.clone(),
    };
    let rebased = Tree::load(&memory).map_err(|e| RebaseError::ResultDoesNotLoad {
        onto: target.label.clone(),
        error: Box::new(settings::with_declare_fixes(e, &ours, &theirs)),
    })?;
    let problems = check::check(&rebased);
    if !problems.is_empty() {
        return Err(RebaseError::ResultFails(
            problems.iter().map(ToString::to_string).collect(),
        ));
    }

    let mut changes = Vec::new();
    let current = work.files().map_err(|error| RebaseError::Tree {
        revision: "the work tree".into(),
        error: Box::new(error.into()),
    })?;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    for (path, bytes) in &result {
        let before = if current.contains(path) || ours.kept_files.contains(path) {
            Some(text(&work.read(path).map_err(|error| {
                RebaseError::Tree {
                    revision: "the work tree".into(),
                    error: Box::new(error.into()),
                }
            })?))
        } else {
            None
        };
        let after = Some(text(bytes));
        if before != after {
            changes.push(FileChange {
                path: path.clone(),
                before,
                after,
            });
        }
    }
    for path in current.iter().filter(|p| !result.contains_key(*p)) {
        changes.push(FileChange {
            path: path.clone(),
            before: ours.file_text(path),
            after: None,
        });
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    for change in &changes {
        if let Err(why) = inside_root(work.root(), &change.path) {
            return Err(RebaseError::OutsideRoot {
                path: change.path.clone(),
                why,
                onto: target.label.clone(),
            });
        }
    }
    Ok(Rebase {
        onto: target,
        base,
        carried,
        dropped,
        components,
        changes,
        files: result,
    })
}

impl Rebase {
    /// Does applying it change nothing?
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }

    /// A unified diff of every change, files in path order.
    pub fn diff(&self) -> String {
        crate::files::fsio::unified_diff(&self.changes)
    }

    /// What the rebase does, one line per step or component, then a total.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for c in &self.components {
            let _ = writeln!(
                out,
                "carried component {} whole ({} step(s), {} file(s))",
                c.component,
                c.steps,
                c.files.len()
            );
        }
        for c in &self.carried {
            let _ = writeln!(out, "carried {} as {}", c.key, c.files.join(", "));
        }
        for d in &self.dropped {
            let how = match &d.release {
                Some(r) => format!("consolidated in {r}"),
                None => "as a standalone step".into(),
            };
            let _ = writeln!(
                out,
                "dropped {}: {} already has it with the same content, {how} ({})",
                d.key, self.onto, d.at
            );
        }
        let _ = writeln!(
            out,
            "rebase onto {} (merge base {}): {} step(s) carried, {} dropped, {} component(s) carried whole, {} file change(s)",
            self.onto,
            self.base.short(),
            self.carried.len(),
            self.dropped.len(),
            self.components.len(),
            self.changes.len()
        );
        out
    }

    /// What the rebase leaves at `path` (tree-relative): `Some(Some(text))`
    /// for a file of the result, `Some(None)` for another tree file (deleted),
    /// `None` for a file that is no tree file (untouched).
    pub fn expected(&self, path: &str) -> Option<Option<String>> {
        match self.files.get(path) {
            Some(bytes) => Some(Some(String::from_utf8_lossy(bytes).into_owned())),
            None if crate::files::source::is_tree_file(path) => Some(None),
            None => None,
        }
    }

    /// Applies the changes under `root`: step files, component files, release
    /// files, the manifest, then deletions. Re-running an interrupted rebase
    /// completes it (what is already written is recognised as the target's).
    /// Refuses, before writing anything, a path that leaves `root`.
    pub fn apply(&self, root: &Path) -> std::io::Result<()> {
        for change in &self.changes {
            inside_root(root, &change.path).map_err(|why| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{}: outside the tree root ({why})", change.path),
                )
            })?;
        }
        crate::files::fsio::apply_changes(root, &self.changes)
    }
}
