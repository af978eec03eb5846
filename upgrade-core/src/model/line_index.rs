//! Byte offset → line number in one file: the offsets where lines start,
//! computed once per file (one scan), then a binary search per lookup, so
//! naming the line of every entry of a large file stays linear; and
//! counting line ends ([`count_newlines`]) for readers that move forward.

use crate::model::op_count::tick;

/// The sorted offsets where the lines of a text start.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    /// Scans `text` once.
    pub fn new(text: &str) -> Self {
        tick(text.len());
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex {
            starts,
            len: text.len(),
        }
    }

    /// The 1-based line of byte `offset` (offsets past the end count as the end).
    pub fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.len);
        // Number of line starts at or before `offset`.
        let found = self.starts.partition_point(|&s| s <= offset);
        tick(usize::BITS as usize - self.starts.len().leading_zeros() as usize);
        found.max(1)
    }

    /// The byte offset where 1-based `line` starts (`None` past the last line).
    pub fn start_of(&self, line: usize) -> Option<usize> {
        self.starts.get(line.checked_sub(1)?).copied()
    }
}

/// How many `\n` bytes `bytes` holds, 64 at a time (the compiler turns
/// each block into a few vector instructions).
pub fn count_newlines(bytes: &[u8]) -> usize {
    let mut blocks = bytes.chunks_exact(64);
    let mut n = 0;
    for block in &mut blocks {
        n += usize::from(block.iter().map(|&b| u8::from(b == b'\n')).sum::<u8>());
    }
    n + blocks.remainder().iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tree_error::line_of;

    #[test]
    fn agrees_with_counting_newlines() {
        for text in ["", "a", "a\n", "a\nb", "\n\n\nx\n", "ab\ncd\n\nef"] {
            let index = LineIndex::new(text);
            for offset in 0..=text.len() + 2 {
                assert_eq!(
                    index.line_of(offset),
                    line_of(text, offset),
                    "{text:?} at {offset}"
                );
            }
        }
        let index = LineIndex::new("ab\ncd\n");
        assert_eq!(index.start_of(1), Some(0));
        assert_eq!(index.start_of(2), Some(3));
        assert_eq!(index.start_of(3), Some(6));
        assert_eq!(index.start_of(4), None);
        assert_eq!(index.start_of(0), None);
    }

    #[test]
    fn counts_line_ends_across_blocks() {
        // Every length around the 64-byte blocks, line ends at every spacing.
        for len in 0..200 {
            for every in 1..8 {
                let bytes: Vec<u8> = (0..len)
                    .map(|i| if i % every == 0 { b'\n' } else { b'x' })
                    .collect();
                let plain = bytes.iter().filter(|&&b| b == b'\n').count();
                assert_eq!(count_newlines(&bytes), plain, "{len} bytes, every {every}");
            }
        }
    }
}
