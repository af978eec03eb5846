//! The settings behind the scopes: `db/component.toml` and the manifest's
//! `[maintenance]` table with an unknown key refused naming the file, core
//! never safe to disable, and the `safe_to_disable` marker kept byte for byte
//! by `release` and carried by `rebase`.

use super::*;

#[test]
fn component_settings_with_an_unknown_key_are_refused_naming_the_file() {
    let t = tree("staged", "");
    t.write(
        "mod/forum/db/component.toml",
        "safe_to_disable = true\nsafe = 1\n",
    );
    let out = t.run(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("mod/forum/db/component.toml:2"), "{err}");
    assert!(err.contains("safe"), "{err}");
}

#[test]
fn core_is_never_safe_to_disable() {
    let t = tree("staged", "");
    t.write("lib/db/component.toml", "safe_to_disable = true\n");
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("lib/db/component.toml"), "{err}");
    assert!(err.contains("core is never safe to disable"), "{err}");
}

#[test]
fn an_unknown_key_in_the_maintenance_table_is_refused() {
    let t = tree(
        "staged",
        "\n[maintenance]\nenter = \"true\"\nstart = \"true\"\n",
    );
    let out = t.run(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("upgrade.toml"), "{err}");
    assert!(err.contains("start"), "{err}");
}

#[test]
fn the_safe_to_disable_marker_survives_release_byte_for_byte() {
    let t = TempTree::empty();
    copy_dir(&workspace().join("tests/cases/release-new/in"), t.path());
    let marker = "# ours\nsafe_to_disable = true\n";
    t.write("mod/forum/db/component.toml", marker);
    assert_exit(&t.run(&["release", "MOODLE_20_STABLE"]), 0);
    assert!(
        !t.path()
            .join("mod/forum/db/upgrades/2007121500-tracking.sql")
            .exists(),
        "the release folded the forum's steps"
    );
    assert_eq!(t.read("mod/forum/db/component.toml"), marker);
    assert_exit(&t.run(&["check"]), 0);
}

#[test]
fn rebase_carries_the_settings_of_a_custom_component() {
    let h = crate::history::History::build();
    h.checkout("custom-19");
    let marker = "safe_to_disable = true # our local plugin\n";
    h.write("local/myuni/db/component.toml", marker);
    h.commit("MyUni: the local plugin is safe to disable");
    let out = h.run(&["rebase", "--onto", "MOODLE_20_STABLE"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("carried component local_myuni whole (1 step(s), 2 file(s))"),
        "{}",
        stdout(&out)
    );
    assert_eq!(h.read("local/myuni/db/component.toml"), marker);
}
