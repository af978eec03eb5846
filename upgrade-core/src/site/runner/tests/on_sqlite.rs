//! The runner on a SQLite site: `apply` by phase then whole, completing the
//! release and pruning, run twice; and failing statements named by the file
//! line they come from.

use super::*;

#[test]
fn apply_completes_and_prunes_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = demo();
    let url = DatabaseUrl::Sqlite(dir.path().join("site.db"));
    let runner = Runner::new(&t, url.clone()).expect("runner");
    let first = runner
        .apply(
            &ApplyOptions {
                selection: Selection {
                    phase: Some(Phase::Pre),
                    ..Selection::default()
                },
                ..ApplyOptions::default()
            },
            &mut |_| {},
        )
        .expect("apply pre");
    assert_eq!((first.applied, first.remaining), (1, 3));
    // No step is tagged R19 or earlier, so R19 completes as soon as anything ran.
    assert_eq!(
        first.completed.as_ref().map(|(r, _)| r.as_str()),
        Some("R19")
    );
    assert_eq!(
        first.synced, None,
        "version and revision wait for the last step"
    );
    let mut events = Vec::new();
    let report = runner
        .apply(&ApplyOptions::default(), &mut |e| {
            if let ApplyEvent::StepDone { step, noop, .. } = e {
                events.push((step.key.to_string(), noop));
            }
        })
        .expect("apply");
    assert_eq!(report.applied, 3);
    assert_eq!(report.noops, 0, "the trigger has a sqlite variant");
    assert_eq!(report.completed, None, "already completed");
    assert!(report.synced.is_some());
    let status = runner.status().expect("status");
    assert!(!status.needs_upgrade(), "{status:?}");
    assert_eq!(
        status.stored.rows.len(),
        4,
        "standalone rows stay until their release completes"
    );
    // Runs again: nothing to do.
    let again = runner
        .apply(&ApplyOptions::default(), &mut |_| {})
        .expect("again");
    assert_eq!(again, ApplyReport::default());
}

#[test]
fn failing_statements_name_their_file_line() {
    use crate::model::step::{Body, Checksum};
    let sql = "CREATE TABLE x (id INT);\n\nINSERT INTO missing VALUES (1);\n";
    let checksum = Checksum::of(&Body::Any(sql.into()));
    let upgrade = format!(
        "[[step]]\nname = \"2007080100-x\"\nrelease = \"R19\"\nphase = \"main\"\nchecksum = \"{checksum}\"\nsql = '''\n{sql}'''\n"
    );
    let t = tree(&[
        ("lib/db/upgrade.toml", upgrade.as_str()),
        (
            "mod/forum/db/upgrades/2008010150-b.sql",
            "-- phase: pre\n-- a free comment\nCREATE TABLE b (id INT);\n",
        ),
    ]);
    let released = t
        .steps
        .iter()
        .find(|s| s.key.name.as_str() == "2007080100-x")
        .expect("released");
    assert_eq!(
        file_line(&t, released, Database::Sqlite, 3).as_deref(),
        Some("lib/db/upgrade.toml:9")
    );
    let standalone = t
        .steps
        .iter()
        .find(|s| s.key.name.as_str() == "2008010150-b")
        .expect("standalone");
    let body = standalone.body.for_database("sqlite").expect("body");
    let line = body
        .lines()
        .position(|l| l.starts_with("CREATE"))
        .expect("create")
        + 1;
    assert_eq!(
        file_line(&t, standalone, Database::Sqlite, line).as_deref(),
        Some("mod/forum/db/upgrades/2008010150-b.sql:3")
    );
    // End to end: the released entry fails on a fresh SQLite site.
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = Runner::new(&t, DatabaseUrl::Sqlite(dir.path().join("site.db"))).expect("runner");
    let err = runner
        .apply(&ApplyOptions::default(), &mut |_| {})
        .expect_err("missing table");
    assert!(
        matches!(&err, RunError::StepFailed { location, .. } if location == "lib/db/upgrade.toml:9"),
        "{err}"
    );
}
