//! Reading a WAL-mode database from a folder this user cannot write: SQLite
//! needs the `-shm` (and `-wal`) files next to the database to read in WAL
//! mode, and cannot create them there. When no `-wal` file exists (no
//! connection has the database open for writing), the file is read as
//! `immutable` instead: without locks, which is safe because nobody holds
//! the database, and needs nothing written. (A writer that starts while
//! this read runs could make it see a torn state; `status` would then only
//! print a stale or an odd view, nothing is written.)

use std::path::Path;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{LedgerError, code_of, open_error, writable};

/// Does the connection read? If it cannot because SQLite cannot set up WAL
/// shared memory in a read-only folder, and no `-wal` file is there, returns
/// an `immutable` read-only connection instead.
pub fn readable(
    db: &str,
    path: &Path,
    folder: &Path,
    conn: Connection,
) -> Result<Connection, LedgerError> {
    let probe = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    });
    let Err(e) = probe else {
        return Ok(conn);
    };
    let wal = {
        let mut name = path.as_os_str().to_owned();
        name.push("-wal");
        std::path::PathBuf::from(name)
    };
    let cannot_set_up = matches!(
        code_of(&e),
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen)
    );
    if !cannot_set_up || wal.exists() || writable(folder) {
        // Any other error shows when the ledger is read.
        return Ok(conn);
    }
    drop(conn);
    let absolute = std::path::absolute(path).map_err(|e| LedgerError::Open {
        db: db.to_string(),
        message: e.to_string(),
    })?;
    let uri = format!("file:{}?immutable=1", escape(&absolute.to_string_lossy()));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(uri, flags).map_err(|e| open_error(db, &e))
}

/// Escapes the characters a `file:` URI path gives a meaning to.
fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn uri_characters_are_escaped() {
        assert_eq!(escape("/a b/x?y#z%.db"), "/a b/x%3fy%23z%25.db");
    }
}
