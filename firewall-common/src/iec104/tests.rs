//! Judgement of whole APDUs, built the way c104 and the standard's examples lay them out.

use alloc::{vec, vec::Vec};

use super::*;
pub(crate) use crate::pktgen::iec104::i_frame;
use crate::pktgen::iec104::u;

fn apdu(bytes: &[u8]) -> Apdu {
    match read_head(bytes, 0, bytes.len()).unwrap() {
        Head::Apdu(a) => a,
        Head::Need(n) => panic!("needs {n} bytes"),
    }
}

fn commands_profile() -> Iec104Profile {
    let mut p = Iec104Profile::read_only();
    p.allow_type_id(45);
    p.allow_common_addresses(1, 1).unwrap();
    p
}

#[test]
fn the_head_decides_on_twelve_bytes_and_asks_for_no_more() {
    let f = i_frame(45, cause::ACTIVATION, 1, 1);
    assert_eq!(f.len(), 16);
    for avail in 0..HEAD_LEN {
        let h = read_head(&f[..avail], 0, avail).unwrap();
        let need = match avail {
            0 | 1 => 2,
            2..=5 => APCI_LEN,
            _ => HEAD_LEN,
        };
        assert_eq!(h, Head::Need(need), "{avail} bytes");
    }
    for avail in HEAD_LEN..=f.len() {
        let a = match read_head(&f[..avail], 0, avail).unwrap() {
            Head::Apdu(a) => a,
            h => panic!("{h:?}"),
        };
        assert_eq!(a.len, 16);
    }
    assert_eq!(apdu(&u(u_frame::STARTDT_ACT)).len, 6);
}

#[test]
fn framing_errors_are_malformed() {
    let bad: [&[u8]; 9] = [
        &[0x69],
        &[0x68, 3],
        &[0x68, 254],
        // U frame with two functions, and with a non-zero octet.
        &[0x68, 4, 0x0F, 0, 0, 0],
        &[0x68, 4, 0x07, 0, 1, 0],
        // S frame with a length of an I frame.
        &[0x68, 14, 0x01, 0, 0, 0],
        // S frame with junk in its fixed octets.
        &[0x68, 4, 0x05, 0, 0, 0],
        // I frame too short for an object.
        &[0x68, 12, 0x00, 0, 0, 0, 45, 1, 6, 0, 1, 0],
        // I frame with the receive sequence number's low bit set.
        &[0x68, 14, 0x00, 0, 1, 0, 45, 1, 6, 0, 1, 0, 0, 0, 0, 0],
    ];
    for b in bad {
        let e = read_head(b, 0, b.len()).unwrap_err();
        assert_eq!(e.kind, Iec104Violation::Malformed, "{b:02x?}");
    }
}

#[test]
fn object_count_must_match_the_length() {
    // One C_SC_NA_1 object is 4 bytes; announce two.
    let mut f = i_frame(45, cause::ACTIVATION, 1, 1);
    f[7] = 2;
    let e = read_head(&f[..], 0, f.len()).unwrap_err();
    assert_eq!((e.kind, e.type_id), (Iec104Violation::Malformed, 45));
    // Zero objects.
    f[7] = 0;
    assert!(read_head(&f[..], 0, f.len()).is_err());
    // SQ = 1: one address then three elements of one byte.
    let mut sq = vec![START, 4 + 6 + 3 + 3, 0, 0, 0, 0, 1, 0x83, 3, 0, 1, 0];
    sq.resize(HEAD_LEN + 6, 0);
    assert!(read_head(&sq[..], 0, sq.len()).is_ok());
    // Private types: only an object address is required.
    let mut private = vec![START, 4 + 6 + 5, 0, 0, 0, 0, 200, 1, 6, 0, 1, 0];
    private.resize(HEAD_LEN + 5, 0);
    assert!(read_head(&private[..], 0, private.len()).is_ok());
}

#[test]
fn nothing_but_housekeeping_before_startdt_is_confirmed() {
    let p = commands_profile();
    let mut session = 0;
    let ic = apdu(&i_frame(100, cause::ACTIVATION, 1, 1));
    assert_eq!(
        check_control(&ic, &p, session).unwrap_err().kind,
        Iec104Violation::NotStarted
    );
    for f in [
        u_frame::STARTDT_ACT,
        u_frame::TESTFR_ACT,
        u_frame::TESTFR_CON,
    ] {
        check_control(&apdu(&u(f)), &p, session).unwrap();
    }
    check_control(&apdu(&[START, 4, 0x01, 0, 2, 0]), &p, session).unwrap();
    check_monitor(&apdu(&u(u_frame::STARTDT_CON)), &mut session).unwrap();
    check_control(&ic, &p, session).unwrap();
    check_monitor(&apdu(&u(u_frame::STOPDT_CON)), &mut session).unwrap();
    assert!(check_control(&ic, &p, session).is_err());
}

