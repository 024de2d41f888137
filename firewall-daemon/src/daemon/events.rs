//! Events: reads the XDP program's ring buffer, turns each record into a documented JSON line
//! (names instead of ids, wall-clock time), keeps the most recent ones for `zcfw events`,
//! streams them to `zcfw events --follow`, and appends them to the optional audit log (rotated
//! by size). Only with `zcfw run --log-events` is each one also logged through `tracing` (at
//! INFO, target `zcfw::event`): a flood of denies would otherwise run into journald's rate
//! limit and bury the daemon's own messages.

use std::{
    collections::VecDeque,
    fs::{File, OpenOptions},
    io::Write,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::PathBuf,
    sync::{Arc, Mutex},
};

use aya::maps::{MapData, RingBuf};
use firewall_common::{
    dnp3,
    event::{Event, action, class, detail},
    flow::proto,
    iec104,
    maps::inspector,
    modbus,
    reason::Reason,
};
use tokio::{io::unix::AsyncFd, sync::broadcast};
use tracing::{info, warn};

use super::{
    State,
    community_id::{self, FlowTuple},
};
use crate::compile::CompiledPolicy;
use crate::control::event::{
    Dnp3Detail, EnipDetail, EventLine, IcmpDetail, Iec104Detail, IpDetail, IpProto, ModbusDetail,
    Notice, PacketEvent, S7commDetail,
};

/// Events kept for `zcfw events` without `--follow`, per ring: one ring per event class
/// (`firewall_common::event::class`) and one for the daemon's own notices, so a flood of one
/// class cannot push the others out.
pub const RECENT: usize = 1_000;

/// The rings of recent events: one per event class, then the notices.
const RINGS: usize = class::COUNT as usize + 1;
const NOTICE_RING: usize = class::COUNT as usize;

/// Recent events, each with its publication number (to merge the rings in order).
#[derive(Default)]
struct Recent {
    next: u64,
    rings: [VecDeque<(u64, Arc<str>)>; RINGS],
}

impl Recent {
    fn push(&mut self, ring: usize, line: Arc<str>) {
        let ring = &mut self.rings[ring.min(RINGS - 1)];
        if ring.len() == RECENT {
            ring.pop_front();
        }
        ring.push_back((self.next, line));
        self.next += 1;
    }

    /// Every ring's events, merged oldest first.
    fn merged(&self) -> Vec<Arc<str>> {
        let mut all: Vec<&(u64, Arc<str>)> = self.rings.iter().flatten().collect();
        all.sort_unstable_by_key(|(n, _)| *n);
        all.into_iter().map(|(_, line)| line.clone()).collect()
    }
}

/// Where events go once decoded.
pub struct EventHub {
    tx: broadcast::Sender<Arc<str>>,
    recent: Mutex<Recent>,
    audit: Option<Mutex<AuditLog>>,
}

impl EventHub {
    pub fn new(audit: Option<AuditLog>) -> Self {
        let (tx, _) = broadcast::channel(4_096);
        EventHub {
            tx,
            recent: Mutex::new(Recent::default()),
            audit: audit.map(Mutex::new),
        }
    }

    /// The most recent events of every ring (oldest first) and a subscription to the ones
    /// after them.
    pub fn subscribe(&self) -> (Vec<Arc<str>>, broadcast::Receiver<Arc<str>>) {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        (recent.merged(), self.tx.subscribe())
    }

    /// Publishes an event of the daemon itself (not of a packet), e.g. an XDP attachment
    /// that was lost and repaired.
    pub fn publish_notice(&self, notice: Notice) {
        self.publish(NOTICE_RING, encode(&EventLine::Notice(notice)));
    }

    /// Publishes a packet event of class `class` (`firewall_common::event::class`).
    pub fn publish_packet(&self, class: u32, line: Arc<str>) {
        self.publish(class as usize, line);
    }

    fn publish(&self, ring: usize, line: Arc<str>) {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ring, line.clone());
        if let Some(audit) = &self.audit {
            let mut audit = audit.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(err) = audit.append(&line) {
                warn!(error = %err, path = %audit.path.display(), "cannot write the audit log");
            }
        }
        // No subscriber is fine.
        let _ = self.tx.send(line);
    }
}

