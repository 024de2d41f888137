//! BACnet/IP datagrams for tests: BVLC around an NPDU around an APDU.

use alloc::vec::Vec;

/// A BVLC message of `function` around `body` (length filled in).
pub fn bvlc(function: u8, body: &[u8]) -> Vec<u8> {
    let len = (4 + body.len()) as u16;
    let mut b = Vec::with_capacity(len as usize);
    b.extend_from_slice(&[0x81, function]);
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(body);
    b
}

/// An Original-Unicast-NPDU carrying `apdu` in a plain local NPDU.
pub fn unicast(apdu: &[u8]) -> Vec<u8> {
    bvlc(0x0A, &npdu(0x04, apdu))
}

/// An Original-Broadcast-NPDU carrying `apdu`.
pub fn broadcast(apdu: &[u8]) -> Vec<u8> {
    bvlc(0x0B, &npdu(0x00, apdu))
}

/// A Forwarded-NPDU (from B/IP address 10.0.0.9:47808) carrying `apdu`.
pub fn forwarded(apdu: &[u8]) -> Vec<u8> {
    let mut body = alloc::vec![10, 0, 0, 9, 0xBA, 0xC0];
    body.extend_from_slice(&npdu(0x00, apdu));
    bvlc(0x04, &body)
}

/// A local NPDU with `control` (no addresses) before `apdu`.
pub fn npdu(control: u8, apdu: &[u8]) -> Vec<u8> {
    let mut b = alloc::vec![1, control];
    b.extend_from_slice(apdu);
    b
}

/// An NPDU routed to network `dnet` (address `dadr`, empty: broadcast on it), from network
/// `snet` address `sadr` if given, hop count 255, before `apdu`.
pub fn routed_npdu(dnet: u16, dadr: &[u8], source: Option<(u16, &[u8])>, apdu: &[u8]) -> Vec<u8> {
    let mut control = 0x20;
    if source.is_some() {
        control |= 0x08;
    }
    let mut b = alloc::vec![1, control];
    b.extend_from_slice(&dnet.to_be_bytes());
    b.push(dadr.len() as u8);
    b.extend_from_slice(dadr);
    if let Some((snet, sadr)) = source {
        b.extend_from_slice(&snet.to_be_bytes());
        b.push(sadr.len() as u8);
        b.extend_from_slice(sadr);
    }
    b.push(255);
    b.extend_from_slice(apdu);
    b
}

/// A network-layer message `message` with `body`.
pub fn network_message(message: u8, body: &[u8]) -> Vec<u8> {
    let mut b = alloc::vec![1, 0x80, message];
    b.extend_from_slice(body);
    bvlc(0x0B, &b)
}

/// A confirmed request of `service`, invoke id 1, with `body` (service parameters).
pub fn confirmed(service: u8, body: &[u8]) -> Vec<u8> {
    let mut b = alloc::vec![0x00, 0x05, 0x01, service];
    b.extend_from_slice(body);
    b
}

/// Segment `seq` of a segmented confirmed request of `service` (window size `window`, more
/// follows when `more`).
pub fn segmented(service: u8, seq: u8, window: u8, more: bool, body: &[u8]) -> Vec<u8> {
    let first = 0x08 | if more { 0x04 } else { 0 } | 0x02;
    let mut b = alloc::vec![first, 0x75, 0x01, seq, window, service];
    b.extend_from_slice(body);
    b
}

/// An unconfirmed request of `service` with `body`.
pub fn unconfirmed(service: u8, body: &[u8]) -> Vec<u8> {
    let mut b = alloc::vec![0x10, service];
    b.extend_from_slice(body);
    b
}

/// ReadProperty of analog-value 1, present-value.
pub const READ_PROPERTY_BODY: [u8; 7] = [0x0C, 0x00, 0x80, 0x00, 0x01, 0x19, 0x55];

/// WriteProperty of analog-value 1, present-value := 99.0 (real).
pub const WRITE_PROPERTY_BODY: [u8; 14] = [
    0x0C, 0x00, 0x80, 0x00, 0x01, 0x19, 0x55, 0x3E, 0x44, 0x42, 0xC6, 0x00, 0x00, 0x3F,
];

/// A SimpleACK of `service`.
pub fn simple_ack(service: u8) -> Vec<u8> {
    alloc::vec![0x20, 0x01, service]
}

/// A ComplexACK of `service` with `body`.
pub fn complex_ack(service: u8, body: &[u8]) -> Vec<u8> {
    let mut b = alloc::vec![0x30, 0x01, service];
    b.extend_from_slice(body);
    b
}
