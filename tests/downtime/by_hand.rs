//! `maintenance on|off` by hand: the rows it sets (kept by `apply`), `--json`,
//! the event log and its sequence, and an unknown component refused.

use super::*;

#[test]
fn maintenance_on_and_off_by_hand_with_events() {
    let site = Site::sqlite();
    let t = tree("staged", "");
    let db = site.arg();
    let out = t.run(&["maintenance", "--db", &db]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("every scope is online"));
    let out = t.run(&[
        "maintenance",
        "on",
        "mod_forum",
        "--db",
        &db,
        "--reason",
        "cache rebuild",
    ]);
    assert_exit(&out, 0);
    assert_eq!(maintenance(&site), ["mod_forum|maintenance"]);
    assert_eq!(
        site.rows("SELECT reason FROM upgrade_maintenance"),
        ["cache rebuild"]
    );
    let out = t.run(&["maintenance", "--db", &db, "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(doc["scopes"][0]["scope"], "mod_forum");
    assert_eq!(doc["scopes"][0]["manual"], true);
    // apply runs the component under the row set by hand and keeps it.
    assert_exit(&apply(&t, &site), 0);
    assert_eq!(seen(&site, "mod_forum"), ["mod_forum"]);
    assert_eq!(maintenance(&site), ["mod_forum|maintenance"]);
    assert_exit(&t.run(&["maintenance", "off", "mod_forum", "--db", &db]), 0);
    assert_exit(&t.run(&["maintenance", "on", "--db", &db]), 0);
    assert_eq!(maintenance(&site), ["*|maintenance"]);
    assert_exit(&t.run(&["maintenance", "off", "--db", &db]), 0);
    assert_eq!(maintenance(&site), Vec::<String>::new());
    assert_eq!(
        events(&site),
        [
            "mod_forum|manual-on",
            "*|enter",
            "*|leave",
            "mod_forum|manual-off",
            "*|manual-on",
            "*|manual-off"
        ]
    );
    let seqs = site.rows("SELECT CAST(seq AS TEXT) FROM upgrade_events ORDER BY seq");
    assert_eq!(seqs, ["1", "2", "3", "4", "5", "6"]);
    let out = t.run(&["maintenance", "on", "mod_nope", "--db", &db]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("mod_nope"), "{}", stderr(&out));
}
