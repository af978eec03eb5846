//! `consolidate post run|status|pause|resume`: batched post steps, run in
//! resumable ranges while the site is online.
//!
//! Exit codes of `post run` (cron-friendly): 0 when it stopped cleanly —
//! every batched step done, or the time limit reached between ranges with
//! work left (it made progress; the next run resumes), or nothing could run
//! yet; 1 on error or when a step is (or was) marked failed, so that cron
//! mails the operator. `post status` exits 0.

use std::path::PathBuf;

use upgrade_core::site::runner::{PostEvent, PostOptions, Runner};

use super::status::{DbArg, tree_and_url};
use crate::cli_error::{CliError, EXIT_FAILURE, EXIT_OK};

/// Arguments of `post`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: PostCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PostCommand {
    /// Run the ranges of the pending batched post steps (the site stays online).
    Run(RunArgs),
    /// Per batched step: ranges done / total, rows, rate and an estimated time left.
    Status(StatusArgs),
    /// Stop running a batched step (all of them without STEP) until `post resume`.
    Pause(StepArgs),
    /// Let a paused or failed batched step run again.
    Resume(StepArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    db: DbArg,
    /// Start no new range after N seconds (a range is never cut); exit 0 with work left.
    #[arg(long, value_name = "N")]
    max_seconds: Option<u64>,
    /// Sleep N milliseconds between ranges, to leave the database to the site.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pause_ms: u64,
    /// Only this step (component/name).
    #[arg(long, value_name = "STEP")]
    step: Option<String>,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    db: DbArg,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct StepArgs {
    #[command(flatten)]
    db: DbArg,
    /// The step (component/name); all batched steps when left out.
    step: Option<String>,
}

/// Runs `post …`.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    match &args.command {
        PostCommand::Run(a) => post_run(root, a),
        PostCommand::Status(a) => post_status(root, a),
        PostCommand::Pause(a) => pause(root, a, true),
        PostCommand::Resume(a) => pause(root, a, false),
    }
}

fn post_run(root: &Option<PathBuf>, args: &RunArgs) -> Result<u8, CliError> {
    let (tree, url) = tree_and_url(root, &args.db)?;
    let runner = Runner::new(&tree, url)?;
    let options = PostOptions {
        max_seconds: args.max_seconds,
        pause_ms: args.pause_ms,
        ..PostOptions::default()
    };
    let mut on_event = |event: PostEvent<'_>| match event {
        PostEvent::Started { step, done, total } => {
            out!("{}: {done}/{total} ranges done, running", step.key);
        }
        PostEvent::Retry {
            step,
            range,
            attempt,
            error,
        } => err_out!(
            "{}: range [{}, {}] attempt {attempt} failed: {error}; retrying",
            step.key,
            range.0,
            range.1
        ),
        PostEvent::Failed { step, error } => err_out!(
            "{} ({}): FAILED: {error}\n  hint: fix the step or the data it trips over, then `consolidate post resume {}`; the other steps go on",
            step.key,
            step.location(),
            step.key
        ),
        PostEvent::Done { step, rows } => out!("{}: done ({rows} rows): applied", step.key),
        PostEvent::Skipped { step, reason } => out!("{}: not run: {reason}", step.key),
        PostEvent::ReleaseCompleted { release, pruned } => {
            out!("completed release {release} ({pruned} ledger row(s) pruned)")
        }
    };
    let report = runner.post_run(&options, args.step.as_deref(), &mut on_event)?;
    out!(
        "post run: {} range(s), {} row(s) this run; {} batched step(s) done, {} left{}",
        report.ranges,
        report.rows,
        report.done.len(),
        report.left,
        if report.time_up {
            " (time limit reached: run `consolidate post run` again to continue)"
        } else {
            ""
        }
    );
    if !report.failed.is_empty() {
        let names: Vec<String> = report.failed.iter().map(|(k, _)| k.to_string()).collect();
        return Err(CliError {
            message: format!("failed batched post step(s): {}", names.join(", ")),
            hint: Some(
                "see the error above (`consolidate post status` keeps it); fix the cause, then `consolidate post resume STEP`"
                    .into(),
            ),
            code: EXIT_FAILURE,
        });
    }
    Ok(EXIT_OK)
}

fn post_status(root: &Option<PathBuf>, args: &StatusArgs) -> Result<u8, CliError> {
    let (tree, url) = tree_and_url(root, &args.db)?;
    let runner = Runner::new(&tree, url)?;
    let status = runner.status()?;
    let progress = runner.post_progress(&status)?;
    if args.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "steps": progress }))
                .unwrap_or_default()
        );
        return Ok(EXIT_OK);
    }
    if progress.is_empty() {
        out!("no batched post steps pending");
    }
    for p in &progress {
        out!("{} {}", p.key, p.summary());
    }
    if progress.iter().any(|p| p.eta_seconds.is_some()) {
        out!("(time left is an estimate from the most recent ranges, running time only)");
    }
    Ok(EXIT_OK)
}

fn pause(root: &Option<PathBuf>, args: &StepArgs, pause: bool) -> Result<u8, CliError> {
    let (tree, url) = tree_and_url(root, &args.db)?;
    let runner = Runner::new(&tree, url)?;
    let changed = runner.post_pause(args.step.as_deref(), pause)?;
    let verb = if pause { "paused" } else { "resumed" };
    if changed.is_empty() {
        out!("nothing {verb}");
    }
    for key in changed {
        out!("{key}: {verb}");
    }
    Ok(EXIT_OK)
}
