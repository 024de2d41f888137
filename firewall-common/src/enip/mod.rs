//! EtherNet/IP with CIP (tcp/44818, explicit messaging) deep inspection: the profile the
//! daemon writes ([`EnipProfile`]), the tables of encapsulation commands and CIP services
//! ([`COMMANDS`], [`SERVICES`]), and the byte walker the data path runs on every segment
//! ([`walk`], [`step`]).
//!
//! Four layers, each with its own length, all little endian:
//! - Encapsulation: a 24-octet header, `0-1` command, `2-3` length of the data after the
//!   header, `4-7` session handle, `8-11` status, `12-19` sender context, `20-23` options;
//!   several encapsulation PDUs may share a segment, and TCP cuts them anywhere.
//! - Common Packet Format (the data of SendRRData 0x6F and SendUnitData 0x70): `0-3`
//!   interface handle (0 for CIP), `4-5` timeout, `6-7` item count, then items (type id,
//!   length, data): an address item (null 0x0000 for SendRRData, connected address 0x00A1
//!   with the connection id for SendUnitData), a data item (unconnected 0x00B2, connected
//!   0x00B1 whose first two octets are a sequence count) and optional socket address items.
//! - CIP: the request in the data item, `0` service (bit 7 set in replies), `1` request
//!   path size in 16-bit words, the path (logical segments naming class, instance,
//!   attribute, member or connection point; ANSI extended symbolic segments 0x91 naming a
//!   tag), then the service's data.
//! - Nested requests: Unconnected Send (0x52 on the Connection Manager, class 6) carries
//!   one embedded request (`0` priority/time tick, `1` timeout ticks, `2-3` its size, the
//!   request, a pad octet, the route path); Multiple Service Packet (0x0A) carries several
//!   (`0-1` count, then an offset per service from the count, then the services). Both are
//!   walked and every request inside is judged as the outermost one is; nesting is
//!   bounded to three levels (a container at the third is denied), and a Multiple Service
//!   Packet to at most [`MSP_MAX`] services.
//!
//! The walker is byte-wise with its state in an [`EnipCursor`], so a request is judged as
//! soon as its path is read, wherever the encapsulation, item and TCP boundaries fall.

mod check;
mod inspect;
mod profile;
mod services;

pub use check::*;
pub use inspect::{Direction, cursor_in};
pub use profile::*;
pub use services::*;

/// The registered EtherNet/IP port (explicit messaging over TCP).
pub const PORT: u16 = 44818;
/// The port of class 0/1 implicit I/O (UDP): not inspected, allowed by port rules only.
pub const IO_PORT: u16 = 2222;

#[cfg(test)]
pub(crate) mod tests;
