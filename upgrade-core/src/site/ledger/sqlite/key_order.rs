//! The ledger table stored in key order on SQLite (`WITHOUT ROWID`): a plain
//! scan of it gives the rows sorted by `(component, step)`, so reading a
//! site's rows sorts nothing (site/ledger/row_order.rs checks the order as
//! it reads, and sorts when it is not). The columns, the primary key and
//! every query are those of the schema, on both databases: only how SQLite
//! lays the rows out differs. A ledger table created with a row id (by the
//! schema's `CREATE TABLE`, or by an earlier version of this tool) is
//! rebuilt in key order under the upgrade lock, in the transaction that
//! creates or migrates the schema.
//!
//! A table that is not exactly the schema's (another column, an index, a
//! trigger or view naming it: something a site added) is left as it is, as
//! is one the rebuild fails on (it is undone): it is read and sorted as
//! before. Nothing about what a site ran depends on the layout.

use rusqlite::{Connection, OptionalExtension};

/// The schema's ledger table, in key order under a temporary name.
const REBUILD_SQL: &str = "\
CREATE TABLE upgrade_ledger_in_key_order (
    component TEXT NOT NULL,
    step TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (component, step)
) WITHOUT ROWID;
INSERT INTO upgrade_ledger_in_key_order (component, step, checksum, applied_at)
    SELECT component, step, checksum, applied_at FROM upgrade_ledger;
DROP TABLE upgrade_ledger;
ALTER TABLE upgrade_ledger_in_key_order RENAME TO upgrade_ledger;
";

/// The columns of the schema's ledger table: name, type, not null, place in
/// the primary key.
const COLUMNS: [(&str, &str, bool, i64); 4] = [
    ("component", "TEXT", true, 1),
    ("step", "TEXT", true, 2),
    ("checksum", "TEXT", true, 0),
    ("applied_at", "TEXT", true, 0),
];

/// How the ledger table was found, and what was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// In key order already.
    KeyOrder,
    /// Rebuilt in key order now.
    Rebuilt,
    /// Not the schema's table, or the rebuild failed: left as it was.
    Left,
}

/// Stores `upgrade_ledger` in key order if it is the schema's table with a
/// row id. Runs inside the caller's transaction; a failed rebuild is
/// undone (a savepoint) and the table left as it was.
pub(super) fn store_in_key_order(conn: &Connection) -> rusqlite::Result<Layout> {
    let without_rowid: Option<bool> = conn
        .query_row(
            "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = 'upgrade_ledger'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match without_rowid {
        Some(true) => return Ok(Layout::KeyOrder),
        None => return Ok(Layout::Left),
        Some(false) => {}
    }
    if !is_the_schemas_table(conn)? {
        return Ok(Layout::Left);
    }
    conn.execute_batch("SAVEPOINT upgrade_ledger_key_order")?;
    match conn.execute_batch(REBUILD_SQL) {
        Ok(()) => {
            conn.execute_batch("RELEASE upgrade_ledger_key_order")?;
            Ok(Layout::Rebuilt)
        }
        Err(_) => {
            conn.execute_batch(
                "ROLLBACK TO upgrade_ledger_key_order; RELEASE upgrade_ledger_key_order",
            )?;
            Ok(Layout::Left)
        }
    }
}

/// Is `upgrade_ledger` exactly the schema's table, with nothing else (an
/// index, a trigger, a view) naming it?
fn is_the_schemas_table(conn: &Connection) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare(
        "SELECT name, type, \"notnull\", pk FROM pragma_table_info('upgrade_ledger') ORDER BY cid",
    )?;
    let columns = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let same_columns = columns.len() == COLUMNS.len()
        && columns
            .iter()
            .zip(COLUMNS)
            .all(|((name, kind, not_null, pk), (n, k, nn, p))| {
                name == n && kind.eq_ignore_ascii_case(k) && *not_null == nn && *pk == p
            });
    let others: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master \
         WHERE name NOT LIKE 'sqlite_autoindex_upgrade_ledger_%' AND name <> 'upgrade_ledger' \
         AND (tbl_name = 'upgrade_ledger' OR (type IN ('view', 'trigger') AND sql LIKE '%upgrade_ledger%'))",
        [],
        |r| r.get(0),
    )?;
    Ok(same_columns && others == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger_table(extra: &str) -> Connection {
        let conn = Connection::open_in_memory().expect("memory");
        conn.execute_batch(&format!(
            "CREATE TABLE upgrade_ledger (
                component TEXT NOT NULL,
                step TEXT NOT NULL,
                checksum TEXT NOT NULL,
                applied_at TEXT NOT NULL,
                PRIMARY KEY (component, step)
            );
            INSERT INTO upgrade_ledger VALUES ('mod_b', '2008010100-b', 'sha256:1', 't1');
            INSERT INTO upgrade_ledger VALUES ('core', '2008010100-z', 'sha256:2', 't2');
            INSERT INTO upgrade_ledger VALUES ('core', '2008010100-a', 'sha256:3', 't3');
            {extra}"
        ))
        .expect("table");
        conn
    }

    fn rows(conn: &Connection) -> Vec<(String, String, String, String)> {
        let mut stmt = conn
            .prepare("SELECT component, step, checksum, applied_at FROM upgrade_ledger")
            .expect("select");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("rows")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("rows")
    }

    #[test]
    fn the_schemas_table_is_rebuilt_once_and_scans_in_key_order() {
        let conn = ledger_table("");
        let before = rows(&conn);
        assert_eq!(before[0].0, "mod_b", "stored in insertion order");
        assert_eq!(store_in_key_order(&conn).expect("layout"), Layout::Rebuilt);
        let mut expected = before;
        expected.sort();
        assert_eq!(rows(&conn), expected);
        assert_eq!(store_in_key_order(&conn).expect("layout"), Layout::KeyOrder);
        // New rows go in key order too, and the key stays unique.
        conn.execute(
            "INSERT INTO upgrade_ledger VALUES ('core', '2008010100-m', 'sha256:4', 't4')",
            [],
        )
        .expect("insert");
        assert_eq!(rows(&conn)[1].1, "2008010100-m");
        assert!(
            conn.execute(
                "INSERT INTO upgrade_ledger VALUES ('core', '2008010100-m', 'x', 'y')",
                []
            )
            .is_err()
        );
    }

    #[test]
    fn a_table_a_site_changed_is_left_as_it_is() {
        for extra in [
            "CREATE INDEX by_time ON upgrade_ledger (applied_at);",
            "CREATE VIEW recent AS SELECT * FROM upgrade_ledger;",
            "CREATE TABLE log (x TEXT); CREATE TRIGGER t AFTER INSERT ON upgrade_ledger BEGIN INSERT INTO log VALUES (NEW.step); END;",
            "ALTER TABLE upgrade_ledger ADD COLUMN note TEXT;",
        ] {
            let conn = ledger_table(extra);
            let before = rows(&conn);
            assert_eq!(
                store_in_key_order(&conn).expect("layout"),
                Layout::Left,
                "{extra}"
            );
            assert_eq!(rows(&conn), before, "{extra}");
        }
        let conn = Connection::open_in_memory().expect("memory");
        assert_eq!(store_in_key_order(&conn).expect("layout"), Layout::Left);
    }
}
