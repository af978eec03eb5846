//! `consolidate check`: for CI, exit 0 only when the tree is consolidated as
//! its manifest says.

use std::path::PathBuf;

use serde_json::json;
use upgrade_core::Tree;
use upgrade_core::consolidation::check::check;

use crate::cli_error::{CliError, EXIT_FAILURE, EXIT_OK};

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the problems as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// `check --json`: always one JSON document on stdout, also when the tree
/// cannot be found or does not load (`errors`: file, line, message, hint).
fn json(root: &Option<PathBuf>) -> Result<u8, CliError> {
    let print = |doc: serde_json::Value| {
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    };
    let work = match super::work_tree(root) {
        Ok(work) => work,
        Err(e) => {
            let error = json!({ "file": null, "line": null, "message": e.message, "hint": e.hint });
            print(json!({ "ok": false, "errors": [error], "warnings": [], "problems": [] }));
            return Ok(e.code);
        }
    };
    match Tree::load(&work) {
        Err(errors) => {
            print(
                json!({ "ok": false, "errors": errors.errors(), "warnings": [], "problems": [] }),
            );
            Ok(EXIT_FAILURE)
        }
        Ok(tree) => {
            let problems = check(&tree);
            let ok = problems.is_empty();
            print(
                json!({ "ok": ok, "errors": [], "warnings": tree.warnings, "problems": problems }),
            );
            Ok(if ok { EXIT_OK } else { EXIT_FAILURE })
        }
    }
}

/// Runs `check`.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    if args.json {
        return json(root);
    }
    let (_, tree) = super::load(root)?;
    let problems = check(&tree);
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
