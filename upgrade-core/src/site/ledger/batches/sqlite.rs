//! [`BatchStore`] on SQLite: its own connection, without the upgrade lock
//! (the sidecar file lock of `super::super::sqlite::lock`, which `post run`
//! takes only briefly to check the schema and to complete the release) and
//! with `synchronous = FULL` like `apply`'s (the file is in WAL mode), one
//! `BEGIN IMMEDIATE` transaction per range, `:lo` / `:hi` bound as
//! named parameters by SQLite itself (which never sees a parameter inside a
//! string or a comment).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::{
    BatchProgress, BatchStepRow, BatchStore, LedgerError, RECENT_RANGES, RangeOutcome, RangeRow,
    RangeRun, StepRunError, now_utc_ms,
};
use crate::site::ledger::now_utc;
use crate::site::ledger::sqlite::{code_of, error};

/// How long a range waits for the application's write transactions.
pub const BATCH_WAIT: Duration = Duration::from_secs(5);

/// The batch ledger of a SQLite site database.
#[derive(Debug)]
pub struct SqliteBatches {
    conn: Connection,
    db: String,
}

/// An error of the step's own SQL, unless it is the environment's.
fn sql_error(db: &str, e: &rusqlite::Error) -> StepRunError {
    match code_of(e) {
        Some(
            ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::NotADatabase
            | ErrorCode::DatabaseCorrupt
            | ErrorCode::OutOfMemory,
        ) => StepRunError::Ledger(error(db, "running a range", e)),
        _ => StepRunError::Sql {
            message: e.to_string(),
            line: None,
        },
    }
}

impl SqliteBatches {
    /// Opens the file (which must exist, with the ledger schema).
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let db = path.display().to_string();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| LedgerError::Open {
            db: db.clone(),
            message: e.to_string(),
        })?;
        conn.busy_timeout(BATCH_WAIT)
            .map_err(|e| error(&db, "setting the busy timeout", &e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| error(&db, "setting synchronous = FULL", &e))?;
        Ok(SqliteBatches { conn, db })
    }
}

