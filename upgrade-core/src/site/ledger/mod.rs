//! The ledger in a site's database: which steps the site applied (one row per
//! (component, step) with its checksum and time) and the site state (completed
//! release, version, revision), behind the [`Ledger`] trait with a SQLite
//! ([`sqlite::SqliteLedger`]) and a PostgreSQL ([`postgres::PostgresLedger`])
//! implementation. Also owns the `--db` address ([`DatabaseUrl`]).
//!
//! The schema ([`SCHEMA_SQL`], version [`SCHEMA_VERSION`]) is the same SQL on
//! both databases and is created, in one transaction, the first time a command
//! writes; reading a site that has none is reading a fresh site. The layout is
//! documented for other languages in `docs/ledger.md`.

pub mod postgres;
pub mod sqlite;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::model::release_name::ReleaseName;
use crate::model::step::{Checksum, StepKey};
use crate::model::version::Version;
use crate::planning::site_state::SiteState;

/// The version of the ledger schema this code reads and writes.
pub const SCHEMA_VERSION: i64 = 1;

/// The ledger table: one row per applied step.
pub const LEDGER_TABLE: &str = "upgrade_ledger";

/// The default `--db`: a SQLite file in the current folder.
pub const DEFAULT_DB: &str = "site.db";

/// The ledger schema, identical on SQLite and PostgreSQL. Run in one
/// transaction, followed by the rows of [`seed_sql`].
pub const SCHEMA_SQL: &str = "\
CREATE TABLE upgrade_meta (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE upgrade_site (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    completed_release TEXT,
    version TEXT,
    revision BIGINT,
    updated_at TEXT NOT NULL
);
CREATE TABLE upgrade_ledger (
    component TEXT NOT NULL,
    step TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (component, step)
);
";

/// The rows a new ledger starts with, written right after [`SCHEMA_SQL`].
pub fn seed_sql(now: &str) -> String {
    format!(
        "INSERT INTO upgrade_meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');\n\
         INSERT INTO upgrade_site (id, completed_release, version, revision, updated_at) \
         VALUES (1, NULL, NULL, NULL, '{}');\n",
        now.replace('\'', "")
    )
}

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

/// Where the site database is: what `--db` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file (a plain path or `sqlite://PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses `--db`: a path, `sqlite://PATH` (`sqlite:///abs/path` for an
    /// absolute one) or `postgres://user@host:port/db`.
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let bad = |reason: &str| LedgerError::BadUrl {
            url: redact(text),
            reason: reason.to_string(),
        };
        if text.trim().is_empty() {
            return Err(bad("it is empty"));
        }
        if let Some(path) = text.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(bad("sqlite:// needs a file path after it"));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(text.to_string()));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            if !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
            {
                return Err(bad(&format!(
                    "`{scheme}://` is not a supported database (supported: sqlite, postgres)"
                )));
            }
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(text)))
    }

    /// The engine.
    pub fn database(&self) -> Database {
        match self {
            DatabaseUrl::Sqlite(_) => Database::Sqlite,
            DatabaseUrl::Postgres(_) => Database::Postgres,
        }
    }

    /// The address for messages, without any password.
    pub fn describe(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => path.display().to_string(),
            DatabaseUrl::Postgres(url) => redact(url),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A URL with the password of its user info (and any `password=` parameter) masked.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(start) = out.find("://").map(|i| i + 3) {
        let authority_end = out[start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..authority_end].rfind('@').map(|i| start + i) {
            if let Some(colon) = out[start..at].find(':').map(|i| start + i) {
                out.replace_range(colon + 1..at, "***");
            }
        }
    }
    if let Some(p) = out.find("password=") {
        let start = p + "password=".len();
        let end = out[start..].find('&').map_or(out.len(), |i| start + i);
        out.replace_range(start..end, "***");
    }
    out
}

/// One row of the ledger, as stored (names are not validated: a row written
/// by another tool may hold anything, and is then an orphan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// The `component` column.
    pub component: String,
    /// The `step` column.
    pub step: String,
    /// The `checksum` column.
    pub checksum: String,
    /// The `applied_at` column (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub applied_at: String,
}

