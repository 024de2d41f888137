//! The event record: one JSON line per denied or alerted packet, per XDP attachment repair and
//! per control request that changed something or was refused (docs/events.md). `zcfw events`,
//! `--follow` and the audit log carry the same lines.

use serde::{Deserialize, Serialize};

/// What the daemon's greeting to `events` carries: the names a filter may use, and how many
/// of the lines that follow are recent events (the rest, with `follow`, are new ones). An
/// older daemon sends none of it (all empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsGreeting {
    /// The zones of the policy in force.
    #[serde(default)]
    pub zones: Vec<String>,
    /// Its conduits (events of no conduit name `default`).
    #[serde(default)]
    pub conduits: Vec<String>,
    /// Recent events written before any new one.
    #[serde(default)]
    pub recent: Option<usize>,
}

/// One line of the event stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventLine {
    /// A client too slow for `--follow` missed this many events.
    Missed { missed_events: u64 },
    /// Something the daemon did or was asked (not a packet).
    Notice(Notice),
    /// A packet the data path denied, or let pass as an alert (monitor mode). Boxed: it is
    /// the largest by far (addresses and each protocol's detail).
    Packet(Box<PacketEvent>),
}

/// An event of the daemon itself, told apart by `kind`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    Attachment(AttachmentNotice),
    Control(ControlNotice),
}

/// An XDP attachment that was lost, and repaired or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentNotice {
    pub time: String,
    /// `xdp_repinned`, `xdp_reattached` or `xdp_lost`.
    pub action: String,
    pub interface: String,
    pub detail: String,
}

/// A control request that changed something, or was refused (SR 2.8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlNotice {
    pub time: String,
    /// `changed` or `refused`.
    pub action: String,
    /// The request as a command line (`reload --policy /etc/zcfw/p.yaml`).
    pub what: String,
    pub result: String,
    pub uid: u32,
    pub user: String,
    pub pid: Option<i32>,
    pub command: String,
}

/// A packet event (docs/events.md, "JSON lines"; docs/events.schema.json). A field that
/// does not apply is absent. Fields added after the first version default when reading a
/// line of an older daemon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PacketEvent {
    /// RFC 3339, UTC, always nine fractional digits.
    pub time: String,
    /// `drop` (the packet was denied: dropped, reset or answered with an exception) or
    /// `alert` (monitor mode let it pass), as Suricata's EVE `event_type`.
    #[serde(default)]
    pub event_type: String,
    /// `drop`, `reset`, `exception` or `alert`.
    pub action: String,
    pub reason: String,
    /// The event class of the reason (`inspection`, `policy`, `flood`): each has its own
    /// budget (docs/events.md, "Classes and budgets").
    #[serde(default)]
    pub class: String,
    /// The host name of the firewall that saw the packet.
    #[serde(default)]
    pub host: String,
    pub interface: String,
    pub conduit: String,
    pub generation: u32,
    /// Hex SHA-256 of the policy file in force (as `zcfw status` and the audit show it).
    #[serde(default)]
    pub policy_sha256: String,
    pub len: u32,
    /// Addresses, zones and ports: IP packets only.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpDetail>,
    /// `modbus`, `iec104` or `dnp3` when that protocol's inspection denied the packet (and
    /// knew something about it: the member of the same name says what).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modbus: Option<ModbusDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iec104: Option<Iec104Detail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnp3: Option<Dnp3Detail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s7comm: Option<S7commDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enip: Option<EnipDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opcua: Option<OpcuaDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bacnet: Option<BacnetDetail>,
}

/// The IP part of a [`PacketEvent`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpDetail {
    /// Zone of the source address (`None`, `null` on the wire: in no zone).
    pub src_zone: Option<String>,
    pub dst_zone: Option<String>,
    pub proto: IpProto,
    pub src: String,
    pub dst: String,
    /// Community ID v1 of the flow (seed 0), as Suricata and Zeek emit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    /// The same for both directions of a flow (its 5-tuple); below 2^53.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<u64>,
    /// TCP and UDP only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    /// ICMP and ICMPv6 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpDetail>,
}

/// `tcp`, `udp`, `icmp`, `icmpv6`, or the IP protocol number of another protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IpProto {
    Name(String),
    Number(u8),
}

impl std::fmt::Display for IpProto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpProto::Name(name) => f.write_str(name),
            IpProto::Number(n) => write!(f, "{n}"),
        }
    }
}

/// ICMP type and code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcmpDetail {
    #[serde(rename = "type")]
    pub icmp_type: u8,
    pub code: u8,
}

/// What the Modbus checker had read when it denied the segment; each only when known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModbusDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    /// 0-based, as on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<u16>,
}

/// What the IEC 104 inspector had read of the ASDU it denied; each only when known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Iec104Detail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<u8>,
    /// The standard's mnemonic (`C_SC_NA_1`); absent for a type the standard does not define.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// Cause of transmission: the low six bits of the first cause octet (6 = activation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<u8>,
    /// The negative-confirm bit (P/N) of the cause octet; present with `cause`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative: Option<bool>,
    /// The test bit (T) of the cause octet; present with `cause`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_address: Option<u16>,
}

/// What the DNP3 inspector had read of the frame it denied; each only when known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dnp3Detail {
    /// Application function code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<u8>,
    /// Its name in the policy language (`direct_operate`); absent for an undefined code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    /// Destination link address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<u16>,
}

