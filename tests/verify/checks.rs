//! `verify`'s checks on the scripted history: the honest history passes
//! every one (text and JSON), and an edited released step, a conflicting twin,
//! a lost step and a consolidation that changes what sites run each fail with
//! a message naming revisions, files and steps.

use crate::history::History;
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