/// Append-only JSON-lines audit file, rotated when it exceeds `max_bytes`: `path` becomes
/// `path.1`, `path.1` becomes `path.2`, ... and `path.<keep>` is deleted.
pub struct AuditLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    keep: u32,
}

impl AuditLog {
    pub fn open(path: PathBuf, max_bytes: u64, keep: u32) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(AuditLog {
            path,
            file,
            size,
            max_bytes,
            keep: keep.max(1),
        })
    }

    fn append(&mut self, line: &str) -> std::io::Result<()> {
        if self.size + line.len() as u64 + 1 > self.max_bytes && self.size > 0 {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.file.flush()?;
        self.size += line.len() as u64 + 1;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        let _ = std::fs::remove_file(numbered(self.keep));
        for n in (1..self.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// Offset from CLOCK_MONOTONIC (what `bpf_ktime_get_ns` returns) to Unix time, in ns.
fn monotonic_to_unix_offset() -> i128 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    let mono = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as i128 * 1_000_000_000 + t.tv_nsec() as i128)
        .unwrap_or(0);
    unix - mono
}

/// Reads the ring buffer until the task is aborted; `log_events` also logs each event.
pub async fn run(
    ring: RingBuf<MapData>,
    state: Arc<Mutex<State>>,
    hub: Arc<EventHub>,
    log_events: bool,
) {
    // SAFETY: the ring buffer owns its map fd for its whole life and never replaces it; the
    // AsyncFd owns the ring buffer.
    let registered =
        unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) };
    let mut fd = match registered {
        Ok(fd) => fd,
        Err(err) => {
            warn!(error = %err, "cannot poll the event ring buffer: no events will be reported");
            return;
        }
    };
    let offset = monotonic_to_unix_offset();
    loop {
        let Ok(mut guard) = fd.readable_mut().await else {
            return;
        };
        let mut batch = Vec::new();
        {
            let ring = guard.get_inner_mut();
            while let Some(item) = ring.next() {
                if item.len() >= std::mem::size_of::<Event>() {
                    // SAFETY: the kernel wrote a whole `Event` (checked length); it is plain data.
                    batch.push(unsafe { (item.as_ptr() as *const Event).read_unaligned() });
                }
            }
        }
        guard.clear_ready();
        if batch.is_empty() {
            continue;
        }
        let lines: Vec<(u32, Arc<str>)> = {
            let state = super::lock(&state);
            batch
                .iter()
                .map(|ev| {
                    let event = record(ev, &state, offset);
                    if log_events {
                        log(&event);
                    }
                    (event_class(ev), encode(&EventLine::Packet(Box::new(event))))
                })
                .collect()
        };
        for (class, line) in lines {
            hub.publish_packet(class, line);
        }
    }
}

/// One event as its JSON line.
pub fn encode(line: &EventLine) -> Arc<str> {
    Arc::from(serde_json::to_string(line).unwrap_or_default())
}

fn log(ev: &PacketEvent) {
    let ip = ev.ip.as_ref();
    let text = |v: Option<&String>| v.map_or("-", String::as_str).to_owned();
    // Each protocol's detail as a JSON field of its own (empty when absent).
    fn json<T: serde::Serialize>(detail: Option<&T>) -> String {
        detail
            .and_then(|d| serde_json::to_string(d).ok())
            .unwrap_or_default()
    }
    let modbus = json(ev.modbus.as_ref());
    let iec104 = json(ev.iec104.as_ref());
    let dnp3 = json(ev.dnp3.as_ref());
    let s7comm = json(ev.s7comm.as_ref());
    let enip = json(ev.enip.as_ref());
    let opcua = json(ev.opcua.as_ref());
    let bacnet = json(ev.bacnet.as_ref());
    info!(
        target: "zcfw::event",
        event_type = ev.event_type,
        action = ev.action,
        reason = ev.reason,
        class = ev.class,
        interface = ev.interface,
        src_zone = text(ip.and_then(|i| i.src_zone.as_ref())),
        dst_zone = text(ip.and_then(|i| i.dst_zone.as_ref())),
        conduit = ev.conduit,
        proto = ip.map(|i| i.proto.to_string()).unwrap_or_default(),
        src = text(ip.map(|i| &i.src)),
        dst = text(ip.map(|i| &i.dst)),
        src_port = ip.and_then(|i| i.src_port).unwrap_or(0),
        dst_port = ip.and_then(|i| i.dst_port).unwrap_or(0),
        community_id = text(ip.and_then(|i| i.community_id.as_ref())),
        flow_id = ip.and_then(|i| i.flow_id).unwrap_or(0),
        generation = ev.generation,
        policy_sha256 = ev.policy_sha256,
        modbus,
        iec104,
        dnp3,
        s7comm,
        enip,
        opcua,
        bacnet,
        "packet {}",
        match ev.action.as_str() {
            "alert" => "alerted (monitor mode)",
            "reset" => "denied, connection reset",
            "exception" => "denied, answered with a Modbus exception",
            _ => "denied",
        }
    );
}

