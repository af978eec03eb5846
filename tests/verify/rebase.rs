//! `rebase --onto` of the custom branches: the custom branch moves onto the
//! next release without relabelling its steps (and its steps run exactly once
//! on a site upgrading from the custom build), a conflicting twin, a dirty work
//! tree and an edited upstream step stop it with nothing written.

use crate::history::{self, History};
use crate::util::*;

#[test]
fn rebase_moves_the_custom_branch_onto_20_without_relabelling() {
    let h = History::build();
    h.checkout("custom-19");
    let before = h.snapshot();
    let dry = h.run(&["rebase", "--onto", "MOODLE_20_STABLE", "--dry-run"]);
    assert_exit(&dry, 0);
    assert_eq!(h.snapshot(), before, "--dry-run wrote something");
    assert!(
        stdout(&dry).contains("+++ b/lib/db/upgrade.toml"),
        "{}",
        stdout(&dry)
    );
    assert!(
        stdout(&dry).contains("--- a/lib/db/upgrades/2007111000-grade_table.sql"),
        "{}",
        stdout(&dry)
    );

    let out = h.run(&["rebase", "--onto", "MOODLE_20_STABLE"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    for line in [
        "carried component local_myuni whole (1 step(s), 1 file(s))",
        "carried core/2007113000-myuni_user_field as lib/db/upgrades/2007113000-myuni_user_field.sql",
        "dropped core/2007111000-grade_table: MOODLE_20_STABLE already has it with the same content, consolidated in MOODLE_20_STABLE",
        "dropped mod_forum/2007112000-forum_tracking: MOODLE_20_STABLE already has it",
        "1 step(s) carried, 2 dropped, 1 component(s) carried whole",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    // Own steps keep their names and bytes; application code is untouched.
    assert_eq!(
        h.read("lib/db/upgrades/2007113000-myuni_user_field.sql"),
        history::MYUNI_USER_FIELD
    );
    assert_eq!(
        h.read("local/myuni/db/upgrades/2007111500-myuni_enrolments.sql"),
        history::MYUNI_ENROLMENTS
    );
    assert!(h.exists("local/myuni/version.php"));
    assert!(h.exists("lib/setup.php"));
    assert!(!h.exists("lib/db/upgrades/2007111000-grade_table.sql"));
    assert!(!h.exists("mod/forum/db/upgrades/2007112000-forum_tracking.sql"));
    assert!(h.exists("blocks/navigation/db/upgrade.toml"));
    assert!(
        h.read("upgrade.toml")
            .contains("name = \"MOODLE_20_STABLE\"")
    );

    assert_exit(&h.run(&["check"]), 0);
    let verify = h.run(&[
        "verify",
        "--against",
        "custom-19",
        "--against",
        "MOODLE_20_STABLE",
    ]);
    assert_exit(&verify, 0);
    // Rebasing again changes nothing.
    let again = h.run(&["rebase", "--onto", "MOODLE_20_STABLE", "--allow-dirty"]);
    assert_exit(&again, 0);
    assert!(
        stdout(&again).contains(", 0 file change(s)"),
        "{}",
        stdout(&again)
    );
    // Committed, the default verify passes too.
    h.commit("MyUni: rebase onto MOODLE_20_STABLE");
    assert_exit(&h.run(&["verify"]), 0);
    // Merging upstream afterwards (for the application code) is clean and
    // changes no step file: the rebase already holds 20's step tree.
    let (conflicts, changed) = h.merge_preview("MOODLE_20_STABLE");
    assert!(conflicts.is_empty(), "{conflicts:?}");
    assert!(
        changed
            .iter()
            .all(|p| !p.contains("db/") && p != "upgrade.toml" && !p.starts_with("releases/")),
        "{changed:?}"
    );
}

#[test]
fn rebase_stops_on_a_conflicting_twin_and_writes_nothing() {
    let h = History::build();
    h.checkout("custom-conflict");
    let before = h.snapshot();
    let out = h.run(&["rebase", "--onto", "MOODLE_20_STABLE"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("rebase onto MOODLE_20_STABLE stopped with 1 conflict(s), nothing written"),
        "{err}"
    );
    assert!(
        err.contains("core/2007111000-grade_table: the branch has the work tree:lib/db/upgrades/2007111000-grade_table.sql (sha256:"),
        "{err}"
    );
    assert!(
        err.contains("but MOODLE_20_STABLE:lib/db/upgrade.toml:"),
        "{err}"
    );
    assert!(
        err.contains("hint: give the branch's step a new name"),
        "{err}"
    );
    assert_eq!(h.snapshot(), before);
}

#[test]
fn rebase_refuses_a_dirty_work_tree() {
    let h = History::build();
    h.checkout("custom-19");
    h.write("lib/db/upgrades/2007113100-wip.sql", "SELECT 1;\n");
    let out = h.run(&["rebase", "--onto", "MOODLE_20_STABLE"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("uncommitted change(s)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn custom_steps_run_exactly_once_on_a_site_upgrading_from_the_custom_19_build() {
    let h = History::build();
    let site = tempfile::tempdir().expect("tempdir");
    let db = site.path().join("myuni.db");
    let db = db.to_str().expect("utf-8 path");

    // The institution's site runs the custom 19 build.
    h.checkout("custom-19");
    assert_exit(&h.run(&["apply", "--db", db]), 0);

    // The maintainer moves the branch onto 20.
    h.consolidate(&["rebase", "--onto", "MOODLE_20_STABLE"]);
    h.commit("MyUni: rebase onto MOODLE_20_STABLE");

    // Only upstream steps the site never ran are planned: neither the custom
    // steps nor the backport nor the cherry-pick run again.
    let plan = h.run(&["plan", "--db", db, "--json"]);
    assert_exit(&plan, 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&plan)).expect("json");
    let steps = json_step_keys(&plan);
    assert_eq!(
        steps,
        [
            "block_navigation/2007120100-nav_cache",
            "core/2008020100-message_table"
        ]
    );
    assert_eq!(doc["completes_release"], "MOODLE_20_STABLE");
    // The custom steps' SQL (CREATE TABLE, ALTER TABLE ADD COLUMN) would fail
    // if it ran a second time.
    assert_exit(&h.run(&["apply", "--db", db]), 0);
    assert_exit(&h.run(&["status", "--db", db]), 0);

    let url = upgrade_core::site::ledger::DatabaseUrl::parse(db).expect("url");
    let stored = upgrade_core::site::ledger::read_site(&url).expect("ledger");
    let rows: Vec<String> = stored.rows.iter().map(|r| r.key_text()).collect();
    assert_eq!(
        rows,
        [
            "core/2007113000-myuni_user_field",
            "local_myuni/2007111500-myuni_enrolments"
        ],
        "completing MOODLE_20_STABLE prunes the backport and the cherry-pick"
    );
    assert_eq!(
        stored.site.release.as_ref().map(|r| r.as_str()),
        Some("MOODLE_20_STABLE")
    );

    // Same schema as a fresh install of the rebased branch.
    let fresh = site.path().join("fresh.db");
    assert_exit(
        &h.run(&["apply", "--db", fresh.to_str().expect("utf-8")]),
        0,
    );
    let dump = upgrade_core::history::verify::on_sqlite::schema_dump;
    assert_eq!(
        dump(std::path::Path::new(db)).expect("dump"),
        dump(&fresh).expect("dump")
    );
}

#[test]
fn rebase_stops_when_the_branch_edited_an_upstream_step() {
    let h = History::build();
    h.checkout("custom-19");
    let text = h.read("lib/db/upgrade.toml");
    h.write(
        "lib/db/upgrade.toml",
        &text.replacen(
            "time INTEGER NOT NULL);",
            "time INTEGER NOT NULL, ip TEXT);",
            1,
        ),
    );
    h.commit("MyUni: edit the log table in place (wrong)");
    let before = h.snapshot();
    let out = h.run(&["rebase", "--onto", "MOODLE_20_STABLE"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("core/2007100500-log_table: the branch edited this upstream step (the work tree:lib/db/upgrade.toml:"),
        "{err}"
    );
    assert_eq!(h.snapshot(), before);
}
