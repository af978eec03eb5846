//! Consolidation end to end on the demo: the golden result, a pure dry run,
//! idempotence (I1), determinism, every documented bad input, and crashes at
//! every file operation (simulated and with a real SIGKILL).

use std::path::Path;

use crate::util::*;

const RELEASE: [&str; 3] = ["release", "MOODLE_20_STABLE", "--allow-dirty"];

fn assert_golden(root: &Path) {
    let got = snapshot(root);
    let want = snapshot(&fixture("demo-after-20"));
    let names = |s: &[(String, Vec<u8>)]| s.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&got),
        names(&want),
        "files differ from fixtures/demo-after-20"
    );
    for ((path, a), (_, b)) in got.iter().zip(&want) {
        assert!(
            a == b,
            "{path} differs from fixtures/demo-after-20:\n{}",
            String::from_utf8_lossy(a)
        );
    }
}

#[test]
fn demo_consolidates_to_the_golden_tree_and_check_passes() {
    let tree = TempTree::copy_of("demo");
    let out = tree.run(&RELEASE);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("fold 30 standalone step(s)"),
        "{}",
        stderr(&out)
    );
    assert_golden(tree.path());
    assert_exit(&tree.run(&["check"]), 0);
    // Rewritten and new files are readable by others (a web server), like the files they replace.
    #[cfg(unix)]
    for rel in [
        "upgrade.toml",
        "releases/MOODLE_20_STABLE.toml",
        "mod/forum/db/upgrade.toml",
        "local/reports/db/upgrade.toml",
    ] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(tree.path().join(rel))
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644, "{rel} has mode {mode:o}");
    }
}

#[test]
fn dry_run_prints_the_diff_and_changes_nothing() {
    let tree = TempTree::copy_of("demo");
    let before = snapshot(tree.path());
    let out = tree.run(&["release", "MOODLE_20_STABLE", "--dry-run"]);
    assert_exit(&out, 0);
    let diff = stdout(&out);
    assert!(
        diff.contains("+++ b/releases/MOODLE_20_STABLE.toml"),
        "{diff}"
    );
    assert!(
        diff.contains("--- a/lib/db/upgrades/2008021700-webdavlocks.sql\n+++ /dev/null"),
        "{diff}"
    );
    assert!(diff.contains("+name = \"MOODLE_20_STABLE\""), "{diff}");
    assert_eq!(snapshot(tree.path()), before);
}