fn address(family: u8, bytes: &[u8; 16]) -> String {
    if family == 6 {
        Ipv6Addr::from(*bytes).to_string()
    } else {
        Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()
    }
}

fn proto_name(p: u8) -> IpProto {
    proto::name(p).map_or(IpProto::Number(p), |name| IpProto::Name(name.to_owned()))
}

/// The current time as RFC 3339 (UTC, nine fractional digits).
pub fn now_rfc3339() -> String {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    rfc3339(unix)
}

/// RFC 3339 in UTC with exactly nine fractional digits (`2026-12-07T08:12:40.310021000Z`),
/// so event times sort as text and every line has the same width.
pub fn rfc3339(unix_ns: i128) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(unix_ns)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| unix_ns.to_string())
}

/// The host name (`uname -n` of this UTS namespace), read once.
pub fn host_name() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    })
}

/// The event class of a record (`firewall_common::event::class`): that of its reason.
fn event_class(ev: &Event) -> u32 {
    Reason::from_slot(ev.reason as u32).map_or(class::POLICY, class::of)
}

/// The flow of an IP event, as the Community ID reads it (ICMP: type and code as ports).
fn flow_tuple(ev: &Event) -> FlowTuple {
    let ip = |b: &[u8; 16]| -> IpAddr {
        if ev.family == 6 {
            IpAddr::V6(Ipv6Addr::from(*b))
        } else {
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        }
    };
    let icmp = ev.proto == proto::ICMP || ev.proto == proto::ICMPV6;
    FlowTuple {
        src: ip(&ev.src),
        dst: ip(&ev.dst),
        proto: ev.proto,
        src_port: if icmp {
            u16::from(ev.icmp_type)
        } else {
            ev.src_port
        },
        dst_port: if icmp {
            u16::from(ev.icmp_code)
        } else {
            ev.dst_port
        },
    }
}

/// The documented form of an event (see docs/events.md): names instead of ids, wall-clock
/// time.
pub fn record(ev: &Event, state: &State, offset: i128) -> PacketEvent {
    record_in(
        ev,
        &state.policy,
        |ifindex| {
            state
                .dataplane
                .attachments()
                .iter()
                .find(|a| a.ifindex == ifindex)
                .map(|a| a.iface.clone())
        },
        offset,
    )
}

