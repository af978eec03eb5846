//! Progress of batched post steps (`post status`, the post part of
//! `status`) and the answer to "has this step finished?" (`done`).
//!
//! The rate is computed from the most recent committed ranges (at most
//! [`RECENT_RANGES`]: from the start of the oldest of them to the end of the
//! newest), not since the step started, so pauses, cron gaps and a changed
//! `--pause-ms` do not skew it; the ETA is the ranges left at that rate, an
//! estimate that counts running time only (not the time between cron runs).

use super::*;
use crate::site::ledger::batches::{BatchProgress, RECENT_RANGES, epoch_seconds, open_batches};

/// One batched step's progress on a site.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StepProgress {
    /// The step.
    #[serde(serialize_with = "as_text")]
    pub key: StepKey,
    /// `pending` (not started), `waiting`, `running`, `paused`, `failed` or `done`.
    pub state: String,
    /// Why it cannot start yet, or the error that failed it.
    pub detail: Option<String>,
    /// Ranges committed.
    pub ranges_done: u64,
    /// Ranges in all (`None` until the key range is read).
    pub ranges_total: Option<u64>,
    /// Rows changed so far.
    pub rows: i64,
    /// Ranges per second over the recent ranges.
    pub ranges_per_second: Option<f64>,
    /// Rows per second over the recent ranges.
    pub rows_per_second: Option<f64>,
    /// Estimated seconds of running time left.
    pub eta_seconds: Option<f64>,
}

fn as_text<S: serde::Serializer>(key: &StepKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&key.to_string())
}

impl StepProgress {
    /// `state, N/M ranges, R rows[, rate, ETA]` in one line.
    pub fn summary(&self) -> String {
        let mut out = self.state.clone();
        if let Some(total) = self.ranges_total {
            out.push_str(&format!(
                ", {}/{} ranges, {} rows",
                self.ranges_done, total, self.rows
            ));
        }
        if let Some(rate) = self.rows_per_second {
            out.push_str(&format!(", {rate:.0} rows/s"));
        }
        if let Some(eta) = self.eta_seconds {
            out.push_str(&format!(", about {} left (estimate)", duration_text(eta)));
        }
        if let Some(detail) = &self.detail {
            out.push_str(&format!(": {detail}"));
        }
        out
    }
}

/// `42s`, `3m 05s`, `2h 10m`.
pub fn duration_text(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The answer of `done`.
#[derive(Debug, Clone, PartialEq)]
pub struct DoneAnswer {
    /// The step.
    pub key: StepKey,
    /// Is it applied on the site?
    pub applied: bool,
    /// Its progress, when it is a pending batched step.
    pub progress: Option<StepProgress>,
}

/// `(ranges done, hi of the last range, rows)` of one step.
pub(super) fn step_progress(
    store: &mut dyn BatchStore,
    key: &str,
) -> Result<(u64, Option<i64>, i64), RunError> {
    Ok(store
        .progress()?
        .into_iter()
        .find(|p| p.step.step_key == key)
        .map_or((0, None, 0), |p| {
            (p.ranges_done, p.last.map(|l| l.hi), p.rows)
        }))
}

fn rates(p: &BatchProgress) -> (Option<f64>, Option<f64>) {
    let recent = &p.recent[..p.recent.len().min(RECENT_RANGES)];
    let (Some(newest), Some(oldest)) = (recent.first(), recent.last()) else {
        return (None, None);
    };
    let (Some(end), Some(start)) = (
        epoch_seconds(&newest.finished),
        epoch_seconds(&oldest.started),
    ) else {
        return (None, None);
    };
    let elapsed = (end - start).max(0.001);
    let ranges = recent.len() as f64;
    let rows: i64 = recent.iter().map(|r| r.row_count).sum();
    (Some(ranges / elapsed), Some(rows as f64 / elapsed))
}

fn of_stored(key: &StepKey, p: &BatchProgress) -> StepProgress {
    let total =
        crate::model::batch::range_count(p.step.key_min.zip(p.step.key_max), p.step.batch_size);
    let (ranges_per_second, rows_per_second) = rates(p);
    let left = total.saturating_sub(p.ranges_done);
    let running = p.step.state != "done";
    StepProgress {
        key: key.clone(),
        state: p.step.state.clone(),
        detail: p.step.error.clone(),
        ranges_done: p.ranges_done,
        ranges_total: Some(total),
        rows: p.rows,
        ranges_per_second,
        rows_per_second,
        eta_seconds: ranges_per_second
            .filter(|r| *r > 0.0 && running)
            .map(|r| left as f64 / r),
    }
}

impl<'t> Runner<'t> {
    /// The progress of every batched post step of the tree that the site
    /// has pending or has a batch ledger for; reads only.
    pub fn post_progress(&self, status: &Status<'t>) -> Result<Vec<StepProgress>, RunError> {
        let stored: Vec<BatchProgress> = if status.stored.exists {
            match open_batches(&self.url) {
                Ok(mut store) => store.progress()?,
                Err(e) => return Err(e.into()),
            }
        } else {
            Vec::new()
        };
        let mut out = Vec::new();
        for step in self.order().iter().filter(|s| s.is_batched()) {
            let key = step.key.to_string();
            let pending = status.pending.iter().any(|p| p.key == step.key);
            let found = stored.iter().find(|p| p.step.step_key == key);
            let mut progress = match found {
                Some(p) => of_stored(&step.key, p),
                None if !pending => continue,
                None => StepProgress {
                    key: step.key.clone(),
                    state: "pending".into(),
                    detail: None,
                    ranges_done: 0,
                    ranges_total: None,
                    rows: 0,
                    ranges_per_second: None,
                    rows_per_second: None,
                    eta_seconds: None,
                },
            };
            if !pending {
                progress.state = "done".into();
                progress.eta_seconds = None;
            } else if (progress.state == "pending" || progress.state == "running")
                && let Some(reason) = waits_for(status, step)
            {
                progress.state = "waiting".into();
                progress.detail = Some(reason);
            }
            out.push(progress);
        }
        Ok(out)
    }

    /// Is `step` applied on the site (a ledger row, or covered by the
    /// completed release)? Reads only.
    pub fn done(&self, given: &str) -> Result<DoneAnswer, RunError> {
        let step = self.resolve(given)?;
        let status = self.status()?;
        let applied = !status.pending.iter().any(|p| p.key == step.key);
        let progress = if !applied && step.is_batched() {
            self.post_progress(&status)?
                .into_iter()
                .find(|p| p.key == step.key)
        } else {
            None
        };
        Ok(DoneAnswer {
            key: step.key.clone(),
            applied,
            progress,
        })
    }
}
