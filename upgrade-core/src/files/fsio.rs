//! Durable file changes: every write goes to a temporary file in the same
//! folder, is synced and renamed over the target, and the folder is synced,
//! so a file is either its old or its new self after a crash.
//!
//! Test hooks: `CONSOLIDATE_FAULT_AFTER=N` exits the process (code 86) right
//! after the N-th file operation, and `CONSOLIDATE_PAUSE_AFTER=N` sleeps for a
//! minute there so that a test can kill the process for real.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One change to one file of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The file, relative to the tree root, `/`-separated.
    pub path: String,
    /// Its text before (`None`: the file is created).
    pub before: Option<String>,
    /// Its text after (`None`: the file is deleted).
    pub after: Option<String>,
}

/// A unified diff (`a/` and `b/` paths, `/dev/null` for created and deleted
/// files) of `changes`, in their order.
pub fn unified_diff(changes: &[FileChange]) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_unified_diff(changes, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`unified_diff`] written to `out` one file at a time, so that the diff of
/// a release of 100,000 steps is never held whole in memory.
pub fn write_unified_diff(changes: &[FileChange], out: &mut dyn Write) -> std::io::Result<()> {
    for change in changes {
        let before = change.before.as_deref().unwrap_or_default();
        let after = change.after.as_deref().unwrap_or_default();
        let side = |present: bool, prefix: &str| {
            if present {
                format!("{prefix}/{}", change.path)
            } else {
                "/dev/null".to_string()
            }
        };
        let (old, new) = (
            side(change.before.is_some(), "a"),
            side(change.after.is_some(), "b"),
        );
        if before == after {
            // An empty file created or deleted has no hunk: say so, as git does.
            writeln!(out, "--- {old}\n+++ {new}")?;
            continue;
        }
        let diff = similar::TextDiff::from_lines(before, after);
        diff.unified_diff()
            .context_radius(3)
            .header(&old, &new)
            .to_writer(&mut *out)?;
    }
    Ok(())
}

/// The path of a relative, `/`-separated tree path under `root`.
pub fn join_relative(root: &Path, rel: &str) -> std::path::PathBuf {
    rel.split('/')
        .fold(root.to_path_buf(), |p, seg| p.join(seg))
}

/// The path of the relative tree path `rel` under `root`, for writing or
/// deleting: refused (nothing is touched) when `rel` is absolute, holds `..`,
/// `.` or an empty segment, or when its folder — or the file itself, if it is
/// a symbolic link — resolves outside the root.
pub fn confined(root: &Path, rel: &str) -> std::io::Result<PathBuf> {
    Confiner::new(root)?.path(rel)
}

/// [`confined`] for many paths of one root: the root and each folder are
/// resolved once (a release deletes 100,000 files in a few hundred folders),
/// so each path costs one `lstat` of its own.
#[derive(Debug)]
pub struct Confiner {
    root: PathBuf,
    real_root: PathBuf,
    /// Each folder asked about: where it resolves (or why it cannot).
    folders: std::collections::HashMap<PathBuf, Result<PathBuf, String>>,
}

impl Confiner {
    /// A confiner of paths under `root` (which must exist).
    pub fn new(root: &Path) -> std::io::Result<Self> {
        Ok(Confiner {
            root: root.to_path_buf(),
            real_root: root.canonicalize()?,
            folders: std::collections::HashMap::new(),
        })
    }

    /// [`confined`] of `rel`.
    pub fn path(&mut self, rel: &str) -> std::io::Result<PathBuf> {
        let root = &self.root;
        let refuse = |why: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "refusing to write `{rel}`: {why}; a command only writes inside the tree root {} (check the folders in upgrade.toml and replace symbolic links that leave the root)",
                    root.display()
                ),
            )
        };
        if rel.is_empty()
            || rel.starts_with('/')
            || rel.contains('\\')
            || rel.as_bytes().get(1) == Some(&b':')
        {
            return Err(refuse("it is not a path relative to the tree root".into()));
        }
        if rel
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(refuse("it holds `..`, `.` or an empty segment".into()));
        }
        let path = join_relative(root, rel);
        let folder = path.parent().unwrap_or(root).to_path_buf();
        let real = match self.folders.get(&folder) {
            Some(known) => known.clone(),
            None => {
                let found = resolve_folder(&folder);
                self.folders.insert(folder, found.clone());
                found
            }
        }
        .map_err(&refuse)?;
        if !real.starts_with(&self.real_root) {
            return Err(refuse(format!(
                "its folder {} resolves to {}, outside the root",
                path.parent().unwrap_or(root).display(),
                real.display()
            )));
        }
        if path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            let outside = path
                .canonicalize()
                .map_or(true, |target| !target.starts_with(&self.real_root));
            if outside {
                return Err(refuse("it is a symbolic link that leaves the root".into()));
            }
        }
        Ok(path)
    }
}

