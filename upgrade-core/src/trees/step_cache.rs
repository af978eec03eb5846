//! The step cache of a work tree (`<root>/.consolidate/step-cache`), used by
//! `status` only ([`crate::Tree::load_for_site_cached`]): like git's index, it
//! maps each standalone step's files, by identity (size, modification and
//! change times in nanoseconds, inode, device), to what reading them gave
//! (header, checksum, checks passed), so that an unchanged file is not read,
//! checked or hashed again.
//!
//! A stale or broken cache never hides a change:
//!
//! - an entry is used only when its files are exactly the step's files today
//!   and every identity field of every file is the same;
//! - an entry is recorded only for files whose modification and change times
//!   are more than [`RACY_SECONDS`] before the load started (git's "racy"
//!   rule): a later edit, even of the same size, gives a later time;
//! - a cache that cannot be read, of another format or program version, or
//!   with any malformed line is ignored as a whole (everything is read);
//! - it is written only after a load without any error, with a temporary
//!   file and a rename; when it cannot be written (a read-only folder) the
//!   command goes on without a word, so output never depends on it.
//!
//! The folder holds a `.gitignore` of `*`, so git never sees it; the tree scan
//! skips hidden folders. Steps served from the cache carry their header,
//! variants and checksum but empty SQL: such a tree answers `status`, never runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::files::source::WorkTree;
use crate::model::batch::Batch;
use crate::model::component::ComponentName;
use crate::model::step::{Body, Checksum, Origin, Phase, Step, StepKey};
use crate::model::step_name::StepName;
use crate::model::tree_error::TreeError;
use crate::trees::standalone::{Variant, standalone_step};
use entries::OldEntries;

/// The cache file, relative to the tree root.
pub const CACHE_FILE: &str = ".consolidate/step-cache";

/// Files changed less than this many seconds before a load are not recorded.
pub const RACY_SECONDS: i128 = 2;

/// The first line of a cache file: format and program version.
fn magic() -> String {
    format!("consolidate step cache 1 {}", env!("CARGO_PKG_VERSION"))
}

/// The identity of a file as the cache compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Identity {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
}

/// A folder of the tree held open, so that its files are looked up by name
/// (`statat`), not by a whole path from the root each.
#[cfg(unix)]
#[derive(Debug, Default)]
struct OpenFolder(Option<(String, rustix::fd::OwnedFd)>);

#[cfg(unix)]
impl OpenFolder {
    /// The identity of `rel` (a `/`-separated path below `root`).
    // `stat` field types differ between platforms: converted, never cast.
    #[allow(clippy::useless_conversion)]
    fn identity(&mut self, root: &Path, rel: &str) -> Option<Identity> {
        use rustix::fs::{AtFlags, Mode, OFlags};
        let (folder, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        if self.0.as_ref().is_none_or(|(open, _)| open != folder) {
            self.0 = None;
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let fd = rustix::fs::open(root.join(folder), flags, Mode::empty()).ok()?;
            self.0 = Some((folder.to_string(), fd));
        }
        let (_, fd) = self.0.as_ref()?;
        let m = rustix::fs::statat(fd, name, AtFlags::empty()).ok()?;
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Some(Identity {
            size: u64::try_from(m.st_size).ok()?,
            mtime_ns: ns(
                i64::try_from(m.st_mtime).ok()?,
                i64::try_from(m.st_mtime_nsec).ok()?,
            ),
            ctime_ns: ns(
                i64::try_from(m.st_ctime).ok()?,
                i64::try_from(m.st_ctime_nsec).ok()?,
            ),
            ino: u64::try_from(m.st_ino).ok()?,
            dev: u64::try_from(m.st_dev).ok()?,
        })
    }
}

#[cfg(not(unix))]
#[derive(Debug, Default)]
struct OpenFolder;

#[cfg(not(unix))]
impl OpenFolder {
    fn identity(&mut self, _root: &Path, _rel: &str) -> Option<Identity> {
        None
    }
}

/// At most this many threads stat and build cached steps.
pub const THREADS: usize = 2;

/// Fewer steps than this per thread are not worth a thread.
const PER_THREAD: usize = 2048;

/// What an entry records of an unchanged step: all but its name and files
/// (the step is built where those are owned: moved, not copied).
#[derive(Debug)]
pub(super) struct Entry {
    checksum: Checksum,
    phase: Phase,
    transaction: bool,
    batch: Option<Box<Batch>>,
    requires: Vec<StepKey>,
}

/// What one thread found for a step: its entry's line and what it records,
/// or the identities of its files (none when one could not be read).
#[derive(Debug)]
enum Probe {
    Hit(usize, Entry),
    Miss(Option<Vec<Identity>>),
}

/// Stats a step's files and builds it from its entry when that entry
/// holds exactly these files with these identities.
fn probe(
    root: &Path,
    old: &OldEntries,
    folder: &mut OpenFolder,
    next: &mut usize,
    variants: &[Variant],
) -> Probe {
    let ids: Option<Vec<Identity>> = variants
        .iter()
        .map(|v| folder.identity(root, v.path))
        .collect();
    let Some(ids) = ids else {
        return Probe::Miss(None);
    };
    let first = variants.first().map_or("", |v| v.path);
    let hit = old
        .find(first, next)
        .and_then(|line| entry(old.rest(line), variants, &ids).map(|entry| (line, entry)));
    match hit {
        Some((line, entry)) => Probe::Hit(line, entry),
        None => Probe::Miss(Some(ids)),
    }
}

/// What a lookup found: the entry of an unchanged step, or the identities
/// to record it with after reading it (taken before the read, so a change
/// during the read shows next time).
pub(super) enum Lookup {
    /// An unchanged step: not read.
    Hit(Entry),
    /// Read it; record it with these identities when they may be trusted.
    Miss(Option<Vec<Identity>>),
}

/// The cache of one work tree, as read at the start of a load.
#[derive(Debug)]
pub struct StepCache {
    root: PathBuf,
    /// Files changed at or after this time (ns since the epoch) are not recorded.
    trusted_before_ns: i128,
    /// The entries read: the cache file's text and its lines, by first file
    /// path (no copy per entry).
    old: OldEntries,
    /// The entries this load read in full, by first file path: the rest of
    /// their line.
    new: BTreeMap<String, String>,
    /// Steps read in full during this load.
    misses: usize,
    /// Steps served from the cache during this load.
    hits: usize,
}

impl StepCache {
    /// The cache of `work`, read now (a missing or broken one is empty).
    pub fn open(work: &WorkTree) -> StepCache {
        StepCache::open_at(work.root(), SystemTime::now())
    }

