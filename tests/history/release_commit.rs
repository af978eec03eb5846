//! `release --commit` (and `--tag`) on a git repository: the repository,
//! its identity and its cleanliness checked before any file is written, and a
//! run killed midway (between its files, or between its commit and its tag)
//! completed by a re-run with one commit and one tag.

use super::*;
use crate::util::{TempTree, fixture, kill_after, snapshot, stderr};

/// The demo tree committed in a fresh repository (identity set in the
/// repository's own config unless `identity` is false).
fn demo_repo(identity: bool) -> (TempTree, Repository) {
    let tree = TempTree::copy_of("demo");
    let repo = Repository::init(tree.path()).expect("git init");
    if identity {
        let mut config = repo.config().expect("config");
        config
            .set_str("user.name", "Release Manager")
            .expect("name");
        config
            .set_str("user.email", "rm@example.org")
            .expect("email");
    }
    commit_in(&repo, "The demo tree", 1_200_000_000);
    (tree, repo)
}

/// An environment without any global or system git identity.
fn no_global_git(home: &Path) -> Vec<(&'static str, String)> {
    let home = home.display().to_string();
    vec![
        ("HOME", home.clone()),
        ("XDG_CONFIG_HOME", home),
        ("GIT_CONFIG_NOSYSTEM", "1".into()),
    ]
}

