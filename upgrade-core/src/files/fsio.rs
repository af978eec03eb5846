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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
    let mut path = PathBuf::with_capacity(root.as_os_str().len() + rel.len() + 1);
    path.push(root);
    for seg in rel.split('/') {
        path.push(seg);
    }
    path
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
/// root manifest (the commit point of a release), and only then deletions.
/// An emptied `db/upgrades` folder stays (the release writes its `.gitkeep`
/// with the other files). Each rename and each deletion passes a
/// [`FaultPoint`]. Every path is checked with [`confined`] before the first
/// write: a change outside the root stops the whole run with nothing written.
///
/// The work runs in batches, each ended by its syncs before the next one
/// starts (see [`crate::files::parallel`]; within a batch, on a few threads):
///
/// 1. every written file is *staged*: a temporary file beside its target,
///    written and synced — nothing of the tree changes yet;
/// 2. group by group (same rank, in the order above): the group's temporary
///    files are renamed over their targets, then the group's folders are
///    synced, before the next group's first rename;
/// 3. the deletions, then their folders are synced.
///
/// So no rename reaches the disk before the data it names, a group is
/// durable before the next one starts, and every write is durable before
/// the first deletion. Syncs are O(files written + folders), never
/// O(files deleted), in at most [`SYNC_ROUNDS`] rounds one after the other
/// whatever the number of files. A deletion that a power loss undoes leaves
/// a leftover that re-running the command deletes (see docs/semantics.md).
pub fn apply_changes(root: &Path, changes: &[FileChange]) -> std::io::Result<()> {
    apply_counted(root, changes).map(|_| ())
}

/// The sync rounds of [`apply_changes`] at most: the staged files, one per
/// group (4 ranks), the deletions' folders.
pub const SYNC_ROUNDS: usize = 6;

/// Deletions handed to a thread at a time: files of one folder stay together.
const DELETE_CHUNK: usize = 64;

/// What [`apply_changes`] synced (the op-count tests read it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Syncs {
    /// Files synced.
    files: usize,
    /// Folders synced.
    folders: usize,
    /// Batches of syncs, one after the other.
    rounds: usize,
}

/// The rank of a written file in the crash order.
fn rank(path: &str) -> u8 {
    if path == crate::model::manifest::MANIFEST_FILE {
        3
    } else if path.starts_with("releases/") {
        2
    } else if path.ends_with("/upgrade.toml") {
        1
    } else {
        0
    }
}

/// [`apply_changes`], returning what it synced.
fn apply_counted(root: &Path, changes: &[FileChange]) -> std::io::Result<Syncs> {
    let mut confiner = Confiner::new(root)?;
    let paths = changes
        .iter()
        .map(|c| confiner.path(&c.path))
        .collect::<std::io::Result<Vec<PathBuf>>>()?;
    let fault = FaultPoint::from_env();
    let mut syncs = Syncs::default();

    let mut writes: Vec<(usize, &[u8])> = changes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.after.as_ref().map(|after| (i, after.as_bytes())))
        .collect();
    writes.sort_by(|(a, _), (b, _)| {
        let (a, b) = (&changes[*a].path, &changes[*b].path);
        (rank(a), a).cmp(&(rank(b), b))
    });
    let staged = crate::files::parallel::map(&writes, 1, |(i, bytes)| stage(&paths[*i], bytes))?;
    syncs.files += staged.len();
    syncs.rounds += usize::from(!staged.is_empty());
    crate::model::op_count::tick(staged.len());
    let mut staged = staged.into_iter();
    for group in
        writes.chunk_by(|(a, _), (b, _)| rank(&changes[*a].path) == rank(&changes[*b].path))
    {
        let mut dirs = std::collections::BTreeSet::new();
        for ((i, _), file) in group.iter().zip(staged.by_ref()) {
            fault.begin();
            file.tmp.persist(&paths[*i]).map_err(|e| e.error)?;
            dirs.insert(parent_of(&paths[*i]).to_path_buf());
            dirs.extend(file.new_entries_in);
            fault.completed_one();
        }
        sync_dirs(&dirs.into_iter().collect::<Vec<_>>(), &mut syncs)?;
    }

    // Deletions in path order (files of one folder together), then each of
    // their folders synced once.
    let mut deletions: Vec<usize> = (0..changes.len())
        .filter(|&i| changes[i].after.is_none())
        .collect();
    deletions.sort_by(|&a, &b| changes[a].path.cmp(&changes[b].path));
    crate::files::parallel::each(&deletions, DELETE_CHUNK, |&i| {
        fault.begin();
        remove_file_if_present(&paths[i])?;
        fault.completed_one();
        Ok(())
    })?;
    let mut folders: std::collections::HashMap<&str, &Path> = std::collections::HashMap::new();
    for &i in &deletions {
        let rel = changes[i].path.rsplit_once('/').map_or("", |(dir, _)| dir);
        folders.entry(rel).or_insert_with(|| parent_of(&paths[i]));
    }
    let mut dirs: Vec<PathBuf> = folders.into_values().map(Path::to_path_buf).collect();
    dirs.sort();
    sync_dirs(&dirs, &mut syncs)?;
    Ok(syncs)
}

