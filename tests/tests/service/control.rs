//! The control protocol across versions: a `zcfw` and a daemon of different versions (the
//! binary upgraded, the service not restarted) name both protocol versions and say to restart
//! the service, instead of misreading each other.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::{UnixListener, UnixStream},
    process::Command,
    thread,
    time::Duration,
};

use zcfw::control::PROTOCOL;
use zcfw_harness::{TempDir, service::capture, zcfw_bin};

use crate::fixture::{plant, started};

/// A request as a zcfw before protocol versions sent it (no `protocol` field): the daemon
/// answers in a form that zcfw could read (`ok`, `error`) and names both versions; it goes
/// on serving clients of its own version.
#[test]
fn a_client_of_an_older_protocol_is_told_to_restart_the_service() {
    let plant = plant("ctl-old-cli");
    let svc = started(&plant, "control-versions");
    let mut stream = UnixStream::connect(svc.socket()).expect("connect");
    stream
        .write_all(b"{\"command\":\"status\"}\n")
        .expect("send");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .expect("an answer");
    let answer: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(answer["ok"], false, "{line}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!("the daemon speaks control protocol {PROTOCOL}"))
            && error.contains("this zcfw speaks 1")
            && error.contains("restart the service"),
        "{line}"
    );
    assert!(answer.get("data").is_none(), "{line}");
    let status = svc.status().unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(status.policy.name, "control-versions");
}

/// A daemon that answers like a zcfw before protocol versions: `zcfw status` and `zcfw
/// events` say which versions differ and what to do, and exit 2.
#[test]
fn a_daemon_of_an_older_protocol_is_named_by_the_client() {
    let dir = TempDir::new(&format!("zcfw-old-daemon-{}", std::process::id())).expect("temp dir");
    let socket = dir.join("zcfw.sock");
    let listener = UnixListener::bind(&socket).expect("bind");
    let old_daemon = thread::spawn(move || {
        // What the daemon of protocol 1 answered to `status`, then to `events` (event lines,
        // no greeting).
        let answers = [
            r#"{"ok":true,"data":{"policy":{"name":"p","hash":"h","generation":1},"island":false}}"#,
            r#"{"time":"t","action":"drop","reason":"default_deny","interface":"e","conduit":"default","generation":1,"len":60}"#,
        ];
        for answer in answers {
            let (stream, _) = listener.accept().expect("accept");
            let mut request = String::new();
            BufReader::new(&stream)
                .read_line(&mut request)
                .expect("request");
            writeln!(&stream, "{answer}").expect("answer");
        }
    });
    let zcfw = |args: &[&str]| {
        capture(
            Command::new(zcfw_bin().expect("zcfw"))
                .args(args)
                .arg("--socket")
                .arg(&socket),
            Duration::from_secs(10),
        )
        .expect("zcfw")
    };
    for out in [zcfw(&["status"]), zcfw(&["events"])] {
        assert_eq!(out.code, Some(2), "{}", out.output());
        assert!(
            out.stderr.contains("speaks control protocol 1")
                && out.stderr.contains(&format!("this zcfw speaks {PROTOCOL}"))
                && out.stderr.contains("restart the service"),
            "{}",
            out.output()
        );
        assert!(out.stdout.is_empty(), "{}", out.output());
    }
    old_daemon.join().expect("old daemon");
}
