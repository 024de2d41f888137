//! What every service test uses: the plant, the policy template, probes and checks.

use std::{
    net::{IpAddr, SocketAddr},
    thread,
    time::{Duration, Instant},
};

use zcfw_harness::{
    Family, Names, Plant, XdpMode, Zone,
    netns::Netns,
    pinned::loaded_program_ids,
    service::{Service, Status, UdpSink},
    traffic::{EchoServices, udp_request},
};

/// Allowed probes get this long.
pub(crate) const PASS: Duration = Duration::from_secs(3);
/// Denied probes are given up on after this long.
pub(crate) const DENY: Duration = Duration::from_secs(1);
/// The name of zcfw's XDP program (`bpftool prog show`).
pub(crate) const PROGRAM: &str = "zcfw_xdp";

/// The policy of these tests. `${NAME}`, `${XDP_MODE}` and `${IF_*}` are the plant's
/// placeholders; `${ENT_DMZ_EXTRA}` (more rules of enterprise → dmz) and
/// `${DMZ_CTL_EXTRA}` (more keys of the dmz → control conduit) are filled in here first.
pub(crate) const TEMPLATE: &str = r#"version: 1
name: ${NAME}
defaults: { action: deny, log: denied, mode: enforce }
interfaces:
  - { name: ${IF_ENTERPRISE}, zones: [enterprise], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_DMZ}, zones: [dmz], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_CONTROL}, zones: [control], xdp_mode: ${XDP_MODE} }
zones:
  enterprise: { security_level: 1, networks: [10.10.0.0/24, "fd00:10::/64"] }
  dmz: { security_level: 2, networks: [10.20.0.0/24, "fd00:20::/64"] }
  control: { security_level: 3, networks: [10.30.0.0/24, "fd00:30::/64"], intra_zone: allow }
conduits:
  - name: enterprise-to-dmz
    from: enterprise
    to: dmz
    rules:
      - { protocol: icmp, types: [echo-request] }
      - { protocol: icmpv6, types: [echo-request] }
      - { protocol: tcp, ports: [8080] }
${ENT_DMZ_EXTRA}
  - name: dmz-to-control
    from: dmz
    to: control
    rules:
      - { protocol: tcp, ports: [5020] }
      - { protocol: udp, ports: [9000, 9001] }
${DMZ_CTL_EXTRA}
"#;

/// The "second flow" that only policy A of the reload test allows.
pub(crate) const SECOND_FLOW: &str = "      - { protocol: udp, ports: [7000, 7001] }";

pub(crate) fn policy(
    plant: &Plant,
    name: &str,
    mode: XdpMode,
    ent_dmz: &str,
    dmz_ctl: &str,
) -> String {
    let t = TEMPLATE
        .replace("${ENT_DMZ_EXTRA}\n", &line(ent_dmz))
        .replace("${DMZ_CTL_EXTRA}\n", &line(dmz_ctl));
    plant.render_policy(&t, name, mode)
}

pub(crate) fn line(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("{s}\n")
    }
}

pub(crate) fn plant(test: &str) -> Plant {
    Plant::new(Names::unique(test)).unwrap_or_else(|e| panic!("building the plant: {e:#}"))
}

pub(crate) fn service<'a>(plant: &'a Plant, policy: &str) -> Service<'a> {
    let svc = Service::new(plant).unwrap_or_else(|e| panic!("{e:#}"));
    svc.write_policy(policy).expect("policy file");
    svc
}

/// Echo servers on every host (IPv4 and IPv6): UDP 9000 and 7000, TCP 5020 and 8080.
/// A pinned daemon with the test policy (no extra rules, native mode), started.
pub(crate) fn started<'a>(plant: &'a Plant, name: &str) -> Service<'a> {
    let mut svc = service(plant, &policy(plant, name, XdpMode::Native, "", ""));
    svc.start().unwrap_or_else(|e| panic!("{e:#}"));
    svc
}

pub(crate) fn echo_servers(plant: &Plant) -> Vec<EchoServices> {
    plant
        .hosts()
        .iter()
        .map(|h| {
            EchoServices::start(
                &h.ns,
                &[h.addr(Family::V4), h.addr(Family::V6)],
                &[5020, 8080],
                &[9000, 7000],
            )
            .expect("echo servers")
        })
        .collect()
}

/// The namespaces of the enterprise, dmz and control hosts.
pub(crate) fn hosts(plant: &Plant) -> (&Netns, &Netns, &Netns) {
    (
        &plant.host(Zone::Enterprise).ns,
        &plant.host(Zone::Dmz).ns,
        &plant.host(Zone::Control).ns,
    )
}

pub(crate) fn v4(zone: Zone) -> IpAddr {
    zone.host(Family::V4)
}

pub(crate) fn v6(zone: Zone) -> IpAddr {
    zone.host(Family::V6)
}

pub(crate) fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

/// Failed checks of a test, reported together at the end.
#[derive(Default)]
pub(crate) struct Checks {
    pub(crate) failures: Vec<String>,
}

impl Checks {
    pub(crate) fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            let m = msg();
            eprintln!("FAILED: {m}");
            self.failures.push(m);
        }
    }

    /// A UDP request/reply from `from`'s host to `to`'s host `port` (IPv4) passes or not.
    pub(crate) fn udp(
        &mut self,
        plant: &Plant,
        when: &str,
        from: Zone,
        to: Zone,
        port: u16,
        pass: bool,
    ) {
        let dst = sa(v4(to), port);
        let got = udp_request(
            &plant.host(from).ns,
            dst,
            b"probe",
            if pass { PASS } else { DENY },
        );
        let what = format!("{when}: {from} → {to} udp/{port}");
        match (pass, got) {
            (true, Ok(r)) if r == b"probe" => {}
            (true, other) => self.check(false, || format!("{what} should pass: {other:?}")),
            (false, Ok(_)) => self.check(false, || format!("{what} should be denied, but passed")),
            (false, Err(_)) => {}
        }
    }

    pub(crate) fn finish(self, test: &str) {
        assert!(
            self.failures.is_empty(),
            "{test}: {} failed check(s):\n  {}",
            self.failures.len(),
            self.failures.join("\n  ")
        );
    }
}

pub(crate) fn status(svc: &Service) -> Status {
    svc.status()
        .unwrap_or_else(|e| panic!("zcfw status: {e:#}"))
}

pub(crate) fn stats(svc: &Service) -> zcfw_harness::Stats {
    svc.stats().unwrap_or_else(|e| panic!("zcfw stats: {e:#}"))
}

/// The id of the one program attached to every interface (all carry the same program).
pub(crate) fn attached_prog(svc: &Service) -> u32 {
    let ids = svc.xdp_prog_ids().expect("ip link");
    let first = ids[0].1;
    assert!(
        first.is_some() && ids.iter().all(|(_, id)| *id == first),
        "every gateway interface should carry the same XDP program: {ids:?}"
    );
    first.expect("checked")
}

/// Waits up to `timeout` until none of `ids` is a loaded program any more.
pub(crate) fn wait_programs_gone(ids: &[u32], timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let loaded = loaded_program_ids(PROGRAM).expect("the loaded BPF programs");
        let left: Vec<u32> = ids.iter().copied().filter(|i| loaded.contains(i)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// The stream id of the datagrams a sink got from source port `port` (each source has one
/// port and one id); 0 (matching nothing) if none arrived.
pub(crate) fn sent_id(sink: &UdpSink, port: u16) -> u32 {
    sink.arrivals()
        .iter()
        .find(|a| a.from.port() == port)
        .map_or(0, |a| a.stream)
}
