//! The names the policy language knows: rule protocols, ICMP message types, ethertypes.
//!
//! [`protocol_support`] is the one place that says which protocols this build enforces;
//! lifting an industrial protocol out of "not supported yet" starts there.

use firewall_common::{
    dnp3::Effect as DnpEffect,
    iec104::Class as IecClass,
    modbus::{address_class, diagnostics, mei},
};

/// A rule protocol this build enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Any,
    /// Modbus/TCP with deep inspection: TCP (port 502 unless `ports` says otherwise), every
    /// request checked against the rule's inspection profile.
    Modbus,
    /// IEC 60870-5-104 with deep inspection: TCP (port 2404 unless `ports` says otherwise),
    /// every APDU of the controlling station checked against the rule's profile.
    Iec104,
    /// DNP3 over TCP with deep inspection (port 20000 unless `ports` says otherwise), every
    /// link frame of the master checked against the rule's profile.
    Dnp3,
    /// S7comm over ISO-on-TCP with deep inspection (port 102 unless `ports` says otherwise):
    /// every TPDU of the client checked against the rule's profile.
    S7comm,
    /// EtherNet/IP with CIP with deep inspection (port 44818 unless `ports` says otherwise):
    /// every encapsulation PDU of the client, and every CIP request in it, checked against
    /// the rule's profile.
    Enip,
    /// OPC UA binary with deep inspection (port 4840 unless `ports` says otherwise): every
    /// chunk either way framed, the client's OpenSecureChannel checked against the rule's
    /// security policies and its cleartext service requests against its services.
    Opcua,
    /// BACnet/IP with deep inspection: UDP (port 47808 unless `ports` says otherwise), every
    /// datagram either way checked against the rule's profile.
    Bacnet,
}

impl Protocol {
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Icmpv6 => "icmpv6",
            Protocol::Any => "any",
            Protocol::Modbus => "modbus",
            Protocol::Iec104 => "iec104",
            Protocol::Dnp3 => "dnp3",
            Protocol::S7comm => "s7comm",
            Protocol::Enip => "enip",
            Protocol::Opcua => "opcua",
            Protocol::Bacnet => "bacnet",
        }
    }

    /// IP protocol number; `None` for `any`.
    pub const fn number(self) -> Option<u8> {
        match self {
            Protocol::Tcp => Some(6),
            Protocol::Udp => Some(17),
            Protocol::Icmp => Some(1),
            Protocol::Icmpv6 => Some(58),
            Protocol::Any => None,
            Protocol::Modbus
            | Protocol::Iec104
            | Protocol::Dnp3
            | Protocol::S7comm
            | Protocol::Enip
            | Protocol::Opcua => Some(6),
            Protocol::Bacnet => Some(17),
        }
    }

    /// The name people know an inspected protocol by (`Modbus/TCP`, `IEC 60870-5-104`,
    /// `DNP3`); the keyword for the others.
    pub fn display(self) -> &'static str {
        INDUSTRIAL_PROTOCOLS
            .iter()
            .find(|p| p.keyword == self.name())
            .map_or(self.name(), |p| p.display)
    }

    /// The short name of an inspected protocol in messages (`Modbus`, `IEC 104`, `DNP3`).
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Modbus => "Modbus",
            Protocol::Iec104 => "IEC 104",
            Protocol::Dnp3 => "DNP3",
            Protocol::S7comm => "S7comm",
            Protocol::Enip => "EtherNet/IP",
            Protocol::Opcua => "OPC UA",
            Protocol::Bacnet => "BACnet",
            _ => self.name(),
        }
    }

    /// The well-known port of an inspected protocol.
    pub fn default_port(self) -> Option<u16> {
        INDUSTRIAL_PROTOCOLS
            .iter()
            .find(|p| p.keyword == self.name())
            .map(|p| p.port)
    }
}

/// Protocols a rule may name in this build, in the order help texts list them.
pub const SUPPORTED_PROTOCOLS: [Protocol; 12] = [
    Protocol::Tcp,
    Protocol::Udp,
    Protocol::Icmp,
    Protocol::Icmpv6,
    Protocol::Any,
    Protocol::Modbus,
    Protocol::Iec104,
    Protocol::Dnp3,
    Protocol::S7comm,
    Protocol::Enip,
    Protocol::Opcua,
    Protocol::Bacnet,
];

