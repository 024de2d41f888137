//! The numbers of the OPC UA binary protocol (OPC 10000-6, "UA TCP" and "UA Secure
//! Conversation"): message types, chunk types, where the decisive fields of a chunk are, and
//! the security policies by URI.

/// Every chunk starts with this header: `0-2` message type (ASCII), `3` chunk type, `4-7`
/// message size (little endian, header included).
pub const HEADER_LEN: usize = 8;

/// Largest chunk the walker accepts (16 MiB). Buffer sizes are negotiated in Hello /
/// Acknowledge and real stacks use 8 KiB to 64 KiB chunks; a size field beyond this is taken
/// as framing garbage.
pub const MAX_CHUNK_BYTES: u32 = 1 << 24;

/// Message types, by index (the order of [`MESSAGE_TYPES`]).
pub mod message {
    /// Hello (client, first message of the connection).
    pub const HEL: u8 = 0;
    /// Acknowledge (server's answer to Hello).
    pub const ACK: u8 = 1;
    /// Error (server; the connection closes after it).
    pub const ERR: u8 = 2;
    /// ReverseHello (sent by a server that connects to a client: reverse connect).
    pub const RHE: u8 = 3;
    /// OpenSecureChannel request or response.
    pub const OPN: u8 = 4;
    /// A message of an open secure channel (a service request or response).
    pub const MSG: u8 = 5;
    /// CloseSecureChannel request.
    pub const CLO: u8 = 6;
    /// Not (yet) a known message type (events: the header was cut before its type).
    pub const UNKNOWN: u8 = 0xFF;
}

/// The three ASCII bytes of each message type, by [`message`] index.
pub const MESSAGE_TYPES: [[u8; 3]; 7] = [
    *b"HEL", *b"ACK", *b"ERR", *b"RHE", *b"OPN", *b"MSG", *b"CLO",
];

/// The name of message type `index` (events).
pub const fn message_name(index: u8) -> &'static str {
    match index {
        message::HEL => "HEL",
        message::ACK => "ACK",
        message::ERR => "ERR",
        message::RHE => "RHE",
        message::OPN => "OPN",
        message::MSG => "MSG",
        message::CLO => "CLO",
        _ => "?",
    }
}

/// Chunk types (byte 3 of the header).
pub mod chunk {
    /// The final (or only) chunk of a message.
    pub const FINAL: u8 = b'F';
    /// An intermediate chunk: more chunks of the same message follow.
    pub const INTERMEDIATE: u8 = b'C';
    /// The sender aborts the message whose earlier chunks it sent.
    pub const ABORT: u8 = b'A';
}

/// Offsets in a chunk (from its first header byte).
pub mod offset {
    /// SecureChannelId (OPN, MSG, CLO).
    pub const CHANNEL_ID: usize = 8;
    /// OPN: the SecurityPolicyUri's length (Int32), then its bytes.
    pub const POLICY_URI_LEN: usize = 12;
    /// OPN: the SecurityPolicyUri's first byte.
    pub const POLICY_URI: usize = 16;
    /// MSG, CLO: the symmetric security header's TokenId.
    pub const TOKEN_ID: usize = 12;
    /// MSG, CLO: the sequence header (SequenceNumber, RequestId), encrypted on
    /// SignAndEncrypt channels.
    pub const SEQUENCE: usize = 16;
    /// MSG, CLO: RequestId.
    pub const REQUEST_ID: usize = 20;
    /// MSG: the body's first field, the type id (a NodeId) of the service request, in the
    /// first chunk of a message only.
    pub const TYPE_ID: usize = 24;
}

/// Smallest chunk of each message type (through the fields the walker reads), by index.
pub const MIN_CHUNK: [u32; 7] = [
    32, // HEL: version, four sizes and counts, EndpointUrl length.
    28, // ACK: version, four sizes and counts.
    16, // ERR: error code, reason length.
    16, // RHE: ServerUri and EndpointUrl lengths.
    16, // OPN: channel id, policy URI length (the URI checked against the size).
    24, // MSG: channel id, token id, sequence header.
    24, // CLO: as MSG.
];

