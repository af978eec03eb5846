//! Less downtime, end to end: maintenance scopes seen by the steps' own SQL
//! (core and not-safe components under `*`, a safe plugin under its own
//! scope, pre steps with none), a failing plugin isolated, enter hooks,
//! `maintenance on|off` by hand and the event log; on SQLite always and on
//! PostgreSQL when `CONSOLIDATE_TEST_POSTGRES_URL` is set (the `pg_tests`
//! cfg, as in `runner.rs`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::util::*;

/// A site database under test.
enum Site {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        url: String,
    },
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Site {
    fn sqlite() -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("site.db");
        Site::Sqlite { _dir: dir, path }
    }

    /// A new PostgreSQL database on the server of `CONSOLIDATE_TEST_POSTGRES_URL`.
    fn postgres(test: &str) -> Site {
        let admin = std::env::var("CONSOLIDATE_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .expect("CONSOLIDATE_TEST_POSTGRES_URL is not set (scripts/ci-postgres.sh)");
        let name = format!(
            "consolidate_dt_{test}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        postgres::Client::connect(&admin, postgres::NoTls)
            .expect("connect")
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create database");
        let start = admin.find("://").map_or(0, |i| i + 3);
        let (head, query) = match admin[start..].find('?') {
            Some(q) => admin.split_at(start + q),
            None => (admin.as_str(), ""),
        };
        let base = match head[start..].find('/') {
            Some(slash) => &head[..start + slash],
            None => head,
        };
        Site::Postgres {
            url: format!("{base}/{name}{query}"),
        }
    }

    fn arg(&self) -> String {
        match self {
            Site::Sqlite { path, .. } => path.display().to_string(),
            Site::Postgres { url } => url.clone(),
        }
    }

    /// The rows of a query of text columns, each as `a|b|...`.
    fn rows(&self, sql: &str) -> Vec<String> {
        match self {
            Site::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open(path).expect("open");
                let mut stmt = conn.prepare(sql).expect("prepare");
                let n = stmt.column_count();
                stmt.query_map([], |r| {
                    (0..n)
                        .map(|i| r.get::<_, String>(i))
                        .collect::<Result<Vec<_>, _>>()
                        .map(|v| v.join("|"))
                })
                .expect("query")
                .collect::<Result<Vec<_>, _>>()
                .expect("rows")
            }
            Site::Postgres { url } => postgres::Client::connect(url, postgres::NoTls)
                .expect("connect")
                .query(sql, &[])
                .expect("query")
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| r.get::<_, String>(i))
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect(),
        }
    }
}

const MANIFEST: &str = "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\nstrategy = \"{strategy}\"\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"mod\", folder = \"mod\" },\n]\n";

/// Core with a pre and a main step, mod_forum (safe to disable) and mod_quiz
/// (not safe), each step recording the scopes it sees.
fn tree(strategy: &str, extra_manifest: &str) -> TempTree {
    let t = TempTree::empty();
    t.write(
        "upgrade.toml",
        &format!(
            "{}{extra_manifest}",
            MANIFEST.replace("{strategy}", strategy)
        ),
    );
    t.write(
        "lib/db/upgrades/2008010101-seen.sql",
        "-- phase: pre\nCREATE TABLE seen (who TEXT, scope TEXT);\nINSERT INTO seen SELECT 'pre', scope FROM upgrade_maintenance;\n",
    );
    t.write(
        "lib/db/upgrades/2008010100-core.sql",
        "INSERT INTO seen SELECT 'core', scope FROM upgrade_maintenance;\n",
    );
    t.write("mod/forum/db/component.toml", "safe_to_disable = true\n");
    t.write(
        "mod/forum/db/upgrades/2008010200-forum.sql",
        "INSERT INTO seen SELECT 'mod_forum', scope FROM upgrade_maintenance;\n",
    );
    t.write(
        "mod/quiz/db/upgrades/2008010300-quiz.sql",
        "INSERT INTO seen SELECT 'mod_quiz', scope FROM upgrade_maintenance;\n",
    );
    t
}

fn apply(t: &TempTree, site: &Site) -> std::process::Output {
    t.run(&["apply", "--db", &site.arg()])
}

fn seen(site: &Site, who: &str) -> Vec<String> {
    site.rows(&format!(
        "SELECT scope FROM seen WHERE who = '{who}' ORDER BY scope"
    ))
}

fn maintenance(site: &Site) -> Vec<String> {
    site.rows("SELECT scope, state FROM upgrade_maintenance ORDER BY scope")
}

fn events(site: &Site) -> Vec<String> {
    site.rows("SELECT scope, event FROM upgrade_events ORDER BY seq")
}

fn ledger(site: &Site) -> Vec<String> {
    site.rows("SELECT component, step FROM upgrade_ledger ORDER BY component, step")
}

// ------------------------------------------------------------- scenarios

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

// ---------------------------------------------------------------- SQLite

#[test]
fn sqlite_staged_scopes_are_seen_from_inside_the_steps() {
    staged_scopes_are_seen_from_inside_the_steps(Site::sqlite());
}

