//! Names, keys and values of every map shared by the XDP program and the daemon.
//!
//! Policy maps hold two generations side by side, told apart by a `slot` (0 or 1) inside each
//! key. The daemon fills the inactive slot completely, then flips [`Control::active_slot`]
//! with one aligned 32-bit write; a packet sees the old policy or the new one, never a mix.

/// Map names, as the daemon finds them in the loaded object.
pub mod names {
    /// Array, one `u32` entry: the [`crate::ABI_VERSION`] of the build that created the
    /// pinned maps, written by the daemon right after it creates them (0 until then). A map of
    /// its own whose layout never changes, so any build can tell the layout of pins it finds
    /// without knowing the other maps' layouts (`dataplane/upgrade.rs`). Sets pinned before
    /// version 6 lack it; their version is the first field of their `CONTROL`.
    pub const ABI: &str = "ABI";
    /// [`super::Control`], one entry: active slot, island mode, ABI version.
    pub const CONTROL: &str = "CONTROL";
    /// [`super::SlotConfig`], one entry per slot.
    pub const SLOT_CONFIG: &str = "SLOT_CONFIG";
    /// Array of `u64` words: the IPv4 zone table of both slots ([`crate::zonetable`]).
    pub const ZONE_TABLE_V4: &str = "ZONE_TABLE_V4";
    /// IPv6 LPM trie: [`super::ZoneV6Key`] → [`super::ZoneMatch`].
    pub const ZONES_V6: &str = "ZONES_V6";
    /// Hash: [`super::ZonePairKey`] → [`super::ZonePairLevels`] (every pair with conduits; the
    /// data path reads it only for zone ids of at least [`crate::conduit::DENSE_ZONES`]).
    pub const ZONE_PAIRS: &str = "ZONE_PAIRS";
    /// Array of `u64` words: the level masks of the pairs of zone ids below
    /// [`crate::conduit::DENSE_ZONES`], both slots ([`crate::conduit::pair_mask_at`]).
    pub const PAIR_MASKS: &str = "PAIR_MASKS";
    /// Array of [`crate::conduittable::ConduitBucket`]s: the conduit entries of both slots, a
    /// cuckoo hash table read inline ([`crate::conduittable`]).
    pub const CONDUIT_TABLE: &str = "CONDUIT_TABLE";
    /// Array of `u64` words: a one-hash Bloom filter of the keys of [`CONDUIT_TABLE`] in each
    /// slot ([`crate::conduit::filter_at`]); a key whose bit is clear is not looked up.
    pub const CONDUIT_FILTER: &str = "CONDUIT_FILTER";
    /// Array: [`super::iface_index`]`(slot, ifindex)` → [`super::IfacePolicy`].
    pub const IFACES: &str = "IFACES";
    /// Hash: [`super::IfaceZoneKey`] → `u32` (1 = zone may arrive on that interface).
    pub const IFACE_ZONES: &str = "IFACE_ZONES";
    /// Hash: [`super::L2Key`] → `u32` (1 = ethertype allowed).
    pub const L2_ALLOW: &str = "L2_ALLOW";
    /// LRU hash: [`crate::flow::FlowKey`] → [`crate::flow::FlowState`] (conntrack).
    pub const FLOWS: &str = "FLOWS";
    /// LRU hash: [`crate::flow::FlowKey`] → [`crate::flow::StreamState`]: the stream position of
    /// flows whose inspector has a program of its own (IEC 104, DNP3), beside their [`FLOWS`]
    /// entry.
    pub const STREAMS: &str = "STREAMS";
    /// LRU hash: [`crate::flow::FragKey`] → [`crate::flow::FragState`] (allowed first fragments).
    pub const FRAGS: &str = "FRAGS";
    /// Per-CPU array of [`super::Counter`] indexed by [`crate::reason::Reason`].
    pub const REASON_COUNTERS: &str = "REASON_COUNTERS";
    /// Per-CPU array of [`super::Counter`] indexed by conduit id.
    pub const CONDUIT_COUNTERS: &str = "CONDUIT_COUNTERS";
    /// Per-CPU array of [`super::Counter`]: denies of inspected conduits by reason, indexed by
    /// [`super::conduit_reason_index`].
    pub const CONDUIT_DENY_COUNTERS: &str = "CONDUIT_DENY_COUNTERS";
    /// Array of [`crate::modbus::ModbusProfile`] indexed by [`super::profile_index`].
    pub const MODBUS_PROFILES: &str = "MODBUS_PROFILES";
    /// Array of [`crate::iec104::Iec104Profile`] indexed by [`super::profile_index`].
    pub const IEC104_PROFILES: &str = "IEC104_PROFILES";
    /// Array of [`crate::dnp3::Dnp3Profile`] indexed by [`super::profile_index`].
    pub const DNP3_PROFILES: &str = "DNP3_PROFILES";
    /// Array of [`crate::s7comm::S7Profile`] indexed by [`super::profile_index`].
    pub const S7COMM_PROFILES: &str = "S7COMM_PROFILES";
    /// Array of [`crate::enip::EnipProfile`] indexed by [`super::profile_index`].
    pub const ENIP_PROFILES: &str = "ENIP_PROFILES";
    /// Array of [`crate::opcua::OpcuaProfile`] indexed by [`super::profile_index`].
    pub const OPCUA_PROFILES: &str = "OPCUA_PROFILES";
    /// Array of [`crate::bacnet::BacnetProfile`] indexed by [`super::profile_index`].
    pub const BACNET_PROFILES: &str = "BACNET_PROFILES";
    /// Program array: [`super::inspector`] id → the XDP program that inspects a segment of
    /// that protocol (tail call from the main program; Modbus is inspected inline).
    pub const INSPECTORS: &str = "INSPECTORS";
    /// Array of [`super::RateLimit`] indexed by [`super::rate_limit_index`].
    pub const RATE_LIMITS: &str = "RATE_LIMITS";
    /// LRU hash: [`super::BucketKey`] → [`super::Bucket`] (per-source token buckets).
    pub const BUCKETS: &str = "BUCKETS";

