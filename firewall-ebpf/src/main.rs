//! The zcfw XDP program: decides every packet against the zone/conduit policy in the maps.
//!
//! Parsing, keys and rule encoding live in `firewall-common`; this file only glues them to
//! packet memory and maps. Steps (DESIGN.md "Data path"): parse → anti-spoofing →
//! fragments → conntrack → zones → conduit → counters.
//!
//! Only the `bpfel-unknown-none` build is the XDP program. On the host (a workspace build or
//! `cargo clippy --workspace`) the crate compiles to an empty program, so the workspace builds
//! everywhere; the BPF-only items are the panic handler and the entry point.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]
#![expect(
    clippy::needless_borrows_for_generic_args,
    reason = "aya-ebpf's map methods take `impl Borrow<K>`; keys are passed by reference, as \
              the helpers take them, rather than moved into the call"
)]

mod account;
mod bacnet;
mod bench;
mod decision;
mod enip;
mod exception;
mod forward;
mod inspect;
mod learn;
mod looped;
mod maps;
mod opcua;
mod reset;
mod s7comm;
mod stream;

use aya_ebpf::{bindings::xdp_action::XDP_DROP, macros::xdp, programs::XdpContext};
use firewall_common::{
    ABI_VERSION,
    conduit::{self, Level},
    conduittable,
    decision::monitorable,
    flow::{FlowKey, FlowState, FragKey, FragState, flow_flags, proto, timeout},
    maps::{
        Bucket, BucketKey, ConduitAction, ConduitKey, IfaceZoneKey, L2Key, SlotConfig, ZonePairKey,
        action_flags, capacity, control_flags, iface_flags, iface_index, inspector, profile_index,
        rate_limit_index, slot_flags, zone_flags,
    },
    packet::{self, Family, Fragment, Packet, PacketBytes, icmp_type, tcp_flags},
    reason::Reason,
    reset::PacketBytesMut,
    zonetable,
};

use crate::{
    account::{
        EventContext, account, count_rule, deliver, emit, event_budget, now, observe, reported,
    },
    decision::{Decision, EXCEPTION, RESET_SENDER, deny_on, drop, finish, pass},
    inspect::{inspect, inspection_deny, remember_reset, resets, tracked_deny},
    maps::*,
};

/// Packet memory of one XDP frame, read through bounds checks against `data_end`.
pub(crate) struct XdpBytes {
    start: usize,
    end: usize,
}

/// Largest offset the parser may ask for (keeps offsets bounded for the verifier).
const MAX_OFFSET: usize = 1 << 12;
/// Largest length `holds` checks exactly: a packet pointer may move at most 0xffff bytes.
/// Longer lengths only occur for 64 KiB GRO/GSO super-packets (skb mode); for them the frame
/// must hold at least this much, a few hundred bytes short of what the IP length says.
const MAX_HOLD: usize = 0xff00;

impl PacketBytes for XdpBytes {
    #[inline(always)]
    fn holds(&self, len: usize) -> bool {
        let len = if len > MAX_HOLD { MAX_HOLD } else { len };
        self.start + len <= self.end
    }

    #[inline(always)]
    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        if offset > MAX_OFFSET {
            return None;
        }
        let at = self.start + offset;
        if at + N > self.end {
            return None;
        }
        // SAFETY: `at..at + N` lies inside the packet, checked just above.
        Some(unsafe { (at as *const [u8; N]).read_unaligned() })
    }
}

impl PacketBytesMut for XdpBytes {
    #[inline(always)]
    fn store<const N: usize>(&mut self, offset: usize, v: [u8; N]) -> Option<()> {
        if offset > MAX_OFFSET {
            return None;
        }
        let at = self.start + offset;
        if at + N > self.end {
            return None;
        }
        // SAFETY: `at..at + N` lies inside the packet, checked just above.
        unsafe { (at as *mut [u8; N]).write_unaligned(v) };
        Some(())
    }
}

