//! Maintenance state in the site database: which scopes are not online
//! (`upgrade_maintenance`, one row per scope: `*` for the whole site or a
//! component name; no row = online) and the event log the application can
//! follow (`upgrade_events`), behind the [`MaintenanceStore`] trait that both
//! ledgers implement (`sqlite/maintenance.rs`, `postgres/maintenance.rs`).
//!
//! Every change of a scope is one transaction: the row is written (or
//! removed) together with its event, whose `seq` is the largest so far plus
//! one (written only under the upgrade lock, so never twice). A row whose
//! latest event is `manual-on` was set by an operator (`consolidate
//! maintenance on`): `apply` never removes it.
//!
//! The application's read per request is one primary-key lookup of at most
//! two keys, see [`AVAILABILITY_SQL`].

use std::fmt;

use super::LedgerError;

/// The scope of the whole site.
pub const SITE_SCOPE: &str = "*";

/// The query an application runs per request to know whether a component
/// (`$1`) is available: a row means not (state `maintenance` or `failed`);
/// no row means online. Both keys are looked up in the primary key index.
pub const AVAILABILITY_SQL: &str =
    "SELECT scope, state FROM upgrade_maintenance WHERE scope IN ('*', $1) LIMIT 1";

/// The state of a scope that is not online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeState {
    /// Being upgraded (or held by an operator).
    Maintenance,
    /// Its upgrade failed: it stays unavailable until an `apply` succeeds.
    Failed,
}

impl ScopeState {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeState::Maintenance => "maintenance",
            ScopeState::Failed => "failed",
        }
    }

    /// From the stored text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "maintenance" => Some(ScopeState::Maintenance),
            "failed" => Some(ScopeState::Failed),
            _ => None,
        }
    }
}

impl fmt::Display for ScopeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a scope, as `upgrade_events.event` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ScopeEvent {
    /// `apply` put the scope in maintenance.
    #[serde(rename = "enter")]
    Enter,
    /// `apply` brought the scope back online.
    #[serde(rename = "leave")]
    Leave,
    /// The scope's upgrade (a step or a hook) failed.
    #[serde(rename = "failed")]
    Failed,
    /// An operator put the scope in maintenance by hand.
    #[serde(rename = "manual-on")]
    ManualOn,
    /// An operator brought the scope back online by hand.
    #[serde(rename = "manual-off")]
    ManualOff,
}

impl ScopeEvent {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeEvent::Enter => "enter",
            ScopeEvent::Leave => "leave",
            ScopeEvent::Failed => "failed",
            ScopeEvent::ManualOn => "manual-on",
            ScopeEvent::ManualOff => "manual-off",
        }
    }
}

impl fmt::Display for ScopeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `upgrade_maintenance`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScopeRow {
    /// `*` or a component name.
    pub scope: String,
    /// `maintenance` or `failed` (a row with another state reads as `failed`).
    pub state: ScopeState,
    /// Since when the scope is not online (UTC).
    pub since: String,
    /// Why.
    pub reason: String,
    /// Set by an operator (its latest event is `manual-on`).
    pub manual: bool,
}

/// One row of `upgrade_events`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventRow {
    /// Its position in the log (1, 2, ...).
    pub seq: i64,
    /// When (UTC).
    pub at: String,
    /// `*` or a component name.
    pub scope: String,
    /// `enter`, `leave`, `failed`, `manual-on` or `manual-off`.
    pub event: String,
    /// What it is about (the step, the error, the operator's reason).
    pub detail: String,
}

/// A change of one scope: its row set (`state: Some`) or removed (`None`),
/// and the event appended, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeChange {
    /// `*` or a component name.
    pub scope: String,
    /// The new state; `None` removes the row (the scope is online).
    pub state: Option<ScopeState>,
    /// Kept in the row's `reason`.
    pub reason: String,
    /// The event appended.
    pub event: ScopeEvent,
    /// The event's detail.
    pub detail: String,
}

/// Reading and writing the maintenance state of a site.
pub trait MaintenanceStore {
    /// Every scope not online, sorted by scope (`*` first); empty when the
    /// database has no ledger (or one older than schema 3).
    fn scopes(&mut self) -> Result<Vec<ScopeRow>, LedgerError>;
    /// The last `limit` events, oldest first.
    fn events(&mut self, limit: usize) -> Result<Vec<EventRow>, LedgerError>;
    /// Writes a change and its event in one transaction (needs the upgrade
    /// lock: a ledger opened for writing).
    fn change_scope(&mut self, change: &ScopeChange) -> Result<(), LedgerError>;
}

/// Upserts a row: `since` is kept when the scope already had one.
pub(crate) const UPSERT_SCOPE_SQL: &str = "INSERT INTO upgrade_maintenance (scope, state, since, reason) VALUES ({1}, {2}, {3}, {4}) ON CONFLICT (scope) DO UPDATE SET state = excluded.state, reason = excluded.reason";

/// Appends an event with the next `seq`.
pub(crate) const APPEND_EVENT_SQL: &str = "INSERT INTO upgrade_events (seq, at, scope, event, detail) SELECT coalesce(max(seq), 0) + 1, {1}, {2}, {3}, {4} FROM upgrade_events";

/// Every row, with the latest event of its scope.
pub(crate) const SCOPES_SQL: &str = "SELECT m.scope, m.state, m.since, m.reason, (SELECT e.event FROM upgrade_events e WHERE e.scope = m.scope ORDER BY e.seq DESC LIMIT 1) FROM upgrade_maintenance m";

/// The last events (`{1}`: how many), newest first.
pub(crate) const EVENTS_SQL: &str =
    "SELECT seq, at, scope, event, detail FROM upgrade_events ORDER BY seq DESC LIMIT {1}";

/// A stored row as read.
pub(crate) fn scope_row(
    scope: String,
    state: String,
    since: String,
    reason: String,
    last_event: Option<String>,
) -> ScopeRow {
    ScopeRow {
        scope,
        state: ScopeState::parse(&state).unwrap_or(ScopeState::Failed),
        since,
        reason,
        manual: last_event.as_deref() == Some(ScopeEvent::ManualOn.as_str()),
    }
}

/// Sorts rows by scope, bytewise (`*` first).
pub(crate) fn sorted(mut rows: Vec<ScopeRow>) -> Vec<ScopeRow> {
    rows.sort_by(|a, b| a.scope.as_bytes().cmp(b.scope.as_bytes()));
    rows
}

/// Fills in placeholders `{1}`..`{4}` with a driver's parameter syntax.
pub(crate) fn bind(sql: &str, marker: &str) -> String {
    let mut out = sql.to_string();
    for i in 1..=4 {
        out = out.replace(&format!("{{{i}}}"), &format!("{marker}{i}"));
    }
    out
}

/// Reads a site's maintenance rows and its last `events` events without
/// changing anything (a site without a ledger: nothing).
pub fn read_maintenance(
    url: &super::DatabaseUrl,
    events: usize,
) -> Result<(Vec<ScopeRow>, Vec<EventRow>), LedgerError> {
    match super::open(url, super::Access::Read)? {
        Some(mut ledger) => {
            let store = ledger.maintenance();
            let rows = store.scopes()?;
            let events = if events > 0 {
                store.events(events)?
            } else {
                Vec::new()
            };
            Ok((rows, events))
        }
        None => Ok((Vec::new(), Vec::new())),
    }
}
