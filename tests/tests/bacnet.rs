//! BACnet/IP deep inspection end to end, with a stack nobody here wrote: bacpypes3 0.0.110 as
//! the device in the control zone (`NormalApplication`, device 1001, `analog-value,1` present
//! value 21.5) and as the client in the dmz (an application of its own, one operation per
//! run), each bound to its namespace's address (bacpypes3 serves 127.x in-process otherwise).
//!
//! Policy (below): the dmz BMS may discover and read (`services: [who_is, i_am, read_property,
//! read_property_multiple]`). A WriteProperty is `bacnet_service` (confirmed service 15): the
//! client gets no answer, the device never processes the request and the present value stays
//! (read back through the firewall and asked of the device), zcfw counts it (in total and for
//! the conduit) and reports the event.
//!
//! Who-Is is sent unicast to the device (bacpypes3 answers it with a unicast I-Am to the
//! asker, which comes back on the who-is flow).
//!
//! Broadcast discovery (issue 16, docs/bacnet.md "Flows, directions and broadcasts"):
//! `broadcast_discovery_routed` has the gateway forward directed broadcasts (`bc_forwarding`,
//! in the test's own gateway namespace) and sends the Who-Is as Original-Broadcast-NPDU to
//! 10.30.0.255: allowed (the device hears it as a broadcast, its I-Am returns through the
//! devices-announce conduit), `bacnet_bvlc` without `original_broadcast`, `bacnet_service`
//! without `who_is` (the device hears nothing), the limited broadcast `unknown_zone`, and the
//! ReadProperty after discovery, on the flow the device's I-Am opened, judged in its own
//! direction and served.
//! `broadcast_discovery_bridge` sends it across the bridged plant (bump in the wire) to the
//! subnet's own broadcast address, allowed and denied by the conduit.
//!
//! `peers_through_port_level_conduits` runs the same cases with a `protocol: udp` conduit on
//! 47808: there the write must take effect, which proves that the inspector is what denies it
//! and that the "no effect" checks can see an effect.

use std::{net::IpAddr, thread, time::Duration};

use zcfw_harness::{
    Daemon, Family, Names, Plant, XdpMode, Zone,
    bacnet::{self, BacnetDevice, ClientReply, DeviceState, WhoIsSeen},
    inspection::{ExpectedDeny, Failures, drops_since},
    modbus::{StatsJson, ZcfwView},
};

const INSPECTED: &str = r#"# tests/tests/bacnet.rs (a template: the harness fills in names and the XDP mode)
version: 1
name: ${NAME}
defaults: { action: deny, log: denied, mode: enforce }
interfaces:
  - { name: ${IF_ENTERPRISE}, zones: [enterprise], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_DMZ}, zones: [dmz], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_CONTROL}, zones: [control], xdp_mode: ${XDP_MODE} }
zones:
  enterprise: { security_level: 1, networks: [10.10.0.0/24, "fd00:10::/64"] }
  dmz: { security_level: 2, networks: [10.20.0.0/24, "fd00:20::/64"] }
  control: { security_level: 3, networks: [10.30.0.0/24, "fd00:30::/64"] }
conduits:
  - name: bms-reads-device
    from: dmz
    to: control
    rules:
      - protocol: bacnet
        bacnet: { services: [who_is, i_am, read_property, read_property_multiple] }
"#;

/// The same plant with a port-level conduit: everything on udp/47808 passes.
const PORT_LEVEL: &str = r#"# tests/tests/bacnet.rs, without inspection
version: 1
name: ${NAME}
defaults: { action: deny, log: denied, mode: enforce }
interfaces:
  - { name: ${IF_ENTERPRISE}, zones: [enterprise], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_DMZ}, zones: [dmz], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_CONTROL}, zones: [control], xdp_mode: ${XDP_MODE} }
zones:
  enterprise: { security_level: 1, networks: [10.10.0.0/24, "fd00:10::/64"] }
  dmz: { security_level: 2, networks: [10.20.0.0/24, "fd00:20::/64"] }
  control: { security_level: 3, networks: [10.30.0.0/24, "fd00:30::/64"] }
conduits:
  - name: bms-reads-device
    from: dmz
    to: control
    rules:
      - { protocol: udp, ports: [47808] }
"#;

