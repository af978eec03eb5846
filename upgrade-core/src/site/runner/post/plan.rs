//! Batched post steps in `plan` and `apply --to`.
//!
//! Decisions owned here:
//! - `plan` lists the pending batched post steps **after** what `apply`
//!   runs, as left to `consolidate post run`, with their progress; the main
//!   list stays exactly what `apply` runs. `--phase pre|main` lists none;
//!   `--to STEP` lists the batched steps up to STEP in plan order;
//! - `apply --to` naming a pending batched step runs the pending steps
//!   before it in plan order (as `--to` does for any step) and not the step
//!   itself: the caller says that it runs in batches and gives the command
//!   ([`Runner::batched_pending`]).

use super::*;

/// A pending batched post step `plan` shows as left to `consolidate post run`.
#[derive(Debug, Clone)]
pub struct LeftToPostRun<'t> {
    /// The step.
    pub step: &'t Step,
    /// Its progress on the site (`pending` when not started; `unknown` with
    /// the error as detail when the batch ledger could not be read).
    pub progress: StepProgress,
}

/// `apply --to TARGET` where TARGET is not among the steps `apply` may run:
/// when it is a pending batched post step, keeps the steps that come before
/// it in plan order (they must run before it); otherwise (already applied)
/// nothing runs up to it.
pub(in crate::site::runner) fn up_to_batched<'t>(
    status: &Status<'t>,
    target: &Step,
    steps: &mut Vec<&'t Step>,
) {
    let at = target
        .is_batched()
        .then(|| status.pending.iter().position(|p| p.key == target.key))
        .flatten();
    match at {
        Some(at) => {
            let before: std::collections::HashSet<&StepKey> =
                status.pending[..at].iter().map(|p| &p.key).collect();
            steps.retain(|s| before.contains(&s.key));
        }
        None => steps.clear(),
    }
}

/// The pending batched post steps of the selection, in plan order, with
/// their progress (`progress` as read from the batch ledger).
pub(in crate::site::runner) fn left_to_post_run<'t>(
    runner: &Runner<'t>,
    status: &Status<'t>,
    selection: &Selection,
    progress: Result<Vec<StepProgress>, RunError>,
) -> Result<Vec<LeftToPostRun<'t>>, RunError> {
    if selection.phase.is_some_and(|p| p != Phase::Post) {
        return Ok(Vec::new());
    }
    let end = match &selection.to {
        Some(to) => {
            let target = runner.resolve(to)?;
            match status.pending.iter().position(|p| p.key == target.key) {
                Some(i) => i + 1,
                None => 0,
            }
        }
        None => status.pending.len(),
    };
    let unknown = progress.as_ref().err().map(ToString::to_string);
    let progress: std::collections::HashMap<StepKey, StepProgress> = progress
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.key.clone(), p))
        .collect();
    Ok(status.pending[..end]
        .iter()
        .copied()
        .filter(|s| s.is_batched())
        .map(|step| {
            let found = progress.get(&step.key).cloned();
            let progress = found.unwrap_or_else(|| StepProgress {
                key: step.key.clone(),
                state: if unknown.is_some() {
                    "unknown".into()
                } else {
                    "pending".into()
                },
                detail: unknown
                    .as_ref()
                    .map(|e| format!("progress unavailable: {e}")),
                ranges_done: 0,
                ranges_total: None,
                rows: 0,
                ranges_per_second: None,
                rows_per_second: None,
                eta_seconds: None,
            });
            LeftToPostRun { step, progress }
        })
        .collect())
}

impl<'t> Runner<'t> {
    /// The step `given` names when it is a batched post step still pending
    /// on the site (`apply --to` it runs what comes before it only); reads only.
    pub fn batched_pending(&self, given: &str) -> Result<Option<&'t Step>, RunError> {
        let step = self.resolve(given)?;
        if !step.is_batched() {
            return Ok(None);
        }
        let status = self.status()?;
        Ok(status
            .pending
            .iter()
            .any(|p| p.key == step.key)
            .then_some(step))
    }
}