/// Where `folder` resolves: the deepest part of it that exists (as a folder
/// or a link) decides.
fn resolve_folder(folder: &Path) -> Result<PathBuf, String> {
    let mut existing = folder.to_path_buf();
    while existing.symlink_metadata().is_err() {
        match existing.parent() {
            Some(parent) => existing = parent.to_path_buf(),
            None => break,
        }
    }
    existing
        .canonicalize()
        .map_err(|e| format!("its folder {} cannot be resolved ({e})", existing.display()))
}

/// Applies file changes under `root` in crash-safe order: standalone step
/// files, then components' `upgrade.toml` files, then release files, then the
/// root manifest (the commit point of a release), and only then deletions; a
/// `db/upgrades` folder left empty goes too, as git would not keep it. Each
/// file operation passes a [`FaultPoint`]. Every path is checked with
/// [`confined`] before the first write: a change outside the root stops the
/// whole run with nothing written.
///
/// Syncs are batched without changing that order: each written file is
/// synced before it is renamed into place, and the folders of one group
/// (same rank) are synced once after the group's renames, before the next
/// group's first rename; deleted files' folders are synced once, after the
/// last deletion. So the syncs are O(folders), not O(files). A deletion that
/// a power loss undoes leaves a leftover that re-running the command
/// deletes (see docs/semantics.md).
pub fn apply_changes(root: &Path, changes: &[FileChange]) -> std::io::Result<()> {
    let mut paths = std::collections::BTreeMap::new();
    let mut confiner = Confiner::new(root)?;
    for change in changes {
        paths.insert(change.path.as_str(), confiner.path(&change.path)?);
    }
    let rank = |path: &str| {
        if path == crate::model::manifest::MANIFEST_FILE {
            3
        } else if path.starts_with("releases/") {
            2
        } else if path.ends_with("/upgrade.toml") {
            1
        } else {
            0
        }
    };
    let mut fault = FaultPoint::from_env();
    let mut writes: Vec<(&FileChange, &String)> = changes
        .iter()
        .filter_map(|c| c.after.as_ref().map(|after| (c, after)))
        .collect();
    writes.sort_by(|(a, _), (b, _)| (rank(&a.path), &a.path).cmp(&(rank(&b.path), &b.path)));
    for group in writes.chunk_by(|(a, _), (b, _)| rank(&a.path) == rank(&b.path)) {
        let mut dirs = std::collections::BTreeSet::new();
        for (change, after) in group {
            let path = &paths[change.path.as_str()];
            dirs.insert(write_synced(path, after.as_bytes())?);
            fault.completed_one();
        }
        for dir in &dirs {
            sync_dir(dir)?;
        }
    }
    let mut deletions: Vec<&PathBuf> = changes
        .iter()
        .filter(|c| c.after.is_none())
        .map(|c| &paths[c.path.as_str()])
        .collect();
    deletions.sort();
    // An emptied `db/upgrades` folder stays: the release writes its
    // `.gitkeep` with the other files, before any deletion.
    let mut dirs = std::collections::BTreeSet::new();
    for path in deletions {
        remove_file_if_present(path)?;
        dirs.insert(parent_of(path).to_path_buf());
        fault.completed_one();
    }
    for dir in &dirs {
        sync_dir(dir)?;
    }
    Ok(())
}

/// The folder of `path` (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
}

/// Writes `bytes` to `path` atomically and durably, creating parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = write_synced(path, bytes)?;
    sync_dir(&dir)
}

/// Writes `bytes` to a synced temporary file beside `path` and renames it
/// over `path`, creating parent folders; returns the folder, which the
/// caller syncs to make the rename durable.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let dir = parent_of(path).to_path_buf();
    fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".consolidate-")
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    tmp.write_all(bytes)?;
    // tempfile creates 0600 files: keep the mode of the file replaced, or give
    // a new file the usual 0644, so that other users (a web server) can read it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))?;
    }
    tmp.as_file().sync_all()?;
    crate::model::op_count::tick(1);
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(dir)
}

/// Removes `path` durably; a file already gone is not an error.
pub fn remove_durable(path: &Path) -> std::io::Result<()> {
    remove_file_if_present(path)?;
    sync_dir(parent_of(path))
}

/// Removes `path` (not synced); a file already gone is not an error.
fn remove_file_if_present(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Syncs a folder (its entries: creations, renames, deletions); counted as
/// one unit of work by the op-count tests.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    crate::model::op_count::tick(1);
    // Folders cannot be opened for syncing on every platform; where they can, do it.
    match fs::File::open(dir) {
        Ok(f) => match f.sync_all() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(()),
            Err(e) if e.raw_os_error() == Some(22) => Ok(()),
            Err(e) => Err(e),
        },
        Err(_) => Ok(()),
    }
}

