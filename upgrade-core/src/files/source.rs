//! `TreeSource`: where the files of a step tree come from.
//!
//! A tree is read through this one interface whether it lies in a work tree on
//! disk ([`WorkTree`]) or in a git commit (`git_tree::GitTree`). Paths are
//! relative to the tree root and `/`-separated on every platform.

use std::path::{Path, PathBuf};

use crate::model::tree_error::{TreeError, TreeErrorKind};

/// The files of a step tree.
pub trait TreeSource {
    /// A short description for messages: a folder path or `REV:`.
    fn describe(&self) -> String;
    /// Every file that may belong to the tree, relative and `/`-separated, sorted.
    fn files(&self) -> Result<Vec<String>, TreeError>;
    /// The bytes of one file.
    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError>;
}

/// Does this relative path belong to the step tree (and so must be listed by a source)?
pub fn is_tree_file(path: &str) -> bool {
    if path == crate::model::manifest::MANIFEST_FILE {
        return true;
    }
    if let Some(rest) = path.strip_prefix("releases/") {
        return !rest.contains('/') && rest.ends_with(".toml");
    }
    if path.ends_with("/db/upgrade.toml") {
        return true;
    }
    match path.rsplit_once('/') {
        Some((dir, file)) => {
            (dir.ends_with("/db/upgrades") || dir == "db/upgrades") && !file.starts_with('.')
        }
        None => false,
    }
}

/// A step tree in a folder on disk.
#[derive(Debug, Clone)]
pub struct WorkTree {
    root: PathBuf,
}

impl WorkTree {
    /// The tree rooted at `root` (the folder holding the root `upgrade.toml`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        WorkTree { root: root.into() }
    }

    /// Finds the tree root from `start` upwards, as cargo finds `Cargo.toml`:
    /// the first folder whose `upgrade.toml` has a `[project]` table.
    pub fn find(start: &Path) -> Result<Self, TreeError> {
        if !start.is_dir() {
            return Err(TreeError::new(
                start.display().to_string(),
                TreeErrorKind::Io("no such folder".into()),
            ));
        }
        let mut dir = Some(start);
        while let Some(d) = dir {
            let candidate = d.join(crate::model::manifest::MANIFEST_FILE);
            if let Ok(text) = std::fs::read_to_string(&candidate) {
                if text.lines().any(|l| l.trim() == "[project]") {
                    return Ok(WorkTree::new(d));
                }
            }
            dir = d.parent();
        }
        Err(TreeError::new(
            start.display().to_string(),
            TreeErrorKind::NoManifest,
        ))
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path of a relative tree path.
    pub fn path_of(&self, rel: &str) -> PathBuf {
        crate::files::fsio::join_relative(&self.root, rel)
    }

    fn walk(&self, dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), TreeError> {
        let io = |e: std::io::Error| {
            TreeError::new(
                if rel.is_empty() { "." } else { rel },
                TreeErrorKind::Io(e.to_string()),
            )
        };
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') || (rel.is_empty() && name == "target") {
                continue;
            }
            let child = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry.file_type().map_err(io)?;
            if kind.is_dir() {
                self.walk(&entry.path(), &child, out)?;
            } else if (kind.is_file() || kind.is_symlink()) && is_tree_file(&child) {
                out.push(child);
            }
        }
        Ok(())
    }
}

impl TreeSource for WorkTree {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn files(&self) -> Result<Vec<String>, TreeError> {
        let mut out = Vec::new();
        self.walk(&self.root, "", &mut out)?;
        out.sort();
        Ok(out)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        std::fs::read(self.path_of(path))
            .map_err(|e| TreeError::new(path, TreeErrorKind::Io(e.to_string())))
    }
}

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

    fn files(&self) -> Result<Vec<String>, TreeError> {
        Ok(self
            .files
            .keys()
            .filter(|p| is_tree_file(p))
            .cloned()
            .collect())
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| TreeError::new(path, TreeErrorKind::Io("no such file".into())))
    }
}