#[xdp]
pub fn zcfw_xdp(ctx: XdpContext) -> u32 {
    // The program is not loaded for multi-buffer frames (section `xdp`, not `xdp.frags`), so
    // every frame it sees is one buffer and this is its whole length, without a helper call.
    let len = (ctx.data_end() - ctx.data()) as u64;
    let d = decide(&ctx, len as u32);
    account(&ctx, d, len)
}

#[inline(always)]
fn decide(ctx: &XdpContext, len: u32) -> Decision {
    let Some(control) = CONTROL.get(0) else {
        return drop(Reason::NoPolicy);
    };
    if control.abi_version != ABI_VERSION {
        return drop(Reason::NoPolicy);
    }
    let slot = (control.active_slot & 1) as u8;
    let Some(cfg) = SLOT_CONFIG.get(slot as u32) else {
        return drop(Reason::NoPolicy);
    };
    if cfg.flags & slot_flags::LOADED == 0 {
        return drop(Reason::NoPolicy);
    }
    // The parsed headers live in a per-CPU scratch slot, not on the stack: the verifier caps
    // the stack of the whole call chain at 512 bytes, and offsets read back from a map are
    // plain bounded numbers, which keeps verifying the inspection code cheap.
    let Some(scratch) = SCRATCH.get_ptr_mut(0) else {
        return drop(Reason::NoPolicy);
    };
    let at = EventContext {
        slot,
        ifindex: ctx.ingress_ifindex() as u32,
        len,
        ip: false,
    };
    // The common frame is parsed here, inline; everything else (VLAN tags, IP options,
    // IPv6, ICMP, fragments, malformed headers) by the full parser in its own function.
    let bytes = XdpBytes {
        start: ctx.data(),
        end: ctx.data_end(),
    };
    // SAFETY: `scratch` is the per-CPU scratch value, only this CPU uses it.
    let parsed = if packet::parse_common_into(&bytes, unsafe { &mut *scratch }) {
        PARSED_IP
    } else {
        parse_into(ctx.data(), ctx.data_end(), scratch)
    };
    // SAFETY: a valid per-CPU map value, written by `parse_into` when it returns PARSED_IP.
    let p: &Packet = unsafe { &*scratch };
    if parsed != PARSED_IP {
        let d = if parsed & PARSED_NON_IP != 0 {
            let key = L2Key {
                slot: slot as u16,
                ethertype: parsed as u16,
            };
            // SAFETY: plain read of a value the daemon never changes in place.
            if unsafe { L2_ALLOW.get(&key) }.is_some() {
                return pass(Reason::AllowedL2, 0);
            }
            finish(drop(Reason::L2Denied), cfg)
        } else {
            finish(
                drop(Reason::from_slot(parsed).unwrap_or(Reason::MalformedEthernet)),
                cfg,
            )
        };
        observe(ctx, &d, control, cfg, &at);
        if reported(&d, cfg) && event_budget(control, &d) {
            emit(&Packet::default(), &d, at, cfg);
        }
        return d;
    }
    if p.is_neighbor_discovery() && cfg.flags & slot_flags::ALLOW_ND != 0 {
        return pass(Reason::AllowedNeighborDiscovery, 0);
    }
    if control.flags & control_flags::LEARN != 0 {
        // Before the policy decision: the verifier walks the learning function from one
        // state here, not once per way `judge` can end.
        learn::record(ctx.data(), ctx.data_end(), p, slot);
    }
    let d = finish(judge(ctx, slot, cfg, p), cfg);
    deliver(ctx, p, d, control, cfg, at)
}

/// [`parse_into`] result: an IP packet, written to the output.
const PARSED_IP: u32 = u32::MAX;
/// [`parse_into`] result bit: a non-IP frame; the low 16 bits are its ethertype.
const PARSED_NON_IP: u32 = 1 << 16;

/// The full header parser, in its own BPF function (VLAN tags, IP options, IPv6 extension
/// headers, ICMP, fragments, malformed frames), writing straight into `out`. Returns
/// [`PARSED_IP`] (packet written to `out`), [`PARSED_NON_IP`] | ethertype, or the drop
/// [`Reason`] as `u32`.
#[inline(never)]
fn parse_into(start: usize, end: usize, out: *mut Packet) -> u32 {
    // SAFETY: `out` is the per-CPU scratch value, only this CPU uses it.
    match packet::parse_into(&XdpBytes { start, end }, unsafe { &mut *out }) {
        Ok(None) => PARSED_IP,
        Ok(Some(ethertype)) => PARSED_NON_IP | ethertype as u32,
        Err(reason) => reason as u32,
    }
}

