//! Plugin types declared by a plugin in its own `db/component.toml`
//! (issue 9, item 6): the tree reads them before resolving folders, lists
//! and plans their plugins right after their parent's type, refuses hostile
//! or clashing declarations naming the file and line, and a custom branch
//! carries a local plugin with its own subplugin type through `rebase --onto`.

use git2::Repository;

use crate::history::{History, commit_in};
use crate::util::*;

const MANIFEST: &str = "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\nSTRATEGY\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"mod\", folder = \"mod\" },\n  { name = \"block\", folder = \"blocks\" },\n]\n";

const QUIZ_TYPES: &str = "[[plugin_types]]\nname = \"quizaccess\"\nfolder = \"accessrule\"\n";

/// A tree with core, mod_forum, block_nav and mod/quiz declaring quizaccess
/// (mod/quiz has no steps of its own), with quizaccess_seb's step.
fn quiz_tree(strategy: &str) -> TempTree {
    let t = TempTree::empty();
    t.write(
        "upgrade.toml",
        &MANIFEST.replace("STRATEGY", &format!("strategy = \"{strategy}\"\n")),
    );
    t.write(
        "lib/db/upgrades/2008010100-a.sql",
        "CREATE TABLE a (id INT);\n",
    );
    t.write(
        "mod/forum/db/upgrades/2008010500-f.sql",
        "CREATE TABLE f (id INT);\n",
    );
    t.write(
        "blocks/nav/db/upgrades/2008010200-n.sql",
        "CREATE TABLE n (id INT);\n",
    );
    t.write("mod/quiz/db/component.toml", QUIZ_TYPES);
    t.write(
        "mod/quiz/accessrule/seb/db/upgrades/2008010500-seb.sql",
        "CREATE TABLE seb (id INT);\n",
    );
    t
}

