//! The runner: a site's status (what it needs and why), the plan `apply`
//! would run, `apply` itself with the completion of the newest release, and
//! pruning — the contract of the design (`applied`, `pending`, completing a
//! release, P1) on top of the [`Ledger`] trait.
//!
//! Decisions owned here:
//! - refusals: a site whose completed release is older than `upgrade_from`,
//!   unknown to the release history, or whose version is newer than the code;
//! - drift: a ledger row whose checksum differs from its step stops `apply`
//!   unless the caller accepts it (the tree's checksum is then recorded);
//! - completion: after the run, when no step tagged with the newest release
//!   (or earlier) is pending, the release is completed in one transaction: the
//!   site release is set and the rows it covers are deleted; when nothing at
//!   all is pending, the site's version and revision are set in the same one;
//! - which rows a release covers: rows of steps the tree tags with it or an
//!   earlier release, and rows of steps no longer in the tree that a release
//!   file up to it lists. Neither can change `pending` (P1).
//!
//! Test hooks: `CONSOLIDATE_FAULT_AFTER_STEPS=N` exits the process (code 86)
//! once N steps are committed; `CONSOLIDATE_PAUSE_AFTER_STEPS=N` prints a line
//! to stderr and sleeps there (holding the lock) so a test can kill it for
//! real. `N = 0` means right after the lock is taken.

use std::collections::BTreeMap;

use crate::ledger::{
    self, Access, Database, DatabaseUrl, Ledger, LedgerError, LedgerRow, SiteChange, StepRun,
    StepRunError, Stored,
};
use crate::plan::{self, PlanError};
use crate::release_name::ReleaseName;
use crate::site::SiteState;
use crate::step::{Checksum, Phase, Step, StepKey};
use crate::tree::Tree;
use crate::version::Version;

/// Why a site may not be upgraded by this code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The site's release is older than the oldest one the code upgrades from.
    #[error(
        "the site completed {site}, which is older than {upgrade_from}, the oldest release this code upgrades from"
    )]
    TooOld {
        /// The site's completed release.
        site: ReleaseName,
        /// `upgrade_from` of the manifest.
        upgrade_from: ReleaseName,
    },
    /// The site's release is not in the tree's release history.
    #[error(
        "the site completed {site}, which is not in this code's release history ({known}): it was upgraded by newer or other code"
    )]
    UnknownRelease {
        /// The site's completed release.
        site: ReleaseName,
        /// The history, oldest first.
        known: String,
    },
    /// The site's version is newer than the code's.
    #[error(
        "the site is at version {site}, newer than this code's {code}: that would be a downgrade"
    )]
    Downgrade {
        /// The site's version.
        site: Version,
        /// The code's version.
        code: Version,
    },
}

impl Refusal {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            Refusal::TooOld { upgrade_from, .. } => format!(
                "upgrade the site to {upgrade_from} first, with the code of that release, then run this code"
            ),
            Refusal::UnknownRelease { .. } | Refusal::Downgrade { .. } => {
                "run the code the site was last upgraded with (or newer); restore a backup to go back".into()
            }
        }
    }
}

/// A ledger row whose checksum is not the one of its step in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The step.
    pub key: StepKey,
    /// The checksum in the ledger.
    pub recorded: String,
    /// The checksum of the step in the tree.
    pub expected: Checksum,
    /// Where the step is defined.
    pub location: String,
}

/// What a site needs, and why.
#[derive(Debug, Clone)]
pub struct Status<'t> {
    /// The engine (picks step variants).
    pub database: Database,
    /// The database, for messages.
    pub db: String,
    /// What is stored.
    pub stored: Stored,
    /// The site state of the contract.
    pub site: SiteState,
    /// Why the code may not upgrade the site, if it may not.
    pub refusal: Option<Refusal>,
    /// Steps not applied, in plan order.
    pub pending: Vec<&'t Step>,
    /// Ledger rows that differ from their step.
    pub drift: Vec<Drift>,
    /// The newest release, when the site has not completed it.
    pub release_to_complete: Option<ReleaseName>,
    /// The site's revision differs from the code's.
    pub resync: bool,
    /// The site's version is not the code's.
    pub version_behind: bool,
    /// Ledger rows of steps in no file, not covered by the site's release.
    pub orphans: Vec<LedgerRow>,
    /// Ledger rows the cleanup rules of the site's release delete (`prune`).
    pub prunable: Vec<LedgerRow>,
    /// The code's version.
    pub code_version: Version,
    /// The code's revision.
    pub code_revision: i64,
}

