//! The upgrade lock of a SQLite site: an operating-system file lock
//! (`flock`, through std's `File::try_lock`) on the sidecar file `<db>.lock`
//! next to the database, independent of SQLite's own locks. The holder writes
//! its pid and command into the file, so that a refused run can name it; the
//! operating system releases the lock when the holder exits or is killed.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use super::super::now_utc;
use super::LedgerError;

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
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(LedgerError::Locked {
                db: shown,
                holder: Some(holder(&path)),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(&shown, &path, &e)),
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
