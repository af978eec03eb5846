//! Deleting ledger rows on SQLite (`prune`, `prune --orphans --yes`, the
//! rows a completed release covers): only the rows listed; a whole
//! component with one statement when all of its rows are listed, and the
//! whole table with one when all of them are.

use rusqlite::params;

/// A component with at least this many rows to delete is first checked
/// for being deleted whole.
const WHOLE_COMPONENT_MIN: usize = 64;

/// Deletes the ledger rows `rows` (`(component, step)` as stored), and
/// only them. A component all of whose rows are listed (checked inside
/// this transaction: the set of its stored steps equals the listed ones)
/// is deleted with one statement, not row by row: a site that moves to a
/// consolidated tree prunes whole components.
pub(super) fn delete_rows(
    tx: &rusqlite::Transaction<'_>,
    rows: &[(String, String)],
) -> rusqlite::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // Every row of the ledger (a site moving to a consolidated tree whose
    // every step is released): one statement that clears the table and its
    // index, not a deletion per row or per component.
    if rows.len() >= WHOLE_COMPONENT_MIN && whole_table(tx, rows)? {
        crate::model::op_count::tick(1);
        tx.execute("DELETE FROM upgrade_ledger", [])?;
        return Ok(());
    }
    // Statements prepared once for every row (prune of a whole release).
    let mut delete =
        tx.prepare_cached("DELETE FROM upgrade_ledger WHERE component = ?1 AND step = ?2")?;
    let mut start = 0;
    while start < rows.len() {
        let component = &rows[start].0;
        let end = start
            + rows[start..]
                .iter()
                .take_while(|(c, _)| c == component)
                .count();
        let group = &rows[start..end];
        start = end;
        if group.len() >= WHOLE_COMPONENT_MIN && whole_component(tx, component, group)? {
            crate::model::op_count::tick(1);
            tx.prepare_cached("DELETE FROM upgrade_ledger WHERE component = ?1")?
                .execute(params![component])?;
            continue;
        }
        for (component, step) in group {
            crate::model::op_count::tick(1);
            delete.execute(params![component, step])?;
        }
    }
    Ok(())
}

/// Are the listed steps of `component` (`group`) exactly the steps it has
/// in the ledger now?
fn whole_component(
    tx: &rusqlite::Transaction<'_>,
    component: &str,
    group: &[(String, String)],
) -> rusqlite::Result<bool> {
    let listed = group.iter().map(|(_, step)| [step.as_str()]).collect();
    let mut stmt =
        tx.prepare_cached("SELECT step FROM upgrade_ledger WHERE component = ?1 ORDER BY step")?;
    stored_keys_are(&mut stmt, params![component], listed)
}

/// Are the listed rows exactly the rows of the ledger now? (The walk stops
/// at the first difference: it never reads more than the listed rows and
/// one.)
fn whole_table(
    tx: &rusqlite::Transaction<'_>,
    rows: &[(String, String)],
) -> rusqlite::Result<bool> {
    let listed = rows.iter().map(|(c, s)| [c.as_str(), s.as_str()]).collect();
    let mut stmt =
        tx.prepare("SELECT component, step FROM upgrade_ledger ORDER BY component, step")?;
    stored_keys_are(&mut stmt, [], listed)
}

/// Are the keys `stmt` gives (its `N` columns, in its order: it sorts by
/// them, bytewise, as SQLite's `BINARY` collation does) exactly the listed
/// ones, read inside the caller's transaction?
fn stored_keys_are<const N: usize>(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    mut listed: Vec<[&str; N]>,
) -> rusqlite::Result<bool> {
    listed.sort_unstable();
    listed.dedup();
    let mut stored = stmt.query(params)?;
    let mut listed = listed.into_iter();
    while let Some(row) = stored.next()? {
        let Some(expected) = listed.next() else {
            return Ok(false);
        };
        for (i, want) in expected.iter().enumerate() {
            if row.get_ref(i)?.as_str().ok() != Some(*want) {
                return Ok(false);
            }
        }
    }
    Ok(listed.next().is_none())
}