    /// Per-CPU array of [`super::Counter`]: passed and dropped per ingress interface, indexed
    /// by [`super::iface_counter_index`].
    pub const IFACE_COUNTERS: &str = "IFACE_COUNTERS";
    /// Ring buffer of [`crate::event::Event`]s.
    pub const EVENTS: &str = "EVENTS";
    /// Per-CPU [`super::EventBucket`] (one entry) limiting events per CPU.
    pub const EVENT_BUCKET: &str = "EVENT_BUCKET";
    /// Per-CPU `u64` counters of the event path ([`crate::event::counter`]).
    pub const EVENT_COUNTERS: &str = "EVENT_COUNTERS";

    /// Per-CPU scratch space of the XDP program (one [`crate::packet::Packet`]); never pinned.
    pub const SCRATCH: &str = "SCRATCH";
    /// Per-CPU [`crate::stream::Payload`] (one entry): the payload an inspector program walks;
    /// never pinned.
    pub const PAYLOAD: &str = "PAYLOAD";
    /// Per-CPU [`crate::flow::StreamState`] (one entry) never written: the all-zero state a new
    /// [`STREAMS`] entry is inserted from (a value too large for the program's stack); never
    /// pinned.
    pub const STREAM_START: &str = "STREAM_START";
    /// Per-CPU [`super::Handoff`] (one entry): what the main program tells the inspector it
    /// tail-calls; never pinned.
    pub const HANDOFF: &str = "HANDOFF";
    /// Per-CPU `u64` (one entry): the allow decision the main program hands to the fast-path
    /// forwarder it tail-calls ([`crate::forward`]); never pinned.
    pub const FORWARD_HANDOFF: &str = "FORWARD_HANDOFF";

    /// Program array, one entry: the fast-path forwarder `zcfw_forward` ([`crate::forward`]),
    /// tail-called by the main program for an allowed packet of a tracked flow arriving on a
    /// `fast_path` interface.
    pub const FORWARDER: &str = "FORWARDER";
    /// Devmap hash: ifindex → ifindex, the interfaces the fast path may redirect to (every
    /// interface zcfw is attached to).
    pub const FORWARD_PORTS: &str = "FORWARD_PORTS";
    /// Per-CPU hash: ifindex → [`crate::forward::FastPathCounters`] of a `fast_path`
    /// interface (entries written by the daemon).
    pub const FAST_PATH_COUNTERS: &str = "FAST_PATH_COUNTERS";
    /// Hash: ifindex → [`crate::forward::BridgePort`], the bridge ports the fast path may
    /// forward from and to (bridge mode, written by the daemon).
    pub const BRIDGE_PORTS: &str = "BRIDGE_PORTS";
    /// Hash: [`crate::forward::FdbKey`] → port ifindex (`u32`): the daemon's mirror of the
    /// bridges' forwarding databases (learned and static entries on [`BRIDGE_PORTS`]).
    pub const BRIDGE_FDB: &str = "BRIDGE_FDB";
    /// Array, one [`crate::forward::BridgeSync`]: when the daemon last refreshed the mirror.
    pub const BRIDGE_SYNC: &str = "BRIDGE_SYNC";

    /// Per-CPU array of [`super::Counter`] indexed by rule id
    /// ([`super::ConduitAction::rule_id`]): packets the conduit lookup matched to each rule.
    pub const RULE_COUNTERS: &str = "RULE_COUNTERS";
    /// Ring buffer of [`crate::capture::Frame`]s: denied frames for `zcfw capture`.
    pub const CAPTURE: &str = "CAPTURE";
    /// Per-CPU [`super::EventBucket`] (one entry) limiting captured frames per CPU.
    pub const CAPTURE_BUCKET: &str = "CAPTURE_BUCKET";
    /// Per-CPU `u64` counters of the capture path ([`crate::capture::counter`]).
    pub const CAPTURE_COUNTERS: &str = "CAPTURE_COUNTERS";

