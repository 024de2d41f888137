//! What the kernel says: XDP program ids, TCP retransmissions and duplicates (loaded programs:
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

/// TCP counters of a namespace, read together: what its senders retransmitted, and how many
/// duplicates its receivers reported back (D-SACK, RFC 2883).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// Segments retransmitted (`Tcp: RetransSegs` of `/proc/net/snmp`).
    pub retransmitted: u64,
    /// D-SACKs sent for data received twice (`TcpExt: TCPDSACKOldSent + TCPDSACKOfoSent` of
    /// `/proc/net/netstat`): each is a retransmission whose original had arrived.
    pub duplicates_reported: u64,
}

impl TcpCounters {
    /// The counters of `ns` now.
    pub fn of(ns: &Netns) -> Result<TcpCounters> {
        let (snmp, netstat) = ns
            .run(|| {
                Ok::<_, std::io::Error>((
                    std::fs::read_to_string("/proc/thread-self/net/snmp")?,
                    std::fs::read_to_string("/proc/thread-self/net/netstat")?,
                ))
            })
            .context("reading /proc/net/snmp and /proc/net/netstat")?;
        Ok(TcpCounters {
            retransmitted: field(&snmp, "Tcp:", "RetransSegs")?,
            duplicates_reported: field(&netstat, "TcpExt:", "TCPDSACKOldSent")?
                + field(&netstat, "TcpExt:", "TCPDSACKOfoSent")?,
        })
    }

    /// Segments the sender side of `self` (a later reading than `self_before`) retransmitted
    /// because they were lost: retransmissions the receiver (`peer`, `peer_before`) did not
    /// report as duplicates. A spurious retransmission (a tail loss probe or an early timer
    /// on a loaded machine, the original on its way) is reported back as a duplicate; a
    /// segment a firewall dropped is not.
    pub fn lost_since(
        self,
        self_before: TcpCounters,
        peer: TcpCounters,
        peer_before: TcpCounters,
    ) -> u64 {
        let retransmitted = self.retransmitted - self_before.retransmitted;
        let duplicates = peer.duplicates_reported - peer_before.duplicates_reported;
        retransmitted.saturating_sub(duplicates)
    }
}

/// Counter `name` of the `prefix` table (`Tcp:`, `TcpExt:`) in a `/proc/net/snmp`-style
/// text: a line of names followed by a line of values.
fn field(text: &str, prefix: &str, name: &str) -> Result<u64> {
    let mut lines = text.lines().filter(|l| l.starts_with(prefix));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        bail!("no {prefix} lines");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
        .with_context(|| format!("no {prefix} {name}"))
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

    #[test]
    fn counters_parse_and_spurious_retransmissions_are_not_lost() {
        let snmp = "Tcp: RtoAlgorithm RetransSegs InErrs\nTcp: 1 7 0\n";
        assert_eq!(field(snmp, "Tcp:", "RetransSegs").expect("field"), 7);
        assert!(field(snmp, "Tcp:", "Nope").is_err());
        assert!(field(snmp, "TcpExt:", "RetransSegs").is_err());
        let at = |retransmitted, duplicates_reported| TcpCounters {
            retransmitted,
            duplicates_reported,
        };
        // Two retransmissions, one reported back as a duplicate: one segment was lost.
        assert_eq!(at(12, 0).lost_since(at(10, 0), at(0, 4), at(0, 3)), 1);
        assert_eq!(at(12, 0).lost_since(at(10, 0), at(0, 5), at(0, 3)), 0);
        assert_eq!(at(10, 0).lost_since(at(10, 0), at(0, 9), at(0, 3)), 0);
    }
}
