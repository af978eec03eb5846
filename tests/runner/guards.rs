//! The runner's guards end to end (issue 7): output that cannot stop an
//! upgrade, released history the runner refuses to run when edited, site
//! state that is never guessed, `--phase`/`--to` that never run a step ahead
//! of what it needs, secrets that are never printed, errors a user can act on,
//! and interrupted steps that never run twice by accident.

use super::*;

/// `apply | head -2`: a closed stdout must neither stop nor fail the run.
fn closed_stdout_never_stops_apply(db: Db) {
    let tree = after();
    let expected = clean_install(&db, &tree);
    let (reader, writer) = {
        #[allow(clippy::incompatible_msrv)]
        let pair = std::io::pipe().expect("pipe");
        pair
    };
    drop(reader);
    let out = Command::new(bin())
        .args(["apply", "--db", &db.arg()])
        .current_dir(tree.path())
        .env("LC_ALL", "C")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run apply");
    assert_ne!(out.status.code(), Some(101), "panicked: {}", stderr(&out));
    assert_exit(&cmd(&tree, &db, &["status"]), 0);
    assert_eq!(snapshot_of(&db), expected);
}

#[test]
fn sqlite_closed_stdout_never_stops_apply() {
    closed_stdout_never_stops_apply(Db::sqlite());
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_closed_stdout_never_stops_apply() {
    closed_stdout_never_stops_apply(Db::postgres("closed_stdout"));
}
