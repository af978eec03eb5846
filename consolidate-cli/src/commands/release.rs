//! `consolidate release`: fold standalone steps into a new release.
//!
//! In a git work tree (unless `--allow-dirty`) the release is computed from
//! HEAD's committed tree, and the work tree may differ from HEAD only by what
//! that release writes: the files of an interrupted run of the same command
//! (which a re-run completes) and its temporary files (which are removed).
//! Any other uncommitted change is refused before anything is written. With
//! `--commit`, the repository, identity and tag are checked first too, and
//! exactly the changed paths are committed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use upgrade_core::consolidation::consolidate::{Consolidation, Produced, consolidate, prepare};
use upgrade_core::files::fsio::{FileChange, join_relative, write_unified_diff};
use upgrade_core::trees::git_repo::{self, CommitTarget};
use upgrade_core::trees::git_tree::TreeRepository;
use upgrade_core::{ReleaseName, Tree, WorkTree};

use crate::cli_error::{CliError, EXIT_OK, io_error};

/// Arguments of `release`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The new release name, e.g. MOODLE_20_STABLE.
    release: String,
    /// Print the unified diff of what would change, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Commit the result (one git commit listing what was folded).
    #[arg(long, conflicts_with = "allow_dirty")]
    commit: bool,
    /// With --commit: also tag the commit with the release name.
    #[arg(long, requires = "commit")]
    tag: bool,
    /// Run even if the git work tree has uncommitted changes (they are folded
    /// too; not with --commit).
    #[arg(long)]
    allow_dirty: bool,
}

/// Runs `release`.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let release = ReleaseName::parse(&args.release)
        .map_err(|e| CliError::new(e.to_string(), "release names look like MOODLE_20_STABLE"))?;
    let work = super::work_tree(root)?;
    let tag = args.tag.then_some(release.as_str());
    let target = if args.commit && !args.dry_run {
        Some(git_repo::prepare_commit(work.root(), tag)?)
    } else {
        None
    };
    if args.dry_run {
        return dry_run(&work, &release);
    }
    let from_head = !args.allow_dirty && has_head(&work);
    let consolidation = if from_head {
        let tree = head_tree(&work)?;
        let consolidation = consolidate(&tree, &release)?;
        let temp_files =
            refuse_foreign_changes(&work, &git_repo::expected_of(&consolidation.changes))?;
        remove_files(work.root(), &temp_files);
        consolidation
    } else {
        let tree = Tree::load(&work)?;
        if !args.allow_dirty {
            super::refuse_dirty(&work, "commit or stash them first, or pass --allow-dirty")?;
        }
        consolidate(&tree, &release)?
    };
    remove_temp_files(work.root(), &consolidation.changes);
    consolidation
        .apply(work.root())
        .map_err(|e| io_error(work.root(), &e))?;
    eprintln!("{}", summary(&Counts::of(&consolidation), false));
    if let Some(target) = target {
        commit(&work, &target, &consolidation, tag)?;
    }
    Ok(EXIT_OK)
}

/// Commits the changed paths, unless HEAD holds them already.
fn commit(
    work: &WorkTree,
    target: &CommitTarget,
    consolidation: &Consolidation,
    tag: Option<&str>,
) -> Result<(), CliError> {
    let paths: Vec<String> = consolidation
        .changes
        .iter()
        .map(|c| c.path.clone())
        .collect();
    if !target.has_uncommitted(&paths)? {
        eprintln!("nothing to commit: HEAD already holds the release");
        if let Some(name) = tag
            && target.tag_head_if_released(name)?
        {
            eprintln!("tagged HEAD {name}");
        }
        return Ok(());
    }
    let id = target.commit_paths(work.root(), &paths, &consolidation.commit_message(), tag)?;
    eprintln!("committed {}", &id[..12.min(id.len())]);
    Ok(())
}

fn has_head(work: &WorkTree) -> bool {
    TreeRepository::discover(work.root())
        .and_then(|repo| repo.head())
        .is_ok()
}

