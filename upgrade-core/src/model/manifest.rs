//! `Manifest`: the root `upgrade.toml` — project, version, revision, the
//! release history and where components live.

use toml_edit::Item;

use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::toml_doc::TomlFile;
use crate::model::tree_error::TreeError;
use crate::model::version::Version;

/// The file name of the root manifest (and of each component's major-release file).
pub const MANIFEST_FILE: &str = "upgrade.toml";

/// How `main` steps are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// All components together in name (date) order.
    Global,
    /// Core first, then each plugin in plugin-type order, each in name order.
    Staged,
}

/// A plugin type: its name (the component prefix) and the folder of its plugins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginType {
    /// The type, e.g. `mod`.
    pub name: String,
    /// The folder holding one folder per plugin, e.g. `mod`.
    pub folder: String,
}

/// One release of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseEntry {
    /// The release name.
    pub name: ReleaseName,
    /// The project version at the release.
    pub version: Version,
}

/// A step removed from the tree on purpose, so that `verify` does not call it lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredStep {
    /// Its component.
    pub component: ComponentName,
    /// Its name.
    pub name: String,
    /// Why it was retired.
    pub reason: String,
}

/// The root manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Project name.
    pub name: String,
    /// Current code version.
    pub version: Version,
    /// Order-less revision counter: a site with another revision needs a resync.
    pub revision: i64,
    /// The oldest release a site may upgrade from.
    pub upgrade_from: Option<ReleaseName>,
    /// How `main` steps are ordered.
    pub strategy: Strategy,
    /// The folder of the core component.
    pub core_folder: String,
    /// Plugin types, in staged-upgrade and tie-break order.
    pub plugin_types: Vec<PluginType>,
    /// The release history, oldest first.
    pub releases: Vec<ReleaseEntry>,
    /// Steps retired on purpose.
    pub retired: Vec<RetiredStep>,
    /// The text of the file, for edits that keep its bytes.
    pub text: String,
}

