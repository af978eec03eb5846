//! `consolidate verify`: for CI, prove against git history that no step was
//! lost or changed and that consolidation changed nothing a site would run.

use std::path::PathBuf;

use upgrade_core::history::verify::{VerifyOptions, verify};

use crate::cli_error::{CliError, EXIT_FAILURE, EXIT_OK};

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A revision (commit, tag, branch) to compare with; repeatable. Default:
    /// every tag and branch named like a release of the history, and the
    /// parent of the newest consolidation commit.
    #[arg(long, value_name = "REV")]
    against: Vec<String>,
    /// Also upgrade scratch SQLite databases from sampled site states with the
    /// trees before and after each consolidation, and compare their schemas.
    #[arg(long)]
    apply: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `verify`.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let work = super::work_tree(root)?;
    let options = VerifyOptions {
        against: args.against.clone(),
        apply: args.apply,
    };
    let verification = verify(&work, &options)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&verification).unwrap_or_default()
        );
    } else {
        print!("{}", verification.report());
    }
    if verification.ok {
        return Ok(EXIT_OK);
    }
    let failed: Vec<&str> = verification.failed().map(|c| c.name).collect();
    if args.json {
        return Ok(EXIT_FAILURE);
    }
    Err(CliError::new(
        format!("verify failed: {}", failed.join(", ")),
        "read the failures above: each names the revisions, files and steps involved",
    ))
}
