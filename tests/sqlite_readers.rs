//! Reading a SQLite site while `apply` runs (issue 8): the upgrade lock is a
//! file lock on `<db>.lock` and the database is in WAL mode, so the
//! application's per-request maintenance query returns the committed state —
//! the scope of the component being upgraded — during a slow step, instead of
//! waiting for the whole apply; a second `apply` is refused at once, naming
//! the holder.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// The query docs/ledger.md gives the application, for one component.
const PER_REQUEST: &str =
    "SELECT scope, state FROM upgrade_maintenance WHERE scope IN ('*', ?1) LIMIT 1";

/// Core with a fast main step; mod_forum (safe to disable, so its own scope)
/// with a main step that computes for several seconds in its transaction.
fn tree() -> TempTree {
    let t = TempTree::empty();
    t.write(
        "upgrade.toml",
        "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\nstrategy = \"staged\"\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"mod\", folder = \"mod\" },\n]\n",
    );
    t.write(
        "lib/db/upgrades/2008010100-core.sql",
        "CREATE TABLE core_t (id INTEGER PRIMARY KEY);\n",
    );
    t.write("mod/forum/db/component.toml", "safe_to_disable = true\n");
    t.write(
        "mod/forum/db/upgrades/2008010200-forum.sql",
        "CREATE TABLE forum_t AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 12000000) SELECT count(*) AS n FROM c;\n",
    );
    t
}

#[test]
fn sqlite_readers_see_the_running_scope_while_apply_runs() {
    let t = tree();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("site.db");
    let db_arg = db.display().to_string();
    let mut child = Command::new(bin())
        .args(["apply", "--db", &db_arg])
        .current_dir(t.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn apply");
    // The application: a connection with a bounded wait, shorter than the step.
    let deadline = Instant::now() + Duration::from_secs(60);
    let seen = loop {
        assert!(
            Instant::now() < deadline,
            "mod_forum never went into maintenance"
        );
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("apply ended ({status}) before a reader saw mod_forum in maintenance");
        }
        let Ok(conn) =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        conn.busy_timeout(Duration::from_secs(2)).expect("timeout");
        let started = Instant::now();
        let row = conn.query_row(PER_REQUEST, ["mod_forum"], |r| {
            Ok(format!(
                "{}|{}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?
            ))
        });
        match row {
            Ok(row) if row.starts_with("mod_forum|") => break row,
            Ok(_) | Err(rusqlite::Error::QueryReturnedNoRows) => {}
            // No ledger tables yet.
            Err(e) if e.to_string().contains("no such table") => {}
            Err(e) => panic!(
                "the application's read failed after {:?} while apply runs: {e}",
                started.elapsed()
            ),
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(seen, "mod_forum|maintenance");
    // Still inside the slow step: the read did not wait for the apply.
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the read only returned after the apply ended"
    );
    let started = Instant::now();
    let second = t.run(&["apply", "--db", &db_arg]);
    let refused_in = started.elapsed();
    let status = t.run(&["status", "--db", &db_arg]);
    let still_running = child.try_wait().expect("try_wait").is_none();
    let first = child.wait().expect("wait");
    assert!(
        still_running,
        "the apply ended before the second one was tried"
    );
    assert_exit(&second, 1);
    let err = stderr(&second);
    assert!(
        err.contains("is locked: another `consolidate apply`")
            && err.contains(&format!("(pid {} `consolidate apply --db", child.id()))
            && err.contains("site.db.lock)"),
        "{err}"
    );
    assert!(
        refused_in < Duration::from_secs(1),
        "refused at once: {refused_in:?}"
    );
    // `status` reads the committed state and names the running apply.
    assert_exit(&status, 1);
    assert!(stdout(&status).contains("mod_forum"), "{}", stdout(&status));
    assert!(
        stderr(&status).contains(&format!("an apply is running (pid {})", child.id())),
        "{}",
        stderr(&status)
    );
    assert!(first.success(), "the first apply completed");
    let conn = rusqlite::Connection::open(&db).expect("open");
    let left: i64 = conn
        .query_row("SELECT count(*) FROM upgrade_maintenance", [], |r| r.get(0))
        .expect("count");
    assert_eq!(left, 0, "all online after");
    let n: i64 = conn
        .query_row("SELECT n FROM forum_t", [], |r| r.get(0))
        .expect("the slow step ran");
    assert_eq!(n, 12_000_000);
}

/// `status` by a user who cannot write the database's folder: WAL mode needs
/// the `-shm` file there, so the idle database is read as immutable.
#[test]
fn sqlite_status_reads_a_wal_database_in_a_read_only_folder() {
    use std::os::unix::fs::PermissionsExt as _;
    let t = TempTree::empty();
    t.write(
        "upgrade.toml",
        "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"mod\", folder = \"mod\" },\n]\n",
    );
    t.write(
        "lib/db/upgrades/2008010100-core.sql",
        "CREATE TABLE core_t (id INTEGER PRIMARY KEY);\n",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("site.db");
    let db_arg = db.display().to_string();
    assert_exit(&t.run(&["apply", "--db", &db_arg]), 0);
    let mode: String = rusqlite::Connection::open(&db)
        .expect("open")
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    let mut command = unprivileged_command();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).expect("chmod");
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = command
        .args(["status", "--db", &db_arg])
        .current_dir(t.path())
        .output()
        .expect("run");
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("up to date"), "{}", stdout(&out));
    assert!(
        !left
            .iter()
            .any(|f| f.ends_with("-shm") || f.ends_with("-wal")),
        "{left:?}"
    );
}
