//! Denied frames copied for `zcfw capture`: `tcpdump` never sees what XDP drops, so the
//! programs copy the first [`SNAPLEN`] bytes of each denied (or alerted) frame into a ring
//! buffer of their own ([`crate::maps::names::CAPTURE`]) while a capture client is connected
//! ([`crate::maps::control_flags::CAPTURE`], set by the daemon). With no client the cost is
//! one flag test per denied frame.
//!
//! Bounds: at most [`PPS`] frames per second per CPU (a per-CPU token bucket,
//! [`crate::maps::names::CAPTURE_BUCKET`]), at most [`RING_BYTES`] waiting for the daemon;
//! frames beyond either are counted ([`counter`]), not captured.

/// Bytes of a frame copied at most (a power of two: the copy length is masked with it).
pub const SNAPLEN: u32 = 256;

/// Frames each CPU may copy per second (its burst is the same number).
pub const PPS: u32 = 2_000;

/// Bytes of the capture ring buffer (a power of two, a multiple of the page size): about
/// 900 frames.
pub const RING_BYTES: u32 = 1 << 18;

/// Per-CPU `u64` counters of the capture path ([`crate::maps::names::CAPTURE_COUNTERS`]).
pub mod counter {
    /// Frames written to the ring buffer.
    pub const SENT: u32 = 0;
    /// Frames not copied because this CPU's bucket was empty (a flood).
    pub const RATE_LIMITED: u32 = 1;
    /// Frames lost because the ring buffer was full (the daemon is behind).
    pub const RING_FULL: u32 = 2;
    pub const SLOTS: u32 = 3;
}

/// One captured frame. Written by the XDP programs, read by the daemon; `#[repr(C)]`, no
/// implicit padding.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// `bpf_ktime_get_ns` (CLOCK_MONOTONIC); the daemon converts it to wall-clock time.
    pub timestamp_ns: u64,
    /// `ingress_ifindex` of the frame.
    pub ifindex: u32,
    /// Length of the frame on the wire.
    pub len: u32,
    /// Bytes of [`Self::data`] copied: `min(len, SNAPLEN)`.
    pub caplen: u32,
    /// Policy generation in force.
    pub generation: u32,
    /// [`crate::decision::Decision`] bits 0-31 (pass, reason, conduit, monitor, alert, resets,
    /// exception): the reason, conduit and action of the frame.
    pub decision: u32,
    pub _pad: u32,
    pub data: [u8; SNAPLEN as usize],
}

impl Default for Frame {
    fn default() -> Self {
        Frame {
            timestamp_ns: 0,
            ifindex: 0,
            len: 0,
            caplen: 0,
            generation: 0,
            decision: 0,
            _pad: 0,
            data: [0; SNAPLEN as usize],
        }
    }
}

/// Offset of [`Frame::data`] in a frame.
pub const DATA_OFFSET: usize = 32;

/// The copy length for a frame of `len` bytes, in `1..=SNAPLEN` by construction (the verifier
/// sees the mask): `min(len, SNAPLEN)` for frames of at least one byte.
#[inline(always)]
pub const fn copy_len(len: u32) -> u32 {
    let n = if len < SNAPLEN { len } else { SNAPLEN };
    (n.wrapping_sub(1) & (SNAPLEN - 1)) + 1
}

const _: () = {
    assert!(SNAPLEN.is_power_of_two());
    assert!(core::mem::size_of::<Frame>() == DATA_OFFSET + SNAPLEN as usize);
    assert!(core::mem::offset_of!(Frame, data) == DATA_OFFSET);
    assert!(core::mem::align_of::<Frame>() == 8);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_len_is_the_frame_up_to_the_snaplen() {
        assert_eq!(copy_len(1), 1);
        assert_eq!(copy_len(60), 60);
        assert_eq!(copy_len(SNAPLEN), SNAPLEN);
        assert_eq!(copy_len(SNAPLEN + 1), SNAPLEN);
        assert_eq!(copy_len(1514), SNAPLEN);
        assert_eq!(copy_len(9000), SNAPLEN);
        // No frame is empty; an impossible 0 stays in bounds (the copy then fails).
        assert!((1..=SNAPLEN).contains(&copy_len(0)));
    }
}
