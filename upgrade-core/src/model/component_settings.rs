//! `ComponentSettings`: a component's own settings, read from
//! `<component folder>/db/component.toml` so that a third-party plugin carries
//! them and the root manifest need not know them.
//!
//! Keys: `safe_to_disable = true|false` (default `false`): the component may
//! be put under its own maintenance while the rest of the site stays online
//! (staged strategy). `[[plugin_types]]` tables (`name`, `folder`): plugin
//! types that live under this plugin (its subplugins, as Moodle's
//! `db/subplugins.json` declares them), `folder` relative to the plugin's
//! folder; how they join the tree is `model/plugin_types.rs`. Any other key
//! is an error naming the file and line, so a misspelled setting is never
//! silently ignored. The file is never written by this tool (`release` and
//! `rebase` carry it as it is).

use serde_spanned::Spanned;

use crate::model::tree_error::{TreeError, TreeErrorKind, line_of};

/// The file name of a component's settings, inside its `db/` folder.
pub const COMPONENT_SETTINGS_FILE: &str = "component.toml";

/// A component's settings (`db/component.toml`); the default when it has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ComponentSettings {
    /// Safe to disable during its upgrade: its main steps run under its own
    /// maintenance scope while the site stays online.
    pub safe_to_disable: bool,
    /// Plugin types declared by this plugin (its subplugin types), in file order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugin_types: Vec<DeclaredPluginType>,
}

/// A `[[plugin_types]]` entry of a plugin's `db/component.toml`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeclaredPluginType {
    /// The type, e.g. `quizaccess` (components `quizaccess_<plugin>`).
    pub name: String,
    /// Its folder relative to the declaring plugin's folder, e.g. `accessrule`.
    pub folder: String,
    /// The 1-based line of the entry in the file.
    pub line: usize,
}

/// What the file may hold, for error messages.
const KNOWN_KEYS: &str = "db/component.toml knows only `safe_to_disable = true|false` and `[[plugin_types]]` tables with `name` and `folder`";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default)]
    safe_to_disable: bool,
    #[serde(default)]
    plugin_types: Vec<Spanned<RawDeclared>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeclared {
    name: String,
    folder: String,
}

impl ComponentSettings {
    /// Parses the text of a `db/component.toml`; `path` names it in errors.
    /// The first problem is the error; [`ComponentSettings::parse_all`]
    /// returns every one.
    pub fn parse(path: &str, text: &str) -> Result<Self, TreeError> {
        Self::parse_all(path, text).map_err(|mut errors| errors.remove(0))
    }

    /// Parses the text of a `db/component.toml` and reports every problem
    /// (never an empty list), each at its line.
    pub fn parse_all(path: &str, text: &str) -> Result<Self, Vec<TreeError>> {
        let raw: RawSettings = toml_edit::de::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let message = e.message().trim().to_string();
            let kind = if toml_edit::Document::parse(text).is_err() {
                TreeErrorKind::Toml(message)
            } else {
                TreeErrorKind::Field(format!("{message} ({KNOWN_KEYS})"))
            };
            vec![TreeError::new(path, kind).at_line_opt(line)]
        })?;
        let mut errors = Vec::new();
        let mut plugin_types: Vec<DeclaredPluginType> = Vec::new();
        for entry in raw.plugin_types {
            let line = line_of(text, entry.span().start);
            let raw = entry.into_inner();
            let mut refuse = |message: String| {
                errors.push(TreeError::new(path, TreeErrorKind::Field(message)).at_line(line));
            };
            if let Err(why) = valid_type_name(&raw.name) {
                refuse(why);
            }
            let folder = match relative_folder(&raw.folder) {
                Ok(folder) => folder,
                Err(why) => {
                    refuse(format!(
                        "`folder` of plugin type `{}` is \"{}\": {why}",
                        raw.name, raw.folder
                    ));
                    continue;
                }
            };
            if let Some(other) = plugin_types.iter().find(|t| t.name == raw.name) {
                refuse(format!(
                    "plugin type `{}` is declared twice in this file (also at line {})",
                    raw.name, other.line
                ));
            } else if let Some(other) = plugin_types.iter().find(|t| t.folder == folder) {
                refuse(format!(
                    "plugin types `{}` and `{}` share the folder `{folder}`: each of its plugins would belong to both",
                    other.name, raw.name
                ));
            }
            plugin_types.push(DeclaredPluginType {
                name: raw.name,
                folder,
                line,
            });
        }
        if errors.is_empty() {
            Ok(ComponentSettings {
                safe_to_disable: raw.safe_to_disable,
                plugin_types,
            })
        } else {
            Err(errors)
        }
    }
}

/// A plugin type name: lowercase ASCII letters and digits, starting with a
/// letter (no `_`: the first `_` of a component name ends its type).
pub fn valid_type_name(name: &str) -> Result<(), String> {
    let ok = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if name == "core" {
        Err("plugin type `core` would make plugins look like core (`core_<plugin>`): choose another name".into())
    } else if ok {
        Ok(())
    } else {
        Err(format!(
            "plugin type `{name}` must be lowercase letters and digits, starting with a letter (no `_`), e.g. \"quizaccess\""
        ))
    }
}

