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
mod quick_status;
mod status_cache;

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

// ---------------------------------------------------------------- scenarios (each on one backend)

fn fresh_install(db: Db) {
    let tree = after();
    assert_exit(&cmd(&tree, &db, &["status"]), 2);
    let keys = plan_keys(&tree, &db);
    assert_eq!(keys.len(), 42, "{keys:?}");
    if matches!(db, Db::Sqlite { .. }) {
        assert!(
            !db.exists(),
            "status and plan must not create the database file"
        );
    }
    let out = apply_ok(&tree, &db, &[]);
    assert!(
        out.contains("completed release MOODLE_20_STABLE: pruned 42 ledger row(s)"),
        "{out}"
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
    assert!(plan_keys(&tree, &db).is_empty());
    let (rows, site) = db.ledger();
    assert!(rows.is_empty(), "{rows:?}");
    assert_eq!(site, "MOODLE_20_STABLE 2008030100.02 2008030100");
    // Idempotent.
    let again = apply_ok(&tree, &db, &[]);
    assert!(
        again.contains("nothing to apply: the site is up to date"),
        "{again}"
    );
    // The trigger of the per-database variant works on this database.
    let data = db.data();
    assert!(data.contains("Moodle 2.0 upgrade"), "{data}");
}

/// A site that ran the 1.9 code (released steps plus the backported fix).
fn site_at_19(db: &Db) {
    let tree19 = at_19();
    let out = apply_ok(&tree19, db, &[]);
    assert!(out.contains(BACKPORT), "{out}");
    assert!(out.contains("completed release MOODLE_19_STABLE"), "{out}");
    let (rows, site) = db.ledger();
    assert_eq!(
        rows.len(),
        1,
        "only the backported standalone step keeps a row: {rows:?}"
    );
    assert!(rows[0].starts_with(BACKPORT), "{rows:?}");
    assert_eq!(site, "MOODLE_19_STABLE 2007101500.05 2007101500");
}

fn backported_step(db: Db) {
    site_at_19(&db);
    let tree = after();
    let keys = plan_keys(&tree, &db);
    assert_eq!(keys.len(), 27, "{keys:?}");
    assert!(
        !keys.iter().any(|k| k == BACKPORT),
        "the backported step must not run again: {keys:?}"
    );
    let out = apply_ok(&tree, &db, &[]);
    assert!(!out.contains(BACKPORT), "{out}");
    assert!(
        out.contains("pruned 28 ledger row(s)"),
        "27 new rows and the backport's: {out}"
    );
    let (rows, site) = db.ledger();
    assert!(rows.is_empty(), "{rows:?}");
    assert_eq!(site, "MOODLE_20_STABLE 2008030100.02 2008030100");
}

/// C1: from each site state, the tree before and after consolidation pend the
/// same steps, and upgrading with either gives the same schema, data and —
/// once the release is completed — ledger.
fn consolidation_is_invisible(db: Db) {
    let tree_before = before();
    let tree_after = after();
    let fresh = db;
    let at19 = fresh.copy();
    site_at_19(&at19);
    let at19_prefix = at19.copy();
    apply_ok(
        &tree_before,
        &at19_prefix,
        &["--to", "core/2008010101-message_indexes"],
    );
    let fresh_prefix = fresh.copy();
    apply_ok(
        &tree_before,
        &fresh_prefix,
        &["--to", "mod_forum/2007113000-forum_tracking"],
    );
    let pre_only = at19.copy();
    apply_ok(&tree_after, &pre_only, &["--phase", "pre"]);
    let states = [
        ("fresh", &fresh),
        ("at 19 with the backport", &at19),
        ("at 19, then a prefix of the 20 steps", &at19_prefix),
        (
            "fresh install interrupted among the 19 steps",
            &fresh_prefix,
        ),
        ("at 19, then the pre phase", &pre_only),
    ];
    for (name, state) in states {
        assert_eq!(
            plan_keys(&tree_before, state),
            plan_keys(&tree_after, state),
            "C1: pending differs from state {name}"
        );
        let a = state.copy();
        let b = state.copy();
        apply_ok(&tree_before, &a, &[]);
        apply_ok(&tree_after, &b, &[]);
        let schema = b.schema();
        assert!(
            schema.contains("webdav_locks") && schema.contains("forum_posts_touch_discussion"),
            "the dump must see the schema: {schema}"
        );
        assert_eq!(a.schema(), schema, "schema differs from state {name}");
        assert_eq!(a.data(), b.data(), "data differs from state {name}");
        // The site upgraded with the old tree then gets the new one: nothing runs,
        // the release completes, and the ledgers are the same.
        assert!(plan_keys(&tree_after, &a).is_empty(), "{name}");
        let out = apply_ok(&tree_after, &a, &[]);
        assert!(!out.contains("applied"), "{name}: {out}");
        assert_eq!(snapshot_of(&a), snapshot_of(&b), "{name}");
        assert_exit(&cmd(&tree_after, &a, &["status"]), 0);
    }
}

/// P1: pruning never changes the plan.
fn pruning_is_invisible(db: Db) {
    site_at_19(&db);
    let tree = after();
    apply_ok(&tree, &db, &["--to", "core/2008010101-message_indexes"]);
    // Rows an application kept for released steps, and an orphan.
    let checksum = |component: &str, name: &str| {
        let text = std::fs::read_to_string(tree.path().join("releases/MOODLE_19_STABLE.toml"))
            .expect("rules");
        let section = text
            .split(&format!("[covers.{component}]"))
            .nth(1)
            .expect("component");
        let line = section.lines().find(|l| l.contains(name)).expect("step");
        line.split('"').nth(3).expect("checksum").to_string()
    };
    db.exec(&format!(
        "INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES ('core', '2007080100-config', '{}', '2007-10-01T00:00:00Z');
         INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES ('mod_forum', '2007081500-forum_tables', '{}', '2007-10-01T00:00:00Z');
         INSERT INTO upgrade_ledger (component, step, checksum, applied_at) VALUES ('local_gone', '2007050100-old', 'sha256:{}', '2007-05-01T00:00:00Z');",
        checksum("core", "2007080100-config"),
        checksum("mod_forum", "2007081500-forum_tables"),
        "0".repeat(64)
    ));
    let plan = plan_keys(&tree, &db);
    let status = status_code(&tree, &db);
    let out = cmd(&tree, &db, &["prune"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("pruned 2 ledger row(s) covered by MOODLE_19_STABLE"),
        "{}",
        stdout(&out)
    );
    assert_eq!(plan_keys(&tree, &db), plan, "P1: prune changed the plan");
    assert_eq!(status_code(&tree, &db), status);
    let again = cmd(&tree, &db, &["prune"]);
    assert_exit(&again, 0);
    assert!(
        stdout(&again).contains("nothing to prune"),
        "{}",
        stdout(&again)
    );
    // Orphans: listed, kept without --yes, deleted with it.
    let list = cmd(&tree, &db, &["prune", "--orphans"]);
    assert_exit(&list, 0);
    assert!(
        stdout(&list).contains("local_gone/2007050100-old"),
        "{}",
        stdout(&list)
    );
    assert!(stdout(&list).contains("dangerous"), "{}", stdout(&list));
    assert!(db.ledger().0.iter().any(|r| r.starts_with("local_gone/")));
    assert_exit(&cmd(&tree, &db, &["prune", "--orphans", "--yes"]), 0);
    assert!(!db.ledger().0.iter().any(|r| r.starts_with("local_gone/")));
    assert_eq!(
        plan_keys(&tree, &db),
        plan,
        "P1: deleting orphans changed the plan"
    );
}

/// The reference: a clean, uninterrupted run of `tree` from the state of `db`.
fn clean_install(db: &Db, tree: &TempTree) -> (String, String, (Vec<String>, String)) {
    let reference = db.copy();
    apply_ok(tree, &reference, &[]);
    snapshot_of(&reference)
}

fn failing_steps_converge(db: Db) {
    // The tree before consolidation, whose steps are standalone files to break.
    let tree = before();
    let expected = clean_install(&db, &tree);
    // A syntax error after a statement that succeeded: nothing of the step stays.
    let file = "lib/db/upgrades/2008010100-message_tables.sql";
    let good = tree.read(file);
    tree.write(
        file,
        &good.replace("CREATE TABLE message_read", "CREAT TABLE message_read"),
    );
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("core/2008010100-message_tables") && err.contains(file),
        "{err}"
    );
    assert!(err.contains("syntax error"), "{err}");
    assert!(
        err.contains("the 23 step(s) before it in this run are committed"),
        "{err}"
    );
    assert!(
        !db.data().lines().any(|l| l.starts_with("message: ")),
        "the failed step left its first table behind"
    );
    assert_eq!(db.ledger().0.len(), 23);
    assert_exit(&cmd(&tree, &db, &["status"]), 2);
    tree.write(file, &good);
    // A constraint violation further on.
    let file = "theme/standard/db/upgrades/2008022000-navbar_defaults.sql";
    let good2 = tree.read(file);
    tree.write(file, &good2.replace("(102,", "(101,"));
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("theme_standard/2008022000-navbar_defaults") && err.contains(file),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains("unique") || err.contains("duplicate key"),
        "{err}"
    );
    tree.write(file, &good2);
    apply_ok(&tree, &db, &[]);
    assert_eq!(snapshot_of(&db), expected);
}

