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
//!
//! Only the steps both trees share are compared: steps the later tree adds
//! (the upstream steps a `rebase --onto` brings in, or a step added in the
//! same commit) are new to every site, not a C1 question (as in [`super::c1`]),
//! so they are left out of the later tree's run; otherwise their tables would
//! show as schema differences of a correct consolidation.
//!
//! A step that fails the same way with both trees, or already fails while a
//! sampled state is reached with the earlier tree, is not a consolidation
//! difference: the step or the schema it starts from is wrong. It is reported
//! apart ([`SqliteOutcome::both_fail`]), once per step.

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
    /// Steps that fail the same way with both trees, or with the earlier
    /// tree while reaching a sampled state: the step or its starting schema
    /// is wrong, not the consolidation. One line per failing step.
    pub both_fail: Vec<String>,
    /// Steps of the later tree the earlier one lacks, left out of its runs.
    pub left_out: usize,
}

/// The later tree restricted to the steps the earlier one has (requirements
/// on the steps left out dropped), and how many were left out.
pub fn shared_steps(after: &Tree, before: &Tree) -> (Tree, usize) {
    let mut shared = after.clone();
    shared.steps.retain(|s| before.step(&s.key).is_some());
    let left_out = after.steps.len() - shared.steps.len();
    if left_out > 0 {
        for step in &mut shared.steps {
            step.requires.retain(|r| before.step(r).is_some());
        }
    }
    (shared, left_out)
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
    let (tree_after, left_out) = shared_steps(&without_snapshots(tree_after), tree_before);
    let tree_after = &tree_after;
    let mut outcome = SqliteOutcome {
        left_out,
        ..SqliteOutcome::default()
    };
    // Failing steps already reported (step, database message): once each.
    let mut failing: Vec<(String, String)> = Vec::new();
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
                    match failed_step(&e) {
                        Some(step) if failing.contains(&step) => {}
                        Some(step) => {
                            failing.push(step);
                            outcome.both_fail.push(format!(
                                "{state}: fails before the consolidation already, reaching it with {label_before}: {e}: the step or its starting schema is wrong"
                            ));
                        }
                        None => outcome.problems.push(format!(
                            "{state}: reaching it with {label_before} failed: {e}"
                        )),
                    }
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
                if let Some(step) = failed_step(a).filter(|s| !failing.contains(s)) {
                    failing.push(step);
                    outcome.both_fail.push(format!(
                        "{state}: fails on both trees: {a}: the step or its starting schema is wrong"
                    ));
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::source::MemoryTree;
    use crate::planning::plan;

    fn tree(steps: &[(&str, &str)]) -> Tree {
        let mut mem = MemoryTree::default();
        mem.files.insert(
            "upgrade.toml".into(),
            b"[project]\nname = \"t\"\nversion = \"1\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [{ name = \"mod\", folder = \"mod\" }]\n".to_vec(),
        );
        for (path, text) in steps {
            mem.files.insert((*path).into(), text.as_bytes().to_vec());
        }
        Tree::load(&mem).expect("tree loads")
    }

    #[test]
    fn shared_steps_leave_out_new_steps_and_requirements_on_them() {
        let a = (
            "lib/db/upgrades/2008010100-a.sql",
            "CREATE TABLE a (id INT);\n",
        );
        let before = tree(&[a]);
        let after = tree(&[
            a,
            (
                "mod/forum/db/upgrades/2008010200-new.sql",
                "CREATE TABLE n (id INT);\n",
            ),
            (
                "lib/db/upgrades/2008010150-needs_new.sql",
                "-- requires: mod_forum/2008010200-new\nCREATE TABLE m (id INT);\n",
            ),
        ]);
        let (shared, left_out) = shared_steps(&after, &before);
        assert_eq!(left_out, 2);
        let keys: Vec<String> = shared.steps.iter().map(|s| s.key.to_string()).collect();
        assert_eq!(keys, ["core/2008010100-a"]);
        assert!(plan::order(&shared).is_ok());

        // A step of both trees that requires a new one keeps its place, without the edge.
        let before = tree(&[a, ("lib/db/upgrades/2008010300-b.sql", "SELECT 1;\n")]);
        let after = tree(&[
            a,
            (
                "lib/db/upgrades/2008010300-b.sql",
                "-- requires: mod_forum/2008010200-new\nSELECT 1;\n",
            ),
            ("mod/forum/db/upgrades/2008010200-new.sql", "SELECT 2;\n"),
        ]);
        let (shared, left_out) = shared_steps(&after, &before);
        assert_eq!(left_out, 1);
        assert!(shared.steps.iter().all(|s| s.requires.is_empty()));
        let order: Vec<String> = plan::order(&shared)
            .expect("plan")
            .iter()
            .map(|s| s.key.to_string())
            .collect();
        assert_eq!(order, ["core/2008010100-a", "core/2008010300-b"]);
    }
}
