//! `SqliteLedger`: the ledger in a SQLite site database (rusqlite, bundled).
//!
//! Locking: "one upgrade at a time" is an operating-system file lock on the
//! sidecar file `<db>.lock` ([`lock`]), taken by a ledger opened for
//! [`Access::Apply`] and held until it is dropped; a second writer is refused
//! at once, naming the holder. SQLite's own locks are only taken for each
//! short write transaction (`BEGIN IMMEDIATE`, waiting at most
//! [`WRITE_WAIT`] for the application's writes): the database is switched to
//! WAL journal mode (persistent in the file), so readers — the application's
//! per-request maintenance query, `status` — read the last committed state
//! while a step runs and never wait for it, and the writer never waits for
//! readers. The apply connection uses `synchronous = FULL`: every commit (a
//! step and its ledger row, a maintenance change) is on disk before the next
//! step starts. Readers wait up to [`READ_WAIT`] (WAL readers only wait for
//! a checkpoint or recovery).
//!
//! Before anything is opened, the `--db` file's folder must exist and (to
//! write) be writable: SQLite keeps its journal there. Errors of the
//! environment (read-only, busy, disk full) are never reported as errors of
//! a step.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::row_order::COLUMNS;
use super::{
    Access, Database, INTERRUPTED_KEY, Ledger, LedgerError, MARK_INTERRUPTED_SQL, SCHEMA_SQL,
    SiteChange, SiteRecord, StepRun, StepRunError, Stored, check_schema_version, migration_sql,
    missing_site_row, now_utc, seed_sql, site_record,
};

/// How long a write transaction of `apply` waits for the application's own
/// write transactions before it gives up with [`LedgerError::Busy`].
pub const WRITE_WAIT: Duration = Duration::from_secs(5);

/// How long a read (`status`, `plan`) waits while another process writes.
pub const READ_WAIT: Duration = Duration::from_secs(1);

/// The ledger of a SQLite database file.
#[derive(Debug)]
pub struct SqliteLedger {
    // Declared before the lock: the connection closes before the lock is released.
    conn: Connection,
    path: PathBuf,
    lock: Option<lock::UpgradeLock>,
}

impl SqliteLedger {
    /// Opens the file. With [`Access::Read`] a missing file gives `Ok(None)` and
    /// nothing is created; with [`Access::Apply`] the file and the schema are
    /// created if needed, the upgrade lock is taken and the file is switched
    /// to WAL journal mode.
    pub fn open(path: &Path, access: Access) -> Result<Option<Self>, LedgerError> {
        let db = path.display().to_string();
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !folder.is_dir() {
            return Err(LedgerError::NoFolder {
                db,
                folder: folder.display().to_string(),
            });
        }
        if path.is_dir() {
            return Err(LedgerError::Open {
                db,
                message: "this is a folder: --db names the database file (e.g. FOLDER/site.db)"
                    .into(),
            });
        }
        match access {
            Access::Read => {
                match std::fs::metadata(path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => {
                        return Err(LedgerError::Open {
                            db,
                            message: e.to_string(),
                        });
                    }
                    Ok(_) => {}
                }
                // Read-write without create, so that SQLite can roll back the hot
                // journal of a killed run; SQLite falls back to read-only on its own
                // when the file is write-protected. Nothing is written.
                let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let conn =
                    Connection::open_with_flags(path, flags).map_err(|e| open_error(&db, &e))?;
                let conn = read_only::readable(&db, path, &folder, conn)?;
                conn.busy_timeout(READ_WAIT)
                    .map_err(|e| error(&db, "setting the busy timeout", &e))?;
                Ok(Some(SqliteLedger {
                    conn,
                    path: path.to_path_buf(),
                    lock: None,
                }))
            }
            Access::Apply => {
                if !writable(&folder) {
                    return Err(LedgerError::ReadOnlyFolder {
                        db,
                        folder: folder.display().to_string(),
                    });
                }
                let upgrade_lock = lock::acquire(path)?;
                let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let mut conn =
                    Connection::open_with_flags(path, flags).map_err(|e| open_error(&db, &e))?;
                if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
                    return Err(LedgerError::ReadOnly {
                        db,
                        message: "the file (or its folder) is write-protected".into(),
                    });
                }
                conn.busy_timeout(WRITE_WAIT)
                    .map_err(|e| error(&db, "setting the busy timeout", &e))?;
                conn.set_transaction_behavior(TransactionBehavior::Immediate);
                wal_mode(&db, &conn)?;
                let mut ledger = SqliteLedger {
                    conn,
                    path: path.to_path_buf(),
                    lock: Some(upgrade_lock),
                };
                ledger.lock_and_create_schema()?;
                Ok(Some(ledger))
            }
        }
    }

    fn db(&self) -> String {
        self.path.display().to_string()
    }

    fn lock_and_create_schema(&mut self) -> Result<(), LedgerError> {
        let db = self.db();
        debug_assert!(
            self.lock.is_some(),
            "the schema changes under the upgrade lock"
        );
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| error(&db, "creating the ledger tables", &e))?;
        let result = (|| {
            if table_exists(&self.conn, "upgrade_meta")
                .map_err(|e| error(&db, "reading the schema", &e))?
            {
                let found = check_schema_version(
                    &db,
                    schema_version(&self.conn)
                        .map_err(|e| error(&db, "reading the schema version", &e))?,
                )?;
                self.conn
                    .execute_batch(&migration_sql(found))
                    .map_err(|e| error(&db, "migrating the ledger tables", &e))
            } else {
                let sql = format!("{SCHEMA_SQL}{}", seed_sql(&now_utc()));
                self.conn
                    .execute_batch(&sql)
                    .map_err(|e| error(&db, "creating the ledger tables", &e))
            }?;
            key_order::store_in_key_order(&self.conn)
                .map_err(|e| error(&db, "storing the ledger in key order", &e))
                .map(drop)
        })();
        match result {
            Ok(()) => self
                .conn
                .execute_batch("COMMIT")
                .map_err(|e| error(&db, "creating the ledger tables", &e)),
            Err(e) => {
                // The error is what counts; the rollback only ends the transaction.
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// Switches the file to WAL journal mode (a no-op when it is in it already;
/// the mode is stored in the file) and makes every commit durable. A file
/// SQLite cannot switch (a database in memory, say) keeps its mode.
fn wal_mode(db: &str, conn: &Connection) -> Result<(), LedgerError> {
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| error(db, "switching to WAL journal mode", &e))?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        return Err(LedgerError::Query {
            db: db.to_string(),
            action: "switching to WAL journal mode".into(),
            message: format!("SQLite kept journal mode {mode}"),
        });
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| error(db, "setting synchronous = FULL", &e))
}

