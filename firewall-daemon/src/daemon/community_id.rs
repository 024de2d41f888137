//! Flow identifiers of an event, so a SIEM can join zcfw's events with Suricata's and Zeek's:
//! the Community ID v1 (<https://github.com/corelight/community-id-spec>) and a numeric
//! `flow_id` derived from the same ordered tuple.
//!
//! Community ID v1: SHA-1 over `seed (u16 BE) | lower address | higher address | protocol |
//! 0 | lower port (u16 BE) | higher port (u16 BE)`, where "lower" orders the two endpoints by
//! (address, port) so both directions of a flow hash the same; base64 of the digest after
//! `1:`. Ports exist for TCP, UDP, SCTP, ICMP and ICMPv6 only; ICMP puts the type in the
//! source port and, for a request or reply with a counterpart (echo, timestamp, ...), the
//! counterpart's type in the destination port, otherwise the code (and then the tuple is
//! never reordered: a one-way message).

use std::net::IpAddr;

use base64::Engine;
use sha1::{Digest, Sha1};

const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// What identifies a flow: its addresses, IP protocol and, for the protocols that have them,
/// ports (for ICMP and ICMPv6: type and code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowTuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    /// Source port, or the ICMP type.
    pub src_port: u16,
    /// Destination port, or the ICMP code.
    pub dst_port: u16,
}

/// The ICMP type answering `t` (or answered by it), if it has one.
fn icmp_counterpart(t: u8) -> Option<u8> {
    Some(match t {
        8 => 0,
        0 => 8,
        13 => 14,
        14 => 13,
        15 => 16,
        16 => 15,
        10 => 9,
        9 => 10,
        17 => 18,
        18 => 17,
        _ => return None,
    })
}

/// [`icmp_counterpart`] for ICMPv6.
fn icmpv6_counterpart(t: u8) -> Option<u8> {
    Some(match t {
        128 => 129,
        129 => 128,
        133 => 134,
        134 => 133,
        135 => 136,
        136 => 135,
        130 => 131,
        131 => 130,
        139 => 140,
        140 => 139,
        144 => 145,
        145 => 144,
        _ => return None,
    })
}

