//! Modbus/TCP deep inspection: the per-profile allow-lists the daemon writes
//! ([`ModbusProfile`]) and the bounded checker the XDP program runs on every TCP segment of
//! an inspected conduit ([`check_request`], [`check_response`]).
//!
//! No reassembly: a segment must begin and end on ADU boundaries and every ADU in it (at most
//! [`MAX_ADUS_PER_SEGMENT`]) is checked. A function code alone in its own segment, or an MBAP
//! header cut short, is therefore a [`ModbusViolation::Split`] rather than a way around the
//! filter. The checker is written for the eBPF verifier: no recursion, loops bounded by
//! constants, every read through [`PacketBytes::load`], no indexing that can panic, no division.
//!
//! Verifier cost, measured on kernel 6.18 with a minimal XDP program (parse, profile lookup,
//! [`check_request`] or [`check_response`], 8 ADUs): about 34k instructions processed for the
//! checker when the caller hands it a payload offset the verifier knows nothing about, and
//! about 650k when the caller passes the parser's `payload_offset` straight in, because the
//! checker is then verified once per distinct parser path (IPv4 options, IPv6 extension
//! headers, VLAN tags). So the XDP caller should write `payload_offset`/`payload_len` to a
//! per-CPU scratch slot and read them back (volatile), then build a fresh `PacketBytes` from
//! `ctx.data()`/`ctx.data_end()` for the call (or tail-call into an inspection program).
//!
//! Addresses are the 0-based values on the wire (register 40001 of a "1-based" tool is
//! holding-register address 0 here).
//!
//! ADU layout (offsets from the start of each ADU):
//! `0-1` transaction id, `2-3` protocol id (0), `4-5` length (unit id + PDU, 2..=254),
//! `6` unit id, `7` function code, `8..` function data.

mod functions;
mod profile;

pub use functions::*;
pub use profile::*;

use crate::packet::PacketBytes;

/// The registered Modbus/TCP port.
pub const PORT: u16 = 502;
/// MBAP header length (transaction id, protocol id, length, unit id).
pub const MBAP_LEN: usize = 7;
/// Smallest ADU: MBAP header and a function code.
pub const MIN_ADU_LEN: usize = MBAP_LEN + 1;
/// Largest ADU: MBAP header and a 253-byte PDU.
pub const MAX_ADU_LEN: usize = 260;
/// Smallest MBAP length field (unit id and function code).
pub const MIN_MBAP_LENGTH: u16 = 2;
/// Largest MBAP length field (unit id and a 253-byte PDU).
pub const MAX_MBAP_LENGTH: u16 = 254;
/// Most ADUs checked in one segment; a segment carrying more is denied as
/// [`ModbusViolation::Split`] (its framing cannot be inspected within the bound).
pub const MAX_ADUS_PER_SEGMENT: usize = 8;
/// Address ranges a [`ModbusProfile`] holds.
pub const MAX_ADDRESS_RANGES: usize = 8;

/// Function codes with a name in the policy language (see [`FUNCTIONS`]).
pub mod function {
    pub const READ_COILS: u8 = 1;
    pub const READ_DISCRETE_INPUTS: u8 = 2;
    pub const READ_HOLDING_REGISTERS: u8 = 3;
    pub const READ_INPUT_REGISTERS: u8 = 4;
    pub const WRITE_SINGLE_COIL: u8 = 5;
    pub const WRITE_SINGLE_REGISTER: u8 = 6;
    pub const READ_EXCEPTION_STATUS: u8 = 7;
    pub const DIAGNOSTICS: u8 = 8;
    pub const GET_COMM_EVENT_COUNTER: u8 = 11;
    pub const GET_COMM_EVENT_LOG: u8 = 12;
    pub const WRITE_MULTIPLE_COILS: u8 = 15;
    pub const WRITE_MULTIPLE_REGISTERS: u8 = 16;
    pub const REPORT_SERVER_ID: u8 = 17;
    pub const READ_FILE_RECORD: u8 = 20;
    pub const WRITE_FILE_RECORD: u8 = 21;
    pub const MASK_WRITE_REGISTER: u8 = 22;
    pub const READ_WRITE_MULTIPLE_REGISTERS: u8 = 23;
    pub const READ_FIFO_QUEUE: u8 = 24;
    pub const ENCAPSULATED_INTERFACE_TRANSPORT: u8 = 43;
    /// Set in the function code of an exception response.
    pub const EXCEPTION_BIT: u8 = 0x80;
}

/// Protocol limits on the quantity a request may name (Modbus application protocol v1.1b3).
pub mod limits {
    /// FC 1, 2: coils or discrete inputs read.
    pub const READ_BITS: u16 = 2000;
    /// FC 15: coils written (0x07B0; 2000 coils would not fit in a 253-byte PDU).
    pub const WRITE_BITS: u16 = 1968;
    /// FC 3, 4, and the read part of FC 23: registers read.
    pub const READ_REGISTERS: u16 = 125;
    /// FC 16: registers written.
    pub const WRITE_REGISTERS: u16 = 123;
    /// FC 23: registers written.
    pub const READ_WRITE_WRITE_REGISTERS: u16 = 121;
    /// FC 20: byte count range of the sub-requests (7 bytes each).
    pub const READ_FILE_BYTES: (u8, u8) = (0x07, 0xF5);
    /// FC 21: byte count range of the sub-requests.
    pub const WRITE_FILE_BYTES: (u8, u8) = (0x09, 0xFB);
}

/// Bits of [`AddressRange::classes`]: the data table and direction a range applies to. A
/// request's function decides the class it is checked under ([`address_classes`]).
pub mod address_class {
    /// FC 1.
    pub const READ_COILS: u16 = 1 << 0;
    /// FC 2.
    pub const READ_DISCRETE_INPUTS: u16 = 1 << 1;
    /// FC 3, the read part of FC 23, and FC 24 (the FIFO pointer is a holding register).
    pub const READ_HOLDING_REGISTERS: u16 = 1 << 2;
    /// FC 4.
    pub const READ_INPUT_REGISTERS: u16 = 1 << 3;
    /// FC 5, 15.
    pub const WRITE_COILS: u16 = 1 << 4;
    /// FC 6, 16, 22, and the write part of FC 23.
    pub const WRITE_HOLDING_REGISTERS: u16 = 1 << 5;
    /// Every read class.
    pub const READS: u16 =
        READ_COILS | READ_DISCRETE_INPUTS | READ_HOLDING_REGISTERS | READ_INPUT_REGISTERS;
    /// Every write class.
    pub const WRITES: u16 = WRITE_COILS | WRITE_HOLDING_REGISTERS;
    /// Every class.
    pub const ALL: u16 = READS | WRITES;
}

/// Bits of [`ModbusProfile::flags`].
pub mod profile_flags {
    /// Requests of fixed-size functions must have exactly their size (no trailing bytes), FC 43
    /// read-device-id requests must be well formed (read device id code 1-4 and an object
    /// id; trailing bytes after them are allowed, see docs/modbus.md), and function codes 0
    /// and 0x80-0xFF (not request codes) are denied whatever the function bitmap says. On by
    /// default.
    pub const STRICT: u16 = 1 << 0;
}

/// MEI types of FC 43 (bits of [`ModbusProfile::mei_types`]).
pub mod mei {
    /// CANopen general reference: tunnels CANopen, can write. Denied by default.
    pub const CANOPEN_GENERAL_REFERENCE: u8 = 13;
    /// Read device identification. The only MEI type allowed by default.
    pub const READ_DEVICE_ID: u8 = 14;
}

/// FC 8 sub-functions (bits of [`ModbusProfile::diagnostics`]). None is allowed by default.
pub mod diagnostics {
    pub const RETURN_QUERY_DATA: u16 = 0;
    pub const RESTART_COMMUNICATIONS: u16 = 1;
    pub const RETURN_DIAGNOSTIC_REGISTER: u16 = 2;
    pub const CHANGE_ASCII_DELIMITER: u16 = 3;
    /// Silences the device until it is restarted.
    pub const FORCE_LISTEN_ONLY: u16 = 4;
    pub const CLEAR_COUNTERS: u16 = 10;
    pub const RETURN_BUS_MESSAGE_COUNT: u16 = 11;
    pub const RETURN_BUS_ERROR_COUNT: u16 = 12;
    pub const RETURN_BUS_EXCEPTION_COUNT: u16 = 13;
    pub const RETURN_SERVER_MESSAGE_COUNT: u16 = 14;
    pub const RETURN_SERVER_NO_RESPONSE_COUNT: u16 = 15;
    pub const RETURN_SERVER_NAK_COUNT: u16 = 16;
    pub const RETURN_SERVER_BUSY_COUNT: u16 = 17;
    pub const RETURN_BUS_OVERRUN_COUNT: u16 = 18;
    pub const CLEAR_OVERRUN_COUNTER: u16 = 20;
}