/// NodeId encodings of a type id (the first byte of the NodeId).
pub mod node_id {
    /// Namespace 0, identifier 0-255 in one byte.
    pub const TWO_BYTE: u8 = 0x00;
    /// Namespace 0-255 in one byte, identifier in two (little endian).
    pub const FOUR_BYTE: u8 = 0x01;
    /// Namespace in two bytes, identifier in four (little endian).
    pub const NUMERIC: u8 = 0x02;
}

/// The URI every standard security policy name follows.
pub const POLICY_PREFIX: &[u8] = b"http://opcfoundation.org/UA/SecurityPolicy#";

/// Longest SecurityPolicyUri the walker matches (longer ones are no standard policy).
pub const MAX_POLICY_URI: usize = POLICY_PREFIX.len() + 24;

/// One standard security policy: its short name (the URI's suffix, the policy language's
/// name) and whether OPC 10000-7 deprecates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecurityPolicy {
    pub name: &'static str,
    pub deprecated: bool,
}

/// Index of `None` in [`POLICIES`]: no signature, no encryption.
pub const POLICY_NONE: u8 = 0;

/// The standard security policies, by index (bit `i` of
/// [`super::OpcuaProfile::policies`]).
pub const POLICIES: [SecurityPolicy; 6] = [
    SecurityPolicy {
        name: "None",
        deprecated: false,
    },
    SecurityPolicy {
        name: "Basic128Rsa15",
        deprecated: true,
    },
    SecurityPolicy {
        name: "Basic256",
        deprecated: true,
    },
    SecurityPolicy {
        name: "Basic256Sha256",
        deprecated: false,
    },
    SecurityPolicy {
        name: "Aes128_Sha256_RsaOaep",
        deprecated: false,
    },
    SecurityPolicy {
        name: "Aes256_Sha256_RsaPss",
        deprecated: false,
    },
];

/// Index of "no standard policy" in events.
pub const POLICY_UNKNOWN: u8 = 0xFF;

/// The policy index of short name or full URI `s` (policy language; exact spelling).
pub fn policy_named(s: &str) -> Option<u8> {
    let suffix = match s.strip_prefix(core::str::from_utf8(POLICY_PREFIX).ok()?) {
        Some(suffix) => suffix,
        None => s,
    };
    POLICIES
        .iter()
        .position(|p| p.name == suffix)
        .map(|i| i as u8)
}

/// Bytes of a row of [`POLICY_URIS`] (a power of two: an index is masked into it).
pub const URI_ROW: usize = 128;

const _: () = assert!(MAX_POLICY_URI <= URI_ROW);

/// The full URI of every policy of [`POLICIES`], zero-padded, rows of [`URI_ROW`] bytes (8
/// rows: a policy index is masked into it): the walker compares a byte with one load whose
/// index the verifier can bound.
pub const POLICY_URIS: [[u8; URI_ROW]; 8] = {
    let mut t = [[0u8; URI_ROW]; 8];
    let mut p = 0;
    while p < POLICIES.len() {
        let mut i = 0;
        while i < POLICY_PREFIX.len() {
            t[p][i] = POLICY_PREFIX[i];
            i += 1;
        }
        let name = POLICIES[p].name.as_bytes();
        let mut j = 0;
        while j < name.len() {
            t[p][POLICY_PREFIX.len() + j] = name[j];
            j += 1;
        }
        p += 1;
    }
    t
};

/// Byte `at` of the URI of policy `index`, or `None` past its end.
#[inline(always)]
pub fn policy_uri_byte(index: usize, at: usize) -> Option<u8> {
    if at >= policy_uri_len(index) {
        return None;
    }
    Some(POLICY_URIS[index & 7][at & (URI_ROW - 1)])
}

/// The URI length of policy `index`.
#[inline(always)]
pub const fn policy_uri_len(index: usize) -> usize {
    if index < POLICIES.len() {
        POLICY_PREFIX.len() + POLICIES[index].name.len()
    } else {
        0
    }
}
