//! CLI output edge cases that need the real binary.

use std::{os::unix::process::ExitStatusExt, path::Path, process::Command};

/// `zcfw … | head` closes the pipe early: the command ends quietly (killed by SIGPIPE like any
/// Unix tool), never with a Rust panic about a failed print.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/purdue-plant.yaml");
    let policy = policy.to_str().expect("a UTF-8 checkout path");
    for args in [vec!["audit", policy], vec!["compile", policy]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_zcfw"))
            .args(&args)
            .stdout(writer)
            .output()
            .expect("run zcfw");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "zcfw {args:?}: {stderr}");
        assert_eq!(
            out.status.signal(),
            Some(nix::sys::signal::Signal::SIGPIPE as i32),
            "zcfw {args:?}: {:?} {stderr}",
            out.status
        );
    }
}
