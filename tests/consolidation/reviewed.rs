//! What runs is what was reviewed: a `COMMIT` inside a transactional step,
//! text hidden from editors and diffs (lone carriage returns, NUL bytes,
//! bidirectional controls) and headers that would be lost are refused by
//! `check` and `apply` before anything runs.

use std::path::Path;

use crate::util::*;

/// A minimal tree (core in `lib/`, release R1) whose one step creates table `a`.
fn tree_with_table_a() -> TempTree {
    let tree = TempTree::empty();
    tree.write(
        "upgrade.toml",
        "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = []\n\n[[release]]\nname = \"R1\"\nversion = \"2007000000.00\"\n",
    );
    tree.write(
        "releases/R1.toml",
        "release = \"R1\"\nversion = \"2007000000.00\"\n",
    );
    tree.write(
        "lib/db/upgrades/2008010100-a.sql",
        "CREATE TABLE a (id INT);\nCREATE TABLE victim (id INT);\n",
    );
    tree
}

/// Rows of `a` and the tables of the SQLite database at `db`.
fn rows_and_tables(db: &Path) -> (i64, Vec<String>) {
    let conn = rusqlite::Connection::open(db).expect("open");
    let rows = conn
        .query_row("SELECT count(*) FROM a", [], |r| r.get(0))
        .expect("count");
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('a', 'victim') ORDER BY name")
        .expect("prepare");
    let tables = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<Vec<String>, _>>()
        .expect("rows");
    (rows, tables)
}

#[test]
fn commit_in_a_transactional_step_is_refused_by_check_and_apply_and_nothing_runs() {
    let tree = tree_with_table_a();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("site.db");
    let db_arg = db.to_str().expect("utf-8 path");
    assert_exit(&tree.run(&["apply", "--db", db_arg]), 0);
    tree.write(
        "lib/db/upgrades/2008010300-tx.sql",
        "INSERT INTO a VALUES (1);\nCOMMIT;\nINSERT INTO missing VALUES (2);\n",
    );
    for args in [vec!["check"], vec!["apply", "--db", db_arg]] {
        let out = tree.run(&args);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains("lib/db/upgrades/2008010300-tx.sql:2: `COMMIT`"),
            "{args:?}: {err}"
        );
        assert!(err.contains("-- transaction: no"), "{args:?}: {err}");
    }
    // Nothing ran: the first INSERT was not committed.
    assert_eq!(rows_and_tables(&db).0, 0);

    // Declared non-transactional, the same kind of step is accepted and runs.
    tree.write(
        "lib/db/upgrades/2008010300-tx.sql",
        "-- transaction: no\nBEGIN;\nINSERT INTO a VALUES (1);\nCOMMIT;\n",
    );
    assert_exit(&tree.run(&["check"]), 0);
    assert_exit(&tree.run(&["apply", "--db", db_arg]), 0);
    assert_eq!(rows_and_tables(&db).0, 1);
}

#[test]
fn hidden_text_and_lost_headers_are_refused_before_anything_runs() {
    let tree = tree_with_table_a();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("site.db");
    let db_arg = db.to_str().expect("utf-8 path");
    assert_exit(&tree.run(&["apply", "--db", db_arg]), 0);
    let step = "lib/db/upgrades/2008010300-x.sql";
    for (text, line, what) in [
        // Shows as one comment line in every editor and diff; the DROP would run.
        (
            "-- harmless comment\rDROP TABLE victim;\nSELECT 1;\n",
            1,
            "lone carriage return",
        ),
        ("SELECT 1;\nSELECT 2;\0DROP TABLE victim;\n", 2, "NUL byte"),
        ("SELECT 1; -- \u{202e}; ELBAT PORD\n", 1, "bidirectional"),
        // The header is lost after a blank first line: the COMMIT would run in a transaction.
        (
            "\n-- transaction: no\nSELECT 1;\n",
            2,
            "after the header block",
        ),
        (
            "-- Phase: post\nDROP TABLE victim;\n",
            1,
            "not spelled as one",
        ),
        (
            "INSERT INTO a VALUES (1);\nINSERT INTO t VALUES ('x \ny');\n",
            2,
            "inside a string",
        ),
    ] {
        tree.write(step, text);
        for args in [vec!["check"], vec!["apply", "--db", db_arg]] {
            let out = tree.run(&args);
            assert_exit(&out, 1);
            let err = stderr(&out);
            assert!(
                err.contains(&format!("{step}:{line}: ")),
                "{text:?} {args:?}: {err}"
            );
            assert!(err.contains(what), "{text:?} {args:?}: {err}");
        }
        assert_eq!(
            rows_and_tables(&db),
            (0, vec!["a".to_string(), "victim".to_string()]),
            "{text:?}"
        );
    }
    // CRLF line ends stay accepted.
    tree.write(step, "-- phase: main\r\nINSERT INTO a VALUES (1);  \r\n");
    assert_exit(&tree.run(&["apply", "--db", db_arg]), 0);
    assert_eq!(rows_and_tables(&db).0, 1);
}
