//! Consolidation end to end on the demo: the golden result, a pure dry run,
//! idempotence (I1), determinism, every documented bad input, crashes at every
//! file operation (simulated and with a real SIGKILL), and the one commit
//! `--commit` makes. What `check` says about other trees is in
//! `consolidation/check.rs`; steps refused because what would run is not what
//! was reviewed, in `consolidation/reviewed.rs`.

use std::path::Path;

use crate::util::*;

mod check;
mod reviewed;

const RELEASE: [&str; 3] = ["release", "MOODLE_20_STABLE", "--allow-dirty"];

fn assert_golden(root: &Path) {
    let got = snapshot(root);
    let want = snapshot(&fixture("demo-after-20"));
    let names = |s: &[(String, Vec<u8>)]| s.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&got),
        names(&want),
        "files differ from fixtures/demo-after-20"
    );
    for ((path, a), (_, b)) in got.iter().zip(&want) {
        assert!(
            a == b,
            "{path} differs from fixtures/demo-after-20:\n{}",
            String::from_utf8_lossy(a)
        );
    }
}

#[test]
fn demo_consolidates_to_the_golden_tree_and_check_passes() {
    let tree = TempTree::copy_of("demo");
    let out = tree.run(&RELEASE);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("fold 30 standalone step(s)"),
        "{}",
        stderr(&out)
    );
    assert_golden(tree.path());
    assert_exit(&tree.run(&["check"]), 0);
    // Rewritten and new files are readable by others (a web server), like the files they replace.
    #[cfg(unix)]
    for rel in [
        "upgrade.toml",
        "releases/MOODLE_20_STABLE.toml",
        "mod/forum/db/upgrade.toml",
        "local/reports/db/upgrade.toml",
    ] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(tree.path().join(rel))
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644, "{rel} has mode {mode:o}");
    }
}

#[test]
fn dry_run_prints_the_diff_and_changes_nothing() {
    let tree = TempTree::copy_of("demo");
    let before = snapshot(tree.path());
    let out = tree.run(&["release", "MOODLE_20_STABLE", "--dry-run"]);
    assert_exit(&out, 0);
    let diff = stdout(&out);
    assert!(
        diff.contains("+++ b/releases/MOODLE_20_STABLE.toml"),
        "{diff}"
    );
    assert!(
        diff.contains("--- a/lib/db/upgrades/2008021700-webdavlocks.sql\n+++ /dev/null"),
        "{diff}"
    );
    assert!(diff.contains("+name = \"MOODLE_20_STABLE\""), "{diff}");
    assert_eq!(snapshot(tree.path()), before);
}