/// The tree as HEAD holds it.
fn head_tree(work: &WorkTree) -> Result<Tree, CliError> {
    let repo = TreeRepository::discover(work.root())
        .map_err(|e| CliError::new(e.to_string(), e.hint()))?;
    let head = repo
        .head()
        .map_err(|e| CliError::new(e.to_string(), e.hint()))?;
    let source = repo
        .tree_at(&head)
        .map_err(|e| CliError::new(e.to_string(), e.hint()))?;
    let committed = upgrade_core::files::source::TreeSource::files(&source)?;
    if !committed
        .iter()
        .any(|p| p == upgrade_core::model::manifest::MANIFEST_FILE)
    {
        return Err(CliError::new(
            format!(
                "the step tree at {} is not committed: HEAD has no {}",
                work.root().display(),
                upgrade_core::model::manifest::MANIFEST_FILE
            ),
            "commit the tree first (`git add -A && git commit`), or pass --allow-dirty",
        ));
    }
    Ok(Tree::load(&source)?)
}

/// Refuses uncommitted changes that are not those the command makes; returns
/// the temporary files of a killed run found among them (tree-relative).
pub fn refuse_foreign_changes(
    work: &WorkTree,
    expected: git_repo::Expected<'_>,
) -> Result<Vec<String>, CliError> {
    let Some(dirt) = git_repo::classify_dirt(work.root(), expected)? else {
        return Ok(Vec::new());
    };
    if dirt.foreign.is_empty() {
        return Ok(dirt.temp_files);
    }
    let shown: Vec<&str> = dirt.foreign.iter().take(5).map(String::as_str).collect();
    Err(CliError::new(
        format!(
            "the git work tree has {} uncommitted change(s) that are not this command's: {}{}",
            dirt.foreign.len(),
            shown.join(", "),
            if dirt.foreign.len() > 5 { ", ..." } else { "" }
        ),
        "commit or stash them first (changes left by an interrupted run of the same command are completed, not refused)",
    ))
}

/// Removes tree-relative `paths` (temporary files of a killed run); one that
/// is already gone is no error.
pub fn remove_files(root: &Path, paths: &[String]) {
    for path in paths {
        let _ = std::fs::remove_file(join_relative(root, path));
    }
}

