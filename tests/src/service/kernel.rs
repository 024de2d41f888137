//! What the kernel says: XDP program ids, TCP retransmissions (loaded programs:
//! [`crate::pinned::loaded_program_ids`]).

use anyhow::{Context, Result, bail};

use crate::netns::Netns;

/// The program id in `ip -d link show` output (`prog/xdp id N`), if any.
pub fn xdp_prog_id(details: &str) -> Option<u32> {
    let mut words = details.split_whitespace();
    while let Some(w) = words.next() {
        if w == "prog/xdp" && words.next() == Some("id") {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// TCP segments retransmitted in `ns` so far (`RetransSegs` of `/proc/net/snmp`).
pub fn tcp_retransmits(ns: &Netns) -> Result<u64> {
    let text = ns
        .run(|| std::fs::read_to_string("/proc/thread-self/net/snmp"))
        .context("reading /proc/net/snmp")?;
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next(), tcp.next());
    let (Some(names), Some(values)) = (names, values) else {
        bail!("no Tcp lines in /proc/net/snmp");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RetransSegs")
        .and_then(|(_, v)| v.parse().ok())
        .context("no RetransSegs in /proc/net/snmp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prog_id_parses() {
        assert_eq!(
            xdp_prog_id(
                "2: ga@if2: <UP> mtu 1500 xdp qdisc noqueue\n    prog/xdp id 101 name zcfw_xdp tag 6"
            ),
            Some(101)
        );
        assert_eq!(xdp_prog_id("2: ga@if2: <UP> mtu 1500 qdisc noqueue"), None);
    }
}
