//! Scratch SQLite sites for schema comparisons: the normalised schema dump
//! of a database, and the schema a fresh site has at a release (the
//! baseline, if any, then every step tagged with that release or an earlier
//! one, in plan order) — what `adopt --check-schema` compares a database
//! built by another upgrade system with.

use std::path::Path;

use rusqlite::Connection;

use crate::model::release_name::ReleaseName;
use crate::site::ledger::{DatabaseUrl, LEDGER_TABLES};
use crate::site::runner::{ApplyOptions, Runner};
use crate::trees::tree::Tree;

/// Every schema object except the ledger's, one line each, in a stable
/// order, compared by structure rather than by the text that created it (a
/// table created whole and one built by `ALTER TABLE` read the same):
/// `table T column C TYPE [NOT NULL] [DEFAULT D] [PRIMARY KEY n]` per
/// column (sorted by name: column order is not compared), `index I on T:
/// [UNIQUE] (COLUMNS)` (automatic indexes of constraints by their columns),
/// and views and triggers by their SQL, white space collapsed.
pub fn schema_dump(path: &Path) -> Result<Vec<String>, String> {
    let conn = Connection::open(path).map_err(|e| e.to_string())?;
    let text = |e: rusqlite::Error| e.to_string();
    let objects: Vec<(String, String, String, String)> = {
        let mut stmt = conn
            .prepare(
                "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name",
            )
            .map_err(text)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(text)?
            .collect::<Result<_, _>>()
            .map_err(text)?
    };
    let mut out = Vec::new();
    for (kind, name, table, sql) in objects {
        if LEDGER_TABLES.contains(&table.as_str()) || name == "sqlite_sequence" {
            continue;
        }
        match kind.as_str() {
            "table" => {
                let mut stmt = conn
                    .prepare("SELECT name, upper(type), \"notnull\", dflt_value, pk FROM pragma_table_info(?1)")
                    .map_err(text)?;
                let mut columns: Vec<String> = stmt
                    .query_map([&name], |r| {
                        let mut line = format!(
                            "table {name} column {} {}",
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?
                        );
                        if r.get::<_, i64>(2)? != 0 {
                            line.push_str(" NOT NULL");
                        }
                        if let Some(d) = r.get::<_, Option<String>>(3)? {
                            line.push_str(&format!(" DEFAULT {d}"));
                        }
                        let pk = r.get::<_, i64>(4)?;
                        if pk != 0 {
                            line.push_str(&format!(" PRIMARY KEY {pk}"));
                        }
                        Ok(line)
                    })
                    .map_err(text)?
                    .collect::<Result<_, _>>()
                    .map_err(text)?;
                columns.sort();
                out.extend(columns);
            }
            "index" => {
                let unique: bool = conn
                    .query_row(
                        "SELECT \"unique\" FROM pragma_index_list(?1) WHERE name = ?2",
                        [&table, &name],
                        |r| r.get::<_, i64>(0),
                    )
                    .map(|u| u != 0)
                    .unwrap_or(false);
                let mut stmt = conn
                    .prepare("SELECT coalesce(name, '<expression>') FROM pragma_index_info(?1) ORDER BY seqno")
                    .map_err(text)?;
                let columns: Vec<String> = stmt
                    .query_map([&name], |r| r.get(0))
                    .map_err(text)?
                    .collect::<Result<_, _>>()
                    .map_err(text)?;
                let label = if name.starts_with("sqlite_autoindex") {
                    "(constraint)".to_string()
                } else {
                    name.clone()
                };
                let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
                let filter = sql
                    .to_ascii_uppercase()
                    .find(" WHERE ")
                    .map(|at| format!(" {}", &sql[at + 1..]))
                    .unwrap_or_default();
                out.push(format!(
                    "index {label} on {table}: {}({}){filter}",
                    if unique { "UNIQUE " } else { "" },
                    columns.join(", ")
                ));
            }
            _ => {
                let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
                out.push(format!("{kind} {name} on {table}: {sql}"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The schema of a fresh SQLite site at `release`, built in `folder`.
pub fn schema_at_release(
    tree: &Tree,
    release: &ReleaseName,
    folder: &Path,
) -> Result<Vec<String>, String> {
    let upto = tree
        .manifest
        .release_index(release)
        .ok_or_else(|| format!("{release} is not in the release history"))?;
    let mut at = tree.clone();
    at.installs.clear();
    at.steps.retain(|s| {
        s.release()
            .and_then(|r| tree.manifest.release_index(r))
            .is_some_and(|i| i <= upto)
    });
    let db = folder.join("at-release.db");
    let runner = Runner::new(&at, DatabaseUrl::Sqlite(db.clone())).map_err(|e| e.to_string())?;
    runner
        .apply(&ApplyOptions::default(), &mut |_| {})
        .map_err(|e| format!("building a scratch site at {release} failed: {e}"))?;
    schema_dump(&db)
}

/// Compares a SQLite database with a scratch site at `release`: the lines
/// only in the database, and those only in the scratch site.
pub fn compare_with_release(
    tree: &Tree,
    release: &ReleaseName,
    db: &Path,
) -> Result<(Vec<String>, Vec<String>), String> {
    let folder = tempfile::Builder::new()
        .prefix("consolidate-adopt-")
        .tempdir()
        .map_err(|e| format!("cannot create a scratch folder: {e}"))?;
    let expected = schema_at_release(tree, release, folder.path())?;
    let found = schema_dump(db)?;
    let only_db = found
        .iter()
        .filter(|l| !expected.contains(l))
        .cloned()
        .collect();
    let only_scratch = expected
        .iter()
        .filter(|l| !found.contains(l))
        .cloned()
        .collect();
    Ok((only_db, only_scratch))
}
