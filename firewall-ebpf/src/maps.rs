//! Map definitions. Layouts, names and capacities come from `firewall_common::maps`; the
//! daemon finds these maps by their (static) names.

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    macros::map,
    maps::{
        Array, DevMapHash, HashMap, LpmTrie, LruHashMap, PerCpuArray, PerCpuHashMap, ProgramArray,
        RingBuf,
    },
};
use firewall_common::{
    bacnet::BacnetProfile,
    capture, conduit,
    conduittable::{self, ConduitBucket},
    dnp3::Dnp3Profile,
    enip::EnipProfile,
    event,
    flow::{FlowKey, FlowState, FragKey, FragState, StreamState},
    forward::{BridgePort, BridgeSync, FastPathCounters, FdbKey},
    iec104::Iec104Profile,
    learn::{HostKey, HostValue, LearnKey, LearnValue},
    maps::{
        Bucket, BucketKey, CONDUIT_DENY_SLOTS, Control, Counter, EventBucket, Handoff, IfacePolicy,
        IfaceZoneKey, L2Key, RateLimit, SlotConfig, ZoneMatch, ZonePairKey, ZonePairLevels,
        ZoneV6Key, capacity, inspector,
    },
    modbus::ModbusProfile,
    opcua::OpcuaProfile,
    reason::Reason,
    s7comm::S7Profile,
    zonetable,
};

/// The layout version of this set of maps (one `u32`, `firewall_common::ABI_VERSION`), written
/// by the daemon; the program never reads it.
#[map]
pub static ABI: Array<u32> = Array::with_max_entries(1, 0);

/// Active slot, island flag and ABI version (one entry).
#[map]
pub static CONTROL: Array<Control> = Array::with_max_entries(1, 0);

/// Per-slot generation and flags (two entries).
#[map]
pub static SLOT_CONFIG: Array<SlotConfig> = Array::with_max_entries(2, 0);

/// IPv4 zone table of both slots (`firewall_common::zonetable`).
#[map]
pub static ZONE_TABLE_V4: Array<u64> = Array::with_max_entries(zonetable::WORDS, 0);

/// IPv6 networks → zone, both slots.
#[map]
pub static ZONES_V6: LpmTrie<ZoneV6Key, ZoneMatch> =
    LpmTrie::with_max_entries(2 * capacity::ZONE_NETWORKS, BPF_F_NO_PREALLOC);

/// Zone pairs that have conduit entries, with the levels they use. Not preallocated: a
/// policy uses a few of its entries, and only pairs past the dense `PAIR_MASKS` array
/// are looked up here.
#[map]
pub static ZONE_PAIRS: HashMap<ZonePairKey, ZonePairLevels> =
    HashMap::with_max_entries(capacity::ZONE_PAIRS, BPF_F_NO_PREALLOC);

/// Level masks of the zone pairs with small zone ids (see `firewall_common::conduit`).
#[map]
pub static PAIR_MASKS: Array<u64> = Array::with_max_entries(conduit::PAIR_MASK_WORDS, 0);

/// Conduit entries of both slots, a cuckoo hash table read inline
/// (`firewall_common::conduittable`).
#[map]
pub static CONDUIT_TABLE: Array<ConduitBucket> = Array::with_max_entries(conduittable::BUCKETS, 0);

/// Bloom filter of the conduit keys per slot (`firewall_common::conduit::filter_at`).
#[map]
pub static CONDUIT_FILTER: Array<u64> = Array::with_max_entries(conduit::FILTER_WORDS, 0);

/// Per-interface policy (source-zone restriction), indexed by `iface_index(slot, ifindex)`.
#[map]
pub static IFACES: Array<IfacePolicy> = Array::with_max_entries(2 * capacity::MAX_IFINDEX, 0);

/// Zones allowed to arrive on a restricted interface.
#[map]
pub static IFACE_ZONES: HashMap<IfaceZoneKey, u32> =
    HashMap::with_max_entries(capacity::IFACE_ZONES, 0);

/// Allowed non-IP ethertypes.
#[map]
pub static L2_ALLOW: HashMap<L2Key, u32> = HashMap::with_max_entries(capacity::L2_ALLOW, 0);

