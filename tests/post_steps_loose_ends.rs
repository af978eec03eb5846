//! Batched post steps in `plan` (listed after what `apply` runs, as left to
//! `consolidate post run`, with progress), `apply --to` a batched step (runs
//! what comes before it, then says to use `post run`), and `done`, `status`,
//! `post status` and `plan` on a ledger of schema 1 or 2 (made by an earlier
//! release of the tool): they answer from the ledger rows and never migrate;
//! `status` exits 3 with only post work left; pause / resume.

use super::{BACKFILL, Site};
use crate::util::{assert_exit, stderr, stdout};

/// The keys of a `plan --json` array.
fn keys(doc: &serde_json::Value, array: &str) -> Vec<String> {
    doc[array]
        .as_array()
        .expect("array")
        .iter()
        .map(|s| {
            format!(
                "{}/{}",
                s["component"].as_str().unwrap_or(""),
                s["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn plan_json(site: &Site) -> serde_json::Value {
    let out = site.run(&["plan", "--json"]);
    assert_exit(&out, 0);
    serde_json::from_str(&stdout(&out)).expect("json")
}

#[test]
fn sqlite_plan_lists_batched_steps_after_what_apply_runs_with_their_progress() {
    let site = Site::new(50, 10, false);
    // Before apply: the core step in the main list, the backfill apart.
    let doc = plan_json(&site);
    assert_eq!(keys(&doc, "steps"), ["core/2008010100-core"]);
    assert_eq!(keys(&doc, "batched"), [BACKFILL]);
    let b = &doc["batched"][0];
    assert_eq!(b["file"], "lib/db/upgrades/2008010300-backfill.sql");
    assert_eq!(b["batch"], "big.id 10");
    assert_eq!(b["state"], "waiting");
    assert_eq!(b["ranges_done"], 0);
    assert_eq!(b["ranges_total"], serde_json::Value::Null);
    let out = site.run(&["plan"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let main = text.find("1. core/2008010100-core").expect(&text);
    let left = text
        .find("left to `consolidate post run`: 1 batched post step(s)")
        .expect(&text);
    assert!(main < left, "{text}");
    assert!(
        text.contains("core/2008010300-backfill  batch big.id 10  lib/db/upgrades/2008010300-backfill.sql  (waiting"),
        "{text}"
    );
    // The main list is what apply runs: the core step only.
    assert_exit(&site.run(&["apply"]), 0);
    assert!(site.ledger_has("2008010100-core"));
    assert_eq!(site.int("SELECT count(*) FROM upgrade_batches"), 0);
    let doc = plan_json(&site);
    assert_eq!(keys(&doc, "steps"), Vec::<String>::new());
    assert_eq!(doc["batched"][0]["state"], "pending");
    assert!(
        stdout(&site.run(&["plan"])).contains("(not started)"),
        "a step not started says so"
    );
    // Started (its key range read): its progress is shown.
    assert_exit(&site.run(&["post", "run", "--max-seconds", "0"]), 0);
    let doc = plan_json(&site);
    assert_eq!(doc["batched"][0]["state"], "running");
    assert_eq!(doc["batched"][0]["ranges_total"], 5);
    let text = stdout(&site.run(&["plan"]));
    assert!(text.contains("(running, 0/5 ranges, 0 rows)"), "{text}");
    // --phase main lists no batched step.
    let out = site.run(&["plan", "--json", "--phase", "main"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(keys(&doc, "batched"), Vec::<String>::new());
    // Done: no longer listed.
    assert_exit(&site.run(&["post", "run"]), 0);
    let doc = plan_json(&site);
    assert_eq!(keys(&doc, "batched"), Vec::<String>::new());
    assert!(!stdout(&site.run(&["plan"])).contains("left to"));
}

#[test]
fn sqlite_apply_to_a_batched_step_runs_what_comes_before_it_and_points_to_post_run() {
    let site = Site::new(50, 10, false);
    site.tree.write(
        "lib/db/upgrades/2008010500-later.sql",
        "-- phase: post\nCREATE TABLE later (id INT);\n",
    );
    let out = site.run(&["plan", "--json", "--to", BACKFILL]);
    assert_exit(&out, 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(keys(&doc, "steps"), ["core/2008010100-core"]);
    assert_eq!(keys(&doc, "batched"), [BACKFILL]);
    let out = site.run(&["apply", "--to", BACKFILL]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(!text.contains("nothing to apply"), "{text}");
    assert!(
        text.contains("core/2008010300-backfill (lib/db/upgrades/2008010300-backfill.sql) runs in batches while the site is online"),
        "{text}"
    );
    assert!(text.contains("run `consolidate post run`"), "{text}");
    // What comes before it ran; neither the step nor what follows it did.
    assert!(site.ledger_has("2008010100-core"));
    assert_eq!(site.int("SELECT count(*) FROM big WHERE v = 0"), 50);
    assert_eq!(site.int("SELECT count(*) FROM upgrade_batches"), 0);
    assert!(!site.ledger_has("2008010300-backfill"));
    assert!(!site.ledger_has("2008010500-later"));
    // Again: nothing before it, the same pointer.
    let out = site.run(&["apply", "--to", BACKFILL]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("runs in batches"), "{}", stdout(&out));
    assert!(!site.ledger_has("2008010500-later"));
    assert_exit(&site.run(&["post", "run"]), 0);
    // Applied: --to it is "nothing to apply" as for any applied step.
    let out = site.run(&["apply", "--to", BACKFILL]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("nothing to apply"),
        "{}",
        stdout(&out)
    );
}

/// A site whose core step is applied and backfill pending, with its ledger
/// taken back to schema `from` (as an earlier release of the tool left it).
fn old_ledger_answers_without_migrating(site: Site, from: i64) {
    assert_exit(&site.run(&["apply"]), 0);
    let audit = if from == 1 {
        "DROP TABLE upgrade_audit;"
    } else {
        ""
    };
    site.exec(&format!(
        "DROP TABLE upgrade_maintenance; DROP TABLE upgrade_events; \
         DROP TABLE upgrade_batch_steps; DROP TABLE upgrade_batches; \
         DROP TABLE upgrade_components; {audit} \
         UPDATE upgrade_meta SET value = '{from}' WHERE key = 'schema_version';"
    ));
    let out = site.run(&["done", BACKFILL]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("not yet"), "{}", stderr(&out));
    let out = site.run(&["done", "core/2008010100-core"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("applied"), "{}", stdout(&out));
    let out = site.run(&["post", "status"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("core/2008010300-backfill pending"),
        "{}",
        stdout(&out)
    );
    let out = site.run(&["status"]);
    assert_exit(&out, 3);
    assert!(!stdout(&out).contains("unavailable"), "{}", stdout(&out));
    let out = site.run(&["plan", "--json"]);
    assert_exit(&out, 0);
    // Nothing was written: the schema is still the old one.
    assert_eq!(
        site.int("SELECT CAST(value AS BIGINT) FROM upgrade_meta WHERE key = 'schema_version'"),
        from
    );
    // The next command that takes the lock migrates it, and the step runs.
    assert_exit(&site.run(&["post", "run"]), 0);
    assert_exit(&site.run(&["done", BACKFILL]), 0);
    assert_eq!(site.int("SELECT count(*) FROM big WHERE v = 1"), 50);
}

#[test]
fn sqlite_done_status_and_post_status_answer_on_a_v2_and_a_v1_ledger_without_migrating() {
    old_ledger_answers_without_migrating(Site::new(50, 10, false), 2);
    old_ledger_answers_without_migrating(Site::new(50, 10, false), 1);
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_done_status_and_post_status_answer_on_a_v2_and_a_v1_ledger_without_migrating() {
    old_ledger_answers_without_migrating(Site::new(50, 10, true), 2);
    old_ledger_answers_without_migrating(Site::new(50, 10, true), 1);
}

fn status_exits_3_with_only_post_work(site: Site) {
    assert_exit(&site.run(&["status"]), 2);
    let out = site.run(&["apply"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("1 batched post step(s) left to `consolidate post run`"),
        "{}",
        stdout(&out)
    );
    assert_eq!(site.int("SELECT count(*) FROM big WHERE v = 0"), 50);
    let out = site.run(&["status"]);
    assert_exit(&out, 3);
    assert!(
        stdout(&out).contains("online work pending"),
        "{}",
        stdout(&out)
    );
    let out = site.run(&["status", "--json"]);
    assert_exit(&out, 3);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(doc["downtime"], "online");
    assert_eq!(
        doc["pending_steps"]["core"]["post"][0],
        "2008010300-backfill"
    );
    assert_eq!(doc["post"][0]["key"], BACKFILL);
    assert_eq!(doc["post"][0]["state"], "pending");
    // A second apply runs nothing and does not touch the batched step.
    assert_exit(&site.run(&["apply"]), 0);
    assert_eq!(site.int("SELECT count(*) FROM upgrade_batches"), 0);
    assert_exit(&site.run(&["post", "run"]), 0);
    assert_exit(&site.run(&["status"]), 0);
    // Version and revision were recorded by post run, which applied the last step.
    assert_eq!(
        site.int(
            "SELECT count(*) FROM upgrade_site WHERE version = '2008030100.00' AND revision = 1"
        ),
        1
    );
}

#[test]
fn sqlite_status_exits_3_with_only_post_work_and_apply_leaves_batches_to_post_run() {
    status_exits_3_with_only_post_work(Site::new(50, 10, false));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_status_exits_3_with_only_post_work_and_apply_leaves_batches_to_post_run() {
    status_exits_3_with_only_post_work(Site::new(50, 10, true));
}

fn pause_and_resume(site: Site) {
    assert_exit(&site.run(&["apply"]), 0);
    let out = site.run(&["post", "pause"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("core/2008010300-backfill: paused"),
        "{}",
        stdout(&out)
    );
    let out = site.run(&["post", "run"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("not run: paused"), "{}", stdout(&out));
    assert_eq!(site.ranges().len(), 0);
    assert_exit(&site.run(&["done", BACKFILL]), 2);
    assert_exit(&site.run(&["post", "resume", BACKFILL]), 0);
    assert_exit(&site.run(&["post", "run", "--max-seconds", "0"]), 0);
    assert_eq!(
        site.ranges().len(),
        0,
        "no range starts after the time limit"
    );
    assert_exit(&site.run(&["post", "run"]), 0);
    assert_eq!(site.ranges().len(), 5);
    assert_exit(&site.run(&["done", BACKFILL]), 0);
    // Naming a step that is not batched, or unknown, is refused.
    let out = site.run(&["post", "pause", "core/2008010100-core"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("is not a batched post step"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sqlite_pause_and_resume() {
    pause_and_resume(Site::new(50, 10, false));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "set CONSOLIDATE_TEST_POSTGRES_URL (scripts/ci-postgres.sh)"
)]
fn postgres_pause_and_resume() {
    pause_and_resume(Site::new(50, 10, true));
}
