//! Harness for zcfw's network-namespace end-to-end tests and for `zcfw-demo`.
//!
//! Everything here is a guard that cleans up in `Drop`, also when a test panics:
//!
//! - [`Netns`]: a named network namespace (`ip netns add`), deleted on drop; closures run
//!   inside it on a thread that `setns()`ed into it ([`Netns::run`]), so sockets, pings and
//!   raw frames need no external tool and keep exact control of addresses and ports.
//! - [`Veth`] and [`Plant`]: a gateway namespace that routes between one host namespace per
//!   [`Zone`] (enterprise, dmz, control; IPv4 and IPv6).
//! - [`bridge::BridgePlant`]: the same hosts' roles on one subnet behind the ports of a
//!   Linux bridge (zcfw as a bump in the wire, attached to the member ports).
//! - [`Daemon`]: `zcfw run` inside the gateway namespace; stopped with SIGTERM on drop, which
//!   then checks that XDP is gone from the gateway's interfaces.
//! - [`traffic`]: ping, TCP echo, UDP request/reply, echo servers.
//! - [`packet`]: hand-built Ethernet frames (forged replies, spoofed sources; built by
//!   `firewall_common::pktgen`) sent and captured with `AF_PACKET`.
//! - [`pinned`]: zcfw's pinned maps and loaded programs read with aya and the
//!   `firewall_common` value types.
//! - [`cmd`]: external commands and child processes, every wait bounded.
//!
//! Names are unique per test ([`Names::unique`]: test tag + pid + counter), so tests run in
//! parallel; namespaces all start with `zcfw-`.

pub mod bacnet;
pub mod bridge;
pub mod cmd;
pub mod daemon;
pub mod dnp3;
pub mod enip;
pub mod iec104;
pub mod inspection;
pub mod json_peer;
pub mod modbus;
pub mod names;
pub mod netns;
pub mod observe;
pub mod one_connection;
pub mod opcua;
pub mod packet;
pub mod pcap;
pub mod pinned;
pub mod plant;
pub mod s7comm;
pub mod service;
pub mod tempdir;
pub mod traffic;
pub mod user;
pub mod xdp_pass;

pub use daemon::{Daemon, Stats, zcfw_bin};
pub use names::Names;
pub use netns::Netns;
pub use plant::{Family, Host, Plant, Veth, XdpMode, Zone};
pub use tempdir::TempDir;
pub use user::{TestGroup, TestUser};
