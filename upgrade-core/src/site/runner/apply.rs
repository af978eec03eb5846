//! Selecting the pending steps to run and running them: one transaction per
//! step with its ledger row, each under its maintenance scope (`maintained`,
//! `staged`), then the completion of the newest release and the removal of
//! maintenance rows left with nothing pending; and the test hooks that stop a
//! run midway.
//!
//! A selection (`--phase`, `--to`) never runs a step ahead of a pending step
//! it must follow: the steps to run must be the first pending ones in plan
//! order (plan order puts earlier phases and requirements first). Otherwise
//! the selection is refused with the list of what is pending first, unless
//! `with_requirements` adds those steps to the run.
//!
//! An interrupted `transaction: no` step stops the run until the operator
//! decides: run it again (`retry_interrupted`) or record it as done after
//! completing it by hand (`mark_done`); both are kept in `upgrade_audit`.
//! Neither is accepted while a server session still runs the step.

use std::io::Write as _;

use super::maintained::{Run, clear_stale};
use super::staged::segments;
use super::*;

/// Test hooks of `apply` (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct StepHook {
    /// Exit with code 86 after this many committed steps.
    pub fault_after: Option<usize>,
    /// Pause after this many committed steps.
    pub pause_after: Option<usize>,
}

impl StepHook {
    /// Reads `CONSOLIDATE_FAULT_AFTER_STEPS` and `CONSOLIDATE_PAUSE_AFTER_STEPS`.
    pub fn from_env() -> Self {
        let read = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        StepHook {
            fault_after: read("CONSOLIDATE_FAULT_AFTER_STEPS"),
            pause_after: read("CONSOLIDATE_PAUSE_AFTER_STEPS"),
        }
    }

    pub(super) fn reached(&self, done: usize) {
        if self.pause_after == Some(done) {
            let _ = writeln!(
                std::io::stderr(),
                "paused after {done} step(s) (CONSOLIDATE_PAUSE_AFTER_STEPS)"
            );
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
        if self.fault_after == Some(done) {
            let _ = writeln!(
                std::io::stderr(),
                "stopped after {done} step(s) (CONSOLIDATE_FAULT_AFTER_STEPS)"
            );
            std::process::exit(86);
        }
    }
}

/// The pending steps a selection picks, in plan order.
pub fn select<'t>(
    tree: &'t Tree,
    status: &Status<'t>,
    selection: &Selection,
) -> Result<Vec<&'t Step>, RunError> {
    let in_phase = |s: &&Step| selection.phase.is_none_or(|p| s.phase == p);
    // Batched post steps are left to `consolidate post run` (runner::post).
    let pending = super::post::apply_pending(status);
    let mut steps: Vec<&'t Step> = pending.iter().copied().filter(in_phase).collect();
    if let Some(to) = &selection.to {
        let target = resolve_step(tree, to)?;
        if let Some(phase) = selection.phase
            && target.phase != phase
        {
            return Err(RunError::PhaseMismatch {
                step: target.key.clone(),
                phase: target.phase,
                selected: phase,
            });
        }
        match steps.iter().position(|s| s.key == target.key) {
            Some(i) => steps.truncate(i + 1),
            // A pending batched post step: what comes before it (runner::post);
            // already applied: nothing to run up to it.
            None => super::post::up_to_batched(status, target, &mut steps),
        }
    }
    // Everything pending before the last selected step must run first.
    // Pending keys are unique: looked for from the end, where the last
    // selected step usually is.
    let Some(last) = steps
        .last()
        .and_then(|l| pending.iter().rposition(|p| p.key == l.key))
    else {
        return Ok(steps);
    };
    let first: Vec<&'t Step> = {
        let selected = tree.among(&steps);
        pending[..=last]
            .iter()
            .copied()
            .filter(|p| !selected(p))
            .collect()
    };
    if first.is_empty() {
        return Ok(steps);
    }
    if selection.with_requirements {
        return Ok(pending[..=last].to_vec());
    }
    Err(RunError::AheadOfPending {
        selection: describe_selection(selection),
        step: steps[0].key.clone(),
        first: first
            .iter()
            .map(|s| format!("{} ({}, {})", s.key, s.phase, s.location()))
            .collect(),
    })
}

