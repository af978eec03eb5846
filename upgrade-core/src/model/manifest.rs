//! `Manifest`: the root `upgrade.toml` — project, version, revision, the
//! release history and where components live.

mod parse;

use serde_spanned::Spanned;

use self::parse::{Errors, Raw, RawRevision, RawVersion, components, maintenance, releases};
use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::tree_error::{TreeError, TreeErrorKind, line_of};
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

/// `[maintenance]`: commands the application gives to be told when a scope
/// (`*` or a component) enters or leaves maintenance during `apply`. Each is
/// run as `sh -c '<command> "$1"' consolidate <scope>` in the tree root: the
/// scope is an argument, never pasted into the command text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceHooks {
    /// Run after the scope's maintenance row is committed, before its steps.
    pub enter: Option<String>,
    /// Run after the scope's row is removed, once its steps are done.
    pub leave: Option<String>,
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
    /// The maintenance hooks (`[maintenance]`).
    pub maintenance: MaintenanceHooks,
    /// The project baseline (`[baseline] release = "R"`): fresh sites start
    /// from its schema snapshot (`releases/R.baseline[.<database>].sql`)
    /// as sites that completed R; older sites are refused.
    pub baseline: Option<ReleaseName>,
    /// The text of the file, for edits that keep its bytes.
    pub text: String,
}

impl Manifest {
    /// Parses the root manifest; `path` names it in errors. The first problem
    /// is the error; [`Manifest::parse_all`] returns every one.
    pub fn parse(path: &str, text: &str) -> Result<Self, TreeError> {
        Self::parse_all(path, text).map_err(|mut errors| errors.remove(0))
    }

