//! One daemon per pin directory. A daemon holds an exclusive `flock` on the pin directory
//! itself for as long as it runs (bpffs holds no regular files, but any directory can be
//! locked), whatever socket it listens on: a second daemon on the same pins is refused, and
//! `zcfw detach` knows the pins are in use. The kernel drops the lock when the daemon exits,
//! also on SIGKILL, so there is nothing stale to clean up.

use std::{
    fs::File,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use nix::fcntl::{Flock, FlockArg};

/// Why the pin directory cannot be locked.
#[derive(Debug, thiserror::Error)]
pub enum PinLockError {
    #[error(
        "another zcfw daemon ({holder}) is already running on the pin directory {path}; a second \
         one would take over its pins. Stop it first (`systemctl stop zcfw`), or give this one \
         its own --pin-dir (and --socket)",
        holder = describe(*pid)
    )]
    Held { path: PathBuf, pid: Option<u32> },
    #[error("cannot lock the pin directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn describe(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "pid unknown: in another pid namespace?".to_owned(),
    }
}

/// The exclusive lock of a pin directory; released when dropped (or the process ends).
#[derive(Debug)]
pub struct PinLock {
    _lock: Flock<File>,
}

impl PinLock {
    /// Takes the lock of `pin_dir` without waiting.
    pub fn acquire(pin_dir: &Path) -> Result<PinLock, PinLockError> {
        let io = |source| PinLockError::Io {
            path: pin_dir.to_owned(),
            source,
        };
        let dir = File::open(pin_dir).map_err(io)?;
        match Flock::lock(dir, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(PinLock { _lock: lock }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(PinLockError::Held {
                path: pin_dir.to_owned(),
                pid: holder(pin_dir),
            }),
            Err((_, errno)) => Err(io(std::io::Error::from(errno))),
        }
    }
}

/// The process holding the lock of `pin_dir`, from `/proc/locks`.
pub fn holder(pin_dir: &Path) -> Option<u32> {
    let meta = std::fs::metadata(pin_dir).ok()?;
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    holder_in(&locks, meta.dev(), meta.ino())
}

/// `/proc/locks` lines look like `1: FLOCK  ADVISORY  WRITE 4711 00:2c:1234 0 EOF`: the pid,
/// then the device (major:minor, hex) and inode number of the locked file. Lines of waiters
/// (`1: -> FLOCK ...`) are skipped.
fn holder_in(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        let pid: u32 = fields.get(4)?.parse().ok()?;
        let mut file = fields.get(5)?.split(':');
        let maj = u64::from_str_radix(file.next()?, 16).ok()?;
        let min = u64::from_str_radix(file.next()?, 16).ok()?;
        let inode: u64 = file.next()?.parse().ok()?;
        (maj == major && min == minor && inode == ino).then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holder() {
        let dir = std::env::temp_dir().join(format!("zcfw-pinlock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let first = PinLock::acquire(&dir).expect("first lock");
        match PinLock::acquire(&dir) {
            Err(PinLockError::Held { path, pid }) => {
                assert_eq!(path, dir);
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("second lock: {other:?}"),
        }
        let message = PinLock::acquire(&dir).expect_err("held").to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("--pin-dir"), "{message}");
        drop(first);
        let again = PinLock::acquire(&dir).expect("free again after the first is dropped");
        drop(again);
        let _ = std::fs::remove_dir(&dir);
    }

    #[test]
    fn parses_proc_locks() {
        let dev = nix::sys::stat::makedev(0, 0x2c);
        let locks = "1: POSIX  ADVISORY  WRITE 10 00:2c:99 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 4711 00:2c:1234 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 4712 00:2c:1234 0 EOF\n";
        assert_eq!(holder_in(locks, dev, 1234), Some(4711));
        assert_eq!(holder_in(locks, dev, 99), None, "POSIX locks are not ours");
        assert_eq!(holder_in(locks, nix::sys::stat::makedev(8, 1), 1234), None);
    }
}
