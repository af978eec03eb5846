//! The site: the ledger in a site's database and the runner that applies a
//! plan to it.

pub mod ledger;
pub mod runner;
pub mod scratch;