/// What an S7comm deny read (which fields are set depends on the reason: `s7comm_function`
/// has the job function (and for a PI service job the service), or the userdata group and
/// subfunction, `s7comm_address` the function,
/// area and DB number of the refused item, `s7comm_tsap` the called TSAP, `s7comm_direction`
/// the ROSCTR or COTP type).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct S7commDetail {
    /// Job function code (first parameter octet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<u8>,
    /// Its name in the policy language (`plc_stop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    /// The PI service of a refused PI service job (`pi_service`, 0x28): its name in the
    /// policy language (`delete`) or on the wire for those without one (`_N_LOGIN_`), or
    /// `unknown` for a name no known PI service has (none, too long, other octets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pi_service: Option<String>,
    /// Userdata function group and subfunction, and their name (`clock_set`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userdata_group: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userdata_subfunction: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userdata_name: Option<String>,
    /// Memory area code of the refused item and its name (`db`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area_name: Option<String>,
    /// DB number of the refused item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_number: Option<u16>,
    /// Called TSAP of the refused connection request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsap: Option<u16>,
    /// ROSCTR (S7 PDU type) or COTP TPDU type sent in the wrong direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdu_type: Option<u8>,
}

/// What an EtherNet/IP deny read (which fields are set depends on the reason:
/// `enip_command` and `enip_session` have the encapsulation command, `enip_service` and
/// `enip_class` the CIP service, its nesting level and the class its path names,
/// `enip_direction` the service octet sent the wrong way).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnipDetail {
    /// Encapsulation command and its name (`send_unit_data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_name: Option<String>,
    /// CIP service octet and its name on the request's class (`write_tag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Object class the request's path names (none for a symbolic tag path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<u16>,
    /// Nesting level of the request: 0 outermost, 1 inside Unconnected Send or Multiple
    /// Service Packet, 2 inside both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
}

/// What an OPC UA deny read (which fields are set depends on the reason: every one has the
/// message type once the chunk header was read; `opcua_security_policy` the security policy
/// an OpenSecureChannel asked for, `opcua_channel` the policy of a renewal that asked for
/// another; `opcua_service` and `opcua_encrypted` the type id the body starts with and, when
/// it names a service request, the service).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpcuaDetail {
    /// Message type of the chunk: `HEL`, `ACK`, `ERR`, `RHE`, `OPN`, `MSG` or `CLO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// Short name of the SecurityPolicyUri (`Basic256Sha256`, `None`); `unknown` when it is no
    /// standard policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_policy: Option<String>,
    /// The service request in the policy language's name (`write`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The request's type id (its binary encoding id in namespace 0); 65535 when the body
    /// starts with no numeric type id below it (an encrypted body, another NodeId encoding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<u16>,
}

/// What a BACnet/IP deny read (which fields are set depends on the reason: `bacnet_service`
/// has the PDU type and service, `bacnet_bvlc` the BVLC function, `bacnet_network` the
/// network-layer message type, `bacnet_direction` the PDU type; `network` is the NPDU's
/// destination network when it names one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BacnetDetail {
    /// APDU type (0 confirmed request, 1 unconfirmed request, 2 simple ack, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdu_type: Option<u8>,
    /// Service choice and its name in the policy language (`write_property`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// BVLC function and its name (`forwarded_npdu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bvlc_function: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bvlc_name: Option<String>,
    /// Network-layer message type and its name (`who_is_router_to_network`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_message: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_message_name: Option<String>,
    /// Destination network (DNET) of a routed NPDU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_line_parses_as_itself() {
        let packet = r#"{"time":"t","action":"drop","reason":"default_deny","interface":"gw",
            "conduit":"default","generation":1,"len":60,"src_zone":"dmz","dst_zone":null,
            "proto":"tcp","src":"10.0.0.1","dst":"10.0.0.2","src_port":1,"dst_port":22}"#;
        let EventLine::Packet(p) = serde_json::from_str(packet).expect("packet") else {
            panic!("not a packet event");
        };
        let ip = p.ip.expect("ip detail");
        assert_eq!(ip.dst_zone, None);
        assert_eq!(ip.proto, IpProto::Name("tcp".into()));
        assert_eq!(ip.dst_port, Some(22));
        // A non-IP frame: no IP detail at all.
        let l2 = r#"{"time":"t","action":"drop","reason":"l2_denied","interface":"gw",
            "conduit":"default","generation":1,"len":60}"#;
        let EventLine::Packet(p) = serde_json::from_str(l2).expect("l2") else {
            panic!("not a packet event");
        };
        assert!(p.ip.is_none());
        let wire = serde_json::to_value(EventLine::Packet(p)).expect("serializes");
        assert!(wire.get("src_zone").is_none(), "{wire}");
        let missed: EventLine = serde_json::from_str(r#"{"missed_events":3}"#).expect("missed");
        assert_eq!(missed, EventLine::Missed { missed_events: 3 });
        let notice = r#"{"time":"t","kind":"attachment","action":"xdp_lost","interface":"e",
            "detail":"gone"}"#;
        assert!(matches!(
            serde_json::from_str(notice).expect("notice"),
            EventLine::Notice(Notice::Attachment(_))
        ));
    }

    #[test]
    fn a_null_zone_stays_null_and_icmp_keeps_its_type_key() {
        let ip = IpDetail {
            src_zone: None,
            dst_zone: Some("control".into()),
            proto: IpProto::Name("icmp".into()),
            src: "a".into(),
            dst: "b".into(),
            community_id: None,
            flow_id: None,
            src_port: None,
            dst_port: None,
            icmp: Some(IcmpDetail {
                icmp_type: 8,
                code: 0,
            }),
        };
        let wire = serde_json::to_value(&ip).expect("serializes");
        assert_eq!(wire["src_zone"], serde_json::Value::Null);
        assert_eq!(wire["icmp"]["type"], 8);
        assert!(wire.get("src_port").is_none());
    }
}