    /// LRU hash [`crate::learn::LearnKey`] → [`crate::learn::LearnValue`]: what crosses each
    /// zone pair while learning is on ([`super::control_flags::LEARN`]).
    pub const LEARN: &str = "LEARN";
    /// LRU hash [`crate::learn::HostKey`] → [`crate::learn::HostValue`]: addresses in no
    /// zone seen while learning is on.
    pub const LEARN_HOSTS: &str = "LEARN_HOSTS";

    /// Every map of the XDP program the daemon pins and adopts: a restart keeps them, and a
    /// map missing here would silently start empty after a restart (a test in
    /// firewall-daemon compares this list with the maps of the embedded object).
    pub const ALL: [&str; 44] = [
        ABI,
        CONTROL,
        SLOT_CONFIG,
        ZONE_TABLE_V4,
        ZONES_V6,
        ZONE_PAIRS,
        PAIR_MASKS,
        CONDUIT_TABLE,
        CONDUIT_FILTER,
        IFACES,
        IFACE_ZONES,
        L2_ALLOW,
        FLOWS,
        STREAMS,
        FRAGS,
        REASON_COUNTERS,
        CONDUIT_COUNTERS,
        CONDUIT_DENY_COUNTERS,
        MODBUS_PROFILES,
        IEC104_PROFILES,
        DNP3_PROFILES,
        S7COMM_PROFILES,
        ENIP_PROFILES,
        OPCUA_PROFILES,
        BACNET_PROFILES,
        INSPECTORS,
        RATE_LIMITS,
        BUCKETS,
        EVENTS,
        EVENT_BUCKET,
        EVENT_COUNTERS,
        IFACE_COUNTERS,
        RULE_COUNTERS,
        CAPTURE,
        CAPTURE_BUCKET,
        CAPTURE_COUNTERS,
        FORWARDER,
        FORWARD_PORTS,
        FAST_PATH_COUNTERS,
        BRIDGE_PORTS,
        BRIDGE_FDB,
        BRIDGE_SYNC,
        LEARN,
        LEARN_HOSTS,
    ];

    /// The maps of the object that are deliberately not pinned: [`SCRATCH`] holds nothing
    /// between packets, and the `BENCH_*` maps belong to the benchmark programs, which the
    /// daemon never attaches.
    pub const NOT_PINNED: [&str; 9] = [
        SCRATCH,
        PAYLOAD,
        HANDOFF,
        FORWARD_HANDOFF,
        STREAM_START,
        "BENCH_TX",
        "BENCH_HEAD",
        "BENCH_PACKETS",
        "BENCH_LRU",
    ];
}

/// Capacity of every map, shared so the compiler can refuse a policy that would not fit.
pub mod capacity {
    /// Zone networks per slot and family (IPv4 networks must also fit the blocks of
    /// [`crate::zonetable`]; the IPv6 trie holds both slots).
    pub const ZONE_NETWORKS: u32 = 16_384;
    /// Zone pairs with at least one conduit rule, both slots together: a conduit joins one
    /// pair, so two slots of [`MAX_CONDUITS`] conduits fit.
    pub const ZONE_PAIRS: u32 = 32_768;
    /// Conduit lookup entries, both slots together.
    pub const CONDUIT_ENTRIES: u32 = 262_144;
    /// Conduits per policy; conduit ids are `1..=MAX_CONDUITS` (0 = default/none).
    pub const MAX_CONDUITS: u32 = 16_383;
    /// Zones per policy; zone ids are `1..=MAX_ZONES` (0 = no zone).
    pub const MAX_ZONES: u32 = 4_096;
    /// Interfaces (both slots).
    pub const IFACES: u32 = 512;
    /// Interface indexes the data path can hold a policy for are `< MAX_IFINDEX` (the
    /// per-interface policy is an array indexed by ifindex, one lookup without hashing).
    pub const MAX_IFINDEX: u32 = 16_384;
    /// Interface/zone pairs (both slots).
    pub const IFACE_ZONES: u32 = 8_192;
    /// Allowed non-IP ethertypes (both slots).
    pub const L2_ALLOW: u32 = 256;
    /// Inspection profiles per slot; profile ids are `1..MAX_PROFILES` (0 = no inspection).
    pub const MAX_PROFILES: u32 = 1_024;
    /// Tracked flows (LRU: the least recently used flow is evicted when full). 131,072
    /// concurrent connections is several times what an OT zone boundary carries, and at about
    /// 128 bytes of kernel memory each (key, state and the kernel's element) the table is
    /// 16 MiB, preallocated.
    pub const FLOWS: u32 = 131_072;
    /// Stream positions of inspected TCP flows (LRU, about 280 bytes each in the kernel):
    /// a gateway's SCADA connections are a few hundred; an evicted position is picked up again
    /// as a flow seen mid-stream.
    pub const STREAMS: u32 = 16_384;
    /// Conduit rules per policy; rule ids are `1..=MAX_RULES` (0 = none), numbered in file
    /// order across conduits, and index [`super::names::RULE_COUNTERS`].
    pub const MAX_RULES: u32 = 65_535;
    /// Bytes of the event ring buffer (a power of two, a multiple of the page size).
    pub const EVENT_RING_BYTES: u32 = 1 << 20;
    /// Per-source token buckets of rate-limited conduits (LRU; an evicted source starts again
    /// with a full bucket).
    pub const BUCKETS: u32 = 16_384;
    /// Tracked fragmented datagrams (LRU): first fragments whose later fragments are still
    /// to come; fragmented industrial traffic is rare.
    pub const FRAGS: u32 = 8_192;
    /// Interfaces with fast-path counters, and forwarding targets of the fast path (the
    /// interfaces of one policy).
    pub const FAST_PATH_IFACES: u32 = IFACES / 2;
    /// MAC addresses in the mirror of the bridges' forwarding databases (the kernel's
    /// default limit per bridge is unlimited; a plant cell has tens to hundreds).
    pub const BRIDGE_FDB: u32 = 16_384;
    /// Learning-mode aggregates (LRU, about 100 bytes each in the kernel): zone pairs ×
    /// services × Modbus units and functions of a plant are a few hundred; a flood of random
    /// ports evicts the oldest instead of growing.
    pub const LEARN: u32 = 8_192;
    /// Addresses in no zone seen while learning (LRU).
    pub const LEARN_HOSTS: u32 = 4_096;
}

