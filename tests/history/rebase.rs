//! `rebase --onto` on the scripted history: a run killed midway completed
//! by a re-run, and a target whose manifest puts a folder outside the root
//! refused with nothing written or deleted.

use super::*;
use crate::util::{kill_after, stderr, stdout};

/// `rebase --onto MOODLE_20_STABLE` of custom-19 on a fresh history: the
/// work tree it leaves, and its number of file changes.
fn reference_rebase() -> (Vec<(String, Vec<u8>)>, usize) {
    let h = History::build();
    h.checkout("custom-19");
    let out = h.run(&["rebase", "--onto", "MOODLE_20_STABLE"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let changes: usize = text
        .rsplit(", ")
        .next()
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no change count in {text}"));
    (h.snapshot(), changes)
}

#[test]
fn rebase_killed_midway_is_completed_by_a_rerun() {
    let (want, total) = reference_rebase();
    assert!(total > 3, "the rebase makes {total} changes");
    for (n, real_kill) in [(2, true), (1, false), (total - 1, false)] {
        let h = History::build();
        h.checkout("custom-19");
        let args = ["rebase", "--onto", "MOODLE_20_STABLE"];
        if real_kill {
            kill_after(h.root(), &args, n);
        } else {
            let out = run_in(
                h.root(),
                &args,
                &[("CONSOLIDATE_FAULT_AFTER", &n.to_string())],
            );
            assert_exit(&out, 86);
        }
        assert_ne!(h.snapshot(), want, "the run was interrupted");
        h.write("lib/db/.consolidate-Zz9.tmp", "partial");
        // The re-run needs no --allow-dirty: what the interrupted run left is its own.
        let out = h.run(&args);
        assert_exit(&out, 0);
        assert_eq!(h.snapshot(), want, "after fault point {n}");
        // Someone's own uncommitted work is still refused.
        h.write("lib/db/upgrades/2008040100-wip.sql", "SELECT 1;\n");
        let out = h.run(&args);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("lib/db/upgrades/2008040100-wip.sql"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn rebase_onto_a_manifest_folder_outside_the_root_writes_and_deletes_nothing() {
    // Reproduction (issue 7, item 1): a target revision whose manifest puts
    // core in `../<name>` made `rebase --onto` write the branch's own step
    // outside the repository and delete it inside. It must be refused, with
    // nothing written outside and nothing deleted. (Manifest parsing refuses
    // `..` folders in the model layer too; this test holds with either guard.)
    let h = History::build();
    let outside = format!(
        "{}-escaped",
        h.root().file_name().expect("name").to_string_lossy()
    );
    let escaped = h.root().parent().expect("parent").join(&outside);
    h.branch("escape");
    h.checkout("escape");
    let manifest = h.read("upgrade.toml");
    h.write(
        "upgrade.toml",
        &manifest.replacen("core = \"lib\"", &format!("core = \"../{outside}\""), 1),
    );
    // The target's own core files go with it, so that its tree still loads and
    // the rebased tree passes `check`: only a guard on paths stops the rebase.
    h.remove("lib/db/upgrade.toml");
    h.remove("lib/db/upgrades/2008031000-post20_setting.sql");
    for rules in [
        "releases/MOODLE_19_STABLE.toml",
        "releases/MOODLE_20_STABLE.toml",
    ] {
        let text = h.read(rules);
        let start = text.find("[covers.core]\n").expect("core covers");
        let end = text[start..]
            .find("\n\n")
            .map_or(text.len(), |e| start + e + 2);
        h.write(rules, &format!("{}{}", &text[..start], &text[end..]));
    }
    h.commit("Core moves out of the tree (hostile or careless)");
    h.checkout("custom-19");
    let own = "lib/db/upgrades/2007113000-myuni_user_field.sql";
    assert!(h.exists(own));
    let before = h.snapshot();
    let out = h.run(&["rebase", "--onto", "escape"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains(&outside), "{}", stderr(&out));
    assert!(!escaped.exists(), "{} was written", escaped.display());
    assert!(h.exists(own), "the branch's own step was deleted");
    assert_eq!(h.snapshot(), before, "the work tree changed");
}
