//! EtherNet/IP encapsulation PDUs and CIP requests as clients (pycomm3, cpppo) and devices
//! send them (for the parser's tests, the verdict tests and the dataplane bench).

use alloc::{vec, vec::Vec};

use crate::enip::{command, item};

/// The session handle the tests' servers hand out.
pub const SESSION: u32 = 0x0001_0203;

/// An encapsulation PDU: the 24-octet header (status 0, sender context, options 0) and
/// `data`.
pub fn encap(command: u8, session: u32, data: &[u8]) -> Vec<u8> {
    let mut f = vec![command, 0];
    f.extend_from_slice(&(data.len() as u16).to_le_bytes());
    f.extend_from_slice(&session.to_le_bytes());
    f.extend_from_slice(&[0; 4]);
    f.extend_from_slice(b"_pycomm_");
    f.extend_from_slice(&[0; 4]);
    f.extend_from_slice(data);
    f
}

/// A reply PDU with `status`.
pub fn encap_reply(command: u8, session: u32, status: u32, data: &[u8]) -> Vec<u8> {
    let mut f = encap(command, session, data);
    f[8..12].copy_from_slice(&status.to_le_bytes());
    f
}

/// RegisterSession (protocol version 1, no options), before a session handle exists.
pub fn register_session() -> Vec<u8> {
    encap(command::REGISTER_SESSION, 0, &[1, 0, 0, 0])
}

/// ListIdentity (no data).
pub fn list_identity() -> Vec<u8> {
    encap(command::LIST_IDENTITY, 0, &[])
}

/// UnRegisterSession.
pub fn unregister_session() -> Vec<u8> {
    encap(command::UNREGISTER_SESSION, SESSION, &[])
}

