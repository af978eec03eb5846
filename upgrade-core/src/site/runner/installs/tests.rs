//! Which components a site has installed, and what `apply` installs.

use super::super::*;
use crate::files::source::MemoryTree;
use crate::site::ledger::{InstalledComponent, SiteRecord};

const MANIFEST: &str = r#"
[project]
name = "t"
version = "2008030100.00"
revision = 1
[components]
core = "lib"
plugin_types = [{ name = "mod", folder = "mod" }, { name = "local", folder = "local" }]
[[release]]
name = "R1"
version = "2008010500.00"
"#;

fn tree() -> Tree {
    let mut mem = MemoryTree::default();
    for (path, text) in [
        ("upgrade.toml", MANIFEST),
        (
            "lib/db/upgrades/2008010100-a.sql",
            "CREATE TABLE a (id INT);\n",
        ),
        (
            "lib/db/upgrades/2008010200-b.sql",
            "ALTER TABLE a ADD COLUMN x INT;\n",
        ),
        (
            "lib/db/upgrades/2008010300-c.sql",
            "CREATE TABLE c (id INT);\n",
        ),
        (
            "lib/db/install.sql",
            "-- covers: 2008010200-b\nCREATE TABLE a (id INT, x INT);\n",
        ),
        (
            "mod/wiki/db/upgrades/2008010150-w.sql",
            "CREATE TABLE w (id INT);\n",
        ),
        (
            "mod/wiki/db/install.sql",
            "-- covers: 2008010150-w\nCREATE TABLE w (id INT);\n",
        ),
        (
            "local/x/db/upgrades/2008010160-x.sql",
            "CREATE TABLE x (id INT);\n",
        ),
    ] {
        mem.files.insert(path.into(), text.as_bytes().to_vec());
    }
    Tree::load(&mem).expect("valid tree")
}

fn row(component: &str, step: &str) -> LedgerRow {
    LedgerRow::new(
        component,
        step,
        &format!("sha256:{}", "0".repeat(64)),
        "2008-01-01T00:00:00Z",
    )
}

fn stored(rows: Vec<LedgerRow>, components: &[&str]) -> Stored {
    Stored {
        exists: true,
        rows,
        site: SiteRecord::default(),
        components: components
            .iter()
            .map(|c| InstalledComponent {
                component: (*c).into(),
                source: "steps".into(),
                covers: None,
                checksum: None,
                installed_at: "2008-01-01T00:00:00Z".into(),
            })
            .collect(),
        ..Stored::default()
    }
}

/// Installs (`component:covered+steps`), pending keys, unrecorded and removed components.
type Summary = (Vec<String>, Vec<String>, Vec<String>, Vec<String>);

fn summary(tree: &Tree, stored: Stored) -> Summary {
    let order = plan::order(tree).expect("order");
    let status = status_of(tree, Some(&order), Database::Sqlite, "t.db", stored).expect("status");
    (
        status
            .installs
            .iter()
            .map(|i| {
                let covered: Vec<&str> = i.covered.iter().map(|s| s.key.name.as_str()).collect();
                format!("{}:{}", i.snapshot.component, covered.join("+"))
            })
            .collect(),
        status.pending.iter().map(|s| s.key.to_string()).collect(),
        status.unrecorded.iter().map(ToString::to_string).collect(),
        status.removed.clone(),
    )
}

#[test]
fn a_fresh_site_installs_each_component_with_a_snapshot_first_in_rank_order() {
    let t = tree();
    let (installs, pending, unrecorded, removed) = summary(&t, Stored::default());
    assert_eq!(
        installs,
        ["core:2008010100-a+2008010200-b", "mod_wiki:2008010150-w"]
    );
    assert_eq!(pending, ["local_x/2008010160-x", "core/2008010300-c"]);
    assert!(unrecorded.is_empty() && removed.is_empty());
}

