//! Batched post steps end to end: `post run` killed with SIGKILL at 200
//! random moments then resumed updates every row exactly once and leaves a
//! batch ledger without a duplicate or missing range; `done` flips from 2 to
//! 0 exactly when the last range commits; `status` exits 3 with only post
//! work left; pause / resume; a failing range is retried, then its step is
//! marked failed while another step goes on; a main step requiring an
//! unfinished post step stops `plan` and `apply`; `release` keeps the batch
//! declaration and the ranges of a half-done step. PostgreSQL variants run
//! with the `pg_tests` cfg (see tests/runner.rs). `plan`, `apply --to`,
//! old ledgers, `status` exit 3 and pause / resume:
//! tests/post_steps_loose_ends.rs.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{TempTree, assert_exit, bin, stderr, stdout};

/// `plan` and `apply --to` with batched steps, `done` / `status` on an old
/// ledger, `status` exit 3, pause / resume.
#[path = "post_steps_loose_ends.rs"]
mod loose_ends;

const MANIFEST: &str = "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"mod\", folder = \"mod\" },\n]\n";

const BACKFILL: &str = "core/2008010300-backfill";

/// A site: a tree and its database.
struct Site {
    tree: TempTree,
    url: String,
    _db_dir: Option<tempfile::TempDir>,
    pg: bool,
}

impl Site {
    /// A tree whose core creates `big` with `rows` rows (v = 0, `v <= 1`
    /// checked) and a batched post step adding 1 to `v` in ranges of `size`.
    fn new(rows: u32, size: u32, pg: bool) -> Site {
        let tree = TempTree::empty();
        tree.write("upgrade.toml", MANIFEST);
        let fill = if pg {
            format!("INSERT INTO big SELECT i, 0 FROM generate_series(1, {rows}) AS i;\n")
        } else {
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) INSERT INTO big SELECT i, 0 FROM n;\n"
            )
        };
        tree.write(
            "lib/db/upgrades/2008010100-core.sql",
            &format!(
                "CREATE TABLE big (id INTEGER PRIMARY KEY, v INT NOT NULL CHECK (v <= 1));\n{fill}"
            ),
        );
        tree.write(
            "lib/db/upgrades/2008010300-backfill.sql",
            &format!(
                "-- phase: post\n-- batch: big.id {size}\nUPDATE big SET v = v + 1 WHERE id BETWEEN :lo AND :hi;\n"
            ),
        );
        let (url, dir) = if pg {
            (pg_database(), None)
        } else {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("site.db").display().to_string();
            (path, Some(dir))
        };
        Site {
            tree,
            url,
            _db_dir: dir,
            pg,
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--db", self.url.as_str()]);
        self.tree.run(&all)
    }

    /// One integer from a query.
    fn int(&self, sql: &str) -> i64 {
        if self.pg {
            let mut client =
                postgres::Client::connect(&self.url, postgres::NoTls).expect("connect");
            client.query_one(sql, &[]).expect("query").get::<_, i64>(0)
        } else {
            let conn = rusqlite::Connection::open(&self.url).expect("open");
            conn.query_row(sql, [], |r| r.get(0)).expect("query")
        }
    }

    fn exec(&self, sql: &str) {
        if self.pg {
            let mut client =
                postgres::Client::connect(&self.url, postgres::NoTls).expect("connect");
            client.batch_execute(sql).expect("exec");
        } else {
            let conn = rusqlite::Connection::open(&self.url).expect("open");
            conn.execute_batch(sql).expect("exec");
        }
    }

    /// `(lo, hi)` of every committed range of the backfill, by lo.
    fn ranges(&self) -> Vec<(i64, i64)> {
        let sql = "SELECT lo, hi FROM upgrade_batches WHERE step_key = 'core/2008010300-backfill' ORDER BY lo";
        if self.pg {
            let mut client =
                postgres::Client::connect(&self.url, postgres::NoTls).expect("connect");
            client
                .query(sql, &[])
                .expect("query")
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect()
        } else {
            let conn = rusqlite::Connection::open(&self.url).expect("open");
            let mut stmt = conn.prepare(sql).expect("prepare");
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
        }
    }

    fn ledger_has(&self, step: &str) -> bool {
        self.int(&format!(
            "SELECT count(*) FROM upgrade_ledger WHERE step = '{step}'"
        )) == 1
    }
}

