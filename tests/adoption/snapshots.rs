//! Fresh sites installed from snapshots, and a plugin added to an upgraded
//! site: the covered steps never run, the schema is the step-by-step one.

use super::*;

/// A fresh site of the demo (released 20 or not) installs core, mod_forum
/// and mod_wiki from their snapshots, never runs a covered step, and ends
/// with the schema, data and ledger of a site upgraded step by step.
pub fn fresh_site(new_db: &dyn Fn() -> Db, release_20: bool) {
    let tree = demo(release_20);
    let steps_tree = demo_without_snapshots(release_20);
    let db = new_db();
    let (installs, covered, keys) = plan(&tree, &db);
    assert_eq!(installs, ["core", "mod_forum", "mod_wiki"]);
    let mut all_covered: Vec<String> = covered.concat();
    all_covered.sort();
    assert_eq!(all_covered, COVERED, "the steps each snapshot covers");
    let (none, _, step_by_step) = plan(&steps_tree, &db);
    assert!(none.is_empty(), "{none:?}");
    let expected: Vec<&String> = step_by_step
        .iter()
        .filter(|k| !COVERED.contains(&k.as_str()))
        .collect();
    assert_eq!(
        keys.iter().collect::<Vec<_>>(),
        expected,
        "the plan is the step-by-step one without the covered steps"
    );
    assert_eq!(keys.len(), 32);

    let out = apply_ok(&tree, &db);
    for c in ["core", "mod_forum", "mod_wiki"] {
        assert!(
            out.contains(&format!("[install] {c} installed from")),
            "{out}"
        );
    }
    for key in COVERED {
        assert!(!out.contains(key), "{key} ran: {out}");
    }
    assert!(out.contains("applied 32 step(s)"), "{out}");
    let recorded = components(&db);
    for expected in [
        "core snapshot 2007100900-users_email_ix",
        "mod_forum snapshot 2007092000-forum_posts_index",
        "mod_wiki snapshot 2008022500-wiki_pages_ix",
        "mod_assign steps -",
        "theme_standard steps -",
    ] {
        assert!(
            recorded.iter().any(|r| r == expected),
            "{expected}: {recorded:?}"
        );
    }
    assert_eq!(recorded.len(), 10, "{recorded:?}");
    assert_exit(&cmd(&tree, &db, &["status"]), 0);

    let other = new_db();
    apply_ok(&steps_tree, &other);
    let schema = structure(&db);
    assert!(
        schema.contains("wiki_pages") && schema.contains("timemodified"),
        "the dump must see the schema: {schema}"
    );
    assert_eq!(
        schema,
        structure(&other),
        "install path and step by step differ"
    );
    assert_eq!(db.data(), other.data(), "the snapshots' rows differ");
    assert_eq!(db.ledger(), other.ledger(), "the ledgers differ");
}

/// A site upgraded without mod_wiki gains it: the next apply installs it
/// from its snapshot; its covered steps (which would leave a marker) never
/// run, a step after them does.
pub fn plugin_added_later(new_db: &dyn Fn() -> Db) {
    let tree = TempTree::demo_steps_only();
    let db = new_db();
    apply_ok(&tree, &db);
    assert!(!has_table(&db, "wiki"));
    assert!(!components(&db).iter().any(|c| c.starts_with("mod_wiki")));

    copy_dir(&fixture("demo/mod/wiki"), &tree.path().join("mod/wiki"));
    let marker = "\nINSERT INTO config (id, name, value) VALUES (901, 'wiki_step_ran', 'STEP');\n";
    for step in ["2008021500-wiki_tables", "2008022500-wiki_pages_ix"] {
        let rel = format!("mod/wiki/db/upgrades/{step}.sql");
        let text = tree.read(&rel) + &marker.replace("STEP", step);
        tree.write(&rel, &text);
    }
    tree.write(
        "mod/wiki/db/upgrades/2008030200-wiki_welcome.sql",
        "INSERT INTO wiki (id, course, name, timemodified) VALUES (1, 2, 'Course wiki', 1204000000);\n",
    );

    let status = cmd(&tree, &db, &["status"]);
    assert_exit(&status, 2);
    assert!(
        stdout(&status).contains("install:  mod_wiki from mod/wiki/db/install.sql (covers 2 step(s) up to 2008022500-wiki_pages_ix, which do not run)"),
        "{}",
        stdout(&status)
    );
    let (installs, covered, keys) = plan(&tree, &db);
    assert_eq!(installs, ["mod_wiki"]);
    assert_eq!(covered, [COVERED[10..].to_vec()]);
    assert_eq!(keys, ["mod_wiki/2008030200-wiki_welcome"]);

    let out = apply_ok(&tree, &db);
    assert!(
        out.contains("[install] mod_wiki installed from mod/wiki/db/install.sql"),
        "{out}"
    );
    assert!(out.contains("applied 1 step(s)"), "{out}");
    let ran = strings(&db, "SELECT value FROM config WHERE name = 'wiki_step_ran'");
    assert!(ran.is_empty(), "covered steps ran: {ran:?}");
    assert_eq!(
        strings(&db, "SELECT name FROM wiki"),
        ["Course wiki"],
        "the step after the snapshot ran on its tables"
    );
    assert!(
        components(&db)
            .iter()
            .any(|c| c == "mod_wiki snapshot 2008022500-wiki_pages_ix"),
        "{:?}",
        components(&db)
    );
    let rows = db.ledger().0;
    for key in [
        "mod_wiki/2008021500-wiki_tables",
        "mod_wiki/2008022500-wiki_pages_ix",
        "mod_wiki/2008030200-wiki_welcome",
    ] {
        assert!(
            rows.iter().any(|r| r.starts_with(&format!("{key} "))),
            "{key} is not recorded: {rows:?}"
        );
    }
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
    assert!(
        stdout(&cmd(&tree, &db, &["apply"])).contains("nothing to apply"),
        "a second apply installs nothing"
    );
}