/// [`record`] under `policy`, with the names of the attached interfaces by ifindex.
fn record_in(
    ev: &Event,
    policy: &CompiledPolicy,
    iface: impl Fn(u32) -> Option<String>,
    offset: i128,
) -> PacketEvent {
    let zone = |id: u16| -> Option<String> {
        policy
            .zones
            .iter()
            .find(|z| z.id == id)
            .map(|z| z.name.clone())
    };
    let conduit = if ev.conduit_id == 0 {
        "default".to_owned()
    } else {
        policy
            .conduits
            .iter()
            .find(|c| c.id == ev.conduit_id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("#{}", ev.conduit_id))
    };
    let interface = iface(ev.ifindex).unwrap_or_else(|| format!("if{}", ev.ifindex));
    let reason = Reason::from_slot(ev.reason as u32)
        .map(Reason::name)
        .unwrap_or("unknown");
    let ports = ev.proto == proto::TCP || ev.proto == proto::UDP;
    let icmp = ev.proto == proto::ICMP || ev.proto == proto::ICMPV6;
    let ip = (ev.detail & detail::IP != 0).then(|| {
        let flow = flow_tuple(ev);
        IpDetail {
            src_zone: zone(ev.src_zone),
            dst_zone: zone(ev.dst_zone),
            proto: proto_name(ev.proto),
            src: address(ev.family, &ev.src),
            dst: address(ev.family, &ev.dst),
            community_id: Some(community_id::community_id(&flow, 0)),
            flow_id: Some(community_id::flow_id(&flow)),
            src_port: ports.then_some(ev.src_port),
            dst_port: ports.then_some(ev.dst_port),
            icmp: icmp.then_some(IcmpDetail {
                icmp_type: ev.icmp_type,
                code: ev.icmp_code,
            }),
        }
    });
    let detail = Reason::from_slot(ev.reason as u32)
        .map(|r| inspection_detail(r, ev))
        .unwrap_or_default();
    PacketEvent {
        time: rfc3339(ev.timestamp_ns as i128 + offset),
        event_type: if ev.action == action::ALERT {
            "alert"
        } else {
            "drop"
        }
        .to_owned(),
        action: action::name(ev.action).to_owned(),
        reason: reason.to_owned(),
        class: class::name(event_class(ev)).to_owned(),
        host: host_name().to_owned(),
        interface,
        conduit,
        generation: ev.generation,
        policy_sha256: policy.hash.clone(),
        len: ev.len,
        ip,
        protocol: detail.protocol.map(str::to_owned),
        modbus: detail.modbus,
        iec104: detail.iec104,
        dnp3: detail.dnp3,
        s7comm: detail.s7comm,
        enip: detail.enip,
        opcua: detail.opcua,
        bacnet: detail.bacnet,
    }
}

/// What an inspection deny read, in its protocol's terms.
#[derive(Debug, Default, PartialEq)]
struct InspectionDetail {
    protocol: Option<&'static str>,
    modbus: Option<ModbusDetail>,
    iec104: Option<Iec104Detail>,
    dnp3: Option<Dnp3Detail>,
    s7comm: Option<S7commDetail>,
    enip: Option<EnipDetail>,
    opcua: Option<crate::control::event::OpcuaDetail>,
    bacnet: Option<crate::control::event::BacnetDetail>,
}

/// The protocol of an inspection deny, and the generic fields of its event ([`Event::scope`],
/// [`Event::code`], [`Event::address`], meaningful by their [`detail`] bits) read as that
/// protocol defines them (`firewall_common::event::detail`). A reason that is no inspection
/// deny has neither; an inspection deny whose inspector knew nothing (framing, CRC) has its
/// protocol only.
fn inspection_detail(reason: Reason, ev: &Event) -> InspectionDetail {
    let has = |bit: u8| ev.detail & bit != 0;
    if !(has(detail::SCOPE) || has(detail::CODE) || has(detail::ADDRESS)) {
        return InspectionDetail {
            protocol: reason
                .is_inspection()
                .then(|| inspector::name(reason.inspector())),
            ..InspectionDetail::default()
        };
    }
    let scope = has(detail::SCOPE).then_some(ev.scope);
    let code = has(detail::CODE).then_some(ev.code);
    let address = has(detail::ADDRESS).then_some(ev.address);
    match reason.inspector() {
        inspector::MODBUS => InspectionDetail {
            protocol: Some("modbus"),
            modbus: Some(ModbusDetail {
                unit: scope,
                function: code,
                function_name: code
                    .and_then(modbus::function_by_code)
                    .map(|f| f.name.to_owned()),
                address,
            }),
            ..InspectionDetail::default()
        },
        inspector::IEC104 => InspectionDetail {
            protocol: Some("iec104"),
            iec104: Some(Iec104Detail {
                type_id: code,
                type_name: code.and_then(iec104::type_id).map(|t| t.name.to_owned()),
                // The cause code is the low six bits of the octet, beside the P/N and T bits.
                cause: scope.map(|c| c & 0x3F),
                negative: scope.map(|c| c & iec104::cause::NEGATIVE != 0),
                test: scope.map(|c| c & iec104::cause::TEST != 0),
                common_address: address,
            }),
            ..InspectionDetail::default()
        },
        inspector::DNP3 => InspectionDetail {
            protocol: Some("dnp3"),
            // DNP3 denials carry no scope.
            dnp3: Some(Dnp3Detail {
                function: code,
                function_name: code.and_then(dnp3::function).map(|f| f.name.to_owned()),
                address,
            }),
            ..InspectionDetail::default()
        },
        inspector::S7COMM => InspectionDetail {
            protocol: Some("s7comm"),
            s7comm: Some(s7comm_detail(reason, scope, code, address)),
            ..InspectionDetail::default()
        },
        inspector::ENIP => InspectionDetail {
            protocol: Some("enip"),
            enip: Some(enip_detail(reason, scope, code, address)),
            ..InspectionDetail::default()
        },
        inspector::OPCUA => InspectionDetail {
            protocol: Some("opcua"),
            opcua: Some(opcua_detail(reason, scope, code, address)),
            ..InspectionDetail::default()
        },
        inspector::BACNET => InspectionDetail {
            protocol: Some("bacnet"),
            bacnet: Some(bacnet_detail(reason, scope, code, address)),
            ..InspectionDetail::default()
        },
        _ => InspectionDetail::default(),
    }
}