impl Status<'_> {
    /// Is there anything for `apply` to do (steps, a release to complete, a
    /// version or revision to record)?
    pub fn needs_upgrade(&self) -> bool {
        !self.pending.is_empty()
            || self.release_to_complete.is_some()
            || self.resync
            || self.version_behind
    }

    /// Would `apply` refuse to run (refusal or unaccepted drift)?
    pub fn blocked(&self) -> bool {
        self.refusal.is_some() || !self.drift.is_empty()
    }

    /// Pending steps per component and phase.
    pub fn pending_counts(&self) -> BTreeMap<String, BTreeMap<Phase, usize>> {
        let mut out: BTreeMap<String, BTreeMap<Phase, usize>> = BTreeMap::new();
        for step in &self.pending {
            *out.entry(step.key.component.to_string())
                .or_default()
                .entry(step.phase)
                .or_default() += 1;
        }
        out
    }
}

/// Which pending steps to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Stop after this step (`component/name`, or a name unique in the tree).
    pub to: Option<String>,
    /// Only steps of this phase.
    pub phase: Option<Phase>,
}

/// What `apply` would do.
#[derive(Debug, Clone)]
pub struct Plan<'t> {
    /// The site's status.
    pub status: Status<'t>,
    /// The steps to run, in order.
    pub steps: Vec<&'t Step>,
    /// The release completed after them, if any.
    pub completes: Option<ReleaseName>,
    /// Whether the site's version and revision are recorded after them.
    pub syncs: bool,
}

/// What `apply` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Steps whose SQL ran.
    pub applied: usize,
    /// Steps recorded without running anything (no body for this database).
    pub noops: usize,
    /// Drifted rows whose checksum was replaced.
    pub drift_accepted: usize,
    /// The release completed and the number of ledger rows it pruned.
    pub completed: Option<(ReleaseName, usize)>,
    /// The version and revision recorded.
    pub synced: Option<(Version, i64)>,
    /// Steps still pending (outside the selection).
    pub remaining: usize,
}

/// Progress of `apply`, for display.
#[derive(Debug, Clone, Copy)]
pub enum ApplyEvent<'a> {
    /// The run starts with this many steps.
    Start {
        /// Steps to run.
        total: usize,
    },
    /// A step is about to run.
    StepStarted {
        /// 0-based position.
        index: usize,
        /// Steps to run.
        total: usize,
        /// The step.
        step: &'a Step,
    },
    /// A step is committed.
    StepDone {
        /// 0-based position.
        index: usize,
        /// Steps to run.
        total: usize,
        /// The step.
        step: &'a Step,
        /// It had no body for this database and was only recorded.
        noop: bool,
    },
    /// Drifted rows got the tree's checksums.
    DriftAccepted {
        /// How many.
        count: usize,
    },
    /// A release was completed.
    ReleaseCompleted {
        /// The release.
        release: &'a ReleaseName,
        /// Ledger rows deleted.
        pruned: usize,
    },
    /// The site's version and revision were recorded.
    Synced {
        /// The version.
        version: &'a Version,
        /// The revision.
        revision: i64,
    },
}

/// Options of `apply`.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Which steps.
    pub selection: Selection,
    /// Record the tree's checksum for drifted rows instead of stopping.
    pub accept_drift: bool,
    /// Test hooks.
    pub hook: StepHook,
}

/// What `prune` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// The site's completed release (`None`: fresh site, nothing to prune).
    pub release: Option<ReleaseName>,
    /// The rows deleted.
    pub deleted: Vec<LedgerRow>,
}

