//! `post run`, `pause` and `resume`: batched `post` steps (a `-- batch:`
//! declaration) run in resumable ranges while the site is online; `apply`
//! leaves them here.
//!
//! Decisions owned here:
//! - when a batched step may run: each step it `requires` is applied, and no
//!   other pending step (that is not itself batched) has an earlier name —
//!   a step relies on every table as of its date, not on later ones. A
//!   batched step of an earlier release therefore runs while the main steps
//!   of a newer release wait for it (see [`post_gate`]);
//! - the key range is read once, when a step's first range runs, and kept in
//!   `upgrade_batch_steps`; a run resumes after the committed range with the
//!   largest `lo` (ranges commit in order; a second runner that reaches a
//!   committed range is refused by the primary key and moves on);
//! - a failing range is retried [`PostOptions::retries`] times in the run (the
//!   attempt that committed is stored), then the step is marked `failed` with
//!   the error kept, and the other steps go on; `post resume STEP` clears it;
//! - the step's ledger row is inserted with its last range; when nothing is
//!   left pending that the newest release needs, the release is completed
//!   (and version / revision recorded) exactly as `apply` does, under the
//!   lock, at the end of every run (so a run killed right after the last
//!   range leaves it to the next run, or to `apply`);
//! - `--max-seconds` is checked between ranges: a range is never cut.
//!
//! Progress, the estimate and `done` are in the `progress` submodule;
//! pause, resume and naming a step in `control`; what `plan` shows of
//! batched steps and `apply --to` one of them in `plan`.

mod control;
mod plan;
mod progress;
mod ranges;

use ranges::run_step;

pub use plan::LeftToPostRun;
pub(super) use plan::{left_to_post_run, up_to_batched};
pub use progress::{DoneAnswer, StepProgress};

use std::collections::HashMap;
use std::time::Instant;

use super::*;
use crate::site::ledger::batches::{self, BatchStore, RangeOutcome, RangeRun};

/// Options of `post run`.
#[derive(Debug, Clone)]
pub struct PostOptions {
    /// Stop starting new ranges after this long.
    pub max_seconds: Option<u64>,
    /// Sleep between ranges (lets the online site breathe).
    pub pause_ms: u64,
    /// Tries per range before the step is marked failed.
    pub retries: u32,
}

impl Default for PostOptions {
    fn default() -> Self {
        PostOptions {
            max_seconds: None,
            pause_ms: 0,
            retries: 3,
        }
    }
}

/// Progress of `post run`, for display.
#[derive(Debug, Clone)]
pub enum PostEvent<'a> {
    /// A step's ranges start or resume.
    Started {
        /// The step.
        step: &'a Step,
        /// Ranges committed before.
        done: u64,
        /// Ranges in all.
        total: u64,
    },
    /// A range failed and will be tried again.
    Retry {
        /// The step.
        step: &'a Step,
        /// The range.
        range: (i64, i64),
        /// The failed attempt.
        attempt: u32,
        /// The error.
        error: String,
    },
    /// A step was marked failed (the others go on).
    Failed {
        /// The step.
        step: &'a Step,
        /// The error kept.
        error: String,
    },
    /// A step's last range committed: it is applied.
    Done {
        /// The step.
        step: &'a Step,
        /// Rows it changed in all ranges.
        rows: i64,
    },
    /// A step was not run.
    Skipped {
        /// The step.
        step: &'a Step,
        /// Why (paused, failed, waiting for …).
        reason: String,
    },
    /// The release was completed.
    ReleaseCompleted {
        /// The release.
        release: ReleaseName,
        /// Ledger rows pruned.
        pruned: usize,
    },
}

