//! The ledger and the runner end to end, on SQLite and on PostgreSQL: status,
//! plan, apply, completion and pruning on the demo site; P1 and C1 checked by
//! running real upgrades from several site states; bad input and crashes.
//!
//! PostgreSQL tests read the server from `CONSOLIDATE_TEST_POSTGRES_URL` and
//! create one database per test. Without it they show as `ignored` (the
//! `pg_tests` cfg of consolidate-cli/build.rs), and fail when `CI` is set.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::util::*;

mod guards;
mod on_backends;
mod quick_status;
mod scenarios;
mod status_cache;

use scenarios::{clean_install, spawn_apply};

// ---------------------------------------------------------------- databases

/// A site database under test (also used by tests/adoption.rs).
pub(crate) enum Db {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

/// Runs `apply` on `db` as an unprivileged user: as `nobody` when the tests
/// run as root (root ignores file permissions), else as the current user.
fn apply_unprivileged(tree: &TempTree, db: &Db) -> Output {
    let mut command = unprivileged_command();
    command
        .args(["apply", "--db", &db.arg()])
        .current_dir(tree.path())
        .output()
        .expect("run")
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn pg_admin_url() -> String {
    match std::env::var("CONSOLIDATE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            panic!(
                "CONSOLIDATE_TEST_POSTGRES_URL is not set: the PostgreSQL tests must run under CI (see scripts/ci-postgres.sh)"
            );
        }
    }
}

/// `url` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let (head, query) = match url[start..].find('?') {
        Some(q) => url.split_at(start + q),
        None => (url, ""),
    };
    let base = match head[start..].find('/') {
        Some(slash) => &head[..start + slash],
        None => head,
    };
    format!("{base}/{name}{query}")
}

