//! `consolidate apply`: runs the plan on the site database, with a progress
//! bar on a terminal and plain lines otherwise.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use upgrade_core::site::ledger::maintenance::{SITE_SCOPE, ScopeEvent};
use upgrade_core::site::runner::{ApplyEvent, ApplyOptions, MarkDone, Runner, StepHook};

use super::plan::SelectionArgs;
use super::status::DbArg;
use crate::cli_error::{CliError, EXIT_OK};

/// Arguments of `apply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    selection: SelectionArgs,
    /// Record the tree's checksum for ledger rows that differ from it, instead of stopping.
    #[arg(long)]
    accept_drift: bool,
    /// Run again a `transaction: no` step an earlier run left interrupted,
    /// after checking (and repairing) what it changed.
    #[arg(long, conflicts_with = "mark_done")]
    retry_interrupted: bool,
    /// Record the interrupted `transaction: no` STEP as done without running
    /// it, after checking that all of its changes are in place (the server
    /// finished it, or you completed it by hand); kept in the audit table.
    #[arg(long, value_name = "STEP", requires = "reason")]
    mark_done: Option<String>,
    /// Why (with --mark-done or --retry-interrupted; kept in the audit table).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Who decides (default: the operating-system user).
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
}

/// Who runs the command: `--by`, else the operating-system user (and who
/// became it with sudo).
fn actor(by: &Option<String>) -> String {
    if let Some(by) = by {
        return by.clone();
    }
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_string());
    match std::env::var("SUDO_USER") {
        Ok(sudo) if !sudo.is_empty() && sudo != user => format!("{user} (sudo from {sudo})"),
        _ => user,
    }
}

/// Shows progress: a bar on a terminal, one line per step otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    database: &'static str,
}

impl Progress {
    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => out!("{text}"),
        }
    }

    fn event(&mut self, event: ApplyEvent<'_>) {
        match event {
            ApplyEvent::Start { total } => {
                if total > 0 && std::io::stderr().is_terminal() {
                    let bar = ProgressBar::new(total as u64);
                    if let Ok(style) =
                        ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}")
                    {
                        bar.set_style(style);
                    }
                    self.bar = Some(bar);
                }
            }
            ApplyEvent::StepStarted { step, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(step.key.to_string());
                }
            }
            ApplyEvent::StepDone {
                index,
                total,
                step,
                noop,
            } => {
                let width = total.to_string().len();
                let what = if noop {
                    format!("no-op on {}, recorded", self.database)
                } else {
                    "applied".to_string()
                };
                let text = format!("[{:>width$}/{total}] {} {what}", index + 1, step.key);
                match &self.bar {
                    Some(bar) => {
                        if noop {
                            bar.println(text);
                        }
                        bar.inc(1);
                    }
                    None => out!("{text}"),
                }
            }
            ApplyEvent::Baseline {
                release,
                files,
                noop,
            } => self.line(if noop {
                format!(
                    "[baseline] no baseline schema for {}: the site starts at {release}",
                    self.database
                )
            } else {
                format!(
                    "[baseline] started the site from {} (release {release})",
                    files.join(", ")
                )
            }),
            ApplyEvent::InstallStarted { install } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("install {}", install.snapshot.component));
                }
            }
            ApplyEvent::Installed { install, noop } => {
                let what = if noop {
                    format!("no snapshot for {}: only recorded", self.database)
                } else {
                    format!("installed from {}", install.snapshot.location())
                };
                self.line(format!(
                    "[install] {} {what}; {} covered step(s) recorded without running",
                    install.snapshot.component,
                    install.covered.len()
                ));
            }
            ApplyEvent::DriftAccepted { count } => self.line(format!(
                "accepted drift: recorded the tree's checksum for {count} ledger row(s)"
            )),
            ApplyEvent::Scope {
                scope,
                event,
                detail,
            } => self.line(scope_line(scope, event, detail)),
            // Printed after the summary line, from the report.
            ApplyEvent::ReleaseCompleted { .. } | ApplyEvent::Synced { .. } => self.finish(),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// One line for a change of a maintenance scope.
