//! End-to-end tests of the `consolidate` binary: one test binary, one module per
//! capability, and a small helper that copies fixture trees and runs the command.

mod adoption;
mod bigstep;
mod cases;
mod consolidation;
mod downtime;
mod history;
mod mutations;
mod post_steps;
mod pre_lint;
mod runner;
mod sqlite_readers;
mod subplugins;
mod util;
mod verify;
mod verify_rebase;
