//! zcfw: an IEC 62443 zone-and-conduit firewall. The data flows one way through these
//! modules: YAML → [`policy`] (validated model) → [`compile`] (map entries) → [`dataplane`]
//! (kernel maps, XDP) → counters → [`daemon`] / [`cli`].

pub mod audit;
pub mod cli;
pub mod compile;
pub mod control;
pub mod daemon;
pub mod dataplane;
pub mod learn;
pub mod policy;