fn describe_selection(selection: &Selection) -> String {
    let mut parts = Vec::new();
    if let Some(phase) = selection.phase {
        parts.push(format!("--phase {phase}"));
    }
    if let Some(to) = &selection.to {
        parts.push(format!("--to {to}"));
    }
    parts.join(" ")
}

fn resolve_step<'t>(tree: &'t Tree, given: &str) -> Result<&'t Step, RunError> {
    let unknown = || RunError::UnknownStep {
        given: given.to_string(),
    };
    if given.contains('/') {
        let key = StepKey::parse(given).map_err(|_| unknown())?;
        return tree.step(&key).ok_or_else(unknown);
    }
    let matches: Vec<&Step> = tree
        .steps
        .iter()
        .filter(|s| s.key.name.as_str() == given)
        .collect();
    match matches.as_slice() {
        [] => Err(unknown()),
        [one] => Ok(one),
        many => Err(RunError::AmbiguousStep {
            given: given.to_string(),
            candidates: many.iter().map(|s| s.key.to_string()).collect(),
        }),
    }
}

/// After running `steps`: the release that completes, and whether version and
/// revision are recorded.
pub(super) fn after_run(
    tree: &Tree,
    status: &Status<'_>,
    steps: &[&Step],
) -> (Option<ReleaseName>, bool) {
    // Steps of one tree: the same step is the same address.
    let was_run = tree.among(steps);
    let left: Vec<&Step> = status
        .pending
        .iter()
        .copied()
        .filter(|p| !was_run(p))
        .collect();
    let completes = status.release_to_complete.clone().filter(|newest| {
        let Some(newest_index) = tree.manifest.release_index(newest) else {
            return false;
        };
        !left.iter().any(|s| {
            s.release()
                .and_then(|r| tree.manifest.release_index(r))
                .is_some_and(|i| i <= newest_index)
        })
    });
    let syncs = left.is_empty() && (status.resync || status.version_behind);
    (completes, syncs)
}

