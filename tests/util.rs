//! Helpers shared by the end-to-end tests: temporary trees and running the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace root (where `fixtures/` lives).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate folder has a parent")
        .to_path_buf()
}

/// A fixture folder by name, e.g. `demo` or `bad/cycle`.
pub fn fixture(name: &str) -> PathBuf {
    workspace().join("fixtures").join(name)
}

/// A temporary copy of a fixture tree; the copy is deleted when dropped.
pub struct TempTree {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
}

impl TempTree {
    /// Copies `fixtures/<name>` into a fresh temporary folder.
    pub fn copy_of(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_dir(&fixture(name), dir.path());
        TempTree { dir }
    }

    /// A copy of the demo as the step-by-step tests know it: without its
    /// install snapshots and without mod_wiki, the plugin added with them
    /// (tests/adoption.rs covers those), so that a fresh site runs every
    /// step and the counts of those tests stay what they check.
    pub fn demo_steps_only() -> Self {
        let tree = TempTree::copy_of("demo");
        for file in [
            "lib/db/install.sqlite.sql",
            "lib/db/install.postgres.sql",
            "mod/forum/db/install.sql",
        ] {
            std::fs::remove_file(tree.path().join(file)).expect("remove snapshot");
        }
        std::fs::remove_dir_all(tree.path().join("mod/wiki")).expect("remove mod_wiki");
        tree
    }

    /// An empty temporary folder.
    pub fn empty() -> Self {
        TempTree {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The root of the copy.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `consolidate ARGS` in the tree root.
    pub fn run(&self, args: &[&str]) -> Output {
        run_in(self.path(), args, &[])
    }

    /// Runs `consolidate ARGS` in the tree root with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        run_in(self.path(), args, env)
    }

    /// Writes a file (creating folders).
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    /// Reads a file as text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).expect("read")
    }
}

/// The `consolidate` binary built by cargo for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_consolidate"))
}

/// The binary as an unprivileged user: as `nobody` (uid 65534, through
/// `setpriv`) when the tests run as root, since root ignores file
/// permissions; else as the current user.
pub fn unprivileged_command() -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| stdout(&o).trim() == "0")
        .unwrap_or(false);
    if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin());
        c
    } else {
        Command::new(bin())
    }
}

/// Spawns `consolidate ARGS` paused after `n` file operations and kills it (SIGKILL).
pub fn kill_after(root: &Path, args: &[&str], n: usize) {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(root)
        .env("LC_ALL", "C")
        .env("CONSOLIDATE_PAUSE_AFTER", n.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut pipe = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("paused after") {
        let got = std::io::Read::read(&mut pipe, &mut buf).expect("read stderr");
        assert!(got > 0, "process ended before pausing: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..got]));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
}

/// Runs the binary in `dir` with a fixed, locale-free environment.
pub fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .current_dir(dir)
        .env("LC_ALL", "C")
        .env_remove("CONSOLIDATE_FAULT_AFTER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run consolidate")
}

/// Copies a folder recursively (files and folders only), as git holds it:
/// a step cache (`.consolidate/`, which ignores itself) that running the
/// tool inside a fixture left there is not copied, so it never shows up in
/// a golden comparison.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("read {}: {e}", from.display()))
        .map(|e| e.expect("entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let target = to.join(entry.file_name());
        let is_dir = entry.file_type().expect("type").is_dir();
        if is_dir && entry.file_name() == ".consolidate" {
            continue;
        }
        if is_dir {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Every file below `root` (relative path, bytes), sorted; `.git` is skipped.
pub fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let entry = entry.expect("entry");
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("below root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read(&path).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Asserts that a command exited with `code`, showing its output otherwise.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `component/name` keys of the steps of `plan --json` or `list --json` output.
pub fn json_step_keys(out: &Output) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_str(&stdout(out)).expect("json output");
    doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            format!(
                "{}/{}",
                s["component"].as_str().expect("c"),
                s["name"].as_str().expect("n")
            )
        })
        .collect()
}
