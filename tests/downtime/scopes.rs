//! The maintenance scope each step runs under, seen from inside the steps' own
//! SQL: with the staged strategy core and not-safe components under `*`, a safe
//! plugin under its own scope, pre steps with none; with the global strategy
//! everything under `*`; and the same told by `status --json` and `plan`.

use super::*;

fn staged_scopes_are_seen_from_inside_the_steps(site: Site) {
    let t = tree("staged", "");
    let out = apply(&t, &site);
    assert_exit(&out, 0);
    assert_eq!(
        seen(&site, "pre"),
        Vec::<String>::new(),
        "pre steps run online"
    );
    assert_eq!(seen(&site, "core"), ["*"]);
    assert_eq!(
        seen(&site, "mod_quiz"),
        ["*"],
        "not safe to disable: whole site"
    );
    assert_eq!(
        seen(&site, "mod_forum"),
        ["mod_forum"],
        "only its own scope"
    );
    assert_eq!(maintenance(&site), Vec::<String>::new(), "all online after");
    assert_eq!(
        events(&site),
        ["*|enter", "*|leave", "mod_forum|enter", "mod_forum|leave"]
    );
    let status = t.run(&["status", "--db", &site.arg(), "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&status)).expect("json");
    assert_eq!(doc["pending"]["total"], 0, "{doc}");
}

#[test]
fn sqlite_staged_scopes_are_seen_from_inside_the_steps() {
    staged_scopes_are_seen_from_inside_the_steps(Site::sqlite());
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_staged_scopes_are_seen_from_inside_the_steps() {
    staged_scopes_are_seen_from_inside_the_steps(Site::postgres("scopes"));
}

#[test]
fn global_strategy_keeps_the_whole_site_in_maintenance() {
    let site = Site::sqlite();
    let t = tree("global", "");
    assert_exit(&apply(&t, &site), 0);
    assert_eq!(seen(&site, "mod_forum"), ["*"]);
    assert_eq!(seen(&site, "core"), ["*"]);
    assert_eq!(events(&site), ["*|enter", "*|leave"]);
}

#[test]
fn status_json_tells_the_maintenance_scope_per_component() {
    let site = Site::sqlite();
    let t = tree("staged", "");
    let out = t.run(&["status", "--db", &site.arg(), "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let by = &doc["pending"]["by_component"];
    assert_eq!(by["core"]["maintenance"], "site", "{doc}");
    assert_eq!(by["mod_quiz"]["maintenance"], "site", "{doc}");
    assert_eq!(by["mod_forum"]["maintenance"], "component", "{doc}");
    t.write(
        "mod/forum/db/upgrades/2008010200-forum.sql",
        "-- phase: post\nINSERT INTO seen SELECT 'mod_forum', scope FROM upgrade_maintenance;\n",
    );
    let out = t.run(&["status", "--db", &site.arg(), "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(
        doc["pending"]["by_component"]["mod_forum"]["maintenance"],
        "none"
    );
}

#[test]
fn plan_shows_the_order_apply_runs_the_scopes_in() {
    let t = tree("staged", "");
    // mod_quiz (not safe to disable) sorts after mod_forum in plan order,
    // but runs under `*`, so before it.
    let out = t.run(&["plan", "--db", &Site::sqlite().arg(), "--json"]);
    assert_eq!(
        json_step_keys(&out),
        [
            "core/2008010101-seen",
            "core/2008010100-core",
            "mod_quiz/2008010300-quiz",
            "mod_forum/2008010200-forum"
        ]
    );
}
