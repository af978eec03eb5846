//! Tests of the SQLite ledger's rows: read with the site record first,
//! read until one passes, and deleted only as listed (by component, by
//! table, row by row).

use super::*;
use crate::site::ledger::LedgerRow;

/// A ledger with `n` rows of `core` and `n` of `local_a` (steps s00000…).
fn ledger_with_rows(dir: &tempfile::TempDir, n: usize) -> SqliteLedger {
    let path = dir.path().join("site.db");
    let mut ledger = SqliteLedger::open(&path, Access::Apply)
        .expect("open")
        .expect("some");
    let sum = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let tx = ledger.conn.transaction().expect("tx");
    for component in ["core", "local_a"] {
        for i in 0..n {
            tx.execute(
                "INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES (?1, ?2, ?3, '2007-01-01T00:00:00Z')",
                params![component, format!("2007010100-s{i:05}"), sum],
            )
            .expect("row");
        }
    }
    tx.commit().expect("commit");
    ledger
}

fn keys(ledger: &mut SqliteLedger) -> Vec<String> {
    ledger
        .read()
        .expect("read")
        .rows
        .iter()
        .map(LedgerRow::key_text)
        .collect()
}

#[test]
fn deleting_every_row_of_a_component_deletes_only_those_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger_with_rows(&dir, 100);
    let all_core: Vec<(String, String)> = (0..100)
        .map(|i| ("core".to_string(), format!("2007010100-s{i:05}")))
        .collect();
    // All of core but one, and one of local_a: row by row, nothing else.
    let mut change = SiteChange {
        delete: all_core[1..].to_vec(),
        ..SiteChange::default()
    };
    change
        .delete
        .push(("local_a".into(), "2007010100-s00007".into()));
    crate::model::op_count::take();
    ledger.commit(&change).expect("commit");
    assert_eq!(
        crate::model::op_count::take(),
        100,
        "99 + 1 rows, one by one"
    );
    let left = keys(&mut ledger);
    assert_eq!(left.len(), 1 + 99);
    assert_eq!(left[0], "core/2007010100-s00000");
    assert!(!left.contains(&"local_a/2007010100-s00007".to_string()));
    // Every row of local_a now (the 99 left): one statement.
    let change = SiteChange {
        delete: (0..100)
            .filter(|i| *i != 7)
            .map(|i| ("local_a".to_string(), format!("2007010100-s{i:05}")))
            .collect(),
        ..SiteChange::default()
    };
    crate::model::op_count::take();
    ledger.commit(&change).expect("commit");
    assert_eq!(crate::model::op_count::take(), 1, "local_a deleted whole");
    assert_eq!(
        keys(&mut ledger),
        vec!["core/2007010100-s00000".to_string()]
    );
}

#[test]
fn a_listed_row_that_is_gone_never_widens_the_delete() {
    // 100 rows listed, but one of them is gone and another, unlisted, is
    // there: the counts match, the sets do not; only listed rows go.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger_with_rows(&dir, 100);
    ledger
        .conn
        .execute(
            "DELETE FROM upgrade_ledger WHERE component = 'core' AND step = '2007010100-s00003'",
            [],
        )
        .expect("gone");
    ledger
        .conn
        .execute(
            "INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES ('core', '2099010100-other', 'sha256:0000000000000000000000000000000000000000000000000000000000000000', '2007-01-01T00:00:00Z')",
            [],
        )
        .expect("other");
    let change = SiteChange {
        delete: (0..100)
            .map(|i| ("core".to_string(), format!("2007010100-s{i:05}")))
            .collect(),
        ..SiteChange::default()
    };
    ledger.commit(&change).expect("commit");
    let left = keys(&mut ledger);
    assert!(
        left.contains(&"core/2099010100-other".to_string()),
        "{left:?}"
    );
    assert_eq!(left.iter().filter(|k| k.starts_with("core/")).count(), 1);
    assert_eq!(left.len(), 1 + 100);
}

#[test]
fn the_site_record_is_told_before_the_rows_and_is_the_one_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger_with_rows(&dir, 3);
    let release = crate::model::release_name::ReleaseName::parse("R19").expect("release");
    ledger
        .commit(&SiteChange {
            release: Some(release.clone()),
            ..SiteChange::default()
        })
        .expect("commit");
    let mut told = Vec::new();
    let stored = ledger
        .read_with(&mut |site| told.push(site.clone()))
        .expect("read");
    assert_eq!(told, vec![stored.site.clone()]);
    assert_eq!(stored.site.release, Some(release));
    assert_eq!(stored.rows.len(), 6);
    // No ledger: nothing to tell, and no file created.
    let missing = crate::site::ledger::DatabaseUrl::Sqlite(dir.path().join("none.db"));
    let mut calls = 0;
    let fresh = crate::site::ledger::read_site_with(&missing, &mut |_| calls += 1).expect("read");
    assert_eq!((calls, fresh.exists), (0, false));
    assert!(!dir.path().join("none.db").exists());
}