pub(crate) fn pg_connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// The first column of every row of `sql`, as text.
pub(crate) fn strings(db: &Db, sql: &str) -> Vec<String> {
    match db {
        Db::Sqlite { path, .. } => {
            let conn = rusqlite::Connection::open(path).expect("open");
            let mut stmt = conn.prepare(sql).expect("prepare");
            stmt.query_map([], |r| r.get::<_, String>(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
        }
        Db::Postgres { url, .. } => pg_connect(url)
            .query(sql, &[])
            .expect("query")
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect(),
    }
}

impl Db {
    pub(crate) fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("site.db");
        Db::Sqlite { _dir: dir, path }
    }

    /// A new, empty PostgreSQL database (panics without a server: see `pg_admin_url`).
    pub(crate) fn postgres(test: &str) -> Db {
        let admin_url = pg_admin_url();
        let name = format!(
            "consolidate_{}_{}_{}",
            test,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        pg_connect(&admin_url)
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create test database");
        Db::Postgres {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        }
    }

    /// The `--db` argument.
    pub(crate) fn arg(&self) -> String {
        match self {
            Db::Sqlite { path, .. } => path.display().to_string(),
            Db::Postgres { url, .. } => url.clone(),
        }
    }

    fn exists(&self) -> bool {
        match self {
            Db::Sqlite { path, .. } => path.exists(),
            Db::Postgres { .. } => true,
        }
    }

    /// A copy of the database in its current state.
    pub(crate) fn copy(&self) -> Db {
        match self {
            Db::Sqlite { path, .. } => {
                let copy = Db::sqlite();
                if path.exists() {
                    std::fs::copy(path, copy.arg()).expect("copy database");
                }
                copy
            }
            Db::Postgres {
                admin_url, name, ..
            } => {
                let new = format!(
                    "{}_c{}",
                    name.chars().take(40).collect::<String>(),
                    COUNTER.fetch_add(1, Ordering::SeqCst)
                );
                pg_connect(admin_url)
                    .batch_execute(&format!("CREATE DATABASE \"{new}\" TEMPLATE \"{name}\""))
                    .expect("copy test database");
                Db::Postgres {
                    url: with_database(admin_url, &new),
                    admin_url: admin_url.clone(),
                    name: new,
                }
            }
        }
    }

    pub(crate) fn exec(&self, sql: &str) {
        match self {
            Db::Sqlite { path, .. } => rusqlite::Connection::open(path)
                .expect("open")
                .execute_batch(sql)
                .expect("exec"),
            Db::Postgres { url, .. } => pg_connect(url).batch_execute(sql).expect("exec"),
        }
    }

    /// Waits until no session holds an advisory lock (a killed client's
    /// server session ends a moment after the client).
    fn wait_unlocked(&self) {
        if let Db::Postgres { url, .. } = self {
            let mut client = pg_connect(url);
            for _ in 0..2000 {
                let n: i64 = client
                    .query_one("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())", &[])
                    .expect("pg_locks")
                    .get(0);
                if n == 0 {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            panic!("the killed apply's session still holds the upgrade lock");
        }
    }

    /// Every schema object, normalised, the ledger's own tables included.
    pub(crate) fn schema(&self) -> String {
        match self {
            Db::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open(path).expect("open");
                let mut stmt = conn
                    .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
                    .expect("prepare");
                let rows: Vec<String> = stmt
                    .query_map([], |r| {
                        Ok(format!(
                            "{} {} {} {}",
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, Option<String>>(3)?.unwrap_or_default()
                        ))
                    })
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("rows");
                rows.join("\n")
            }
            Db::Postgres { url, .. } => {
                let mut client = pg_connect(url);
                let mut out = Vec::new();
                for sql in [
                    "SELECT 'column ' || table_name || '.' || column_name || ' #' || ordinal_position || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
                    "SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname",
                    "SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = current_schema()::regnamespace ORDER BY 1",
                    "SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = current_schema() ORDER BY viewname",
                    "SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname",
                    "SELECT 'function ' || pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema() ORDER BY proname",
                ] {
                    for row in client.query(sql, &[]).expect("schema query") {
                        out.push(row.get::<_, String>(0));
                    }
                }
                out.join("\n")
            }
        }
    }

    /// The rows of every application table (not the ledger's), sorted.
    pub(crate) fn data(&self) -> String {
        let mut out = Vec::new();
        match self {
            Db::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open(path).expect("open");
                let tables: Vec<String> = conn
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'upgrade_%' AND name NOT LIKE 'sqlite_%' ORDER BY name")
                    .expect("prepare")
                    .query_map([], |r| r.get(0))
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("tables");
                for t in tables {
                    let mut stmt = conn
                        .prepare(&format!("SELECT * FROM \"{t}\""))
                        .expect("select");
                    let n = stmt.column_count();
                    let mut rows: Vec<String> = stmt
                        .query_map([], |r| {
                            Ok((0..n)
                                .map(|i| {
                                    r.get::<_, rusqlite::types::Value>(i)
                                        .map(|v| format!("{v:?}"))
                                })
                                .collect::<Result<Vec<_>, _>>()?
                                .join("|"))
                        })
                        .expect("rows")
                        .collect::<Result<_, _>>()
                        .expect("rows");
                    rows.sort();
                    out.push(format!("{t}: {}", rows.join("; ")));
                }
            }
            Db::Postgres { url, .. } => {
                let mut client = pg_connect(url);
                let tables: Vec<String> = client
                    .query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'upgrade\\_%' ORDER BY 1", &[])
                    .expect("tables")
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                for t in tables {
                    let mut rows: Vec<String> = client
                        .query(&format!("SELECT to_jsonb(t)::text FROM \"{t}\" t"), &[])
                        .expect("rows")
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    rows.sort();
                    out.push(format!("{t}: {}", rows.join("; ")));
                }
            }
        }
        out.join("\n")
    }

    /// Ledger rows without their time, and the site record.
    pub(crate) fn ledger(&self) -> (Vec<String>, String) {
        let rows_sql =
            "SELECT component || '/' || step || ' ' || checksum FROM upgrade_ledger ORDER BY 1";
        let site_sql = "SELECT coalesce(completed_release, '-') || ' ' || coalesce(version, '-') || ' ' || coalesce(CAST(revision AS TEXT), '-') FROM upgrade_site";
        match self {
            Db::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open(path).expect("open");
                let rows = conn
                    .prepare(rows_sql)
                    .expect("prepare")
                    .query_map([], |r| r.get(0))
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("rows");
                let site = conn.query_row(site_sql, [], |r| r.get(0)).expect("site");
                (rows, site)
            }
            Db::Postgres { url, .. } => {
                let mut client = pg_connect(url);
                let rows = client
                    .query(rows_sql, &[])
                    .expect("rows")
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let site = client.query_one(site_sql, &[]).expect("site").get(0);
                (rows, site)
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Db::Postgres {
            admin_url, name, ..
        } = self
            && let Ok(mut client) = postgres::Client::connect(admin_url, postgres::NoTls)
        {
            let _ =
                client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}

// ---------------------------------------------------------------- trees and runs

/// The demo before consolidation: MOODLE_19_STABLE released, standalone steps for 20.
fn before() -> TempTree {
    TempTree::demo_steps_only()
}

/// The demo after `consolidate release MOODLE_20_STABLE`.
fn after() -> TempTree {
    let tree = TempTree::demo_steps_only();
    assert_exit(
        &tree.run(&["release", "MOODLE_20_STABLE", "--allow-dirty"]),
        0,
    );
    tree
}

const BACKPORT: &str = "mod_forum/2007120300-forum_backport_fix";

/// The code of the 1.9 stable branch: the released steps and the backported fix.
fn at_19() -> TempTree {
    let tree = TempTree::demo_steps_only();
    let mut files = Vec::new();
    collect(tree.path(), &mut files);
    for f in files {
        let rel = f.to_string_lossy();
        if rel.contains("/db/upgrades/") && !rel.contains("2007120300-forum_backport_fix") {
            std::fs::remove_file(&f).expect("remove standalone step");
        }
    }
    let manifest = tree
        .read("upgrade.toml")
        .replace("version = \"2008030100.02\"", "version = \"2007101500.05\"")
        .replace("revision = 2008030100", "revision = 2007101500");
    tree.write("upgrade.toml", &manifest);
    tree
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn cmd(tree: &TempTree, db: &Db, args: &[&str]) -> Output {
    let db_arg = db.arg();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--db", &db_arg]);
    tree.run(&all)
}

fn apply_ok(tree: &TempTree, db: &Db, args: &[&str]) -> String {
    let mut all = vec!["apply"];
    all.extend(args);
    let out = cmd(tree, db, &all);
    assert_exit(&out, 0);
    stdout(&out)
}

/// The keys of `plan --json`.
fn plan_keys(tree: &TempTree, db: &Db) -> Vec<String> {
    let out = cmd(tree, db, &["plan", "--json"]);
    assert_exit(&out, 0);
    json_step_keys(&out)
}

fn status_code(tree: &TempTree, db: &Db) -> i32 {
    cmd(tree, db, &["status"]).status.code().expect("exit code")
}

/// A full snapshot of a site: schema, application data, ledger and site record.
fn snapshot_of(db: &Db) -> (String, String, (Vec<String>, String)) {
    (db.schema(), db.data(), db.ledger())
}
