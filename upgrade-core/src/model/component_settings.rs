//! `ComponentSettings`: a component's own settings, read from
//! `<component folder>/db/component.toml` so that a third-party plugin carries
//! them and the root manifest need not know them.
//!
//! Keys: `safe_to_disable = true|false` (default `false`): the component may
//! be put under its own maintenance while the rest of the site stays online
//! (staged strategy). Any other key is an error naming the file and line, so
//! a misspelled setting is never silently ignored. The file is never written
//! by this tool (`release` and `rebase` carry it as it is).

use crate::model::tree_error::{TreeError, TreeErrorKind, line_of};

/// The file name of a component's settings, inside its `db/` folder.
pub const COMPONENT_SETTINGS_FILE: &str = "component.toml";

/// A component's settings (`db/component.toml`); the default when it has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSettings {
    /// Safe to disable during its upgrade: its main steps run under its own
    /// maintenance scope while the site stays online.
    #[serde(default)]
    pub safe_to_disable: bool,
}

impl ComponentSettings {
    /// Parses the text of a `db/component.toml`; `path` names it in errors.
    pub fn parse(path: &str, text: &str) -> Result<Self, TreeError> {
        toml_edit::de::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let message = e.message().trim().to_string();
            let kind = if toml_edit::Document::parse(text).is_err() {
                TreeErrorKind::Toml(message)
            } else {
                TreeErrorKind::Field(format!(
                    "{message} (db/component.toml knows only `safe_to_disable = true|false`)"
                ))
            };
            TreeError::new(path, kind).at_line_opt(line)
        })
    }
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
}
