//! What a work tree scan sees, refuses and ignores.

use std::path::Path;

use super::*;
use crate::model::tree_error::TreeErrors;
use crate::trees::tree::Tree;

const MANIFEST: &str = "[project]\nname = \"t\"\nversion = \"2008010100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [{ name = \"mod\", folder = \"mod\" }]\n";

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn link(target: &Path, at: &Path) {
    std::fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
    std::os::unix::fs::symlink(target, at).expect("symlink");
}

/// A root inside a scratch folder, and the scratch folder for things outside it.
fn scratch() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    write(&root, "upgrade.toml", MANIFEST);
    write(
        &root,
        "lib/db/upgrades/2008010100-a.sql",
        "CREATE TABLE a (id INT);\n",
    );
    (dir, root)
}

fn problems(errors: &TreeErrors) -> Vec<(String, String)> {
    errors
        .errors()
        .iter()
        .map(|e| (e.path.clone(), e.kind.to_string()))
        .collect()
}

#[test]
fn links_leaving_the_root_are_refused_and_links_inside_are_read() {
    let (dir, root) = scratch();
    write(dir.path(), "outside.sql", "DROP TABLE a;\n");
    write(
        dir.path(),
        "forum/db/upgrades/2008010200-f.sql",
        "SELECT 1;\n",
    );
    write(dir.path(), "quiz/lang/en.txt", "no steps here\n");
    write(dir.path(), "vendor/lib.php", "not part of the tree\n");
    write(&root, "shared/b.sql", "CREATE TABLE b (id INT);\n");
    let upgrades = root.join("lib/db/upgrades");
    link(
        &dir.path().join("outside.sql"),
        &upgrades.join("2008010300-out.sql"),
    );
    link(
        Path::new("../../../shared/b.sql"),
        &upgrades.join("2008010200-b.sql"),
    );
    link(&dir.path().join("forum"), &root.join("mod/forum"));
    link(&dir.path().join("quiz"), &root.join("mod/quiz"));
    link(&dir.path().join("vendor"), &root.join("vendor"));
    let errors = Tree::load(&WorkTree::new(&root)).expect_err("escaping links accepted");
    let found = problems(&errors);
    let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "lib/db/upgrades/2008010300-out.sql",
            "mod/forum",
            "mod/quiz"
        ],
        "{errors}"
    );
    assert!(
        found
            .iter()
            .all(|(_, m)| m.starts_with("leads outside the tree root")),
        "{errors}"
    );
    assert!(
        found[0].1.contains("outside.sql"),
        "the message names the target: {errors}"
    );

    // Without the escaping links the in-root link is read like a file.
    for gone in [
        "lib/db/upgrades/2008010300-out.sql",
        "mod/forum",
        "mod/quiz",
    ] {
        std::fs::remove_file(root.join(gone)).expect("unlink");
    }
    let tree = Tree::load(&WorkTree::new(&root)).expect("in-root links load");
    assert_eq!(tree.steps.len(), 2);
}

#[test]
fn nothing_that_looks_like_a_step_is_skipped_silently() {
    let (_dir, root) = scratch();
    write(
        &root,
        "lib/db/upgrades/old/2007010100-old.sql",
        "SELECT 1;\n",
    );
    write(
        &root,
        "lib/db/upgrades/.2008010200-hidden.sql",
        "SELECT 1;\n",
    );
    write(&root, "lib/db/upgrades/.gitkeep", "");
    write(
        &root,
        "lib/db/upgrades/.svn/text-base/2008010100-a.sql.svn-base",
        "",
    );
    write(&root, "lib/db/upgrades/2008010100-a.sql~", "SELECT 1;\n");
    write(
        &root,
        "lib/db/upgrades/2008010100-a.sql.orig",
        "SELECT 1;\n",
    );
    write(&root, "lib/db/upgrades/.#2008010100-a.sql", "SELECT 1;\n");
    write(
        &root,
        "lib/db/upgrades/.2008010100-a.sql.swp",
        "SELECT 1;\n",
    );
    write(&root, "blocks/x/db/upgrade.toml", "");
    {
        use std::os::unix::ffi::OsStrExt as _;
        let name = std::ffi::OsStr::from_bytes(b"2008010400-caf\xe9.sql");
        std::fs::write(root.join("lib/db/upgrades").join(name), "SELECT 1;\n").expect("write");
    }
    let errors = Tree::load(&WorkTree::new(&root)).expect_err("unseen files accepted");
    let found = problems(&errors);
    let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "blocks/x/db/upgrade.toml",
            "lib/db/upgrades/.2008010200-hidden.sql",
            "lib/db/upgrades/2008010400-caf\u{fffd}.sql",
            "lib/db/upgrades/old",
        ],
        "{errors}"
    );
    assert!(found[2].1.contains("not valid UTF-8"), "{errors}");
    assert!(
        found[3].1.contains("a folder inside db/upgrades"),
        "{errors}"
    );

    // Editor leftovers alone are ignored with a warning each.
    std::fs::remove_dir_all(root.join("lib/db/upgrades/old")).expect("rm");
    std::fs::remove_dir_all(root.join("blocks")).expect("rm");
    for entry in std::fs::read_dir(root.join("lib/db/upgrades")).expect("ls") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name.to_str().is_none() || name.to_str() == Some(".2008010200-hidden.sql") {
            std::fs::remove_file(entry.path()).expect("rm");
        }
    }
    let tree = Tree::load(&WorkTree::new(&root)).expect("leftovers only warn");
    assert_eq!(tree.steps.len(), 1);
    let warned: Vec<&str> = tree.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        warned,
        vec![
            "lib/db/upgrades/.#2008010100-a.sql",
            "lib/db/upgrades/.2008010100-a.sql.swp",
            "lib/db/upgrades/2008010100-a.sql.orig",
            "lib/db/upgrades/2008010100-a.sql~",
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once_in_path_order() {
    let (_dir, root) = scratch();
    for name in ["20080101-x", "2008010100-Bad", "2008010100-.sql2"] {
        write(&root, &format!("lib/db/upgrades/{name}.sql"), "SELECT 1;\n");
    }
    write(
        &root,
        "mod/forum/db/upgrades/2008010200-f.sql",
        "-- phase: later\nSELECT 1;\n",
    );
    let errors = Tree::load(&WorkTree::new(&root)).expect_err("bad files accepted");
    let paths: Vec<String> = problems(&errors).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        vec![
            "lib/db/upgrades/20080101-x.sql",
            "lib/db/upgrades/2008010100-.sql2.sql",
            "lib/db/upgrades/2008010100-Bad.sql",
            "mod/forum/db/upgrades/2008010200-f.sql",
        ]
    );
    assert_eq!(
        errors.to_string().lines().count(),
        4,
        "one line each: {errors}"
    );
}