/// `apply` on an open, locked ledger.
pub fn apply_on<'t>(
    tree: &'t Tree,
    order: &[&'t Step],
    ledger: &mut dyn Ledger,
    options: &ApplyOptions,
    on_event: &mut dyn FnMut(ApplyEvent<'_>),
) -> Result<ApplyReport, RunError> {
    let database = ledger.database();
    let db = ledger.describe();
    let mut report = ApplyReport::default();
    let mut status = status_of(tree, Some(order), database, &db, ledger.read()?)?;
    refuse_unrunnable(&status)?;
    if let Some(release) = status.baseline.clone() {
        // A fresh site starts from the project baseline, before anything else.
        super::installs::run_baseline(tree, ledger, &release, on_event)?;
        status = status_of(tree, Some(order), database, &db, ledger.read()?)?;
    }
    if let Some(resolved) = resolve_interrupted(tree, ledger, &status, options)? {
        // A step marked done is no longer pending: decide on what is stored now.
        status = status_of(tree, Some(order), database, &db, ledger.read()?)?;
        report.marked_done = resolved.marked_done;
    }
    if !status.drift.is_empty() {
        if !options.accept_drift {
            return Err(RunError::Drift {
                db,
                drift: status.drift,
            });
        }
        ledger.commit(&SiteChange {
            checksums: status
                .drift
                .iter()
                .map(|d| (d.key.clone(), d.expected.clone()))
                .collect(),
            ..SiteChange::default()
        })?;
        report.drift_accepted = status.drift.len();
        on_event(ApplyEvent::DriftAccepted {
            count: report.drift_accepted,
        });
    }
    // A pending step requiring an unfinished batched post step stops the run (runner::post).
    super::post::post_gate(&status, &[])?;
    let steps = select(tree, &status, &options.selection)?;
    let total = steps.len();
    on_event(ApplyEvent::Start { total });
    options.hook.reached(0);
    if !status.installs.is_empty() {
        // Components installed from their snapshots go before any step.
        let mut run = Run::new(tree, ledger, options, total)?;
        report.installed = run.installs(&status.installs, on_event)?;
    }
    let failures = {
        let mut run = Run::new(tree, ledger, options, total)?;
        // Rows left by earlier runs for scopes with nothing left to do go first.
        clear_stale(&mut run, &status.pending, on_event)?;
        run.segments(segments(tree, &steps), on_event)?;
        report.applied += run.applied;
        report.noops += run.noops;
        run.failures
    };
    // Completion and sync are decided on what is stored now.
    let status = status_of(tree, Some(order), database, &db, ledger.read()?)?;
    let (completes, syncs) = after_run(tree, &status, &[]);
    let mut change = SiteChange::default();
    if let Some(release) = &completes
        && let Some(index) = tree.manifest.release_index(release)
    {
        change.delete = keys_of(&covered_rows(tree, &status.stored.rows, index));
        change.release = Some(release.clone());
    }
    if syncs {
        change.sync = Some((tree.manifest.version.clone(), tree.manifest.revision));
    }
    change.installed = super::installs::recorded_by_steps(&status.unrecorded);
    if !change.is_empty() {
        ledger.commit(&change)?;
    }
    if let Some(release) = &change.release {
        report.completed = Some((release.clone(), change.delete.len()));
        on_event(ApplyEvent::ReleaseCompleted {
            release,
            pruned: change.delete.len(),
        });
    }
    if let Some((version, revision)) = &change.sync {
        report.synced = Some((version.clone(), *revision));
        on_event(ApplyEvent::Synced {
            version,
            revision: *revision,
        });
    }
    // Batched post steps are left to `consolidate post run` (runner::post).
    report.batched_left = status.pending.iter().filter(|s| s.is_batched()).count();
    report.remaining = status.pending.len() - report.batched_left;
    let mut run = Run::new(tree, ledger, options, total)?;
    run.failures = failures;
    clear_stale(&mut run, &status.pending, on_event)?;
    if !run.failures.is_empty() {
        return Err(run.scopes_failed(false));
    }
    Ok(report)
}

/// The operator's way out of an interrupted step: refuses while a server
/// session still runs it; records `retry_interrupted` or `mark_done` (with
/// the audit row) in one transaction; else stops with what to do. Returns
/// what changed, if anything.
fn resolve_interrupted(
    tree: &Tree,
    ledger: &mut dyn Ledger,
    status: &Status<'_>,
    options: &ApplyOptions,
) -> Result<Option<Resolved>, RunError> {
    let db = status.db.clone();
    let Some(step) = &status.interrupted else {
        if let Some(mark) = &options.mark_done {
            return Err(RunError::NothingInterrupted {
                db,
                given: mark.step.clone(),
            });
        }
        return Ok(None);
    };
    let found = StepKey::parse(step).ok().and_then(|k| tree.step(&k));
    let location = found.map_or_else(|| "in no file".to_string(), |s| s.location());
    if let Some(session) = &status.step_running {
        return Err(RunError::StillRunning {
            db,
            step: step.clone(),
            session: session.clone(),
        });
    }
    if let Some(mark) = &options.mark_done {
        let given = resolve_step(tree, &mark.step)?;
        let Some(found) = found.filter(|f| f.key == given.key) else {
            return Err(RunError::NotTheInterrupted {
                db,
                given: given.key.to_string(),
                interrupted: step.clone(),
            });
        };
        ledger.commit(&SiteChange {
            clear_interrupted: true,
            mark_done: Some((found.key.clone(), found.checksum.clone())),
            audit: Some(Audit {
                action: "marked-done".into(),
                key: found.key.clone(),
                checksum: found.checksum.clone(),
                actor: mark.actor.clone(),
                reason: mark.reason.clone(),
            }),
            ..SiteChange::default()
        })?;
        return Ok(Some(Resolved {
            marked_done: Some(found.key.to_string()),
        }));
    }
    if !options.retry_interrupted {
        return Err(RunError::Interrupted {
            db,
            step: step.clone(),
            location,
        });
    }
    let (actor, reason) = options.decided_by.clone().unwrap_or_default();
    ledger.commit(&SiteChange {
        clear_interrupted: true,
        audit: found.map(|f| Audit {
            action: "retried".into(),
            key: f.key.clone(),
            checksum: f.checksum.clone(),
            actor,
            reason,
        }),
        ..SiteChange::default()
    })?;
    Ok(Some(Resolved { marked_done: None }))
}

/// What the operator's decision changed.
struct Resolved {
    /// The step recorded as done, if that was the decision.
    marked_done: Option<String>,
}
