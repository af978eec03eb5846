//! `consolidate adopt --release R`: gives a ledger at release R to a
//! database built by the application's old upgrade system; with
//! `--check-schema`, first compares its schema with a scratch site at R and
//! refuses when they differ.

use std::path::PathBuf;

use upgrade_core::site::ledger::DatabaseUrl;
use upgrade_core::site::runner::Runner;
use upgrade_core::site::scratch::compare_with_release;

use super::status::{DbArg, tree_and_url};
use crate::cli_error::{CliError, EXIT_OK};

/// Arguments of `adopt`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArg,
    /// The release the database was built at (one of the release history).
    #[arg(long, value_name = "RELEASE")]
    release: String,
    /// First compare the database's schema with a scratch site at the
    /// release (SQLite), listing the differences; adopt only when equal.
    #[arg(long)]
    check_schema: bool,
}

/// Runs `adopt`: exit 0 when the ledger was written, 1 on error or when
/// `--check-schema` found differences.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let (tree, url) = tree_and_url(root, &args.db)?;
    let runner = Runner::new(&tree, url)?;
    let release = runner.adoptable(&args.release)?;
    if args.check_schema {
        let DatabaseUrl::Sqlite(path) = runner.url() else {
            return Err(CliError::new(
                "--check-schema compares SQLite databases only, for now",
                "compare the schema by hand (e.g. against a scratch PostgreSQL site built with `consolidate apply` by the code of that release), then run adopt without --check-schema",
            ));
        };
        let (only_db, only_scratch) = compare_with_release(&tree, &release, path)
            .map_err(|e| CliError::new(e, "check that the tree loads and its steps up to the release run on an empty SQLite database (`consolidate verify --apply`)"))?;
        if !only_db.is_empty() || !only_scratch.is_empty() {
            let mut message = format!(
                "{}: the schema differs from a site built by this tree at {release}:",
                runner.url().describe()
            );
            for line in &only_db {
                message.push_str(&format!("\n  only in the database:   {line}"));
            }
            for line in &only_scratch {
                message.push_str(&format!("\n  only at {release}: {line}"));
            }
            return Err(CliError::new(
                message,
                format!(
                    "nothing was written: bring the database to the schema of {release} (or name the release it really is at), then run adopt again"
                ),
            ));
        }
        out!("schema check: the database matches a site at {release}");
    }
    let adopted = runner.adopt(release.as_str())?;
    out!(
        "adopted {} at {}: release completed, {} component(s) recorded as installed",
        runner.url().describe(),
        adopted.release,
        adopted.components.len()
    );
    out!(
        "next: `consolidate status` lists the steps newer than {}; `consolidate apply` runs them",
        adopted.release
    );
    Ok(EXIT_OK)
}
