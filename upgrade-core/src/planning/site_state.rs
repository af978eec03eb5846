//! `SiteState`: what a site has applied — ledger rows, completed release,
//! revision and version — and the `applied` predicate of the contract.

use std::collections::HashMap;

use crate::model::release_name::ReleaseName;
use crate::model::step::{Checksum, Step, StepKey};
use crate::model::version::Version;
use crate::trees::tree::Tree;

/// The upgrade state of one site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteState {
    /// Ledger rows: every step the site completed and its checksum then.
    /// `status` leaves out the rows the completed release covers (`prune`
    /// deletes them): `applied` holds for their steps through the release.
    /// A hash map: `plan::pending` looks up every step of the tree in it.
    pub ledger: HashMap<StepKey, Checksum>,
    /// The last release the site completed.
    pub release: Option<ReleaseName>,
    /// The code revision the site was last synchronised with.
    pub revision: Option<i64>,
    /// The code version the site was last upgraded to.
    pub version: Option<Version>,
}

impl SiteState {
    /// A site that never ran a step.
    pub fn fresh() -> Self {
        SiteState::default()
    }

    /// `applied(s)`: a ledger row, or `s` is tagged R and the site completed R
    /// or a later release (release order = order of the tree's history).
    pub fn applied(&self, tree: &Tree, step: &Step) -> bool {
        // The release first: it needs no lookup in the ledger.
        SiteState::released(self.release.as_ref(), tree, step)
            || self.ledger.contains_key(&step.key)
    }

    /// The release part of `applied`: `s` is tagged R and the site
    /// completed R or a later release (`completed`).
    pub fn released(completed: Option<&ReleaseName>, tree: &Tree, step: &Step) -> bool {
        match (step.release(), completed) {
            (Some(tagged), Some(completed)) => {
                match (
                    tree.manifest.release_index(tagged),
                    tree.manifest.release_index(completed),
                ) {
                    (Some(t), Some(c)) => t <= c,
                    _ => false,
                }
            }
            _ => false,
        }
    }
}
