//! What the stream targets (iec104, s7comm, enip, opcua) share: how a fuzz input cuts a stream
//! into segments, and the one-byte corruption they may apply.

/// Where the segments of a `len`-byte stream end: one segment per cut byte (its value, at
/// least 1 and at most `max` bytes), then the rest in pieces of at most `max` bytes. Every
/// end is at most `len`; the last is `len` (unless `len` is 0).
pub fn segment_ends(cut_bytes: &[u8], len: usize, max: usize) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut end = 0;
    for cut in cut_bytes.iter().map(|b| usize::from(*b).clamp(1, max)) {
        end = (end + cut).min(len);
        ends.push(end);
    }
    while end < len {
        end = (end + max).min(len);
        ends.push(end);
    }
    ends
}

/// Flips the bits `mask | 1` of one byte of `stream`, chosen by `at * stride`.
pub fn corrupt(stream: &mut [u8], at: u8, mask: u8, stride: usize) {
    if !stream.is_empty() {
        let i = usize::from(at) * stride % stream.len();
        stream[i] ^= mask | 1;
    }
}