/// Syncs `dirs` as one round (in parallel).
fn sync_dirs(dirs: &[PathBuf], syncs: &mut Syncs) -> std::io::Result<()> {
    if dirs.is_empty() {
        return Ok(());
    }
    crate::files::parallel::each(dirs, 1, |dir| sync_dir(dir))?;
    crate::model::op_count::tick(dirs.len());
    syncs.folders += dirs.len();
    syncs.rounds += 1;
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
    let file = stage(path, bytes)?;
    file.tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(parent_of(path))?;
    for dir in &file.new_entries_in {
        sync_dir(dir)?;
    }
    Ok(())
}

/// A file written and synced beside its target, not yet renamed over it.
struct Staged {
    /// The temporary file (deleted if dropped before it is renamed).
    tmp: tempfile::TempPath,
    /// Folders that gained an entry when the target's missing folders were
    /// created: synced with the target's folder.
    new_entries_in: Vec<PathBuf>,
}

/// Writes `bytes` to a synced temporary file beside `path`, creating the
/// missing parent folders; the caller renames it over `path` and syncs the
/// folders to make the rename durable.
fn stage(path: &Path, bytes: &[u8]) -> std::io::Result<Staged> {
    let dir = parent_of(path);
    let mut new_entries_in = Vec::new();
    let mut missing = dir;
    while !missing.exists() {
        let Some(parent) = missing.parent().filter(|p| !p.as_os_str().is_empty()) else {
            break;
        };
        new_entries_in.push(parent.to_path_buf());
        missing = parent;
    }
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".consolidate-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
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
    Ok(Staged {
        tmp: tmp.into_temp_path(),
        new_entries_in,
    })
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

/// Syncs a folder (its entries: creations, renames, deletions).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
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
/// Shared by the threads of a batch: once the operation a hook names has
/// started, no other starts until the hook has fired, so the process stops
/// after exactly N completed operations.
#[derive(Debug)]
pub struct FaultPoint {
    started: AtomicUsize,
    done: AtomicUsize,
    /// The pause has ended: operations start again.
    resumed: AtomicBool,
    fault_after: Option<usize>,
    pause_after: Option<usize>,
}

impl FaultPoint {
    /// Reads `CONSOLIDATE_FAULT_AFTER` and `CONSOLIDATE_PAUSE_AFTER`.
    pub fn from_env() -> Self {
        let read = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        FaultPoint {
            started: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            resumed: AtomicBool::new(false),
            fault_after: read("CONSOLIDATE_FAULT_AFTER"),
            pause_after: read("CONSOLIDATE_PAUSE_AFTER"),
        }
    }

    /// Call before each file operation: past the operation a hook names, it
    /// waits until the pause has ended (or forever: the process exits).
    pub fn begin(&self) {
        let Some(limit) = self.fault_after.into_iter().chain(self.pause_after).min() else {
            return;
        };
        if self.started.fetch_add(1, Ordering::SeqCst) >= limit {
            while !self.resumed.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }

    /// Call after each completed file operation.
    pub fn completed_one(&self) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        if self.pause_after == Some(done) {
            eprintln!("paused after {done} file operations (CONSOLIDATE_PAUSE_AFTER)");
            std::thread::sleep(std::time::Duration::from_secs(60));
            self.resumed.store(true, Ordering::SeqCst);
        }
        if self.fault_after == Some(done) {
            eprintln!("stopped after {done} file operations (CONSOLIDATE_FAULT_AFTER)");
            std::process::exit(86);
        }
    }
}

#[cfg(test)]
mod tests;
