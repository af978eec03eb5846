//! Whether any ledger row passes a test, reading rows until one does
//! (`prune` decides whether there is anything to do before it takes the
//! upgrade lock: a site whose first row is covered reads one row, not all).

use rusqlite::types::Type;
use rusqlite::{Connection, TransactionBehavior};

use super::{check_schema_version, error, schema_version, site_row, table_exists};
use crate::site::ledger::{LedgerError, SiteRecord};

/// The site record, and whether a row passes `wanted` (its component and
/// step as stored), in one read transaction; no ledger: a fresh record and
/// no row.
pub(super) fn any_row(
    conn: &mut Connection,
    db: &str,
    wanted: &mut dyn FnMut(&SiteRecord, &str, &str) -> bool,
) -> Result<(SiteRecord, bool), LedgerError> {
    let err = |e: rusqlite::Error| error(db, "reading the ledger", &e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Deferred)
        .map_err(err)?;
    if !table_exists(&tx, "upgrade_meta").map_err(err)? {
        return Ok((SiteRecord::default(), false));
    }
    check_schema_version(db, schema_version(&tx).map_err(err)?)?;
    let site = site_row(&tx, db)?;
    let mut stmt = tx
        .prepare("SELECT component, step FROM upgrade_ledger")
        .map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    while let Some(row) = rows.next().map_err(err)? {
        let (component, step) = (text(row, 0).map_err(err)?, text(row, 1).map_err(err)?);
        if wanted(&site, component, step) {
            return Ok((site, true));
        }
    }
    Ok((site, false))
}

/// Column `i` of `row` as text, borrowed (no copy per row), as `read` takes
/// it: any other value is an error there too.
fn text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(i)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))
}
