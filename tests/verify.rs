//! `verify` and `rebase` end to end on a scripted git history (see
//! `history.rs`): the honest history passes, each kind of damage fails with a
//! message naming revisions, files and steps, and a custom branch moves onto
//! the next release without relabelling its steps.

use crate::history::{self, History};
use crate::util::*;

#[test]
fn verify_passes_on_main_against_the_release_refs() {
    let h = History::build();
    let out = h.run(&["verify"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("against 3 revision(s) (MOODLE_19_STABLE, tags/MOODLE_20_STABLE, "),
        "{text}"
    );
    for line in [
        "pass  check: 9 steps, 2 releases, 0 problem(s)",
        "pass  no step lost:",
        "pass  no conflicting twins:",
        "pass  released entries unchanged:",
        "pass  published releases unchanged: 2 release(s) compared with the commit that published them,",
        "pass  C1 against history: 2 consolidation commit(s),",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }

    let json = h.run(&["verify", "--json"]);
    assert_exit(&json, 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("json");
    assert_eq!(doc["ok"], true);
    let names: Vec<&str> = doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "check",
            "no step lost",
            "no conflicting twins",
            "released entries unchanged",
            "published releases unchanged",
            "C1 against history"
        ]
    );
    let consolidations = doc["consolidations"].as_array().expect("list");
    assert_eq!(consolidations[0]["added"][0], "MOODLE_20_STABLE");
    assert_eq!(consolidations[1]["added"][0], "MOODLE_19_STABLE");
    assert_eq!(consolidations[0]["by_tool"], true);

    let out = h.run(&["verify", "--apply"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("pass  C1 on SQLite: 2 consolidation commit(s), "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn verify_fails_on_the_branch_with_an_edited_released_step() {
    let h = History::build();
    h.checkout("broken");
    let out = h.run(&["verify"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("FAIL  released entries unchanged:"), "{text}");
    assert!(
        text.contains("step core/2007111000-grade_table, tagged MOODLE_20_STABLE at tags/MOODLE_20_STABLE:lib/db/upgrade.toml:"),
        "{text}"
    );
    assert!(
        text.contains("was edited after release MOODLE_20_STABLE"),
        "{text}"
    );
    assert!(text.contains("pass  C1 against history"), "{text}");
    assert!(
        stderr(&out).contains("verify failed: check, released entries unchanged"),
        "{}",
        stderr(&out)
    );
    // The same edit with its recorded checksum updated too: check sees the
    // release file disagree, verify still sees the entry changed.
    let text = h.read("lib/db/upgrade.toml");
    let json = h.run(&["verify", "--json"]);
    assert_exit(&json, 1);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("json");
    let computed = doc["checks"][0]["failures"][0]["message"]
        .as_str()
        .expect("message")
        .rsplit(' ')
        .next()
        .expect("checksum")
        .to_string();
    let start = text
        .find("name = \"2007111000-grade_table\"")
        .expect("entry");
    let sum_at = start + text[start..].find("checksum = \"").expect("checksum") + 12;
    let sum_end = sum_at + text[sum_at..].find('"').expect("quote");
    h.write(
        "lib/db/upgrade.toml",
        &format!("{}{computed}{}", &text[..sum_at], &text[sum_end..]),
    );
    let out = h.run(&["verify"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("FAIL  released entries unchanged"), "{text}");
    assert!(text.contains("FAIL  check"), "{text}");
}

#[test]
fn verify_reports_a_conflicting_twin_with_both_locations() {
    let h = History::build();
    let out = h.run(&["verify", "--against", "custom-conflict"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("FAIL  no conflicting twins:"), "{text}");
    assert!(
        text.contains(
            "step core/2007111000-grade_table has two contents: the work tree:lib/db/upgrade.toml:"
        ),
        "{text}"
    );
    assert!(
        text.contains("custom-conflict:lib/db/upgrades/2007111000-grade_table.sql (sha256:"),
        "{text}"
    );
}

#[test]
fn verify_reports_a_lost_step_unless_it_is_retired() {
    let h = History::build();
    h.remove("lib/db/upgrades/2008031000-post20_setting.sql");
    h.commit("Drop the log index");
    let out = h.run(&["verify", "--against", "HEAD~1"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("step core/2008031000-post20_setting is missing from the work tree; it exists at HEAD~1:lib/db/upgrades/2008031000-post20_setting.sql"),
        "{text}"
    );
    let manifest = h.read("upgrade.toml");
    h.write(
        "upgrade.toml",
        &format!(
            "{manifest}\n[[retired]]\ncomponent = \"core\"\nstep = \"2008031000-post20_setting\"\nreason = \"the index slowed down inserts\"\n"
        ),
    );
    let out = h.run(&["verify", "--against", "HEAD~1"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("0 missing from the work tree, 1 retired"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn verify_catches_a_consolidation_that_changes_what_sites_run() {
    let h = History::build();
    // A hand-made 21 release that tags the new step with the older 20 release:
    // sites that completed 20 would skip it.
    h.set_version("2008060100.00");
    h.commit("Version for 21");
    h.consolidate(&["release", "MOODLE_21_STABLE"]);
    let text = h.read("lib/db/upgrade.toml");
    let entry = text
        .find("name = \"2008031000-post20_setting\"")
        .expect("entry");
    let edited = format!(
        "{}{}",
        &text[..entry],
        text[entry..].replacen("MOODLE_21_STABLE", "MOODLE_20_STABLE", 1)
    );
    h.write("lib/db/upgrade.toml", &edited);
    h.commit("Consolidate 21 by hand");
    let out = h.run(&["verify"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("FAIL  C1 against history"), "{text}");
    assert!(
        text.contains("core/2008031000-post20_setting is pending at ")
            && text.contains("but counted as applied by release at ")
            && text.contains("and completed MOODLE_20_STABLE"),
        "{text}"
    );
    // On SQLite: the site that just completed 20 never gets the log index.
    let out = h.run(&["verify", "--apply"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("FAIL  C1 on SQLite"), "{text}");
    assert!(
        text.contains("the schemas differ after upgrading") && text.contains("mdl_log_time_ix"),
        "{text}"
    );
}

#[test]
fn verify_needs_a_repository_and_known_revisions() {
    let tree = TempTree::copy_of("demo");
    let out = tree.run(&["verify"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("is not inside a git repository"),
        "{}",
        stderr(&out)
    );
    let h = History::build();
    let out = h.run(&["verify", "--against", "MOODLE_99_STABLE"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("`MOODLE_99_STABLE` names no commit"), "{err}");
    assert!(err.contains("hint: "), "{err}");
}

#[test]
fn verify_reads_a_tree_in_a_subfolder_of_the_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture("demo"), &dir.path().join("site"));
    std::fs::write(dir.path().join("README"), "the application\n").expect("write");
    let repo = git2::Repository::init(dir.path()).expect("init");
    let mut config = repo.config().expect("config");
    config.set_str("user.name", "t").expect("name");
    config
        .set_str("user.email", "t@example.org")
        .expect("email");
    history::commit_in(&repo, "The demo site in a subfolder", 1_200_000_000);
    let site = dir.path().join("site");
    assert_exit(
        &run_in(&site, &["release", "MOODLE_20_STABLE", "--commit"], &[]),
        0,
    );
    let out = run_in(&site, &["verify"], &[]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("pass  C1 against history: 1 consolidation commit(s), 75 site state(s), 44 step(s), 0 difference(s)"),
        "{text}"
    );
}

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

/// The checksum `list --json` reports for a step.
fn checksum_of(h: &History, key: &str) -> String {
    let out = h.run(&["list", "--json"]);
    assert_exit(&out, 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| {
            format!(
                "{}/{}",
                s["component"].as_str().unwrap_or(""),
                s["name"].as_str().unwrap_or("")
            ) == key
        })
        .and_then(|s| s["checksum"].as_str())
        .unwrap_or_else(|| panic!("no step {key}"))
        .to_string()
}

#[test]
fn verify_fails_on_an_entry_appended_to_a_published_release() {
    // Reproduction (issue 7, item 6): after MOODLE_20_STABLE was published, a
    // later commit tags a new step MOODLE_20_STABLE with its correct checksum and
    // adds it to the release file. Sites that completed MOODLE_20_STABLE would
    // count it as applied and never run it. check cannot see it; verify must.
    let h = History::build();
    let key = "core/2008031000-post20_setting";
    let sum = checksum_of(&h, key);
    h.remove("lib/db/upgrades/2008031000-post20_setting.sql");
    let upgrade = h.read("lib/db/upgrade.toml");
    let entry_line = upgrade.lines().count() + 2;
    h.write(
        "lib/db/upgrade.toml",
        &format!(
            "{upgrade}\n[[step]]\nname = \"2008031000-post20_setting\"\nrelease = \"MOODLE_20_STABLE\"\nphase = \"main\"\nchecksum = \"{sum}\"\nsql = '''\nCREATE INDEX mdl_log_time_ix ON mdl_log (time);\n'''\n"
        ),
    );
    let rules = h.read("releases/MOODLE_20_STABLE.toml");
    assert!(rules.contains("[covers.core]\n"), "{rules}");
    h.write(
        "releases/MOODLE_20_STABLE.toml",
        &rules.replacen(
            "[covers.core]\n",
            &format!("[covers.core]\n\"2008031000-post20_setting\" = \"{sum}\"\n"),
            1,
        ),
    );
    h.commit("Sneak the index into MOODLE_20_STABLE");
    // The tree is self-consistent: only the history shows the damage.
    assert_exit(&h.run(&["check"]), 0);
    let out = h.run(&["verify"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("FAIL  published releases unchanged:"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "lib/db/upgrade.toml:{entry_line}: step {key} is tagged MOODLE_20_STABLE, but commit "
        )),
        "{text}"
    );
    assert!(
        text.contains("published MOODLE_20_STABLE without it: sites that completed MOODLE_20_STABLE count it as applied and would never run it"),
        "{text}"
    );
    assert!(
        text.contains("hint: make it a standalone step: move its SQL to lib/db/upgrades/2008031000-post20_setting.sql"),
        "{text}"
    );
    assert!(
        text.contains("releases/MOODLE_20_STABLE.toml:10: changed since commit ")
            && text.contains("covers core/2008031000-post20_setting added"),
        "{text}"
    );
    // Without the release refs the publishing commit is still found in history.
    let out = h.run(&["verify", "--against", "HEAD~1"]);
    assert_exit(&out, 1);
    assert!(stdout(&out).contains("FAIL  published releases unchanged:"));
}

#[test]
fn verify_fails_when_a_published_release_is_re_versioned_or_renamed() {
    let h = History::build();
    // Version edited in the manifest and the release file alike: check agrees
    // with itself, but sites recorded the published version.
    let manifest = h.read("upgrade.toml");
    h.write(
        "upgrade.toml",
        &manifest.replacen(
            "version = \"2007101500.00\"",
            "version = \"2007101400.00\"",
            1,
        ),
    );
    let rules = h.read("releases/MOODLE_19_STABLE.toml");
    h.write(
        "releases/MOODLE_19_STABLE.toml",
        &rules.replacen(
            "version = \"2007101500.00\"",
            "version = \"2007101400.00\"",
            1,
        ),
    );
    assert_exit(&h.run(&["check"]), 0);
    h.commit("Re-version MOODLE_19_STABLE (wrong)");
    let out = h.run(&["verify"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("release MOODLE_19_STABLE has version 2007101400.00, but commit ")
            && text.contains("published it with version 2007101500.00"),
        "{text}"
    );
    assert!(
        text.contains("FAIL  published releases unchanged"),
        "{text}"
    );

    // Renamed everywhere (manifest, release file, entries), no release ref left.
    let h = History::build();
    let rename = |rel: &str| {
        let text = h.read(rel);
        h.write(rel, &text.replace("MOODLE_19_STABLE", "MOODLE_19X_STABLE"));
    };
    for rel in [
        "upgrade.toml",
        "lib/db/upgrade.toml",
        "mod/forum/db/upgrade.toml",
        "releases/MOODLE_19_STABLE.toml",
    ] {
        rename(rel);
    }
    let rules = h.read("releases/MOODLE_19_STABLE.toml");
    h.remove("releases/MOODLE_19_STABLE.toml");
    h.write("releases/MOODLE_19X_STABLE.toml", &rules);
    assert_exit(&h.run(&["check"]), 0);
    h.commit("Rename MOODLE_19_STABLE (wrong)");
    let out = h.run(&["verify", "--against", "HEAD~1"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(
            "upgrade.toml: release MOODLE_19_STABLE (version 2007101500.00), published by commit "
        ) && text.contains("is no longer in the release history (renamed or removed)"),
        "{text}"
    );
}

#[test]
fn verify_refuses_a_shallow_clone_with_the_command_that_fetches_the_history() {
    let h = History::build();
    let clone = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", h.root().display());
    let status = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "1", "--branch", "main", &url])
        .arg(clone.path().join("shallow"))
        .status();
    let Ok(status) = status else {
        panic!("this test needs the git binary to make a shallow clone");
    };
    assert!(status.success(), "git clone --depth 1 failed");
    let out = run_in(&clone.path().join("shallow"), &["verify"], &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("the repository is a shallow clone")
            && err.contains("(MOODLE_19_STABLE, MOODLE_20_STABLE)"),
        "{err}"
    );
    assert!(err.contains("`git fetch --unshallow --tags`"), "{err}");
}
