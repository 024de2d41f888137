//! What operators and auditors see of a running zcfw: the daemon started with the flags of
//! the observability features (`--event-rate`, `--audit-log`, `--metrics-listen`), its events
//! (`zcfw events [--follow] --json`), `zcfw status/stats --json` as JSON values, and
//! Prometheus scrapes of `/metrics` from inside the gateway namespace.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::{
    cmd::{self, LineChild},
    daemon::{Daemon, START_TIMEOUT},
    netns::Netns,
    plant::Plant,
    tempdir::TempDir,
};

/// The extra `zcfw run` flags of an [`Observed`] daemon.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// `--event-rate N` (events per second per CPU; the daemon's default is 1000).
    pub event_rate: Option<u32>,
    /// `--audit-log DIR/audit.jsonl`.
    pub audit_log: bool,
    /// `--metrics-listen ADDR`, inside the gateway namespace.
    pub metrics_listen: Option<SocketAddr>,
    /// `--log-events` (every event also logged at INFO).
    pub log_events: bool,
}

/// `zcfw run --ephemeral --policy P --socket S [RunOptions]` in the gateway namespace: a
/// [`Daemon`] (SIGTERM on drop, then no gateway interface may carry XDP; the log tail is
/// printed if the test fails) with the observability flags and their helpers.
#[derive(Debug)]
pub struct Observed<'a> {
    daemon: Daemon<'a>,
    audit: Option<PathBuf>,
    metrics: Option<SocketAddr>,
    started: Instant,
}

impl<'a> Observed<'a> {
    /// Starts zcfw on every gateway interface of `plant` with the policy text `policy` and
    /// waits until it answers `stats` (and scrapes, with `metrics_listen`) with XDP attached.
    pub fn start(plant: &'a Plant, policy: &str, opts: &RunOptions) -> Result<Observed<'a>> {
        let dir = TempDir::new(&format!("{}-zcfw-obs", plant.names().file_stem()))?;
        let policy_file = dir.join("policy.yaml");
        std::fs::write(&policy_file, policy)?;
        let audit = opts.audit_log.then(|| dir.join("audit.jsonl"));
        let mut extra: Vec<OsString> = Vec::new();
        if let Some(rate) = opts.event_rate {
            extra.extend(["--event-rate".into(), rate.to_string().into()]);
        }
        if let Some(audit) = &audit {
            extra.extend(["--audit-log".into(), audit.clone().into_os_string()]);
        }
        if opts.log_events {
            extra.push("--log-events".into());
        }
        if let Some(addr) = opts.metrics_listen {
            extra.extend(["--metrics-listen".into(), addr.to_string().into()]);
        }
        let started = Instant::now();
        let daemon = Daemon::start_in(
            dir,
            plant.gateway(),
            &policy_file,
            &plant.gateway_interfaces(),
            &extra,
        )?;
        let observed = Observed {
            daemon,
            audit,
            metrics: opts.metrics_listen,
            started,
        };
        if observed.metrics.is_some() {
            let deadline = Instant::now() + START_TIMEOUT;
            while let Err(e) = observed.scrape("/metrics") {
                if Instant::now() >= deadline {
                    bail!(
                        "no metrics within {START_TIMEOUT:?}: {e:#}; log:\n{}",
                        observed.log_tail(40)
                    );
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(observed)
    }

    /// The control socket.
    pub fn socket(&self) -> &Path {
        self.daemon.socket()
    }

    /// The directory of the policy copy, socket, log and audit log.
    pub fn dir(&self) -> &Path {
        self.daemon.dir()
    }

    /// When the daemon was spawned (before it loaded anything).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Whether the daemon process is still running.
    pub fn is_running(&mut self) -> bool {
        self.daemon.is_running()
    }

    /// The last `lines` lines of the daemon's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.daemon.log_tail(lines)
    }

    /// `zcfw ARGS... --socket SOCK` with a timeout; its stdout.
    pub fn zcfw(&self, args: &[&str], timeout: Duration) -> Result<String> {
        cmd::run_with_timeout(
            Command::new(self.daemon.bin())
                .args(args)
                .arg("--socket")
                .arg(self.daemon.socket()),
            timeout,
        )
    }

    fn json(&self, command: &str) -> Result<Value> {
        let out = self.zcfw(&[command, "--json"], Duration::from_secs(5))?;
        serde_json::from_str(out.trim())
            .with_context(|| format!("zcfw {command} --json printed something else:\n{out}"))
    }

    /// `zcfw stats --json`.
    pub fn stats(&self) -> Result<Value> {
        self.json("stats")
    }

    /// `zcfw status --json`.
    pub fn status(&self) -> Result<Value> {
        self.json("status")
    }

    /// `zcfw events --json`: the recent events, oldest first, one JSON object each.
    pub fn events(&self) -> Result<Vec<Value>> {
        let out = self.zcfw(&["events", "--json"], Duration::from_secs(5))?;
        parse_lines(&out).context("zcfw events --json")
    }

    /// `zcfw events` (the human format).
    pub fn events_text(&self) -> Result<String> {
        self.zcfw(&["events"], Duration::from_secs(5))
    }

    /// Every event in the audit log file (empty if it does not exist yet).
    pub fn audit_events(&self) -> Result<Vec<Value>> {
        let path = self.audit.as_ref().context("started without --audit-log")?;
        if !path.exists() {
            return Ok(Vec::new());
        }
        let text = std::fs::read_to_string(path)?;
        parse_lines(&text).with_context(|| format!("audit log {}", path.display()))
    }

    /// Starts `zcfw events --follow --json`.
    pub fn follow(&self) -> Result<EventFollower> {
        EventFollower::start(self.daemon.bin(), self.daemon.socket())
    }

    /// `GET path` from the metrics endpoint, over TCP from inside the gateway namespace.
    pub fn scrape(&self, path: &str) -> Result<HttpResponse> {
        let addr = self.metrics.context("started without --metrics-listen")?;
        http_get(self.daemon.gateway(), addr, path)
    }

    /// `METHOD path` with `Accept: accept` from the metrics endpoint.
    pub fn request(&self, method: &str, path: &str, accept: &str) -> Result<HttpResponse> {
        let addr = self.metrics.context("started without --metrics-listen")?;
        http_request(self.daemon.gateway(), addr, method, path, accept)
    }

    /// `GET /metrics`, checked for status 200 and parsed.
    pub fn metrics(&self) -> Result<Metrics> {
        let r = self.scrape("/metrics")?;
        if r.status != 200 {
            bail!("GET /metrics answered {}: {}", r.status, r.body);
        }
        Metrics::parse(&r.body)
    }

    /// Stops the daemon and checks that XDP is gone ([`Daemon::stop`]).
    pub fn stop(self) -> Result<()> {
        self.daemon.stop()
    }
}

/// One JSON value per non-empty line.
pub fn parse_lines(text: &str) -> Result<Vec<Value>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("not a JSON line: {l}")))
        .collect()
}

