//! Installing components from their snapshots (`db/install.sql`) instead of
//! running every step since their first day, and which components a site has
//! installed.
//!
//! A component is installed on a site when `upgrade_components` has its row,
//! or when any of its steps is applied there (a ledger row, or a completed
//! release that covers it): that is how a site whose ledger predates the
//! table (schema < 4) is read, and it is exactly what older versions did, so
//! no step runs twice and none is skipped. `apply` writes the missing rows.
//!
//! A component of the tree that is not installed and has a snapshot is
//! installed from it by the next `apply`, before any step: its snapshot runs
//! and the rows of the steps it covers (every step of the component up to
//! and including `covers`) are written in one transaction, without running
//! them. Installs run in plan rank: core, then plugin types in manifest
//! order. Under the staged strategy a component that is safe to disable is
//! installed under its own maintenance scope; every other install runs
//! under the whole site's (`*`). A component without a snapshot runs its
//! steps as before.
//!
//! A component recorded as installed that the tree no longer has is reported
//! (`removed`); `prune --orphans` forgets it with its rows.

use std::collections::{BTreeMap, BTreeSet};

use super::maintained::Run;
use super::*;
use crate::model::install_snapshot::InstallSnapshot;
use crate::model::manifest::Strategy;
use crate::site::ledger::InstalledComponent;

/// A component `apply` installs from its snapshot.
#[derive(Debug, Clone)]
pub struct Install<'t> {
    /// The snapshot.
    pub snapshot: &'t InstallSnapshot,
    /// The steps it covers, recorded as applied without running them.
    pub covered: Vec<&'t Step>,
}

/// What the site has installed, against the tree.
#[derive(Debug, Clone, Default)]
pub(super) struct Installed<'t> {
    /// Components to install from their snapshots, in rank order.
    pub installs: Vec<Install<'t>>,
    /// Components recorded as installed that the tree no longer has.
    pub removed: Vec<String>,
    /// Components installed (applied steps) but not yet recorded.
    pub unrecorded: Vec<ComponentName>,
}

/// The components of the tree: those with steps, a snapshot or settings.
fn tree_components(tree: &Tree) -> BTreeSet<&ComponentName> {
    runs(tree.steps.iter().map(|s| &s.key.component))
        .into_keys()
        .chain(tree.installs.keys())
        .chain(tree.components.keys())
        .collect()
}

/// Splits the installs out of `pending` (the covered steps leave it).
/// `baseline`: the release a fresh site starts from, whose components the
/// baseline installs (recorded by `run_baseline`, not yet stored).
pub(super) fn installed<'t>(
    tree: &'t Tree,
    stored: &Stored,
    database: Database,
    baseline: Option<&ReleaseName>,
    pending: &mut Vec<&'t Step>,
) -> Installed<'t> {
    let by_baseline = baseline.map(|r| components_at(tree, r)).unwrap_or_default();
    let recorded: BTreeSet<&str> = stored
        .components
        .iter()
        .map(|c| c.component.as_str())
        .chain(by_baseline.iter().map(String::as_str))
        .collect();
    let with_rows = row_components(&stored.rows);
    let with_applied = with_applied_steps(tree, pending);
    let applied_any =
        |c: &ComponentName| with_rows.contains(c.as_str()) || with_applied.contains(c);
    let mut out = Installed::default();
    let mut ranked: Vec<&InstallSnapshot> = tree
        .installs
        .values()
        .filter(|s| !recorded.contains(s.component.as_str()) && !applied_any(&s.component))
        // A snapshot without a script for this database is not used there:
        // the component runs its steps (a missing variant is never a schema).
        .filter(|s| s.body.for_database(database.as_str()).is_some())
        .collect();
    ranked.sort_by_key(|s| {
        (
            tree.manifest.type_rank(&s.component),
            s.component.to_string(),
        )
    });
    let mut covered_keys: BTreeSet<&StepKey> = BTreeSet::new();
    for snapshot in ranked {
        let covered: Vec<&Step> = pending
            .iter()
            .copied()
            .filter(|s| s.key.component == snapshot.component && s.key.name <= snapshot.covers)
            .collect();
        covered_keys.extend(covered.iter().map(|s| &s.key));
        out.installs.push(Install { snapshot, covered });
    }
    if !covered_keys.is_empty() {
        pending.retain(|s| !covered_keys.contains(&s.key));
    }
    let components = tree_components(tree);
    out.unrecorded = components
        .iter()
        .filter(|c| !recorded.contains(c.as_str()) && applied_any(c))
        .map(|c| (*c).clone())
        .collect();
    let known: BTreeSet<&str> = components.iter().map(|c| c.as_str()).collect();
    out.removed = recorded
        .iter()
        .filter(|c| !known.contains(**c))
        .map(|c| (*c).to_string())
        .collect();
    out
}

