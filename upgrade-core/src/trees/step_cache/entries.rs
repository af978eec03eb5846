//! The entries of a step cache file as read: the file's text, and each
//! line's first path and the rest (byte ranges). The lines are sorted by
//! first path (the cache is written so), and lookups come in about that
//! order: the line after the last one found is tried first, else one binary
//! search. A cache of 100,000 steps is neither copied line by line nor
//! hashed.

use super::magic;

/// The entries of a cache file as read: its text and each line's first
/// path and the rest (byte ranges), strictly sorted by first path.
#[derive(Debug, Default)]
pub(super) struct OldEntries {
    text: String,
    /// Per line: where it starts, where its first path ends (at the tab)
    /// and where it ends.
    pub(super) lines: Vec<(usize, usize, usize)>,
    /// Did this load use the line?
    pub(super) used: Vec<bool>,
}

impl OldEntries {
    /// The entries of a cache file, or `None` when any part of it is not
    /// what this program writes (lines out of order or repeated included).
    pub(super) fn parse(text: String) -> Option<OldEntries> {
        let body_start = text.find('\n')? + 1;
        if text[..body_start - 1] != magic() {
            return None;
        }
        let mut lines: Vec<(usize, usize, usize)> = Vec::new();
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
                if let Some(&(s, t, _)) = lines.last()
                    && text[s..t] >= text[start..tab]
                {
                    return None;
                }
                lines.push((start, tab, stop));
            }
            start = stop + 1;
        }
        if end? != lines.len() {
            return None;
        }
        let used = vec![false; lines.len()];
        Some(OldEntries { text, lines, used })
    }

    /// The line whose first path is `first`: the line at `next` when it is
    /// that one, else searched; `next` moves past the line found.
    pub(super) fn find(&self, first: &str, next: &mut usize) -> Option<usize> {
        let line = match self.lines.get(*next) {
            Some(_) if self.first(*next) == first => *next,
            _ => self
                .lines
                .binary_search_by(|&(start, tab, _)| self.text[start..tab].cmp(first))
                .ok()?,
        };
        *next = line + 1;
        Some(line)
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