/// Flag bits of [`Control::flags`].
pub mod control_flags {
    /// Island mode: deny everything that crosses a zone boundary (SR 5.2 RE2).
    pub const ISLAND: u32 = 1 << 0;
    /// A `zcfw capture` client is connected: denied frames are copied to the capture ring
    /// ([`crate::capture`]). Bits 2-7 are left for other flags.
    pub const CAPTURE: u32 = 1 << 8;
    /// Learning mode: every decided IP packet is summarised into the `LEARN` maps
    /// ([`crate::learn`]). Off, the data path writes nothing for it.
    pub const LEARN: u32 = 1 << 1;
}

/// Global switch read first by every packet. Written by the daemon only.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Control {
    /// Must equal [`crate::ABI_VERSION`]; otherwise every packet is dropped as `no_policy`.
    pub abi_version: u32,
    /// Slot (0 or 1) of the policy generation in force.
    pub active_slot: u32,
    /// [`control_flags`].
    pub flags: u32,
    /// Events each CPU may send per second (its burst is the same number); 0 = no events.
    pub event_pps: u32,
}

/// Flag bits of [`SlotConfig::flags`].
pub mod slot_flags {
    /// The slot holds a complete policy.
    pub const LOADED: u32 = 1 << 0;
    /// Pass IPv6 neighbour discovery (ICMPv6 133-137).
    pub const ALLOW_ND: u32 = 1 << 1;
    /// Send an event for every denied packet (`defaults.log: denied` or `all`).
    pub const LOG_DENIED: u32 = 1 << 2;
    /// Policy-wide monitor mode (`defaults.mode: monitor`): would-be denies pass as alerts.
    pub const MONITOR: u32 = 1 << 3;
}

/// Per-slot settings of one policy generation. Written by the daemon before it flips
/// [`Control::active_slot`] to this slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotConfig {
    /// Monotonic policy generation; conntrack entries of another generation are re-judged.
    pub generation: u32,
    /// [`slot_flags`].
    pub flags: u32,
}

/// Key of the IPv6 zone trie: `[slot, addr[0..16]]`; prefix length 8 + network prefix.
pub type ZoneV6Key = [u8; 17];

/// Flag bits of [`ZoneMatch::flags`].
pub mod zone_flags {
    /// `intra_zone: allow`: traffic between two hosts of this zone passes.
    pub const INTRA_ALLOW: u16 = 1 << 0;
}

/// What the zone tries return for an address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneMatch {
    /// Zone id, `1..=MAX_ZONES`.
    pub zone_id: u16,
    /// [`zone_flags`].
    pub flags: u16,
}

/// Key of [`names::ZONE_PAIRS`]: a (source zone, destination zone) pair in one slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZonePairKey {
    pub slot: u16,
    pub src_zone: u16,
    pub dst_zone: u16,
    pub _pad: u16,
}

/// Which conduit lookup levels hold entries for a zone pair (bit `1 << level`), so a packet
/// of a pair with no conduit costs one lookup and others only the levels that exist.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZonePairLevels {
    pub level_mask: u32,
}

/// A conduit lookup key, stored packed in [`names::CONDUIT_TABLE`]
/// ([`crate::conduittable::pack`]). See [`crate::conduit`] for how (protocol, port) points are
/// split into levels so that any rule set is found with at most four exact-match lookups.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConduitKey {
    pub slot: u8,
    /// [`crate::conduit::Level`] as `u8`.
    pub level: u8,
    /// IP protocol number (0 at level `AnyProtocol`).
    pub proto: u8,
    pub _pad: u8,
    pub src_zone: u16,
    pub dst_zone: u16,
    /// Port (TCP/UDP destination port; ICMP `type << 8 | code`), shifted for the level.
    pub value: u16,
    pub _pad2: u16,
}