/// A `transaction: no` step that fails midway leaves its first statement and
/// a mark: `status` and `apply` stop on it until the operator has repaired the
/// site and says so with `--retry-interrupted`; the result is a clean run's.
fn interrupted_step_needs_a_check(db: Db) {
    let tree = before();
    let expected = clean_install(&db, &tree);
    let file = "mod/forum/db/upgrades/2008021400-posts_created_ix.sql";
    let good = tree.read(file);
    tree.write(
        file,
        &format!("{good}INSERT INTO no_such_table VALUES (1);\n"),
    );
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("--retry-interrupted"),
        "{}",
        stderr(&out)
    );
    tree.write(file, &good);

    let out = cmd(&tree, &db, &["status"]);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("interrupted: mod_forum/2008021400-posts_created_ix"),
        "{}",
        stdout(&out)
    );
    let rows_before = db.ledger().0.len();
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("interrupted midway"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(file), "{}", stderr(&out));
    assert_eq!(
        db.ledger().0.len(),
        rows_before,
        "apply ran steps past the mark"
    );

    // The operator undoes the partial step, then lets apply run it again.
    // (PostgreSQL ran the whole script in its implicit transaction: nothing to undo there.)
    db.exec("DROP INDEX IF EXISTS forum_posts_created_ix");
    apply_ok(
        &tree,
        &db,
        &[
            "--retry-interrupted",
            "--reason",
            "index dropped",
            "--by",
            "bob",
        ],
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
    assert_eq!(
        strings(
            &db,
            "SELECT action || ' ' || step_key || ' ' || actor || ': ' || reason FROM upgrade_audit"
        ),
        ["retried mod_forum/2008021400-posts_created_ix bob: index dropped"]
    );
    assert_eq!(snapshot_of(&db), expected);
}