/// The policy decision for a parsed IP packet. Inlined into the program's main function
/// (one BPF call less per packet): the full parser writes into the scratch value, not its
/// stack, so both fit the verifier's 512-byte combined stack.
#[inline(always)]
fn judge(ctx: &XdpContext, slot: u8, cfg: &SlotConfig, p: &Packet) -> Decision {
    // Anti-spoofing: the source zone must be one the ingress interface admits.
    let ifindex = ctx.ingress_ifindex() as u32;
    let iface = if ifindex < capacity::MAX_IFINDEX {
        IFACES.get(iface_index(slot, ifindex))
    } else {
        None
    };
    let if_flags = iface.map_or(0, |i| i.flags);
    if if_flags & iface_flags::RESTRICT_SOURCE != 0 {
        let src_zone = zone_of(slot, p.family, &p.src) as u16;
        let key = IfaceZoneKey {
            ifindex,
            slot: slot as u16,
            zone_id: src_zone,
        };
        // SAFETY: only whether the entry exists is read, never the value behind the reference
        // (which a concurrent delete could free).
        if src_zone == 0 || unsafe { IFACE_ZONES.get(&key) }.is_none() {
            return drop(Reason::SpoofedSource);
        }
    }

    // Island mode: nothing crosses a zone boundary, not even established flows (SR 5.2 RE2).
    // (Read here, not passed in: BPF functions take at most five arguments.)
    let island = CONTROL
        .get(0)
        .is_some_and(|c| c.flags & control_flags::ISLAND != 0);
    if island {
        let src = zone_of(slot, p.family, &p.src) as u16;
        let dst = zone_of(slot, p.family, &p.dst) as u16;
        if src == 0 || src != dst {
            return drop(Reason::IslandMode);
        }
    }

    if p.fragment == Fragment::Later {
        return later_fragment(p, now());
    }

    // Conntrack: a packet of an allowed flow, either direction. A TCP SYN (without ACK) opens
    // a connection and is always judged by the conduits, without the lookup: a connection
    // attempt or a SYN flood costs no conntrack miss, and an allowed SYN replaces the entry.
    let (flow_key, src_is_lo) = FlowKey::of(p);
    let tcp_open =
        p.proto == proto::TCP && p.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;
    let tracked = if tcp_open {
        None
    } else {
        FLOWS.get_ptr_mut(&flow_key)
    };
    if let Some(state) = tracked {
        // SAFETY: the LRU map returned a valid pointer to the value; fields are plain integers
        // and concurrent updates of last_seen/flags by other CPUs are benign.
        let state = unsafe { &mut *state };
        let now = now();
        if state.expired(p.proto, now) {
            let _ = FLOWS.remove(&flow_key);
        } else if state.flags & flow_flags::RESET != 0 {
            // A connection zcfw reset: every segment of either end gets a RST back (a RST
            // itself is just dropped), none passes.
            let answer = if p.tcp_flags & tcp_flags::RST == 0 {
                RESET_SENDER
            } else {
                0
            };
            return Decision(deny_on(Reason::ConnectionReset, state.conduit_id, false).0 | answer);
        } else if state.generation == cfg.generation || rejudge(slot, cfg, &flow_key, state) {
            state.last_seen_ns = now;
            if p.proto == proto::TCP && p.tcp_flags & (tcp_flags::FIN | tcp_flags::RST) != 0 {
                state.flags |= flow_flags::CLOSING;
            }
            let conduit_id = state.conduit_id;
            // Requests travel from the endpoint that opened the flow, responses back.
            let from_opener = (state.flags & flow_flags::OPENED_BY_LO != 0) == src_is_lo;
            if from_opener
                && state.flags & flow_flags::RATE_LIMITED != 0
                && !conforms(slot, conduit_id, p, now)
            {
                return deny_on(
                    Reason::RateLimited,
                    conduit_id,
                    state.flags & flow_flags::MONITOR != 0,
                );
            }
            if state.inspector == inspector::BACNET {
                // Every datagram of a BACnet/IP flow goes to its program, which judges it
                // whole (no stream position).
                return stream::hand_over(
                    ctx,
                    slot,
                    from_opener,
                    Reason::AllowedConntrack,
                    state.inspector,
                );
            }
            let at =
                if from_opener { inspect::FROM_OPENER } else { 0 } | slot as u32 & inspect::SLOT;
            let mut verdict = 0;
            if state.inspector != inspector::NONE && p.proto == proto::TCP {
                // A stream-inspected flow: a segment of whole PDUs at its direction's stream
                // position is judged here (Modbus, IEC 104); anything else, and every segment
                // of DNP3 and S7comm (whose frames only their programs judge), goes to the
                // protocol's inspector program, which decides it.
                verdict = if state.inspector > inspector::IEC104 {
                    inspect::WALK
                } else {
                    inspect::tracked(ctx.data(), ctx.data_end(), p, state, at)
                };
                if verdict == inspect::WALK {
                    return stream::hand_over(
                        ctx,
                        slot,
                        from_opener,
                        Reason::AllowedConntrack,
                        state.inspector,
                    );
                }
            }
            // A deny, or a flow zcfw answered an exception in: out of line, so the allow
            // path of an inspected flow costs what it cost before exceptions existed.
            if verdict != 0 || state.flags & flow_flags::SHIFTED != 0 {
                let monitor = state.flags & flow_flags::MONITOR != 0;
                let reset = verdict != 0
                    && state.flags & flow_flags::RESET_ON_VIOLATION != 0
                    && resets(p, cfg, monitor);
                let how = if reset { inspect::RESET } else { 0 }
                    | if from_opener { inspect::FROM_OPENER } else { 0 };
                let mut d = pass(Reason::AllowedConntrack, conduit_id);
                if verdict != 0 {
                    // Where the segment starts, read before an exception rewrites it.
                    let seq = inspect::seq_of(ctx.data(), ctx.data_end(), p);
                    d = tracked_deny(ctx.ctx, p, state, verdict, how);
                    // Answered in the receiver's name, or passed as an alert: the stream
                    // moves past the segment.
                    let alert = !reset
                        && (monitor || cfg.flags & slot_flags::MONITOR != 0)
                        && monitorable(
                            Reason::from_slot(verdict as u8 as u32).unwrap_or(Reason::NoPolicy),
                        );
                    if d.0 & EXCEPTION != 0 || alert {
                        inspect::passed(p, state, at, seq);
                    }
                    if d.0 & EXCEPTION != 0 {
                        return d;
                    }
                }
                // After an exception, every other segment (passed, alerted or reset) is
                // moved into the sequence space of its receiver.
                if state.flags & flow_flags::SHIFTED != 0
                    && !exception::shift(ctx.ctx, p, state.swallowed, state.injected, from_opener)
                {
                    return drop(Reason::MalformedTcp);
                }
                if p.fragment == Fragment::First && !d.denied() {
                    remember_first_fragment(p, conduit_id, now);
                }
                return d;
            }
            if p.fragment == Fragment::First {
                remember_first_fragment(p, conduit_id, now);
            }
            let d = pass(Reason::AllowedConntrack, conduit_id);
            if if_flags & iface_flags::FAST_PATH != 0 {
                // Allowed, tracked, not inspected by a program of its own: the forwarder
                // counts it and forwards it in XDP where the FIB answers.
                return forward::hand_over(ctx, d);
            }
            return d;
        } else {
            // The new policy no longer allows the flow that opened this entry.
            let _ = FLOWS.remove(&flow_key);
        }
    }

    // A new packet, judged in its own direction.
    let Some((src_zone, src_flags)) = zone(zone_of(slot, p.family, &p.src)) else {
        return drop(Reason::UnknownZone);
    };
    let Some((dst_zone, _)) = zone(zone_of(slot, p.family, &p.dst)) else {
        return drop(Reason::UnknownZone);
    };
    if src_zone == dst_zone {
        return if src_flags & zone_flags::INTRA_ALLOW != 0 {
            pass(Reason::AllowedIntraZone, 0)
        } else {
            drop(Reason::DefaultDeny)
        };
    }
    let action = find_conduit(
        slot,
        src_zone,
        dst_zone,
        conduit::point(p.proto, p.conduit_value()),
    );
    if action.conduit_id == 0 {
        return drop(Reason::DefaultDeny);
    }
    count_rule(ctx, action.rule_id);
    // The clock is read only where a timestamp is kept or a bucket refilled: a denied
    // packet or an allowed one that opens nothing never pays for it.
    if action.flags & action_flags::RATE_LIMIT != 0 && !conforms(slot, action.conduit_id, p, now())
    {
        return deny_on(
            Reason::RateLimited,
            action.conduit_id,
            action.flags & action_flags::MONITOR != 0,
        );
    }
    let flags = flow_flags::of_action(action.flags, src_is_lo);
    if action.inspector > inspector::MODBUS
        && (p.proto == proto::TCP || action.inspector == inspector::BACNET)
    {
        // A segment of a stream-inspected protocol: its flow is tracked from here (a SYN, or
        // a connection picked up mid-stream) and its inspector decides it.
        let session = if p.opens_flow() {
            0
        } else {
            inspector::session_at_pickup(action.inspector)
        };
        open_flow(&flow_key, cfg, &action, flags, session);
        return stream::hand_over(ctx, slot, true, Reason::AllowedConduit, action.inspector);
    }
    if action.inspector == inspector::MODBUS && action.profile_id != 0 && p.payload_len != 0 {
        // A new packet in the conduit's direction carries requests.
        let profile = profile_index(slot, action.profile_id);
        let verdict = inspect(ctx.data(), ctx.data_end(), p, profile, true);
        if verdict != 0 {
            let monitor = action.flags & action_flags::MONITOR != 0;
            let reset =
                action.flags & action_flags::RESET_ON_VIOLATION != 0 && resets(p, cfg, monitor);
            if reset {
                // A segment of a connection conntrack does not know (opened before zcfw
                // started, or evicted): remember it as reset so its sender gets a RST too.
                remember_reset(&flow_key, src_is_lo, cfg, action.conduit_id);
            }
            return inspection_deny(verdict, action.conduit_id, monitor, reset);
        }
    }
    if p.opens_flow() {
        open_flow(&flow_key, cfg, &action, flags, 0);
    }
    if p.fragment == Fragment::First {
        remember_first_fragment(p, action.conduit_id, now());
    }
    pass(Reason::AllowedConduit, action.conduit_id)
}

