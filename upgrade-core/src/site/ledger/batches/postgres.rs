//! [`BatchStore`] on PostgreSQL: its own session (`application_name`
//! `consolidate post run`, no advisory lock), one transaction per range,
//! `:lo` / `:hi` rewritten to `CAST($n AS BIGINT)` with the tokenizer (see
//! `model::batch::bind_postgres`), so a placeholder inside a string or a
//! comment is never touched.

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls};

use super::{
    BatchProgress, BatchStepRow, BatchStore, LedgerError, RECENT_RANGES, RangeOutcome, RangeRow,
    RangeRun, StepRunError, now_utc_ms,
};
use crate::model::batch::bind_postgres;
use crate::site::ledger::postgres::{CONNECT_TIMEOUT, error, message};
use crate::site::ledger::{now_utc, redact};

/// The batch ledger of a PostgreSQL site database.
pub struct PostgresBatches {
    client: Client,
    db: String,
}

impl std::fmt::Debug for PostgresBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBatches")
            .field("db", &self.db)
            .finish()
    }
}

fn sql_error(db: &str, e: &postgres::Error) -> StepRunError {
    if e.as_db_error().is_none() {
        return StepRunError::Ledger(error(db, "running a range", e));
    }
    StepRunError::Sql {
        message: message(e),
        line: None,
    }
}

const STEP_COLUMNS: &str =
    "step_key, checksum, key_min, key_max, batch_size, state, error, updated_at";

fn step_row(r: &postgres::Row) -> BatchStepRow {
    BatchStepRow {
        step_key: r.get(0),
        checksum: r.get(1),
        key_min: r.get(2),
        key_max: r.get(3),
        batch_size: r.get(4),
        state: r.get(5),
        error: r.get(6),
        updated_at: r.get(7),
    }
}

impl PostgresBatches {
    /// Connects (the ledger schema must exist).
    pub fn open(url: &str) -> Result<Self, LedgerError> {
        let db = redact(url);
        let mut config: Config = url
            .parse()
            .map_err(|e: postgres::Error| LedgerError::BadUrl {
                url: db.clone(),
                reason: message(&e),
            })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("consolidate post run");
        let client = config.connect(NoTls).map_err(|e| LedgerError::Open {
            db: db.clone(),
            message: message(&e),
        })?;
        Ok(PostgresBatches { client, db })
    }
}

impl BatchStore for PostgresBatches {
    fn progress(&mut self) -> Result<Vec<BatchProgress>, LedgerError> {
        let db = self.db.clone();
        let err = |e: postgres::Error| error(&db, "reading the batch ledger", &e);
        let mut tx = self.client.transaction().map_err(err)?;
        // A ledger of schema 1 or 2 (not migrated yet: only a command that
        // takes the upgrade lock migrates it) has no batch tables: nothing started.
        let migrated: bool = tx
            .query_one(
                "SELECT to_regclass('upgrade_batch_steps') IS NOT NULL AND to_regclass('upgrade_batches') IS NOT NULL",
                &[],
            )
            .map_err(err)?
            .get(0);
        if !migrated {
            return Ok(Vec::new());
        }
        let steps: Vec<BatchStepRow> = tx
            .query(
                &format!(
                    "SELECT {STEP_COLUMNS} FROM upgrade_batch_steps ORDER BY step_key COLLATE \"C\""
                ),
                &[],
            )
            .map_err(err)?
            .iter()
            .map(step_row)
            .collect();
        let mut out = Vec::new();
        for step in steps {
            let r = tx
                .query_one(
                    "SELECT count(*), coalesce(sum(row_count), 0)::bigint FROM upgrade_batches WHERE step_key = $1",
                    &[&step.step_key],
                )
                .map_err(err)?;
            let (count, rows): (i64, i64) = (r.get(0), r.get(1));
            let recent: Vec<RangeRow> = tx
                .query(
                    &format!(
                        "SELECT lo, hi, attempt, row_count, started, finished FROM upgrade_batches WHERE step_key = $1 ORDER BY lo DESC LIMIT {RECENT_RANGES}"
                    ),
                    &[&step.step_key],
                )
                .map_err(err)?
                .iter()
                .map(|r| RangeRow {
                    lo: r.get(0),
                    hi: r.get(1),
                    attempt: i64::from(r.get::<_, i32>(2)),
                    row_count: r.get(3),
                    started: r.get(4),
                    finished: r.get(5),
                })
                .collect();
            out.push(BatchProgress {
                ranges_done: u64::try_from(count).unwrap_or(0),
                rows,
                last: recent.first().cloned(),
                recent,
                step,
            });
        }
        tx.commit().map_err(err)?;
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
        let err = |e: postgres::Error| error(&db, "starting the batches of a step", &e);
        let mut tx = self.client.transaction().map_err(err)?;
        let select = format!("SELECT {STEP_COLUMNS} FROM upgrade_batch_steps WHERE step_key = $1");
        if let Some(row) = tx.query_opt(&select, &[&step_key]).map_err(err)? {
            return Ok(step_row(&row));
        }
        let r = tx
            .query_one(bounds_sql, &[])
            .map_err(|e| sql_error(&db, &e))?;
        let (min, max): (Option<i64>, Option<i64>) = (r.get(0), r.get(1));
        tx.execute(
            "INSERT INTO upgrade_batch_steps (step_key, checksum, key_min, key_max, batch_size, state, error, updated_at) VALUES ($1, $2, $3, $4, $5, 'running', NULL, $6) ON CONFLICT (step_key) DO NOTHING",
            &[&step_key, &checksum, &min, &max, &size, &now_utc()],
        )
        .map_err(err)?;
        let row = tx.query_one(&select, &[&step_key]).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(step_row(&row))
    }