/// A running `zcfw events --follow --json`; its lines arrive on a channel. Killed on drop.
#[derive(Debug)]
pub struct EventFollower {
    child: LineChild,
}

impl EventFollower {
    fn start(bin: &Path, socket: &Path) -> Result<EventFollower> {
        let mut cmd = Command::new(bin);
        cmd.args(["events", "--follow", "--json", "--socket"])
            .arg(socket)
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        let child = LineChild::spawn(&mut cmd, "zcfw events --follow".into())?;
        Ok(EventFollower { child })
    }

    /// The next printed event matching `pred` within `timeout`; other lines are skipped
    /// (and returned in `skipped`). An error if a line is not JSON or the command exited.
    pub fn next_matching(
        &mut self,
        timeout: Duration,
        skipped: &mut Vec<Value>,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Option<Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(line) = self.child.next_line(left)? else {
                return Ok(None);
            };
            let v: Value = serde_json::from_str(&line)
                .with_context(|| format!("zcfw events --follow printed {line:?}"))?;
            if pred(&v) {
                return Ok(Some(v));
            }
            skipped.push(v);
        }
    }
}

/// An HTTP answer.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

/// `GET path` (HTTP/1.1, `Connection: close`, `Accept: */*`) from `addr`, connecting from
/// inside `ns`.
pub fn http_get(ns: &Netns, addr: SocketAddr, path: &str) -> Result<HttpResponse> {
    http_request(ns, addr, "GET", path, "*/*")
}

