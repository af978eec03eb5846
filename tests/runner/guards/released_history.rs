//! Released history the runner refuses to run when edited (item 6): an edited
//! released entry and an entry tagged with a release the history does not know.

use super::*;

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
