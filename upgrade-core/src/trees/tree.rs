//! `Tree`: discovery of a whole step tree — manifest, standalone step files,
//! component upgrade.toml files and release files — from a [`TreeSource`].

use std::collections::BTreeMap;

use crate::files::release_file::ReleaseFile;
use crate::files::source::TreeSource;
use crate::files::{upgrade_file, upgrade_scan};
use crate::model::component::ComponentName;
use crate::model::component_settings::{COMPONENT_SETTINGS_FILE, ComponentSettings};
use crate::model::install_snapshot::{
    BaselineSnapshot, InstallSnapshot, baseline_file, install_file_database,
};
use crate::model::manifest::{MANIFEST_FILE, Manifest};
use crate::model::plugin_types;
use crate::model::release_name::ReleaseName;
use crate::model::step::{Origin, Step, StepFiles, StepKey, parse_step_file_name};
use crate::model::step_name::StepName;
use crate::model::toml_doc::utf8;
use crate::model::tree_error::{TreeError, TreeErrorKind, TreeErrors, TreeWarning};
pub use crate::trees::site_view::{RowNames, RowPairs, SiteView, Unfinished};
use crate::trees::standalone::{
    Variant, by_step, file_body, forget_texts_equal_to_body, holding, is_leftover,
    standalone_file_body,
};
use crate::trees::step_cache::StepCache;

mod access;
mod parts;

use parts::{duplicate, part_of_tree};
pub(super) use parts::{read_release_file, split_db};

/// A standalone step left beside its identical consolidated entry by an
/// interrupted `consolidate release`: re-running the release deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The step.
    pub key: StepKey,
    /// Its standalone files.
    pub files: StepFiles,
}

/// A component's major-release file as found in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeFile {
    /// Its path.
    pub path: String,
    /// Its text (empty when `read_quickly`).
    pub text: String,
    /// Read for a site whose completed release covers every entry
    /// ([`Tree::load_for_site`], files/upgrade_scan.rs): its entries never
    /// run there, and its text was not kept.
    pub read_quickly: bool,
}

/// A release file as found in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundReleaseFile {
    /// Its path.
    pub path: String,
    /// Its text.
    pub text: String,
    /// Its content.
    pub rules: ReleaseFile,
}

/// A step tree.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The root manifest.
    pub manifest: Manifest,
    /// Every step, sorted by component then name.
    pub steps: Vec<Step>,
    /// The components' upgrade.toml files.
    pub upgrade_files: BTreeMap<ComponentName, UpgradeFile>,
    /// The release files, by release.
    pub release_files: BTreeMap<ReleaseName, FoundReleaseFile>,
    /// Standalone duplicates left by an interrupted release.
    pub leftovers: Vec<Leftover>,
    /// The text of every standalone step file that is not exactly its step's
    /// body (a header, editor noise), by path: [`Tree::file_text`] gives
    /// the text of every file.
    pub standalone_texts: BTreeMap<String, String>,
    /// Files ignored on purpose (editor leftovers): commands print these.
    pub warnings: Vec<TreeWarning>,
    /// The settings of components that have a `db/component.toml`.
    pub components: BTreeMap<ComponentName, ComponentSettings>,
    /// The `db/component.toml` files as read (path and text), by component.
    pub component_files: BTreeMap<ComponentName, UpgradeFile>,
    /// The install snapshots (`db/install[.<database>].sql`), by component.
    pub installs: BTreeMap<ComponentName, InstallSnapshot>,
    /// The text of every install snapshot file, by path.
    pub install_texts: BTreeMap<String, String>,
    /// The project baseline's schema snapshot (`[baseline]` in the manifest).
    pub baseline: Option<BaselineSnapshot>,
    /// The `.gitkeep` and `.keep` files of `db/upgrades` folders.
    pub kept_files: std::collections::BTreeSet<String>,
}

impl Tree {
    /// Reads and validates a tree. Every problem of the tree is reported at
    /// once, sorted by file and line.
    pub fn load(source: &dyn TreeSource) -> Result<Tree, TreeErrors> {
        Tree::load_with(source, None, None)
    }