#[test]
fn the_root_is_found_whatever_the_spelling_of_project() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "upgrade.toml",
        "project.name = \"t\"\nproject.version = \"2008010100.00\"\nproject.revision = 1\n",
    );
    write(dir.path(), "lib/db/upgrades/x", "");
    let found = WorkTree::find(&dir.path().join("lib/db/upgrades")).expect("found");
    assert_eq!(found.root(), dir.path());
}

const SEGMENTS: [&str; 14] = [
    "lib",
    "mod",
    "forum",
    "db",
    "upgrades",
    "releases",
    "..",
    ".",
    "",
    ".2008010100-h.sql",
    "2008010100-a.sql",
    "2008010100-a.sql~",
    "upgrade.toml",
    "R1.toml",
];
const CONTENTS: [&str; 5] = [
    "CREATE TABLE a (id INT);\n",
    "-- phase: post\nSELECT 1;\n",
    "[[step]]\nname = \"x\"\n",
    "release = \"R1\"\nversion = \"2007000000.00\"\n",
    "\u{0}\r",
];

proptest::proptest! {
    /// Whatever paths and bytes a tree holds, loading never panics; it loads,
    /// or every error names a file of the tree or a folder on a file's path.
    #[test]
    fn loading_a_mutated_tree_refuses_naming_a_file_or_loads(
        files in proptest::collection::vec(
            (proptest::collection::vec(0..SEGMENTS.len(), 1..6), 0..CONTENTS.len()),
            0..8,
        ),
        folder in 0..SEGMENTS.len(),
    ) {
        let mut tree = MemoryTree::default();
        tree.files.insert(
            "upgrade.toml".into(),
            MANIFEST.replace("folder = \"mod\"", &format!("folder = \"{}\"", SEGMENTS[folder])).into_bytes(),
        );
        for (segments, content) in files {
            let path: Vec<&str> = segments.iter().map(|&i| SEGMENTS[i]).collect();
            tree.files.insert(path.join("/"), CONTENTS[content].as_bytes().to_vec());
        }
        match Tree::load(&tree) {
            Ok(loaded) => {
                for t in &loaded.manifest.plugin_types {
                    proptest::prop_assert!(!t.folder.split('/').any(|s| s == ".." || s == "."));
                    proptest::prop_assert!(!t.folder.is_empty());
                }
            }
            Err(errors) => {
                proptest::prop_assert!(!errors.is_empty());
                for e in errors.errors() {
                    let named = tree.files.keys().any(|f| f == &e.path || f.starts_with(&format!("{}/", e.path)));
                    proptest::prop_assert!(named, "{} names no file of the tree", e);
                }
            }
        }
    }
}

#[test]
fn reading_into_a_buffer_gives_each_file_its_own_bytes() {
    let (_dir, root) = scratch();
    write(&root, "a.txt", &"long line\n".repeat(100));
    write(&root, "b.txt", "short\n");
    let tree = WorkTree::new(&root);
    let mut buffer = Vec::new();
    tree.read_into("a.txt", &mut buffer).expect("a");
    assert_eq!(buffer, tree.read("a.txt").expect("a"));
    tree.read_into("b.txt", &mut buffer).expect("b");
    assert_eq!(buffer, b"short\n");
    let missing = tree.read_into("c.txt", &mut buffer).expect_err("missing");
    assert_eq!(missing.path, "c.txt");
}
