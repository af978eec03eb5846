//! The runner's scenarios, each written once and run on one backend by
//! `on_backends.rs`: a fresh install, a site at 19, a backported step, C1
//! and P1 checked by real upgrades, failing, interrupted, killed and
//! concurrent applies.

use super::*;

pub(super) fn fresh_install(db: Db) {
    let tree = after();
    assert_exit(&cmd(&tree, &db, &["status"]), 2);
    let keys = plan_keys(&tree, &db);
    assert_eq!(keys.len(), 42, "{keys:?}");
    if matches!(db, Db::Sqlite { .. }) {
        assert!(
            !db.exists(),
            "status and plan must not create the database file"
        );
    }
    let out = apply_ok(&tree, &db, &[]);
    assert!(
        out.contains("completed release MOODLE_20_STABLE: pruned 42 ledger row(s)"),
        "{out}"
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
    assert!(plan_keys(&tree, &db).is_empty());
    let (rows, site) = db.ledger();
    assert!(rows.is_empty(), "{rows:?}");
    assert_eq!(site, "MOODLE_20_STABLE 2008030100.02 2008030100");
    // Idempotent.
    let again = apply_ok(&tree, &db, &[]);
    assert!(
        again.contains("nothing to apply: the site is up to date"),
        "{again}"
    );
    // The trigger of the per-database variant works on this database.
    let data = db.data();
    assert!(data.contains("Moodle 2.0 upgrade"), "{data}");
}

/// A site that ran the 1.9 code (released steps plus the backported fix).
pub(super) fn site_at_19(db: &Db) {
    let tree19 = at_19();
    let out = apply_ok(&tree19, db, &[]);
    assert!(out.contains(BACKPORT), "{out}");
    assert!(out.contains("completed release MOODLE_19_STABLE"), "{out}");
    let (rows, site) = db.ledger();
    assert_eq!(
        rows.len(),
        1,
        "only the backported standalone step keeps a row: {rows:?}"
    );
    assert!(rows[0].starts_with(BACKPORT), "{rows:?}");
    assert_eq!(site, "MOODLE_19_STABLE 2007101500.05 2007101500");
}

pub(super) fn backported_step(db: Db) {
    site_at_19(&db);
    let tree = after();
    let keys = plan_keys(&tree, &db);
    assert_eq!(keys.len(), 27, "{keys:?}");
    assert!(
        !keys.iter().any(|k| k == BACKPORT),
        "the backported step must not run again: {keys:?}"
    );
    let out = apply_ok(&tree, &db, &[]);
    assert!(!out.contains(BACKPORT), "{out}");
    assert!(
        out.contains("pruned 28 ledger row(s)"),
        "27 new rows and the backport's: {out}"
    );
    let (rows, site) = db.ledger();
    assert!(rows.is_empty(), "{rows:?}");
    assert_eq!(site, "MOODLE_20_STABLE 2008030100.02 2008030100");
}

/// C1: from each site state, the tree before and after consolidation pend the
/// same steps, and upgrading with either gives the same schema, data and —
/// once the release is completed — ledger.
pub(super) fn consolidation_is_invisible(db: Db) {
    let tree_before = before();
    let tree_after = after();
    let fresh = db;
    let at19 = fresh.copy();
    site_at_19(&at19);
    let at19_prefix = at19.copy();
    apply_ok(
        &tree_before,
        &at19_prefix,
        &["--to", "core/2008010101-message_indexes"],
    );
    let fresh_prefix = fresh.copy();
    apply_ok(
        &tree_before,
        &fresh_prefix,
        &["--to", "mod_forum/2007113000-forum_tracking"],
    );
    let pre_only = at19.copy();
    apply_ok(&tree_after, &pre_only, &["--phase", "pre"]);
    let states = [
        ("fresh", &fresh),
        ("at 19 with the backport", &at19),
        ("at 19, then a prefix of the 20 steps", &at19_prefix),
        (
            "fresh install interrupted among the 19 steps",
            &fresh_prefix,
        ),
        ("at 19, then the pre phase", &pre_only),
    ];
    for (name, state) in states {
        assert_eq!(
            plan_keys(&tree_before, state),
            plan_keys(&tree_after, state),
            "C1: pending differs from state {name}"
        );
        let a = state.copy();
        let b = state.copy();
        apply_ok(&tree_before, &a, &[]);
        apply_ok(&tree_after, &b, &[]);
        let schema = b.schema();
        assert!(
            schema.contains("webdav_locks") && schema.contains("forum_posts_touch_discussion"),
            "the dump must see the schema: {schema}"
        );
        assert_eq!(a.schema(), schema, "schema differs from state {name}");
        assert_eq!(a.data(), b.data(), "data differs from state {name}");
        // The site upgraded with the old tree then gets the new one: nothing runs,
        // the release completes, and the ledgers are the same.
        assert!(plan_keys(&tree_after, &a).is_empty(), "{name}");
        let out = apply_ok(&tree_after, &a, &[]);
        assert!(!out.contains("applied"), "{name}: {out}");
        assert_eq!(snapshot_of(&a), snapshot_of(&b), "{name}");
        assert_exit(&cmd(&tree_after, &a, &["status"]), 0);
    }
}

/// P1: pruning never changes the plan.
pub(super) fn pruning_is_invisible(db: Db) {
    site_at_19(&db);
    let tree = after();
    apply_ok(&tree, &db, &["--to", "core/2008010101-message_indexes"]);
    // Rows an application kept for released steps, and an orphan.
    let checksum = |component: &str, name: &str| {
        let text = std::fs::read_to_string(tree.path().join("releases/MOODLE_19_STABLE.toml"))
            .expect("rules");
        let section = text
            .split(&format!("[covers.{component}]"))
            .nth(1)
            .expect("component");
        let line = section.lines().find(|l| l.contains(name)).expect("step");
        line.split('"').nth(3).expect("checksum").to_string()
    };
    db.exec(&format!(
        "INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES ('core', '2007080100-config', '{}', '2007-10-01T00:00:00Z');
         INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES ('mod_forum', '2007081500-forum_tables', '{}', '2007-10-01T00:00:00Z');
         INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES ('local_gone', '2007050100-old', 'sha256:{}', '2007-05-01T00:00:00Z');",
        checksum("core", "2007080100-config"),
        checksum("mod_forum", "2007081500-forum_tables"),
        "0".repeat(64)
    ));
    let plan = plan_keys(&tree, &db);
    let status = status_code(&tree, &db);
    let out = cmd(&tree, &db, &["prune"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("pruned 2 ledger row(s) covered by MOODLE_19_STABLE"),
        "{}",
        stdout(&out)
    );
    assert_eq!(plan_keys(&tree, &db), plan, "P1: prune changed the plan");
    assert_eq!(status_code(&tree, &db), status);
    let again = cmd(&tree, &db, &["prune"]);
    assert_exit(&again, 0);
    assert!(
        stdout(&again).contains("nothing to prune"),
        "{}",
        stdout(&again)
    );
    // Orphans: listed, kept without --yes, deleted with it.
    let list = cmd(&tree, &db, &["prune", "--orphans"]);
    assert_exit(&list, 0);
    assert!(
        stdout(&list).contains("local_gone/2007050100-old"),
        "{}",
        stdout(&list)
    );
    assert!(stdout(&list).contains("dangerous"), "{}", stdout(&list));
    assert!(db.ledger().0.iter().any(|r| r.starts_with("local_gone/")));
    assert_exit(&cmd(&tree, &db, &["prune", "--orphans", "--yes"]), 0);
    assert!(!db.ledger().0.iter().any(|r| r.starts_with("local_gone/")));
    assert_eq!(
        plan_keys(&tree, &db),
        plan,
        "P1: deleting orphans changed the plan"
    );
}

/// The reference: a clean, uninterrupted run of `tree` from the state of `db`.
pub(super) fn clean_install(db: &Db, tree: &TempTree) -> (String, String, (Vec<String>, String)) {
    let reference = db.copy();
    apply_ok(tree, &reference, &[]);
    snapshot_of(&reference)
}

pub(super) fn failing_steps_converge(db: Db) {
    // The tree before consolidation, whose steps are standalone files to break.
    let tree = before();
    let expected = clean_install(&db, &tree);
    // A syntax error after a statement that succeeded: nothing of the step stays.
    let file = "lib/db/upgrades/2008010100-message_tables.sql";
    let good = tree.read(file);
    tree.write(
        file,
        &good.replace("CREATE TABLE message_read", "CREAT TABLE message_read"),
    );
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("core/2008010100-message_tables") && err.contains(file),
        "{err}"
    );
    assert!(err.contains("syntax error"), "{err}");
    assert!(
        err.contains("the 23 step(s) before it in this run are committed"),
        "{err}"
    );
    assert!(
        !db.data().lines().any(|l| l.starts_with("message: ")),
        "the failed step left its first table behind"
    );
    assert_eq!(db.ledger().0.len(), 23);
    assert_exit(&cmd(&tree, &db, &["status"]), 2);
    tree.write(file, &good);
    // A constraint violation further on.
    let file = "theme/standard/db/upgrades/2008022000-navbar_defaults.sql";
    let good2 = tree.read(file);
    tree.write(file, &good2.replace("(102,", "(101,"));
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("theme_standard/2008022000-navbar_defaults") && err.contains(file),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains("unique") || err.contains("duplicate key"),
        "{err}"
    );
    tree.write(file, &good2);
    apply_ok(&tree, &db, &[]);
    assert_eq!(snapshot_of(&db), expected);
}

