use std::collections::BTreeMap;

use super::*;
use crate::files::upgrade_file::{append, parse};

fn step(name: &str, phase: Phase, body: Body) -> Step {
    Step::core_for_test(name, phase, body)
}

/// The quick read of `text` into a list that already holds a step: what it
/// appended, or `None`, after checking that a read that gave up left the
/// list as it was.
fn quick(path: &str, text: &str, covered: &dyn Fn(&ReleaseName) -> bool) -> Option<Vec<Step>> {
    let kept = step(
        "2001010100-kept",
        Phase::Main,
        Body::Any("SELECT 0;\n".into()),
    );
    let mut steps = vec![kept.clone()];
    let read = read_covered(path, text, &ComponentName::core(), covered, &mut steps);
    assert_eq!(steps.first(), Some(&kept), "the step already listed");
    match read {
        Some(()) => Some(steps.split_off(1)),
        None => {
            assert_eq!(steps.len(), 1, "a read that gave up left steps behind");
            None
        }
    }
}

fn release(name: &str) -> ReleaseName {
    ReleaseName::parse(name).expect("valid")
}

/// A file as `consolidate release` writes it: R1 then R2 entries, with
/// bodies that hold what trips naive scanners (quotes, brackets, a
/// `[[step]]` line inside the SQL, per-database bodies).
fn released_file() -> String {
    let a = step(
        "2008010100-a",
        Phase::Main,
        Body::Any("CREATE TABLE t (x TEXT DEFAULT 'a''b', y TEXT DEFAULT '\"');\n".into()),
    );
    let mut b = step(
        "2008010200-b",
        Phase::Pre,
        Body::Any("-- [[step]]\n-- name = \"x\"\nCREATE TABLE u (v INT); -- ''' \"\"\"\n".into()),
    );
    b.transaction = false;
    let c = step(
        "2008010300-c",
        Phase::Post,
        Body::PerDatabase(Box::new(BTreeMap::from([
            ("postgres".into(), "SELECT '''' AS q;\n".into()),
            ("sqlite".into(), "SELECT 1; -- [x] {y}\n".into()),
        ]))),
    );
    let core = ComponentName::core();
    let r1 = append(None, &core, &[&a, &b], &release("R1"));
    append(Some(&r1), &core, &[&c], &release("R2"))
}

#[test]
fn agrees_with_the_full_parse_on_what_it_reads() {
    let text = released_file();
    let core = ComponentName::core();
    let full = parse("lib/db/upgrade.toml", &text, &core).expect("valid");
    let quick = quick("lib/db/upgrade.toml", &text, &|_| true).expect("read");
    assert_eq!(quick.len(), 3);
    for (q, f) in quick.iter().zip(&full) {
        assert_eq!(q.key, f.key);
        assert_eq!(q.phase, f.phase);
        assert_eq!(q.transaction, f.transaction);
        assert_eq!(q.checksum, f.checksum);
        assert_eq!(q.origin, f.origin, "file, release and line");
        // The body is not read, so nothing is hashed.
        assert_eq!(q.body, Body::Any(Box::default()));
        assert_eq!(q.computed(), q.checksum);
    }
}

#[test]
fn gives_up_on_an_entry_the_site_has_not_run() {
    let text = released_file();
    let r1_only = |r: &ReleaseName| r.as_str() == "R1";
    assert!(quick("lib/db/upgrade.toml", &text, &r1_only).is_none());
}

#[test]
fn gives_up_on_what_it_does_not_know_for_certain() {
    let entry = |extra: &str, sql: &str| {
        format!(
            "[[step]]\nname = \"2008010100-a\"\nrelease = \"R1\"\nphase = \"main\"\n{extra}checksum = \"sha256:{}\"\n{sql}\n",
            "0".repeat(64)
        )
    };
    let plain = entry("", "sql = 'SELECT 1;'");
    assert!(quick("f", &plain, &|_| true).is_some(), "{plain}");
    let cases = [
        entry("requires = [\"core/2007010100-x\"]\n", "sql = 'SELECT 1;'"),
        entry("colour = \"red\"\n", "sql = 'SELECT 1;'"),
        entry("", ""),
        entry("", "sql = 'SELECT 1;'\nsql = 'SELECT 2;'"),
        entry("", "sql = \"\"\"SELECT 1;\"\"\"\""),
        entry("", "sql = '''\nSELECT 1;\n"),
        entry("", "sql = 'SELECT 1;' trailing"),
        entry("transaction = maybe\n", "sql = 'SELECT 1;'"),
        entry("", "[step.sql]\nmysql = 'SELECT 1;'"),
        entry("", "sql.sqlite = 'SELECT 1;'"),
        plain.replace("name = \"2008010100-a\"", "name = \"2008010100-\\u0061\""),
        plain.replace("name = \"2008010100-a\"", "\"name\" = \"2008010100-a\""),
        plain.replace("release = \"R1\"", "release = \"r1\""),
        plain.replace("phase = \"main\"", "phase = \"later\""),
        plain.replace("sha256:", "md5:"),
        format!("top = 1\n{plain}"),
        format!("[other]\n{plain}"),
        format!("{plain}{plain}").replacen("name = \"2008010100-a\"\n", "", 1),
    ];
    for text in cases {
        assert!(
            quick("f", &text, &|_| true).is_none(),
            "read quickly:\n{text}"
        );
    }
}

/// The quick read is one pass over the file: twice the entries, twice the
/// work.
#[test]
fn reading_is_linear_in_the_file() {
    let core = ComponentName::core();
    let work = |n: usize| {
        let steps: Vec<Step> = (0..n)
            .map(|i| {
                let body = format!("INSERT INTO kv VALUES ({i});\n");
                step(
                    &format!("2008010100-s{i}"),
                    Phase::Main,
                    Body::Any(body.into()),
                )
            })
            .collect();
        let refs: Vec<&Step> = steps.iter().collect();
        let text = append(None, &core, &refs, &release("R1"));
        crate::model::op_count::take();
        let read = quick("f", &text, &|_| true).expect("read");
        let work = crate::model::op_count::take();
        assert_eq!(read.len(), n);
        work
    };
    let (small, large) = (work(1000), work(2000));
    assert!(
        large * 10 <= small * 22,
        "2,000 entries cost {large} units, 1,000 entries {small}: not linear"
    );
}

/// Keys spelled otherwise than `consolidate release` writes them (no
/// spaces, more spaces, a tab) are read the same way, only not as quickly.
#[test]
fn other_spacing_reads_the_same_entries() {
    let text = released_file();
    let respaced = text
        .replace("name = ", "name=")
        .replace("release = ", "release  =  ")
        .replace("phase = ", "phase\t= ");
    assert_ne!(respaced, text);
    let keys = |steps: Vec<Step>| {
        steps
            .into_iter()
            .map(|s| (s.release().cloned(), s.key, s.phase, s.checksum))
            .collect::<Vec<_>>()
    };
    let written = quick("f", &text, &|_| true).expect("read");
    let other = quick("f", &respaced, &|_| true).expect("read");
    assert_eq!(keys(other), keys(written));
}
