//! Numbers that order as texts do: the first eight bytes of a text,
//! big-endian and zero-padded. One sort of such numbers decides most places
//! of a sort of texts, and only equal numbers need their texts compared
//! (the plan order of 100,000 steps, ledger rows read in storage order).

/// The first eight bytes of `bytes` as a big-endian number, zero-padded: a
/// smaller number is a smaller text; equal numbers say nothing.
pub fn head(bytes: &[u8]) -> u64 {
    let mut head = [0u8; 8];
    let n = bytes.len().min(8);
    head[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(head)
}
