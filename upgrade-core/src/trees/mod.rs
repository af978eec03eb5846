//! Trees: a whole step tree loaded and validated from the work tree or from a
//! git revision, and the git repository operations the commands need.

pub mod git_repo;
pub mod git_tree;
pub mod site_view;
mod snapshots;
mod standalone;
pub mod step_cache;
pub mod tree;
