//! Files on disk: the formats of `db/upgrade.toml` and `releases/*.toml`, where
//! the files of a tree come from, and crash-safe writing.

pub mod fsio;
pub mod parallel;
pub mod release_file;
pub mod source;
pub mod upgrade_file;
pub mod upgrade_scan;
