//! The runner's scenarios on SQLite and on PostgreSQL, and the cases of one
//! backend only (SQLite files and addresses, PostgreSQL URLs).

use super::scenarios::*;
use super::*;

// ---------------------------------------------------------------- SQLite

#[test]
fn sqlite_fresh_install() {
    fresh_install(Db::sqlite());
}

#[test]
fn sqlite_backported_step_is_not_rerun_and_its_row_is_pruned() {
    backported_step(Db::sqlite());
}

#[test]
fn sqlite_consolidation_is_invisible_c1() {
    consolidation_is_invisible(Db::sqlite());
}

#[test]
fn sqlite_pruning_is_invisible_p1() {
    pruning_is_invisible(Db::sqlite());
}

#[test]
fn sqlite_failing_steps_leave_nothing_and_rerun_converges() {
    failing_steps_converge(Db::sqlite());
}

#[test]
fn sqlite_killed_apply_resumes_to_the_same_state() {
    killed_apply_converges(Db::sqlite());
}

#[test]
fn sqlite_second_apply_is_refused_while_one_runs() {
    concurrent_apply_is_refused(Db::sqlite());
}

#[test]
fn sqlite_noop_steps_are_recorded_and_listed() {
    let db = Db::sqlite();
    let tree = after();
    tree.write(
        "lib/db/upgrades/2008030200-pg_stats.postgres.sql",
        "ANALYZE;\n",
    );
    let plan = cmd(&tree, &db, &["plan"]);
    assert_exit(&plan, 0);
    assert!(
        stdout(&plan).contains("core/2008030200-pg_stats")
            && stdout(&plan).contains("(no-op on sqlite)"),
        "{}",
        stdout(&plan)
    );
    let json = cmd(&tree, &db, &["plan", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("json");
    let step = doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == "2008030200-pg_stats")
        .expect("listed");
    assert_eq!(step["noop"], true);
    let out = apply_ok(&tree, &db, &[]);
    assert!(
        out.contains("core/2008030200-pg_stats no-op on sqlite, recorded"),
        "{out}"
    );
    assert!(
        db.ledger()
            .0
            .iter()
            .any(|r| r.starts_with("core/2008030200-pg_stats"))
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
}

#[test]
fn sqlite_phase_and_to_select_steps() {
    let db = Db::sqlite();
    let tree = after();
    let out = apply_ok(&tree, &db, &["--phase", "pre"]);
    assert!(
        out.contains("[1/1] core/2008010800-lock_table applied"),
        "{out}"
    );
    assert!(out.contains("41 step(s) still pending"), "{out}");
    let out = apply_ok(&tree, &db, &["--to", "2007100900-users_email_ix"]);
    assert!(
        out.contains("[14/14] core/2007100900-users_email_ix applied"),
        "{out}"
    );
    let out = apply_ok(&tree, &db, &["--to", "2007100900-users_email_ix"]);
    assert!(out.contains("nothing to apply in this selection"), "{out}");
    let out = cmd(&tree, &db, &["apply", "--to", "2008022000-navbar_defaults"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("ambiguous")
            && stderr(&out).contains("theme_standard/2008022000-navbar_defaults"),
        "{}",
        stderr(&out)
    );
    let out = cmd(
        &tree,
        &db,
        &[
            "apply",
            "--phase",
            "pre",
            "--to",
            "core/2008021700-webdavlocks",
        ],
    );
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("is a main step"), "{}", stderr(&out));
    let out = cmd(&tree, &db, &["apply", "--phase", "later"]);
    assert_exit(&out, 64);
}

#[test]
fn sqlite_refusals_name_what_to_do() {
    let tree = after();
    // Older than upgrade_from: add an older release to the history.
    let old = after();
    let manifest = old.read("upgrade.toml").replacen(
        "[[release]]",
        "[[release]]\nname = \"MOODLE_18_STABLE\"\nversion = \"2007021500.00\"\n\n[[release]]",
        1,
    );
    old.write("upgrade.toml", &manifest);
    old.write(
        "releases/MOODLE_18_STABLE.toml",
        "release = \"MOODLE_18_STABLE\"\nversion = \"2007021500.00\"\n",
    );
    let db = Db::sqlite();
    apply_ok(&tree, &db, &["--phase", "pre"]);
    db.exec("UPDATE upgrade_site SET completed_release = 'MOODLE_18_STABLE'");
    for args in [&["status"][..], &["plan"], &["apply"]] {
        let out = cmd(&old, &db, args);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains("older than MOODLE_19_STABLE")
                && err.contains("upgrade the site to MOODLE_19_STABLE first"),
            "{args:?}: {err}"
        );
    }
    // A release this code does not know, and a newer version: downgrades.
    db.exec("UPDATE upgrade_site SET completed_release = 'MOODLE_21_STABLE'");
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("MOODLE_21_STABLE, which is not in this code's release history"),
        "{}",
        stderr(&out)
    );
    let status = cmd(&tree, &db, &["status", "--json"]);
    assert_exit(&status, 1);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&status)).expect("json");
    assert_eq!(doc["state"], "refused");
    db.exec(
        "UPDATE upgrade_site SET completed_release = 'MOODLE_19_STABLE', version = '2009010100.00'",
    );
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("downgrade"), "{}", stderr(&out));
    // A fresh site with rows of an interrupted install is fine.
    db.exec("UPDATE upgrade_site SET completed_release = NULL, version = NULL");
    apply_ok(&tree, &db, &[]);
}

