//! *C1 against history* and *C1 on SQLite*: each consolidation commit of
//! HEAD's first-parent history compared with its parent, by plan (see
//! [`super::c1`]) and by upgrading scratch SQLite sites (see [`super::on_sqlite`]).

use std::collections::HashMap;

use crate::planning::plan;
use crate::trees::tree::Tree;

use super::{CheckOutcome, ConsolidationCommit, Failure, c1, install_path, on_sqlite};

pub(super) fn c1_history(
    consolidations: &[ConsolidationCommit],
    trees: &HashMap<String, Tree>,
) -> CheckOutcome {
    let mut states = 0;
    let mut steps = 0;
    let mut failures = Vec::new();
    let mut differences = 0;
    for c in consolidations {
        let (Some(before), Some(after)) =
            (trees.get(&c.parent.commit), trees.get(&c.commit.commit))
        else {
            continue;
        };
        let plan_before = match plan::order(before) {
            Ok(p) => p,
            Err(e) => {
                failures.push(Failure {
                    message: format!("the tree at {} has no plan: {e}", c.parent),
                    hint: e.hint().into(),
                });
                continue;
            }
        };
        let plan_after = match plan::order(after) {
            Ok(p) => p,
            Err(e) => {
                failures.push(Failure {
                    message: format!("the tree at {} has no plan: {e}", c.commit),
                    hint: e.hint().into(),
                });
                continue;
            }
        };
        let outcome = c1::compare(before, &plan_before, after, &plan_after);
        states += outcome.states;
        steps += outcome.steps;
        differences += outcome.differences.len();
        let releases: Vec<&str> = c.added.iter().map(|r| r.as_str()).collect();
        for d in &outcome.differences {
            let what = match &d.difference {
                c1::Difference::Lost => format!(
                    "{} is pending at {} but gone at {}",
                    d.step, c.parent, c.commit
                ),
                c1::Difference::Skipped => format!(
                    "{} is pending at {} but counted as applied by release at {}",
                    d.step, c.parent, c.commit
                ),
                c1::Difference::RunsAgain => format!(
                    "{} is applied at {} (its ledger row pruned by the release) but would run again at {}",
                    d.step, c.parent, c.commit
                ),
                c1::Difference::Order { before, after } => format!(
                    "the plans differ in order: {} runs {before} where {} runs {after}",
                    c.parent, c.commit
                ),
            };
            failures.push(Failure {
                message: format!(
                    "consolidation {} ({}) changes what a site would run: {what}, for {}",
                    c.commit,
                    releases.join(", "),
                    d.state
                ),
                hint: "consolidation must be invisible (C1): redo it with `consolidate release` from the parent commit instead of editing by hand".into(),
            });
        }
        if c.by_tool && !outcome.arrived.is_empty() {
            let arrived: Vec<String> = outcome.arrived.iter().map(ToString::to_string).collect();
            differences += outcome.arrived.len();
            failures.push(Failure {
                message: format!(
                    "consolidation {} ({}) adds step(s) that were not in its parent: {}",
                    c.commit,
                    releases.join(", "),
                    arrived.join(", ")
                ),
                hint:
                    "a consolidation commit only folds steps: add new steps in commits of their own"
                        .into(),
            });
        }
    }
    let mut out = CheckOutcome::new(
        "C1 against history",
        &[
            ("consolidations", consolidations.len()),
            ("states", states),
            ("steps", steps),
            ("differences", differences),
        ],
        format!(
            "{} consolidation commit(s), {states} site state(s), {steps} step(s), {differences} difference(s)",
            consolidations.len()
        ),
    );
    for f in failures {
        out.fail(f.message, f.hint);
    }
    out
}

/// A scratch folder for SQLite databases: in memory (`/dev/shm`) when the
/// machine has one, so that verifying never waits on the disk; else TMPDIR.
pub(super) fn scratch_folder() -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("consolidate-verify-");
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = builder.tempdir_in(shm)
    {
        return Ok(dir);
    }
    builder.tempdir()
}

/// The failure of a scratch folder (`what`) that cannot be created.
fn unwritable(what: &str, e: &std::io::Error) -> Failure {
    Failure {
        message: format!("cannot create {what}: {e}"),
        hint: "check that the temporary folder (TMPDIR) is writable".into(),
    }
}