#[test]
fn list_shows_a_declared_subplugin_right_after_its_parent_type() {
    // The acceptance sample: quizaccess_seb is a component of the tree.
    let t = quiz_tree("global");
    let out = t.run(&["list"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("quizaccess_seb"), "{}", stdout(&out));
    // Global order: by name, ties by rank: mod, then its subplugins, then block.
    t.write(
        "blocks/nav/db/upgrades/2008010500-f.sql",
        "CREATE TABLE n2 (id INT);\n",
    );
    t.write(
        "mod/quiz/accessrule/seb/db/upgrades/2008010500-f.sql",
        "CREATE TABLE seb2 (id INT);\n",
    );
    let out = t.run(&["list", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(
        json_step_keys(&out),
        [
            "core/2008010100-a",
            "block_nav/2008010200-n",
            "mod_forum/2008010500-f",
            "quizaccess_seb/2008010500-f",
            "block_nav/2008010500-f",
            "quizaccess_seb/2008010500-seb",
        ]
    );
    // Staged order: core, mod, the subplugins of mod, then blocks.
    let t = quiz_tree("staged");
    let out = t.run(&["list", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(
        json_step_keys(&out),
        [
            "core/2008010100-a",
            "mod_forum/2008010500-f",
            "quizaccess_seb/2008010500-seb",
            "block_nav/2008010200-n",
        ]
    );
}

fn git_init(root: &std::path::Path) -> Repository {
    let repo = Repository::init(root).expect("git init");
    let mut config = repo.config().expect("config");
    config.set_str("user.name", "Dev").expect("name");
    config
        .set_str("user.email", "dev@example.org")
        .expect("email");
    commit_in(&repo, "base", 1_200_000_000);
    repo
}

#[test]
fn check_release_verify_and_apply_work_on_a_tree_with_declared_subplugins() {
    let t = quiz_tree("global");
    let repo = git_init(t.path());
    assert_exit(&t.run(&["check"]), 0);
    let out = t.run(&["release", "MOODLE_20_STABLE", "--commit"]);
    assert_exit(&out, 0);
    let released = t.read("mod/quiz/accessrule/seb/db/upgrade.toml");
    assert!(
        released.contains("2008010500-seb") && released.contains("CREATE TABLE seb"),
        "{released}"
    );
    assert!(
        !t.path()
            .join("mod/quiz/accessrule/seb/db/upgrades/2008010500-seb.sql")
            .exists()
    );
    t.write(
        "mod/quiz/accessrule/seb/db/upgrades/2008040100-seb2.sql",
        "ALTER TABLE seb ADD COLUMN x INT;\n",
    );
    commit_in(&repo, "a step after the release", 1_200_100_000);
    assert_exit(&t.run(&["check"]), 0);
    let verify = t.run(&["verify"]);
    assert_exit(&verify, 0);
    let verify = t.run(&["verify", "--apply"]);
    assert_exit(&verify, 0);
    let db = t.path().join("site.db");
    let db = db.to_str().expect("utf-8");
    assert_exit(&t.run(&["apply", "--db", db]), 0);
    let conn = rusqlite::Connection::open(db).expect("open");
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('seb') ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(columns, ["id", "x"]);
    assert_exit(&t.run(&["status", "--db", db]), 0);
}

#[test]
fn hostile_and_clashing_declarations_are_all_refused_naming_each_file() {
    let t = quiz_tree("global");
    let entry = |name: &str, folder: &str| {
        format!("[[plugin_types]]\nname = \"{name}\"\nfolder = \"{folder}\"\n")
    };
    let files = [
        (
            "mod/a/db/component.toml",
            entry("sub", "../../lib"),
            "mod/a/db/component.toml:1: `folder` of plugin type `sub` is \"../../lib\"",
        ),
        (
            "mod/b/db/component.toml",
            entry("sub2", "/etc"),
            "mod/b/db/component.toml:1: `folder` of plugin type `sub2` is \"/etc\"",
        ),
        (
            "mod/c/db/component.toml",
            entry("block", "x"),
            "mod/c/db/component.toml:1: plugin type `block` is already listed in upgrade.toml",
        ),
        (
            "mod/r/db/component.toml",
            entry("quizaccess", "y"),
            "mod/r/db/component.toml:1: plugin type `quizaccess` is already declared in mod/quiz/db/component.toml:1",
        ),
        (
            "lib/db/component.toml",
            entry("coresub", "x"),
            "lib/db/component.toml:1: core cannot declare plugin types",
        ),
        (
            "mod/quiz/accessrule/seb/db/component.toml",
            entry("sebpart", "p"),
            "mod/quiz/accessrule/seb/db/component.toml:1: quizaccess_seb is a plugin of type `quizaccess` (declared in mod/quiz/db/component.toml:1)",
        ),
        (
            "mod/e/db/component.toml",
            "safe_to_disable = true\nplugin_type = []\n".to_string(),
            "mod/e/db/component.toml:2: unknown field `plugin_type`",
        ),
        (
            "mod/f/db/component.toml",
            format!("{}\n{}", entry("one", "x"), entry("two", "x")),
            "mod/f/db/component.toml:5: plugin types `one` and `two` share the folder `x`",
        ),
    ];
    for (path, text, _) in &files {
        t.write(path, text);
    }
    let before = snapshot(t.path());
    let out = t.run(&["check"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    for (_, _, want) in &files {
        assert!(err.contains(want), "missing {want:?} in\n{err}");
    }
    assert_eq!(snapshot(t.path()), before, "check wrote something");
    // Each alone is refused too (no problem hides behind another).
    for (path, text, want) in &files {
        let t = quiz_tree("global");
        t.write(path, text);
        let out = t.run(&["list"]);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains(want),
            "{want:?} alone:\n{}",
            stderr(&out)
        );
    }
}

#[test]
fn an_undeclared_subplugin_folder_says_what_to_declare_where() {
    let t = quiz_tree("global");
    std::fs::remove_file(t.path().join("mod/quiz/db/component.toml")).expect("rm");
    let out = t.run(&["check"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("mod/quiz/accessrule/seb/db/upgrades/2008010500-seb.sql: `mod/quiz/accessrule/seb` is not the folder of any component"),
        "{err}"
    );
    assert!(
        err.contains("declare its plugin type in mod/quiz/db/component.toml as [[plugin_types]] name = \"<type>\", folder = \"accessrule\""),
        "{err}"
    );
}

/// The custom branch's local plugin: no steps of its own, a declared
/// subplugin type `myplugsub` whose plugin `alpha` has steps.
fn add_local_plugin_with_subplugins(h: &History, declare_in_manifest: bool) {
    h.write("local/myplugin/version.php", "<?php // the local plugin\n");
    if declare_in_manifest {
        let manifest = h.read("upgrade.toml").replacen(
            "  { name = \"local\", folder = \"local\" },\n",
            "  { name = \"local\", folder = \"local\" },\n  { name = \"myplugsub\", folder = \"local/myplugin/sub\" },\n",
            1,
        );
        h.write("upgrade.toml", &manifest);
    } else {
        h.write(
            "local/myplugin/db/component.toml",
            "# Our local plugin's own subplugin type.\n[[plugin_types]]\nname = \"myplugsub\"\nfolder = \"sub\"\n",
        );
    }
    h.write(
        "local/myplugin/sub/alpha/db/upgrades/2007111600-alpha_table.sql",
        "CREATE TABLE mdl_myplugsub_alpha (id INTEGER PRIMARY KEY);\n",
    );
    h.write(
        "local/myplugin/sub/alpha/db/upgrades/2007111700-alpha_index.sql",
        "CREATE INDEX mdl_myplugsub_alpha_ix ON mdl_myplugsub_alpha (id);\n",
    );
    h.commit("MyUni: local plugin with its own subplugin type");
}

#[test]
fn a_custom_branch_carries_a_local_plugin_with_its_own_subplugin_type_through_rebase() {
    let h = History::build();
    h.checkout("custom-19");
    add_local_plugin_with_subplugins(&h, false);
    assert_exit(&h.run(&["check"]), 0);
    let out = h.run(&["rebase", "--onto", "MOODLE_20_STABLE"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    for line in [
        "carried component local_myplugin whole (0 step(s), 1 file(s))",
        "carried component myplugsub_alpha whole (2 step(s), 2 file(s))",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(h.exists("local/myplugin/db/component.toml"));
    assert!(h.exists("local/myplugin/sub/alpha/db/upgrades/2007111600-alpha_table.sql"));
    assert!(
        !h.read("upgrade.toml").contains("myplugsub"),
        "upstream's manifest is unchanged"
    );
    assert_exit(&h.run(&["check"]), 0);
    let list = h.run(&["list"]);
    assert_exit(&list, 0);
    assert!(
        stdout(&list).contains("myplugsub_alpha"),
        "{}",
        stdout(&list)
    );
    h.commit("MyUni: rebase onto MOODLE_20_STABLE");
    let verify = h.run(&["verify"]);
    assert_exit(&verify, 0);
    assert!(
        stdout(&verify).contains("pass  check: 12 steps"),
        "{}",
        stdout(&verify)
    );
}

#[test]
fn rebase_of_a_subplugin_type_only_the_branch_manifest_lists_says_what_to_declare_where() {
    let h = History::build();
    h.checkout("custom-19");
    add_local_plugin_with_subplugins(&h, true);
    assert_exit(&h.run(&["check"]), 0);
    let before = h.snapshot();
    let out = h.run(&["rebase", "--onto", "MOODLE_20_STABLE"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("`local/myplugin/sub/alpha` is not the folder of any component"),
        "{err}"
    );
    assert!(
        err.contains("declare its plugin type in local/myplugin/db/component.toml as [[plugin_types]] name = \"myplugsub\", folder = \"sub\""),
        "{err}"
    );
    assert_eq!(h.snapshot(), before, "nothing is written");
    // Following the hint: the declaration moves into the plugin, and the rebase goes through.
    let manifest = h.read("upgrade.toml").replacen(
        "  { name = \"myplugsub\", folder = \"local/myplugin/sub\" },\n",
        "",
        1,
    );
    h.write("upgrade.toml", &manifest);
    h.write(
        "local/myplugin/db/component.toml",
        "[[plugin_types]]\nname = \"myplugsub\"\nfolder = \"sub\"\n",
    );
    h.commit("MyUni: the plugin declares its subplugin type");
    assert_exit(&h.run(&["rebase", "--onto", "MOODLE_20_STABLE"]), 0);
    assert_exit(&h.run(&["check"]), 0);
}

#[test]
fn rebase_keeps_the_branch_declaring_a_subplugin_type_in_an_upstream_plugin() {
    let h = History::build();
    h.checkout("custom-19");
    let settings = "safe_to_disable = true\n\n[[plugin_types]]\nname = \"forumfeature\"\nfolder = \"feature\"\n";
    h.write("mod/forum/db/component.toml", settings);
    h.write(
        "mod/forum/feature/pin/db/upgrades/2007111800-pin.sql",
        "CREATE TABLE mdl_forumfeature_pin (id INTEGER PRIMARY KEY);\n",
    );
    h.commit("MyUni: forum features of our own");
    let out = h.run(&["rebase", "--onto", "MOODLE_20_STABLE"]);
    assert_exit(&out, 0);
    assert_eq!(h.read("mod/forum/db/component.toml"), settings);
    assert!(
        stdout(&out).contains("carried component forumfeature_pin whole (1 step(s), 1 file(s))"),
        "{}",
        stdout(&out)
    );
    assert_exit(&h.run(&["check"]), 0);

    // The target changed the same file otherwise: a conflict, nothing written.
    let h = History::build();
    h.checkout("main");
    h.branch("upstream-next");
    h.checkout("upstream-next");
    h.write("mod/forum/db/component.toml", "safe_to_disable = false\n");
    h.commit("Upstream: forum settings");
    h.checkout("custom-19");
    h.write("mod/forum/db/component.toml", settings);
    h.write(
        "mod/forum/feature/pin/db/upgrades/2007111800-pin.sql",
        "CREATE TABLE mdl_forumfeature_pin (id INTEGER PRIMARY KEY);\n",
    );
    h.commit("MyUni: forum features of our own");
    let before = h.snapshot();
    let out = h.run(&["rebase", "--onto", "upstream-next"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("mod/forum/db/component.toml: the branch and upstream-next both changed this component's settings"),
        "{}",
        stderr(&out)
    );
    assert_eq!(h.snapshot(), before, "nothing is written");
}
