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

/// Bits of [`Event::detail`] saying which inspection fields are known.
pub mod detail {
    /// [`super::Event::scope`]: the Modbus unit id, the IEC 104 cause of transmission.
    pub const SCOPE: u8 = 1 << 0;
    /// [`super::Event::code`]: the Modbus or DNP3 function code, the IEC 104 type id.
    pub const CODE: u8 = 1 << 1;
    /// [`super::Event::address`]: the Modbus data address, the IEC 104 common address, the
    /// DNP3 destination link address.
    pub const ADDRESS: u8 = 1 << 2;
    /// The packet parsed as IP: addresses, protocol and ports are meaningful.
    pub const IP: u8 = 1 << 3;
}

/// Event classes: each has its own token bucket in the data path
/// ([`crate::maps::names::EVENT_BUCKET`] entry `class`) and its own ring of recent events in
/// the daemon, so a flood of one class cannot crowd out the events of another (a flood of
/// `rate_limited` drops does not hide a Modbus deny). [`of`] says which reason is in which.
pub mod class {
    use crate::reason::Reason;

    /// What a deep-packet inspector denied (every `modbus_*`, `iec104_*`, `dnp3_*` reason, and
    /// their consequences on the stream: `connection_reset`, `stream_out_of_order`).
    pub const INSPECTION: u32 = 0;
    /// What the zone and conduit policy denied (`default_deny`, `unknown_zone`,
    /// `spoofed_source`, `l2_denied`, `malformed_*`, `fragment_no_flow`, `island_mode`,
    /// `no_policy`).
    pub const POLICY: u32 = 1;
    /// What a conduit's rate limit denied (`rate_limited`): a flood by definition.
    pub const FLOOD: u32 = 2;
    /// Number of classes.
    pub const COUNT: u32 = 3;
    /// Every class, in value order.
    pub const ALL: [u32; COUNT as usize] = [INSPECTION, POLICY, FLOOD];

    /// The class of an event about a packet denied (or alerted) for `reason`.
    #[inline(always)]
    pub const fn of(reason: Reason) -> u32 {
        match reason {
            Reason::RateLimited => FLOOD,
            Reason::ConnectionReset | Reason::StreamOutOfOrder => INSPECTION,
            r if r.is_inspection() => INSPECTION,
            _ => POLICY,
        }
    }

    /// Stable name in `zcfw stats`, metrics and docs.
    pub const fn name(class: u32) -> &'static str {
        match class {
            INSPECTION => "inspection",
            POLICY => "policy",
            FLOOD => "flood",
            _ => "unknown",
        }
    }
}

/// Slots of [`crate::maps::names::EVENT_COUNTERS`] (per CPU, summed by the daemon).
pub mod counter {
    /// Events written to the ring buffer.
    pub const SENT: u32 = 0;
    /// Unused since ABI 8 (ABI 7 counted every suppressed event here; they are counted per
    /// class from [`SUPPRESSED`] now).
    pub const UNUSED: u32 = 1;
    /// Events lost because the ring buffer was full (the daemon is behind).
    pub const RING_FULL: u32 = 2;
    /// Events suppressed by the per-CPU token bucket of their class (a flood):
    /// `SUPPRESSED + class` ([`super::class`]).
    pub const SUPPRESSED: u32 = 3;
    pub const SLOTS: u32 = SUPPRESSED + super::class::COUNT;
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
    /// What an inspection deny read (meaningful by [`detail`] bits; the protocol is the
    /// reason's, [`crate::reason::Reason::inspector`]): see [`detail::SCOPE`].
    pub scope: u8,
    /// See [`detail::CODE`].
    pub code: u8,
    /// See [`detail::ADDRESS`].
    pub address: u16,
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
    assert!(detail::SCOPE == crate::modbus::denial_known::UNIT);
    assert!(detail::CODE == crate::modbus::denial_known::FUNCTION);
    assert!(detail::ADDRESS == crate::modbus::denial_known::ADDRESS);
};

