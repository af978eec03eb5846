//! What `status` and the selection decide on an in-memory tree: refusals of a
//! site too old, unknown or downgraded, selections by phase and `--to`, drift,
//! orphans and prunable rows, a corrupt checksum, row keys, and the pending
//! steps ordered lazily as in the whole order.

use super::*;

#[test]
fn refusals() {
    let t = demo();
    let order = plan::order(&t).expect("order");
    let s = status_for(&t, &order, at(Some("R18"), None));
    assert!(
        matches!(&s.refusal, Some(Refusal::TooOld { upgrade_from, .. }) if upgrade_from.as_str() == "R19"),
        "{:?}",
        s.refusal
    );
    let s = status_for(&t, &order, at(Some("R21"), None));
    assert!(matches!(s.refusal, Some(Refusal::UnknownRelease { .. })));
    let s = status_for(&t, &order, at(Some("R19"), Some("2009000000")));
    assert!(matches!(s.refusal, Some(Refusal::Downgrade { .. })));
    let s = status_for(&t, &order, at(Some("R19"), Some("2007101500.01")));
    assert!(s.refusal.is_none());
    let s = status_for(&t, &order, Stored::default());
    assert!(s.refusal.is_none());
    assert_eq!(s.pending.len(), 4);
    assert_eq!(
        s.release_to_complete.as_ref().map(|r| r.as_str()),
        Some("R19")
    );
    assert!(s.needs_upgrade());
}

#[test]
fn selection_by_phase_and_to() {
    let t = demo();
    let order = plan::order(&t).expect("order");
    let s = status_for(&t, &order, Stored::default());
    let keys = |steps: Vec<&Step>| steps.iter().map(|s| s.key.to_string()).collect::<Vec<_>>();
    let all = select(&t, &s, &Selection::default()).expect("all");
    assert_eq!(
        keys(all),
        [
            "mod_forum/2008010150-b",
            "core/2008010100-a",
            "core/2008010200-trigger",
            "mod_forum/2008010300-c"
        ]
    );
    let pre = Selection {
        phase: Some(Phase::Pre),
        ..Selection::default()
    };
    assert_eq!(
        keys(select(&t, &s, &pre).expect("pre")),
        ["mod_forum/2008010150-b"]
    );
    let to = Selection {
        to: Some("2008010100-a".into()),
        ..Selection::default()
    };
    assert_eq!(select(&t, &s, &to).expect("to").len(), 2);
    let bad = Selection {
        to: Some("2008010100-a".into()),
        phase: Some(Phase::Pre),
        ..Selection::default()
    };
    assert!(matches!(
        select(&t, &s, &bad),
        Err(RunError::PhaseMismatch { .. })
    ));
    let unknown = Selection {
        to: Some("core/2009010100-x".into()),
        ..Selection::default()
    };
    assert!(matches!(
        select(&t, &s, &unknown),
        Err(RunError::UnknownStep { .. })
    ));
}

#[test]
fn drift_orphans_and_prunable() {
    let t = demo();
    let order = plan::order(&t).expect("order");
    let a = t
        .steps
        .iter()
        .find(|s| s.key.name.as_str() == "2008010100-a")
        .expect("a");
    let mut stored = at(Some("R19"), None);
    stored.rows = vec![
        row(
            "core",
            "2008010100-a",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ),
        row(
            "mod_forum",
            "2008010150-b",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ),
        row("core", "2001010100-gone", a.checksum.text().as_str()),
        row("weird name", "x", "not a checksum"),
    ];
    let s = status_for(&t, &order, stored);
    assert_eq!(s.drift.len(), 2);
    let orphans: Vec<String> = s.orphans.iter().map(LedgerRow::key_text).collect();
    assert_eq!(orphans, ["core/2001010100-gone", "weird name/x"]);
    assert!(s.prunable.is_empty());
    assert!(s.blocked());
}

#[test]
fn a_covered_row_with_a_corrupt_checksum_is_still_refused() {
    let sum = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let toml = format!(
        "[[step]]\nname = \"2007010100-s00001\"\nrelease = \"R19\"\nphase = \"main\"\nchecksum = \"{sum}\"\nsql = \"INSERT INTO kv VALUES (1);\"\n"
    );
    let t = tree(&[("lib/db/upgrade.toml", &toml)]);
    let order = plan::order(&t).expect("order");
    let mut stored = at(Some("R19"), None);
    stored.rows = vec![row("core", "2007010100-s00001", "sha256:XYZ")];
    let err = status_of(&t, Some(&order), Database::Sqlite, "site.db", stored)
        .expect_err("a corrupt checksum is refused");
    assert!(err.to_string().contains("sha256:XYZ"), "{err}");
}

#[test]
fn a_row_key_reads_as_its_key_text() {
    let cases = [
        ("core", "2007010100-s00001"),
        (" core ", " 2007010100-s00001 "),
        ("a/b", "2007010100-s00001"),
        ("core", "2007010100/s00001"),
        ("core", "not a step"),
        ("", ""),
        ("Core!", "2007010100-s00001"),
    ];
    for (component, step) in cases {
        let r = row(component, step, "sha256:00");
        assert_eq!(
            r.key(),
            StepKey::parse(&r.key_text()).ok(),
            "{component:?} / {step:?}"
        );
        assert_eq!(r.key_len(), r.key_text().len());
    }
}

#[test]
fn ordering_only_the_pending_steps_gives_the_pending_steps_of_the_whole_order() {
    // Phases, components and dates interleaved; no requirements.
    let mut files = Vec::new();
    for (i, folder) in ["lib", "mod/forum", "mod/assign", "mod/quiz"]
        .iter()
        .enumerate()
    {
        for n in 0..9 {
            let phase = ["pre", "main", "post"][(n + i) % 3];
            files.push((
                format!(
                    "{folder}/db/upgrades/20080{}0{}00-s{n}.sql",
                    1 + n % 3,
                    1 + (n + i) % 4
                ),
                format!("-- phase: {phase}\nINSERT INTO kv (k) VALUES ('{i}{n}');\n"),
            ));
        }
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let t = tree(&refs);
    assert!(!plan::has_requires(&t));
    let order = plan::order(&t).expect("order");
    let keys = |s: &Status<'_>| s.pending.iter().map(|s| s.key.clone()).collect::<Vec<_>>();
    // A fresh site, and sites with every third, every other, every step applied.
    for every in [0, 3, 2, 1] {
        let mut stored = at(None, None);
        if every > 0 {
            stored.rows = t
                .steps
                .iter()
                .step_by(every)
                .map(|s| {
                    row(
                        s.key.component.as_str(),
                        s.key.name.as_str(),
                        &s.checksum.to_string(),
                    )
                })
                .collect();
        }
        let whole =
            status_of(&t, Some(&order), Database::Sqlite, "t.db", stored.clone()).expect("whole");
        let lazily = status_of(&t, None, Database::Sqlite, "t.db", stored).expect("lazily");
        assert_eq!(keys(&lazily), keys(&whole), "every {every}");
        assert_eq!(whole.pending.is_empty(), every == 1);
    }
}
