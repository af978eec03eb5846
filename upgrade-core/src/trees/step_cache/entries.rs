//! The entries of a step cache file as read: the file's text, each line's
//! first path and the rest (byte ranges), indexed by a hash of the first
//! path, so that a cache of 100,000 steps is not copied line by line.

use std::collections::HashMap;

use super::magic;

/// The entries of a cache file as read: its text, each line's first path
/// and the rest (byte ranges), and an index by a hash of the first path.
#[derive(Debug, Default)]
pub(super) struct OldEntries {
    text: String,
    /// Per line: where its first path ends (at the tab) and where it ends.
    pub(super) lines: Vec<(usize, usize, usize)>,
    /// Line by hash of its first path; paths sharing a hash keep the first
    /// line only (the others are read in full: a miss, never a wrong hit).
    index: HashMap<u64, usize>,
    /// Did this load use the line?
    pub(super) used: Vec<bool>,
}

fn path_hash(path: &str) -> u64 {
    use std::hash::{BuildHasher as _, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(path)
}

impl OldEntries {
    /// The entries of a cache file, or `None` when any part of it is not
    /// what this program writes.
    pub(super) fn parse(text: String) -> Option<OldEntries> {
        let body_start = text.find('\n')? + 1;
        if text[..body_start - 1] != magic() {
            return None;
        }
        let mut lines = Vec::new();
        let mut index = HashMap::new();
        let mut end = None;
        let mut start = body_start;
        while start < text.len() {
            let stop = text[start..].find('\n').map_or(text.len(), |i| start + i);
            let line = &text[start..stop];
            if end.is_some() {
                return None;
            }
            if let Some(n) = line.strip_prefix("end ") {
                end = Some(n.parse::<usize>().ok()?);
            } else {
                let tab = start + line.find('\t')?;
                let first = &text[start..tab];
                match index.entry(path_hash(first)) {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(lines.len());
                    }
                    std::collections::hash_map::Entry::Occupied(o) => {
                        let (s, t, _) = lines[*o.get()];
                        if &text[s..t] == first {
                            return None;
                        }
                    }
                }
                lines.push((start, tab, stop));
            }
            start = stop + 1;
        }
        if end? != lines.len() {
            return None;
        }
        let used = vec![false; lines.len()];
        Some(OldEntries {
            text,
            lines,
            index,
            used,
        })
    }

    /// The line whose first path is `first`.
    pub(super) fn find(&self, first: &str) -> Option<usize> {
        let line = *self.index.get(&path_hash(first))?;
        (self.first(line) == first).then_some(line)
    }

    pub(super) fn first(&self, line: usize) -> &str {
        let (start, tab, _) = self.lines[line];
        &self.text[start..tab]
    }

    pub(super) fn rest(&self, line: usize) -> &str {
        let (_, tab, stop) = self.lines[line];
        &self.text[tab + 1..stop]
    }
}
