//! `LedgerError`: what went wrong with the site database, and what to do about it.

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
        "the site database {db} is locked: another `consolidate apply` (or prune) is running on it{}",
        .holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    Locked {
        /// The database.
        db: String,
        /// Who holds it, when the server says.
        holder: Option<String>,
    },
    /// SQLite is busy: another process (this tool, or another application
    /// with a write transaction open) has the file locked.
    #[error(
        "the site database {db} is locked by another process: a running `consolidate apply` or another application with a transaction open on the file"
    )]
    Busy {
        /// The database.
        db: String,
    },
    /// The folder of the `--db` file does not exist.
    #[error("the folder {folder} of the site database {db} does not exist")]
    NoFolder {
        /// The database.
        db: String,
        /// The missing folder.
        folder: String,
    },
    /// SQLite cannot write next to the database file (its journal).
    #[error(
        "the folder {folder} of the site database {db} is not writable: SQLite keeps its journal next to the database"
    )]
    ReadOnlyFolder {
        /// The database.
        db: String,
        /// The folder.
        folder: String,
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
            LedgerError::Busy { .. } => {
                "wait for the other process to finish, or close the application that has the file open (`fuser FILE` names it), then re-run: nothing was changed"
            }
            LedgerError::NoFolder { .. } => {
                "fix the --db path, or create the folder first (mkdir -p), then re-run"
            }
            LedgerError::ReadOnlyFolder { .. } => {
                "run as a user who may create files in that folder (or move the database to a writable folder), then re-run: nothing was changed"
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
