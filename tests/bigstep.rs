//! Scale of one big step and of a big release (issue 10): a large step
//! applies with its failures still naming `file:line`, and a release whose
//! syncs are batched per folder is still recovered after a SIGKILL anywhere.

use std::path::Path;

use crate::util::{TempTree, assert_exit, kill_after, snapshot, stderr};

const MANIFEST: &str = "[project]\nname = \"b\"\nversion = \"2010010100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"local\", folder = \"local\" },\n]\n";

fn sqlite(db: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.execute_batch(sql).expect("sql");
}

fn count(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count")
}

#[test]
fn a_large_step_applies_and_its_failure_names_the_file_line() {
    let tree = TempTree::empty();
    tree.write("upgrade.toml", MANIFEST);
    let body: String = (0..20_000)
        .map(|i| format!("INSERT INTO t VALUES ({i}, 'value {i}');\n"))
        .collect();
    let step = "lib/db/upgrades/2001010100-big.sql";
    tree.write(step, &format!("-- Loads t.\n{body}"));
    let db = tree.path().join("site.db");
    sqlite(&db, "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT);");
    assert_exit(&tree.run(&["apply", "--db", "site.db"]), 0);
    assert_eq!(count(&db), 20_000);

    // The same size with a failure on the last line: nothing of it stays,
    // and the message names the step file's line.
    let other = TempTree::empty();
    other.write("upgrade.toml", MANIFEST);
    other.write(
        step,
        &format!("-- Loads t.\n{body}INSERT INTO t VALUES\n  (7, 'again');\n"),
    );
    let db = other.path().join("site.db");
    sqlite(&db, "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT);");
    let out = other.run(&["apply", "--db", "site.db"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains(&format!("({step}:20002)")), "{err}");
    assert!(err.contains("UNIQUE"), "{err}");
    assert_eq!(count(&db), 0);
}

/// A tree of 3 components with `n` standalone steps each.
fn release_tree(n: usize) -> TempTree {
    let tree = TempTree::empty();
    tree.write("upgrade.toml", MANIFEST);
    for (c, folder) in ["lib", "local/pa", "local/pb"].iter().enumerate() {
        for s in 0..n {
            tree.write(
                &format!(
                    "{folder}/db/upgrades/20010101{:02}-c{c}s{s:03}.sql",
                    s % 100
                ),
                &format!("INSERT INTO kv VALUES ('{c}.{s}');\n"),
            );
        }
    }
    tree
}

#[test]
fn a_release_killed_anywhere_in_its_batches_is_recovered_by_a_rerun() {
    let args = ["release", "R1", "--allow-dirty"];
    let golden = {
        let tree = release_tree(60);
        assert_exit(&tree.run(&args), 0);
        snapshot(tree.path())
    };
    // 3 upgrade.toml files (one batch of renames, then their folders
    // synced), the release file, the manifest, then 180 deletions (folders
    // synced once at the end): kill inside the first batch, between
    // batches, at the first deletion, midway and at the last deletion.
    for pause_after in [1, 2, 3, 5, 6, 90, 184] {
        let tree = release_tree(60);
        kill_after(tree.path(), &args, pause_after);
        assert_ne!(snapshot(tree.path()), golden, "killed after {pause_after}");
        assert_exit(&tree.run(&args), 0);
        assert_eq!(
            snapshot(tree.path()),
            golden,
            "re-run after a kill at {pause_after}"
        );
    }
}
