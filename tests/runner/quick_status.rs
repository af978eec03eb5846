//! `status` of a site that completed a release reads the entries that
//! release covers quickly (name, release, phase, checksum): what it may
//! still run is read in full, so no refusal turns into a pass.

use super::*;

const FILE: &str = "lib/db/upgrade.toml";

#[test]
fn sqlite_status_of_a_released_site_still_checks_what_it_may_run() {
    let db = Db::sqlite();
    let tree = after();
    apply_ok(&tree, &db, &[]);
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
    let text = tree.read(FILE);
    let edited = text.replace("-- Adds the lock table.", "-- Adds the lock table, edited.");
    assert_ne!(edited, text);

    // An edit of an entry the site's release covers: it never runs here.
    tree.write(FILE, &edited);
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
    assert_exit(&tree.run(&["check"]), 1);

    // An entry tagged with a release the history does not know is pending
    // on every site: refused, naming the file.
    tree.write(
        FILE,
        &text.replacen(
            "release = \"MOODLE_20_STABLE\"\nphase = \"pre\"",
            "release = \"MOODLE_99_STABLE\"\nphase = \"pre\"",
            1,
        ),
    );
    let out = cmd(&tree, &db, &["status"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(FILE)
            && err.contains("MOODLE_99_STABLE")
            && err.contains("2008010800-lock_table"),
        "{err}"
    );

    // A site still at the previous release runs the MOODLE_20_STABLE
    // entries: the edited one is refused.
    tree.write(FILE, &edited);
    db.exec("UPDATE upgrade_site SET completed_release = 'MOODLE_19_STABLE'");
    let out = cmd(&tree, &db, &["status"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(FILE)
            && err.contains("2008010800-lock_table")
            && err.contains("was edited after release MOODLE_20_STABLE"),
        "{err}"
    );
}
