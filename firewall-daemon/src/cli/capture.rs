//! `zcfw capture`: the frames the data path denied (or let pass as alerts), from the running
//! daemon, as pcapng (`-w FILE`, `-w -` for stdout) or one line per frame. `tcpdump` cannot
//! show them: XDP drops a frame before any socket sees it. docs/capture.md.

use std::{borrow::Cow, collections::HashMap, io::Write, path::PathBuf, time::Duration};

use anyhow::{Context, Result, bail};
use firewall_common::{capture::SNAPLEN, reason::Reason};
use pcap_file::{
    DataLink,
    pcapng::{
        PcapNgWriter,
        blocks::{
            enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption},
            interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
        },
    },
};

use super::{EXIT_ERROR, EXIT_OK, SocketArgs, print_error};
use crate::control::{
    self,
    capture::{CaptureLine, CapturedFrame},
};

#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Write the frames as pcapng to FILE (`-` = stdout, e.g. `zcfw capture -w - | tshark -r -`),
    /// each with what zcfw did and why in its packet comment. Without it, one line per frame.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Only frames denied for this reason (as `zcfw stats` names it; repeatable).
    #[arg(long, value_name = "REASON")]
    pub reason: Vec<String>,
    /// Stop after this many frames (default: until interrupted).
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// Bytes of each frame to keep, 1 to 256 (the data path copies at most 256).
    #[arg(short = 's', long, value_name = "BYTES", default_value_t = SNAPLEN,
          value_parser = clap::value_parser!(u32).range(1..=SNAPLEN as i64))]
    pub snaplen: u32,
}

pub fn run(args: &CaptureArgs) -> u8 {
    match capture(args) {
        Ok(()) => EXIT_OK,
        Err(err) => {
            print_error(&err);
            EXIT_ERROR
        }
    }
}

fn capture(args: &CaptureArgs) -> Result<()> {
    for r in &args.reason {
        if !Reason::ALL.iter().any(|known| known.name() == r) {
            let names: Vec<&str> = Reason::ALL
                .iter()
                .filter(|r| !r.passes())
                .map(|r| r.name())
                .collect();
            bail!(
                "--reason {r}: no such reason; denied frames carry one of: {}",
                names.join(", ")
            );
        }
    }
    let mut sink = match &args.write {
        None => Sink::Text(Box::new(std::io::stdout())),
        Some(path) if path.as_os_str() == "-" => Sink::pcapng(Box::new(std::io::stdout()))?,
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            Sink::pcapng(Box::new(file))?
        }
    };
    let lines = control::capture(&args.socket.socket)?;
    eprintln!(
        "zcfw capture: copying denied frames (first {} bytes){}; Ctrl-C stops",
        args.snaplen,
        match args.count {
            Some(n) => format!(", stopping after {n}"),
            None => String::new(),
        }
    );
    let mut written = 0u64;
    let mut missed = 0u64;
    for line in lines {
        if args.count.is_some_and(|n| written >= n) {
            break;
        }
        let frame = match serde_json::from_str::<CaptureLine>(&line) {
            Ok(CaptureLine::Frame(frame)) => frame,
            Ok(CaptureLine::Missed { missed_frames }) => {
                missed += missed_frames;
                eprintln!("zcfw capture: {missed_frames} frames missed (this client was too slow)");
                continue;
            }
            Err(err) => {
                bail!("the daemon sent a capture line this zcfw cannot read ({err}): {line}")
            }
        };
        if !args.reason.is_empty() && !args.reason.contains(&frame.reason) {
            continue;
        }
        match sink.write(&frame, args.snaplen) {
            Ok(()) => written += 1,
            // stdout closed (piped into head, or tshark exited).
            Err(err) if is_broken_pipe(&err) => break,
            Err(err) => return Err(err),
        }
        if args.count.is_some_and(|n| written >= n) {
            break;
        }
    }
    eprintln!(
        "zcfw capture: {written} frames{}",
        if missed > 0 {
            format!(", {missed} missed")
        } else {
            String::new()
        }
    );
    Ok(())
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<pcap_file::PcapError>().is_some_and(|e| {
                matches!(e, pcap_file::PcapError::IoError(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
            })
    })
}