fn spawn_apply(tree: &TempTree, db: &Db, env: &[(&str, &str)]) -> std::process::Child {
    let mut command = Command::new(bin());
    command
        .args(["apply", "--db", &db.arg()])
        .current_dir(tree.path())
        .env("LC_ALL", "C")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    command.spawn().expect("spawn apply")
}

/// Waits until the child prints its pause line; returns what it printed.
fn wait_for_pause(child: &mut std::process::Child) -> String {
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("line");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("paused after") {
            return seen;
        }
    }
    panic!("apply ended without pausing: {seen}");
}

fn killed_apply_converges(db: Db) {
    let tree = after();
    let expected = clean_install(&db, &tree);
    let mut child = spawn_apply(&tree, &db, &[("CONSOLIDATE_PAUSE_AFTER_STEPS", "17")]);
    wait_for_pause(&mut child);
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(!status.success());
    db.wait_unlocked();
    assert_eq!(
        db.ledger().0.len(),
        17,
        "17 steps were committed before the kill"
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 2);
    // An exit right after a commit, then a second interruption further on.
    let out = tree.run_env(
        &["apply", "--db", &db.arg()],
        &[("CONSOLIDATE_FAULT_AFTER_STEPS", "5")],
    );
    assert_exit(&out, 86);
    db.wait_unlocked();
    apply_ok(&tree, &db, &[]);
    assert_eq!(snapshot_of(&db), expected);
}