    /// The cache of the tree at `root`, as if read at `now` (tests move time).
    pub fn open_at(root: &Path, now: SystemTime) -> StepCache {
        let now_ns = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(0));
        let second = now_ns - now_ns.rem_euclid(1_000_000_000);
        let old = std::fs::read(root.join(CACHE_FILE))
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(OldEntries::parse)
            .unwrap_or_default();
        StepCache {
            root: root.to_path_buf(),
            trusted_before_ns: second - RACY_SECONDS * 1_000_000_000,
            old,
            new: BTreeMap::new(),
            misses: 0,
            hits: 0,
        }
    }

    /// Steps served from the cache and steps read in full by the last load.
    pub fn counts(&self) -> (usize, usize) {
        (self.hits, self.misses)
    }

    /// Looks up every standalone step of a load at once: each step's files
    /// are stat'ed and an unchanged step is built from its entry on up to
    /// [`THREADS`] threads (git preloads its index the same way), then the
    /// answers are counted in order. The same answers as one lookup at a
    /// time; only the stat calls and the building of steps overlap.
    pub(super) fn lookup_all(
        &mut self,
        steps: &[((ComponentName, StepName), Vec<Variant>)],
    ) -> Vec<Lookup> {
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, THREADS);
        let chunk = steps.len().div_ceil(threads).max(PER_THREAD);
        let (root, old) = (&self.root, &self.old);
        let probes: Vec<Probe> = std::thread::scope(|scope| {
            let handles: Vec<_> = steps
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        let mut folder = OpenFolder::default();
                        let mut next = 0;
                        part.iter()
                            .map(|(_, variants)| probe(root, old, &mut folder, &mut next, variants))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        if probes.len() != steps.len() {
            // A thread panicked: nothing from the cache.
            self.misses += steps.len();
            return steps.iter().map(|_| Lookup::Miss(None)).collect();
        }
        probes.into_iter().map(|p| self.count(p)).collect()
    }

    /// One probe counted: a hit marks its entry used.
    fn count(&mut self, probe: Probe) -> Lookup {
        match probe {
            Probe::Hit(line, entry) => {
                self.old.used[line] = true;
                self.hits += 1;
                Lookup::Hit(entry)
            }
            Probe::Miss(ids) => {
                self.misses += 1;
                let trusted = ids.as_ref().is_some_and(|ids| {
                    ids.iter()
                        .all(|i| i.mtime_ns.max(i.ctime_ns) < self.trusted_before_ns)
                });
                Lookup::Miss(ids.filter(|_| trusted))
            }
        }
    }

    /// Records a step read in full, with the identities its lookup took.
    pub(super) fn record(&mut self, step: &Step, variants: &[Variant], ids: &[Identity]) {
        let clean = |s: &str| !s.is_empty() && !s.contains(['\t', '\n', '\r']);
        if variants.is_empty()
            || ids.len() != variants.len()
            || !variants.iter().all(|v| clean(v.path))
            || variants
                .iter()
                .any(|v| v.database.is_some_and(|d| !clean(d)))
        {
            return;
        }
        let requires: Vec<String> = step.requires.iter().map(ToString::to_string).collect();
        let mut rest = format!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            variants.len(),
            step.checksum,
            step.phase.as_str(),
            u8::from(step.transaction),
            step.batch
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            requires.join(" ")
        );
        for (v, i) in variants.iter().zip(ids) {
            rest.push_str(&format!(
                "\t{}\t{}\t{}\t{}\t{}\t{}",
                v.database.unwrap_or(""),
                i.size,
                i.mtime_ns,
                i.ctime_ns,
                i.ino,
                i.dev
            ));
        }
        self.new.insert(variants[0].path.to_string(), rest);
    }

