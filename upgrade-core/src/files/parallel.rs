//! Running the independent file operations of one batch (syncing the files
//! of one group, syncing folders, deleting files) on a few threads.
//!
//! Each such operation mostly waits for the disk: a sync waits for a cache
//! flush, and deleting a file whose blocks are allocated waits for its
//! discard on a file system mounted with `discard`. Issued one after the
//! other, 100,000 of them cost 100,000 round trips; issued from a few threads
//! at once, the block layer merges concurrent flushes and overlaps the
//! waits. A batch ends when every operation of it has returned, so callers
//! keep their order *between* batches (the crash order of
//! [`crate::files::fsio::apply_changes`]); within a batch the operations are
//! independent and their order does not matter.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The threads of one batch at most (the calling thread included). The
/// operations wait for the disk, not the CPU, so there are more of them than
/// cores; a few more than the disk's queue needs would only add switches.
pub const WORKERS: usize = 16;

/// Applies `op` to every item, `chunk` consecutive items at a time per
/// thread, on up to [`WORKERS`] threads; returns the results in the order of
/// `items`, or the first error (the items not yet started are then skipped).
/// A thread that cannot be started leaves its share to the others: the
/// calling thread always works too, so the batch completes.
pub fn map<T, R, F>(items: &[T], chunk: usize, op: F) -> std::io::Result<Vec<R>>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> std::io::Result<R> + Sync,
{
    let chunk = chunk.max(1);
    let workers = WORKERS.min(items.len().div_ceil(chunk));
    if workers <= 1 {
        return items.iter().map(op).collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<std::io::Error>> = Mutex::new(None);
    let done: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    let work = || {
        let mut mine = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let start = next.fetch_add(chunk, Ordering::Relaxed);
            if start >= items.len() {
                break;
            }
            for (i, item) in items.iter().enumerate().skip(start).take(chunk) {
                match op(item) {
                    Ok(r) => mine.push((i, r)),
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e);
                        break;
                    }
                }
            }
        }
        done.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
    };
    std::thread::scope(|scope| {
        for _ in 1..workers {
            // A thread the system refuses leaves its share to the others.
            let _ = std::thread::Builder::new().spawn_scoped(scope, work);
        }
        work();
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_unstable_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, r)| r).collect())
}

/// [`map`] for operations without a result.
pub fn each<T, F>(items: &[T], chunk: usize, op: F) -> std::io::Result<()>
where
    T: Sync,
    F: Fn(&T) -> std::io::Result<()> + Sync,
{
    map(items, chunk, op).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_items() {
        let items: Vec<usize> = (0..1000).collect();
        let out = map(&items, 7, |i| Ok(i * 2)).expect("map");
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(map(&items[..1], 7, |i| Ok(*i)).expect("one"), [0]);
        assert!(
            map(&[] as &[usize], 7, |i| Ok(*i))
                .expect("none")
                .is_empty()
        );
    }

    #[test]
    fn an_error_fails_the_batch() {
        let items: Vec<usize> = (0..10_000).collect();
        let err = each(&items, 1, |i| {
            if *i == 10 {
                Err(std::io::Error::other("item 10"))
            } else {
                Ok(())
            }
        })
        .expect_err("an item fails");
        assert_eq!(err.to_string(), "item 10");
    }
}
