//! Writing a [`SiteChange`] inside an open PostgreSQL transaction (the
//! ledger rows, the site record, the audit and the installed components), for
//! `commit` and `install` alike.

use super::super::{INTERRUPTED_KEY, SiteChange, now_utc};

/// Ledger rows deleted by one statement.
const DELETE_CHUNK: usize = 10_000;

/// Writes a change inside an open transaction.
pub(super) fn write_change(
    tx: &mut postgres::Transaction<'_>,
    change: &SiteChange,
) -> Result<(), postgres::Error> {
    let now = now_utc();
    if !change.delete.is_empty() {
        // The listed rows and only them, a chunk of rows per statement (one
        // round trip per chunk, not per row: prune of a whole release).
        let delete = tx.prepare(
            "DELETE FROM upgrade_ledger WHERE (component, step) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        )?;
        for chunk in change.delete.chunks(DELETE_CHUNK) {
            let components: Vec<&str> = chunk.iter().map(|(c, _)| c.as_str()).collect();
            let steps: Vec<&str> = chunk.iter().map(|(_, s)| s.as_str()).collect();
            tx.execute(&delete, &[&components, &steps])?;
        }
    }
    for (key, checksum) in &change.checksums {
        tx.execute(
            "UPDATE upgrade_ledger SET checksum = $3 WHERE component = $1 AND step = $2",
            &[
                &key.component.as_str(),
                &key.name.as_str(),
                &checksum.text().as_str(),
            ],
        )?;
    }
    if let Some(release) = &change.release {
        tx.execute(
            "UPDATE upgrade_site SET completed_release = $1, updated_at = $2 WHERE id = 1",
            &[&release.as_str(), &now],
        )?;
    }
    if let Some((version, revision)) = &change.sync {
        tx.execute(
            "UPDATE upgrade_site SET version = $1, revision = $2, updated_at = $3 WHERE id = 1",
            &[&version.as_str(), revision, &now],
        )?;
    }
    if change.clear_interrupted {
        tx.execute(
            "DELETE FROM upgrade_meta WHERE key = $1",
            &[&INTERRUPTED_KEY],
        )?;
    }
    if let Some((key, checksum)) = &change.mark_done {
        tx.execute(
            "INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES ($1, $2, $3, $4)",
            &[&key.component.as_str(), &key.name.as_str(), &checksum.text().as_str(), &now],
        )?;
    }
    if let Some(audit) = &change.audit {
        tx.execute(
            "INSERT INTO upgrade_audit (recorded_at, action, step_key, checksum, actor, reason) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &now,
                &audit.action,
                &audit.key.to_string(),
                &audit.checksum.text().as_str(),
                &audit.actor,
                &audit.reason,
            ],
        )?;
    }
    if !change.record.is_empty() {
        let insert = tx.prepare(
            "INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES ($1, $2, $3, $4)",
        )?;
        for (key, checksum) in &change.record {
            tx.execute(
                &insert,
                &[
                    &key.component.as_str(),
                    &key.name.as_str(),
                    &checksum.text().as_str(),
                    &now,
                ],
            )?;
        }
    }
    for component in &change.uninstalled {
        tx.execute(
            "DELETE FROM upgrade_components WHERE component = $1",
            &[component],
        )?;
    }
    for c in &change.installed {
        tx.execute(
            "INSERT INTO upgrade_components (component, source, covers, checksum, installed_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (component) DO UPDATE SET source = excluded.source, covers = excluded.covers, checksum = excluded.checksum, installed_at = excluded.installed_at",
            &[&c.component, &c.source, &c.covers, &c.checksum, &c.installed_at],
        )?;
    }
    Ok(())
}