/// A `transaction: no` step that fails midway leaves its first statement and
/// a mark: `status` and `apply` stop on it until the operator has repaired the
/// site and says so with `--retry-interrupted`; the result is a clean run's.
pub(super) fn interrupted_step_needs_a_check(db: Db) {
    let tree = before();
    let expected = clean_install(&db, &tree);
    let file = "mod/forum/db/upgrades/2008021400-posts_created_ix.sql";
    let good = tree.read(file);
    tree.write(
        file,
        &format!("{good}INSERT INTO no_such_table VALUES (1);\n"),
    );
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("--retry-interrupted"),
        "{}",
        stderr(&out)
    );
    tree.write(file, &good);

    let out = cmd(&tree, &db, &["status"]);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("interrupted: mod_forum/2008021400-posts_created_ix"),
        "{}",
        stdout(&out)
    );
    let rows_before = db.ledger().0.len();
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("interrupted midway"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(file), "{}", stderr(&out));
    assert_eq!(
        db.ledger().0.len(),
        rows_before,
        "apply ran steps past the mark"
    );

    // The operator undoes the partial step, then lets apply run it again.
    // (PostgreSQL ran the whole script in its implicit transaction: nothing to undo there.)
    db.exec("DROP INDEX IF EXISTS forum_posts_created_ix");
    apply_ok(
        &tree,
        &db,
        &[
            "--retry-interrupted",
            "--reason",
            "index dropped",
            "--by",
            "bob",
        ],
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
    assert_eq!(
        strings(
            &db,
            "SELECT action || ' ' || step_key || ' ' || actor || ': ' || reason FROM upgrade_audit"
        ),
        ["retried mod_forum/2008021400-posts_created_ix bob: index dropped"]
    );
    assert_eq!(snapshot_of(&db), expected);
}