/// Removes temporary files of a killed run (`.consolidate-*.tmp`) from the
/// folders `changes` write to: they are never staged or left behind.
pub fn remove_temp_files(root: &Path, changes: &[FileChange]) {
    // Each folder once, found from the relative paths (a release deletes
    // 100,000 files; temporary files only ever sit beside written ones).
    let folders: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.after.is_some())
        .map(|c| c.path.rsplit_once('/').map_or("", |(dir, _)| dir))
        .collect();
    for folder in folders {
        let folder: PathBuf = if folder.is_empty() {
            root.to_path_buf()
        } else {
            join_relative(root, folder)
        };
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if git_repo::is_temp_file(&name.to_string_lossy()) && entry.path().is_file() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// `--dry-run`: the diff of what the release would change, written file by
/// file as it is produced (never the whole diff, nor every new text at once).
/// A dry run reads the work tree as it is, dirty or not: it changes nothing.
fn dry_run(work: &WorkTree, release: &ReleaseName) -> Result<u8, CliError> {
    let tree = Tree::load(work)?;
    let prepared = prepare(&tree, release)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut changes = 0;
    prepared
        .each_produced(&mut |produced| {
            changes += 1;
            let change = match produced {
                Produced::Change(change) => change,
                Produced::CreatedReleaseFile(file) => {
                    if write_created_streamed(file.path, &|w| file.write(w), &mut out)? {
                        return Ok(());
                    }
                    FileChange {
                        path: file.path.to_string(),
                        before: None,
                        after: Some(file.text()),
                    }
                }
            };
            if write_created(&change, &mut out)? {
                return Ok(());
            }
            write_unified_diff(std::slice::from_ref(&change), &mut out)
        })
        .and_then(|()| std::io::Write::flush(&mut out))
        .map_err(|e| io_error(work.root(), &e))?;
    let counts = Counts {
        release: &prepared.release,
        already_released: prepared.already_released,
        folded: prepared.folded.len(),
        kept_standalone: prepared.kept_standalone.len(),
        leftovers: prepared.leftovers.len(),
        changes,
    };
    eprintln!("{}", summary(&counts, true));
    Ok(EXIT_OK)
}

/// The diff of a file the release creates (the release file of 100,000
/// steps, a new upgrade.toml), written line by line: exactly what
/// [`write_unified_diff`] prints for it — one hunk of added lines — without
/// the diff algorithm's tables of every line. `false` (nothing written) for
/// any other change, and for texts that need its care (no final newline, a
/// carriage return).
fn write_created(change: &FileChange, out: &mut dyn std::io::Write) -> std::io::Result<bool> {
    let (None, Some(text)) = (&change.before, &change.after) else {
        return Ok(false);
    };
    if text.is_empty() || !text.ends_with('\n') || text.contains('\r') {
        return Ok(false);
    }
    let lines = text.bytes().filter(|b| *b == b'\n').count();
    let range = if lines == 1 {
        "1".to_string()
    } else {
        format!("1,{lines}")
    };
    write!(
        out,
        "--- /dev/null\n+++ b/{}\n@@ -0,0 +{range} @@\n",
        change.path
    )?;
    for line in text.split_inclusive('\n') {
        out.write_all(b"+")?;
        out.write_all(line.as_bytes())?;
    }
    Ok(true)
}

/// [`write_created`] for the release file the release creates, without its
/// text (~10 MB for 100,000 steps): written once to count its lines, then
/// again, line by line, into the diff. `false` (nothing written) for a text
/// [`write_created`] would leave to the diff.
fn write_created_streamed(
    path: &str,
    text: &dyn Fn(&mut dyn std::fmt::Write) -> std::fmt::Result,
    out: &mut dyn std::io::Write,
) -> std::io::Result<bool> {
    let mut shape = Shape::default();
    // Counting cannot fail.
    let _ = text(&mut shape);
    if shape.bytes == 0 || shape.last != Some('\n') || shape.carriage_return {
        return Ok(false);
    }
    let range = if shape.lines == 1 {
        "1".to_string()
    } else {
        format!("1,{}", shape.lines)
    };
    write!(out, "--- /dev/null\n+++ b/{path}\n@@ -0,0 +{range} @@\n")?;
    let mut added = Added {
        out,
        line_start: true,
        error: None,
    };
    if text(&mut added).is_err() {
        return Err(added
            .error
            .unwrap_or_else(|| std::io::Error::other("the release file could not be written")));
    }
    Ok(true)
}

/// The shape of a text written to it: what [`write_created`] checks.
#[derive(Default)]
struct Shape {
    bytes: usize,
    lines: usize,
    last: Option<char>,
    carriage_return: bool,
}

impl std::fmt::Write for Shape {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.bytes += s.len();
        self.lines += s.bytes().filter(|b| *b == b'\n').count();
        self.carriage_return |= s.contains('\r');
        if let Some(c) = s.chars().next_back() {
            self.last = Some(c);
        }
        Ok(())
    }
}

/// Writes the lines of a text written to it as added lines (`+` first).
struct Added<'o> {
    out: &'o mut dyn std::io::Write,
    line_start: bool,
    error: Option<std::io::Error>,
}

impl std::fmt::Write for Added<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let mut write = |bytes: &[u8]| {
            self.out.write_all(bytes).map_err(|e| {
                self.error = Some(e);
                std::fmt::Error
            })
        };
        for piece in s.split_inclusive('\n') {
            if self.line_start {
                write(b"+")?;
            }
            write(piece.as_bytes())?;
            self.line_start = piece.ends_with('\n');
        }
        Ok(())
    }
}

