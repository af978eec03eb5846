//! Why a rebase stops: conflicting definitions of one step, and every other
//! refusal ([`RebaseError`]); nothing is written in any of these cases.

use std::fmt;

use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::step::StepKey;
use crate::model::tree_error::TreeErrors;
use crate::trees::git_tree::GitTreeError;

/// Why two definitions of one step cannot be reconciled by a rebase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflictKind {
    /// The branch's own step and REV's step share a name, not a content.
    SameNameOtherContent,
    /// The branch edited a step it got from upstream, and REV has another content.
    EditedUpstreamStep,
    /// The branch consolidated its own step into a release REV does not have:
    /// sites that completed that release would run it again.
    OwnStepReleased(ReleaseName),
}

/// One conflict: the step, and both locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The step.
    pub key: StepKey,
    /// What kind of conflict.
    pub kind: ConflictKind,
    /// Where the branch defines it, with its checksum.
    pub ours: String,
    /// Where REV defines it, with its checksum (empty when REV lacks it).
    pub theirs: String,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ConflictKind::SameNameOtherContent => write!(
                f,
                "{}: the branch has {} but {} has other content",
                self.key, self.ours, self.theirs
            ),
            ConflictKind::EditedUpstreamStep => write!(
                f,
                "{}: the branch edited this upstream step ({}) and {} has other content",
                self.key, self.ours, self.theirs
            ),
            ConflictKind::OwnStepReleased(release) => write!(
                f,
                "{}: the branch's own step is consolidated in {release} ({}), a release the target does not have",
                self.key, self.ours
            ),
        }
    }
}

/// Why a rebase stopped. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebaseError {
    /// Reading the repository failed.
    #[error(transparent)]
    Git(#[from] GitTreeError),
    /// A tree does not load.
    #[error("the step tree at {revision} does not load: {error}")]
    Tree {
        /// The revision (or the work tree).
        revision: String,
        /// Why.
        error: Box<TreeErrors>,
    },
    /// Steps conflict.
    #[error("rebase onto {onto} stopped with {} conflict(s), nothing written:\n  - {}", .conflicts.len(), .conflicts.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  - "))]
    Conflicts {
        /// The target revision.
        onto: String,
        /// Every conflict.
        conflicts: Vec<Conflict>,
    },
    /// An own step's component has no folder in the target's manifest.
    #[error(
        "{key} cannot be carried onto {onto}: neither its manifest nor a plugin's db/component.toml declares a plugin type for {component}"
    )]
    NoFolder {
        /// The step.
        key: StepKey,
        /// Its component.
        component: ComponentName,
        /// The target revision.
        onto: String,
        /// What to declare where (`model/plugin_types.rs`).
        fix: String,
    },
    /// The result would not load (e.g. a carried plugin whose plugin type
    /// only the branch's upgrade.toml listed: the target's is kept).
    #[error("the rebased tree onto {onto} would not load, nothing written:\n  - {}", .error.to_string().replace('\n', "\n  - "))]
    ResultDoesNotLoad {
        /// The target revision.
        onto: String,
        /// Why.
        error: Box<TreeErrors>,
    },
    /// The branch and the target both changed a component's
    /// `db/component.toml`, differently.
    #[error(
        "{path}: the branch and {onto} both changed this component's settings, differently; nothing written"
    )]
    SettingsConflict {
        /// The file, as the branch has it.
        path: String,
        /// The target revision.
        onto: String,
    },
    /// The result would not pass `check`.
    #[error("the rebased tree would fail its checks, nothing written:\n  - {}", .0.join("\n  - "))]
    ResultFails(Vec<String>),
    /// A path the rebase would write or delete leaves the tree root.
    #[error(
        "{path}: the rebase onto {onto} would write or delete this path outside the tree root ({why}), nothing written"
    )]
    OutsideRoot {
        /// The path, relative to the tree root.
        path: String,
        /// Why it is outside.
        why: String,
        /// The target revision.
        onto: String,
    },
}

impl RebaseError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            RebaseError::Git(e) => e.hint(),
            RebaseError::Tree { error, .. } => error.hint(),
            RebaseError::Conflicts { .. } => {
                "give the branch's step a new name (`consolidate new`, then move its SQL there) or make it identical to the target's, commit, and re-run the rebase".into()
            }
            RebaseError::NoFolder { fix, .. } => fix.clone(),
            RebaseError::ResultDoesNotLoad { onto, error } => format!(
                "{}; the rebase keeps the upgrade.toml of {onto}: plugin types the branch listed there are not carried, those a plugin declares in its own db/component.toml go with the plugin",
                error.hint()
            ),
            RebaseError::SettingsConflict { onto, .. } => format!(
                "on the branch, merge the file by hand (take the one of {onto} and redo the branch's change in it), commit, and re-run the rebase"
            ),
            RebaseError::ResultFails(_) => {
                "fix the branch's steps (e.g. a `requires` naming a step the target renamed) and re-run".into()
            }
            RebaseError::OutsideRoot { onto, .. } => format!(
                "the manifest of {onto} places a folder outside the tree (`..`, an absolute path or a symlink): fix its [components] folders upstream, then re-run"
            ),
        }
    }
}
