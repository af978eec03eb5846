//! Reading the root manifest through serde: the raw shapes TOML may hold in
//! any spelling, and the checks of `[components]` and the release history,
//! each problem collected with its line.

use std::ops::Range;

use serde_spanned::Spanned;

use super::{PluginType, ReleaseEntry};
use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::tree_error::{TreeError, TreeErrorKind, line_of};
use crate::model::version::Version;

/// The manifest as TOML holds it, in any spelling (inline tables, arrays of
/// tables, dotted keys): serde sees the data, never the layout.
#[derive(serde::Deserialize)]
pub(super) struct Raw {
    pub(super) project: Option<Spanned<RawProject>>,
    pub(super) components: Option<Spanned<RawComponents>>,
    #[serde(default)]
    pub(super) release: Vec<Spanned<RawRelease>>,
    #[serde(default)]
    pub(super) retired: Vec<Spanned<RawRetired>>,
    pub(super) maintenance: Option<Spanned<RawMaintenance>>,
    pub(super) baseline: Option<Spanned<RawBaseline>>,
}

/// `[baseline]`: the release whose schema snapshot fresh sites start from.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBaseline {
    pub(super) release: Spanned<String>,
}

/// The `[baseline]` table: a release of the history.
pub(super) fn baseline(
    raw: Option<Spanned<RawBaseline>>,
    releases: &[ReleaseEntry],
    errors: &mut Errors<'_>,
) -> Option<ReleaseName> {
    let release = raw?.into_inner().release;
    let span = release.span();
    let name = ReleaseName::parse(release.get_ref())
        .map_err(|e| errors.field(Some(span.clone()), e.to_string()))
        .ok()?;
    if !releases.iter().any(|r| r.name == name) {
        errors.field(
            Some(span),
            format!(
                "[baseline] names {name}, which is not in the release history: the baseline is the schema of a released version"
            ),
        );
        return None;
    }
    Some(name)
}

/// `[maintenance]`: the application's hooks run on entering and leaving a
/// maintenance scope; any other key is refused.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMaintenance {
    pub(super) enter: Option<Spanned<String>>,
    pub(super) leave: Option<Spanned<String>>,
}

/// The `[maintenance]` table: each hook a non-empty command line.
pub(super) fn maintenance(
    raw: Option<Spanned<RawMaintenance>>,
    errors: &mut Errors<'_>,
) -> super::MaintenanceHooks {
    let Some(raw) = raw else {
        return super::MaintenanceHooks::default();
    };
    let raw = raw.into_inner();
    let mut command = |hook: Option<Spanned<String>>, key: &str| {
        let hook = hook?;
        let span = hook.span();
        let text = hook.into_inner();
        if text.trim().is_empty() || text.contains('\n') || text.contains('\0') {
            errors.field(
                Some(span),
                format!(
                    "`{key}` in [maintenance] must be one non-empty command line, e.g. \"php admin/cli/maintenance.php --{key}\""
                ),
            );
            return None;
        }
        Some(text)
    };
    super::MaintenanceHooks {
        enter: command(raw.enter, "enter"),
        leave: command(raw.leave, "leave"),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct RawProject {
    pub(super) name: Option<Spanned<String>>,
    pub(super) version: Option<Spanned<RawVersion>>,
    pub(super) revision: Option<Spanned<RawRevision>>,
    pub(super) upgrade_from: Option<Spanned<String>>,
    pub(super) strategy: Option<Spanned<String>>,
}

/// `version` as written: only a string is valid, a float is a common mistake.
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub(super) enum RawVersion {
    Text(String),
    Other(serde::de::IgnoredAny),
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
pub(super) enum RawRevision {
    Integer(i64),
    Other(serde::de::IgnoredAny),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawComponents {
    pub(super) core: Option<Spanned<String>>,
    pub(super) plugin_types: Option<Spanned<Vec<Spanned<RawPluginType>>>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPluginType {
    pub(super) name: String,
    pub(super) folder: String,
}

#[derive(serde::Deserialize)]
pub(super) struct RawRelease {
    pub(super) name: String,
    pub(super) version: String,
}

#[derive(serde::Deserialize)]
pub(super) struct RawRetired {
    pub(super) component: String,
    pub(super) step: String,
    #[serde(default)]
    pub(super) reason: String,
}

/// Collects the problems of one manifest with their lines.
pub(super) struct Errors<'a> {
    pub(super) path: &'a str,
    pub(super) text: &'a str,
    pub(super) list: Vec<TreeError>,
}

impl Errors<'_> {
    pub(super) fn at(&mut self, span: Option<Range<usize>>, kind: TreeErrorKind) {
        let err = TreeError::new(self.path, kind);
        self.list.push(match span {
            Some(s) => err.at_line(line_of(self.text, s.start)),
            None => err,
        });
    }

    pub(super) fn field(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.at(span, TreeErrorKind::Field(message.into()));
    }
}

/// The `[components]` table: the core folder and the plugin types, each
/// folder confined to the tree root and owned by one component kind only.
pub(super) fn components(
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
        Some(core) => confined_folder(
            core.get_ref(),
            "`core` in [components]",
            Some(core.span()),
            errors,
        ),
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
        let what = format!("`folder` of plugin type `{}`", raw.name);
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
pub(super) fn releases(
    raw: Vec<Spanned<RawRelease>>,
    errors: &mut Errors<'_>,
) -> Vec<ReleaseEntry> {
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
        if let Some(prev) = releases.last()
            && version <= prev.version
        {
            errors.at(
                Some(span),
                TreeErrorKind::Entry(format!(
                    "release {name} ({version}) is not newer than {} ({})",
                    prev.name, prev.version
                )),
            );
            continue;
        }
        releases.push(ReleaseEntry { name, version });
    }
    releases
}
