//! `verify` and `rebase` end to end on a scripted git history (see
//! `history.rs`): the honest history passes, each kind of damage fails with a
//! message naming revisions, files and steps, and a custom branch moves onto
//! the next release without relabelling its steps.
//!
//! One file per subject below `verify/`: the checks (`checks.rs`), published
//! releases (`published.rs`), the repository read (`repository.rs`) and
//! `rebase` (`rebase.rs`).

mod checks;
mod published;
mod rebase;
mod repository;