    /// [`Tree::load`], or with `view` the quick load of
    /// [`Tree::load_for_site`] (which falls back to the full load on any
    /// error, so messages are the same).
    pub(super) fn load_with(
        source: &dyn TreeSource,
        view: Option<&SiteView<'_>>,
        cache: Option<&mut StepCache>,
    ) -> Result<Tree, TreeErrors> {
        let completed = view.map(|v| v.completed.as_ref());
        let (tree, deferred) = Tree::load_parts(source, completed, cache)?;
        match view {
            Some(view) => Unfinished { tree, deferred }.finish(source, view),
            None => Ok(tree),
        }
    }

    /// [`Tree::load`], or with `completed` (the release a site completed)
    /// the quick load of [`Tree::load_for_site`] without its release files,
    /// whose paths come back (the site's rows decide whether they are read:
    /// [`Unfinished::finish`]).
    pub(super) fn load_parts(
        source: &dyn TreeSource,
        completed: Option<Option<&ReleaseName>>,
        mut cache: Option<&mut StepCache>,
    ) -> Result<(Tree, Vec<String>), TreeErrors> {
        let view = completed.map(|completed| SiteView {
            completed: completed.cloned(),
            ..SiteView::default()
        });
        let view = view.as_ref();
        let scan = source.scan()?;
        let kept_files = scan.kept.iter().cloned().collect();
        let mut errors: Vec<TreeError> = scan.errors;
        if !scan.files.iter().any(|f| f == MANIFEST_FILE) {
            errors.push(TreeError::new(MANIFEST_FILE, TreeErrorKind::NoManifest));
            return Err(TreeErrors::new(errors));
        }
        let read = |path: &str| -> Result<String, TreeError> { utf8(path, source.read(path)?) };
        let manifest = read(MANIFEST_FILE)
            .map_err(|e| vec![e])
            .and_then(|text| Manifest::parse_all(MANIFEST_FILE, &text));
        let manifest = match manifest {
            Ok(m) => Some(m),
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        // First pass: the plugin types plugins declare in their own
        // db/component.toml join the manifest's before any folder is resolved.
        let manifest = manifest.map(|mut m| {
            errors.extend(plugin_types::add_declared_types(&mut m, &scan.files, &read));
            m
        });
        if let Some(manifest) = &manifest {
            errors.extend(
                scan.unfollowed
                    .into_iter()
                    .filter(|e| part_of_tree(manifest, &e.path)),
            );
        }

        let mut released: Vec<Step> = Vec::new();
        // The bytes of the `upgrade.toml` file being read quickly.
        let mut buffer = Vec::new();
        let mut upgrade_files = BTreeMap::new();
        let mut release_files = BTreeMap::new();
        let mut components = BTreeMap::new();
        let mut component_files = BTreeMap::new();
        // Standalone files by step, in scan order (grouped below).
        let mut standalone_files: Vec<((ComponentName, StepName), Variant)> = Vec::new();
        let mut install_files: BTreeMap<ComponentName, Vec<(String, Option<String>, String)>> =
            BTreeMap::new();
        let mut baseline_files: Vec<(String, Option<String>, String)> = Vec::new();
        let covered = view.and_then(|v| v.covered(manifest.as_ref()?));
        let mut deferred: Vec<&String> = Vec::new();
        let mut last_component: Option<(&str, ComponentName)> = None;

        for path in &scan.files {
            if path == MANIFEST_FILE {
                continue;
            }
            if let Some(found) = path.strip_prefix("releases/").and_then(baseline_file) {
                let read_baseline = |(release, database): (String, Option<String>)| {
                    let wanted = manifest.as_ref().and_then(|m| m.baseline.as_ref());
                    if wanted.is_none_or(|w| w.as_str() != release) {
                        return Err(format!(
                            "a baseline schema for {release}, but upgrade.toml's [baseline] names {}: rename the file or set `[baseline] release = \"{release}\"`",
                            wanted.map_or_else(|| "no release".to_string(), ToString::to_string)
                        ));
                    }
                    read(path)
                        .map(|text| (path.clone(), database, text))
                        .map_err(|e| e.to_string())
                };
                match found.and_then(read_baseline) {
                    Ok(file) => baseline_files.push(file),
                    Err(reason) => errors.push(TreeError::new(
                        path.as_str(),
                        TreeErrorKind::Snapshot(reason),
                    )),
                }
                continue;
            }
            if let Some(file) = path.strip_prefix("releases/") {
                if view.is_some() {
                    deferred.push(path);
                    continue;
                }
                match read_release_file(path, file, &read) {
                    Ok(found) => {
                        release_files.insert(found.rules.release.clone(), found);
                    }
                    Err(e) => errors.push(e),
                }
                continue;
            }
            let Some(manifest) = &manifest else {
                continue;
            };
            let (folder, rest) = split_db(path);
            // Files come folder by folder: the steps of a component share
            // one name (a reference count each, not a copy).
            let component = match &last_component {
                Some((f, c)) if *f == folder => Some(c.clone()),
                _ => manifest.component_for_folder(folder),
            };
            if let Some(c) = &component {
                last_component = Some((folder, c.clone()));
            }
            let Some(component) = component else {
                errors.push(TreeError::new(
                    path.as_str(),
                    TreeErrorKind::UnknownComponentFolder {
                        folder: folder.to_string(),
                    },
                ));
                continue;
            };
            if rest == COMPONENT_SETTINGS_FILE {
                let parsed = read(path).and_then(|text| {
                    ComponentSettings::parse(path, &text).map(|settings| (text, settings))
                });
                match parsed {
                    Ok((_, settings)) if component.is_core() && settings.safe_to_disable => {
                        errors.push(TreeError::new(
                            path.as_str(),
                            TreeErrorKind::Field(
                                "core is never safe to disable: the whole site depends on it; remove `safe_to_disable` here".into(),
                            ),
                        ));
                    }
                    Ok((text, settings)) => {
                        components.insert(component.clone(), settings);
                        component_files.insert(
                            component,
                            UpgradeFile {
                                path: path.clone(),
                                text,
                                read_quickly: false,
                            },
                        );
                    }
                    Err(e) => errors.push(e),
                }
                continue;
            }
            if let Some(database) = install_file_database(rest) {
                match database.and_then(|db| read(path).map(|t| (db, t)).map_err(|e| e.to_string()))
                {
                    Ok((database, text)) => install_files.entry(component).or_default().push((
                        path.clone(),
                        database,
                        text,
                    )),
                    Err(reason) => errors.push(TreeError::new(
                        path.as_str(),
                        TreeErrorKind::Snapshot(reason),
                    )),
                }
                continue;
            }
            if rest == "upgrade.toml" {
                // A file whose every entry the site's release covers is read
                // into one buffer used from file to file and not kept; any
                // other is read and parsed in full.
                let parsed = match &covered {
                    Some(covered) => source.read_into(path, &mut buffer).and_then(|()| {
                        let quick = std::str::from_utf8(&buffer).ok().and_then(|text| {
                            upgrade_scan::read_covered(
                                path,
                                text,
                                &component,
                                &|r| covered.contains(r),
                                &mut released,
                            )
                        });
                        match quick {
                            Some(()) => Ok(None),
                            None => parse_upgrade(path, &component, std::mem::take(&mut buffer)),
                        }
                    }),
                    None => source
                        .read(path)
                        .and_then(|bytes| parse_upgrade(path, &component, bytes)),
                };
                let (text, read_quickly) = match parsed {
                    Ok(Some((text, steps))) => {
                        released.extend(steps);
                        (text, false)
                    }
                    Ok(None) => (String::new(), true),
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                };
                upgrade_files.insert(
                    component,
                    UpgradeFile {
                        path: path.clone(),
                        text,
                        read_quickly,
                    },
                );
            } else {
                let file = rest.trim_start_matches("upgrades/");
                match parse_step_file_name(file) {
                    Ok((name, database)) => {
                        standalone_files.push(((component, name), Variant { path, database }))
                    }
                    Err(kind) => errors.push(TreeError::new(path.as_str(), kind)),
                }
            }
        }

        // Every step in one Vec sorted by key (a map of 100,000 steps held
        // each one in half-full nodes, and then a Vec of them too): released
        // entries first, the first of duplicates kept (a stable sort).
        let mut steps: Vec<Step> = released;
        steps.sort_by(|a, b| a.key.cmp(&b.key));
        steps.dedup_by(|later, kept| {
            let same = later.key.cmp(&kept.key).is_eq();
            if same {
                errors.push(duplicate(later, kept.location()));
            }
            same
        });
        let released_count = steps.len();
        let standalone = by_step(standalone_files);
        steps.reserve_exact(standalone.len());
        let mut leftovers = Vec::new();
        let mut standalone_texts = BTreeMap::new();
        // With the step cache (status and plan), an unchanged step is not read.
        let mut lookups = cache
            .as_deref_mut()
            .map(|c| c.lookup_all(&standalone).into_iter());
        for ((component, name), variants) in standalone {
            let mut read_kept = |path: &str| -> Result<String, TreeError> {
                let text = read(path)?;
                standalone_texts.insert(path.to_string(), text.clone());
                Ok(text)
            };
            let cached = cache
                .as_deref_mut()
                .zip(lookups.as_mut().and_then(Iterator::next));
            let step = match crate::trees::step_cache::cached_or_read(
                cached,
                (component, name),
                &variants,
                &mut read_kept,
            ) {
                Ok(step) => step,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let existing = holding(&steps[..released_count], &step.key);
            if covered.is_some() && existing.is_some() {
                // A leftover or a duplicate next to an entry read quickly: the
                // full load decides and words it.
                return Tree::load(source).map(|tree| (tree, Vec::new()));
            }
            match existing {
                Some(existing) if is_leftover(&step, existing) => {
                    let Origin::Standalone { files } = step.origin else {
                        continue;
                    };
                    leftovers.push(Leftover {
                        key: step.key,
                        files,
                    });
                }
                Some(existing) => errors.push(duplicate(&step, existing.location())),
                None => {
                    forget_texts_equal_to_body(&step, &mut standalone_texts);
                    steps.push(step);
                }
            }
        }
        // Standalone steps came in key order after the released ones: one
        // sort without a copy (the keys are unique now).
        steps.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        // Pre steps may only add (model/pre_lint.rs): a standalone pre step that
        // is not additive is an error, a released one (never edited) a warning.
        let mut warnings = scan.warnings;
        for step in &steps {
            let (refused, warned) = crate::model::pre_lint::lint_step(step, |path| {
                standalone_texts
                    .get(path)
                    .or_else(|| kept_upgrade_text(&upgrade_files, path))
                    .map(String::as_str)
                    .or_else(|| file_body(step, path))
            });
            errors.extend(refused);
            warnings.extend(warned);
        }
        let (installs, baseline, install_texts) = super::snapshots::assemble(
            manifest.as_ref(),
            &steps,
            install_files,
            baseline_files,
            &mut errors,
        );
        if let Some(manifest) = &manifest {
            plugin_types::explain_unknown_folders(manifest, &mut errors);
        }
        if view.is_some() && !errors.is_empty() {
            return Tree::load(source).map(|tree| (tree, Vec::new()));
        }
        if let Some(cache) = cache.filter(|_| errors.is_empty() && manifest.is_some()) {
            cache.save();
        }
        let deferred = deferred.into_iter().cloned().collect();
        match manifest {
            Some(manifest) if errors.is_empty() => Ok((
                Tree {
                    manifest,
                    steps,
                    upgrade_files,
                    release_files,
                    leftovers,
                    standalone_texts,
                    warnings,
                    components,
                    component_files,
                    installs,
                    install_texts,
                    baseline,
                    kept_files,
                },
                deferred,
            )),
            _ => Err(TreeErrors::new(errors)),
        }
    }
}

/// The text of the `upgrade.toml` at `path` among `files`, when it was kept
/// (not for one read quickly for a site).
fn kept_upgrade_text<'a>(
    files: &'a BTreeMap<ComponentName, UpgradeFile>,
    path: &str,
) -> Option<&'a String> {
    files
        .values()
        .find(|f| f.path == path && !f.read_quickly)
        .map(|f| &f.text)
}

/// A component's `db/upgrade.toml`, read in full: its text and steps.
fn parse_upgrade(
    path: &str,
    component: &ComponentName,
    bytes: Vec<u8>,
) -> Result<Option<(String, Vec<Step>)>, TreeError> {
    let text = utf8(path, bytes)?;
    let steps = upgrade_file::parse(path, &text, component)?;
    Ok(Some((text, steps)))
}
