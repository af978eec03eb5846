//! `RunError`: why a runner command failed, and what to do about it.

use super::*;

/// Why a runner command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The database.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The tree has no plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The site may not be upgraded by this code.
    #[error("{db}: upgrade refused: {refusal}")]
    Refused {
        /// The database.
        db: String,
        /// Why.
        refusal: Refusal,
    },
    /// Ledger rows differ from the tree.
    #[error("{db}: {} ledger row(s) differ from the tree (drift):{}", .drift.len(), drift_lines(.drift))]
    Drift {
        /// The database.
        db: String,
        /// The rows.
        drift: Vec<Drift>,
    },
    /// A step that runs outside a transaction was started and never recorded.
    #[error(
        "{db}: step {step} ({location}) runs outside a transaction and was interrupted midway by an earlier `apply`: its changes may be partial"
    )]
    Interrupted {
        /// The database.
        db: String,
        /// The step, `component/name`.
        step: String,
        /// Its file, when the tree has it.
        location: String,
    },
    /// A step failed; everything before it is committed, nothing of it.
    #[error("step {step} ({location}) failed on {database}: {message}")]
    StepFailed {
        /// The step.
        step: StepKey,
        /// Its file.
        location: String,
        /// The engine.
        database: Database,
        /// The database's error.
        message: String,
        /// Steps committed before it in this run.
        committed: usize,
        /// Did it run in a transaction?
        transaction: bool,
    },
    /// `--to` names no step.
    #[error("--to {given}: the tree has no such step")]
    UnknownStep {
        /// What was given.
        given: String,
    },
    /// `--to` names a step of several components.
    #[error("--to {given} is ambiguous: {}", .candidates.join(", "))]
    AmbiguousStep {
        /// What was given.
        given: String,
        /// The matching steps.
        candidates: Vec<String>,
    },
    /// `--to` names a step of another phase than `--phase`.
    #[error("--to {step} is a {phase} step, but --phase {selected} selects only {selected} steps")]
    PhaseMismatch {
        /// The step.
        step: StepKey,
        /// Its phase.
        phase: Phase,
        /// The selected phase.
        selected: Phase,
    },
}

fn drift_lines(drift: &[Drift]) -> String {
    drift
        .iter()
        .map(|d| {
            format!(
                "\n  {} ({}): ledger {}, tree {}",
                d.key, d.location, d.recorded, d.expected
            )
        })
        .collect()
}

impl RunError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            RunError::Ledger(e) => e.hint().into(),
            RunError::Plan(e) => e.hint().into(),
            RunError::Refused { refusal, .. } => refusal.hint(),
            RunError::Interrupted { step, .. } => format!(
                "check the site's schema against {step}: undo its partial changes (or complete them by hand), then run `consolidate apply --retry-interrupted` to run it again"
            ),
            RunError::Drift { .. } => "a step was changed after this site applied it: restore the step as it was, or, if the site's schema matches the new version, re-run with --accept-drift to record the tree's checksum".into(),
            RunError::StepFailed {
                committed,
                transaction,
                ..
            } => {
                let kept = format!(
                    "the {committed} step(s) before it in this run are committed"
                );
                if *transaction {
                    format!(
                        "{kept}, nothing of this one: fix the step (or the data it trips over) and re-run `consolidate apply` to continue"
                    )
                } else {
                    format!(
                        "{kept}; this step runs outside a transaction (transaction: no), so the statements before the failing one are kept: undo them or make the step re-runnable, then run `consolidate apply --retry-interrupted`"
                    )
                }
            }
            RunError::UnknownStep { .. } => {
                "name a step as component/YYYYMMDDNN-slug; `consolidate plan` lists the pending ones".into()
            }
            RunError::AmbiguousStep { .. } => "write component/name".into(),
            RunError::PhaseMismatch { .. } => "drop --phase, or name a step of that phase".into(),
        }
    }
}
