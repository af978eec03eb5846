//! A site's status: what it needs and why, the refusals, and which ledger
//! rows a completed release covers.
//!
//! Released history is immutable here too: every pending step tagged with a
//! release is checked (and only those: an up-to-date site hashes nothing it
//! will not run): an entry whose SQL no longer hashes to its recorded
//! checksum, or tagged with a release the history does not know, is
//! [`Unreviewed`] and stops `plan` and `apply`.

use super::*;

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

/// A pending released entry that is not what was released: `plan` and
/// `apply` refuse to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreviewed {
    /// The step.
    pub key: StepKey,
    /// Its `file:line`.
    pub location: String,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for Unreviewed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: step {} {}", self.location, self.key, self.problem)
    }
}

/// The pending released entries that are not what was released.
fn unreviewed(tree: &Tree, pending: &[&Step]) -> Vec<Unreviewed> {
    let mut out = Vec::new();
    for step in pending {
        let Some(release) = step.release() else {
            continue;
        };
        let problem = if tree.manifest.release_index(release).is_none() {
            format!(
                "is tagged {release}, which is not in the release history of upgrade.toml: no site can tell whether it ran"
            )
        } else if step.checksum != step.computed() {
            format!(
                "was edited after release {release}: its recorded checksum is {} but its SQL hashes to {}",
                step.checksum,
                step.computed()
            )
        } else {
            continue;
        };
        out.push(Unreviewed {
            key: step.key.clone(),
            location: step.location(),
            problem,
        });
    }
    out
}

/// What kind of downtime a site's pending work needs (`status` exits 0, 3, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Downtime {
    /// Nothing pending.
    None,
    /// Only pre and post steps: they run while the site is online.
    Online,
    /// Main steps, or what only `apply` records: needs maintenance.
    Maintenance,
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
    /// The site's record as the contract reads it (a fresh site of a
    /// project with a baseline: as having completed the baseline's release).
    pub site: SiteRecord,
    /// Why the code may not upgrade the site, if it may not.
    pub refusal: Option<Refusal>,
    /// Steps not applied, in plan order.
    pub pending: Vec<&'t Step>,
    /// Ledger rows that differ from their step.
    pub drift: Vec<Drift>,
    /// A step outside a transaction that an earlier `apply` started and never
    /// recorded (`component/name`).
    pub interrupted: Option<String>,
    /// Pending released entries that are not what was released.
    pub unreviewed: Vec<Unreviewed>,
    /// Another session holding the upgrade lock: an `apply` is running
    /// (PostgreSQL; on SQLite reading fails while one runs).
    pub running: Option<Session>,
    /// A server session still running the interrupted step (its client is
    /// gone): the step is not interrupted yet, it is running.
    pub step_running: Option<Session>,
    /// The newest release, when the site has not completed it.
    pub release_to_complete: Option<ReleaseName>,
    /// The site's revision differs from the code's.
    pub resync: bool,
    /// The site's version is not the code's.
    pub version_behind: bool,
    /// Ledger rows of steps in no file, not covered by the site's release.
    pub orphans: Vec<LedgerRow>,
    /// The ledger rows the cleanup rules of the site's release delete
    /// (`prune`): their positions in `stored.rows`, in order (the rows are
    /// not copied).
    pub prunable: Vec<usize>,
    /// The code's version.
    pub code_version: Version,
    /// The code's revision.
    pub code_revision: i64,
    /// Components `apply` installs from their snapshots, before any step
    /// (their covered steps are not in `pending`).
    pub installs: Vec<Install<'t>>,
    /// A fresh site starts from the project baseline: `apply` runs its
    /// schema snapshot first and records the site as having completed it.
    pub baseline: Option<ReleaseName>,
    /// Components the site installed that the tree no longer has.
    pub removed: Vec<String>,
    /// Components installed by their steps that `upgrade_components` does
    /// not list yet (a ledger older than schema 4): `apply` records them.
    pub unrecorded: Vec<ComponentName>,
}

