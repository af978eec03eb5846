//! `consolidate new`: a new standalone step that sorts after every step of
//! its day in the whole tree.

use std::path::PathBuf;

use upgrade_core::consolidation::new_step::{NewStepRequest, new_step, today_utc};
use upgrade_core::consolidation::paths::inside_root;
use upgrade_core::files::fsio::join_relative;

use crate::cli_error::{CliError, EXIT_OK, EXIT_USAGE, io_error};

/// Arguments of `new`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component, e.g. `core` or `mod_forum`.
    component: String,
    /// The slug: lowercase letters, digits, `_` and `-`.
    slug: String,
    /// The component is a new plugin: create its folder (without this, a
    /// component with no folder and no steps is refused as a likely typo).
    #[arg(long)]
    new_component: bool,
    /// The day of the step, `YYYYMMDD` (default: today, UTC); not before today.
    #[arg(long, value_name = "YYYYMMDD")]
    date: Option<String>,
}

/// Runs `new`.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let (work, tree) = super::load(root)?;
    let today = today_utc();
    let date = args.date.clone().unwrap_or_else(|| today.clone());
    let well_formed = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    if !well_formed || date < today {
        return Err(CliError {
            message: format!("--date {date}: give a day as YYYYMMDD, today ({today}) or later"),
            hint: Some(
                "a step dated before today could sort before steps that sites already ran".into(),
            ),
            code: EXIT_USAGE,
        });
    }
    let request = NewStepRequest {
        component: &args.component,
        slug: &args.slug,
        date: &date,
        new_component: args.new_component,
    };
    let exists = |folder: &str| join_relative(work.root(), folder).is_dir();
    let step = new_step(&tree, &request, &exists)?;
    if let Err(why) = inside_root(work.root(), &step.path) {
        return Err(CliError::new(
            format!("{}: outside the tree root ({why})", step.path),
            "the folder of this component in upgrade.toml leaves the tree: fix [components] there",
        ));
    }
    work.write_file(&step.path, step.text.as_bytes())
        .map_err(|e| io_error(&work.path_of(&step.path), &e))?;
    println!("created {} ({})", step.path, step.name);
    Ok(EXIT_OK)
}
