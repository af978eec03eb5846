//! [`MaintenanceStore`] on SQLite: the rows of `upgrade_maintenance` and the
//! event log, each change in one transaction on the ledger's connection (so
//! under its upgrade lock).

use rusqlite::params;

use super::super::maintenance::{
    APPEND_EVENT_SQL, EVENTS_SQL, EventRow, MaintenanceStore, SCOPES_SQL, ScopeChange, ScopeRow,
    UPSERT_SCOPE_SQL, bind, scope_row, sorted,
};
use super::super::now_utc;
use super::{LedgerError, SqliteLedger, error, table_exists};

impl MaintenanceStore for SqliteLedger {
    fn scopes(&mut self) -> Result<Vec<ScopeRow>, LedgerError> {
        let db = self.db();
        let err = |e: rusqlite::Error| error(&db, "reading the maintenance state", &e);
        if !table_exists(&self.conn, "upgrade_maintenance").map_err(err)? {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare(SCOPES_SQL).map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(scope_row(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(sorted(rows))
    }

    fn events(&mut self, limit: usize) -> Result<Vec<EventRow>, LedgerError> {
        let db = self.db();
        let err = |e: rusqlite::Error| error(&db, "reading the maintenance events", &e);
        if !table_exists(&self.conn, "upgrade_events").map_err(err)? {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare(&bind(EVENTS_SQL, "?")).map_err(err)?;
        let mut rows = stmt
            .query_map(params![limit], |r| {
                Ok(EventRow {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    scope: r.get(2)?,
                    event: r.get(3)?,
                    detail: r.get(4)?,
                })
            })
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        rows.reverse();
        Ok(rows)
    }

    fn change_scope(&mut self, change: &ScopeChange) -> Result<(), LedgerError> {
        let db = self.db();
        let err = |e: rusqlite::Error| error(&db, "changing the maintenance state", &e);
        let now = now_utc();
        let tx = self.conn.transaction().map_err(err)?;
        match change.state {
            Some(state) => tx
                .execute(
                    &bind(UPSERT_SCOPE_SQL, "?"),
                    params![change.scope, state.as_str(), now, change.reason],
                )
                .map_err(err)?,
            None => tx
                .execute(
                    "DELETE FROM upgrade_maintenance WHERE scope = ?1",
                    params![change.scope],
                )
                .map_err(err)?,
        };
        tx.execute(
            &bind(APPEND_EVENT_SQL, "?"),
            params![now, change.scope, change.event.as_str(), change.detail],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }
}
