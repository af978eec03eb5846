//! Named database upgrade steps per component, a ledger of what each site
//! applied, one global plan across all components, and release consolidation.
//!
//! The contract every module keeps is in `docs/semantics.md`: pruning and
//! consolidation never change what a site would run (P1, C1), consolidation
//! is idempotent (I1), and released history is append-only.
#![deny(missing_docs)]

pub mod check;
pub mod component;
pub mod consolidate;
pub mod fsio;
pub mod git_repo;
pub mod git_tree;
pub mod ledger;
pub mod manifest;
pub mod new_step;
pub mod plan;
pub mod rebase;
pub mod release_file;
pub mod release_name;
pub mod runner;
pub mod site;
pub mod source;
pub mod step;
pub mod step_name;
mod toml_doc;
pub mod tree;
pub mod tree_error;
pub mod upgrade_file;
pub mod verify;
pub mod version;

pub use component::ComponentName;
pub use manifest::Manifest;
pub use release_name::ReleaseName;
pub use site::SiteState;
pub use source::{TreeSource, WorkTree};
pub use step::{Checksum, Phase, Step, StepKey};
pub use step_name::StepName;
pub use tree::Tree;
pub use tree_error::TreeError;
pub use version::Version;
