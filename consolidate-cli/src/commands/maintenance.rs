//! `consolidate maintenance [--json] [--events N]`: which scopes of the site
//! are not online; `consolidate maintenance on|off [COMPONENT] [--reason TEXT]`:
//! set one by hand (no COMPONENT: the whole site, `*`).

use std::path::PathBuf;

use upgrade_core::site::ledger::maintenance::{SITE_SCOPE, read_maintenance};
use upgrade_core::site::runner::{ManualOutcome, Runner};

use super::status::DbArg;
use crate::cli_error::{CliError, EXIT_OK};

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// Put the scope in maintenance.
    On,
    /// Bring the scope back online.
    Off,
}

/// Arguments of `maintenance`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArg,
    /// Set a scope by hand: `on` or `off` (without it: show the state).
    #[arg(value_enum)]
    action: Option<Action>,
    /// The component (e.g. mod_forum); without it, the whole site (`*`).
    #[arg(requires = "action")]
    component: Option<String>,
    /// Why (kept in the row and in the event log).
    #[arg(long, value_name = "TEXT", requires = "action")]
    reason: Option<String>,
    /// Also show the last N events of the log.
    #[arg(long, value_name = "N", conflicts_with = "action")]
    events: Option<usize>,
    /// Print JSON instead of text.
    #[arg(long, conflicts_with = "action")]
    json: bool,
}

/// Runs `maintenance`: exit 0, or 1 on error (also when a hook fails).
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let url = args.db.url()?;
    let Some(action) = args.action else {
        return show(&url, args);
    };
    let scope = args.component.as_deref().unwrap_or(SITE_SCOPE);
    let (work, tree) = super::load(root)?;
    let runner = Runner::new(&tree, url)?;
    let on = action == Action::On;
    let reason = args
        .reason
        .clone()
        .unwrap_or_else(|| format!("set {} by hand", if on { "on" } else { "off" }));
    let what = if scope == SITE_SCOPE {
        "the whole site (*)".to_string()
    } else {
        scope.to_string()
    };
    match runner.set_maintenance(scope, on, &reason, Some(work.root()))? {
        ManualOutcome::AlreadyOnline => out!("{what} is online: nothing to do"),
        ManualOutcome::Changed if on => {
            out!("{what} in maintenance (set by hand; `consolidate apply` keeps it)")
        }
        ManualOutcome::Changed => out!("{what} online"),
    }
    Ok(EXIT_OK)
}

fn show(url: &upgrade_core::site::ledger::DatabaseUrl, args: &Args) -> Result<u8, CliError> {
    let (rows, events) = read_maintenance(url, args.events.unwrap_or(0))?;
    if args.json {
        let doc = serde_json::json!({
            "db": url.describe(),
            "online": rows.is_empty(),
            "scopes": rows,
            "events": events,
        });
        out!(
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into())
        );
        return Ok(EXIT_OK);
    }
    if rows.is_empty() {
        out!("every scope is online ({})", url.describe());
    }
    for row in &rows {
        out!(
            "{:<20} {:<12} since {}{}: {}",
            row.scope,
            row.state.as_str(),
            row.since,
            if row.manual { " (set by hand)" } else { "" },
            row.reason
        );
    }
    for event in &events {
        out!(
            "#{} {} {} {}: {}",
            event.seq,
            event.at,
            event.scope,
            event.event,
            event.detail
        );
    }
    Ok(EXIT_OK)
}
