//! Before any program is loaded, the dataplane bench checks the request of every inspected
//! class after Modbus against the host parser the data path runs, with the profile the bench
//! policy compiles to: the payloads its connection carries first and the request pass, a
//! dangerous variant is denied. A bad CRC, length or framing in a bench frame fails here, not
//! as an unexplained verdict of the data path.

use firewall_common::{
    bacnet::{BacnetProfile, BacnetViolation, judge},
    dnp3::{Dnp3Cursor, Dnp3Profile},
    enip::{EnipConnections, EnipCursor, EnipProfile, EnipViolation},
    iec104::{Head, Iec104Profile, Iec104Violation, check_control, check_monitor, read_head},
    opcua::{OpcuaCursor, OpcuaProfile, OpcuaViolation},
    s7comm::{S7Cursor, S7Profile, S7Violation},
};
use zcfw::compile::CompiledPolicy;

use super::{
    common::{Kind, supports},
    inspected::{self, Dialogue, Side},
};

/// Checks the classes of the protocols this build inspects against `compiled`, a bench policy
/// with at least one conduit of each kind.
pub fn run(compiled: &CompiledPolicy) {
    if supports(Kind::Iec104) {
        iec104(only(&compiled.iec104_profiles, "IEC 104"));
    }
    if supports(Kind::Dnp3) {
        dnp3(only(&compiled.dnp3_profiles, "DNP3"));
    }
    if supports(Kind::S7comm) {
        s7comm(only(&compiled.s7comm_profiles, "S7comm"));
    }
    if supports(Kind::Enip) {
        enip(only(&compiled.enip_profiles, "EtherNet/IP"));
    }
    if supports(Kind::Bacnet) {
        bacnet(only(&compiled.bacnet_profiles, "BACnet"));
    }
    if supports(Kind::Opcua) {
        opcua(only(&compiled.opcua_profiles, "OPC UA"));
    }
}

/// The one profile of a protocol: the bench's conduits of a kind share one (identical
/// profiles are shared).
fn only<'a, P>(profiles: &'a [P], what: &str) -> &'a P {
    match profiles {
        [p] => p,
        _ => panic!(
            "self-check: the bench policy compiles to {} {what} profiles, not one",
            profiles.len()
        ),
    }
}

/// Walks a dialogue's setup with `walk(side, payload)`, then its request with `walk(Client,
/// ..)`; each must pass.
fn walk_dialogue<T, E: std::fmt::Debug>(
    what: &str,
    d: &Dialogue,
    mut walk: impl FnMut(Side, &[u8]) -> Result<T, E>,
) {
    for (side, payload) in &d.setup {
        if let Err(e) = walk(*side, payload) {
            panic!(
                "self-check: {what}: the {side:?}'s setup payload {payload:02x?} is denied: {e:?}"
            );
        }
    }
    if let Err(e) = walk(Side::Client, &d.request) {
        panic!(
            "self-check: {what}: the request {:02x?} is denied: {e:?}",
            d.request
        );
    }
}

fn iec104(profile: &Iec104Profile) {
    let apdu = |bytes: &[u8]| match read_head(bytes, 0, bytes.len()) {
        Ok(Head::Apdu(a)) if a.len == bytes.len() => a,
        other => panic!("self-check: the IEC 104 APDU {bytes:02x?} reads as {other:?}"),
    };
    let d = inspected::iec104();
    assert_eq!(
        check_control(&apdu(&d.request), profile, 0).map_err(|d| d.kind),
        Err(Iec104Violation::NotStarted),
        "self-check: an interrogation before STARTDT must be denied"
    );
    let mut session = 0;
    walk_dialogue("IEC 104", &d, |side, payload| match side {
        Side::Client => check_control(&apdu(payload), profile, session),
        Side::Server => check_monitor(&apdu(payload), &mut session),
    });
}

fn dnp3(profile: &Dnp3Profile) {
    use firewall_common::dnp3::walk;
    let d = inspected::dnp3();
    let mut cursor = Dnp3Cursor::default();
    walk_dialogue("DNP3 (CRCs, framing, function, address)", &d, |_, b| {
        walk(b, 0, b.len(), &mut cursor, Some(profile))
    });
    let mut corrupt = d.request.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xFF;
    assert!(
        walk(
            &corrupt[..],
            0,
            corrupt.len(),
            &mut Dnp3Cursor::default(),
            Some(profile)
        )
        .is_err(),
        "self-check: a DNP3 frame with a bad CRC must be denied"
    );
}

