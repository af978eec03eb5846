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
pub mod history;
pub mod on_sqlite;
pub mod published;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::consolidation::check;
use crate::files::source::WorkTree;
use crate::model::step::{Step, StepKey};
use crate::model::tree_error::TreeError;
use crate::planning::plan;
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
        error: Box<TreeError>,
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

struct Seen<'a> {
    revision: &'a str,
    step: &'a Step,
}

fn differences(old: &Step, new: &Step) -> Vec<String> {
    let mut out = Vec::new();
    if old.release() != new.release() {
        out.push(format!(
            "release {} became {}",
            old.release().map_or("(none)", |r| r.as_str()),
            new.release().map_or("(none: standalone)", |r| r.as_str())
        ));
    }
    if old.computed != new.computed {
        out.push(format!("SQL {} became {}", old.computed, new.computed));
    }
    if old.phase != new.phase {
        out.push(format!("phase {} became {}", old.phase, new.phase));
    }
    if old.requires != new.requires {
        out.push("requires changed".into());
    }
    if old.transaction != new.transaction {
        out.push("transaction changed".into());
    }
    out
}

/// No step lost, no conflicting twins, released entries unchanged: one pass
/// over every step of every tree compared.
fn compare_steps(head: &Tree, others: &[(&Revision, &Tree)]) -> [CheckOutcome; 3] {
    let retired: std::collections::BTreeSet<(String, String)> = head
        .manifest
        .retired
        .iter()
        .map(|r| (r.component.to_string(), r.name.clone()))
        .collect();
    let mut by_key: BTreeMap<&StepKey, Vec<Seen<'_>>> = BTreeMap::new();
    for step in &head.steps {
        by_key.entry(&step.key).or_default().push(Seen {
            revision: WORK_TREE,
            step,
        });
    }
    for (rev, tree) in others {
        for step in &tree.steps {
            by_key.entry(&step.key).or_default().push(Seen {
                revision: &rev.label,
                step,
            });
        }
    }

    let mut lost_missing = 0;
    let mut lost_retired = 0;
    let mut released_entries = 0;
    let mut released_changed = 0;
    let mut twin_conflicts = 0;
    let mut lost_failures = Vec::new();
    let mut released_failures = Vec::new();
    let mut twin_failures = Vec::new();
    let mut history_failures = Vec::new();

    for (rev, tree) in others {
        let theirs = &tree.manifest.releases;
        let ours = &head.manifest.releases;
        let prefix = theirs.len() <= ours.len()
            && theirs
                .iter()
                .zip(ours.iter())
                .all(|(a, b)| a.name == b.name);
        if !prefix {
            let names = |v: &[crate::model::manifest::ReleaseEntry]| {
                v.iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            history_failures.push(Failure {
                message: format!(
                    "upgrade.toml: the release history at {rev} ({}) is not a prefix of the work tree's ({})",
                    names(theirs),
                    names(ours)
                ),
                hint: "the history is append-only: restore the [[release]] entries from version control".into(),
            });
        }
    }

    for (key, seen) in &by_key {
        let at_head = seen
            .first()
            .filter(|s| s.revision == WORK_TREE)
            .map(|s| s.step);
        let is_retired = retired.contains(&(key.component.to_string(), key.name.to_string()));
        if at_head.is_none() {
            if is_retired {
                lost_retired += 1;
            } else {
                lost_missing += 1;
                let at: Vec<String> = seen
                    .iter()
                    .map(|s| format!("{}:{}", s.revision, s.step.location()))
                    .collect();
                lost_failures.push(Failure {
                    message: format!(
                        "step {key} is missing from {WORK_TREE}; it exists at {}",
                        at.join(", ")
                    ),
                    hint: format!(
                        "restore it from version control, or retire it on purpose with [[retired]] component = \"{}\" step = \"{}\" reason = \"...\" in upgrade.toml",
                        key.component, key.name
                    ),
                });
            }
        }
        let mut released_problem = false;
        // One failure per distinct change, listing every revision that shows it.
        let mut changed: Vec<(Vec<String>, Vec<String>, &Step)> = Vec::new();
        for s in seen.iter().filter(|s| s.revision != WORK_TREE) {
            if s.step.release().is_none() {
                continue;
            }
            released_entries += 1;
            let Some(now) = at_head else {
                continue;
            };
            let changes = differences(s.step, now);
            if changes.is_empty() {
                continue;
            }
            released_problem = true;
            let at = format!("{}:{}", s.revision, s.step.location());
            match changed.iter_mut().find(|(c, _, _)| *c == changes) {
                Some((_, revisions, _)) => revisions.push(at),
                None => changed.push((changes, vec![at], s.step)),
            }
        }
        if let Some(now) = at_head {
            for (changes, revisions, old) in changed {
                released_changed += 1;
                released_failures.push(Failure {
                    message: format!(
                        "step {key}, tagged {} at {}, was changed in {WORK_TREE} at {}: {}",
                        old.release().map_or("", |r| r.as_str()),
                        revisions.join(", "),
                        now.location(),
                        changes.join("; ")
                    ),
                    hint: "released entries are never edited: restore the entry from version control and put the change in a new step (`consolidate new`)".into(),
                });
            }
        }
        if released_problem {
            continue;
        }
        let first = &seen[0];
        let mut reported: Vec<&crate::model::step::Checksum> = vec![&first.step.computed];
        for s in &seen[1..] {
            if reported.contains(&&s.step.computed) {
                continue;
            }
            reported.push(&s.step.computed);
            twin_conflicts += 1;
            twin_failures.push(Failure {
                message: format!(
                    "step {key} has two contents: {}:{} ({}) and {}:{} ({})",
                    first.revision,
                    first.step.location(),
                    first.step.computed,
                    s.revision,
                    s.step.location(),
                    s.step.computed
                ),
                hint: "one name, one content: give one of them a new name (`consolidate new`), or make both identical".into(),
            });
        }
    }

    let distinct_other = by_key
        .values()
        .filter(|v| v.iter().any(|s| s.revision != WORK_TREE))
        .count();
    let mut lost = CheckOutcome::new(
        "no step lost",
        &[
            ("steps", distinct_other),
            ("revisions", others.len()),
            ("missing", lost_missing),
            ("retired", lost_retired),
        ],
        format!(
            "{distinct_other} step(s) at {} revision(s), {lost_missing} missing from {WORK_TREE}, {lost_retired} retired",
            others.len()
        ),
    );
    for f in lost_failures {
        lost.fail(f.message, f.hint);
    }
    let mut twins = CheckOutcome::new(
        "no conflicting twins",
        &[
            ("names", by_key.len()),
            ("trees", others.len() + 1),
            ("conflicts", twin_conflicts),
        ],
        format!(
            "{} step name(s) across {} tree(s), {twin_conflicts} conflict(s)",
            by_key.len(),
            others.len() + 1
        ),
    );
    for f in twin_failures {
        twins.fail(f.message, f.hint);
    }
    let mut released = CheckOutcome::new(
        "released entries unchanged",
        &[
            ("entries", released_entries),
            ("changed", released_changed),
            ("histories", others.len()),
        ],
        format!(
            "{released_entries} released entries at {} revision(s), {released_changed} changed, {} release history mismatch(es)",
            others.len(),
            history_failures.len()
        ),
    );
    for f in history_failures.into_iter().chain(released_failures) {
        released.fail(f.message, f.hint);
    }
    [lost, twins, released]
}

fn c1_history(
    consolidations: &[ConsolidationCommit],
    trees: &HashMap<String, Tree>,
) -> CheckOutcome {
    let mut states = 0;
    let mut steps = 0;
    let mut failures = Vec::new();
    let mut differences = 0;
    for c in consolidations {
        let (Some(before), Some(after)) =
            (trees.get(&c.parent.commit), trees.get(&c.commit.commit))
        else {
            continue;
        };
        let plan_before = match plan::order(before) {
            Ok(p) => p,
            Err(e) => {
                failures.push(Failure {
                    message: format!("the tree at {} has no plan: {e}", c.parent),
                    hint: e.hint().into(),
                });
                continue;
            }
        };
        let plan_after = match plan::order(after) {
            Ok(p) => p,
            Err(e) => {
                failures.push(Failure {
                    message: format!("the tree at {} has no plan: {e}", c.commit),
                    hint: e.hint().into(),
                });
                continue;
            }
        };
        let outcome = c1::compare(before, &plan_before, after, &plan_after);
        states += outcome.states;
        steps += outcome.steps;
        differences += outcome.differences.len();
        let releases: Vec<&str> = c.added.iter().map(|r| r.as_str()).collect();
        for d in &outcome.differences {
            let what = match &d.difference {
                c1::Difference::Lost => format!(
                    "{} is pending at {} but gone at {}",
                    d.step, c.parent, c.commit
                ),
                c1::Difference::Skipped => format!(
                    "{} is pending at {} but counted as applied by release at {}",
                    d.step, c.parent, c.commit
                ),
                c1::Difference::RunsAgain => format!(
                    "{} is applied at {} (its ledger row pruned by the release) but would run again at {}",
                    d.step, c.parent, c.commit
                ),
                c1::Difference::Order { before, after } => format!(
                    "the plans differ in order: {} runs {before} where {} runs {after}",
                    c.parent, c.commit
                ),
            };
            failures.push(Failure {
                message: format!(
                    "consolidation {} ({}) changes what a site would run: {what}, for {}",
                    c.commit,
                    releases.join(", "),
                    d.state
                ),
                hint: "consolidation must be invisible (C1): redo it with `consolidate release` from the parent commit instead of editing by hand".into(),
            });
        }
        if c.by_tool && !outcome.arrived.is_empty() {
            let arrived: Vec<String> = outcome.arrived.iter().map(ToString::to_string).collect();
            differences += outcome.arrived.len();
            failures.push(Failure {
                message: format!(
                    "consolidation {} ({}) adds step(s) that were not in its parent: {}",
                    c.commit,
                    releases.join(", "),
                    arrived.join(", ")
                ),
                hint:
                    "a consolidation commit only folds steps: add new steps in commits of their own"
                        .into(),
            });
        }
    }
    let mut out = CheckOutcome::new(
        "C1 against history",
        &[
            ("consolidations", consolidations.len()),
            ("states", states),
            ("steps", steps),
            ("differences", differences),
        ],
        format!(
            "{} consolidation commit(s), {states} site state(s), {steps} step(s), {differences} difference(s)",
            consolidations.len()
        ),
    );
    for f in failures {
        out.fail(f.message, f.hint);
    }
    out
}

fn c1_on_sqlite(
    consolidations: &[ConsolidationCommit],
    trees: &HashMap<String, Tree>,
) -> CheckOutcome {
    let mut states = 0;
    let mut steps_run = 0;
    let mut failures = Vec::new();
    match tempfile::Builder::new()
        .prefix("consolidate-verify-")
        .tempdir()
    {
        Err(e) => failures.push(Failure {
            message: format!("cannot create a scratch folder for the SQLite databases: {e}"),
            hint: "check that the temporary folder (TMPDIR) is writable".into(),
        }),
        Ok(scratch) => {
            for (i, c) in consolidations.iter().enumerate() {
                let (Some(before), Some(after)) =
                    (trees.get(&c.parent.commit), trees.get(&c.commit.commit))
                else {
                    continue;
                };
                let Ok(plan_before) = plan::order(before) else {
                    continue; // reported by the C1 check
                };
                let folder = scratch.path().join(i.to_string());
                if let Err(e) = std::fs::create_dir_all(&folder) {
                    failures.push(Failure {
                        message: format!("cannot create {}: {e}", folder.display()),
                        hint: "check that the temporary folder (TMPDIR) is writable".into(),
                    });
                    continue;
                }
                let outcome = on_sqlite::compare(
                    &folder,
                    (&c.parent.label, before, &plan_before),
                    (&c.commit.label, after),
                );
                states += outcome.states;
                steps_run += outcome.steps_run;
                for problem in outcome.problems {
                    failures.push(Failure {
                        message: format!("consolidation {}: {problem}", c.commit),
                        hint: "upgrading with the consolidated tree must give the same schema: compare the steps named, and redo the consolidation with `consolidate release`".into(),
                    });
                }
            }
        }
    }
    let mut out = CheckOutcome::new(
        "C1 on SQLite",
        &[
            ("consolidations", consolidations.len()),
            ("states", states),
            ("steps_run", steps_run),
        ],
        format!(
            "{} consolidation commit(s), {states} sampled state(s), {steps_run} step(s) run, {} difference(s)",
            consolidations.len(),
            failures.len()
        ),
    );
    for f in failures {
        out.fail(f.message, f.hint);
    }
    out
}
