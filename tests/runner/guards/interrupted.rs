//! Interrupted steps that never run twice by accident (item 5): `--mark-done`
//! records a step completed by hand, and a step still running on the PostgreSQL
//! server is named, never called interrupted.

use super::*;

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
