//! Tests of the runner on an in-memory tree: refusals, selections, drift,
//! apply on SQLite, and file lines of failing statements.

use super::*;
use crate::files::source::MemoryTree;

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
    LedgerRow {
        component: component.into(),
        step: step.into(),
        checksum: checksum.into(),
        applied_at: "2008-01-01T00:00:00Z".into(),
    }
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

#[test]
fn refusals() {
    let t = demo();
    let order = plan::order(&t).expect("order");
    let s = status_for(&t, &order, at(Some("R18"), None));
    assert!(
        matches!(&s.refusal, Some(Refusal::TooOld { upgrade_from, .. }) if upgrade_from.as_str() == "R19"),
        "{:?}",
        s.refusal
    );
    let s = status_for(&t, &order, at(Some("R21"), None));
    assert!(matches!(s.refusal, Some(Refusal::UnknownRelease { .. })));
    let s = status_for(&t, &order, at(Some("R19"), Some("2009000000")));
    assert!(matches!(s.refusal, Some(Refusal::Downgrade { .. })));
    let s = status_for(&t, &order, at(Some("R19"), Some("2007101500.01")));
    assert!(s.refusal.is_none());
    let s = status_for(&t, &order, Stored::default());
    assert!(s.refusal.is_none());
    assert_eq!(s.pending.len(), 4);
    assert_eq!(
        s.release_to_complete.as_ref().map(|r| r.as_str()),
        Some("R19")
    );
    assert!(s.needs_upgrade());
}

#[test]
fn selection_by_phase_and_to() {
    let t = demo();
    let order = plan::order(&t).expect("order");
    let s = status_for(&t, &order, Stored::default());
    let keys = |steps: Vec<&Step>| steps.iter().map(|s| s.key.to_string()).collect::<Vec<_>>();
    let all = select(&t, &s, &Selection::default()).expect("all");
    assert_eq!(
        keys(all),
        [
            "mod_forum/2008010150-b",
            "core/2008010100-a",
            "core/2008010200-trigger",
            "mod_forum/2008010300-c"
        ]
    );
    let pre = Selection {
        phase: Some(Phase::Pre),
        ..Selection::default()
    };
    assert_eq!(
        keys(select(&t, &s, &pre).expect("pre")),
        ["mod_forum/2008010150-b"]
    );
    let to = Selection {
        to: Some("2008010100-a".into()),
        ..Selection::default()
    };
    assert_eq!(select(&t, &s, &to).expect("to").len(), 2);
    let bad = Selection {
        to: Some("2008010100-a".into()),
        phase: Some(Phase::Pre),
        ..Selection::default()
    };
    assert!(matches!(
        select(&t, &s, &bad),
        Err(RunError::PhaseMismatch { .. })
    ));
    let unknown = Selection {
        to: Some("core/2009010100-x".into()),
        ..Selection::default()
    };
    assert!(matches!(
        select(&t, &s, &unknown),
        Err(RunError::UnknownStep { .. })
    ));
}

#[test]
fn drift_orphans_and_prunable() {
    let t = demo();
    let order = plan::order(&t).expect("order");
    let a = t
        .steps
        .iter()
        .find(|s| s.key.name.as_str() == "2008010100-a")
        .expect("a");
    let mut stored = at(Some("R19"), None);
    stored.rows = vec![
        row(
            "core",
            "2008010100-a",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ),
        row(
            "mod_forum",
            "2008010150-b",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ),
        row("core", "2001010100-gone", a.checksum.text().as_str()),
        row("weird name", "x", "not a checksum"),
    ];
    let s = status_for(&t, &order, stored);
    assert_eq!(s.drift.len(), 2);
    let orphans: Vec<String> = s.orphans.iter().map(LedgerRow::key_text).collect();
    assert_eq!(orphans, ["core/2001010100-gone", "weird name/x"]);
    assert!(s.prunable.is_empty());
    assert!(s.blocked());
}

#[test]
fn apply_completes_and_prunes_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = demo();
    let url = DatabaseUrl::Sqlite(dir.path().join("site.db"));
    let runner = Runner::new(&t, url.clone()).expect("runner");
    let first = runner
        .apply(
            &ApplyOptions {
                selection: Selection {
                    phase: Some(Phase::Pre),
                    ..Selection::default()
                },
                ..ApplyOptions::default()
            },
            &mut |_| {},
        )
        .expect("apply pre");
    assert_eq!((first.applied, first.remaining), (1, 3));
    // No step is tagged R19 or earlier, so R19 completes as soon as anything ran.
    assert_eq!(
        first.completed.as_ref().map(|(r, _)| r.as_str()),
        Some("R19")
    );
    assert_eq!(
        first.synced, None,
        "version and revision wait for the last step"
    );
    let mut events = Vec::new();
    let report = runner
        .apply(&ApplyOptions::default(), &mut |e| {
            if let ApplyEvent::StepDone { step, noop, .. } = e {
                events.push((step.key.to_string(), noop));
            }
        })
        .expect("apply");
    assert_eq!(report.applied, 3);
    assert_eq!(report.noops, 0, "the trigger has a sqlite variant");
    assert_eq!(report.completed, None, "already completed");
    assert!(report.synced.is_some());
    let status = runner.status().expect("status");
    assert!(!status.needs_upgrade(), "{status:?}");
    assert_eq!(
        status.stored.rows.len(),
        4,
        "standalone rows stay until their release completes"
    );
    // Runs again: nothing to do.
    let again = runner
        .apply(&ApplyOptions::default(), &mut |_| {})
        .expect("again");
    assert_eq!(again, ApplyReport::default());
}