/// Why a runner command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The database.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The tree has no plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The site may not be upgraded by this code.
    #[error("{db}: upgrade refused: {refusal}")]
    Refused {
        /// The database.
        db: String,
        /// Why.
        refusal: Refusal,
    },
    /// Ledger rows differ from the tree.
    #[error("{db}: {} ledger row(s) differ from the tree (drift):{}", .drift.len(), drift_lines(.drift))]
    Drift {
        /// The database.
        db: String,
        /// The rows.
        drift: Vec<Drift>,
    },
    /// A step failed; everything before it is committed, nothing of it.
    #[error("step {step} ({location}) failed on {database}: {message}")]
    StepFailed {
        /// The step.
        step: StepKey,
        /// Its file.
        location: String,
        /// The engine.
        database: Database,
        /// The database's error.
        message: String,
        /// Steps committed before it in this run.
        committed: usize,
        /// Did it run in a transaction?
        transaction: bool,
    },
    /// `--to` names no step.
    #[error("--to {given}: the tree has no such step")]
    UnknownStep {
        /// What was given.
        given: String,
    },
    /// `--to` names a step of several components.
    #[error("--to {given} is ambiguous: {}", .candidates.join(", "))]
    AmbiguousStep {
        /// What was given.
        given: String,
        /// The matching steps.
        candidates: Vec<String>,
    },
    /// `--to` names a step of another phase than `--phase`.
    #[error("--to {step} is a {phase} step, but --phase {selected} selects only {selected} steps")]
    PhaseMismatch {
        /// The step.
        step: StepKey,
        /// Its phase.
        phase: Phase,
        /// The selected phase.
        selected: Phase,
    },
}

fn drift_lines(drift: &[Drift]) -> String {
    drift
        .iter()
        .map(|d| {
            format!(
                "\n  {} ({}): ledger {}, tree {}",
                d.key, d.location, d.recorded, d.expected
            )
        })
        .collect()
}

impl RunError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            RunError::Ledger(e) => e.hint().into(),
            RunError::Plan(e) => e.hint().into(),
            RunError::Refused { refusal, .. } => refusal.hint(),
            RunError::Drift { .. } => "a step was changed after this site applied it: restore the step as it was, or, if the site's schema matches the new version, re-run with --accept-drift to record the tree's checksum".into(),
            RunError::StepFailed {
                committed,
                transaction,
                ..
            } => {
                let kept = format!(
                    "the {committed} step(s) before it in this run are committed"
                );
                if *transaction {
                    format!(
                        "{kept}, nothing of this one: fix the step (or the data it trips over) and re-run `consolidate apply` to continue"
                    )
                } else {
                    format!(
                        "{kept}; this step runs outside a transaction (transaction: no), so the statements before the failing one are kept: undo them or make the step re-runnable, then re-run `consolidate apply`"
                    )
                }
            }
            RunError::UnknownStep { .. } => {
                "name a step as component/YYYYMMDDNN-slug; `consolidate plan` lists the pending ones".into()
            }
            RunError::AmbiguousStep { .. } => "write component/name".into(),
            RunError::PhaseMismatch { .. } => "drop --phase, or name a step of that phase".into(),
        }
    }
}

/// Test hooks of `apply` (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct StepHook {
    /// Exit with code 86 after this many committed steps.
    pub fault_after: Option<usize>,
    /// Pause after this many committed steps.
    pub pause_after: Option<usize>,
}

impl StepHook {
    /// Reads `CONSOLIDATE_FAULT_AFTER_STEPS` and `CONSOLIDATE_PAUSE_AFTER_STEPS`.
    pub fn from_env() -> Self {
        let read = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        StepHook {
            fault_after: read("CONSOLIDATE_FAULT_AFTER_STEPS"),
            pause_after: read("CONSOLIDATE_PAUSE_AFTER_STEPS"),
        }
    }

    fn reached(&self, done: usize) {
        if self.pause_after == Some(done) {
            eprintln!("paused after {done} step(s) (CONSOLIDATE_PAUSE_AFTER_STEPS)");
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
        if self.fault_after == Some(done) {
            eprintln!("stopped after {done} step(s) (CONSOLIDATE_FAULT_AFTER_STEPS)");
            std::process::exit(86);
        }
    }
}

/// Runs the commands of one tree against one site database.
#[derive(Debug)]
pub struct Runner<'t> {
    tree: &'t Tree,
    order: Vec<&'t Step>,
    url: DatabaseUrl,
}

impl<'t> Runner<'t> {
    /// A runner for the tree (fails if the tree has no plan order).
    pub fn new(tree: &'t Tree, url: DatabaseUrl) -> Result<Self, RunError> {
        Ok(Runner {
            tree,
            order: plan::order(tree)?,
            url,
        })
    }

