//! The `consolidate` command: argument parsing and presentation only. Every
//! decision lives in the `upgrade-core` library.

/// Prints a line on stdout and ignores a failed write: a closed pipe
/// (`apply | head -2`) or a full terminal never stops a command, above all
/// not `apply` in the middle of a database change (`println!` would panic).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Like [`out!`] without the line end (`print!`).
macro_rules! out_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// Like [`out!`] on stderr (`eprintln!`).
macro_rules! err_out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cli_error;
mod commands;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cli_error::EXIT_USAGE;

/// Named database upgrade steps: list, create, consolidate at a release, check.
#[derive(Debug, Parser)]
#[command(name = "consolidate", version, about, long_about = None)]
struct Cli {
    /// The tree root (default: the nearest folder upwards with an upgrade.toml holding [project]).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every step in plan order with component, phase, release and file.
    List(commands::list::Args),
    /// Create a new standalone step with the next free name for today.
    New(commands::new::Args),
    /// Fold every standalone step into the components' upgrade.toml, tagged with a new release.
    Release(commands::release::Args),
    /// For CI: fail unless the tree is consolidated as its manifest says.
    Check(commands::check::Args),
    /// Print the cleanup rules of a release (as SQL with --sql).
    Rules(commands::rules::Args),
    /// Does the site database need an upgrade, and why (exit 0 no, 2 maintenance needed, 3 only online work, 1 error).
    Status(commands::status::Args),
    /// The steps `apply` would run on the site database, in order.
    Plan(commands::plan::Args),
    /// Run the pending steps on the site database, then complete the newest release.
    Apply(commands::apply::Args),
    /// Apply the cleanup rules of the site's release; --orphans lists rows of steps in no file.
    Prune(commands::prune::Args),
    /// Batched post steps: `post run` runs their ranges while the site is online; status, pause, resume.
    Post(commands::post::Args),
    /// Has a step been applied on the site? Exit 0 yes, 2 not yet (progress on stderr).
    Done(commands::done::Args),
    /// For CI: verify against git history that no step was lost or changed and consolidation is invisible (C1).
    Verify(commands::verify::Args),
    /// Move a custom branch's own steps onto a new upstream revision, without relabelling them.
    Rebase(commands::rebase::Args),
    /// Which parts of the site are in maintenance; `on|off [COMPONENT]` sets one by hand.
    Maintenance(commands::maintenance::Args),
    /// Give a ledger at a release to a database built by another upgrade system.
    Adopt(commands::adopt::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let result = match &cli.command {
        Command::List(args) => commands::list::run(&cli.root, args),
        Command::New(args) => commands::new::run(&cli.root, args),
        Command::Release(args) => commands::release::run(&cli.root, args),
        Command::Check(args) => commands::check::run(&cli.root, args),
        Command::Rules(args) => commands::rules::run(&cli.root, args),
        Command::Status(args) => commands::status::run(&cli.root, args),
        Command::Plan(args) => commands::plan::run(&cli.root, args),
        Command::Apply(args) => commands::apply::run(&cli.root, args),
        Command::Prune(args) => commands::prune::run(&cli.root, args),
        Command::Verify(args) => commands::verify::run(&cli.root, args),
        Command::Post(args) => commands::post::run(&cli.root, args),
        Command::Done(args) => commands::done::run(&cli.root, args),
        Command::Rebase(args) => commands::rebase::run(&cli.root, args),
        Command::Maintenance(args) => commands::maintenance::run(&cli.root, args),
        Command::Adopt(args) => commands::adopt::run(&cli.root, args),
    };
    let _ = std::io::stdout().flush();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            err_out!("{e}");
            ExitCode::from(e.code)
        }
    }
}
