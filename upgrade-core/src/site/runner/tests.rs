//! Tests of the runner on an in-memory tree: refusals, selections, drift,
//! apply on SQLite, and file lines of failing statements (in `tests/status.rs`
//! and `tests/on_sqlite.rs`); here, the tree and stored-site helpers they
//! share and the work of `plan`, `status` and `prune` pinned without timing
//! (model/op_count.rs).

use super::*;
use crate::files::source::MemoryTree;

mod on_sqlite;
mod status;

const MANIFEST: &str = r#"
[project]
name = "t"
version = "2008030100.00"
revision = 5
upgrade_from = "R19"
[components]
core = "lib"
plugin_types = [{ name = "mod", folder = "mod" }]
[[release]]
name = "R18"
version = "2007000000.00"
[[release]]
name = "R19"
version = "2007101500.00"
"#;

fn tree(files: &[(&str, &str)]) -> Tree {
    let mut mem = MemoryTree::default();
    mem.files
        .insert("upgrade.toml".into(), MANIFEST.as_bytes().to_vec());
    for (path, text) in files {
        mem.files.insert((*path).into(), text.as_bytes().to_vec());
    }
    Tree::load(&mem).expect("valid tree")
}

fn demo() -> Tree {
    tree(&[
        (
            "lib/db/upgrades/2008010100-a.sql",
            "CREATE TABLE a (id INT);\n",
        ),
        (
            "lib/db/upgrades/2008010200-trigger.sqlite.sql",
            "CREATE TRIGGER a_t AFTER INSERT ON a BEGIN SELECT 1; END;\n",
        ),
        (
            "mod/forum/db/upgrades/2008010150-b.sql",
            "-- phase: pre\nCREATE TABLE b (id INT);\n",
        ),
        (
            "mod/forum/db/upgrades/2008010300-c.sql",
            "-- transaction: no\nCREATE INDEX a_ix ON a (id);\n",
        ),
    ])
}

fn status_for<'t>(tree: &'t Tree, order: &[&'t Step], stored: Stored) -> Status<'t> {
    status_of(tree, Some(order), Database::Sqlite, "test.db", stored).expect("status")
}

fn row(component: &str, step: &str, checksum: &str) -> LedgerRow {
    LedgerRow::new(component, step, checksum, "2008-01-01T00:00:00Z")
}

fn at(release: Option<&str>, version: Option<&str>) -> Stored {
    Stored {
        exists: true,
        rows: Vec::new(),
        site: ledger::SiteRecord {
            release: release.map(|r| ReleaseName::parse(r).expect("release")),
            version: version.map(|v| Version::parse(v).expect("version")),
            revision: Some(5),
        },
        interrupted: None,
        sessions: Vec::new(),
        components: Vec::new(),
    }
}

/// What `plan` computes on a fresh site with `n` standalone steps, counted
/// in step-key comparisons (model/op_count.rs).
fn plan_work(n: usize) -> u64 {
    let files: Vec<(String, String)> = (0..n)
        .map(|i| {
            (
                format!("lib/db/upgrades/2008010100-s{i:05}.sql"),
                format!("INSERT INTO kv VALUES ({i});\n"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let t = tree(&refs);
    let order = plan::order(&t).expect("order");
    crate::model::op_count::take();
    let s = status_for(&t, &order, Stored::default());
    let steps = staged::run_order(&t, &select(&t, &s, &Selection::default()).expect("select"));
    let (_, syncs) = after_run(&t, &s, &steps);
    let work = crate::model::op_count::take();
    assert_eq!(steps.len(), n);
    assert!(syncs);
    work
}

#[test]
fn plan_on_a_fresh_site_is_linear_in_the_steps() {
    let (small, large) = (plan_work(400), plan_work(800));
    assert!(
        large * 10 <= small * 25,
        "800 steps cost {large} key comparisons, 400 steps {small}: not linear"
    );
}

/// A tree whose core has `n` entries released in R19.
fn released_tree(n: usize) -> Tree {
    let sum = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let toml: String = (0..n)
        .map(|i| {
            format!(
                "[[step]]\nname = \"2007010100-s{i:05}\"\nrelease = \"R19\"\nphase = \"main\"\nchecksum = \"{sum}\"\nsql = \"INSERT INTO kv VALUES ({i});\"\n\n"
            )
        })
        .collect();
    tree(&[("lib/db/upgrade.toml", &toml)])
}

/// A site that completed R19 and still holds a row for every step of `t`.
fn covered_rows_of(t: &Tree) -> Stored {
    let mut stored = at(Some("R19"), None);
    stored.rows = t
        .steps
        .iter()
        .map(|s| row("core", s.key.name.as_str(), s.checksum.text().as_str()))
        .collect();
    stored
}

/// `status` of a site that completed R19, whose ledger holds a row for each
/// of the `n` released entries (all covered), counted in key parses, row
/// checks and key comparisons.
fn prunable_work(n: usize) -> u64 {
    let t = released_tree(n);
    let order = plan::order(&t).expect("order");
    let stored = covered_rows_of(&t);
    crate::model::op_count::take();
    let s = status_for(&t, &order, stored);
    let work = crate::model::op_count::take();
    assert_eq!(s.prunable.len(), n);
    assert!(s.pending.is_empty() && s.orphans.is_empty() && s.drift.is_empty());
    work
}

#[test]
fn prunable_rows_are_found_in_linear_work() {
    let (small, large) = (prunable_work(400), prunable_work(800));
    assert!(
        large * 10 <= small * 25,
        "800 rows cost {large} comparisons, 400 rows {small}: not linear"
    );
}

/// `prune` on SQLite of a site that completed R19 with a row for each of
/// the `n` released entries: the work counted (row checks, key comparisons).
fn prune_work(n: usize) -> u64 {
    let t = released_tree(n);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.db");
    let url = DatabaseUrl::Sqlite(path.clone());
    drop(ledger::open(&url, Access::Apply).expect("create"));
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch("BEGIN; UPDATE upgrade_site SET completed_release = 'R19';")
        .expect("site");
    for s in &t.steps {
        conn.execute(
            "INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES ('core', ?1, ?2, '2007-01-01T00:00:00Z')",
            rusqlite::params![s.key.name.as_str(), s.checksum.text().as_str()],
        )
        .expect("row");
    }
    conn.execute_batch("COMMIT;").expect("commit");
    drop(conn);
    let runner = Runner::new(&t, url).expect("runner");
    crate::model::op_count::take();
    let report = runner.prune().expect("prune");
    let work = crate::model::op_count::take();
    assert_eq!(report.deleted.len(), n);
    assert!(runner.status().expect("status").stored.rows.is_empty());
    work
}

#[test]
fn prune_of_covered_rows_is_linear_in_the_rows() {
    let (small, large) = (prune_work(400), prune_work(800));
    assert!(
        large * 10 <= small * 25,
        "800 rows cost {large} comparisons, 400 rows {small}: not linear"
    );
}

#[test]
fn covered_rows_are_parsed_once_and_found_once() {
    for n in [400, 800] {
        let work = prunable_work(n);
        // Per row: one comparison of its text to find its step (the rows
        // come in the tree's order: no key parsed) and one coverage check;
        // before, every row's key was parsed, once or twice, and put in the
        // ledger map. Besides, one search finds where the one component's
        // rows end (site/runner/installs.rs: about 2·log₂ n).
        let search = 2 * u64::from(n.ilog2()) + 2;
        assert!(
            (2 * n as u64..=2 * n as u64 + search).contains(&work),
            "{n} covered rows cost {work} units: not a comparison and a check each"
        );
    }
}