    /// Writes the cache when this load changed it; any failure (a read-only
    /// folder, a full disk) leaves things as they are, silently.
    pub fn save(&self) {
        if self.misses == 0 && self.hits == self.old.lines.len() {
            return;
        }
        let mut lines: BTreeMap<&str, &str> = (0..self.old.lines.len())
            .filter(|&line| self.old.used[line])
            .map(|line| (self.old.first(line), self.old.rest(line)))
            .collect();
        for (first, rest) in &self.new {
            lines.insert(first.as_str(), rest.as_str());
        }
        let mut text = magic();
        text.push('\n');
        for (first, rest) in &lines {
            text.push_str(first);
            text.push('\t');
            text.push_str(rest);
            text.push('\n');
        }
        text.push_str(&format!("end {}\n", lines.len()));
        let folder = self.root.join(".consolidate");
        let ignore = folder.join(".gitignore");
        if !ignore.exists() && crate::files::fsio::write_atomic(&ignore, b"*\n").is_err() {
            return;
        }
        let _ = crate::files::fsio::write_atomic(&self.root.join(CACHE_FILE), text.as_bytes());
    }
}

/// The standalone step of `variants`: from the cache when `lookup` (of
/// [`StepCache::lookup_all`]) found it unchanged, else read in full (and
/// recorded in the cache when trusted).
pub(super) fn cached_or_read(
    cache: Option<(&mut StepCache, Lookup)>,
    (component, name): (ComponentName, StepName),
    variants: &[Variant],
    read: &mut dyn FnMut(&str) -> Result<String, TreeError>,
) -> Result<Step, TreeError> {
    let Some((cache, lookup)) = cache else {
        return standalone_step(component, name, variants, read);
    };
    match lookup {
        Lookup::Hit(entry) => {
            // No SQL: such a step answers `status`, never runs.
            let body = if variants.iter().any(|v| v.database.is_none()) {
                Body::Any(Box::default())
            } else {
                Body::from_variants(
                    variants
                        .iter()
                        .map(|v| (v.database.map(str::to_string), String::new()))
                        .collect(),
                )
            };
            Ok(Step {
                key: StepKey { component, name },
                phase: entry.phase,
                requires: entry.requires.into(),
                transaction: entry.transaction,
                batch: entry.batch,
                body,
                edited: None,
                checksum: entry.checksum,
                origin: Origin::Standalone {
                    files: variants.iter().map(|v| v.path).collect(),
                },
            })
        }
        Lookup::Miss(ids) => {
            let step = standalone_step(component, name, variants, read)?;
            if let Some(ids) = ids {
                cache.record(&step, variants, &ids);
            }
            Ok(step)
        }
    }
}

/// What an entry records, when its files are exactly `variants` with
/// identities `ids`.
fn entry(rest: &str, variants: &[Variant], ids: &[Identity]) -> Option<Entry> {
    let mut fields = rest.split('\t');
    let count: usize = fields.next()?.parse().ok()?;
    if count != variants.len() {
        return None;
    }
    let checksum = Checksum::from_recorded(fields.next()?)?;
    let phase = Phase::parse(fields.next()?)?;
    let transaction = match fields.next()? {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    let batch = match fields.next()? {
        "" => None,
        b => Some(Box::new(Batch::parse(b).ok()?)),
    };
    let requires = match fields.next()? {
        "" => Vec::new(),
        r => r
            .split(' ')
            .map(|k| StepKey::parse(k).ok())
            .collect::<Option<Vec<_>>>()?,
    };
    // The files are the step's when they are the same in number, database
    // and identity (inode and device name the file itself).
    for (v, id) in variants.iter().zip(ids) {
        let database = match fields.next()? {
            "" => None,
            d => Some(d),
        };
        let size = fields.next()?.parse::<u64>().ok()?;
        let mut time = || fields.next()?.parse::<i64>().ok().map(i128::from);
        let (mtime_ns, ctime_ns) = (time()?, time()?);
        let mut number = || fields.next()?.parse::<u64>().ok();
        let stored = Identity {
            size,
            mtime_ns,
            ctime_ns,
            ino: number()?,
            dev: number()?,
        };
        if database != v.database || stored != *id {
            return None;
        }
    }
    if fields.next().is_some() {
        return None;
    }
    Some(Entry {
        checksum,
        phase,
        transaction,
        batch,
        requires,
    })
}

mod entries;
#[cfg(test)]
mod tests;
