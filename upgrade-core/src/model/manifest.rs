//! `Manifest`: the root `upgrade.toml` — project, version, revision, the
//! release history and where components live.

use std::ops::Range;

use serde_spanned::Spanned;

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

/// The manifest as TOML holds it, in any spelling (inline tables, arrays of
/// tables, dotted keys): serde sees the data, never the layout.
#[derive(serde::Deserialize)]
struct Raw {
    project: Option<Spanned<RawProject>>,
    components: Option<Spanned<RawComponents>>,
    #[serde(default)]
    release: Vec<Spanned<RawRelease>>,
    #[serde(default)]
    retired: Vec<Spanned<RawRetired>>,
}

#[derive(serde::Deserialize)]
struct RawProject {
    name: Option<Spanned<String>>,
    version: Option<Spanned<RawVersion>>,
    revision: Option<Spanned<RawRevision>>,
    upgrade_from: Option<Spanned<String>>,
    strategy: Option<Spanned<String>>,
}

/// `version` as written: only a string is valid, a float is a common mistake.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum RawVersion {
    Text(String),
    Other(serde::de::IgnoredAny),
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum RawRevision {
    Integer(i64),
    Other(serde::de::IgnoredAny),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponents {
    core: Option<Spanned<String>>,
    plugin_types: Option<Spanned<Vec<Spanned<RawPluginType>>>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPluginType {
    name: String,
    folder: String,
}

#[derive(serde::Deserialize)]
struct RawRelease {
    name: String,
    version: String,
}

#[derive(serde::Deserialize)]
struct RawRetired {
    component: String,
    step: String,
    #[serde(default)]
    reason: String,
}

/// Collects the problems of one manifest with their lines.
struct Errors<'a> {
    path: &'a str,
    text: &'a str,
    list: Vec<TreeError>,
}

impl Errors<'_> {
    fn at(&mut self, span: Option<Range<usize>>, kind: TreeErrorKind) {
        let err = TreeError::new(self.path, kind);
        self.list.push(match span {
            Some(s) => err.at_line(line_of(self.text, s.start)),
            None => err,
        });
    }

    fn field(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.at(span, TreeErrorKind::Field(message.into()));
    }
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
        if let Some(from) = &upgrade_from {
            if !releases.iter().any(|r| &r.name == from) {
                errors.field(
                    upgrade_from_span,
                    format!("upgrade_from names {from}, which is not in the release history"),
                );
            }
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

/// The `[components]` table: the core folder and the plugin types, each
/// folder confined to the tree root and owned by one component kind only.
fn components(
    raw: Option<Spanned<RawComponents>>,
    errors: &mut Errors<'_>,
) -> (String, Vec<PluginType>) {
    let Some(raw) = raw else {
        errors.field(None, "no [components] table");
        return (String::new(), Vec::new());
    };
    let span = raw.span();
    let raw = raw.into_inner();
    let core_folder = match &raw.core {
        Some(core) => confined_folder(core.get_ref(), "`core`", Some(core.span()), errors),
        None => {
            errors.field(Some(span.clone()), "[components] has no `core` folder");
            String::new()
        }
    };
    let Some(types) = raw.plugin_types else {
        errors.field(
            Some(span),
            "[components] needs `plugin_types = [{ name = \"mod\", folder = \"mod\" }, ...]`",
        );
        return (core_folder, Vec::new());
    };
    let mut plugin_types: Vec<PluginType> = Vec::new();
    for entry in types.into_inner() {
        let span = entry.span();
        let raw = entry.into_inner();
        let what = format!("the folder of plugin type `{}`", raw.name);
        let pt = PluginType {
            folder: confined_folder(&raw.folder, &what, Some(span.clone()), errors),
            name: raw.name,
        };
        if ComponentName::parse(&format!("{}_x", pt.name)).is_err() || pt.name.contains('_') {
            errors.field(
                Some(span.clone()),
                format!(
                    "plugin type `{}` must be lowercase letters and digits",
                    pt.name
                ),
            );
        }
        if pt.folder.is_empty() && !raw.folder.contains("..") && !raw.folder.starts_with('/') {
            errors.field(
                Some(span.clone()),
                format!(
                    "plugin type `{}` has the tree root as its folder: every top folder (releases/ too) would be one of its plugins; give its plugins a folder of their own",
                    pt.name
                ),
            );
        }
        if pt.folder == "releases" || pt.folder.starts_with("releases/") {
            errors.field(
                Some(span.clone()),
                format!(
                    "plugin type `{}` cannot live in releases/, the folder of the release files",
                    pt.name
                ),
            );
        }
        if !pt.folder.is_empty()
            && (core_folder == pt.folder || core_folder.starts_with(&format!("{}/", pt.folder)))
        {
            errors.field(
                Some(span.clone()),
                format!(
                    "the core folder `{core_folder}` is the folder of plugin type `{}` or inside it: one folder would belong to two components",
                    pt.name
                ),
            );
        }
        if let Some(other) = plugin_types.iter().find(|t| t.name == pt.name) {
            errors.field(
                Some(span.clone()),
                format!("plugin type `{}` is listed twice", other.name),
            );
        } else if let Some(other) = plugin_types.iter().find(|t| t.folder == pt.folder) {
            errors.field(
                Some(span.clone()),
                format!(
                    "plugin types `{}` and `{}` share the folder `{}`: each of its plugins would belong to both",
                    other.name, pt.name, pt.folder
                ),
            );
        }
        plugin_types.push(pt);
    }
    (core_folder, plugin_types)
}

/// A manifest folder, `/`-separated and relative to the tree root: `..`, an
/// absolute path or an empty or `.` segment is an error naming the field.
fn confined_folder(
    folder: &str,
    what: &str,
    span: Option<Range<usize>>,
    errors: &mut Errors<'_>,
) -> String {
    let trimmed = folder.trim_end_matches('/');
    let absolute =
        folder.starts_with('/') || folder.contains('\\') || folder.as_bytes().get(1) == Some(&b':');
    if absolute || trimmed.split('/').any(|s| s == "..") {
        errors.at(
            span,
            TreeErrorKind::OutsideRoot(format!(
                "{what} is \"{folder}\"; write it relative to the tree root, without `..` or a leading `/`"
            )),
        );
        return String::new();
    }
    if !trimmed.is_empty() && trimmed.split('/').any(|s| s.is_empty() || s == ".") {
        errors.field(
            span,
            format!("{what} is \"{folder}\": write the plain path, without `.` or `//`"),
        );
        return String::new();
    }
    trimmed.to_string()
}

/// The `[[release]]` history: valid names, each newer than the one before.
fn releases(raw: Vec<Spanned<RawRelease>>, errors: &mut Errors<'_>) -> Vec<ReleaseEntry> {
    let mut releases: Vec<ReleaseEntry> = Vec::new();
    for entry in raw {
        let span = entry.span();
        let entry = entry.into_inner();
        let name = match ReleaseName::parse(&entry.name) {
            Ok(n) => n,
            Err(e) => {
                errors.at(Some(span), TreeErrorKind::Entry(e.to_string()));
                continue;
            }
        };
        let version = match Version::parse(&entry.version) {
            Ok(v) => v,
            Err(e) => {
                errors.at(Some(span), TreeErrorKind::Entry(e.to_string()));
                continue;
            }
        };
        if releases.iter().any(|r| r.name == name) {
            errors.at(
                Some(span),
                TreeErrorKind::Entry(format!("release {name} is in the history twice")),
            );
            continue;
        }
        if let Some(prev) = releases.last() {
            if version <= prev.version {
                errors.at(
                    Some(span),
                    TreeErrorKind::Entry(format!(
                        "release {name} ({version}) is not newer than {} ({})",
                        prev.name, prev.version
                    )),
                );
                continue;
            }
        }
        releases.push(ReleaseEntry { name, version });
    }
    releases
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
