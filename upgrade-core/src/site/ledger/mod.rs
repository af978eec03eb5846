//! The ledger in a site's database: which steps the site applied (one row per
//! (component, step) with its checksum and time) and the site state (completed
//! release, version, revision), behind the [`Ledger`] trait with a SQLite
//! ([`sqlite::SqliteLedger`]) and a PostgreSQL ([`postgres::PostgresLedger`])
//! implementation. Also owns the `--db` address ([`DatabaseUrl`]).
//!
//! The schema ([`SCHEMA_SQL`], version [`SCHEMA_VERSION`]) is the same SQL on
//! both databases and is created, in one transaction, the first time a command
//! writes; reading a site that has none is reading a fresh site. (SQLite then
//! stores the ledger table in key order, `sqlite/key_order.rs`.) An older
//! schema is migrated ([`MIGRATIONS`]) in one transaction when a command takes
//! the lock. A ledger whose tables exist but whose site row is missing, or
//! whose schema version is not a known positive version, is corrupt: the site
//! state is never guessed. The layout is documented for other languages in
//! `docs/ledger.md`.

mod address;
pub mod batches;
mod error;
pub mod maintenance;
pub mod postgres;
mod row;
mod row_order;
mod schema;
pub mod sqlite;

pub use address::{DatabaseUrl, redact};
pub use error::LedgerError;
pub use maintenance::MaintenanceStore;
pub use row::{LedgerRow, row_key};
pub use schema::{
    DEFAULT_DB, LEDGER_TABLE, LEDGER_TABLES, MIGRATIONS, SCHEMA_SQL, SCHEMA_VERSION, migration_sql,
    seed_sql,
};
use schema::{check_schema_version, missing_site_row};

use std::collections::HashMap;
use std::fmt;

use crate::model::release_name::ReleaseName;
use crate::model::step::{Checksum, StepKey};
use crate::model::version::Version;
use crate::planning::site_state::SiteState;

/// Which database engine a site uses; also the variant name of step bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// SQLite, embedded.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Database {
    /// `sqlite` or `postgres`, as in step variant file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Database::Sqlite => "sqlite",
            Database::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `upgrade_site` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteRecord {
    /// The last completed release.
    pub release: Option<ReleaseName>,
    /// The code version the site was last brought to.
    pub version: Option<Version>,
    /// The code revision the site was last synchronised with.
    pub revision: Option<i64>,
}

/// Everything stored: ledger rows (sorted by component, step) and site record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// Does the database hold a ledger at all?
    pub exists: bool,
    /// The ledger rows.
    pub rows: Vec<LedgerRow>,
    /// The site record.
    pub site: SiteRecord,
    /// A step that runs outside a transaction and was started but never
    /// recorded (`component/step`): the process died or its SQL failed midway,
    /// so its effects may be partial.
    pub interrupted: Option<String>,
    /// Other sessions of `consolidate apply`: on PostgreSQL the server
    /// sessions (the one holding the upgrade lock, and any still running a
    /// step); on SQLite the process holding the lock file, if any.
    pub sessions: Vec<Session>,
    /// The rows of `upgrade_components` (none before schema version 4).
    pub components: Vec<InstalledComponent>,
}

/// Another database session of `consolidate apply`, seen on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The server process id.
    pub pid: i32,
    /// Its `application_name` (`consolidate apply …`).
    pub application: String,
    /// When its current query (or the session) started, when the server shows it.
    pub since: Option<String>,
    /// Does it hold the upgrade lock?
    pub holds_lock: bool,
    /// Is it running a statement now?
    pub active: bool,
}

impl Session {
    /// Is this session running `step` (`component/name`)?
    pub fn runs(&self, step: &str) -> bool {
        self.active && self.application == application_name(Some(step))
    }
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server session pid {}", self.pid)?;
        if !self.application.is_empty() {
            write!(f, " `{}`", self.application)?;
        }
        if let Some(since) = &self.since {
            write!(f, " since {since}")?;
        }
        Ok(())
    }
}

