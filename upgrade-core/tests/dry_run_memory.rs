//! The bytes a loaded tree keeps per step, counted from what it holds
//! (sizes and capacities, never RSS or time): `release --dry-run` of
//! 100,000 steps must fit in 2 x its step bytes + 50 MB (issue 10), and the
//! tree is most of what it holds (its diff is produced one file at a time).

use upgrade_core::consolidation::consolidate::{Produced, consolidate, prepare};
use upgrade_core::model::step::{Body, Origin, Step};
use upgrade_core::{ReleaseName, Tree, WorkTree};

const MANIFEST: &str = "[project]\nname = \"b\"\nversion = \"2010010100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"local\", folder = \"local\" },\n]\n";

/// The benchmark's tree (scripts/bench_issue10.py `tree`): `comps`
/// components of `steps` one-line steps each.
fn tree(root: &std::path::Path, comps: usize, steps: usize) {
    std::fs::write(root.join("upgrade.toml"), MANIFEST).expect("manifest");
    for ci in 0..comps {
        let (folder, comp) = if ci == 0 {
            ("lib".to_string(), "core".to_string())
        } else {
            (
                format!("local/p{:04}", ci - 1),
                format!("local_p{:04}", ci - 1),
            )
        };
        let dir = root.join(folder).join("db/upgrades");
        std::fs::create_dir_all(&dir).expect("mkdir");
        for s in 0..steps {
            let (day, month, year) = (1 + s % 28, 1 + (s / 28) % 12, 2001 + s / 336);
            let name = format!("{year:04}{month:02}{day:02}{:02}-c{ci}s{s}", ci % 100);
            std::fs::write(
                dir.join(format!("{name}.sql")),
                format!("INSERT INTO kv (k, v) VALUES ('{comp}.{s}', 'v');\n"),
            )
            .expect("step");
        }
    }
}

/// The heap and inline bytes `tree` keeps for its steps: the `Step` itself
/// (its two checksums inline), its body, name and file paths, and any
/// second copy of its file text.
fn bytes_kept(tree: &Tree) -> usize {
    let mut bytes = std::mem::size_of::<Step>() * tree.steps.capacity();
    for step in &tree.steps {
        let name = step.key.name.as_str().len();
        if name > upgrade_core::model::step_name::INLINE {
            bytes += name;
        }
        if let Body::Any(sql) = &step.body {
            bytes += sql.len();
        }
        if let Origin::Standalone { files } = &step.origin {
            bytes += files.heap_bytes();
        }
    }
    bytes
        + tree
            .standalone_texts
            .iter()
            .map(|(path, text)| path.capacity() + text.capacity())
            .sum::<usize>()
}

#[test]
fn a_tree_keeps_a_bounded_number_of_bytes_per_step() {
    let (comps, steps) = (20, 50);
    let dir = tempfile::tempdir().expect("tempdir");
    tree(dir.path(), comps, steps);
    let loaded = Tree::load(&WorkTree::new(dir.path())).expect("tree loads");
    let n = comps * steps;
    assert_eq!(loaded.steps.len(), n);
    // Before: a 280-byte Step, a body of twice its length, two 71-byte
    // checksum strings and a second copy of every file: ~710 bytes per
    // 55-byte step; then a 256-byte Step, a shared 71-byte checksum text and
    // a Vec of paths: ~420. Now a 144-byte Step (checksums and name
    // inline), its ~55-byte body and ~46-byte path: 242.
    let per_step = bytes_kept(&loaded) / n;
    assert!(per_step <= 250, "{per_step} bytes kept per step");
    assert!(
        loaded.standalone_texts.is_empty(),
        "a step file that is exactly its body is not kept twice"
    );
    // ... and its text is still there for the diff of its deletion.
    let step = &loaded.steps[0];
    let Origin::Standalone { files } = &step.origin else {
        panic!("standalone")
    };
    let file = files.first().expect("a file");
    let on_disk = std::fs::read_to_string(dir.path().join(file)).expect("read");
    assert_eq!(loaded.file_text(file), Some(on_disk));
}

#[test]
fn the_dry_run_diff_is_the_release_diff_file_by_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    tree(dir.path(), 3, 4);
    // A file with a header and editor noise keeps its own text.
    let noisy = "lib/db/upgrades/2001010100-c0s0.sql";
    std::fs::write(
        dir.path().join(noisy),
        "-- phase: main\r\nINSERT INTO kv (k, v) VALUES ('x', 'v');  \r\n",
    )
    .expect("write");
    let loaded = Tree::load(&WorkTree::new(dir.path())).expect("tree loads");
    assert_eq!(loaded.standalone_texts.len(), 1);
    let release = ReleaseName::parse("R1").expect("name");
    let whole = consolidate(&loaded, &release).expect("consolidates");
    let mut streamed = Vec::new();
    prepare(&loaded, &release)
        .expect("prepares")
        .each_change(&mut |change| {
            streamed.push(change);
            Ok(())
        })
        .expect("no io");
    assert_eq!(streamed, whole.changes);
    let deleted = whole
        .changes
        .iter()
        .find(|c| c.path == noisy)
        .expect("the noisy file is deleted");
    assert_eq!(
        deleted.before.as_deref(),
        Some("-- phase: main\r\nINSERT INTO kv (k, v) VALUES ('x', 'v');  \r\n")
    );
    // The files, three upgrade.toml, the release file, the manifest, three .gitkeep.
    assert_eq!(whole.changes.len(), 3 * 4 + 3 + 2 + 3);
}

#[test]
fn the_created_release_file_is_written_on_demand_as_the_release_writes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    tree(dir.path(), 3, 4);
    let loaded = Tree::load(&WorkTree::new(dir.path())).expect("tree loads");
    let release = ReleaseName::parse("R1").expect("name");
    let whole = consolidate(&loaded, &release).expect("consolidates");
    let prepared = prepare(&loaded, &release).expect("prepares");
    let (mut created, mut others) = (Vec::new(), 0);
    prepared
        .each_produced(&mut |produced| {
            match produced {
                Produced::CreatedReleaseFile(file) => {
                    let mut text = String::new();
                    file.write(&mut text).expect("written");
                    assert_eq!(text, file.text());
                    created.push((file.path.to_string(), text));
                }
                Produced::Change(_) => others += 1,
            }
            Ok(())
        })
        .expect("no io");
    // The one file not built as a text is the new release file, and what
    // is written is the text the release writes.
    let [(path, text)] = created.as_slice() else {
        panic!("one created release file: {created:?}")
    };
    assert_eq!(path, "releases/R1.toml");
    let change = whole
        .changes
        .iter()
        .find(|c| &c.path == path)
        .expect("the release writes it");
    assert_eq!(change.before, None);
    assert_eq!(change.after.as_deref(), Some(text.as_str()));
    assert!(text.contains("[covers.core]"));
    assert_eq!(others + 1, whole.changes.len());
}
