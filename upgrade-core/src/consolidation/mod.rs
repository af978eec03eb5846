//! Consolidation: folding standalone steps into release files, checking a tree
//! is consolidated as its manifest says, and creating new steps.

mod applied;
pub mod check;
pub mod consolidate;
pub mod new_step;
pub mod paths;
