//! Pre steps may only add (issue 8, item 1), end to end: every command that
//! loads the tree refuses a standalone pre step that drops, renames, rewrites
//! or locks what the old code uses, naming file:line and the statement, and
//! `apply` then changes nothing; a released pre entry (never edited) is only
//! warned about. And the downtime demo fixture (item 9) loads, passes `check`
//! and applies on a fresh SQLite site.

use std::path::Path;

use upgrade_core::Checksum;
use upgrade_core::model::step::Body;

use crate::util::*;

const DROP_STEP: &str = "mod/forum/db/upgrades/2008040500-drop_seen.sql";

/// The tables of a SQLite database file (none when it does not exist).
fn tables(db: &Path) -> Vec<String> {
    if !db.exists() {
        return Vec::new();
    }
    let conn = rusqlite::Connection::open(db).expect("open");
    let mut st = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("prepare");
    st.query_map([], |r| r.get::<_, String>(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

fn query_one(db: &Path, sql: &str) -> String {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.query_row(sql, [], |r| {
        r.get::<_, rusqlite::types::Value>(0).map(|v| match v {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            rusqlite::types::Value::Null => "NULL".into(),
            other => format!("{other:?}"),
        })
    })
    .expect("query")
}

#[test]
fn a_destructive_pre_step_is_refused_by_every_command_and_apply_changes_nothing() {
    let tree = TempTree::copy_of("demo");
    // Line 4, after the header and a comment: the error names that line.
    tree.write(
        DROP_STEP,
        "-- phase: pre\n-- Tidies up before 2.0.\nCREATE TABLE forum_tmp (id INTEGER);\nDROP TABLE forum_read;\n",
    );
    let db = tree.path().join("site.db");
    let db_arg = db.to_str().expect("utf-8 path");
    for args in [
        vec!["check"],
        vec!["list"],
        vec!["status", "--db", db_arg],
        vec!["plan", "--db", db_arg],
        vec!["apply", "--db", db_arg],
        vec!["apply", "--phase", "pre", "--db", db_arg],
    ] {
        let out = tree.run(&args);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "{DROP_STEP}:4: `DROP TABLE forum_read` in a pre step: it drops what the old code uses"
            )),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("move the statement to a `main` step"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(tables(&db), Vec::<String>::new(), "apply ran nothing");
    // check --json gives file, line, message and hint.
    let out = tree.run(&["check", "--json"]);
    assert_exit(&out, 1);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let error = &doc["errors"][0];
    assert_eq!(error["file"], DROP_STEP);
    assert_eq!(error["line"], 4);
    // The same statement in a main step is fine, and so is an additive pre step.
    tree.write(
        DROP_STEP,
        "-- phase: main\nCREATE TABLE forum_tmp (id INTEGER);\nDROP TABLE forum_tmp;\n",
    );
    assert_exit(&tree.run(&["check"]), 0);
    tree.write(
        DROP_STEP,
        "-- phase: pre\nCREATE TABLE forum_tmp (id INTEGER);\nDROP TABLE forum_tmp;\n",
    );
    assert_exit(&tree.run(&["check"]), 0);
}

#[test]
fn a_backfill_in_a_pre_step_points_to_a_batched_post_step() {
    let tree = TempTree::copy_of("demo");
    tree.write(
        DROP_STEP,
        "-- phase: pre\nALTER TABLE forum ADD COLUMN format INTEGER;\nUPDATE forum\n   SET format = 1;\nCREATE INDEX forum_format_ix ON forum (format);\n",
    );
    let out = tree.run(&["check"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("the step tree has 2 problems"), "{err}");
    assert!(
        err.contains(&format!(
            "{DROP_STEP}:3: `UPDATE forum SET format = 1` in a pre step"
        )),
        "{err}"
    );
    assert!(
        err.contains("move the backfill to a `post` step with `-- batch: TABLE.COLUMN SIZE`"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{DROP_STEP}:5: `CREATE INDEX forum_format_ix ON forum (format)`"
        )),
        "{err}"
    );
    assert!(err.contains("CREATE INDEX CONCURRENTLY"), "{err}");
}

#[test]
fn a_released_pre_entry_that_is_not_additive_is_a_warning_not_an_error() {
    let tree = TempTree::empty();
    copy_dir(&workspace().join("tests/cases/check-ok/in"), tree.path());
    let old_sql =
        "-- Additive: safe while the old code runs.\nALTER TABLE forum ADD COLUMN intro TEXT;\n";
    let new_sql = "-- Released before pre steps were linted.\nALTER TABLE forum ADD COLUMN intro TEXT;\nUPDATE forum SET intro = '';\n";
    let old = Checksum::of(&Body::Any(old_sql.into())).to_string();
    let new = Checksum::of(&Body::Any(new_sql.into())).to_string();
    for file in [
        "mod/forum/db/upgrade.toml",
        "releases/MOODLE_20_STABLE.toml",
    ] {
        let text = tree.read(file);
        assert!(text.contains(&old), "{file}");
        tree.write(file, &text.replace(&old, &new).replace(old_sql, new_sql));
    }
    let out = tree.run(&["check"]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    let toml = tree.read("mod/forum/db/upgrade.toml");
    let line = toml
        .lines()
        .position(|l| l == "UPDATE forum SET intro = '';")
        .expect("entry line")
        + 1;
    assert!(
        err.contains(&format!(
            "warning: mod/forum/db/upgrade.toml: line {line}: `UPDATE forum SET intro = ''` (line 3 of the `sql` of step 2007120100-forum_intro) in a pre step"
        )),
        "{err}"
    );
    assert!(
        err.contains("released entry, which is never edited"),
        "{err}"
    );
    let out = tree.run(&["check", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["warnings"][0]["path"], "mod/forum/db/upgrade.toml");
}

#[test]
fn the_downtime_fixture_loads_passes_check_and_applies_on_sqlite() {
    let tree = TempTree::copy_of("downtime");
    let out = tree.run(&["check"]);
    assert_exit(&out, 0);
    let out = tree.run(&["list", "--json"]);
    assert_exit(&out, 0);
    let keys = json_step_keys(&out);
    assert_eq!(keys.len(), 9, "{keys:?}");
    let db = tree.path().join("site.db");
    let db_arg = db.to_str().expect("utf-8 path");
    let out = tree.run(&["apply", "--db", db_arg]);
    assert_exit(&out, 0);
    // Every step ran, in plan order: pre steps saw no maintenance (the whole
    // `seen` check of maintenance scopes belongs to the staged-apply tests).
    assert_eq!(
        query_one(
            &db,
            "SELECT count(*) FROM seen WHERE step LIKE '% pre' AND scope = '(none)'"
        ),
        "2"
    );
    assert_eq!(
        query_one(
            &db,
            "SELECT count(DISTINCT step) FROM seen WHERE step LIKE '% main'"
        ),
        "4"
    );
    assert_eq!(query_one(&db, "SELECT count(*) FROM event_log"), "100000");
    assert_eq!(
        query_one(
            &db,
            "SELECT count(*) FROM sqlite_master WHERE name = 'event_log_userid_ix'"
        ),
        "1"
    );
    assert_eq!(
        query_one(&db, "SELECT count(*) FROM forum_posts WHERE format = 1"),
        "2",
        "the post step without a batch runs in apply"
    );
    let backfilled = query_one(&db, "SELECT count(*) FROM event_log WHERE format = 1");
    // The batched post step is left to `consolidate post run`, online.
    assert_eq!(backfilled, "0");
    assert_exit(&tree.run(&["status", "--db", db_arg]), 3);
    assert_exit(&tree.run(&["post", "run", "--db", db_arg]), 0);
    assert_eq!(
        query_one(&db, "SELECT count(*) FROM event_log WHERE format = 1"),
        "100000"
    );
    assert_exit(&tree.run(&["status", "--db", db_arg]), 0);
}