#[test]
fn a_component_with_an_applied_step_or_a_row_is_installed_and_runs_its_steps() {
    let t = tree();
    // core has a ledger row (a site older than the snapshot): its steps run.
    let (installs, pending, unrecorded, _) =
        summary(&t, stored(vec![row("core", "2008010100-a")], &[]));
    assert_eq!(installs, ["mod_wiki:2008010150-w"]);
    assert_eq!(
        pending,
        [
            "local_x/2008010160-x",
            "core/2008010200-b",
            "core/2008010300-c"
        ]
    );
    assert_eq!(unrecorded, ["core"]);
    // Recorded in upgrade_components without any row (e.g. adopted): no install either.
    let (installs, pending, unrecorded, _) = summary(&t, stored(Vec::new(), &["mod_wiki"]));
    assert_eq!(installs, ["core:2008010100-a+2008010200-b"]);
    assert!(
        pending.contains(&"mod_wiki/2008010150-w".to_string()),
        "{pending:?}"
    );
    assert!(unrecorded.is_empty());
}

#[test]
fn a_component_no_longer_in_the_tree_is_reported_removed() {
    let t = tree();
    let (_, _, _, removed) = summary(&t, stored(Vec::new(), &["core", "mod_gone"]));
    assert_eq!(removed, ["mod_gone"]);
}

#[test]
fn a_snapshot_without_a_script_for_the_database_is_not_used_there() {
    let mut mem = MemoryTree::default();
    for (path, text) in [
        ("upgrade.toml", MANIFEST),
        (
            "lib/db/upgrades/2008010100-a.sql",
            "CREATE TABLE a (id INT);\n",
        ),
        (
            "lib/db/install.sqlite.sql",
            "-- covers: 2008010100-a\nCREATE TABLE a (id INT);\n",
        ),
    ] {
        mem.files.insert(path.into(), text.as_bytes().to_vec());
    }
    let t = Tree::load(&mem).expect("valid tree");
    let order = plan::order(&t).expect("order");
    for (database, installs, pending) in [(Database::Sqlite, 1, 0), (Database::Postgres, 0, 1)] {
        let status = status_of(&t, Some(&order), database, "t", Stored::default()).expect("status");
        assert_eq!(status.installs.len(), installs, "{database}");
        assert_eq!(status.pending.len(), pending, "{database}");
    }
}

/// The components of 3,000 rows are found with a search per component
/// (about 2·log₂ of its rows), not a look at every row.
#[test]
fn row_components_are_found_per_component_not_per_row() {
    let rows: Vec<LedgerRow> = ["core", "local_a", "mod_b"]
        .iter()
        .flat_map(|c| (0..1000).map(move |i| row(c, &format!("2008010100-s{i:04}"))))
        .collect();
    crate::model::op_count::take();
    let found = super::row_components(&rows);
    let work = crate::model::op_count::take();
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["core", "local_a", "mod_b"]
    );
    assert!(
        work <= 3 * (2 * 10 + 2),
        "{work} comparisons for 3 components"
    );
    // Runs of every length up to 70 end where they end.
    let mut rows = Vec::new();
    for (i, len) in (1..70).enumerate() {
        rows.extend((0..len).map(|s| row(&format!("mod_{i:03}"), &format!("2008010100-s{s:04}"))));
    }
    assert_eq!(super::row_components(&rows).len(), 69);
    assert!(super::row_components(&[]).is_empty());
    assert_eq!(super::row_components(&rows[..1]).len(), 1);
}

/// A component counts as having an applied step when any of its steps is
/// not pending, whatever order the pending steps come in (plan order is by
/// date across components).
#[test]
fn applied_steps_are_found_per_component_in_any_pending_order() {
    let t = tree();
    let names = |set: std::collections::BTreeSet<&ComponentName>| -> Vec<String> {
        set.into_iter().map(ToString::to_string).collect()
    };
    let all: Vec<&Step> = t.steps.iter().collect();
    assert!(super::with_applied_steps(&t, &all).is_empty());
    assert_eq!(
        names(super::with_applied_steps(&t, &[])),
        ["core", "local_x", "mod_wiki"]
    );
    // Everything pending but core's second step, in date order.
    let mut pending: Vec<&Step> = t
        .steps
        .iter()
        .filter(|s| s.key.name.as_str() != "2008010200-b")
        .collect();
    pending.sort_by_key(|s| s.key.name.as_str());
    assert_eq!(names(super::with_applied_steps(&t, &pending)), ["core"]);
    // A step that is not the tree's own is no step of the tree.
    let stray = t.steps[0].clone();
    assert_eq!(
        names(super::with_applied_steps(&t, &[&stray])),
        ["core", "local_x", "mod_wiki"]
    );
}
