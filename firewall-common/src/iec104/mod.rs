//! IEC 60870-5-104 deep inspection: the profile the daemon writes ([`Iec104Profile`]), the
//! ASDU type table ([`TYPE_IDS`]), and the per-APDU framing and judgement the data path runs
//! through the stream walker ([`crate::stream`]).
//!
//! APDU layout (offsets from the start of each APDU): `0` start byte 0x68, `1` length of
//! the rest (4-253), `2-5` control field (I, S or U frame). I frames carry an ASDU: `6` type
//! id, `7` variable structure qualifier (SQ bit, object count), `8` cause of transmission
//! (with the negative and test bits), `9` originator address, `10-11` common address
//! (little endian), then the information objects (3-byte address and the element).
//!
//! The controlling station (client, tcp/2404 is the server's port) may send the I frames its
//! profile allows, S frames, and STARTDT/STOPDT/TESTFR activations (and TESTFR
//! confirmations); an I frame before the server confirmed STARTDT is a violation. The
//! controlled station's traffic passes as the reply of an allowed flow, except a
//! control-direction type that does not mirror a command (confirmation, termination,
//! negative reply).

mod check;
mod inspect;
mod profile;
mod types;

pub use check::*;
pub use inspect::*;
pub use profile::*;
pub use types::*;

/// The registered IEC 104 port.
pub const PORT: u16 = 2404;

#[cfg(test)]
pub(crate) mod tests;
