//! Tests of the checks on a step's text.

use super::*;
use proptest::prelude::*;

fn control(sql: &str, dialect: Dialect) -> Option<(usize, &'static str)> {
    transaction_control(sql, dialect)
}

#[test]
fn hidden_characters_are_refused_with_their_line() {
    for (text, line, what) in [
        (
            "-- harmless comment\rDROP TABLE victim;\n",
            1,
            "lone carriage return",
        ),
        ("SELECT 1;\nSELECT 2;\0DROP TABLE victim;\n", 2, "NUL"),
        ("SELECT 1;\n-- ok \u{202e}\n", 2, "bidirectional"),
        ("SELECT '\u{2066}';\n", 1, "bidirectional"),
        (
            "SELECT 1;\u{2028}DROP TABLE t;\n",
            1,
            "line or paragraph separator",
        ),
        ("SELECT 1;\n\nSELECT vic\u{200b}tim;\n", 3, "zero-width"),
        ("SELECT 1;\n\u{feff}SELECT 2;\n", 2, "byte order mark"),
        ("SELECT 1;\x0c\n", 1, "control character"),
        ("SELECT 1;\u{85}\n", 1, "control character"),
        ("CREATE TABLE t\u{a0}\n(id INT);\n", 1, "U+00A0"),
    ] {
        let p = check_characters(text).expect_err(text);
        assert_eq!(p.line, line, "{text:?}");
        assert!(p.problem.contains(what), "{text:?}: {}", p.problem);
    }
}

#[test]
fn ordinary_text_passes() {
    for text in [
        "\u{feff}SELECT 1;\r\nSELECT 2;   \r\n\tSELECT 3;\t\n",
        "INSERT INTO t VALUES ('Grüße, ÉTÉ, 日本, نص عربي, emoji 👩\u{200d}💻');\n",
        "INSERT INTO t VALUES ('a\u{a0}b');\n",
        "",
    ] {
        assert_eq!(check_characters(text), Ok(()), "{text:?}");
        assert_eq!(check_sql(text, &Dialect::ALL, true), Ok(()), "{text:?}");
    }
}

#[test]
fn white_space_at_a_line_end_inside_quotes_is_refused() {
    for (text, dialect, line) in [
        ("INSERT INTO t VALUES ('a  \nb');\n", Dialect::Sqlite, 1),
        (
            "SELECT 1;\nINSERT INTO t VALUES ('a\nb\t\nc');\n",
            Dialect::Postgres,
            3,
        ),
        (
            "CREATE TABLE \"odd \n name\" (id INT);\n",
            Dialect::Sqlite,
            1,
        ),
        ("DO $$\nBEGIN \nEND $$;\n", Dialect::Postgres, 2),
        ("INSERT INTO t VALUES ('a \r\nb');\n", Dialect::Sqlite, 1),
    ] {
        let p = check_quoted_line_ends(text, dialect).expect_err(text);
        assert_eq!(p.line, line, "{text:?}");
    }
    // Outside quotes (code and comments) it is only layout.
    let fine = "SELECT 1,   \n  2; /* a  \n b */ -- c  \nSELECT 'x  y';  \n";
    for d in Dialect::ALL {
        assert_eq!(check_quoted_line_ends(fine, d), Ok(()));
    }
}

#[test]
fn transaction_control_is_found_with_its_line() {
    let cases = [
        (
            "INSERT INTO a VALUES (1);\nCOMMIT;\nINSERT INTO missing VALUES (2);",
            2,
            "COMMIT",
        ),
        ("begin;\nSELECT 1;", 1, "BEGIN"),
        ("SELECT 1;\n  end transaction;", 2, "END"),
        ("SELECT 1; ROLLBACK TO SAVEPOINT x;", 1, "ROLLBACK"),
        ("SAVEPOINT a;", 1, "SAVEPOINT"),
        ("RELEASE SAVEPOINT a;", 1, "RELEASE"),
        ("START TRANSACTION;", 1, "START TRANSACTION"),
        ("VACUUM;", 1, "VACUUM"),
        ("ATTACH DATABASE 'x.db' AS x;", 1, "ATTACH"),
        ("DETACH x;", 1, "DETACH"),
        ("PRAGMA foreign_keys = OFF;", 1, "PRAGMA foreign_keys"),
        (
            "CREATE INDEX CONCURRENTLY i ON t (a);",
            1,
            "CREATE INDEX CONCURRENTLY",
        ),
        (
            "create unique index concurrently i on t (a);",
            1,
            "CREATE INDEX CONCURRENTLY",
        ),
        ("DROP INDEX CONCURRENTLY i;", 1, "DROP INDEX CONCURRENTLY"),
        (
            "REINDEX (VERBOSE) TABLE CONCURRENTLY t;",
            1,
            "REINDEX ... CONCURRENTLY",
        ),
        ("REINDEX DATABASE d;", 1, "REINDEX DATABASE/SYSTEM"),
        (
            "ALTER TYPE mood ADD VALUE 'meh';",
            1,
            "ALTER TYPE ... ADD VALUE",
        ),
        ("CREATE DATABASE d;", 1, "CREATE/DROP DATABASE"),
        ("ALTER SYSTEM SET work_mem = '1MB';", 1, "ALTER SYSTEM"),
        ("CLUSTER;", 1, "CLUSTER (every table)"),
        ("DISCARD ALL;", 1, "DISCARD ALL"),
        ("PREPARE TRANSACTION 'x';", 1, "PREPARE TRANSACTION"),
        (
            "ALTER TABLE p DETACH PARTITION c CONCURRENTLY;",
            1,
            "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY",
        ),
    ];
    for (sql, line, what) in cases {
        assert_eq!(control(sql, Dialect::Postgres), Some((line, what)), "{sql}");
    }
}