/// The CPF of a SendRRData: null address item and an unconnected data item with `cip`.
pub fn cpf_unconnected(cip: &[u8]) -> Vec<u8> {
    let mut d = vec![0, 0, 0, 0, 10, 0, 2, 0];
    d.extend_from_slice(&item::NULL_ADDRESS.to_le_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(&item::UNCONNECTED_DATA.to_le_bytes());
    d.extend_from_slice(&(cip.len() as u16).to_le_bytes());
    d.extend_from_slice(cip);
    d
}

/// A SendRRData carrying `cip` in the test session.
pub fn send_rr(cip: &[u8]) -> Vec<u8> {
    encap(command::SEND_RR_DATA, SESSION, &cpf_unconnected(cip))
}

/// A SendUnitData on connection `connection`, sequence `sequence`, carrying `cip`.
pub fn send_unit(connection: u32, sequence: u16, cip: &[u8]) -> Vec<u8> {
    let mut d = vec![0, 0, 0, 0, 0, 0, 2, 0];
    d.extend_from_slice(&item::CONNECTED_ADDRESS.to_le_bytes());
    d.extend_from_slice(&[4, 0]);
    d.extend_from_slice(&connection.to_le_bytes());
    d.extend_from_slice(&item::CONNECTED_DATA.to_le_bytes());
    d.extend_from_slice(&(cip.len() as u16 + 2).to_le_bytes());
    d.extend_from_slice(&sequence.to_le_bytes());
    d.extend_from_slice(cip);
    encap(command::SEND_UNIT_DATA, SESSION, &d)
}

/// A logical path: class, instance and (if any) attribute, 8-bit segments where they fit.
pub fn logical_path(class: u16, instance: u16, attribute: Option<u16>) -> Vec<u8> {
    let mut p = Vec::new();
    for (ty, v) in [
        (0x20u8, Some(class)),
        (0x24, Some(instance)),
        (0x30, attribute),
    ] {
        match v {
            Some(v) if v <= 0xFF => p.extend_from_slice(&[ty, v as u8]),
            Some(v) => {
                p.extend_from_slice(&[ty | 1, 0]);
                p.extend_from_slice(&v.to_le_bytes());
            }
            None => {}
        }
    }
    p
}

/// An ANSI extended symbolic path naming `tag`.
pub fn symbolic_path(tag: &str) -> Vec<u8> {
    let mut p = vec![0x91, tag.len() as u8];
    p.extend_from_slice(tag.as_bytes());
    if tag.len() % 2 == 1 {
        p.push(0);
    }
    p
}

/// A CIP request: service, path size in words, path, data.
pub fn request(service: u8, path: &[u8], data: &[u8]) -> Vec<u8> {
    assert!(path.len().is_multiple_of(2));
    let mut r = vec![service, (path.len() / 2) as u8];
    r.extend_from_slice(path);
    r.extend_from_slice(data);
    r
}

/// Get_Attribute_Single of class / instance / attribute.
pub fn get_attribute_single(class: u16, instance: u16, attribute: u16) -> Vec<u8> {
    request(0x0E, &logical_path(class, instance, Some(attribute)), &[])
}

/// Set_Attribute_Single of class / instance / attribute to `value`.
pub fn set_attribute_single(class: u16, instance: u16, attribute: u16, value: &[u8]) -> Vec<u8> {
    request(0x10, &logical_path(class, instance, Some(attribute)), value)
}

/// Read Tag of `count` elements of `tag`.
pub fn read_tag(tag: &str, count: u16) -> Vec<u8> {
    request(0x4C, &symbolic_path(tag), &count.to_le_bytes())
}

/// Write Tag of one DINT `value` to `tag`.
pub fn write_tag_dint(tag: &str, value: i32) -> Vec<u8> {
    let mut d = vec![0xC4, 0x00, 1, 0];
    d.extend_from_slice(&value.to_le_bytes());
    request(0x4D, &symbolic_path(tag), &d)
}

/// Reset of the Identity object (type 0: as a power cycle).
pub fn reset_identity() -> Vec<u8> {
    request(0x05, &logical_path(1, 1, None), &[0])
}

/// Unconnected Send to the Connection Manager carrying `embedded`, routed to backplane
/// port 1, slot 0.
pub fn unconnected_send(embedded: &[u8]) -> Vec<u8> {
    let mut d = vec![0x0A, 0xF0];
    d.extend_from_slice(&(embedded.len() as u16).to_le_bytes());
    d.extend_from_slice(embedded);
    if embedded.len() % 2 == 1 {
        d.push(0);
    }
    // Route path: 1 word, reserved, port 1 slot 0.
    d.extend_from_slice(&[1, 0, 0x01, 0x00]);
    request(0x52, &logical_path(6, 1, None), &d)
}

/// Multiple Service Packet to the Message Router carrying `services`.
pub fn multiple_service_packet(services: &[Vec<u8>]) -> Vec<u8> {
    let n = services.len();
    let mut d = (n as u16).to_le_bytes().to_vec();
    let mut offset = 2 + 2 * n;
    for s in services {
        d.extend_from_slice(&(offset as u16).to_le_bytes());
        offset += s.len();
    }
    for s in services {
        d.extend_from_slice(s);
    }
    request(0x0A, &logical_path(2, 1, None), &d)
}

/// A Forward_Open to the Connection Manager (its data as pycomm3 sends it, simplified).
pub fn forward_open() -> Vec<u8> {
    let mut d = vec![0x0A, 0x0E];
    d.extend_from_slice(&[0; 8]); // O->T and T->O connection ids
    d.extend_from_slice(&[0x27, 0x04, 0x09, 0x10, 0x0B, 0x46, 0xA5, 0xC1]);
    d.extend_from_slice(&[3, 0, 0, 0]);
    d.extend_from_slice(&[0x40, 0x4B, 0x4C, 0x00, 0xF4, 0x43]);
    d.extend_from_slice(&[0x40, 0x4B, 0x4C, 0x00, 0xF4, 0x43, 0xA3]);
    d.extend_from_slice(&[3, 0x01, 0x00, 0x20, 0x02, 0x24, 0x01]);
    request(0x54, &logical_path(6, 1, None), &d)
}

/// The device's reply to a Forward_Open that opened O→T connection `o_t` (the id the
/// originator's SendUnitData then carries) and T→O connection `t_o`.
pub fn forward_open_reply(o_t: u32, t_o: u32) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&o_t.to_le_bytes());
    d.extend_from_slice(&t_o.to_le_bytes());
    d.extend_from_slice(&[0x27, 0x04, 0x09, 0x10, 0x0B, 0x46, 0xA5, 0xC1]);
    d.extend_from_slice(&[0x40, 0x4B, 0x4C, 0x00, 0x40, 0x4B, 0x4C, 0x00]);
    d.extend_from_slice(&[0, 0]);
    reply(0x54, 0, &d)
}

/// A CIP reply: service | 0x80, reserved, general status, no additional status, `data`.
pub fn reply(service: u8, status: u8, data: &[u8]) -> Vec<u8> {
    let mut r = vec![service | 0x80, 0, status, 0];
    r.extend_from_slice(data);
    r
}
