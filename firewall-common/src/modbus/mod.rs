//! Modbus/TCP deep inspection: the per-profile allow-lists the daemon writes
//! ([`ModbusProfile`]) and the bounded checker the XDP program runs on every TCP segment of
//! an inspected conduit ([`check_request`], [`check_response`]).
//!
//! On the stream position of [`crate::stream`] (issue 14): a segment of whole ADUs in order
//! (at most [`MAX_ADUS_PER_SEGMENT`]) is checked by [`check_request`] / [`check_response`] in
//! the main XDP program; anything else (an ADU cut across segments: a function code alone in
//! its own segment, an MBAP header cut short) is walked ADU by ADU by [`walk_adus`] /
//! [`step_adu`] in the program `zcfw_modbus`, which judges each ADU as soon as its decisive
//! bytes are seen (its unit and function with the function code, its fields after them),
//! holds a head cut short in the stream cursor and passes the tail of an allowed ADU. The
//! whole-segment checker's [`ModbusViolation::Split`] now only tells the main program to hand
//! the segment over; it is no longer counted. The checker is written for the eBPF verifier: no recursion, loops bounded by
//! constants, every read through [`PacketBytes::load`](crate::packet::PacketBytes::load), no indexing that can panic, no division.
//!
//! Verifier cost, measured on kernel 6.18 with a minimal XDP program (parse, profile lookup,
//! [`check_request`] or [`check_response`], 8 ADUs): about 34k instructions processed for the
//! checker when the caller hands it a payload offset the verifier knows nothing about, and
//! about 650k when the caller passes the parser's `payload_offset` straight in, because the
//! checker is then verified once per distinct parser path (IPv4 options, IPv6 extension
//! headers, VLAN tags). So the XDP caller should write `payload_offset`/`payload_len` to a
//! per-CPU scratch slot and read them back (volatile), then build a fresh `PacketBytes` from
//! `ctx.data()`/`ctx.data_end()` for the call (or tail-call into an inspection program).
//!
//! Addresses are the 0-based values on the wire (register 40001 of a "1-based" tool is
//! holding-register address 0 here).
//!
//! ADU layout (offsets from the start of each ADU):
//! `0-1` transaction id, `2-3` protocol id (0), `4-5` length (unit id + PDU, 2..=254),
//! `6` unit id, `7` function code, `8..` function data.
//!
//! One job per file: `wire.rs` numbers, the function table (`functions.rs`), the profile the
//! daemon writes (`profile.rs`), the checker the data path runs (`check/`) and why it denies
//! (`violation.rs`). This module only re-exports them.

mod check;
mod functions;
mod profile;
mod violation;
mod wire;

pub use check::*;
pub use functions::*;
pub use profile::*;
pub use violation::*;
pub use wire::*;
