//! `PostgresLedger`: the ledger in a PostgreSQL site database (`postgres` crate).
//!
//! The tables live in the connection's current schema (`search_path`).
//! Locking: a ledger opened for [`Access::Apply`] takes the session-level
//! advisory lock [`LOCK_KEY`] with `pg_try_advisory_lock`, refusing at once if
//! another session holds it; the server releases it when the session ends,
//! also when the process is killed. Reads take no lock, but see who holds it:
//! every session of this tool sets its `application_name` (`consolidate
//! apply`, and `consolidate apply component/step` while a `transaction: no`
//! step runs), so that `status` and `apply` can name the session (pid, since
//! when) still running a step whose client was killed, instead of calling
//! the step interrupted while the server still runs it.

mod maintenance;
mod write;

use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, IsolationLevel, NoTls};
use write::write_change;

use super::{
    Access, Database, INTERRUPTED_KEY, InstalledComponent, Ledger, LedgerError,
    MARK_INTERRUPTED_SQL, SCHEMA_SQL, Session, SiteChange, SiteRecord, StepRun, StepRunError,
    Stored, application_name, check_schema_version, migration_sql, missing_site_row, now_utc,
    redact, seed_sql, site_record,
};

/// The advisory lock key of upgrades (`"consolid"` as a big-endian integer).
pub const LOCK_KEY: i64 = 0x636f_6e73_6f6c_6964;

/// The other sessions of this tool in the database, and any holding the
/// upgrade lock (`$1`, `$2`: the lock key's two halves, as `pg_locks` shows them).
const SESSIONS_SQL: &str = "\
SELECT a.pid, coalesce(a.application_name, ''), \
       to_char(coalesce(a.query_start, a.backend_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
       EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted \
               AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.objsubid = 1), \
       coalesce(a.state = 'active', false) \
FROM pg_stat_activity a \
WHERE a.pid <> pg_backend_pid() AND a.datname = current_database() \
  AND (a.application_name LIKE 'consolidate apply%' \
       OR EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted \
                  AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.objsubid = 1)) \
ORDER BY a.pid";

/// Reads the other sessions of this tool.
fn sessions(client: &mut impl postgres::GenericClient) -> Result<Vec<Session>, postgres::Error> {
    let high = LOCK_KEY >> 32;
    let low = LOCK_KEY & 0xffff_ffff;
    Ok(client
        .query(SESSIONS_SQL, &[&high, &low])?
        .into_iter()
        .map(|r| Session {
            pid: r.get(0),
            application: r.get(1),
            since: r.get(2),
            holds_lock: r.get(3),
            active: r.get(4),
        })
        .collect())
}

/// How long connecting may take when the URL does not say (`connect_timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The ledger of a PostgreSQL database.
pub struct PostgresLedger {
    client: Client,
    db: String,
    locked: bool,
}

impl Drop for PostgresLedger {
    /// Releases the upgrade lock before the connection closes, so that the
    /// next command never finds it held by a session that is ending.
    fn drop(&mut self) {
        if self.locked {
            let _ = self
                .client
                .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]);
        }
    }
}

impl std::fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLedger")
            .field("db", &self.db)
            .finish()
    }
}

/// The server's message for an error: severity, SQLSTATE, message, detail, hint.
pub fn message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut out = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                out.push_str(&format!(" (detail: {detail})"));
            }
            if let Some(hint) = db.hint() {
                out.push_str(&format!(" (server hint: {hint})"));
            }
            out
        }
        None => {
            let mut out = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                let text = s.to_string();
                if !out.contains(&text) {
                    out.push_str(&format!(": {text}"));
                }
                source = s.source();
            }
            out
        }
    }
}

/// Maps a driver error to the ledger error that explains it.
pub(in crate::site::ledger) fn error(db: &str, action: &str, e: &postgres::Error) -> LedgerError {
    let code = e.code();
    if code == Some(&SqlState::INSUFFICIENT_PRIVILEGE)
        || code == Some(&SqlState::READ_ONLY_SQL_TRANSACTION)
    {
        return LedgerError::ReadOnly {
            db: db.to_string(),
            message: message(e),
        };
    }
    if e.is_closed() || e.as_db_error().is_none() && code.is_none() {
        return LedgerError::Open {
            db: db.to_string(),
            message: message(e),
        };
    }
    LedgerError::Query {
        db: db.to_string(),
        action: action.to_string(),
        message: message(e),
    }
}

impl PostgresLedger {
    /// Connects. With [`Access::Apply`] also takes the advisory lock and
    /// creates the schema if needed.
    pub fn open(url: &str, access: Access) -> Result<Self, LedgerError> {
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
        config.application_name(
            match access {
                Access::Apply => application_name(None),
                Access::Read => "consolidate".to_string(),
            }
            .as_str(),
        );
        let client = config.connect(NoTls).map_err(|e| LedgerError::Open {
            db: db.clone(),
            message: message(&e),
        })?;
        let mut ledger = PostgresLedger {
            client,
            db,
            locked: false,
        };
        if access == Access::Apply {
            ledger.lock()?;
            ledger.create_schema()?;
        }
        Ok(ledger)
    }