impl Manifest {
    /// Parses the root manifest; `path` names it in errors.
    pub fn parse(path: &str, text: &str) -> Result<Self, TreeError> {
        let file = TomlFile::parse(path, text)?;
        let root = file.doc.as_table();
        let project = root
            .get("project")
            .and_then(Item::as_table)
            .ok_or_else(|| file.field_error(None, "no [project] table".into()))?;
        let name = file.string(project, "name", "[project]")?;
        let version_item = project.get("version");
        let version_text =
            match version_item {
                Some(item) if item.as_str().is_some() => item.as_str().unwrap_or_default(),
                Some(item) => return Err(file.field_error(
                    Some(item),
                    "`version` must be a quoted string such as \"2008030100.02\", never a float"
                        .into(),
                )),
                None => return Err(file.field_error(None, "[project] has no `version`".into())),
            };
        let version = Version::parse(version_text)
            .map_err(|e| file.field_error(version_item, e.to_string()))?;
        let revision_item = project.get("revision");
        let revision = match revision_item.and_then(Item::as_integer) {
            Some(r) => r,
            None => {
                return Err(file.field_error(
                    revision_item,
                    "[project] needs an integer `revision`".into(),
                ));
            }
        };
        let upgrade_from = match file.opt_string(project, "upgrade_from", "[project]")? {
            Some(s) => Some(
                ReleaseName::parse(&s)
                    .map_err(|e| file.field_error(project.get("upgrade_from"), e.to_string()))?,
            ),
            None => None,
        };
        let strategy = match file
            .opt_string(project, "strategy", "[project]")?
            .as_deref()
        {
            None | Some("global") => Strategy::Global,
            Some("staged") => Strategy::Staged,
            Some(other) => {
                return Err(file.field_error(
                    project.get("strategy"),
                    format!("unknown strategy `{other}`: write \"global\" or \"staged\""),
                ));
            }
        };

        let components = root
            .get("components")
            .and_then(Item::as_table)
            .ok_or_else(|| file.field_error(None, "no [components] table".into()))?;
        let core_folder = clean_folder(&file.string(components, "core", "[components]")?);
        let types_item = components.get("plugin_types");
        let types = types_item.and_then(Item::as_array).ok_or_else(|| {
            file.field_error(
                types_item,
                "[components] needs `plugin_types = [{ name = \"mod\", folder = \"mod\" }, ...]`"
                    .into(),
            )
        })?;
        let mut plugin_types: Vec<PluginType> = Vec::new();
        for value in types.iter() {
            let table = value.as_inline_table().ok_or_else(|| {
                file.field_error(
                    types_item,
                    "each plugin type is `{ name = \"...\", folder = \"...\" }`".into(),
                )
            })?;
            let get = |key: &str| {
                table
                    .get(key)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        file.field_error(types_item, format!("a plugin type has no string `{key}`"))
                    })
            };
            let pt = PluginType {
                name: get("name")?,
                folder: clean_folder(&get("folder")?),
            };
            if ComponentName::parse(&format!("{}_x", pt.name)).is_err() || pt.name.contains('_') {
                return Err(file.field_error(
                    types_item,
                    format!(
                        "plugin type `{}` must be lowercase letters and digits",
                        pt.name
                    ),
                ));
            }
            if plugin_types
                .iter()
                .any(|t| t.name == pt.name || t.folder == pt.folder)
            {
                return Err(file.field_error(
                    types_item,
                    format!(
                        "plugin type `{}` or its folder `{}` is listed twice",
                        pt.name, pt.folder
                    ),
                ));
            }
            plugin_types.push(pt);
        }

        let mut releases: Vec<ReleaseEntry> = Vec::new();
        if let Some(item) = root.get("release") {
            let array = item.as_array_of_tables().ok_or_else(|| {
                file.field_error(
                    Some(item),
                    "the history is a list of [[release]] tables".into(),
                )
            })?;
            for table in array.iter() {
                let name_text = file.string(table, "name", "[[release]]")?;
                let name = ReleaseName::parse(&name_text)
                    .map_err(|e| file.entry_error(table, e.to_string()))?;
                let v = file.string(table, "version", "[[release]]")?;
                let version =
                    Version::parse(&v).map_err(|e| file.entry_error(table, e.to_string()))?;
                if releases.iter().any(|r| r.name == name) {
                    return Err(
                        file.entry_error(table, format!("release {name} is in the history twice"))
                    );
                }
                if let Some(prev) = releases.last() {
                    if version <= prev.version {
                        return Err(file.entry_error(
                            table,
                            format!(
                                "release {name} ({version}) is not newer than {} ({})",
                                prev.name, prev.version
                            ),
                        ));
                    }
                }
                releases.push(ReleaseEntry { name, version });
            }
        }
        if let Some(from) = &upgrade_from {
            if !releases.iter().any(|r| &r.name == from) {
                return Err(file.field_error(
                    project.get("upgrade_from"),
                    format!("upgrade_from names {from}, which is not in the release history"),
                ));
            }
        }

        let mut retired = Vec::new();
        if let Some(item) = root.get("retired") {
            let array = item.as_array_of_tables().ok_or_else(|| {
                file.field_error(Some(item), "retired steps are [[retired]] tables".into())
            })?;
            for table in array.iter() {
                let c = file.string(table, "component", "[[retired]]")?;
                let component =
                    ComponentName::parse(&c).map_err(|e| file.entry_error(table, e.to_string()))?;
                retired.push(RetiredStep {
                    component,
                    name: file.string(table, "step", "[[retired]]")?,
                    reason: file
                        .opt_string(table, "reason", "[[retired]]")?
                        .unwrap_or_default(),
                });
            }
        }

        Ok(Manifest {
            name,
            version,
            revision,
            upgrade_from,
            strategy,
            core_folder,
            plugin_types,
            releases,
            retired,
            text: text.to_string(),
        })
    }

    /// The component whose folder is `folder` (relative, `/`-separated), if any.
    pub fn component_for_folder(&self, folder: &str) -> Option<ComponentName> {
        if folder == self.core_folder {
            return Some(ComponentName::core());
        }
        let (parent, plugin) = folder.rsplit_once('/').unwrap_or(("", folder));
        let valid_plugin = plugin
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase())
            && plugin
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_plugin {
            return None;
        }
        self.plugin_types
            .iter()
            .find(|t| t.folder == parent)
            .map(|t| ComponentName::plugin(&t.name, plugin))
    }

    /// The folder of a component, if its type is known.
    pub fn folder_of(&self, component: &ComponentName) -> Option<String> {
        if component.is_core() {
            return Some(self.core_folder.clone());
        }
        self.plugin_types.iter().find_map(|t| {
            component
                .as_str()
                .strip_prefix(&t.name)
                .and_then(|rest| rest.strip_prefix('_'))
                .filter(|plugin| !plugin.is_empty())
                .map(|plugin| {
                    if t.folder.is_empty() {
                        plugin.to_string()
                    } else {
                        format!("{}/{plugin}", t.folder)
                    }
                })
        })
    }

    /// The tie-break rank of a component: core first, then plugin types in order.
    pub fn type_rank(&self, component: &ComponentName) -> usize {
        if component.is_core() {
            return 0;
        }
        self.plugin_types
            .iter()
            .position(|t| {
                component
                    .as_str()
                    .strip_prefix(&t.name)
                    .is_some_and(|rest| rest.starts_with('_'))
            })
            .map_or(usize::MAX, |i| i + 1)
    }

    /// The position of a release in the history.
    pub fn release_index(&self, name: &ReleaseName) -> Option<usize> {
        self.releases.iter().position(|r| &r.name == name)
    }

    /// The newest release of the history.
    pub fn newest_release(&self) -> Option<&ReleaseEntry> {
        self.releases.last()
    }
}

