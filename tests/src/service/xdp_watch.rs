//! [`XdpWatch`]: samples `ip -d link` to catch a moment without XDP.

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use anyhow::Result;

use super::{clock::now, kernel::xdp_prog_id};
use crate::{daemon::has_xdp, netns::Netns};

/// Samples `ip -d link` of the gateway's interfaces as fast as `ip` runs, to catch any
/// moment in which one of them carries no XDP program.
#[derive(Debug)]
pub struct XdpWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<XdpSamples>>,
}

/// What an [`XdpWatch`] saw.
#[derive(Clone, Debug, Default)]
pub struct XdpSamples {
    /// Samples taken (one `ip` call each, covering every interface).
    pub samples: u64,
    /// Samples in which an interface had no XDP: (time, interface).
    pub gaps: Vec<(Duration, String)>,
    /// Every distinct program id seen, in order of first sight.
    pub prog_ids: Vec<u32>,
    pub errors: Vec<String>,
}

impl XdpWatch {
    pub fn start(gateway: &Netns, interfaces: &[String]) -> Result<XdpWatch> {
        let ns = gateway.name().to_string();
        let interfaces = interfaces.to_vec();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            thread::Builder::new()
                .name(format!("xdp watch {ns}"))
                .spawn(move || {
                    let mut s = XdpSamples::default();
                    while !stop.load(Ordering::Relaxed) {
                        let out = crate::cmd::run(
                            Command::new("ip").args(["-n", &ns, "-d", "-o", "link", "show"]),
                        );
                        let t = now();
                        let text = match out {
                            Ok(t) => t,
                            Err(e) => {
                                if s.errors.len() < 5 {
                                    s.errors.push(format!("{e:#}"));
                                }
                                continue;
                            }
                        };
                        s.samples += 1;
                        for ifname in &interfaces {
                            // `-o`: one line per link, "N: name@peer: <...> ...".
                            let line = text.lines().find(|l| {
                                l.split_whitespace().nth(1).is_some_and(|n| {
                                    n.trim_end_matches(':').split('@').next() == Some(ifname)
                                })
                            });
                            match line {
                                Some(l) if has_xdp(l) => {
                                    if let Some(id) = xdp_prog_id(l)
                                        && !s.prog_ids.contains(&id)
                                    {
                                        s.prog_ids.push(id);
                                    }
                                }
                                _ => s.gaps.push((t, ifname.clone())),
                            }
                        }
                    }
                    s
                })?
        };
        Ok(XdpWatch {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) -> XdpSamples {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for XdpWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
