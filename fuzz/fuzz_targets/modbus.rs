//! Random segments and random profiles through the Modbus/TCP checker.
//!
//! Input: `ctl`, `prefix`, 144 profile bytes (zero-filled if short), then the payload.
//! - `ctl` bits open parts of the profile (so allowed paths are reached), make the payload a
//!   sequence of well-framed ADUs built from `[unit, pdu_len, pdu…]` chunks or of well-formed
//!   requests built from `[unit, function, fields…]` chunks, and add frame bytes after the
//!   payload.
//! - The payload sits after `prefix` filler bytes, read through a `PacketBytes` that panics on
//!   any read outside the payload window.
//!
//! Checks: no panic; the same verdict at any offset; and when a segment is allowed, an
//! independent walk of the ADUs ends exactly at the segment's end with the same count, and
//! every ADU is allowed by a plain reimplementation of the unit, function and address rules;
//! the stream walk (`walk_adus`) over the payload cut in two decides the same.
#![no_main]

use firewall_common::{
    modbus::{
        self, Bitmap256, MAX_ADUS_PER_SEGMENT, ModbusProfile, address_class, check_request,
        check_response, function::*, limits,
    },
    packet::PacketBytes,
};
use libfuzzer_sys::fuzz_target;

/// Bytes of a frame, with the window the checker may read.
struct Window<'a> {
    frame: &'a [u8],
    start: usize,
    end: usize,
}

impl PacketBytes for Window<'_> {
    fn holds(&self, len: usize) -> bool {
        len <= self.frame.len()
    }

    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let v = self.frame.load::<N>(offset)?;
        assert!(
            offset >= self.start && offset + N <= self.end,
            "read of {N} bytes at {offset} outside the payload {}..{}",
            self.start,
            self.end
        );
        Some(v)
    }
}

fn profile_from(bytes: &[u8; 144], ctl: u8) -> ModbusProfile {
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let mut p = ModbusProfile::new();
    for w in 0..4 {
        p.unit_ids.words[w] = u64_at(w * 8);
        p.functions.words[w] = u64_at(32 + w * 8);
    }
    for (i, r) in p.ranges.iter_mut().enumerate() {
        let at = 64 + i * 8;
        r.first = u16_at(at);
        r.last = u16_at(at + 2);
        r.classes = u16_at(at + 4);
        r._pad = u16_at(at + 6);
    }
    p.diagnostics = u32::from_le_bytes(bytes[128..132].try_into().unwrap());
    p.mei_types = u32::from_le_bytes(bytes[132..136].try_into().unwrap());
    p.max_quantity = u16_at(136);
    p.flags = u16_at(138);
    if ctl & 1 != 0 {
        p.unit_ids = Bitmap256::FULL;
    }
    if ctl & 2 != 0 {
        p.functions = Bitmap256::FULL;
    }
    if ctl & 4 != 0 {
        p.ranges[0] = modbus::AddressRange {
            first: 0,
            last: u16::MAX,
            classes: address_class::ALL,
            _pad: 0,
        };
    }
    if ctl & 8 != 0 {
        p.diagnostics = u32::MAX;
        p.mei_types = u32::MAX;
        p.max_quantity = 0;
    }
    p
}

/// `[unit, pdu_len, pdu…]` chunks as ADUs with correct MBAP headers.
fn framed(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let [unit, len, tail @ ..] = rest {
        let n = (*len as usize).clamp(1, 253).min(tail.len());
        if n == 0 {
            break;
        }
        out.extend_from_slice(&[0x12, 0x34, 0, 0]);
        out.extend_from_slice(&((n + 1) as u16).to_be_bytes());
        out.push(*unit);
        out.extend_from_slice(&tail[..n]);
        rest = &tail[n..];
    }
    out
}

/// `[unit, function, 8 field bytes]` chunks as well-formed requests of that function (the
/// fields give addresses, quantities and sub-functions; byte counts follow the quantity), so
/// the address and sub-function rules are reached often.
fn requests(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in raw.chunks_exact(10) {
        let (unit, fc) = (chunk[0], chunk[1]);
        let f = |i: usize| u16::from_be_bytes([chunk[2 + i], chunk[3 + i]]);
        let mut pdu = vec![fc];
        let mut put = |v: u16| pdu.extend_from_slice(&v.to_be_bytes());
        match fc {
            1..=4 | 6 => {
                put(f(0));
                put(f(2));
            }
            5 => {
                put(f(0));
                put(if chunk[4] & 1 != 0 { 0xFF00 } else { 0 });
            }
            15 | 16 => {
                let q = f(2) % 2048;
                put(f(0));
                put(q);
                let bytes = if fc == 15 { q.div_ceil(8) } else { q * 2 };
                let bytes = bytes.min(250) as u8;
                pdu.push(bytes);
                pdu.resize(pdu.len() + bytes as usize, 0xA5);
            }
            23 => {
                put(f(0));
                put(f(2) % 256);
                put(f(4));
                let q = f(6) % 128;
                put(q);
                pdu.push((q * 2) as u8);
                pdu.resize(pdu.len() + q as usize * 2, 0x5A);
            }
            22 => {
                put(f(0));
                put(f(2));
                put(f(4));
            }
            24 => put(f(0)),
            8 => {
                put(f(0) % 40);
                put(0);
            }
            43 => pdu.extend_from_slice(&[chunk[2] % 32, chunk[3] % 6, chunk[4]]),
            _ => {}
        }
        pdu.truncate(253);
        out.extend_from_slice(&[0x12, 0x34, 0, 0]);
        out.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
        out.push(unit);
        out.extend_from_slice(&pdu);
    }
    out
}

fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

/// Whether one range of `class` holds `start..start + quantity` (quantity ≥ 1 and within
/// `max` and the profile maximum).
fn span_allowed(p: &ModbusProfile, class: u16, start: u16, quantity: u16, max: u16) -> bool {
    let limit = if p.max_quantity == 0 {
        max
    } else {
        max.min(p.max_quantity)
    };
    let last = start as u32 + quantity as u32 - 1;
    quantity >= 1
        && quantity <= limit
        && last <= 0xFFFF
        && p.ranges.iter().any(|r| {
            r.classes & class != 0 && r.first as u32 <= start as u32 && last <= r.last as u32
        })
}

/// The rules an allowed request ADU (`adu` is the whole ADU) must satisfy.
fn assert_request_allowed(p: &ModbusProfile, adu: &[u8]) {
    let (unit, fc, data) = (adu[6], adu[7], &adu[8..]);
    assert!(p.unit_ids.contains(unit), "unit {unit} passed");
    assert!(p.functions.contains(fc), "function {fc} passed");
    let strict = p.flags & modbus::profile_flags::STRICT != 0;
    if strict {
        assert!(fc != 0 && fc < 0x80, "function {fc} passed in strict mode");
    }
    let c = |i| be16(data, i);
    if strict {
        // Fixed-size requests carry exactly their fields: trailing bytes could change what
        // a write does, or be read as the next request by a server that frames requests by
        // function code. Only read device identification may carry trailing bytes.
        let fixed = match fc {
            READ_COILS
            | READ_DISCRETE_INPUTS
            | READ_HOLDING_REGISTERS
            | READ_INPUT_REGISTERS
            | WRITE_SINGLE_COIL
            | WRITE_SINGLE_REGISTER => Some(4),
            MASK_WRITE_REGISTER => Some(6),
            READ_FIFO_QUEUE => Some(2),
            7 | 11 | 12 | 17 => Some(0),
            _ => None,
        };
        if let Some(n) = fixed {
            assert_eq!(
                data.len(),
                n,
                "FC {fc} with {} data bytes passed",
                data.len()
            );
        }
        if fc == ENCAPSULATED_INTERFACE_TRANSPORT && data[0] == 14 {
            assert!(
                data.len() >= 3,
                "read device id without an object id passed"
            );
            assert!(
                (1..=4).contains(&data[1]),
                "read device id code {} passed",
                data[1]
            );
        }
    }
    match fc {
        READ_COILS | READ_DISCRETE_INPUTS => {
            let class = if fc == READ_COILS {
                address_class::READ_COILS
            } else {
                address_class::READ_DISCRETE_INPUTS
            };
            assert!(span_allowed(p, class, c(0), c(2), limits::READ_BITS));
        }
        READ_HOLDING_REGISTERS | READ_INPUT_REGISTERS => {
            let class = if fc == READ_HOLDING_REGISTERS {
                address_class::READ_HOLDING_REGISTERS
            } else {
                address_class::READ_INPUT_REGISTERS
            };
            assert!(span_allowed(p, class, c(0), c(2), limits::READ_REGISTERS));
        }
        WRITE_SINGLE_COIL => {
            assert!(c(2) == 0xFF00 || c(2) == 0);
            assert!(span_allowed(p, address_class::WRITE_COILS, c(0), 1, 1));
        }
        WRITE_SINGLE_REGISTER | MASK_WRITE_REGISTER => {
            assert!(span_allowed(
                p,
                address_class::WRITE_HOLDING_REGISTERS,
                c(0),
                1,
                1
            ));
        }
        READ_FIFO_QUEUE => {
            assert!(span_allowed(
                p,
                address_class::READ_HOLDING_REGISTERS,
                c(0),
                1,
                1
            ));
        }
        WRITE_MULTIPLE_COILS => {
            assert!(span_allowed(
                p,
                address_class::WRITE_COILS,
                c(0),
                c(2),
                limits::WRITE_BITS
            ));
            assert_eq!(data[4] as usize, (c(2) as usize).div_ceil(8));
            assert_eq!(data.len(), 5 + data[4] as usize);
        }
        WRITE_MULTIPLE_REGISTERS => {
            assert!(span_allowed(
                p,
                address_class::WRITE_HOLDING_REGISTERS,
                c(0),
                c(2),
                limits::WRITE_REGISTERS
            ));
            assert_eq!(data[4] as usize, c(2) as usize * 2);
            assert_eq!(data.len(), 5 + data[4] as usize);
        }
        READ_WRITE_MULTIPLE_REGISTERS => {
            assert!(span_allowed(
                p,
                address_class::READ_HOLDING_REGISTERS,
                c(0),
                c(2),
                limits::READ_REGISTERS
            ));
            assert!(span_allowed(
                p,
                address_class::WRITE_HOLDING_REGISTERS,
                c(4),
                c(6),
                limits::READ_WRITE_WRITE_REGISTERS
            ));
            assert_eq!(data[8] as usize, c(6) as usize * 2);
            assert_eq!(data.len(), 9 + data[8] as usize);
        }
        DIAGNOSTICS => {
            let sub = c(0);
            assert!(
                sub < 32 && p.diagnostics & (1 << sub) != 0,
                "FC 8/{sub} passed"
            );
        }
        ENCAPSULATED_INTERFACE_TRANSPORT => {
            let mei = data[0];
            assert!(
                mei < 32 && p.mei_types & (1 << mei) != 0,
                "FC 43/{mei} passed"
            );
        }
        _ => {}
    }
}

