//! The `consolidate` command: argument parsing and presentation only. Every
//! decision lives in the `upgrade-core` library.

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
    };
    let _ = std::io::stdout().flush();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.code)
        }
    }
}
