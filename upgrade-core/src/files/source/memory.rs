//! A tree held in memory ([`MemoryTree`]): for tests and for trees the
//! library computes.

use super::{Scan, TreeSource};
use crate::model::tree_error::{TreeError, TreeErrorKind};

/// A tree held in memory: for tests and for trees computed by the library.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// Relative path to contents.
    pub files: std::collections::BTreeMap<String, Vec<u8>>,
}

impl TreeSource for MemoryTree {
    fn describe(&self) -> String {
        "(memory)".into()
    }

    fn scan(&self) -> Result<Scan, TreeError> {
        Ok(Scan::of_paths(self.files.keys().map(String::as_str)))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| TreeError::new(path, TreeErrorKind::Io("no such file".into())))
    }
}