fn octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The bytes the Community ID hashes (the spec's "ordered tuple"), for `seed`.
fn hash_input(t: &FlowTuple, seed: u16) -> Vec<u8> {
    let (src, dst) = (octets(t.src), octets(t.dst));
    let ports = matches!(t.proto, TCP | UDP | SCTP | ICMP | ICMPV6);
    let (sport, dport, one_way) = match t.proto {
        ICMP | ICMPV6 => {
            let ty = t.src_port as u8;
            let counterpart = if t.proto == ICMP {
                icmp_counterpart(ty)
            } else {
                icmpv6_counterpart(ty)
            };
            match counterpart {
                Some(c) => (u16::from(ty), u16::from(c), false),
                None => (u16::from(ty), t.dst_port, true),
            }
        }
        _ => (t.src_port, t.dst_port, false),
    };
    let ordered = one_way || (src.as_slice(), sport) < (dst.as_slice(), dport);
    let (a, b, pa, pb) = if ordered {
        (src, dst, sport, dport)
    } else {
        (dst, src, dport, sport)
    };
    let mut out = Vec::with_capacity(2 + 32 + 2 + 4);
    out.extend_from_slice(&seed.to_be_bytes());
    out.extend_from_slice(&a);
    out.extend_from_slice(&b);
    out.push(t.proto);
    out.push(0);
    if ports {
        out.extend_from_slice(&pa.to_be_bytes());
        out.extend_from_slice(&pb.to_be_bytes());
    }
    out
}

/// The Community ID v1 of the flow, seed `seed` (0 unless every sensor agrees on another).
pub fn community_id(t: &FlowTuple, seed: u16) -> String {
    let digest = Sha1::digest(hash_input(t, seed));
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// A numeric flow id: the same for both directions of a flow (the Community ID's ordered
/// tuple, seed 0, hashed), below 2^53 so that every JSON reader keeps it exact. Like
/// Suricata's `flow_id` it ties together the events of one flow; unlike it, it names the
/// 5-tuple, not one connection: a later connection reusing the same ports has the same id.
pub fn flow_id(t: &FlowTuple) -> u64 {
    let digest = Sha1::digest(hash_input(t, 0));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) & ((1 << 53) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's published baseline (baseline/README.md of corelight/community-id-spec,
    /// "Default settings" and "Seed 1"): protocol, source, destination, source port (ICMP
    /// type), destination port (ICMP code), seed, Community ID.
    /// Protocol, source, destination, source port, destination port, seed, Community ID.
    type Vector = (
        u8,
        &'static str,
        &'static str,
        Option<u16>,
        Option<u16>,
        u16,
        &'static str,
    );

    const BASELINE: &[Vector] = &[
        (
            6,
            "1.2.3.4",
            "5.6.7.8",
            Some(1122),
            Some(3344),
            0,
            "1:wCb3OG7yAFWelaUydu0D+125CLM=",
        ),
        (
            6,
            "5.6.7.8",
            "1.2.3.4",
            Some(3344),
            Some(1122),
            0,
            "1:wCb3OG7yAFWelaUydu0D+125CLM=",
        ),
        (
            17,
            "1.2.3.4",
            "5.6.7.8",
            Some(1122),
            Some(3344),
            0,
            "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
        ),
        (
            17,
            "5.6.7.8",
            "1.2.3.4",
            Some(3344),
            Some(1122),
            0,
            "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
        ),
        (
            132,
            "1.2.3.4",
            "5.6.7.8",
            Some(1122),
            Some(3344),
            0,
            "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=",
        ),
        (
            132,
            "5.6.7.8",
            "1.2.3.4",
            Some(3344),
            Some(1122),
            0,
            "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=",
        ),
        (
            1,
            "1.2.3.4",
            "5.6.7.8",
            Some(8),
            Some(0),
            0,
            "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=",
        ),
        (
            1,
            "5.6.7.8",
            "1.2.3.4",
            Some(0),
            Some(0),
            0,
            "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=",
        ),
        (
            1,
            "1.2.3.4",
            "5.6.7.8",
            Some(11),
            Some(0),
            0,
            "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=",
        ),
        (
            58,
            V6A,
            V6B,
            Some(128),
            Some(0),
            0,
            "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=",
        ),
        (
            58,
            V6B,
            V6A,
            Some(129),
            Some(0),
            0,
            "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=",
        ),
        (
            58,
            V6A,
            V6B,
            Some(146),
            Some(0),
            0,
            "1:fYC8+pz24E+EhANP1EZhpX0Dw10=",
        ),
        (
            46,
            "1.2.3.4",
            "5.6.7.8",
            None,
            None,
            0,
            "1:ikv3kmf89luf73WPz1jOs49S768=",
        ),
        (
            46,
            "5.6.7.8",
            "1.2.3.4",
            None,
            None,
            0,
            "1:ikv3kmf89luf73WPz1jOs49S768=",
        ),
        (
            46,
            V6A,
            V6B,
            None,
            None,
            0,
            "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=",
        ),
        (
            46,
            V6B,
            V6A,
            None,
            None,
            0,
            "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=",
        ),
        (
            6,
            "1.2.3.4",
            "5.6.7.8",
            Some(1122),
            Some(3344),
            1,
            "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=",
        ),
        (
            6,
            "5.6.7.8",
            "1.2.3.4",
            Some(3344),
            Some(1122),
            1,
            "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=",
        ),
        (
            17,
            "1.2.3.4",
            "5.6.7.8",
            Some(1122),
            Some(3344),
            1,
            "1:OShq+iKDAMVouh/4bMxB9Sz4amw=",
        ),
        (
            132,
            "5.6.7.8",
            "1.2.3.4",
            Some(3344),
            Some(1122),
            1,
            "1:uitchpn5MMGAQKBJh7bIr/bAr7s=",
        ),
        (
            1,
            "1.2.3.4",
            "5.6.7.8",
            Some(8),
            Some(0),
            1,
            "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=",
        ),
        (
            1,
            "5.6.7.8",
            "1.2.3.4",
            Some(0),
            Some(0),
            1,
            "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=",
        ),
        (
            1,
            "1.2.3.4",
            "5.6.7.8",
            Some(11),
            Some(0),
            1,
            "1:1DD7cWGC/Yg91YGsQeni8du3pIA=",
        ),
        (
            58,
            V6B,
            V6A,
            Some(129),
            Some(0),
            1,
            "1:IO27GQzPuCtNnwFvjWALMHu5tJE=",
        ),
        (
            58,
            V6A,
            V6B,
            Some(146),
            Some(0),
            1,
            "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s=",
        ),
        (
            46,
            "5.6.7.8",
            "1.2.3.4",
            None,
            None,
            1,
            "1:/buhqeOmaRCopOZFy9HnoJd5XW8=",
        ),
        (
            46,
            V6A,
            V6B,
            None,
            None,
            1,
            "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=",
        ),
    ];
    const V6A: &str = "fe80:0001:0203:0405:0607:0809:0A0B:0C0D";
    const V6B: &str = "fe80:1011:1213:1415:1617:1819:1A1B:1C1D";

    fn tuple(proto: u8, src: &str, dst: &str, sport: Option<u16>, dport: Option<u16>) -> FlowTuple {
        FlowTuple {
            src: src.parse().expect("address"),
            dst: dst.parse().expect("address"),
            proto,
            src_port: sport.unwrap_or(0),
            dst_port: dport.unwrap_or(0),
        }
    }

    #[test]
    fn the_spec_baseline_hashes_as_published() {
        for &(proto, src, dst, sport, dport, seed, want) in BASELINE {
            let t = tuple(proto, src, dst, sport, dport);
            assert_eq!(community_id(&t, seed), want, "{t:?} seed {seed}");
        }
    }

    #[test]
    fn flow_id_is_the_same_both_ways_and_differs_between_flows() {
        let out = tuple(6, "10.20.0.2", "10.30.0.2", Some(40000), Some(502));
        let back = tuple(6, "10.30.0.2", "10.20.0.2", Some(502), Some(40000));
        let other = tuple(6, "10.20.0.2", "10.30.0.2", Some(40001), Some(502));
        assert_eq!(flow_id(&out), flow_id(&back));
        assert_ne!(flow_id(&out), flow_id(&other));
        assert!(flow_id(&out) < 1 << 53);
        // Echo request and reply are one flow; a one-way message is not reordered.
        let echo = tuple(1, "10.0.0.1", "10.0.0.2", Some(8), Some(0));
        let reply = tuple(1, "10.0.0.2", "10.0.0.1", Some(0), Some(0));
        assert_eq!(flow_id(&echo), flow_id(&reply));
        assert_eq!(community_id(&echo, 0), community_id(&reply, 0));
    }
}
