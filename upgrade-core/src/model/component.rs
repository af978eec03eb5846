//! `ComponentName`: `core` or `<plugin type>_<plugin>` such as `mod_assign`.

use std::fmt;
use std::sync::Arc;

/// The name of a component: `core`, or a plugin type and a plugin folder name joined by `_`.
///
/// The text is shared: every step of a component holds a clone, which costs
/// a reference count, not a copy of the name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentName(Arc<str>);

/// Why a text is not a component name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a component name: write `core` or `<type>_<plugin>` in lowercase, e.g. `mod_assign`"
)]
pub struct ComponentNameError {
    /// The rejected text.
    pub text: String,
}

impl ComponentName {
    /// The core component.
    pub fn core() -> Self {
        ComponentName("core".into())
    }

    /// Parses a component name (`core` or `type_plugin`, lowercase letters, digits, `_`).
    pub fn parse(text: &str) -> Result<Self, ComponentNameError> {
        let ok = text == "core"
            || (text.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && text.contains('_')
                && !text.ends_with('_')
                && text
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        if ok {
            Ok(ComponentName(text.into()))
        } else {
            Err(ComponentNameError {
                text: text.to_string(),
            })
        }
    }

    /// The name of a plugin of the given type living in a folder of the given name.
    pub fn plugin(plugin_type: &str, plugin: &str) -> Self {
        ComponentName(format!("{plugin_type}_{plugin}").into())
    }

    /// Is this the core component?
    pub fn is_core(&self) -> bool {
        &*self.0 == "core"
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ComponentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
