//! OPC UA binary chunks for tests, laid out as asyncua sends them: Hello, OpenSecureChannel
//! with a security policy, service requests in MSG chunks with their type id in any NodeId
//! encoding, CloseSecureChannel, and the server's Acknowledge, OPN response and MSG responses.

use alloc::{string::String, vec::Vec};

/// A chunk of `message` type and `chunk` type around `body` (size filled in).
pub fn chunk(message: &[u8; 3], chunk: u8, body: &[u8]) -> Vec<u8> {
    let size = (8 + body.len()) as u32;
    let mut b = Vec::with_capacity(size as usize);
    b.extend_from_slice(message);
    b.push(chunk);
    b.extend_from_slice(&size.to_le_bytes());
    b.extend_from_slice(body);
    b
}

fn ua_string(b: &mut Vec<u8>, s: &[u8]) {
    b.extend_from_slice(&(s.len() as i32).to_le_bytes());
    b.extend_from_slice(s);
}

/// Hello to `opc.tcp://10.30.0.2:4840` with 64 KiB buffers.
pub fn hello() -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0u32, 65535, 65535, 0, 0] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    ua_string(&mut b, b"opc.tcp://10.30.0.2:4840");
    chunk(b"HEL", b'F', &b)
}

/// The server's Acknowledge.
pub fn acknowledge() -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0u32, 65535, 65535, 0, 0] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    chunk(b"ACK", b'F', &b)
}

/// The standard URI of policy `name` (`None`, `Basic256Sha256`, ...).
pub fn policy_uri(name: &str) -> String {
    let mut s = String::from("http://opcfoundation.org/UA/SecurityPolicy#");
    s.push_str(name);
    s
}

/// An OpenSecureChannel request asking for the policy of URI `uri`, with a certificate of
/// `cert_len` bytes (0: null, as on `None`) and a body of `body_len` bytes after it (the
/// sequence header and OpenSecureChannelRequest, opaque here).
pub fn open_uri(uri: &[u8], cert_len: usize, body_len: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0u32.to_le_bytes());
    ua_string(&mut b, uri);
    if cert_len == 0 {
        b.extend_from_slice(&(-1i32).to_le_bytes());
        b.extend_from_slice(&(-1i32).to_le_bytes());
    } else {
        ua_string(&mut b, &alloc::vec![0x30; cert_len]);
        ua_string(&mut b, &[0x11; 20]);
    }
    // Sequence header, then the body (type id 446 in the clear on `None`).
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&[0x01, 0x00, 0xBE, 0x01]);
    b.resize(b.len() + body_len, 0);
    chunk(b"OPN", b'F', &b)
}

/// An OpenSecureChannel request for policy `name` (a certificate unless `None`).
pub fn open(name: &str) -> Vec<u8> {
    let cert = if name == "None" { 0 } else { 1024 };
    open_uri(policy_uri(name).as_bytes(), cert, 60)
}

/// How a type id is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `0x00 id` (only ids below 256).
    TwoByte,
    /// `0x01 ns id16`, what asyncua sends.
    FourByte,
    /// `0x02 ns16 id32`.
    Numeric,
}

/// The NodeId `ns:id` in `encoding`.
pub fn node_id(encoding: Encoding, ns: u16, id: u32) -> Vec<u8> {
    let mut b = Vec::new();
    match encoding {
        Encoding::TwoByte => b.extend_from_slice(&[0x00, id as u8]),
        Encoding::FourByte => {
            b.extend_from_slice(&[0x01, ns as u8]);
            b.extend_from_slice(&(id as u16).to_le_bytes());
        }
        Encoding::Numeric => {
            b.push(0x02);
            b.extend_from_slice(&ns.to_le_bytes());
            b.extend_from_slice(&id.to_le_bytes());
        }
    }
    b
}

/// A MSG chunk of `chunk` type on channel 1 (token 1), sequence number `request + 1`,
/// request id `request`, carrying `body`.
pub fn msg_chunk(chunk_type: u8, request: u32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [1u32, 1, request + 1, request] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(body);
    chunk(b"MSG", chunk_type, &b)
}

/// A request of type `id` (the binary encoding id) in `encoding` with `body_len` bytes of
/// request header and parameters, in one final chunk.
pub fn request_as(encoding: Encoding, id: u32, request: u32, body_len: usize) -> Vec<u8> {
    let mut body = node_id(encoding, 0, id);
    body.resize(body.len() + body_len, 0x5A);
    msg_chunk(b'F', request, &body)
}

/// A request of type `id` as asyncua sends it (four-byte NodeId), 40 bytes of parameters.
pub fn request(id: u32, request_id: u32) -> Vec<u8> {
    request_as(Encoding::FourByte, id, request_id, 40)
}

/// The binary encoding ids of requests the tests send.
pub mod ids {
    pub const GET_ENDPOINTS: u32 = 428;
    pub const CREATE_SESSION: u32 = 461;
    pub const ACTIVATE_SESSION: u32 = 467;
    pub const BROWSE: u32 = 527;
    pub const READ: u32 = 631;
    pub const WRITE: u32 = 673;
    pub const CALL: u32 = 712;
    pub const ADD_NODES: u32 = 488;
    pub const PUBLISH: u32 = 826;
}

/// A request of type `id` of `total` body bytes cut into chunks of at most `per_chunk` body
/// bytes (the type id in the first only): 'C' chunks, then an 'F'.
pub fn chunked(id: u32, request_id: u32, total: usize, per_chunk: usize) -> Vec<u8> {
    let mut body = node_id(Encoding::FourByte, 0, id);
    body.resize(total, 0x5A);
    let parts: Vec<&[u8]> = body.chunks(per_chunk).collect();
    let mut b = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let t = if i + 1 == parts.len() { b'F' } else { b'C' };
        b.extend(msg_chunk(t, request_id, part));
    }
    b
}

/// CloseSecureChannel.
pub fn close(request_id: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [1u32, 1, request_id + 1, request_id] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&[0x01, 0x00, 0xC4, 0x01]);
    b.resize(b.len() + 20, 0);
    chunk(b"CLO", b'F', &b)
}

/// What a client sends up to its first service request on a channel of policy `name`:
/// Hello, OpenSecureChannel, CreateSession, ActivateSession.
pub fn session(name: &str) -> Vec<u8> {
    let mut s = hello();
    s.extend(open(name));
    s.extend(request(ids::CREATE_SESSION, 1));
    s.extend(request(ids::ACTIVATE_SESSION, 2));
    s
}

/// A server's response of type `id` (any bytes after the type id).
pub fn response(id: u32, request_id: u32) -> Vec<u8> {
    request(id + 3, request_id)
}