    fn lock(&mut self) -> Result<(), LedgerError> {
        let got: bool = self
            .client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
            .map_err(|e| error(&self.db, "taking the upgrade lock", &e))?
            .get(0);
        if got {
            self.locked = true;
            return Ok(());
        }
        let holder = sessions(&mut self.client)
            .ok()
            .and_then(|all| all.into_iter().find(|s| s.holds_lock))
            .map(|s| s.to_string());
        Err(LedgerError::Locked {
            db: self.db.clone(),
            holder,
        })
    }

    fn create_schema(&mut self) -> Result<(), LedgerError> {
        let db = self.db.clone();
        let err = |e: postgres::Error| error(&db, "creating the ledger tables", &e);
        let mut tx = self.client.transaction().map_err(err)?;
        let exists: bool = tx
            .query_one("SELECT to_regclass('upgrade_meta') IS NOT NULL", &[])
            .map_err(err)?
            .get(0);
        if exists {
            let version: Option<String> = tx
                .query_opt(
                    "SELECT value FROM upgrade_meta WHERE key = 'schema_version'",
                    &[],
                )
                .map_err(err)?
                .map(|r| r.get(0));
            let found = check_schema_version(&db, version)?;
            tx.batch_execute(&migration_sql(found)).map_err(err)?;
        } else {
            tx.batch_execute(&format!("{SCHEMA_SQL}{}", seed_sql(&now_utc())))
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}

impl Ledger for PostgresLedger {
    fn database(&self) -> Database {
        Database::Postgres
    }

    fn describe(&self) -> String {
        self.db.clone()
    }

    fn read_with(&mut self, early: &mut dyn FnMut(&SiteRecord)) -> Result<Stored, LedgerError> {
        let db = self.db.clone();
        let err = |e: postgres::Error| error(&db, "reading the ledger", &e);
        let mut tx = self
            .client
            .build_transaction()
            .read_only(true)
            .isolation_level(IsolationLevel::RepeatableRead)
            .start()
            .map_err(err)?;
        let exists: bool = tx
            .query_one("SELECT to_regclass('upgrade_meta') IS NOT NULL", &[])
            .map_err(err)?
            .get(0);
        if !exists {
            return Ok(Stored::default());
        }
        let version: Option<String> = tx
            .query_opt(
                "SELECT value FROM upgrade_meta WHERE key = 'schema_version'",
                &[],
            )
            .map_err(err)?
            .map(|r| r.get(0));
        let version = check_schema_version(&db, version)?;
        let components = if version >= 4 {
            tx.query(
                "SELECT component, source, covers, checksum, installed_at FROM upgrade_components ORDER BY component COLLATE \"C\"",
                &[],
            )
            .map_err(err)?
            .into_iter()
            .map(|r| InstalledComponent {
                component: r.get(0),
                source: r.get(1),
                covers: r.get(2),
                checksum: r.get(3),
                installed_at: r.get(4),
            })
            .collect()
        } else {
            Vec::new()
        };
        let site = tx
            .query_opt(
                "SELECT completed_release, version, revision FROM upgrade_site WHERE id = 1",
                &[],
            )
            .map_err(err)?
            .map(|r| {
                (
                    r.get::<_, Option<String>>(0),
                    r.get::<_, Option<String>>(1),
                    r.get::<_, Option<i64>>(2),
                )
            })
            .ok_or_else(|| missing_site_row(&db))?;
        let site = site_record(&db, site.0, site.1, site.2)?;
        // Before the rows: a caller loads what the record decides meanwhile.
        early(&site);
        let found = tx
            .query(
                "SELECT component, step, checksum, applied_at FROM upgrade_ledger ORDER BY component COLLATE \"C\", step COLLATE \"C\"",
                &[],
            )
            .map_err(err)?;
        let mut read = super::row_order::Read::default();
        for r in &found {
            // `try_get`: a NULL column is an error naming the ledger, not a panic.
            let text = |i: usize| r.try_get::<_, &str>(i).map(str::as_bytes).map_err(err);
            read.push([text(0)?, text(1)?, text(2)?, text(3)?]);
        }
        drop(found);
        let rows = read.in_order().map_err(|e| e.in_ledger(&db))?;
        let interrupted: Option<String> = tx
            .query_opt(
                "SELECT value FROM upgrade_meta WHERE key = $1",
                &[&INTERRUPTED_KEY],
            )
            .map_err(err)?
            .map(|r| r.get(0));
        let sessions = sessions(&mut tx).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Stored {
            exists: true,
            rows,
            site,
            interrupted,
            sessions,
            components,
        })
    }

    fn run_step(&mut self, run: &StepRun<'_>) -> Result<(), StepRunError> {
        let db = self.db.clone();
        let now = now_utc();
        if run.transaction {
            // Two round trips a step: `BEGIN` with the step's SQL, then its
            // ledger row with `COMMIT` (`psql` running the same script makes
            // four). Any failure rolls the whole step back.
            let begin = format!("{BEGIN_STEP}{}", run.sql.unwrap_or(""));
            let outcome = self
                .client
                .batch_execute(&begin)
                .map_err(|e| sql_error(&db, run.sql.unwrap_or(""), BEGIN_STEP.len(), &e))
                .and_then(|()| {
                    let row = [run.component, run.step, run.checksum, now.as_str()].map(literal);
                    self.client
                        .batch_execute(&format!(
                            "{RECORD_STEP} ({}, {}, {}, {});\nCOMMIT",
                            row[0], row[1], row[2], row[3]
                        ))
                        .map_err(|e| error(&db, "recording the step in the ledger", &e))
                        .map_err(StepRunError::Ledger)
                });
            if let Err(e) = outcome {
                // Nothing of the step stays; a connection that is gone has
                // rolled back already.
                let _ = self.client.batch_execute("ROLLBACK");
                return Err(e);
            }
        } else {
            let key = format!("{}/{}", run.component, run.step);
            let running = application_name(Some(&key));
            self.client
                .execute(
                    "SELECT set_config('application_name', $1, false)",
                    &[&running],
                )
                .map_err(|e| error(&db, "naming the session", &e))?;
            self.client
                .execute(&MARK_INTERRUPTED_SQL.replace("{value}", "$1"), &[&key])
                .map_err(|e| error(&db, "marking the step as running", &e))?;
            if let Some(sql) = run.sql {
                self.client
                    .batch_execute(sql)
                    .map_err(|e| sql_error(&db, sql, 0, &e))?;
            }
            self.client
                .execute(
                    "SELECT set_config('application_name', $1, false)",
                    &[&application_name(None)],
                )
                .map_err(|e| error(&db, "naming the session", &e))?;
            // Typed parameters: the row is recorded with the unnamed
            // statement in one round trip (`execute` with a text would
            // prepare a named statement first, one more round trip).
            let text = postgres::types::Type::TEXT;
            let values: [(&(dyn postgres::types::ToSql + Sync), _); 4] = [
                (&run.component, text.clone()),
                (&run.step, text.clone()),
                (&run.checksum, text.clone()),
                (&now, text),
            ];
            let mut tx = self
                .client
                .transaction()
                .map_err(|e| error(&db, "starting the step's record", &e))?;
            tx.execute_typed(&format!("{RECORD_STEP} ($1, $2, $3, $4)"), &values)
                .map_err(|e| error(&db, "recording the step in the ledger", &e))?;
            tx.execute(
                "DELETE FROM upgrade_meta WHERE key = $1",
                &[&INTERRUPTED_KEY],
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
        let db = self.db.clone();
        let err = |e: postgres::Error| error(&db, "updating the ledger", &e);
        let mut tx = self.client.transaction().map_err(err)?;
        write_change(&mut tx, change).map_err(err)?;
        tx.commit().map_err(err)
    }

    fn install(&mut self, sql: Option<&str>, change: &SiteChange) -> Result<(), StepRunError> {
        let db = self.db.clone();
        let err = |e: postgres::Error| error(&db, "recording the install in the ledger", &e);
        let mut tx = self.client.transaction().map_err(err)?;
        if let Some(sql) = sql {
            tx.batch_execute(sql)
                .map_err(|e| sql_error(&db, sql, 0, &e))?;
        }
        write_change(&mut tx, change).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(())
    }
}

/// A failure of a step's own SQL: the server's message, unless the
/// connection itself broke (then it is a ledger error).
/// The ledger row of a step, before its values.
const RECORD_STEP: &str =
    "INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES";

/// Sent before a step's SQL, in the same message.
const BEGIN_STEP: &str = "BEGIN;\n";

/// A text as an SQL string literal (quotes doubled; the values recorded are
/// names, checksums and times, which hold no backslash).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The error of a step's `script`, sent after `sent_before` characters of
/// other SQL in the same message.
fn sql_error(db: &str, script: &str, sent_before: usize, e: &postgres::Error) -> StepRunError {
    if let Some(server) = e.as_db_error() {
        // The server's position counts characters from 1 in the text sent.
        let line = match server.position() {
            Some(postgres::error::ErrorPosition::Original(at)) => {
                let at = usize::try_from(*at)
                    .unwrap_or(1)
                    .saturating_sub(1)
                    .saturating_sub(sent_before);
                Some(script.chars().take(at).filter(|&c| c == '\n').count() + 1)
            }
            _ => None,
        };
        let code = e.code();
        if code == Some(&SqlState::INSUFFICIENT_PRIVILEGE)
            || code == Some(&SqlState::READ_ONLY_SQL_TRANSACTION)
            || code == Some(&SqlState::DISK_FULL)
            || code == Some(&SqlState::ADMIN_SHUTDOWN)
            || code == Some(&SqlState::QUERY_CANCELED)
        {
            return StepRunError::Ledger(error(db, "running the step", e));
        }
        StepRunError::Sql {
            message: message(e),
            line,
        }
    } else {
        StepRunError::Ledger(error(db, "running the step", e))
    }
}
