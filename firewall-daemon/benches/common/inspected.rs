//! The dataplane bench's typical allowed requests of the inspected protocols after Modbus, for
//! the profiles of the bench policy ([`super::common::policy_yaml`]), built with the shared
//! frame builders of `firewall_common::pktgen`; each TCP one with the payloads its connection
//! carries first ([`Dialogue`]).

use firewall_common::{
    dnp3::transport,
    enip::command,
    iec104::{cause, u_frame},
    pktgen,
    s7comm::job,
};

use super::common::{DNP3_OUTSTATION, IEC104_COMMON_ADDRESS};

/// Which side of a connection sends a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// A request of a TCP protocol and the payloads that must pass, in order, before it (each in a
/// segment of its own).
pub struct Dialogue {
    pub setup: Vec<(Side, Vec<u8>)>,
    pub request: Vec<u8>,
}

/// IEC 104: the controlling station's STARTDT act and the controlled station's STARTDT con
/// (an I frame before them is denied), then a general interrogation (C_IC_NA_1, activation,
/// one object) of the allowed station.
pub fn iec104() -> Dialogue {
    Dialogue {
        setup: vec![
            (
                Side::Client,
                pktgen::iec104::u(u_frame::STARTDT_ACT).to_vec(),
            ),
            (
                Side::Server,
                pktgen::iec104::u(u_frame::STARTDT_CON).to_vec(),
            ),
        ],
        request: pktgen::iec104::i_frame(100, cause::ACTIVATION, IEC104_COMMON_ADDRESS, 1),
    }
}

/// DNP3: a class 0 poll (read of group 60 variation 1) of the allowed outstation, with
/// correct CRCs, first on its connection.
pub fn dnp3() -> Dialogue {
    Dialogue {
        setup: Vec::new(),
        request: pktgen::dnp3::request(
            1,
            DNP3_OUTSTATION,
            transport::FIR | transport::FIN,
            &pktgen::dnp3::CLASS0,
        ),
    }
}

/// S7comm: snap7's COTP connection request (TSAP 0x0102) and the PLC's confirm, setup
/// communication (PDU size 480) and its ack-data, then a read_var of one item: 4 bytes of
/// DB 1 (area 0x84).
pub fn s7comm() -> Dialogue {
    use pktgen::s7comm::*;
    Dialogue {
        setup: vec![
            (Side::Client, connection_request(0x0102)),
            (Side::Server, connection_confirm()),
            (Side::Client, dt(&setup_communication(), true)),
            (
                Side::Server,
                dt(
                    &ack_data(&[job::SETUP_COMMUNICATION, 0, 0, 1, 0, 1, 1, 0xE0], &[]),
                    true,
                ),
            ),
        ],
        request: dt(&read_var(&[item(0x84, 1, 0, 4)]), true),
    }
}

/// A write the S7comm profile denies (`s7comm_function`): PLC stop.
pub fn s7comm_denied() -> Vec<u8> {
    pktgen::s7comm::dt(&pktgen::s7comm::plc_stop(), true)
}

/// EtherNet/IP: RegisterSession and the device's reply (SendRRData before them is denied),
/// then a SendRRData carrying Read Tag (0x4C) of one element of `Counter`, no Unconnected
/// Send around it.
pub fn enip() -> Dialogue {
    use pktgen::enip::*;
    Dialogue {
        setup: vec![
            (Side::Client, register_session()),
            (
                Side::Server,
                encap(command::REGISTER_SESSION, SESSION, &[1, 0, 0, 0]),
            ),
        ],
        request: send_rr(&read_tag("Counter", 1)),
    }
}

/// A write the EtherNet/IP profile denies (`enip_service`): Write Tag of `Counter`.
pub fn enip_denied() -> Vec<u8> {
    pktgen::enip::send_rr(&pktgen::enip::write_tag_dint("Counter", 7))
}

/// OPC UA: Hello, the server's Acknowledge, an OpenSecureChannel for Basic256Sha256 and its
/// response, CreateSession and ActivateSession with their responses, then a Read (as asyncua
/// sends it: four-byte type id) on the signed channel.
pub fn opcua() -> Dialogue {
    use pktgen::opcua::*;
    Dialogue {
        setup: vec![
            (Side::Client, hello()),
            (Side::Server, acknowledge()),
            (Side::Client, open("Basic256Sha256")),
            (Side::Server, open("Basic256Sha256")),
            (Side::Client, request(ids::CREATE_SESSION, 1)),
            (Side::Server, response(ids::CREATE_SESSION, 1)),
            (Side::Client, request(ids::ACTIVATE_SESSION, 2)),
            (Side::Server, response(ids::ACTIVATE_SESSION, 2)),
        ],
        request: request(ids::READ, 3),
    }
}

/// A request the OPC UA profile denies (`opcua_service`): Write.
pub fn opcua_denied() -> Vec<u8> {
    pktgen::opcua::request(pktgen::opcua::ids::WRITE, 3)
}

/// The confirmed service choice of ReadProperty.
const READ_PROPERTY: u8 = 12;
/// The confirmed service choice of WriteProperty.
const WRITE_PROPERTY: u8 = 15;

/// BACnet/IP: an Original-Unicast-NPDU carrying a ReadProperty confirmed request (present
/// value of analog-value 1): the whole UDP payload.
pub fn bacnet_read_property() -> Vec<u8> {
    use pktgen::bacnet::*;
    unicast(&confirmed(READ_PROPERTY, &READ_PROPERTY_BODY))
}

/// A write the BACnet profile denies (`bacnet_service`): WriteProperty of the same value.
pub fn bacnet_denied() -> Vec<u8> {
    use pktgen::bacnet::*;
    unicast(&confirmed(WRITE_PROPERTY, &WRITE_PROPERTY_BODY))
}
