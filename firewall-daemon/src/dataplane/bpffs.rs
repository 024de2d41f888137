//! The BPF filesystem that pinned programs and maps live in. `ip netns exec` remounts /sys
//! without it, so the daemon mounts it where it is missing.

use std::path::Path;

use nix::{
    mount::{MsFlags, mount},
    sys::statfs::{BPF_FS_MAGIC, statfs},
};

/// Where the BPF filesystem is mounted by convention.
pub const DEFAULT_MOUNT: &str = "/sys/fs/bpf";

/// Mount options: root only. Without `mode=` bpffs is 1777, where any user may create
/// directories (see [`super::pindir`] for why that matters).
pub const MOUNT_OPTIONS: &str = "mode=0700";

#[derive(Debug, thiserror::Error)]
pub enum BpffsError {
    #[error(
        "{path} is not a BPF filesystem and mounting one there failed ({source}); mount it with \
         `mount -t bpf -o mode=0700 bpf {path}` (as root) and start zcfw again"
    )]
    Mount {
        path: String,
        #[source]
        source: nix::Error,
    },
    #[error("cannot inspect {path}: {source}; does the directory exist?")]
    Stat {
        path: String,
        #[source]
        source: nix::Error,
    },
}

/// Whether `path` is on a BPF filesystem.
pub fn is_bpffs(path: &Path) -> Result<bool, BpffsError> {
    let fs = statfs(path).map_err(|source| BpffsError::Stat {
        path: path.display().to_string(),
        source,
    })?;
    Ok(fs.filesystem_type() == BPF_FS_MAGIC)
}

/// Makes sure a BPF filesystem is mounted at `path` (mounting one, root only, if needed).
/// Returns whether it mounted one.
pub fn ensure(path: &Path) -> Result<bool, BpffsError> {
    if is_bpffs(path)? {
        return Ok(false);
    }
    mount(
        Some("bpf"),
        path,
        Some("bpf"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(MOUNT_OPTIONS),
    )
    .map_err(|source| BpffsError::Mount {
        path: path.display().to_string(),
        source,
    })?;
    Ok(true)
}
