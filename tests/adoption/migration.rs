//! A site made by the previous tool version (ledger schema 3) upgraded by
//! today's code, and `verify --apply` on install == upgrade.

use super::*;

/// The steps the previous version applied on `demo-v3-midway.db`: the plan
/// of a fresh site of its tree up to and including this one
/// (fixtures/sites/README.md).
const V3_LAST_APPLIED: &str = "core/2008010100-message_tables";

/// fixtures/sites/demo-v3-midway.db with today's code: read-only commands
/// leave it as it is; plan shows exactly its 18 pending steps and mod_wiki
/// (new) installed from its snapshot, core and mod_forum (installed by their
/// steps) not; apply runs no step twice and skips none.
pub fn v3_site() {
    let tree = demo(false);
    let fixture_db = workspace().join("fixtures/sites/demo-v3-midway.db");
    let original = std::fs::read(&fixture_db).expect("read fixture");
    let db = Db::sqlite();
    std::fs::write(db.arg(), &original).expect("copy fixture");
    let version = |db: &Db| {
        strings(
            db,
            "SELECT value FROM upgrade_meta WHERE key = 'schema_version'",
        )
    };
    assert_eq!(version(&db), ["3"]);

    // The oracle: the plan of a fresh site of the old tree (no snapshots, no
    // mod_wiki), split after the last step the old version applied.
    let old_tree = TempTree::demo_steps_only();
    let fresh_plan = plan(&old_tree, &Db::sqlite()).2;
    assert_eq!(fresh_plan.len(), 42);
    let split = fresh_plan
        .iter()
        .position(|k| k == V3_LAST_APPLIED)
        .expect("in the plan")
        + 1;
    assert_eq!(split, 24, "fixtures/sites/README.md: 24 steps applied");
    let (applied, pending) = fresh_plan.split_at(split);

    let status = cmd(&tree, &db, &["status"]);
    assert_exit(&status, 2);
    let text = stdout(&status);
    assert!(text.contains("pending:  18 step(s)"), "{text}");
    assert!(text.contains("install:  mod_wiki from"), "{text}");
    let (installs, covered, keys) = plan(&tree, &db);
    assert_eq!(installs, ["mod_wiki"], "core and mod_forum are installed");
    assert_eq!(covered, [COVERED[10..].to_vec()]);
    assert_eq!(keys, pending, "exactly the steps pending before");
    let doc = any_json(&cmd(&tree, &db, &["status", "--json"]));
    assert_eq!(doc["installed_components"], serde_json::json!([]));
    assert_eq!(
        std::fs::read(db.arg()).expect("read"),
        original,
        "status and plan must not migrate or touch the database"
    );

    let rows_before = db.ledger().0;
    assert_eq!(rows_before.len(), 10);
    let out = apply_ok(&tree, &db);
    for key in applied {
        assert!(
            !out.contains(&format!("{key} applied")),
            "{key} ran again: {out}"
        );
    }
    for key in pending {
        assert!(
            out.contains(&format!("{key} applied")),
            "{key} skipped: {out}"
        );
    }
    assert!(out.contains("applied 18 step(s)"), "{out}");
    assert!(out.contains("[install] mod_wiki installed"), "{out}");
    assert_eq!(version(&db), ["4"]);
    let recorded = components(&db);
    assert_eq!(
        recorded,
        [
            "assignsubmission_file steps -",
            "auth_ldap steps -",
            "block_navigation steps -",
            "core steps -",
            "format_weeks steps -",
            "local_reports steps -",
            "mod_assign steps -",
            "mod_forum steps -",
            "mod_wiki snapshot 2008022500-wiki_pages_ix",
            "theme_standard steps -",
        ]
    );
    assert_exit(&cmd(&tree, &db, &["status"]), 0);

    // The same schema as a fresh step-by-step site of today's tree.
    let fresh = Db::sqlite();
    apply_ok(&demo_without_snapshots(false), &fresh);
    assert_eq!(structure(&db), structure(&fresh));
    assert_eq!(db.data(), fresh.data());
}

/// `verify --apply` in a git repository of the demo: passes as shipped;
/// with mod_forum's snapshot missing a column, fails naming the component,
/// its file and the column.
pub fn stale_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture("demo"), dir.path());
    let repo = git2::Repository::init(dir.path()).expect("init");
    crate::history::commit_in(&repo, "The demo", 1_200_000_000);
    let out = run_in(dir.path(), &["verify", "--apply"], &[]);
    assert_exit(&out, 0);

    let file = dir.path().join("mod/forum/db/install.sql");
    let text = std::fs::read_to_string(&file).expect("read");
    let text_of_good = text.clone();
    let stale = text.replacen(
        "    intro TEXT,\n    timemodified BIGINT NOT NULL DEFAULT 0\n);",
        "    intro TEXT\n);",
        1,
    );
    assert_ne!(stale, text);
    std::fs::write(&file, stale).expect("write");
    let out = run_in(dir.path(), &["verify", "--apply"], &[]);
    assert_exit(&out, 1);
    let all = stdout(&out) + &stderr(&out);
    assert!(
        all.contains("the install snapshot of mod_forum (mod/forum/db/install.sql) is stale"),
        "{all}"
    );
    assert!(
        all.contains("table forum column timemodified"),
        "the differing column is named: {all}"
    );
    assert!(!all.contains("snapshot of core"), "{all}");
    assert!(!all.contains("snapshot of mod_wiki"), "{all}");

    // Stale in a consolidation commit, fixed afterwards: still named.
    crate::history::commit_in(&repo, "Stale forum snapshot", 1_200_000_100);
    let out = run_in(
        dir.path(),
        &["release", "MOODLE_20_STABLE", "--commit"],
        &[],
    );
    assert_exit(&out, 0);
    let text = stdout(&out) + &stderr(&out);
    let commit = text
        .lines()
        .find_map(|l| l.strip_prefix("committed "))
        .unwrap_or_else(|| panic!("no commit: {text}"))
        .trim()
        .to_string();
    std::fs::write(&file, &text_of_good).expect("write");
    crate::history::commit_in(&repo, "Fix the forum snapshot", 1_200_000_200);
    let out = run_in(dir.path(), &["verify", "--apply"], &[]);
    assert_exit(&out, 1);
    let all = stdout(&out) + &stderr(&out);
    assert!(
        all.contains(&format!("consolidation {commit}: the install snapshot of mod_forum (mod/forum/db/install.sql) is stale")),
        "{all}"
    );
    assert!(!all.contains("the work tree: the install"), "{all}");
}