/// An industrial protocol of the language (supported or not by this build).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Industrial {
    /// Keyword in the policy (`modbus`), also the key of its options block.
    pub keyword: &'static str,
    /// Name people know it by.
    pub display: &'static str,
    /// Transport and well-known port it implies.
    pub transport: Protocol,
    pub port: u16,
}

/// Industrial protocols the language names (the design contract's list), with their transport
/// and port; [`protocol_support`] says which this build enforces.
pub const INDUSTRIAL_PROTOCOLS: [Industrial; 7] = [
    Industrial {
        keyword: "modbus",
        display: "Modbus/TCP",
        transport: Protocol::Tcp,
        port: 502,
    },
    Industrial {
        keyword: "dnp3",
        display: "DNP3",
        transport: Protocol::Tcp,
        port: 20000,
    },
    Industrial {
        keyword: "s7comm",
        display: "S7comm",
        transport: Protocol::Tcp,
        port: 102,
    },
    Industrial {
        keyword: "enip",
        display: "EtherNet/IP",
        transport: Protocol::Tcp,
        port: 44818,
    },
    Industrial {
        keyword: "iec104",
        display: "IEC 60870-5-104",
        transport: Protocol::Tcp,
        port: 2404,
    },
    Industrial {
        keyword: "opcua",
        display: "OPC UA",
        transport: Protocol::Tcp,
        port: 4840,
    },
    Industrial {
        keyword: "bacnet",
        display: "BACnet/IP",
        transport: Protocol::Udp,
        port: 47808,
    },
];

/// What this build makes of a rule's `protocol:` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolSupport {
    Supported(Protocol),
    /// Part of the language, but deep inspection is not in this build.
    NotInThisBuild(Industrial),
    Unknown,
}

/// The single list of what this build enforces: move an industrial protocol into
/// `Supported` here once its inspection profile exists.
pub fn protocol_support(name: &str) -> ProtocolSupport {
    if let Some(p) = SUPPORTED_PROTOCOLS.iter().find(|p| p.name() == name) {
        return ProtocolSupport::Supported(*p);
    }
    match INDUSTRIAL_PROTOCOLS.iter().find(|p| p.keyword == name) {
        Some(p) => ProtocolSupport::NotInThisBuild(*p),
        None => ProtocolSupport::Unknown,
    }
}

/// Modbus address tables, the keys of the per-table `addresses:` mapping: a request is
/// checked against the ranges of the table its function reads or writes
/// ([`firewall_common::modbus::address_classes`]). The read tables share their names with
/// FC 1-4.
pub const MODBUS_ADDRESS_TABLES: [(&str, u16); 6] = [
    ("read_coils", address_class::READ_COILS),
    ("read_discrete_inputs", address_class::READ_DISCRETE_INPUTS),
    (
        "read_holding_registers",
        address_class::READ_HOLDING_REGISTERS,
    ),
    ("read_input_registers", address_class::READ_INPUT_REGISTERS),
    ("write_coils", address_class::WRITE_COILS),
    (
        "write_holding_registers",
        address_class::WRITE_HOLDING_REGISTERS,
    ),
];

/// FC 8 (diagnostics) sub-function names, for `diagnostics_subfunctions`.
pub const MODBUS_DIAGNOSTICS: [(&str, u16); 15] = {
    use diagnostics::*;
    [
        ("return_query_data", RETURN_QUERY_DATA),
        ("restart_communications", RESTART_COMMUNICATIONS),
        ("return_diagnostic_register", RETURN_DIAGNOSTIC_REGISTER),
        ("change_ascii_delimiter", CHANGE_ASCII_DELIMITER),
        ("force_listen_only", FORCE_LISTEN_ONLY),
        ("clear_counters", CLEAR_COUNTERS),
        ("return_bus_message_count", RETURN_BUS_MESSAGE_COUNT),
        ("return_bus_error_count", RETURN_BUS_ERROR_COUNT),
        ("return_bus_exception_count", RETURN_BUS_EXCEPTION_COUNT),
        ("return_server_message_count", RETURN_SERVER_MESSAGE_COUNT),
        (
            "return_server_no_response_count",
            RETURN_SERVER_NO_RESPONSE_COUNT,
        ),
        ("return_server_nak_count", RETURN_SERVER_NAK_COUNT),
        ("return_server_busy_count", RETURN_SERVER_BUSY_COUNT),
        ("return_bus_overrun_count", RETURN_BUS_OVERRUN_COUNT),
        ("clear_overrun_counter", CLEAR_OVERRUN_COUNTER),
    ]
};