const CONDUIT: &str = "bms-reads-device";
/// The zones' IPv4 prefix length (`Zone::network`).
const PREFIX: u8 = 24;
/// The value the denied write tries to set.
const WRITTEN: f64 = 99.25;
/// Every reason a BACnet/IP inspection deny is counted under.
const REASONS: [&str; 5] = [
    "bacnet_malformed",
    "bacnet_service",
    "bacnet_bvlc",
    "bacnet_network",
    "bacnet_direction",
];

struct Env<'p> {
    plant: &'p Plant,
    daemon: Option<Daemon<'p>>,
    device: BacnetDevice,
    view: ZcfwView,
    inspect: bool,
    failures: Failures,
}

impl<'p> Env<'p> {
    fn start(plant: &'p Plant, mode: XdpMode, inspect: bool) -> Env<'p> {
        let ctl = plant.host(Zone::Control);
        let device = BacnetDevice::start(&ctl.ns, Self::device_ip(), PREFIX)
            .unwrap_or_else(|e| panic!("starting the bacpypes3 device: {e:#}"));
        let name = format!("bacnet-e2e-{}-{}", inspect, mode.as_str()).to_lowercase();
        let template = if inspect { INSPECTED } else { PORT_LEVEL };
        let policy = plant.render_policy(template, &name, mode);
        let daemon = Daemon::start_on(plant, &policy).unwrap_or_else(|e| panic!("{e:#}"));
        let view = ZcfwView::new(daemon.socket()).expect("zcfw binary");
        Env {
            plant,
            daemon: Some(daemon),
            device,
            view,
            inspect,
            failures: Failures::new(mode, inspect),
        }
    }

    fn device_ip() -> IpAddr {
        Zone::Control.host(Family::V4)
    }

    fn fail(&mut self, msg: String) {
        self.failures.fail(msg);
    }

    fn stats(&self) -> StatsJson {
        self.view
            .stats()
            .unwrap_or_else(|e| panic!("zcfw stats: {e:#}"))
    }

    fn state(&mut self) -> DeviceState {
        self.device
            .state()
            .unwrap_or_else(|e| panic!("the device's state: {e:#}"))
    }

    /// One bacpypes3 client operation from the dmz host.
    fn client(&self, op: &str, args: &[&str]) -> ClientReply {
        let host = self.plant.host(Zone::Dmz);
        bacnet::client(
            &host.ns,
            host.addr(Family::V4),
            PREFIX,
            Self::device_ip(),
            op,
            args,
        )
        .unwrap_or_else(|e| panic!("the bacpypes3 client in the dmz: {e:#}"))
    }

    /// Who-Is, ReadProperty and ReadPropertyMultiple return the device's answers; nothing is
    /// dropped.
    fn reads(&mut self, what: &str) {
        let before = self.stats();
        let value = self.state().present_value;
        let r = self.client("who_is", &[]);
        if !r.ok || r.devices.as_deref() != Some(&[bacnet::DEVICE_INSTANCE]) {
            self.fail(format!(
                "{what}: a unicast Who-Is should bring device {}'s I-Am: {r:?}",
                bacnet::DEVICE_INSTANCE
            ));
        }
        let r = self.client("read", &[]);
        if !r.ok || r.value.as_ref().and_then(|v| v.as_f64()) != Some(value) {
            self.fail(format!(
                "{what}: ReadProperty present-value should return {value}: {r:?}"
            ));
        }
        let r = self.client("read_multiple", &[]);
        let v = r.value.as_ref();
        if !r.ok
            || v.and_then(|v| v["present-value"].as_f64()) != Some(value)
            || v.and_then(|v| v["object-name"].as_str()) != Some("setpoint")
        {
            self.fail(format!(
                "{what}: ReadPropertyMultiple should return present-value {value} and \
                 object-name setpoint: {r:?}"
            ));
        }
        thread::sleep(Duration::from_millis(50));
        let drops = drops_since(&self.stats(), &before);
        if !drops.is_empty() {
            self.fail(format!(
                "{what}: allowed requests, but packets were dropped: {drops:?}"
            ));
        }
    }

    /// WriteProperty present-value: denied with no effect when inspected, done when not.
    fn write(&mut self) {
        let what = format!(
            "dmz → {}:{}: WriteProperty analog-value,1 present-value {WRITTEN}",
            Self::device_ip(),
            bacnet::PORT
        );
        let seen = self.state();
        let before = self.stats();
        let reply = self.client("write", &[&WRITTEN.to_string()]);
        thread::sleep(Duration::from_millis(200));
        let after = self.stats();
        let now = self.state();
        let read_back = self.client("read", &[]);
        let read_value = read_back.value.as_ref().and_then(|v| v.as_f64());
        let mut effects = Vec::new();
        if now.writes != seen.writes {
            effects.push(format!(
                "the device processed {} WriteProperty request(s)",
                now.writes - seen.writes
            ));
        }
        if now.present_value != seen.present_value {
            effects.push(format!(
                "the present value went from {} to {}",
                seen.present_value, now.present_value
            ));
        }
        if !self.inspect {
            eprintln!("[port level] {what}: {reply:?}; device: {effects:?}");
            if !reply.ok || now.present_value != WRITTEN || read_value != Some(WRITTEN) {
                self.fail(format!(
                    "{what}: without inspection the write should take effect (the harness must \
                     see effects), but: client {reply:?}, device {now:?}, read back \
                     {read_back:?}"
                ));
            }
            let drops = drops_since(&after, &before);
            if !drops.is_empty() {
                self.fail(format!(
                    "{what}: port-level conduit, but dropped: {drops:?}"
                ));
            }
            return;
        }
        if !effects.is_empty() {
            self.fail(format!(
                "{what}: denied (bacnet_service), but {}",
                effects.join("; ")
            ));
        }
        if reply.ok {
            self.fail(format!("{what}: the client was answered ({reply:?})"));
        }
        if read_value != Some(seen.present_value) {
            self.fail(format!(
                "{what}: reading present-value back should return {}: {read_back:?}",
                seen.present_value
            ));
        }
        let expected = ExpectedDeny {
            reason: "bacnet_service",
            conduit: CONDUIT,
            action: "drop",
            proto: "udp",
            src: self.plant.host(Zone::Dmz).addr(Family::V4),
            src_port: Some(bacnet::PORT),
            dst: (Self::device_ip(), bacnet::PORT).into(),
            detail: Some(("service", 15)),
        };
        for f in expected.check(&self.view, &before, &after, &REASONS) {
            self.fail(format!("{what}: {f}"));
        }
    }

    fn finish(mut self) {
        let daemon = self.daemon.take();
        let device = &self.device;
        self.failures
            .finish(daemon, "bacpypes3 device", || device.log());
    }
}

/// Discovery and reads, the write, and the device still serving afterwards.
fn run(env: &mut Env<'_>) {
    let state = env.state();
    if state.present_value != bacnet::PRESENT_VALUE || state.writes != 0 {
        env.fail(format!(
            "the device should start with present value {} and no writes: {state:?}",
            bacnet::PRESENT_VALUE
        ));
    }
    env.reads("dmz BMS (bacpypes3)");
    env.write();
    env.reads("dmz BMS (bacpypes3) after the write");
}

/// zcfw with a port-level conduit carries everything: the write takes effect.
#[test]
fn peers_through_port_level_conduits() {
    let plant = Plant::for_test("bac_port");
    let mut env = Env::start(&plant, XdpMode::Native, false);
    run(&mut env);
    env.finish();
}

#[test]
fn inspected_native() {
    let plant = Plant::for_test("bac_native");
    let mut env = Env::start(&plant, XdpMode::Native, true);
    run(&mut env);
    env.finish();
}

#[test]
fn inspected_skb() {
    let plant = Plant::for_test("bac_skb");
    let mut env = Env::start(&plant, XdpMode::Skb, true);
    run(&mut env);
    env.finish();
}

// ---------------------------------------------------------------------------------------------
// Broadcast discovery (issue 16): a Who-Is to a broadcast address, judged by the zone that holds
// the address, answered by the device with a unicast I-Am that needs a conduit of its own.

/// Routed: the BMS may discover (broadcast or unicast Who-Is) and read; the devices' I-Am comes
/// back on a conduit of its own. `${BVLC}` and `${SERVICES}` are the discovering conduit's.
const DISCOVERY: &str = r#"# tests/tests/bacnet.rs, broadcast discovery
version: 1
name: ${NAME}
defaults: { action: deny, log: denied, mode: enforce }
interfaces:
  - { name: ${IF_ENTERPRISE}, zones: [enterprise], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_DMZ}, zones: [dmz], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_CONTROL}, zones: [control], xdp_mode: ${XDP_MODE} }
