//! `TreeSource`: where the files of a step tree come from.
//!
//! A tree is read through this one interface whether it lies in a work tree on
//! disk ([`WorkTree`]) or in a git commit (`git_tree::GitTree`). Paths are
//! relative to the tree root and `/`-separated on every platform.

use std::path::{Path, PathBuf};

use crate::model::tree_error::{TreeError, TreeErrorKind, TreeWarning};

/// What a source found: the files of the tree, and what it refused or
/// ignored on the way there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Every file that belongs to the tree, relative and `/`-separated, sorted.
    pub files: Vec<String>,
    /// Files and folders that look like part of the tree but cannot be read
    /// safely (escaping symbolic links, sub-folders of `db/upgrades`, names
    /// that are not UTF-8, hidden step files).
    pub errors: Vec<TreeError>,
    /// Symbolic links to folders that were not followed: an error only when
    /// the manifest makes the folder part of the tree (a component, plugin
    /// type or `db` folder); [`crate::Tree::load`] decides.
    pub unfollowed: Vec<TreeError>,
    /// Files ignored on purpose (editor leftovers).
    pub warnings: Vec<TreeWarning>,
    /// The `.gitkeep` and `.keep` files of `db/upgrades` folders (git keeps
    /// such a folder when it holds no step).
    pub kept: Vec<String>,
}

/// The files of a step tree.
pub trait TreeSource {
    /// A short description for messages: a folder path or `REV:`.
    fn describe(&self) -> String;
    /// The files of the tree and every problem found while listing them.
    fn scan(&self) -> Result<Scan, TreeError>;
    /// Every file that belongs to the tree, relative and `/`-separated, sorted.
    fn files(&self) -> Result<Vec<String>, TreeError> {
        Ok(self.scan()?.files)
    }
    /// The bytes of one file.
    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError>;
    /// The bytes of one file in `buffer` (its bytes replaced): a caller
    /// reading many files it does not keep uses one buffer for them all.
    fn read_into(&self, path: &str, buffer: &mut Vec<u8>) -> Result<(), TreeError> {
        *buffer = self.read(path)?;
        Ok(())
    }
}

/// What a path relative to the tree root is to the step tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathClass {
    /// A file of the tree: the manifest, a release file, a component's
    /// `db/upgrade.toml` or `db/component.toml`, or a file in a `db/upgrades` folder.
    Tree,
    /// Ignored with a warning (an editor leftover); the reason.
    Ignored(String),
    /// Looks like a step but would not be read: an error; the reason.
    Unseen(String),
    /// Not part of the step tree.
    Other,
}

/// Hidden files a `db/upgrades` folder may hold without a word.
const QUIET_DOT_FILES: [&str; 4] = [".gitkeep", ".keep", ".gitignore", ".DS_Store"];

/// Is `path` a `db/upgrades` folder (at the root or in a component folder)?
pub fn is_upgrades_dir(path: &str) -> bool {
    path == "db/upgrades" || path.ends_with("/db/upgrades")
}

/// Why a file name is an editor or tool leftover, if it is one.
fn leftover(file: &str) -> Option<&'static str> {
    if file.ends_with('~')
        || file.starts_with(".#")
        || [".bak", ".swp", ".swo", ".orig", ".rej"]
            .iter()
            .any(|s| file.ends_with(s))
    {
        Some("ignored: an editor or merge leftover, never a step")
    } else if file.starts_with(".consolidate-") && file.ends_with(".tmp") {
        Some("ignored: a temporary file of an interrupted consolidate run")
    } else {
        None
    }
}

/// Classifies a path relative to the tree root.
pub fn classify(path: &str) -> PathClass {
    if path == crate::model::manifest::MANIFEST_FILE {
        return PathClass::Tree;
    }
    if let Some(rest) = path.strip_prefix("releases/") {
        if rest.contains('/') {
            return PathClass::Other;
        }
        if let Some(why) = leftover(rest) {
            return PathClass::Ignored(why.into());
        }
        if rest.ends_with(".toml") && !rest.starts_with('.') {
            return PathClass::Tree;
        }
        // The project baseline's schema snapshot.
        if rest.contains(".baseline") && rest.ends_with(".sql") && !rest.starts_with('.') {
            return PathClass::Tree;
        }
        return PathClass::Other;
    }
    if path == "db/upgrade.toml" || path.ends_with("/db/upgrade.toml") {
        return PathClass::Tree;
    }
    // A component's own settings (safe to disable, ...).
    if path == "db/component.toml" || path.ends_with("/db/component.toml") {
        return PathClass::Tree;
    }
    // A component's install snapshot (`install.sql`, `install.<database>.sql`).
    if let Some((dir, file)) = path.rsplit_once('/')
        && (dir == "db" || dir.ends_with("/db"))
        && file.starts_with("install.")
        && file.ends_with(".sql")
    {
        return PathClass::Tree;
    }
    let Some((dir, file)) = path.rsplit_once('/') else {
        return PathClass::Other;
    };
    if !is_upgrades_dir(dir) {
        return PathClass::Other;
    }
    if let Some(why) = leftover(file) {
        return PathClass::Ignored(why.into());
    }
    if file.starts_with('.') {
        if QUIET_DOT_FILES.contains(&file) {
            return PathClass::Other;
        }
        if file.contains(".sql") {
            return PathClass::Unseen(
                "a hidden file in db/upgrades that looks like a step: rename it without the leading `.` or delete it".into(),
            );
        }
        return PathClass::Ignored("ignored: a hidden file, never a step".into());
    }
    PathClass::Tree
}