/// Why a Modbus segment was denied: the reason classes the data path counts.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModbusViolation {
    /// A function code, FC 8 sub-function or FC 43 MEI type the profile does not allow.
    Function = 0,
    /// A unit id the profile does not allow.
    UnitId = 1,
    /// An address span outside the allowed ranges, a quantity of 0 or over the limit, or a
    /// span past address 65535.
    Address = 2,
    /// Protocol id not 0, MBAP length out of 2..=254, a length inconsistent with the
    /// function or its byte count, an FC 5 value other than 0xFF00/0x0000.
    Malformed = 3,
    /// The segment does not begin and end on ADU boundaries (an ADU or its MBAP header cut
    /// short), or carries more than [`MAX_ADUS_PER_SEGMENT`] ADUs.
    Split = 4,
}

impl ModbusViolation {
    /// Every violation, in discriminant order.
    pub const ALL: [ModbusViolation; 5] = [
        ModbusViolation::Function,
        ModbusViolation::UnitId,
        ModbusViolation::Address,
        ModbusViolation::Malformed,
        ModbusViolation::Split,
    ];

    /// Stable snake_case name used in events, counters and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            ModbusViolation::Function => "modbus_function",
            ModbusViolation::UnitId => "modbus_unit_id",
            ModbusViolation::Address => "modbus_address",
            ModbusViolation::Malformed => "modbus_malformed",
            ModbusViolation::Split => "modbus_split",
        }
    }
}

/// Bits of [`ModbusDenial::known`]: which detail fields hold a value read from the ADU.
pub mod denial_known {
    pub const UNIT: u8 = 1 << 0;
    pub const FUNCTION: u8 = 1 << 1;
    pub const ADDRESS: u8 = 1 << 2;
    pub const SUBFUNCTION: u8 = 1 << 3;
}

/// A denied segment: the violation and what is known of the ADU that caused it, for events.
///
/// Plain integers with a [`denial_known`] mask rather than `Option`s, so that every byte is
/// written on every path (the verifier refuses reads of bytes a `None` leaves undefined);
/// the accessors give the `Option` view. A field that is not known is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModbusDenial {
    pub kind: ModbusViolation,
    /// Index of the offending ADU in the segment (0 = first).
    pub adu: u8,
    /// [`denial_known`] bits.
    pub known: u8,
    /// Unit id, once the MBAP header was read.
    pub unit: u8,
    /// Function code, once it was read.
    pub function: u8,
    pub _pad: u8,
    /// Start address of the span (or single address) that was refused or malformed; for FC 23
    /// the start of the part that failed.
    pub address: u16,
    /// FC 8 sub-function or FC 43 MEI type, once it was read.
    pub subfunction: u16,
}

const _: () = assert!(core::mem::size_of::<ModbusDenial>() == 10);

impl ModbusDenial {
    #[inline(always)]
    const fn new(kind: ModbusViolation, adu: u8) -> ModbusDenial {
        ModbusDenial {
            kind,
            adu,
            known: 0,
            unit: 0,
            function: 0,
            _pad: 0,
            address: 0,
            subfunction: 0,
        }
    }

    #[inline(always)]
    const fn with_kind(mut self, kind: ModbusViolation) -> ModbusDenial {
        self.kind = kind;
        self
    }

    #[inline(always)]
    const fn at(mut self, kind: ModbusViolation, address: u16) -> ModbusDenial {
        self.kind = kind;
        self.address = address;
        self.known |= denial_known::ADDRESS;
        self
    }

    #[inline(always)]
    const fn set_unit(&mut self, unit: u8) {
        self.unit = unit;
        self.known |= denial_known::UNIT;
    }

    #[inline(always)]
    const fn set_function(&mut self, function: u8) {
        self.function = function;
        self.known |= denial_known::FUNCTION;
    }

    #[inline(always)]
    const fn set_subfunction(&mut self, subfunction: u16) {
        self.subfunction = subfunction;
        self.known |= denial_known::SUBFUNCTION;
    }

    /// The unit id, if the MBAP header was read.
    pub const fn unit(&self) -> Option<u8> {
        if self.known & denial_known::UNIT != 0 {
            Some(self.unit)
        } else {
            None
        }
    }

    /// The function code, if it was read.
    pub const fn function(&self) -> Option<u8> {
        if self.known & denial_known::FUNCTION != 0 {
            Some(self.function)
        } else {
            None
        }
    }

    /// The start address refused or malformed, if the denial is about one.
    pub const fn address(&self) -> Option<u16> {
        if self.known & denial_known::ADDRESS != 0 {
            Some(self.address)
        } else {
            None
        }
    }

    /// The FC 8 sub-function or FC 43 MEI type, if it was read.
    pub const fn subfunction(&self) -> Option<u16> {
        if self.known & denial_known::SUBFUNCTION != 0 {
            Some(self.subfunction)
        } else {
            None
        }
    }
}

#[inline(always)]
fn be16(hi: u8, lo: u8) -> u16 {
    u16::from_be_bytes([hi, lo])
}

/// One ADU the framing walk found whole: where its function data starts and how long it is.
#[derive(Clone, Copy)]
struct Adu {
    /// Offset of the byte after the function code.
    data: usize,
    /// Bytes after the function code (MBAP length - 2).
    data_len: usize,
    unit: u8,
    function: u8,
    /// Denial prefilled with the ADU index, unit and function.
    denial: ModbusDenial,
}

/// Walks the ADUs of the segment `[payload_offset, payload_offset + payload_len)`: checks the
/// MBAP header of each (protocol id, length, the ADU fits) and hands the ADU to `check`.
/// Returns the number of ADUs.
#[inline(always)]
fn walk<B, F>(
    b: &B,
    payload_offset: usize,
    payload_len: usize,
    check: F,
) -> Result<u8, ModbusDenial>
where
    B: PacketBytes + ?Sized,
    F: Fn(&B, &Adu) -> Result<(), ModbusDenial>,
{
    let Some(end) = payload_offset.checked_add(payload_len) else {
        return Err(ModbusDenial::new(ModbusViolation::Malformed, 0));
    };
    let mut off = payload_offset;
    for i in 0..MAX_ADUS_PER_SEGMENT as u8 {
        let rest = end.saturating_sub(off);
        if rest == 0 {
            return Ok(i);
        }
        let mut d = ModbusDenial::new(ModbusViolation::Split, i);
        if rest < MIN_ADU_LEN {
            // An MBAP header cut short, or a function code sent on its own: the classic way
            // around a filter that looks at one segment at a time.
            if rest == MBAP_LEN
                && let Some(h) = b.load::<MBAP_LEN>(off)
            {
                d.set_unit(h[6]);
            }
            return Err(d);
        }
        let Some(h) = b.load::<MIN_ADU_LEN>(off) else {
            // The caller's payload length runs past the frame.
            return Err(d.with_kind(ModbusViolation::Malformed));
        };
        d.set_unit(h[6]);
        d.set_function(h[7]);
        let length = be16(h[4], h[5]);
        if be16(h[2], h[3]) != 0 || !(MIN_MBAP_LENGTH..=MAX_MBAP_LENGTH).contains(&length) {
            return Err(d.with_kind(ModbusViolation::Malformed));
        }
        let adu_len = 6 + length as usize;
        if adu_len > rest {
            return Err(d);
        }
        let adu = Adu {
            data: off + MIN_ADU_LEN,
            data_len: length as usize - 2,
            unit: h[6],
            function: h[7],
            denial: d,
        };
        check(b, &adu)?;
        off += adu_len;
    }
    if off < end {
        return Err(ModbusDenial::new(
            ModbusViolation::Split,
            MAX_ADUS_PER_SEGMENT as u8,
        ));
    }
    Ok(MAX_ADUS_PER_SEGMENT as u8)
}

/// Checks every ADU of a client-to-server segment (the TCP payload at
/// `payload_offset..payload_offset + payload_len` of `b`) against `profile`. Returns the
/// number of ADUs checked (0 for an empty payload such as a pure ACK), or the first violation.
#[inline(always)]
pub fn check_request<B: PacketBytes + ?Sized>(
    b: &B,
    payload_offset: usize,
    payload_len: usize,
    profile: &ModbusProfile,
) -> Result<u8, ModbusDenial> {
    walk(b, payload_offset, payload_len, |b, adu| {
        check_request_adu(b, adu, profile)
    })
}

