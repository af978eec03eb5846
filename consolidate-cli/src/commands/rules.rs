//! `consolidate rules`: the cleanup rules of a release, as TOML or SQL.

use std::path::PathBuf;

use upgrade_core::ReleaseName;
use upgrade_core::files::release_file::render_sql;

use crate::cli_error::{CliError, EXIT_OK};

/// Arguments of `rules`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release.
    release: String,
    /// Print SQL `DELETE` statements for every release up to this one.
    #[arg(long)]
    sql: bool,
    /// The ledger table the SQL deletes from.
    #[arg(long, default_value = "upgrade_ledger", value_name = "NAME")]
    table: String,
}

/// Runs `rules`.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let (_, tree) = super::load(root)?;
    let release = ReleaseName::parse(&args.release)
        .map_err(|e| CliError::new(e.to_string(), "see the [[release]] history in upgrade.toml"))?;
    let index = tree.manifest.release_index(&release).ok_or_else(|| {
        CliError::new(
            format!("{release} is not in the release history of upgrade.toml"),
            "name a released release, or run `consolidate release` first",
        )
    })?;
    let mut files = Vec::new();
    for entry in &tree.manifest.releases[..=index] {
        let found = tree.release_files.get(&entry.name).ok_or_else(|| {
            CliError::new(
                format!("releases/{}.toml is missing", entry.name),
                "restore it from version control; `consolidate check` lists what else is wrong",
            )
        })?;
        files.push(found);
    }
    if args.sql {
        let rules: Vec<_> = files.iter().map(|f| &f.rules).collect();
        print!("{}", render_sql(&rules, &args.table));
    } else if let Some(last) = files.last() {
        print!("{}", last.text);
    }
    Ok(EXIT_OK)
}