/// A new PostgreSQL database for a test (pg_tests only).
fn pg_database() -> String {
    let admin = std::env::var("CONSOLIDATE_TEST_POSTGRES_URL")
        .expect("CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)");
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "consolidate_post_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connect admin");
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create database");
    let (base, _) = admin.rsplit_once('/').expect("url with a database");
    format!("{base}/{name}")
}

/// A fixed-seed generator (xorshift), so that the kill moments repeat.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Every range committed exactly once: contiguous from min to max.
fn assert_ranges_cover(ranges: &[(i64, i64)], min: i64, max: i64, size: i64) {
    assert!(!ranges.is_empty());
    assert_eq!(ranges[0].0, min, "first range");
    assert_eq!(ranges[ranges.len() - 1].1, max, "last range");
    for pair in ranges.windows(2) {
        assert_eq!(pair[0].1 + 1, pair[1].0, "gap or overlap: {pair:?}");
    }
    for (lo, hi) in ranges {
        assert!(hi - lo < size, "range [{lo}, {hi}] larger than {size}");
    }
}

fn killed_post_runs_converge(site: Site) {
    const ROWS: i64 = 2000;
    const SIZE: i64 = 1;
    assert_exit(&site.run(&["apply"]), 0);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut kills = 0;
    let mut seen_partial = std::collections::BTreeSet::new();
    // The kill window adapts to the machine: each run should commit about
    // `target` ranges, so that 200 kills land in the middle of the work (about
    // half of it) however fast the database is. A run that did much more narrows the window, a
    // run killed before its first range widens it.
    let total = usize::try_from(ROWS / SIZE).expect("fits");
    let target = (total / 400).max(1);
    let mut window: u64 = if site.pg { 100_000 } else { 20_000 }; // microseconds
    let mut last = 0;
    while kills < 200 {
        let mut child = Command::new(bin())
            .args(["post", "run", "--db", &site.url])
            .current_dir(site.tree.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_micros(window / 2 + rng.below(window / 2)));
        let _ = child.kill();
        let _ = child.wait();
        kills += 1;
        let done = site.ranges().len();
        if done > 0 && done < total {
            seen_partial.insert(done);
        }
        let progress = done.saturating_sub(last);
        last = done;
        if done >= total {
            break;
        }
        if progress > target {
            window = (window * 7 / 8).max(1_000);
        } else if progress == 0 {
            window = (window + window / 8).min(2_000_000);
        }
    }
    eprintln!(
        "kill test: {kills} kills, {} partial states, {last} of {total} ranges done before the re-runs",
        seen_partial.len()
    );
    assert!(
        kills == 200 && seen_partial.len() >= 50,
        "the kills should land in the middle of the work: {kills} kills, {} partial states",
        seen_partial.len()
    );
    // Re-runs finish the work.
    for _ in 0..5 {
        if site.run(&["post", "run"]).status.success() && site.ledger_has("2008010300-backfill") {
            break;
        }
    }
    assert_eq!(site.int("SELECT count(*) FROM big WHERE v = 1"), ROWS);
    assert_eq!(site.int("SELECT count(*) FROM big"), ROWS);
    assert_ranges_cover(&site.ranges(), 1, ROWS, SIZE);
    assert_eq!(
        site.int("SELECT CAST(coalesce(sum(row_count), 0) AS BIGINT) FROM upgrade_batches"),
        ROWS
    );
    assert!(site.ledger_has("2008010300-backfill"));
    assert_exit(&site.run(&["done", BACKFILL]), 0);
    assert_exit(&site.run(&["status"]), 0);
}