#[test]
fn sqlite_failing_plugin_is_isolated_and_retried() {
    failing_plugin_is_isolated_and_retried(Site::sqlite());
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
fn global_strategy_keeps_the_whole_site_in_maintenance() {
    let site = Site::sqlite();
    let t = tree("global", "");
    assert_exit(&apply(&t, &site), 0);
    assert_eq!(seen(&site, "mod_forum"), ["*"]);
    assert_eq!(seen(&site, "core"), ["*"]);
    assert_eq!(events(&site), ["*|enter", "*|leave"]);
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

#[test]
fn maintenance_on_and_off_by_hand_with_events() {
    let site = Site::sqlite();
    let t = tree("staged", "");
    let db = site.arg();
    let out = t.run(&["maintenance", "--db", &db]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("every scope is online"));
    let out = t.run(&[
        "maintenance",
        "on",
        "mod_forum",
        "--db",
        &db,
        "--reason",
        "cache rebuild",
    ]);
    assert_exit(&out, 0);
    assert_eq!(maintenance(&site), ["mod_forum|maintenance"]);
    assert_eq!(
        site.rows("SELECT reason FROM upgrade_maintenance"),
        ["cache rebuild"]
    );
    let out = t.run(&["maintenance", "--db", &db, "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(doc["scopes"][0]["scope"], "mod_forum");
    assert_eq!(doc["scopes"][0]["manual"], true);
    // apply runs the component under the row set by hand and keeps it.
    assert_exit(&apply(&t, &site), 0);
    assert_eq!(seen(&site, "mod_forum"), ["mod_forum"]);
    assert_eq!(maintenance(&site), ["mod_forum|maintenance"]);
    assert_exit(&t.run(&["maintenance", "off", "mod_forum", "--db", &db]), 0);
    assert_exit(&t.run(&["maintenance", "on", "--db", &db]), 0);
    assert_eq!(maintenance(&site), ["*|maintenance"]);
    assert_exit(&t.run(&["maintenance", "off", "--db", &db]), 0);
    assert_eq!(maintenance(&site), Vec::<String>::new());
    assert_eq!(
        events(&site),
        [
            "mod_forum|manual-on",
            "*|enter",
            "*|leave",
            "mod_forum|manual-off",
            "*|manual-on",
            "*|manual-off"
        ]
    );
    let seqs = site.rows("SELECT CAST(seq AS TEXT) FROM upgrade_events ORDER BY seq");
    assert_eq!(seqs, ["1", "2", "3", "4", "5", "6"]);
    let out = t.run(&["maintenance", "on", "mod_nope", "--db", &db]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("mod_nope"), "{}", stderr(&out));
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
fn component_settings_with_an_unknown_key_are_refused_naming_the_file() {
    let t = tree("staged", "");
    t.write(
        "mod/forum/db/component.toml",
        "safe_to_disable = true\nsafe = 1\n",
    );
    let out = t.run(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("mod/forum/db/component.toml:2"), "{err}");
    assert!(err.contains("safe"), "{err}");
}

#[test]
fn core_is_never_safe_to_disable() {
    let t = tree("staged", "");
    t.write("lib/db/component.toml", "safe_to_disable = true\n");
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("lib/db/component.toml"), "{err}");
    assert!(err.contains("core is never safe to disable"), "{err}");
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

#[test]
fn an_unknown_key_in_the_maintenance_table_is_refused() {
    let t = tree(
        "staged",
        "\n[maintenance]\nenter = \"true\"\nstart = \"true\"\n",
    );
    let out = t.run(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("upgrade.toml"), "{err}");
    assert!(err.contains("start"), "{err}");
}

#[test]
fn the_safe_to_disable_marker_survives_release_byte_for_byte() {
    let t = TempTree::empty();
    copy_dir(&workspace().join("tests/cases/release-new/in"), t.path());
    let marker = "# ours\nsafe_to_disable = true\n";
    t.write("mod/forum/db/component.toml", marker);
    assert_exit(&t.run(&["release", "MOODLE_20_STABLE"]), 0);
    assert!(
        !t.path()
            .join("mod/forum/db/upgrades/2007121500-tracking.sql")
            .exists(),
        "the release folded the forum's steps"
    );
    assert_eq!(t.read("mod/forum/db/component.toml"), marker);
    assert_exit(&t.run(&["check"]), 0);
}

// ------------------------------------------------------------ PostgreSQL

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_staged_scopes_are_seen_from_inside_the_steps() {
    staged_scopes_are_seen_from_inside_the_steps(Site::postgres("scopes"));
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
fn rebase_carries_the_settings_of_a_custom_component() {
    let h = crate::history::History::build();
    h.checkout("custom-19");
    let marker = "safe_to_disable = true # our local plugin\n";
    h.write("local/myuni/db/component.toml", marker);
    h.commit("MyUni: the local plugin is safe to disable");
    let out = h.run(&["rebase", "--onto", "MOODLE_20_STABLE"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("carried component local_myuni whole (1 step(s), 2 file(s))"),
        "{}",
        stdout(&out)
    );
    assert_eq!(h.read("local/myuni/db/component.toml"), marker);
}