/// Tracks the flow `key` that `action` allows, with flow flags `flags` and inspector session
/// bits `session`.
#[inline(never)]
fn open_flow(key: &FlowKey, cfg: &SlotConfig, action: &ConduitAction, flags: u8, session: u8) {
    let mut state = FlowState::new(
        cfg.generation,
        action.conduit_id,
        action.profile_id,
        flags,
        now(),
    );
    state.inspector = action.inspector;
    state.session = session;
    let _ = FLOWS.insert(key, &state, 0);
}

/// Judges a flow admitted under an older policy generation against the current one, from the
/// point of view of the endpoint that opened it. Refreshes the entry when still allowed.
#[inline(never)]
fn rejudge(slot: u8, cfg: &SlotConfig, key: &FlowKey, state: &mut FlowState) -> bool {
    let ((opener, _), (peer, peer_port)) = key.opener(state);
    let family = key.family();
    let Some((from, _)) = zone(zone_of(slot, family, &opener)) else {
        return false;
    };
    let Some((to, _)) = zone(zone_of(slot, family, &peer)) else {
        return false;
    };
    let value = match key.proto {
        proto::ICMP => (icmp_type::ECHO_REQUEST as u16) << 8,
        proto::ICMPV6 => (icmp_type::V6_ECHO_REQUEST as u16) << 8,
        _ => peer_port,
    };
    let action = find_conduit(slot, from, to, conduit::point(key.proto, value));
    if action.conduit_id == 0 {
        return false;
    }
    state.generation = cfg.generation;
    state.conduit_id = action.conduit_id;
    state.profile_id = action.profile_id;
    if state.inspector != action.inspector {
        // Inspected by another protocol now: its position in that protocol is unknown, each
        // direction starts on a boundary with its next segment.
        state.inspector = action.inspector;
        state.session = inspector::session_at_pickup(action.inspector);
        let _ = STREAMS.remove(key);
    }
    state.flags &= !(flow_flags::RATE_LIMITED
        | flow_flags::MONITOR
        | flow_flags::RESET_ON_VIOLATION
        | flow_flags::EXCEPTION_ON_VIOLATION);
    if action.flags & action_flags::RESET_ON_VIOLATION != 0 {
        state.flags |= flow_flags::RESET_ON_VIOLATION;
    }
    if action.flags & action_flags::EXCEPTION_ON_VIOLATION != 0 {
        state.flags |= flow_flags::EXCEPTION_ON_VIOLATION;
    }
    if action.flags & action_flags::RATE_LIMIT != 0 {
        state.flags |= flow_flags::RATE_LIMITED;
    }
    if action.flags & action_flags::MONITOR != 0 {
        state.flags |= flow_flags::MONITOR;
    }
    true
}

