//! A scripted git history for `verify` and `rebase`, built with git2 in a
//! temporary folder; releases are made by the real `consolidate release --commit`.
//! The git guards of `release --commit` and `rebase` are tested below
//! `history/` (`release_commit.rs`, `rebase.rs`).
//!
//! ```text
//! main:  c1 initial tree (core user/course, mod_forum forum)
//!        c2 core log_table
//!        c3 version 2007101500.00
//!        c4 `release MOODLE_19_STABLE --commit`  <- branch MOODLE_19_STABLE
//!        c5 core grade_table, mod_forum forum_tracking, block_navigation nav_cache
//!        c6 core message_table
//!        c7 version 2008030100.00
//!        c8 `release MOODLE_20_STABLE --commit --tag`  <- tag MOODLE_20_STABLE
//!        c9 core post20_setting (standalone, for the next release)
//! MOODLE_19_STABLE: c4, s1 backport of mod_forum forum_tracking (same name and body)
//! custom-19 (off s1): u1 local plugin local_myuni + own core step myuni_user_field
//!                     u2 upstream core grade_table cherry-picked (same body)
//! custom-conflict (off s1): core grade_table with other content
//! broken (off c9): the MOODLE_20_STABLE entry of core grade_table edited
//! ```

#![allow(dead_code)]

use std::path::Path;
use std::process::Output;

use git2::{BranchType, Repository, Signature, Time, build::CheckoutBuilder};

use crate::util::{assert_exit, run_in};

mod rebase;
mod release_commit;

/// The root manifest before any release.
const MANIFEST: &str = r#"# Moodle-like history used by the verify and rebase tests.
[project]
name = "moodle-history"
version = "2007100100.00"
revision = 1

[components]
core = "lib"
plugin_types = [
  { name = "block", folder = "blocks" },
  { name = "mod", folder = "mod" },
  { name = "local", folder = "local" },
]
"#;

/// The body of the step every branch shares by name.
pub const GRADE_TABLE: &str =
    "CREATE TABLE mdl_grade_items (id INTEGER PRIMARY KEY, courseid INTEGER NOT NULL);\n";
/// The backported fix, on main and on the 19 stable branch.
pub const FORUM_TRACKING: &str = "CREATE TABLE mdl_forum_track_prefs (id INTEGER PRIMARY KEY, userid INTEGER NOT NULL, forumid INTEGER NOT NULL);\n";
/// The institution's own core step.
pub const MYUNI_USER_FIELD: &str =
    "-- The institution's student number.\nALTER TABLE mdl_user ADD COLUMN myuni_id TEXT;\n";
/// The institution's local plugin step.
pub const MYUNI_ENROLMENTS: &str =
    "CREATE TABLE mdl_local_myuni_enrol (id INTEGER PRIMARY KEY, userid INTEGER NOT NULL);\n";

/// The scripted repository; deleted when dropped.
pub struct History {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
    repo: Repository,
    tick: std::cell::Cell<i64>,
}