/// A declared folder, relative to the declaring plugin: `/`-separated, not
/// empty, without `..`, `.`, empty or `db` segments, not absolute and
/// without a drive or `\`, so that it stays inside the plugin's folder and
/// never reads as the plugin's own `db/` folder. Trailing `/` are dropped.
pub fn relative_folder(folder: &str) -> Result<String, String> {
    let trimmed = folder.trim_end_matches('/');
    if folder.starts_with('/') || folder.contains('\\') || folder.contains(':') {
        return Err(
            "write it relative to the plugin's folder, without a leading `/`, a drive or `\\`"
                .into(),
        );
    }
    if trimmed.is_empty() {
        return Err(
            "the plugin's own folder cannot hold its subplugins: name a sub-folder, e.g. \"accessrule\""
                .into(),
        );
    }
    if trimmed.split('/').any(|s| s == "..") {
        return Err("`..` would leave the plugin's folder: write a folder inside it".into());
    }
    if trimmed.split('/').any(|s| s.is_empty() || s == ".") {
        return Err("write the plain path, without `.` or `//`".into());
    }
    if trimmed.split('/').any(|s| s == "db") {
        return Err(
            "a folder named `db` would read as a component's db/ folder: choose another name"
                .into(),
        );
    }
    if trimmed.bytes().any(|b| b.is_ascii_control()) {
        return Err("control characters are not allowed in a folder name".into());
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_not_safe() {
        assert_eq!(
            ComponentSettings::parse("a", "").map(|s| s.safe_to_disable),
            Ok(false)
        );
        assert_eq!(
            ComponentSettings::parse("a", "safe_to_disable = true\n").map(|s| s.safe_to_disable),
            Ok(true)
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors_at_their_line() {
        let e = ComponentSettings::parse("mod/x/db/component.toml", "\nsafe_to_disabel = true\n")
            .expect_err("refused");
        assert_eq!(e.path, "mod/x/db/component.toml");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().contains("safe_to_disabel"), "{e}");
        let e =
            ComponentSettings::parse("c.toml", "safe_to_disable = \"yes\"\n").expect_err("refused");
        assert_eq!(e.line, Some(1), "{e}");
    }

    #[test]
    fn declared_plugin_types_parse_in_every_toml_spelling() {
        let want = vec![
            DeclaredPluginType {
                name: "quizaccess".into(),
                folder: "accessrule".into(),
                line: 1,
            },
            DeclaredPluginType {
                name: "quiz".into(),
                folder: "report/sub".into(),
                line: 1,
            },
        ];
        let tables = "[[plugin_types]]\nname = \"quizaccess\"\nfolder = \"accessrule\"\n\n[[plugin_types]]\nname = \"quiz\"\nfolder = \"report/sub/\"\n";
        let inline = "plugin_types = [{ name = \"quizaccess\", folder = \"accessrule\" }, { name = \"quiz\", folder = \"report/sub\" }]\n";
        for text in [tables, inline] {
            let got = ComponentSettings::parse("a", text).expect("valid");
            let strip = |v: Vec<DeclaredPluginType>| {
                v.into_iter()
                    .map(|t| (t.name, t.folder))
                    .collect::<Vec<_>>()
            };
            assert_eq!(strip(got.plugin_types), strip(want.clone()), "{text}");
        }
        let got = ComponentSettings::parse("a", tables).expect("valid");
        assert_eq!(
            got.plugin_types.iter().map(|t| t.line).collect::<Vec<_>>(),
            vec![1, 5]
        );
    }

    #[test]
    fn hostile_or_careless_declarations_are_refused_at_their_line() {
        let entry = |name: &str, folder: &str| {
            format!(
                "safe_to_disable = false\n\n[[plugin_types]]\nname = \"{name}\"\nfolder = \"{folder}\"\n"
            )
        };
        let cases = [
            (entry("quizaccess", "../forum"), "leave the plugin's folder"),
            (
                entry("quizaccess", "a/../../x"),
                "leave the plugin's folder",
            ),
            (entry("quizaccess", "/etc"), "leading `/`"),
            (entry("quizaccess", "C:/x"), "drive"),
            (entry("quizaccess", "a\\\\b"), "`\\`"),
            (entry("quizaccess", ""), "own folder"),
            (entry("quizaccess", "./x"), "without `.`"),
            (entry("quizaccess", "a//b"), "without `.` or `//`"),
            (entry("quizaccess", "db"), "`db`"),
            (entry("quizaccess", "x/db"), "`db`"),
            (entry("quiz_access", "x"), "lowercase letters and digits"),
            (entry("Quiz", "x"), "lowercase letters and digits"),
            (entry("1quiz", "x"), "lowercase letters and digits"),
            (entry("core", "x"), "look like core"),
        ];
        for (text, want) in cases {
            let errors = ComponentSettings::parse_all("mod/quiz/db/component.toml", &text)
                .expect_err("refused");
            let e = &errors[0];
            assert_eq!(e.path, "mod/quiz/db/component.toml");
            assert_eq!(e.line, Some(3), "{text}: {e}");
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn duplicates_and_unknown_keys_in_one_file_are_each_reported() {
        let text = "[[plugin_types]]\nname = \"a\"\nfolder = \"x\"\n\n[[plugin_types]]\nname = \"a\"\nfolder = \"y\"\n\n[[plugin_types]]\nname = \"b\"\nfolder = \"x/\"\n";
        let errors = ComponentSettings::parse_all("p", text).expect_err("refused");
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{shown:?}");
        assert!(shown[0].starts_with("p:5:") && shown[0].contains("declared twice"));
        assert!(shown[1].starts_with("p:9:") && shown[1].contains("share the folder `x`"));
        let e = ComponentSettings::parse(
            "p",
            "[[plugin_types]]\nname = \"a\"\nfolder = \"x\"\nrank = 1\n",
        )
        .expect_err("refused");
        assert!(
            e.to_string().contains("rank") && e.to_string().contains("[[plugin_types]]"),
            "{e}"
        );
        let e =
            ComponentSettings::parse("p", "[[plugin_types]]\nname = \"a\"\n").expect_err("refused");
        assert!(e.to_string().contains("folder"), "{e}");
    }
}
