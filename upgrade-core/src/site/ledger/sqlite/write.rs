//! Reading `upgrade_components` and writing a [`SiteChange`] inside an open
//! SQLite transaction (the ledger rows, the site record, the audit and the
//! installed components), for `commit` and `install` alike.

use rusqlite::params;

use super::super::{INTERRUPTED_KEY, InstalledComponent, SiteChange, now_utc};
use super::delete::delete_rows;

/// The rows of `upgrade_components`, by component.
pub(super) fn read_components(
    tx: &rusqlite::Transaction<'_>,
) -> rusqlite::Result<Vec<InstalledComponent>> {
    let mut stmt = tx.prepare(
        "SELECT component, source, covers, checksum, installed_at FROM upgrade_components ORDER BY component",
    )?;
    stmt.query_map([], |r| {
        Ok(InstalledComponent {
            component: r.get(0)?,
            source: r.get(1)?,
            covers: r.get(2)?,
            checksum: r.get(3)?,
            installed_at: r.get(4)?,
        })
    })?
    .collect()
}

/// Writes a change inside an open transaction.
pub(super) fn write_change(
    tx: &rusqlite::Transaction<'_>,
    change: &SiteChange,
) -> rusqlite::Result<()> {
    let now = now_utc();
    delete_rows(tx, &change.delete)?;
    for (key, checksum) in &change.checksums {
        tx.execute(
            "UPDATE upgrade_ledger SET checksum = ?3 WHERE component = ?1 AND step = ?2",
            params![
                key.component.as_str(),
                key.name.as_str(),
                checksum.text().as_str()
            ],
        )?;
    }
    if let Some(release) = &change.release {
        tx.execute(
            "UPDATE upgrade_site SET completed_release = ?1, updated_at = ?2 WHERE id = 1",
            params![release.as_str(), now],
        )?;
    }
    if let Some((version, revision)) = &change.sync {
        tx.execute(
            "UPDATE upgrade_site SET version = ?1, revision = ?2, updated_at = ?3 WHERE id = 1",
            params![version.as_str(), revision, now],
        )?;
    }
    if change.clear_interrupted {
        tx.execute(
            "DELETE FROM upgrade_meta WHERE key = ?1",
            params![INTERRUPTED_KEY],
        )?;
    }
    if let Some((key, checksum)) = &change.mark_done {
        tx.execute(
            "INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
            params![key.component.as_str(), key.name.as_str(), checksum.text().as_str(), now],
        )?;
    }
    if let Some(audit) = &change.audit {
        tx.execute(
            "INSERT INTO upgrade_audit (recorded_at, action, step_key, checksum, actor, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                now,
                audit.action,
                audit.key.to_string(),
                audit.checksum.text().as_str(),
                audit.actor,
                audit.reason
            ],
        )?;
    }
    if !change.record.is_empty() {
        let mut insert = tx.prepare_cached(
            "INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (key, checksum) in &change.record {
            insert.execute(params![
                key.component.as_str(),
                key.name.as_str(),
                checksum.text().as_str(),
                now
            ])?;
        }
    }
    for component in &change.uninstalled {
        tx.execute(
            "DELETE FROM upgrade_components WHERE component = ?1",
            params![component],
        )?;
    }
    for c in &change.installed {
        tx.execute(
            "INSERT INTO upgrade_components (component, source, covers, checksum, installed_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (component) DO UPDATE SET source = excluded.source, covers = excluded.covers, checksum = excluded.checksum, installed_at = excluded.installed_at",
            params![c.component, c.source, c.covers, c.checksum, c.installed_at],
        )?;
    }
    Ok(())
}