pub(super) fn spawn_apply(tree: &TempTree, db: &Db, env: &[(&str, &str)]) -> std::process::Child {
    let mut command = Command::new(bin());
    command
        .args(["apply", "--db", &db.arg()])
        .current_dir(tree.path())
        .env("LC_ALL", "C")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    command.spawn().expect("spawn apply")
}

/// Waits until the child prints its pause line; returns what it printed.
pub(super) fn wait_for_pause(child: &mut std::process::Child) -> String {
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("line");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("paused after") {
            return seen;
        }
    }
    panic!("apply ended without pausing: {seen}");
}

pub(super) fn killed_apply_converges(db: Db) {
    let tree = after();
    let expected = clean_install(&db, &tree);
    let mut child = spawn_apply(&tree, &db, &[("CONSOLIDATE_PAUSE_AFTER_STEPS", "17")]);
    wait_for_pause(&mut child);
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(!status.success());
    db.wait_unlocked();
    assert_eq!(
        db.ledger().0.len(),
        17,
        "17 steps were committed before the kill"
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 2);
    // An exit right after a commit, then a second interruption further on.
    let out = tree.run_env(
        &["apply", "--db", &db.arg()],
        &[("CONSOLIDATE_FAULT_AFTER_STEPS", "5")],
    );
    assert_exit(&out, 86);
    db.wait_unlocked();
    apply_ok(&tree, &db, &[]);
    assert_eq!(snapshot_of(&db), expected);
}

pub(super) fn concurrent_apply_is_refused(db: Db) {
    let tree = after();
    let mut child = spawn_apply(&tree, &db, &[("CONSOLIDATE_PAUSE_AFTER_STEPS", "3")]);
    wait_for_pause(&mut child);
    let out = cmd(&tree, &db, &["apply"]);
    let status = cmd(&tree, &db, &["status"]);
    let _ = child.kill();
    let _ = child.wait();
    db.wait_unlocked();
    assert_exit(&out, 1);
    let err = stderr(&out);
    match db {
        Db::Sqlite { .. } => {
            // The lock file names the holder; readers are not locked out.
            assert!(
                err.contains("is locked: another `consolidate apply`")
                    && err.contains(&format!("(pid {} `", child.id()))
                    && err.contains(".db.lock)"),
                "{err}"
            );
            // `status` reads, and names the apply that holds the lock.
            assert_exit(&status, 1);
            assert!(
                stderr(&status).contains(&format!("an apply is running (pid {})", child.id())),
                "{}",
                stderr(&status)
            );
            assert!(
                !stdout(&status).contains("interrupted"),
                "{}",
                stdout(&status)
            );
        }
        Db::Postgres { .. } => {
            // The server names the session that holds the lock.
            assert!(
                err.contains("is locked: another `consolidate apply`")
                    && err.contains("server session pid"),
                "{err}"
            );
            assert_exit(&status, 1);
            assert!(
                stderr(&status).contains("an apply is running (pid"),
                "{}",
                stderr(&status)
            );
            assert!(
                !stdout(&status).contains("interrupted"),
                "{}",
                stdout(&status)
            );
        }
    }
    assert_eq!(db.ledger().0.len(), 3, "the refused run changed nothing");
    apply_ok(&tree, &db, &[]);
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
}
