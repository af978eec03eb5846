//! Less downtime, end to end: maintenance scopes seen by the steps' own SQL
//! (core and not-safe components under `*`, a safe plugin under its own
//! scope, pre steps with none), a failing plugin isolated, enter hooks,
//! `maintenance on|off` by hand and the event log; on SQLite always and on
//! PostgreSQL when `CONSOLIDATE_TEST_POSTGRES_URL` is set (the `pg_tests`
//! cfg, as in `runner.rs`).
//!
//! The site under test and the tree are here; the tests are below
//! `downtime/`: scopes, failures, `maintenance` by hand, settings.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::util::*;

mod by_hand;
mod failures;
mod scopes;
mod settings;

/// A site database under test.
enum Site {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        url: String,
    },
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Site {
    fn sqlite() -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("site.db");
        Site::Sqlite { _dir: dir, path }
    }

    /// A new PostgreSQL database on the server of `CONSOLIDATE_TEST_POSTGRES_URL`.
    fn postgres(test: &str) -> Site {
        let admin = std::env::var("CONSOLIDATE_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .expect("CONSOLIDATE_TEST_POSTGRES_URL is not set (scripts/ci-postgres.sh)");
        let name = format!(
            "consolidate_dt_{test}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        postgres::Client::connect(&admin, postgres::NoTls)
            .expect("connect")
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create database");
        let start = admin.find("://").map_or(0, |i| i + 3);
        let (head, query) = match admin[start..].find('?') {
            Some(q) => admin.split_at(start + q),
            None => (admin.as_str(), ""),
        };
        let base = match head[start..].find('/') {
            Some(slash) => &head[..start + slash],
            None => head,
        };
        Site::Postgres {
            url: format!("{base}/{name}{query}"),
        }
    }

    fn arg(&self) -> String {
        match self {
            Site::Sqlite { path, .. } => path.display().to_string(),
            Site::Postgres { url } => url.clone(),
        }
    }

    /// The rows of a query of text columns, each as `a|b|...`.
    fn rows(&self, sql: &str) -> Vec<String> {
        match self {
            Site::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open(path).expect("open");
                let mut stmt = conn.prepare(sql).expect("prepare");
                let n = stmt.column_count();
                stmt.query_map([], |r| {
                    (0..n)
                        .map(|i| r.get::<_, String>(i))
                        .collect::<Result<Vec<_>, _>>()
                        .map(|v| v.join("|"))
                })
                .expect("query")
                .collect::<Result<Vec<_>, _>>()
                .expect("rows")
            }
            Site::Postgres { url } => postgres::Client::connect(url, postgres::NoTls)
                .expect("connect")
                .query(sql, &[])
                .expect("query")
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| r.get::<_, String>(i))
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect(),
        }
    }
}

const MANIFEST: &str = "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\nstrategy = \"{strategy}\"\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"mod\", folder = \"mod\" },\n]\n";

/// Core with a pre and a main step, mod_forum (safe to disable) and mod_quiz
/// (not safe), each step recording the scopes it sees.
fn tree(strategy: &str, extra_manifest: &str) -> TempTree {
    let t = TempTree::empty();
    t.write(
        "upgrade.toml",
        &format!(
            "{}{extra_manifest}",
            MANIFEST.replace("{strategy}", strategy)
        ),
    );
    t.write(
        "lib/db/upgrades/2008010101-seen.sql",
        "-- phase: pre\nCREATE TABLE seen (who TEXT, scope TEXT);\nINSERT INTO seen SELECT 'pre', scope FROM upgrade_maintenance;\n",
    );
    t.write(
        "lib/db/upgrades/2008010100-core.sql",
        "INSERT INTO seen SELECT 'core', scope FROM upgrade_maintenance;\n",
    );
    t.write("mod/forum/db/component.toml", "safe_to_disable = true\n");
    t.write(
        "mod/forum/db/upgrades/2008010200-forum.sql",
        "INSERT INTO seen SELECT 'mod_forum', scope FROM upgrade_maintenance;\n",
    );
    t.write(
        "mod/quiz/db/upgrades/2008010300-quiz.sql",
        "INSERT INTO seen SELECT 'mod_quiz', scope FROM upgrade_maintenance;\n",
    );
    t
}

fn apply(t: &TempTree, site: &Site) -> std::process::Output {
    t.run(&["apply", "--db", &site.arg()])
}

fn seen(site: &Site, who: &str) -> Vec<String> {
    site.rows(&format!(
        "SELECT scope FROM seen WHERE who = '{who}' ORDER BY scope"
    ))
}

fn maintenance(site: &Site) -> Vec<String> {
    site.rows("SELECT scope, state FROM upgrade_maintenance ORDER BY scope")
}

fn events(site: &Site) -> Vec<String> {
    site.rows("SELECT scope, event FROM upgrade_events ORDER BY seq")
}

fn ledger(site: &Site) -> Vec<String> {
    site.rows("SELECT component, step FROM upgrade_ledger ORDER BY component, step")
}