/// Walks an allowed segment independently: ADU lengths must add up to the segment exactly.
fn walk(payload: &[u8]) -> Vec<&[u8]> {
    let mut adus = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let length = be16(payload, off + 4) as usize;
        assert_eq!(be16(payload, off + 2), 0, "protocol id");
        assert!((2..=254).contains(&length), "MBAP length {length}");
        adus.push(&payload[off..off + 6 + length]);
        off += 6 + length;
    }
    assert_eq!(off, payload.len(), "ADU boundaries do not end the segment");
    assert!(adus.len() <= MAX_ADUS_PER_SEGMENT);
    adus
}

/// A segment walked as the XDP program walks it: the payload at [`modbus::FRONT`] of a
/// buffer, the held head placed in front, then ADU by ADU; the cursor kept only when the
/// segment passes.
fn stream_walk(
    seg: &[u8],
    cursor: &mut firewall_common::stream::StreamCursor,
    profile: Option<&ModbusProfile>,
) -> Result<(), modbus::ModbusViolation> {
    let mut next = *cursor;
    let mut buf = vec![0u8; modbus::FRONT];
    buf.extend_from_slice(seg);
    let front: &mut [u8; modbus::FRONT] = (&mut buf[..modbus::FRONT]).try_into().unwrap();
    if let Some(at) = modbus::resume(front, seg.len(), &mut next) {
        modbus::walk_adus(&buf[..], at, buf.len(), &mut next, profile).map_err(|d| d.kind)?;
    }
    *cursor = next;
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let [ctl, prefix, rest @ ..] = data else {
        return;
    };
    let mut profile_bytes = [0u8; 144];
    let n = rest.len().min(144);
    profile_bytes[..n].copy_from_slice(&rest[..n]);
    let profile = profile_from(&profile_bytes, *ctl);
    let raw = &rest[n..];
    let payload = match ctl & (16 | 64) {
        0 => raw.to_vec(),
        16 => framed(raw),
        _ => requests(raw),
    };

    let start = *prefix as usize;
    let mut frame = vec![0xEE; start];
    frame.extend_from_slice(&payload);
    if ctl & 32 != 0 {
        frame.extend_from_slice(&[0, 0, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1]);
    }
    let window = Window {
        frame: &frame,
        start,
        end: start + payload.len(),
    };

    let request = check_request(&window, start, payload.len(), &profile);
    assert_eq!(
        request,
        check_request(&payload[..], 0, payload.len(), &profile),
        "verdict depends on the offset"
    );
    match request {
        Ok(count) => {
            let adus = walk(&payload);
            assert_eq!(adus.len(), count as usize);
            for adu in adus {
                assert_request_allowed(&profile, adu);
            }
        }
        Err(d) => assert!(d.adu as usize <= MAX_ADUS_PER_SEGMENT),
    }

    // The stream walk of the program `zcfw_modbus` over the same bytes cut in two anywhere
    // decides as the whole-segment checker does wherever that one is not `Split` (an ADU the
    // segment does not hold whole, which the stream walk judges on its head instead).
    let cut = (*prefix as usize).min(payload.len());
    let whole = request.map(|_| ()).map_err(|d| d.kind);
    if whole != Err(modbus::ModbusViolation::Split) {
        let mut cursor = firewall_common::stream::StreamCursor::START;
        let got = stream_walk(&payload[..cut], &mut cursor, Some(&profile))
            .and_then(|_| stream_walk(&payload[cut..], &mut cursor, Some(&profile)));
        assert_eq!(got, whole, "stream walk cut at {cut}");
        if whole.is_ok() {
            assert!(
                cursor.at_boundary(),
                "stream walk cut at {cut} ends mid-ADU"
            );
        }
    }

    let response = check_response(&window, start, payload.len());
    assert_eq!(response, check_response(&payload[..], 0, payload.len()));
    match response {
        Ok(count) => {
            let adus = walk(&payload);
            assert_eq!(adus.len(), count as usize);
            for adu in adus {
                if adu[7] & 0x80 != 0 {
                    assert_eq!(adu.len(), 9, "exception response length");
                }
            }
        }
        Err(d) => assert!(d.adu as usize <= MAX_ADUS_PER_SEGMENT),
    }
});