/// Conntrack: allowed flows (LRU).
#[map]
pub static FLOWS: LruHashMap<FlowKey, FlowState> = LruHashMap::with_max_entries(capacity::FLOWS, 0);

/// Allowed first fragments, so later fragments of the same datagram pass (LRU).
#[map]
pub static FRAGS: LruHashMap<FragKey, FragState> = LruHashMap::with_max_entries(capacity::FRAGS, 0);

/// Packets and bytes per verdict reason.
#[map]
pub static REASON_COUNTERS: PerCpuArray<Counter> = PerCpuArray::with_max_entries(Reason::SLOTS, 0);

/// Packets and bytes per conduit id (index 0 unused).
#[map]
pub static CONDUIT_COUNTERS: PerCpuArray<Counter> =
    PerCpuArray::with_max_entries(capacity::MAX_CONDUITS + 1, 0);

/// Inspection denies per conduit and reason (see `conduit_reason_index`).
#[map]
pub static CONDUIT_DENY_COUNTERS: PerCpuArray<Counter> =
    PerCpuArray::with_max_entries((capacity::MAX_CONDUITS + 1) * CONDUIT_DENY_SLOTS, 0);

/// Modbus inspection profiles of both slots (see `profile_index`).
#[map]
pub static MODBUS_PROFILES: Array<ModbusProfile> =
    Array::with_max_entries(2 * capacity::MAX_PROFILES, 0);

/// IEC 104 inspection profiles of both slots (see `profile_index`).
#[map]
pub static IEC104_PROFILES: Array<Iec104Profile> =
    Array::with_max_entries(2 * capacity::MAX_PROFILES, 0);

/// DNP3 inspection profiles of both slots (see `profile_index`).
#[map]
pub static DNP3_PROFILES: Array<Dnp3Profile> =
    Array::with_max_entries(2 * capacity::MAX_PROFILES, 0);

/// S7comm inspection profiles of both slots (see `profile_index`).
#[map]
pub static S7COMM_PROFILES: Array<S7Profile> =
    Array::with_max_entries(2 * capacity::MAX_PROFILES, 0);

/// EtherNet/IP inspection profiles of both slots (see `profile_index`).
#[map]
pub static ENIP_PROFILES: Array<EnipProfile> =
    Array::with_max_entries(2 * capacity::MAX_PROFILES, 0);

/// OPC UA inspection profiles of both slots (see `profile_index`).
#[map]
pub static OPCUA_PROFILES: Array<OpcuaProfile> =
    Array::with_max_entries(2 * capacity::MAX_PROFILES, 0);

/// BACnet/IP inspection profiles of both slots (see `profile_index`).
#[map]
pub static BACNET_PROFILES: Array<BacnetProfile> =
    Array::with_max_entries(2 * capacity::MAX_PROFILES, 0);

/// The inspector programs, by `firewall_common::maps::inspector` id (filled by the daemon).
#[map]
pub static INSPECTORS: ProgramArray = ProgramArray::with_max_entries(inspector::SLOTS, 0);

/// Stream positions of the flows an inspector program walks (LRU).
#[map]
pub static STREAMS: LruHashMap<FlowKey, StreamState> =
    LruHashMap::with_max_entries(capacity::STREAMS, 0);

/// An all-zero stream position, never written: what a new `STREAMS` entry is inserted from.
#[map]
pub static STREAM_START: PerCpuArray<StreamState> = PerCpuArray::with_max_entries(1, 0);

/// The payload of the segment an inspector program walks (`firewall_common::stream::Payload`).
#[map]
pub static PAYLOAD: PerCpuArray<firewall_common::stream::Payload> =
    PerCpuArray::with_max_entries(1, 0);

/// What the main program hands to the inspector it tail-calls.
#[map]
pub static HANDOFF: PerCpuArray<Handoff> = PerCpuArray::with_max_entries(1, 0);

/// Rate limits of rate-limited conduits, both slots (see `rate_limit_index`).
#[map]
pub static RATE_LIMITS: Array<RateLimit> =
    Array::with_max_entries(2 * (capacity::MAX_CONDUITS + 1), 0);

/// Per-source token buckets (LRU).
#[map]
pub static BUCKETS: LruHashMap<BucketKey, Bucket> =
    LruHashMap::with_max_entries(capacity::BUCKETS, 0);

