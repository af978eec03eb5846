//! The runner's guards end to end (issue 7): output that cannot stop an
//! upgrade, released history the runner refuses to run when edited, site
//! state that is never guessed, `--phase`/`--to` that never run a step ahead
//! of what it needs, secrets that are never printed, errors a user can act on,
//! and interrupted steps that never run twice by accident.

use super::*;

/// `apply | head -2`: a closed stdout must neither stop nor fail the run.
fn closed_stdout_never_stops_apply(db: Db) {
    let tree = after();
    let expected = clean_install(&db, &tree);
    let (reader, writer) = {
        #[allow(clippy::incompatible_msrv)]
        let pair = std::io::pipe().expect("pipe");
        pair
    };
    drop(reader);
    let out = Command::new(bin())
        .args(["apply", "--db", &db.arg()])
        .current_dir(tree.path())
        .env("LC_ALL", "C")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run apply");
    assert_ne!(out.status.code(), Some(101), "panicked: {}", stderr(&out));
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
    assert_eq!(snapshot_of(&db), expected);
}

#[test]
fn sqlite_closed_stdout_never_stops_apply() {
    closed_stdout_never_stops_apply(Db::sqlite());
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_closed_stdout_never_stops_apply() {
    closed_stdout_never_stops_apply(Db::postgres("closed_stdout"));
}

fn ledger_rows(db: &Db) -> Vec<String> {
    strings(
        db,
        "SELECT component || '/' || step FROM upgrade_ledger ORDER BY 1",
    )
}

// ------------------------------------------------ released history (item 6)

/// An edited released entry is refused by `status`, `plan` and `apply`,
/// naming its file and line, and nothing runs; a site that already ran it
/// is not bothered (nothing it will not run is hashed).
fn edited_released_entry_is_refused(db: Db) {
    let tree = after();
    let done = db.copy();
    apply_ok(&tree, &done, &[]);
    let file = "lib/db/upgrade.toml";
    let text = tree.read(file);
    let edited = text.replace(
        "VALUES (1, 'sitename', 'Moodle demo');",
        "VALUES (1, 'sitename', 'Moodle demo'); DROP TABLE config_plugins;",
    );
    assert_ne!(edited, text);
    tree.write(file, &edited);
    for args in [
        &["status"][..],
        &["plan"],
        &["apply"],
        &["apply", "--phase", "pre"],
    ] {
        let out = cmd(&tree, &db, args);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains("lib/db/upgrade.toml:")
                && err.contains("core/2007080100-config was edited after release MOODLE_19_STABLE"),
            "{args:?}: {err}"
        );
    }
    if db.exists() {
        assert!(ledger_rows(&db).is_empty(), "a step ran");
    }
    // The site that completed MOODLE_20_STABLE runs nothing of it: no check.
    assert_exit(&cmd(&tree, &done, &["status"]), 0);
    assert_eq!(
        apply_ok(&tree, &done, &[]).trim(),
        "nothing to apply: the site is up to date"
    );
}