impl History {
    /// Builds the whole history and leaves `main` checked out.
    pub fn build() -> History {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = Repository::init(dir.path()).expect("git init");
        {
            let mut config = repo.config().expect("config");
            config
                .set_str("user.name", "Release Manager")
                .expect("name");
            config
                .set_str("user.email", "rm@example.org")
                .expect("email");
        }
        repo.set_head("refs/heads/main").expect("unborn main");
        let h = History {
            dir,
            repo,
            tick: std::cell::Cell::new(1_190_000_000),
        };

        // main up to the 19 branch point.
        h.write("upgrade.toml", MANIFEST);
        h.write(
            "lib/setup.php",
            "<?php // application code, not a tree file\n",
        );
        h.write(
            "lib/db/upgrades/2007090100-user_table.sql",
            "CREATE TABLE mdl_user (id INTEGER PRIMARY KEY, username TEXT NOT NULL);\n",
        );
        h.write(
            "lib/db/upgrades/2007092000-course_table.sql",
            "CREATE TABLE mdl_course (id INTEGER PRIMARY KEY, fullname TEXT NOT NULL);\n",
        );
        h.write(
            "mod/forum/db/upgrades/2007091500-forum_table.sql",
            "CREATE TABLE mdl_forum (id INTEGER PRIMARY KEY, course INTEGER NOT NULL);\n",
        );
        h.commit("Initial step tree");
        h.write(
            "lib/db/upgrades/2007100500-log_table.sql",
            "CREATE TABLE mdl_log (id INTEGER PRIMARY KEY, time INTEGER NOT NULL);\n",
        );
        h.commit("Add the log table");
        h.set_version("2007101500.00");
        h.commit("Version 2007101500.00 for the 19 branch point");
        h.consolidate(&["release", "MOODLE_19_STABLE", "--commit"]);
        h.branch("MOODLE_19_STABLE");

        // The 19 stable branch gets the forum fix backported.
        h.checkout("MOODLE_19_STABLE");
        h.write(
            "mod/forum/db/upgrades/2007112000-forum_tracking.sql",
            FORUM_TRACKING,
        );
        h.set_version("2007101500.01");
        h.commit("Backport the forum tracking fix");

        // An institution's custom branch off 19 stable.
        h.branch("custom-19");
        h.branch("custom-conflict");
        h.checkout("custom-19");
        h.write(
            "local/myuni/version.php",
            "<?php // the local plugin's code\n",
        );
        h.write(
            "local/myuni/db/upgrades/2007111500-myuni_enrolments.sql",
            MYUNI_ENROLMENTS,
        );
        h.write(
            "lib/db/upgrades/2007113000-myuni_user_field.sql",
            MYUNI_USER_FIELD,
        );
        h.commit("MyUni: local plugin and student number");
        h.write("lib/db/upgrades/2007111000-grade_table.sql", GRADE_TABLE);
        h.commit("MyUni: cherry-pick the grade table from main");

        // Another custom branch that took the same name for other content.
        h.checkout("custom-conflict");
        h.write(
            "lib/db/upgrades/2007111000-grade_table.sql",
            "CREATE TABLE mdl_grade_items (id INTEGER PRIMARY KEY, name TEXT);\n",
        );
        h.commit("Conflict: our own grade table");

        // main on to the 20 branch point and beyond.
        h.checkout("main");
        h.write("lib/db/upgrades/2007111000-grade_table.sql", GRADE_TABLE);
        h.write(
            "mod/forum/db/upgrades/2007112000-forum_tracking.sql",
            FORUM_TRACKING,
        );
        h.write(
            "blocks/navigation/db/upgrades/2007120100-nav_cache.sql",
            "CREATE TABLE mdl_block_nav_cache (id INTEGER PRIMARY KEY, userid INTEGER NOT NULL);\n",
        );
        h.commit("Grades, forum tracking, navigation cache");
        h.write(
            "lib/db/upgrades/2008020100-message_table.sql",
            "CREATE TABLE mdl_message (id INTEGER PRIMARY KEY, useridto INTEGER NOT NULL);\n",
        );
        h.commit("Add the message table");
        h.set_version("2008030100.00");
        h.commit("Version 2008030100.00 for the 20 branch point");
        h.consolidate(&["release", "MOODLE_20_STABLE", "--commit", "--tag"]);
        h.write(
            "lib/db/upgrades/2008031000-post20_setting.sql",
            "CREATE INDEX mdl_log_time_ix ON mdl_log (time);\n",
        );
        h.commit("Index the log by time");

        // A branch where a released step was edited.
        h.branch("broken");
        h.checkout("broken");
        let text = h.read("lib/db/upgrade.toml");
        let edited = text.replacen(
            "courseid INTEGER NOT NULL);",
            "courseid INTEGER NOT NULL, hidden INTEGER);",
            1,
        );
        assert_ne!(
            text, edited,
            "the grade table entry is in lib/db/upgrade.toml"
        );
        h.write("lib/db/upgrade.toml", &edited);
        h.commit("Edit a released step (wrong)");
        h.checkout("main");
        h
    }

    /// The work folder (the tree root).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `consolidate ARGS` in the tree root.
    pub fn run(&self, args: &[&str]) -> Output {
        run_in(self.root(), args, &[])
    }

