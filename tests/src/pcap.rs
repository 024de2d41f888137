//! Packet captures on the hosts of a plant, read back with tshark: what each end of a
//! connection saw on its own wire (checksums, TCP analysis, protocol fields), independent of
//! what zcfw or the peers report.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use crate::{cmd::wait_or_kill, netns::Netns};

/// A `tcpdump` writing the frames of `filter` on one interface of a namespace to a pcap file;
/// stopped (SIGINT, so the file is complete) by [`Tcpdump::stop`], killed on drop.
#[derive(Debug)]
pub struct Tcpdump {
    child: Option<Child>,
    path: PathBuf,
    log: PathBuf,
}

impl Tcpdump {
    /// Starts capturing on `ifname` in `ns` into `path` (whole frames, written as they come)
    /// and returns once tcpdump says it is listening.
    pub fn start(ns: &Netns, ifname: &str, filter: &str, path: &Path) -> Result<Tcpdump> {
        let log = path.with_extension("log");
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = ns
            .command("tcpdump")
            .args([
                "-i",
                ifname,
                "-n",
                "--immediate-mode",
                "-U",
                "-s",
                "0",
                "-w",
            ])
            .arg(path)
            .arg(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .context("starting tcpdump (apt-get install tcpdump, or `cargo xtask setup`)")?;
        let dump = Tcpdump {
            child: Some(child),
            path: path.to_path_buf(),
            log,
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if std::fs::read_to_string(&dump.log).is_ok_and(|l| l.contains("listening on")) {
                return Ok(dump);
            }
            thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "tcpdump on {ifname} in {} did not start listening within 10 s: {}",
            ns.name(),
            std::fs::read_to_string(&dump.log).unwrap_or_default()
        )
    }

    /// Stops the capture and returns the pcap file.
    pub fn stop(mut self) -> Result<PathBuf> {
        if let Some(mut child) = self.child.take() {
            // Let the last frames reach the file before the interrupt.
            thread::sleep(Duration::from_millis(200));
            let pid = Pid::from_raw(child.id() as i32);
            kill(pid, Signal::SIGINT).context("interrupting tcpdump")?;
            if wait_or_kill(&mut child, Duration::from_secs(10))?.is_none() {
                bail!("tcpdump did not stop within 10 s of SIGINT");
            }
        }
        Ok(self.path.clone())
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The fields `fields` of every frame of the capture `pcap` that matches the tshark display
/// filter `filter`, with IP and TCP checksums verified (so `tcp.checksum.status` and
/// `ip.checksum.status` say "Bad" for a wrong one).
pub fn tshark_fields(pcap: &Path, filter: &str, fields: &[&str]) -> Result<Vec<Vec<String>>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(pcap)
        .args([
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
        ])
        .args(["-Y", filter, "-T", "fields", "-E", "separator=\t"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = crate::service::capture(&mut cmd, Duration::from_secs(60))
        .context("running tshark (apt-get install tshark, or `cargo xtask setup`)")?;
    if !out.success() {
        bail!(
            "tshark -r {} -Y {filter:?}: {}",
            pcap.display(),
            out.output()
        );
    }
    Ok(out
        .stdout
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect())
}

/// How many frames of `pcap` match `filter`.
pub fn tshark_count(pcap: &Path, filter: &str) -> Result<usize> {
    Ok(tshark_fields(pcap, filter, &["frame.number"])?.len())
}

/// The sum of field `field` (a number) over the frames of `pcap` that match `filter`.
pub fn tshark_sum(pcap: &Path, filter: &str, field: &str) -> Result<u64> {
    tshark_fields(pcap, filter, &[field])?
        .iter()
        .map(|row| {
            let v = row.first().map_or("", String::as_str);
            v.parse::<u64>()
                .with_context(|| format!("{field} of a frame of {} is {v:?}", pcap.display()))
        })
        .sum()
}

/// The tshark display filter of the TCP analysis findings that mean a peer saw the stream
/// break: lost or unseen segments, retransmissions, reordering, duplicate ACKs, ACKs of
/// data never sent.
pub const TCP_TROUBLE: &str = "tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment \
     || tcp.analysis.retransmission || tcp.analysis.fast_retransmission \
     || tcp.analysis.spurious_retransmission || tcp.analysis.out_of_order \
     || tcp.analysis.duplicate_ack";

/// The display filter of frames whose IP or TCP checksum is wrong.
pub const BAD_CHECKSUM: &str = "tcp.checksum.status == \"Bad\" || ip.checksum.status == \"Bad\"";

/// Writes `frames` (Ethernet) to a classic pcap file at `path`, one millisecond apart: hand-made
/// traffic that tshark then decodes like a capture.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) -> Result<()> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (i, frame) in frames.iter().enumerate() {
        let len = u32::try_from(frame.len()).context("frame too long for pcap")?;
        let usec = u32::try_from(i).unwrap_or(u32::MAX).saturating_mul(1000);
        out.extend_from_slice(&(usec / 1_000_000).to_le_bytes());
        out.extend_from_slice(&(usec % 1_000_000).to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(frame);
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// One TCP connection from 10.0.0.1 to 10.0.0.2:`port` as Ethernet frames: the handshake,
/// then each `(from_client, payload)` as one segment with sequence and acknowledgement numbers
/// continuing per direction, so tshark reassembles and decodes it as the port's protocol.
pub fn tcp_conversation(port: u16, segments: &[(bool, Vec<u8>)]) -> Vec<Vec<u8>> {
    use firewall_common::pktgen;
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    let (client, server) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let cport = 40000;
    let (mut cseq, mut sseq) = (1000u32, 5000u32);
    let frame = |from_client: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]| {
        let (src, dst, sp, dp) = if from_client {
            (client, server, cport, port)
        } else {
            (server, client, port, cport)
        };
        pktgen::host_frame(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            std::net::IpAddr::from(src),
            std::net::IpAddr::from(dst),
            pktgen::tcp_seq(sp, dp, seq, ack, flags, payload),
        )
    };
    let mut out = vec![
        frame(true, cseq, 0, SYN, &[]),
        frame(false, sseq, cseq + 1, SYN | ACK, &[]),
        frame(true, cseq + 1, sseq + 1, ACK, &[]),
    ];
    cseq += 1;
    sseq += 1;
    for (from_client, payload) in segments {
        if *from_client {
            out.push(frame(true, cseq, sseq, PSH | ACK, payload));
            cseq = cseq.wrapping_add(payload.len() as u32);
        } else {
            out.push(frame(false, sseq, cseq, PSH | ACK, payload));
            sseq = sseq.wrapping_add(payload.len() as u32);
        }
    }
    out
}