/// Counts file operations and stops the process where a test asked it to.
#[derive(Debug)]
pub struct FaultPoint {
    done: usize,
    fault_after: Option<usize>,
    pause_after: Option<usize>,
}

impl FaultPoint {
    /// Reads `CONSOLIDATE_FAULT_AFTER` and `CONSOLIDATE_PAUSE_AFTER`.
    pub fn from_env() -> Self {
        let read = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        FaultPoint {
            done: 0,
            fault_after: read("CONSOLIDATE_FAULT_AFTER"),
            pause_after: read("CONSOLIDATE_PAUSE_AFTER"),
        }
    }

    /// Call after each completed file operation.
    pub fn completed_one(&mut self) {
        self.done += 1;
        if self.pause_after == Some(self.done) {
            eprintln!(
                "paused after {} file operations (CONSOLIDATE_PAUSE_AFTER)",
                self.done
            );
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
        if self.fault_after == Some(self.done) {
            eprintln!(
                "stopped after {} file operations (CONSOLIDATE_FAULT_AFTER)",
                self.done
            );
            std::process::exit(86);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str) -> FileChange {
        FileChange {
            path: path.into(),
            before: None,
            after: Some("x\n".into()),
        }
    }

    #[test]
    fn writes_never_leave_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("lib")).expect("mkdir");
        fs::create_dir_all(dir.path().join("outside")).expect("mkdir");
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("mod")).expect("link");
        std::os::unix::fs::symlink(dir.path().join("outside/f.sql"), root.join("lib/f.sql"))
            .expect("link");
        for rel in [
            "../escaped/db/upgrades/x.sql",
            "lib/../../escaped.sql",
            "/tmp/x.sql",
            "lib//x.sql",
            "./lib/x.sql",
            "mod/forum/db/upgrades/x.sql",
            "lib/f.sql",
        ] {
            let err = confined(&root, rel).expect_err(rel);
            assert!(
                err.to_string()
                    .contains(&format!("refusing to write `{rel}`")),
                "{err}"
            );
        }
        assert_eq!(
            confined(&root, "lib/new/db/upgrades/x.sql").expect("inside"),
            root.join("lib/new/db/upgrades/x.sql")
        );
        // One escaping change stops the whole run before the first write.
        let changes = [
            change("lib/db/upgrades/a.sql"),
            change("mod/forum/db/upgrades/b.sql"),
        ];
        assert!(apply_changes(&root, &changes).is_err());
        assert!(!root.join("lib/db").exists());
        assert_eq!(
            fs::read_dir(dir.path().join("outside"))
                .expect("ls")
                .count(),
            0
        );
    }

    /// A release-like run: `n` standalone files deleted in each of three
    /// folders, two upgrade.toml files, a release file and the manifest
    /// written; returns the syncs counted.
    fn release_syncs(n: usize) -> u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut changes = Vec::new();
        for folder in ["lib", "mod/a", "mod/b"] {
            fs::create_dir_all(root.join(folder).join("db/upgrades")).expect("mkdir");
            for i in 0..n {
                let rel = format!("{folder}/db/upgrades/2008010100-s{i}.sql");
                fs::write(join_relative(root, &rel), "SELECT 1;\n").expect("write");
                changes.push(FileChange {
                    path: rel,
                    before: Some("SELECT 1;\n".into()),
                    after: None,
                });
            }
        }
        // A file that is not deleted keeps its folder.
        fs::write(root.join("mod/b/db/upgrades/README"), "notes").expect("write");
        for rel in [
            "lib/db/upgrade.toml",
            "mod/a/db/upgrade.toml",
            "releases/R1.toml",
            "upgrade.toml",
        ] {
            changes.push(change(rel));
        }
        crate::model::op_count::take();
        apply_changes(root, &changes).expect("apply");
        let syncs = crate::model::op_count::take();
        for rel in ["lib/db/upgrade.toml", "releases/R1.toml", "upgrade.toml"] {
            assert_eq!(
                fs::read_to_string(join_relative(root, rel)).expect("read"),
                "x\n"
            );
        }
        // Emptied folders stay (the release writes their `.gitkeep`).
        assert!(root.join("lib/db/upgrades").is_dir());
        assert!(root.join("mod/a/db/upgrades").is_dir());
        let left: Vec<_> = fs::read_dir(root.join("mod/b/db/upgrades"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, ["README"]);
        syncs
    }

    #[test]
    fn syncs_are_per_folder_not_per_file() {
        let (small, large) = (release_syncs(5), release_syncs(200));
        assert_eq!(small, large, "syncs grew with the files deleted");
        // 4 files, the folders of 4 write groups, 3 folders of deletions.
        assert!(large <= 12, "{large} syncs");
    }
}
