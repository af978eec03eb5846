//! `consolidate check`: for CI, exit 0 only when the tree is consolidated as
//! its manifest says.

use std::path::PathBuf;

use upgrade_core::consolidation::check::check;

use crate::cli_error::{CliError, EXIT_FAILURE, EXIT_OK};

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the problems as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `check`.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let (_, tree) = super::load(root)?;
    let problems = check(&tree);
    if args.json {
        let doc = serde_json::json!({ "ok": problems.is_empty(), "problems": problems });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(if problems.is_empty() {
            EXIT_OK
        } else {
            EXIT_FAILURE
        });
    }
    if problems.is_empty() {
        println!(
            "ok: {} steps ({} standalone), {} release(s), consolidated as upgrade.toml says",
            tree.steps.len(),
            tree.standalone().count(),
            tree.manifest.releases.len()
        );
        return Ok(EXIT_OK);
    }
    Err(CliError::problems(
        &format!("check found {} problem(s):", problems.len()),
        &problems,
    ))
}