/// What the summary line counts.
struct Counts<'a> {
    release: &'a ReleaseName,
    already_released: bool,
    folded: usize,
    kept_standalone: usize,
    leftovers: usize,
    changes: usize,
}

impl<'a> Counts<'a> {
    fn of(c: &'a Consolidation) -> Self {
        Counts {
            release: &c.release,
            already_released: c.already_released,
            folded: c.folded.len(),
            kept_standalone: c.kept_standalone.len(),
            leftovers: c.leftovers.len(),
            changes: c.changes.len(),
        }
    }
}

fn summary(c: &Counts<'_>, dry_run: bool) -> String {
    let verb = if dry_run { "would" } else { "did" };
    if c.already_released {
        let mut s = format!(
            "{} is already the newest release: nothing to fold, {} standalone step(s) stay standalone for the next release",
            c.release, c.kept_standalone
        );
        if c.leftovers != 0 {
            s.push_str(&format!(
                "; {verb} delete {} file(s) left by an interrupted run",
                c.leftovers
            ));
        }
        if c.changes == 0 {
            s.push_str("; no file changes");
        }
        return s;
    }
    let mut s = format!(
        "{}: {} fold {} standalone step(s) and change {} file(s)",
        c.release, verb, c.folded, c.changes
    );
    if c.leftovers != 0 {
        s.push_str(&format!(
            ", {} of them files left by an interrupted run",
            c.leftovers
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_file_is_written_as_the_diff_writes_it() {
        let many: String = (0..40).map(|i| format!("line {i}\n")).collect();
        for text in ["a\n", "a\nb\n", "\n", "x\n\n\ny\n", many.as_str()] {
            let change = FileChange {
                path: "releases/R1.toml".into(),
                before: None,
                after: Some(text.to_string()),
            };
            let mut fast = Vec::new();
            assert!(write_created(&change, &mut fast).expect("written"));
            let mut slow = Vec::new();
            write_unified_diff(std::slice::from_ref(&change), &mut slow).expect("written");
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&slow),
                "{text:?}"
            );
        }
        for (before, after) in [
            (None, Some("no final newline")),
            (None, Some("a\r\n")),
            (None, Some("")),
            (Some("a\n"), Some("b\n")),
            (Some("a\n"), None),
        ] {
            let change = FileChange {
                path: "p".into(),
                before: before.map(str::to_string),
                after: after.map(str::to_string),
            };
            assert!(!write_created(&change, &mut Vec::new()).expect("nothing written"));
        }
    }

    #[test]
    fn a_streamed_created_file_is_written_as_the_diff_writes_it() {
        let many: String = (0..40).map(|i| format!("line {i}\n")).collect();
        for text in ["a\n", "a\nb\n", "\n", "x\n\n\ny\n", many.as_str()] {
            // Written in pieces that split lines, as `write!` does.
            let pieces = |w: &mut dyn std::fmt::Write| {
                for (i, piece) in text.split_inclusive(['\n', 'i']).enumerate() {
                    write!(w, "{piece}")?;
                    if i % 2 == 0 {
                        w.write_str("")?;
                    }
                }
                Ok(())
            };
            let mut streamed = Vec::new();
            assert!(
                write_created_streamed("releases/R1.toml", &pieces, &mut streamed)
                    .expect("written")
            );
            let change = FileChange {
                path: "releases/R1.toml".into(),
                before: None,
                after: Some(text.to_string()),
            };
            let mut slow = Vec::new();
            write_unified_diff(std::slice::from_ref(&change), &mut slow).expect("written");
            assert_eq!(
                String::from_utf8_lossy(&streamed),
                String::from_utf8_lossy(&slow),
                "{text:?}"
            );
        }
        for text in ["no final newline", "a\r\n", ""] {
            let whole = |w: &mut dyn std::fmt::Write| w.write_str(text);
            let mut out = Vec::new();
            assert!(!write_created_streamed("p", &whole, &mut out).expect("nothing written"));
            assert!(out.is_empty());
        }
    }
}
