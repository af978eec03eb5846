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
//!
//! Submodules: `status` (what a site needs, refusals, which rows a release
//! covers), `apply` (selecting and running steps, with the test hooks) and
//! `error` (`RunError`).

mod adopt;
mod apply;
mod error;
pub mod hooks;
mod installs;
mod lines;
mod maintained;
mod manual;
mod post;
mod site_tree;
pub mod staged;
mod status;

pub use adopt::Adopted;
use apply::after_run;
pub use apply::{StepHook, apply_on, select};
pub use error::RunError;
pub use installs::Install;
pub use lines::file_line;
pub use maintained::ScopeFailure;
pub use manual::ManualOutcome;
pub use post::{
    DoneAnswer, LeftToPostRun, PostEvent, PostOptions, PostReport, StepProgress, apply_pending,
    post_gate, waits_for,
};
pub use site_tree::{SiteTreeError, site_and_tree};
pub use status::{Downtime, Drift, Refusal, Status, Unreviewed, covered_rows, status_of};
use status::{keys_of, refuse_unknown_release, refuse_unrunnable};

use std::collections::BTreeMap;

use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::step::{Checksum, Phase, Step, StepKey};
use crate::model::version::Version;
use crate::planning::plan::{self, PlanError};
use crate::planning::site_state::SiteState;
use crate::site::ledger::maintenance::{SITE_SCOPE, ScopeEvent};
use crate::site::ledger::{
    self, Access, Audit, Database, DatabaseUrl, Ledger, LedgerError, LedgerRow, Session,
    SiteChange, SiteRecord, StepRun, StepRunError, Stored,
};
use crate::trees::tree::Tree;

/// Which pending steps to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Stop after this step (`component/name`, or a name unique in the tree).
    pub to: Option<String>,
    /// Only steps of this phase.
    pub phase: Option<Phase>,
    /// Also run the pending steps the selected ones must follow (earlier
    /// phases, requirements) instead of refusing.
    pub with_requirements: bool,
}

/// `apply --mark-done`: the operator completed an interrupted step by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkDone {
    /// The step, as given (`component/name` or a name unique in the tree).
    pub step: String,
    /// Who (`--by`, else the operating-system user).
    pub actor: String,
    /// Why (`--reason`).
    pub reason: String,
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
    /// Pending batched post steps, after what `apply` runs: left to
    /// `consolidate post run` (not part of `steps`).
    pub batched: Vec<LeftToPostRun<'t>>,
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
    /// Steps still pending (outside the selection), batched post steps not counted.
    pub remaining: usize,
    /// Batched post steps pending: `apply` leaves them to `consolidate post run`.
    pub batched_left: usize,
    /// The interrupted step recorded as done (`--mark-done`), without running it.
    pub marked_done: Option<String>,
    /// Components installed from their snapshots.
    pub installed: usize,
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
    /// A fresh site was built from the project baseline.
    Baseline {
        /// Its release, now completed.
        release: &'a ReleaseName,
        /// Its files.
        files: &'a [String],
        /// It had no script for this database: only recorded.
        noop: bool,
    },
    /// A component's install snapshot is about to run.
    InstallStarted {
        /// The install.
        install: &'a Install<'a>,
    },
    /// A component is installed and the steps its snapshot covers recorded.
    Installed {
        /// The install.
        install: &'a Install<'a>,
        /// It had no script for this database: only recorded.
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
    /// A maintenance scope changed (`*` or a component).
    Scope {
        /// `*` or the component.
        scope: &'a str,
        /// What happened: `Enter`, `Leave`, `Failed`, or `ManualOn` for a
        /// scope set by hand that the run keeps as it is.
        event: ScopeEvent,
        /// The steps, the error, or why it is kept.
        detail: &'a str,
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
    /// Run again a step outside a transaction that an earlier run left
    /// interrupted, after the operator checked the site.
    pub retry_interrupted: bool,
    /// Record the interrupted step as done instead (audited).
    pub mark_done: Option<MarkDone>,
    /// Who decides about an interrupted step, and why (kept with `retry_interrupted`).
    pub decided_by: Option<(String, String)>,
    /// Test hooks.
    pub hook: StepHook,
    /// The folder the `[maintenance]` hooks run in (the tree root); `None`:
    /// the hooks are not run (scratch sites, e.g. of `verify --apply`).
    pub hook_dir: Option<std::path::PathBuf>,
}

/// What `prune` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// The site's completed release (`None`: fresh site, nothing to prune).
    pub release: Option<ReleaseName>,
    /// The rows deleted.
    pub deleted: Vec<LedgerRow>,
}

/// Runs the commands of one tree against one site database.
#[derive(Debug)]
pub struct Runner<'t> {
    tree: &'t Tree,
    /// The plan order of a tree with requirements (made at once: there may
    /// be none); a tree without has the key order, made when needed
    /// (`status` orders only its pending steps, often none).
    order: Option<Vec<&'t Step>>,
    url: DatabaseUrl,
}

impl<'t> Runner<'t> {
    /// A runner for the tree (fails if the tree has no plan order).
    pub fn new(tree: &'t Tree, url: DatabaseUrl) -> Result<Self, RunError> {
        let order = if plan::has_requires(tree) {
            Some(plan::order(tree)?)
        } else {
            None
        };
        Ok(Runner { tree, order, url })
    }