fn concurrent_apply_is_refused(db: Db) {
    let tree = after();
    let mut child = spawn_apply(&tree, &db, &[("CONSOLIDATE_PAUSE_AFTER_STEPS", "3")]);
    wait_for_pause(&mut child);
    let out = cmd(&tree, &db, &["apply"]);
    let status = cmd(&tree, &db, &["status"]);
    let _ = child.kill();
    let _ = child.wait();
    db.wait_unlocked();
    assert_exit(&out, 1);
    let err = stderr(&out);
    match db {
        Db::Sqlite { .. } => {
            // The lock file names the holder; readers are not locked out.
            assert!(
                err.contains("is locked: another `consolidate apply`")
                    && err.contains(&format!("(pid {} `", child.id()))
                    && err.contains(".db.lock)"),
                "{err}"
            );
            // `status` reads, and names the apply that holds the lock.
            assert_exit(&status, 1);
            assert!(
                stderr(&status).contains(&format!("an apply is running (pid {})", child.id())),
                "{}",
                stderr(&status)
            );
            assert!(
                !stdout(&status).contains("interrupted"),
                "{}",
                stdout(&status)
            );
        }
        Db::Postgres { .. } => {
            // The server names the session that holds the lock.
            assert!(
                err.contains("is locked: another `consolidate apply`")
                    && err.contains("server session pid"),
                "{err}"
            );
            assert_exit(&status, 1);
            assert!(
                stderr(&status).contains("an apply is running (pid"),
                "{}",
                stderr(&status)
            );
            assert!(
                !stdout(&status).contains("interrupted"),
                "{}",
                stdout(&status)
            );
        }
    }
    assert_eq!(db.ledger().0.len(), 3, "the refused run changed nothing");
    apply_ok(&tree, &db, &[]);
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
}

// ---------------------------------------------------------------- SQLite

#[test]
fn sqlite_fresh_install() {
    fresh_install(Db::sqlite());
}

#[test]
fn sqlite_backported_step_is_not_rerun_and_its_row_is_pruned() {
    backported_step(Db::sqlite());
}

#[test]
fn sqlite_consolidation_is_invisible_c1() {
    consolidation_is_invisible(Db::sqlite());
}

#[test]
fn sqlite_pruning_is_invisible_p1() {
    pruning_is_invisible(Db::sqlite());
}

#[test]
fn sqlite_failing_steps_leave_nothing_and_rerun_converges() {
    failing_steps_converge(Db::sqlite());
}

#[test]
fn sqlite_killed_apply_resumes_to_the_same_state() {
    killed_apply_converges(Db::sqlite());
}

#[test]
fn sqlite_second_apply_is_refused_while_one_runs() {
    concurrent_apply_is_refused(Db::sqlite());
}