/// FC 43 (encapsulated interface transport) MEI type names, for `mei_types`.
pub const MODBUS_MEI_TYPES: [(&str, u8); 2] = [
    ("canopen_general_reference", mei::CANOPEN_GENERAL_REFERENCE),
    ("read_device_id", mei::READ_DEVICE_ID),
];

/// The name of address table bit `class`.
pub fn modbus_table_name(class: u16) -> Option<&'static str> {
    MODBUS_ADDRESS_TABLES
        .iter()
        .find(|(_, c)| *c == class)
        .map(|(n, _)| *n)
}

/// The name of FC 8 sub-function `sub`.
pub fn modbus_diagnostics_name(sub: u16) -> Option<&'static str> {
    MODBUS_DIAGNOSTICS
        .iter()
        .find(|(_, s)| *s == sub)
        .map(|(n, _)| *n)
}

/// The name of FC 43 MEI type `t`.
pub fn modbus_mei_name(t: u8) -> Option<&'static str> {
    MODBUS_MEI_TYPES
        .iter()
        .find(|(_, m)| *m == t)
        .map(|(n, _)| *n)
}

/// `C_SC_NA_1 (45)`, or `type id 52` for codes without a name.
pub fn iec104_type_label(code: u8) -> String {
    match firewall_common::iec104::type_id(code) {
        Some(t) => format!("{} ({code})", t.name),
        None => format!("type id {code}"),
    }
}

/// Why listing `code` deserves a warning: what it does to the controlled station.
pub fn iec104_danger(code: u8) -> Option<&'static str> {
    match (code, firewall_common::iec104::class_of(code)) {
        (_, Some(IecClass::Command)) => Some(
            "a process command: it switches, regulates or sets a point in the plant (select/execute or direct)",
        ),
        (_, Some(IecClass::Parameter)) => Some(
            "a parameter load: it changes thresholds, smoothing factors or limits of measurements, or activates them",
        ),
        (_, Some(IecClass::File)) => Some(
            "file transfer: it reads or writes files (disturbance records, configuration) on the station",
        ),
        (103, _) => Some(
            "clock synchronisation: it sets the station's clock, and so the time stamps of every event it reports",
        ),
        (105, _) => {
            Some("reset process: it restarts the station's process (a general or partial reset)")
        }
        (106, _) => Some("delay acquisition: it changes how the station corrects its time stamps"),
        (_, Some(IecClass::System)) => Some("a system command the standard reserves"),
        _ => None,
    }
}

/// `direct_operate (5)`, or `function code 40` for codes without a name.
pub fn dnp3_function_label(code: u8) -> String {
    match firewall_common::dnp3::function(code) {
        Some(f) => format!("{} ({code})", f.name),
        None => format!("function code {code}"),
    }
}

/// Why listing `code` deserves a warning: what it does to the outstation.
pub fn dnp3_danger(code: u8) -> Option<&'static str> {
    let f = firewall_common::dnp3::function(code)?;
    match (code, f.effect) {
        (2, _) => Some("a write: it changes values, time or configuration of the outstation"),
        (3..=6, _) => Some("a control: it operates outputs (breakers, set points) in the plant"),
        (7..=12 | 22, _) => {
            Some("a control: it freezes or clears counters, or reassigns event classes")
        }
        (13 | 14, _) => Some("a restart: the outstation reboots and stops serving while it does"),
        (_, DnpEffect::Device) => Some(
            "a device function: it initialises data, starts or stops applications, or changes the configuration",
        ),
        (_, DnpEffect::File) => {
            Some("a file service: it reads, writes or deletes files on the outstation")
        }
        (20 | 21, _) => Some(
            "unsolicited reporting control: it switches the outstation's spontaneous reports on or off (masters and other masters then miss or flood events)",
        ),
        _ => None,
    }
}