    /// The site database.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The site's status; reads only (a missing SQLite file is a fresh site).
    pub fn status(&self) -> Result<Status<'t>, RunError> {
        let stored = ledger::read_site(&self.url)?;
        status_of(
            self.tree,
            &self.order,
            self.url.database(),
            &self.url.describe(),
            stored,
        )
    }

    /// What `apply` with this selection would run; reads only.
    pub fn plan(&self, selection: &Selection) -> Result<Plan<'t>, RunError> {
        let status = self.status()?;
        if let Some(refusal) = &status.refusal {
            return Err(RunError::Refused {
                db: status.db.clone(),
                refusal: refusal.clone(),
            });
        }
        let steps = select(self.tree, &status, selection)?;
        let (completes, syncs) = after_run(self.tree, &status, &steps);
        Ok(Plan {
            status,
            steps,
            completes,
            syncs,
        })
    }

    /// Runs the plan: takes the lock (refusing if another run holds it),
    /// creates the ledger if needed, runs the selected steps one transaction
    /// each, then completes the newest release and records version and
    /// revision when due.
    pub fn apply(
        &self,
        options: &ApplyOptions,
        on_event: &mut dyn FnMut(ApplyEvent<'_>),
    ) -> Result<ApplyReport, RunError> {
        let mut ledger = self.open_for_writing()?;
        apply_on(self.tree, &self.order, ledger.as_mut(), options, on_event)
    }

    /// Applies the cleanup rules of the site's release: deletes the ledger rows
    /// it covers. Idempotent; creates nothing when there is nothing to delete.
    pub fn prune(&self) -> Result<PruneReport, RunError> {
        let status = self.status()?;
        refuse_unknown_release(&status)?;
        if status.prunable.is_empty() {
            return Ok(PruneReport {
                release: status.site.release,
                deleted: Vec::new(),
            });
        }
        let mut ledger = self.open_for_writing()?;
        let status = self.locked_status(ledger.as_mut())?;
        refuse_unknown_release(&status)?;
        let change = SiteChange {
            delete: keys_of(&status.prunable),
            ..SiteChange::default()
        };
        ledger.commit(&change)?;
        Ok(PruneReport {
            release: status.site.release,
            deleted: status.prunable,
        })
    }

    /// Ledger rows whose step is in no file of the tree (and which the site's
    /// release does not cover); reads only.
    pub fn orphans(&self) -> Result<Vec<LedgerRow>, RunError> {
        Ok(self.status()?.orphans)
    }

    /// Deletes the orphan rows and returns them. Dangerous: a row of a step
    /// that another branch of the code still has makes that step run again
    /// when the site moves to that code.
    pub fn delete_orphans(&self) -> Result<Vec<LedgerRow>, RunError> {
        if self.status()?.orphans.is_empty() {
            return Ok(Vec::new());
        }
        let mut ledger = self.open_for_writing()?;
        let status = self.locked_status(ledger.as_mut())?;
        let change = SiteChange {
            delete: keys_of(&status.orphans),
            ..SiteChange::default()
        };
        ledger.commit(&change)?;
        Ok(status.orphans)
    }

    fn open_for_writing(&self) -> Result<Box<dyn Ledger>, RunError> {
        ledger::open(&self.url, Access::Apply)?.ok_or_else(|| {
            RunError::Ledger(LedgerError::Open {
                db: self.url.describe(),
                message: "the database was not created".into(),
            })
        })
    }

    fn locked_status(&self, ledger: &mut dyn Ledger) -> Result<Status<'t>, RunError> {
        let stored = ledger.read()?;
        status_of(
            self.tree,
            &self.order,
            ledger.database(),
            &ledger.describe(),
            stored,
        )
    }
}

fn refuse_unknown_release(status: &Status<'_>) -> Result<(), RunError> {
    match &status.refusal {
        Some(refusal @ Refusal::UnknownRelease { .. }) => Err(RunError::Refused {
            db: status.db.clone(),
            refusal: refusal.clone(),
        }),
        _ => Ok(()),
    }
}

fn keys_of(rows: &[LedgerRow]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| (r.component.clone(), r.step.clone()))
        .collect()
}

