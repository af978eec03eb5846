//! History: verification of a tree's git history (C1, append-only releases)
//! and rebasing a branch's steps onto a new upstream.

pub mod rebase;
pub mod verify;