/// `METHOD path` (HTTP/1.1, `Connection: close`, no body) with `Accept: accept` from `addr`,
/// connecting from inside `ns`.
pub fn http_request(
    ns: &Netns,
    addr: SocketAddr,
    method: &str,
    path: &str,
    accept: &str,
) -> Result<HttpResponse> {
    let raw = ns
        .run(|| -> Result<Vec<u8>> {
            let timeout = Duration::from_secs(5);
            let mut s = TcpStream::connect_timeout(&addr, timeout)
                .with_context(|| format!("connecting to {addr} in {}", ns.name()))?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            // One write: the request in one segment, as scrapers send it.
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
            );
            s.write_all(request.as_bytes())?;
            let mut raw = Vec::new();
            s.read_to_end(&mut raw)
                .with_context(|| format!("reading the answer of {addr}"))?;
            Ok(raw)
        })
        .with_context(|| format!("{method} http://{addr}{path}"))?;
    let text = String::from_utf8(raw).context("answer is not UTF-8")?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("no end of headers in {text:?}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: body.to_string(),
    })
}

/// One sample of a Prometheus/OpenMetrics text exposition.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed scrape.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub samples: Vec<Sample>,
}

impl Metrics {
    /// Parses `name{k="v",...} value [timestamp]` lines; `#` lines are skipped.
    pub fn parse(text: &str) -> Result<Metrics> {
        let mut samples = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            samples.push(parse_sample(line).with_context(|| format!("bad metrics line {line:?}"))?);
        }
        Ok(Metrics { samples })
    }

    /// The value of the sample called `name` with exactly the labels `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// Every sample called `name`.
    pub fn all(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }
}

fn parse_sample(line: &str) -> Result<Sample> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => bail!("no value"),
    };
    let mut labels = BTreeMap::new();
    let rest = if let Some(mut r) = rest.strip_prefix('{') {
        loop {
            r = r.trim_start_matches([',', ' ']);
            if let Some(after) = r.strip_prefix('}') {
                break after;
            }
            let (key, after) = r.split_once("=\"").context("label without =\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => bail!("dangling escape"),
                    },
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => bail!("unterminated label value"),
                }
            };
            labels.insert(key.trim().to_string(), value);
            r = &after[end + 1..];
        }
    } else {
        rest
    };
    let value = rest
        .split_whitespace()
        .next()
        .context("no value")?
        .parse::<f64>()
        .context("value is not a number")?;
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Seconds since the Unix epoch of an RFC 3339 time in UTC (`Z` or `+00:00`), e.g.
/// `2026-11-23T19:56:22.689370929Z`.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once(['T', 't'])?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let mut t = time.split(':');
    let (h, min): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let sec: f64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || sec >= 61.0 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60) as f64 + sec)
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// How many CPUs the kernel may run per-CPU BPF state on (`/sys/devices/system/cpu/possible`).
pub fn possible_cpus() -> Result<u32> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    let mut n = 0;
    for part in text.trim().split(',') {
        n += match part.split_once('-') {
            Some((a, b)) => b.parse::<u32>()? - a.parse::<u32>()? + 1,
            None => {
                part.parse::<u32>()?;
                1
            }
        };
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:01+00:00"),
            Some(951_868_801.0)
        );
        let t = parse_rfc3339("2026-11-23T19:56:22.5Z").expect("parses");
        assert!((t - 1_795_463_782.5).abs() < 1e-6, "{t}");
        assert_eq!(parse_rfc3339("2026-11-23 19:56:22"), None);
    }

    #[test]
    fn metrics_text_parses() {
        let m = Metrics::parse(
            "# HELP zcfw_packets Packets\n# TYPE zcfw_packets counter\n\
             zcfw_packets_total{reason=\"default_deny\",verdict=\"drop\"} 12\n\
             zcfw_policy_info{name=\"a \\\"b\\\"\",hash=\"ff\"} 1\n\
             zcfw_uptime_seconds 7\n# EOF\n",
        )
        .expect("parses");
        assert_eq!(
            m.get(
                "zcfw_packets_total",
                &[("reason", "default_deny"), ("verdict", "drop")]
            ),
            Some(12.0)
        );
        assert_eq!(
            m.get("zcfw_policy_info", &[("name", "a \"b\""), ("hash", "ff")]),
            Some(1.0)
        );
        assert_eq!(m.get("zcfw_uptime_seconds", &[]), Some(7.0));
        assert_eq!(
            m.get("zcfw_packets_total", &[("reason", "default_deny")]),
            None
        );
    }
}