fn scope_line(scope: &str, event: ScopeEvent, detail: &str) -> String {
    let what = if scope == SITE_SCOPE {
        "the whole site (*)".to_string()
    } else {
        scope.to_string()
    };
    match event {
        ScopeEvent::Enter => format!("maintenance: {what} in maintenance ({detail})"),
        ScopeEvent::Leave => format!("maintenance: {what} online"),
        ScopeEvent::Failed => format!("maintenance: {what} failed: {detail}"),
        ScopeEvent::ManualOn | ScopeEvent::ManualOff => {
            format!("maintenance: {what} {detail}")
        }
    }
}

/// Runs `apply`: exit 0 when the selected steps ran (or there was nothing to
/// do), 1 when a step failed, the site was refused or locked, or on error.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    if args.mark_done.is_some() && args.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(CliError {
            message:
                "--mark-done needs a --reason: why the step's changes are known to be in place"
                    .into(),
            hint: Some(
                "e.g. --reason \"index built by hand, checked with \\d forum_posts\"".into(),
            ),
            code: crate::cli_error::EXIT_USAGE,
        });
    }
    let url = args.db.url()?;
    let (work, tree) = super::load(root)?;
    let database = url.database().as_str();
    let runner = Runner::new(&tree, url)?;
    let options = ApplyOptions {
        selection: args.selection.selection(),
        accept_drift: args.accept_drift,
        retry_interrupted: args.retry_interrupted,
        mark_done: args.mark_done.as_ref().map(|step| MarkDone {
            step: step.clone(),
            actor: actor(&args.by),
            reason: args.reason.clone().unwrap_or_default(),
        }),
        decided_by: Some((actor(&args.by), args.reason.clone().unwrap_or_default())),
        hook: StepHook::from_env(),
        hook_dir: Some(work.root().to_path_buf()),
    };
    let mut progress = Progress {
        bar: None,
        database,
    };
    let result = runner.apply(&options, &mut |e| progress.event(e));
    progress.finish();
    let report = result?;
    if let Some(step) = &report.marked_done {
        out!("recorded {step} as done without running it (kept in upgrade_audit)");
    }
    // `--to` a batched post step: what comes before it ran; the step itself is post run's.
    let batched_to = match &args.selection.to {
        Some(to) => runner.batched_pending(to)?,
        None => None,
    };
    let ran = report.applied + report.noops;
    if report.installed > 0 {
        out!(
            "installed {} component(s) from their snapshots on {database} {}",
            report.installed,
            runner.url()
        );
    }
    if batched_to.is_some() && ran == 0 && report.marked_done.is_none() {
        // Said below, instead of "nothing to apply".
    } else if ran == 0
        && report.completed.is_none()
        && report.synced.is_none()
        && report.marked_done.is_none()
        && report.installed == 0
    {
        if report.remaining == 0 && report.batched_left == 0 {
            out!("nothing to apply: the site is up to date");
        } else {
            out!("nothing to apply in this selection");
        }
    } else if ran > 0 {
        out!(
            "applied {ran} step(s) on {database} {}{}",
            runner.url(),
            if report.noops > 0 {
                format!(" ({} no-op on {database}, recorded only)", report.noops)
            } else {
                String::new()
            }
        );
    }
    if let Some((release, pruned)) = &report.completed {
        out!("completed release {release}: pruned {pruned} ledger row(s)");
    }
    if let Some((version, revision)) = &report.synced {
        out!("recorded version {version} and revision {revision}");
    }
    if report.remaining > 0 {
        out!(
            "{} step(s) still pending outside the selection: run `consolidate apply` to continue",
            report.remaining
        );
    }
    if let Some(step) = batched_to {
        out!(
            "{} ({}) runs in batches while the site is online: `apply` does not run it; run `consolidate post run` ({}), then `consolidate done {}` exits 0 once it has finished",
            step.key,
            step.location(),
            if ran > 0 {
                "the steps before it are applied"
            } else {
                "nothing needs to run before it"
            },
            step.key
        );
    } else if report.batched_left > 0 {
        out!(
            "{} batched post step(s) left to `consolidate post run` (runs while the site is online; `consolidate post status` shows progress)",
            report.batched_left
        );
    }
    Ok(EXIT_OK)
}