/// `plc_stop (0x29)`, or `function 0x42` for codes without a name.
pub fn s7comm_function_label(code: u8) -> String {
    match firewall_common::s7comm::function(code) {
        Some(f) => format!("{} ({code:#04x})", f.name),
        None => format!("function {code:#04x}"),
    }
}

/// Why listing S7 job function `code` deserves a warning: what it does to the PLC.
pub fn s7comm_danger(code: u8) -> Option<&'static str> {
    use firewall_common::s7comm::Effect;
    let f = firewall_common::s7comm::function(code)?;
    match (code, f.effect) {
        (0x29, _) => Some("PLC stop: the CPU stops its program and the process it runs"),
        (0x28, _) => Some(
            "a PI service: it starts (hot/cold restart), stops, compresses memory, copies RAM to ROM or deletes blocks",
        ),
        (_, Effect::Write) => Some(
            "write var: it writes inputs, outputs, flags and data blocks of the running program",
        ),
        (_, Effect::Download) => {
            Some("a download: it loads or replaces program blocks in the PLC (code changes)")
        }
        (_, Effect::Upload) => Some(
            "an upload: it copies the PLC's program off it (know-how and the basis of a modified download)",
        ),
        (_, Effect::Other) => Some("CPU services: functions the standard does not document"),
        _ => None,
    }
}

/// Why listing userdata `name` deserves a warning, if it does.
pub fn s7comm_userdata_danger(name: &str) -> Option<&'static str> {
    match name {
        "clock_set" => {
            Some("it sets the PLC's clock, and so the time stamps of its diagnostics and alarms")
        }
        "programmer" => Some(
            "programmer commands: variable tables can modify and force inputs, outputs and flags",
        ),
        "security" => Some("PLC password functions: a client can try passwords (protection level)"),
        "bsend" => Some("BSEND/BRCV block transfer into the running program"),
        "nc_programming" => Some("NC programming functions of SINUMERIK controllers"),
        _ => None,
    }
}

/// `write_tag (0x4d)`, or `service 0x61` for codes without a name (the common name, or the
/// class-specific one on `target`).
pub fn enip_service_label(code: u8, target: firewall_common::enip::Target) -> String {
    match firewall_common::enip::service_name(code, target) {
        Some(name) => format!("{name} ({code:#04x})"),
        None => format!("service {code:#04x}"),
    }
}

/// Why listing CIP service `s` deserves a warning: what it does to the device.
pub fn enip_danger(s: &firewall_common::enip::Service) -> Option<&'static str> {
    use firewall_common::enip::{Effect, Target};
    match (s.code, s.effect) {
        (_, Effect::Write) if s.target == Target::Tag => {
            Some("a tag write: it changes values of the running controller program")
        }
        (0x05, _) => Some(
            "reset: the device restarts (or returns to its factory defaults) and its process stops while it does",
        ),
        (0x06 | 0x07, _) => {
            Some("start/stop: it starts or stops an object, on a controller its program")
        }
        (_, Effect::Write) => Some(
            "a write: it changes attributes or objects of the device (configuration, addresses, outputs)",
        ),
        (_, Effect::Connection) => Some(
            "a connection service: it opens or closes CIP connections, whose I/O and messages then flow on their own",
        ),
        (_, Effect::Control) => Some("a control service of the device"),
        _ => None,
    }
}

/// `write (673)`: OPC UA service `index` of [`firewall_common::opcua::SERVICES`] with the
/// binary encoding id of its request.
pub fn opcua_service_label(index: u8) -> String {
    match firewall_common::opcua::SERVICES.get(usize::from(index)) {
        Some(s) => format!("{} ({})", s.name, s.id),
        None => format!("service {index}"),
    }
}

/// Why listing OPC UA service `name` deserves a warning: what it does to the server (every
/// name of [`firewall_common::opcua::DANGEROUS`] has one).
pub fn opcua_danger(name: &str) -> Option<&'static str> {
    match name {
        "write" => Some(
            "it writes values and attributes of nodes: setpoints, outputs and configuration of the server and the devices behind it",
        ),
        "call" => Some(
            "it calls methods, which do whatever the server makes them do (start, stop, download, reset, change configuration)",
        ),
        "add_nodes" | "delete_nodes" | "add_references" | "delete_references" => {
            Some("it changes the server's address space (nodes and the references between them)")
        }
        "history_update" => Some(
            "it inserts, replaces or deletes historical values and events, the record an investigation relies on",
        ),
        "register_server" | "register_server2" => Some(
            "it registers a server with a discovery server, which then points clients at it (a rogue server included)",
        ),
        _ => None,
    }
}