zones:
  enterprise: { security_level: 1, networks: [10.10.0.0/24, "fd00:10::/64"] }
  dmz: { security_level: 2, networks: [10.20.0.0/24, "fd00:20::/64"] }
  control: { security_level: 3, networks: [10.30.0.0/24, "fd00:30::/64"] }
conduits:
  - name: bms-discovers
    from: dmz
    to: control
    rules:
      - protocol: bacnet
        bacnet: { services: [${SERVICES}], bvlc: [${BVLC}] }
  - name: devices-announce
    from: control
    to: dmz
    rules:
      - protocol: bacnet
        bacnet: { services: [i_am] }
"#;

const DISCOVERS: &str = "bms-discovers";
const ANNOUNCE: &str = "devices-announce";
const ALL_BVLC: &str = "bvlc_result, original_unicast, original_broadcast";
const NO_BROADCAST_BVLC: &str = "bvlc_result, original_unicast";
const DISCOVER_SERVICES: &str = "who_is, i_am, read_property";
const NO_WHO_IS: &str = "i_am, read_property";

fn discovery_policy(bvlc: &str, services: &str) -> String {
    DISCOVERY
        .replace("${BVLC}", bvlc)
        .replace("${SERVICES}", services)
}

/// `zcfw reload --policy FILE` of `daemon` with `policy` written to its directory.
fn reload(daemon: &Daemon<'_>, policy: &str, what: &str) -> Result<(), String> {
    let file = daemon.dir().join(format!("{what}.yaml"));
    std::fs::write(&file, policy).map_err(|e| format!("writing {}: {e}", file.display()))?;
    zcfw_harness::cmd::run_with_timeout(
        std::process::Command::new(daemon.bin())
            .args(["reload", "--policy"])
            .arg(&file)
            .arg("--socket")
            .arg(daemon.socket()),
        Duration::from_secs(20),
    )
    .map(|_| ())
    .map_err(|e| format!("zcfw reload ({what}): {e:#}"))
}