/// The status of a site whose stored ledger is `stored`.
pub fn status_of<'t>(
    tree: &'t Tree,
    order: &[&'t Step],
    database: Database,
    db: &str,
    stored: Stored,
) -> Result<Status<'t>, RunError> {
    let site = stored.site_state(db)?;
    let manifest = &tree.manifest;
    let site_index = site.release.as_ref().map(|r| manifest.release_index(r));
    let refusal = match (&site.release, site_index) {
        (Some(release), Some(None)) => Some(Refusal::UnknownRelease {
            site: release.clone(),
            known: if manifest.releases.is_empty() {
                "empty".to_string()
            } else {
                manifest
                    .releases
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        }),
        (Some(release), Some(Some(index))) => manifest
            .upgrade_from
            .as_ref()
            .and_then(|from| manifest.release_index(from).map(|f| (from, f)))
            .filter(|(_, from_index)| index < *from_index)
            .map(|(from, _)| Refusal::TooOld {
                site: release.clone(),
                upgrade_from: from.clone(),
            }),
        _ => None,
    }
    .or_else(|| match &site.version {
        Some(v) if *v > manifest.version => Some(Refusal::Downgrade {
            site: v.clone(),
            code: manifest.version.clone(),
        }),
        _ => None,
    });
    let pending = plan::pending(tree, order, &site);
    let covered_upto = site_index.flatten();
    let prunable = match covered_upto {
        Some(upto) => covered_rows(tree, &stored.rows, upto),
        None => Vec::new(),
    };
    let is_prunable = |row: &LedgerRow| prunable.iter().any(|p| p == row);
    let mut drift = Vec::new();
    let mut orphans = Vec::new();
    for row in &stored.rows {
        if is_prunable(row) {
            continue;
        }
        match StepKey::parse(&row.key_text())
            .ok()
            .and_then(|k| tree.step(&k))
        {
            Some(step) if step.checksum.as_str() != row.checksum => drift.push(Drift {
                key: step.key.clone(),
                recorded: row.checksum.clone(),
                expected: step.checksum.clone(),
                location: step.location(),
            }),
            Some(_) => {}
            None => orphans.push(row.clone()),
        }
    }
    let release_to_complete = manifest
        .newest_release()
        .filter(|newest| site.release.as_ref() != Some(&newest.name))
        .filter(|_| refusal.is_none())
        .map(|newest| newest.name.clone());
    Ok(Status {
        database,
        db: db.to_string(),
        resync: site.revision != Some(manifest.revision),
        version_behind: site.version.as_ref() != Some(&manifest.version),
        refusal,
        pending,
        drift,
        release_to_complete,
        orphans,
        prunable,
        code_version: manifest.version.clone(),
        code_revision: manifest.revision,
        stored,
        site,
    })
}

/// The ledger rows a site that completed the release at history position
/// `upto` no longer needs: rows of steps the tree tags with that release or an
/// earlier one, and rows of steps not in the tree that a release file up to it
/// covers. Deleting them never changes `pending` (P1).
pub fn covered_rows(tree: &Tree, rows: &[LedgerRow], upto: usize) -> Vec<LedgerRow> {
    let releases =
        &tree.manifest.releases[..=upto.min(tree.manifest.releases.len().saturating_sub(1))];
    rows.iter()
        .filter(|row| {
            let Ok(key) = StepKey::parse(&row.key_text()) else {
                return false;
            };
            match tree.step(&key) {
                Some(step) => step
                    .release()
                    .and_then(|r| tree.manifest.release_index(r))
                    .is_some_and(|i| i <= upto),
                None => releases.iter().any(|entry| {
                    tree.release_files.get(&entry.name).is_some_and(|file| {
                        file.rules
                            .covers
                            .get(&key.component)
                            .is_some_and(|steps| steps.contains_key(&key.name))
                    })
                }),
            }
        })
        .cloned()
        .collect()
}

/// The pending steps a selection picks, in plan order.
pub fn select<'t>(
    tree: &'t Tree,
    status: &Status<'t>,
    selection: &Selection,
) -> Result<Vec<&'t Step>, RunError> {
    let in_phase = |s: &&Step| selection.phase.is_none_or(|p| s.phase == p);
    let mut steps: Vec<&'t Step> = status.pending.iter().copied().filter(in_phase).collect();
    if let Some(to) = &selection.to {
        let target = resolve_step(tree, to)?;
        if let Some(phase) = selection.phase {
            if target.phase != phase {
                return Err(RunError::PhaseMismatch {
                    step: target.key.clone(),
                    phase: target.phase,
                    selected: phase,
                });
            }
        }
        match steps.iter().position(|s| s.key == target.key) {
            Some(i) => steps.truncate(i + 1),
            // Already applied: nothing to run up to it.
            None => steps.clear(),
        }
    }
    Ok(steps)
}