/// Flag bits of [`ConduitAction::flags`].
pub mod action_flags {
    /// Would-be denies of this conduit's inspection are counted, not dropped.
    pub const MONITOR: u8 = 1 << 0;
    /// Log allowed packets too (`log: all`).
    pub const LOG_ALL: u8 = 1 << 1;
    /// The conduit has a `rate_limit` ([`super::names::RATE_LIMITS`]).
    pub const RATE_LIMIT: u8 = 1 << 2;
    /// `on_violation: reset`: a TCP segment the conduit's inspection denies becomes a RST
    /// toward the server and the connection is reset ([`crate::reset`]); without it the
    /// segment is dropped.
    pub const RESET_ON_VIOLATION: u8 = 1 << 3;
    /// `on_violation: exception`: a Modbus request the conduit's inspection denies is
    /// answered with a Modbus exception ([`crate::exception`]); a deny no exception fits
    /// resets the connection (set together with [`RESET_ON_VIOLATION`]).
    pub const EXCEPTION_ON_VIOLATION: u8 = 1 << 4;
}

/// What a conduit lookup hit means: the conduit that allows the packet.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConduitAction {
    /// Conduit id, `1..=MAX_CONDUITS`; indexes [`names::CONDUIT_COUNTERS`].
    pub conduit_id: u16,
    /// Inspection profile id (0 = none), an index into the profile map of [`Self::inspector`].
    pub profile_id: u16,
    /// [`action_flags`].
    pub flags: u8,
    /// [`inspector`] id of the protocol the rule inspects ([`inspector::NONE`] = none).
    pub inspector: u8,
    /// The rule that allows the packet, `1..=capacity::MAX_RULES`; indexes
    /// [`names::RULE_COUNTERS`].
    pub rule_id: u16,
}

/// Which deep inspection a rule asks for: [`ConduitAction::inspector`],
/// [`crate::flow::FlowState::inspector`], and the index of a protocol's program in
/// [`names::INSPECTORS`]. Profile ids are numbered per protocol.
pub mod inspector {
    /// No deep inspection.
    pub const NONE: u8 = 0;
    /// Modbus/TCP: whole ADUs in order judged by the main program, the rest walked by the
    /// program `zcfw_modbus` ([`crate::stream::fast`]).
    pub const MODBUS: u8 = 1;
    /// IEC 60870-5-104: one whole APDU in order judged by the main program, the rest walked
    /// by the program `zcfw_iec104`.
    pub const IEC104: u8 = 2;
    /// DNP3 over TCP (program `zcfw_dnp3`).
    pub const DNP3: u8 = 3;
    /// S7comm over ISO-on-TCP (program `zcfw_s7comm`).
    pub const S7COMM: u8 = 4;
    /// EtherNet/IP with CIP over TCP (program `zcfw_enip`).
    pub const ENIP: u8 = 5;
    /// OPC UA binary over TCP (program `zcfw_opcua`).
    pub const OPCUA: u8 = 6;
    /// BACnet/IP over UDP (program `zcfw_bacnet`): every datagram judged whole, no stream
    /// position.
    pub const BACNET: u8 = 7;
    /// Entries of [`super::names::INSPECTORS`].
    pub const SLOTS: u32 = 8;
    /// The tail-called inspector programs, by id: (id, program name).
    pub const PROGRAMS: [(u8, &str); 7] = [
        (MODBUS, "zcfw_modbus"),
        (IEC104, "zcfw_iec104"),
        (DNP3, "zcfw_dnp3"),
        (S7COMM, "zcfw_s7comm"),
        (ENIP, "zcfw_enip"),
        (OPCUA, "zcfw_opcua"),
        (BACNET, "zcfw_bacnet"),
    ];

    /// The session bits of a flow of `id` picked up mid-stream (opened before zcfw tracked
    /// it, or evicted): its handshake was not seen, so it is taken as done (IEC 104: STARTDT
    /// confirmed). A peer that never did it drops the connection by itself.
    pub const fn session_at_pickup(id: u8) -> u8 {
        match id {
            IEC104 => crate::iec104::session::STARTED,
            // The session was registered before zcfw saw the flow.
            ENIP => crate::enip::session::REGISTERED,
            // Hello and OpenSecureChannel came before; the policy is not known.
            OPCUA => crate::opcua::session::PICKED_UP,
            _ => 0,
        }
    }

    /// The protocol's policy name.
    pub const fn name(id: u8) -> &'static str {
        match id {
            MODBUS => "modbus",
            IEC104 => "iec104",
            DNP3 => "dnp3",
            S7COMM => "s7comm",
            ENIP => "enip",
            OPCUA => "opcua",
            BACNET => "bacnet",
            _ => "none",
        }
    }
}

