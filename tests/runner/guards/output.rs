//! Output that can never stop an upgrade and secrets that are never printed
//! (item 12): a closed stdout during `apply`, and database passwords in every
//! spelling of a connection string.

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

// ------------------------------------------------ secrets (item 12)

#[test]
fn secrets_are_never_printed() {
    let tree = after();
    for (db, secret) in [
        ("postgres://me:s3cr/et@127.0.0.1:1/site", "s3cr"),
        ("postgres://me:s3cr?et@127.0.0.1:1/site", "s3cr"),
        ("postgres://me:s3cr#et@127.0.0.1:1/site", "s3cr"),
        ("postgres://me:s3cr%2Fet@127.0.0.1:1/site", "s3cr"),
        ("postgres://me@127.0.0.1:1/site?password=s3cret", "s3cret"),
        (
            "postgres://me@127.0.0.1:1/site?password=s3cret&password=s3cret2",
            "s3cret",
        ),
        (
            "postgresql://127.0.0.1:1/site?user=me&PassWord=s3cret",
            "s3cret",
        ),
        (
            "host=127.0.0.1 port=1 user=me password=s3cret dbname=site",
            "s3cret",
        ),
        (
            "host=127.0.0.1 port=1 user=me password='s3 cret' dbname=site",
            "s3",
        ),
        ("mysql://me:s3cret@127.0.0.1/site", "s3cret"),
    ] {
        for command in ["status", "plan", "apply", "prune"] {
            let out = tree.run(&[command, "--db", db]);
            assert_ne!(out.status.code(), Some(0), "{command} {db}");
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert!(!all.contains(secret), "{command} {db}: {all}");
            assert!(
                all.contains("***") || all.contains("127.0.0.1"),
                "{command} {db}: {all}"
            );
        }
    }
}