/// Takes a token from the bucket of `p`'s source on `conduit_id`; false when it is empty.
#[inline(never)]
fn conforms(slot: u8, conduit_id: u16, p: &Packet, now: u64) -> bool {
    let Some(limit) = RATE_LIMITS.get(rate_limit_index(slot, conduit_id)) else {
        return true;
    };
    let key = BucketKey {
        src: p.src,
        conduit_id,
        family: p.family as u8,
        _pad: 0,
    };
    if let Some(bucket) = BUCKETS.get_ptr_mut(&key) {
        // SAFETY: a valid pointer to the LRU value; a racing CPU may lose an update, which
        // only makes the limit approximate by a packet.
        return unsafe { (*bucket).take(limit, now) };
    }
    let mut bucket = Bucket::default();
    let ok = bucket.take(limit, now);
    let _ = BUCKETS.insert(&key, &bucket, 0);
    ok
}

/// Records an allowed first fragment so the later fragments of its datagram pass (called for
/// first fragments only: the check stays on the caller's side, off a call on every packet).
#[inline(never)]
pub(crate) fn remember_first_fragment(p: &Packet, conduit_id: u16, now: u64) {
    let state = FragState {
        conduit_id,
        last_seen_ns: now,
        ..FragState::default()
    };
    let _ = FRAGS.insert(&frag_key(p), &state, 0);
}

