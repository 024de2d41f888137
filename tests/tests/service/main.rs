//! zcfw run like a production gateway service: reloads under continuous traffic, SIGKILL and
//! restart (fail closed, adoption without a gap), invalid policies on reload and at start,
//! island mode, per-source rate limits, several instances side by side, and `zcfw detach`
//! leaving nothing behind.
//!
//! Pinned state lives on a BPF filesystem mounted in the root mount namespace
//! ([`zcfw_harness::service::test_bpffs`]), one pin directory per test; every guard cleans
//! up on drop, also when a test fails.
//!
//! Traffic in every test, and what it proves:
//! - allowed: dmz → control udp/9000-9001 and tcp/5020, enterprise → dmz ICMP echo (and
//!   tcp/8080); policy "A" of the reload test also enterprise → dmz udp/7000-7001;
//! - denied: enterprise → control (no conduit at all), control → dmz.

mod control;
mod fixture;
mod instances;
mod invalid;
mod island;
mod rate_limit;
mod reload;
mod restart;
mod upgrade;