    fn run_range(&mut self, run: &RangeRun<'_>) -> Result<RangeOutcome, StepRunError> {
        let db = self.db.clone();
        let err = |e: postgres::Error| error(&db, "recording a range", &e);
        let mut tx = self.client.transaction().map_err(err)?;
        let state: Option<String> = tx
            .query_opt(
                "SELECT state FROM upgrade_batch_steps WHERE step_key = $1 FOR UPDATE",
                &[&run.step_key],
            )
            .map_err(err)?
            .map(|r| r.get(0));
        match state.as_deref() {
            Some("running") => {}
            other => {
                return Ok(RangeOutcome::NotRunning(
                    other.unwrap_or("not started").to_string(),
                ));
            }
        }
        let mut rows = 0i64;
        if let Some((lo, hi)) = run.range {
            let attempt = i32::try_from(run.attempt).unwrap_or(i32::MAX);
            let inserted = tx.execute(
                "INSERT INTO upgrade_batches (step_key, lo, hi, attempt, row_count, started, finished) VALUES ($1, $2, $3, $4, 0, $5, $5)",
                &[&run.step_key, &lo, &hi, &attempt, &now_utc_ms()],
            );
            match inserted {
                Ok(_) => {}
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    return Ok(RangeOutcome::AlreadyDone);
                }
                Err(e) => return Err(err(e).into()),
            }
            if let Some(sql) = run.sql {
                for statement in bind_postgres(sql) {
                    let values: Vec<&(dyn ToSql + Sync)> = statement
                        .params
                        .iter()
                        .map(|p| if *p == "lo" { &lo as _ } else { &hi as _ })
                        .collect();
                    rows += i64::try_from(
                        tx.execute(statement.sql.as_str(), &values)
                            .map_err(|e| sql_error(&db, &e))?,
                    )
                    .unwrap_or(i64::MAX);
                }
            }
            tx.execute(
                "UPDATE upgrade_batches SET row_count = $3, finished = $4 WHERE step_key = $1 AND lo = $2",
                &[&run.step_key, &lo, &rows, &now_utc_ms()],
            )
            .map_err(err)?;
        }
        if let Some((component, step, checksum)) = run.record {
            tx.execute(
                "INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES ($1, $2, $3, $4)",
                &[&component, &step, &checksum, &now_utc()],
            )
            .map_err(err)?;
            tx.execute(
                "UPDATE upgrade_batch_steps SET state = 'done', error = NULL, updated_at = $2 WHERE step_key = $1",
                &[&run.step_key, &now_utc()],
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
        let changed = self
            .client
            .execute(
                "UPDATE upgrade_batch_steps SET state = $2, error = $3, updated_at = $4 WHERE step_key = $1 AND state <> 'done'",
                &[&step_key, &state, &error_text, &now_utc()],
            )
            .map_err(|e| error(&db, "changing a batched step's state", &e))?;
        Ok(changed > 0)
    }
}