/// What `post run` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostReport {
    /// Ranges committed by this run.
    pub ranges: u64,
    /// Rows they changed.
    pub rows: i64,
    /// Steps completed by this run.
    pub done: Vec<StepKey>,
    /// Steps marked failed (by this run or before), with the error.
    pub failed: Vec<(StepKey, String)>,
    /// Steps not run: paused or waiting, with the reason.
    pub skipped: Vec<(StepKey, String)>,
    /// The time limit stopped the run with ranges left.
    pub time_up: bool,
    /// Batched steps still pending after the run.
    pub left: usize,
    /// The release completed, with the ledger rows pruned.
    pub completed: Option<(ReleaseName, usize)>,
}

/// The pending steps `apply` may run: every pending step but batched post
/// steps, up to (not including) the first one that requires a pending
/// batched post step — that one and everything after it wait for `post run`.
pub fn apply_pending<'t>(status: &Status<'t>) -> Vec<&'t Step> {
    let batched = pending_batched(status);
    status
        .pending
        .iter()
        .copied()
        .take_while(|s| unfinished_requirement(&batched, s).is_none())
        .filter(|s| !s.is_batched())
        .collect()
}

/// The pending batched post steps by key (looked up once per requirement).
fn pending_batched<'t>(status: &Status<'t>) -> HashMap<&'t StepKey, &'t Step> {
    status
        .pending
        .iter()
        .copied()
        .filter(|p| p.is_batched())
        .map(|p| (&p.key, p))
        .collect()
}

/// The pending batched post step that `step` requires, if any.
fn unfinished_requirement<'t>(
    batched: &HashMap<&'t StepKey, &'t Step>,
    step: &Step,
) -> Option<&'t Step> {
    step.requires
        .iter()
        .find_map(|required| batched.get(required).copied())
}

/// Stops `plan` and `apply` before anything runs when a pending step
/// requires a batched post step that has not finished on the site and that
/// `post run` can run now. (While that post step still waits for earlier
/// steps, `apply` runs those and stops before the requiring step: see
/// [`apply_pending`].)
pub fn post_gate(status: &Status<'_>, progress: &[StepProgress]) -> Result<(), RunError> {
    let batched = pending_batched(status);
    for step in status.pending.iter().filter(|s| !s.is_batched()) {
        if let Some(post) = unfinished_requirement(&batched, step)
            && waits_for(status, post).is_none()
        {
            let shown = progress
                .iter()
                .find(|p| p.key == post.key)
                .map_or_else(|| "not started".to_string(), StepProgress::summary);
            return Err(RunError::PostNotFinished {
                db: status.db.clone(),
                step: step.key.to_string(),
                location: step.location(),
                requires: post.key.to_string(),
                progress: shown,
            });
        }
    }
    Ok(())
}

/// Why a pending batched step may not run yet, if it may not.
pub fn waits_for(status: &Status<'_>, step: &Step) -> Option<String> {
    // Installs (and the baseline) go before every step.
    if let Some(release) = &status.baseline {
        return Some(format!(
            "waits for the baseline {release}: run `consolidate apply` first"
        ));
    }
    if let Some(install) = status.installs.first() {
        return Some(format!(
            "waits for the install of {} from its snapshot: run `consolidate apply` first",
            install.snapshot.component
        ));
    }
    let pending = |key: &StepKey| status.pending.iter().any(|p| p.key == *key);
    if let Some(required) = step.requires.iter().find(|r| pending(r)) {
        return Some(format!("waits for {required}, which it requires"));
    }
    status
        .pending
        .iter()
        .find(|p| !p.is_batched() && p.key.name < step.key.name)
        .map(|p| {
            format!(
                "waits for {} ({}, an earlier step): run `consolidate apply` first",
                p.key, p.phase
            )
        })
}

impl<'t> Runner<'t> {
    /// Opens the batch ledger after making sure the ledger schema is there
    /// (created or migrated under the upgrade lock, which is then released).
    fn batches_with_status(&self) -> Result<(Box<dyn BatchStore>, Status<'t>), RunError> {
        let status = {
            let mut ledger = self.open_for_writing()?;
            self.locked_status(ledger.as_mut())?
        };
        refuse_unrunnable(&status)?;
        Ok((batches::open_batches(&self.url)?, status))
    }

