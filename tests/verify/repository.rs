//! The repository `verify` reads: none, an unknown revision, a step tree in a
//! subfolder of the repository, and a shallow clone refused with the command
//! that fetches the history.

use crate::history::{self, History};
use crate::util::*;

#[test]
fn verify_needs_a_repository_and_known_revisions() {
    let tree = TempTree::copy_of("demo");
    let out = tree.run(&["verify"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("is not inside a git repository"),
        "{}",
        stderr(&out)
    );
    let h = History::build();
    let out = h.run(&["verify", "--against", "MOODLE_99_STABLE"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("`MOODLE_99_STABLE` names no commit"), "{err}");
    assert!(err.contains("hint: "), "{err}");
}

#[test]
fn verify_reads_a_tree_in_a_subfolder_of_the_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture("demo"), &dir.path().join("site"));
    std::fs::write(dir.path().join("README"), "the application\n").expect("write");
    let repo = git2::Repository::init(dir.path()).expect("init");
    let mut config = repo.config().expect("config");
    config.set_str("user.name", "t").expect("name");
    config
        .set_str("user.email", "t@example.org")
        .expect("email");
    history::commit_in(&repo, "The demo site in a subfolder", 1_200_000_000);
    let site = dir.path().join("site");
    assert_exit(
        &run_in(&site, &["release", "MOODLE_20_STABLE", "--commit"], &[]),
        0,
    );
    let out = run_in(&site, &["verify"], &[]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("pass  C1 against history: 1 consolidation commit(s), 75 site state(s), 44 step(s), 0 difference(s)"),
        "{text}"
    );
}

#[test]
fn verify_refuses_a_shallow_clone_with_the_command_that_fetches_the_history() {
    let h = History::build();
    let clone = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", h.root().display());
    let status = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "1", "--branch", "main", &url])
        .arg(clone.path().join("shallow"))
        .status();
    let Ok(status) = status else {
        panic!("this test needs the git binary to make a shallow clone");
    };
    assert!(status.success(), "git clone --depth 1 failed");
    let out = run_in(&clone.path().join("shallow"), &["verify"], &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("the repository is a shallow clone")
            && err.contains("(MOODLE_19_STABLE, MOODLE_20_STABLE)"),
        "{err}"
    );
    assert!(err.contains("`git fetch --unshallow --tags`"), "{err}");
}
