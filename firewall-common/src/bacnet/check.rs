//! The BACnet/IP datagram check: BVLC, NPDU and the APDU's decisive header bytes of one UDP
//! datagram, judged in one pass (a datagram is self-contained: nothing is kept between them).

use super::{profile::BacnetProfile, services::npdu_offset};
use crate::{event::detail, packet::PacketBytes};

/// Why a datagram was denied.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BacnetViolation {
    /// BVLC, NPDU or APDU framing: a wrong BVLC type or length, NPDU version or reserved
    /// control bits, a truncated header, a reserved PDU type, a segmented request's window
    /// size outside 1-127.
    Malformed = 0,
    /// A confirmed or unconfirmed service the profile does not list.
    Service = 1,
    /// A BVLC function the profile does not list (e.g. Forwarded-NPDU, BBMD management).
    Bvlc = 2,
    /// A network-layer message the profile does not list.
    Network = 3,
    /// A PDU of the other side: a reply (ack, error, reject) from the client, a confirmed
    /// request from the device.
    Direction = 4,
}

impl BacnetViolation {
    pub const ALL: [BacnetViolation; 5] = [
        BacnetViolation::Malformed,
        BacnetViolation::Service,
        BacnetViolation::Bvlc,
        BacnetViolation::Network,
        BacnetViolation::Direction,
    ];

    /// The reason name without the protocol prefix.
    pub const fn name(self) -> &'static str {
        match self {
            BacnetViolation::Malformed => "malformed",
            BacnetViolation::Service => "service",
            BacnetViolation::Bvlc => "bvlc",
            BacnetViolation::Network => "network",
            BacnetViolation::Direction => "direction",
        }
    }
}

/// What [`BacnetDenial::scope`] holds for a `Service` or `Direction` denial: the PDU type.
pub mod pdu_type {
    pub const CONFIRMED_REQUEST: u8 = 0;
    pub const UNCONFIRMED_REQUEST: u8 = 1;
    pub const SIMPLE_ACK: u8 = 2;
    pub const COMPLEX_ACK: u8 = 3;
    pub const SEGMENT_ACK: u8 = 4;
    pub const ERROR: u8 = 5;
    pub const REJECT: u8 = 6;
    pub const ABORT: u8 = 7;
}

/// A denied datagram and what was read of it (fields not in `known` are 0). `known` holds
/// [`crate::event::detail`] bits:
/// - `Service`: `scope` the PDU type (0 confirmed, 1 unconfirmed), `code` the service choice.
/// - `Bvlc`: `code` the BVLC function.
/// - `Network`: `code` the network-layer message type.
/// - `Direction`: `scope` the PDU type.
/// - and `address` the NPDU's destination network (DNET) when it has one.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BacnetDenial {
    pub kind: BacnetViolation,
    pub known: u8,
    pub scope: u8,
    pub code: u8,
    pub address: u16,
}

const _: () = assert!(core::mem::size_of::<BacnetDenial>() == 6);

impl BacnetDenial {
    #[inline(always)]
    pub const fn new(kind: BacnetViolation) -> BacnetDenial {
        BacnetDenial {
            kind,
            known: 0,
            scope: 0,
            code: 0,
            address: 0,
        }
    }

    #[inline(always)]
    const fn code(kind: BacnetViolation, code: u8) -> BacnetDenial {
        BacnetDenial {
            kind,
            known: detail::CODE,
            scope: 0,
            code,
            address: 0,
        }
    }

    #[inline(always)]
    const fn with_network(mut self, dnet: Option<u16>) -> BacnetDenial {
        if let Some(n) = dnet {
            self.known |= detail::ADDRESS;
            self.address = n;
        }
        self
    }

    /// The event detail: `scope | code << 8 | address << 16` and its detail bits.
    #[inline(always)]
    pub const fn packed(&self) -> (u32, u8) {
        let packed = self.scope as u32 | (self.code as u32) << 8 | (self.address as u32) << 16;
        (
            packed,
            self.known & (detail::SCOPE | detail::CODE | detail::ADDRESS),
        )
    }
}

/// The longest network address (DADR, SADR) accepted in an NPDU: BACnet/IP and BACnet/SC use 6
/// octets, Ethernet 6, MS/TP 1; anything longer is denied as malformed.
pub const MAX_MAC_LEN: usize = 7;

/// Fixed lengths of the BVLC management messages without an NPDU (`0`: a multiple of 10 after
/// the 4-byte header, `u16::MAX`: any).
const fn management_len(function: u8) -> u16 {
    match function {
        0x00 | 0x05 => 6,
        0x02 | 0x06 => 4,
        0x08 => 10,
        0x01 | 0x03 | 0x07 => 0,
        _ => u16::MAX,
    }
}

/// The bytes of `b` before `end`: what follows the datagram (Ethernet padding, a longer
/// buffer) is never read as part of it.
struct Within<'a, B: ?Sized> {
    b: &'a B,
    end: usize,
}

impl<B: PacketBytes + ?Sized> PacketBytes for Within<'_, B> {
    #[inline(always)]
    fn holds(&self, len: usize) -> bool {
        len <= self.end && self.b.holds(len)
    }

    #[inline(always)]
    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        if offset.checked_add(N)? > self.end {
            return None;
        }
        self.b.load::<N>(offset)
    }
}

