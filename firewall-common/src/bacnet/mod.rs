//! BACnet/IP (ASHRAE 135 Annex J, udp/47808) deep inspection: the profile the daemon writes
//! ([`BacnetProfile`]), the tables of services, BVLC functions and network-layer messages
//! ([`CONFIRMED`], [`UNCONFIRMED`], [`BVLC`], [`NETWORK_MESSAGES`]), and the datagram check
//! the data path runs on every datagram ([`judge`]).
//!
//! Three layers in one UDP datagram:
//! - BVLC: `0` type 0x81, `1` function (0x0A Original-Unicast-NPDU, 0x0B
//!   Original-Broadcast-NPDU, 0x04 Forwarded-NPDU with the original source's B/IP address in
//!   `4-9`, 0x09 Distribute-Broadcast-To-Network, the BBMD management functions 0x00-0x08),
//!   `2-3` length of the whole datagram (big endian).
//! - NPDU: version 0x01, control (bit 7 network-layer message, bit 5 DNET/DLEN/DADR present,
//!   bit 3 SNET/SLEN/SADR present, bit 2 expecting reply, bits 0-1 priority; bits 6 and 4
//!   reserved), the optional addresses, the hop count when DNET is present, then either a
//!   network-layer message type (with a vendor id when proprietary) or the APDU.
//! - APDU: the PDU type in the high nibble of the first byte. A confirmed request is
//!   `type|flags, max segments/APDU, invoke id, service` — or, segmented (bit 3),
//!   `..., invoke id, sequence number, proposed window size, service`: the service byte moves by
//!   two. An unconfirmed request is `type, service`.
//!
//! A datagram is self-contained, so it is judged whole in one pass: nothing is kept per flow
//! beyond the conntrack entry. A Forwarded-NPDU is judged like any other NPDU once its BVLC
//! function is allowed: an ordinary device executes the request it wraps.

mod check;
mod profile;
mod services;

pub use check::*;
pub use profile::*;
pub use services::*;

/// The registered BACnet/IP port (0xBAC0).
pub const PORT: u16 = 47808;

#[cfg(test)]
mod tests;