/// Sanity checks every ADU of a server-to-client segment: protocol id 0, MBAP length in
/// 2..=254, ADUs that fill the segment exactly (at most [`MAX_ADUS_PER_SEGMENT`]), and an
/// exception response (function | 0x80) of exactly one exception code byte.
#[inline(always)]
pub fn check_response<B: PacketBytes + ?Sized>(
    b: &B,
    payload_offset: usize,
    payload_len: usize,
) -> Result<u8, ModbusDenial> {
    walk(b, payload_offset, payload_len, |_, adu| {
        check_response_adu(adu)
    })
}

/// Checks one response ADU: an exception response carries exactly one exception code.
#[inline(always)]
fn check_response_adu(adu: &Adu) -> Result<(), ModbusDenial> {
    if adu.function & function::EXCEPTION_BIT != 0 && adu.data_len != 1 {
        return Err(adu.denial.with_kind(ModbusViolation::Malformed));
    }
    Ok(())
}

/// The `N` bytes of function data of a fixed-size request: exactly `N` in strict mode, at
/// least `N` otherwise.
#[inline(always)]
fn fixed<B: PacketBytes + ?Sized, const N: usize>(
    b: &B,
    adu: &Adu,
    strict: bool,
) -> Result<[u8; N], ModbusDenial> {
    if adu.data_len < N || (strict && adu.data_len != N) {
        return Err(adu.denial.with_kind(ModbusViolation::Malformed));
    }
    b.load::<N>(adu.data)
        .ok_or(adu.denial.with_kind(ModbusViolation::Malformed))
}

/// The first `N` bytes of function data of a variable-size request.
#[inline(always)]
fn head<B: PacketBytes + ?Sized, const N: usize>(
    b: &B,
    adu: &Adu,
) -> Result<[u8; N], ModbusDenial> {
    if adu.data_len < N {
        return Err(adu.denial.with_kind(ModbusViolation::Malformed));
    }
    b.load::<N>(adu.data)
        .ok_or(adu.denial.with_kind(ModbusViolation::Malformed))
}

/// The first byte of function data (FC 43 MEI type, FC 20/21 byte count). Read as two bytes
/// starting at the function code: a one-byte packet read lets LLVM fold its bounds check into
/// `ptr >= data_end`, which gives the verifier no readable range.
#[inline(always)]
fn first_data_byte<B: PacketBytes + ?Sized>(b: &B, adu: &Adu) -> Result<u8, ModbusDenial> {
    if adu.data_len < 1 {
        return Err(adu.denial.with_kind(ModbusViolation::Malformed));
    }
    b.load::<2>(adu.data - 1)
        .map(|f| f[1])
        .ok_or(adu.denial.with_kind(ModbusViolation::Malformed))
}

/// Checks a span of `quantity` items from `start` of class `class` whose protocol maximum is
/// `max`.
#[inline(always)]
fn check_span(
    p: &ModbusProfile,
    d: ModbusDenial,
    class: u16,
    start: u16,
    quantity: u16,
    max: u16,
) -> Result<(), ModbusDenial> {
    let limit = if p.max_quantity != 0 && p.max_quantity < max {
        p.max_quantity
    } else {
        max
    };
    let last = start as u32 + quantity as u32;
    if quantity == 0 || quantity > limit || last > 0x1_0000 {
        return Err(d.at(ModbusViolation::Address, start));
    }
    if !p.allows_span(class, start, (last - 1) as u16) {
        return Err(d.at(ModbusViolation::Address, start));
    }
    Ok(())
}

/// Checks that a write-multiple request's byte count is `expected` and that the data ends
/// exactly after the values (`fields` bytes of fields before them).
#[inline(always)]
fn check_byte_count(
    adu: &Adu,
    byte_count: u8,
    expected: u16,
    fields: usize,
    start: u16,
) -> Result<(), ModbusDenial> {
    if byte_count as u16 != expected || adu.data_len != fields + byte_count as usize {
        return Err(adu.denial.at(ModbusViolation::Malformed, start));
    }
    Ok(())
}

