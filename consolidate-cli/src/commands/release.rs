//! `consolidate release`: fold standalone steps into a new release.

use std::path::PathBuf;

use upgrade_core::ReleaseName;
use upgrade_core::consolidation::consolidate::consolidate;
use upgrade_core::trees::git_repo;

use crate::cli_error::{CliError, EXIT_OK, io_error};

/// Arguments of `release`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The new release name, e.g. MOODLE_20_STABLE.
    release: String,
    /// Print the unified diff of what would change, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Commit the result (one git commit listing what was folded).
    #[arg(long)]
    commit: bool,
    /// With --commit: also tag the commit with the release name.
    #[arg(long, requires = "commit")]
    tag: bool,
    /// Run even if the git work tree has uncommitted changes.
    #[arg(long)]
    allow_dirty: bool,
}

/// Runs `release`.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let release = ReleaseName::parse(&args.release)
        .map_err(|e| CliError::new(e.to_string(), "release names look like MOODLE_20_STABLE"))?;
    let (work, tree) = super::load(root)?;
    if !args.allow_dirty && !args.dry_run {
        super::refuse_dirty(&work, "commit or stash them first, or pass --allow-dirty")?;
    }
    let consolidation = consolidate(&tree, &release)?;
    if args.dry_run {
        print!("{}", consolidation.diff());
        eprintln!("{}", summary(&consolidation, true));
        return Ok(EXIT_OK);
    }
    consolidation
        .apply(work.root())
        .map_err(|e| io_error(work.root(), &e))?;
    eprintln!("{}", summary(&consolidation, false));
    if args.commit && !consolidation.is_noop() {
        let id = git_repo::commit_all(
            work.root(),
            &consolidation.commit_message(),
            args.tag.then_some(release.as_str()),
        )?;
        eprintln!("committed {}", &id[..12.min(id.len())]);
    }
    Ok(EXIT_OK)
}

fn summary(c: &upgrade_core::consolidation::consolidate::Consolidation, dry_run: bool) -> String {
    let verb = if dry_run { "would" } else { "did" };
    if c.already_released {
        let mut s = format!(
            "{} is already the newest release: nothing to fold, {} standalone step(s) stay standalone for the next release",
            c.release,
            c.kept_standalone.len()
        );
        if !c.leftovers.is_empty() {
            s.push_str(&format!(
                "; {verb} delete {} file(s) left by an interrupted run",
                c.leftovers.len()
            ));
        }
        if c.is_noop() {
            s.push_str("; no file changes");
        }
        return s;
    }
    let mut s = format!(
        "{}: {} fold {} standalone step(s) and change {} file(s)",
        c.release,
        verb,
        c.folded.len(),
        c.changes.len()
    );
    if !c.leftovers.is_empty() {
        s.push_str(&format!(
            ", {} of them files left by an interrupted run",
            c.leftovers.len()
        ));
    }
    s
}