/// A broadcast Who-Is run: what the client saw, the Who-Is requests the device received since,
/// and zcfw's counters before and after.
struct Broadcast {
    reply: ClientReply,
    heard: Vec<WhoIsSeen>,
    before: StatsJson,
    after: StatsJson,
}

/// Sends a Who-Is as an Original-Broadcast-NPDU to `to`:47808 from `client` (in `ns`, bound to
/// `local/PREFIX`) and collects what the device received.
fn broadcast_who_is(
    view: &ZcfwView,
    device: &mut BacnetDevice,
    ns: &zcfw_harness::netns::Netns,
    local: IpAddr,
    to: IpAddr,
) -> Broadcast {
    let seen = device.state().expect("the device's state").who_is.len();
    let before = view.stats().expect("zcfw stats");
    let reply = bacnet::client(ns, local, PREFIX, to, "who_is_broadcast", &[])
        .unwrap_or_else(|e| panic!("the bacpypes3 client: {e:#}"));
    // The client waited 3 s for I-Ams: anything that crossed has long arrived.
    let heard = device.state().expect("the device's state").who_is[seen..].to_vec();
    let after = view.stats().expect("zcfw stats");
    Broadcast {
        reply,
        heard,
        before,
        after,
    }
}

impl Broadcast {
    /// The client got the device's I-Am, the device heard the Who-Is as a broadcast from
    /// `from`, and nothing was dropped; `conduits` counted packets.
    fn allowed(&self, what: &str, from: IpAddr, conduits: &[&str], failures: &mut Vec<String>) {
        if !self.reply.ok || self.reply.devices.as_deref() != Some(&[bacnet::DEVICE_INSTANCE]) {
            failures.push(format!(
                "{what}: the device's I-Am should reach the client: {:?}",
                self.reply
            ));
        }
        // bacpypes3 prints the standard port 47808 as the bare address.
        let from_client = |w: &WhoIsSeen| {
            w.source == from.to_string() || w.source == format!("{from}:{}", bacnet::PORT)
        };
        if !self.heard.iter().any(|w| w.broadcast && from_client(w)) {
            failures.push(format!(
                "{what}: the device should have received the Who-Is as a broadcast from \
                 {from}:{}: {:?}",
                bacnet::PORT,
                self.heard
            ));
        }
        for c in conduits {
            if self.after.conduit_packets(c) <= self.before.conduit_packets(c) {
                failures.push(format!(
                    "{what}: conduit {c} counted nothing; reasons {:?}",
                    self.after.reasons_since(&self.before)
                ));
            }
        }
        let drops = drops_since(&self.after, &self.before);
        if !drops.is_empty() {
            failures.push(format!("{what}: allowed, but dropped: {drops:?}"));
        }
    }