#[test]
fn second_release_changes_no_byte_and_old_names_are_refused() {
    let tree = TempTree::copy_of("demo-after-20");
    let before = snapshot(tree.path());
    let out = tree.run(&RELEASE);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("already the newest release"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(tree.path()), before);
    let out = tree.run(&["release", "MOODLE_19_STABLE", "--allow-dirty"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("MOODLE_20_STABLE is newer"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(tree.path()), before);
}

#[test]
fn output_does_not_depend_on_the_order_files_were_created_in() {
    // Create the tree's files in reverse order, into folders made in reverse order.
    let tree = TempTree::empty();
    let mut files = snapshot(&fixture("demo"));
    // As git holds the fixture (copy_dir leaves the step cache out too).
    files.retain(|(rel, _)| !rel.starts_with(".consolidate/"));
    files.reverse();
    for (rel, bytes) in &files {
        let path = tree.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
    assert_exit(
        &tree.run_env(
            &RELEASE,
            &[("LC_ALL", "tr_TR.UTF-8"), ("TZ", "Pacific/Kiritimati")],
        ),
        0,
    );
    assert_golden(tree.path());
}

#[test]
fn every_bad_tree_gives_its_documented_error() {
    let dir = fixture("bad");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/bad")
        .map(|e| e.expect("entry").path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "only {} bad cases", cases.len());
    for case in cases {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let expected = std::fs::read_to_string(case.join("EXPECTED")).expect("EXPECTED file");
        let expected = expected.trim();
        for args in [&["check"][..], &RELEASE[..]] {
            let out = run_in(&case, args, &[]);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{name} {args:?}: {err}");
            assert!(
                err.contains(expected),
                "{name} {args:?}: expected {expected:?} in:\n{err}"
            );
            assert!(err.starts_with("error: "), "{name}: {err}");
            assert!(err.contains("hint: "), "{name}: no hint in {err}");
        }
    }
    // The line is named where it is known.
    let err = stderr(&run_in(&fixture("bad/broken-toml"), &["check"], &[]));
    assert!(err.contains("upgrade.toml:6:"), "{err}");
}

#[test]
fn killed_after_any_file_operation_a_rerun_completes_the_job() {
    let total = {
        let probe = TempTree::copy_of("demo");
        assert_exit(&probe.run(&RELEASE), 0);
        // 12 writes (10 upgrade.toml, release file, manifest) and 29 deletions.
        41
    };
    for n in 1..=total {
        let tree = TempTree::copy_of("demo");
        let n_text = n.to_string();
        let out = tree.run_env(&RELEASE, &[("CONSOLIDATE_FAULT_AFTER", &n_text)]);
        if n < total {
            assert_eq!(
                out.status.code(),
                Some(86),
                "fault point {n} not reached: {}",
                stderr(&out)
            );
            // The interrupted tree still loads: nothing is lost or doubled.
            let check = tree.run(&["check"]);
            assert!(
                check.status.code() == Some(0) || check.status.code() == Some(1),
                "{}",
                stderr(&check)
            );
        }
        assert_exit(&tree.run(&RELEASE), 0);
        assert_golden(tree.path());
        assert_exit(&tree.run(&["check"]), 0);
    }
}

#[test]
fn a_real_kill_midway_is_recovered_by_a_rerun() {
    for pause_after in [3, 20] {
        let tree = TempTree::copy_of("demo");
        kill_after(tree.path(), &RELEASE, pause_after);
        assert_ne!(snapshot(tree.path()), snapshot(&fixture("demo-after-20")));
        assert_exit(&tree.run(&RELEASE), 0);
        assert_golden(tree.path());
    }
}

#[test]
fn commit_makes_one_commit_listing_the_folded_steps() {
    let tree = TempTree::copy_of("demo");
    let repo = git2::Repository::init(tree.path()).expect("init");
    let mut config = repo.config().expect("config");
    config
        .set_str("user.name", "Release Manager")
        .expect("name");
    config
        .set_str("user.email", "rm@example.org")
        .expect("email");
    let sig = repo.signature().expect("sig");
    let mut index = repo.index().expect("index");
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.write().expect("write index");
    let tree_id = index.write_tree().expect("tree");
    let t = repo.find_tree(tree_id).expect("find tree");
    repo.commit(Some("HEAD"), &sig, &sig, "base", &t, &[])
        .expect("commit");

    // A dirty work tree is refused without --allow-dirty.
    tree.write("notes.txt", "scratch");
    let out = tree.run(&["release", "MOODLE_20_STABLE", "--commit"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("uncommitted change"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(tree.path().join("notes.txt")).expect("rm");

    assert_exit(
        &tree.run(&["release", "MOODLE_20_STABLE", "--commit", "--tag"]),
        0,
    );
    let head = repo.head().expect("head").peel_to_commit().expect("commit");
    let message = head.message().expect("utf-8 message");
    assert!(
        message.starts_with("Consolidate MOODLE_20_STABLE: fold 30 standalone steps"),
        "{message}"
    );
    assert!(
        message.contains("- core/2008021700-webdavlocks\n"),
        "{message}"
    );
    assert_eq!(head.parent_count(), 1);
    let statuses = repo.statuses(None).expect("status");
    assert!(statuses.is_empty(), "uncommitted changes left");
    assert!(repo.find_reference("refs/tags/MOODLE_20_STABLE").is_ok());
}