#[test]
fn sqlite_edited_released_entry_is_refused() {
    edited_released_entry_is_refused(Db::sqlite());
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_edited_released_entry_is_refused() {
    edited_released_entry_is_refused(Db::postgres("edited"));
}

/// An entry tagged with a release the history does not know would be
/// pending again on a site that completed it: refused.
#[test]
fn sqlite_entry_of_an_unknown_release_is_refused() {
    let db = Db::sqlite();
    let tree = after();
    apply_ok(&tree, &db, &[]);
    let rows = ledger_rows(&db);
    let file = "lib/db/upgrade.toml";
    let text = tree.read(file);
    let tag = "name = \"2008010800-lock_table\"\nrelease = \"MOODLE_20_STABLE\"";
    assert!(text.contains(tag), "{text}");
    tree.write(
        file,
        &text.replace(
            tag,
            "name = \"2008010800-lock_table\"\nrelease = \"MOODLE_21_STABLE\"",
        ),
    );
    let out = cmd(&tree, &db, &["apply"]);
    if out.status.code() == Some(1) && stderr(&out).contains("lib/db/upgrade.toml") {
        // Refused by the runner, or already when the tree loads.
        let err = stderr(&out);
        assert!(err.contains("MOODLE_21_STABLE"), "{err}");
    } else {
        panic!("apply did not refuse: {}{}", stdout(&out), stderr(&out));
    }
    assert_exit(&cmd(&tree, &db, &["status"]), 1);
    assert_eq!(ledger_rows(&db), rows, "a step ran");
}

// ------------------------------------------------ site state (item 7)

fn site_state_is_never_guessed(db: Db) {
    let tree = after();
    apply_ok(&tree, &db, &["--phase", "pre"]);
    let rows = ledger_rows(&db);
    db.exec("DELETE FROM upgrade_site");
    for args in [&["status"][..], &["plan"], &["apply"]] {
        let out = cmd(&tree, &db, args);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("upgrade_site has no row"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(
        ledger_rows(&db),
        rows,
        "apply ran steps on a site it guessed fresh"
    );
    for bad in ["0", "-3", "two"] {
        db.exec(&format!(
            "UPDATE upgrade_meta SET value = '{bad}' WHERE key = 'schema_version'"
        ));
        for args in [&["status"][..], &["apply"]] {
            let out = cmd(&tree, &db, args);
            assert_exit(&out, 1);
            assert!(
                stderr(&out).contains("upgrade_meta.schema_version is"),
                "{bad} {args:?}: {}",
                stderr(&out)
            );
        }
    }
    assert_eq!(ledger_rows(&db), rows);
}

#[test]
fn sqlite_site_state_is_never_guessed() {
    site_state_is_never_guessed(Db::sqlite());
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_site_state_is_never_guessed() {
    site_state_is_never_guessed(Db::postgres("guessed"));
}

// ------------------------------------------------ selections (item 8)

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

// ------------------------------------------------ secrets (item 12)

#[test]
fn secrets_are_never_printed() {
    let tree = after();
    for (db, secret) in [
        ("postgres://me:s3cr/et@127.0.0.1:1/site", "s3cr"),
        ("postgres://me:s3cr?et@127.0.0.1:1/site", "s3cr"),
        ("postgres://me:s3cr#et@127.0.0.1:1/site", "s3cr"),
        ("postgres://me:s3cr%2Fet@127.0.0.1:1/site", "s3cr"),
        ("postgres://me@127.0.0.1:1/site?password=s3cret", "s3cret"),
        (
            "postgres://me@127.0.0.1:1/site?password=s3cret&password=s3cret2",
            "s3cret",
        ),
        (
            "postgresql://127.0.0.1:1/site?user=me&PassWord=s3cret",
            "s3cret",
        ),
        (
            "host=127.0.0.1 port=1 user=me password=s3cret dbname=site",
            "s3cret",
        ),
        (
            "host=127.0.0.1 port=1 user=me password='s3 cret' dbname=site",
            "s3",
        ),
        ("mysql://me:s3cret@127.0.0.1/site", "s3cret"),
    ] {
        for command in ["status", "plan", "apply", "prune"] {
            let out = tree.run(&[command, "--db", db]);
            assert_ne!(out.status.code(), Some(0), "{command} {db}");
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert!(!all.contains(secret), "{command} {db}: {all}");
            assert!(
                all.contains("***") || all.contains("127.0.0.1"),
                "{command} {db}: {all}"
            );
        }
    }
}

// ------------------------------------------------ errors a user can act on (item 13)

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

// ------------------------------------------------ interrupted steps (item 5)

const SLOW_IX: &str = "mod/forum/db/upgrades/2008021400-posts_created_ix.sql";

/// The operator completes an interrupted step by hand and records it with
/// `--mark-done`: audited, never run twice, and the hint never says to
/// complete it by hand and then run it again.
fn interrupted_step_can_be_marked_done(db: Db) {
    let tree = before();
    let expected = clean_install(&db, &tree);
    let good = tree.read(SLOW_IX);
    tree.write(
        SLOW_IX,
        &format!("{good}INSERT INTO no_such_table VALUES (1);\n"),
    );
    assert_exit(&cmd(&tree, &db, &["apply"]), 1);
    tree.write(SLOW_IX, &good);
    let step = "mod_forum/2008021400-posts_created_ix";
    for args in [&["status"][..], &["apply"]] {
        let out = cmd(&tree, &db, args);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains(&format!("--mark-done {step} --reason"))
                && err.contains("--retry-interrupted"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("by hand, then"), "{args:?}: {err}");
    }
    // --mark-done needs a reason, and the interrupted step.
    assert_exit(&cmd(&tree, &db, &["apply", "--mark-done", step]), 64);
    assert_exit(
        &cmd(&tree, &db, &["apply", "--mark-done", step, "--reason", " "]),
        64,
    );
    let out = cmd(
        &tree,
        &db,
        &[
            "apply",
            "--mark-done",
            "core/2008021700-webdavlocks",
            "--reason",
            "x",
        ],
    );
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!("the interrupted step is {step}")),
        "{}",
        stderr(&out)
    );
    // The operator builds the index by hand, then records it.
    db.exec("CREATE INDEX IF NOT EXISTS forum_posts_created_ix ON forum_posts (created)");
    let out = apply_ok(
        &tree,
        &db,
        &[
            "--mark-done",
            step,
            "--reason",
            "index built by hand",
            "--by",
            "alice",
        ],
    );
    assert!(
        out.contains(&format!("recorded {step} as done without running it")),
        "{out}"
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
    assert_eq!(snapshot_of(&db), expected);
    assert_eq!(
        strings(
            &db,
            "SELECT action || ' ' || step_key || ' ' || actor || ': ' || reason FROM upgrade_audit"
        ),
        [format!("marked-done {step} alice: index built by hand")]
    );
    let out = cmd(
        &tree,
        &db,
        &["apply", "--mark-done", step, "--reason", "again"],
    );
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("no step is interrupted"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sqlite_interrupted_step_can_be_marked_done() {
    interrupted_step_can_be_marked_done(Db::sqlite());
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_interrupted_step_can_be_marked_done() {
    interrupted_step_can_be_marked_done(Db::postgres("mark_done"));
}

/// A killed `apply` whose server session still runs a `transaction: no`
/// step: `status` says an apply is running (never "interrupted"), `apply`
/// names the session and refuses; once the session ends, the step is
/// interrupted and the operator decides.
#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_step_still_running_on_the_server_is_named() {
    let db = Db::postgres("still_running");
    let tree = before();
    let step = "core/2008030200-slow";
    tree.write(
        "lib/db/upgrades/2008030200-slow.sql",
        "-- transaction: no\nSELECT pg_sleep(3);\nCREATE TABLE slow_done (id INT);\n",
    );
    let mut child = spawn_apply(&tree, &db, &[]);
    let Db::Postgres { url, .. } = &db else {
        unreachable!()
    };
    let mut client = pg_connect(url);
    let application = format!("consolidate apply {step}");
    let mut seen = false;
    for _ in 0..3000 {
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
                &[&application],
            )
            .expect("pg_stat_activity")
            .get(0);
        if n > 0 {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(seen, "the step never ran");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let status = cmd(&tree, &db, &["status"]);
    assert_exit(&status, 1);
    assert!(
        stderr(&status).contains("an apply is running (pid"),
        "{}",
        stderr(&status)
    );
    assert!(
        stdout(&status).contains(&application),
        "{}",
        stdout(&status)
    );
    assert!(
        !stdout(&status).contains("interrupted:"),
        "{}",
        stdout(&status)
    );
    let out = cmd(&tree, &db, &["apply", "--retry-interrupted"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("server session pid") && stderr(&out).contains(&application),
        "{}",
        stderr(&out)
    );
    db.wait_unlocked();
    let out = cmd(&tree, &db, &["status"]);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains(&format!("interrupted: {step}")),
        "{}",
        stdout(&out)
    );
    // The operator checks: the server may or may not have finished the step.
    db.exec("CREATE TABLE IF NOT EXISTS slow_done (id INT)");
    apply_ok(
        &tree,
        &db,
        &["--mark-done", step, "--reason", "the server finished it"],
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
    assert!(ledger_rows(&db).contains(&step.to_string()));
}