    /// The device heard no Who-Is and the client no I-Am.
    fn no_effect(&self, what: &str, failures: &mut Vec<String>) {
        if !self.heard.is_empty() {
            failures.push(format!(
                "{what}: denied, but the device received {:?}",
                self.heard
            ));
        }
        if self.reply.ok {
            failures.push(format!(
                "{what}: denied, but the client got an I-Am: {:?}",
                self.reply
            ));
        }
    }
}

fn expect_deny(
    view: &ZcfwView,
    b: &Broadcast,
    what: &str,
    deny: ExpectedDeny,
    failures: &mut Vec<String>,
) {
    b.no_effect(what, failures);
    for f in deny.check(view, &b.before, &b.after, &REASONS) {
        failures.push(format!("{what}: {f}"));
    }
}

/// Routed: a directed broadcast Who-Is from the dmz to the control subnet's broadcast address,
/// with the gateway forwarding directed broadcasts (`bc_forwarding`, in the test's gateway
/// namespace only). Allowed by the dmz → control conduit when it lists `original_broadcast` and
/// `who_is` (the device hears it as a broadcast and its unicast I-Am comes back through the
/// devices-announce conduit), denied as `bacnet_bvlc` / `bacnet_service` without them (the
/// device hears nothing), and the limited broadcast 255.255.255.255 is `unknown_zone`.
#[test]
fn broadcast_discovery_routed() {
    let plant = Plant::for_test("bac_bcast");
    let gw = plant.gateway();
    // The kernel forwards a directed broadcast when `all` and the receiving interface say so;
    // set on every gateway interface, both ways.
    gw.sysctl("net.ipv4.conf.all.bc_forwarding", "1")
        .expect("bc_forwarding");
    for ifname in plant.gateway_interfaces() {
        gw.sysctl(&format!("net.ipv4.conf.{ifname}.bc_forwarding"), "1")
            .expect("bc_forwarding");
    }
    let ctl = plant.host(Zone::Control);
    let dmz = plant.host(Zone::Dmz);
    let device_ip = Zone::Control.host(Family::V4);
    let client_ip = dmz.addr(Family::V4);
    let subnet_broadcast: IpAddr = "10.30.0.255".parse().expect("address");
    let limited: IpAddr = "255.255.255.255".parse().expect("address");
    let mut device = BacnetDevice::start(&ctl.ns, device_ip, PREFIX)
        .unwrap_or_else(|e| panic!("starting the bacpypes3 device: {e:#}"));
    let name = "bacnet-bcast";
    let allowing = plant.render_policy(
        &discovery_policy(ALL_BVLC, DISCOVER_SERVICES),
        name,
        XdpMode::Native,
    );
    let daemon = Daemon::start_on(&plant, &allowing).unwrap_or_else(|e| panic!("{e:#}"));
    let view = ZcfwView::new(daemon.socket()).expect("zcfw binary");
    let mut failures = Vec::new();

    let what = "dmz → 10.30.0.255: Who-Is (Original-Broadcast), conduit lists both";
    let b = broadcast_who_is(&view, &mut device, &dmz.ns, client_ip, subnet_broadcast);
    b.allowed(what, client_ip, &[DISCOVERS, ANNOUNCE], &mut failures);

    // After discovery the BMS reads the device it found. The device's unicast I-Am opened a
    // flow 10.30.0.2:47808 → 10.20.0.2:47808 on devices-announce, and the ReadProperty
    // (10.20.0.2:47808 → 10.30.0.2:47808) is the same flow the other way: the data path judges
    // it in its own direction, on the dmz → control conduit, and the device's answer as the
    // reply to it. The read must work at once, with nothing dropped.
    let before = view.stats().expect("zcfw stats");
    let r = bacnet::client(&dmz.ns, client_ip, PREFIX, device_ip, "read", &[])
        .unwrap_or_else(|e| panic!("the bacpypes3 client: {e:#}"));
    let after = view.stats().expect("zcfw stats");
    if !r.ok || !drops_since(&after, &before).is_empty() {
        failures.push(format!(
            "after discovery, a ReadProperty on the port pair of the device's I-Am flow must be \
             judged in its own direction and pass: {r:?}; dropped {:?}, inspection denies {:?}",
            drops_since(&after, &before),
            after.denied_since(&before)
        ));
    }

    let what = "dmz → 255.255.255.255: Who-Is (limited broadcast)";
    let b = broadcast_who_is(&view, &mut device, &dmz.ns, client_ip, limited);
    b.no_effect(what, &mut failures);
    if b.after.reason("unknown_zone") <= b.before.reason("unknown_zone") {
        failures.push(format!(
            "{what}: should be counted as unknown_zone (the address is in no zone): {:?}",
            b.after.reasons_since(&b.before)
        ));
    }

    let deny = |reason, detail| ExpectedDeny {
        reason,
        conduit: DISCOVERS,
        action: "drop",
        proto: "udp",
        src: client_ip,
        src_port: Some(bacnet::PORT),
        dst: (subnet_broadcast, bacnet::PORT).into(),
        detail: Some(detail),
    };
    let policy = |bvlc, services| {
        plant.render_policy(&discovery_policy(bvlc, services), name, XdpMode::Native)
    };
    match reload(
        &daemon,
        &policy(NO_BROADCAST_BVLC, DISCOVER_SERVICES),
        "no-broadcast",
    ) {
        Ok(()) => {
            let what = "dmz → 10.30.0.255: Who-Is, conduit without original_broadcast";
            let b = broadcast_who_is(&view, &mut device, &dmz.ns, client_ip, subnet_broadcast);
            let d = deny("bacnet_bvlc", ("bvlc_function", 0x0B));
            expect_deny(&view, &b, what, d, &mut failures);
        }
        Err(e) => failures.push(e),
    }
    match reload(&daemon, &policy(ALL_BVLC, NO_WHO_IS), "no-who-is") {
        Ok(()) => {
            let what = "dmz → 10.30.0.255: Who-Is, conduit without who_is";
            let b = broadcast_who_is(&view, &mut device, &dmz.ns, client_ip, subnet_broadcast);
            let d = deny("bacnet_service", ("service", 8));
            expect_deny(&view, &b, what, d, &mut failures);
        }
        Err(e) => failures.push(e),
    }
    // Back to the allowing policy: the same broadcast crosses again, so the denies above were
    // the conduit's and the device was listening all along.
    match reload(&daemon, &allowing, "allowing-again") {
        Ok(()) => {
            let what = "dmz → 10.30.0.255: Who-Is, allowing policy reloaded";
            let b = broadcast_who_is(&view, &mut device, &dmz.ns, client_ip, subnet_broadcast);
            b.allowed(what, client_ip, &[DISCOVERS, ANNOUNCE], &mut failures);
        }
        Err(e) => failures.push(e),
    }

    if let Err(e) = daemon.stop() {
        failures.push(format!("stopping zcfw: {e:#}"));
    }
    if !failures.is_empty() {
        eprintln!("--- bacpypes3 device log ---\n{}", device.log());
    }
    assert!(
        failures.is_empty(),
        "{} failed check(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// Bridged: one subnet, split by range (`zcfw_harness::bridge`). The subnet's broadcast address
/// 10.50.0.255 lies in the upper half, the plant's; the policy lists it (/32, the most specific
/// network wins) in the cell zone, so the operator station's Who-Is to it is judged by the
/// plant → cell conduit. `${BVLC}` is that conduit's list.
const BRIDGE_DISCOVERY: &str = r#"# tests/tests/bacnet.rs, broadcast discovery across the bridge
version: 1
name: ${NAME}
defaults: { action: deny, log: denied, mode: enforce }
interfaces:
  - { name: ${IF_HMI}, zones: [plant], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_PL1}, zones: [cell], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_PL2}, zones: [cell], xdp_mode: ${XDP_MODE} }
