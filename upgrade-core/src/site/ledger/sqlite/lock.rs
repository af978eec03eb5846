//! The upgrade lock of a SQLite site: an operating-system file lock
//! (`flock`, through std's `File::try_lock`) on the sidecar file `<db>.lock`
//! next to the database, independent of SQLite's own locks. The holder writes
//! its pid and command into the file, so that a refused run can name it; the
//! operating system releases the lock when the holder exits or is killed.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use super::super::{Session, now_utc};
use super::LedgerError;

/// How long taking the lock retries: a reader probing it ([`holder_session`])
/// holds a shared lock for an instant, which must not refuse an apply.
const PROBE_GRACE: Duration = Duration::from_millis(250);

/// The sidecar lock file of a database file: `<db>.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The held upgrade lock; dropping it releases the lock (the file stays).
#[derive(Debug)]
pub struct UpgradeLock {
    _file: File,
}

/// Takes the upgrade lock of the database `db`, creating the lock file
/// (mode 0644) when it is missing. Refuses at once with
/// [`LedgerError::Locked`], naming the holder, when another process has it.
pub fn acquire(db: &Path) -> Result<UpgradeLock, LedgerError> {
    let shown = db.display().to_string();
    let path = lock_path(db);
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o644);
    }
    let (mut file, writable) = match options.open(&path) {
        Ok(file) => (file, true),
        // Someone else's lock file that we may not write: locking needs no write access.
        Err(e) if e.kind() == ErrorKind::PermissionDenied && path.is_file() => {
            let file = File::open(&path).map_err(|e| lock_error(&shown, &path, &e))?;
            (file, false)
        }
        Err(e) => return Err(lock_error(&shown, &path, &e)),
    };
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < PROBE_GRACE => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LedgerError::Locked {
                    db: shown,
                    holder: Some(holder(&path)),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(&shown, &path, &e)),
        }
    }
    if writable {
        // Who holds it, for the message of a refused run; best effort.
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(who().as_bytes()));
    }
    Ok(UpgradeLock { _file: file })
}

/// This process, as the lock file records it.
fn who() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .map(|a| {
            Path::new(&a)
                .file_name()
                .map_or(a.clone(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "consolidate".into());
    let command: Vec<String> = std::iter::once(program).chain(args).collect();
    format!(
        "pid {} `{}` since {}\n",
        std::process::id(),
        command.join(" "),
        now_utc()
    )
}

/// The other process holding the upgrade lock of `db`, as its lock file
/// records it; `None` when no other process holds it (or it cannot be told).
/// Probes with a shared lock, released at once.
pub fn holder_session(db: &Path) -> Option<Session> {
    let path = lock_path(db);
    let file = File::open(&path).ok()?;
    match file.try_lock_shared() {
        Ok(()) => return None,
        Err(std::fs::TryLockError::Error(_)) => return None,
        Err(std::fs::TryLockError::WouldBlock) => {}
    }
    drop(file);
    let mut text = String::new();
    File::open(&path)
        .and_then(|f| f.take(1000).read_to_string(&mut text))
        .ok()?;
    let session = parse(text.lines().next().unwrap_or(""));
    (session.pid != i32::try_from(std::process::id()).unwrap_or(-1)).then_some(session)
}

/// Reads `pid N \`command\` since T` as written by [`who`]; what cannot be
/// read stays empty (pid 0).
fn parse(line: &str) -> Session {
    let pid = line
        .strip_prefix("pid ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let application = line
        .split('`')
        .nth(1)
        .filter(|_| line.matches('`').count() >= 2)
        .unwrap_or("")
        .to_string();
    let since = line
        .rsplit_once("` since ")
        .map(|(_, at)| at.trim().to_string())
        .filter(|at| !at.is_empty());
    Session {
        pid,
        application,
        since,
        holds_lock: true,
        active: true,
    }
}

/// The holder as its lock file names it, and the lock file.
fn holder(path: &Path) -> String {
    let mut text = String::new();
    let recorded = File::open(path)
        .and_then(|f| f.take(1000).read_to_string(&mut text))
        .ok()
        .and_then(|_| text.lines().next().map(str::trim).map(str::to_string))
        .filter(|line| !line.is_empty());
    match recorded {
        Some(line) => format!("{line}; lock file {}", path.display()),
        None => format!("lock file {}", path.display()),
    }
}

fn lock_error(db: &str, path: &Path, e: &std::io::Error) -> LedgerError {
    let message = format!("cannot take the upgrade lock on {}: {e}", path.display());
    match e.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => LedgerError::ReadOnly {
            db: db.to_string(),
            message,
        },
        _ => LedgerError::Open {
            db: db.to_string(),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn the_recorded_holder_is_read_back() {
        let s = parse("pid 42 `consolidate apply --db a b.db` since 2026-01-02T03:04:05Z");
        assert_eq!(s.pid, 42);
        assert_eq!(s.application, "consolidate apply --db a b.db");
        assert_eq!(s.since.as_deref(), Some("2026-01-02T03:04:05Z"));
        let s = parse("");
        assert_eq!((s.pid, s.application.as_str(), s.since), (0, "", None));
    }
}
