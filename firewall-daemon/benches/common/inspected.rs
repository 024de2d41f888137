//! The dataplane bench's typical allowed IEC 104 and DNP3 requests, for the allow-lists of
//! the bench policy ([`super::common::policy_yaml`]), built with the shared frame builders of
//! `firewall_common::pktgen`.

use firewall_common::{
    dnp3::transport,
    iec104::{cause, u_frame},
    pktgen,
};

use super::common::{DNP3_OUTSTATION, IEC104_COMMON_ADDRESS};

/// IEC 104: the controlling station's STARTDT act and the controlled station's STARTDT con,
/// which must pass (in that order) before the controlling station may send I frames.
pub fn iec104_startdt() -> ([u8; 6], [u8; 6]) {
    (
        pktgen::iec104::u(u_frame::STARTDT_ACT),
        pktgen::iec104::u(u_frame::STARTDT_CON),
    )
}

/// The allowed IEC 104 request: a general interrogation (C_IC_NA_1, activation, one object)
/// of the allowed station.
pub fn iec104_interrogation() -> Vec<u8> {
    pktgen::iec104::i_frame(100, cause::ACTIVATION, IEC104_COMMON_ADDRESS, 1)
}

/// The allowed DNP3 request: a class 0 poll (read of group 60 variation 1) of the allowed
/// outstation, with correct CRCs.
pub fn dnp3_class0_poll() -> Vec<u8> {
    pktgen::dnp3::request(
        1,
        DNP3_OUTSTATION,
        transport::FIR | transport::FIN,
        &pktgen::dnp3::CLASS0,
    )
}