    /// Runs the ranges of the pending batched post steps (see the module
    /// documentation); `only` limits the run to one step.
    pub fn post_run(
        &self,
        options: &PostOptions,
        only: Option<&str>,
        on_event: &mut dyn FnMut(PostEvent<'_>),
    ) -> Result<PostReport, RunError> {
        let started = Instant::now();
        let (mut store, status) = self.batches_with_status()?;
        let only = only.map(|o| self.batched_step(&status, o)).transpose()?;
        let database = status.database;
        let mut report = PostReport::default();
        let steps: Vec<&'t Step> = status
            .pending
            .iter()
            .copied()
            .filter(|s| s.is_batched())
            .filter(|s| only.is_none_or(|o| o.key == s.key))
            .collect();
        for step in &steps {
            if let Some(reason) = waits_for(&status, step) {
                report.skipped.push((step.key.clone(), reason.clone()));
                on_event(PostEvent::Skipped { step, reason });
                continue;
            }
            if report.time_up {
                break;
            }
            let outcome = run_step(
                store.as_mut(),
                step,
                database,
                options,
                started,
                &mut report,
                on_event,
            )?;
            if outcome {
                report.done.push(step.key.clone());
            }
        }
        // Also when this run finished nothing: a run killed between its last
        // range and the completion leaves the completion to the next one.
        self.complete_release(&mut report, on_event)?;
        report.left = steps.len() - report.done.len();
        Ok(report)
    }

    /// Completes the newest release (and records version and revision) when
    /// the steps just finished leave nothing it needs, as `apply` does.
    fn complete_release(
        &self,
        report: &mut PostReport,
        on_event: &mut dyn FnMut(PostEvent<'_>),
    ) -> Result<(), RunError> {
        let mut ledger = self.open_for_writing()?;
        let status = self.locked_status(ledger.as_mut())?;
        if status.refusal.is_some() || !status.drift.is_empty() || status.interrupted.is_some() {
            return Ok(());
        }
        let (completes, syncs) = after_run(self.tree, &status, &[]);
        let mut change = SiteChange::default();
        if let Some(release) = &completes
            && let Some(index) = self.tree.manifest.release_index(release)
        {
            change.delete = keys_of(&covered_rows(self.tree, &status.stored.rows, index));
            change.release = Some(release.clone());
        }
        if syncs {
            change.sync = Some((
                self.tree.manifest.version.clone(),
                self.tree.manifest.revision,
            ));
        }
        if change.is_empty() {
            return Ok(());
        }
        ledger.commit(&change)?;
        if let Some(release) = change.release {
            report.completed = Some((release.clone(), change.delete.len()));
            on_event(PostEvent::ReleaseCompleted {
                release,
                pruned: change.delete.len(),
            });
        }
        Ok(())
    }
}

/// The step's state row, created (key range read) the first time.
pub(super) fn start_step(
    store: &mut dyn BatchStore,
    step: &Step,
) -> Result<batches::BatchStepRow, RunError> {
    let Some(batch) = &step.batch else {
        return Err(RunError::Post {
            message: format!("{} has no batch declaration", step.key),
            hint: "add `-- batch: TABLE.COLUMN SIZE`".into(),
        });
    };
    let key = step.key.to_string();
    store
        .start(
            &key,
            step.checksum.text().as_str(),
            &batch.bounds_sql(),
            batch.size,
        )
        .map_err(|e| match e {
            StepRunError::Sql { message, .. } => RunError::Post {
                message: format!(
                    "{key} ({}): reading the key range of `{batch}` failed: {message}",
                    step.location()
                ),
                hint: format!(
                    "the batch line must name an existing table and its integer key column ({})",
                    batch.bounds_sql()
                ),
            },
            StepRunError::Ledger(l) => RunError::Ledger(l),
        })
}