#[test]
fn second_release_changes_no_byte_and_old_names_are_refused() {
    let tree = TempTree::copy_of("demo-after-20");
    let before = snapshot(tree.path());
    let out = tree.run(&RELEASE);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("already the newest release"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(tree.path()), before);
    let out = tree.run(&["release", "MOODLE_19_STABLE", "--allow-dirty"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("MOODLE_20_STABLE is newer"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(tree.path()), before);
}

#[test]
fn output_does_not_depend_on_the_order_files_were_created_in() {
    // Create the tree's files in reverse order, into folders made in reverse order.
    let tree = TempTree::empty();
    let mut files = snapshot(&fixture("demo"));
    files.reverse();
    for (rel, bytes) in &files {
        let path = tree.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
    assert_exit(
        &tree.run_env(
            &RELEASE,
            &[("LC_ALL", "tr_TR.UTF-8"), ("TZ", "Pacific/Kiritimati")],
        ),
        0,
    );
    assert_golden(tree.path());
}

#[test]
fn every_bad_tree_gives_its_documented_error() {
    let dir = fixture("bad");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/bad")
        .map(|e| e.expect("entry").path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "only {} bad cases", cases.len());
    for case in cases {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let expected = std::fs::read_to_string(case.join("EXPECTED")).expect("EXPECTED file");
        let expected = expected.trim();
        for args in [&["check"][..], &RELEASE[..]] {
            let out = run_in(&case, args, &[]);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{name} {args:?}: {err}");
            assert!(
                err.contains(expected),
                "{name} {args:?}: expected {expected:?} in:\n{err}"
            );
            assert!(err.starts_with("error: "), "{name}: {err}");
            assert!(err.contains("hint: "), "{name}: no hint in {err}");
        }
    }
    // The line is named where it is known.
    let err = stderr(&run_in(&fixture("bad/broken-toml"), &["check"], &[]));
    assert!(err.contains("upgrade.toml:6:"), "{err}");
}

#[test]
fn killed_after_any_file_operation_a_rerun_completes_the_job() {
    let total = {
        let probe = TempTree::copy_of("demo");
        assert_exit(&probe.run(&RELEASE), 0);
        // 12 writes (10 upgrade.toml, release file, manifest) and 29 deletions.
        41
    };
    for n in 1..=total {
        let tree = TempTree::copy_of("demo");
        let n_text = n.to_string();
        let out = tree.run_env(&RELEASE, &[("CONSOLIDATE_FAULT_AFTER", &n_text)]);
        if n < total {
            assert_eq!(
                out.status.code(),
                Some(86),
                "fault point {n} not reached: {}",
                stderr(&out)
            );
            // The interrupted tree still loads: nothing is lost or doubled.
            let check = tree.run(&["check"]);
            assert!(
                check.status.code() == Some(0) || check.status.code() == Some(1),
                "{}",
                stderr(&check)
            );
        }
        assert_exit(&tree.run(&RELEASE), 0);
        assert_golden(tree.path());
        assert_exit(&tree.run(&["check"]), 0);
    }
}

#[test]
fn a_real_kill_midway_is_recovered_by_a_rerun() {
    for pause_after in [3, 20] {
        let tree = TempTree::copy_of("demo");
        kill_after(tree.path(), &RELEASE, pause_after);
        assert_ne!(snapshot(tree.path()), snapshot(&fixture("demo-after-20")));
        assert_exit(&tree.run(&RELEASE), 0);
        assert_golden(tree.path());
    }
}

#[test]
fn commit_makes_one_commit_listing_the_folded_steps() {
    let tree = TempTree::copy_of("demo");
    let repo = git2::Repository::init(tree.path()).expect("init");
    let mut config = repo.config().expect("config");
    config
        .set_str("user.name", "Release Manager")
        .expect("name");
    config
        .set_str("user.email", "rm@example.org")
        .expect("email");
    let sig = repo.signature().expect("sig");
    let mut index = repo.index().expect("index");
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.write().expect("write index");
    let tree_id = index.write_tree().expect("tree");
    let t = repo.find_tree(tree_id).expect("find tree");
    repo.commit(Some("HEAD"), &sig, &sig, "base", &t, &[])
        .expect("commit");

    // A dirty work tree is refused without --allow-dirty.
    tree.write("notes.txt", "scratch");
    let out = tree.run(&["release", "MOODLE_20_STABLE", "--commit"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("uncommitted change"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(tree.path().join("notes.txt")).expect("rm");

    assert_exit(
        &tree.run(&["release", "MOODLE_20_STABLE", "--commit", "--tag"]),
        0,
    );
    let head = repo.head().expect("head").peel_to_commit().expect("commit");
    let message = head.message().expect("utf-8 message");
    assert!(
        message.starts_with("Consolidate MOODLE_20_STABLE: fold 30 standalone steps"),
        "{message}"
    );
    assert!(
        message.contains("- core/2008021700-webdavlocks\n"),
        "{message}"
    );
    assert_eq!(head.parent_count(), 1);
    let statuses = repo.statuses(None).expect("status");
    assert!(statuses.is_empty(), "uncommitted changes left");
    assert!(repo.find_reference("refs/tags/MOODLE_20_STABLE").is_ok());
}

/// A minimal tree: core in `lib/`, plugins of type `mod`, one step.
fn minimal_tree() -> TempTree {
    let tree = TempTree::empty();
    tree.write(
        "upgrade.toml",
        "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"mod\", folder = \"mod\" },\n]\n",
    );
    tree.write(
        "lib/db/upgrades/2008010100-a.sql",
        "CREATE TABLE a (id INT);\n",
    );
    tree
}

#[test]
fn one_check_run_names_every_bad_file_and_json_stays_json() {
    let tree = minimal_tree();
    let bad = ["20080101-x", "2008010100-Bad", "2008010100-.sql2"];
    for name in bad {
        tree.write(&format!("lib/db/upgrades/{name}.sql"), "SELECT 1;\n");
    }
    let out = tree.run(&["check"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    for name in bad {
        assert!(
            err.contains(&format!("lib/db/upgrades/{name}.sql: ")),
            "{name} not named:\n{err}"
        );
    }
    assert!(
        err.starts_with("error: the step tree has 3 problems:"),
        "{err}"
    );
    assert_eq!(err.matches("hint: ").count(), 3, "{err}");

    let out = tree.run(&["check", "--json"]);
    assert_exit(&out, 1);
    let doc: serde_json::Value =
        serde_json::from_str(&stdout(&out)).expect("check --json prints JSON");
    assert_eq!(doc["ok"], false);
    let errors = doc["errors"].as_array().expect("errors");
    let files: Vec<&str> = errors
        .iter()
        .map(|e| e["file"].as_str().expect("file"))
        .collect();
    assert_eq!(
        files,
        vec![
            "lib/db/upgrades/20080101-x.sql",
            "lib/db/upgrades/2008010100-.sql2.sql",
            "lib/db/upgrades/2008010100-Bad.sql"
        ]
    );
    assert!(
        errors
            .iter()
            .all(|e| e["message"].is_string() && e["hint"].is_string() && e.get("line").is_some())
    );

    // No tree at all: still one JSON document.
    let empty = TempTree::empty();
    let out = empty.run(&[
        "check",
        "--json",
        "--root",
        &empty.path().display().to_string(),
    ]);
    assert_exit(&out, 1);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON without a tree");
    assert!(
        doc["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("no upgrade.toml")
    );
}

#[test]
fn a_manifest_folder_or_a_link_leaving_the_root_is_refused() {
    let tree = minimal_tree();
    let outside = TempTree::empty();
    outside.write(
        "forum/db/upgrades/2008010200-f.sql",
        "CREATE TABLE f (id INT);\n",
    );
    let manifest = tree.read("upgrade.toml");
    let escaped = format!(
        "../{}",
        outside.path().file_name().expect("name").to_string_lossy()
    );
    tree.write(
        "upgrade.toml",
        &manifest.replace("folder = \"mod\"", &format!("folder = \"{escaped}\"")),
    );
    for args in [&["list"][..], &["check"][..]] {
        let out = tree.run(args);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains(
                "upgrade.toml:9: leads outside the tree root: `folder` of plugin type `mod`"
            ),
            "{args:?}: {err}"
        );
        assert!(err.contains("hint: "), "{err}");
    }

    // A step file linked from outside, and a plugin folder linked from outside.
    tree.write("upgrade.toml", &manifest);
    std::os::unix::fs::symlink(
        outside.path().join("forum/db/upgrades/2008010200-f.sql"),
        tree.path().join("lib/db/upgrades/2008010300-out.sql"),
    )
    .expect("link");
    std::fs::create_dir_all(tree.path().join("mod")).expect("mkdir");
    std::os::unix::fs::symlink(outside.path().join("forum"), tree.path().join("mod/forum"))
        .expect("link");
    let out = tree.run(&["check"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("lib/db/upgrades/2008010300-out.sql: leads outside the tree root"),
        "{err}"
    );
    assert!(
        err.contains("mod/forum: leads outside the tree root"),
        "{err}"
    );
}

#[test]
fn editor_leftovers_are_ignored_with_a_warning() {
    let tree = minimal_tree();
    tree.write("lib/db/upgrades/2008010100-a.sql~", "DROP TABLE a;\n");
    tree.write("lib/db/upgrades/.2008010100-a.sql.swp", "binary\n");
    let out = tree.run(&["check"]);
    assert_exit(&out, 0);
    assert_eq!(
        stderr(&out),
        "warning: lib/db/upgrades/.2008010100-a.sql.swp: ignored: an editor or merge leftover, never a step\n\
         warning: lib/db/upgrades/2008010100-a.sql~: ignored: an editor or merge leftover, never a step\n"
    );
    let db = tree.path().join("site.db");
    let out = tree.run(&["apply", "--db", &db.display().to_string()]);
    assert_exit(&out, 0);
    let out = tree.run(&["status", "--db", &db.display().to_string()]);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("warning: lib/db/upgrades/2008010100-a.sql~"),
        "{}",
        stderr(&out)
    );
}

// ------------------------------------------------- what runs is what was reviewed

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
