//! The batch ledger of `post` steps that walk a key range: the
//! [`BatchStore`] trait over `upgrade_batch_steps` (one state row per step:
//! the key range read once, the size, running / paused / failed / done) and
//! `upgrade_batches` (one row per committed range), with a SQLite and a
//! PostgreSQL implementation.
//!
//! The guarantee: a range runs in ONE transaction with its row in
//! `upgrade_batches`, whose primary key is `(step_key, lo)`. The row is
//! inserted first, so a second runner that reaches the same range fails on
//! the key (and rolls back) instead of running it twice; a run killed at any
//! moment leaves either the range and its row, or neither. The step's ledger
//! row is inserted in the transaction of its last range.
//!
//! A batch store opens its own connection, without the upgrade lock: on
//! SQLite each range is a short `BEGIN IMMEDIATE` transaction, so the online
//! application can read and write between ranges.

mod postgres;
mod sqlite;

pub use postgres::PostgresBatches;
pub use sqlite::SqliteBatches;

use super::{DatabaseUrl, LedgerError, StepRunError};

/// The state row of a batched step (`upgrade_batch_steps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStepRow {
    /// `component/name`.
    pub step_key: String,
    /// The checksum of the step when its batches started.
    pub checksum: String,
    /// The smallest key, read once (`None`: the table was empty).
    pub key_min: Option<i64>,
    /// The largest key, read once.
    pub key_max: Option<i64>,
    /// Keys per range.
    pub batch_size: i64,
    /// `running`, `paused`, `failed` or `done`.
    pub state: String,
    /// The error that failed it, kept.
    pub error: Option<String>,
    /// When the row last changed.
    pub updated_at: String,
}

/// One committed range (`upgrade_batches`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRow {
    /// First key.
    pub lo: i64,
    /// Last key.
    pub hi: i64,
    /// Which attempt committed it (1 = first try).
    pub attempt: i64,
    /// Rows the range changed.
    pub row_count: i64,
    /// When it started (UTC, milliseconds).
    pub started: String,
    /// When it committed.
    pub finished: String,
}

/// A batched step's state and progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchProgress {
    /// The state row.
    pub step: BatchStepRow,
    /// Committed ranges.
    pub ranges_done: u64,
    /// Rows changed so far.
    pub rows: i64,
    /// The committed range with the largest `lo` (where a run resumes).
    pub last: Option<RangeRow>,
    /// The most recent committed ranges (by `lo`, newest first, at most
    /// [`RECENT_RANGES`]), for the rate and the estimate.
    pub recent: Vec<RangeRow>,
}

/// How many recent ranges the rate is computed from.
pub const RECENT_RANGES: usize = 50;

/// What to run in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct RangeRun<'a> {
    /// `component/name`.
    pub step_key: &'a str,
    /// The range, or `None` to only record the step (empty table).
    pub range: Option<(i64, i64)>,
    /// The attempt number stored with the range.
    pub attempt: i64,
    /// The body to run with `:lo` / `:hi` bound (`None`: no body for this database).
    pub sql: Option<&'a str>,
    /// The ledger row `(component, step, checksum)` to insert with it: set
    /// for the last range, which completes the step.
    pub record: Option<(&'a str, &'a str, &'a str)>,
}

/// What happened to a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Committed, changing this many rows.
    Committed(i64),
    /// Another runner committed it first: nothing ran.
    AlreadyDone,
    /// The step is no longer `running` (paused or failed meanwhile): nothing ran.
    NotRunning(String),
}

/// Operations on the batch ledger.
pub trait BatchStore {
    /// Every batched step's state and progress, by step key; empty on a
    /// ledger of an older schema (1 or 2) that has no batch tables yet: it
    /// reads only and never migrates (`done`, `status`, `post status`).
    fn progress(&mut self) -> Result<Vec<BatchProgress>, LedgerError>;
    /// The state row of a step, creating it the first time: the key range is
    /// read once here (`bounds_sql`) and stored with the size, state `running`.
    fn start(
        &mut self,
        step_key: &str,
        checksum: &str,
        bounds_sql: &str,
        size: i64,
    ) -> Result<BatchStepRow, StepRunError>;
    /// Runs one range (see the module documentation).
    fn run_range(&mut self, run: &RangeRun<'_>) -> Result<RangeOutcome, StepRunError>;
    /// Sets a step's state (`paused`, `running`, `failed`) and error. Returns
    /// false when the step has no state row or is `done`.
    fn set_state(
        &mut self,
        step_key: &str,
        state: &str,
        error: Option<&str>,
    ) -> Result<bool, LedgerError>;
}

/// Opens the batch ledger of a site (its schema must exist).
pub fn open_batches(url: &DatabaseUrl) -> Result<Box<dyn BatchStore>, LedgerError> {
    match url {
        DatabaseUrl::Sqlite(path) => Ok(Box::new(SqliteBatches::open(path)?)),
        DatabaseUrl::Postgres(conn) => Ok(Box::new(PostgresBatches::open(conn)?)),
    }
}

/// The current UTC time with milliseconds, as stored in `started` and `finished`.
pub fn now_utc_ms() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_string())
}

/// Seconds since the Unix epoch of a stored timestamp (`…Z`, with or
/// without milliseconds), for rates.
pub fn epoch_seconds(stamp: &str) -> Option<f64> {
    let stamp = stamp.strip_suffix('Z')?;
    let (date, clock) = stamp.split_once('T')?;
    let mut d = date.split('-').map(str::parse::<i32>);
    let (year, month, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, "0"));
    let mut c = hms.split(':').map(str::parse::<u8>);
    let (h, m, s) = (c.next()?.ok()?, c.next()?.ok()?, c.next()?.ok()?);
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
    let t = date.with_hms(h, m, s).ok()?.assume_utc();
    let fraction: f64 = format!("0.{fraction}").parse().ok()?;
    Some(t.unix_timestamp() as f64 + fraction)
}
