//! Failure paths: a snapshot whose SQL fails, snapshots refused at load, a
//! component removed from the tree.

use super::*;

const FORUM: &str = "mod/forum/db/install.sql";

/// mod_forum's snapshot fails half way: nothing of it stays (no table, no
/// ledger row, no component row), `*` is left failed, the message names
/// file:line; after the fix a re-run converges to a clean fresh site.
pub fn failing_snapshot(new_db: &dyn Fn() -> Db) {
    let tree = demo(false);
    let good = tree.read(FORUM);
    let anchor = "CREATE INDEX forum_course_ix ON forum (course);\n";
    let at = good.find(anchor).expect("anchor") + anchor.len();
    let bad = format!(
        "{}INSERT INTO no_such_table (id) VALUES (1);\n{}",
        &good[..at],
        &good[at..]
    );
    let line = good[..at].lines().count() + 1;
    tree.write(FORUM, &bad);
    let db = new_db();
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{FORUM}:{line}")),
        "names {FORUM}:{line}: {err}"
    );
    assert!(err.contains("mod_forum"), "{err}");
    assert!(
        !has_table(&db, "forum"),
        "the failed install left its tables"
    );
    assert!(has_table(&db, "users"), "core's install committed before");
    let recorded = components(&db);
    assert_eq!(recorded, ["core snapshot 2007100900-users_email_ix"]);
    let rows = db.ledger().0;
    assert!(
        !rows.iter().any(|r| r.starts_with("mod_forum/")),
        "{rows:?}"
    );
    assert_eq!(
        strings(&db, "SELECT scope || ' ' || state FROM upgrade_maintenance"),
        ["* failed"]
    );

    tree.write(FORUM, &good);
    let out = apply_ok(&tree, &db);
    assert!(out.contains("[install] mod_forum installed"), "{out}");
    assert!(
        !out.contains("[install] core"),
        "core is installed once: {out}"
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
    let fresh = new_db();
    apply_ok(&demo(false), &fresh);
    assert_eq!(structure(&db), structure(&fresh));
    assert_eq!(db.data(), fresh.data());
    assert_eq!(db.ledger(), fresh.ledger());
}

/// Snapshots the loader refuses, each naming its file: a covers of no step,
/// transaction control, a plain and a per-database file together.
pub fn bad_snapshots() {
    let forum = TempTree::copy_of("demo").read(FORUM);
    let cases: [(&str, &str, &str); 3] = [
        (
            FORUM,
            "-- covers: 2007092000-forum_posts_index",
            "-- covers: 2007092099-no_such_step",
        ),
        (
            FORUM,
            "CREATE INDEX forum_posts_userid_ix",
            "COMMIT;\nCREATE INDEX forum_posts_userid_ix",
        ),
        ("mod/forum/db/install.sqlite.sql", "", ""),
    ];
    for (file, from, to) in cases {
        let tree = demo(false);
        tree.write(file, &forum.replacen(from, to, 1));
        let db = Db::sqlite();
        let out = cmd(&tree, &db, &["status"]);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(err.contains(file), "{file}: {err}");
        match to {
            t if t.starts_with("COMMIT") => {
                let line = forum[..forum.find(from).expect("from")].lines().count() + 1;
                assert!(err.contains(&format!("{file}:{line}")), "{err}");
                assert!(err.contains("COMMIT"), "{err}");
            }
            t if t.contains("no_such_step") => {
                assert!(err.contains("2007092099-no_such_step"), "{err}")
            }
            _ => assert!(err.contains("not both"), "{err}"),
        }
        assert!(!std::path::Path::new(&db.arg()).exists(), "nothing created");
    }
}

/// mod_wiki leaves the tree of an installed site: status reports it,
/// `prune --orphans` lists it, `--yes` forgets it with its rows.
pub fn removed_component(new_db: &dyn Fn() -> Db) {
    let tree = demo(false);
    let db = new_db();
    apply_ok(&tree, &db);
    std::fs::remove_dir_all(tree.path().join("mod/wiki")).expect("remove mod_wiki");
    let doc = any_json(&cmd(&tree, &db, &["status", "--json"]));
    assert_eq!(doc["removed_components"], serde_json::json!(["mod_wiki"]));
    let out = cmd(&tree, &db, &["prune", "--orphans"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(
            "mod_wiki is installed on the site but no longer in the tree: --yes forgets it"
        ),
        "{}",
        stdout(&out)
    );
    assert!(components(&db).iter().any(|c| c.starts_with("mod_wiki ")));
    let out = cmd(&tree, &db, &["prune", "--orphans", "--yes"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("forgot mod_wiki: installed on the site, no longer in the tree"),
        "{}",
        stdout(&out)
    );
    assert!(!components(&db).iter().any(|c| c.starts_with("mod_wiki ")));
    assert!(!db.ledger().0.iter().any(|r| r.starts_with("mod_wiki/")));
    assert_eq!(components(&db).len(), 9);
    let doc = json(&cmd(&tree, &db, &["status", "--json"]));
    assert_eq!(doc["removed_components"], serde_json::json!([]));
}

/// Under the staged strategy a safe-to-disable plugin installs under its
/// own scope: its failing snapshot leaves that scope failed and the site
/// (`*`, where core and mod_forum installed) online; the fix converges.
pub fn staged_install_scope(new_db: &dyn Fn() -> Db) {
    let tree = demo(false);
    let manifest = tree
        .read("upgrade.toml")
        .replace("strategy = \"global\"", "strategy = \"staged\"");
    tree.write("upgrade.toml", &manifest);
    tree.write("mod/wiki/db/component.toml", "safe_to_disable = true\n");
    let wiki = "mod/wiki/db/install.sql";
    let good = tree.read(wiki);
    tree.write(
        wiki,
        &format!("{good}INSERT INTO no_such_table (id) VALUES (1);\n"),
    );
    let db = new_db();
    let out = cmd(&tree, &db, &["apply"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    let line = good.lines().count() + 1;
    assert!(
        err.contains(&format!(
            "installing mod_wiki from its snapshot ({wiki}:{line})"
        )),
        "{err}"
    );
    assert_eq!(
        strings(&db, "SELECT scope || ' ' || state FROM upgrade_maintenance"),
        ["mod_wiki failed"],
        "only mod_wiki's scope is down"
    );
    assert_eq!(
        components(&db),
        [
            "core snapshot 2007100900-users_email_ix",
            "mod_forum snapshot 2007092000-forum_posts_index",
        ]
    );
    assert!(!has_table(&db, "wiki"));
    tree.write(wiki, &good);
    let out = apply_ok(&tree, &db);
    assert!(
        out.contains("maintenance: mod_wiki in maintenance (install mod_wiki)"),
        "{out}"
    );
    assert!(strings(&db, "SELECT scope FROM upgrade_maintenance").is_empty());
    let fresh = new_db();
    apply_ok(&demo(false), &fresh);
    assert_eq!(structure(&db), structure(&fresh));
}
