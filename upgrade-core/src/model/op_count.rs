//! Counting the work of hot paths in unit tests, to pin their complexity
//! without timing anything: code calls [`tick`] with the units of work it
//! does (bytes scanned, keys compared); a test reads the count with
//! [`take`]. Outside `cfg(test)` builds [`tick`] does nothing.

#[cfg(test)]
thread_local! {
    static COUNT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Adds `units` of work to this thread's count (a no-op outside tests).
#[inline(always)]
pub(crate) fn tick(units: usize) {
    #[cfg(test)]
    COUNT.with(|c| c.set(c.get().saturating_add(units as u64)));
    #[cfg(not(test))]
    let _ = units;
}

/// The work counted on this thread since the last call, and resets it.
#[cfg(test)]
pub(crate) fn take() -> u64 {
    COUNT.with(|c| c.replace(0))
}
