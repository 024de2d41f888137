//! What the program decided about a packet: [`firewall_common::decision`] (shared so its
//! packing and monitor mode are unit-tested on the host).

pub use firewall_common::decision::*;