/// Does this relative path belong to the step tree (and so must be listed by a source)?
pub fn is_tree_file(path: &str) -> bool {
    classify(path) == PathClass::Tree
}

impl Scan {
    /// Adds a file (or leftover, or error) found at `path` as its class says.
    /// (A `String` is kept as it is, not copied.)
    pub fn add_file(&mut self, path: impl AsRef<str> + Into<String>) {
        match classify(path.as_ref()) {
            PathClass::Tree => self.files.push(path.into()),
            PathClass::Ignored(message) => self.warnings.push(TreeWarning {
                path: path.into(),
                message,
            }),
            PathClass::Unseen(why) => self
                .errors
                .push(TreeError::new(path.into(), TreeErrorKind::Unseen(why))),
            PathClass::Other => {
                if let Some((dir, file)) = path.as_ref().rsplit_once('/')
                    && is_upgrades_dir(dir)
                    && (file == ".gitkeep" || file == ".keep")
                {
                    self.kept.push(path.into());
                }
            }
        }
    }

    /// The error for a folder inside a `db/upgrades` folder.
    pub fn add_sub_folder(&mut self, path: &str) {
        self.errors.push(TreeError::new(
            path,
            TreeErrorKind::Unseen(
                "a folder inside db/upgrades: steps are read from db/upgrades itself only".into(),
            ),
        ));
    }

    /// Scans a list of paths of regular files (a source that has no real folders).
    pub fn of_paths<'a>(paths: impl IntoIterator<Item = &'a str>) -> Self {
        let mut scan = Scan::default();
        for path in paths {
            match sub_folder_of_upgrades(path) {
                Some(folder) => {
                    if !scan.errors.iter().any(|e| e.path == folder) {
                        scan.add_sub_folder(&folder);
                    }
                }
                None => scan.add_file(path),
            }
        }
        scan.finish()
    }

    /// Sorts everything.
    pub fn finish(mut self) -> Self {
        self.files.sort();
        self.files.dedup();
        // A tree keeps the list while it loads (100,000 paths: a doubled
        // Vec holds up to twice the room).
        self.files.shrink_to_fit();
        self.errors.sort_by(|a, b| a.path.cmp(&b.path));
        self.warnings.sort();
        self
    }
}

