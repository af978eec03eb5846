//! What `check` says about a tree beyond the demo's bad cases: every bad
//! file named in one run (and `--json` still JSON), manifest folders and
//! links leading outside the tree root refused, editor leftovers ignored with
//! a warning.

use crate::util::*;

/// A minimal tree: core in `lib/`, plugins of type `mod`, one step.
fn minimal_tree() -> TempTree {
    let tree = TempTree::empty();
    tree.write(
        "upgrade.toml",
        "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"mod\", folder = \"mod\" },\n]\n",
    );
    tree.write(
        "lib/db/upgrades/2008010100-a.sql",
        "CREATE TABLE a (id INT);\n",
    );
    tree
}

#[test]
fn one_check_run_names_every_bad_file_and_json_stays_json() {
    let tree = minimal_tree();
    let bad = ["20080101-x", "2008010100-Bad", "2008010100-.sql2"];
    for name in bad {
        tree.write(&format!("lib/db/upgrades/{name}.sql"), "SELECT 1;\n");
    }
    let out = tree.run(&["check"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    for name in bad {
        assert!(
            err.contains(&format!("lib/db/upgrades/{name}.sql: ")),
            "{name} not named:\n{err}"
        );
    }
    assert!(
        err.starts_with("error: the step tree has 3 problems:"),
        "{err}"
    );
    assert_eq!(err.matches("hint: ").count(), 3, "{err}");

    let out = tree.run(&["check", "--json"]);
    assert_exit(&out, 1);
    let doc: serde_json::Value =
        serde_json::from_str(&stdout(&out)).expect("check --json prints JSON");
    assert_eq!(doc["ok"], false);
    let errors = doc["errors"].as_array().expect("errors");
    let files: Vec<&str> = errors
        .iter()
        .map(|e| e["file"].as_str().expect("file"))
        .collect();
    assert_eq!(
        files,
        vec![
            "lib/db/upgrades/20080101-x.sql",
            "lib/db/upgrades/2008010100-.sql2.sql",
            "lib/db/upgrades/2008010100-Bad.sql"
        ]
    );
    assert!(
        errors
            .iter()
            .all(|e| e["message"].is_string() && e["hint"].is_string() && e.get("line").is_some())
    );

    // No tree at all: still one JSON document.
    let empty = TempTree::empty();
    let out = empty.run(&[
        "check",
        "--json",
        "--root",
        &empty.path().display().to_string(),
    ]);
    assert_exit(&out, 1);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON without a tree");
    assert!(
        doc["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("no upgrade.toml")
    );
}

#[test]
fn a_manifest_folder_or_a_link_leaving_the_root_is_refused() {
    let tree = minimal_tree();
    let outside = TempTree::empty();
    outside.write(
        "forum/db/upgrades/2008010200-f.sql",
        "CREATE TABLE f (id INT);\n",
    );
    let manifest = tree.read("upgrade.toml");
    let escaped = format!(
        "../{}",
        outside.path().file_name().expect("name").to_string_lossy()
    );
    tree.write(
        "upgrade.toml",
        &manifest.replace("folder = \"mod\"", &format!("folder = \"{escaped}\"")),
    );
    for args in [&["list"][..], &["check"][..]] {
        let out = tree.run(args);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(
            err.contains(
                "upgrade.toml:9: leads outside the tree root: `folder` of plugin type `mod`"
            ),
            "{args:?}: {err}"
        );
        assert!(err.contains("hint: "), "{err}");
    }

    // A step file linked from outside, and a plugin folder linked from outside.
    tree.write("upgrade.toml", &manifest);
    std::os::unix::fs::symlink(
        outside.path().join("forum/db/upgrades/2008010200-f.sql"),
        tree.path().join("lib/db/upgrades/2008010300-out.sql"),
    )
    .expect("link");
    std::fs::create_dir_all(tree.path().join("mod")).expect("mkdir");
    std::os::unix::fs::symlink(outside.path().join("forum"), tree.path().join("mod/forum"))
        .expect("link");
    let out = tree.run(&["check"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("lib/db/upgrades/2008010300-out.sql: leads outside the tree root"),
        "{err}"
    );
    assert!(
        err.contains("mod/forum: leads outside the tree root"),
        "{err}"
    );
}

#[test]
fn editor_leftovers_are_ignored_with_a_warning() {
    let tree = minimal_tree();
    tree.write("lib/db/upgrades/2008010100-a.sql~", "DROP TABLE a;\n");
    tree.write("lib/db/upgrades/.2008010100-a.sql.swp", "binary\n");
    let out = tree.run(&["check"]);
    assert_exit(&out, 0);
    assert_eq!(
        stderr(&out),
        "warning: lib/db/upgrades/.2008010100-a.sql.swp: ignored: an editor or merge leftover, never a step\n\
         warning: lib/db/upgrades/2008010100-a.sql~: ignored: an editor or merge leftover, never a step\n"
    );
    let db = tree.path().join("site.db");
    let out = tree.run(&["apply", "--db", &db.display().to_string()]);
    assert_exit(&out, 0);
    let out = tree.run(&["status", "--db", &db.display().to_string()]);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("warning: lib/db/upgrades/2008010100-a.sql~"),
        "{}",
        stderr(&out)
    );
}