#[test]
fn sqlite_noop_steps_are_recorded_and_listed() {
    let db = Db::sqlite();
    let tree = after();
    tree.write(
        "lib/db/upgrades/2008030200-pg_stats.postgres.sql",
        "ANALYZE;\n",
    );
    let plan = cmd(&tree, &db, &["plan"]);
    assert_exit(&plan, 0);
    assert!(
        stdout(&plan).contains("core/2008030200-pg_stats")
            && stdout(&plan).contains("(no-op on sqlite)"),
        "{}",
        stdout(&plan)
    );
    let json = cmd(&tree, &db, &["plan", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("json");
    let step = doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == "2008030200-pg_stats")
        .expect("listed");
    assert_eq!(step["noop"], true);
    let out = apply_ok(&tree, &db, &[]);
    assert!(
        out.contains("core/2008030200-pg_stats no-op on sqlite, recorded"),
        "{out}"
    );
    assert!(
        db.ledger()
            .0
            .iter()
            .any(|r| r.starts_with("core/2008030200-pg_stats"))
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
}

#[test]
fn sqlite_phase_and_to_select_steps() {
    let db = Db::sqlite();
    let tree = after();
    let out = apply_ok(&tree, &db, &["--phase", "pre"]);
    assert!(
        out.contains("[1/1] core/2008010800-lock_table applied"),
        "{out}"
    );
    assert!(out.contains("41 step(s) still pending"), "{out}");
    let out = apply_ok(&tree, &db, &["--to", "2007100900-users_email_ix"]);
    assert!(
        out.contains("[14/14] core/2007100900-users_email_ix applied"),
        "{out}"
    );
    let out = apply_ok(&tree, &db, &["--to", "2007100900-users_email_ix"]);
    assert!(out.contains("nothing to apply in this selection"), "{out}");
    let out = cmd(&tree, &db, &["apply", "--to", "2008022000-navbar_defaults"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("ambiguous")
            && stderr(&out).contains("theme_standard/2008022000-navbar_defaults"),
        "{}",
        stderr(&out)
    );
    let out = cmd(
        &tree,
        &db,
        &[
            "apply",
            "--phase",
            "pre",
            "--to",
            "core/2008021700-webdavlocks",
        ],
    );
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("is a main step"), "{}", stderr(&out));
    let out = cmd(&tree, &db, &["apply", "--phase", "later"]);
    assert_exit(&out, 64);
}

#[test]
fn sqlite_refusals_name_what_to_do() {
    let tree = after();
    // Older than upgrade_from: add an older release to the history.
    let old = after();
    let manifest = old.read("upgrade.toml").replacen(
        "[[release]]",
        "[[release]]\nname = \"MOODLE_18_STABLE\"\nversion = \"2007021500.00\"\n\n[[release]]",
        1,
    );
    old.write("upgrade.toml", &manifest);
    old.write(
        "releases/MOODLE_18_STABLE.toml",
        "release = \"MOODLE_18_STABLE\"\nversion = \"2007021500.00\"\n",
    );
    let db = Db::sqlite();
    apply_ok(&tree, &db, &["--phase", "pre"]);
    db.exec("UPDATE upgrade_site SET completed_release = 'MOODLE_18_STABLE'");
    for args in [&["status"][..], &["plan"], &["apply"]] {
        let out = cmd(&old, &db, args);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains("older than MOODLE_19_STABLE")
                && err.contains("upgrade the site to MOODLE_19_STABLE first"),
            "{args:?}: {err}"
        );
    }
    // A release this code does not know, and a newer version: downgrades.
    db.exec("UPDATE upgrade_site SET completed_release = 'MOODLE_21_STABLE'");
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("MOODLE_21_STABLE, which is not in this code's release history"),
        "{}",
        stderr(&out)
    );
    let status = cmd(&tree, &db, &["status", "--json"]);
    assert_exit(&status, 1);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&status)).expect("json");
    assert_eq!(doc["state"], "refused");
    db.exec(
        "UPDATE upgrade_site SET completed_release = 'MOODLE_19_STABLE', version = '2009010100.00'",
    );
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("downgrade"), "{}", stderr(&out));
    // A fresh site with rows of an interrupted install is fine.
    db.exec("UPDATE upgrade_site SET completed_release = NULL, version = NULL");
    apply_ok(&tree, &db, &[]);
}

