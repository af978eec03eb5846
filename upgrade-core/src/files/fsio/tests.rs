//! Tests of durable file changes: confinement, crash order, sync counts.

use super::*;

fn change(path: &str) -> FileChange {
    FileChange {
        path: path.into(),
        before: None,
        after: Some("x\n".into()),
    }
}

#[test]
fn writes_never_leave_the_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("lib")).expect("mkdir");
    fs::create_dir_all(dir.path().join("outside")).expect("mkdir");
    std::os::unix::fs::symlink(dir.path().join("outside"), root.join("mod")).expect("link");
    std::os::unix::fs::symlink(dir.path().join("outside/f.sql"), root.join("lib/f.sql"))
        .expect("link");
    for rel in [
        "../escaped/db/upgrades/x.sql",
        "lib/../../escaped.sql",
        "/tmp/x.sql",
        "lib//x.sql",
        "./lib/x.sql",
        "mod/forum/db/upgrades/x.sql",
        "lib/f.sql",
    ] {
        let err = confined(&root, rel).expect_err(rel);
        assert!(
            err.to_string()
                .contains(&format!("refusing to write `{rel}`")),
            "{err}"
        );
    }
    assert_eq!(
        confined(&root, "lib/new/db/upgrades/x.sql").expect("inside"),
        root.join("lib/new/db/upgrades/x.sql")
    );
    // One escaping change stops the whole run before the first write.
    let changes = [
        change("lib/db/upgrades/a.sql"),
        change("mod/forum/db/upgrades/b.sql"),
    ];
    assert!(apply_changes(&root, &changes).is_err());
    assert!(!root.join("lib/db").exists());
    assert_eq!(
        fs::read_dir(dir.path().join("outside"))
            .expect("ls")
            .count(),
        0
    );
}

/// A release-like run over `components` component folders (`lib`,
/// `mod/c1`, ...): `n` standalone files deleted in each, each component's
/// upgrade.toml and (but for the last, whose folder keeps a README) its
/// emptied folder's `.gitkeep` written, then a release file and the
/// manifest; returns what was synced.
fn release_syncs(components: usize, n: usize) -> Syncs {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut changes = Vec::new();
    let folders: Vec<String> = std::iter::once("lib".to_string())
        .chain((1..components).map(|c| format!("mod/c{c}")))
        .collect();
    for (c, folder) in folders.iter().enumerate() {
        fs::create_dir_all(root.join(folder).join("db/upgrades")).expect("mkdir");
        for i in 0..n {
            let rel = format!("{folder}/db/upgrades/2008010100-s{i}.sql");
            fs::write(join_relative(root, &rel), "SELECT 1;\n").expect("write");
            changes.push(FileChange {
                path: rel,
                before: Some("SELECT 1;\n".into()),
                after: None,
            });
        }
        changes.push(change(&format!("{folder}/db/upgrade.toml")));
        if c + 1 < components {
            changes.push(FileChange {
                path: format!("{folder}/db/upgrades/.gitkeep"),
                before: None,
                after: Some(String::new()),
            });
        } else {
            // A file that is not deleted keeps its folder.
            fs::write(
                join_relative(root, &format!("{folder}/db/upgrades/README")),
                "notes",
            )
            .expect("write");
        }
    }
    changes.push(change("releases/R1.toml"));
    changes.push(change("upgrade.toml"));
    crate::model::op_count::take();
    let syncs = apply_counted(root, &changes).expect("apply");
    assert_eq!(
        crate::model::op_count::take(),
        (syncs.files + syncs.folders) as u64
    );
    for rel in ["lib/db/upgrade.toml", "releases/R1.toml", "upgrade.toml"] {
        assert_eq!(
            fs::read_to_string(join_relative(root, rel)).expect("read"),
            "x\n"
        );
    }
    for (c, folder) in folders.iter().enumerate() {
        let left: Vec<_> = fs::read_dir(root.join(folder).join("db/upgrades"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        let kept = if c + 1 < components {
            ".gitkeep"
        } else {
            "README"
        };
        assert_eq!(left, [kept], "{folder}");
        // No temporary file is left beside the written ones.
        assert_eq!(
            fs::read_dir(root.join(folder).join("db"))
                .expect("ls")
                .count(),
            2
        );
    }
    syncs
}

#[test]
fn syncs_are_per_folder_not_per_file() {
    let (small, large) = (release_syncs(3, 5), release_syncs(3, 200));
    assert_eq!(small, large, "syncs grew with the files deleted");
    // 7 files written (3 upgrade.toml, 2 .gitkeep, release file, manifest);
    // the folders of the .gitkeep files (2), of the
    // upgrade.toml files (3), of the release file and the root (which gains
    // the new `releases` folder), of the manifest, and of the deletions (3).
    assert_eq!(
        large,
        Syncs {
            files: 7,
            folders: 11,
            rounds: SYNC_ROUNDS
        }
    );
}

#[test]
fn sync_rounds_do_not_grow_with_components() {
    let (few, many) = (release_syncs(3, 2), release_syncs(120, 2));
    // Each round waits for the disk once (its syncs run together): their
    // number is fixed; the syncs themselves are one per written file and
    // per folder, never per deleted file.
    assert_eq!((few.rounds, many.rounds), (SYNC_ROUNDS, SYNC_ROUNDS));
    assert_eq!(many.files, 2 * 120 - 1 + 2);
    assert_eq!(many.folders, 3 * 120 + 2);
}

#[test]
fn a_write_that_fails_to_stage_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs::create_dir_all(root.join("lib/db/upgrades")).expect("mkdir");
    fs::write(root.join("lib/db/upgrades/2008010100-a.sql"), "SELECT 1;\n").expect("write");
    // `releases` is a file: the release file cannot be written.
    fs::write(root.join("releases"), "not a folder").expect("write");
    let changes = [
        change("lib/db/upgrade.toml"),
        change("releases/R1.toml"),
        change("upgrade.toml"),
        FileChange {
            path: "lib/db/upgrades/2008010100-a.sql".into(),
            before: Some("SELECT 1;\n".into()),
            after: None,
        },
    ];
    assert!(apply_changes(root, &changes).is_err());
    // Every file is staged before the first rename: the upgrade.toml of the
    // earlier group is not written, the step stays, no temporary file stays.
    let mut left: Vec<String> = Vec::new();
    for folder in ["", "lib/db", "lib/db/upgrades"] {
        for e in fs::read_dir(join_relative(root, folder).as_path().join(".")).expect("ls") {
            left.push(e.expect("entry").file_name().to_string_lossy().into_owned());
        }
    }
    left.sort();
    assert_eq!(left, ["2008010100-a.sql", "lib", "releases", "upgrades"]);
}
