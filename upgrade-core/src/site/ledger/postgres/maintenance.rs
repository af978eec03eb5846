//! [`MaintenanceStore`] on PostgreSQL: the rows of `upgrade_maintenance` and
//! the event log, each change in one transaction on the ledger's session
//! (which holds the upgrade lock when opened for writing).

use super::super::maintenance::{
    APPEND_EVENT_SQL, EVENTS_SQL, EventRow, MaintenanceStore, SCOPES_SQL, ScopeChange, ScopeRow,
    UPSERT_SCOPE_SQL, bind, scope_row, sorted,
};
use super::super::now_utc;
use super::{LedgerError, PostgresLedger, error};

impl PostgresLedger {
    fn has_table(&mut self, table: &str) -> Result<bool, postgres::Error> {
        Ok(self
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])?
            .get(0))
    }
}

impl MaintenanceStore for PostgresLedger {
    fn scopes(&mut self) -> Result<Vec<ScopeRow>, LedgerError> {
        let db = self.db.clone();
        let err = |e: postgres::Error| error(&db, "reading the maintenance state", &e);
        if !self.has_table("upgrade_maintenance").map_err(err)? {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(SCOPES_SQL, &[])
            .map_err(err)?
            .into_iter()
            .map(|r| scope_row(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect();
        Ok(sorted(rows))
    }

    fn events(&mut self, limit: usize) -> Result<Vec<EventRow>, LedgerError> {
        let db = self.db.clone();
        let err = |e: postgres::Error| error(&db, "reading the maintenance events", &e);
        if !self.has_table("upgrade_events").map_err(err)? {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows: Vec<EventRow> = self
            .client
            .query(&bind(EVENTS_SQL, "$"), &[&limit])
            .map_err(err)?
            .into_iter()
            .map(|r| EventRow {
                seq: r.get(0),
                at: r.get(1),
                scope: r.get(2),
                event: r.get(3),
                detail: r.get(4),
            })
            .collect();
        rows.reverse();
        Ok(rows)
    }

    fn change_scope(&mut self, change: &ScopeChange) -> Result<(), LedgerError> {
        let db = self.db.clone();
        let err = |e: postgres::Error| error(&db, "changing the maintenance state", &e);
        let now = now_utc();
        let mut tx = self.client.transaction().map_err(err)?;
        match change.state {
            Some(state) => tx
                .execute(
                    &bind(UPSERT_SCOPE_SQL, "$"),
                    &[&change.scope, &state.as_str(), &now, &change.reason],
                )
                .map_err(err)?,
            None => tx
                .execute(
                    "DELETE FROM upgrade_maintenance WHERE scope = $1",
                    &[&change.scope],
                )
                .map_err(err)?,
        };
        tx.execute(
            &bind(APPEND_EVENT_SQL, "$"),
            &[&now, &change.scope, &change.event.as_str(), &change.detail],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }
}