/// What the main program hands to the inspector program it tail-calls (per-CPU, written just
/// before the call; the parsed packet is in [`names::SCRATCH`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Handoff {
    /// The policy slot the main program judged with.
    pub slot: u8,
    /// The segment comes from the endpoint that opened the flow.
    pub from_opener: u8,
    /// The [`crate::reason::Reason`] an allowed segment is counted under (a tracked flow's
    /// segment or a new flow's).
    pub allowed: u8,
    pub _pad: u8,
    /// `ingress_ifindex` of the frame.
    pub ifindex: u32,
    /// A walk an inspector program runs under `bpf_loop` one PDU per iteration (Modbus):
    /// where it stands (the next PDU's offset in the payload copy), its cursor, and how it
    /// ended ([`walk_state`], the denial's bytes as the protocol lays them out), with what
    /// it reads: the end of the payload copy and the profile (index + 1 in the protocol's
    /// profile map, 0 for the server's direction). All of it in the map value, not in the
    /// loop's context on the stack (the context is null): the verifier then carries nothing
    /// from one iteration to the next, every iteration starts from the same state and the
    /// loop's verification converges, and the walking function's stack frame stays small.
    pub walk_at: u32,
    pub walk_profile: u32,
    pub walk: crate::stream::StreamCursor,
    pub walk_state: u8,
    /// The session bits of the flow as the walk leaves them (EtherNet/IP).
    pub walk_bits: u8,
    pub walk_end: u16,
    pub walk_denial: [u8; 12],
    pub _walk_pad: u16,
    /// A walk whose step runs in parts (EtherNet/IP, which walks the byte at `walk_at`): what
    /// a part leaves for the next ones of the same byte, and the part to run next.
    pub walk_pending: u8,
    pub walk_part: u8,
    /// EtherNet/IP: the flow's open connections as the walk leaves them
    /// ([`crate::flow::StreamState::enip`]).
    pub walk_conns: crate::enip::EnipConnections,
}

const _: () = assert!(core::mem::size_of::<Handoff>() == 92);

/// [`Handoff::walk_state`].
pub mod walk_state {
    /// The walk goes on.
    pub const WALKING: u8 = 0;
    /// The segment is walked to its end.
    pub const DONE: u8 = 1;
    /// A denial stopped it ([`super::Handoff::walk_denial`]).
    pub const DENIED: u8 = 2;
}

/// Index of an interface's [`IfacePolicy`] in [`names::IFACES`]; `ifindex` must be below
/// [`capacity::MAX_IFINDEX`].
#[inline(always)]
pub const fn iface_index(slot: u8, ifindex: u32) -> u32 {
    (slot as u32 & 1) * capacity::MAX_IFINDEX + ifindex
}

/// Flag bits of [`IfacePolicy::flags`].
pub mod iface_flags {
    /// Only sources in the zones listed in [`super::names::IFACE_ZONES`] may arrive here.
    pub const RESTRICT_SOURCE: u32 = 1 << 0;
    /// `fast_path: true`: allowed packets of tracked flows are forwarded in XDP
    /// ([`crate::forward`]).
    pub const FAST_PATH: u32 = 1 << 1;
}

/// Per-interface policy.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfacePolicy {
    /// [`iface_flags`].
    pub flags: u32,
}

/// Index of the passed (`dropped == false`) or dropped counter of interface `ifindex` in
/// [`names::IFACE_COUNTERS`]; `ifindex` must be below [`capacity::MAX_IFINDEX`].
#[inline(always)]
pub const fn iface_counter_index(ifindex: u32, dropped: bool) -> u32 {
    (ifindex % capacity::MAX_IFINDEX) * 2 + dropped as u32
}

/// Index of inspection profile `profile_id` of `slot` in [`names::MODBUS_PROFILES`].
#[inline(always)]
pub const fn profile_index(slot: u8, profile_id: u16) -> u32 {
    (slot as u32 & 1) * capacity::MAX_PROFILES + (profile_id as u32 % capacity::MAX_PROFILES)
}

/// Counter slots per conduit in [`names::CONDUIT_DENY_COUNTERS`]: inspection deny reasons
/// (slot [`crate::reason::Reason::conduit_slot`], below [`CONDUIT_ACTION_SLOT`]), then what was
/// done with the denied segments (slot `CONDUIT_ACTION_SLOT + event::action`).
pub const CONDUIT_DENY_SLOTS: u32 = 64;

/// First per-conduit slot counting an action ([`crate::event::action`]) rather than a reason.
pub const CONDUIT_ACTION_SLOT: u32 = 56;

/// Index of (`conduit_id`, inspection deny `slot`) in [`names::CONDUIT_DENY_COUNTERS`].
#[inline(always)]
pub const fn conduit_reason_index(conduit_id: u16, slot: u32) -> u32 {
    conduit_id as u32 * CONDUIT_DENY_SLOTS + (slot % CONDUIT_DENY_SLOTS)
}

