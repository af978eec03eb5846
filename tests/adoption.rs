//! Adoption end to end (issue 9), on SQLite and on PostgreSQL: components
//! installed from their snapshots (`db/install.sql`) with the same schema as
//! step by step, a plugin added to an upgraded site, the migration of a
//! ledger made by the previous tool version, `verify --apply` catching a
//! stale snapshot, `adopt`, the project baseline, and the failure paths.
//!
//! PostgreSQL tests use the `Db` of tests/runner.rs and are ignored without
//! `CONSOLIDATE_TEST_POSTGRES_URL` (the `pg_tests` cfg), as there.

use std::process::Output;

use serde_json::Value;

use crate::runner::{Db, strings};
use crate::util::*;

mod adopt;
mod failures;
mod migration;
mod snapshots;

// ---------------------------------------------------------------- trees

/// The install snapshots of the demo.
const SNAPSHOT_FILES: [&str; 4] = [
    "lib/db/install.sqlite.sql",
    "lib/db/install.postgres.sql",
    "mod/forum/db/install.sql",
    "mod/wiki/db/install.sql",
];

/// The steps the demo's snapshots cover (they never run on a fresh site).
const COVERED: [&str; 12] = [
    "core/2007080100-config",
    "core/2007080101-users",
    "core/2007080200-course",
    "core/2007090300-cache_flags",
    "core/2007091200-block_tables",
    "core/2007092400-context",
    "core/2007100900-users_email_ix",
    "mod_forum/2007081500-forum_tables",
    "mod_forum/2007081501-forum_posts",
    "mod_forum/2007092000-forum_posts_index",
    "mod_wiki/2008021500-wiki_tables",
    "mod_wiki/2008022500-wiki_pages_ix",
];

/// The demo as shipped: snapshots for core, mod_forum and mod_wiki.
fn demo(release_20: bool) -> TempTree {
    let tree = TempTree::copy_of("demo");
    if release_20 {
        release(&tree);
    }
    tree
}

/// The same demo without its snapshots: every step runs (mod_wiki kept).
fn demo_without_snapshots(release_20: bool) -> TempTree {
    let tree = TempTree::copy_of("demo");
    for file in SNAPSHOT_FILES {
        std::fs::remove_file(tree.path().join(file)).expect("remove snapshot");
    }
    if release_20 {
        release(&tree);
    }
    tree
}

/// `consolidate release MOODLE_20_STABLE`, as tests/runner.rs `after()`.
fn release(tree: &TempTree) {
    assert_exit(
        &tree.run(&["release", "MOODLE_20_STABLE", "--allow-dirty"]),
        0,
    );
}

// ---------------------------------------------------------------- runs

fn cmd(tree: &TempTree, db: &Db, args: &[&str]) -> Output {
    let db_arg = db.arg();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--db", &db_arg]);
    tree.run(&all)
}

fn apply_ok(tree: &TempTree, db: &Db) -> String {
    let out = cmd(tree, db, &["apply"]);
    assert_exit(&out, 0);
    stdout(&out)
}

fn json(out: &Output) -> Value {
    assert_exit(out, 0);
    any_json(out)
}

/// JSON output whatever the exit code (`status` exits 2 when work is pending).
fn any_json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stderr(out)))
}

/// `plan --json`: (installed components, covered steps of each, step keys).
fn plan(tree: &TempTree, db: &Db) -> (Vec<String>, Vec<Vec<String>>, Vec<String>) {
    let out = cmd(tree, db, &["plan", "--json"]);
    let doc = json(&out);
    let installs = doc["installs"].as_array().expect("installs");
    (
        installs
            .iter()
            .map(|i| i["component"].as_str().expect("component").to_string())
            .collect(),
        installs
            .iter()
            .map(|i| {
                let c = i["component"].as_str().expect("component");
                i["covered_steps"]
                    .as_array()
                    .expect("covered_steps")
                    .iter()
                    .map(|s| format!("{c}/{}", s.as_str().expect("name")))
                    .collect()
            })
            .collect(),
        json_step_keys(&out),
    )
}

/// The keys of `list --json` whose release is `release` (`None`: standalone).
fn listed(tree: &TempTree, release: Option<&str>) -> Vec<String> {
    let doc = json(&tree.run(&["list", "--json"]));
    doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["release"].as_str() == release)
        .map(|s| {
            format!(
                "{}/{}",
                s["component"].as_str().expect("c"),
                s["name"].as_str().expect("n")
            )
        })
        .collect()
}

// ---------------------------------------------------------------- database contents

/// `upgrade_components` as `component source covers`, sorted.
fn components(db: &Db) -> Vec<String> {
    strings(
        db,
        "SELECT component || ' ' || source || ' ' || coalesce(covers, '-') FROM upgrade_components ORDER BY component",
    )
}

