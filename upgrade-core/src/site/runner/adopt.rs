//! `adopt`: gives a ledger to a database built by the application's old
//! upgrade system at a release R, as Flyway's `baseline` and Django's
//! `--fake-initial` do, with the schema check they lack (`--check-schema`,
//! in `site::scratch`).
//!
//! The database must exist (a SQLite file is never created) and have no
//! ledger. R must be in the release history and
//! not older than `upgrade_from` or the baseline. The ledger written (in one
//! transaction) says: R completed, and every component that existed at R
//! installed (`adopted`, covering R): those with a step tagged with R or an
//! earlier release, or named by the cleanup rules of such a release (their
//! early steps may be gone from the tree). Steps tagged with R or an earlier
//! release are then applied by the contract; every other step is pending. A
//! component added after R is not in the database: the next `apply`
//! installs it from its snapshot, or runs its steps, as on any site.

use super::*;
use crate::site::ledger::InstalledComponent;

/// What `adopt` recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adopted {
    /// The release the site completed.
    pub release: ReleaseName,
    /// The components recorded as installed.
    pub components: Vec<String>,
}

impl Runner<'_> {
    /// Checks that `release` can be adopted at and that the database exists
    /// (see the module documentation).
    pub fn adoptable(&self, release: &str) -> Result<ReleaseName, RunError> {
        let cannot = |why: String| RunError::CannotAdopt {
            release: release.to_string(),
            why,
        };
        let manifest = &self.tree().manifest;
        let name = ReleaseName::parse(release).map_err(|e| cannot(e.to_string()))?;
        let Some(index) = manifest.release_index(&name) else {
            return Err(cannot(
                "it is not in the release history of upgrade.toml".into(),
            ));
        };
        for start in manifest.upgrade_from.iter().chain(&manifest.baseline) {
            if manifest.release_index(start).is_some_and(|s| index < s) {
                return Err(cannot(format!(
                    "it is older than {start}, the oldest release this code upgrades from"
                )));
            }
        }
        if let ledger::DatabaseUrl::Sqlite(path) = self.url()
            && !path.exists()
        {
            return Err(RunError::AdoptMissing {
                db: self.url().describe(),
            });
        }
        Ok(name)
    }

    /// Gives the database a ledger at `release`; refuses a database that
    /// already has one (checked again under the upgrade lock).
    pub fn adopt(&self, release: &str) -> Result<Adopted, RunError> {
        let release = self.adoptable(release)?;
        self.refuse_ledger(&ledger::read_site(self.url())?)?;
        let mut ledger = self.open_for_writing()?;
        let stored = ledger.read()?;
        self.refuse_ledger(&stored)?;
        let now = ledger::now_utc();
        let components = super::installs::components_at(self.tree(), &release);
        let change = SiteChange {
            release: Some(release.clone()),
            installed: components
                .iter()
                .map(|c| InstalledComponent {
                    component: c.clone(),
                    source: "adopted".into(),
                    covers: Some(release.to_string()),
                    checksum: None,
                    installed_at: now.clone(),
                })
                .collect(),
            ..SiteChange::default()
        };
        ledger.commit(&change)?;
        Ok(Adopted {
            release,
            components: components.into_iter().collect(),
        })
    }

    /// A ledger with anything in it (rows, a release, components) is refused.
    fn refuse_ledger(&self, stored: &Stored) -> Result<(), RunError> {
        if stored.rows.is_empty()
            && stored.site.release.is_none()
            && stored.components.is_empty()
            && stored.interrupted.is_none()
        {
            return Ok(());
        }
        Err(RunError::AlreadyAdopted {
            db: self.url().describe(),
            release: stored
                .site
                .release
                .as_ref()
                .map_or_else(|| "none".to_string(), ToString::to_string),
        })
    }
}