#[inline(always)]
fn byte<B: PacketBytes + ?Sized>(b: &B, at: usize) -> Result<u8, BacnetDenial> {
    match b.load::<1>(at) {
        Some([v]) => Ok(v),
        None => Err(BacnetDenial::new(BacnetViolation::Malformed)),
    }
}

/// Judges the BACnet/IP datagram of `len` bytes at `off` in `b` (the whole UDP payload), sent by
/// the client (`from_client`: the side that the conduit lets send requests) or by the device.
/// Every read is bounds-checked; what cannot be read is malformed.
#[inline(always)]
pub fn judge<B: PacketBytes + ?Sized>(
    b: &B,
    off: usize,
    len: usize,
    profile: &BacnetProfile,
    from_client: bool,
) -> Result<(), BacnetDenial> {
    use BacnetViolation::*;
    let b = &Within { b, end: off + len };
    let malformed = BacnetDenial::new(Malformed);
    // BVLC: type 0x81, function, length of the whole datagram.
    let Some([kind, function, hi, lo]) = b.load::<4>(off) else {
        return Err(malformed);
    };
    if kind != 0x81 || (u16::from_be_bytes([hi, lo]) as usize) != len || len < 4 {
        return Err(malformed);
    }
    if !profile.allows_bvlc(function) {
        return Err(BacnetDenial::code(Bvlc, function));
    }
    let Some(npdu) = npdu_offset(function) else {
        let want = management_len(function);
        let ok = match want {
            u16::MAX => true,
            0 => (len - 4).is_multiple_of(10),
            n => len == n as usize,
        };
        return if ok { Ok(()) } else { Err(malformed) };
    };
    let mut o = off + npdu;
    let end = off + len;
    // NPDU: version 1, control (bits 6 and 4 reserved).
    let Some([version, control]) = b.load::<2>(o) else {
        return Err(malformed);
    };
    if version != 1 || control & 0x50 != 0 {
        return Err(malformed);
    }
    o += 2;
    let mut dnet = None;
    if control & 0x20 != 0 {
        let Some([n1, n0, dlen]) = b.load::<3>(o) else {
            return Err(malformed);
        };
        if dlen as usize > MAX_MAC_LEN {
            return Err(malformed);
        }
        dnet = Some(u16::from_be_bytes([n1, n0]));
        o += 3 + dlen as usize;
    }
    if control & 0x08 != 0 {
        let Some([n1, n0, slen]) = b.load::<3>(o) else {
            return Err(malformed);
        };
        // A source network must be a real one with an address (SNET 0xFFFF, SLEN 0 are not).
        if slen == 0 || slen as usize > MAX_MAC_LEN || (n1, n0) == (0xFF, 0xFF) {
            return Err(malformed.with_network(dnet));
        }
        o += 3 + slen as usize;
    }
    if control & 0x20 != 0 {
        // Hop count.
        o += 1;
    }
    if control & 0x80 != 0 {
        let message = byte(b, o).map_err(|d| d.with_network(dnet))?;
        if message >= 0x80 {
            // Proprietary: a vendor id follows.
            byte(b, o + 2).map_err(|d| d.with_network(dnet))?;
        }
        if !profile.network_messages.contains(message) {
            return Err(BacnetDenial::code(Network, message).with_network(dnet));
        }
        return if o < end { Ok(()) } else { Err(malformed) };
    }
    // APDU: the PDU type in the high nibble of its first byte.
    let first = byte(b, o).map_err(|d| d.with_network(dnet))?;
    let ty = first >> 4;
    let direction = BacnetDenial {
        kind: Direction,
        known: detail::SCOPE,
        scope: ty,
        code: 0,
        address: 0,
    }
    .with_network(dnet);
    let (service_at, needs) = match ty {
        pdu_type::CONFIRMED_REQUEST => {
            if !from_client {
                return Err(direction);
            }
            if first & 0x08 != 0 {
                // Segmented: sequence number and proposed window size before the service.
                let window = byte(b, o + 4).map_err(|d| d.with_network(dnet))?;
                if window == 0 || window > 127 {
                    return Err(malformed.with_network(dnet));
                }
                (o + 5, 6)
            } else {
                (o + 3, 4)
            }
        }
        pdu_type::UNCONFIRMED_REQUEST => (o + 1, 2),
        pdu_type::SIMPLE_ACK | pdu_type::COMPLEX_ACK | pdu_type::ERROR | pdu_type::REJECT => {
            if from_client {
                return Err(direction);
            }
            let needs = if ty == pdu_type::COMPLEX_ACK && first & 0x08 != 0 {
                5
            } else {
                3
            };
            (0, needs)
        }
        pdu_type::SEGMENT_ACK => (0, 4),
        pdu_type::ABORT => (0, 3),
        _ => return Err(malformed.with_network(dnet)),
    };
    byte(b, o + needs - 1).map_err(|d| d.with_network(dnet))?;
    if o + needs > end {
        return Err(malformed.with_network(dnet));
    }
    if service_at == 0 {
        return Ok(());
    }
    let service = byte(b, service_at)?;
    let allowed = if ty == pdu_type::CONFIRMED_REQUEST {
        profile.confirmed.contains(service)
    } else {
        profile.unconfirmed.contains(service)
    };
    if allowed {
        Ok(())
    } else {
        Err(BacnetDenial {
            kind: Service,
            known: detail::SCOPE | detail::CODE,
            scope: ty,
            code: service,
            address: 0,
        }
        .with_network(dnet))
    }
}
