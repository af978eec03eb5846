//! `Verification`: proving against the repository's real git history that
//! consolidation changed nothing any site would run (`consolidate verify`).
//!
//! The tree verified is the work tree (in CI, HEAD's checkout). It is compared
//! with the trees at other revisions, read from git objects:
//!
//! - *check*: the work tree passes [`crate::consolidation::check::check`];
//! - *no step lost*: every step at any revision compared exists in the work
//!   tree, or is listed under `[[retired]]`;
//! - *no conflicting twins*: one (component, name) never has two contents;
//! - *released entries unchanged*: an entry tagged with a release at any
//!   revision is in the work tree with the same tag, body and header, and each
//!   revision's release history is a prefix of the work tree's;
//! - *published releases unchanged*: each release compared with the commit
//!   that published it (first listed it in the manifest): same name, version
//!   and place, no entry tagged with it added later, same release file; see
//!   [`published`];
//! - *C1 against history*: for each consolidation commit of HEAD's
//!   first-parent history and its parent, see [`c1`];
//! - with `--apply`, *C1 on SQLite*: see [`on_sqlite`].
//!
//! Revisions compared: those given, or by default every tag and branch named
//! like a release of the work tree's history and the parent of the newest
//! consolidation commit; the consolidation commits and publishing commits
//! themselves always. Each tree is loaded once, so time and memory grow with
//! steps × revisions.
//!
//! A shallow clone is refused: its history ends early, so commits that
//! published releases look absent and a CI would check nothing; the error
//! says to fetch the history (`git fetch --unshallow --tags`).

pub mod c1;
mod compare;
mod consolidations;
pub mod history;
pub mod install_path;
pub mod on_sqlite;
pub mod published;

use std::collections::{BTreeMap, HashMap};

use compare::compare_steps;
use consolidations::{c1_history, c1_on_sqlite};
use std::fmt::Write as _;

use crate::consolidation::check;
use crate::files::source::WorkTree;
use crate::model::tree_error::TreeErrors;
use crate::trees::git_tree::{GitTreeError, Revision, TreeRepository};
use crate::trees::tree::Tree;

pub use history::ConsolidationCommit;

/// Serialising library types that are not `Serialize` through their `Display`.
pub(crate) mod as_text {
    use std::fmt::Display;

    use serde::Serializer;

    /// One value as its text.
    pub fn one<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    /// An optional value as its text or null.
    pub fn option<T: Display, S: Serializer>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    /// A list of values as a list of texts.
    pub fn list<T: Display, S: Serializer>(values: &[T], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(values.iter().map(ToString::to_string))
    }
}

/// Why verification could not run (as opposed to a check failing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Reading the repository failed.
    #[error(transparent)]
    Git(#[from] GitTreeError),
    /// The tree at a revision does not load.
    #[error("the step tree at {revision} does not load: {error}")]
    Tree {
        /// The revision.
        revision: String,
        /// Why.
        error: Box<TreeErrors>,
    },
    /// The clone is shallow: the history that published the releases is missing.
    #[error(
        "the repository is a shallow clone: the commits that published the releases of the history ({releases}) may be missing, so nothing could be verified"
    )]
    Shallow {
        /// The releases of the work tree's history.
        releases: String,
    },
}

impl VerifyError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            VerifyError::Git(e) => e.hint(),
            VerifyError::Tree { error, .. } => format!(
                "{}; or leave that revision out with --against",
                error.hint()
            ),
            VerifyError::Shallow { .. } => "fetch the whole history and the release tags first: `git fetch --unshallow --tags` (in CI, clone with full depth, e.g. `fetch-depth: 0`)".into(),
        }
    }
}

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Revisions to compare the work tree with; empty: the default set.
    pub against: Vec<String>,
    /// Also run both trees of each consolidation on scratch SQLite databases.
    pub apply: bool,
}

/// One failure of a check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// What is wrong, naming the revisions, files and steps.
    pub message: String,
    /// What to do.
    pub hint: String,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckOutcome {
    /// The check's name.
    pub name: &'static str,
    /// Did it pass?
    pub ok: bool,
    /// The counts, as one line of text.
    pub summary: String,
    /// The counts.
    pub counts: BTreeMap<&'static str, usize>,
    /// Every failure.
    pub failures: Vec<Failure>,
}

impl CheckOutcome {
    fn new(name: &'static str, counts: &[(&'static str, usize)], summary: String) -> Self {
        CheckOutcome {
            name,
            ok: true,
            summary,
            counts: counts.iter().copied().collect(),
            failures: Vec::new(),
        }
    }

    fn fail(&mut self, message: String, hint: impl Into<String>) {
        self.ok = false;
        self.failures.push(Failure {
            message,
            hint: hint.into(),
        });
    }
}

/// The result of `verify`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    /// Did every check pass?
    pub ok: bool,
    /// The commit checked out.
    pub head: Revision,
    /// The revisions the work tree was compared with.
    pub revisions: Vec<Revision>,
    /// The consolidation commits of HEAD's first-parent history, newest first.
    pub consolidations: Vec<ConsolidationCommit>,
    /// The checks, in order.
    pub checks: Vec<CheckOutcome>,
}

