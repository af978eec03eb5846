//! `consolidate plan`: the steps `apply` would run on the site, in order,
//! then the batched post steps it leaves to `consolidate post run` (a
//! separate section / the `batched` array, never in the list of steps).

use std::fmt::Write as _;
use std::path::PathBuf;

use upgrade_core::model::step::Phase;
use upgrade_core::site::runner::{Runner, Selection};

use super::status::{DbArg, site_tree};
use crate::cli_error::{CliError, EXIT_OK};

/// How much of the step list is written at a time.
const LIST_CHUNK: usize = 64 * 1024;

/// Parses `--phase`.
pub fn parse_phase(text: &str) -> Result<Phase, String> {
    Phase::parse(text).ok_or_else(|| format!("`{text}` is not pre, main or post"))
}

/// Which pending steps `plan` and `apply` take.
#[derive(Debug, clap::Args)]
pub struct SelectionArgs {
    /// Stop after this step (component/name, or a name unique in the tree).
    #[arg(long, value_name = "STEP")]
    pub to: Option<String>,
    /// Only steps of this phase (pre, main, post).
    #[arg(long, value_name = "PHASE", value_parser = parse_phase)]
    pub phase: Option<Phase>,
    /// Also take the pending steps the selected ones must follow (earlier
    /// phases, requirements), instead of refusing.
    #[arg(long)]
    pub with_requirements: bool,
}

