//! `consolidate status`: does the site need an upgrade, and why. Also owns
//! the `--db` argument shared by the site commands (status, plan, apply, prune).

use std::collections::BTreeMap;
use std::path::PathBuf;

use upgrade_core::Tree;
use upgrade_core::model::step::Phase;
use upgrade_core::site::ledger::{DEFAULT_DB, DatabaseUrl, Stored};
use upgrade_core::site::runner::{
    Downtime, Runner, SiteTreeError, Status, StepProgress, post_gate, site_and_tree,
};

use crate::cli_error::{CliError, EXIT_FAILURE, EXIT_OK, EXIT_PENDING};

/// The site database argument.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArg {
    /// The site database: a SQLite file, sqlite://PATH or postgres://USER@HOST:PORT/DATABASE.
    #[arg(long, value_name = "URL", default_value = DEFAULT_DB)]
    pub db: String,
}

impl DbArg {
    /// The parsed address.
    pub fn url(&self) -> Result<DatabaseUrl, CliError> {
        Ok(DatabaseUrl::parse(&self.db)?)
    }
}

/// Loads the tree and parses `--db`.
pub fn tree_and_url(root: &Option<PathBuf>, db: &DbArg) -> Result<(Tree, DatabaseUrl), CliError> {
    let url = db.url()?;
    let (_, tree) = super::load(root)?;
    Ok((tree, url))
}

/// The site's ledger, then the tree as answering questions about that site
/// needs it (`status`, `plan`; docs/semantics.md, "What `status` and `plan` read"): what
/// the site completed decides what of the tree is read, and standalone steps
/// unchanged since the last such command come from the step cache
/// (trees/step_cache.rs). Never for running steps.
pub fn site_tree(
    root: &Option<PathBuf>,
    db: &DbArg,
) -> Result<(Tree, DatabaseUrl, Stored), CliError> {
    let url = db.url()?;
    let work = super::work_tree(root)?;
    let (stored, tree) = site_and_tree(&url, &work).map_err(|e| match e {
        SiteTreeError::Ledger(e) => CliError::from(e),
        SiteTreeError::Tree(e) => CliError::from(e),
    })?;
    for warning in &tree.warnings {
        eprintln!("warning: {warning}");
    }
    Ok((tree, url, stored))
}

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArg,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Exit code of `status`: only work that needs no maintenance is pending
/// (pre steps, post steps): Moodle's `--is-maintenance-required` 3.
pub const EXIT_ONLINE_ONLY: u8 = 3;

/// Runs `status`: exit 0 when there is nothing to do, 2 when work needing
/// maintenance is pending (main steps; a release, version or revision only
/// `apply` records), 3 when only pre or post steps are pending, 1 when
/// `apply` would refuse (too old, downgrade, drift, an edited released entry,
/// an interrupted `transaction: no` step, another `apply` running) or on
/// error.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let (tree, url, stored) = site_tree(root, &args.db)?;
    let runner = Runner::new(&tree, url)?;
    let status = runner.status_from(stored)?;
    let answer = answer(&tree, &runner, &status, args);
    // The process ends right after: freeing every step and ledger row one
    // by one would cost a tenth of the answer on a large site.
    std::mem::forget(status);
    std::mem::forget(runner);
    std::mem::forget(tree);
    answer
}

