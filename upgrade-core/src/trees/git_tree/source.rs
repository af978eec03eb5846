//! `GitTree`: a step tree at one revision read from git objects, a
//! [`TreeSource`] listing and reading the same files a work tree does (links
//! never followed).

use std::path::Path;

use git2::{ObjectType, Repository, TreeWalkMode, TreeWalkResult};

use super::Revision;
use crate::files::source::{PathClass, Scan, TreeSource, classify, is_upgrades_dir};
use crate::model::tree_error::{TreeError, TreeErrorKind};

/// The git file mode of a symbolic link.
const SYMLINK_MODE: i32 = 0o120000;

/// A step tree at one revision, read from git objects.
pub struct GitTree<'repo> {
    pub(super) repo: &'repo Repository,
    /// The tree object of the step tree root; `None` when the folder does not
    /// exist at that revision.
    pub(super) tree: Option<git2::Tree<'repo>>,
    pub(super) revision: Revision,
}

impl std::fmt::Debug for GitTree<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitTree")
            .field("revision", &self.revision)
            .finish()
    }
}

impl GitTree<'_> {
    /// The revision the tree was read at.
    pub fn revision(&self) -> &Revision {
        &self.revision
    }
}

impl TreeSource for GitTree<'_> {
    fn describe(&self) -> String {
        format!("{}:", self.revision.label)
    }

    fn scan(&self) -> Result<Scan, TreeError> {
        let Some(tree) = &self.tree else {
            return Ok(Scan::default());
        };
        let mut blobs: Vec<String> = Vec::new();
        let mut links: Vec<String> = Vec::new();
        let mut bad_names: Vec<(String, bool)> = Vec::new();
        let walked = tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
            let Some(name) = entry.name() else {
                let path = format!("{dir}{}", String::from_utf8_lossy(entry.name_bytes()));
                bad_names.push((path, entry.kind() == Some(ObjectType::Tree)));
                return TreeWalkResult::Skip;
            };
            // The same files a work tree lists: no hidden entries outside
            // db/upgrades, no root `target`.
            let in_upgrades = is_upgrades_dir(dir.trim_end_matches('/'));
            let is_dir = entry.kind() == Some(ObjectType::Tree);
            if (name.starts_with('.') && (!in_upgrades || is_dir))
                || (dir.is_empty() && name == "target")
            {
                return TreeWalkResult::Skip;
            }
            if entry.kind() == Some(ObjectType::Blob) {
                let path = format!("{dir}{name}");
                if entry.filemode() == SYMLINK_MODE {
                    links.push(path);
                } else {
                    blobs.push(path);
                }
            }
            TreeWalkResult::Ok
        });
        walked.map_err(|e| {
            TreeError::new(
                self.describe(),
                TreeErrorKind::Io(format!("cannot list the tree: {}", e.message())),
            )
        })?;
        let mut scan = Scan::of_paths(blobs.iter().map(String::as_str));
        for (path, is_dir) in bad_names {
            let (dir, _) = path.rsplit_once('/').unwrap_or(("", ""));
            let suspicious = is_dir
                || is_upgrades_dir(dir)
                || dir == "releases"
                || dir == "db"
                || dir.ends_with("/db")
                || path.ends_with(".sql")
                || path.ends_with(".toml");
            if suspicious {
                scan.errors.push(TreeError::new(
                    path,
                    TreeErrorKind::Unseen(
                        "its name is not valid UTF-8, so it cannot be named in the ledger: rename it".into(),
                    ),
                ));
            }
        }
        for path in links {
            // Git keeps a link as its target's name: never followed, so a
            // link where a file or folder of the tree must be is an error.
            let error = TreeError::new(
                path.as_str(),
                TreeErrorKind::Symlink(format!("git holds `{path}` as a link, not as a file")),
            );
            if classify(&path) == PathClass::Other {
                scan.unfollowed.push(error);
            } else {
                scan.errors.push(error);
            }
        }
        Ok(scan.finish())
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        let missing = || {
            TreeError::new(
                path,
                TreeErrorKind::Io(format!("no such file at {}", self.revision.label)),
            )
        };
        let tree = self.tree.as_ref().ok_or_else(missing)?;
        let entry = tree.get_path(Path::new(path)).map_err(|_| missing())?;
        if entry.filemode() == SYMLINK_MODE {
            return Err(TreeError::new(
                path,
                TreeErrorKind::Symlink(format!("git holds `{path}` as a link, not as a file")),
            ));
        }
        let blob = self.repo.find_blob(entry.id()).map_err(|_| missing())?;
        Ok(blob.content().to_vec())
    }
}
