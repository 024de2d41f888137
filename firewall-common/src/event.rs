//! Events: one record per denied packet (and per alert in monitor mode), sent by the XDP
//! program through a ring buffer after a per-CPU token bucket, read by the daemon.

/// What happened to the packet an event describes.
pub mod action {
    /// Dropped.
    pub const DROP: u8 = 0;
    /// Would have been dropped, passed because the conduit or policy is in monitor mode.
    pub const ALERT: u8 = 1;
    /// The TCP connection was reset: the segment became a RST toward its receiver, or (a
    /// segment of a connection reset before) was answered with a RST to its sender.
    pub const RESET: u8 = 2;
    /// A Modbus request was answered with a Modbus exception in the server's name (or,
    /// retransmitted, answered again); the connection stays usable.
    pub const EXCEPTION: u8 = 3;
    /// Every action, in value order.
    pub const ALL: [u8; 4] = [DROP, ALERT, RESET, EXCEPTION];

    /// Stable name in events, `zcfw stats` and metrics.
    pub const fn name(action: u8) -> &'static str {
        match action {
            DROP => "drop",
            ALERT => "alert",
            RESET => "reset",
            EXCEPTION => "exception",
            _ => "unknown",
        }
    }
}

/// Bits of [`Event::detail`] saying which Modbus fields are known.
pub mod detail {
    pub const MODBUS_UNIT: u8 = 1 << 0;
    pub const MODBUS_FUNCTION: u8 = 1 << 1;
    pub const MODBUS_ADDRESS: u8 = 1 << 2;
    /// The packet parsed as IP: addresses, protocol and ports are meaningful.
    pub const IP: u8 = 1 << 3;
}

/// Slots of [`crate::maps::names::EVENT_COUNTERS`] (per CPU, summed by the daemon).
pub mod counter {
    /// Events written to the ring buffer.
    pub const SENT: u32 = 0;
    /// Events suppressed by the per-CPU token bucket (a flood).
    pub const RATE_LIMITED: u32 = 1;
    /// Events lost because the ring buffer was full (the daemon is behind).
    pub const RING_FULL: u32 = 2;
    pub const SLOTS: u32 = 3;
}

/// One event. Written by the XDP program, read by the daemon; `#[repr(C)]`, no implicit
/// padding (ABI shared through the ring buffer).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// `bpf_ktime_get_ns` (CLOCK_MONOTONIC); the daemon converts it to wall-clock time.
    pub timestamp_ns: u64,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub ifindex: u32,
    /// Policy generation in force.
    pub generation: u32,
    pub src_port: u16,
    pub dst_port: u16,
    /// Zones (0 = none/unknown).
    pub src_zone: u16,
    pub dst_zone: u16,
    /// Conduit (0 = default deny, or no conduit involved).
    pub conduit_id: u16,
    /// [`crate::reason::Reason`] as `u8`.
    pub reason: u8,
    /// [`action`].
    pub action: u8,
    /// 4 or 6 (see [`crate::packet::Family`]).
    pub family: u8,
    pub proto: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub modbus_unit: u8,
    pub modbus_function: u8,
    pub modbus_address: u16,
    /// [`detail`] bits.
    pub detail: u8,
    // Padding as scalars: a `[u8; N]` zeroed in the XDP program becomes a memset loop call.
    pub _pad: u8,
    pub _pad2: u16,
    pub _pad3: u32,
    /// Frame length in bytes.
    pub len: u32,
}

const _: () = {
    assert!(core::mem::size_of::<Event>() == 80);
    assert!(core::mem::align_of::<Event>() == 8);
};

#[cfg(feature = "user")]
// SAFETY: #[repr(C)], Copy, integers only, no implicit padding (size asserted above).
unsafe impl aya::Pod for Event {}

// The Modbus bits of an event are the checker's own `denial_known` bits.
const _: () = {
    assert!(detail::MODBUS_UNIT == crate::modbus::denial_known::UNIT);
    assert!(detail::MODBUS_FUNCTION == crate::modbus::denial_known::FUNCTION);
    assert!(detail::MODBUS_ADDRESS == crate::modbus::denial_known::ADDRESS);
};

/// Packs what a Modbus denial knows into the `u32` the XDP program carries between its
/// functions (`unit | function << 8 | address << 16`) and the [`detail`] bits of those fields.
#[inline(always)]
pub const fn pack_modbus(d: &crate::modbus::ModbusDenial) -> (u32, u8) {
    let packed = d.unit as u32 | (d.function as u32) << 8 | (d.address as u32) << 16;
    let known = d.known & (detail::MODBUS_UNIT | detail::MODBUS_FUNCTION | detail::MODBUS_ADDRESS);
    (packed, known)
}
