use super::*;
use crate::files::source::MemoryTree;
use crate::files::upgrade_file::append;
use crate::model::component::ComponentName;
use crate::model::step::{Body, Phase};

const MANIFEST: &str = r#"
[project]
name = "t"
version = "2008030100.00"
revision = 1
[components]
core = "lib"
plugin_types = [{ name = "mod", folder = "mod" }]
[[release]]
name = "R1"
version = "2008010100.00"
[[release]]
name = "R2"
version = "2008020100.00"
"#;

fn step(name: &str, sql: &str) -> Step {
    Step::core_for_test(name, Phase::Main, Body::Any(sql.into()))
}

fn release(name: &str) -> ReleaseName {
    ReleaseName::parse(name).expect("valid")
}

/// core: two R1 entries in lib/db/upgrade.toml, one R2 entry in
/// mod/forum's, a standalone step; release files for both.
fn files() -> MemoryTree {
    let core = ComponentName::core();
    let forum = ComponentName::parse("mod_forum").expect("valid");
    let a = step("2008010100-a", "CREATE TABLE a (id INT);\n");
    let b = step("2008010200-b", "CREATE TABLE b (id INT);\n");
    let mut c = step("2008020100-c", "CREATE TABLE c (id INT);\n");
    c.key.component = forum.clone();
    let mut mem = MemoryTree::default();
    let mut put = |path: &str, text: String| {
        mem.files.insert(path.into(), text.into_bytes());
    };
    put("upgrade.toml", MANIFEST.into());
    put(
        "lib/db/upgrade.toml",
        append(None, &core, &[&a, &b], &release("R1")),
    );
    put(
        "mod/forum/db/upgrade.toml",
        append(None, &forum, &[&c], &release("R2")),
    );
    put(
        "lib/db/upgrades/2008030100-d.sql",
        "CREATE TABLE d (id INT);\n".into(),
    );
    put(
        "releases/R1.toml",
        format!(
            "release = \"R1\"\nversion = \"2008010100.00\"\n\n[covers.core]\n\"2007010100-gone\" = \"{}\"\n",
            a.checksum
        ),
    );
    put(
        "releases/R2.toml",
        "release = \"R2\"\nversion = \"2008020100.00\"\n".into(),
    );
    mem
}

fn view<'a>(completed: &str, rows: &'a RowPairs<'a>) -> SiteView<'a> {
    SiteView {
        completed: Some(release(completed)),
        rows,
    }
}

fn body_read(tree: &Tree, key: &str) -> bool {
    let key = StepKey::parse(key).expect("valid");
    tree.step(&key).expect("in the tree").body != Body::Any(Box::default())
}