/// Can a file be created in `folder` (as SQLite must, for its journal)?
fn writable(folder: &Path) -> bool {
    tempfile::Builder::new()
        .prefix(".consolidate-write-check")
        .tempfile_in(folder)
        .is_ok()
}

fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

fn schema_version(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM upgrade_meta WHERE key = 'schema_version'",
        [],
        |r| r.get(0),
    )
    .optional()
}

/// The `upgrade_site` record (an error when the row is missing).
fn site_row(conn: &Connection, db: &str) -> Result<SiteRecord, LedgerError> {
    let site = conn
        .query_row(
            "SELECT completed_release, version, revision FROM upgrade_site WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            },
        )
        .optional()
        .map_err(|e| error(db, "reading the ledger", &e))?
        .ok_or_else(|| missing_site_row(db))?;
    site_record(db, site.0, site.1, site.2)
}

/// The SQLite result code of a driver error, if it has one.
pub(in crate::site::ledger) fn code_of(e: &rusqlite::Error) -> Option<ErrorCode> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    }
}

fn open_error(db: &str, e: &rusqlite::Error) -> LedgerError {
    match code_of(e) {
        Some(ErrorCode::ReadOnly) => LedgerError::ReadOnly {
            db: db.to_string(),
            message: e.to_string(),
        },
        _ => LedgerError::Open {
            db: db.to_string(),
            message: e.to_string(),
        },
    }
}

/// Maps a driver error to the ledger error that explains it.
pub(in crate::site::ledger) fn error(db: &str, action: &str, e: &rusqlite::Error) -> LedgerError {
    match code_of(e) {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            LedgerError::Busy { db: db.to_string() }
        }
        Some(ErrorCode::ReadOnly) => LedgerError::ReadOnly {
            db: db.to_string(),
            message: e.to_string(),
        },
        Some(ErrorCode::NotADatabase | ErrorCode::CannotOpen) => LedgerError::Open {
            db: db.to_string(),
            message: e.to_string(),
        },
        _ => LedgerError::Query {
            db: db.to_string(),
            action: action.to_string(),
            message: e.to_string(),
        },
    }
}

impl Ledger for SqliteLedger {
    fn database(&self) -> Database {
        Database::Sqlite
    }

    fn describe(&self) -> String {
        self.db()
    }