/// Prints the status and picks the exit code.
fn answer(
    tree: &Tree,
    runner: &Runner<'_>,
    status: &Status<'_>,
    args: &Args,
) -> Result<u8, CliError> {
    let post = post_part(runner, status);
    if args.json {
        let mut doc = json(tree, status);
        add_post_json(&mut doc, status, &post);
        out!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        out_raw!("{}", post_notice(status, &post));
        out_raw!("{}", text(tree, status));
        out_raw!("{}", post_text(status, &post));
    }
    if let Some(refusal) = &status.refusal {
        return Err(CliError {
            message: format!("{}: upgrade refused: {refusal}", status.db),
            hint: Some(refusal.hint()),
            code: EXIT_FAILURE,
        });
    }
    if let Some(session) = &status.running {
        return Err(CliError::new(
            format!(
                "{}: an apply is running (pid {}): {session}",
                status.db, session.pid
            ),
            "wait for it to finish, then run `consolidate status` again",
        ));
    }
    if let (Some(step), Some(session)) = (&status.interrupted, &status.step_running) {
        return Err(CliError::new(
            format!(
                "{}: step {step} is still running on the server ({session}): its `apply` was stopped, the database session was not",
                status.db
            ),
            format!(
                "wait for pid {} to finish, or stop it with `SELECT pg_cancel_backend({})`; then check the site",
                session.pid, session.pid
            ),
        ));
    }
    if !status.unreviewed.is_empty() {
        let mut message = format!(
            "{}: {} pending released step(s) are not what was released: `plan` and `apply` refuse to run them",
            status.db,
            status.unreviewed.len()
        );
        for u in &status.unreviewed {
            message.push_str(&format!("\n  {u}"));
        }
        return Err(CliError::new(
            message,
            "restore each released entry from version control and put a change in a new step (`consolidate new`); `consolidate check` lists every problem",
        ));
    }
    if let Some(step) = &status.interrupted {
        return Err(CliError::new(
            format!(
                "{}: step {step} runs outside a transaction and was interrupted midway by an earlier `apply`: `apply` stops",
                status.db
            ),
            format!(
                "check what the step changed; then either undo its partial changes and run `consolidate apply --retry-interrupted`, or, if all its changes are in place, record it without running it: `consolidate apply --mark-done {step} --reason \"...\"`"
            ),
        ));
    }
    if !status.drift.is_empty() {
        return Err(CliError::new(
            format!(
                "{}: {} ledger row(s) differ from the tree (drift): `apply` stops",
                status.db,
                status.drift.len()
            ),
            "restore the changed step, or run `consolidate apply --accept-drift` if the site's schema matches the new version",
        ));
    }
    Ok(match status.downtime() {
        Downtime::None => EXIT_OK,
        Downtime::Online => EXIT_ONLINE_ONLY,
        Downtime::Maintenance => EXIT_PENDING,
    })
}

/// The progress of batched post steps, or why it cannot be read.
type PostPart = Result<Vec<StepProgress>, String>;

fn post_part(runner: &Runner<'_>, status: &Status<'_>) -> PostPart {
    if !status.stored.exists || !status.pending.iter().any(|s| s.is_batched()) {
        return Ok(Vec::new());
    }
    runner.post_progress(status).map_err(|e| e.to_string())
}

/// Said before anything else: `plan` and `apply` stop because a pending step
/// requires a batched post step that has not finished.
fn post_notice(status: &Status<'_>, post: &PostPart) -> String {
    let progress = post.as_deref().unwrap_or(&[]);
    match post_gate(status, progress) {
        Ok(()) => String::new(),
        Err(e) => format!(
            "BLOCKED:  {e}
          finish it first: {}
",
            e.hint()
        ),
    }
}

