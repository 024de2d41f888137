//! The checker against hand-built ADUs: each function's fields, framing, pipelining, and
//! a whole parsed frame.

use alloc::{vec, vec::Vec};

use super::super::{ModbusViolation::*, function::*};
use super::*;
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

/// ADUs of every shape the checker reads, allowed and denied by a profile that allows reads
/// of holding registers 0-99 and writes of register 10 on unit 1.
fn stream_corpus() -> (ModbusProfile, Vec<Vec<u8>>) {
    let mut p = ModbusProfile::new();
    p.unit_ids = Bitmap256::EMPTY.with(1);
    p.functions = Bitmap256::EMPTY
        .with(READ_HOLDING_REGISTERS)
        .with(WRITE_SINGLE_REGISTER)
        .with(WRITE_MULTIPLE_REGISTERS)
        .with(READ_WRITE_MULTIPLE_REGISTERS);
    p.add_range(0, 99, address_class::READ_HOLDING_REGISTERS)
        .unwrap();
    p.add_range(10, 10, address_class::WRITE_HOLDING_REGISTERS)
        .unwrap();
    let corpus = vec![
        adu(1, &pdu2(READ_HOLDING_REGISTERS, 0, 10)),
        adu(1, &pdu2(READ_HOLDING_REGISTERS, 95, 10)),
        adu(2, &pdu2(READ_HOLDING_REGISTERS, 0, 1)),
        adu(1, &pdu2(WRITE_SINGLE_REGISTER, 10, 7)),
        adu(1, &pdu2(WRITE_SINGLE_REGISTER, 11, 7)),
        adu(1, &pdu2(WRITE_SINGLE_COIL, 0, 0xFF00)),
        adu(1, &write_multiple(WRITE_MULTIPLE_REGISTERS, 10, 1)),
        adu(1, &write_multiple(WRITE_MULTIPLE_REGISTERS, 10, 2)),
        adu(1, &read_write((0, 5), (10, 1))),
        adu(1, &read_write((0, 5), (11, 1))),
        adu(1, &[DIAGNOSTICS, 0, 1, 0, 0]),
    ];
    (p, corpus)
}

/// A segment walked as the XDP program walks it: the payload at [`FRONT`] of a buffer, the
/// held head placed in front ([`resume`]), then ADU by ADU ([`walk_adus`]); the cursor kept
/// only when the segment passes.
fn adu_walk(
    seg: &[u8],
    c: &mut crate::stream::StreamCursor,
    profile: Option<&ModbusProfile>,
) -> Result<(), ModbusViolation> {
    let mut next = *c;
    let mut buf = vec![0u8; FRONT];
    buf.extend_from_slice(seg);
    let front: &mut [u8; FRONT] = (&mut buf[..FRONT]).try_into().unwrap();
    if let Some(start) = resume(front, seg.len(), &mut next) {
        walk_adus(&buf[..], start, buf.len(), &mut next, profile).map_err(|d| d.kind)?;
    }
    *c = next;
    Ok(())
}

/// The ADU walk the XDP program runs, over a stream cut into three segments anywhere,
/// decides as [`check_request`] does on the whole stream: the same denial, in the segment
/// that completes the denied ADU's decisive head (never earlier), and a cursor on a clean
/// boundary at the end when everything passes.
#[test]
fn adu_walk_matches_the_segment_checker_at_every_cut() {
    use crate::stream::StreamCursor;
    let (p, corpus) = stream_corpus();
    for (i, first) in corpus.iter().enumerate() {
        for second in [&corpus[0], &corpus[(i + 3) % corpus.len()]] {
            let seg = [first.clone(), second.clone(), corpus[0].clone()].concat();
            let whole = req(&seg, &p).map(|_| ()).map_err(|d| d.kind);
            let mut c = StreamCursor::START;
            assert_eq!(adu_walk(&seg, &mut c, Some(&p)), whole, "{seg:02x?}");
            for cut in 0..seg.len() {
                for cut2 in [cut + 1, cut + 7, cut + 16, seg.len()] {
                    let cut2 = cut2.min(seg.len());
                    let mut c = StreamCursor::START;
                    let mut got = Ok(());
                    for piece in [&seg[..cut], &seg[cut..cut2], &seg[cut2..]] {
                        got = adu_walk(piece, &mut c, Some(&p));
                        if got.is_err() {
                            break;
                        }
                    }
                    assert_eq!(got, whole, "cuts {cut}/{cut2} of {seg:02x?}");
                    if whole.is_ok() {
                        assert!(c.at_boundary(), "cuts {cut}/{cut2}");
                    }
                }
            }
        }
    }
    let responses = [
        adu(1, &[READ_HOLDING_REGISTERS, 2, 0, 7]),
        adu(1, &[READ_HOLDING_REGISTERS | 0x80, 2]),
        adu(1, &[READ_HOLDING_REGISTERS | 0x80, 2, 0]),
    ];
    for seg in [
        [responses[0].clone(), responses[1].clone()].concat(),
        [responses[0].clone(), responses[2].clone()].concat(),
    ] {
        let whole = check_response(&seg[..], 0, seg.len())
            .map(|_| ())
            .map_err(|d| d.kind);
        for cut in 0..seg.len() {
            let mut c = StreamCursor::START;
            let got = adu_walk(&seg[..cut], &mut c, None)
                .and_then(|_| adu_walk(&seg[cut..], &mut c, None));
            assert_eq!(got, whole, "cut {cut}");
        }
    }
}

