//! Plugin types declared by plugins: the `[[plugin_types]]` tables of the
//! plugins' own `db/component.toml` (see `model/component_settings.rs`)
//! joined to the root manifest's `[components] plugin_types`, so that a
//! plugin (a third-party or a custom branch's local one) brings its own
//! subplugin types without any change upstream.
//!
//! [`add_declared_types`] reads every `db/component.toml` of the tree before
//! any component folder is resolved (tree loading's first pass) and extends
//! the manifest's plugin types in place. Rules, each broken one a
//! [`TreeError`] naming the file and line with the fix:
//!
//! - only a plugin of a type `upgrade.toml` lists may declare types: core's
//!   file may not (core's types belong in `upgrade.toml`), nor a plugin of a
//!   declared type (no nesting: one level of subplugins, as in Moodle);
//! - a declared name is new: not a type of `upgrade.toml`, not declared by
//!   another plugin;
//! - its folder (the plugin's folder joined with `folder`, which
//!   `component_settings` keeps relative and free of `..`) is no other
//!   type's folder, no component's folder, and holds no other type's folder
//!   or the core folder as one of its plugins.
//!
//! A declared type ranks with its parent: it is placed right after the
//! declaring plugin's type and the types already listed right after that
//! type inside its folder (the upstream subplugin types), so plan order and
//! the staged strategy run subplugins right after their parent's type, as
//! they do for subplugin types `upgrade.toml` lists after their parent.
//! Files are read in path order, entries in file order: the result never
//! depends on listing order.

use std::collections::BTreeMap;

use crate::model::component::ComponentName;
use crate::model::component_settings::{COMPONENT_SETTINGS_FILE, ComponentSettings};
use crate::model::manifest::{MANIFEST_FILE, Manifest, PluginType};
use crate::model::tree_error::{TreeError, TreeErrorKind};

/// The folder whose `db/component.toml` is `path`, if `path` is one.
pub fn settings_folder(path: &str) -> Option<&str> {
    if path.strip_prefix("db/") == Some(COMPONENT_SETTINGS_FILE) {
        return Some("");
    }
    path.strip_suffix(COMPONENT_SETTINGS_FILE)
        .and_then(|p| p.strip_suffix("/db/"))
}

/// Where a type was declared, for messages.
struct Declared {
    path: String,
    line: usize,
}

/// Extends `manifest.plugin_types` with the types the plugins' own
/// `db/component.toml` files (among `files`, read through `read`) declare,
/// and returns every problem found (parse errors of those files included).
pub fn add_declared_types(
    manifest: &mut Manifest,
    files: &[String],
    read: &dyn Fn(&str) -> Result<String, TreeError>,
) -> Vec<TreeError> {
    let mut errors = Vec::new();
    let mut paths: Vec<&String> = files
        .iter()
        .filter(|p| settings_folder(p).is_some())
        .collect();
    paths.sort();
    let mut deferred: Vec<(&str, &str, usize)> = Vec::new();
    let mut declared: BTreeMap<String, Declared> = BTreeMap::new();
    for path in paths {
        let Some(folder) = settings_folder(path) else {
            continue;
        };
        let settings = match read(path)
            .map_err(|e| vec![e])
            .and_then(|text| ComponentSettings::parse_all(path, &text))
        {
            Ok(s) => s,
            Err(e) => {
                errors.extend(e);
                continue;
            }
        };
        let Some(first) = settings.plugin_types.first() else {
            continue;
        };
        match manifest.component_for_folder(folder) {
            Some(c) if c.is_core() => errors.push(field(
                path,
                first.line,
                "core cannot declare plugin types here: list them in upgrade.toml [components] plugin_types",
            )),
            Some(parent) => {
                for t in &settings.plugin_types {
                    let full = format!("{folder}/{}", t.folder);
                    match check_new_type(manifest, &declared, &t.name, &full) {
                        Err(why) => errors.push(field(path, t.line, why)),
                        Ok(()) => {
                            insert_with_parent(manifest, &parent, t.name.clone(), full);
                            declared.insert(
                                t.name.clone(),
                                Declared {
                                    path: path.clone(),
                                    line: t.line,
                                },
                            );
                        }
                    }
                }
            }
            None => deferred.push((path, folder, first.line)),
        }
    }
    // Files of plugins of declared types (or of unknown folders, which tree
    // loading reports on its own).
    for (path, folder, line) in deferred {
        let Some(component) = manifest.component_for_folder(folder) else {
            continue;
        };
        let type_name = component.as_str().split('_').next().unwrap_or_default();
        let by = declared.get(type_name).map_or_else(String::new, |d| {
            format!(" (declared in {}:{})", d.path, d.line)
        });
        errors.push(field(
            path,
            line,
            format!(
                "{component} is a plugin of type `{type_name}`{by}, itself declared by a plugin: subplugins cannot declare plugin types of their own; declare the type in upgrade.toml [components] plugin_types, or in the top plugin's db/component.toml"
            ),
        ));
    }
    errors
}

fn field(path: &str, line: usize, message: impl Into<String>) -> TreeError {
    TreeError::new(path, TreeErrorKind::Field(message.into())).at_line(line)
}

