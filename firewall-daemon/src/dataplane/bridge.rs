//! An interface's place in a Linux bridge, as sysfs says: shown by `zcfw status`, warned
//! about at attach time (zcfw filters a bridge's traffic on its member ports, not on the
//! bridge device; see docs/bridge.md), and whether the bridge fast path may forward from and
//! to a port (docs/fast-path.md, "Bridge mode").

use std::path::Path;

use firewall_common::forward::BridgePort;

/// What an interface is to a Linux bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BridgeRole {
    /// Neither a bridge nor a bridge port (or sysfs does not say).
    Unbridged,
    /// A member port of the bridge named here.
    Port(String),
    /// A bridge device itself.
    Bridge,
}

/// The role of `iface` (index `ifindex`) in this network namespace's sysfs.
pub fn role(iface: &str, ifindex: u32) -> BridgeRole {
    role_in(Path::new("/sys/class/net"), iface, ifindex)
}

/// [`role`] with sysfs' `class/net` at `net`.
fn role_in(net: &Path, iface: &str, ifindex: u32) -> BridgeRole {
    let dir = net.join(iface);
    // A /sys mounted for another network namespace (a daemon that entered its namespace
    // without remounting /sys) lists other interfaces, perhaps by the same name: believe it
    // only when the index agrees.
    let index = std::fs::read_to_string(dir.join("ifindex")).ok();
    if index.and_then(|t| t.trim().parse::<u32>().ok()) != Some(ifindex) {
        return BridgeRole::Unbridged;
    }
    if dir.join("bridge").is_dir() {
        return BridgeRole::Bridge;
    }
    // `master` also names bonds and VRFs; `brport` exists only on bridge ports.
    if dir.join("brport").is_dir()
        && let Ok(master) = std::fs::read_link(dir.join("master"))
        && let Some(name) = master.file_name()
    {
        return BridgeRole::Port(name.to_string_lossy().into_owned());
    }
    BridgeRole::Unbridged
}

/// A bridge port's fast-path entry, and why the fast path may not use the port (if so).
pub type PortEntry = (BridgePort, Result<(), String>);

/// STP port state "forwarding" (`BR_STATE_FORWARDING`).
const STP_FORWARDING: u32 = 3;

/// The fast-path entry of `iface` (index `ifindex`) if it is a bridge port, and why the fast
/// path may not forward from and to it (then the entry says so): the bridge must forward on
/// the port (STP state forwarding), the port must not be isolated, and the bridge must not
/// filter VLANs (its forwarding database is then keyed by MAC address alone, as the mirror
/// is).
pub fn port_entry(iface: &str, ifindex: u32) -> Option<PortEntry> {
    port_entry_in(Path::new("/sys/class/net"), iface, ifindex)
}

/// [`port_entry`] with sysfs' `class/net` at `net`.
fn port_entry_in(net: &Path, iface: &str, ifindex: u32) -> Option<PortEntry> {
    let BridgeRole::Port(bridge) = role_in(net, iface, ifindex) else {
        return None;
    };
    let number = |path: &Path| -> Result<u32, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let text = text.trim();
        match text.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => text.parse(),
        }
        .map_err(|_| format!("{}: not a number: {text:?}", path.display()))
    };
    let port = net.join(iface);
    let br = net.join(&bridge);
    let mut entry = BridgePort {
        bridge: number(&br.join("ifindex")).unwrap_or(0),
        mtu: number(&port.join("mtu")).map_or(0, |m| m.min(u16::MAX.into()) as u16),
        forwarding: 0,
        _pad: 0,
    };
    let forwarding = (|| {
        let state = number(&port.join("brport/state"))?;
        if state != STP_FORWARDING {
            return Err(format!(
                "the bridge does not forward on it (STP state {state})"
            ));
        }
        // `isolated` appeared in Linux 4.18; absent means not isolated.
        if number(&port.join("brport/isolated")).unwrap_or(0) != 0 {
            return Err("an isolated port".into());
        }
        // Absent in kernels built without VLAN filtering.
        if number(&br.join("bridge/vlan_filtering")).unwrap_or(0) != 0 {
            return Err(format!("bridge {bridge} filters VLANs"));
        }
        if entry.bridge == 0 || entry.mtu == 0 {
            return Err(format!(
                "cannot read the index of {bridge} or the port's MTU"
            ));
        }
        Ok(())
    })();
    entry.forwarding = u8::from(forwarding.is_ok());
    Some((entry, forwarding))
}

