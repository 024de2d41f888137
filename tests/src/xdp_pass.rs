//! A minimal native XDP program (`return XDP_PASS`) for the far end of a veth.
//!
//! A veth in native XDP mode hands the frames its program sends back (`XDP_TX`) to its peer's
//! receive ring, but wakes the peer to read that ring only when the peer runs an XDP program
//! of its own (`veth_xdp_flush` in drivers/net/veth.c: "xdp_ring is initialized on receive
//! side?"). Without one, a frame sent with `XDP_TX` waits until some other packet reaches the
//! peer. Real NICs send `XDP_TX` frames on a queue of their own; in the test plant, the hosts'
//! ends of the veths carry this program so that the resets zcfw sends back arrive at once.

use std::{ffi::CString, os::fd::FromRawFd, path::PathBuf, process::Command};

use anyhow::{Context, Result, bail};

use crate::netns::Netns;

/// `BPF_PROG_LOAD`, `BPF_OBJ_PIN` and `BPF_PROG_TYPE_XDP` (include/uapi/linux/bpf.h).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_PROG_TYPE_XDP: u32 = 6;

/// `r0 = XDP_PASS (2); exit`.
const PROGRAM: [u64; 2] = [
    u64::from_le_bytes([0xb7, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]),
    u64::from_le_bytes([0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
];

fn bpf(cmd: libc::c_long, attr: &mut [u8; 128]) -> Result<i64> {
    // SAFETY: `attr` is a zero-filled `union bpf_attr` of the size passed; the kernel reads
    // only the fields of `cmd` and the memory they point to, which outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if ret < 0 {
        bail!("bpf({cmd}): {}", std::io::Error::last_os_error());
    }
    Ok(ret)
}

/// Loads the program and attaches it in native mode to `ifname` of `ns`. The attachment
/// lives as long as the interface (the plant removes it).
pub fn attach(ns: &Netns, ifname: &str) -> Result<()> {
    let license = CString::new("GPL")?;
    let mut attr = [0u8; 128];
    // prog_type, insn_cnt, insns, license.
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_XDP.to_ne_bytes());
    attr[4..8].copy_from_slice(&(PROGRAM.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(PROGRAM.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    let fd = bpf(BPF_PROG_LOAD, &mut attr).context("loading an XDP_PASS program")? as i32;
    // SAFETY: a file descriptor the kernel just returned to us.
    let _owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let pin = PathBuf::from(format!(
        "/sys/fs/bpf/zcfw-test-xdp-pass-{}-{ifname}",
        std::process::id()
    ));
    let path = CString::new(pin.to_string_lossy().as_bytes())?;
    let mut attr = [0u8; 128];
    // pathname, bpf_fd.
    attr[0..8].copy_from_slice(&(path.as_ptr() as u64).to_ne_bytes());
    attr[8..12].copy_from_slice(&(fd as u32).to_ne_bytes());
    bpf(BPF_OBJ_PIN, &mut attr).with_context(|| format!("pinning at {}", pin.display()))?;
    // `ip` started from a thread in the namespace (`ip -n` would remount /sys, and the pin
    // with it, out of sight).
    let pinned = pin.to_string_lossy().into_owned();
    let attached = ns.run(|| {
        crate::cmd::run(
            Command::new("ip").args(["link", "set", "dev", ifname, "xdpdrv", "pinned", &pinned]),
        )
    });
    let _ = std::fs::remove_file(&pin);
    attached.with_context(|| format!("attaching XDP_PASS to {ifname} in {}", ns.name()))?;
    Ok(())
}
