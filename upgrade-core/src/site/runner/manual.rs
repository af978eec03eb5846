//! `consolidate maintenance on|off [COMPONENT]`: an operator sets a scope's
//! maintenance by hand. The row and its `manual-on` / `manual-off` event are
//! written in one transaction under the upgrade lock, then the manifest's
//! enter or leave hook runs, as for `apply`. A row set by hand is never
//! removed by `apply`; `off` removes any row (also one `apply` left failed).

use std::path::Path;

use super::hooks::run_hook;
use super::*;
use crate::site::ledger::maintenance::{ScopeChange, ScopeEvent, ScopeState};

/// What a manual change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManualOutcome {
    /// The row was written (or removed) and the hook, if any, ran.
    Changed,
    /// `off` on a scope that is online: nothing to do, nothing logged.
    AlreadyOnline,
}

impl<'t> Runner<'t> {
    /// Puts `scope` (`*` or a component of the tree) in maintenance (`on`) or
    /// brings it online (`off`) by hand; `reason` is kept in the row and the
    /// event. The hook runs in `hook_dir` (none without it).
    pub fn set_maintenance(
        &self,
        scope: &str,
        on: bool,
        reason: &str,
        hook_dir: Option<&Path>,
    ) -> Result<ManualOutcome, RunError> {
        let known = scope == SITE_SCOPE
            || ComponentName::parse(scope).is_ok_and(|c| {
                self.tree.steps.iter().any(|s| s.key.component == c)
                    || self.tree.upgrade_files.contains_key(&c)
                    || self.tree.components.contains_key(&c)
            });
        if !known {
            return Err(RunError::UnknownScope {
                given: scope.to_string(),
            });
        }
        let mut ledger = self.open_for_writing()?;
        let store = ledger.maintenance();
        let exists = store.scopes()?.iter().any(|r| r.scope == scope);
        if !on && !exists {
            return Ok(ManualOutcome::AlreadyOnline);
        }
        store.change_scope(&ScopeChange {
            scope: scope.to_string(),
            state: on.then_some(ScopeState::Maintenance),
            reason: reason.to_string(),
            event: if on {
                ScopeEvent::ManualOn
            } else {
                ScopeEvent::ManualOff
            },
            detail: reason.to_string(),
        })?;
        let (hook, event) = if on {
            (self.tree.manifest.maintenance.enter.as_ref(), "enter")
        } else {
            (self.tree.manifest.maintenance.leave.as_ref(), "leave")
        };
        if let (Some(command), Some(dir)) = (hook, hook_dir) {
            run_hook(Some(dir), command, scope, event).map_err(|message| RunError::HookFailed {
                scope: scope.to_string(),
                message,
                on,
            })?;
        }
        Ok(ManualOutcome::Changed)
    }
}
