//! `ReleaseName`: the name of a major release, such as `MOODLE_20_STABLE`.
//!
//! Release names carry no order of their own: the order of releases is the
//! order of the release history in the root manifest.

use std::fmt;

/// A validated release name: uppercase letters, digits and `_`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReleaseName(std::sync::Arc<String>);

/// Why a text is not a release name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a release name: use uppercase letters, digits and `_`, starting with a letter, e.g. `MOODLE_20_STABLE`"
)]
pub struct ReleaseNameError {
    /// The rejected text.
    pub text: String,
}

impl ReleaseName {
    /// Parses and validates a release name.
    pub fn parse(text: &str) -> Result<Self, ReleaseNameError> {
        let ok = text.len() <= 64
            && text.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
            && text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(ReleaseName(std::sync::Arc::new(text.to_string())))
        } else {
            Err(ReleaseNameError {
                text: text.to_string(),
            })
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReleaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        assert!(ReleaseName::parse("MOODLE_20_STABLE").is_ok());
        for bad in ["", "moodle_20", "20_STABLE", "MOODLE-20", "MOODLE 20", "_X"] {
            assert!(ReleaseName::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
