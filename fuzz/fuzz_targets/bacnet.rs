//! Random BACnet/IP datagrams through the datagram check of both directions.
//!
//! Input: `ctl`, 3 profile bytes, then the datagram. With `ctl & 1` the bytes become a
//! well-formed BVLC / NPDU / APDU (unicast, broadcast, forwarded, routed, segmented, network
//! message) so that the judgement paths are reached; `ctl & 2` flips one byte.
//!
//! Checks: never a panic; the same verdict at an offset inside a larger buffer; an allowed
//! datagram has the BVLC type and length right, an allowed BVLC function, and (for a plain
//! request) an allowed service; a service denial names a service the profile does not allow.
#![no_main]

use firewall_common::{
    bacnet::{BacnetProfile, BacnetViolation, judge},
    pktgen::bacnet as g,
};
use libfuzzer_sys::fuzz_target;

fn datagram(c: &[u8]) -> Vec<u8> {
    let at = |i: usize| c.get(i).copied().unwrap_or(0);
    let apdu = match at(1) % 6 {
        0 => g::confirmed(at(2), &c[c.len().min(3)..]),
        1 => g::segmented(at(2), at(3), at(4) % 130, at(5) & 1 != 0, &[]),
        2 => g::unconfirmed(at(2) % 16, &[]),
        3 => g::simple_ack(at(2)),
        4 => g::complex_ack(at(2), &[1, 2]),
        _ => vec![at(2), at(3), at(4)],
    };
    match at(0) % 5 {
        0 => g::unicast(&apdu),
        1 => g::broadcast(&apdu),
        2 => g::forwarded(&apdu),
        3 => g::bvlc(
            0x0A,
            &g::routed_npdu(
                u16::from(at(6)),
                &c[..c.len().min(usize::from(at(7) % 9))],
                None,
                &apdu,
            ),
        ),
        _ => g::network_message(at(2), &[at(3), at(4)]),
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (ctl, a, b, c) = (data[0], data[1], data[2], data[3]);
    let mut p = BacnetProfile::read_only();
    for bit in 0..8 {
        if a & 1 << bit != 0 {
            p.confirmed.insert(15 + bit);
        }
        if b & 1 << bit != 0 {
            p.allow_bvlc(bit);
        }
    }
    if c & 1 != 0 {
        p.unconfirmed.insert(10);
    }
    if c & 2 != 0 {
        p.network_messages.insert(c >> 2);
    }
    let mut d = if ctl & 1 != 0 {
        datagram(&data[4..])
    } else {
        data[4..].to_vec()
    };
    if ctl & 2 != 0 && !d.is_empty() {
        let i = usize::from(a) * 7 % d.len();
        d[i] ^= b | 1;
    }
    for from_client in [true, false] {
        let r = judge(&d[..], 0, d.len(), &p, from_client);
        let mut padded = vec![0xA5; 13];
        padded.extend_from_slice(&d);
        padded.extend_from_slice(&[0x5A; 7]);
        assert_eq!(judge(&padded[..], 13, d.len(), &p, from_client), r);
        match r {
            Ok(()) => {
                assert_eq!(d[0], 0x81);
                assert_eq!(usize::from(u16::from_be_bytes([d[2], d[3]])), d.len());
                assert!(p.allows_bvlc(d[1]));
            }
            Err(e) if e.kind == BacnetViolation::Service => {
                let listed = if e.scope == 0 {
                    p.confirmed.contains(e.code)
                } else {
                    p.unconfirmed.contains(e.code)
                };
                assert!(!listed, "{e:?} for a listed service");
            }
            Err(e) if e.kind == BacnetViolation::Bvlc => assert!(!p.allows_bvlc(e.code)),
            Err(_) => {}
        }
    }
});