impl Status<'_> {
    /// Is there anything for `apply` to do (steps, a release to complete, a
    /// version or revision to record)?
    pub fn needs_upgrade(&self) -> bool {
        !self.pending.is_empty()
            || !self.installs.is_empty()
            || self.baseline.is_some()
            || self.release_to_complete.is_some()
            || self.resync
            || self.version_behind
    }

    /// Would `apply` refuse to run (refusal, unaccepted drift, or an
    /// interrupted step not yet checked)?
    pub fn blocked(&self) -> bool {
        self.refusal.is_some()
            || !self.drift.is_empty()
            || self.interrupted.is_some()
            || !self.unreviewed.is_empty()
            || self.running.is_some()
    }

    /// What kind of downtime the pending work needs: maintenance for a
    /// pending main step, or for what only `apply` records (a release to
    /// complete, version or revision) when no step is pending; none (online)
    /// when only pre and post steps are pending (the release then completes
    /// with the last of them).
    pub fn downtime(&self) -> Downtime {
        if self.pending.iter().any(|s| s.phase == Phase::Main)
            || !self.installs.is_empty()
            || self.baseline.is_some()
        {
            Downtime::Maintenance
        } else if !self.pending.is_empty() {
            Downtime::Online
        } else if self.needs_upgrade() {
            Downtime::Maintenance
        } else {
            Downtime::None
        }
    }

    /// The ledger rows the cleanup rules of the site's release delete.
    pub fn prunable_rows(&self) -> impl Iterator<Item = &LedgerRow> {
        self.prunable.iter().map(|&i| &self.stored.rows[i])
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

/// Refuses what `plan`, `apply` and `post run` may not touch: a site this
/// code may not upgrade, or pending released entries that are not what was
/// released.
pub(super) fn refuse_unrunnable(status: &Status<'_>) -> Result<(), RunError> {
    if let Some(refusal) = &status.refusal {
        return Err(RunError::Refused {
            db: status.db.clone(),
            refusal: refusal.clone(),
        });
    }
    if !status.unreviewed.is_empty() {
        return Err(RunError::Unreviewed {
            db: status.db.clone(),
            entries: status.unreviewed.clone(),
        });
    }
    Ok(())
}

pub(super) fn refuse_unknown_release(status: &Status<'_>) -> Result<(), RunError> {
    match &status.refusal {
        Some(refusal @ Refusal::UnknownRelease { .. }) => Err(RunError::Refused {
            db: status.db.clone(),
            refusal: refusal.clone(),
        }),
        _ => Ok(()),
    }
}

/// The status of a site whose stored ledger is `stored`. `order` is the
/// plan order of every step; `None` for a tree without requirements, whose
/// plan order is the key order: only the pending steps are then ordered.
pub fn status_of<'t>(
    tree: &'t Tree,
    order: Option<&[&'t Step]>,
    database: Database,
    db: &str,
    stored: Stored,
) -> Result<Status<'t>, RunError> {
    let manifest = &tree.manifest;
    // One pass over the rows: each row found in the tree once, and the
    // rows the completed release covers set apart (prunable): `applied`
    // holds for their steps through the release, and a covered row of a
    // step not in the tree matches no step. A fresh site has no rows, so
    // the baseline below never changes this.
    let covered_upto = stored
        .site
        .release
        .as_ref()
        .and_then(|r| manifest.release_index(r));
    let mut prunable = Vec::new();
    let mut drift = Vec::new();
    let mut orphans = Vec::new();
    // `applied` by the ledger (SiteState::applied), per position in the
    // tree, from the rows not set apart.
    let mut has_row = vec![false; tree.steps.len()];
    let mut next = 0;
    for (index, row) in stored.rows.iter().enumerate() {
        let found = find_row(tree, row, &mut next);
        // A row of a valid step identity must hold a recorded checksum; one
        // equal to its step's is one.
        let matches_step = match &found {
            RowIn::Tree(i) => tree.steps[*i].checksum.matches(row.checksum()),
            _ => false,
        };
        if !matches_step {
            match &found {
                RowIn::Tree(i) => ledger::check_checksum(db, &tree.steps[*i].key, row.checksum())?,
                RowIn::Elsewhere(key) => ledger::check_checksum(db, key, row.checksum())?,
                RowIn::Invalid => {}
            }
        }
        let is_covered = match (covered_upto, &found) {
            (Some(upto), RowIn::Tree(i)) => {
                let step = &tree.steps[*i];
                covered(tree, &step.key, Some(step), upto)
            }
            (Some(upto), RowIn::Elsewhere(key)) => covered(tree, key, None, upto),
            _ => false,
        };
        if is_covered {
            prunable.push(index);
            continue;
        }
        match found {
            RowIn::Tree(i) => {
                has_row[i] = true;
                if !matches_step {
                    let step = &tree.steps[i];
                    drift.push(Drift {
                        key: step.key.clone(),
                        recorded: row.checksum().to_string(),
                        expected: step.checksum.clone(),
                        location: step.location(),
                    });
                }
            }
            RowIn::Elsewhere(_) | RowIn::Invalid => orphans.push(row.clone()),
        }
    }
    let mut site = stored.site.clone();
    // A fresh site of a project with a baseline starts as a site that
    // completed the baseline release (`apply` runs its schema first).
    let fresh = stored.rows.is_empty()
        && site.release.is_none()
        && stored.components.is_empty()
        && stored.interrupted.is_none();
    // A baseline without a script for this database is not used there.
    let baseline = manifest.baseline.clone().filter(|_| {
        fresh
            && tree
                .baseline
                .as_ref()
                .is_some_and(|b| b.body.for_database(database.as_str()).is_some())
    });
    if let Some(release) = &baseline {
        site.release = Some(release.clone());
    }
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
            .iter()
            .chain(&manifest.baseline)
            .filter_map(|from| manifest.release_index(from).map(|f| (from, f)))
            .max_by_key(|(_, from_index)| *from_index)
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
    let is_pending = |s: &&Step| {
        let by_ledger = tree.position(s).is_some_and(|i| has_row[i]);
        !(by_ledger || SiteState::released(site.release.as_ref(), tree, s))
    };
    let mut pending: Vec<&Step> = match order {
        Some(order) => order.iter().copied().filter(is_pending).collect(),
        None => plan::key_order(tree, tree.steps.iter().filter(is_pending).collect()),
    };
    let installed =
        super::installs::installed(tree, &stored, database, baseline.as_ref(), &mut pending);
    // Steps an install records without running are checked as if they ran.
    let mut checked = pending.clone();
    checked.extend(
        installed
            .installs
            .iter()
            .flat_map(|i| i.covered.iter().copied()),
    );
    let unreviewed = unreviewed(tree, &checked);
    let running = stored.sessions.iter().find(|s| s.holds_lock).cloned();
    let step_running = stored.interrupted.as_ref().and_then(|step| {
        stored
            .sessions
            .iter()
            .find(|s| {
                s.runs(step)
                    || (s.holds_lock && s.application == ledger::application_name(Some(step)))
            })
            .cloned()
    });
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
        interrupted: stored.interrupted.clone(),
        unreviewed,
        running,
        step_running,
        release_to_complete,
        orphans,
        prunable,
        code_version: manifest.version.clone(),
        code_revision: manifest.revision,
        installs: installed.installs,
        baseline,
        removed: installed.removed,
        unrecorded: installed.unrecorded,
        stored,
        site,
    })
}

mod rows;
pub use rows::covered_rows;
use rows::{RowIn, find_row};
pub(super) use rows::{covered, keys_of};