/// The generic fields of an EtherNet/IP deny, read by its reason
/// (`firewall_common::enip::EnipDenial`).
fn enip_detail(
    reason: Reason,
    scope: Option<u8>,
    code: Option<u8>,
    address: Option<u16>,
) -> EnipDetail {
    use firewall_common::enip::{self, Target};
    match reason {
        Reason::EnipCommand | Reason::EnipSession => EnipDetail {
            command: code,
            command_name: code
                .and_then(enip::command_entry)
                .map(|c| c.name.to_owned()),
            ..EnipDetail::default()
        },
        Reason::EnipService | Reason::EnipClass => {
            // A request without a class segment names a tag (or nothing).
            let target = match address {
                Some(class) => Target::of(Some(class), false),
                None => Target::Tag,
            };
            EnipDetail {
                service: code,
                service_name: code
                    .and_then(|s| enip::service_name(s, target))
                    .map(str::to_owned),
                class: address,
                level: scope,
                ..EnipDetail::default()
            }
        }
        _ => EnipDetail {
            service: code,
            ..EnipDetail::default()
        },
    }
}

/// The generic fields of an OPC UA deny, read by its reason
/// (`firewall_common::opcua::OpcuaDenial::packed`: scope the message type, code the security
/// policy or service index, address the type id).
fn opcua_detail(
    reason: Reason,
    scope: Option<u8>,
    code: Option<u8>,
    address: Option<u16>,
) -> crate::control::event::OpcuaDetail {
    use firewall_common::opcua::{POLICIES, message_name, service_name};

    use crate::control::event::OpcuaDetail;
    let base = OpcuaDetail {
        message_type: scope.map(|m| message_name(m).to_owned()),
        ..OpcuaDetail::default()
    };
    match reason {
        Reason::OpcuaSecurityPolicy | Reason::OpcuaChannel => OpcuaDetail {
            security_policy: code.map(|c| {
                POLICIES
                    .get(usize::from(c))
                    .map_or("unknown", |p| p.name)
                    .to_owned()
            }),
            ..base
        },
        Reason::OpcuaService | Reason::OpcuaEncrypted => OpcuaDetail {
            service: code.and_then(service_name).map(str::to_owned),
            type_id: address,
            ..base
        },
        _ => base,
    }
}

/// The generic fields of a BACnet/IP deny, read by its reason
/// (`firewall_common::bacnet::BacnetDenial`).
fn bacnet_detail(
    reason: Reason,
    scope: Option<u8>,
    code: Option<u8>,
    address: Option<u16>,
) -> crate::control::event::BacnetDetail {
    use firewall_common::bacnet;

    use crate::control::event::BacnetDetail;
    let base = BacnetDetail {
        network: address,
        ..BacnetDetail::default()
    };
    match reason {
        Reason::BacnetService => BacnetDetail {
            pdu_type: scope,
            service: code,
            service_name: code
                .and_then(|c| {
                    if scope == Some(1) {
                        bacnet::unconfirmed_name(c)
                    } else {
                        bacnet::confirmed_name(c)
                    }
                })
                .map(str::to_owned),
            ..base
        },
        Reason::BacnetBvlc => BacnetDetail {
            bvlc_function: code,
            bvlc_name: code.and_then(bacnet::bvlc_name).map(str::to_owned),
            ..base
        },
        Reason::BacnetNetwork => BacnetDetail {
            network_message: code,
            network_message_name: code
                .and_then(bacnet::network_message_name)
                .map(str::to_owned),
            ..base
        },
        _ => BacnetDetail {
            pdu_type: scope,
            ..base
        },
    }
}

