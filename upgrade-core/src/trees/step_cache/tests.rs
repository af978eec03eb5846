use super::*;
use crate::trees::site_view::SiteView;
use crate::trees::tree::Tree;
use std::time::Duration;

const MANIFEST: &str = r#"[project]
name = "t"
version = "2008030100.00"
revision = 1
[components]
core = "lib"
plugin_types = [{ name = "mod", folder = "mod" }]
"#;

/// A work tree with a plain step (large SQL), a step with two database
/// variants and a header, and a post step with a batch.
fn tree() -> (tempfile::TempDir, WorkTree) {
    let dir = tempfile::tempdir().expect("temp dir");
    let put = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    put("upgrade.toml", MANIFEST);
    let big: String = (0..400)
        .map(|i| format!("INSERT INTO kv (k, v) VALUES ('k{i}', 'some value {i}');\n"))
        .collect();
    put("lib/db/upgrades/2008010100-a.sql", &big);
    put(
        "lib/db/upgrades/2008010200-b.sqlite.sql",
        "-- requires: core/2008010100-a\nCREATE TABLE b (id INTEGER);\n",
    );
    put(
        "lib/db/upgrades/2008010200-b.postgres.sql",
        "-- requires: core/2008010100-a\nCREATE TABLE b (id BIGINT);\n",
    );
    put(
        "lib/db/upgrades/2008010300-c.sql",
        "-- phase: post\n-- batch: kv.id 500\nUPDATE kv SET v = 'x' WHERE id BETWEEN :lo AND :hi;\n",
    );
    let work = WorkTree::new(dir.path());
    (dir, work)
}

/// Later than any file of the test: every file may be trusted.
fn later() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

/// Loads the tree for a fresh site through the cache read at `now`.
fn load(work: &WorkTree, now: SystemTime) -> (Tree, (usize, usize)) {
    let mut cache = StepCache::open_at(work.root(), now);
    let tree = Tree::load_for_site_cached(work, &SiteView::default(), &mut cache).expect("loads");
    (tree, cache.counts())
}

/// What `status` uses of a step: everything but the SQL text.
fn shape(tree: &Tree) -> Vec<String> {
    tree.steps
        .iter()
        .map(|s| {
            let databases: Vec<Option<&str>> = match &s.body {
                Body::Any(_) => vec![None],
                Body::PerDatabase(m) => m.keys().map(|k| Some(k.as_str())).collect(),
            };
            format!(
                "{} {:?} {:?} {} {:?} {} {} {:?} {:?}",
                s.key,
                s.phase,
                s.requires,
                s.transaction,
                s.batch,
                s.checksum,
                s.computed(),
                s.origin,
                databases
            )
        })
        .collect()
}

#[test]
fn a_second_load_reads_no_unchanged_step_file() {
    let (_dir, work) = tree();
    let full = shape(&Tree::load(&work).expect("loads"));
    crate::model::op_count::take();
    let (first, counts) = load(&work, later());
    let first_work = crate::model::op_count::take();
    assert_eq!(counts, (0, 3));
    assert!(work.root().join(CACHE_FILE).is_file());
    assert_eq!(
        std::fs::read_to_string(work.root().join(".consolidate/.gitignore")).expect("ignore"),
        "*\n"
    );
    let (second, counts) = load(&work, later());
    let second_work = crate::model::op_count::take();
    assert_eq!(counts, (3, 0), "every step served from the cache");
    assert_eq!(shape(&first), full);
    assert_eq!(shape(&second), full, "the cache gives what reading gives");
    // The first load tokenised 400 statements; the second none.
    assert!(first_work > 10_000, "first load: {first_work}");
    assert!(second_work < 100, "second load: {second_work}");
    assert!(second.standalone_texts.is_empty());
    // Not part of the tree: no step, no warning.
    assert!(second.warnings.is_empty());
}

#[test]
fn an_edit_of_the_same_size_with_the_same_time_is_read_again() {
    let (_dir, work) = tree();
    let (before, _) = load(&work, later());
    let path = work.root().join("lib/db/upgrades/2008010200-b.sqlite.sql");
    let mtime = std::fs::metadata(&path)
        .expect("stat")
        .modified()
        .expect("mtime");
    std::fs::write(
        &path,
        "-- requires: core/2008010100-a\nCREATE TABLE c (id INTEGER);\n",
    )
    .expect("edit");
    // Same size, modification time put back: the change time still moved.
    let file = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_modified(mtime).expect("set mtime");
    drop(file);
    let (after, counts) = load(&work, later());
    assert_eq!(counts, (2, 1));
    assert_ne!(before.steps[1].checksum, after.steps[1].checksum);
    assert_eq!(
        after.steps[1].checksum,
        Tree::load(&work).expect("loads").steps[1].checksum
    );
}

#[test]
fn a_touched_file_is_read_again() {
    let (_dir, work) = tree();
    load(&work, later());
    let path = work.root().join("lib/db/upgrades/2008010100-a.sql");
    let file = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_modified(SystemTime::now() + Duration::from_secs(5))
        .expect("touch");
    drop(file);
    assert_eq!(load(&work, later()).1, (2, 1));
}

