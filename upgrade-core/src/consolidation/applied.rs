//! Applying a [`Consolidation`]: every path checked to stay inside the
//! tree root, then the changes written in crash-safe order; its diff and
//! commit message.

use std::fmt::Write as _;
use std::path::Path;

use crate::consolidation::consolidate::Consolidation;

impl Consolidation {
    /// Does applying it change nothing?
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }

    /// A unified diff of every change, files in path order.
    pub fn diff(&self) -> String {
        crate::files::fsio::unified_diff(&self.changes)
    }

    /// [`Consolidation::diff`] written to `out` file by file, never held whole.
    pub fn write_diff(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        crate::files::fsio::write_unified_diff(&self.changes, out)
    }

    /// Applies the changes to the tree at `root` in crash-safe order. A path
    /// that would leave `root` (see [`crate::consolidation::paths`]) is
    /// refused before anything is written.
    ///
    /// The folders are checked on the file system once each (a release
    /// deletes 100,000 files in a few hundred folders); every other path of
    /// a checked folder only has its file name checked.
    pub fn apply(&self, root: &Path) -> std::io::Result<()> {
        let mut checked: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for change in &self.changes {
            let (folder, name) = change.path.rsplit_once('/').unwrap_or(("", &change.path));
            if checked.contains(folder) && plain_file_name(name) {
                continue;
            }
            crate::consolidation::paths::inside_root(root, &change.path).map_err(|why| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{}: outside the tree root ({why})", change.path),
                )
            })?;
            checked.insert(folder);
        }
        crate::files::fsio::apply_changes(root, &self.changes)
    }

    /// A commit message listing what was folded.
    pub fn commit_message(&self) -> String {
        let mut msg = format!(
            "Consolidate {}: fold {} standalone step{}\n\n",
            self.release,
            self.folded.len(),
            if self.folded.len() == 1 { "" } else { "s" }
        );
        if self.folded.is_empty() {
            msg.push_str("No standalone step to fold.\n");
        } else {
            msg.push_str("Folded into the components' db/upgrade.toml, in plan order:\n");
            for key in &self.folded {
                let _ = writeln!(msg, "- {key}");
            }
        }
        let _ = write!(msg, "\nConsolidated-Release: {}\n", self.release);
        msg
    }
}

/// A file name that [`crate::consolidation::paths::inside_root`] accepts as
/// the last segment of a path whose folder it accepted.
fn plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['\\', ':', '/'])
}