/// `write_property (15)`, or `confirmed service 99` for codes without a name; unconfirmed
/// services with `unconfirmed`.
pub fn bacnet_service_label(unconfirmed: bool, code: u8) -> String {
    use firewall_common::bacnet::{confirmed_name, unconfirmed_name};
    let (name, kind) = if unconfirmed {
        (unconfirmed_name(code), "unconfirmed")
    } else {
        (confirmed_name(code), "confirmed")
    };
    match name {
        Some(n) => format!("{n} ({code})"),
        None => format!("{kind} service {code}"),
    }
}

/// Why listing BACnet service `code` deserves a warning: what it does to a device.
pub fn bacnet_danger(unconfirmed: bool, code: u8) -> Option<&'static str> {
    if unconfirmed {
        return match code {
            10 => Some(
                "write_group writes channel values of every device in the group (lighting, setpoints)",
            ),
            4 => Some("unconfirmed private transfer runs vendor-specific commands"),
            14 => Some("you_are assigns device instances and addresses"),
            _ => None,
        };
    }
    match code {
        15 | 16 => Some(
            "it writes properties: setpoints, present values of outputs, schedules, out_of_service (what runs the chiller, the dampers and the alarms)",
        ),
        17 => Some(
            "device communication control silences a device (it stops answering and reporting alarms) until the duration ends or forever",
        ),
        20 => Some(
            "reinitialize device restarts a controller (warm or cold start) or starts a backup/restore",
        ),
        7 => Some("atomic write file replaces files on the device, firmware and programs included"),
        10 | 11 => {
            Some("it creates or deletes objects (schedules, trend logs, points) of the device")
        }
        8 | 9 => Some(
            "it adds to or removes from list properties (recipients of alarms, schedule entries)",
        ),
        18 => Some("confirmed private transfer runs vendor-specific commands"),
        27 => Some("life safety operation silences or resets life safety (fire) alarms"),
        _ => None,
    }
}

/// ICMP (IPv4) message type names.
pub const ICMP_TYPES: [(&str, u8); 11] = [
    ("echo-reply", 0),
    ("destination-unreachable", 3),
    ("source-quench", 4),
    ("redirect", 5),
    ("echo-request", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
];

/// ICMPv6 message type names (neighbour discovery is governed by `l2.allow: [nd]`).
pub const ICMPV6_TYPES: [(&str, u8); 6] = [
    ("destination-unreachable", 1),
    ("packet-too-big", 2),
    ("time-exceeded", 3),
    ("parameter-problem", 4),
    ("echo-request", 128),
    ("echo-reply", 129),
];

/// The type names of `icmp` or `icmpv6`.
pub fn icmp_type_names(protocol: Protocol) -> &'static [(&'static str, u8)] {
    match protocol {
        Protocol::Icmpv6 => &ICMPV6_TYPES,
        _ => &ICMP_TYPES,
    }
}

/// The name of ICMP type `ty` of `protocol`, if it has one.
pub fn icmp_type_name(protocol: Protocol, ty: u8) -> Option<&'static str> {
    icmp_type_names(protocol)
        .iter()
        .find(|(_, t)| *t == ty)
        .map(|(n, _)| *n)
}

/// Ethertype of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;

/// Ethertype names `l2.allow` accepts (besides `nd`, which is not an ethertype).
pub const ETHERTYPE_NAMES: [(&str, u16); 8] = [
    ("arp", ETHERTYPE_ARP),
    ("rarp", 0x8035),
    ("lldp", 0x88cc),
    ("goose", 0x88b8),
    ("sv", 0x88ba),
    ("ptp", 0x88f7),
    ("profinet", 0x8892),
    ("ethercat", 0x88a4),
];

