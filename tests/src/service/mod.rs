//! zcfw run like a production gateway service: pinned state that outlives the daemon, the
//! daemon killed, restarted, reloaded and detached, and continuous traffic that counts
//! every packet while that happens.
//!
//! - [`test_bpffs`]: a BPF filesystem mounted once in the *root* mount namespace, outside
//!   `/sys` (`/run/zcfw-test-bpffs`). `ip netns exec` gives the daemon a private mount
//!   namespace with `/sys` remounted, so pins under `/sys/fs/bpf` would die with the daemon;
//!   pins here survive it, which is the point of the fail-closed tests.
//! - [`Service`]: one installed zcfw instance on a gateway (policy file, socket, log, its own
//!   pin directory); daemons come and go (`start`, `kill`, `terminate`, `run_to_exit`), and
//!   dropping it kills the daemon and runs `zcfw detach --pin-dir`, also on panic.
//! - Streams that run while the gateway changes under them: [`UdpSource`] → [`UdpSink`]
//!   (sequence-numbered, time-stamped datagrams), [`PingStream`] (echo requests at a fixed
//!   rate, like `ping -i 0.01`), [`TcpFlow`] (a paced, sequence-checked echo over one
//!   connection), [`XdpWatch`] (samples `ip -d link` to catch an XDP gap).

mod bpffs;
mod capture;
mod clock;
mod instance;
mod kernel;
mod ping;
mod tcp;
mod udp;
mod xdp_watch;

pub use bpffs::{TEST_BPFFS, test_bpffs};
pub use capture::{CLIENT_TIMEOUT, Captured, capture};
pub use clock::now;
pub use instance::{Live, Service, Status};
pub use kernel::{TcpCounters, xdp_prog_id};
pub use ping::PingStream;
pub use tcp::{TcpFlow, TcpReport};
pub use udp::{Arrival, Delivery, Sent, UdpSink, UdpSource};
pub use xdp_watch::{XdpSamples, XdpWatch};