#[test]
fn ordinary_statements_are_not_transaction_control() {
    let sqlite = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET end_at = CASE WHEN 1 THEN 2 END;\nEND;\n\
                  CREATE INDEX i ON t (a);\nPRAGMA foreign_keys;\nSELECT 'COMMIT; BEGIN;';\n\
                  CREATE TABLE savepoint_log (\"begin\" INT, [commit] INT);\n/* ROLLBACK; */ -- END;\n";
    assert_eq!(control(sqlite, Dialect::Sqlite), None);
    let pg = "CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  COMMIT;\nEND;\n$$ LANGUAGE plpgsql;\n\
              CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC\n  SELECT 1;\nEND;\n\
              DO $x$ BEGIN PERFORM 1; END $x$;\nCLUSTER t USING i;\nREINDEX TABLE t;\n\
              ALTER TYPE mood RENAME VALUE 'a' TO 'b';\nALTER TABLE p DETACH PARTITION c;\n\
              SELECT E'\\'; COMMIT; \\'';\n";
    assert_eq!(control(pg, Dialect::Postgres), None);
}

#[test]
fn check_sql_reports_the_first_line_over_both_dialects() {
    // Nested comments: PostgreSQL hides the COMMIT, SQLite runs it.
    let sql = "SELECT 1;\n/* a /* b */ COMMIT; */\n";
    assert_eq!(control(sql, Dialect::Postgres), None);
    assert_eq!(
        check_sql(sql, &Dialect::ALL, true),
        Err(SqlProblem::TransactionControl {
            line: 2,
            statement: "COMMIT"
        })
    );
    assert_eq!(check_sql(sql, &[Dialect::Postgres], true), Ok(()));
    assert_eq!(check_sql(sql, &Dialect::ALL, false), Ok(()));
}

#[test]
fn header_keys_are_recognised_in_any_spelling() {
    assert_eq!(header_key_of(" phase: pre"), Some("phase"));
    assert_eq!(header_key_of(" Phase: pre"), Some("phase"));
    assert_eq!(header_key_of("phase : pre"), Some("phase"));
    assert_eq!(header_key_of("- TRANSACTION:no"), Some("transaction"));
    assert_eq!(header_key_of(" phase out the old column"), None);
    assert_eq!(header_key_of(" note: phase"), None);
}

proptest! {
    /// Whatever the text, the checks never panic, and a refused character
    /// is reported on a line the text has.
    #[test]
    fn checks_never_panic(text in "[a-z ;'\"$\\-\\n\\r\t\u{0}\u{202e}\u{a0}é]{0,60}") {
        let lines = text.split('\n').count();
        match check_sql(&text, &Dialect::ALL, true) {
            Ok(()) => {}
            Err(p) => prop_assert!(p.line() >= 1 && p.line() <= lines),
        }
    }
}

#[test]
fn checking_a_large_step_is_linear() {
    let work = |n: usize| {
        let text: String = (0..n)
            .map(|i| format!("INSERT INTO t VALUES ({i}, 'v{i}');\n"))
            .collect();
        crate::model::op_count::take();
        check_sql(&text, &Dialect::ALL, true).expect("fine");
        crate::model::op_count::take()
    };
    let (small, large) = (work(5_000), work(10_000));
    assert!(large * 10 <= small * 22, "not linear: {small} then {large}");
}
