//! Running the selected steps segment by segment, each under its maintenance
//! scope (see `staged`), with the rows of `upgrade_maintenance` and the
//! events committed before the steps' own transactions, so that a step sees
//! its scope in its own SQL.
//!
//! Failures:
//! - a step (or the enter hook) of the whole-site scope `*`: the run stops,
//!   `*` stays with state `failed`; the next `apply` resumes there;
//! - a step (or the enter hook) of a component's own scope: that component
//!   stays with state `failed` (the reason names the step and the error),
//!   components that require one of its steps are not run (state `failed`,
//!   reason saying why), the others go on, `post` steps are left for the
//!   next run, and `apply` ends with [`RunError::ScopesFailed`];
//! - a failed step that runs outside a transaction stops the run at once
//!   (its interrupted mark must be resolved first);
//! - a leave hook: the scope is online (its row is removed first), the
//!   failure is logged as a `failed` event and reported.
//!
//! A scope an operator put in maintenance by hand is used as it is: no enter
//! or leave for it, and its row stays.

use std::collections::BTreeSet;
use std::path::Path;

use super::hooks::run_hook;
use super::staged::{Scope, Segment, site_components};
use super::*;
use crate::site::ledger::maintenance::{ScopeChange, ScopeEvent, ScopeState};

/// A scope whose upgrade failed in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeFailure {
    /// `*` or a component.
    pub scope: String,
    /// What failed (the step and the error, or the hook).
    pub message: String,
    /// Is the scope online all the same (a failed leave hook)?
    pub online: bool,
}

/// One `apply` run over its segments.
pub(super) struct Run<'a, 't> {
    pub tree: &'t Tree,
    pub ledger: &'a mut dyn Ledger,
    pub options: &'a ApplyOptions,
    /// Steps whose SQL ran.
    pub applied: usize,
    /// Steps only recorded (no body for this database).
    pub noops: usize,
    pub total: usize,
    pub index: usize,
    pub failures: Vec<ScopeFailure>,
    not_run: BTreeSet<StepKey>,
    manual: BTreeSet<String>,
}

impl<'a, 't> Run<'a, 't> {
    pub fn new(
        tree: &'t Tree,
        ledger: &'a mut dyn Ledger,
        options: &'a ApplyOptions,
        total: usize,
    ) -> Result<Self, RunError> {
        let manual = ledger
            .maintenance()
            .scopes()?
            .into_iter()
            .filter(|r| r.manual)
            .map(|r| r.scope)
            .collect();
        Ok(Run {
            tree,
            ledger,
            options,
            applied: 0,
            noops: 0,
            total,
            index: 0,
            failures: Vec::new(),
            not_run: BTreeSet::new(),
            manual,
        })
    }

    /// The hook to run and its folder: none without a `hook_dir` (scratch sites).
    fn hook(&self, enter: bool) -> Option<(String, &Path)> {
        let hooks = &self.tree.manifest.maintenance;
        let command = if enter { &hooks.enter } else { &hooks.leave };
        Some((command.clone()?, self.options.hook_dir.as_deref()?))
    }