fn clean_folder(folder: &str) -> String {
    folder.trim_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
[project]
name = "demo"
version = "2008030100.02"
revision = 7
upgrade_from = "MOODLE_19_STABLE"

[components]
core = "lib"
plugin_types = [
  { name = "mod", folder = "mod" },
  { name = "assignsubmission", folder = "mod/assign/submission" },
]

[[release]]
name = "MOODLE_19_STABLE"
version = "2007101500.00"
"#;

    #[test]
    fn parses_and_maps_folders() {
        let m = Manifest::parse("upgrade.toml", TEXT).expect("valid manifest");
        assert_eq!(m.version.as_str(), "2008030100.02");
        assert_eq!(m.component_for_folder("lib"), Some(ComponentName::core()));
        assert_eq!(
            m.component_for_folder("mod/assign").map(|c| c.to_string()),
            Some("mod_assign".into())
        );
        assert_eq!(
            m.component_for_folder("mod/assign/submission/file")
                .map(|c| c.to_string()),
            Some("assignsubmission_file".into())
        );
        assert_eq!(m.component_for_folder("blocks/x"), None);
        let c = ComponentName::parse("assignsubmission_file").expect("valid");
        assert_eq!(
            m.folder_of(&c).as_deref(),
            Some("mod/assign/submission/file")
        );
        assert_eq!(m.type_rank(&c), 2);
    }

    #[test]
    fn float_version_is_refused_with_line() {
        let text = TEXT.replace("\"2008030100.02\"", "2008030100.02");
        let err = Manifest::parse("upgrade.toml", &text).expect_err("float accepted");
        assert_eq!(err.line, Some(4));
        assert!(err.to_string().contains("never a float"), "{err}");
    }

    #[test]
    fn broken_toml_names_line() {
        let text = TEXT.replace("revision = 7", "revision = = 7");
        let err = Manifest::parse("upgrade.toml", &text).expect_err("broken accepted");
        assert_eq!(err.line, Some(5));
    }
}