    /// Every step in plan order.
    pub(super) fn order(&self) -> std::borrow::Cow<'_, [&'t Step]> {
        match &self.order {
            Some(order) => std::borrow::Cow::Borrowed(order),
            None => plan::key_order(self.tree, self.tree.steps.iter().collect()).into(),
        }
    }

    /// The site database.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The tree.
    pub fn tree(&self) -> &'t Tree {
        self.tree
    }

    /// The site's status; reads only (a missing SQLite file is a fresh site).
    pub fn status(&self) -> Result<Status<'t>, RunError> {
        self.status_from(ledger::read_site(&self.url)?)
    }

    /// The site's status from its ledger as already read
    /// ([`ledger::read_site`]), e.g. to load the tree for that site
    /// ([`Tree::load_for_site`]) before.
    pub fn status_from(&self, stored: Stored) -> Result<Status<'t>, RunError> {
        status_of(
            self.tree,
            self.order.as_deref(),
            self.url.database(),
            &self.url.describe(),
            stored,
        )
    }

    /// What `apply` with this selection would run; reads only.
    pub fn plan(&self, selection: &Selection) -> Result<Plan<'t>, RunError> {
        self.plan_from(ledger::read_site(&self.url)?, selection)
    }

    /// [`Runner::plan`] from the site's ledger as already read
    /// ([`ledger::read_site`]), e.g. to load the tree for that site
    /// ([`Tree::load_for_site`]) before.
    pub fn plan_from(&self, stored: Stored, selection: &Selection) -> Result<Plan<'t>, RunError> {
        let status = self.status_from(stored)?;
        refuse_unrunnable(&status)?;
        let progress = if status.pending.iter().any(|s| s.is_batched()) {
            let progress = self.post_progress(&status);
            // Progress only adds detail to the message: an unreadable batch
            // ledger must not hide the stop itself.
            post_gate(&status, progress.as_deref().unwrap_or_default())?;
            progress
        } else {
            Ok(Vec::new())
        };
        // In the order `apply` runs them: the whole site's scope first (staged).
        let steps = staged::run_order(self.tree, &select(self.tree, &status, selection)?);
        let (completes, syncs) = after_run(self.tree, &status, &steps);
        let batched = post::left_to_post_run(self, &status, selection, progress)?;
        Ok(Plan {
            status,
            steps,
            completes,
            syncs,
            batched,
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
        apply_on(self.tree, &self.order(), ledger.as_mut(), options, on_event)
    }

    /// Applies the cleanup rules of the site's release: deletes the ledger rows
    /// it covers. Idempotent; creates nothing when there is nothing to delete.
    pub fn prune(&self) -> Result<PruneReport, RunError> {
        let (tree, manifest) = (self.tree, &self.tree.manifest);
        // Before taking the lock, only whether any row is covered (no
        // status): rows are read until one is.
        let (site, any) = ledger::any_row(&self.url, &mut |site, component, step| {
            match site.release.as_ref().map(|r| manifest.release_index(r)) {
                Some(Some(upto)) => ledger::row_key(component, step)
                    .is_some_and(|key| status::covered(tree, &key, tree.step(&key), upto)),
                // No release completed, or one the history does not know:
                // no row decides anything.
                _ => true,
            }
        })?;
        match site.release.as_ref().map(|r| manifest.release_index(r)) {
            Some(Some(_)) if any => {}
            Some(None) => {
                // Refused: the status words it.
                let status = self.status()?;
                refuse_unknown_release(&status)?;
                return Ok(PruneReport {
                    release: status.site.release,
                    deleted: Vec::new(),
                });
            }
            _ => {
                return Ok(PruneReport {
                    release: site.release,
                    deleted: Vec::new(),
                });
            }
        }
        let mut ledger = self.open_for_writing()?;
        let status = self.locked_status(ledger.as_mut())?;
        refuse_unknown_release(&status)?;
        let change = SiteChange {
            delete: keys_of(status.prunable_rows()),
            ..SiteChange::default()
        };
        ledger.commit(&change)?;
        // The deleted rows, moved out of the status read before.
        let mut prunable = status.prunable.iter().copied().peekable();
        let deleted = status
            .stored
            .rows
            .into_iter()
            .enumerate()
            .filter(|(i, _)| prunable.next_if_eq(i).is_some())
            .map(|(_, row)| row)
            .collect();
        Ok(PruneReport {
            release: status.site.release,
            deleted,
        })
    }

    /// Ledger rows whose step is in no file of the tree (and which the site's
    /// release does not cover), and the installed components the tree no
    /// longer has; reads only.
    pub fn orphans(&self) -> Result<(Vec<LedgerRow>, Vec<String>), RunError> {
        let status = self.status()?;
        Ok((status.orphans, status.removed))
    }

    /// Deletes the orphan rows and forgets the components the tree no longer
    /// has; returns both. Dangerous: a row of a step
    /// that another branch of the code still has makes that step run again
    /// when the site moves to that code.
    pub fn delete_orphans(&self) -> Result<(Vec<LedgerRow>, Vec<String>), RunError> {
        let status = self.status()?;
        if status.orphans.is_empty() && status.removed.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut ledger = self.open_for_writing()?;
        let status = self.locked_status(ledger.as_mut())?;
        // Components no longer in the tree are forgotten with their rows.
        let change = SiteChange {
            delete: keys_of(&status.orphans),
            uninstalled: status.removed.clone(),
            ..SiteChange::default()
        };
        ledger.commit(&change)?;
        Ok((status.orphans, status.removed))
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
            self.order.as_deref(),
            ledger.database(),
            &ledger.describe(),
            stored,
        )
    }
}

#[cfg(test)]
mod tests;