fn resolve_step<'t>(tree: &'t Tree, given: &str) -> Result<&'t Step, RunError> {
    let unknown = || RunError::UnknownStep {
        given: given.to_string(),
    };
    if given.contains('/') {
        let key = StepKey::parse(given).map_err(|_| unknown())?;
        return tree.step(&key).ok_or_else(unknown);
    }
    let matches: Vec<&Step> = tree
        .steps
        .iter()
        .filter(|s| s.key.name.as_str() == given)
        .collect();
    match matches.as_slice() {
        [] => Err(unknown()),
        [one] => Ok(one),
        many => Err(RunError::AmbiguousStep {
            given: given.to_string(),
            candidates: many.iter().map(|s| s.key.to_string()).collect(),
        }),
    }
}

/// After running `steps`: the release that completes, and whether version and
/// revision are recorded.
fn after_run(tree: &Tree, status: &Status<'_>, steps: &[&Step]) -> (Option<ReleaseName>, bool) {
    let left: Vec<&Step> = status
        .pending
        .iter()
        .copied()
        .filter(|p| !steps.iter().any(|s| s.key == p.key))
        .collect();
    let completes = status.release_to_complete.clone().filter(|newest| {
        let Some(newest_index) = tree.manifest.release_index(newest) else {
            return false;
        };
        !left.iter().any(|s| {
            s.release()
                .and_then(|r| tree.manifest.release_index(r))
                .is_some_and(|i| i <= newest_index)
        })
    });
    let syncs = left.is_empty() && (status.resync || status.version_behind);
    (completes, syncs)
}

