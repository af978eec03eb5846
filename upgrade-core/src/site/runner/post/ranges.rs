//! Running one batched step's remaining ranges: resume point, time limit,
//! bounded retries, marking the step failed.

use std::time::{Duration, Instant};

use super::*;

/// Runs one step's remaining ranges; true when its last range committed.
pub(super) fn run_step<'t>(
    store: &mut dyn BatchStore,
    step: &'t Step,
    database: Database,
    options: &PostOptions,
    started: Instant,
    report: &mut PostReport,
    on_event: &mut dyn FnMut(PostEvent<'_>),
) -> Result<bool, RunError> {
    let key = step.key.to_string();
    let row = start_step(store, step)?;
    if !step.checksum.matches(&row.checksum) {
        let error = format!(
            "its SQL changed after its batches started (checksum {} when they started, {} now): the ranges done ran the old SQL",
            row.checksum, step.checksum
        );
        report.failed.push((step.key.clone(), error.clone()));
        on_event(PostEvent::Failed { step, error });
        return Ok(false);
    }
    match row.state.as_str() {
        "running" => {}
        "failed" => {
            let error = row.error.clone().unwrap_or_default();
            report.failed.push((step.key.clone(), error.clone()));
            on_event(PostEvent::Failed { step, error });
            return Ok(false);
        }
        other => {
            let reason = format!("{other} (`consolidate post resume {key}` resumes it)");
            report.skipped.push((step.key.clone(), reason.clone()));
            on_event(PostEvent::Skipped { step, reason });
            return Ok(false);
        }
    }
    let size = row.batch_size;
    let sql = step.body.for_database(database.as_str());
    let checksum = step.checksum.text();
    let record = (
        step.key.component.as_str(),
        step.key.name.as_str(),
        checksum.as_str(),
    );
    let bounds = row.key_min.zip(row.key_max);
    let total = crate::model::batch::range_count(bounds, size);
    let mut progress = progress::step_progress(store, &key)?;
    on_event(PostEvent::Started {
        step,
        done: progress.0,
        total,
    });
    let Some((key_min, key_max)) = bounds else {
        // An empty table: nothing to walk, the step is recorded.
        let run = RangeRun {
            step_key: &key,
            range: None,
            attempt: 1,
            sql,
            record: Some(record),
        };
        return match store.run_range(&run).map_err(storage)? {
            RangeOutcome::Committed(_) => {
                on_event(PostEvent::Done { step, rows: 0 });
                Ok(true)
            }
            _ => Ok(false),
        };
    };
    loop {
        let lo = match progress.1 {
            None => key_min,
            Some(hi) => match crate::model::batch::next_lo(hi, key_max) {
                Some(lo) => lo,
                // Every range committed; only a crash between the last range
                // and this read can leave the step without its row: impossible,
                // the row commits with the last range.
                None => return Ok(false),
            },
        };
        if options
            .max_seconds
            .is_some_and(|m| started.elapsed() >= Duration::from_secs(m))
        {
            report.time_up = true;
            return Ok(false);
        }
        let (lo, hi) = crate::model::batch::range_at(lo, size, key_max);
        let last = hi >= key_max;
        let mut attempt = 1u32;
        let outcome = loop {
            let run = RangeRun {
                step_key: &key,
                range: Some((lo, hi)),
                attempt: i64::from(attempt),
                sql,
                record: last.then_some(record),
            };
            match store.run_range(&run) {
                Ok(outcome) => break outcome,
                Err(StepRunError::Sql { message, .. }) if attempt < options.retries => {
                    on_event(PostEvent::Retry {
                        step,
                        range: (lo, hi),
                        attempt,
                        error: message,
                    });
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(options.pause_ms.max(50)));
                }
                Err(StepRunError::Sql { message, .. }) => {
                    let error = format!("range [{lo}, {hi}] failed {attempt} time(s): {message}");
                    store.set_state(&key, "failed", Some(&error))?;
                    report.failed.push((step.key.clone(), error.clone()));
                    on_event(PostEvent::Failed { step, error });
                    return Ok(false);
                }
                Err(StepRunError::Ledger(l)) => return Err(RunError::Ledger(l)),
            }
        };
        match outcome {
            RangeOutcome::Committed(rows) => {
                report.ranges += 1;
                report.rows += rows;
                progress.1 = Some(hi);
                if last {
                    let rows = progress::step_progress(store, &key)?.2;
                    on_event(PostEvent::Done { step, rows });
                    return Ok(true);
                }
            }
            RangeOutcome::AlreadyDone => {
                // Another runner got there first: continue after what it committed.
                progress = progress::step_progress(store, &key)?;
                if progress.1.is_some_and(|h| h >= key_max) {
                    return Ok(false);
                }
            }
            RangeOutcome::NotRunning(state) => {
                let reason = format!("{state} while running");
                report.skipped.push((step.key.clone(), reason.clone()));
                on_event(PostEvent::Skipped { step, reason });
                return Ok(false);
            }
        }
        if options.pause_ms > 0 {
            std::thread::sleep(Duration::from_millis(options.pause_ms));
        }
    }
}

fn storage(e: StepRunError) -> RunError {
    match e {
        StepRunError::Ledger(l) => RunError::Ledger(l),
        StepRunError::Sql { message, .. } => RunError::Post {
            message,
            hint: "check the step's SQL".into(),
        },
    }
}