/// Index of the counter of [`crate::event::action`] `action` taken on `conduit_id`'s
/// inspection denies in [`names::CONDUIT_DENY_COUNTERS`].
#[inline(always)]
pub const fn conduit_action_index(conduit_id: u16, action: u8) -> u32 {
    conduit_reason_index(
        conduit_id,
        CONDUIT_ACTION_SLOT + (action as u32 % (CONDUIT_DENY_SLOTS - CONDUIT_ACTION_SLOT)),
    )
}

/// Index of `conduit_id`'s rate limit of `slot` in [`names::RATE_LIMITS`].
#[inline(always)]
pub const fn rate_limit_index(slot: u8, conduit_id: u16) -> u32 {
    (slot as u32 & 1) * (capacity::MAX_CONDUITS + 1)
        + (conduit_id as u32 % (capacity::MAX_CONDUITS + 1))
}

/// A conduit's `rate_limit`: packets per second per source address, and the burst allowed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub pps: u32,
    pub burst: u32,
}

/// Key of [`names::BUCKETS`]: one source address of one conduit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BucketKey {
    pub src: [u8; 16],
    pub conduit_id: u16,
    pub family: u8,
    pub _pad: u8,
}

/// A token bucket. Tokens are counted in billionths, so `pps` tokens refill per second with
/// nanosecond timestamps in integer arithmetic.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    pub nanotokens: u64,
    pub last_ns: u64,
}

impl Bucket {
    /// One token, in the bucket's unit.
    pub const TOKEN: u64 = 1_000_000_000;

    /// Refills for the time since `last_ns` and takes one token if there is one. Returns
    /// whether the packet conforms. A fresh bucket (`last_ns == 0`) starts full.
    #[inline(always)]
    pub fn take(&mut self, limit: &RateLimit, now_ns: u64) -> bool {
        let capacity = limit.burst.max(1) as u64 * Self::TOKEN;
        if self.last_ns == 0 {
            self.nanotokens = capacity;
        } else {
            // Ten seconds refill any bucket; capping keeps the product far from overflow.
            let elapsed = now_ns.saturating_sub(self.last_ns).min(10 * Self::TOKEN);
            self.nanotokens = (self.nanotokens + elapsed * limit.pps as u64).min(capacity);
        }
        self.last_ns = now_ns;
        if self.nanotokens >= Self::TOKEN {
            self.nanotokens -= Self::TOKEN;
            true
        } else {
            false
        }
    }
}

/// The per-CPU token bucket in front of the event ring ([`names::EVENT_BUCKET`]), with the
/// clock tick (jiffies) of its last refill. A denied packet in a flood finds the bucket empty
/// and the tick unchanged, and is counted as suppressed without reading the clock at all
/// (jiffies is one memory read; the clock is several kernel calls).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventBucket {
    pub bucket: Bucket,
    pub refill_jiffies: u64,
}

impl EventBucket {
    /// Takes a token for one event at tick `jiffies`; `now_ns` (the coarse clock, which
    /// only moves with the tick) is called only to refill. A bucket with tokens gives one
    /// without refilling: the time since its last refill still counts at the next one.
    #[inline(always)]
    pub fn take(&mut self, limit: &RateLimit, jiffies: u64, now_ns: impl FnOnce() -> u64) -> bool {
        let fresh = self.bucket.last_ns == 0;
        if !fresh && self.bucket.nanotokens >= Bucket::TOKEN {
            self.bucket.nanotokens -= Bucket::TOKEN;
            return true;
        }
        if !fresh && self.refill_jiffies == jiffies {
            return false;
        }
        self.refill_jiffies = jiffies;
        self.bucket.take(limit, now_ns())
    }
}

/// Key of [`names::IFACE_ZONES`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfaceZoneKey {
    pub ifindex: u32,
    pub slot: u16,
    pub zone_id: u16,
}

/// Key of [`names::L2_ALLOW`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct L2Key {
    pub slot: u16,
    /// Ethertype in host byte order.
    pub ethertype: u16,
}

/// A packet and byte counter (per CPU; the daemon sums the CPUs).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

const _: () = {
    assert!(core::mem::size_of::<Control>() == 16);
    assert!(core::mem::size_of::<SlotConfig>() == 8);
    assert!(core::mem::size_of::<ZoneMatch>() == 4);
    assert!(core::mem::size_of::<ZonePairKey>() == 8);
    assert!(core::mem::size_of::<ZonePairLevels>() == 4);
    assert!(core::mem::size_of::<ConduitKey>() == 12);
    assert!(core::mem::size_of::<ConduitAction>() == 8);
    assert!(core::mem::size_of::<IfacePolicy>() == 4);
    assert!(core::mem::size_of::<IfaceZoneKey>() == 8);
    assert!(core::mem::size_of::<L2Key>() == 4);
    assert!(core::mem::size_of::<Counter>() == 16);
    assert!(core::mem::size_of::<RateLimit>() == 8);
    assert!(core::mem::size_of::<BucketKey>() == 20);
    assert!(core::mem::size_of::<Bucket>() == 16);
    assert!(core::mem::size_of::<EventBucket>() == 24);
    // Values with u64 fields: the same alignment in the kernel and in the daemon.
    assert!(core::mem::align_of::<Counter>() == 8);
    assert!(core::mem::align_of::<Bucket>() == 8);
    assert!(core::mem::align_of::<EventBucket>() == 8);
    // Every zone pair of two full slots has room in the zone pair map.
    assert!(capacity::ZONE_PAIRS >= 2 * capacity::MAX_CONDUITS);
};

