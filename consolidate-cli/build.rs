//! Build script: turns on the `pg_tests` cfg when `CONSOLIDATE_TEST_POSTGRES_URL`
//! is set, so that the PostgreSQL tests of `tests/runner.rs` run; without it
//! they show as `ignored` (never as a vacuous `ok`). Under CI (`CI` set) they
//! are compiled in anyway and fail when the URL is missing.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(pg_tests)");
    println!("cargo::rerun-if-env-changed=CONSOLIDATE_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-env-changed=CI");
    let url = std::env::var("CONSOLIDATE_TEST_POSTGRES_URL").unwrap_or_default();
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    if !url.is_empty() || ci {
        println!("cargo::rustc-cfg=pg_tests");
    }
}