    /// Parses the root manifest and reports every problem it has (never an
    /// empty list), each at its line.
    pub fn parse_all(path: &str, text: &str) -> Result<Self, Vec<TreeError>> {
        let raw: Raw = toml_edit::de::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let message = e.message().trim().to_string();
            let kind = if toml_edit::Document::parse(text).is_err() {
                TreeErrorKind::Toml(message)
            } else {
                TreeErrorKind::Field(message)
            };
            vec![TreeError::new(path, kind).at_line_opt(line)]
        })?;
        let mut errors = Errors {
            path,
            text,
            list: Vec::new(),
        };
        let project = raw.project.map(|p| (p.span(), p.into_inner()));
        let Some((project_span, project)) = project else {
            errors.field(None, "no [project] table");
            return Err(errors.list);
        };
        let name = match project.name {
            Some(n) => n.into_inner(),
            None => {
                errors.field(Some(project_span.clone()), "[project] has no `name`");
                String::new()
            }
        };
        let version = match project.version {
            Some(v) => {
                let span = v.span();
                match v.into_inner() {
                    RawVersion::Text(t) => Version::parse(&t)
                        .map_err(|e| errors.field(Some(span), e.to_string()))
                        .ok(),
                    RawVersion::Other(_) => {
                        errors.field(
                            Some(span),
                            "`version` must be a quoted string such as \"2008030100.02\", never a float",
                        );
                        None
                    }
                }
            }
            None => {
                errors.field(Some(project_span.clone()), "[project] has no `version`");
                None
            }
        };
        let revision = match project.revision {
            Some(r) => match r.get_ref() {
                RawRevision::Integer(i) => Some(*i),
                RawRevision::Other(_) => {
                    errors.field(Some(r.span()), "[project] needs an integer `revision`");
                    None
                }
            },
            None => {
                errors.field(Some(project_span), "[project] needs an integer `revision`");
                None
            }
        };
        let upgrade_from_span = project.upgrade_from.as_ref().map(Spanned::span);
        let upgrade_from = project.upgrade_from.and_then(|u| {
            ReleaseName::parse(u.get_ref())
                .map_err(|e| errors.field(Some(u.span()), e.to_string()))
                .ok()
        });
        let strategy = match &project.strategy {
            None => Strategy::Global,
            Some(s) => match s.get_ref().as_str() {
                "global" => Strategy::Global,
                "staged" => Strategy::Staged,
                other => {
                    errors.field(
                        Some(s.span()),
                        format!("unknown strategy `{other}`: write \"global\" or \"staged\""),
                    );
                    Strategy::Global
                }
            },
        };

        let (core_folder, plugin_types) = components(raw.components, &mut errors);
        let releases = releases(raw.release, &mut errors);
        let maintenance = maintenance(raw.maintenance, &mut errors);
        let baseline = parse::baseline(raw.baseline, &releases, &mut errors);
        if let Some(from) = &upgrade_from
            && !releases.iter().any(|r| &r.name == from)
        {
            errors.field(
                upgrade_from_span,
                format!("upgrade_from names {from}, which is not in the release history"),
            );
        }
        let mut retired = Vec::new();
        for entry in raw.retired {
            let span = entry.span();
            let entry = entry.into_inner();
            match ComponentName::parse(&entry.component) {
                Ok(component) => retired.push(RetiredStep {
                    component,
                    name: entry.step,
                    reason: entry.reason,
                }),
                Err(e) => errors.at(Some(span), TreeErrorKind::Entry(e.to_string())),
            }
        }

        match (version, revision) {
            (Some(version), Some(revision)) if errors.list.is_empty() => Ok(Manifest {
                name,
                version,
                revision,
                upgrade_from,
                strategy,
                core_folder,
                plugin_types,
                releases,
                retired,
                maintenance,
                baseline,
                text: text.to_string(),
            }),
            _ => Err(errors.list),
        }
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

    fn folders(text: &str) -> (String, Vec<(String, String)>) {
        let m = Manifest::parse("upgrade.toml", text).expect("valid manifest");
        let types = m
            .plugin_types
            .iter()
            .map(|t| (t.name.clone(), t.folder.clone()))
            .collect();
        (m.core_folder, types)
    }

    const HEAD: &str = "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\n";

    #[test]
    fn every_toml_spelling_of_the_same_data_is_accepted() {
        let inline = format!(
            "{HEAD}[components]\ncore = \"lib\"\nplugin_types = [{{ name = \"mod\", folder = \"mod\" }}, {{ name = \"block\", folder = \"blocks\" }}]\n"
        );
        let array_of_tables = format!(
            "{HEAD}[components]\ncore = \"lib\"\n\n[[components.plugin_types]]\nname = \"mod\"\nfolder = \"mod\"\n\n[[components.plugin_types]]\nname = \"block\"\nfolder = \"blocks\"\n"
        );
        let dotted = "project.name = \"t\"\nproject.version = \"2008030100.00\"\nproject.revision = 1\ncomponents.core = \"lib\"\ncomponents.plugin_types = [\n  { name = \"mod\", folder = \"mod\" },\n  { name = \"block\", folder = \"blocks\" },\n]\n".to_string();
        let inline_tables = "project = { name = \"t\", version = \"2008030100.00\", revision = 1 }\ncomponents = { core = \"lib\", plugin_types = [{ name = \"mod\", folder = \"mod\" }, { name = \"block\", folder = \"blocks\" }] }\nrelease = [{ name = \"R1\", version = \"2007000000.00\" }]\n".to_string();
        let want = folders(&inline);
        assert_eq!(want.1.len(), 2);
        for text in [array_of_tables, dotted, inline_tables.clone()] {
            assert_eq!(folders(&text), want, "{text}");
        }
        let m = Manifest::parse("upgrade.toml", &inline_tables).expect("valid");
        assert_eq!(m.releases.len(), 1);
        assert_eq!(
            m.text, inline_tables,
            "the text is kept for byte-preserving edits"
        );
    }

    fn refused(components: &str) -> TreeError {
        let text = format!("{HEAD}\n[components]\n{components}");
        Manifest::parse("upgrade.toml", &text).expect_err("accepted")
    }

    #[test]
    fn folders_leaving_the_root_are_refused_naming_the_field_and_line() {
        for (folder, shown) in [
            ("../escaped", "../escaped"),
            ("/tmp/mod", "/tmp/mod"),
            ("mod/../..", "mod/../.."),
        ] {
            let err = refused(&format!(
                "core = \"lib\"\nplugin_types = [\n  {{ name = \"mod\", folder = \"{folder}\" }},\n]\n"
            ));
            assert_eq!(err.path, "upgrade.toml");
            assert_eq!(err.line, Some(9), "{err}");
            assert!(matches!(err.kind, TreeErrorKind::OutsideRoot(_)), "{err}");
            let text = err.to_string();
            assert!(
                text.contains("`folder` of plugin type `mod`") && text.contains(shown),
                "{text}"
            );
        }
        let err = refused("core = \"../lib\"\nplugin_types = []\n");
        assert!(err.to_string().contains("`core` in [components]"), "{err}");
        assert_eq!(err.line, Some(7));
    }

    #[test]
    fn folders_owned_twice_are_refused() {
        let cases = [
            (
                "core = \"mod\"\nplugin_types = [{ name = \"mod\", folder = \"mod\" }]\n",
                "core folder `mod`",
            ),
            (
                "core = \"mod/core\"\nplugin_types = [{ name = \"mod\", folder = \"mod\" }]\n",
                "core folder `mod/core`",
            ),
            (
                "core = \"lib\"\nplugin_types = [{ name = \"mod\", folder = \"\" }]\n",
                "tree root as its folder",
            ),
            (
                "core = \"lib\"\nplugin_types = [{ name = \"mod\", folder = \"releases\" }]\n",
                "releases/",
            ),
            (
                "core = \"lib\"\nplugin_types = [{ name = \"mod\", folder = \"mod\" }, { name = \"module\", folder = \"mod/\" }]\n",
                "share the folder `mod`",
            ),
            (
                "core = \"lib\"\nplugin_types = [{ name = \"mod\", folder = \"mod\" }, { name = \"mod\", folder = \"m\" }]\n",
                "listed twice",
            ),
            (
                "core = \"lib\"\nplugin_types = [{ name = \"mod\", folder = \"mod\", fodler = \"x\" }]\n",
                "unknown field",
            ),
            ("core = \"lib\"\nplugin_type = []\n", "unknown field"),
        ];
        for (components, want) in cases {
            let err = refused(components);
            assert!(err.to_string().contains(want), "{components}: {err}");
            assert!(err.line.is_some(), "{components}: {err}");
        }
    }

    #[test]
    fn every_problem_of_the_manifest_is_reported() {
        let text = "[project]\nname = \"t\"\nversion = 2008030100.0\nrevision = \"x\"\n\n[components]\ncore = \"../lib\"\nplugin_types = [{ name = \"mod\", folder = \"/mod\" }]\n";
        let errors = Manifest::parse_all("upgrade.toml", text).expect_err("accepted");
        let lines: Vec<Option<usize>> = errors.iter().map(|e| e.line).collect();
        assert_eq!(
            lines,
            vec![Some(3), Some(4), Some(7), Some(8)],
            "{errors:?}"
        );
    }
}