fn s7comm(profile: &S7Profile) {
    use firewall_common::s7comm::walk;
    let d = inspected::s7comm();
    let (mut client, mut server, mut session) = (S7Cursor::default(), S7Cursor::default(), 0);
    // The request is walked last: keep the client's state before it for the denied variant.
    let mut before = client;
    walk_dialogue("S7comm", &d, |side, b| match side {
        Side::Client => {
            before = client;
            walk(b, 0, b.len(), &mut client, &mut session, Some(profile))
        }
        Side::Server => walk(b, 0, b.len(), &mut server, &mut session, None),
    });
    let stop = inspected::s7comm_denied();
    assert_eq!(
        walk(
            &stop[..],
            0,
            stop.len(),
            &mut before,
            &mut session,
            Some(profile)
        )
        .map_err(|d| d.kind),
        Err(S7Violation::Function),
        "self-check: a PLC stop must be denied"
    );
}

fn enip(profile: &EnipProfile) {
    use firewall_common::enip::walk;
    let d = inspected::enip();
    let request = &d.request;
    assert_eq!(
        walk(
            &request[..],
            0,
            request.len(),
            &mut EnipCursor::default(),
            &mut 0,
            &mut EnipConnections::default(),
            Some(profile)
        )
        .map_err(|d| d.kind),
        Err(EnipViolation::Session),
        "self-check: SendRRData before RegisterSession must be denied"
    );
    let (mut client, mut server, mut session) = (EnipCursor::default(), EnipCursor::default(), 0);
    let mut conns = EnipConnections::default();
    let mut before = client;
    walk_dialogue("EtherNet/IP", &d, |side, b| match side {
        Side::Client => {
            before = client;
            walk(
                b,
                0,
                b.len(),
                &mut client,
                &mut session,
                &mut conns,
                Some(profile),
            )
        }
        Side::Server => walk(b, 0, b.len(), &mut server, &mut session, &mut conns, None),
    });
    let write = inspected::enip_denied();
    assert_eq!(
        walk(
            &write[..],
            0,
            write.len(),
            &mut before,
            &mut session,
            &mut conns,
            Some(profile)
        )
        .map_err(|d| d.kind),
        Err(EnipViolation::Service),
        "self-check: a Write Tag must be denied"
    );
}

fn opcua(profile: &OpcuaProfile) {
    use firewall_common::opcua::walk;
    let d = inspected::opcua();
    let request = &d.request;
    assert_eq!(
        walk(
            &request[..],
            0,
            request.len(),
            &mut OpcuaCursor::default(),
            &mut 0,
            Some(profile)
        )
        .map_err(|d| d.kind),
        Err(OpcuaViolation::Channel),
        "self-check: a Read before OpenSecureChannel must be denied"
    );
    let (mut client, mut server, mut session) = (OpcuaCursor::default(), OpcuaCursor::default(), 0);
    let mut before = client;
    walk_dialogue("OPC UA", &d, |side, b| match side {
        Side::Client => {
            before = client;
            walk(b, 0, b.len(), &mut client, &mut session, Some(profile))
        }
        Side::Server => walk(b, 0, b.len(), &mut server, &mut session, None),
    });
    let write = inspected::opcua_denied();
    assert_eq!(
        walk(
            &write[..],
            0,
            write.len(),
            &mut before,
            &mut session,
            Some(profile)
        )
        .map_err(|d| d.kind),
        Err(OpcuaViolation::Service),
        "self-check: a Write must be denied"
    );
}

fn bacnet(profile: &BacnetProfile) {
    let read = inspected::bacnet_read_property();
    judge(&read[..], 0, read.len(), profile, true).unwrap_or_else(|e| {
        panic!("self-check: the BACnet ReadProperty {read:02x?} is denied: {e:?}")
    });
    let write = inspected::bacnet_denied();
    assert_eq!(
        judge(&write[..], 0, write.len(), profile, true).map_err(|d| d.kind),
        Err(BacnetViolation::Service),
        "self-check: a BACnet WriteProperty must be denied"
    );
}
