//! S7comm (Siemens S7 over ISO-on-TCP, tcp/102) deep inspection: the profile the daemon
//! writes ([`S7Profile`]), the tables of job functions, userdata functions and memory areas
//! ([`FUNCTIONS`], [`USERDATA`], [`AREAS`]), and the byte walker the data path runs on every
//! segment ([`walk`], [`step`]).
//!
//! Three layers, each with its own length:
//! - TPKT (RFC 1006): `0` version 0x03, `1` reserved 0x00, `2-3` length of the whole TPDU
//!   (big endian, header included).
//! - COTP (ISO 8073 class 0): `4` length indicator (LI: header bytes after it), `5` TPDU type
//!   (0xE0 connection request, 0xD0 confirm, 0x80 disconnect request, 0xC0 disconnect
//!   confirm, 0xF0 data, 0x70 error). A connection request carries parameters (code, length,
//!   value) after 6 fixed bytes, among them the called TSAP (0xC2: connection type and
//!   rack/slot). A data TPDU (LI 2) has `6` the EOT bit (0x80, last TPDU of the user data)
//!   and its user data follows: one S7 PDU may span several data TPDUs (EOT 0 then 1).
//! - S7 (in the data TPDUs' user data, concatenated): `0` protocol id 0x32 (0x72 is
//!   S7comm-plus), `1` ROSCTR (1 job, 2 ack, 3 ack-data, 7 userdata), `2-3` reserved, `4-5`
//!   PDU reference, `6-7` parameter length, `8-9` data length, for ack and ack-data `10-11`
//!   error class and code; then the parameters (a job's function code first; a userdata
//!   request's method, type and function group, subfunction) and the data.
//!
//! TCP cuts all three anywhere, so the walker is byte-wise with its state in an
//! [`S7Cursor`]: an S7 PDU is judged as soon as its decisive byte is read, wherever the
//! TPKT, COTP and TCP boundaries fall, also when a client places the function byte in a
//! second data TPDU.

mod check;
mod functions;
mod inspect;
mod pi;
mod profile;

pub use check::*;
pub use functions::*;
pub use inspect::{Direction, cursor_in};
pub use pi::*;
pub use profile::*;

/// The registered ISO-on-TCP port.
pub const PORT: u16 = 102;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_pi;