impl SelectionArgs {
    /// The runner's selection.
    pub fn selection(&self) -> Selection {
        Selection {
            to: self.to.clone(),
            phase: self.phase,
            with_requirements: self.with_requirements,
        }
    }
}

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    selection: SelectionArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `plan`: exit 0 with the plan (possibly empty), 1 when the site is refused or on error.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    // As `status` reads the tree: `plan` only says what `apply` would run
    // (which reads every file in full before it runs anything).
    let (tree, url, stored) = site_tree(root, &args.db)?;
    let runner = Runner::new(&tree, url)?;
    let plan = runner.plan_from(stored, &args.selection.selection())?;
    let database = plan.status.database.as_str();
    if args.json {
        let steps: Vec<serde_json::Value> = plan
            .steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "component": s.key.component.as_str(),
                    "name": s.key.name.as_str(),
                    "phase": s.phase,
                    "file": s.location(),
                    "release": s.release().map(|r| r.as_str()),
                    "transaction": s.transaction,
                    "noop": s.body.for_database(database).is_none(),
                })
            })
            .collect();
        let batched: Vec<serde_json::Value> = plan
            .batched
            .iter()
            .map(|b| {
                serde_json::json!({
                    "component": b.step.key.component.as_str(),
                    "name": b.step.key.name.as_str(),
                    "file": b.step.location(),
                    "batch": b.step.batch.as_ref().map(ToString::to_string),
                    "state": b.progress.state,
                    "detail": b.progress.detail,
                    "ranges_done": b.progress.ranges_done,
                    "ranges_total": b.progress.ranges_total,
                    "rows": b.progress.rows,
                    "command": "consolidate post run",
                })
            })
            .collect();
        let installs: Vec<serde_json::Value> = plan
            .status
            .installs
            .iter()
            .map(|i| {
                serde_json::json!({
                    "component": i.snapshot.component.as_str(),
                    "file": i.snapshot.location(),
                    "covers": i.snapshot.covers.as_str(),
                    "covered_steps": i.covered.iter().map(|s| s.key.name.as_str()).collect::<Vec<_>>(),
                    "noop": i.snapshot.body.for_database(database).is_none(),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "database": database,
            "baseline": plan.status.baseline.as_ref().map(|r| r.as_str()),
            "installs": installs,
            "steps": steps,
            "batched": batched,
            "completes_release": plan.completes.as_ref().map(|r| r.as_str()),
            "records_version": plan.syncs,
            "drift": plan.status.drift.len(),
        });
        out!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        let installs = &plan.status.installs;
        if installs.is_empty() {
            out!(
                "plan for {database} {}: {} step(s)",
                plan.status.db,
                plan.steps.len()
            );
        } else {
            out!(
                "plan for {database} {}: install {} component(s) from their snapshots, then {} step(s)",
                plan.status.db,
                installs.len(),
                plan.steps.len()
            );
        }
        if let (Some(release), Some(b)) = (&plan.status.baseline, &tree.baseline) {
            out!(
                "   start from the baseline {release}  {}  (the site then counts as having completed {release})",
                b.files.join(", ")
            );
        }
        let install_width = installs
            .iter()
            .map(|i| i.snapshot.component.as_str().len())
            .max()
            .unwrap_or(0);
        for i in installs {
            out!(
                "   install {:<install_width$}  {}  (covers {} step(s), up to {}; they do not run)",
                i.snapshot.component.as_str(),
                i.snapshot.location(),
                i.covered.len(),
                i.snapshot.covers
            );
        }
        let width = plan
            .steps
            .iter()
            .map(|s| s.key.component.as_str().len() + 1 + s.key.name.as_str().len())
            .max()
            .unwrap_or(0);
        let number_width = plan.steps.len().to_string().len();
        // Written 64 KiB at a time (stdout flushes every line otherwise),
        // through one buffer.
        let mut list = String::with_capacity(LIST_CHUNK + 1024);
        for (i, s) in plan.steps.iter().enumerate() {
            let noop = s.body.for_database(database).is_none();
            let (component, name) = (s.key.component.as_str(), s.key.name.as_str());
            let phase = s.phase.as_str();
            // Written piece by piece, padded by hand: nothing built per
            // step, and the formatter only for the number and the place.
            let _ = write!(list, "{:>number_width$}. ", i + 1);
            list.push_str(component);
            list.push('/');
            list.push_str(name);
            let pad = width.saturating_sub(component.len() + 1 + name.len()) + 2;
            list.extend(std::iter::repeat_n(' ', pad));
            list.push_str(phase);
            list.extend(std::iter::repeat_n(
                ' ',
                4usize.saturating_sub(phase.len()) + 2,
            ));
            let _ = write!(list, "{}", s.location_shown());
            let _ = match (noop, s.transaction) {
                (false, true) => Ok(()),
                (true, true) => write!(list, "  (no-op on {database})"),
                (false, false) => write!(list, "  (no transaction)"),
                (true, false) => write!(list, "  (no-op on {database}, no transaction)"),
            };
            list.push('\n');
            if list.len() >= LIST_CHUNK {
                out_raw!("{list}");
                list.clear();
            }
        }
        out_raw!("{list}");
        if let Some(release) = &plan.completes {
            out!("then: complete release {release} and prune the ledger rows it covers");
        }
        if plan.syncs {
            out!(
                "then: record version {} and revision {}",
                plan.status.code_version,
                plan.status.code_revision
            );
        }
        if plan.steps.is_empty() && plan.completes.is_none() && !plan.syncs && installs.is_empty() {
            out!("nothing to apply");
        }
        if !plan.batched.is_empty() {
            out!(
                "left to `consolidate post run`: {} batched post step(s), run in ranges while the site is online",
                plan.batched.len()
            );
            let width = plan
                .batched
                .iter()
                .map(|b| b.step.key.to_string().len())
                .max()
                .unwrap_or(0);
            for b in &plan.batched {
                let batch = b
                    .step
                    .batch
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string);
                let progress = if b.progress.state == "pending" {
                    "not started".to_string()
                } else {
                    b.progress.summary()
                };
                out!(
                    "   {:<width$}  batch {batch}  {}  ({progress})",
                    b.step.key.to_string(),
                    b.step.location()
                );
            }
        }
    }
    if !plan.status.drift.is_empty() {
        err_out!(
            "warning: {} ledger row(s) differ from the tree (drift): `apply` stops unless --accept-drift; see `consolidate status`",
            plan.status.drift.len()
        );
    }
    Ok(EXIT_OK)
}
