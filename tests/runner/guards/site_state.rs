//! Site state that is never guessed (item 7): a missing `upgrade_site` row or a
//! bad schema version stops every command before any step runs.

use super::*;

fn site_state_is_never_guessed(db: Db) {
    let tree = after();
    apply_ok(&tree, &db, &["--phase", "pre"]);
    let rows = ledger_rows(&db);
    db.exec("DELETE FROM upgrade_site");
    for args in [&["status"][..], &["plan"], &["apply"]] {
        let out = cmd(&tree, &db, args);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("upgrade_site has no row"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(
        ledger_rows(&db),
        rows,
        "apply ran steps on a site it guessed fresh"
    );
    for bad in ["0", "-3", "two"] {
        db.exec(&format!(
            "UPDATE upgrade_meta SET value = '{bad}' WHERE key = 'schema_version'"
        ));
        for args in [&["status"][..], &["apply"]] {
            let out = cmd(&tree, &db, args);
            assert_exit(&out, 1);
            assert!(
                stderr(&out).contains("upgrade_meta.schema_version is"),
                "{bad} {args:?}: {}",
                stderr(&out)
            );
        }
    }
    assert_eq!(ledger_rows(&db), rows);
}

#[test]
fn sqlite_site_state_is_never_guessed() {
    site_state_is_never_guessed(Db::sqlite());
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_site_state_is_never_guessed() {
    site_state_is_never_guessed(Db::postgres("guessed"));
}
