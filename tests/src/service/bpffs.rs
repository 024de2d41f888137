//! The tests' shared BPF filesystem, mounted once in the root mount namespace.

use std::{fs::File, path::Path, sync::Mutex};

use anyhow::{Context, Result, anyhow};
use nix::{
    fcntl::{Flock, FlockArg},
    mount::{MsFlags, mount},
    sys::statfs::{BPF_FS_MAGIC, statfs},
};

/// Where the tests' shared BPF filesystem is mounted (root mount namespace, outside `/sys`).
pub const TEST_BPFFS: &str = "/run/zcfw-test-bpffs";

/// Mounts a BPF filesystem at [`TEST_BPFFS`] unless one is there already, and returns the
/// path. Serialised within the process (a mutex) and across processes (`flock` on a lock
/// file): two mounts stacked on each other would hide the first one's pins.
pub fn test_bpffs() -> Result<&'static Path> {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    let path = Path::new(TEST_BPFFS);
    if *done {
        return Ok(path);
    }
    let lock_path = format!("{TEST_BPFFS}.lock");
    let file = File::create(&lock_path).with_context(|| format!("creating {lock_path}"))?;
    let _lock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow!("flock {lock_path}: {e}"))?;
    std::fs::create_dir_all(path).with_context(|| format!("creating {TEST_BPFFS}"))?;
    if !is_bpffs(path)? {
        mount(
            Some("bpf"),
            path,
            Some("bpf"),
            MsFlags::empty(),
            None::<&str>,
        )
        .with_context(|| format!("mount -t bpf bpf {TEST_BPFFS} (are you root?)"))?;
    }
    *done = true;
    Ok(path)
}

fn is_bpffs(path: &Path) -> Result<bool> {
    let fs = statfs(path).with_context(|| format!("statfs {}", path.display()))?;
    Ok(fs.filesystem_type() == BPF_FS_MAGIC)
}