/// The generic fields of an S7comm deny, read by its reason
/// (`firewall_common::s7comm::S7Denial`).
fn s7comm_detail(
    reason: Reason,
    scope: Option<u8>,
    code: Option<u8>,
    address: Option<u16>,
) -> S7commDetail {
    use firewall_common::s7comm;
    let function = |code: Option<u8>| S7commDetail {
        function: code,
        function_name: code.and_then(s7comm::function).map(|f| f.name.to_owned()),
        ..S7commDetail::default()
    };
    match reason {
        Reason::S7commFunction => match scope {
            // A userdata request: the group and subfunction.
            Some(group) => S7commDetail {
                userdata_group: Some(group),
                userdata_subfunction: code,
                userdata_name: code
                    .and_then(|sub| s7comm::userdata_name(group, sub))
                    .map(str::to_owned),
                ..S7commDetail::default()
            },
            // A PI service job whose service name the profile does not allow.
            None if code == Some(s7comm::job::PI_SERVICE) && address.is_some() => S7commDetail {
                pi_service: address.map(|a| {
                    match u8::try_from(a).ok().and_then(s7comm::pi_service_label) {
                        Some(label) => label.to_owned(),
                        None => "unknown".to_owned(),
                    }
                }),
                ..function(code)
            },
            None => function(code),
        },
        Reason::S7commAddress => S7commDetail {
            area: scope,
            area_name: scope.and_then(s7comm::area).map(|a| a.name.to_owned()),
            db_number: address,
            ..function(code)
        },
        Reason::S7commTsap => S7commDetail {
            tsap: address,
            ..S7commDetail::default()
        },
        _ => S7commDetail {
            pdu_type: code,
            ..S7commDetail::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_log_rotates_by_size_and_keeps_n_files() {
        let dir = std::env::temp_dir().join(format!("zcfw-audit-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("events.jsonl");
        let mut log = AuditLog::open(path.clone(), 100, 2).expect("open");
        for i in 0..12 {
            log.append(&format!(
                "{{\"n\":{i:02},\"pad\":\"xxxxxxxxxxxxxxxxxxxx\"}}"
            ))
            .expect("append");
        }
        let current = std::fs::read_to_string(&path).expect("current");
        assert!(current.contains("\"n\":11"));
        assert!(current.len() <= 100);
        assert!(PathBuf::from(format!("{}.1", path.display())).exists());
        assert!(PathBuf::from(format!("{}.2", path.display())).exists());
        assert!(!PathBuf::from(format!("{}.3", path.display())).exists());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    fn event(reason: Reason, detail_bits: u8, scope: u8, code: u8, address: u16) -> Event {
        Event {
            reason: reason as u8,
            detail: detail_bits | detail::IP,
            scope,
            code,
            address,
            ..Event::default()
        }
    }

    const ALL_KNOWN: u8 = detail::SCOPE | detail::CODE | detail::ADDRESS;

    #[test]
    fn a_modbus_deny_keeps_its_wire_names() {
        let d = inspection_detail(
            Reason::ModbusAddress,
            &event(Reason::ModbusAddress, ALL_KNOWN, 1, 3, 500),
        );
        assert_eq!(d.protocol, Some("modbus"));
        assert!(d.iec104.is_none() && d.dnp3.is_none());
        let wire = serde_json::to_value(d.modbus.expect("modbus detail")).expect("serializes");
        assert_eq!(
            wire,
            serde_json::json!({"unit": 1, "function": 3,
                "function_name": "read_holding_registers", "address": 500})
        );
        // A function refused before its address was read: no address.
        let d = inspection_detail(
            Reason::ModbusFunction,
            &event(
                Reason::ModbusFunction,
                detail::SCOPE | detail::CODE,
                1,
                6,
                0,
            ),
        );
        let m = d.modbus.expect("modbus detail");
        assert_eq!(m.function_name.as_deref(), Some("write_single_register"));
        assert_eq!(m.address, None);
    }

    #[test]
    fn an_iec104_deny_reads_cause_type_id_and_common_address() {
        // Single command, activation with the negative bit, common address 0x1234.
        let cause = iec104::cause::ACTIVATION | iec104::cause::NEGATIVE;
        let d = inspection_detail(
            Reason::Iec104Cause,
            &event(Reason::Iec104Cause, ALL_KNOWN, cause, 45, 0x1234),
        );
        assert_eq!(d.protocol, Some("iec104"));
        assert!(d.modbus.is_none() && d.dnp3.is_none());
        let wire = serde_json::to_value(d.iec104.expect("iec104 detail")).expect("serializes");
        assert_eq!(
            wire,
            serde_json::json!({"type_id": 45, "type_name": "C_SC_NA_1", "cause": 6,
                "negative": true, "test": false, "common_address": 0x1234})
        );
        // A private type id has no name; an unknown cause leaves out cause and its bits.
        let d = inspection_detail(
            Reason::Iec104TypeId,
            &event(
                Reason::Iec104TypeId,
                detail::CODE | detail::ADDRESS,
                0,
                200,
                1,
            ),
        );
        let wire = serde_json::to_value(d.iec104.expect("iec104 detail")).expect("serializes");
        assert_eq!(
            wire,
            serde_json::json!({"type_id": 200, "common_address": 1})
        );
    }

    #[test]
    fn a_dnp3_deny_reads_function_and_destination() {
        let d = inspection_detail(
            Reason::Dnp3Function,
            &event(
                Reason::Dnp3Function,
                detail::CODE | detail::ADDRESS,
                0,
                13,
                10,
            ),
        );
        assert_eq!(d.protocol, Some("dnp3"));
        assert!(d.modbus.is_none() && d.iec104.is_none());
        let wire = serde_json::to_value(d.dnp3.expect("dnp3 detail")).expect("serializes");
        assert_eq!(
            wire,
            serde_json::json!({"function": 13, "function_name": "cold_restart", "address": 10})
        );
    }

    #[test]
    fn an_s7comm_pi_deny_names_the_service() {
        let pi = |address: u16, known: u8| {
            let d = inspection_detail(
                Reason::S7commFunction,
                &event(Reason::S7commFunction, known, 0, 0x28, address),
            );
            serde_json::to_value(d.s7comm.expect("s7comm detail")).expect("serializes")
        };
        assert_eq!(
            pi(2, detail::CODE | detail::ADDRESS),
            serde_json::json!({"function": 0x28, "function_name": "pi_service", "pi_service": "delete"})
        );
        assert_eq!(
            pi(6, detail::CODE | detail::ADDRESS)["pi_service"],
            "_N_LOGIN_"
        );
        assert_eq!(
            pi(
                firewall_common::s7comm::PI_UNKNOWN,
                detail::CODE | detail::ADDRESS
            )["pi_service"],
            "unknown"
        );
        // The function itself refused: no service.
        assert_eq!(
            pi(0, detail::CODE),
            serde_json::json!({"function": 0x28, "function_name": "pi_service"})
        );
    }

    #[test]
    fn an_opcua_deny_names_the_message_the_policy_or_the_service() {
        use firewall_common::opcua::{
            OpcuaDenial, OpcuaViolation, POLICY_UNKNOWN, message, service_named,
        };
        // What the walker packs, decoded as the daemon decodes it.
        let wire = |kind: OpcuaViolation, msg: u8, code: u8, known: u8, id: u16| {
            let denial = OpcuaDenial {
                kind,
                message: msg,
                code,
                known,
                id,
                encoding: 1,
                _pad: 0,
            };
            let (packed, known) = denial.packed();
            let reason = Reason::of_opcua(kind);
            let ev = Event {
                scope: packed as u8,
                code: (packed >> 8) as u8,
                address: (packed >> 16) as u16,
                ..event(reason, known, 0, 0, 0)
            };
            let d = inspection_detail(reason, &ev);
            assert_eq!(d.protocol, Some("opcua"));
            serde_json::to_value(d.opcua.expect("opcua detail")).expect("serializes")
        };
        let write = service_named("write").unwrap_or(0);
        assert_eq!(
            wire(OpcuaViolation::Service, message::MSG, write, ALL_KNOWN, 673),
            serde_json::json!({"message_type": "MSG", "service": "write", "type_id": 673})
        );
        assert_eq!(
            wire(
                OpcuaViolation::SecurityPolicy,
                message::OPN,
                0,
                detail::SCOPE | detail::CODE,
                0
            ),
            serde_json::json!({"message_type": "OPN", "security_policy": "None"})
        );
        assert_eq!(
            wire(
                OpcuaViolation::SecurityPolicy,
                message::OPN,
                POLICY_UNKNOWN,
                detail::SCOPE | detail::CODE,
                0
            )["security_policy"],
            "unknown"
        );
        // An encrypted body: no service, the type id unreadable.
        assert_eq!(
            wire(
                OpcuaViolation::Encrypted,
                message::MSG,
                0xFF,
                detail::SCOPE | detail::ADDRESS,
                0xFFFF
            ),
            serde_json::json!({"message_type": "MSG", "type_id": 65535})
        );
        assert_eq!(
            wire(
                OpcuaViolation::Direction,
                message::ACK,
                0xFF,
                detail::SCOPE,
                0
            ),
            serde_json::json!({"message_type": "ACK"})
        );
    }

    #[test]
    fn plain_reasons_and_empty_details_carry_no_protocol() {
        // A reason that is no inspection deny has no detail, whatever the bits say.
        for reason in [
            Reason::StreamOutOfOrder,
            Reason::DefaultDeny,
            Reason::RateLimited,
        ] {
            let d = inspection_detail(reason, &event(reason, ALL_KNOWN, 1, 45, 1));
            assert_eq!(d, InspectionDetail::default(), "{reason:?}");
        }
        // An inspection deny that knew nothing (a bad CRC): its protocol, no detail member.
        let d = inspection_detail(Reason::Dnp3Crc, &event(Reason::Dnp3Crc, 0, 0, 0, 0));
        assert_eq!(
            d,
            InspectionDetail {
                protocol: Some("dnp3"),
                ..InspectionDetail::default()
            }
        );
    }

    #[test]
    fn timestamps_are_rfc3339_with_nine_fractional_digits() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_500_000_000), "1970-01-01T00:00:01.500000000Z");
        assert_eq!(
            rfc3339(1_796_631_160_310_021_000),
            "2026-12-07T08:12:40.310021000Z"
        );
        // Parses back as RFC 3339.
        let t = time::OffsetDateTime::parse(
            &rfc3339(1_796_631_160_310_021_001),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("parses");
        assert_eq!(t.unix_timestamp_nanos(), 1_796_631_160_310_021_001);
    }

    #[test]
    fn a_flood_of_one_class_keeps_the_others_recent_events() {
        let hub = EventHub::new(None);
        hub.publish_packet(class::INSPECTION, Arc::from("modbus deny"));
        for i in 0..RECENT * 3 {
            hub.publish_packet(class::FLOOD, Arc::from(format!("flood {i}").as_str()));
        }
        hub.publish_packet(class::POLICY, Arc::from("default deny"));
        let (recent, _) = hub.subscribe();
        assert_eq!(recent.len(), RECENT + 2);
        // Oldest first, across rings.
        assert_eq!(&*recent[0], "modbus deny");
        assert_eq!(&*recent[1], format!("flood {}", RECENT * 2));
        assert_eq!(&*recent[RECENT + 1], "default deny");
    }

    #[test]
    fn classes_follow_the_reason() {
        let class_of = |r: Reason| event_class(&event(r, 0, 0, 0, 0));
        assert_eq!(class_of(Reason::RateLimited), class::FLOOD);
        assert_eq!(class_of(Reason::ModbusFunction), class::INSPECTION);
        assert_eq!(class_of(Reason::DefaultDeny), class::POLICY);
        let unknown = Event {
            reason: 250,
            ..Event::default()
        };
        assert_eq!(event_class(&unknown), class::POLICY);
    }
}

#[cfg(test)]
#[path = "events_schema_tests.rs"]
mod schema_tests;