fn step_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BatchStepRow> {
    Ok(BatchStepRow {
        step_key: r.get(0)?,
        checksum: r.get(1)?,
        key_min: r.get(2)?,
        key_max: r.get(3)?,
        batch_size: r.get(4)?,
        state: r.get(5)?,
        error: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

fn range_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RangeRow> {
    Ok(RangeRow {
        lo: r.get(0)?,
        hi: r.get(1)?,
        attempt: r.get(2)?,
        row_count: r.get(3)?,
        started: r.get(4)?,
        finished: r.get(5)?,
    })
}

const STEP_COLUMNS: &str =
    "step_key, checksum, key_min, key_max, batch_size, state, error, updated_at";
const RANGE_COLUMNS: &str = "lo, hi, attempt, row_count, started, finished";

/// Runs a batched body statement by statement with `:lo` / `:hi` bound;
/// returns the rows the statements changed.
fn run_body(conn: &Connection, sql: &str, lo: i64, hi: i64) -> rusqlite::Result<i64> {
    let mut batch = rusqlite::Batch::new(conn, sql);
    let mut rows = 0i64;
    while let Some(mut statement) = rusqlite::fallible_iterator::FallibleIterator::next(&mut batch)?
    {
        for (name, value) in [(":lo", lo), (":hi", hi)] {
            if let Some(index) = statement.parameter_index(name)? {
                statement.raw_bind_parameter(index, value)?;
            }
        }
        let readonly = statement.readonly();
        let mut result = statement.raw_query();
        while result.next()?.is_some() {}
        if !readonly {
            rows += i64::try_from(conn.changes()).unwrap_or(i64::MAX);
        }
    }
    Ok(rows)
}

impl BatchStore for SqliteBatches {
    fn progress(&mut self) -> Result<Vec<BatchProgress>, LedgerError> {
        let db = self.db.clone();
        let err = |e: rusqlite::Error| error(&db, "reading the batch ledger", &e);
        let tx = self.conn.transaction().map_err(err)?;
        // A ledger of schema 1 or 2 (not migrated yet: only a command that
        // takes the upgrade lock migrates it) has no batch tables: nothing started.
        let tables: i64 = tx
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('upgrade_batch_steps', 'upgrade_batches')",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if tables < 2 {
            return Ok(Vec::new());
        }
        let steps: Vec<BatchStepRow> = {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {STEP_COLUMNS} FROM upgrade_batch_steps ORDER BY step_key"
                ))
                .map_err(err)?;
            stmt.query_map([], step_row)
                .map_err(err)?
                .collect::<Result<_, _>>()
                .map_err(err)?
        };
        let mut out = Vec::new();
        for step in steps {
            let (ranges_done, rows): (i64, i64) = tx
                .query_row(
                    "SELECT count(*), coalesce(sum(row_count), 0) FROM upgrade_batches WHERE step_key = ?1",
                    params![step.step_key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(err)?;
            let recent: Vec<RangeRow> = {
                let mut stmt = tx
                    .prepare(&format!(
                        "SELECT {RANGE_COLUMNS} FROM upgrade_batches WHERE step_key = ?1 ORDER BY lo DESC LIMIT {RECENT_RANGES}"
                    ))
                    .map_err(err)?;
                stmt.query_map(params![step.step_key], range_row)
                    .map_err(err)?
                    .collect::<Result<_, _>>()
                    .map_err(err)?
            };
            out.push(BatchProgress {
                ranges_done: u64::try_from(ranges_done).unwrap_or(0),
                rows,
                last: recent.first().cloned(),
                recent,
                step,
            });
        }
        Ok(out)
    }

    fn start(
        &mut self,
        step_key: &str,
        checksum: &str,
        bounds_sql: &str,
        size: i64,
    ) -> Result<BatchStepRow, StepRunError> {
        let db = self.db.clone();
        let err = |e: rusqlite::Error| error(&db, "starting the batches of a step", &e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let select = format!("SELECT {STEP_COLUMNS} FROM upgrade_batch_steps WHERE step_key = ?1");
        if let Some(row) = tx
            .query_row(&select, params![step_key], step_row)
            .optional()
            .map_err(err)?
        {
            return Ok(row);
        }
        let (min, max): (Option<i64>, Option<i64>) = tx
            .query_row(bounds_sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| sql_error(&db, &e))?;
        tx.execute(
            "INSERT INTO upgrade_batch_steps (step_key, checksum, key_min, key_max, batch_size, state, error, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'running', NULL, ?6)",
            params![step_key, checksum, min, max, size, now_utc()],
        )
        .map_err(err)?;
        let row = tx
            .query_row(&select, params![step_key], step_row)
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(row)
    }

    fn run_range(&mut self, run: &RangeRun<'_>) -> Result<RangeOutcome, StepRunError> {
        let db = self.db.clone();
        let err = |e: rusqlite::Error| error(&db, "recording a range", &e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let state: Option<String> = tx
            .query_row(
                "SELECT state FROM upgrade_batch_steps WHERE step_key = ?1",
                params![run.step_key],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        match state.as_deref() {
            Some("running") => {}
            other => {
                return Ok(RangeOutcome::NotRunning(
                    other.unwrap_or("not started").to_string(),
                ));
            }
        }
        let mut rows = 0;
        if let Some((lo, hi)) = run.range {
            let started = now_utc_ms();
            let inserted = tx.execute(
                "INSERT INTO upgrade_batches (step_key, lo, hi, attempt, row_count, started, finished) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)",
                params![run.step_key, lo, hi, run.attempt, started],
            );
            match inserted {
                Ok(_) => {}
                Err(e) if code_of(&e) == Some(ErrorCode::ConstraintViolation) => {
                    return Ok(RangeOutcome::AlreadyDone);
                }
                Err(e) => return Err(err(e).into()),
            }
            if let Some(sql) = run.sql {
                rows = run_body(&tx, sql, lo, hi).map_err(|e| sql_error(&db, &e))?;
            }
            tx.execute(
                "UPDATE upgrade_batches SET row_count = ?3, finished = ?4 WHERE step_key = ?1 AND lo = ?2",
                params![run.step_key, lo, rows, now_utc_ms()],
            )
            .map_err(err)?;
        }
        if let Some((component, step, checksum)) = run.record {
            tx.execute(
                "INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
                params![component, step, checksum, now_utc()],
            )
            .map_err(err)?;
            tx.execute(
                "UPDATE upgrade_batch_steps SET state = 'done', error = NULL, updated_at = ?2 WHERE step_key = ?1",
                params![run.step_key, now_utc()],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(RangeOutcome::Committed(rows))
    }

    fn set_state(
        &mut self,
        step_key: &str,
        state: &str,
        error_text: Option<&str>,
    ) -> Result<bool, LedgerError> {
        let db = self.db.clone();
        let err = |e: rusqlite::Error| error(&db, "changing a batched step's state", &e);
        let changed = self
            .conn
            .execute(
                "UPDATE upgrade_batch_steps SET state = ?2, error = ?3, updated_at = ?4 WHERE step_key = ?1 AND state <> 'done'",
                params![step_key, state, error_text, now_utc()],
            )
            .map_err(err)?;
        Ok(changed > 0)
    }
}