zones:
  plant: { security_level: 1, networks: [10.50.0.128/25, "fd00:50::8000:0:0:0/65"] }
  # The subnet's broadcast address is the cell's: discovery from the plant is judged as
  # traffic into the cell.
  cell: { security_level: 3, networks: [10.50.0.0/25, 10.50.0.255/32, "fd00:50::/65"] }
conduits:
  - name: bms-discovers
    from: plant
    to: cell
    rules:
      - protocol: bacnet
        bacnet: { services: [who_is, read_property], bvlc: [${BVLC}] }
  - name: devices-announce
    from: cell
    to: plant
    rules:
      - protocol: bacnet
        bacnet: { services: [i_am] }
"#;

/// Bridged (bump in the wire): the broadcast frame crosses the bridge like any frame, and zcfw
/// on the sender's port judges it. The operator station (hmi, plant) sends a Who-Is to its own
/// subnet's broadcast address; the device is plc1 (cell). Allowed by the plant → cell conduit
/// with `original_broadcast` (the device hears it, its I-Am returns through devices-announce),
/// denied as `bacnet_bvlc` without it (the device hears nothing), allowed again after a reload.
#[test]
fn broadcast_discovery_bridge() {
    use zcfw_harness::bridge::{BridgePlant, Station};

    let plant = BridgePlant::new(Names::unique("bac_brbc"))
        .unwrap_or_else(|e| panic!("building the bridge: {e:#}"));
    let device_ip = Station::Plc1.addr(Family::V4);
    let client_ip = Station::Hmi.addr(Family::V4);
    let hmi = plant.host(Station::Hmi);
    let subnet_broadcast: IpAddr = "10.50.0.255".parse().expect("address");
    let mut device = BacnetDevice::start(&plant.host(Station::Plc1).ns, device_ip, PREFIX)
        .unwrap_or_else(|e| panic!("starting the bacpypes3 device: {e:#}"));
    let name = "bacnet-bridge-bcast";
    let policy = |bvlc: &str| {
        plant.render_policy(
            &BRIDGE_DISCOVERY.replace("${BVLC}", bvlc),
            name,
            XdpMode::Native,
        )
    };
    let allowing = policy(ALL_BVLC);
    let dir = zcfw_harness::TempDir::new(&format!("{}-zcfw", plant.names().file_stem()))
        .expect("temp dir");
    let file = dir.join("policy.yaml");
    std::fs::write(&file, &allowing).expect("write the policy");
    let daemon = Daemon::start_in(dir, plant.gateway(), &file, &plant.ports(), &[])
        .unwrap_or_else(|e| panic!("{e:#}"));
    let view = ZcfwView::new(daemon.socket()).expect("zcfw binary");
    let mut failures = Vec::new();

    let what = "hmi → 10.50.0.255 across the bridge: Who-Is, conduit lists original_broadcast";
    let b = broadcast_who_is(&view, &mut device, &hmi.ns, client_ip, subnet_broadcast);
    b.allowed(what, client_ip, &[DISCOVERS, ANNOUNCE], &mut failures);

    match reload(&daemon, &policy(NO_BROADCAST_BVLC), "no-broadcast") {
        Ok(()) => {
            let what = "hmi → 10.50.0.255 across the bridge: Who-Is, without original_broadcast";
            let b = broadcast_who_is(&view, &mut device, &hmi.ns, client_ip, subnet_broadcast);
            let d = ExpectedDeny {
                reason: "bacnet_bvlc",
                conduit: DISCOVERS,
                action: "drop",
                proto: "udp",
                src: client_ip,
                src_port: Some(bacnet::PORT),
                dst: (subnet_broadcast, bacnet::PORT).into(),
                detail: Some(("bvlc_function", 0x0B)),
            };
            expect_deny(&view, &b, what, d, &mut failures);
        }
        Err(e) => failures.push(e),
    }
    match reload(&daemon, &allowing, "allowing-again") {
        Ok(()) => {
            let what = "hmi → 10.50.0.255 across the bridge: Who-Is, allowing policy reloaded";
            let b = broadcast_who_is(&view, &mut device, &hmi.ns, client_ip, subnet_broadcast);
            b.allowed(what, client_ip, &[DISCOVERS, ANNOUNCE], &mut failures);
        }
        Err(e) => failures.push(e),
    }

    if let Err(e) = daemon.stop() {
        failures.push(format!("stopping zcfw: {e:#}"));
    }
    if !failures.is_empty() {
        eprintln!("--- bacpypes3 device log ---\n{}", device.log());
    }
    assert!(
        failures.is_empty(),
        "{} failed check(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
