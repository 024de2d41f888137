//! The inspection profile of a BACnet/IP rule (written by the daemon, read by the data path):
//! the confirmed and unconfirmed services a client may ask for, the BVLC functions that may
//! cross, and the network-layer messages that may.

use super::services::{DEFAULT_BVLC, READ_ONLY_CONFIRMED, READ_ONLY_UNCONFIRMED};
use crate::sets::Bitmap256;

/// What a BACnet/IP inspection profile allows. Replies (acks, errors, rejects, aborts) are
/// always allowed from the device's side, a confirmed request never.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BacnetProfile {
    /// Confirmed service choices the client may request.
    pub confirmed: Bitmap256,
    /// Unconfirmed service choices either side may send.
    pub unconfirmed: Bitmap256,
    /// Network-layer message types (NPDU control bit 7) either side may send.
    pub network_messages: Bitmap256,
    /// BVLC functions (bit per function code, 0-15).
    pub bvlc: u16,
    pub _pad: [u8; 6],
}

const _: () = {
    assert!(core::mem::size_of::<BacnetProfile>() == 104);
    assert!(core::mem::align_of::<BacnetProfile>() == 8);
};

#[cfg(feature = "user")]
// SAFETY: #[repr(C)], Copy, only integers and explicit padding (size asserted above), so every
// bit pattern is a valid value.
unsafe impl aya::Pod for BacnetProfile {}

impl Default for BacnetProfile {
    fn default() -> Self {
        Self::new()
    }
}

impl BacnetProfile {
    /// Allows no service and no network message; the default BVLC functions (BVLC-Result,
    /// Original-Unicast-NPDU, Original-Broadcast-NPDU).
    pub const fn new() -> BacnetProfile {
        let mut p = BacnetProfile {
            confirmed: Bitmap256::EMPTY,
            unconfirmed: Bitmap256::EMPTY,
            network_messages: Bitmap256::EMPTY,
            bvlc: 0,
            _pad: [0; 6],
        };
        let mut i = 0;
        while i < DEFAULT_BVLC.len() {
            p.bvlc |= 1 << DEFAULT_BVLC[i];
            i += 1;
        }
        p
    }

    /// The `read_only: true` preset: who_is, i_am, who_has, i_have, read_property,
    /// read_property_multiple, read_range.
    pub const fn read_only() -> BacnetProfile {
        let mut p = BacnetProfile::new();
        let mut i = 0;
        while i < READ_ONLY_CONFIRMED.len() {
            p.confirmed.insert(READ_ONLY_CONFIRMED[i]);
            i += 1;
        }
        let mut i = 0;
        while i < READ_ONLY_UNCONFIRMED.len() {
            p.unconfirmed.insert(READ_ONLY_UNCONFIRMED[i]);
            i += 1;
        }
        p
    }

    /// Replaces the BVLC functions with none (a `bvlc:` list then adds its own).
    pub const fn clear_bvlc(&mut self) {
        self.bvlc = 0;
    }

    /// Allows BVLC function `code` (0-15).
    pub const fn allow_bvlc(&mut self, code: u8) {
        self.bvlc |= 1 << (code & 15);
    }

    /// Whether BVLC function `code` may cross.
    #[inline(always)]
    pub const fn allows_bvlc(&self, code: u8) -> bool {
        code < 16 && self.bvlc & (1 << (code & 15)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_allows_the_plain_bvlc_read_only_the_reads() {
        let p = BacnetProfile::new();
        assert!(p.allows_bvlc(0x0A) && p.allows_bvlc(0x0B) && p.allows_bvlc(0));
        assert!(!p.allows_bvlc(0x04) && !p.allows_bvlc(0x20));
        assert!(!p.confirmed.contains(12));
        let r = BacnetProfile::read_only();
        assert!(r.confirmed.contains(12) && r.confirmed.contains(14) && r.confirmed.contains(26));
        assert!(!r.confirmed.contains(15) && !r.confirmed.contains(20));
        assert!(r.unconfirmed.contains(8) && r.unconfirmed.contains(0));
        assert!(!r.unconfirmed.contains(10));
    }
}
