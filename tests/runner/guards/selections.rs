//! Selections that never run a step ahead of what it needs (item 8): `--phase`
//! and `--to` refuse while a required step of another phase is pending,
//! `--with-requirements` runs it first.

use super::*;

/// The tree of acceptance probe 7: a post step requiring a main step.
fn phase_tree() -> TempTree {
    let tree = TempTree::empty();
    tree.write(
        "upgrade.toml",
        "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"mod\", folder = \"mod\" },\n]\n\n[[release]]\nname = \"R1\"\nversion = \"2007000000.00\"\n",
    );
    tree.write(
        "releases/R1.toml",
        "release = \"R1\"\nversion = \"2007000000.00\"\n",
    );
    tree.write(
        "lib/db/upgrades/2008010250-main.sql",
        "CREATE TABLE IF NOT EXISTS log (x TEXT);\nINSERT INTO log VALUES ('main');\n",
    );
    tree.write(
        "lib/db/upgrades/2008010300-post.sql",
        "-- phase: post\n-- requires: core/2008010250-main\nCREATE TABLE IF NOT EXISTS log (x TEXT);\nINSERT INTO log VALUES ('post');\n",
    );
    tree.write(
        "mod/forum/db/upgrades/2008010100-pre.sql",
        "-- phase: pre\nCREATE TABLE f (id INT);\n",
    );
    tree
}

#[test]
fn sqlite_phase_never_runs_ahead_of_what_it_needs() {
    let tree = phase_tree();
    let db = Db::sqlite();
    for args in [
        &["apply", "--phase", "post"][..],
        &["plan", "--phase", "post"],
        &["apply", "--phase", "main"],
        &["apply", "--phase", "post", "--to", "core/2008010300-post"],
    ] {
        let out = cmd(&tree, &db, args);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains("pending step(s) that must run first")
                && err.contains(
                    "mod_forum/2008010100-pre (pre, mod/forum/db/upgrades/2008010100-pre.sql)"
                )
                && err.contains("--with-requirements"),
            "{args:?}: {err}"
        );
    }
    assert!(!db.exists() || ledger_rows(&db).is_empty(), "a step ran");
    let out = apply_ok(&tree, &db, &["--phase", "pre"]);
    assert!(
        out.contains("[1/1] mod_forum/2008010100-pre applied"),
        "{out}"
    );
    let out = cmd(&tree, &db, &["apply", "--phase", "post"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("core/2008010250-main (main, lib/db/upgrades/2008010250-main.sql)"),
        "{}",
        stderr(&out)
    );
    let out = apply_ok(&tree, &db, &["--phase", "post", "--with-requirements"]);
    assert!(out.contains("[2/2] core/2008010300-post applied"), "{out}");
    assert_eq!(
        strings(&db, "SELECT x FROM log ORDER BY rowid"),
        ["main", "post"]
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
}