/// Ethertypes that `l2.allow` cannot list, and why.
pub fn ethertype_reserved(ethertype: u16) -> Option<&'static str> {
    match ethertype {
        0x0800 => Some("IPv4, which zones and conduits decide"),
        0x86dd => Some("IPv6, which zones and conduits decide"),
        0x8100 | 0x88a8 => Some("a VLAN tag, which the data path looks through"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_table() {
        assert_eq!(
            protocol_support("tcp"),
            ProtocolSupport::Supported(Protocol::Tcp)
        );
        assert_eq!(
            protocol_support("any"),
            ProtocolSupport::Supported(Protocol::Any)
        );
        assert_eq!(
            protocol_support("modbus"),
            ProtocolSupport::Supported(Protocol::Modbus)
        );
        assert_eq!(Protocol::Modbus.number(), Some(6));
        assert_eq!(protocol_support("TCP"), ProtocolSupport::Unknown);
        for (name, p) in [
            ("iec104", Protocol::Iec104),
            ("dnp3", Protocol::Dnp3),
            ("s7comm", Protocol::S7comm),
            ("enip", Protocol::Enip),
        ] {
            assert_eq!(protocol_support(name), ProtocolSupport::Supported(p));
            assert_eq!(p.number(), Some(6));
        }
        assert_eq!(Protocol::Iec104.default_port(), Some(2404));
        assert_eq!(Protocol::Dnp3.default_port(), Some(20000));
        assert_eq!(Protocol::Dnp3.display(), "DNP3");
        assert_eq!(Protocol::S7comm.default_port(), Some(102));
        assert_eq!(Protocol::Enip.default_port(), Some(44818));
        assert_eq!(
            protocol_support("bacnet"),
            ProtocolSupport::Supported(Protocol::Bacnet)
        );
        assert_eq!(Protocol::Bacnet.number(), Some(17));
        assert_eq!(Protocol::Bacnet.default_port(), Some(47808));
        assert_eq!(
            protocol_support("opcua"),
            ProtocolSupport::Supported(Protocol::Opcua)
        );
        assert_eq!(Protocol::Opcua.number(), Some(6));
        assert_eq!(Protocol::Opcua.default_port(), Some(4840));
        assert_eq!(Protocol::Opcua.display(), "OPC UA");
        assert_eq!(Protocol::Tcp.default_port(), None);
        // Every industrial protocol of the language is inspected by this build.
        for p in INDUSTRIAL_PROTOCOLS {
            assert!(
                matches!(protocol_support(p.keyword), ProtocolSupport::Supported(s) if s.default_port() == Some(p.port)),
                "{}",
                p.keyword
            );
        }
    }

    #[test]
    fn opcua_names() {
        use firewall_common::opcua::{DANGEROUS, service_named};
        for name in DANGEROUS {
            assert!(opcua_danger(name).is_some(), "{name}");
        }
        assert_eq!(opcua_danger("read"), None);
        assert_eq!(
            opcua_service_label(service_named("write").unwrap_or(0xFF)),
            "write (673)"
        );
        assert_eq!(opcua_service_label(200), "service 200");
    }

    #[test]
    fn modbus_names() {
        assert_eq!(
            modbus_table_name(address_class::WRITE_HOLDING_REGISTERS),
            Some("write_holding_registers")
        );
        assert_eq!(modbus_table_name(address_class::READS), None);
        assert_eq!(modbus_diagnostics_name(4), Some("force_listen_only"));
        assert_eq!(modbus_diagnostics_name(5), None);
        assert_eq!(modbus_mei_name(14), Some("read_device_id"));
        // The read tables are named like the functions that read them.
        for (name, class) in &MODBUS_ADDRESS_TABLES[..4] {
            let f = firewall_common::modbus::function_by_name(name).expect("function");
            assert_eq!(firewall_common::modbus::address_classes(f.code), *class);
        }
        // Every class bit has a table.
        let all = MODBUS_ADDRESS_TABLES.iter().fold(0, |a, (_, c)| a | c);
        assert_eq!(all, address_class::ALL);
    }

    #[test]
    fn icmp_names() {
        assert_eq!(icmp_type_name(Protocol::Icmp, 8), Some("echo-request"));
        assert_eq!(icmp_type_name(Protocol::Icmpv6, 128), Some("echo-request"));
        assert_eq!(icmp_type_name(Protocol::Icmp, 200), None);
    }
}