#[inline(never)]
fn later_fragment(p: &Packet, now: u64) -> Decision {
    let key = frag_key(p);
    // SAFETY: plain read; a racing update only refreshes the timestamp.
    match unsafe { FRAGS.get(&key) } {
        Some(state) if now.saturating_sub(state.last_seen_ns) <= timeout::FRAG_NS => {
            pass(Reason::AllowedFragment, state.conduit_id)
        }
        _ => drop(Reason::FragmentNoFlow),
    }
}

#[inline(always)]
fn frag_key(p: &Packet) -> FragKey {
    FragKey {
        src: p.src,
        dst: p.dst,
        id: p.frag_id,
        proto: p.proto,
        family: p.family as u8,
        _pad: [0; 2],
    }
}

/// Zone of an address by longest-prefix match in the active slot, packed as
/// `zone_id | flags << 16` (0 = no zone). A plain integer, not an `Option`, so no half-defined
/// register crosses the BPF-to-BPF call (the verifier rejects reading one).
/// IPv4 reads the inlined direct-index table; IPv6 calls into the kernel's trie.
#[inline(always)]
pub(crate) fn zone_of(slot: u8, family: Family, addr: &[u8; 16]) -> u32 {
    match family {
        Family::Ipv4 => zonetable::lookup(slot, [addr[0], addr[1], addr[2], addr[3]], |w| {
            ZONE_TABLE_V4.get(w).copied().unwrap_or(0)
        }),
        Family::Ipv6 => zone_of_v6(slot, addr),
    }
}

