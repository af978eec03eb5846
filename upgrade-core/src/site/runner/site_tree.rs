//! The site's ledger and its tree, read together for the questions about one
//! site (`status`, `plan`): the ledger on a second thread while the tree is
//! listed and its step cache opened, then the tree loaded as that site needs
//! it ([`Tree::load_for_site_cached`]).

use crate::files::source::{Scan, TreeSource, WorkTree};
use crate::model::tree_error::{TreeError, TreeErrors};
use crate::site::ledger::{self, DatabaseUrl, LedgerError, Stored};
use crate::trees::site_view::SiteView;
use crate::trees::step_cache::StepCache;
use crate::trees::tree::Tree;

/// Why the site or its tree could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SiteTreeError {
    /// The ledger could not be read.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The tree has errors.
    #[error(transparent)]
    Tree(#[from] TreeErrors),
}

/// The site's ledger, then the tree of `work` as answering questions about
/// that site needs it (never for running steps).
///
/// The ledger is read on a second thread. Its site record comes before its
/// rows (one transaction): the tree is loaded for the release the site
/// completed while the rows are read, and only whether the rows need the
/// release files waits for them ([`crate::trees::tree::Unfinished`]).
pub fn site_and_tree(url: &DatabaseUrl, work: &WorkTree) -> Result<(Stored, Tree), SiteTreeError> {
    let (tell, told) = std::sync::mpsc::channel();
    let listed = Listed {
        work,
        scan: std::cell::RefCell::new(None),
    };
    let (stored, early, mut cache) = std::thread::scope(|scope| {
        let reading = scope.spawn(move || {
            ledger::read_site_with(url, &mut |site| {
                let _ = tell.send(site.release.clone());
            })
        });
        let mut cache = StepCache::open(work);
        listed.scan.replace(Some(work.scan()));
        // No record told (no ledger, or it could not be read): the tree
        // waits for the ledger.
        let early = told.recv().ok().map(|completed| {
            let part = Tree::load_for_release_cached(&listed, completed.as_ref(), &mut cache);
            (completed, part)
        });
        // A panic of the reading thread is a panic here, as if read here.
        let stored = reading
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (stored, early, cache)
    });
    let stored = stored?;
    let view = SiteView {
        completed: stored.site.release.clone(),
        rows: &stored.rows,
    };
    let tree = match early {
        Some((completed, part)) if completed == view.completed => part?.finish(&listed, &view)?,
        _ => Tree::load_for_site_cached(&listed, &view, &mut cache)?,
    };
    Ok((stored, tree))
}

/// A work tree whose listing was taken beforehand: the first `scan` gives
/// it, any later one (a fallback to the full load) lists again.
struct Listed<'a> {
    work: &'a WorkTree,
    scan: std::cell::RefCell<Option<Result<Scan, TreeError>>>,
}

impl TreeSource for Listed<'_> {
    fn describe(&self) -> String {
        self.work.describe()
    }

    fn scan(&self) -> Result<Scan, TreeError> {
        match self.scan.borrow_mut().take() {
            Some(scan) => scan,
            None => self.work.scan(),
        }
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        self.work.read(path)
    }

    fn read_into(&self, path: &str, buffer: &mut Vec<u8>) -> Result<(), TreeError> {
        self.work.read_into(path, buffer)
    }
}