#[test]
fn files_changed_just_before_the_load_are_not_recorded() {
    // Racy: the files were written this second, so the cache written now
    // must not vouch for them; an edit of the same size right after shows.
    let (_dir, work) = tree();
    let (_, counts) = load(&work, SystemTime::now());
    assert_eq!(counts, (0, 3));
    let path = work.root().join("lib/db/upgrades/2008010300-c.sql");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replace("'x'", "'y'")).expect("edit");
    let (after, counts) = load(&work, later());
    assert_eq!(counts, (0, 3), "nothing was trusted");
    assert_eq!(shape(&after), shape(&Tree::load(&work).expect("loads")));
}

/// The cache file of `work` after a load, and its text.
fn written_cache(work: &WorkTree) -> (std::path::PathBuf, String) {
    load(work, later());
    let file = work.root().join(CACHE_FILE);
    let text = std::fs::read_to_string(&file).expect("cache");
    (file, text)
}

#[test]
fn a_corrupt_or_foreign_cache_is_ignored_and_rewritten() {
    let (_dir, work) = tree();
    let (file, good) = written_cache(&work);
    let lines: Vec<&str> = good.lines().collect();
    let broken = [
        "garbage\n".to_string(),
        good.replace(&magic(), "consolidate step cache 1 0.0.0-other"),
        // Truncated: no end line.
        format!("{}\n", lines[..lines.len() - 1].join("\n")),
        // A checksum changed by hand.
        good.replacen("sha256:", "sha256:0", 1),
        // The file count of an entry changed.
        good.replacen("\t1\tsha256:", "\t2\tsha256:", 1),
        String::new(),
    ];
    let full = shape(&Tree::load(&work).expect("loads"));
    for text in broken {
        std::fs::write(&file, &text).expect("break");
        let (tree, counts) = load(&work, later());
        assert_eq!(shape(&tree), full, "with cache {text:?}");
        assert_eq!(counts.0 + counts.1, 3);
        assert!(
            counts.0 < 3 || text == good,
            "a broken entry is not used: {text:?}"
        );
        let (_, counts) = load(&work, later());
        assert_eq!(counts, (3, 0), "rewritten after {text:?}");
    }
}

#[test]
fn a_cache_with_entries_out_of_order_or_twice_is_ignored_as_a_whole() {
    let (_dir, work) = tree();
    let (file, good) = written_cache(&work);
    let lines: Vec<&str> = good.lines().collect();
    assert_eq!(lines.len(), 5, "{good}");
    // Entries are found by a search in path order: any other order, or an
    // entry twice, is not what this program writes.
    for text in [
        [lines[0], lines[2], lines[1], lines[3], lines[4], ""].join("\n"),
        [lines[0], lines[1], lines[1], lines[3], lines[4], ""].join("\n"),
    ] {
        std::fs::write(&file, &text).expect("reorder");
        let (_, counts) = load(&work, later());
        assert_eq!(counts, (0, 3), "with cache {text:?}");
    }
}

#[test]
fn a_cache_that_cannot_be_written_changes_nothing() {
    let (_dir, work) = tree();
    // A file where the cache folder would be: nothing can be written there
    // (as a read-only folder for a user that is not root).
    std::fs::write(work.root().join(".consolidate"), "not a folder").expect("write");
    let (tree, counts) = load(&work, later());
    assert_eq!(counts, (0, 3));
    assert_eq!(shape(&tree), shape(&Tree::load(&work).expect("loads")));
    assert_eq!(load(&work, later()).1, (0, 3));
}

#[test]
fn a_removed_or_added_variant_is_read_again() {
    let (_dir, work) = tree();
    load(&work, later());
    std::fs::remove_file(
        work.root()
            .join("lib/db/upgrades/2008010200-b.postgres.sql"),
    )
    .expect("rm");
    let (tree, counts) = load(&work, later());
    assert_eq!(counts, (2, 1));
    assert_eq!(shape(&tree), shape(&Tree::load(&work).expect("loads")));
}

#[test]
fn many_steps_are_looked_up_on_threads_with_the_same_answers_and_one_edit_read_again() {
    let (dir, work) = tree();
    // Enough steps in two folders for every thread to take a share.
    let n = THREADS * PER_THREAD + 7;
    let file = |i: usize| {
        let folder = if i.is_multiple_of(2) {
            "lib"
        } else {
            "mod/forum"
        };
        let (day, month, year) = (1 + i % 28, 1 + (i / 28) % 12, 2009 + i / 336);
        format!(
            "{folder}/db/upgrades/{year:04}{month:02}{day:02}{:02}-s{i}.sql",
            i % 100
        )
    };
    for i in 0..n {
        let rel = file(i);
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, format!("INSERT INTO kv (k) VALUES ('{i}');\n")).expect("write");
    }
    let total = n + 3;
    let (first, counts) = load(&work, later());
    assert_eq!(counts, (0, total));
    let (second, counts) = load(&work, later());
    assert_eq!(counts, (total, 0), "every step from the cache");
    assert_eq!(shape(&second), shape(&first));
    // One edit in the second thread's share: that step alone is read again.
    let edited = dir.path().join(file(n - 2));
    std::fs::write(&edited, "INSERT INTO kv (k) VALUES ('edited');\n").expect("edit");
    let (third, counts) = load(&work, later());
    assert_eq!(counts, (total - 1, 1));
    assert_ne!(shape(&third), shape(&first), "the edit shows");
}