/// The components with a step of the tree that is not `pending` (applied on
/// the site: a ledger row, or a release that covers it): a mark per pending
/// step, then one pass over the steps. (Counting pending steps per
/// component in a map cost a map lookup per step: pending steps come in
/// plan order, by date across components.)
fn with_applied_steps<'t>(tree: &'t Tree, pending: &[&Step]) -> BTreeSet<&'t ComponentName> {
    let is_pending = tree.marked(pending);
    tree.components_where(|i| !is_pending[i])
}

/// How many times each item comes, counted run by run (one map entry per
/// run of equal items: cheap when equal items come together).
fn runs<T: Ord + Copy>(items: impl Iterator<Item = T>) -> BTreeMap<T, usize> {
    let mut out = BTreeMap::new();
    let mut run: Option<(T, usize)> = None;
    for item in items {
        match &mut run {
            Some((current, count)) if *current == item => *count += 1,
            _ => {
                if let Some((done, count)) = run.replace((item, 1)) {
                    *out.entry(done).or_default() += count;
                }
            }
        }
    }
    if let Some((done, count)) = run {
        *out.entry(done).or_default() += count;
    }
    out
}

/// The components of `rows` (sorted by component, as [`Stored`] holds
/// them): per component, a search from its first row for where its rows
/// end (steps of 1, 2, 4, … rows, then halving the last step), not a
/// comparison per row. A search from the first row looks near it, where a
/// binary search over the rest looked at a scattered row each time.
fn row_components(rows: &[LedgerRow]) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    let mut rest = rows;
    while let Some(first) = rest.first() {
        let component = first.component();
        out.insert(component);
        let same = |r: &LedgerRow| {
            crate::model::op_count::tick(1);
            r.component() == component
        };
        // rest[..known] is this component's; rest[bound] is not, or the end.
        let (mut known, mut bound) = (1, 1);
        while rest.get(bound).is_some_and(same) {
            known = bound + 1;
            bound *= 2;
        }
        let bound = bound.min(rest.len());
        let end = known
            + rest
                .get(known..bound)
                .unwrap_or_default()
                .partition_point(same);
        rest = rest.get(end..).unwrap_or_default();
    }
    out
}

/// The components of the tree that existed at `release`: a step of theirs
/// is tagged with it or an earlier release, or a release file up to it
/// covers one (its early steps may be gone from the tree).
pub(super) fn components_at(tree: &Tree, release: &ReleaseName) -> BTreeSet<String> {
    let manifest = &tree.manifest;
    let Some(upto) = manifest.release_index(release) else {
        return BTreeSet::new();
    };
    let tagged = tree.steps.iter().filter(|s| {
        s.release()
            .and_then(|r| manifest.release_index(r))
            .is_some_and(|i| i <= upto)
    });
    let covered = manifest.releases[..=upto]
        .iter()
        .filter_map(|entry| tree.release_files.get(&entry.name))
        .flat_map(|file| file.rules.covers.keys());
    let known = tree_components(tree);
    tagged
        .map(|s| &s.key.component)
        .chain(covered)
        .filter(|c| known.contains(c))
        .map(ToString::to_string)
        .collect()
}

