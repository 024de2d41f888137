//! [`TcpFlow`]: a paced, sequence-checked echo over one TCP connection.

use std::{
    io::{ErrorKind, Read, Write},
    net::{Shutdown, SocketAddr, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::Result;
use socket2::SockRef;

use super::clock::{now, sleep_until};
use crate::{netns::Netns, traffic};

/// What a [`TcpFlow`] saw.
#[derive(Clone, Debug, Default)]
pub struct TcpReport {
    /// Records written and records echoed back.
    pub sent: u64,
    pub echoed: u64,
    /// Records that came back out of sequence (corruption or loss: TCP is ordered).
    pub out_of_order: u64,
    /// Longest time without an echoed record while records were outstanding.
    pub max_stall: Duration,
    /// The connection ended cleanly (EOF after everything was echoed).
    pub clean_close: bool,
    pub error: Option<String>,
}

impl std::fmt::Display for TcpReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} records echoed, {} out of order, longest stall {:?}, clean close {}{}",
            self.echoed,
            self.sent,
            self.out_of_order,
            self.max_stall,
            self.clean_close,
            self.error
                .as_ref()
                .map(|e| format!(", error: {e}"))
                .unwrap_or_default()
        )
    }
}

#[derive(Debug, Default)]
struct TcpShared {
    out_of_order: u64,
    max_stall: Duration,
    clean_close: bool,
    error: Option<String>,
}

/// One TCP connection to an echo server carrying paced 16-byte records (sequence number,
/// send time) for as long as it runs; the reader checks that every record comes back in
/// sequence.
#[derive(Debug)]
pub struct TcpFlow {
    stream: TcpStream,
    stop: Arc<AtomicBool>,
    stop_reader: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    echoed: Arc<AtomicU64>,
    shared: Arc<Mutex<TcpShared>>,
    writer: Option<JoinHandle<()>>,
    reader: Option<JoinHandle<()>>,
}

const RECORD: usize = 16;

impl TcpFlow {
    /// Connects from `ns` to the echo server `dst` and writes `rate` records per second.
    pub fn start(ns: &Netns, dst: SocketAddr, rate: u32) -> Result<TcpFlow> {
        let stream = traffic::tcp_connect(ns, None, dst, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(Duration::from_millis(200)))?;
        stream.set_read_timeout(Some(Duration::from_millis(20)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_reader = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let echoed = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Mutex::new(TcpShared::default()));
        let interval = Duration::from_secs(1) / rate.max(1);
        let writer = {
            let mut w = stream.try_clone()?;
            let stop = stop.clone();
            let sent = sent.clone();
            let shared = shared.clone();
            thread::Builder::new()
                .name(format!("tcp flow -> {dst}"))
                .spawn(move || {
                    let start = now();
                    let mut seq: u64 = 0;
                    'outer: while !stop.load(Ordering::Relaxed) {
                        sleep_until(start + interval * seq as u32);
                        let mut rec = [0u8; RECORD];
                        rec[..8].copy_from_slice(&seq.to_be_bytes());
                        rec[8..].copy_from_slice(&(now().as_nanos() as u64).to_be_bytes());
                        let mut off = 0;
                        while off < RECORD {
                            match w.write(&rec[off..]) {
                                Ok(n) => off += n,
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        ErrorKind::WouldBlock | ErrorKind::TimedOut
                                    ) =>
                                {
                                    if stop.load(Ordering::Relaxed) && off == 0 {
                                        break 'outer;
                                    }
                                }
                                Err(e) => {
                                    if let Ok(mut s) = shared.lock() {
                                        s.error.get_or_insert_with(|| format!("writing: {e}"));
                                    }
                                    return;
                                }
                            }
                        }
                        seq += 1;
                        sent.store(seq, Ordering::Relaxed);
                    }
                    let _ = w.shutdown(Shutdown::Write);
                })?
        };
        let reader = {
            let mut r = stream.try_clone()?;
            let stop = stop_reader.clone();
            let sent = sent.clone();
            let echoed = echoed.clone();
            let shared = shared.clone();
            thread::Builder::new()
                .name(format!("tcp flow <- {dst}"))
                .spawn(move || {
                    let mut pending = Vec::new();
                    let mut buf = [0u8; 4096];
                    let mut expected: u64 = 0;
                    let mut last_progress = Instant::now();
                    let mut max_stall = Duration::ZERO;
                    let finish = |s: &Mutex<TcpShared>, f: &dyn Fn(&mut TcpShared)| {
                        if let Ok(mut s) = s.lock() {
                            f(&mut s);
                        }
                    };
                    while !stop.load(Ordering::Relaxed) {
                        // Outstanding records and no progress: that is a stall.
                        if sent.load(Ordering::Relaxed) > expected {
                            max_stall = max_stall.max(last_progress.elapsed());
                        } else {
                            last_progress = Instant::now();
                        }
                        match r.read(&mut buf) {
                            Ok(0) => {
                                finish(&shared, &|s| {
                                    s.clean_close = pending.is_empty();
                                    s.max_stall = max_stall;
                                });
                                return;
                            }
                            Ok(n) => {
                                pending.extend_from_slice(&buf[..n]);
                                let whole = pending.len() / RECORD * RECORD;
                                for rec in pending[..whole].chunks(RECORD) {
                                    let seq = u64::from_be_bytes(rec[..8].try_into().expect("8"));
                                    if seq != expected {
                                        finish(&shared, &|s| s.out_of_order += 1);
                                    }
                                    expected = seq + 1;
                                    echoed.fetch_add(1, Ordering::Relaxed);
                                }
                                pending.drain(..whole);
                                max_stall = max_stall.max(last_progress.elapsed());
                                last_progress = Instant::now();
                            }
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                                ) => {}
                            Err(e) => {
                                finish(&shared, &|s| {
                                    s.error.get_or_insert_with(|| format!("reading: {e}"));
                                    s.max_stall = max_stall;
                                });
                                return;
                            }
                        }
                    }
                    finish(&shared, &|s| s.max_stall = max_stall);
                })?
        };
        Ok(TcpFlow {
            stream,
            stop,
            stop_reader,
            sent,
            echoed,
            shared,
            writer: Some(writer),
            reader: Some(reader),
        })
    }

    /// Records written so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Records echoed back so far.
    pub fn echoed(&self) -> u64 {
        self.echoed.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` until more than `n` records have come back.
    pub fn wait_echoed_beyond(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.echoed() > n {
                return true;
            }
            thread::sleep(Duration::from_millis(5));
        }
        self.echoed() > n
    }

    /// Stops writing, closes the write side and waits up to `timeout` for every record and
    /// the server's EOF; a connection that does not finish in time is reset.
    pub fn finish(mut self, timeout: Duration) -> TcpReport {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline && !self.reader.as_ref().is_some_and(|r| r.is_finished()) {
            thread::sleep(Duration::from_millis(5));
        }
        self.stop_reader.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let s = self
            .shared
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        let report = TcpReport {
            sent: self.sent(),
            echoed: self.echoed(),
            out_of_order: s.out_of_order,
            max_stall: s.max_stall,
            clean_close: s.clean_close,
            error: s.error,
        };
        if !report.clean_close {
            let _ = SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        }
        report
    }
}

impl Drop for TcpFlow {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.stop_reader.store(true, Ordering::Relaxed);
        if self.writer.is_some() || self.reader.is_some() {
            // Not finished: reset rather than leave a socket retransmitting.
            let _ = SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
            let _ = self.stream.shutdown(Shutdown::Both);
        }
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}