/// The `application_name` of an apply's session: `consolidate apply`, and
/// while a `transaction: no` step runs, `consolidate apply component/step`
/// (cut to the server's 63 bytes).
pub fn application_name(step: Option<&str>) -> String {
    let mut name = match step {
        Some(step) => format!("consolidate apply {step}"),
        None => "consolidate apply".to_string(),
    };
    if name.len() > 63 {
        let mut end = 63;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

impl Stored {
    /// Refuses a row of a valid step identity (`keys[i]` is `rows[i].key()`)
    /// whose checksum is not a recorded checksum (`sha256:` and 64 hex digits).
    pub fn check_checksums(
        &self,
        database: &str,
        keys: &[Option<StepKey>],
    ) -> Result<(), LedgerError> {
        for (row, key) in self.rows.iter().zip(keys) {
            if let Some(key) = key {
                check_checksum(database, key, row.checksum())?;
            }
        }
        Ok(())
    }

    /// The site state of the contract. Rows whose names are not valid step
    /// identities are left out (they cannot match a step: see orphans);
    /// every row's checksum is checked.
    pub fn site_state(&self, database: &str) -> Result<SiteState, LedgerError> {
        let keys: Vec<Option<StepKey>> = self.rows.iter().map(LedgerRow::key).collect();
        self.check_checksums(database, &keys)?;
        let mut entries = Vec::with_capacity(self.rows.len());
        for (row, key) in self.rows.iter().zip(keys) {
            let Some(key) = key else {
                continue;
            };
            if let Some(checksum) = Checksum::from_recorded(row.checksum()) {
                entries.push((key, checksum));
            }
        }
        let ledger: HashMap<StepKey, Checksum> = entries.into_iter().collect();
        Ok(SiteState {
            ledger,
            release: self.site.release.clone(),
            revision: self.site.revision,
            version: self.site.version.clone(),
        })
    }
}

/// Refuses the checksum `text` of the ledger row of `key` unless it is a
/// recorded checksum (`sha256:` and 64 lowercase hex digits).
pub fn check_checksum(database: &str, key: &StepKey, text: &str) -> Result<(), LedgerError> {
    if recorded_checksum(text) {
        return Ok(());
    }
    Err(LedgerError::Corrupt {
        db: database.to_string(),
        what: format!(
            "the ledger row of {key} has checksum `{text}`, which is not sha256:<64 hex digits>"
        ),
    })
}

/// Is `text` a recorded checksum (`sha256:` and 64 lowercase hex digits),
/// as [`Checksum::from_recorded`] accepts, without copying it?
fn recorded_checksum(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// One step to run and record.
#[derive(Debug, Clone, Copy)]
pub struct StepRun<'a> {
    /// Its component.
    pub component: &'a str,
    /// Its name.
    pub step: &'a str,
    /// The checksum to record.
    pub checksum: &'a str,
    /// The script, or `None` when the step is a no-op on this database (only recorded).
    pub sql: Option<&'a str>,
    /// Run the script and insert the row in one transaction?
    pub transaction: bool,
}

/// Why a step did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepRunError {
    /// The step's own SQL failed.
    #[error("{message}")]
    Sql {
        /// The database's message.
        message: String,
        /// The line of the script (1-based) where the failing statement or
        /// the error is, when the database says.
        line: Option<usize>,
    },
    /// Recording it (or talking to the database) failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// A change to the ledger and site state, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteChange {
    /// Ledger rows to delete, as stored `(component, step)`.
    pub delete: Vec<(String, String)>,
    /// Ledger rows whose checksum to replace (accepted drift).
    pub checksums: Vec<(StepKey, Checksum)>,
    /// Set the completed release.
    pub release: Option<ReleaseName>,
    /// Set the site version and revision.
    pub sync: Option<(Version, i64)>,
    /// Forget the interrupted step marker (the operator checked the site).
    pub clear_interrupted: bool,
    /// Insert the ledger row of a step the operator completed by hand.
    pub mark_done: Option<(StepKey, Checksum)>,
    /// An operator's decision to keep in `upgrade_audit`.
    pub audit: Option<Audit>,
    /// Ledger rows to insert: the steps an install snapshot covers.
    pub record: Vec<(StepKey, Checksum)>,
    /// Rows of `upgrade_components` to write (insert or replace).
    pub installed: Vec<InstalledComponent>,
    /// Components to forget (`upgrade_components` rows deleted).
    pub uninstalled: Vec<String>,
}

/// A row of `upgrade_components`: a component the site has installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledComponent {
    /// The component, as stored.
    pub component: String,
    /// How: `snapshot`, `steps`, `adopted` or `baseline`.
    pub source: String,
    /// The step the snapshot covered, or the release adopted or the baseline.
    pub covers: Option<String>,
    /// The checksum of the snapshot or baseline that ran.
    pub checksum: Option<String>,
    /// When (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub installed_at: String,
}

/// An operator's decision about an interrupted step, kept in `upgrade_audit`
/// (never pruned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// `retried` (`--retry-interrupted`) or `marked-done` (`--mark-done`).
    pub action: String,
    /// The step.
    pub key: StepKey,
    /// The checksum of the step in the tree.
    pub checksum: Checksum,
    /// Who decided (`--by`, else the operating-system user).
    pub actor: String,
    /// Why (`--reason`).
    pub reason: String,
}

impl SiteChange {
    /// Does it change nothing?
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty()
            && self.checksums.is_empty()
            && self.release.is_none()
            && self.sync.is_none()
            && !self.clear_interrupted
            && self.mark_done.is_none()
            && self.audit.is_none()
            && self.record.is_empty()
            && self.installed.is_empty()
            && self.uninstalled.is_empty()
    }
}

/// The `upgrade_meta` key marking a step that runs outside a transaction
/// while it runs; its value is `component/step`.
pub const INTERRUPTED_KEY: &str = "interrupted_step";