/// Runs the project baseline on a fresh site and records the site as having
/// completed its release, with every component that existed at it
/// ([`components_at`]: its steps up to the release may be gone from the
/// tree, named only by release files) installed by it, in one transaction.
pub(super) fn run_baseline(
    tree: &Tree,
    ledger: &mut dyn Ledger,
    release: &ReleaseName,
    on_event: &mut dyn FnMut(ApplyEvent<'_>),
) -> Result<(), RunError> {
    let Some(baseline) = &tree.baseline else {
        return Ok(());
    };
    let database = ledger.database();
    let now = ledger::now_utc();
    let components = components_at(tree, release);
    let change = SiteChange {
        release: Some(release.clone()),
        installed: components
            .into_iter()
            .map(|c| InstalledComponent {
                component: c.to_string(),
                source: "baseline".into(),
                covers: Some(release.to_string()),
                checksum: Some(baseline.checksum.to_string()),
                installed_at: now.clone(),
            })
            .collect(),
        ..SiteChange::default()
    };
    let sql = baseline.body.for_database(database.as_str());
    // A baseline has no header: its script is its file.
    ledger.install(sql, &change).map_err(|e| {
        install_failed(
            e,
            format!("the baseline {release}"),
            &baseline.files,
            0,
            database,
        )
    })?;
    on_event(ApplyEvent::Baseline {
        release,
        files: &baseline.files,
        noop: sql.is_none(),
    });
    Ok(())
}

/// The `upgrade_components` rows for components whose steps ran.
pub(super) fn recorded_by_steps(unrecorded: &[ComponentName]) -> Vec<InstalledComponent> {
    let now = ledger::now_utc();
    unrecorded
        .iter()
        .map(|c| InstalledComponent {
            component: c.to_string(),
            source: "steps".into(),
            covers: None,
            checksum: None,
            installed_at: now.clone(),
        })
        .collect()
}

/// The file of `files` (one plain file, or one per database) that runs on `database`.
fn file_for(files: &[String], database: Database) -> Option<&str> {
    let variant = format!(".{}.sql", database.as_str());
    let plain = |f: &&String| !f.ends_with(".sqlite.sql") && !f.ends_with(".postgres.sql");
    files
        .iter()
        .find(|f| f.ends_with(&variant))
        .or_else(|| files.iter().find(plain))
        .map(String::as_str)
}

/// A failed install script (a snapshot or the baseline) of `files` as the
/// run's error: line `l` of the script is line `l + header` of its file.
fn install_failed(
    e: StepRunError,
    component: String,
    files: &[String],
    header: usize,
    database: Database,
) -> RunError {
    match e {
        StepRunError::Sql { message, line } => RunError::InstallFailed {
            component,
            location: match (line, file_for(files, database)) {
                (Some(l), Some(file)) => format!("{file}:{}", l + header),
                _ => files.join(", "),
            },
            database,
            message,
        },
        StepRunError::Ledger(l) => RunError::Ledger(l),
    }
}

/// The scope an install runs under.
fn scope_of(tree: &Tree, component: &ComponentName) -> String {
    if tree.manifest.strategy == Strategy::Staged && tree.safe_to_disable(component) {
        component.to_string()
    } else {
        SITE_SCOPE.to_string()
    }
}

impl Run<'_, '_> {
    /// Runs the installs: those under `*` first (one maintenance window),
    /// then each safe-to-disable component under its own scope. A failed
    /// install leaves its scope `failed` and stops the run: nothing of it is
    /// committed, and the next `apply` installs it again.
    pub fn installs(
        &mut self,
        installs: &[Install<'_>],
        on_event: &mut dyn FnMut(ApplyEvent<'_>),
    ) -> Result<usize, RunError> {
        let mut groups: Vec<(String, Vec<&Install<'_>>)> = Vec::new();
        for install in installs {
            let scope = scope_of(self.tree, &install.snapshot.component);
            match groups.iter_mut().find(|(s, _)| *s == scope) {
                Some((_, members)) => members.push(install),
                None => groups.push((scope, vec![install])),
            }
        }
        groups.sort_by_key(|(scope, _)| scope.as_str() != SITE_SCOPE);
        let mut done = 0;
        for (scope, members) in groups {
            let detail = format!(
                "install {}",
                members
                    .iter()
                    .map(|i| i.snapshot.component.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Err(message) = self.enter_with(&scope, &detail, on_event)? {
                return Err(RunError::InstallFailed {
                    component: members[0].snapshot.component.to_string(),
                    location: members[0].snapshot.location(),
                    database: self.ledger.database(),
                    message,
                });
            }
            for install in members {
                if let Err(e) = self.install(install, on_event) {
                    if let RunError::InstallFailed { message, .. } = &e {
                        self.fail(&scope, message, on_event)?;
                    }
                    return Err(e);
                }
                done += 1;
            }
            self.leave(&scope, on_event)?;
        }
        Ok(done)
    }

    /// Runs one install and records it, in one transaction.
    fn install(
        &mut self,
        install: &Install<'_>,
        on_event: &mut dyn FnMut(ApplyEvent<'_>),
    ) -> Result<(), RunError> {
        let snapshot = install.snapshot;
        let database = self.ledger.database();
        let sql = snapshot.body.for_database(database.as_str());
        let change = SiteChange {
            record: install
                .covered
                .iter()
                .map(|s| (s.key.clone(), s.checksum.clone()))
                .collect(),
            installed: vec![InstalledComponent {
                component: snapshot.component.to_string(),
                source: "snapshot".into(),
                covers: Some(snapshot.covers.to_string()),
                checksum: Some(snapshot.checksum.to_string()),
                installed_at: ledger::now_utc(),
            }],
            ..SiteChange::default()
        };
        on_event(ApplyEvent::InstallStarted { install });
        // The body is the file without its `-- covers:` line.
        self.ledger.install(sql, &change).map_err(|e| {
            install_failed(
                e,
                snapshot.component.to_string(),
                &snapshot.files,
                1,
                database,
            )
        })?;
        on_event(ApplyEvent::Installed {
            install,
            noop: sql.is_none(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
