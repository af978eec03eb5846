//! Tests of C1 between two trees: the per-step comparison checked against a
//! brute force over every site state, for an honest consolidation, a step
//! tagged with an older release, a released step moved to a later release, and
//! lost, reordered and arrived steps.

use super::*;
use crate::consolidation::consolidate::consolidate;
use crate::files::source::MemoryTree;
use crate::planning::plan;

const MANIFEST: &str = "[project]\nname = \"t\"\nversion = \"VERSION\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [{ name = \"mod\", folder = \"mod\" }]\n";

fn files(pairs: &[(&str, &str)]) -> MemoryTree {
    let mut tree = MemoryTree::default();
    for (p, t) in pairs {
        tree.files.insert((*p).to_string(), t.as_bytes().to_vec());
    }
    tree
}

fn set_version(tree: &mut MemoryTree, version: &str) {
    let text = String::from_utf8(tree.files["upgrade.toml"].clone()).expect("utf8");
    let start = text.find("version = \"").expect("version") + 11;
    let end = start + text[start..].find('"').expect("quote");
    let text = format!("{}{version}{}", &text[..start], &text[end..]);
    tree.files.insert("upgrade.toml".into(), text.into_bytes());
}

fn release(tree: &MemoryTree, name: &str) -> MemoryTree {
    let loaded = Tree::load(tree).expect("load");
    let c = consolidate(&loaded, &ReleaseName::parse(name).expect("name")).expect("release");
    let mut out = tree.clone();
    for change in c.changes {
        match change.after {
            Some(text) => out.files.insert(change.path, text.into_bytes()),
            None => out.files.remove(&change.path),
        };
    }
    out
}

fn edit(tree: &MemoryTree, path: &str, from: &str, to: &str) -> MemoryTree {
    let mut out = tree.clone();
    let text = String::from_utf8(out.files[path].clone()).expect("utf8");
    assert!(text.contains(from), "{from} not in {text}");
    out.files
        .insert(path.into(), text.replacen(from, to, 1).into_bytes());
    out
}

/// R1 released with core a, b and mod_forum f; then core c, d standalone.
fn before() -> MemoryTree {
    let base = files(&[
        (
            "upgrade.toml",
            &MANIFEST.replace("VERSION", "2007010100.00"),
        ),
        (
            "lib/db/upgrades/2007010100-a.sql",
            "CREATE TABLE a (id INT);\n",
        ),
        (
            "lib/db/upgrades/2007010300-b.sql",
            "CREATE TABLE b (id INT);\n",
        ),
        (
            "mod/forum/db/upgrades/2007010200-f.sql",
            "CREATE TABLE f (id INT);\n",
        ),
    ]);
    let mut r1 = release(&base, "R1");
    set_version(&mut r1, "2008010100.00");
    r1.files.insert(
        "lib/db/upgrades/2008010100-c.sql".into(),
        b"CREATE TABLE c (id INT);\n".to_vec(),
    );
    r1.files.insert(
        "mod/forum/db/upgrades/2008010200-g.sql".into(),
        b"CREATE TABLE g (id INT);\n".to_vec(),
    );
    r1.files.insert(
        "lib/db/upgrades/2008010300-d.sql".into(),
        b"CREATE TABLE d (id INT);\n".to_vec(),
    );
    r1
}