/// The first folder below a `db/upgrades` folder on `path`, if any; hidden
/// folders (`.svn`) are skipped like everywhere else.
fn sub_folder_of_upgrades(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    for i in 1..segments.len().saturating_sub(2) {
        if segments[i - 1] == "db" && segments[i] == "upgrades" {
            if segments[i + 1].starts_with('.') {
                return None;
            }
            return Some(segments[..i + 2].join("/"));
        }
    }
    None
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
    /// the first folder whose `upgrade.toml` has a `[project]` table (in any
    /// TOML spelling).
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
            if let Ok(text) = std::fs::read_to_string(&candidate)
                && has_project(&text)
            {
                return Ok(WorkTree::new(d));
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

    /// The absolute path of a relative tree path. It does not check that the
    /// path stays inside the root: writers use [`crate::files::fsio::confined`].
    pub fn path_of(&self, rel: &str) -> PathBuf {
        crate::files::fsio::join_relative(&self.root, rel)
    }

    /// Writes a file of the tree durably, refusing a path that leaves the
    /// root (see [`crate::files::fsio::confined`]).
    pub fn write_file(&self, rel: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let path = crate::files::fsio::confined(&self.root, rel)?;
        crate::files::fsio::write_atomic(&path, bytes)?;
        Ok(path)
    }

    fn walk(&self, walk: &mut Walk, dir: &Path, rel: &str) -> Result<(), TreeError> {
        let io = |e: std::io::Error| {
            TreeError::new(
                if rel.is_empty() { "." } else { rel },
                TreeErrorKind::Io(e.to_string()),
            )
        };
        let join = |name: &str| {
            let mut path = String::with_capacity(rel.len() + 1 + name.len());
            if !rel.is_empty() {
                path.push_str(rel);
                path.push('/');
            }
            path.push_str(name);
            path
        };
        let in_upgrades = is_upgrades_dir(rel);
        // A folder's entries by name: the scan's paths then come in sorted
        // runs, which its final sort only merges.
        let mut entries = std::fs::read_dir(dir)
            .map_err(io)?
            .map(|entry| {
                let entry = entry?;
                Ok((entry.file_name(), entry.file_type()?))
            })
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(io)?;
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (os_name, kind) in entries {
            let entry_path = || dir.join(&os_name);
            let Some(name) = os_name.to_str() else {
                let lossy = join(&os_name.to_string_lossy());
                let suspicious = kind.is_dir()
                    || in_upgrades
                    || rel == "releases"
                    || rel == "db"
                    || rel.ends_with("/db")
                    || lossy.ends_with(".sql")
                    || lossy.ends_with(".toml");
                if suspicious {
                    walk.scan.errors.push(TreeError::new(
                        lossy,
                        TreeErrorKind::Unseen(
                            "its name is not valid UTF-8, so it cannot be named in the ledger: rename it".into(),
                        ),
                    ));
                }
                continue;
            };
            if (name.starts_with('.') && (!in_upgrades || kind.is_dir()))
                || (rel.is_empty() && name == "target")
            {
                continue;
            }
            let child = join(name);
            if kind.is_symlink() {
                self.symlink(walk, &entry_path(), &child, in_upgrades)?;
            } else if kind.is_dir() {
                if in_upgrades {
                    walk.scan.add_sub_folder(&child);
                } else {
                    let real = walk.ancestors.last().map(|a| a.join(name));
                    walk.ancestors.push(real.unwrap_or_else(entry_path));
                    self.walk(walk, &entry_path(), &child)?;
                    walk.ancestors.pop();
                }
            } else if kind.is_file() {
                walk.scan.add_file(child);
            }
        }
        Ok(())
    }

    /// A symbolic link: followed while it stays inside the root; an error
    /// where it leaves the root with a file of the tree.
    fn symlink(
        &self,
        walk: &mut Walk,
        link: &Path,
        child: &str,
        in_upgrades: bool,
    ) -> Result<(), TreeError> {
        let Ok(target) = link.canonicalize() else {
            if classify(child) != PathClass::Other {
                walk.scan.errors.push(TreeError::new(
                    child,
                    TreeErrorKind::Symlink("it points to nothing".into()),
                ));
            }
            return Ok(());
        };
        let inside = target.starts_with(&walk.root);
        if target.is_dir() {
            if in_upgrades {
                walk.scan.add_sub_folder(child);
            } else if !inside {
                let holds_steps =
                    target.join("db/upgrades").is_dir() || target.join("db/upgrade.toml").exists();
                let error = TreeError::new(
                    child,
                    TreeErrorKind::OutsideRoot(format!(
                        "`{child}` is a symbolic link to the folder {}",
                        target.display()
                    )),
                );
                if holds_steps {
                    walk.scan.errors.push(error);
                } else {
                    walk.scan.unfollowed.push(error);
                }
            } else if !walk.ancestors.contains(&target) {
                // Inside the root: read it where the link puts it (a link
                // back to an enclosing folder is read at its own place only).
                walk.ancestors.push(target.clone());
                self.walk(walk, &target, child)?;
                walk.ancestors.pop();
            }
            return Ok(());
        }
        if inside {
            walk.scan.add_file(child);
        } else if classify(child) != PathClass::Other {
            walk.scan.errors.push(TreeError::new(
                child,
                TreeErrorKind::OutsideRoot(format!(
                    "`{child}` is a symbolic link to {}",
                    target.display()
                )),
            ));
        }
        Ok(())
    }
}

/// The state of one walk of a work tree.
struct Walk {
    /// The canonical root.
    root: PathBuf,
    /// The canonical folders being walked, outermost first (to stop at link loops).
    ancestors: Vec<PathBuf>,
    scan: Scan,
}

/// Does `text` have a `[project]` table (or is it broken TOML that seems to)?
fn has_project(text: &str) -> bool {
    match toml_edit::Document::parse(text) {
        Ok(doc) => doc
            .as_table()
            .get("project")
            .is_some_and(toml_edit::Item::is_table_like),
        Err(_) => text.lines().any(|l| l.trim() == "[project]"),
    }
}

impl TreeSource for WorkTree {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn scan(&self) -> Result<Scan, TreeError> {
        let root = self
            .root
            .canonicalize()
            .map_err(|e| TreeError::new(self.describe(), TreeErrorKind::Io(e.to_string())))?;
        let mut walk = Walk {
            ancestors: vec![root.clone()],
            root,
            scan: Scan::default(),
        };
        self.walk(&mut walk, &self.root, "")?;
        Ok(walk.scan.finish())
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        std::fs::read(self.path_of(path))
            .map_err(|e| TreeError::new(path, TreeErrorKind::Io(e.to_string())))
    }

    fn read_into(&self, path: &str, buffer: &mut Vec<u8>) -> Result<(), TreeError> {
        use std::io::Read;
        buffer.clear();
        std::fs::File::open(self.path_of(path))
            .and_then(|mut file| file.read_to_end(buffer))
            .map(|_| ())
            .map_err(|e| TreeError::new(path, TreeErrorKind::Io(e.to_string())))
    }
}

mod memory;
pub use memory::MemoryTree;

#[cfg(test)]
mod tests;