/// [`zone_of`] for IPv6: longest-prefix match in the trie.
#[inline(never)]
fn zone_of_v6(slot: u8, addr: &[u8; 16]) -> u32 {
    use aya_ebpf::maps::lpm_trie::Key;
    let mut data = [0u8; 17];
    data[0] = slot;
    data[1..].copy_from_slice(addr);
    match ZONES_V6.get(&Key::new(136, data)) {
        Some(info) => info.zone_id as u32 | (info.flags as u32) << 16,
        None => 0,
    }
}

/// Splits a packed zone into (zone id, flags); `None` for "no zone".
#[inline(always)]
pub(crate) fn zone(packed: u32) -> Option<(u16, u16)> {
    if packed as u16 == 0 {
        None
    } else {
        Some((packed as u16, (packed >> 16) as u16))
    }
}

/// The conduit allowing `point` from `src_zone` to `dst_zone` (`conduit_id` 0 = none). The
/// usual cases are decided inline: a pair of small zone ids without conduits (no lookup) or
/// whose conduits are all single ports or ICMP types (one lookup); any other pair goes to
/// [`find_conduit_levels`].
#[inline(always)]
pub(crate) fn find_conduit(slot: u8, src_zone: u16, dst_zone: u16, point: u32) -> ConduitAction {
    if let Some((word, shift)) = conduit::pair_mask_at(slot, src_zone, dst_zone) {
        let mask = PAIR_MASKS
            .get(word)
            .map_or(0, |w| (*w >> shift) as u32 & 0xf);
        if mask == 0 {
            return ConduitAction::default();
        }
        if mask == 1 << Level::Exact as u32 {
            let key = conduit::key_at(slot, src_zone, dst_zone, point, Level::Exact);
            return conduit_entry(&key).unwrap_or_default();
        }
    }
    find_conduit_levels(slot, src_zone, dst_zone, point)
}

/// [`find_conduit`] for any pair: one lookup per level that holds entries for the pair (see
/// `firewall_common::conduit`). The pair's level mask is an inline array read for the zone
/// ids of real policies and a hash lookup beyond them.
#[inline(never)]
fn find_conduit_levels(slot: u8, src_zone: u16, dst_zone: u16, point: u32) -> ConduitAction {
    let none = ConduitAction::default();
    let mask = match conduit::pair_mask_at(slot, src_zone, dst_zone) {
        Some((word, shift)) => PAIR_MASKS
            .get(word)
            .map_or(0, |w| (*w >> shift) as u32 & 0xf),
        None => {
            let pair = ZonePairKey {
                slot: slot as u16,
                src_zone,
                dst_zone,
                _pad: 0,
            };
            // SAFETY: plain read of a value the daemon never changes in place.
            match unsafe { ZONE_PAIRS.get(&pair) } {
                Some(pair) => pair.level_mask,
                None => return none,
            }
        }
    };
    for level in Level::ALL {
        if mask & (1 << level as u32) != 0 {
            let key = conduit::key_at(slot, src_zone, dst_zone, point, level);
            if let Some(action) = conduit_entry(&key) {
                return action;
            }
        }
    }
    none
}

/// The conduit entry of `key`, looked up only when its bit in the filter is set: a clear bit
/// (every port a scan or flood tries but one) decides the miss with one inline array read.
#[inline(always)]
fn conduit_entry(key: &ConduitKey) -> Option<ConduitAction> {
    let (word, bit) = conduit::filter_at(key);
    if CONDUIT_FILTER.get(word).is_none_or(|w| *w & bit == 0) {
        return None;
    }
    conduittable::lookup(key, |bucket| CONDUIT_TABLE.get(bucket))
}

/// Benchmark baseline: drops every frame without looking at it. Never attached by the daemon;
/// `cargo xtask bench` measures it beside `zcfw_xdp` to report the cost of XDP itself.
#[xdp]
pub fn zcfw_baseline_drop(_ctx: XdpContext) -> u32 {
    XDP_DROP
}

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The host build is not the XDP program (see the crate documentation): it does nothing.
#[cfg(not(target_arch = "bpf"))]
fn main() {}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