#[test]
fn a_site_that_completed_the_newest_release_reads_no_released_sql() {
    let mem = files();
    let full = Tree::load(&mem).expect("valid");
    let quick = Tree::load_for_site(&mem, &view("R2", &RowPairs(&[]))).expect("valid");
    let keys = |t: &Tree| {
        t.steps
            .iter()
            .map(|s| (s.key.clone(), s.phase, s.release().cloned(), s.location()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&quick), keys(&full));
    assert!(!body_read(&quick, "core/2008010100-a"));
    assert!(!body_read(&quick, "mod_forum/2008020100-c"));
    assert!(body_read(&quick, "core/2008030100-d"), "standalone: read");
    assert!(quick.release_files.is_empty(), "no row needs them");
    // The files read quickly are known, their text is not kept, and the
    // tree says so rather than give an empty text.
    let core = &quick.upgrade_files[&ComponentName::core()];
    assert!(core.read_quickly && core.text.is_empty());
    assert_eq!(quick.file_text("lib/db/upgrade.toml"), None);
    assert_eq!(
        full.file_text("lib/db/upgrade.toml").as_deref(),
        std::str::from_utf8(&mem.files["lib/db/upgrade.toml"]).ok()
    );
    // A row of a step the tree no longer holds: the release files decide.
    let quick = Tree::load_for_site(&mem, &view("R2", &RowPairs(&[("core", "2007010100-gone")])))
        .expect("valid");
    assert_eq!(quick.release_files.len(), 2);
}

#[test]
fn entries_pending_on_the_site_are_read_in_full() {
    let mut mem = files();
    // The R2 entry is edited after its release: a site at R1 must hear of it.
    let path = "mod/forum/db/upgrade.toml";
    let edited = String::from_utf8(mem.files[path].clone())
        .expect("utf8")
        .replace("CREATE TABLE c", "CREATE TABLE cc");
    mem.files.insert(path.into(), edited.into_bytes());
    let quick = Tree::load_for_site(&mem, &view("R1", &RowPairs(&[]))).expect("valid");
    assert!(!body_read(&quick, "core/2008010100-a"), "covered by R1");
    // The file with a pending entry is read in full and kept.
    let forum = &quick.upgrade_files[&ComponentName::parse("mod_forum").expect("valid")];
    assert!(!forum.read_quickly);
    assert_eq!(forum.text.as_bytes(), &mem.files[path][..]);
    let c = quick
        .step(&StepKey::parse("mod_forum/2008020100-c").expect("valid"))
        .expect("in the tree");
    assert_ne!(c.checksum, c.computed(), "the edit is seen");
    // A site at a release the history does not know: everything is read.
    let mut unknown = view("R1", &RowPairs(&[]));
    unknown.completed = Some(release("R9"));
    let quick = Tree::load_for_site(&mem, &unknown).expect("valid");
    assert!(body_read(&quick, "core/2008010100-a"));
}

#[test]
fn an_entry_tagged_with_an_unknown_release_is_read_in_full() {
    let mut mem = files();
    let path = "lib/db/upgrade.toml";
    let retagged = String::from_utf8(mem.files[path].clone())
        .expect("utf8")
        .replacen("release = \"R1\"", "release = \"R7\"", 1);
    mem.files.insert(path.into(), retagged.into_bytes());
    let quick = Tree::load_for_site(&mem, &view("R2", &RowPairs(&[]))).expect("valid");
    let a = quick
        .step(&StepKey::parse("core/2008010100-a").expect("valid"))
        .expect("in the tree");
    assert_eq!(a.release().map(ReleaseName::as_str), Some("R7"));
    assert!(body_read(&quick, "core/2008010100-a"));
}

#[test]
fn errors_and_leftovers_are_those_of_the_full_load() {
    let mut mem = files();
    mem.files.insert(
        "lib/db/upgrades/2008030200-bad.sql".into(),
        b"-- phase: sometimes\nSELECT 1;\n".to_vec(),
    );
    let full = Tree::load(&mem).expect_err("invalid").to_string();
    let quick = Tree::load_for_site(&mem, &view("R2", &RowPairs(&[])))
        .expect_err("invalid")
        .to_string();
    assert_eq!(quick, full);
    // A standalone copy of a released entry left by an interrupted release.
    let mut mem = files();
    mem.files.insert(
        "lib/db/upgrades/2008010100-a.sql".into(),
        b"CREATE TABLE a (id INT);\n".to_vec(),
    );
    let quick = Tree::load_for_site(&mem, &view("R2", &RowPairs(&[]))).expect("valid");
    assert_eq!(quick.leftovers, Tree::load(&mem).expect("valid").leftovers);
    assert_eq!(quick.leftovers.len(), 1);
}

#[test]
fn a_step_of_the_tree_has_its_position_and_a_copy_has_none() {
    let mut mem = MemoryTree::default();
    mem.files
        .insert("upgrade.toml".into(), MANIFEST.as_bytes().to_vec());
    for name in ["2008010100-a", "2008010200-b", "2008010300-c"] {
        mem.files.insert(
            format!("lib/db/upgrades/{name}.sql"),
            b"INSERT INTO kv (k) VALUES ('x');\n".to_vec(),
        );
    }
    let tree = Tree::load(&mem).expect("loads");
    assert_eq!(tree.steps.len(), 3);
    for (i, step) in tree.steps.iter().enumerate() {
        assert_eq!(tree.position(step), Some(i));
    }
    let copy = tree.steps[1].clone();
    assert_eq!(tree.position(&copy), None);
}
