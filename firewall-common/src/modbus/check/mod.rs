//! The bounded request and response checker the XDP program runs on every TCP segment of
//! an inspected conduit ([`check_request`], [`check_response`]): the framing walk over the
//! ADUs of a segment, then each ADU against the [`ModbusProfile`].

use super::*;
use crate::packet::PacketBytes;

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
        check_request_function(adu, profile)?;
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

/// Checks what the MBAP header and function code of a request decide: its unit id and its
/// function (the stream walk judges them as soon as they are seen, before the fields).
#[inline(always)]
fn check_request_function(adu: &Adu, p: &ModbusProfile) -> Result<(), ModbusDenial> {
    let d = adu.denial;
    if !p.unit_ids.contains(adu.unit) {
        return Err(d.with_kind(ModbusViolation::UnitId));
    }
    let fc = adu.function;
    if !p.functions.contains(fc)
        || (p.is_strict() && (fc == 0 || fc & function::EXCEPTION_BIT != 0))
    {
        return Err(d.with_kind(ModbusViolation::Function));
    }
    Ok(())
}

/// Checks the fields of one request ADU that [`walk`] framed against the profile (its unit
/// and function passed [`check_request_function`]).
#[inline(always)]
fn check_request_adu<B: PacketBytes + ?Sized>(
    b: &B,
    adu: &Adu,
    p: &ModbusProfile,
) -> Result<(), ModbusDenial> {
    use function::*;
    let d = adu.denial;
    let strict = p.is_strict();
    let fc = adu.function;
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

mod stream;
pub use stream::{FRONT, resume, step_adu, unwalkable, walk_adus};

#[cfg(test)]
mod tests;