/// Install equals upgrade, for the work tree and each consolidation commit
/// (see [`install_path`]).
pub(super) fn install_equals_upgrade(
    head: &Tree,
    consolidations: &[ConsolidationCommit],
    trees: &HashMap<String, Tree>,
) -> CheckOutcome {
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut snapshots = 0;
    match scratch_folder() {
        Err(e) => failures.push(unwritable("a scratch folder for the SQLite databases", &e)),
        Ok(scratch) => {
            let mut subjects: Vec<(String, &Tree)> = vec![("the work tree".into(), head)];
            for c in consolidations {
                if let Some(tree) = trees.get(&c.commit.commit) {
                    subjects.push((format!("consolidation {}", c.commit), tree));
                }
            }
            for (i, (label, tree)) in subjects.iter().enumerate() {
                if tree.installs.is_empty() {
                    continue;
                }
                let folder = scratch.path().join(format!("install-{i}"));
                if let Err(e) = std::fs::create_dir_all(&folder) {
                    failures.push(unwritable(&folder.display().to_string(), &e));
                    continue;
                }
                let outcome = install_path::compare(&folder, label, tree);
                compared += 1;
                snapshots += outcome.snapshots;
                failures.extend(outcome.failures);
            }
        }
    }
    let mut out = CheckOutcome::new(
        "install equals upgrade",
        &[
            ("trees", compared),
            ("snapshots", snapshots),
            ("differences", failures.len()),
        ],
        format!(
            "{compared} tree(s) with {snapshots} install snapshot(s), {} difference(s)",
            failures.len()
        ),
    );
    for f in failures {
        out.fail(f.message, f.hint);
    }
    out
}

pub(super) fn c1_on_sqlite(
    consolidations: &[ConsolidationCommit],
    trees: &HashMap<String, Tree>,
) -> CheckOutcome {
    let mut states = 0;
    let mut steps_run = 0;
    let mut left_out = 0;
    let mut differences = 0;
    let mut both_fail = 0;
    let mut failures = Vec::new();
    match scratch_folder() {
        Err(e) => failures.push(unwritable("a scratch folder for the SQLite databases", &e)),
        Ok(scratch) => {
            for (i, c) in consolidations.iter().enumerate() {
                let (Some(before), Some(after)) =
                    (trees.get(&c.parent.commit), trees.get(&c.commit.commit))
                else {
                    continue;
                };
                let Ok(plan_before) = plan::order(before) else {
                    continue; // reported by the C1 check
                };
                let folder = scratch.path().join(i.to_string());
                if let Err(e) = std::fs::create_dir_all(&folder) {
                    failures.push(unwritable(&folder.display().to_string(), &e));
                    continue;
                }
                let outcome = on_sqlite::compare(
                    &folder,
                    (&c.parent.label, before, &plan_before),
                    (&c.commit.label, after),
                );
                states += outcome.states;
                steps_run += outcome.steps_run;
                left_out += outcome.left_out;
                differences += outcome.problems.len();
                both_fail += outcome.both_fail.len();
                for problem in outcome.problems {
                    failures.push(Failure {
                        message: format!("consolidation {}: {problem}", c.commit),
                        hint: "upgrading with the consolidated tree must give the same schema: compare the steps named, and redo the consolidation with `consolidate release` (a rebase with `consolidate rebase --onto`)".into(),
                    });
                }
                for problem in outcome.both_fail {
                    failures.push(Failure {
                        message: format!("consolidation {}: {problem}", c.commit),
                        hint: "not a consolidation difference: the step fails with the tree before the consolidation already (and the same way after it); fix the step, or declare the schema the steps start from as the project baseline ([baseline] in upgrade.toml)".into(),
                    });
                }
            }
        }
    }
    let mut out = CheckOutcome::new(
        "C1 on SQLite",
        &[
            ("consolidations", consolidations.len()),
            ("states", states),
            ("steps_run", steps_run),
            ("new_steps_left_out", left_out),
            ("differences", differences),
            ("failing_before_too", both_fail),
        ],
        format!(
            "{} consolidation commit(s), {states} sampled state(s), {steps_run} step(s) run, {left_out} new step(s) left out, {differences} difference(s), {both_fail} step(s) failing before the consolidation too",
            consolidations.len(),
        ),
    );
    for f in failures {
        out.fail(f.message, f.hint);
    }
    out
}