fn run(before: &MemoryTree, after: &MemoryTree) -> (C1Outcome, Vec<(usize, Option<usize>)>) {
    let tb = Tree::load(before).expect("before loads");
    let ta = Tree::load(after).expect("after loads");
    let pb = plan::order(&tb).expect("plan");
    let pa = plan::order(&ta).expect("plan");
    let fast = compare(&tb, &pb, &ta, &pa);
    // Brute force: every state, both pendings, restricted to the shared steps.
    let space = StateSpace::new(&tb, &pb);
    let shared: BTreeSet<&StepKey> = pa
        .iter()
        .map(|s| &s.key)
        .filter(|k| tb.step(k).is_some())
        .collect();
    let mut differing = Vec::new();
    let mut count = 0;
    for (k, c) in space.states() {
        count += 1;
        let site = space.site_state(k, c);
        let keys_b: Vec<&StepKey> = plan::pending(&tb, &pb, &site)
            .into_iter()
            .map(|s| &s.key)
            .collect();
        assert_eq!(keys_b.len(), pb.len() - k, "pending before = plan[k..]");
        let keys_a: Vec<&StepKey> = plan::pending(&ta, &pa, &site)
            .into_iter()
            .map(|s| &s.key)
            .filter(|k| shared.contains(k))
            .collect();
        if keys_a != keys_b {
            differing.push((k, c));
        }
    }
    assert_eq!(count, fast.states);
    assert_eq!(
        fast.differences.is_empty(),
        differing.is_empty(),
        "fast {:?} brute {differing:?}",
        fast.differences
    );
    for d in &fast.differences {
        let c = d
            .state
            .release
            .as_ref()
            .and_then(|r| tb.manifest.release_index(r));
        assert!(
            differing.contains(&(d.state.applied, c)),
            "witness {d:?} not a differing state: {differing:?}"
        );
    }
    (fast, differing)
}

#[test]
fn an_honest_consolidation_keeps_every_pending_list() {
    let before = before();
    let after = release(&before, "R2");
    let (outcome, _) = run(&before, &after);
    assert!(outcome.differences.is_empty(), "{:?}", outcome.differences);
    assert!(outcome.arrived.is_empty());
    // 6 steps: 7 prefixes without release, R1 needs the first 4 (a f b + ...).
    assert_eq!(outcome.steps, 6);
    assert!(outcome.states > 7);
}

#[test]
fn a_step_tagged_with_an_older_release_is_skipped() {
    let before = before();
    let after = release(&before, "R2");
    let after = edit(
        &after,
        "mod/forum/db/upgrade.toml",
        "name = \"2008010200-g\"\nrelease = \"R2\"",
        "name = \"2008010200-g\"\nrelease = \"R1\"",
    );
    let (outcome, _) = run(&before, &after);
    assert_eq!(outcome.differences.len(), 1, "{:?}", outcome.differences);
    assert_eq!(outcome.differences[0].difference, Difference::Skipped);
    assert_eq!(
        outcome.differences[0].step.to_string(),
        "mod_forum/2008010200-g"
    );
}

#[test]
fn a_released_step_moved_to_a_later_release_runs_again() {
    let before = before();
    let after = release(&before, "R2");
    let after = edit(
        &after,
        "mod/forum/db/upgrade.toml",
        "name = \"2007010200-f\"\nrelease = \"R1\"",
        "name = \"2007010200-f\"\nrelease = \"R2\"",
    );
    let (outcome, _) = run(&before, &after);
    assert_eq!(outcome.differences.len(), 1, "{:?}", outcome.differences);
    assert_eq!(outcome.differences[0].difference, Difference::RunsAgain);
    assert_eq!(
        outcome.differences[0]
            .state
            .release
            .as_ref()
            .map(ReleaseName::as_str),
        Some("R1")
    );
}

#[test]
fn lost_reordered_and_arrived_steps() {
    let before = before();
    let mut after = before.clone();
    after.files.remove("lib/db/upgrades/2008010100-c.sql");
    after.files.insert(
        "lib/db/upgrades/2008010400-e.sql".into(),
        b"CREATE TABLE e (id INT);\n".to_vec(),
    );
    let after = edit(
        &after,
        "lib/db/upgrades/2008010300-d.sql",
        "CREATE",
        "-- phase: pre\nCREATE",
    );
    let (outcome, _) = run(&before, &after);
    let kinds: Vec<(String, &Difference)> = outcome
        .differences
        .iter()
        .map(|d| (d.step.to_string(), &d.difference))
        .collect();
    assert_eq!(kinds[0], ("core/2008010100-c".into(), &Difference::Lost));
    assert!(matches!(kinds[1].1, Difference::Order { .. }), "{kinds:?}");
    assert_eq!(outcome.arrived.len(), 1);
}
