//! Errors a user can act on (item 13): a failing statement named by file and
//! line, and a lock held by another application or a read-only folder each with
//! its own message, never "fix the step".

use super::*;

fn sql_errors_name_the_file_line(db: Db) {
    let tree = before();
    let file = "lib/db/upgrades/2008030200-broken.sql";
    tree.write(
        file,
        "-- phase: main\n-- requires: core/2008021700-webdavlocks\nCREATE TABLE broken_a (id INT);\n\nINSERT INTO no_such_table VALUES (1);\n",
    );
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains(&format!("({file}:5)")), "{err}");
    assert!(err.contains("no_such_table"), "{err}");
    tree.write(
        file,
        "-- phase: main\nCREATE TABLE broken_a (id INT);\n-- a comment\nCREAT TABLE broken_b (id INT);\n",
    );
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains(&format!("({file}:4)")), "{err}");
}

#[test]
fn sqlite_sql_errors_name_the_file_line() {
    sql_errors_name_the_file_line(Db::sqlite());
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_sql_errors_name_the_file_line() {
    sql_errors_name_the_file_line(Db::postgres("lines"));
}

/// Another application holding a write transaction: its own message, not "fix the step".
#[test]
fn sqlite_another_applications_lock_has_its_own_message() {
    let tree = after();
    let db = Db::sqlite();
    apply_ok(&tree, &db, &["--phase", "pre"]);
    let conn = rusqlite::Connection::open(db.arg()).expect("open");
    conn.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let out = cmd(&tree, &db, &["apply"]);
    conn.execute_batch("ROLLBACK").expect("unlock");
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("is locked by another process") && err.contains("another application"),
        "{err}"
    );
    assert!(!err.contains("fix the step"), "{err}");
}

/// A folder SQLite cannot write its journal in, with a writable file.
#[test]
fn sqlite_read_only_folder_has_its_own_message() {
    use std::os::unix::fs::PermissionsExt as _;
    let tree = before();
    let db = Db::sqlite();
    apply_ok(&tree, &db, &["--phase", "pre"]);
    let rows = ledger_rows(&db);
    let path = PathBuf::from(db.arg());
    let folder = path.parent().expect("folder").to_path_buf();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    std::fs::set_permissions(tree.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = apply_unprivileged(&tree, &db);
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("is not writable"), "{err}");
    assert!(!err.contains("fix the step"), "{err}");
    assert_eq!(ledger_rows(&db), rows);
}
