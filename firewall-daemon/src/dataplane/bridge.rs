//! An interface's place in a Linux bridge, as sysfs says: shown by `zcfw status`, warned
//! about at attach time (zcfw filters a bridge's traffic on its member ports, not on the
//! bridge device; see docs/bridge.md), and no fast path on a bridge port (docs/fast-path.md).

use std::path::Path;

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
}