impl LedgerRow {
    /// The row's identity as `component/step`.
    pub fn key_text(&self) -> String {
        format!("{}/{}", self.component, self.step)
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
}

impl Stored {
    /// The site state of the contract. Rows whose names are not valid step
    /// identities are left out (they cannot match a step: see orphans).
    pub fn site_state(&self, database: &str) -> Result<SiteState, LedgerError> {
        let mut ledger = BTreeMap::new();
        for row in &self.rows {
            let Ok(key) = StepKey::parse(&row.key_text()) else {
                continue;
            };
            let checksum =
                Checksum::from_recorded(&row.checksum).ok_or_else(|| LedgerError::Corrupt {
                    db: database.to_string(),
                    what: format!(
                        "the ledger row of {key} has checksum `{}`, which is not sha256:<64 hex digits>",
                        row.checksum
                    ),
                })?;
            ledger.insert(key, checksum);
        }
        Ok(SiteState {
            ledger,
            release: self.site.release.clone(),
            revision: self.site.revision,
            version: self.site.version.clone(),
        })
    }
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
    /// The step's own SQL failed; the database's message.
    #[error("{0}")]
    Sql(String),
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
}

impl SiteChange {
    /// Does it change nothing?
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty()
            && self.checksums.is_empty()
            && self.release.is_none()
            && self.sync.is_none()
            && !self.clear_interrupted
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
    fn read(&mut self) -> Result<Stored, LedgerError>;
    /// Runs a step and inserts its ledger row: in one transaction, unless the
    /// step says it cannot run in one. Then the step is first marked as
    /// interrupted ([`INTERRUPTED_KEY`] in `upgrade_meta`), its SQL runs, and
    /// the row is inserted and the mark removed in one transaction: a run
    /// killed or failed midway leaves the mark, which stops the next `apply`.
    fn run_step(&mut self, run: &StepRun<'_>) -> Result<(), StepRunError>;
    /// Writes a change in one transaction.
    fn commit(&mut self, change: &SiteChange) -> Result<(), LedgerError>;
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

/// Checks the stored schema version.
fn check_schema_version(db: &str, text: Option<String>) -> Result<(), LedgerError> {
    let found = match text {
        Some(t) => t.trim().parse::<i64>().map_err(|_| LedgerError::Corrupt {
            db: db.to_string(),
            what: format!("upgrade_meta.schema_version is `{t}`, not a number"),
        })?,
        None => {
            return Err(LedgerError::Corrupt {
                db: db.to_string(),
                what: "upgrade_meta has no schema_version row".into(),
            });
        }
    };
    if found > SCHEMA_VERSION {
        return Err(LedgerError::SchemaTooNew {
            db: db.to_string(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// What went wrong with the site database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// `--db` is not a path or a supported URL.
    #[error("--db {url}: {reason}")]
    BadUrl {
        /// The address as given (password masked).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database cannot be opened or reached.
    #[error("cannot open the site database {db}: {message}")]
    Open {
        /// The database.
        db: String,
        /// The driver's message.
        message: String,
    },
    /// Another process holds the upgrade lock.
    #[error(
        "the site database {db} is locked: another `consolidate apply` (or prune) is running on it"
    )]
    Locked {
        /// The database.
        db: String,
    },
    /// The database cannot be written.
    #[error("the site database {db} is read-only: {message}")]
    ReadOnly {
        /// The database.
        db: String,
        /// The driver's message.
        message: String,
    },
    /// A ledger query failed.
    #[error("{db}: {action} failed: {message}")]
    Query {
        /// The database.
        db: String,
        /// What was being done.
        action: String,
        /// The driver's message.
        message: String,
    },
    /// The ledger was written by a newer version of this tool.
    #[error("{db}: the ledger schema is version {found}, this tool knows up to {supported}")]
    SchemaTooNew {
        /// The database.
        db: String,
        /// The stored version.
        found: i64,
        /// The newest version this code knows.
        supported: i64,
    },
    /// A stored value cannot be read.
    #[error("{db}: {what}")]
    Corrupt {
        /// The database.
        db: String,
        /// What is wrong.
        what: String,
    },
}

impl LedgerError {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            LedgerError::BadUrl { .. } => {
                "pass a file path, sqlite://PATH or postgres://USER@HOST:PORT/DATABASE"
            }
            LedgerError::Open { .. } => {
                "check the path or URL, that the server runs and accepts the user, then re-run"
            }
            LedgerError::Locked { .. } => {
                "wait for the other run to finish (it holds the lock until it exits), then re-run"
            }
            LedgerError::ReadOnly { .. } => {
                "run as a user who may write the database (file and folder permissions, or the role's grants)"
            }
            LedgerError::Query { .. } => {
                "check that the database is healthy and reachable, then re-run: committed steps are kept"
            }
            LedgerError::SchemaTooNew { .. } => {
                "upgrade the consolidate tool to the version that wrote this ledger"
            }
            LedgerError::Corrupt { .. } => {
                "fix the row by hand (docs/ledger.md describes the tables), then re-run"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_db_addresses() {
        assert_eq!(
            DatabaseUrl::parse("site.db").expect("path"),
            DatabaseUrl::Sqlite("site.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db").expect("url"),
            DatabaseUrl::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://rel/x.db").expect("url"),
            DatabaseUrl::Sqlite("rel/x.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/d")
                .expect("pg")
                .database(),
            Database::Postgres
        );
        for bad in ["mysql://root@localhost/site", "", "sqlite://"] {
            let err = DatabaseUrl::parse(bad).expect_err(bad);
            assert!(matches!(err, LedgerError::BadUrl { .. }), "{bad}: {err}");
        }
        let err = DatabaseUrl::parse("mysql://u:secret@h/d").expect_err("mysql");
        assert!(err.to_string().contains("`mysql://`"), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redact("postgres://me:s3cret@db:5432/site?sslmode=disable"),
            "postgres://me:***@db:5432/site?sslmode=disable"
        );
        assert_eq!(redact("postgres://me@db/site"), "postgres://me@db/site");
        assert_eq!(
            redact("postgres://db/site?password=x&user=me"),
            "postgres://db/site?password=***&user=me"
        );
    }

    #[test]
    fn timestamps_are_utc_seconds() {
        let now = now_utc();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    }
}
