//! Tests of the SQLite ledger: locking, scripts and their lines, site state.

use super::*;

fn run<'a>(step: &'a str, sql: Option<&'a str>, transaction: bool) -> StepRun<'a> {
    StepRun {
        component: "core",
        step,
        checksum: "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        sql,
        transaction,
    }
}

#[test]
fn reading_a_missing_file_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.db");
    assert!(
        SqliteLedger::open(&path, Access::Read)
            .expect("open")
            .is_none()
    );
    assert!(!path.exists());
}

#[test]
fn a_failed_step_leaves_nothing_and_triggers_run_as_one_script() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.db");
    let mut ledger = SqliteLedger::open(&path, Access::Apply)
        .expect("open")
        .expect("some");
    assert!(ledger.read().expect("read").exists);
    ledger
        .run_step(&run(
            "2008010100-a",
            Some("CREATE TABLE t (id INT);\nCREATE TABLE log (n INT);\nCREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (NEW.id); INSERT INTO log VALUES (NEW.id + 1); END;\n"),
            true,
        ))
        .expect("step with a trigger");
    let err = ledger
        .run_step(&run(
            "2008010200-b",
            Some("INSERT INTO t VALUES (1);\nCREAT TABLE oops (x INT);\n"),
            true,
        ))
        .expect_err("syntax error");
    assert_eq!(
        err,
        StepRunError::Sql {
            message: "near \"CREAT\": syntax error".into(),
            line: Some(2)
        }
    );
    let err = ledger
        .run_step(&run(
            "2008010250-b",
            Some("-- a comment\nINSERT INTO t VALUES (1);\n\n  -- why\n  INSERT INTO missing\n  VALUES (2);\n"),
            true,
        ))
        .expect_err("missing table");
    assert!(
        matches!(&err, StepRunError::Sql { message, line: Some(5) } if message.contains("no such table")),
        "{err:?}"
    );
    ledger
        .run_step(&run("2008010300-c", None, true))
        .expect("no-op step");
    let stored = ledger.read().expect("read");
    let steps: Vec<&str> = stored.rows.iter().map(|r| r.step()).collect();
    assert_eq!(steps, ["2008010100-a", "2008010300-c"]);
    let n: i64 = ledger
        .conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 0, "the failed step's insert was rolled back");
}

#[test]
fn a_second_writer_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.db");
    let _first = SqliteLedger::open(&path, Access::Apply).expect("first");
    let started = std::time::Instant::now();
    let second = SqliteLedger::open(&path, Access::Apply).expect_err("second writer");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once"
    );
    let LedgerError::Locked {
        holder: Some(holder),
        ..
    } = &second
    else {
        panic!("{second}");
    };
    let pid = format!("pid {} `", std::process::id());
    assert!(holder.starts_with(&pid), "{holder}");
    assert!(holder.ends_with("site.db.lock"), "{holder}");
    // Readers are not locked out: they read the committed ledger.
    let stored = SqliteLedger::open(&path, Access::Read)
        .expect("open")
        .expect("exists")
        .read()
        .expect("read while an apply holds the upgrade lock");
    assert!(stored.exists);
}

#[test]
fn the_upgrade_lock_is_released_with_the_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.db");
    drop(SqliteLedger::open(&path, Access::Apply).expect("first"));
    drop(SqliteLedger::open(&path, Access::Apply).expect("second, after the first"));
    let lock = dir.path().join("site.db.lock");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&lock)
            .expect("lock file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o600, 0o600, "{mode:o}");
    }
    let mode: String = Connection::open(&path)
        .expect("open")
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal", "the journal mode is stored in the file");
}