/// Why a declared type `name` in folder `full` (tree-relative) cannot join
/// the types known so far, if it cannot.
fn check_new_type(
    manifest: &Manifest,
    declared: &BTreeMap<String, Declared>,
    name: &str,
    full: &str,
) -> Result<(), String> {
    let listed = |t: &PluginType| match declared.get(&t.name) {
        Some(d) => format!("declared in {}:{}", d.path, d.line),
        None => format!("listed in {MANIFEST_FILE} [components] plugin_types"),
    };
    if let Some(t) = manifest.plugin_types.iter().find(|t| t.name == name) {
        return Err(format!(
            "plugin type `{name}` is already {}: give this type another name",
            listed(t)
        ));
    }
    if let Some(t) = manifest.plugin_types.iter().find(|t| t.folder == full) {
        return Err(format!(
            "`{full}` is already the folder of plugin type `{}` ({}): each of its plugins would belong to both; declare one type per folder",
            t.name,
            listed(t)
        ));
    }
    if full == manifest.core_folder || manifest.component_for_folder(full).is_some() {
        let owner = manifest
            .component_for_folder(full)
            .unwrap_or_else(ComponentName::core);
        return Err(format!(
            "`{full}` is the folder of component {owner}: one folder cannot be a component and hold the plugins of `{name}`; choose another folder"
        ));
    }
    let parent_of = |f: &str| f.rsplit_once('/').map_or("", |(p, _)| p).to_string();
    if parent_of(&manifest.core_folder) == full {
        return Err(format!(
            "`{full}` holds the core folder `{}`, which would be a plugin of `{name}`; choose another folder",
            manifest.core_folder
        ));
    }
    if let Some(t) = manifest
        .plugin_types
        .iter()
        .find(|t| parent_of(&t.folder) == full)
    {
        return Err(format!(
            "`{full}` holds `{}`, the folder of plugin type `{}` ({}), which would also be a plugin of `{name}`; choose another folder",
            t.folder,
            t.name,
            listed(t)
        ));
    }
    Ok(())
}

/// Inserts type `name` (folder `full`) right after the type of `parent` and
/// the types already listed right after it inside that type's folder.
fn insert_with_parent(manifest: &mut Manifest, parent: &ComponentName, name: String, full: String) {
    let types = &mut manifest.plugin_types;
    let parent_type = parent.as_str().split('_').next().unwrap_or_default();
    let Some(start) = types.iter().position(|t| t.name == parent_type) else {
        types.push(PluginType { name, folder: full });
        return;
    };
    let inside = format!("{}/", types[start].folder);
    let mut at = start + 1;
    while at < types.len() && types[at].folder.starts_with(&inside) {
        at += 1;
    }
    types.insert(at, PluginType { name, folder: full });
}

/// For a folder no component owns (`folder` holds a `db/` folder): the
/// plugin folder that could declare the type of its parent folder, and that
/// parent folder relative to the plugin. E.g. `mod/quiz/accessrule/seb` →
/// `("mod/quiz", "accessrule")` when `mod/quiz` is a plugin of a type
/// `upgrade.toml` lists.
pub fn declaring_plugin_for(manifest: &Manifest, folder: &str) -> Option<(String, String)> {
    let (type_folder, _) = folder.rsplit_once('/')?;
    type_folder
        .match_indices('/')
        .map(|(i, _)| i)
        .rev()
        .find(|&i| {
            manifest
                .component_for_folder(&type_folder[..i])
                .is_some_and(|c| !c.is_core())
        })
        .map(|i| {
            (
                type_folder[..i].to_string(),
                type_folder[i + 1..].to_string(),
            )
        })
}

/// What to write where to make `folder` (whose parent folder would hold the
/// plugins of an unknown type) a component: the fix for an unknown
/// component folder and for a rebase onto a tree that lacks the type.
/// `type_name` fills in the type when it is known (else `<type>`).
pub fn declare_type_hint(manifest: &Manifest, folder: &str, type_name: Option<&str>) -> String {
    let name = type_name.unwrap_or("<type>");
    let Some((type_folder, _)) = folder.rsplit_once('/') else {
        return format!(
            "a plugin lives in the folder of its plugin type: move the folder there, or make it the core folder (`core` in {MANIFEST_FILE} [components])"
        );
    };
    let upstream = format!(
        "add {{ name = \"{name}\", folder = \"{type_folder}\" }} to [components] plugin_types in {MANIFEST_FILE}"
    );
    match declaring_plugin_for(manifest, folder) {
        Some((plugin, relative)) => format!(
            "declare its plugin type in {plugin}/db/{COMPONENT_SETTINGS_FILE} as [[plugin_types]] name = \"{name}\", folder = \"{relative}\", or {upstream}; or move the folder"
        ),
        None => format!("{upstream}, or move the folder"),
    }
}

/// Gives every unknown component folder error among `errors` the fix of
/// [`declare_type_hint`]: what to declare in which file.
pub fn explain_unknown_folders(manifest: &Manifest, errors: &mut [TreeError]) {
    for e in errors.iter_mut() {
        if let TreeErrorKind::UnknownComponentFolder { folder } = &e.kind {
            e.kind = TreeErrorKind::UnknownPluginFolder {
                fix: declare_type_hint(manifest, folder, None),
                folder: folder.clone(),
            };
        }
    }
}

#[cfg(test)]
mod tests;