#[test]
fn confirmations_are_the_servers_and_activations_the_clients() {
    let p = commands_profile();
    let mut session = session::STARTED;
    for f in [u_frame::STARTDT_CON, u_frame::STOPDT_CON] {
        assert_eq!(
            check_control(&apdu(&u(f)), &p, session).unwrap_err().kind,
            Iec104Violation::Malformed
        );
    }
    for f in [u_frame::STARTDT_ACT, u_frame::STOPDT_ACT] {
        assert!(check_monitor(&apdu(&u(f)), &mut session).is_err());
    }
}

#[test]
fn type_ids_common_addresses_and_causes_are_judged() {
    let p = commands_profile();
    let s = session::STARTED;
    check_control(&apdu(&i_frame(45, cause::ACTIVATION, 1, 1)), &p, s).unwrap();
    check_control(&apdu(&i_frame(45, cause::DEACTIVATION, 1, 1)), &p, s).unwrap();
    check_control(&apdu(&i_frame(102, cause::REQUEST, 1, 1)), &p, s).unwrap();
    // Test bit allowed.
    check_control(
        &apdu(&i_frame(45, cause::ACTIVATION | cause::TEST, 1, 1)),
        &p,
        s,
    )
    .unwrap();
    let denied = |f: Vec<u8>| check_control(&apdu(&f), &p, s).unwrap_err();
    let d = denied(i_frame(46, cause::ACTIVATION, 1, 1));
    assert_eq!(
        (d.kind, d.type_id, d.common_address),
        (Iec104Violation::TypeId, 46, 1)
    );
    let d = denied(i_frame(105, cause::ACTIVATION, 1, 1));
    assert_eq!(d.kind, Iec104Violation::TypeId);
    let d = denied(i_frame(45, cause::ACTIVATION, 2, 1));
    assert_eq!(
        (d.kind, d.common_address),
        (Iec104Violation::CommonAddress, 2)
    );
    let d = denied(i_frame(45, cause::ACTIVATION, GLOBAL_COMMON_ADDRESS, 1));
    assert_eq!(d.kind, Iec104Violation::CommonAddress);
    let d = denied(i_frame(45, cause::SPONTANEOUS, 1, 1));
    assert_eq!(d.kind, Iec104Violation::Cause);
    let d = denied(i_frame(45, cause::ACTIVATION | cause::NEGATIVE, 1, 1));
    assert_eq!(d.kind, Iec104Violation::Cause);
    // Process information sent toward the controlled station.
    let mut all = p;
    all.type_ids = crate::sets::Bitmap256::FULL;
    let d = check_control(&apdu(&i_frame(1, cause::SPONTANEOUS, 1, 1)), &all, s).unwrap_err();
    assert_eq!(d.kind, Iec104Violation::Direction);
}

#[test]
fn the_server_may_mirror_commands_but_not_issue_them() {
    let mut s = session::STARTED;
    for c in [
        cause::ACTIVATION_CON,
        cause::DEACTIVATION_CON,
        cause::ACTIVATION_TERMINATION,
        cause::UNKNOWN_TYPE,
        cause::UNKNOWN_OBJECT_ADDRESS,
        cause::ACTIVATION_CON | cause::NEGATIVE,
    ] {
        check_monitor(&apdu(&i_frame(45, c, 1, 1)), &mut s).unwrap();
        check_monitor(&apdu(&i_frame(100, c, 1, 1)), &mut s).unwrap();
    }
    for c in [cause::ACTIVATION, cause::SPONTANEOUS, cause::REQUEST] {
        let d = check_monitor(&apdu(&i_frame(45, c, 1, 1)), &mut s).unwrap_err();
        assert_eq!(d.kind, Iec104Violation::Direction);
    }
    // Process information with any cause, file transfer both ways.
    check_monitor(&apdu(&i_frame(1, cause::SPONTANEOUS, 1, 3)), &mut s).unwrap();
    check_monitor(&apdu(&i_frame(36, 20, 1, 2)), &mut s).unwrap();
    check_monitor(&apdu(&i_frame(126, cause::FILE_TRANSFER, 1, 1)), &mut s).unwrap();
    assert_eq!(s, session::STARTED);
}