/// `apply` on an open, locked ledger.
pub fn apply_on<'t>(
    tree: &'t Tree,
    order: &[&'t Step],
    ledger: &mut dyn Ledger,
    options: &ApplyOptions,
    on_event: &mut dyn FnMut(ApplyEvent<'_>),
) -> Result<ApplyReport, RunError> {
    let database = ledger.database();
    let db = ledger.describe();
    let mut report = ApplyReport::default();
    let status = status_of(tree, order, database, &db, ledger.read()?)?;
    if let Some(refusal) = &status.refusal {
        return Err(RunError::Refused {
            db,
            refusal: refusal.clone(),
        });
    }
    if !status.drift.is_empty() {
        if !options.accept_drift {
            return Err(RunError::Drift {
                db,
                drift: status.drift,
            });
        }
        ledger.commit(&SiteChange {
            checksums: status
                .drift
                .iter()
                .map(|d| (d.key.clone(), d.expected.clone()))
                .collect(),
            ..SiteChange::default()
        })?;
        report.drift_accepted = status.drift.len();
        on_event(ApplyEvent::DriftAccepted {
            count: report.drift_accepted,
        });
    }
    let steps = select(tree, &status, &options.selection)?;
    let total = steps.len();
    on_event(ApplyEvent::Start { total });
    options.hook.reached(0);
    for (index, step) in steps.iter().enumerate() {
        on_event(ApplyEvent::StepStarted { index, total, step });
        let sql = step.body.for_database(database.as_str());
        let run = StepRun {
            component: step.key.component.as_str(),
            step: step.key.name.as_str(),
            checksum: step.checksum.as_str(),
            sql,
            transaction: step.transaction,
        };
        ledger.run_step(&run).map_err(|e| RunError::StepFailed {
            step: step.key.clone(),
            location: step.location(),
            database,
            message: match e {
                StepRunError::Sql(m) => m,
                StepRunError::Ledger(l) => l.to_string(),
            },
            committed: index,
            transaction: step.transaction,
        })?;
        if sql.is_some() {
            report.applied += 1;
        } else {
            report.noops += 1;
        }
        on_event(ApplyEvent::StepDone {
            index,
            total,
            step,
            noop: sql.is_none(),
        });
        options.hook.reached(index + 1);
    }
    // Completion and sync are decided on what is stored now.
    let status = status_of(tree, order, database, &db, ledger.read()?)?;
    let (completes, syncs) = after_run(tree, &status, &[]);
    let mut change = SiteChange::default();
    if let Some(release) = &completes {
        if let Some(index) = tree.manifest.release_index(release) {
            change.delete = keys_of(&covered_rows(tree, &status.stored.rows, index));
            change.release = Some(release.clone());
        }
    }
    if syncs {
        change.sync = Some((tree.manifest.version.clone(), tree.manifest.revision));
    }
    if !change.is_empty() {
        ledger.commit(&change)?;
    }
    if let Some(release) = &change.release {
        report.completed = Some((release.clone(), change.delete.len()));
        on_event(ApplyEvent::ReleaseCompleted {
            release,
            pruned: change.delete.len(),
        });
    }
    if let Some((version, revision)) = &change.sync {
        report.synced = Some((version.clone(), *revision));
        on_event(ApplyEvent::Synced {
            version,
            revision: *revision,
        });
    }
    report.remaining = status.pending.len();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemoryTree;

    const MANIFEST: &str = r#"
[project]
name = "t"
version = "2008030100.00"
revision = 5
upgrade_from = "R19"
[components]
core = "lib"
plugin_types = [{ name = "mod", folder = "mod" }]
[[release]]
name = "R18"
version = "2007000000.00"
[[release]]
name = "R19"
version = "2007101500.00"
"#;

    fn tree(files: &[(&str, &str)]) -> Tree {
        let mut mem = MemoryTree::default();
        mem.files
            .insert("upgrade.toml".into(), MANIFEST.as_bytes().to_vec());
        for (path, text) in files {
            mem.files.insert((*path).into(), text.as_bytes().to_vec());
        }
        Tree::load(&mem).expect("valid tree")
    }

    fn demo() -> Tree {
        tree(&[
            (
                "lib/db/upgrades/2008010100-a.sql",
                "CREATE TABLE a (id INT);\n",
            ),
            (
                "lib/db/upgrades/2008010200-trigger.sqlite.sql",
                "CREATE TRIGGER a_t AFTER INSERT ON a BEGIN SELECT 1; END;\n",
            ),
            (
                "mod/forum/db/upgrades/2008010150-b.sql",
                "-- phase: pre\nCREATE TABLE b (id INT);\n",
            ),
            (
                "mod/forum/db/upgrades/2008010300-c.sql",
                "-- transaction: no\nCREATE INDEX a_ix ON a (id);\n",
            ),
        ])
    }

    fn status_for<'t>(tree: &'t Tree, order: &[&'t Step], stored: Stored) -> Status<'t> {
        status_of(tree, order, Database::Sqlite, "test.db", stored).expect("status")
    }

    fn row(component: &str, step: &str, checksum: &str) -> LedgerRow {
        LedgerRow {
            component: component.into(),
            step: step.into(),
            checksum: checksum.into(),
            applied_at: "2008-01-01T00:00:00Z".into(),
        }
    }

    fn at(release: Option<&str>, version: Option<&str>) -> Stored {
        Stored {
            exists: true,
            rows: Vec::new(),
            site: ledger::SiteRecord {
                release: release.map(|r| ReleaseName::parse(r).expect("release")),
                version: version.map(|v| Version::parse(v).expect("version")),
                revision: Some(5),
            },
        }
    }

    #[test]
    fn refusals() {
        let t = demo();
        let order = plan::order(&t).expect("order");
        let s = status_for(&t, &order, at(Some("R18"), None));
        assert!(
            matches!(&s.refusal, Some(Refusal::TooOld { upgrade_from, .. }) if upgrade_from.as_str() == "R19"),
            "{:?}",
            s.refusal
        );
        let s = status_for(&t, &order, at(Some("R21"), None));
        assert!(matches!(s.refusal, Some(Refusal::UnknownRelease { .. })));
        let s = status_for(&t, &order, at(Some("R19"), Some("2009000000")));
        assert!(matches!(s.refusal, Some(Refusal::Downgrade { .. })));
        let s = status_for(&t, &order, at(Some("R19"), Some("2007101500.01")));
        assert!(s.refusal.is_none());
        let s = status_for(&t, &order, Stored::default());
        assert!(s.refusal.is_none());
        assert_eq!(s.pending.len(), 4);
        assert_eq!(
            s.release_to_complete.as_ref().map(|r| r.as_str()),
            Some("R19")
        );
        assert!(s.needs_upgrade());
    }

    #[test]
    fn selection_by_phase_and_to() {
        let t = demo();
        let order = plan::order(&t).expect("order");
        let s = status_for(&t, &order, Stored::default());
        let keys = |steps: Vec<&Step>| steps.iter().map(|s| s.key.to_string()).collect::<Vec<_>>();
        let all = select(&t, &s, &Selection::default()).expect("all");
        assert_eq!(
            keys(all),
            [
                "mod_forum/2008010150-b",
                "core/2008010100-a",
                "core/2008010200-trigger",
                "mod_forum/2008010300-c"
            ]
        );
        let pre = Selection {
            phase: Some(Phase::Pre),
            ..Selection::default()
        };
        assert_eq!(
            keys(select(&t, &s, &pre).expect("pre")),
            ["mod_forum/2008010150-b"]
        );
        let to = Selection {
            to: Some("2008010100-a".into()),
            ..Selection::default()
        };
        assert_eq!(select(&t, &s, &to).expect("to").len(), 2);
        let bad = Selection {
            to: Some("2008010100-a".into()),
            phase: Some(Phase::Pre),
        };
        assert!(matches!(
            select(&t, &s, &bad),
            Err(RunError::PhaseMismatch { .. })
        ));
        let unknown = Selection {
            to: Some("core/2009010100-x".into()),
            ..Selection::default()
        };
        assert!(matches!(
            select(&t, &s, &unknown),
            Err(RunError::UnknownStep { .. })
        ));
    }

    #[test]
    fn drift_orphans_and_prunable() {
        let t = demo();
        let order = plan::order(&t).expect("order");
        let a = t
            .steps
            .iter()
            .find(|s| s.key.name.as_str() == "2008010100-a")
            .expect("a");
        let mut stored = at(Some("R19"), None);
        stored.rows = vec![
            row(
                "core",
                "2008010100-a",
                "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ),
            row(
                "mod_forum",
                "2008010150-b",
                "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ),
            row("core", "2001010100-gone", a.checksum.as_str()),
            row("weird name", "x", "not a checksum"),
        ];
        let s = status_for(&t, &order, stored);
        assert_eq!(s.drift.len(), 2);
        let orphans: Vec<String> = s.orphans.iter().map(LedgerRow::key_text).collect();
        assert_eq!(orphans, ["core/2001010100-gone", "weird name/x"]);
        assert!(s.prunable.is_empty());
        assert!(s.blocked());
    }

    #[test]
    fn apply_completes_and_prunes_on_sqlite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = demo();
        let url = DatabaseUrl::Sqlite(dir.path().join("site.db"));
        let runner = Runner::new(&t, url.clone()).expect("runner");
        let first = runner
            .apply(
                &ApplyOptions {
                    selection: Selection {
                        phase: Some(Phase::Pre),
                        ..Selection::default()
                    },
                    ..ApplyOptions::default()
                },
                &mut |_| {},
            )
            .expect("apply pre");
        assert_eq!((first.applied, first.remaining), (1, 3));
        // No step is tagged R19 or earlier, so R19 completes as soon as anything ran.
        assert_eq!(
            first.completed.as_ref().map(|(r, _)| r.as_str()),
            Some("R19")
        );
        assert_eq!(
            first.synced, None,
            "version and revision wait for the last step"
        );
        let mut events = Vec::new();
        let report = runner
            .apply(&ApplyOptions::default(), &mut |e| {
                if let ApplyEvent::StepDone { step, noop, .. } = e {
                    events.push((step.key.to_string(), noop));
                }
            })
            .expect("apply");
        assert_eq!(report.applied, 3);
        assert_eq!(report.noops, 0, "the trigger has a sqlite variant");
        assert_eq!(report.completed, None, "already completed");
        assert!(report.synced.is_some());
        let status = runner.status().expect("status");
        assert!(!status.needs_upgrade(), "{status:?}");
        assert_eq!(
            status.stored.rows.len(),
            4,
            "standalone rows stay until their release completes"
        );
        // Runs again: nothing to do.
        let again = runner
            .apply(&ApplyOptions::default(), &mut |_| {})
            .expect("again");
        assert_eq!(again, ApplyReport::default());
    }
}