#[test]
fn failing_statements_name_their_file_line() {
    use crate::model::step::{Body, Checksum};
    let sql = "CREATE TABLE x (id INT);\n\nINSERT INTO missing VALUES (1);\n";
    let checksum = Checksum::of(&Body::Any(sql.into()));
    let upgrade = format!(
        "[[step]]\nname = \"2007080100-x\"\nrelease = \"R19\"\nphase = \"main\"\nchecksum = \"{checksum}\"\nsql = '''\n{sql}'''\n"
    );
    let t = tree(&[
        ("lib/db/upgrade.toml", upgrade.as_str()),
        (
            "mod/forum/db/upgrades/2008010150-b.sql",
            "-- phase: pre\n-- a free comment\nCREATE TABLE b (id INT);\n",
        ),
    ]);
    let released = t
        .steps
        .iter()
        .find(|s| s.key.name.as_str() == "2007080100-x")
        .expect("released");
    assert_eq!(
        file_line(&t, released, Database::Sqlite, 3).as_deref(),
        Some("lib/db/upgrade.toml:9")
    );
    let standalone = t
        .steps
        .iter()
        .find(|s| s.key.name.as_str() == "2008010150-b")
        .expect("standalone");
    let body = standalone.body.for_database("sqlite").expect("body");
    let line = body
        .lines()
        .position(|l| l.starts_with("CREATE"))
        .expect("create")
        + 1;
    assert_eq!(
        file_line(&t, standalone, Database::Sqlite, line).as_deref(),
        Some("mod/forum/db/upgrades/2008010150-b.sql:3")
    );
    // End to end: the released entry fails on a fresh SQLite site.
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = Runner::new(&t, DatabaseUrl::Sqlite(dir.path().join("site.db"))).expect("runner");
    let err = runner
        .apply(&ApplyOptions::default(), &mut |_| {})
        .expect_err("missing table");
    assert!(
        matches!(&err, RunError::StepFailed { location, .. } if location == "lib/db/upgrade.toml:9"),
        "{err}"
    );
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
        // ledger map.
        assert!(
            work == 2 * n as u64,
            "{n} covered rows cost {work} units: not a comparison and a check each"
        );
    }
}

#[test]
fn a_covered_row_with_a_corrupt_checksum_is_still_refused() {
    let sum = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let toml = format!(
        "[[step]]\nname = \"2007010100-s00001\"\nrelease = \"R19\"\nphase = \"main\"\nchecksum = \"{sum}\"\nsql = \"INSERT INTO kv VALUES (1);\"\n"
    );
    let t = tree(&[("lib/db/upgrade.toml", &toml)]);
    let order = plan::order(&t).expect("order");
    let mut stored = at(Some("R19"), None);
    stored.rows = vec![row("core", "2007010100-s00001", "sha256:XYZ")];
    let err = status_of(&t, Some(&order), Database::Sqlite, "site.db", stored)
        .expect_err("a corrupt checksum is refused");
    assert!(err.to_string().contains("sha256:XYZ"), "{err}");
}

#[test]
fn a_row_key_reads_as_its_key_text() {
    let cases = [
        ("core", "2007010100-s00001"),
        (" core ", " 2007010100-s00001 "),
        ("a/b", "2007010100-s00001"),
        ("core", "2007010100/s00001"),
        ("core", "not a step"),
        ("", ""),
        ("Core!", "2007010100-s00001"),
    ];
    for (component, step) in cases {
        let r = row(component, step, "sha256:00");
        assert_eq!(
            r.key(),
            StepKey::parse(&r.key_text()).ok(),
            "{component:?} / {step:?}"
        );
        assert_eq!(r.key_len(), r.key_text().len());
    }
}

#[test]
fn ordering_only_the_pending_steps_gives_the_pending_steps_of_the_whole_order() {
    // Phases, components and dates interleaved; no requirements.
    let mut files = Vec::new();
    for (i, folder) in ["lib", "mod/forum", "mod/assign", "mod/quiz"]
        .iter()
        .enumerate()
    {
        for n in 0..9 {
            let phase = ["pre", "main", "post"][(n + i) % 3];
            files.push((
                format!(
                    "{folder}/db/upgrades/20080{}0{}00-s{n}.sql",
                    1 + n % 3,
                    1 + (n + i) % 4
                ),
                format!("-- phase: {phase}\nINSERT INTO kv (k) VALUES ('{i}{n}');\n"),
            ));
        }
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let t = tree(&refs);
    assert!(!plan::has_requires(&t));
    let order = plan::order(&t).expect("order");
    let keys = |s: &Status<'_>| s.pending.iter().map(|s| s.key.clone()).collect::<Vec<_>>();
    // A fresh site, and sites with every third, every other, every step applied.
    for every in [0, 3, 2, 1] {
        let mut stored = at(None, None);
        if every > 0 {
            stored.rows = t
                .steps
                .iter()
                .step_by(every)
                .map(|s| {
                    row(
                        s.key.component.as_str(),
                        s.key.name.as_str(),
                        &s.checksum.to_string(),
                    )
                })
                .collect();
        }
        let whole =
            status_of(&t, Some(&order), Database::Sqlite, "t.db", stored.clone()).expect("whole");
        let lazily = status_of(&t, None, Database::Sqlite, "t.db", stored).expect("lazily");
        assert_eq!(keys(&lazily), keys(&whole), "every {every}");
        assert_eq!(whole.pending.is_empty(), every == 1);
    }
}
