//! The runner's guards end to end (issue 7): output that cannot stop an
//! upgrade, released history the runner refuses to run when edited, site
//! state that is never guessed, `--phase`/`--to` that never run a step ahead
//! of what it needs, secrets that are never printed, errors a user can act on,
//! and interrupted steps that never run twice by accident. One file per guard
//! below `guards/`; the helpers they share are here.

use super::*;

mod errors;
mod interrupted;
mod output;
mod released_history;
mod selections;
mod site_state;

fn ledger_rows(db: &Db) -> Vec<String> {
    strings(
        db,
        "SELECT component || '/' || step FROM upgrade_ledger ORDER BY 1",
    )
}