fn post_text(status: &Status<'_>, post: &PostPart) -> String {
    let mut out = String::new();
    match post {
        Err(e) => out.push_str(&format!(
            "post:     progress unavailable: {e}
"
        )),
        Ok(steps) => {
            for p in steps {
                out.push_str(&format!(
                    "post:     {} {}
",
                    p.key,
                    p.summary()
                ));
            }
        }
    }
    if status.downtime() == Downtime::Online {
        out.push_str("downtime: none needed: only pre steps (`consolidate apply --phase pre`) and post steps (`consolidate apply`, batched ones `consolidate post run`) are pending
");
    }
    out
}

/// Adds `downtime`, `pending_steps` (per component, per phase) and `post`
/// (progress of batched post steps) to the JSON document.
fn add_post_json(doc: &mut serde_json::Value, status: &Status<'_>, post: &PostPart) {
    let mut steps: BTreeMap<String, BTreeMap<&str, Vec<String>>> = BTreeMap::new();
    for step in &status.pending {
        steps
            .entry(step.key.component.to_string())
            .or_default()
            .entry(step.phase.as_str())
            .or_default()
            .push(step.key.name.to_string());
    }
    let blocked = post_gate(status, post.as_deref().unwrap_or(&[])).err();
    if let Some(map) = doc.as_object_mut() {
        map.insert("downtime".into(), serde_json::json!(status.downtime()));
        map.insert("pending_steps".into(), serde_json::json!(steps));
        map.insert(
            "post".into(),
            match post {
                Ok(p) => serde_json::json!(p),
                Err(e) => serde_json::json!({ "error": e }),
            },
        );
        map.insert(
            "blocked_by_post".into(),
            serde_json::json!(blocked.map(|e| e.to_string())),
        );
    }
}

fn state(status: &Status<'_>) -> &'static str {
    if status.refusal.is_some() {
        "refused"
    } else if status.running.is_some() || status.step_running.is_some() {
        "applying"
    } else if !status.unreviewed.is_empty() {
        "unreviewed"
    } else if status.interrupted.is_some() {
        "interrupted"
    } else if !status.drift.is_empty() {
        "drift"
    } else if status.needs_upgrade() {
        "upgrade_pending"
    } else {
        "up_to_date"
    }
}

fn json(tree: &Tree, status: &Status<'_>) -> serde_json::Value {
    use upgrade_core::site::runner::staged::scope_needed;
    let by_component: BTreeMap<String, serde_json::Value> = status
        .pending_counts()
        .into_iter()
        .map(|(component, phases)| {
            let counts: BTreeMap<&str, usize> = [Phase::Pre, Phase::Main, Phase::Post]
                .into_iter()
                .map(|p| (p.as_str(), phases.get(&p).copied().unwrap_or(0)))
                .collect();
            let mut entry = serde_json::json!(counts);
            // The maintenance its pending work needs: none, component or site.
            entry["maintenance"] = scope_needed(tree, &status.pending, &component).into();
            (component, entry)
        })
        .collect();
    serde_json::json!({
        "state": state(status),
        "database": status.database.as_str(),
        "db": status.db,
        "site": {
            "ledger": status.stored.exists,
            "completed_release": status.site.release.as_ref().map(|r| r.as_str()),
            "version": status.site.version.as_ref().map(|v| v.as_str()),
            "revision": status.site.revision,
            "ledger_rows": status.stored.rows.len(),
        },
        "code": {
            "version": status.code_version.as_str(),
            "revision": status.code_revision,
            "newest_release": tree.manifest.newest_release().map(|r| r.name.as_str()),
            "upgrade_from": tree.manifest.upgrade_from.as_ref().map(|r| r.as_str()),
        },
        "pending": {
            "total": status.pending.len(),
            "by_component": by_component,
        },
        "release_to_complete": status.release_to_complete.as_ref().map(|r| r.as_str()),
        "resync": status.resync,
        "version_behind": status.version_behind,
        "interrupted": status.interrupted,
        "apply_running": status.running.as_ref().or(status.step_running.as_ref()).map(|s| serde_json::json!({
            "pid": s.pid,
            "application": s.application,
            "since": s.since,
        })),
        "unreviewed": status.unreviewed.iter().map(|u| serde_json::json!({
            "component": u.key.component.as_str(),
            "step": u.key.name.as_str(),
            "file": u.location,
            "problem": u.problem,
        })).collect::<Vec<_>>(),
        "drift": status.drift.iter().map(|d| serde_json::json!({
            "component": d.key.component.as_str(),
            "step": d.key.name.as_str(),
            "ledger_checksum": d.recorded,
            "tree_checksum": d.expected.text().as_str(),
            "file": d.location,
        })).collect::<Vec<_>>(),
        "refused": status.refusal.as_ref().map(|r| serde_json::json!({
            "reason": r.to_string(),
            "hint": r.hint(),
        })),
        "orphans": status.orphans.iter().map(|r| r.key_text()).collect::<Vec<_>>(),
        "prunable": status.prunable.len(),
        "baseline": status.baseline.as_ref().map(|r| r.as_str()),
        "installs": status.installs.iter().map(|i| serde_json::json!({
            "component": i.snapshot.component.as_str(),
            "file": i.snapshot.location(),
            "covers": i.snapshot.covers.as_str(),
            "covered_steps": i.covered.len(),
        })).collect::<Vec<_>>(),
        "installed_components": status.stored.components.iter().map(|c| serde_json::json!({
            "component": c.component,
            "source": c.source,
            "covers": c.covers,
            "installed_at": c.installed_at,
        })).collect::<Vec<_>>(),
        "removed_components": status.removed,
    })
}

fn text(tree: &Tree, status: &Status<'_>) -> String {
    let mut out = String::new();
    let site = &status.site;
    out.push_str(&format!("database: {} {}\n", status.database, status.db));
    if !status.stored.exists {
        out.push_str("site:     fresh (no ledger yet)\n");
    } else {
        out.push_str(&format!(
            "site:     release {}, version {}, revision {}, {} ledger row(s)\n",
            site.release
                .as_ref()
                .map_or("none (fresh install)", |r| r.as_str()),
            site.version.as_ref().map_or("none", |v| v.as_str()),
            site.revision
                .map_or_else(|| "none".to_string(), |r| r.to_string()),
            status.stored.rows.len()
        ));
    }
    out.push_str(&format!(
        "code:     version {}, revision {}, newest release {}\n",
        status.code_version,
        status.code_revision,
        tree.manifest
            .newest_release()
            .map_or("none", |r| r.name.as_str())
    ));
    if let Some(refusal) = &status.refusal {
        out.push_str(&format!("refused:  {refusal}\n"));
        return out;
    }
    if let (Some(release), Some(b)) = (&status.baseline, &tree.baseline) {
        out.push_str(&format!(
            "baseline: a fresh site starts from {release} ({})\n",
            b.files.join(", ")
        ));
    }
    for i in &status.installs {
        out.push_str(&format!(
            "install:  {} from {} (covers {} step(s) up to {}, which do not run)\n",
            i.snapshot.component,
            i.snapshot.location(),
            i.covered.len(),
            i.snapshot.covers
        ));
    }
    if status.pending.is_empty() {
        out.push_str("pending:  no steps\n");
    } else {
        out.push_str(&format!("pending:  {} step(s)\n", status.pending.len()));
        let counts = status.pending_counts();
        let width = counts.keys().map(String::len).max().unwrap_or(9).max(9);
        out.push_str(&format!(
            "  {:<width$}  {:>4}  {:>4}  {:>4}\n",
            "COMPONENT", "PRE", "MAIN", "POST"
        ));
        for (component, phases) in &counts {
            let n = |p| phases.get(&p).copied().unwrap_or(0);
            out.push_str(&format!(
                "  {component:<width$}  {:>4}  {:>4}  {:>4}\n",
                n(Phase::Pre),
                n(Phase::Main),
                n(Phase::Post)
            ));
        }
    }
    if let Some(release) = &status.release_to_complete {
        out.push_str(&format!("release to complete: {release}\n"));
    }
    if status.version_behind {
        out.push_str(&format!(
            "version:  site {} -> code {}\n",
            site.version.as_ref().map_or("none", |v| v.as_str()),
            status.code_version
        ));
    }
    if status.resync {
        out.push_str(&format!(
            "resync needed: site revision {}, code revision {}\n",
            site.revision
                .map_or_else(|| "none".to_string(), |r| r.to_string()),
            status.code_revision
        ));
    }
    if let Some(session) = &status.running {
        out.push_str(&format!("applying: an apply is running ({session})\n"));
    }
    match (&status.interrupted, &status.step_running) {
        (Some(step), Some(session)) => out.push_str(&format!(
            "running:  {step} (transaction: no) is still running ({session})\n"
        )),
        (Some(step), None) if status.running.is_none() => out.push_str(&format!(
            "interrupted: {step} (transaction: no) was started and never recorded\n"
        )),
        _ => {}
    }
    for u in &status.unreviewed {
        out.push_str(&format!("unreviewed: {u}\n"));
    }
    for d in &status.drift {
        out.push_str(&format!(
            "drift:    {} ({}): ledger {}, tree {}\n",
            d.key, d.location, d.recorded, d.expected
        ));
    }
    if !status.prunable.is_empty() {
        out.push_str(&format!(
            "prunable: {} ledger row(s) covered by the site's release (`consolidate prune`)\n",
            status.prunable.len()
        ));
    }
    if !status.orphans.is_empty() {
        out.push_str(&format!(
            "orphans:  {} ledger row(s) of steps in no file (`consolidate prune --orphans`)\n",
            status.orphans.len()
        ));
    }
    for component in &status.removed {
        out.push_str(&format!(
            "removed:  {component} is installed on the site but no longer in the tree (`consolidate prune --orphans` forgets it with its rows)\n"
        ));
    }
    out.push_str(match state(status) {
        "drift" => "result:   drift: `consolidate apply` stops until it is resolved\n",
        "interrupted" => {
            "result:   interrupted step: `consolidate apply` stops until it is checked\n"
        }
        "applying" => "result:   an apply is running: wait for it\n",
        "unreviewed" => {
            "result:   edited released history: `consolidate apply` refuses to run it\n"
        }
        "upgrade_pending" if status.downtime() == Downtime::Online => {
            "result:   online work pending (no maintenance needed)\n"
        }
        "upgrade_pending" => "result:   upgrade pending: run `consolidate apply`\n",
        _ => "result:   up to date\n",
    });
    out
}