/// The `BRIDGE_PORTS` entries for interfaces `interfaces` (name, ifindex), when a
/// `fast_path` interface among them is a bridge port (`fast`: their ifindexes); otherwise none.
/// Every bridge port gets an entry (its frames are never routed by the forwarder); only
/// `fast_path` ports are switched from and to. With each refused `fast_path` port, why the
/// fast path may not use it.
pub fn ports_of<'a>(
    interfaces: impl Iterator<Item = (&'a str, u32)> + Clone,
    fast: &std::collections::BTreeSet<u32>,
) -> (
    std::collections::BTreeMap<u32, BridgePort>,
    std::collections::BTreeMap<String, String>,
) {
    let mut ports = std::collections::BTreeMap::new();
    let mut refused = std::collections::BTreeMap::new();
    let entries: Vec<(&str, u32, PortEntry)> = interfaces
        .filter_map(|(name, ifindex)| Some((name, ifindex, port_entry(name, ifindex)?)))
        .collect();
    if !entries.iter().any(|(_, ifindex, _)| fast.contains(ifindex)) {
        return (ports, refused);
    }
    for (name, ifindex, (mut entry, why)) in entries {
        // Frames are switched only between ports that opted in: a port without
        // `fast_path` (a veth or tap member, say, whose peer takes no redirected frames) is
        // reached through the bridge.
        if !fast.contains(&ifindex) {
            entry.forwarding = 0;
        } else if let Err(why) = why {
            refused.insert(name.to_owned(), why);
        }
        ports.insert(ifindex, entry);
    }
    (ports, refused)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn ports_bridges_and_others_as_sysfs_lays_them_out() {
        let net = std::env::temp_dir().join(format!("zcfw-bridge-role-{}", std::process::id()));
        let _ = fs::remove_dir_all(&net);
        for (name, index) in [
            ("br0", 4),
            ("eth1", 5),
            ("eth2", 6),
            ("bond0", 7),
            ("eth3", 8),
        ] {
            fs::create_dir_all(net.join(name)).expect("dir");
            fs::write(net.join(name).join("ifindex"), format!("{index}\n")).expect("ifindex");
        }
        fs::create_dir(net.join("br0/bridge")).expect("bridge dir");
        fs::create_dir(net.join("eth1/brport")).expect("brport dir");
        std::os::unix::fs::symlink("../br0", net.join("eth1/master")).expect("master");
        // A bond's slave has a master but no brport.
        std::os::unix::fs::symlink("../bond0", net.join("eth3/master")).expect("master");
        assert_eq!(role_in(&net, "br0", 4), BridgeRole::Bridge);
        assert_eq!(role_in(&net, "eth1", 5), BridgeRole::Port("br0".into()));
        assert_eq!(role_in(&net, "eth2", 6), BridgeRole::Unbridged);
        assert_eq!(role_in(&net, "eth3", 8), BridgeRole::Unbridged);
        // Another namespace's eth1: the index differs, sysfs is not believed.
        assert_eq!(role_in(&net, "eth1", 9), BridgeRole::Unbridged);
        assert_eq!(role_in(&net, "missing", 1), BridgeRole::Unbridged);
        fs::remove_dir_all(&net).expect("clean up");
    }

    #[test]
    fn a_port_gets_an_entry_only_while_the_bridge_forwards_on_it_by_mac() {
        let net = std::env::temp_dir().join(format!("zcfw-bridge-port-{}", std::process::id()));
        let _ = fs::remove_dir_all(&net);
        for (name, index) in [("br0", 4), ("eth1", 5), ("eth2", 6)] {
            fs::create_dir_all(net.join(name)).expect("dir");
            fs::write(net.join(name).join("ifindex"), format!("{index}\n")).expect("ifindex");
            fs::write(net.join(name).join("mtu"), "1500\n").expect("mtu");
        }
        fs::create_dir(net.join("br0/bridge")).expect("bridge dir");
        fs::write(net.join("br0/bridge/vlan_filtering"), "0\n").expect("vlan");
        fs::create_dir(net.join("eth1/brport")).expect("brport dir");
        std::os::unix::fs::symlink("../br0", net.join("eth1/master")).expect("master");
        fs::write(net.join("eth1/brport/state"), "3\n").expect("state");
        fs::write(net.join("eth1/brport/isolated"), "0\n").expect("isolated");
        let entry = |forwarding| BridgePort {
            bridge: 4,
            mtu: 1500,
            forwarding,
            _pad: 0,
        };
        assert_eq!(port_entry_in(&net, "eth1", 5), Some((entry(1), Ok(()))));
        assert_eq!(port_entry_in(&net, "eth2", 6), None);
        fs::write(net.join("eth1/brport/state"), "4\n").expect("blocking");
        let (e, why) = port_entry_in(&net, "eth1", 5).expect("a port");
        assert_eq!(e, entry(0));
        assert!(why.expect_err("blocking").contains("STP state 4"));
        fs::write(net.join("eth1/brport/state"), "3\n").expect("forwarding");
        fs::write(net.join("eth1/brport/isolated"), "1\n").expect("isolated");
        assert_eq!(
            port_entry_in(&net, "eth1", 5),
            Some((entry(0), Err("an isolated port".into())))
        );
        fs::remove_file(net.join("eth1/brport/isolated")).expect("older kernel");
        assert_eq!(port_entry_in(&net, "eth1", 5), Some((entry(1), Ok(()))));
        fs::write(net.join("br0/bridge/vlan_filtering"), "1\n").expect("vlan");
        assert_eq!(
            port_entry_in(&net, "eth1", 5),
            Some((entry(0), Err("bridge br0 filters VLANs".into())))
        );
        fs::remove_dir_all(&net).expect("clean up");
    }
}
