//! Reading trees from git objects: old revisions, subfolder trees, links.
use std::path::Path;

use git2::{Oid, Repository};

use super::*;
use crate::files::source::{TreeSource, WorkTree};
use crate::model::tree_error::TreeErrorKind;
use crate::trees::tree::Tree;

const MANIFEST: &str = "[project]\nname = \"t\"\nversion = \"2008010100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [{ name = \"mod\", folder = \"mod\" }]\n";

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn commit_all(repo: &Repository, message: &str) -> Oid {
    let mut index = repo.index().expect("index");
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.update_all(["*"], None).expect("update");
    index.write().expect("write index");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("find tree");
    let sig = git2::Signature::new("t", "t@example.org", &git2::Time::new(1_200_000_000, 0))
        .expect("sig");
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .expect("commit")
}

#[test]
fn reads_a_subfolder_tree_at_old_revisions_without_touching_the_work_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repository::init(dir.path()).expect("init");
    let site = dir.path().join("site");
    write(&site, "upgrade.toml", MANIFEST);
    write(
        &site,
        "lib/db/upgrades/2008010100-a.sql",
        "CREATE TABLE a (id INT);\n",
    );
    write(&site, "lib/README.txt", "not a tree file\n");
    write(
        dir.path(),
        "other/db/upgrades/2008010100-x.sql",
        "outside the tree\n",
    );
    let first = commit_all(&repo, "first");
    write(
        &site,
        "mod/forum/db/upgrades/2008010200-f.sql",
        "CREATE TABLE f (id INT);\n",
    );
    commit_all(&repo, "second");
    // An uncommitted edit is seen by the work tree only.
    write(
        &site,
        "lib/db/upgrades/2008010100-a.sql",
        "CREATE TABLE a (id BIGINT);\n",
    );

    let repository = TreeRepository::discover(&site).expect("discover");
    assert_eq!(repository.prefix(), "site");
    let head = repository.head().expect("head");
    let at_head = repository.tree_at(&head).expect("tree");
    assert_eq!(
        at_head.files().expect("files"),
        vec![
            "lib/db/upgrades/2008010100-a.sql",
            "mod/forum/db/upgrades/2008010200-f.sql",
            "upgrade.toml"
        ]
    );
    let old = repository.resolve(&first.to_string()).expect("resolve");
    let tree_old = Tree::load(&repository.tree_at(&old).expect("tree")).expect("load");
    assert_eq!(tree_old.steps.len(), 1);
    let tree_head = Tree::load(&at_head).expect("load");
    let work = Tree::load(&WorkTree::new(&site)).expect("load");
    assert_eq!(tree_head.steps.len(), 2);
    assert_ne!(tree_head.steps[0].checksum, work.steps[0].checksum);
    assert_eq!(tree_head.steps[1], work.steps[1]);
    assert!(at_head.read("lib/db/upgrades/nope.sql").is_err());
    assert!(matches!(
        repository.resolve("no-such-branch"),
        Err(GitTreeError::UnknownRevision { .. })
    ));
    let history = repository.manifest_history(&head).expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].manifest_blob, history[1].manifest_blob);
}

#[test]
fn links_in_git_are_never_followed_nor_read_as_steps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repository::init(dir.path()).expect("init");
    write(dir.path(), "upgrade.toml", MANIFEST);
    write(
        dir.path(),
        "lib/db/upgrades/2008010100-a.sql",
        "CREATE TABLE a (id INT);\n",
    );
    write(dir.path(), "elsewhere/README", "not a tree file\n");
    std::os::unix::fs::symlink(
        "2008010100-a.sql",
        dir.path().join("lib/db/upgrades/2008010200-link.sql"),
    )
    .expect("link");
    std::fs::create_dir_all(dir.path().join("mod")).expect("mkdir");
    std::os::unix::fs::symlink("../lib", dir.path().join("mod/forum")).expect("link");
    std::os::unix::fs::symlink("elsewhere", dir.path().join("docs")).expect("link");
    commit_all(&repo, "links");
    let repository = TreeRepository::discover(dir.path()).expect("discover");
    let head = repository.head().expect("head");
    let source = repository.tree_at(&head).expect("tree");
    let errors = Tree::load(&source).expect_err("links accepted");
    let found: Vec<(&str, bool)> = errors
        .errors()
        .iter()
        .map(|e| (e.path.as_str(), matches!(e.kind, TreeErrorKind::Symlink(_))))
        .collect();
    assert_eq!(
        found,
        vec![
            ("lib/db/upgrades/2008010200-link.sql", true),
            ("mod/forum", true)
        ],
        "{errors}"
    );
    assert!(source.read("lib/db/upgrades/2008010200-link.sql").is_err());
}

#[test]
fn component_settings_are_read_from_git_as_from_the_work_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repository::init(dir.path()).expect("init");
    write(dir.path(), "upgrade.toml", MANIFEST);
    write(
        dir.path(),
        "mod/forum/db/upgrades/2008010200-f.sql",
        "CREATE TABLE f (id INT);\n",
    );
    write(
        dir.path(),
        "mod/forum/db/component.toml",
        "safe_to_disable = true\n",
    );
    commit_all(&repo, "first");
    let repository = TreeRepository::discover(dir.path()).expect("discover");
    let head = repository.head().expect("head");
    let at_head = repository.tree_at(&head).expect("tree");
    assert!(
        at_head
            .files()
            .expect("files")
            .contains(&"mod/forum/db/component.toml".to_string())
    );
    let forum = crate::model::component::ComponentName::plugin("mod", "forum");
    let from_git = Tree::load(&at_head).expect("load");
    assert!(from_git.safe_to_disable(&forum));
    let work = Tree::load(&WorkTree::new(dir.path())).expect("load");
    assert_eq!(work.components, from_git.components);
    // An unknown key is an error in git too, naming the file.
    write(
        dir.path(),
        "mod/forum/db/component.toml",
        "safe_to_disable = true\nhosts = []\n",
    );
    commit_all(&repo, "second");
    let head = repository.head().expect("head");
    let errors = Tree::load(&repository.tree_at(&head).expect("tree")).expect_err("refused");
    assert_eq!(errors.errors()[0].path, "mod/forum/db/component.toml");
    assert_eq!(errors.errors()[0].line, Some(2));
}