#[test]
fn sqlite_drift_stops_apply_unless_accepted() {
    let db = Db::sqlite();
    let tree = before();
    apply_ok(&tree, &db, &["--to", "core/2008010101-message_indexes"]);
    let file = "lib/db/upgrades/2007112000-event_table.sql";
    let text = tree.read(file);
    tree.write(
        file,
        &text.replace(
            "CREATE INDEX event_userid_ix",
            "-- edited after release\nCREATE INDEX event_userid_ix",
        ),
    );
    let status = cmd(&tree, &db, &["status"]);
    assert_exit(&status, 1);
    assert!(
        stdout(&status).contains("drift:    core/2007112000-event_table"),
        "{}",
        stdout(&status)
    );
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("core/2007112000-event_table")
            && stderr(&out).contains("--accept-drift"),
        "{}",
        stderr(&out)
    );
    let out = apply_ok(&tree, &db, &["--accept-drift"]);
    assert!(out.contains("accepted drift"), "{out}");
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
}

#[test]
fn sqlite_bad_addresses_and_files_give_one_clear_message() {
    let tree = after();
    let out = tree.run(&["status", "--db", "mysql://root@localhost/moodle"]);
    assert_exit(&out, 64);
    assert!(
        stderr(&out).contains("`mysql://` is not a supported database"),
        "{}",
        stderr(&out)
    );
    let out = tree.run(&["apply", "--db", "postgres://nobody:secret@127.0.0.1:1/site"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("cannot open the site database postgres://nobody:***@127.0.0.1:1/site"),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
    let missing = tree.path().join("no/such/folder/site.db");
    let missing = missing.to_str().expect("utf-8");
    // A folder that does not exist is a typo, not a fresh site.
    for command in ["status", "apply"] {
        let out = tree.run(&[command, "--db", missing]);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("no/such/folder of the site database")
                && stderr(&out).contains("does not exist")
                && stderr(&out).contains("mkdir -p"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!tree.path().join("no").exists());
    let not_db = tree.path().join("upgrade.toml");
    let out = tree.run(&["status", "--db", not_db.to_str().expect("utf-8")]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("not a database"), "{}", stderr(&out));
}

#[test]
fn sqlite_read_only_file_is_refused_clearly() {
    use std::os::unix::fs::PermissionsExt as _;
    // The unconsolidated tree: its files are readable by every user.
    let tree = before();
    let db = Db::sqlite();
    apply_ok(&tree, &db, &["--phase", "pre"]);
    let before = db.ledger();
    let path = PathBuf::from(db.arg());
    let folder = path.parent().expect("folder").to_path_buf();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    std::fs::set_permissions(tree.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = apply_unprivileged(&tree, &db);
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("is not writable: SQLite keeps its journal next to the database"),
        "{err}"
    );
    assert!(!err.contains("fix the step"), "{err}");
    assert_eq!(db.ledger(), before);
}

// ---------------------------------------------------------------- PostgreSQL

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_fresh_install() {
    fresh_install(Db::postgres("fresh"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_backported_step_is_not_rerun_and_its_row_is_pruned() {
    backported_step(Db::postgres("backport"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_consolidation_is_invisible_c1() {
    consolidation_is_invisible(Db::postgres("c1"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_pruning_is_invisible_p1() {
    pruning_is_invisible(Db::postgres("p1"));
}

#[test]
fn sqlite_interrupted_step_outside_a_transaction_needs_a_check() {
    interrupted_step_needs_a_check(Db::sqlite());
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_interrupted_step_outside_a_transaction_needs_a_check() {
    interrupted_step_needs_a_check(Db::postgres("interrupted"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_failing_steps_leave_nothing_and_rerun_converges() {
    failing_steps_converge(Db::postgres("failing"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_killed_apply_resumes_to_the_same_state() {
    killed_apply_converges(Db::postgres("killed"));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_second_apply_is_refused_while_one_runs() {
    concurrent_apply_is_refused(Db::postgres("concurrent"));
}

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://u@h:5/db", "x"),
        "postgres://u@h:5/x"
    );
    assert_eq!(
        with_database("postgres://u@h:5/db?sslmode=disable", "x"),
        "postgres://u@h:5/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
}