/// Does the database have this table?
fn has_table(db: &Db, table: &str) -> bool {
    let sql = match db {
        Db::Sqlite { .. } => {
            format!("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '{table}'")
        }
        Db::Postgres { .. } => format!(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
    };
    !strings(db, &sql).is_empty()
}

/// The schema, compared by structure: on SQLite each table's columns in
/// order (`pragma table_info`: a table created whole and one completed by
/// `ALTER TABLE ADD COLUMN` have different `CREATE` texts but the same
/// columns), other objects by their SQL with white space collapsed; on
/// PostgreSQL the catalog dump of tests/runner.rs (columns with position).
fn structure(db: &Db) -> String {
    let Db::Sqlite { path, .. } = db else {
        return db.schema();
    };
    let conn = rusqlite::Connection::open(path).expect("open");
    let objects: Vec<(String, String, String)> = conn
        .prepare("SELECT type, name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut out = Vec::new();
    for (kind, name, sql) in objects {
        if kind == "table" {
            let columns: Vec<String> = conn
                .prepare("SELECT cid || ' ' || name || ' ' || type || ' ' || \"notnull\" || ' ' || coalesce(dflt_value, '-') || ' ' || pk FROM pragma_table_info(?1) ORDER BY cid")
                .expect("prepare")
                .query_map([&name], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("columns");
            out.push(format!("table {name}: {}", columns.join(", ")));
        } else {
            let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push(format!("{kind} {name}: {sql}"));
        }
    }
    out.join("\n")
}

/// The SQL of the steps released with one of `releases`, in plan order, for
/// `database`, read from the components' upgrade.toml as a person would
/// (`list --json` gives the order and the line of each `[[step]]`): what an
/// application's own upgrade system ran. One entry per step.
fn released_sql(tree: &TempTree, releases: &[&str], database: &str) -> Vec<String> {
    let doc = json(&tree.run(&["list", "--json"]));
    let mut out = Vec::new();
    for step in doc["steps"].as_array().expect("steps") {
        if !step["release"]
            .as_str()
            .is_some_and(|r| releases.contains(&r))
        {
            continue;
        }
        let location = step["file"].as_str().expect("file");
        let (file, line) = location.rsplit_once(':').expect("file:line");
        let line: usize = line.parse().expect("line");
        let text = tree.read(file);
        let lines: Vec<&str> = text.lines().skip(line).collect();
        let end = lines
            .iter()
            .position(|l| l.trim() == "[[step]]")
            .unwrap_or(lines.len());
        let lines = &lines[..end];
        let opener = |l: &&str| *l == "sql = '''" || *l == format!("{database} = '''");
        let Some(start) = lines.iter().position(opener) else {
            continue; // no variant for this database: a no-op there
        };
        let body: Vec<&str> = lines[start + 1..]
            .iter()
            .take_while(|l| **l != "'''")
            .copied()
            .collect();
        out.push(body.join("\n") + "\n");
    }
    assert!(!out.is_empty(), "no released SQL for {releases:?}");
    out
}

// ---------------------------------------------------------------- SQLite

#[test]
fn sqlite_fresh_site_installs_from_snapshots_like_step_by_step() {
    snapshots::fresh_site(&Db::sqlite, false);
    snapshots::fresh_site(&Db::sqlite, true);
}

#[test]
fn sqlite_plugin_added_later_is_installed_and_its_covered_steps_never_run() {
    snapshots::plugin_added_later(&Db::sqlite);
}

#[test]
fn sqlite_adopt_then_only_the_steps_after_the_release_run() {
    adopt::adopt_hand_built(&Db::sqlite);
}

#[test]
fn sqlite_adopt_check_schema_lists_differences_and_writes_nothing() {
    adopt::check_schema();
}

#[test]
fn sqlite_adopt_records_only_components_that_existed_at_the_release() {
    adopt::plugin_added_after_the_release(&Db::sqlite);
}

#[test]
fn sqlite_baseline_starts_fresh_sites_and_refuses_older_ones() {
    adopt::baseline(&Db::sqlite);
}

#[test]
fn sqlite_baseline_counts_components_whose_steps_are_retired() {
    adopt::baseline_with_retired_steps(&Db::sqlite);
}

#[test]
fn sqlite_failing_snapshot_leaves_nothing_and_a_fixed_rerun_converges() {
    failures::failing_snapshot(&Db::sqlite);
}

#[test]
fn sqlite_prune_orphans_forgets_a_removed_component() {
    failures::removed_component(&Db::sqlite);
}

#[test]
fn sqlite_staged_install_of_a_safe_to_disable_plugin_fails_alone() {
    failures::staged_install_scope(&Db::sqlite);
}

#[test]
fn bad_snapshots_are_refused_at_load_naming_the_file() {
    failures::bad_snapshots();
}

#[test]
fn a_site_of_the_previous_tool_version_migrates_without_rerunning_or_skipping() {
    migration::v3_site();
}

#[test]
fn verify_apply_names_a_stale_snapshot_and_passes_a_correct_tree() {
    migration::stale_snapshot();
}

// ---------------------------------------------------------------- PostgreSQL

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_fresh_site_installs_from_snapshots_like_step_by_step() {
    snapshots::fresh_site(&|| Db::postgres("install"), false);
    snapshots::fresh_site(&|| Db::postgres("install20"), true);
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_plugin_added_later_is_installed_and_its_covered_steps_never_run() {
    snapshots::plugin_added_later(&|| Db::postgres("later"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_adopt_then_only_the_steps_after_the_release_run() {
    adopt::adopt_hand_built(&|| Db::postgres("adopt"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_adopt_records_only_components_that_existed_at_the_release() {
    adopt::plugin_added_after_the_release(&|| Db::postgres("adoptlater"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_baseline_starts_fresh_sites_and_refuses_older_ones() {
    adopt::baseline(&|| Db::postgres("baseline"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_failing_snapshot_leaves_nothing_and_a_fixed_rerun_converges() {
    failures::failing_snapshot(&|| Db::postgres("failsnap"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_prune_orphans_forgets_a_removed_component() {
    failures::removed_component(&|| Db::postgres("removed"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_staged_install_of_a_safe_to_disable_plugin_fails_alone() {
    failures::staged_install_scope(&|| Db::postgres("staged"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_baseline_counts_components_whose_steps_are_retired() {
    adopt::baseline_with_retired_steps(&|| Db::postgres("retired"));
}
