//! DNP3 (IEEE 1815) deep inspection over TCP: the profile the daemon writes
//! ([`Dnp3Profile`]), the function table ([`FUNCTIONS`]) and the byte walker the data path
//! runs on every segment ([`walk`]).
//!
//! Link frame layout: `0-1` start 0x05 0x64, `2` length (control, addresses and user data:
//! 5-255), `3` control (DIR, PRM, function), `4-5` destination, `6-7` source (little
//! endian), `8-9` CRC of bytes 0-7; then the user data in blocks of 16 bytes, each followed
//! by its CRC. The first user-data byte is the transport octet (FIN, FIR, sequence); in a
//! first transport segment (FIR) the application control and function code follow.
//!
//! DNP3 frames are cut anywhere by TCP, so the walker is byte-wise with its state in a
//! [`Dnp3Cursor`]: a frame is judged as soon as its function code is read, and every CRC
//! is checked (a frame whose CRC fails is denied in the segment that carries the bad CRC: the
//! outstation never receives a complete bad frame). A transport segment without FIR passes
//! only as the next segment of a fragment whose first segment was allowed.

mod check;
mod crc;
mod functions;
mod inspect;
mod profile;

pub use check::*;
pub use crc::{TABLE as CRC_TABLE, of as crc_of, update as crc_update};
pub use functions::*;
pub use inspect::{Direction, cursor_in};
pub use profile::*;

/// The registered DNP3 port.
pub const PORT: u16 = 20000;

#[cfg(test)]
pub(crate) mod tests;
