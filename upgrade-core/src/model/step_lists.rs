//! The lists a `Step` holds, each sized for the common case of a tree of
//! 100,000 steps: `StepFiles` (a standalone step's file paths in one text)
//! and `Requires` (the steps it requires: none for most, one pointer then).

use std::fmt;

use crate::model::step::StepKey;

/// The files of a standalone step: one text of their paths, each ended by
/// `\0` (a byte no path holds), so that a step keeps one allocation of its
/// paths' exact size, not a `Vec` of `String`s (104 bytes more or less a
/// step in a tree of 100,000).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StepFiles(Box<str>);

impl StepFiles {
    /// The paths, in order.
    pub fn iter(&self) -> std::str::SplitTerminator<'_, char> {
        self.0.split_terminator('\0')
    }

    /// The first path.
    pub fn first(&self) -> Option<&str> {
        self.iter().next()
    }

    /// How many files.
    pub fn len(&self) -> usize {
        self.0.bytes().filter(|b| *b == 0).count()
    }

    /// No file at all?
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Is `path` one of them?
    pub fn contains(&self, path: &str) -> bool {
        self.iter().any(|f| f == path)
    }

    /// The paths joined with `separator`.
    pub fn join(&self, separator: &str) -> String {
        self.iter().collect::<Vec<_>>().join(separator)
    }

    /// The paths as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }

    /// The bytes it keeps on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.0.len()
    }
}

impl<S: AsRef<str>> FromIterator<S> for StepFiles {
    fn from_iter<I: IntoIterator<Item = S>>(paths: I) -> Self {
        let mut text = String::new();
        for path in paths {
            text.push_str(path.as_ref());
            text.push('\0');
        }
        StepFiles(text.into_boxed_str())
    }
}

impl From<Vec<String>> for StepFiles {
    fn from(paths: Vec<String>) -> Self {
        paths.iter().collect()
    }
}

impl<'a> IntoIterator for &'a StepFiles {
    type Item = &'a str;
    type IntoIter = std::str::SplitTerminator<'a, char>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for StepFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The steps a step requires, in the order declared. Most steps require
/// none: then it is one null pointer, not an empty `Vec`'s 24 bytes. Reads
/// as a slice.
#[derive(Clone, Default, PartialEq, Eq)]
// A boxed Vec on purpose: one thin pointer in every step, where a
// `Box<[StepKey]>` is two words and a `Vec` three.
#[allow(clippy::box_collection)]
pub struct Requires(Option<Box<Vec<StepKey>>>);

impl Requires {
    /// Keeps the requirements `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&StepKey) -> bool) {
        if let Some(list) = &mut self.0 {
            list.retain(keep);
            if list.is_empty() {
                self.0 = None;
            }
        }
    }

    /// Removes every requirement.
    pub fn clear(&mut self) {
        self.0 = None;
    }

    /// Adds a requirement.
    pub fn push(&mut self, key: StepKey) {
        self.0.get_or_insert_default().push(key);
    }
}

impl std::ops::Deref for Requires {
    type Target = [StepKey];
    fn deref(&self) -> &[StepKey] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl From<Vec<StepKey>> for Requires {
    fn from(keys: Vec<StepKey>) -> Self {
        Requires((!keys.is_empty()).then(|| Box::new(keys)))
    }
}

impl<'a> IntoIterator for &'a Requires {
    type Item = &'a StepKey;
    type IntoIter = std::slice::Iter<'a, StepKey>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for Requires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_files_and_requires_read_as_lists() {
        let files: StepFiles = ["a/db/upgrades/x.postgres.sql", "a/db/upgrades/x.sqlite.sql"]
            .into_iter()
            .collect();
        assert_eq!(files.len(), 2);
        assert_eq!(files.first(), Some("a/db/upgrades/x.postgres.sql"));
        assert!(files.contains("a/db/upgrades/x.sqlite.sql"));
        assert!(!files.contains("a/db/upgrades/x.sql"));
        assert_eq!(
            files.join(", "),
            "a/db/upgrades/x.postgres.sql, a/db/upgrades/x.sqlite.sql"
        );
        assert_eq!(StepFiles::from(files.to_vec()), files);
        assert_eq!(files.heap_bytes(), 28 + 26 + 2);
        assert!(StepFiles::default().is_empty());
        assert_eq!(StepFiles::default().iter().count(), 0);
        let key = |t: &str| StepKey::parse(t).expect("valid");
        let mut requires = Requires::default();
        assert!(requires.is_empty());
        requires.push(key("core/2008010100-a"));
        requires.push(key("core/2008010200-b"));
        assert_eq!(
            requires.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["core/2008010100-a", "core/2008010200-b"]
        );
        requires.retain(|k| k.name.as_str() == "2008010200-b");
        assert_eq!(requires.len(), 1);
        requires.retain(|_| false);
        assert_eq!(requires, Requires::default(), "empty is none");
        assert_eq!(Requires::from(Vec::new()), Requires::default());
    }
}