#[test]
fn sqlite_drift_stops_apply_unless_accepted() {
    let db = Db::sqlite();
    let tree = before();
    apply_ok(&tree, &db, &["--to", "core/2008010101-message_indexes"]);
    let file = "lib/db/upgrades/2007112000-event_table.sql";
    let text = tree.read(file);
    tree.write(
        file,
        &text.replace(
            "CREATE INDEX event_userid_ix",
            "-- edited after release\nCREATE INDEX event_userid_ix",
        ),
    );
    let status = cmd(&tree, &db, &["status"]);
    assert_exit(&status, 1);
    assert!(
        stdout(&status).contains("drift:    core/2007112000-event_table"),
        "{}",
        stdout(&status)
    );
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("core/2007112000-event_table")
            && stderr(&out).contains("--accept-drift"),
        "{}",
        stderr(&out)
    );
    let out = apply_ok(&tree, &db, &["--accept-drift"]);
    assert!(out.contains("accepted drift"), "{out}");
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
}

#[test]
fn sqlite_bad_addresses_and_files_give_one_clear_message() {
    let tree = after();
    let out = tree.run(&["status", "--db", "mysql://root@localhost/moodle"]);
    assert_exit(&out, 64);
    assert!(
        stderr(&out).contains("`mysql://` is not a supported database"),
        "{}",
        stderr(&out)
    );
    let out = tree.run(&["apply", "--db", "postgres://nobody:secret@127.0.0.1:1/site"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("cannot open the site database postgres://nobody:***@127.0.0.1:1/site"),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
    let missing = tree.path().join("no/such/folder/site.db");
    let missing = missing.to_str().expect("utf-8");
    // A folder that does not exist is a typo, not a fresh site.
    for command in ["status", "apply"] {
        let out = tree.run(&[command, "--db", missing]);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("no/such/folder of the site database")
                && stderr(&out).contains("does not exist")
                && stderr(&out).contains("mkdir -p"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!tree.path().join("no").exists());
    let not_db = tree.path().join("upgrade.toml");
    let out = tree.run(&["status", "--db", not_db.to_str().expect("utf-8")]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("not a database"), "{}", stderr(&out));
}

#[test]
fn sqlite_read_only_file_is_refused_clearly() {
    use std::os::unix::fs::PermissionsExt as _;
    // The unconsolidated tree: its files are readable by every user.
    let tree = before();
    let db = Db::sqlite();
    apply_ok(&tree, &db, &["--phase", "pre"]);
    let before = db.ledger();
    let path = PathBuf::from(db.arg());
    let folder = path.parent().expect("folder").to_path_buf();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    std::fs::set_permissions(tree.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = apply_unprivileged(&tree, &db);
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("is not writable: SQLite keeps its journal next to the database"),
        "{err}"
    );
    assert!(!err.contains("fix the step"), "{err}");
    assert_eq!(db.ledger(), before);
}

// ---------------------------------------------------------------- PostgreSQL

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_fresh_install() {
    fresh_install(Db::postgres("fresh"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_backported_step_is_not_rerun_and_its_row_is_pruned() {
    backported_step(Db::postgres("backport"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_consolidation_is_invisible_c1() {
    consolidation_is_invisible(Db::postgres("c1"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_pruning_is_invisible_p1() {
    pruning_is_invisible(Db::postgres("p1"));
}

#[test]
fn sqlite_interrupted_step_outside_a_transaction_needs_a_check() {
    interrupted_step_needs_a_check(Db::sqlite());
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_interrupted_step_outside_a_transaction_needs_a_check() {
    interrupted_step_needs_a_check(Db::postgres("interrupted"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_failing_steps_leave_nothing_and_rerun_converges() {
    failing_steps_converge(Db::postgres("failing"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_killed_apply_resumes_to_the_same_state() {
    killed_apply_converges(Db::postgres("killed"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_second_apply_is_refused_while_one_runs() {
    concurrent_apply_is_refused(Db::postgres("concurrent"));
}

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://u@h:5/db", "x"),
        "postgres://u@h:5/x"
    );
    assert_eq!(
        with_database("postgres://u@h:5/db?sslmode=disable", "x"),
        "postgres://u@h:5/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
}
