//! The ledger schema: its SQL ([`SCHEMA_SQL`], version [`SCHEMA_VERSION`]),
//! the migrations from older versions, the seed rows, and the checks that
//! refuse a schema version or a site row this code cannot vouch for.

use super::LedgerError;

/// The tables of version 2 (the audit), written once for [`MIGRATIONS`] and
/// [`SCHEMA_SQL`] alike.
macro_rules! audit_sql {
    () => {
        "\
CREATE TABLE upgrade_audit (
    recorded_at TEXT NOT NULL,
    action TEXT NOT NULL,
    step_key TEXT NOT NULL,
    checksum TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL
);
"
    };
}

/// The tables of version 3 (less downtime), written once for [`MIGRATIONS`]
/// and [`SCHEMA_SQL`] alike.
macro_rules! downtime_sql {
    () => {
        "\
CREATE TABLE upgrade_maintenance (
    scope TEXT NOT NULL PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('maintenance', 'failed')),
    since TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE upgrade_events (
    seq BIGINT NOT NULL PRIMARY KEY,
    at TEXT NOT NULL,
    scope TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE upgrade_batch_steps (
    step_key TEXT NOT NULL PRIMARY KEY,
    checksum TEXT NOT NULL,
    key_min BIGINT,
    key_max BIGINT,
    batch_size BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'failed', 'done')),
    error TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE upgrade_batches (
    step_key TEXT NOT NULL,
    lo BIGINT NOT NULL,
    hi BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    row_count BIGINT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    PRIMARY KEY (step_key, lo)
);
"
    };
}

/// The table of version 4 (installed components), written once for
/// [`MIGRATIONS`] and [`SCHEMA_SQL`] alike.
macro_rules! components_sql {
    () => {
        "\
CREATE TABLE upgrade_components (
    component TEXT NOT NULL PRIMARY KEY,
    source TEXT NOT NULL CHECK (source IN ('snapshot', 'steps', 'adopted', 'baseline')),
    covers TEXT,
    checksum TEXT,
    installed_at TEXT NOT NULL
);
"
    };
}

/// The version of the ledger schema this code reads and writes.
pub const SCHEMA_VERSION: i64 = 4;

/// The SQL that brings a ledger from version `n` to `n + 1`, at index `n - 1`
/// (the same on SQLite and PostgreSQL), run in one transaction with the
/// update of `schema_version`.
pub const MIGRATIONS: [&str; 3] = [AUDIT_SQL, DOWNTIME_SQL, COMPONENTS_SQL];

/// Version 2: the audit of what operators decided about interrupted steps.
const AUDIT_SQL: &str = audit_sql!();

/// Version 3: less downtime. Which scopes are not online (one row per scope:
/// `*` for the whole site or a component name; no row = online), the event
/// log the application follows, and the batch ledger of `post` steps that
/// walk a key range (one row per committed range, one state row per step).
const DOWNTIME_SQL: &str = downtime_sql!();

/// Version 4: which components the site has installed, and how (from an
/// install snapshot, by running their steps, adopted at a release, or from
/// the project baseline). A site migrated from an older version starts with
/// no rows: a component is then installed when any of its steps is applied
/// (a ledger row or a completed release that covers it), which is exactly
/// what the older versions did; `apply` writes those rows as it goes.
const COMPONENTS_SQL: &str = components_sql!();

/// Every table of the ledger schema (left out of schema comparisons).
pub const LEDGER_TABLES: [&str; 9] = [
    "upgrade_meta",
    "upgrade_site",
    "upgrade_ledger",
    "upgrade_audit",
    "upgrade_maintenance",
    "upgrade_events",
    "upgrade_batch_steps",
    "upgrade_batches",
    "upgrade_components",
];

/// The ledger table: one row per applied step.
pub const LEDGER_TABLE: &str = "upgrade_ledger";

/// The default `--db`: a SQLite file in the current folder.
pub const DEFAULT_DB: &str = "site.db";

/// The ledger schema, identical on SQLite and PostgreSQL. Run in one
/// transaction, followed by the rows of [`seed_sql`].
pub const SCHEMA_SQL: &str = concat!(
    "\
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
",
    audit_sql!(),
    downtime_sql!(),
    components_sql!()
);

/// The SQL that migrates a ledger of schema version `found` to
/// [`SCHEMA_VERSION`] (empty when it is current).
pub fn migration_sql(found: i64) -> String {
    let mut sql = String::new();
    for version in found..SCHEMA_VERSION {
        let Some(step) = usize::try_from(version - 1)
            .ok()
            .and_then(|i| MIGRATIONS.get(i))
        else {
            continue;
        };
        sql.push_str(step);
    }
    if !sql.is_empty() {
        sql.push_str(&format!(
            "UPDATE upgrade_meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version';\n"
        ));
    }
    sql
}

/// The rows a new ledger starts with, written right after [`SCHEMA_SQL`].
pub fn seed_sql(now: &str) -> String {
    format!(
        "INSERT INTO upgrade_meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');\n\
         INSERT INTO upgrade_site (id, completed_release, version, revision, updated_at) \
         VALUES (1, NULL, NULL, NULL, '{}');\n",
        now.replace('\'', "")
    )
}

/// Checks the stored schema version: a known positive version, returned.
pub(super) fn check_schema_version(db: &str, text: Option<String>) -> Result<i64, LedgerError> {
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
    if found < 1 {
        return Err(LedgerError::Corrupt {
            db: db.to_string(),
            what: format!(
                "upgrade_meta.schema_version is {found}, which is no ledger schema version (they start at 1)"
            ),
        });
    }
    if found > SCHEMA_VERSION {
        return Err(LedgerError::SchemaTooNew {
            db: db.to_string(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// The error for a ledger whose tables exist without the site row.
pub(super) fn missing_site_row(db: &str) -> LedgerError {
    LedgerError::Corrupt {
        db: db.to_string(),
        what: "the ledger tables exist but upgrade_site has no row (id = 1): the site state is unknown, and this is not a fresh install".into(),
    }
}