#[cfg(feature = "user")]
mod pod {
    use super::*;
    use crate::flow::{
        FlowKey, FlowState, FlowStateV2, FlowStateV3, FlowStateV7, FragKey, FragState, StreamState,
    };

    /// `aya::Pod` for map keys and values the daemon reads and writes.
    macro_rules! pod {
        ($($t:ty),* $(,)?) => {$(
            // SAFETY: every type listed is #[repr(C)] and Copy, holds only integers (and
            // arrays of them) with explicit padding fields, and has its size asserted beside
            // it so no implicit padding is left: every bit pattern is a valid value.
            unsafe impl aya::Pod for $t {}
        )*};
    }

    pod!(
        crate::learn::LearnKey,
        crate::learn::LearnValue,
        crate::learn::HostKey,
        crate::learn::HostValue,
        Control,
        SlotConfig,
        ZoneMatch,
        ZonePairKey,
        ZonePairLevels,
        ConduitKey,
        ConduitAction,
        IfacePolicy,
        IfaceZoneKey,
        L2Key,
        Counter,
        RateLimit,
        BucketKey,
        Bucket,
        EventBucket,
        FlowKey,
        FlowState,
        FlowStateV2,
        FlowStateV3,
        FlowStateV7,
        FragKey,
        FragState,
        StreamState,
        crate::conduittable::ConduitEntry,
        crate::conduittable::ConduitBucket,
        crate::forward::FastPathCounters,
        crate::forward::BridgePort,
        crate::forward::FdbKey,
        crate::forward::BridgeSync,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn bucket_starts_full_then_refills_at_pps() {
        let limit = RateLimit { pps: 100, burst: 5 };
        let mut b = Bucket::default();
        let t0 = 1_000 * MS;
        let passed = (0..10).filter(|_| b.take(&limit, t0)).count();
        assert_eq!(passed, 5, "a fresh bucket allows the burst at once");
        // 100 pps: one token per 10 ms.
        assert!(!b.take(&limit, t0 + 5 * MS));
        assert!(b.take(&limit, t0 + 11 * MS));
        assert!(!b.take(&limit, t0 + 12 * MS));
        // Over one second at 1 kpps of offered load, about pps + burst pass.
        let mut b = Bucket::default();
        let passed = (0..1000u64).filter(|i| b.take(&limit, t0 + i * MS)).count();
        assert!((100..=106).contains(&passed), "{passed} passed");
    }

    #[test]
    fn event_bucket_reads_the_clock_only_to_refill_on_a_new_tick() {
        use core::cell::Cell;
        let limit = RateLimit {
            pps: 100,
            burst: 100,
        };
        let mut b = EventBucket::default();
        let reads = Cell::new(0);
        let clock = |ns: u64| {
            let reads = &reads;
            move || {
                reads.set(reads.get() + 1);
                ns
            }
        };
        // 4 ms ticks (HZ 250). A fresh bucket refills (one read), then gives its burst.
        let t0 = 1_000 * MS;
        let passed = (0..150).filter(|_| b.take(&limit, 1000, clock(t0))).count();
        assert_eq!(passed, 100);
        assert_eq!(reads.get(), 1, "only the fresh bucket's refill");
        // A flood within the same tick: no clock read, nothing passes.
        assert!((0..1000).all(|_| !b.take(&limit, 1000, clock(t0))));
        assert_eq!(reads.get(), 1);
        // Next tick, 4 ms later at 100 pps: not yet a whole token; one read for the tick.
        assert!(!b.take(&limit, 1001, clock(t0 + 4 * MS)));
        assert!(!b.take(&limit, 1001, clock(t0 + 4 * MS)));
        assert_eq!(reads.get(), 2);
        // 12 ms after t0 a token has accrued (100 pps = one per 10 ms).
        assert!(b.take(&limit, 1003, clock(t0 + 12 * MS)));
        // Over ten seconds of a flood at one packet per tick, about pps pass per second.
        let mut passed = 0;
        for tick in 1004..1004 + 2500u64 {
            let ns = t0 + (tick - 1000) * 4 * MS;
            passed += (0..3).filter(|_| b.take(&limit, tick, clock(ns))).count();
        }
        assert!((990..=1010).contains(&passed), "{passed} passed in 10 s");
    }

    #[test]
    fn bucket_never_exceeds_its_burst_after_idling() {
        let limit = RateLimit {
            pps: 1_000_000,
            burst: 3,
        };
        let mut b = Bucket::default();
        assert!(b.take(&limit, 1));
        let later = 3_600 * 1_000 * MS;
        let passed = (0..10).filter(|_| b.take(&limit, later)).count();
        assert_eq!(passed, 3);
    }
}
