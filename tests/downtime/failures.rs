//! Failures under maintenance: a failing safe plugin isolated (the rest
//! applied, the site online) and retried once fixed, a failed row with nothing
//! left to run cleared first, a failing core step keeping the whole site in
//! maintenance, and a failing enter hook running none of its component's steps.

use super::*;

fn failing_plugin_is_isolated_and_retried(site: Site) {
    let t = tree("staged", "");
    t.write("mod/bad/db/component.toml", "safe_to_disable = true\n");
    t.write(
        "mod/bad/db/upgrades/2008010250-bad.sql",
        "INSERT INTO no_such_table VALUES (1);\n",
    );
    let out = apply(&t, &site);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("mod_bad/2008010250-bad"),
        "names the step: {err}"
    );
    assert!(
        err.contains("mod/bad/db/upgrades/2008010250-bad.sql"),
        "names its file: {err}"
    );
    assert!(
        err.contains("`consolidate apply` again"),
        "resume command: {err}"
    );
    assert_eq!(maintenance(&site), ["mod_bad|failed"]);
    let reason = site.rows("SELECT reason FROM upgrade_maintenance");
    assert!(reason[0].contains("mod_bad/2008010250-bad"), "{reason:?}");
    // The others were applied; the site is online.
    let applied = ledger(&site);
    for step in [
        "core|2008010100-core",
        "mod_forum|2008010200-forum",
        "mod_quiz|2008010300-quiz",
    ] {
        assert!(applied.iter().any(|r| r == step), "{step} in {applied:?}");
    }
    assert!(!applied.iter().any(|r| r.starts_with("mod_bad|")));
    assert!(events(&site).contains(&"mod_bad|failed".to_string()));
    // Fixed: the next apply retries it and clears the row.
    t.write(
        "mod/bad/db/upgrades/2008010250-bad.sql",
        "CREATE TABLE bad_ok (x INTEGER);\n",
    );
    let out = apply(&t, &site);
    assert_exit(&out, 0);
    assert_eq!(maintenance(&site), Vec::<String>::new());
    assert!(ledger(&site).contains(&"mod_bad|2008010250-bad".to_string()));
    let log = events(&site);
    assert_eq!(&log[log.len() - 2..], ["mod_bad|enter", "mod_bad|leave"]);
}

#[test]
fn sqlite_failing_plugin_is_isolated_and_retried() {
    failing_plugin_is_isolated_and_retried(Site::sqlite());
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_failing_plugin_is_isolated_and_retried() {
    failing_plugin_is_isolated_and_retried(Site::postgres("isolated"));
}

#[test]
fn a_failed_row_with_nothing_left_to_run_is_cleared_first() {
    let site = Site::sqlite();
    let t = tree("staged", "");
    t.write("mod/bad/db/component.toml", "safe_to_disable = true\n");
    t.write(
        "mod/bad/db/upgrades/2008010250-bad.sql",
        "INSERT INTO no_such_table VALUES (1);\n",
    );
    assert_exit(&apply(&t, &site), 1);
    assert_eq!(maintenance(&site), ["mod_bad|failed"]);
    // The plugin is removed from the code, and a new core step comes.
    std::fs::remove_dir_all(t.path().join("mod/bad")).expect("remove");
    t.write(
        "lib/db/upgrades/2008010400-later.sql",
        "INSERT INTO seen SELECT 'later', scope FROM upgrade_maintenance;\n",
    );
    assert_exit(&apply(&t, &site), 0);
    assert_eq!(maintenance(&site), Vec::<String>::new());
    assert_eq!(
        seen(&site, "later"),
        ["*"],
        "mod_bad was online before core ran"
    );
    let log = events(&site);
    assert_eq!(
        &log[log.len() - 3..],
        ["mod_bad|leave", "*|enter", "*|leave"]
    );
}

#[test]
fn failing_core_step_stops_with_the_site_failed() {
    let site = Site::sqlite();
    let t = tree("staged", "");
    t.write(
        "lib/db/upgrades/2008010100-core.sql",
        "INSERT INTO no_such_table VALUES (1);\n",
    );
    let out = apply(&t, &site);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("core/2008010100-core"), "{err}");
    assert!(
        err.contains("the whole site (`*`) stays in maintenance"),
        "{err}"
    );
    assert_eq!(maintenance(&site), ["*|failed"]);
    // Nothing after it ran: mod_forum's step is not applied.
    assert!(!ledger(&site).iter().any(|r| r.starts_with("mod_forum|")));
}

#[test]
fn enter_hook_failure_keeps_the_component_in_maintenance_and_runs_none_of_its_steps() {
    let site = Site::sqlite();
    let t = tree(
        "staged",
        "\n[maintenance]\nenter = \"sh hooks/enter.sh\"\nleave = \"sh hooks/leave.sh\"\n",
    );
    t.write(
        "hooks/enter.sh",
        "echo \"enter $1 $CONSOLIDATE_EVENT\" >> hooks.log\n[ \"$1\" != mod_forum ]\n",
    );
    t.write("hooks/leave.sh", "echo \"leave $1\" >> hooks.log\n");
    let out = apply(&t, &site);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("enter hook `sh hooks/enter.sh` failed"),
        "{err}"
    );
    assert_eq!(maintenance(&site), ["mod_forum|failed"]);
    assert_eq!(seen(&site, "mod_forum"), Vec::<String>::new());
    assert!(!ledger(&site).iter().any(|r| r.starts_with("mod_forum|")));
    assert_eq!(
        t.read("hooks.log"),
        "enter * enter\nleave *\nenter mod_forum enter\n"
    );
    // The hook fixed: the component is entered again, upgraded, released.
    t.write("hooks/enter.sh", "echo \"enter $1\" >> hooks.log\n");
    assert_exit(&apply(&t, &site), 0);
    assert_eq!(maintenance(&site), Vec::<String>::new());
    assert_eq!(seen(&site, "mod_forum"), ["mod_forum"]);
    assert!(
        t.read("hooks.log")
            .ends_with("enter mod_forum\nleave mod_forum\n")
    );
}