#[test]
fn sqlite_post_run_killed_at_200_moments_updates_every_row_once() {
    killed_post_runs_converge(Site::new(2000, 1, false));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_post_run_killed_at_200_moments_updates_every_row_once() {
    killed_post_runs_converge(Site::new(2000, 1, true));
}

/// The last range fails (its row breaks the CHECK) and is retried, its step
/// is marked failed with the error kept while another batched step goes on;
/// `done` stays 2 with every range but the last committed, and flips to 0
/// when the last one commits.
fn failed_range_then_done_flips(site: Site) {
    site.tree.write(
        "lib/db/upgrades/2008010400-other.sql",
        "-- phase: post\n-- batch: big.id 300\nUPDATE big SET v = v WHERE id >= :lo AND id <= :hi;\n",
    );
    assert_exit(&site.run(&["done", BACKFILL]), 2);
    assert_exit(&site.run(&["apply"]), 0);
    site.exec("UPDATE big SET v = 1 WHERE id = 100;");
    let out = site.run(&["post", "run"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("range [91, 100] attempt 1 failed"), "{err}");
    assert!(err.contains("range [91, 100] attempt 2 failed"), "{err}");
    assert!(err.contains("core/2008010300-backfill (lib/db/upgrades/2008010300-backfill.sql): FAILED: range [91, 100] failed 3 time(s)"), "{err}");
    assert!(
        err.contains("consolidate post resume core/2008010300-backfill"),
        "{err}"
    );
    // The other step went on and is applied.
    assert!(
        stdout(&out).contains("core/2008010400-other: done"),
        "{}",
        stdout(&out)
    );
    assert!(site.ledger_has("2008010400-other"));
    assert_eq!(site.ranges().len(), 9);
    assert!(!site.ledger_has("2008010300-backfill"));
    let state = site.run(&["post", "status"]);
    assert!(
        stdout(&state).contains("core/2008010300-backfill failed, 9/10 ranges, 90 rows"),
        "{}",
        stdout(&state)
    );
    assert!(
        stdout(&state).contains("CHECK constraint failed")
            || stdout(&state).contains("check constraint"),
        "{}",
        stdout(&state)
    );
    let out = site.run(&["done", BACKFILL]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("not yet: failed, 9/10 ranges"),
        "{}",
        stderr(&out)
    );
    // A failed step stays failed until resumed.
    assert_exit(&site.run(&["post", "run"]), 1);
    assert_eq!(site.ranges().len(), 9);
    site.exec("UPDATE big SET v = 0 WHERE id = 100;");
    assert_exit(&site.run(&["post", "resume", BACKFILL]), 0);
    assert_exit(&site.run(&["done", BACKFILL]), 2);
    let out = site.run(&["post", "run"]);
    assert_exit(&out, 0);
    assert_exit(&site.run(&["done", BACKFILL]), 0);
    assert_eq!(site.int("SELECT count(*) FROM big WHERE v = 1"), 100);
    assert_ranges_cover(&site.ranges(), 1, 100, 10);
    assert_exit(&site.run(&["status"]), 0);
}

#[test]
fn sqlite_failed_range_is_retried_then_marked_failed_and_done_flips_at_the_last_range() {
    failed_range_then_done_flips(Site::new(100, 10, false));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_failed_range_is_retried_then_marked_failed_and_done_flips_at_the_last_range() {
    failed_range_then_done_flips(Site::new(100, 10, true));
}

#[test]
fn sqlite_main_step_requiring_an_unfinished_post_step_stops_plan_and_apply() {
    let site = Site::new(50, 10, false);
    site.tree.write(
        "lib/db/upgrades/2008010500-after.sql",
        "-- requires: core/2008010300-backfill\nCREATE TABLE after_backfill (id INT);\n",
    );
    // The backfill waits for the core step: apply runs it and stops before the requiring step.
    let out = site.run(&["apply"]);
    assert_exit(&out, 0);
    assert_eq!(
        site.int("SELECT count(*) FROM sqlite_master WHERE name = 'after_backfill'"),
        0
    );
    for cmd in [&["plan"][..], &["apply"][..]] {
        let out = site.run(cmd);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(err.contains("step core/2008010500-after (lib/db/upgrades/2008010500-after.sql) requires core/2008010300-backfill, a batched post step that has not finished"), "{err}");
        assert!(err.contains("consolidate post run"), "{err}");
    }
    let out = site.run(&["status"]);
    assert!(stdout(&out).starts_with("BLOCKED:"), "{}", stdout(&out));
    assert_exit(&out, 2);
    assert_exit(&site.run(&["post", "run"]), 0);
    assert_exit(&site.run(&["apply"]), 0);
    assert_eq!(
        site.int("SELECT count(*) FROM sqlite_master WHERE name = 'after_backfill'"),
        1
    );
    assert_exit(&site.run(&["status"]), 0);
}

/// C1 with a half-done batched step: release folds it (batch line kept
/// byte for byte), the committed ranges remain and the rest run once.
#[test]
fn sqlite_release_keeps_the_batch_and_the_ranges_of_a_half_done_step() {
    let site = Site::new(100, 10, false);
    assert_exit(&site.run(&["apply"]), 0);
    site.exec("UPDATE big SET v = 1 WHERE id = 55;");
    assert_exit(&site.run(&["post", "run"]), 1);
    let half = site.ranges();
    assert_eq!(half.len(), 5);
    let out = site
        .tree
        .run(&["release", "MOODLE_20_STABLE", "--allow-dirty"]);
    assert_exit(&out, 0);
    let toml = site.tree.read("lib/db/upgrade.toml");
    assert!(
        toml.contains("phase = \"post\"\nbatch = \"big.id 10\"\n"),
        "{toml}"
    );
    assert!(
        !site
            .tree
            .path()
            .join("lib/db/upgrades/2008010300-backfill.sql")
            .exists()
    );
    assert_exit(&site.tree.run(&["check"]), 0);
    // The same step, the same ranges: nothing re-runs.
    assert_eq!(site.ranges(), half);
    let out = site.run(&["done", BACKFILL]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("5/10 ranges"), "{}", stderr(&out));
    site.exec("UPDATE big SET v = 0 WHERE id = 55;");
    assert_exit(&site.run(&["post", "resume", BACKFILL]), 0);
    let out = site.run(&["post", "run"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("completed release MOODLE_20_STABLE"),
        "{}",
        stdout(&out)
    );
    assert_eq!(site.int("SELECT count(*) FROM big WHERE v = 1"), 100);
    assert_ranges_cover(&site.ranges(), 1, 100, 10);
    assert_exit(&site.run(&["done", BACKFILL]), 0);
    assert_exit(&site.run(&["status"]), 0);
}

#[test]
fn batch_lines_are_checked_naming_the_line() {
    let tree = TempTree::empty();
    tree.write("upgrade.toml", MANIFEST);
    for (text, says) in [
        (
            "-- batch: big.id 10\nUPDATE big SET v = 1 WHERE id BETWEEN :lo AND :hi;\n",
            "lib/db/upgrades/2008010300-x.sql:1: `-- batch: big.id 10` is declared on a main step",
        ),
        (
            "-- phase: post\n-- batch: big.id 10\nUPDATE big SET v = ':lo' WHERE id <= :hi;\n",
            "lib/db/upgrades/2008010300-x.sql:2: `-- batch: big.id 10` but the SQL never uses `:lo`",
        ),
        (
            "-- phase: post\n-- batch: big.id; 10\nSELECT :lo, :hi;\n",
            "lib/db/upgrades/2008010300-x.sql:2: batch column `id;` is not a plain identifier",
        ),
        (
            "-- phase: post\n-- batch: big.id 0\nSELECT :lo, :hi;\n",
            "batch size `0` is not a positive integer",
        ),
    ] {
        tree.write("lib/db/upgrades/2008010300-x.sql", text);
        let out = tree.run(&["check"]);
        assert_exit(&out, 1);
        assert!(stderr(&out).contains(says), "{text}: {}", stderr(&out));
    }
}

#[test]
fn sqlite_empty_table_and_negative_keys() {
    let site = Site::new(10, 4, false);
    site.tree.write(
        "lib/db/upgrades/2008010200-more.sql",
        "CREATE TABLE empty_t (id INTEGER PRIMARY KEY, v INT);\nCREATE TABLE neg (id INTEGER PRIMARY KEY, v INT NOT NULL);\nINSERT INTO neg VALUES (-7, 0), (-6, 0), (-1, 0), (0, 0), (3, 0);\n",
    );
    site.tree.write(
        "lib/db/upgrades/2008010400-empty.sql",
        "-- phase: post\n-- batch: empty_t.id 3\nUPDATE empty_t SET v = 1 WHERE id BETWEEN :lo AND :hi;\n",
    );
    site.tree.write(
        "lib/db/upgrades/2008010500-neg.sql",
        "-- phase: post\n-- batch: neg.id 3\nUPDATE neg SET v = v + 1 WHERE id BETWEEN :lo AND :hi;\n",
    );
    assert_exit(&site.run(&["apply"]), 0);
    assert_exit(&site.run(&["post", "run"]), 0);
    assert_exit(&site.run(&["done", "core/2008010400-empty"]), 0);
    assert_exit(&site.run(&["done", "core/2008010500-neg"]), 0);
    assert_eq!(site.int("SELECT count(*) FROM neg WHERE v = 1"), 5);
    assert_eq!(
        site.int("SELECT count(*) FROM upgrade_batches WHERE step_key = 'core/2008010400-empty'"),
        0
    );
    // [-7,-5] [-4,-2] [-1,1] [2,3]
    assert_eq!(
        site.int("SELECT count(*) FROM upgrade_batches WHERE step_key = 'core/2008010500-neg'"),
        4
    );
    assert_eq!(
        site.int(
            "SELECT hi FROM upgrade_batches WHERE step_key = 'core/2008010500-neg' AND lo = 2"
        ),
        3
    );
    assert_exit(&site.run(&["status"]), 0);
}
