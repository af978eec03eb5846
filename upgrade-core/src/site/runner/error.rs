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
    /// Pending released entries are not what was released.
    #[error("{db}: {} released step(s) are not what was released; nothing was run:{}", .entries.len(), .entries.iter().map(|e| format!("\n  {e}")).collect::<String>())]
    Unreviewed {
        /// The database.
        db: String,
        /// The entries.
        entries: Vec<Unreviewed>,
    },
    /// A server session still runs the interrupted step (its client is gone).
    #[error(
        "{db}: step {step} is still running on the server ({session}): its earlier `apply` was stopped, but the database session was not"
    )]
    StillRunning {
        /// The database.
        db: String,
        /// The step, `component/name`.
        step: String,
        /// The session.
        session: Session,
    },
    /// `--mark-done` without an interrupted step.
    #[error("{db}: --mark-done {given}: no step is interrupted on this site")]
    NothingInterrupted {
        /// The database.
        db: String,
        /// The step given.
        given: String,
    },
    /// `--mark-done` names another step than the interrupted one.
    #[error("{db}: --mark-done {given}: the interrupted step is {interrupted}")]
    NotTheInterrupted {
        /// The database.
        db: String,
        /// The step given.
        given: String,
        /// The interrupted step.
        interrupted: String,
    },
    /// A selection would run a step ahead of pending steps it must follow.
    #[error(
        "{selection} would run {step} ahead of {} pending step(s) that must run first (earlier phases or requirements):{}",
        .first.len(),
        .first.iter().take(20).map(|f| format!("\n  {f}")).collect::<String>()
            + &if .first.len() > 20 { format!("\n  ... and {} more", .first.len() - 20) } else { String::new() }
    )]
    AheadOfPending {
        /// The options, e.g. `--phase post`.
        selection: String,
        /// The first selected step.
        step: StepKey,
        /// The pending steps before it that the selection leaves out.
        first: Vec<String>,
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
        /// It ran under whole-site maintenance (`*`), which stays `failed`.
        site_failed: bool,
    },
    /// A component's install snapshot failed; nothing of it is committed.
    #[error(
        "installing {component} from its snapshot ({location}) failed on {database}: {message}"
    )]
    InstallFailed {
        /// The component.
        component: String,
        /// The snapshot file (and line, when the database says).
        location: String,
        /// The engine.
        database: Database,
        /// The database's error (or the enter hook's).
        message: String,
    },
    /// `adopt` on a database that already has a ledger.
    #[error(
        "{db} already has a ledger (completed release {release}): adopt gives a ledger to a database that has none"
    )]
    AlreadyAdopted {
        /// The database.
        db: String,
        /// Its completed release, or `none`.
        release: String,
    },
    /// `adopt` on a SQLite database file that does not exist: there is
    /// nothing built by another upgrade system to adopt (a mistyped `--db`
    /// would otherwise become an empty site that claims a release).
    #[error(
        "{db} does not exist: adopt gives a ledger to a database built by another upgrade system, it creates none"
    )]
    AdoptMissing {
        /// The database.
        db: String,
    },
    /// `adopt --release R` with R unknown to the history or older than the oldest start.
    #[error("adopt --release {release}: {why}")]
    CannotAdopt {
        /// The release given.
        release: String,
        /// Why.
        why: String,
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
    /// Scopes whose upgrade failed stay unavailable (state `failed`); the others were upgraded.
    #[error(
        "{db}: the upgrade of {} maintenance scope(s) failed:{}\n  {}",
        .failures.len(),
        .failures.iter().map(|f| format!("\n  {}: {}", f.scope, f.message)).collect::<String>(),
        scopes_summary(.failures, *.interrupted)
    )]
    ScopesFailed {
        /// The database.
        db: String,
        /// Each failed scope.
        failures: Vec<ScopeFailure>,
        /// A step outside a transaction failed: the run stopped there.
        interrupted: bool,
    },
    /// `maintenance on|off` names no component of the tree.
    #[error("`{given}` is neither `*` (the whole site) nor a component of this tree")]
    UnknownScope {
        /// What was given.
        given: String,
    },
    /// The hook of a manual `maintenance on|off` failed (the row is written).
    #[error("{message}")]
    HookFailed {
        /// `*` or the component.
        scope: String,
        /// The hook's failure.
        message: String,
        /// Was it `on`?
        on: bool,
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
    /// A `post` command cannot do what was asked (see `runner::post`).
    #[error("{message}")]
    Post {
        /// What is wrong, naming the step.
        message: String,
        /// What to do.
        hint: String,
    },
    /// A pending main step requires a batched post step that has not
    /// finished on this site: nothing runs until `post run` finishes it.
    #[error(
        "{db}: step {step} ({location}) requires {requires}, a batched post step that has not finished on this site ({progress}); nothing was run"
    )]
    PostNotFinished {
        /// The database.
        db: String,
        /// The main step, `component/name`.
        step: String,
        /// Where it is defined.
        location: String,
        /// The post step it requires, `component/name`.
        requires: String,
        /// The post step's progress.
        progress: String,
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

fn scopes_summary(failures: &[ScopeFailure], interrupted: bool) -> String {
    let down: Vec<&str> = failures
        .iter()
        .filter(|f| !f.online)
        .map(|f| f.scope.as_str())
        .collect();
    let mut out = if down.is_empty() {
        "every scope is online".to_string()
    } else {
        format!(
            "unavailable (state `failed` in upgrade_maintenance): {}",
            down.join(", ")
        )
    };
    if interrupted {
        out.push_str("; the run stopped at the step that runs outside a transaction");
    } else if !down.contains(&SITE_SCOPE) {
        out.push_str("; the rest of the site was upgraded and is online");
    }
    out
}

impl RunError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            RunError::Ledger(e) => e.hint().into(),
            RunError::Plan(e) => e.hint().into(),
            RunError::Refused { refusal, .. } => refusal.hint(),
            RunError::Interrupted { step, .. } => format!(
                "check the site's schema against {step}, then either undo its partial changes and run `consolidate apply --retry-interrupted` to run it again, or, if all of its changes are in place (the server finished it, or you completed it by hand), record it without running it: `consolidate apply --mark-done {step} --reason \"...\"`"
            ),
            RunError::Unreviewed { .. } => "restore each released entry from version control (released history is never edited; `consolidate check` lists every problem) and put a change in a new step (`consolidate new`); an entry tagged with a release missing from the history is left by an interrupted `consolidate release`: re-run it".into(),
            RunError::StillRunning { session, .. } => format!(
                "wait for pid {} to finish (`consolidate status` shows it), or stop it with `SELECT pg_cancel_backend({})`; then check the site and choose --retry-interrupted or --mark-done",
                session.pid, session.pid
            ),
            RunError::NothingInterrupted { .. } => "drop --mark-done: `consolidate status` shows the site's state".into(),
            RunError::NotTheInterrupted { interrupted, .. } => format!(
                "check and name the interrupted step: --mark-done {interrupted}"
            ),
            RunError::AheadOfPending { .. } => "run the steps listed first (`consolidate apply` without the option, or an earlier --phase), or add --with-requirements to run them in this run, in plan order".into(),
            RunError::Drift { .. } => "a step was changed after this site applied it: restore the step as it was, or, if the site's schema matches the new version, re-run with --accept-drift to record the tree's checksum".into(),
            RunError::AlreadyAdopted { .. } => "nothing to do: `consolidate status` shows the site; to start over, restore the database from before adopt".into(),
            RunError::AdoptMissing { .. } => "check --db: name the existing database file; a new site needs no adopt (`consolidate apply` installs it)".into(),
            RunError::CannotAdopt { .. } => "name the release the database was built at, one of the release history in upgrade.toml (and not older than upgrade_from or the baseline): `consolidate list` shows the history".into(),
            RunError::InstallFailed { component, .. } => format!(
                "nothing of the install is committed, and the scope stays `failed` until an apply succeeds: fix {component}'s install snapshot (run `consolidate verify --apply` to compare it with its steps) or the data it trips over, then re-run `consolidate apply`"
            ),
            RunError::StepFailed {
                committed,
                transaction,
                site_failed,
                ..
            } => {
                let mut kept = format!(
                    "the {committed} step(s) before it in this run are committed"
                );
                if *site_failed {
                    kept.push_str(
                        "; the whole site (`*`) stays in maintenance with state `failed` until an apply succeeds (`consolidate maintenance` shows it)",
                    );
                }
                if *transaction {
                    format!(
                        "{kept}, nothing of this one: fix the step (or the data it trips over) and re-run `consolidate apply` to continue"
                    )
                } else {
                    format!(
                        "{kept}; this step runs outside a transaction (transaction: no), so the statements before the failing one are kept: fix the cause, undo them (or make the step re-runnable), then run `consolidate apply --retry-interrupted`"
                    )
                }
            }
            RunError::ScopesFailed { interrupted: true, .. } => "the failed step runs outside a transaction (transaction: no): fix the cause, undo its partial changes (or make it re-runnable), then run `consolidate apply --retry-interrupted`: it resumes the failed scope(s) and runs what is left".into(),
            RunError::ScopesFailed { .. } => "fix the cause (the step, the data it trips over, or the hook), then run `consolidate apply` again: it retries the failed scope(s) from their first pending step and brings each online when its steps are done; `consolidate maintenance` shows the state".into(),
            RunError::UnknownScope { .. } => "name a component as `consolidate list` shows it (e.g. mod_forum), or omit it for the whole site".into(),
            RunError::HookFailed { scope, on: true, .. } => format!("`{scope}` is in maintenance all the same; fix the hook and run it by hand, or `consolidate maintenance off {scope}`"),
            RunError::HookFailed { scope, .. } => format!("`{scope}` is online all the same; fix the hook and run it by hand"),
            RunError::UnknownStep { .. } => {
                "name a step as component/YYYYMMDDNN-slug; `consolidate plan` lists the pending ones".into()
            }
            RunError::AmbiguousStep { .. } => "write component/name".into(),
            RunError::PhaseMismatch { .. } => "drop --phase, or name a step of that phase".into(),
            RunError::Post { hint, .. } => hint.clone(),
            RunError::PostNotFinished { .. } => "finish it while the site is online: `consolidate post run` (repeat, e.g. from cron, until `consolidate post status` shows it done), then run this command again".into(),
        }
    }
}