/// Upserts the interrupted-step mark (SQLite ≥ 3.24 and PostgreSQL syntax).
pub(crate) const MARK_INTERRUPTED_SQL: &str = "INSERT INTO upgrade_meta (key, value) VALUES ('interrupted_step', {value}) ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Access to a site's ledger.
///
/// A ledger opened with [`Access::Apply`] holds the site's exclusive upgrade
/// lock until it is dropped, and its schema exists.
pub trait Ledger {
    /// The engine, which picks step variants.
    fn database(&self) -> Database;
    /// The database's address for messages.
    fn describe(&self) -> String;
    /// Reads the rows and the site record (a database without a ledger reads as fresh).
    fn read(&mut self) -> Result<Stored, LedgerError> {
        self.read_with(&mut |_| {})
    }
    /// [`Ledger::read`], telling `early` the site record as soon as it is
    /// read, before the rows (in the same transaction: the record returned
    /// is the one told).
    fn read_with(&mut self, early: &mut dyn FnMut(&SiteRecord)) -> Result<Stored, LedgerError>;
    /// The site record, and whether any row passes `wanted` (with the
    /// record, the row's component and step as stored): rows are read until
    /// one does (by default all are read first).
    fn any_row(
        &mut self,
        wanted: &mut dyn FnMut(&SiteRecord, &str, &str) -> bool,
    ) -> Result<(SiteRecord, bool), LedgerError> {
        let stored = self.read()?;
        let any = stored
            .rows
            .iter()
            .any(|r| wanted(&stored.site, r.component(), r.step()));
        Ok((stored.site, any))
    }
    /// Runs a step and inserts its ledger row: in one transaction, unless the
    /// step says it cannot run in one. Then the step is first marked as
    /// interrupted ([`INTERRUPTED_KEY`] in `upgrade_meta`), its SQL runs, and
    /// the row is inserted and the mark removed in one transaction: a run
    /// killed or failed midway leaves the mark, which stops the next `apply`.
    fn run_step(&mut self, run: &StepRun<'_>) -> Result<(), StepRunError>;
    /// Writes a change in one transaction.
    fn commit(&mut self, change: &SiteChange) -> Result<(), LedgerError>;
    /// Runs an install script (a component's snapshot or the project
    /// baseline) and writes `change` (the rows of the steps it covers, the
    /// installed component) in one transaction.
    fn install(&mut self, sql: Option<&str>, change: &SiteChange) -> Result<(), StepRunError>;
    /// The maintenance state and event log, on the same connection (and lock).
    fn maintenance(&mut self) -> &mut dyn MaintenanceStore;
}

/// What a command needs from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only: creates nothing (a missing SQLite file is a fresh site).
    Read,
    /// Write: creates the database and schema if needed and takes the
    /// exclusive upgrade lock, refusing at once if another process holds it.
    Apply,
}

/// Opens a site's ledger. With [`Access::Read`] on a SQLite file that does not
/// exist, returns `Ok(None)`: a fresh site, and no file is created.
pub fn open(url: &DatabaseUrl, access: Access) -> Result<Option<Box<dyn Ledger>>, LedgerError> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            Ok(sqlite::SqliteLedger::open(path, access)?.map(|l| Box::new(l) as Box<dyn Ledger>))
        }
        DatabaseUrl::Postgres(conn) => Ok(Some(Box::new(postgres::PostgresLedger::open(
            conn, access,
        )?))),
    }
}

/// Reads a site without changing anything: `Stored::default()` when there is no ledger.
pub fn read_site(url: &DatabaseUrl) -> Result<Stored, LedgerError> {
    match open(url, Access::Read)? {
        Some(mut ledger) => ledger.read(),
        None => Ok(Stored::default()),
    }
}

/// [`read_site`], telling `early` the site record before the rows are read
/// (not at all when there is no ledger).
pub fn read_site_with(
    url: &DatabaseUrl,
    early: &mut dyn FnMut(&SiteRecord),
) -> Result<Stored, LedgerError> {
    match open(url, Access::Read)? {
        Some(mut ledger) => ledger.read_with(early),
        None => Ok(Stored::default()),
    }
}

/// [`Ledger::any_row`] of a site, without changing anything (no ledger: a
/// fresh record and no row).
pub fn any_row(
    url: &DatabaseUrl,
    wanted: &mut dyn FnMut(&SiteRecord, &str, &str) -> bool,
) -> Result<(SiteRecord, bool), LedgerError> {
    match open(url, Access::Read)? {
        Some(mut ledger) => ledger.any_row(wanted),
        None => Ok((SiteRecord::default(), false)),
    }
}

/// The current UTC time as stored in `applied_at` and `updated_at`.
pub fn now_utc() -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// Parses the stored site record.
fn site_record(
    db: &str,
    release: Option<String>,
    version: Option<String>,
    revision: Option<i64>,
) -> Result<SiteRecord, LedgerError> {
    let corrupt = |what: String| LedgerError::Corrupt {
        db: db.to_string(),
        what,
    };
    let release = release
        .map(|r| {
            ReleaseName::parse(&r)
                .map_err(|e| corrupt(format!("upgrade_site.completed_release: {e}")))
        })
        .transpose()?;
    let version = version
        .map(|v| Version::parse(&v).map_err(|e| corrupt(format!("upgrade_site.version: {e}"))))
        .transpose()?;
    Ok(SiteRecord {
        release,
        version,
        revision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_seconds() {
        let now = now_utc();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    }
}