/// A function code alone in its segment passes when the profile allows the function (the
/// server cannot act on it) and the segment that completes the head is denied; a refused
/// function is denied with its code; the tail of an allowed ADU passes unread.
#[test]
fn adu_walk_judges_on_the_head() {
    use crate::stream::StreamCursor;
    let (p, _) = stream_corpus();
    let write = adu(1, &write_multiple(WRITE_MULTIPLE_REGISTERS, 11, 2));
    let mut c = StreamCursor::START;
    assert_eq!(adu_walk(&write[..8], &mut c, Some(&p)), Ok(()));
    assert_eq!(c.held_len, 8);
    assert_eq!(adu_walk(&write[8..13], &mut c, Some(&p)), Err(Address));
    // The same ADU to an allowed register: judged on its 13-byte head, its values are tail.
    let allowed = adu(1, &write_multiple(WRITE_MULTIPLE_REGISTERS, 10, 1));
    let mut c = StreamCursor::START;
    assert_eq!(adu_walk(&allowed[..13], &mut c, Some(&p)), Ok(()));
    assert_eq!((c.skip, c.held_len), (2, 0));
    // A read/write whose write span (the 17th byte) is in the next segment.
    let rw = adu(1, &read_write((0, 5), (11, 1)));
    let mut c = StreamCursor::START;
    assert_eq!(adu_walk(&rw[..16], &mut c, Some(&p)), Ok(()));
    assert_eq!(c.held_len, 16);
    assert_eq!(adu_walk(&rw[16..], &mut c, Some(&p)), Err(Address));
    // A function the profile refuses, and a unit it does not list, are denied in the segment
    // that carries the function code, before any field.
    let coil = adu(1, &pdu2(WRITE_SINGLE_COIL, 0, 0xFF00));
    let mut c = StreamCursor::START;
    assert_eq!(adu_walk(&coil[..7], &mut c, Some(&p)), Ok(()));
    assert_eq!(adu_walk(&coil[7..8], &mut c, Some(&p)), Err(Function));
    let mut c = StreamCursor::START;
    assert_eq!(adu_walk(&coil[..8], &mut c, Some(&p)), Err(Function));
    let other_unit = adu(2, &pdu2(READ_HOLDING_REGISTERS, 0, 1));
    let mut c = StreamCursor::START;
    assert_eq!(adu_walk(&other_unit[..8], &mut c, Some(&p)), Err(UnitId));
    // A malformed MBAP header is denied as soon as it is whole.
    let mut bad = adu(1, &pdu2(READ_HOLDING_REGISTERS, 0, 1));
    bad[2] = 1;
    let mut c = StreamCursor::START;
    assert_eq!(adu_walk(&bad[..8], &mut c, Some(&p)), Err(Malformed));
}

/// More ADUs in one segment than the XDP walk checks: not walkable, denied.
#[test]
fn adu_walk_bounds_the_adus_of_a_segment() {
    let p = open();
    let one = adu(1, &pdu2(3, 0, 1));
    let mut c = crate::stream::StreamCursor::START;
    assert_eq!(
        adu_walk(&one.repeat(MAX_ADUS_PER_SEGMENT), &mut c, Some(&p)),
        Ok(())
    );
    let nine = one.repeat(MAX_ADUS_PER_SEGMENT + 1);
    assert_eq!(adu_walk(&nine, &mut c, Some(&p)), Err(Malformed));
}