/// Where the frames go.
enum Sink {
    Text(Box<dyn Write>),
    PcapNg {
        writer: PcapNgWriter<Box<dyn Write>>,
        /// Interface name → its interface id in the section.
        interfaces: HashMap<String, u32>,
    },
}

impl Sink {
    fn pcapng(out: Box<dyn Write>) -> Result<Sink> {
        let writer = PcapNgWriter::new(out).context("cannot write the pcapng section header")?;
        Ok(Sink::PcapNg {
            writer,
            interfaces: HashMap::new(),
        })
    }

    fn write(&mut self, frame: &CapturedFrame, snaplen: u32) -> Result<()> {
        match self {
            Sink::Text(out) => {
                writeln!(out, "{}", render(frame))?;
                out.flush()?;
            }
            Sink::PcapNg { writer, interfaces } => {
                let mut data = frame.bytes().with_context(|| {
                    format!("the daemon sent a frame that is not hex: {}", frame.data)
                })?;
                data.truncate(snaplen as usize);
                let next = interfaces.len() as u32;
                let interface_id = match interfaces.get(&frame.interface) {
                    Some(&id) => id,
                    None => {
                        // Timestamps in nanoseconds (the writer stores them so).
                        writer
                            .write_pcapng_block(InterfaceDescriptionBlock {
                                linktype: DataLink::ETHERNET,
                                snaplen,
                                options: vec![
                                    InterfaceDescriptionOption::IfName(Cow::Owned(
                                        frame.interface.clone(),
                                    )),
                                    InterfaceDescriptionOption::IfTsResol(9),
                                ],
                            })
                            .context("cannot write a pcapng interface block")?;
                        interfaces.insert(frame.interface.clone(), next);
                        next
                    }
                };
                writer
                    .write_pcapng_block(EnhancedPacketBlock {
                        interface_id,
                        timestamp: Duration::from_nanos(frame.time_ns),
                        original_len: frame.len,
                        data: Cow::Owned(data),
                        options: vec![EnhancedPacketOption::Comment(Cow::Owned(frame.comment()))],
                    })
                    .context("cannot write a pcapng packet block")?;
                writer.get_mut().flush()?;
            }
        }
        Ok(())
    }
}

/// One line per frame: time, what and why, then the first bytes' summary.
pub fn render(frame: &CapturedFrame) -> String {
    let secs = frame.time_ns / 1_000_000_000;
    let time = time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string());
    let addresses = frame
        .bytes()
        .and_then(|b| crate::daemon::ip_addresses(&b))
        .map(|(src, dst)| format!(" {src} -> {dst}"))
        .unwrap_or_default();
    format!("{time} {} len {}{addresses}", frame.comment(), frame.len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_output_reads_back_with_its_comments() {
        let frame = CapturedFrame {
            time_ns: 1_700_000_000_123_456_789,
            interface: "eth0".into(),
            len: 1514,
            action: "drop".into(),
            reason: "default_deny".into(),
            conduit: None,
            src_zone: Some("office".into()),
            dst_zone: Some("plant".into()),
            generation: 2,
            data: "00".repeat(256),
        };
        let buf = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.borrow_mut().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut sink = Sink::pcapng(Box::new(Shared(buf.clone()))).unwrap();
        sink.write(&frame, 64).unwrap();
        sink.write(&frame, 64).unwrap();
        let bytes = buf.borrow().clone();
        let mut reader = pcap_file::pcapng::PcapNgReader::new(&bytes[..]).unwrap();
        let mut packets = 0;
        let mut interfaces = 0;
        while let Some(block) = reader.next_block() {
            match block.unwrap() {
                pcap_file::pcapng::Block::InterfaceDescription(_) => interfaces += 1,
                pcap_file::pcapng::Block::EnhancedPacket(p) => {
                    packets += 1;
                    assert_eq!(p.original_len, 1514);
                    assert_eq!(p.data.len(), 64);
                    assert_eq!(p.timestamp, Duration::from_nanos(frame.time_ns));
                    assert_eq!(
                        p.options,
                        vec![EnhancedPacketOption::Comment(Cow::Owned(frame.comment()))]
                    );
                }
                _ => {}
            }
        }
        assert_eq!(
            (interfaces, packets),
            (1, 2),
            "one interface block, then the frames"
        );
    }
}