    /// Runs every segment; `Err` when the run stopped.
    pub fn segments(
        &mut self,
        segments: Vec<Segment<'t>>,
        on_event: &mut dyn FnMut(ApplyEvent<'_>),
    ) -> Result<(), RunError> {
        for segment in segments {
            match segment.scope.clone() {
                Scope::Online => {
                    if !self.failures.is_empty() {
                        // Left for the next run, after the failed scopes.
                        self.not_run
                            .extend(segment.steps.iter().map(|s| s.key.clone()));
                        continue;
                    }
                    for step in &segment.steps {
                        self.step(step, None, on_event)?;
                    }
                }
                Scope::Site => self.site(&segment, on_event)?,
                Scope::Component(c) => self.component(&c, &segment, on_event)?,
            }
        }
        Ok(())
    }

    fn site(
        &mut self,
        segment: &Segment<'t>,
        on_event: &mut dyn FnMut(ApplyEvent<'_>),
    ) -> Result<(), RunError> {
        let scope = SITE_SCOPE.to_string();
        if let Err(message) = self.enter(&scope, &segment.steps, on_event)? {
            self.failures.push(ScopeFailure {
                scope,
                message,
                online: false,
            });
            return Err(self.scopes_failed(false));
        }
        for step in &segment.steps {
            if let Err(e) = self.step(step, Some(&scope), on_event) {
                if let RunError::StepFailed { .. } = &e {
                    self.fail(&scope, &failure_text(&e), on_event)?;
                }
                return Err(e);
            }
        }
        self.leave(&scope, on_event)
    }

    fn component(
        &mut self,
        component: &ComponentName,
        segment: &Segment<'t>,
        on_event: &mut dyn FnMut(ApplyEvent<'_>),
    ) -> Result<(), RunError> {
        let scope = component.to_string();
        let blocked = segment.steps.iter().find_map(|s| {
            s.requires
                .iter()
                .find(|r| self.not_run.contains(r))
                .map(|r| (s, r))
        });
        if let Some((step, required)) = blocked {
            let message = format!(
                "not run: {} requires {required}, which did not run",
                step.key
            );
            self.fail(&scope, &message, on_event)?;
            self.give_up(&scope, message, segment);
            return Ok(());
        }
        if let Err(message) = self.enter(&scope, &segment.steps, on_event)? {
            self.give_up(&scope, message, segment);
            return Ok(());
        }
        for (i, step) in segment.steps.iter().enumerate() {
            match self.step(step, None, on_event) {
                Ok(()) => {}
                Err(e @ RunError::StepFailed { transaction, .. }) => {
                    let message = failure_text(&e);
                    self.fail(&scope, &message, on_event)?;
                    self.give_up(
                        &scope,
                        message,
                        &Segment {
                            scope: segment.scope.clone(),
                            steps: segment.steps[i..].to_vec(),
                        },
                    );
                    if !transaction {
                        // Its interrupted mark must be resolved before anything else runs.
                        return Err(self.scopes_failed(true));
                    }
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        self.leave(&scope, on_event)
    }

    /// Records a scope as failed and its steps as not run.
    fn give_up(&mut self, scope: &str, message: String, segment: &Segment<'t>) {
        self.not_run
            .extend(segment.steps.iter().map(|s| s.key.clone()));
        self.failures.push(ScopeFailure {
            scope: scope.to_string(),
            message,
            online: false,
        });
    }

    /// The error that ends a run with failed scopes.
    pub fn scopes_failed(&self, interrupted: bool) -> RunError {
        RunError::ScopesFailed {
            db: self.ledger.describe(),
            failures: self.failures.clone(),
            interrupted,
        }
    }

    /// Puts a scope in maintenance (row committed, event, enter hook).
    /// The inner `Err` is a failed enter hook (the scope is then `failed`).
    fn enter(
        &mut self,
        scope: &str,
        steps: &[&Step],
        on_event: &mut dyn FnMut(ApplyEvent<'_>),
    ) -> Result<Result<(), String>, RunError> {
        let detail = format!(
            "{} main step(s): {}",
            steps.len(),
            steps
                .iter()
                .map(|s| s.key.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.enter_with(scope, &detail, on_event)
    }

    /// [`Run::enter`] with the detail of the event given.
    pub fn enter_with(
        &mut self,
        scope: &str,
        detail: &str,
        on_event: &mut dyn FnMut(ApplyEvent<'_>),
    ) -> Result<Result<(), String>, RunError> {
        if self.manual.contains(scope) {
            on_event(ApplyEvent::Scope {
                scope,
                event: ScopeEvent::ManualOn,
                detail: "kept: set by hand",
            });
            return Ok(Ok(()));
        }
        let detail = detail.to_string();
        self.ledger.maintenance().change_scope(&ScopeChange {
            scope: scope.to_string(),
            state: Some(ScopeState::Maintenance),
            reason: format!("consolidate apply: {detail}"),
            event: ScopeEvent::Enter,
            detail: detail.clone(),
        })?;
        on_event(ApplyEvent::Scope {
            scope,
            event: ScopeEvent::Enter,
            detail: &detail,
        });
        if let Some((command, dir)) = self.hook(true)
            && let Err(message) = run_hook(Some(dir), &command, scope, "enter")
        {
            let message = format!("{message}; none of its steps ran");
            self.fail(scope, &message, on_event)?;
            return Ok(Err(message));
        }
        Ok(Ok(()))
    }

    /// Brings a scope back online (row removed with its event), then runs the leave hook.
    pub fn leave(
        &mut self,
        scope: &str,
        on_event: &mut dyn FnMut(ApplyEvent<'_>),
    ) -> Result<(), RunError> {
        if self.manual.contains(scope) {
            on_event(ApplyEvent::Scope {
                scope,
                event: ScopeEvent::ManualOn,
                detail: "stays in maintenance: set by hand (`consolidate maintenance off` ends it)",
            });
            return Ok(());
        }
        self.ledger.maintenance().change_scope(&ScopeChange {
            scope: scope.to_string(),
            state: None,
            reason: String::new(),
            event: ScopeEvent::Leave,
            detail: "its main steps are done".into(),
        })?;
        on_event(ApplyEvent::Scope {
            scope,
            event: ScopeEvent::Leave,
            detail: "online",
        });
        if let Some((command, dir)) = self.hook(false)
            && let Err(message) = run_hook(Some(dir), &command, scope, "leave")
        {
            let message = format!("{message}; the scope is online all the same");
            self.ledger.maintenance().change_scope(&ScopeChange {
                scope: scope.to_string(),
                state: None,
                reason: String::new(),
                event: ScopeEvent::Failed,
                detail: message.clone(),
            })?;
            on_event(ApplyEvent::Scope {
                scope,
                event: ScopeEvent::Failed,
                detail: &message,
            });
            self.failures.push(ScopeFailure {
                scope: scope.to_string(),
                message,
                online: true,
            });
        }
        Ok(())
    }

    /// Marks a scope `failed`.
    pub fn fail(
        &mut self,
        scope: &str,
        message: &str,
        on_event: &mut dyn FnMut(ApplyEvent<'_>),
    ) -> Result<(), RunError> {
        self.ledger.maintenance().change_scope(&ScopeChange {
            scope: scope.to_string(),
            state: Some(ScopeState::Failed),
            reason: message.to_string(),
            event: ScopeEvent::Failed,
            detail: message.to_string(),
        })?;
        on_event(ApplyEvent::Scope {
            scope,
            event: ScopeEvent::Failed,
            detail: message,
        });
        Ok(())
    }

    /// Runs one step and records it (one transaction, unless it says otherwise).
    fn step(
        &mut self,
        step: &'t Step,
        scope: Option<&str>,
        on_event: &mut dyn FnMut(ApplyEvent<'_>),
    ) -> Result<(), RunError> {
        let (index, total, tree) = (self.index, self.total, self.tree);
        let database = self.ledger.database();
        on_event(ApplyEvent::StepStarted { index, total, step });
        let sql = step.body.for_database(database.as_str());
        let checksum = step.checksum.text();
        let run = StepRun {
            component: step.key.component.as_str(),
            step: step.key.name.as_str(),
            checksum: checksum.as_str(),
            sql,
            transaction: step.transaction,
        };
        self.ledger.run_step(&run).map_err(|e| match e {
            StepRunError::Sql { message, line } => {
                let at = line.and_then(|l| file_line(tree, step, database, l));
                RunError::StepFailed {
                    step: step.key.clone(),
                    location: at.clone().unwrap_or_else(|| step.location()),
                    database,
                    message: match (line, at) {
                        (Some(l), None) => format!("{message} (line {l} of the step's SQL)"),
                        _ => message,
                    },
                    committed: index,
                    transaction: step.transaction,
                    site_failed: scope == Some(SITE_SCOPE),
                }
            }
            // The database itself (read-only, busy, gone): not the step's fault.
            StepRunError::Ledger(l) => RunError::Ledger(l),
        })?;
        if sql.is_some() {
            self.applied += 1;
        } else {
            self.noops += 1;
        }
        on_event(ApplyEvent::StepDone {
            index,
            total,
            step,
            noop: sql.is_none(),
        });
        self.index += 1;
        self.options.hook.reached(self.index);
        Ok(())
    }
}

/// A failed step as one line: the step, its file and the error.
fn failure_text(e: &RunError) -> String {
    match e {
        RunError::StepFailed {
            step,
            location,
            database,
            message,
            ..
        } => format!("step {step} ({location}) failed on {database}: {message}"),
        other => other.to_string(),
    }
}

/// Before and after a run: removes the rows `apply` left (failed, or kept by a killed
/// run) of scopes with no pending `main` step any more, running their leave
/// hooks; rows set by hand stay.
pub(super) fn clear_stale(
    run: &mut Run<'_, '_>,
    pending: &[&Step],
    on_event: &mut dyn FnMut(ApplyEvent<'_>),
) -> Result<(), RunError> {
    let site = site_components(run.tree, pending);
    let rows = run.ledger.maintenance().scopes()?;
    for row in rows.into_iter().filter(|r| !r.manual) {
        let busy = if row.scope == SITE_SCOPE {
            !site.is_empty()
        } else {
            pending
                .iter()
                .any(|s| s.phase == Phase::Main && s.key.component.as_str() == row.scope)
        };
        if !busy && !run.failures.iter().any(|f| f.scope == row.scope) {
            run.leave(&row.scope, on_event)?;
        }
    }
    Ok(())
}
