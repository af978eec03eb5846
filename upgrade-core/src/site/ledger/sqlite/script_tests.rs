//! Tests of running a script on SQLite: lines of failures, and linear cost
//! (SQLite is never handed the rest of the script to copy per statement).

use super::*;
use rusqlite::limits::Limit;

fn conn() -> Connection {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT);")
        .expect("schema");
    conn
}

fn inserts(n: usize) -> String {
    (0..n)
        .map(|i| format!("INSERT INTO t VALUES ({i}, 'value {i}');\n"))
        .collect()
}

fn line_of(result: Result<(), StepRunError>) -> (String, Option<usize>) {
    match result {
        Err(StepRunError::Sql { message, line }) => (message, line),
        other => panic!("expected a SQL error, got {other:?}"),
    }
}

#[test]
fn a_large_script_is_parsed_one_statement_at_a_time() {
    // SQLite refuses to copy more than SQLITE_LIMIT_SQL_LENGTH bytes; before
    // the script was NUL terminated, every prepare copied the rest of the
    // script (quadratic), and the first one failed here with "statement too long".
    let conn = conn();
    conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, 1_000)
        .expect("limit");
    let script = inserts(5_000);
    assert!(script.len() > 100 * 1_000);
    run_script("db", &conn, &script).expect("runs");
    let count: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(count, 5_000);
}

#[test]
fn locating_statements_scans_each_byte_a_bounded_number_of_times() {
    let work = |n: usize| {
        let conn = conn();
        let script = format!("-- lead\n{};\n /* x */ ;\n-- tail\n", inserts(n));
        crate::model::op_count::take();
        run_script("db", &conn, &script).expect("runs");
        let work = crate::model::op_count::take();
        assert!(
            work <= 3 * script.len() as u64,
            "{n} statements ({} bytes) cost {work} units",
            script.len()
        );
        work
    };
    let (small, large) = (work(2_000), work(4_000));
    assert!(large * 10 <= small * 22, "not linear: {small} then {large}");
}

#[test]
fn failures_name_their_line_after_empty_statements_and_comments() {
    let head = "-- a comment; with a semicolon\nINSERT INTO t VALUES (1, 'a');;\n;\n/* block\n; */\nINSERT INTO t VALUES (2, 'b');\n";
    // A constraint failure: where its statement starts (comments skipped).
    let (message, line) = line_of(run_script(
        "db",
        &conn(),
        &format!("{head}-- next\nINSERT INTO t VALUES\n (1, 'again');\n"),
    ));
    assert!(message.contains("UNIQUE"), "{message}");
    assert_eq!(line, Some(8));
    // A syntax error: SQLite's own offset.
    let (message, line) = line_of(run_script(
        "db",
        &conn(),
        &format!("{head}INSERT INTO t\nVALUES (3, 'c') oops;\n"),
    ));
    assert!(message.contains("oops"), "{message}");
    assert_eq!(line, Some(8));
    // Far into a large script.
    let script = format!("{}INSERT INTO t VALUES (7, 'dup');\n", inserts(3_000));
    let (_, line) = line_of(run_script("db", &conn(), &script));
    assert_eq!(line, Some(3_001));
    // A statement with a parameter cannot be located by its expanded text:
    // a later failure still names a line at or before it, never past it.
    let (_, line) = line_of(run_script(
        "db",
        &conn(),
        "INSERT INTO t VALUES (1, 'a');\nSELECT ?1;\nINSERT INTO t VALUES (1, 'a');\n",
    ));
    assert!(line.is_some_and(|l| l <= 3), "{line:?}");
}
