//! `zcfw status`: what the running daemon enforces.

use super::SocketArgs;
use crate::control::{
    self,
    status::{EnforcementMode, FastPathStatus, Status, XdpCheck},
};

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Print the status as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &StatusArgs) -> u8 {
    super::query_and_print(&args.socket.socket, control::status, args.json, render)
}

fn render(status: &Status) -> String {
    let p = &status.policy;
    let mut out = format!(
        "policy      {} (sha256 {})\nfile        {}\ngeneration  {} (loaded in {:.1} ms)\nconduits    {} across {} zones\n",
        p.name, p.hash, p.path, p.generation, p.load_ms, p.conduits, p.zones,
    );
    out.push_str(match status.mode {
        EnforcementMode::Monitor => {
            "mode        MONITOR: the policy does not enforce; would-be denies pass as alerts\n"
        }
        EnforcementMode::Enforce => "mode        enforce\n",
    });
    if !status.monitor_conduits.is_empty() {
        out.push_str(&format!(
            "monitoring  {} (not enforcing: their would-be denies pass as alerts)\n",
            status.monitor_conduits.join(", ")
        ));
    }
    out.push_str(&format!(
        "island      {}\n",
        if status.island {
            "ON: nothing crosses a zone boundary"
        } else {
            "off"
        }
    ));
    match &status.pin_dir {
        Some(dir) => out.push_str(&format!(
            "pinned      {dir} (the policy stays enforced if the daemon stops)\n"
        )),
        None => out.push_str("pinned      no (ephemeral: XDP is detached when the daemon stops)\n"),
    }
    out.push_str(&format!(
        "uptime      {} s\ninterfaces  (attachment as the kernel reports it)\n",
        status.uptime_s
    ));
    for i in &status.interfaces {
        let bridge = match (&i.bridge, i.is_bridge) {
            (Some(bridge), _) => format!("  port of bridge {bridge}"),
            (None, true) => {
                "  bridge device (sees only frames to this host; attach to its ports)".to_owned()
            }
            (None, false) => String::new(),
        };
        out.push_str(&format!(
            "  {:<16} ifindex {:<6} xdp {}{}{bridge}\n",
            i.name,
            i.ifindex,
            i.xdp_mode,
            if i.enforced { "" } else { "  NOT ENFORCED" }
        ));
        out.push_str(&render_fast_path(i.fast_path.as_ref()));
    }
    out.push_str(&render_check(&status.xdp_check));
    out
}

/// One interface's fast path: on or off, packets forwarded in XDP, packets handed to the
/// stack by cause (the causes that occurred).
fn render_fast_path(fast: Option<&FastPathStatus>) -> String {
    let Some(fast) = fast else {
        return "    fast path off (allowed traffic is forwarded by the kernel stack)\n".to_owned();
    };
    if let Some(why) = &fast.unavailable {
        return format!("    fast path asked for but unavailable: {why}\n");
    }
    let to_stack: u64 = fast.to_stack.iter().map(|f| f.packets).sum();
    let mut out = format!(
        "    fast path on: {} packets forwarded in XDP, {to_stack} handed to the stack\n",
        fast.forwarded.packets
    );
    if let Some(n) = fast.mirrored_addresses {
        out.push_str(&format!(
            "      bridge port: {n} MAC addresses behind it in the forwarding-database mirror\n"
        ));
    }
    let causes: Vec<String> = fast
        .to_stack
        .iter()
        .filter(|f| f.packets != 0)
        .map(|f| format!("{} {}", f.cause, f.packets))
        .collect();
    if !causes.is_empty() {
        out.push_str(&format!("      to the stack: {}\n", causes.join(", ")));
    }
    out
}

/// The attachment check: when, how often repaired, and what is not enforced.
fn render_check(check: &XdpCheck) -> String {
    let mut out = format!(
        "xdp check   every {} s, last {}; {} repairs since start\n",
        check.interval_s,
        match check.last_s_ago {
            Some(s) => format!("{s:.1} s ago"),
            None => "never".to_owned(),
        },
        check.repairs,
    );
    for lost in &check.not_enforced {
        out.push_str(&format!("NOT ENFORCED {}: {}\n", lost.interface, lost.why));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::status::{
        FastPathFallback, InterfaceAttachment, LoadedPolicy, PacketCount,
    };
    #[test]
    fn bridge_ports_and_bridge_devices_are_named() {
        let iface = |name: &str, bridge: Option<&str>, is_bridge| InterfaceAttachment {
            name: name.into(),
            ifindex: 3,
            bridge: bridge.map(Into::into),
            is_bridge,
            xdp_mode: "native".into(),
            enforced: true,
            fast_path: None,
        };
        let status = Status {
            policy: LoadedPolicy {
                name: "p".into(),
                hash: "h".into(),
                path: "/etc/zcfw/policy.yaml".into(),
                generation: 1,
                loaded_at_unix: 0,
                load_ms: 1.0,
                zones: 2,
                conduits: 1,
            },
            interfaces: vec![
                iface("eth1", Some("br0"), false),
                iface("br1", None, true),
                iface("eth3", None, false),
            ],
            xdp_check: XdpCheck {
                interval_s: 5.0,
                last_s_ago: None,
                repairs: 0,
                not_enforced: vec![],
            },
            island: false,
            mode: EnforcementMode::Enforce,
            monitor_conduits: vec![],
            pin_dir: None,
            uptime_s: 1,
        };
        let out = render(&status);
        let line = |name: &str| {
            out.lines()
                .find(|l| l.trim_start().starts_with(name))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(line("eth1").ends_with("port of bridge br0"), "{out}");
        assert!(line("br1").contains("bridge device"), "{out}");
        assert!(line("eth3").ends_with("xdp native"), "{out}");
    }

    #[test]
    fn the_fast_path_line_says_on_or_off_and_the_causes_that_occurred() {
        assert!(render_fast_path(None).contains("fast path off"));
        let mut fast = FastPathStatus {
            active: true,
            unavailable: None,
            mirrored_addresses: None,
            forwarded: PacketCount {
                packets: 1200,
                bytes: 90_000,
            },
            to_stack: ["no_neighbour", "mtu", "ttl"]
                .iter()
                .zip([3u64, 0, 2])
                .map(|(cause, packets)| FastPathFallback {
                    cause: (*cause).to_owned(),
                    packets,
                    bytes: packets * 60,
                })
                .collect(),
        };
        assert_eq!(
            render_fast_path(Some(&fast)),
            "    fast path on: 1200 packets forwarded in XDP, 5 handed to the stack\n      \
             to the stack: no_neighbour 3, ttl 2\n"
        );
        fast.mirrored_addresses = Some(4);
        assert_eq!(
            render_fast_path(Some(&fast)),
            "    fast path on: 1200 packets forwarded in XDP, 5 handed to the stack\n      \
             bridge port: 4 MAC addresses behind it in the forwarding-database mirror\n      \
             to the stack: no_neighbour 3, ttl 2\n"
        );
        fast.active = false;
        fast.unavailable =
            Some("bridge port: an isolated port; its frames go to the bridge".into());
        assert_eq!(
            render_fast_path(Some(&fast)),
            "    fast path asked for but unavailable: bridge port: an isolated port; its frames go \
             to the bridge\n"
        );
    }
}
