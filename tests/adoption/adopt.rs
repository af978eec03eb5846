//! `adopt` of a database built by hand from the demo's released SQL, and
//! the project baseline.

use super::*;

const R: &str = "MOODLE_19_STABLE";

/// A database built by running the SQL released with MOODLE_19_STABLE by
/// hand, one step at a time (no ledger).
fn hand_built(tree: &TempTree, db: &Db) {
    let database = if matches!(db, Db::Sqlite { .. }) {
        "sqlite"
    } else {
        "postgres"
    };
    for sql in released_sql(tree, &[R], database) {
        db.exec(&sql);
    }
    assert!(has_table(db, "forum_posts") && !has_table(db, "upgrade_site"));
}

/// adopt at 19, then status and plan show exactly the steps newer than 19
/// (mod_wiki, added after 19, installed from its snapshot); a second adopt
/// and an unknown release are refused; apply then gives a fresh site's schema.
pub fn adopt_hand_built(new_db: &dyn Fn() -> Db) {
    let tree = demo(false);
    let unknown = new_db();
    hand_built(&tree, &unknown);
    let schema = structure(&unknown);
    let out = cmd(&tree, &unknown, &["adopt", "--release", "MOODLE_99_STABLE"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("MOODLE_99_STABLE: it is not in the release history of upgrade.toml"),
        "{}",
        stderr(&out)
    );
    assert_eq!(structure(&unknown), schema, "nothing written");

    let db = new_db();
    hand_built(&tree, &db);
    let out = cmd(&tree, &db, &["adopt", "--release", R]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(
            "at MOODLE_19_STABLE: release completed, 6 component(s) recorded as installed"
        ),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        components(&db),
        [
            "auth_ldap adopted MOODLE_19_STABLE",
            "block_navigation adopted MOODLE_19_STABLE",
            "core adopted MOODLE_19_STABLE",
            "mod_assign adopted MOODLE_19_STABLE",
            "mod_forum adopted MOODLE_19_STABLE",
            "theme_standard adopted MOODLE_19_STABLE",
        ]
    );
    let (rows, site) = db.ledger();
    assert!(rows.is_empty(), "{rows:?}");
    assert!(site.starts_with("MOODLE_19_STABLE "), "{site}");

    let status = cmd(&tree, &db, &["status"]);
    assert_exit(&status, 2);
    let newer: Vec<String> = listed(&tree, None)
        .into_iter()
        .filter(|k| !COVERED.contains(&k.as_str()))
        .collect();
    assert!(
        stdout(&status).contains(&format!("pending:  {} step(s)", newer.len())),
        "{}",
        stdout(&status)
    );
    let (installs, _, keys) = plan(&tree, &db);
    assert_eq!(installs, ["mod_wiki"]);
    let mut sorted = keys.clone();
    sorted.sort();
    let mut expected = newer.clone();
    expected.sort();
    assert_eq!(sorted, expected, "exactly the steps newer than {R}");
    assert!(keys.contains(&"mod_forum/2007120300-forum_backport_fix".to_string()));

    let again = cmd(&tree, &db, &["adopt", "--release", R]);
    assert_exit(&again, 1);
    assert!(
        stderr(&again).contains("already has a ledger (completed release MOODLE_19_STABLE)"),
        "{}",
        stderr(&again)
    );
    assert_eq!(components(&db).len(), 6);

    let out = apply_ok(&tree, &db);
    assert!(
        out.contains(&format!("applied {} step(s)", newer.len())),
        "{out}"
    );
    let fresh = new_db();
    apply_ok(&tree, &fresh);
    assert_eq!(structure(&db), structure(&fresh));
    assert_eq!(db.data(), fresh.data());
}

/// `--check-schema` passes on the right schema and, on a wrong one, lists
/// the differences, exits 1 and writes nothing.
pub fn check_schema() {
    let tree = demo(false);
    let wrong = Db::sqlite();
    hand_built(&tree, &wrong);
    wrong.exec("DROP INDEX forum_posts_userid_ix; CREATE TABLE local_hack (id INTEGER);");
    let before = std::fs::read(wrong.arg()).expect("read");
    let out = cmd(&tree, &wrong, &["adopt", "--release", R, "--check-schema"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("the schema differs from a site built by this tree at MOODLE_19_STABLE"),
        "{err}"
    );
    assert!(
        err.contains(
            "only at MOODLE_19_STABLE: index forum_posts_userid_ix on forum_posts: (userid)"
        ),
        "{err}"
    );
    assert!(
        err.contains("only in the database:   table local_hack column id INTEGER"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(
        std::fs::read(wrong.arg()).expect("read"),
        before,
        "nothing written"
    );

    let right = Db::sqlite();
    hand_built(&tree, &right);
    let out = cmd(&tree, &right, &["adopt", "--release", R, "--check-schema"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("schema check: the database matches a site at MOODLE_19_STABLE"),
        "{}",
        stdout(&out)
    );
    assert_eq!(components(&right).len(), 6);

    // A mistyped --db is not adopted as an empty site claiming 19.
    let missing = Db::sqlite();
    for extra in [None, Some("--check-schema")] {
        let mut args = vec!["adopt", "--release", R];
        args.extend(extra);
        let out = cmd(&tree, &missing, &args);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("does not exist: adopt gives a ledger to a database built by another upgrade system, it creates none"),
            "{}",
            stderr(&out)
        );
        assert!(!std::path::Path::new(&missing.arg()).exists(), "created");
    }
}

/// A plugin added after R whose steps all assume its snapshot (its first
/// step is gone: it starts from install.sql, as Moodle plugins do) is not in
/// an adopted database: adopt must not record it as installed, the next
/// apply installs it from its snapshot.
pub fn plugin_added_after_the_release(new_db: &dyn Fn() -> Db) {
    let tree = demo(false);
    std::fs::remove_file(
        tree.path()
            .join("mod/wiki/db/upgrades/2008021500-wiki_tables.sql"),
    )
    .expect("remove");
    tree.write(
        "mod/wiki/db/upgrades/2008030200-wiki_course_ix.sql",
        "CREATE INDEX wiki_course_ix ON wiki (course);\n",
    );
    let db = new_db();
    hand_built(&tree, &db);
    assert_exit(&cmd(&tree, &db, &["adopt", "--release", R]), 0);
    assert!(!components(&db).iter().any(|c| c.starts_with("mod_wiki")));
    let (installs, covered, keys) = plan(&tree, &db);
    assert_eq!(installs, ["mod_wiki"]);
    assert_eq!(covered, [["mod_wiki/2008022500-wiki_pages_ix"]]);
    assert!(
        !keys
            .iter()
            .any(|k| k == "mod_wiki/2008022500-wiki_pages_ix")
    );
    let out = apply_ok(&tree, &db);
    assert!(
        out.contains("mod_wiki/2008030200-wiki_course_ix applied"),
        "{out}"
    );
    assert!(has_table(&db, "wiki_pages"));
}

/// `[baseline] release = "MOODLE_20_STABLE"` with its schema (the released
/// SQL of 19 and 20, plus a marker table): a fresh site starts from it and
/// runs only the step after it; a site at 19 is refused; a missing file is
/// a load error naming upgrade.toml.
pub fn baseline(new_db: &dyn Fn() -> Db) {
    let old = new_db();
    apply_ok(&TempTree::demo_steps_only(), &old);
    let tree = demo(true);
    let schemas = ["sqlite", "postgres"].map(|database| {
        let sql = released_sql(&tree, &[R, "MOODLE_20_STABLE"], database)
            .concat()
            .replace("CONCURRENTLY ", "");
        (
            database,
            format!("{sql}CREATE TABLE baseline_marker (id INTEGER);\n"),
        )
    });
    let manifest = tree.read("upgrade.toml") + "\n[baseline]\nrelease = \"MOODLE_20_STABLE\"\n";
    tree.write("upgrade.toml", &manifest);
    let status = tree.run(&["status", "--db", &new_db().arg()]);
    assert_exit(&status, 1);
    assert!(
        stderr(&status).contains("upgrade.toml: [baseline] names MOODLE_20_STABLE, but there is no releases/MOODLE_20_STABLE.baseline.sql"),
        "{}",
        stderr(&status)
    );
    for (database, sql) in schemas {
        tree.write(
            &format!("releases/MOODLE_20_STABLE.baseline.{database}.sql"),
            &sql,
        );
    }
    tree.write(
        "lib/db/upgrades/2008031000-after_baseline.sql",
        "INSERT INTO baseline_marker (id) VALUES (2);\n",
    );
    let db = new_db();
    let doc = json(&cmd(&tree, &db, &["plan", "--json"]));
    assert_eq!(doc["baseline"], "MOODLE_20_STABLE");
    assert_eq!(doc["installs"], serde_json::json!([]));
    assert_eq!(
        json_step_keys(&cmd(&tree, &db, &["plan", "--json"])),
        ["core/2008031000-after_baseline"]
    );
    let out = apply_ok(&tree, &db);
    assert!(
        out.contains("[baseline] started the site from releases/MOODLE_20_STABLE.baseline."),
        "{out}"
    );
    assert!(
        out.contains("applied 1 step(s)"),
        "only the step after the baseline: {out}"
    );
    assert_eq!(
        strings(&db, "SELECT CAST(id AS TEXT) FROM baseline_marker"),
        ["2"]
    );
    let (rows, site) = db.ledger();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].starts_with("core/2008031000-after_baseline "),
        "{rows:?}"
    );
    assert!(site.starts_with("MOODLE_20_STABLE "), "{site}");
    assert!(
        components(&db)
            .iter()
            .any(|c| c == "mod_wiki baseline MOODLE_20_STABLE"),
        "{:?}",
        components(&db)
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 0);

    let before = old.ledger();
    let refused = cmd(&tree, &old, &["apply"]);
    assert_exit(&refused, 1);
    assert!(
        stderr(&refused)
            .contains("completed MOODLE_19_STABLE, which is older than MOODLE_20_STABLE"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(old.ledger(), before);
    assert!(!has_table(&old, "baseline_marker"));
}

/// A project that starts from its baseline at 20 and retired mod_wiki's
/// steps up to it (only releases/MOODLE_20_STABLE.toml still names them;
/// its snapshot now covers a step after the baseline): a fresh site counts
/// mod_wiki as installed by the baseline and runs the new step, never the
/// snapshot on top of the tables the baseline made.
pub fn baseline_with_retired_steps(new_db: &dyn Fn() -> Db) {
    let tree = demo(true);
    for (database, sql) in ["sqlite", "postgres"].map(|database| {
        let sql = released_sql(&tree, &[R, "MOODLE_20_STABLE"], database)
            .concat()
            .replace("CONCURRENTLY ", "");
        (database, sql)
    }) {
        tree.write(
            &format!("releases/MOODLE_20_STABLE.baseline.{database}.sql"),
            &sql,
        );
    }
    let manifest = tree.read("upgrade.toml") + "\n[baseline]\nrelease = \"MOODLE_20_STABLE\"\n";
    tree.write("upgrade.toml", &manifest);
    std::fs::remove_file(tree.path().join("mod/wiki/db/upgrade.toml")).expect("retire");
    tree.write(
        "mod/wiki/db/upgrades/2008031100-wiki_summary.sql",
        "ALTER TABLE wiki ADD COLUMN summary TEXT;\n",
    );
    let snapshot = tree
        .read("mod/wiki/db/install.sql")
        .replace("2008022500-wiki_pages_ix", "2008031100-wiki_summary")
        .replace(
            "    timemodified BIGINT NOT NULL DEFAULT 0\n",
            "    timemodified BIGINT NOT NULL DEFAULT 0,\n    summary TEXT\n",
        );
    tree.write("mod/wiki/db/install.sql", &snapshot);
    let db = new_db();
    let (installs, _, keys) = plan(&tree, &db);
    assert!(
        installs.is_empty(),
        "the baseline made mod_wiki: {installs:?}"
    );
    assert_eq!(keys, ["mod_wiki/2008031100-wiki_summary"]);
    let out = apply_ok(&tree, &db);
    assert!(!out.contains("[install]"), "{out}");
    assert!(structure(&db).contains("summary"));
    assert!(
        components(&db)
            .iter()
            .any(|c| c == "mod_wiki baseline MOODLE_20_STABLE"),
        "{:?}",
        components(&db)
    );
}
