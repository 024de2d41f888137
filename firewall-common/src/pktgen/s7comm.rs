//! S7comm TPDUs as S7 clients (snap7) and PLCs send them (for the parser's tests, the verdict
//! tests and the dataplane bench).

use alloc::{vec, vec::Vec};

use crate::s7comm::{S7COMM, cotp, rosctr};

/// A TPKT around `body` (the COTP header and its user data).
pub fn tpkt(body: &[u8]) -> Vec<u8> {
    let len = body.len() + 4;
    let mut f = vec![0x03, 0x00, (len >> 8) as u8, len as u8];
    f.extend_from_slice(body);
    f
}

/// A COTP connection request as snap7 sends it: TPDU size 1024, calling TSAP 0x0100,
/// called TSAP `called` (connection type and rack/slot, e.g. 0x0102: PG, rack 0, slot 2).
pub fn connection_request(called: u16) -> Vec<u8> {
    let [hi, lo] = called.to_be_bytes();
    tpkt(&[
        17,
        cotp::CR,
        0x00,
        0x00,
        0x00,
        0x01,
        0x00,
        0xC0,
        0x01,
        0x0A,
        0xC1,
        0x02,
        0x01,
        0x00,
        cotp::CALLED_TSAP,
        0x02,
        hi,
        lo,
    ])
}

/// The connection confirm of a server.
pub fn connection_confirm() -> Vec<u8> {
    tpkt(&[
        17,
        cotp::CC,
        0x00,
        0x01,
        0x00,
        0x01,
        0x00,
        0xC0,
        0x01,
        0x0A,
        0xC1,
        0x02,
        0x01,
        0x00,
        0xC2,
        0x02,
        0x01,
        0x02,
    ])
}

/// A data TPDU carrying `user_data` (an S7 PDU or a piece of one), with the EOT bit when
/// `eot`.
pub fn dt(user_data: &[u8], eot: bool) -> Vec<u8> {
    let mut body = vec![cotp::DT_LI, cotp::DT, if eot { cotp::EOT } else { 0 }];
    body.extend_from_slice(user_data);
    tpkt(&body)
}

/// An S7 PDU of `rosctr` (job or userdata: 10-byte header) with `params` and `data`.
pub fn s7(kind: u8, params: &[u8], data: &[u8]) -> Vec<u8> {
    let mut p = vec![S7COMM, kind, 0x00, 0x00, 0x05, 0x00];
    p.extend_from_slice(&(params.len() as u16).to_be_bytes());
    p.extend_from_slice(&(data.len() as u16).to_be_bytes());
    p.extend_from_slice(params);
    p.extend_from_slice(data);
    p
}

/// A server's ack-data (12-byte header, error 0) with `params` and `data`.
pub fn ack_data(params: &[u8], data: &[u8]) -> Vec<u8> {
    let mut p = vec![S7COMM, rosctr::ACK_DATA, 0x00, 0x00, 0x05, 0x00];
    p.extend_from_slice(&(params.len() as u16).to_be_bytes());
    p.extend_from_slice(&(data.len() as u16).to_be_bytes());
    p.extend_from_slice(&[0x00, 0x00]);
    p.extend_from_slice(params);
    p.extend_from_slice(data);
    p
}

/// A job PDU (S7 bytes, not yet in a TPDU).
pub fn job(params: &[u8], data: &[u8]) -> Vec<u8> {
    s7(rosctr::JOB, params, data)
}

/// Setup communication (PDU size 480), as snap7 sends it.
pub fn setup_communication() -> Vec<u8> {
    job(&[0xF0, 0x00, 0x00, 0x01, 0x00, 0x01, 0x01, 0xE0], &[])
}

/// One S7ANY item: `count` bytes at byte `start` of `area` (DB `db` for DB areas).
pub fn item(area: u8, db: u16, start: u32, count: u16) -> [u8; 12] {
    let bit = start * 8;
    let [c1, c0] = count.to_be_bytes();
    let [d1, d0] = db.to_be_bytes();
    [
        0x12,
        0x0A,
        0x10,
        0x02,
        c1,
        c0,
        d1,
        d0,
        area,
        (bit >> 16) as u8,
        (bit >> 8) as u8,
        bit as u8,
    ]
}

/// Read var of `items`.
pub fn read_var(items: &[[u8; 12]]) -> Vec<u8> {
    let mut params = vec![0x04, items.len() as u8];
    for i in items {
        params.extend_from_slice(i);
    }
    job(&params, &[])
}

/// Write var of `values` at byte `start` of `area` / DB `db`.
pub fn write_var(area: u8, db: u16, start: u32, values: &[u8]) -> Vec<u8> {
    let mut params = vec![0x05, 1];
    params.extend_from_slice(&item(area, db, start, values.len() as u16));
    let mut data = vec![0x00, 0x04];
    data.extend_from_slice(&((values.len() * 8) as u16).to_be_bytes());
    data.extend_from_slice(values);
    job(&params, &data)
}

/// PLC stop, as snap7 sends it.
pub fn plc_stop() -> Vec<u8> {
    let mut params = vec![0x29, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09];
    params.extend_from_slice(b"P_PROGRAM");
    job(&params, &[])
}

/// A PI service `name` without a parameter block (snap7's hot start: `P_PROGRAM`; compress:
/// `_GARB`).
pub fn pi_service(name: &[u8]) -> Vec<u8> {
    pi_service_with(&[], name)
}

/// A PI service `name` with parameter block `block` (snap7's cold start: `C ` and
/// `P_PROGRAM`; copy RAM to ROM: `EP` and `_MODU`; Step 7's delete: `01 00 "0A00001P"` and
/// `_DELE`): function 0x28, `00 00 00 00 00 00 FD`, the block's length, the block, the
/// name's length, the name.
pub fn pi_service_with(block: &[u8], name: &[u8]) -> Vec<u8> {
    let mut params = vec![0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFD];
    params.extend_from_slice(&(block.len() as u16).to_be_bytes());
    params.extend_from_slice(block);
    params.push(name.len() as u8);
    params.extend_from_slice(name);
    job(&params, &[])
}

/// A userdata request of function `group` / `subfunction` with `data` (e.g. an SZL id and
/// index).
pub fn userdata(group: u8, subfunction: u8, data: &[u8]) -> Vec<u8> {
    let params = [
        0x00,
        0x01,
        0x12,
        0x04,
        0x11,
        0x40 | group,
        subfunction,
        0x00,
    ];
    let mut d = vec![0xFF, 0x09];
    d.extend_from_slice(&(data.len() as u16).to_be_bytes());
    d.extend_from_slice(data);
    s7(rosctr::USERDATA, &params, &d)
}

/// A userdata response of the server.
pub fn userdata_response(group: u8, subfunction: u8, data: &[u8]) -> Vec<u8> {
    let params = [
        0x00,
        0x01,
        0x12,
        0x08,
        0x12,
        0x80 | group,
        subfunction,
        0x01,
        0x00,
        0x00,
        0x00,
        0x00,
    ];
    let mut d = vec![0xFF, 0x09];
    d.extend_from_slice(&(data.len() as u16).to_be_bytes());
    d.extend_from_slice(data);
    s7(rosctr::USERDATA, &params, &d)
}

/// An S7comm-plus PDU (protocol id 0x72, version 1) with `body`.
pub fn plus(body: &[u8]) -> Vec<u8> {
    let mut p = vec![0x72, 0x01];
    p.extend_from_slice(&(body.len() as u16).to_be_bytes());
    p.extend_from_slice(body);
    p.extend_from_slice(&[0x72, 0x01, 0x00, 0x00]);
    p
}
