//! IEC 60870-5-104 APDUs as controlling and controlled stations send them (for the parser's
//! tests, the verdict tests and the dataplane bench).

use alloc::{vec, vec::Vec};

use crate::iec104::{HEAD_LEN, IOA_LEN, START, type_id};

/// A U frame: `function` is one of [`crate::iec104::u_frame`] (STARTDT act, STARTDT con, ...).
pub fn u(function: u8) -> [u8; 6] {
    [START, 4, function, 0, 0, 0]
}

/// An I frame carrying `type_id` with `objects` information objects of the type's element
/// size (zero-filled: information object address 0, and e.g. QOI 0 for an interrogation),
/// cause `cause` (first cause octet, [`crate::iec104::cause`]), originator 0 and common
/// address `ca`; send sequence 1, receive sequence 2.
pub fn i_frame(code: u8, cause: u8, ca: u16, objects: u8) -> Vec<u8> {
    let element = type_id(code).map_or(1, |t| t.element as usize);
    let body = objects as usize * (IOA_LEN + element);
    let mut f = vec![START, (4 + 6 + body) as u8, 0x02, 0x00, 0x04, 0x00];
    f.extend_from_slice(&[code, objects, cause, 0x00]);
    f.extend_from_slice(&ca.to_le_bytes());
    f.resize(HEAD_LEN + body, 0);
    f
}
