//! `verify --apply` after a rebase commit and on a step that fails with both
//! trees of a consolidation (issue 9, item 3), on the scripted history of
//! `history.rs`.
//!
//! A rebase commit adds the upstream release to the branch's history, so it
//! is checked like a consolidation; the upstream steps it brings in are new
//! to every site of the branch and are left out of the comparison (they used
//! to show as schema differences with a hint to redo it). A step that fails
//! before the consolidation already is reported as such, once, never as a
//! difference to redo.

use serde_json::Value;

use crate::history::History;
use crate::util::*;

/// The `C1 on SQLite` check of `verify --apply --json`.
fn c1_on_sqlite(h: &History) -> (i32, Value) {
    let out = h.run(&["verify", "--apply", "--json"]);
    let code = out.status.code().expect("exit code");
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("json report");
    let check = doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "C1 on SQLite")
        .cloned()
        .unwrap_or_else(|| panic!("no C1 on SQLite check in {doc}"));
    (code, check)
}

/// The failures of a check as (message, hint) pairs.
fn failures(check: &Value) -> Vec<(String, String)> {
    check["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| {
            (
                f["message"].as_str().expect("message").to_string(),
                f["hint"].as_str().expect("hint").to_string(),
            )
        })
        .collect()
}

#[test]
fn verify_apply_passes_after_a_rebase_commit_of_the_custom_branch() {
    // Reproduction: custom-19 rebased onto MOODLE_20_STABLE and committed;
    // `verify --apply` reported the upstream steps the rebase brought in
    // (navigation cache, message table) as 5 schema differences.
    let h = History::build();
    h.checkout("custom-19");
    h.consolidate(&["rebase", "--onto", "MOODLE_20_STABLE"]);
    h.commit("MyUni: rebase onto MOODLE_20_STABLE");
    let out = h.run(&["verify", "--apply"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("pass  C1 on SQLite: 2 consolidation commit(s), ")
            && text.contains(
                " 2 new step(s) left out, 0 difference(s), 0 step(s) failing before the consolidation too"
            ),
        "{text}"
    );
    assert!(!text.contains("mdl_block_nav_cache"), "{text}");
    let (code, check) = c1_on_sqlite(&h);
    assert_eq!(code, 0);
    assert_eq!(check["counts"]["new_steps_left_out"], 2, "{check}");
    assert_eq!(check["counts"]["differences"], 0, "{check}");
    assert!(
        check["counts"]["steps_run"].as_u64().expect("count") > 0,
        "{check}"
    );
}

#[test]
fn verify_apply_still_fails_a_rebase_commit_that_loses_a_step_of_the_branch() {
    // The same rebase, but the branch's own core step is lost on the way:
    // sites of custom-19 that have not run it never will. Leaving the
    // upstream steps out must not hide that.
    let h = History::build();
    h.checkout("custom-19");
    h.consolidate(&["rebase", "--onto", "MOODLE_20_STABLE"]);
    h.remove("lib/db/upgrades/2007113000-myuni_user_field.sql");
    h.commit("MyUni: rebase onto MOODLE_20_STABLE (lost a step)");
    let (code, check) = c1_on_sqlite(&h);
    assert_eq!(code, 1);
    assert_eq!(check["ok"], false);
    assert_eq!(check["counts"]["new_steps_left_out"], 2, "{check}");
    let found = failures(&check);
    assert!(!found.is_empty(), "{check}");
    for (message, hint) in &found {
        assert!(
            message.contains("the schemas differ after upgrading")
                && message.contains("table mdl_user column myuni_id TEXT"),
            "{message}"
        );
        assert!(!message.contains("mdl_block_nav_cache"), "{message}");
        assert!(hint.contains("redo the consolidation"), "{hint}");
    }
    let text = stdout(&h.run(&["verify", "--apply"]));
    assert!(text.contains("FAIL  C1 on SQLite"), "{text}");
}

#[test]
fn verify_apply_reports_a_step_failing_on_both_trees_once_and_not_as_a_difference() {
    // A step written against a schema the install creates (no site upgraded
    // from an empty database has that table), released with the tool: the
    // consolidation is correct, the step fails with both trees.
    let h = History::build();
    h.write(
        "lib/db/upgrades/2008040100-config_plugins_flag.sql",
        "ALTER TABLE mdl_config_plugins ADD COLUMN flag INTEGER;\n",
    );
    h.commit("A step that needs the installed schema");
    h.set_version("2008060100.00");
    h.commit("Version for 21");
    h.consolidate(&["release", "MOODLE_21_STABLE", "--commit"]);
    let (code, check) = c1_on_sqlite(&h);
    assert_eq!(code, 1, "the step fails on every site: verify must say so");
    assert_eq!(check["counts"]["differences"], 0, "{check}");
    assert_eq!(check["counts"]["failing_before_too"], 1, "{check}");
    let found = failures(&check);
    assert_eq!(found.len(), 1, "one line per failing step: {found:?}");
    let (message, hint) = &found[0];
    assert!(
        message.contains("fails on both trees")
            && message.contains("core/2008040100-config_plugins_flag")
            && message.contains("mdl_config_plugins")
            && message.contains("the step or its starting schema is wrong"),
        "{message}"
    );
    assert!(hint.contains("not a consolidation difference"), "{hint}");
    assert!(!hint.contains("redo"), "{hint}");
    let text = stdout(&h.run(&["verify", "--apply"]));
    assert!(
        text.contains("FAIL  C1 on SQLite:")
            && text.contains(" 0 difference(s), 1 step(s) failing before the consolidation too"),
        "{text}"
    );
    assert!(!text.contains("the schemas differ"), "{text}");
    // The plain step order is unaffected: C1 against history passes.
    assert!(text.contains("pass  C1 against history"), "{text}");
}
