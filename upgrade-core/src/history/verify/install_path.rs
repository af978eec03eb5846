//! Install equals upgrade (`verify --apply`): a fresh site built by the
//! install path (components installed from their snapshots, then the steps
//! after them) must end with the same schema as one built by the upgrade
//! path (every step run from the oldest supported start: the project
//! baseline, or an empty database). Checked on scratch SQLite databases for
//! the work tree and for the tree of each consolidation commit.
//!
//! A difference names the objects and the component whose snapshot is stale:
//! the component whose snapshot or covered steps mention the table the
//! object belongs to (found by the SQL tokenizer, not by text search). When
//! the upgrade path itself fails, the steps (or their starting schema) are
//! wrong, not a snapshot, and the message says so.

use std::collections::BTreeSet;
use std::path::Path;

use super::Failure;
use super::on_sqlite::schema_dump;
use crate::model::install_snapshot::InstallSnapshot;
use crate::model::sql_text::{Dialect, TokenKind, tokenize};
use crate::site::ledger::DatabaseUrl;
use crate::site::runner::{ApplyOptions, RunError, Runner};
use crate::trees::tree::Tree;

/// What comparing the two paths of one tree found.
#[derive(Debug, Clone, Default)]
pub struct InstallOutcome {
    /// Snapshots compared.
    pub snapshots: usize,
    /// Failures.
    pub failures: Vec<Failure>,
}

/// Builds a fresh scratch site of `tree` in `db`.
fn build(tree: &Tree, db: &Path) -> Result<(), RunError> {
    let runner = Runner::new(tree, DatabaseUrl::Sqlite(db.to_path_buf()))?;
    runner.apply(&ApplyOptions::default(), &mut |_| {})?;
    Ok(())
}

/// The upgrade path of a tree: the same tree without install snapshots.
pub fn without_snapshots(tree: &Tree) -> Tree {
    let mut upgrade = tree.clone();
    upgrade.installs.clear();
    upgrade
}

/// Compares the install and upgrade paths of `tree` (labelled `label`).
pub fn compare(scratch: &Path, label: &str, tree: &Tree) -> InstallOutcome {
    let mut outcome = InstallOutcome {
        snapshots: tree.installs.len(),
        failures: Vec::new(),
    };
    if tree.installs.is_empty() {
        return outcome;
    }
    let install_db = scratch.join("install.db");
    let upgrade_db = scratch.join("upgrade.db");
    let upgrade_tree = without_snapshots(tree);
    if let Err(e) = build(&upgrade_tree, &upgrade_db) {
        outcome.failures.push(Failure {
            message: format!(
                "{label}: the upgrade path (every step from {}) fails: {e}",
                start_of(tree)
            ),
            hint: "the step or its starting schema is wrong, not an install snapshot: fix the step, or declare the schema the steps start from as the project baseline ([baseline] in upgrade.toml)".into(),
        });
        return outcome;
    }
    if let Err(e) = build(tree, &install_db) {
        let component = match &e {
            RunError::InstallFailed { component, .. } => component.clone(),
            _ => "a component".into(),
        };
        outcome.failures.push(Failure {
            message: format!("{label}: the install path fails: {e}"),
            hint: format!(
                "the snapshot of {component} or a step after it is wrong: the snapshot must create the schema its covered steps create, from the same start"
            ),
        });
        return outcome;
    }
    let (installed, upgraded) = match (schema_dump(&install_db), schema_dump(&upgrade_db)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            outcome.failures.push(Failure {
                message: format!("{label}: cannot read a scratch schema: {e}"),
                hint: "check that the temporary folder (TMPDIR) is writable".into(),
            });
            return outcome;
        }
    };
    if installed == upgraded {
        return outcome;
    }
    let only_installed: Vec<&String> = installed.iter().filter(|l| !upgraded.contains(l)).collect();
    let only_upgraded: Vec<&String> = upgraded.iter().filter(|l| !installed.contains(l)).collect();
    let tables: BTreeSet<String> = only_installed
        .iter()
        .chain(&only_upgraded)
        .filter_map(|l| table_of(l))
        .collect();
    let mut stale: Vec<&InstallSnapshot> = tree
        .installs
        .values()
        .filter(|s| mentions(tree, s, &tables))
        .collect();
    if stale.is_empty() {
        stale = tree.installs.values().collect();
    }
    for snapshot in stale {
        outcome.failures.push(Failure {
            message: format!(
                "{label}: the install snapshot of {} ({}) is stale: installing gives a different schema from running its steps up to {}; only by installing: {:?}; only by upgrading: {:?}",
                snapshot.component,
                snapshot.location(),
                snapshot.covers,
                only_installed,
                only_upgraded
            ),
            hint: format!(
                "update {} to create what its steps up to `-- covers: {}` create (or move `covers` back to the step it matches)",
                snapshot.location(),
                snapshot.covers
            ),
        });
    }
    outcome
}

/// The start of the upgrade path, for messages.
fn start_of(tree: &Tree) -> String {
    match &tree.manifest.baseline {
        Some(baseline) => format!("the baseline {baseline}"),
        None => "an empty database".into(),
    }
}

/// The table of a line of [`schema_dump`].
fn table_of(line: &str) -> Option<String> {
    if let Some(rest) = line.strip_prefix("table ") {
        return rest.split(' ').next().map(str::to_ascii_lowercase);
    }
    let (_, rest) = line.split_once(" on ")?;
    let (table, _) = rest.split_once(':')?;
    Some(table.trim().to_ascii_lowercase())
}

/// Does the snapshot, or a step it covers, name one of `tables`?
fn mentions(tree: &Tree, snapshot: &InstallSnapshot, tables: &BTreeSet<String>) -> bool {
    let names = |sql: &str| -> bool {
        tokenize(sql, Dialect::Sqlite).iter().any(|t| {
            matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent)
                && tables.contains(
                    &t.text
                        .trim_matches(['"', '`', '[', ']'])
                        .to_ascii_lowercase(),
                )
        })
    };
    let sqlite = |body: &crate::model::step::Body| body.for_database("sqlite").is_some_and(names);
    sqlite(&snapshot.body)
        || tree.steps.iter().any(|s| {
            s.key.component == snapshot.component
                && s.key.name <= snapshot.covers
                && sqlite(&s.body)
        })
}
