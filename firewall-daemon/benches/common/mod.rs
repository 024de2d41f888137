//! The benchmark policy shared by the dataplane and throughput benches: `conduits` conduits
//! spread over `2 + conduits / 100` zones, each a distinct (from, to, port); of every
//! [`INSPECTED_EVERY`] conduits, one inspects each of Modbus, IEC 104, DNP3, S7comm,
//! EtherNet/IP, BACnet and OPC UA on its port, one opens a UDP port, one allows ICMP echo requests
//! ([`kind_of`]), the others are plain TCP. Also the Modbus request both benches send (the
//! dataplane bench's other inspected requests are in `inspected.rs`).

use std::{fmt::Write as _, sync::OnceLock};

/// Of every `INSPECTED_EVERY` conduits, the first inspects Modbus, the second IEC 104, the
/// third DNP3, the fourth opens UDP, the fifth ICMP echo, the sixth to ninth inspect S7comm,
/// EtherNet/IP, BACnet and OPC UA, the last three are plain TCP ([`kind_of`]).
pub const INSPECTED_EVERY: usize = 12;
/// The IEC 104 common address the bench policy allows.
pub const IEC104_COMMON_ADDRESS: u16 = 1;
/// The DNP3 outstation (destination link address) the bench policy allows.
pub const DNP3_OUTSTATION: u16 = 10;

/// What a bench conduit's rule is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Modbus,
    Iec104,
    Dnp3,
    S7comm,
    Enip,
    Bacnet,
    Opcua,
    Udp,
    Icmp,
}

/// The rule kind of conduit `i`. Conduits of the protocols after Modbus exist only in a build
/// whose policy language inspects them (before that, their slots are plain TCP).
pub fn kind_of(i: usize) -> Kind {
    let inspected = |kind| if supports(kind) { kind } else { Kind::Tcp };
    match i % INSPECTED_EVERY {
        0 => Kind::Modbus,
        1 => inspected(Kind::Iec104),
        2 => inspected(Kind::Dnp3),
        3 => Kind::Udp,
        4 => Kind::Icmp,
        5 => inspected(Kind::S7comm),
        6 => inspected(Kind::Enip),
        7 => inspected(Kind::Bacnet),
        8 => inspected(Kind::Opcua),
        _ => Kind::Tcp,
    }
}

/// The inspected kinds a build may lack, with their policy keywords.
const OPTIONAL: [(Kind, &str); 6] = [
    (Kind::Iec104, "iec104"),
    (Kind::Dnp3, "dnp3"),
    (Kind::S7comm, "s7comm"),
    (Kind::Enip, "enip"),
    (Kind::Bacnet, "bacnet"),
    (Kind::Opcua, "opcua"),
];

/// Whether this build's policy language inspects `kind` (Modbus and the L4 kinds always).
pub fn supports(kind: Kind) -> bool {
    static SUPPORTED: OnceLock<[bool; OPTIONAL.len()]> = OnceLock::new();
    let supported = SUPPORTED.get_or_init(|| {
        OPTIONAL.map(|(_, name)| {
            matches!(
                zcfw::policy::protocols::protocol_support(name),
                zcfw::policy::protocols::ProtocolSupport::Supported(_)
            )
        })
    });
    OPTIONAL
        .iter()
        .position(|(k, _)| *k == kind)
        .is_none_or(|i| supported[i])
}

/// The policy YAML; `head` is everything before `zones:` (version, name, defaults,
/// interfaces).
pub fn policy_yaml(head: &str, conduits: usize) -> String {
    let zones = zones_for(conduits);
    let mut y = format!("{head}zones:\n");
    for z in 0..zones {
        let (a, b) = (z / 256, z % 256);
        let _ = writeln!(
            y,
            "  z{z}: {{ security_level: 2, networks: [10.{a}.{b}.0/24] }}"
        );
    }
    y.push_str("conduits:\n");
    for i in 0..conduits {
        let (from, to) = endpoints(i, zones);
        let port = port_of(i);
        let rule = match kind_of(i) {
            Kind::Modbus => format!(
                "{{ protocol: modbus, ports: [{port}], modbus: {{ unit_ids: [1], read_only: true, addresses: [\"0-999\"] }} }}"
            ),
            // A SCADA master's polling: interrogations, counter interrogations and reads of
            // one station (DESIGN.md, "Industrial protocols").
            Kind::Iec104 => format!(
                "{{ protocol: iec104, ports: [{port}], iec104: {{ type_ids: [C_IC_NA_1, C_CI_NA_1, C_RD_NA_1], common_addresses: [{IEC104_COMMON_ADDRESS}] }} }}"
            ),
            Kind::Dnp3 => format!(
                "{{ protocol: dnp3, ports: [{port}], dnp3: {{ functions: [read, confirm], addresses: [{DNP3_OUTSTATION}] }} }}"
            ),
            // A SCADA or HMI reading a PLC, a controller's tags, a building's devices.
            Kind::S7comm => {
                format!("{{ protocol: s7comm, ports: [{port}], s7comm: {{ read_only: true }} }}")
            }
            Kind::Enip => {
                format!("{{ protocol: enip, ports: [{port}], enip: {{ read_only: true }} }}")
            }
            Kind::Bacnet => {
                format!("{{ protocol: bacnet, ports: [{port}], bacnet: {{ read_only: true }} }}")
            }
            // An HMI reading a server on a signed channel.
            Kind::Opcua => format!(
                "{{ protocol: opcua, ports: [{port}], opcua: {{ security_policies: [Basic256Sha256], read_only: true }} }}"
            ),
            Kind::Tcp => format!("{{ protocol: tcp, ports: [{port}] }}"),
            Kind::Udp => format!("{{ protocol: udp, ports: [{port}] }}"),
            Kind::Icmp => "{ protocol: icmp, types: [echo-request] }".to_owned(),
        };
        let _ = writeln!(
            y,
            "  - {{ name: c{i}, from: z{from}, to: z{to}, rules: [{rule}] }}"
        );
    }
    y
}

pub fn zones_for(conduits: usize) -> usize {
    2 + conduits / 100
}

pub fn port_of(i: usize) -> u16 {
    1000 + i as u16
}

/// Source and destination zone of conduit `i`.
pub fn endpoints(i: usize, zones: usize) -> (usize, usize) {
    let from = i % zones;
    let to = (from + 1 + (i / zones) % (zones - 1)) % zones;
    (from, to)
}

/// Address `n` of zone `zone`.
pub fn host(zone: usize, n: u8) -> [u8; 4] {
    [10, (zone / 256) as u8, (zone % 256) as u8, n]
}

/// A Modbus/TCP request ADU (transaction 1, unit 1) carrying `pdu`.
pub fn modbus(pdu: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 1, 0, 0];
    b.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
    b.push(1);
    b.extend_from_slice(pdu);
    b
}

/// The allowed Modbus request: read holding registers 10-29.
pub fn modbus_read() -> Vec<u8> {
    modbus(&[3, 0, 10, 0, 20])
}