    fn read_with(&mut self, early: &mut dyn FnMut(&SiteRecord)) -> Result<Stored, LedgerError> {
        let db = self.db();
        let err = |e: rusqlite::Error| error(&db, "reading the ledger", &e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(err)?;
        if !table_exists(&tx, "upgrade_meta").map_err(err)? {
            return Ok(Stored::default());
        }
        let version = check_schema_version(&db, schema_version(&tx).map_err(err)?)?;
        let components = if version >= 4 {
            read_components(&tx).map_err(err)?
        } else {
            Vec::new()
        };
        let site = site_row(&tx, &db)?;
        // Before the rows: a caller loads what the record decides meanwhile.
        early(&site);
        // The table in storage order: key order when it is stored without
        // a row id (sqlite/key_order.rs), sorted here otherwise (SQLite's
        // ORDER BY would walk the primary-key index and look up every row
        // in the table). BINARY collation is byte order, as `str` orders.
        let mut stmt = tx
            .prepare(&format!(
                "SELECT {} FROM upgrade_ledger",
                COLUMNS.join(", ")
            ))
            .map_err(err)?;
        let mut read = super::row_order::Read::default();
        let mut found = stmt.query([]).map_err(err)?;
        while let Some(r) = found.next().map_err(err)? {
            // Borrowed from SQLite and copied once, into the rows read; a
            // column that is not text is an error (the bytes are checked to
            // be UTF-8 once, all together, when the rows are built).
            let text = |i: usize| -> rusqlite::Result<&[u8]> {
                match r.get_ref(i)? {
                    ValueRef::Text(bytes) => Ok(bytes),
                    value => Err(rusqlite::Error::InvalidColumnType(
                        i,
                        COLUMNS[i].to_owned(),
                        value.data_type(),
                    )),
                }
            };
            read.push([
                text(0).map_err(err)?,
                text(1).map_err(err)?,
                text(2).map_err(err)?,
                text(3).map_err(err)?,
            ]);
        }
        drop(found);
        drop(stmt);
        let rows = read.sorted().map_err(|e| e.in_ledger(&db))?;
        let interrupted = tx
            .query_row(
                "SELECT value FROM upgrade_meta WHERE key = ?1",
                params![INTERRUPTED_KEY],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(err)?;
        Ok(Stored {
            exists: true,
            rows,
            site,
            interrupted,
            // The other process holding the upgrade lock, if any: readers
            // are not locked out, so `status` must say that an apply runs.
            sessions: match self.lock {
                Some(_) => Vec::new(),
                None => lock::holder_session(&self.path).into_iter().collect(),
            },
            components,
        })
    }

    fn any_row(
        &mut self,
        wanted: &mut dyn FnMut(&SiteRecord, &str, &str) -> bool,
    ) -> Result<(SiteRecord, bool), LedgerError> {
        let db = self.db();
        any_row::any_row(&mut self.conn, &db, wanted)
    }

    fn run_step(&mut self, run: &StepRun<'_>) -> Result<(), StepRunError> {
        let db = self.db();
        let record = "INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)";
        let now = now_utc();
        if run.transaction {
            let tx = self
                .conn
                .transaction()
                .map_err(|e| error(&db, "starting the step's transaction", &e))?;
            if let Some(sql) = run.sql {
                run_script(&db, &tx, sql)?;
            }
            tx.execute(record, params![run.component, run.step, run.checksum, now])
                .map_err(|e| error(&db, "recording the step in the ledger", &e))?;
            tx.commit()
                .map_err(|e| error(&db, "committing the step", &e))?;
        } else {
            let key = format!("{}/{}", run.component, run.step);
            self.conn
                .execute(&MARK_INTERRUPTED_SQL.replace("{value}", "?1"), params![key])
                .map_err(|e| error(&db, "marking the step as running", &e))?;
            if let Some(sql) = run.sql {
                run_script(&db, &self.conn, sql)?;
            }
            let tx = self
                .conn
                .transaction()
                .map_err(|e| error(&db, "starting the step's record", &e))?;
            tx.execute(record, params![run.component, run.step, run.checksum, now])
                .map_err(|e| error(&db, "recording the step in the ledger", &e))?;
            tx.execute(
                "DELETE FROM upgrade_meta WHERE key = ?1",
                params![INTERRUPTED_KEY],
            )
            .map_err(|e| error(&db, "recording the step in the ledger", &e))?;
            tx.commit()
                .map_err(|e| error(&db, "committing the step's record", &e))?;
        }
        Ok(())
    }

    fn maintenance(&mut self) -> &mut dyn super::MaintenanceStore {
        self
    }

    fn commit(&mut self, change: &SiteChange) -> Result<(), LedgerError> {
        let db = self.db();
        let err = |e: rusqlite::Error| error(&db, "updating the ledger", &e);
        let tx = self.conn.transaction().map_err(err)?;
        write_change(&tx, change).map_err(err)?;
        tx.commit().map_err(err)
    }

    fn install(&mut self, sql: Option<&str>, change: &SiteChange) -> Result<(), StepRunError> {
        let db = self.db();
        let err = |e: rusqlite::Error| error(&db, "recording the install in the ledger", &e);
        let tx = self.conn.transaction().map_err(err)?;
        if let Some(sql) = sql {
            run_script(&db, &tx, sql)?;
        }
        write_change(&tx, change).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(())
    }
}

mod any_row;
mod delete;
mod key_order;
pub mod lock;
mod maintenance;
mod read_only;
mod script;
mod write;

use script::run_script;
use write::{read_components, write_change};

#[cfg(test)]
mod rows_tests;
#[cfg(test)]
mod tests;
