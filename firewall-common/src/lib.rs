//! Types and parsers shared by the zcfw XDP program (kernel side) and the `zcfw` daemon
//! (user side).
//!
//! Everything here is `no_std` so the same code runs in the verifier-checked XDP program
//! and in host unit tests and fuzzers. Map keys and values are `#[repr(C)]` with explicit
//! padding; the `user` feature adds the `aya::Pod` impls the daemon needs.
#![no_std]

#[cfg(any(test, feature = "pktgen"))]
extern crate alloc;

pub mod bacnet;
pub mod capture;
pub mod conduit;
pub mod conduittable;
pub mod decision;
pub mod dnp3;
pub mod enip;
pub mod event;
pub mod exception;
pub mod flow;
pub mod forward;
pub mod iec104;
pub mod learn;
pub mod maps;
pub mod modbus;
pub mod opcua;
pub mod packet;
#[cfg(any(test, feature = "pktgen"))]
pub mod pktgen;
pub mod reason;
pub mod reset;
pub mod s7comm;
pub mod sets;
pub mod stream;
pub mod zonetable;

/// Layout version of every map shared between the kernel and the daemon. Bump it whenever a
/// key or value layout, the set of maps or a map's meaning changes; a daemon never reads
/// pinned maps of another version as its own: it takes them over (`dataplane/upgrade.rs`).
///
/// 6: the version moved to a map of its own ([`maps::names::ABI`]); before, it was only the
/// first field of [`maps::Control`].
///
/// 7: conntrack entries and conduit actions carry an inspector id (and entries the
/// inspector's session bits), IEC 104 and DNP3 profile maps, the inspector program array and
/// the stream positions of their flows (`STREAMS`), fragments their own small value.
///
/// 8: one event token bucket per event class (`EVENT_BUCKET` has [`event::class::COUNT`]
/// entries) and the suppressed events counted per class ([`event::counter::SUPPRESSED`]);
/// conduit actions carry a rule id (their flags shrink to a byte), per-rule counters
/// (`RULE_COUNTERS`), and the capture ring of denied frames with its bucket and counters
/// ([`capture`]); S7comm: its profile map (`S7COMM_PROFILES`), inspector id 4
/// and reasons 41-46; the XDP fast path: the forwarder program array (`FORWARDER`), its
/// devmap (`FORWARD_PORTS`) and counters (`FAST_PATH_COUNTERS`), interface flag `FAST_PATH`;
/// learning mode, the `LEARN` and `LEARN_HOSTS` maps and the `LEARN` control flag;
/// EtherNet/IP: `ENIP_PROFILES`, inspector id 5, reasons 47-52 (per-conduit slots 23-28), a
/// 40-byte stream cursor (`STREAMS` values, and in [`maps::Handoff`], then 76 bytes);
/// conntrack entries keep the stream position the main program judges Modbus and IEC 104
/// on ([`flow::FlowState::fast`], 48 bytes, was 32); Modbus has an inspector program for what
/// it cannot judge inline (`zcfw_modbus`, inspector id 1), whose ADU walk keeps its state in
/// the hand-over value ([`maps::Handoff`]);
/// BACnet/IP: its profile map (`BACNET_PROFILES`), inspector id 7, reasons 59-63, and 64
/// per-conduit counter slots (inspection reasons below 56).
/// 9: the bridge fast path: `BRIDGE_PORTS`, `BRIDGE_FDB`, `BRIDGE_SYNC`, and two more fast-path
/// causes (`FAST_PATH_COUNTERS` values of 13 counters, were 11).
pub const ABI_VERSION: u32 = 9;
