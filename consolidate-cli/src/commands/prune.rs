//! `consolidate prune`: applies the cleanup rules of the site's release, or
//! lists (and with `--yes` deletes) ledger rows of steps in no file.

use std::path::PathBuf;

use upgrade_core::site::ledger::LedgerRow;
use upgrade_core::site::runner::Runner;

use super::status::{DbArg, tree_and_url};
use crate::cli_error::{CliError, EXIT_OK};

/// Arguments of `prune`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArg,
    /// List ledger rows whose step is in no file of the tree (delete them with --yes).
    #[arg(long)]
    orphans: bool,
    /// With --orphans: delete the rows listed.
    #[arg(long, requires = "orphans")]
    yes: bool,
}

const DANGER: &str = "deleting an orphan row is dangerous: if another branch of the code (a stable branch, a custom branch, a newer release) still has that step, the site runs it again when it moves to that code";

fn print_rows(rows: &[LedgerRow]) {
    use std::io::Write as _;
    let width = rows.iter().map(LedgerRow::key_len).max().unwrap_or(0);
    // One buffered writer: a whole release's rows are 100,000 lines.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in rows {
        // `{:<width$}` of the key text pads to `width` characters.
        let chars = r.component().chars().count() + 1 + r.step().chars().count();
        let _ = writeln!(
            out,
            "  {}/{}{:pad$}  {}  {}",
            r.component(),
            r.step(),
            "",
            r.applied_at(),
            r.checksum(),
            pad = width.saturating_sub(chars)
        );
    }
    let _ = out.flush();
}

/// Runs `prune`: exit 0 on success (also when nothing was to do), 1 on error.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let (tree, url) = tree_and_url(root, &args.db)?;
    let runner = Runner::new(&tree, url)?;
    if args.orphans {
        if args.yes {
            let (deleted, forgotten) = runner.delete_orphans()?;
            if deleted.is_empty() {
                out!("no orphan ledger rows");
            } else {
                out!("deleted {} orphan ledger row(s):", deleted.len());
                print_rows(&deleted);
            }
            for component in &forgotten {
                out!("forgot {component}: installed on the site, no longer in the tree");
            }
        } else {
            let (orphans, removed) = runner.orphans()?;
            for component in &removed {
                out!(
                    "{component} is installed on the site but no longer in the tree: --yes forgets it"
                );
            }
            if orphans.is_empty() {
                out!("no orphan ledger rows");
            } else {
                out!(
                    "{} ledger row(s) of steps in no file of this tree:",
                    orphans.len()
                );
                print_rows(&orphans);
                out!("{DANGER}.");
                out!("re-run with --yes to delete them");
            }
        }
        return Ok(EXIT_OK);
    }
    let report = runner.prune()?;
    match (&report.release, report.deleted.len()) {
        (None, _) => out!("nothing to prune: the site has not completed a release"),
        (Some(release), 0) => {
            out!("nothing to prune: no ledger row is covered by {release} or earlier")
        }
        (Some(release), n) => {
            out!("pruned {n} ledger row(s) covered by {release} or earlier:");
            print_rows(&report.deleted);
        }
    }
    Ok(EXIT_OK)
}