/// Every row of the ledger as `(component, step)`, as stored.
fn every_row(n: usize) -> Vec<(String, String)> {
    ["core", "local_a"]
        .iter()
        .flat_map(|c| (0..n).map(move |i| (c.to_string(), format!("2007010100-s{i:05}"))))
        .collect()
}

#[test]
fn every_row_listed_clears_the_table_with_one_statement() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger_with_rows(&dir, 100);
    crate::model::op_count::take();
    ledger
        .commit(&SiteChange {
            delete: every_row(100),
            ..SiteChange::default()
        })
        .expect("commit");
    assert_eq!(crate::model::op_count::take(), 1, "one statement");
    assert!(keys(&mut ledger).is_empty());
}

#[test]
fn a_row_listed_but_gone_never_clears_the_table() {
    // As many rows listed as stored, but one listed is gone and one stored
    // is not listed: only the listed rows go, the other one stays.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger_with_rows(&dir, 100);
    ledger
        .conn
        .execute_batch(
            "DELETE FROM upgrade_ledger WHERE component = 'local_a' AND step = '2007010100-s00003';
             INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES ('mod_z', '2099010100-other', 'sha256:0000000000000000000000000000000000000000000000000000000000000000', '2007-01-01T00:00:00Z');",
        )
        .expect("change");
    ledger
        .commit(&SiteChange {
            delete: every_row(100),
            ..SiteChange::default()
        })
        .expect("commit");
    assert_eq!(
        keys(&mut ledger),
        vec!["mod_z/2099010100-other".to_string()]
    );
}

#[test]
fn any_row_reads_rows_until_one_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = ledger_with_rows(&dir, 50);
    let mut seen = 0;
    let (site, any) = ledger
        .any_row(&mut |_, _, _| {
            seen += 1;
            seen == 3
        })
        .expect("read");
    assert_eq!((any, seen), (true, 3));
    assert_eq!(site, ledger.read().expect("read").site);
    let mut seen = 0;
    let (_, any) = ledger
        .any_row(&mut |_, _, _| {
            seen += 1;
            false
        })
        .expect("read");
    assert_eq!((any, seen), (false, 100));
}

/// A row another tool wrote with a column that is not text (the schema
/// forbids NULL, not a blob), or a text column whose bytes are not UTF-8
/// (SQLite stores what it is given), is an error naming the ledger and the
/// column, not a panic and not a row read as something else.
#[test]
fn a_column_that_is_not_text_is_an_error_naming_the_ledger() {
    for (set, named) in [
        (
            "checksum = X'00FF'",
            ["reading the ledger", "checksum"].as_slice(),
        ),
        (
            "applied_at = CAST(X'32C3' AS TEXT)",
            ["row ", "column applied_at"].as_slice(),
        ),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ledger = ledger_with_rows(&dir, 2);
        assert_eq!(keys(&mut ledger).len(), 4, "read before the change");
        ledger
            .conn
            .execute(
                &format!("UPDATE upgrade_ledger SET {set} WHERE step = '2007010100-s00001' AND component = 'core'"),
                [],
            )
            .expect("the change");
        let message = ledger.read().expect_err(set).to_string();
        assert!(message.contains("site.db"), "{message}");
        for part in named {
            assert!(message.contains(part), "{message}");
        }
    }
}

/// A ledger table with a row id (an earlier version of this tool made it),
/// its rows stored out of key order: read sorted, then stored in key order
/// by the next command that takes the lock, and read the same.
#[test]
fn a_ledger_stored_with_a_row_id_is_read_sorted_and_rebuilt_in_key_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.db");
    drop(ledger_with_rows(&dir, 3));
    {
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "CREATE TABLE old (component TEXT NOT NULL, step TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, step));
             INSERT INTO old SELECT * FROM upgrade_ledger ORDER BY step DESC, component DESC;
             DROP TABLE upgrade_ledger;
             ALTER TABLE old RENAME TO upgrade_ledger;",
        )
        .expect("a table with a row id");
    }
    let stored_order = |path: &Path| -> Vec<String> {
        let conn = Connection::open(path).expect("open");
        let mut stmt = conn
            .prepare("SELECT component || '/' || step FROM upgrade_ledger NOT INDEXED")
            .expect("select");
        stmt.query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<rusqlite::Result<Vec<String>>>()
            .expect("rows")
    };
    let mut expected = stored_order(&path);
    assert_eq!(
        expected[0], "local_a/2007010100-s00002",
        "stored newest first"
    );
    expected.sort();
    let mut reader = SqliteLedger::open(&path, Access::Read)
        .expect("open")
        .expect("some");
    assert_eq!(keys(&mut reader), expected, "sorted as read");
    drop(reader);
    let mut ledger = SqliteLedger::open(&path, Access::Apply)
        .expect("open")
        .expect("some");
    assert_eq!(keys(&mut ledger), expected);
    drop(ledger);
    assert_eq!(stored_order(&path), expected, "stored in key order");
}