/// Checks one request ADU that [`walk`] framed against the profile.
#[inline(always)]
fn check_request_adu<B: PacketBytes + ?Sized>(
    b: &B,
    adu: &Adu,
    p: &ModbusProfile,
) -> Result<(), ModbusDenial> {
    use function::*;
    let d = adu.denial;
    if !p.unit_ids.contains(adu.unit) {
        return Err(d.with_kind(ModbusViolation::UnitId));
    }
    let strict = p.is_strict();
    let fc = adu.function;
    if !p.functions.contains(fc) || (strict && (fc == 0 || fc & EXCEPTION_BIT != 0)) {
        return Err(d.with_kind(ModbusViolation::Function));
    }
    match fc {
        READ_COILS | READ_DISCRETE_INPUTS | READ_HOLDING_REGISTERS | READ_INPUT_REGISTERS => {
            let f = fixed::<B, 4>(b, adu, strict)?;
            let (class, max) = match fc {
                READ_COILS => (address_class::READ_COILS, limits::READ_BITS),
                READ_DISCRETE_INPUTS => (address_class::READ_DISCRETE_INPUTS, limits::READ_BITS),
                READ_HOLDING_REGISTERS => (
                    address_class::READ_HOLDING_REGISTERS,
                    limits::READ_REGISTERS,
                ),
                _ => (address_class::READ_INPUT_REGISTERS, limits::READ_REGISTERS),
            };
            check_span(p, d, class, be16(f[0], f[1]), be16(f[2], f[3]), max)
        }
        WRITE_SINGLE_COIL => {
            let f = fixed::<B, 4>(b, adu, strict)?;
            let address = be16(f[0], f[1]);
            let value = be16(f[2], f[3]);
            if value != 0xFF00 && value != 0 {
                return Err(d.at(ModbusViolation::Malformed, address));
            }
            check_span(p, d, address_class::WRITE_COILS, address, 1, 1)
        }
        WRITE_SINGLE_REGISTER => {
            let f = fixed::<B, 4>(b, adu, strict)?;
            let address = be16(f[0], f[1]);
            check_span(p, d, address_class::WRITE_HOLDING_REGISTERS, address, 1, 1)
        }
        MASK_WRITE_REGISTER => {
            let f = fixed::<B, 6>(b, adu, strict)?;
            let address = be16(f[0], f[1]);
            check_span(p, d, address_class::WRITE_HOLDING_REGISTERS, address, 1, 1)
        }
        READ_FIFO_QUEUE => {
            let f = fixed::<B, 2>(b, adu, strict)?;
            let address = be16(f[0], f[1]);
            check_span(p, d, address_class::READ_HOLDING_REGISTERS, address, 1, 1)
        }
        WRITE_MULTIPLE_COILS => {
            let f = head::<B, 5>(b, adu)?;
            let (start, quantity) = (be16(f[0], f[1]), be16(f[2], f[3]));
            if quantity == 0 || quantity > limits::WRITE_BITS {
                return Err(d.at(ModbusViolation::Address, start));
            }
            check_byte_count(adu, f[4], quantity.div_ceil(8), 5, start)?;
            check_span(
                p,
                d,
                address_class::WRITE_COILS,
                start,
                quantity,
                limits::WRITE_BITS,
            )
        }
        WRITE_MULTIPLE_REGISTERS => {
            let f = head::<B, 5>(b, adu)?;
            let (start, quantity) = (be16(f[0], f[1]), be16(f[2], f[3]));
            if quantity == 0 || quantity > limits::WRITE_REGISTERS {
                return Err(d.at(ModbusViolation::Address, start));
            }
            check_byte_count(adu, f[4], quantity * 2, 5, start)?;
            check_span(
                p,
                d,
                address_class::WRITE_HOLDING_REGISTERS,
                start,
                quantity,
                limits::WRITE_REGISTERS,
            )
        }
        READ_WRITE_MULTIPLE_REGISTERS => {
            // The server writes before it reads: both spans must be allowed.
            let f = head::<B, 9>(b, adu)?;
            let (read_start, read_quantity) = (be16(f[0], f[1]), be16(f[2], f[3]));
            let (write_start, write_quantity) = (be16(f[4], f[5]), be16(f[6], f[7]));
            if write_quantity == 0 || write_quantity > limits::READ_WRITE_WRITE_REGISTERS {
                return Err(d.at(ModbusViolation::Address, write_start));
            }
            check_byte_count(adu, f[8], write_quantity * 2, 9, write_start)?;
            check_span(
                p,
                d,
                address_class::WRITE_HOLDING_REGISTERS,
                write_start,
                write_quantity,
                limits::READ_WRITE_WRITE_REGISTERS,
            )?;
            check_span(
                p,
                d,
                address_class::READ_HOLDING_REGISTERS,
                read_start,
                read_quantity,
                limits::READ_REGISTERS,
            )
        }
        DIAGNOSTICS => {
            let f = head::<B, 2>(b, adu)?;
            let sub = be16(f[0], f[1]);
            let mut d = d;
            d.set_subfunction(sub);
            if sub >= 32 || (p.diagnostics >> sub) & 1 == 0 {
                return Err(d.with_kind(ModbusViolation::Function));
            }
            // Every sub-function but 0 (return query data: any data) carries one 16-bit word.
            if strict && sub != diagnostics::RETURN_QUERY_DATA && adu.data_len != 4 {
                return Err(d.with_kind(ModbusViolation::Malformed));
            }
            Ok(())
        }
        ENCAPSULATED_INTERFACE_TRANSPORT => {
            let mei_type = first_data_byte(b, adu)?;
            let mut d = d;
            d.set_subfunction(mei_type as u16);
            if mei_type >= 32 || (p.mei_types >> mei_type) & 1 == 0 {
                return Err(d.with_kind(ModbusViolation::Function));
            }
            if strict && mei_type == mei::READ_DEVICE_ID {
                // MEI type, read device id code 1..=4, object id; then trailing bytes that
                // the MBAP length counts may follow (real clients send one): a read that
                // changes nothing, served by stacks that frame requests by the MBAP length
                // (docs/modbus.md, "Strict mode and what real clients send").
                if adu.data_len < 3 {
                    return Err(d.with_kind(ModbusViolation::Malformed));
                }
                let g = b
                    .load::<3>(adu.data)
                    .ok_or(d.with_kind(ModbusViolation::Malformed))?;
                if !(1..=4).contains(&g[1]) {
                    return Err(d.with_kind(ModbusViolation::Malformed));
                }
            }
            Ok(())
        }
        READ_FILE_RECORD | WRITE_FILE_RECORD => {
            let byte_count = first_data_byte(b, adu)?;
            let (min, max) = if fc == READ_FILE_RECORD {
                limits::READ_FILE_BYTES
            } else {
                limits::WRITE_FILE_BYTES
            };
            if byte_count < min || byte_count > max || adu.data_len != 1 + byte_count as usize {
                return Err(d.with_kind(ModbusViolation::Malformed));
            }
            Ok(())
        }
        READ_EXCEPTION_STATUS | GET_COMM_EVENT_COUNTER | GET_COMM_EVENT_LOG | REPORT_SERVER_ID => {
            if strict && adu.data_len != 0 {
                return Err(d.with_kind(ModbusViolation::Malformed));
            }
            Ok(())
        }
        // Other allowed functions (40, 42, 90, 125, …) have no fields this checker knows.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use alloc::{vec, vec::Vec};

    use super::{ModbusViolation::*, function::*, *};
    use crate::{
        packet::{Frame, parse, tcp_flags},
        pktgen::{ipv4, tcp},
    };

    /// One ADU: MBAP header (transaction id 1) for `unit` and `pdu` (function code first).
    fn adu(unit: u8, pdu: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 1, 0, 0];
        v.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
        v.push(unit);
        v.extend_from_slice(pdu);
        v
    }

    fn w(x: u16) -> [u8; 2] {
        x.to_be_bytes()
    }

    /// PDU of FC 1-4 / 5 / 6: function, two 16-bit fields.
    fn pdu2(fc: u8, a: u16, b: u16) -> Vec<u8> {
        let mut v = vec![fc];
        v.extend_from_slice(&w(a));
        v.extend_from_slice(&w(b));
        v
    }

    /// FC 15 or 16 request with a consistent byte count.
    fn write_multiple(fc: u8, start: u16, quantity: u16) -> Vec<u8> {
        let bytes = if fc == WRITE_MULTIPLE_COILS {
            quantity.div_ceil(8)
        } else {
            quantity * 2
        };
        let mut v = pdu2(fc, start, quantity);
        v.push(bytes as u8);
        v.extend(core::iter::repeat_n(0xAA, bytes as usize));
        v
    }

    /// FC 23 request with a consistent byte count.
    fn read_write(read: (u16, u16), write: (u16, u16)) -> Vec<u8> {
        let mut v = pdu2(READ_WRITE_MULTIPLE_REGISTERS, read.0, read.1);
        v.extend_from_slice(&w(write.0));
        v.extend_from_slice(&w(write.1));
        v.push((write.1 * 2) as u8);
        v.extend(core::iter::repeat_n(0x55, write.1 as usize * 2));
        v
    }

    /// Every unit and function, every address of every class, nothing else changed.
    fn open() -> ModbusProfile {
        let mut p = ModbusProfile::new();
        p.unit_ids = Bitmap256::FULL;
        p.functions = Bitmap256::FULL;
        p.add_range(0, u16::MAX, address_class::ALL).unwrap();
        p
    }

    fn req(seg: &[u8], p: &ModbusProfile) -> Result<u8, ModbusDenial> {
        check_request(seg, 0, seg.len(), p)
    }

    fn kind(seg: &[u8], p: &ModbusProfile) -> Option<ModbusViolation> {
        req(seg, p).err().map(|d| d.kind)
    }

    fn ok(seg: &[u8], p: &ModbusProfile) {
        assert_eq!(req(seg, p), Ok(1), "{seg:02x?}");
    }

    #[test]
    fn profile_layout() {
        assert_eq!(core::mem::offset_of!(ModbusProfile, unit_ids), 0);
        assert_eq!(core::mem::offset_of!(ModbusProfile, functions), 32);
        assert_eq!(core::mem::offset_of!(ModbusProfile, ranges), 64);
        assert_eq!(core::mem::offset_of!(ModbusProfile, diagnostics), 128);
        assert_eq!(core::mem::offset_of!(ModbusProfile, mei_types), 132);
        assert_eq!(core::mem::offset_of!(ModbusProfile, max_quantity), 136);
        assert_eq!(core::mem::offset_of!(ModbusProfile, flags), 138);
        assert_eq!(core::mem::offset_of!(ModbusProfile, _pad), 140);
        let p = ModbusProfile::default();
        assert!(p.is_strict());
        assert_eq!((p.diagnostics, p.mei_types), (0, 1 << 14));
        assert_eq!(
            (p.unit_ids, p.functions),
            (Bitmap256::EMPTY, Bitmap256::EMPTY)
        );
    }

    #[test]
    fn bitmap_members() {
        let mut b = Bitmap256::EMPTY
            .with(0)
            .with(63)
            .with(64)
            .with(200)
            .with(255);
        for n in 0..=255u8 {
            assert_eq!(b.contains(n), matches!(n, 0 | 63 | 64 | 200 | 255), "{n}");
        }
        b.remove(64);
        assert!(!b.contains(64) && b.contains(63));
        assert!((0..=255).all(|n| Bitmap256::FULL.contains(n)));
    }

    #[test]
    fn function_table() {
        for (i, a) in FUNCTIONS.iter().enumerate() {
            assert_eq!(function_by_name(a.name), Some(a));
            assert_eq!(function_by_code(a.code), Some(a));
            for b in &FUNCTIONS[i + 1..] {
                assert!(a.code < b.code && a.name != b.name);
            }
        }
        let code = |n| function_by_name(n).map(|f| f.code);
        assert_eq!(code("read_holding_registers"), Some(3));
        assert_eq!(code("mask_write_register"), Some(22));
        assert_eq!(code("read_fifo_queue"), Some(24));
        assert_eq!(code("encapsulated_interface_transport"), Some(43));
        assert_eq!(code("write_coil"), None);
        assert_eq!(function_by_code(90), None);
        let access = |c| function_by_code(c).map(|f| f.access);
        for c in [1, 2, 3, 4, 7, 11, 12, 17, 20, 24, 43] {
            assert_eq!(access(c), Some(Access::Read), "{c}");
        }
        for c in [5, 6, 15, 16, 21, 22, 23] {
            assert_eq!(access(c), Some(Access::Write), "{c}");
        }
        assert_eq!(access(8), Some(Access::Diagnostic));
        assert_eq!(
            address_classes(23),
            address_class::READ_HOLDING_REGISTERS | address_class::WRITE_HOLDING_REGISTERS
        );
        assert_eq!(address_classes(24), address_class::READ_HOLDING_REGISTERS);
        assert_eq!(address_classes(8), 0);
    }

    #[test]
    fn violation_names() {
        for (i, v) in ModbusViolation::ALL.iter().enumerate() {
            assert_eq!(*v as usize, i);
            assert!(v.name().starts_with("modbus_"));
        }
        assert_eq!(Split.name(), "modbus_split");
        assert_eq!(UnitId.name(), "modbus_unit_id");
    }

    #[test]
    fn profile_edits() {
        let mut p = ModbusProfile::new();
        assert_eq!(
            p.add_range(5, 4, address_class::ALL),
            Err(ProfileError::EmptyRange)
        );
        assert_eq!(p.add_range(0, 4, 0), Err(ProfileError::EmptyRange));
        for i in 0..MAX_ADDRESS_RANGES as u16 {
            p.add_range(i * 10, i * 10 + 5, address_class::READS)
                .unwrap();
        }
        assert_eq!(
            p.add_range(0, 1, address_class::READS),
            Err(ProfileError::TooManyRanges)
        );
        assert!(p.allows_span(address_class::READ_COILS, 70, 75));
        assert!(!p.allows_span(address_class::READ_COILS, 74, 76));
        assert!(!p.allows_span(address_class::WRITE_COILS, 70, 70));
        p.clear_ranges();
        assert!(!p.allows_span(address_class::READ_COILS, 0, 0));
        assert_eq!(p.allow_diagnostics(32), Err(ProfileError::OutOfBitmap));
        assert_eq!(p.allow_diagnostics(0), Ok(()));
        assert_eq!(p.set_mei_types(&[13, 14]), Ok(()));
        assert_eq!(p.mei_types, 3 << 13);
        assert_eq!(p.set_mei_types(&[40]), Err(ProfileError::OutOfBitmap));
    }

    #[test]
    fn denial_details() {
        let p = open();
        // Nothing read yet: no detail, every field zero.
        let d = req(&[0, 1, 0], &p).unwrap_err();
        assert_eq!((d.kind, d.adu, d.known), (Split, 0, 0));
        assert_eq!(
            (d.unit(), d.function(), d.address(), d.subfunction()),
            (None, None, None, None)
        );
        assert_eq!((d.unit, d.function, d.address, d.subfunction), (0, 0, 0, 0));
        // Unit and function once the header is read; address for address denials.
        let d = req(&adu(5, &pdu2(3, 0xFFFF, 2)), &p).unwrap_err();
        assert_eq!(
            (d.unit(), d.function(), d.address()),
            (Some(5), Some(3), Some(0xFFFF))
        );
        assert_eq!(
            d.known,
            denial_known::UNIT | denial_known::FUNCTION | denial_known::ADDRESS
        );
        let d = req(&adu(5, &[8, 0, 4, 0, 0]), &p).unwrap_err();
        assert_eq!((d.subfunction(), d.address()), (Some(4), None));
        // Unit 0 and function 0 are details too, told apart from "unknown" by `known`.
        let d = req(&adu(0, &[0]), &p).unwrap_err();
        assert_eq!(
            (d.kind, d.unit(), d.function()),
            (Function, Some(0), Some(0))
        );
    }

    #[test]
    fn empty_payload_is_nothing_to_check() {
        assert_eq!(check_request(&[][..], 0, 0, &ModbusProfile::new()), Ok(0));
        assert_eq!(check_response(&[][..], 0, 0), Ok(0));
        // An empty payload at the end of a frame.
        let seg = adu(1, &pdu2(3, 0, 1));
        assert_eq!(
            check_request(&seg[..], seg.len(), 0, &ModbusProfile::new()),
            Ok(0)
        );
    }

    #[test]
    fn read_only_preset() {
        let p = ModbusProfile::read_only();
        for fc in 1..=4 {
            ok(&adu(9, &pdu2(fc, 0, 1)), &p);
            ok(&adu(0, &pdu2(fc, 65535, 1)), &p);
        }
        ok(&adu(1, &[43, 14, 1, 0]), &p);
        assert_eq!(kind(&adu(1, &[43, 13, 0, 0]), &p), Some(Function));
        for pdu in [
            pdu2(5, 0, 0xFF00),
            pdu2(6, 0, 1),
            write_multiple(15, 0, 1),
            write_multiple(16, 0, 1),
            read_write((0, 1), (0, 1)),
            vec![7],
            vec![8, 0, 0, 0, 0],
            vec![17],
            vec![22, 0, 0, 0, 0, 0, 0],
            vec![24, 0, 0],
        ] {
            let d = req(&adu(1, &pdu), &p).unwrap_err();
            assert_eq!((d.kind, d.function()), (Function, Some(pdu[0])), "{pdu:?}");
        }
    }

    #[test]
    fn every_named_function_passes_a_wide_open_profile() {
        let mut p = open();
        p.diagnostics = u32::MAX;
        for pdu in [
            pdu2(1, 0, 2000),
            pdu2(2, 100, 8),
            pdu2(3, 0, 125),
            pdu2(4, 65535, 1),
            pdu2(5, 7, 0xFF00),
            pdu2(5, 7, 0x0000),
            pdu2(6, 7, 0x1234),
            vec![7],
            vec![8, 0, 0, 0xA5, 0x37],
            vec![8, 0, 0],
            vec![8, 0, 10, 0, 0],
            vec![11],
            vec![12],
            write_multiple(15, 0, 1968),
            write_multiple(16, 0, 123),
            vec![17],
            vec![20, 7, 6, 0, 1, 0, 0, 0, 1],
            vec![21, 9, 6, 0, 1, 0, 0, 0, 1, 0x12, 0x34],
            vec![22, 0, 4, 0xF2, 0xF2, 0x00, 0x25],
            read_write((0, 125), (0, 121)),
            vec![24, 0x04, 0xDE],
            vec![43, 14, 1, 0],
            vec![43, 14, 4, 0x80],
            vec![90, 0, 0x40],
            vec![125],
        ] {
            ok(&adu(1, &pdu), &p);
        }
    }

    #[test]
    fn unit_and_function_allow_lists() {
        let mut p = ModbusProfile::new();
        p.allow_unit(1);
        p.allow_unit(255);
        p.allow_function(READ_HOLDING_REGISTERS);
        p.allow_function(90);
        p.add_range(0, 999, address_class::ALL).unwrap();
        ok(&adu(1, &pdu2(3, 0, 10)), &p);
        ok(&adu(255, &pdu2(3, 0, 10)), &p);
        let d = req(&adu(2, &pdu2(3, 0, 10)), &p).unwrap_err();
        assert_eq!((d.kind, d.unit(), d.function()), (UnitId, Some(2), Some(3)));
        let d = req(&adu(1, &pdu2(4, 0, 10)), &p).unwrap_err();
        assert_eq!(
            (d.kind, d.unit(), d.function(), d.address()),
            (Function, Some(1), Some(4), None)
        );
        // An allowed function without fields to check passes on its code alone.
        ok(&adu(1, &[90, 0x00, 0x58, 0x01]), &p);
        // A unit is checked before the function.
        assert_eq!(kind(&adu(3, &[66]), &p), Some(UnitId));
    }

    #[test]
    fn strict_mode_refuses_non_request_function_codes() {
        let mut p = open();
        ok(&adu(1, &[0x41]), &p);
        for fc in [0u8, 0x80, 0x83, 0xFF] {
            assert_eq!(kind(&adu(1, &[fc, 2]), &p), Some(Function), "{fc:#x}");
        }
        p.flags = 0;
        ok(&adu(1, &[0x83, 2]), &p);
        p.functions.remove(0x83);
        assert_eq!(kind(&adu(1, &[0x83, 2]), &p), Some(Function));
    }

    /// First and last allowed address of a range, one before, one past, for every
    /// address-bearing function and class.
    #[test]
    fn address_boundaries_per_class() {
        use address_class as c;
        let span = |fc: u8, start: u16, quantity: u16| -> Vec<u8> {
            match fc {
                1..=4 => pdu2(fc, start, quantity),
                5 => pdu2(5, start, 0xFF00),
                6 => pdu2(6, start, 0),
                15 | 16 => write_multiple(fc, start, quantity),
                22 => {
                    let mut v = pdu2(22, start, 0xFFFF);
                    v.extend_from_slice(&[0, 0]);
                    v
                }
                24 => {
                    let mut v = vec![24];
                    v.extend_from_slice(&w(start));
                    v
                }
                23 => read_write((start, quantity), (start, quantity)),
                _ => unreachable!(),
            }
        };
        let cases: [(u8, u16, u16); 11] = [
            (1, c::READ_COILS, 10),
            (2, c::READ_DISCRETE_INPUTS, 10),
            (3, c::READ_HOLDING_REGISTERS, 10),
            (4, c::READ_INPUT_REGISTERS, 10),
            (5, c::WRITE_COILS, 1),
            (6, c::WRITE_HOLDING_REGISTERS, 1),
            (15, c::WRITE_COILS, 10),
            (16, c::WRITE_HOLDING_REGISTERS, 10),
            (22, c::WRITE_HOLDING_REGISTERS, 1),
            (24, c::READ_HOLDING_REGISTERS, 1),
            (
                23,
                c::READ_HOLDING_REGISTERS | c::WRITE_HOLDING_REGISTERS,
                10,
            ),
        ];
        for (fc, class, q) in cases {
            let mut p = ModbusProfile::new();
            p.unit_ids = Bitmap256::FULL;
            p.functions = Bitmap256::FULL;
            p.add_range(100, 199, class).unwrap();
            // First and last address of the range.
            ok(&adu(1, &span(fc, 100, q)), &p);
            ok(&adu(1, &span(fc, 200 - q, q)), &p);
            // One before, one past.
            for (start, quantity) in [(99, q), (201 - q, q), (200, 1), (0, 1)] {
                let d = req(&adu(1, &span(fc, start, quantity)), &p).unwrap_err();
                assert_eq!(
                    (d.kind, d.address()),
                    (Address, Some(start)),
                    "fc {fc} start {start}"
                );
            }
            // A range of every other class does not help.
            let mut other = p;
            other.clear_ranges();
            other.add_range(0, u16::MAX, c::ALL & !class).unwrap();
            assert_eq!(
                kind(&adu(1, &span(fc, 100, q)), &other),
                Some(Address),
                "fc {fc}"
            );
            // A span straddling two adjacent ranges is not inside one range.
            if q > 1 {
                let mut two = ModbusProfile::new();
                two.unit_ids = Bitmap256::FULL;
                two.functions = Bitmap256::FULL;
                two.add_range(100, 149, class).unwrap();
                two.add_range(150, 199, class).unwrap();
                ok(&adu(1, &span(fc, 140, 10)), &two);
                assert_eq!(kind(&adu(1, &span(fc, 145, 10)), &two), Some(Address));
            }
        }
    }

    #[test]
    fn quantity_limits() {
        let p = open();
        for (fc, max) in [(1, 2000), (2, 2000), (3, 125), (4, 125)] {
            ok(&adu(1, &pdu2(fc, 0, max)), &p);
            assert_eq!(
                kind(&adu(1, &pdu2(fc, 0, max + 1)), &p),
                Some(Address),
                "fc {fc}"
            );
            assert_eq!(kind(&adu(1, &pdu2(fc, 0, 0)), &p), Some(Address), "fc {fc}");
        }
        for (fc, max) in [(15, 1968), (16, 123)] {
            ok(&adu(1, &write_multiple(fc, 0, max)), &p);
            assert_eq!(kind(&adu(1, &write_multiple(fc, 0, 0)), &p), Some(Address));
            // The protocol limit is checked before the byte count (which would not fit).
            let mut over = pdu2(fc, 0, max + 1);
            over.push(0);
            assert_eq!(kind(&adu(1, &over), &p), Some(Address), "fc {fc}");
        }
        ok(&adu(1, &read_write((0, 125), (0, 121))), &p);
        assert_eq!(
            kind(&adu(1, &read_write((0, 126), (0, 1))), &p),
            Some(Address)
        );
        assert_eq!(
            kind(&adu(1, &read_write((0, 0), (0, 1))), &p),
            Some(Address)
        );
        let mut w122 = pdu2(23, 0, 1);
        w122.extend_from_slice(&[0, 0, 0, 122, 244]);
        // (244 bytes of values would not fit in a PDU; the quantity is refused first.)
        assert_eq!(kind(&adu(1, &w122), &p), Some(Address));
        assert_eq!(
            kind(&adu(1, &read_write((0, 1), (0, 0))), &p),
            Some(Address)
        );
        // Spans past address 65535.
        ok(&adu(1, &pdu2(3, 65535, 1)), &p);
        ok(&adu(1, &pdu2(1, 65535 - 1999, 2000)), &p);
        let d = req(&adu(1, &pdu2(3, 65535, 2)), &p).unwrap_err();
        assert_eq!((d.kind, d.address()), (Address, Some(65535)));
        assert_eq!(
            kind(&adu(1, &write_multiple(16, 65530, 7)), &p),
            Some(Address)
        );
        assert_eq!(
            kind(&adu(1, &read_write((65535, 2), (0, 1))), &p),
            Some(Address)
        );

        // A profile maximum below the protocol's applies to every function and both parts
        // of FC 23; one above it changes nothing.
        let mut small = open();
        small.max_quantity = 10;
        ok(&adu(1, &pdu2(1, 0, 10)), &small);
        ok(&adu(1, &write_multiple(16, 0, 10)), &small);
        ok(&adu(1, &read_write((0, 10), (0, 10))), &small);
        assert_eq!(kind(&adu(1, &pdu2(1, 0, 11)), &small), Some(Address));
        assert_eq!(kind(&adu(1, &pdu2(4, 0, 11)), &small), Some(Address));
        assert_eq!(
            kind(&adu(1, &write_multiple(15, 0, 11)), &small),
            Some(Address)
        );
        assert_eq!(
            kind(&adu(1, &read_write((0, 11), (0, 1))), &small),
            Some(Address)
        );
        assert_eq!(
            kind(&adu(1, &read_write((0, 1), (0, 11))), &small),
            Some(Address)
        );
        let mut large = open();
        large.max_quantity = 5000;
        assert_eq!(kind(&adu(1, &pdu2(3, 0, 126)), &large), Some(Address));
        ok(&adu(1, &pdu2(1, 0, 2000)), &large);
    }

    #[test]
    fn single_writes() {
        let p = open();
        ok(&adu(1, &pdu2(5, 17, 0xFF00)), &p);
        ok(&adu(1, &pdu2(5, 17, 0x0000)), &p);
        for bad in [0x0001, 0x00FF, 0xFF01, 0xFFFF, 0x1234] {
            let d = req(&adu(1, &pdu2(5, 17, bad)), &p).unwrap_err();
            assert_eq!(
                (d.kind, d.address(), d.function()),
                (Malformed, Some(17), Some(5))
            );
        }
        ok(&adu(1, &pdu2(6, 17, 0xFFFF)), &p);
        // FC 22 and FC 24 carry their address at bytes 8-9 too.
        let mut p = open();
        p.clear_ranges();
        p.add_range(10, 10, address_class::WRITE_HOLDING_REGISTERS)
            .unwrap();
        p.add_range(20, 20, address_class::READ_HOLDING_REGISTERS)
            .unwrap();
        ok(&adu(1, &[22, 0, 10, 0, 0, 0, 0]), &p);
        assert_eq!(
            req(&adu(1, &[22, 0, 11, 0, 0, 0, 0]), &p)
                .unwrap_err()
                .address(),
            Some(11)
        );
        ok(&adu(1, &[24, 0, 20]), &p);
        assert_eq!(kind(&adu(1, &[24, 0, 10]), &p), Some(Address));
        assert_eq!(kind(&adu(1, &[6, 0, 20, 0, 0]), &p), Some(Address));
    }

    #[test]
    fn write_multiple_byte_count_and_length() {
        let p = open();
        for (fc, q) in [(15u8, 9u16), (16, 3)] {
            let good = write_multiple(fc, 0, q);
            ok(&adu(1, &good), &p);
            // Byte count off by one either way, with the data length following it.
            for delta in [-1i16, 1] {
                let mut bad = good.clone();
                bad[5] = (bad[5] as i16 + delta) as u8;
                bad.resize(6 + bad[5] as usize, 0);
                let d = req(&adu(1, &bad), &p).unwrap_err();
                assert_eq!(
                    (d.kind, d.address()),
                    (Malformed, Some(0)),
                    "fc {fc} {delta}"
                );
            }
            // Byte count right, data one byte short or long (MBAP length disagrees).
            let mut short = good.clone();
            short.pop();
            assert_eq!(kind(&adu(1, &short), &p), Some(Malformed));
            let mut long = good.clone();
            long.push(0);
            assert_eq!(kind(&adu(1, &long), &p), Some(Malformed));
            // Header cut before the byte count.
            assert_eq!(kind(&adu(1, &good[..5]), &p), Some(Malformed));
        }
        // FC 15: 8 coils need 1 byte, 9 need 2.
        ok(&adu(1, &write_multiple(15, 0, 8)), &p);
        let mut v = pdu2(15, 0, 8);
        v.extend_from_slice(&[2, 0, 0]);
        assert_eq!(kind(&adu(1, &v), &p), Some(Malformed));
    }

    #[test]
    fn read_write_multiple_checks_both_ranges() {
        let mut p = open();
        p.clear_ranges();
        p.add_range(0, 99, address_class::READ_HOLDING_REGISTERS)
            .unwrap();
        p.add_range(1000, 1009, address_class::WRITE_HOLDING_REGISTERS)
            .unwrap();
        ok(&adu(1, &read_write((0, 100), (1000, 10))), &p);
        // Write range outside while read range inside.
        let d = req(&adu(1, &read_write((0, 10), (1005, 10))), &p).unwrap_err();
        assert_eq!((d.kind, d.address()), (Address, Some(1005)));
        let d = req(&adu(1, &read_write((0, 10), (0, 1))), &p).unwrap_err();
        assert_eq!((d.kind, d.address()), (Address, Some(0)));
        // Read range outside while write range inside.
        let d = req(&adu(1, &read_write((95, 10), (1000, 1))), &p).unwrap_err();
        assert_eq!((d.kind, d.address()), (Address, Some(95)));
        // Reading the write range is not allowed by a write-only range.
        assert_eq!(
            kind(&adu(1, &read_write((1000, 1), (1000, 1))), &p),
            Some(Address)
        );
        // Byte count and length.
        let good = read_write((0, 1), (1000, 2));
        let mut bad = good.clone();
        bad[9] = 3;
        assert_eq!(kind(&adu(1, &bad), &p), Some(Malformed));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(kind(&adu(1, &long), &p), Some(Malformed));
        assert_eq!(kind(&adu(1, &good[..9]), &p), Some(Malformed));
    }

    #[test]
    fn diagnostics_subfunctions() {
        let mut p = open();
        // Sub-function 4 (force listen only) and every other are denied by default.
        for sub in [0u16, 1, 4, 10, 31, 32, 0xFFFF] {
            let mut pdu = vec![8];
            pdu.extend_from_slice(&w(sub));
            pdu.extend_from_slice(&[0, 0]);
            let d = req(&adu(1, &pdu), &p).unwrap_err();
            assert_eq!(
                (d.kind, d.function(), d.subfunction()),
                (Function, Some(8), Some(sub))
            );
        }
        p.allow_diagnostics(diagnostics::RETURN_QUERY_DATA).unwrap();
        p.allow_diagnostics(diagnostics::CLEAR_COUNTERS).unwrap();
        ok(&adu(1, &[8, 0, 0, 1, 2, 3, 4, 5, 6]), &p);
        ok(&adu(1, &[8, 0, 10, 0, 0]), &p);
        assert_eq!(kind(&adu(1, &[8, 0, 4, 0, 0]), &p), Some(Function));
        // Strict: one data word after every sub-function but 0.
        assert_eq!(kind(&adu(1, &[8, 0, 10, 0]), &p), Some(Malformed));
        assert_eq!(kind(&adu(1, &[8, 0, 10, 0, 0, 0]), &p), Some(Malformed));
        assert_eq!(kind(&adu(1, &[8, 0]), &p), Some(Malformed));
        p.flags = 0;
        ok(&adu(1, &[8, 0, 10]), &p);
    }

    #[test]
    fn encapsulated_interface_mei_types() {
        let mut p = open();
        ok(&adu(1, &[43, 14, 1, 0]), &p);
        let d = req(&adu(1, &[43, 13, 0, 0, 1, 2]), &p).unwrap_err();
        assert_eq!(
            (d.kind, d.function(), d.subfunction()),
            (Function, Some(43), Some(13))
        );
        assert_eq!(kind(&adu(1, &[43, 0xFF]), &p), Some(Function));
        assert_eq!(kind(&adu(1, &[43]), &p), Some(Malformed));
        // Strict read device id: code 1..=4 and an object id.
        for bad in [
            vec![43, 14, 0, 0],
            vec![43, 14, 5, 0],
            vec![43, 14, 1],
            vec![43, 14],
            vec![43, 14, 0, 0, 0],
        ] {
            assert_eq!(kind(&adu(1, &bad), &p), Some(Malformed), "{bad:?}");
        }
        p.set_mei_types(&[13, 14]).unwrap();
        ok(&adu(1, &[43, 13, 0, 0, 1, 2]), &p);
        p.flags = 0;
        ok(&adu(1, &[43, 14, 9]), &p);
    }

    /// What real clients send must not be a violation (issue 13): a read device
    /// identification with one trailing byte that the MBAP length counts, as captured from a
    /// real client in a public IDS corpus, passes the strict read-only preset.
    #[test]
    fn read_device_id_with_trailing_bytes_passes_strict_mode() {
        let captured = [
            0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x0a, 0x2b, 0x0e, 0x03, 0x01, 0x00,
        ];
        let p = ModbusProfile::read_only();
        assert!(p.is_strict());
        assert_eq!(check_request(&captured[..], 0, captured.len(), &p), Ok(1));
        // More trailing bytes, and the request behind it in the same segment.
        let mut two = adu(1, &[43, 14, 1, 0, 0xAA, 0xBB]);
        two.extend_from_slice(&adu(1, &[3, 0, 0, 0, 1]));
        assert_eq!(check_request(&two[..], 0, two.len(), &p), Ok(2));
        // The other side: the fields that decide still decide.
        for bad in [
            vec![43, 14, 0, 0, 0], // read device id code 0
            vec![43, 14, 5, 0, 0], // code 5
            vec![43, 13, 1, 0, 0], // MEI 13 (CANopen) is not read device id
            vec![43, 14, 1],       // object id missing
        ] {
            assert_ne!(kind(&adu(1, &bad), &p), None, "{bad:?}");
        }
        // A length that disagrees with the MBAP: the MBAP counts a byte the segment lacks.
        let mut short = captured;
        short[5] = 7;
        assert_eq!(kind(&short, &p), Some(Split));
    }

    /// Trailing bytes stay a violation after every other fixed-size request in strict mode:
    /// after a write they may change what the write does, and a server that frames requests
    /// by function code (libmodbus, for the functions it implements) reads them as the start
    /// of the next request, the bytes at a shifted offset: request smuggling.
    #[test]
    fn trailing_bytes_after_other_fixed_size_requests_stay_malformed() {
        let mut p = open();
        p.allow_diagnostics(diagnostics::RESTART_COMMUNICATIONS)
            .unwrap();
        ok(&adu(1, &[8, 0, 1, 0, 0]), &p);
        for with_trailing in [
            vec![1, 0, 0, 0, 1, 0],
            vec![3, 0, 0, 0, 1, 0],
            vec![4, 0, 0, 0, 1, 0],
            vec![5, 0, 1, 0xFF, 0, 0],
            vec![6, 0, 1, 0, 42, 0],
            vec![22, 0, 1, 0, 0, 0, 0, 0],
            vec![24, 0, 0, 0],
            vec![7, 0],
            vec![8, 0, 1, 0, 0, 0],
        ] {
            assert_eq!(
                kind(&adu(1, &with_trailing), &p),
                Some(Malformed),
                "{with_trailing:?}"
            );
        }
    }

    #[test]
    fn fixed_size_functions_in_strict_and_lax_mode() {
        let mut p = open();
        for fc in [7u8, 11, 12, 17] {
            ok(&adu(1, &[fc]), &p);
            assert_eq!(kind(&adu(1, &[fc, 0]), &p), Some(Malformed));
        }
        // MBAP length longer than the function's fields (the segment holds it all).
        assert_eq!(kind(&adu(1, &[3, 0, 0, 0, 1, 0, 0]), &p), Some(Malformed));
        assert_eq!(kind(&adu(1, &[3, 0, 0, 0]), &p), Some(Malformed));
        assert_eq!(kind(&adu(1, &[24, 0]), &p), Some(Malformed));
        assert_eq!(kind(&adu(1, &[22, 0, 0, 0, 0, 0]), &p), Some(Malformed));
        p.flags = 0;
        ok(&adu(1, &[7, 0]), &p);
        ok(&adu(1, &[3, 0, 0, 0, 1, 0, 0]), &p);
        // Lax mode still needs the fields it checks.
        assert_eq!(kind(&adu(1, &[3, 0, 0, 0]), &p), Some(Malformed));
    }

    #[test]
    fn file_records_byte_count() {
        let p = open();
        let mut read = vec![20, 14];
        read.extend(core::iter::repeat_n(0, 14));
        ok(&adu(1, &read), &p);
        for bad in [
            vec![20, 6, 0, 0, 0, 0, 0, 0],
            vec![20, 7, 0],
            vec![20],
            vec![21, 8, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(kind(&adu(1, &bad), &p), Some(Malformed), "{bad:?}");
        }
    }

    #[test]
    fn pipelined_adus_are_all_checked() {
        let mut p = ModbusProfile::read_only();
        p.clear_ranges();
        p.add_range(0, 99, address_class::READS).unwrap();
        let good = [
            adu(1, &pdu2(3, 0, 10)),
            adu(2, &pdu2(4, 50, 50)),
            adu(3, &pdu2(1, 0, 100)),
        ];
        let seg = good.concat();
        assert_eq!(req(&seg, &p), Ok(3));
        // One bad ADU among good ones, in every position.
        for (bad, want) in [
            (adu(1, &pdu2(6, 0, 1)), Function),
            (adu(1, &pdu2(3, 95, 10)), Address),
            (adu(1, &[3, 0, 0, 0]), Malformed),
        ] {
            for at in 0..=good.len() {
                let mut parts = good.to_vec();
                parts.insert(at, bad.clone());
                let d = req(&parts.concat(), &p).unwrap_err();
                assert_eq!((d.kind, d.adu), (want, at as u8), "bad ADU at {at}");
            }
        }
        // Exactly the bound, and one more.
        let one = adu(1, &pdu2(3, 0, 1));
        let eight = one.repeat(MAX_ADUS_PER_SEGMENT);
        assert_eq!(req(&eight, &p), Ok(MAX_ADUS_PER_SEGMENT as u8));
        let nine = one.repeat(MAX_ADUS_PER_SEGMENT + 1);
        let d = req(&nine, &p).unwrap_err();
        assert_eq!((d.kind, d.adu), (Split, MAX_ADUS_PER_SEGMENT as u8));
    }

    #[test]
    fn split_adus() {
        let p = open();
        let whole = adu(7, &pdu2(3, 0, 1));
        // The function code alone in its own segment, after the MBAP header in the previous.
        let d = req(&whole[..7], &p).unwrap_err();
        assert_eq!((d.kind, d.unit(), d.function()), (Split, Some(7), None));
        let d = check_request(&whole[..], 7, 5, &p).unwrap_err();
        assert_eq!(d.kind, Split);
        // Every cut of one ADU, and of the second of two: the head and the tail are split.
        let two = [whole.clone(), whole.clone()].concat();
        for cut in 1..two.len() {
            let head = req(&two[..cut], &p);
            let tail = check_request(&two[..], cut, two.len() - cut, &p);
            if cut == whole.len() {
                assert_eq!((head, tail), (Ok(1), Ok(1)));
            } else {
                assert_eq!(head.map_err(|d| d.kind), Err(Split), "head cut at {cut}");
                assert!(tail.is_err(), "tail cut at {cut}");
            }
        }
        // A partial ADU after good ones is blamed on its own index.
        let seg = [whole.clone(), whole.clone(), whole[..10].to_vec()].concat();
        let d = req(&seg, &p).unwrap_err();
        assert_eq!((d.kind, d.adu, d.function()), (Split, 2, Some(3)));
        // MBAP length larger than what the segment holds.
        let mut long = whole.clone();
        long[5] += 1;
        assert_eq!(kind(&long, &p), Some(Split));
        // MBAP length smaller: the leftover is a runt ADU.
        let mut short = whole.clone();
        short.extend_from_slice(&[3, 0, 1, 0, 0]);
        assert_eq!(kind(&short, &p), Some(Split));
        let mut short = adu(7, &write_multiple(16, 0, 2));
        short[5] -= 2;
        assert_eq!(kind(&short, &p), Some(Malformed)); // byte count runs past its ADU
    }

    #[test]
    fn mbap_header_sanity() {
        let p = open();
        let whole = adu(1, &pdu2(3, 0, 1));
        for proto_id in [1u16, 0x0100, 0xFFFF] {
            let mut bad = whole.clone();
            bad[2..4].copy_from_slice(&w(proto_id));
            let d = req(&bad, &p).unwrap_err();
            assert_eq!(
                (d.kind, d.unit(), d.function()),
                (Malformed, Some(1), Some(3))
            );
            assert_eq!(
                check_response(&bad[..], 0, bad.len()).unwrap_err().kind,
                Malformed
            );
        }
        // Length field 0, 1, 255 and above: malformed, even when the segment is long enough.
        for length in [0u16, 1, 255, 256, 0xFFFF] {
            let mut bad = whole.clone();
            bad[4..6].copy_from_slice(&w(length));
            bad.resize(300, 0);
            assert_eq!(kind(&bad, &p), Some(Malformed), "length {length}");
            assert_eq!(
                check_response(&bad[..], 0, bad.len()).unwrap_err().kind,
                Malformed
            );
        }
        // The largest request of FC 16 (123 registers) is 259 bytes; a 253-byte PDU of a
        // function without fields makes the largest ADU, 260.
        assert_eq!(adu(1, &write_multiple(16, 0, 123)).len(), 259);
        let mut pdu = vec![90];
        pdu.resize(253, 0);
        let max = adu(1, &pdu);
        assert_eq!(max.len(), MAX_ADU_LEN);
        ok(&max, &p);
        let mut pdu = vec![90];
        pdu.resize(254, 0);
        assert_eq!(kind(&adu(1, &pdu), &p), Some(Malformed));
        // The smallest ADU.
        ok(&adu(1, &[17]), &p);
    }

    #[test]
    fn truncated_mbap_header() {
        let p = open();
        let whole = adu(1, &[17]);
        for cut in 1..MIN_ADU_LEN {
            assert_eq!(kind(&whole[..cut], &p), Some(Split), "{cut} bytes");
            assert_eq!(
                check_response(&whole[..cut], 0, cut).unwrap_err().kind,
                Split,
                "{cut} bytes"
            );
        }
    }

    #[test]
    fn payload_length_beyond_buffer_is_refused_not_read() {
        let p = open();
        let whole = adu(1, &pdu2(3, 0, 1));
        let d = check_request(&whole[..], 0, whole.len() + 20, &p).unwrap_err();
        assert_eq!((d.kind, d.adu), (Malformed, 1));
        let two = whole.repeat(2);
        let d = check_request(&two[..6], 0, two.len(), &p).unwrap_err();
        assert_eq!(d.kind, Malformed);
        let d = check_request(&whole[..], usize::MAX - 2, 5, &p).unwrap_err();
        assert_eq!(d.kind, Malformed);
        let d = check_request(&whole[..], 100, 12, &p).unwrap_err();
        assert_eq!(d.kind, Malformed);
    }

    #[test]
    fn responses() {
        // Read holding registers response, write single register echo, exception.
        let read = adu(1, &[3, 4, 0, 1, 0, 2]);
        let echo = adu(1, &pdu2(6, 1, 3));
        let exception = adu(1, &[0x83, 0x02]);
        for seg in [&read, &echo, &exception] {
            assert_eq!(check_response(&seg[..], 0, seg.len()), Ok(1));
        }
        let all = [read.clone(), exception.clone(), echo.clone()].concat();
        assert_eq!(check_response(&all[..], 0, all.len()), Ok(3));
        for code in [1u8, 2, 3, 4, 6, 0x0A, 0x0B] {
            let e = adu(9, &[0x90, code]);
            assert_eq!(check_response(&e[..], 0, e.len()), Ok(1));
        }
        // An exception response carries exactly one code.
        for bad in [adu(1, &[0x83]), adu(1, &[0x83, 2, 0])] {
            let d = check_response(&bad[..], 0, bad.len()).unwrap_err();
            assert_eq!((d.kind, d.function()), (Malformed, Some(0x83)));
        }
        // Split responses and too many of them.
        let d = check_response(&all[..], 0, all.len() - 1).unwrap_err();
        assert_eq!((d.kind, d.adu), (Split, 2));
        let nine = exception.repeat(MAX_ADUS_PER_SEGMENT + 1);
        assert_eq!(
            check_response(&nine[..], 0, nine.len()).unwrap_err().kind,
            Split
        );
    }

    /// The checker on a real frame, reading the payload where the packet parser found it.
    #[test]
    fn on_a_parsed_frame() {
        let mut p = ModbusProfile::read_only();
        p.clear_ranges();
        p.add_range(0, 999, address_class::READS).unwrap();
        let check = |payload: &[u8]| {
            let f = ipv4(
                [10, 20, 0, 5],
                [10, 30, 0, 7],
                tcp(40000, PORT, tcp_flags::ACK, payload),
            )
            .frame();
            let Ok(Frame::Ip(ip)) = parse(&f[..]) else {
                panic!("not IP")
            };
            check_request(
                &f[..],
                ip.payload_offset as usize,
                ip.payload_len as usize,
                &p,
            )
        };
        assert_eq!(check(&[]), Ok(0));
        let two = [adu(1, &pdu2(3, 0, 10)), adu(1, &pdu2(4, 990, 10))].concat();
        assert_eq!(check(&two), Ok(2));
        assert_eq!(check(&adu(1, &pdu2(4, 991, 10))).unwrap_err().kind, Address);
        assert_eq!(check(&two[..13]).unwrap_err().kind, Split);
    }
}