/// Denied and alerted packet events for the daemon.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(capacity::EVENT_RING_BYTES, 0);

/// Per-CPU token buckets in front of `EVENTS`, one per event class
/// (`firewall_common::event::class`), so a flood costs counters, not daemon CPU, and a flood
/// of one class does not use up the events of another.
#[map]
pub static EVENT_BUCKET: PerCpuArray<EventBucket> =
    PerCpuArray::with_max_entries(event::class::COUNT, 0);

/// Per-CPU event counters (`firewall_common::event::counter`).
#[map]
pub static EVENT_COUNTERS: PerCpuArray<u64> =
    PerCpuArray::with_max_entries(event::counter::SLOTS, 0);

/// Per-CPU scratch space for the parsed headers of the packet being judged.
#[map]
pub static SCRATCH: PerCpuArray<firewall_common::packet::Packet> =
    PerCpuArray::with_max_entries(1, 0);

/// Packets and bytes per ingress interface, passed and dropped (`iface_counter_index`).
#[map]
pub static IFACE_COUNTERS: PerCpuArray<Counter> =
    PerCpuArray::with_max_entries(2 * capacity::MAX_IFINDEX, 0);

/// Packets and bytes the conduit lookup matched to each rule, by rule id (index 0 unused).
#[map]
pub static RULE_COUNTERS: PerCpuArray<Counter> =
    PerCpuArray::with_max_entries(capacity::MAX_RULES + 1, 0);

/// Denied frames for `zcfw capture` (`firewall_common::capture`).
#[map]
pub static CAPTURE: RingBuf = RingBuf::with_byte_size(capture::RING_BYTES, 0);

/// Per-CPU token bucket in front of `CAPTURE`.
#[map]
pub static CAPTURE_BUCKET: PerCpuArray<EventBucket> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU capture counters (`firewall_common::capture::counter`).
#[map]
pub static CAPTURE_COUNTERS: PerCpuArray<u64> =
    PerCpuArray::with_max_entries(capture::counter::SLOTS, 0);

/// The fast-path forwarder `zcfw_forward` (entry 0, filled by the daemon).
#[map]
pub static FORWARDER: ProgramArray = ProgramArray::with_max_entries(1, 0);

/// The allow decision the main program hands to the forwarder (a `Decision`, per CPU).
#[map]
pub static FORWARD_HANDOFF: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Interfaces the fast path may redirect to, by ifindex (written by the daemon: every
/// interface zcfw is attached to).
#[map]
pub static FORWARD_PORTS: DevMapHash = DevMapHash::with_max_entries(capacity::FAST_PATH_IFACES, 0);

/// Fast-path counters per ingress interface (entries written by the daemon).
#[map]
pub static FAST_PATH_COUNTERS: PerCpuHashMap<u32, FastPathCounters> =
    PerCpuHashMap::with_max_entries(capacity::FAST_PATH_IFACES, 0);

/// Bridge mode: the bridge ports the fast path forwards from and to (written by the daemon).
#[map]
pub static BRIDGE_PORTS: HashMap<u32, BridgePort> =
    HashMap::with_max_entries(capacity::FAST_PATH_IFACES, 0);

/// Bridge mode: the daemon's mirror of the bridges' forwarding databases (MAC → port).
#[map]
pub static BRIDGE_FDB: HashMap<FdbKey, u32> = HashMap::with_max_entries(capacity::BRIDGE_FDB, 0);

/// Bridge mode: when the daemon last refreshed `BRIDGE_FDB`.
#[map]
pub static BRIDGE_SYNC: Array<BridgeSync> = Array::with_max_entries(1, 0);

/// Learning mode: what crosses each zone pair (`firewall_common::learn`), written only while
/// `CONTROL` has the `LEARN` flag.
#[map]
pub static LEARN: LruHashMap<LearnKey, LearnValue> =
    LruHashMap::with_max_entries(capacity::LEARN, 0);

/// Learning mode: addresses in no zone.
#[map]
pub static LEARN_HOSTS: LruHashMap<HostKey, HostValue> =
    LruHashMap::with_max_entries(capacity::LEARN_HOSTS, 0);
