//! Published releases never change: an entry appended to a published release,
//! a release re-versioned and a release renamed all fail `verify` even when
//! the tree is self-consistent and `check` passes.

use crate::history::History;
use crate::util::*;

/// The checksum `list --json` reports for a step.
fn checksum_of(h: &History, key: &str) -> String {
    let out = h.run(&["list", "--json"]);
    assert_exit(&out, 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| {
            format!(
                "{}/{}",
                s["component"].as_str().unwrap_or(""),
                s["name"].as_str().unwrap_or("")
            ) == key
        })
        .and_then(|s| s["checksum"].as_str())
        .unwrap_or_else(|| panic!("no step {key}"))
        .to_string()
}

#[test]
fn verify_fails_on_an_entry_appended_to_a_published_release() {
    // Reproduction (issue 7, item 6): after MOODLE_20_STABLE was published, a
    // later commit tags a new step MOODLE_20_STABLE with its correct checksum and
    // adds it to the release file. Sites that completed MOODLE_20_STABLE would
    // count it as applied and never run it. check cannot see it; verify must.
    let h = History::build();
    let key = "core/2008031000-post20_setting";
    let sum = checksum_of(&h, key);
    h.remove("lib/db/upgrades/2008031000-post20_setting.sql");
    let upgrade = h.read("lib/db/upgrade.toml");
    let entry_line = upgrade.lines().count() + 2;
    h.write(
        "lib/db/upgrade.toml",
        &format!(
            "{upgrade}\n[[step]]\nname = \"2008031000-post20_setting\"\nrelease = \"MOODLE_20_STABLE\"\nphase = \"main\"\nchecksum = \"{sum}\"\nsql = '''\nCREATE INDEX mdl_log_time_ix ON mdl_log (time);\n'''\n"
        ),
    );
    let rules = h.read("releases/MOODLE_20_STABLE.toml");
    assert!(rules.contains("[covers.core]\n"), "{rules}");
    h.write(
        "releases/MOODLE_20_STABLE.toml",
        &rules.replacen(
            "[covers.core]\n",
            &format!("[covers.core]\n\"2008031000-post20_setting\" = \"{sum}\"\n"),
            1,
        ),
    );
    h.commit("Sneak the index into MOODLE_20_STABLE");
    // The tree is self-consistent: only the history shows the damage.
    assert_exit(&h.run(&["check"]), 0);
    let out = h.run(&["verify"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("FAIL  published releases unchanged:"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "lib/db/upgrade.toml:{entry_line}: step {key} is tagged MOODLE_20_STABLE, but commit "
        )),
        "{text}"
    );
    assert!(
        text.contains("published MOODLE_20_STABLE without it: sites that completed MOODLE_20_STABLE count it as applied and would never run it"),
        "{text}"
    );
    assert!(
        text.contains("hint: make it a standalone step: move its SQL to lib/db/upgrades/2008031000-post20_setting.sql"),
        "{text}"
    );
    assert!(
        text.contains("releases/MOODLE_20_STABLE.toml:10: changed since commit ")
            && text.contains("covers core/2008031000-post20_setting added"),
        "{text}"
    );
    // Without the release refs the publishing commit is still found in history.
    let out = h.run(&["verify", "--against", "HEAD~1"]);
    assert_exit(&out, 1);
    assert!(stdout(&out).contains("FAIL  published releases unchanged:"));
}

#[test]
fn verify_fails_when_a_published_release_is_re_versioned_or_renamed() {
    let h = History::build();
    // Version edited in the manifest and the release file alike: check agrees
    // with itself, but sites recorded the published version.
    let manifest = h.read("upgrade.toml");
    h.write(
        "upgrade.toml",
        &manifest.replacen(
            "version = \"2007101500.00\"",
            "version = \"2007101400.00\"",
            1,
        ),
    );
    let rules = h.read("releases/MOODLE_19_STABLE.toml");
    h.write(
        "releases/MOODLE_19_STABLE.toml",
        &rules.replacen(
            "version = \"2007101500.00\"",
            "version = \"2007101400.00\"",
            1,
        ),
    );
    assert_exit(&h.run(&["check"]), 0);
    h.commit("Re-version MOODLE_19_STABLE (wrong)");
    let out = h.run(&["verify"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("release MOODLE_19_STABLE has version 2007101400.00, but commit ")
            && text.contains("published it with version 2007101500.00"),
        "{text}"
    );
    assert!(
        text.contains("FAIL  published releases unchanged"),
        "{text}"
    );

    // Renamed everywhere (manifest, release file, entries), no release ref left.
    let h = History::build();
    let rename = |rel: &str| {
        let text = h.read(rel);
        h.write(rel, &text.replace("MOODLE_19_STABLE", "MOODLE_19X_STABLE"));
    };
    for rel in [
        "upgrade.toml",
        "lib/db/upgrade.toml",
        "mod/forum/db/upgrade.toml",
        "releases/MOODLE_19_STABLE.toml",
    ] {
        rename(rel);
    }
    let rules = h.read("releases/MOODLE_19_STABLE.toml");
    h.remove("releases/MOODLE_19_STABLE.toml");
    h.write("releases/MOODLE_19X_STABLE.toml", &rules);
    assert_exit(&h.run(&["check"]), 0);
    h.commit("Rename MOODLE_19_STABLE (wrong)");
    let out = h.run(&["verify", "--against", "HEAD~1"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(
            "upgrade.toml: release MOODLE_19_STABLE (version 2007101500.00), published by commit "
        ) && text.contains("is no longer in the release history (renamed or removed)"),
        "{text}"
    );
}