/// The application's per-request query (docs/ledger.md) while a step's write
/// transaction is open on the apply connection: it returns the committed
/// maintenance row at once, read-write or read-only, and does not see the
/// uncommitted write.
#[test]
fn readers_see_committed_maintenance_during_a_step() {
    use super::super::maintenance::{MaintenanceStore as _, ScopeChange, ScopeEvent, ScopeState};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.db");
    let mut ledger = SqliteLedger::open(&path, Access::Apply)
        .expect("open")
        .expect("created");
    ledger
        .change_scope(&ScopeChange {
            scope: "mod_forum".into(),
            state: Some(ScopeState::Maintenance),
            reason: "upgrading".into(),
            event: ScopeEvent::Enter,
            detail: String::new(),
        })
        .expect("enter");
    let tx = ledger.conn.transaction().expect("step transaction");
    tx.execute_batch(
        "CREATE TABLE forum_posts (id INTEGER PRIMARY KEY); DELETE FROM upgrade_maintenance; INSERT INTO upgrade_maintenance (scope, state, since, reason) VALUES ('*', 'failed', 'x', 'uncommitted')",
    )
    .expect("the step's writes");
    for flags in [
        OpenFlags::SQLITE_OPEN_READ_WRITE,
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    ] {
        let reader = Connection::open_with_flags(&path, flags).expect("reader");
        reader
            .busy_timeout(Duration::from_secs(2))
            .expect("timeout");
        let started = std::time::Instant::now();
        let row: (String, String) = reader
            .query_row(
                "SELECT scope, state FROM upgrade_maintenance WHERE scope IN ('*', ?1) LIMIT 1",
                ["mod_forum"],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("the application's read during the step");
        assert_eq!(row, ("mod_forum".into(), "maintenance".into()));
        assert!(started.elapsed() < Duration::from_secs(1), "no wait");
    }
    tx.commit().expect("commit");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.db");
    drop(SqliteLedger::open(&path, Access::Apply).expect("create"));
    Connection::open(&path)
        .expect("open")
        .execute("UPDATE upgrade_meta SET value = '99'", [])
        .expect("update");
    let err = SqliteLedger::open(&path, Access::Apply).expect_err("newer schema");
    assert!(
        matches!(err, LedgerError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
}

fn created(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("site.db");
    drop(SqliteLedger::open(&path, Access::Apply).expect("create"));
    path
}

fn read(path: &Path) -> Result<Stored, LedgerError> {
    SqliteLedger::open(path, Access::Read)?
        .expect("exists")
        .read()
}

#[test]
fn a_missing_site_row_is_corruption_not_a_fresh_site() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = created(&dir);
    Connection::open(&path)
        .expect("open")
        .execute("DELETE FROM upgrade_site", [])
        .expect("delete");
    let err = read(&path).expect_err("no site row");
    assert!(
        matches!(&err, LedgerError::Corrupt { what, .. } if what.contains("upgrade_site has no row")),
        "{err}"
    );
}

#[test]
fn a_schema_version_that_is_no_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = created(&dir);
    for bad in ["0", "-1", "x"] {
        Connection::open(&path)
            .expect("open")
            .execute(
                "UPDATE upgrade_meta SET value = ?1 WHERE key = 'schema_version'",
                [bad],
            )
            .expect("update");
        let err = read(&path).expect_err(bad);
        assert!(matches!(err, LedgerError::Corrupt { .. }), "{bad}: {err}");
        let err = SqliteLedger::open(&path, Access::Apply).expect_err(bad);
        assert!(matches!(err, LedgerError::Corrupt { .. }), "{bad}: {err}");
    }
}

#[test]
fn a_version_1_ledger_is_migrated_when_locked() {
    let v4 = "DROP TABLE upgrade_components;";
    let v3 = format!(
        "{v4} DROP TABLE upgrade_maintenance; DROP TABLE upgrade_events; \
         DROP TABLE upgrade_batch_steps; DROP TABLE upgrade_batches;"
    );
    for (from, downgrade) in [
        ("1", format!("{v3} DROP TABLE upgrade_audit;")),
        ("2", v3.clone()),
        ("3", v4.to_string()),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = created(&dir);
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(&format!(
            "{downgrade} UPDATE upgrade_meta SET value = '{from}' WHERE key = 'schema_version';"
        ))
        .expect("downgrade");
        drop(conn);
        assert!(read(&path).expect("an old ledger reads").exists);
        drop(SqliteLedger::open(&path, Access::Apply).expect("migrate"));
        let conn = Connection::open(&path).expect("open");
        assert_eq!(
            schema_version(&conn).expect("version").as_deref(),
            Some("4"),
            "from version {from}"
        );
        for table in [
            "upgrade_components",
            "upgrade_audit",
            "upgrade_maintenance",
            "upgrade_events",
            "upgrade_batch_steps",
            "upgrade_batches",
        ] {
            assert!(
                table_exists(&conn, table).expect("table"),
                "{table} from {from}"
            );
        }
    }
}

#[test]
fn a_missing_folder_has_its_own_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("no/such/site.db");
    for access in [Access::Read, Access::Apply] {
        let err = SqliteLedger::open(&path, access).expect_err("no folder");
        assert!(matches!(err, LedgerError::NoFolder { .. }), "{err}");
    }
    assert!(!dir.path().join("no").exists());
}

#[test]
fn a_folder_is_not_a_database_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    for access in [Access::Read, Access::Apply] {
        let err = SqliteLedger::open(dir.path(), access).expect_err("a folder");
        assert!(err.to_string().contains("this is a folder"), "{err}");
    }
}
