//! Unique names for namespaces, interfaces and files, so tests can run in parallel.

use std::sync::atomic::{AtomicU32, Ordering};

/// Linux limit on interface names (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How the objects of one test (or of the demo) are named.
#[derive(Clone, Debug)]
pub struct Names {
    /// Prefix of namespace and temp-dir names, e.g. `zcfw-conduits_nat-4711-3`.
    prefix: String,
    /// Suffix that makes interface names unique, e.g. `12672` (pid and counter in hex).
    uid: String,
    /// Fixed names (the demo): interfaces are `gw-<zone>` and `eth0`.
    fixed: bool,
}

impl Names {
    /// Names unique to this test and process: `tag` (the test name; shortened to 12
    /// characters), the pid and a per-process counter.
    pub fn unique(tag: &str) -> Names {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let tag: String = tag
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(12)
            .collect();
        Names {
            prefix: format!("zcfw-{tag}-{pid}-{n}"),
            // pid <= 2^22 is at most 6 hex digits; the counter is kept to 4.
            uid: format!("{pid:x}{:x}", n & 0xffff),
            fixed: false,
        }
    }

    /// Fixed, human-friendly names for the demo: namespaces `zcfw-<tag>-<role>`, gateway
    /// interfaces `gw-<zone>`, host interfaces `eth0`. Only one such set can exist at a time.
    pub fn fixed(tag: &str) -> Names {
        Names {
            prefix: format!("zcfw-{tag}"),
            uid: String::new(),
            fixed: true,
        }
    }

    /// Name of the namespace playing `role` (e.g. `gw`, `ent`).
    pub fn netns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// Name of the gateway-side interface towards the zone with short name `short`.
    pub fn gateway_ifname(&self, short: &str) -> String {
        if self.fixed {
            format!("gw-{short}")
        } else {
            self.ifname("g", short)
        }
    }

    /// Name of the host-side interface in the zone with short name `short`.
    pub fn host_ifname(&self, short: &str) -> String {
        if self.fixed {
            "eth0".to_string()
        } else {
            self.ifname("h", short)
        }
    }

    fn ifname(&self, side: &str, short: &str) -> String {
        let name = format!("{side}{short}{}", self.uid);
        assert!(name.len() <= IFNAME_MAX, "interface name {name} too long");
        name
    }

    /// A name for files and directories of this test (temp dir, socket).
    pub fn file_stem(&self) -> &str {
        &self.prefix
    }

    /// Whether these are the demo's fixed names.
    pub fn is_fixed(&self) -> bool {
        self.fixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_fit() {
        let a = Names::unique("a_rather_long_test_name_indeed");
        let b = Names::unique("a_rather_long_test_name_indeed");
        assert_ne!(a.netns("gw"), b.netns("gw"));
        assert_ne!(a.gateway_ifname("ent"), b.gateway_ifname("ent"));
        assert!(a.netns("gw").starts_with("zcfw-"));
        assert!(a.host_ifname("ctl").len() <= IFNAME_MAX);
    }

    #[test]
    fn fixed_names_are_the_demo_ones() {
        let n = Names::fixed("demo");
        assert_eq!(n.netns("gw"), "zcfw-demo-gw");
        assert_eq!(n.gateway_ifname("ent"), "gw-ent");
        assert_eq!(n.host_ifname("ent"), "eth0");
    }
}
