//! C1 on a real database (`verify --apply`): for each consolidation commit,
//! scratch SQLite sites are brought to a few sampled states with the tree
//! before it (through the runner, so each state is one a site really
//! reaches), copied, upgraded to the end once with the tree before and once
//! with the tree after, and their normalised schema dumps compared.
//!
//! Sampled states: the first 0, n/3, 2n/3 and n steps of the earlier plan,
//! and for each release the shortest prefix that lets a site complete it
//! (the runner completes the newest release as soon as the prefix allows:
//! the state where consolidation mistakes show first).

use std::path::Path;

use crate::history::verify::c1::StateSpace;
use crate::history::verify::install_path::without_snapshots;
use crate::model::step::Step;
use crate::site::ledger::DatabaseUrl;
use crate::site::runner::{ApplyOptions, RunError, Runner, Selection};
use crate::trees::tree::Tree;

/// What running one consolidation on SQLite found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqliteOutcome {
    /// How many sampled states were run.
    pub states: usize,
    /// Steps run, both trees together.
    pub steps_run: usize,
    /// What went wrong, one line each.
    pub problems: Vec<String>,
    /// Steps that fail the same way with both trees: the step or its
    /// starting schema is wrong, not the consolidation.
    pub both_fail: Vec<String>,
}

/// The prefixes sampled from a plan of `n` steps whose releases can be
/// completed after the prefixes `release_prefixes`.
pub fn sampled_prefixes(n: usize, release_prefixes: &[usize]) -> Vec<usize> {
    let mut out = vec![0, n / 3, 2 * n / 3, n];
    out.extend(release_prefixes.iter().filter(|&&k| k <= n));
    out.sort_unstable();
    out.dedup();
    out
}

pub use crate::site::scratch::schema_dump;

fn apply(tree: &Tree, db: &Path, to: Option<&Step>) -> Result<usize, RunError> {
    let runner = Runner::new(tree, DatabaseUrl::Sqlite(db.to_path_buf()))?;
    let options = ApplyOptions {
        selection: Selection {
            to: to.map(|s| s.key.to_string()),
            ..Selection::default()
        },
        ..ApplyOptions::default()
    };
    let report = runner.apply(&options, &mut |_| {})?;
    Ok(report.applied + report.noops)
}

/// The step and the database's message of a failed step, to tell a step
/// that fails with both trees from a consolidation difference.
fn failed_step(e: &RunError) -> Option<(String, String)> {
    match e {
        RunError::StepFailed { step, message, .. } => Some((step.to_string(), message.clone())),
        _ => None,
    }
}

/// Runs `before` and `after` from sampled states of `before` (labels name
/// them in messages) in scratch databases under `scratch`, by the upgrade
/// path (install snapshots are left out: `install_path` checks them).
pub fn compare(
    scratch: &Path,
    before: (&str, &Tree, &[&Step]),
    after: (&str, &Tree),
) -> SqliteOutcome {
    let (label_before, tree_before, plan_before) = before;
    let (label_after, tree_after) = after;
    let tree_before = &without_snapshots(tree_before);
    let tree_after = &without_snapshots(tree_after);
    let mut outcome = SqliteOutcome::default();
    let space = StateSpace::new(tree_before, plan_before);
    for k in sampled_prefixes(plan_before.len(), space.release_prefixes()) {
        outcome.states += 1;
        let state = if k == 0 {
            "a fresh site".to_string()
        } else {
            format!(
                "a site that applied the first {k} step(s) of {label_before} (up to {})",
                plan_before[k - 1].key
            )
        };
        let db_before = scratch.join(format!("{k}-before.db"));
        let db_after = scratch.join(format!("{k}-after.db"));
        if k > 0 {
            match apply(tree_before, &db_before, Some(plan_before[k - 1])) {
                Ok(n) => outcome.steps_run += n,
                Err(e) => {
                    outcome.problems.push(format!(
                        "{state}: reaching it with {label_before} failed: {e}"
                    ));
                    continue;
                }
            }
            if let Err(e) = std::fs::copy(&db_before, &db_after) {
                outcome
                    .problems
                    .push(format!("{state}: cannot copy the scratch database: {e}"));
                continue;
            }
        }
        let mut dumps = Vec::new();
        let mut failed = Vec::new();
        for (label, tree, db) in [
            (label_before, tree_before, &db_before),
            (label_after, tree_after, &db_after),
        ] {
            match apply(tree, db, None) {
                Ok(n) => match schema_dump(db) {
                    Ok(dump) => {
                        outcome.steps_run += n;
                        dumps.push(dump);
                    }
                    Err(e) => outcome.problems.push(format!(
                        "{state}: reading the schema after {label} failed: {e}"
                    )),
                },
                Err(e) => failed.push((label, e)),
            }
        }
        match failed.as_slice() {
            [(_, a), (_, b)] if failed_step(a).is_some() && failed_step(a) == failed_step(b) => {
                outcome.both_fail.push(format!(
                    "{state}: fails on both trees: {a}: the step or its starting schema is wrong"
                ));
            }
            _ => {
                for (label, e) in failed {
                    outcome
                        .problems
                        .push(format!("{state}: upgrading it with {label} failed: {e}"));
                }
            }
        }
        if let [a, b] = dumps.as_slice()
            && a != b
        {
            let only_before: Vec<&String> = a.iter().filter(|l| !b.contains(l)).collect();
            let only_after: Vec<&String> = b.iter().filter(|l| !a.contains(l)).collect();
            outcome.problems.push(format!(
                    "{state}: the schemas differ after upgrading; only with {label_before}: {:?}; only with {label_after}: {:?}",
                    only_before, only_after
                ));
        }
    }
    outcome
}
