//! The small pieces a tree load is made of: a release file read and named
//! after its release, whether a folder is part of the tree, a path split at
//! its `db` folder, and the error for a step defined twice.

use super::*;

/// A release file: parsed, and named after the release it holds.
pub(in crate::trees) fn read_release_file(
    path: &str,
    file: &str,
    read: &dyn Fn(&str) -> Result<String, TreeError>,
) -> Result<FoundReleaseFile, TreeError> {
    let text = read(path)?;
    let rules = ReleaseFile::parse(path, &text)?;
    if file != format!("{}.toml", rules.release) {
        return Err(TreeError::new(
            path,
            TreeErrorKind::Field(format!(
                "the file holds the rules of {}, so it must be named releases/{}.toml",
                rules.release, rules.release
            )),
        ));
    }
    Ok(FoundReleaseFile {
        path: path.to_string(),
        text,
        rules,
    })
}

/// Does the manifest make the folder `path` part of the step tree: a
/// component, plugin type or core folder (or a folder holding one), a `db`
/// folder, or `releases`?
pub(super) fn part_of_tree(manifest: &Manifest, path: &str) -> bool {
    let holds = |folder: &str| folder == path || folder.starts_with(&format!("{path}/"));
    let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
    path == "releases"
        || path == "db"
        || path.ends_with("/db")
        || path.ends_with("/db/upgrades")
        || holds(&manifest.core_folder)
        || manifest
            .plugin_types
            .iter()
            .any(|t| holds(&t.folder) || (parent == t.folder && !t.folder.is_empty()))
}

/// Splits `<folder>/db/<rest>` (or `db/<rest>` at the root).
pub(in crate::trees) fn split_db(path: &str) -> (&str, &str) {
    if let Some(rest) = path.strip_prefix("db/") {
        return ("", rest);
    }
    match path.find("/db/") {
        Some(i) => (&path[..i], &path[i + 4..]),
        None => ("", path),
    }
}

pub(super) fn duplicate(step: &Step, other: String) -> TreeError {
    let (path, line) = match &step.origin {
        Origin::Standalone { files } => (files.first().unwrap_or_default().to_string(), None),
        Origin::Released { file, line, .. } => (file.to_string(), line.map(|l| l as usize)),
    };
    TreeError::new(
        path,
        TreeErrorKind::DuplicateStep {
            component: step.key.component.to_string(),
            name: step.key.name.to_string(),
            other,
        },
    )
    .at_line_opt(line)
}