/// Packs what a Modbus denial knows into the `u32` the XDP program carries between its
/// functions (`unit | function << 8 | address << 16`) and the [`detail`] bits of those fields.
#[inline(always)]
pub const fn pack_modbus(d: &crate::modbus::ModbusDenial) -> (u32, u8) {
    let packed = d.unit as u32 | (d.function as u32) << 8 | (d.address as u32) << 16;
    let known = d.known & (detail::SCOPE | detail::CODE | detail::ADDRESS);
    (packed, known)
}

/// [`pack_modbus`] for an IEC 104 denial: `cause | type_id << 8 | common_address << 16`.
#[inline(always)]
pub const fn pack_iec104(d: &crate::iec104::Iec104Denial) -> (u32, u8) {
    use crate::iec104::denial_known as k;
    let packed = d.cause as u32 | (d.type_id as u32) << 8 | (d.common_address as u32) << 16;
    let mut known = 0;
    if d.known & k::CAUSE != 0 {
        known |= detail::SCOPE;
    }
    if d.known & k::TYPE_ID != 0 {
        known |= detail::CODE;
    }
    if d.known & k::COMMON_ADDRESS != 0 {
        known |= detail::ADDRESS;
    }
    (packed, known)
}

/// [`pack_modbus`] for a DNP3 denial: `function << 8 | destination << 16`.
#[inline(always)]
pub const fn pack_dnp3(d: &crate::dnp3::Dnp3Denial) -> (u32, u8) {
    use crate::dnp3::denial_known as k;
    let packed = (d.function as u32) << 8 | (d.address as u32) << 16;
    let mut known = 0;
    if d.known & k::FUNCTION != 0 {
        known |= detail::CODE;
    }
    if d.known & k::ADDRESS != 0 {
        known |= detail::ADDRESS;
    }
    (packed, known)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Reason;

    #[test]
    fn every_deny_reason_has_one_documented_class() {
        for r in Reason::ALL {
            let c = class::of(r);
            assert!(class::ALL.contains(&c), "{r:?}");
            assert_ne!(class::name(c), "unknown");
            let expected = if r == Reason::RateLimited {
                class::FLOOD
            } else if r.is_inspection()
                || matches!(r, Reason::ConnectionReset | Reason::StreamOutOfOrder)
            {
                class::INSPECTION
            } else {
                class::POLICY
            };
            assert_eq!(c, expected, "{r:?}");
        }
        assert_eq!(class::of(Reason::ModbusFunction), class::INSPECTION);
        assert_eq!(class::of(Reason::Dnp3Crc), class::INSPECTION);
        assert_eq!(class::of(Reason::DefaultDeny), class::POLICY);
        assert_eq!(class::of(Reason::IslandMode), class::POLICY);
        assert_eq!(class::of(Reason::RateLimited), class::FLOOD);
        // One suppressed slot per class, after the fixed ones.
        assert_eq!(counter::SLOTS, counter::SUPPRESSED + class::COUNT);
    }

    #[test]
    fn iec104_and_dnp3_details_land_in_the_generic_fields() {
        let mut d = crate::iec104::Iec104Denial::new(crate::iec104::Iec104Violation::TypeId);
        d.known =
            crate::iec104::denial_known::TYPE_ID | crate::iec104::denial_known::COMMON_ADDRESS;
        d.type_id = 45;
        d.cause = 6;
        d.common_address = 0x1234;
        assert_eq!(
            pack_iec104(&d),
            (6 | 45 << 8 | 0x1234 << 16, detail::CODE | detail::ADDRESS)
        );
        let mut d = crate::dnp3::Dnp3Denial::new(crate::dnp3::Dnp3Violation::Function);
        d.known = crate::dnp3::denial_known::FUNCTION;
        d.function = 13;
        d.address = 10;
        assert_eq!(pack_dnp3(&d), (13 << 8 | 10 << 16, detail::CODE));
    }
}
