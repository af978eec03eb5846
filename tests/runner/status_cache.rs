//! `status` (and `plan`) keep a step cache by file identity (`.consolidate/step-cache`):
//! its answer is byte for byte the same with and without the cache, an edit
//! of an applied step still shows as drift, and a folder it cannot write to
//! changes nothing.

use super::*;

const CACHE: &str = ".consolidate/step-cache";

/// Runs `status` and `plan` (text and JSON), which read the tree the same
/// way: code, stdout, stderr.
fn answers(tree: &TempTree, db: &Db) -> Vec<(Option<i32>, String, String)> {
    [
        &["status"][..],
        &["status", "--json"][..],
        &["plan"][..],
        &["plan", "--json"][..],
    ]
    .iter()
    .map(|args| {
        let out = cmd(tree, db, args);
        (out.status.code(), stdout(&out), stderr(&out))
    })
    .collect()
}

#[test]
fn sqlite_status_answers_the_same_from_the_step_cache_and_still_sees_drift() {
    let db = Db::sqlite();
    let tree = TempTree::demo_steps_only();
    apply_ok(&tree, &db, &["--to", "core/2008010101-message_indexes"]);
    // Files changed in the last seconds are never vouched for (racy rule):
    // let the tree age past that window.
    std::thread::sleep(std::time::Duration::from_millis(3200));
    let without = answers(&tree, &db);
    let cache = tree.read(CACHE);
    assert!(
        cache.contains("lib/db/upgrades/2007112000-event_table.sql\t"),
        "{cache}"
    );
    assert_eq!(tree.read(".consolidate/.gitignore"), "*\n");
    let with = answers(&tree, &db);
    assert_eq!(with, without, "the cache changes no byte of the answer");
    assert_eq!(
        tree.read(CACHE),
        cache,
        "an unchanged tree leaves the cache as it is"
    );
    // `check` does not see the cache folder.
    assert_exit(&tree.run(&["check"]), 0);

    // An applied step edited after it ran: drift, from the cache too.
    let file = "lib/db/upgrades/2007112000-event_table.sql";
    let text = tree.read(file);
    tree.write(file, &text.replacen("CREATE INDEX", "create index", 1));
    assert_eq!(tree.read(file).len(), text.len());
    let status = cmd(&tree, &db, &["status"]);
    assert_exit(&status, 1);
    assert!(
        stdout(&status).contains("drift:    core/2007112000-event_table"),
        "{}",
        stdout(&status)
    );

    // A broken cache is read as no cache.
    tree.write(CACHE, "consolidate step cache 1 garbage\n");
    let broken = answers(&tree, &db);
    std::fs::remove_dir_all(tree.path().join(".consolidate")).expect("rm cache");
    assert_eq!(broken, answers(&tree, &db));
}

#[test]
fn sqlite_status_in_a_folder_it_cannot_write_to_answers_as_usual() {
    let db = Db::sqlite();
    let tree = TempTree::demo_steps_only();
    apply_ok(&tree, &db, &["--to", "core/2008010101-message_indexes"]);
    let expected = answers(&tree, &db);
    std::fs::remove_dir_all(tree.path().join(".consolidate")).expect("rm cache");
    // A tree `nobody` may read but not write; the database folder stays
    // writable (SQLite's own files).
    let db_path = db.arg();
    let db_dir = Path::new(&db_path).parent().expect("db folder");
    let chmod = |mode: &str, path: &Path| {
        let out = Command::new("chmod")
            .args(["-R", mode])
            .arg(path)
            .output()
            .expect("chmod");
        assert!(out.status.success());
    };
    chmod("a+rX,go-w", tree.path());
    chmod("a+rwX", db_dir);
    let out = unprivileged_command()
        .args(["status", "--db", &db_path])
        .current_dir(tree.path())
        .output()
        .expect("runs");
    assert_eq!(
        (out.status.code(), stdout(&out), stderr(&out)),
        expected[0].clone()
    );
    assert!(!tree.path().join(".consolidate").exists());
}