impl Verification {
    /// The report: one line per check, failures below it.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let labels: Vec<&str> = self.revisions.iter().map(|r| r.label.as_str()).collect();
        let _ = writeln!(
            out,
            "verify: the work tree (HEAD {}) against {} revision(s) ({}) and the {} consolidation commit(s) of HEAD's history",
            self.head.short(),
            labels.len(),
            if labels.is_empty() {
                "none".to_string()
            } else {
                labels.join(", ")
            },
            self.consolidations.len()
        );
        for check in &self.checks {
            let _ = writeln!(
                out,
                "{}  {}: {}",
                if check.ok { "pass" } else { "FAIL" },
                check.name,
                check.summary
            );
            for f in &check.failures {
                let _ = writeln!(out, "      - {}", f.message.replace('\n', "\n        "));
                let _ = writeln!(out, "        hint: {}", f.hint);
            }
        }
        out
    }

    /// The checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &CheckOutcome> {
        self.checks.iter().filter(|c| !c.ok)
    }
}

/// The work tree's side in messages.
pub const WORK_TREE: &str = "the work tree";

/// Verifies the tree of `work` against its repository's history.
pub fn verify(work: &WorkTree, options: &VerifyOptions) -> Result<Verification, VerifyError> {
    let head_tree = Tree::load(work).map_err(|error| VerifyError::Tree {
        revision: WORK_TREE.into(),
        error: Box::new(error),
    })?;
    let repo = TreeRepository::discover(work.root())?;
    if repo.is_shallow() {
        let names: Vec<&str> = head_tree
            .manifest
            .releases
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        return Err(VerifyError::Shallow {
            releases: if names.is_empty() {
                "none yet".into()
            } else {
                names.join(", ")
            },
        });
    }
    let head = repo.head()?;
    let consolidations = history::consolidation_commits(&repo, &head)?;
    let (publications, head_releases) = history::publications(&repo, &head)?;

    let mut revisions: Vec<Revision> = Vec::new();
    if options.against.is_empty() {
        let names: Vec<_> = head_tree
            .manifest
            .releases
            .iter()
            .map(|r| r.name.clone())
            .collect();
        revisions.extend(repo.refs_named(&names)?);
        if let Some(last) = consolidations.first() {
            revisions.push(last.parent.clone());
        }
    } else {
        for rev in &options.against {
            revisions.push(repo.resolve(rev)?);
        }
    }
    dedupe(&mut revisions);
    let mut compared = revisions.clone();
    compared.extend(consolidations.iter().map(|c| c.commit.clone()));
    dedupe(&mut compared);

    let mut trees: HashMap<String, Tree> = HashMap::new();
    let mut load = |rev: &Revision| -> Result<(), VerifyError> {
        if !trees.contains_key(&rev.commit) {
            let source = repo.tree_at(rev)?;
            let tree = Tree::load(&source).map_err(|error| VerifyError::Tree {
                revision: rev.label.clone(),
                error: Box::new(error),
            })?;
            trees.insert(rev.commit.clone(), tree);
        }
        Ok(())
    };
    for rev in &compared {
        load(rev)?;
    }
    for c in &consolidations {
        load(&c.parent)?;
    }
    for p in &publications {
        load(&p.commit)?;
    }
    let others: Vec<(&Revision, &Tree)> = compared
        .iter()
        .filter_map(|r| trees.get(&r.commit).map(|t| (r, t)))
        .collect();

    let mut checks = vec![check_head(&head_tree)];
    checks.extend(compare_steps(&head_tree, &others));
    let head_releases: std::collections::BTreeSet<_> = head_releases.into_iter().collect();
    let mut publishing = published::check(&head_tree, &publications, &trees, &head_releases);
    for entry in &head_tree.manifest.releases {
        let found = publications.iter().any(|p| p.entry.name == entry.name);
        if head_releases.contains(&entry.name) && !found {
            publishing.fail(
                format!(
                    "release {} is in HEAD's release history, but no commit of HEAD's first-parent history published it",
                    entry.name
                ),
                "fetch the whole history and the release tags: `git fetch --unshallow --tags`, then re-run `consolidate verify`",
            );
        }
    }
    checks.push(publishing);
    checks.push(c1_history(&consolidations, &trees));
    if options.apply {
        checks.push(c1_on_sqlite(&consolidations, &trees));
        checks.push(consolidations::install_equals_upgrade(
            &head_tree,
            &consolidations,
            &trees,
        ));
    }
    Ok(Verification {
        ok: checks.iter().all(|c| c.ok),
        head,
        revisions,
        consolidations,
        checks,
    })
}

fn dedupe(revisions: &mut Vec<Revision>) {
    let mut seen = std::collections::BTreeSet::new();
    revisions.retain(|r| seen.insert(r.commit.clone()));
}

fn check_head(tree: &Tree) -> CheckOutcome {
    let problems = check::check(tree);
    let mut out = CheckOutcome::new(
        "check",
        &[("steps", tree.steps.len()), ("problems", problems.len())],
        format!(
            "{} steps, {} releases, {} problem(s)",
            tree.steps.len(),
            tree.manifest.releases.len(),
            problems.len()
        ),
    );
    for p in problems {
        out.fail(p.to_string(), p.hint);
    }
    out
}