    /// Runs `consolidate ARGS` and asserts it succeeded.
    pub fn consolidate(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_exit(&out, 0);
        out
    }

    /// Writes a file (creating folders).
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    /// Reads a file as text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root().join(rel)).expect("read")
    }

    /// Does the file exist?
    pub fn exists(&self, rel: &str) -> bool {
        self.root().join(rel).exists()
    }

    /// Removes a file.
    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.root().join(rel)).expect("remove");
    }

    /// Sets `version` of [project] (the first `version =` line of the manifest).
    pub fn set_version(&self, version: &str) {
        let text = self.read("upgrade.toml");
        let start = text.find("\nversion = \"").expect("version line") + 12;
        let end = start + text[start..].find('"').expect("closing quote");
        self.write(
            "upgrade.toml",
            &format!("{}{version}{}", &text[..start], &text[end..]),
        );
    }

    /// Commits every change of the work tree on HEAD at a fixed, increasing time.
    pub fn commit(&self, message: &str) -> String {
        self.tick.set(self.tick.get() + 3600);
        commit_in(&self.repo, message, self.tick.get())
    }

    /// Creates a branch at HEAD.
    pub fn branch(&self, name: &str) {
        let head = self
            .repo
            .head()
            .expect("head")
            .peel_to_commit()
            .expect("commit");
        self.repo.branch(name, &head, false).expect("branch");
    }

    /// Checks a branch out, discarding local changes and untracked files.
    pub fn checkout(&self, name: &str) {
        let branch = self
            .repo
            .find_branch(name, BranchType::Local)
            .expect("branch exists");
        let refname = branch.get().name().expect("utf-8 name").to_string();
        let object = self.repo.revparse_single(&refname).expect("branch commit");
        self.repo
            .checkout_tree(
                &object,
                Some(CheckoutBuilder::new().force().remove_untracked(true)),
            )
            .expect("checkout");
        self.repo.set_head(&refname).expect("set head");
    }

    /// Merges `rev` into HEAD in memory (nothing is written): the paths that
    /// conflict, and the paths whose merged content differs from HEAD's.
    pub fn merge_preview(&self, rev: &str) -> (Vec<String>, Vec<String>) {
        let ours = self
            .repo
            .head()
            .expect("head")
            .peel_to_commit()
            .expect("commit");
        let theirs = self
            .repo
            .revparse_single(rev)
            .expect("revision")
            .peel_to_commit()
            .expect("commit");
        let mut index = self
            .repo
            .merge_commits(&ours, &theirs, None)
            .expect("merge");
        let mut conflicts: Vec<String> = index
            .conflicts()
            .expect("conflicts")
            .flatten()
            .filter_map(|c| c.our.or(c.their).or(c.ancestor))
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect();
        conflicts.sort();
        conflicts.dedup();
        if !conflicts.is_empty() {
            return (conflicts, Vec::new());
        }
        let merged = self
            .repo
            .find_tree(index.write_tree_to(&self.repo).expect("tree"))
            .expect("merged tree");
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&ours.tree().expect("tree")), Some(&merged), None)
            .expect("diff");
        let changed = diff
            .deltas()
            .filter_map(|d| d.new_file().path().or(d.old_file().path()))
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .collect();
        (conflicts, changed)
    }

    /// The files of the work tree (relative path and bytes), `.git` skipped.
    pub fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        crate::util::snapshot(self.root())
    }
}

/// Commits every change of the work tree of `repo` on HEAD, at `time`
/// (seconds since the epoch), as a developer would with `git commit -a`.
pub fn commit_in(repo: &Repository, message: &str, time: i64) -> String {
    let mut index = repo.index().expect("index");
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.update_all(["*"], None).expect("update");
    index.write().expect("write index");
    let tree = repo
        .find_tree(index.write_tree().expect("write tree"))
        .expect("tree");
    let sig =
        Signature::new("Developer", "dev@example.org", &Time::new(time, 0)).expect("signature");
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .expect("commit")
        .to_string()
}