fn run_env_owned(root: &Path, args: &[&str], env: &[(&'static str, String)]) -> Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_in(root, args, &env)
}

/// Asserts the work tree is the golden result of releasing the demo.
fn assert_demo_golden(root: &Path) {
    let got = snapshot(root);
    let want = snapshot(&fixture("demo-after-20"));
    let names = |s: &[(String, Vec<u8>)]| s.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(&want), "files differ from demo-after-20");
    assert!(got == want, "contents differ from demo-after-20");
}

/// Asserts HEAD is one consolidation commit on top of `base` and nothing is left uncommitted.
fn assert_committed_once(repo: &Repository, base: git2::Oid) {
    let head = repo.head().expect("head").peel_to_commit().expect("commit");
    let message = head.message().expect("utf-8");
    assert!(
        message.starts_with("Consolidate MOODLE_20_STABLE: fold 30 standalone steps"),
        "{message}"
    );
    assert_eq!(head.parent_id(0).expect("parent"), base);
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    let statuses = repo.statuses(Some(&mut opts)).expect("status");
    let left: Vec<String> = statuses
        .iter()
        .filter_map(|s| s.path().map(str::to_string))
        .collect();
    assert!(left.is_empty(), "uncommitted changes left: {left:?}");
    let tree = head.tree().expect("tree");
    let mut staged_temp = false;
    tree.walk(git2::TreeWalkMode::PreOrder, |_, e| {
        staged_temp |= e.name().is_some_and(|n| n.starts_with(".consolidate-"));
        git2::TreeWalkResult::Ok
    })
    .expect("walk");
    assert!(!staged_temp, "a temporary file was committed");
}

const RELEASE_COMMIT: [&str; 3] = ["release", "MOODLE_20_STABLE", "--commit"];

#[test]
fn release_commit_checks_the_repository_identity_and_cleanliness_before_writing() {
    // Not a repository: nothing to commit to, nothing written.
    let plain = TempTree::copy_of("demo");
    let before = snapshot(plain.path());
    let out = plain.run(&RELEASE_COMMIT);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("is not inside a git repository"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        snapshot(plain.path()),
        before,
        "files written outside a repository"
    );

    // No identity (repository, global and system config): refused before
    // writing (it used to write every file, then fail to commit).
    let (tree, repo) = demo_repo(false);
    let home = tempfile::tempdir().expect("home");
    let before = snapshot(tree.path());
    let out = run_env_owned(tree.path(), &RELEASE_COMMIT, &no_global_git(home.path()));
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("no git identity"), "{}", stderr(&out));
    assert_eq!(
        snapshot(tree.path()),
        before,
        "files written without an identity"
    );
    drop(repo);

    // Someone's uncommitted work, and an existing tag: refused, nothing written.
    let (tree, repo) = demo_repo(true);
    tree.write("lib/db/upgrades/2008030500-wip.sql", "SELECT 1;\n");
    let before = snapshot(tree.path());
    let out = tree.run(&RELEASE_COMMIT);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(
            "uncommitted change(s) that are not this command's: lib/db/upgrades/2008030500-wip.sql"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(tree.path()), before);
    std::fs::remove_file(tree.path().join("lib/db/upgrades/2008030500-wip.sql")).expect("rm");
    let head = repo.head().expect("head").peel_to_commit().expect("commit");
    repo.tag_lightweight("MOODLE_20_STABLE", head.as_object(), false)
        .expect("tag");
    let before = snapshot(tree.path());
    let out = tree.run(&["release", "MOODLE_20_STABLE", "--commit", "--tag"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("the tag MOODLE_20_STABLE exists already"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(tree.path()), before);
    // A merge in progress: its half-merged files are not the release's.
    let merge_head = repo.path().join("MERGE_HEAD");
    std::fs::write(&merge_head, format!("{}\n", head.id())).expect("MERGE_HEAD");
    let out = tree.run(&RELEASE_COMMIT);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("in the middle of a merge"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(tree.path()), before);
    std::fs::remove_file(&merge_head).expect("rm MERGE_HEAD");
    // --allow-dirty would commit someone's work: not with --commit.
    let out = tree.run(&["release", "MOODLE_20_STABLE", "--commit", "--allow-dirty"]);
    assert_exit(&out, 64);

    // A temporary file left by a killed run is removed and never committed.
    repo.tag_delete("MOODLE_20_STABLE").expect("untag");
    tree.write("lib/db/.consolidate-killed.tmp", "half a file");
    let base = head.id();
    assert_exit(
        &tree.run(&["release", "MOODLE_20_STABLE", "--commit", "--tag"]),
        0,
    );
    assert!(!tree.path().join("lib/db/.consolidate-killed.tmp").exists());
    assert_committed_once(&repo, base);
    assert_demo_golden(tree.path());
}

#[test]
fn release_commit_killed_midway_is_completed_and_committed_by_a_rerun() {
    // 40 file operations: 12 writes, then 28 deletions. A fault after the last
    // one stops the process after every file is written, before the commit.
    for (n, real_kill) in [(3, true), (20, true), (12, false), (40, false)] {
        let (tree, repo) = demo_repo(true);
        let base = repo.head().expect("head").peel_to_commit().expect("c").id();
        if real_kill {
            kill_after(tree.path(), &RELEASE_COMMIT, n);
        } else {
            let out = tree.run_env(
                &RELEASE_COMMIT,
                &[("CONSOLIDATE_FAULT_AFTER", &n.to_string())],
            );
            assert_exit(&out, 86);
        }
        let head = repo.head().expect("head").peel_to_commit().expect("c").id();
        assert_eq!(head, base, "no commit was made by the interrupted run");
        // A write killed midway leaves its temporary file behind.
        tree.write("lib/db/.consolidate-Xq3f.tmp", "partial");
        let out = tree.run(&RELEASE_COMMIT);
        assert_exit(&out, 0);
        assert!(stderr(&out).contains("committed "), "{}", stderr(&out));
        assert_committed_once(&repo, base);
        assert_demo_golden(tree.path());
        // And once more: nothing left to do, no second commit.
        let again = tree.run(&RELEASE_COMMIT);
        assert_exit(&again, 0);
        assert_committed_once(&repo, base);
    }
}

#[test]
fn release_commit_tag_rerun_tags_the_release_commit_once() {
    // A run killed between its commit and its tag: the re-run makes the tag
    // on the release commit, and no second commit.
    let (tree, repo) = demo_repo(true);
    let base = repo.head().expect("head").peel_to_commit().expect("c").id();
    assert_exit(&tree.run(&RELEASE_COMMIT), 0);
    assert!(repo.find_reference("refs/tags/MOODLE_20_STABLE").is_err());
    let tagged = ["release", "MOODLE_20_STABLE", "--commit", "--tag"];
    let out = tree.run(&tagged);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("tagged HEAD MOODLE_20_STABLE"),
        "{}",
        stderr(&out)
    );
    assert_committed_once(&repo, base);
    let head = repo.head().expect("head").peel_to_commit().expect("c").id();
    let tag = repo
        .find_reference("refs/tags/MOODLE_20_STABLE")
        .expect("tag")
        .peel_to_commit()
        .expect("commit")
        .id();
    assert_eq!(tag, head);
    // Once more: the tag on HEAD is this release's, nothing to do.
    assert_exit(&tree.run(&tagged), 0);
    assert_committed_once(&repo, base);
}
