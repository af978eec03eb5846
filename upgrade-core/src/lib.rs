//! Named database upgrade steps per component, a ledger of what each site
//! applied, one global plan across all components, and release consolidation.
//!
//! The contract every module keeps is in `docs/semantics.md`: pruning and
//! consolidation never change what a site would run (P1, C1), consolidation
//! is idempotent (I1), and released history is append-only.
#![deny(missing_docs)]

pub mod consolidation;
pub mod files;
pub mod history;
pub mod model;
pub mod planning;
pub mod site;
pub mod trees;

pub use files::source::{TreeSource, WorkTree};
pub use model::component::ComponentName;
pub use model::manifest::Manifest;
pub use model::release_name::ReleaseName;
pub use model::step::{Checksum, Phase, Step, StepKey};
pub use model::step_name::StepName;
pub use model::tree_error::TreeError;
pub use model::version::Version;
pub use planning::site_state::SiteState;
pub use trees::tree::Tree;
