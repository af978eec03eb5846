//! Components' own settings on rebase: the branch's edits of an upstream
//! component's `db/component.toml` (kept when the target left the file
//! alone, a conflict when both changed it), and the fixes that say where to
//! declare a plugin type the target does not know (`model/plugin_types.rs`).

use std::collections::{BTreeMap, BTreeSet};

use super::RebaseError;
use crate::model::component::ComponentName;
use crate::model::tree_error::{TreeErrorKind, TreeErrors};
use crate::trees::tree::Tree;

/// The branch's own edits of upstream components' settings
/// (`db/component.toml`: `safe_to_disable`, declared plugin types) go into
/// `result` when the target left the file as the merge base has it; a file
/// both sides changed differently stops the rebase.
pub(super) fn carry_settings_edits(
    ours: &Tree,
    base: &Tree,
    theirs: &Tree,
    custom: &BTreeSet<&ComponentName>,
    onto: &str,
    result: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), RebaseError> {
    for (component, file) in &ours.component_files {
        let at_base = base.component_files.get(component).map(|f| &f.text);
        if custom.contains(component) || at_base == Some(&file.text) {
            continue;
        }
        let at_target = theirs.component_files.get(component).map(|f| &f.text);
        if at_target == Some(&file.text) {
            continue;
        }
        if at_target != at_base {
            return Err(RebaseError::SettingsConflict {
                path: file.path.clone(),
                onto: onto.to_string(),
            });
        }
        let path = match theirs.manifest.folder_of(component) {
            Some(folder) if folder.is_empty() => "db/component.toml".to_string(),
            Some(folder) => format!("{folder}/db/component.toml"),
            None => file.path.clone(),
        };
        result.insert(path, file.text.clone().into_bytes());
    }
    Ok(())
}

/// What to declare where so that `component` (a plugin of a type `ours`
/// knows) has a folder in `theirs`.
pub(super) fn declare_fix(ours: &Tree, theirs: &Tree, component: &ComponentName) -> String {
    let type_name = component.as_str().split('_').next();
    match ours.manifest.folder_of(component) {
        Some(folder) => {
            crate::model::plugin_types::declare_type_hint(&theirs.manifest, &folder, type_name)
        }
        None => "add its plugin type to [components] plugin_types in upgrade.toml upstream, or move the plugin to a known plugin type folder".into(),
    }
}

/// The errors of a rebased tree that does not load, each unknown component
/// folder of the branch's own components with the fix naming its type.
pub(super) fn with_declare_fixes(errors: TreeErrors, ours: &Tree, theirs: &Tree) -> TreeErrors {
    let mut list = errors.errors().to_vec();
    for e in &mut list {
        if let TreeErrorKind::UnknownPluginFolder { folder, fix } = &mut e.kind
            && let Some(c) = ours
                .manifest
                .component_for_folder(folder)
                .filter(|c| !c.is_core())
        {
            *fix = declare_fix(ours, theirs, &c);
        }
    }
    TreeErrors::new(list)
}
