//! OPC UA binary (UA TCP and UA Secure Conversation, tcp/4840) deep inspection: the profile
//! the daemon writes ([`OpcuaProfile`]), the tables of services and security policies
//! ([`SERVICES`], [`POLICIES`]), and the chunk walker the data path runs on every segment
//! ([`walk`], [`step_part`]).
//!
//! Every chunk starts with an 8-byte header (`0-2` message type HEL, ACK, ERR, RHE, OPN, MSG
//! or CLO; `3` chunk type F, C or A; `4-7` size, little endian). What decides a chunk:
//! - OpenSecureChannel (OPN): the SecurityPolicyUri at 16 (its Int32 length at 12),
//!   cleartext even when the rest of the message is encrypted: it must name an allowed
//!   policy.
//! - A message (MSG) on a secure channel: after the channel id (8), token id (12) and
//!   sequence header (16: sequence number, request id), the first chunk's body starts with
//!   the request's type id at 24, a NodeId in the two-byte, four-byte or numeric encoding
//!   (all three decoded: a Write re-encoded is still a Write). The sequence header and body
//!   are readable on `None` channels and in mode Sign; SignAndEncrypt encrypts them, and the
//!   OpenSecureChannel does not say which mode the channel uses (its body is encrypted on
//!   every policy but `None`), so the profile says whether such bodies are judged
//!   ([`profile_flags::ENCRYPTED_PASS`]).
//! - Later chunks of a message (after a 'C' chunk) carry no type id: they pass with the
//!   message's first chunk, and must carry its request id.

mod check;
mod inspect;
mod profile;
mod services;
mod wire;

pub use check::*;
pub use inspect::{Direction, cursor_of, flags_of, set_cursor};
pub use profile::*;
pub use services::*;
pub use wire::*;

/// The registered OPC UA binary port.
pub const PORT: u16 = 4840;

#[cfg(test)]
mod tests;
