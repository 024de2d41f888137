//! Who may touch the pin directory. Pinned links are what keep XDP attached after the daemon
//! exits, and removing a link's pin detaches it: whoever can write into the pin directory (or
//! replace a directory on the way to it) can switch enforcement off. So the daemon only pins
//! into a tree that it (root) owns, that nobody else can write, and that is reached through
//! directories nobody else can rename or replace.
//!
//! The rules, checked on every start before anything is adopted or pinned:
//! - Every directory on the path to the pin directory is owned by root (or the daemon's own
//!   user) and writable by nobody else, unless it has the sticky bit (`/sys/fs/bpf`, `/tmp`):
//!   there others may add entries but not remove or rename ours, and the next component is
//!   checked in turn. A symbolic link on the way must be owned by root as well.
//! - The pin directory and everything under it is owned by root (or the daemon's user); no
//!   directory in it is writable by group or others. The pin directory is created 0700; an
//!   existing root-owned one with wider read/search permissions is narrowed to 0700.
//! - Anything else is refused with what is wrong, where, and how to fix it; nothing is
//!   removed or chowned on the operator's behalf, since whoever made it may still hold it.

use std::{
    fs::{DirBuilder, Metadata},
    os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _},
    path::{Component, Path, PathBuf},
};

use tracing::info;

/// Mode of the pin directory and every directory the daemon creates in it.
pub const PIN_DIR_MODE: u32 = 0o700;

const STICKY: u32 = 0o1000;
const GROUP_OTHER_WRITE: u32 = 0o022;

/// Why a pin directory is not trusted.
#[derive(Debug, thiserror::Error)]
pub enum PinDirError {
    #[error(
        "{path} is owned by uid {owner}, not by root: whoever owns it can remove the pinned \
         links and switch enforcement off. {fix}"
    )]
    Owner {
        path: PathBuf,
        owner: u32,
        fix: String,
    },
    #[error(
        "{path} is writable by {who} (mode {mode:04o}): they could remove the pinned links and \
         switch enforcement off. {fix}"
    )]
    Writable {
        path: PathBuf,
        who: &'static str,
        mode: u32,
        fix: String,
    },
    #[error(
        "{path} is not a directory; the pin directory and the path to it must be directories \
         (pass another --pin-dir)"
    )]
    NotADirectory { path: PathBuf },
    #[error("cannot inspect {path}: {source}; pass a --pin-dir on a BPF filesystem root owns")]
    Inspect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the pin directory {path} (mode 0700): {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot restrict the pin directory {path} to mode 0700: {source}")]
    Restrict {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Who the checks trust: root, and the user the daemon runs as.
#[derive(Clone, Copy, Debug)]
struct Trusted {
    uid: u32,
}

impl Trusted {
    fn current() -> Self {
        Trusted {
            uid: nix::unistd::geteuid().as_raw(),
        }
    }

    fn owns(self, meta: &Metadata) -> bool {
        meta.uid() == 0 || meta.uid() == self.uid
    }
}

/// Makes `pin_dir` safe to pin into: checks the path to it, creates what is missing with mode
/// 0700, checks everything already inside it, and narrows a root-owned pin directory to 0700.
pub fn secure(pin_dir: &Path) -> Result<(), PinDirError> {
    secure_as(pin_dir, Trusted::current())
}

fn secure_as(pin_dir: &Path, trusted: Trusted) -> Result<(), PinDirError> {
    let pin_dir = absolute(pin_dir)?;
    let parent = pin_dir.parent().unwrap_or(Path::new("/"));
    check_ancestors(parent, trusted)?;
    // Missing directories on the way are created root-owned, 0700.
    DirBuilder::new()
        .recursive(true)
        .mode(PIN_DIR_MODE)
        .create(&pin_dir)
        .map_err(|source| PinDirError::Create {
            path: pin_dir.clone(),
            source,
        })?;
    // Again, now that every component exists (and through any symbolic link on the way).
    check_ancestors(parent, trusted)?;
    let real = std::fs::canonicalize(&pin_dir).map_err(|source| PinDirError::Inspect {
        path: pin_dir.clone(),
        source,
    })?;
    if let Some(real_parent) = real.parent() {
        check_ancestors(real_parent, trusted)?;
    }
    check_tree(&real, trusted)?;
    let meta = lstat(&real)?;
    let mode = meta.mode() & 0o7777;
    if mode != PIN_DIR_MODE {
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(PIN_DIR_MODE)).map_err(
            |source| PinDirError::Restrict {
                path: real.clone(),
                source,
            },
        )?;
        info!(pin_dir = %real.display(), from = format!("{mode:04o}"), "pin directory restricted to mode 0700");
    }
    Ok(())
}

/// Creates `dir` (inside a checked pin directory) with mode 0700 if it is missing.
pub fn create_private(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PIN_DIR_MODE)
        .create(dir)
}

fn absolute(path: &Path) -> Result<PathBuf, PinDirError> {
    std::path::absolute(path).map_err(|source| PinDirError::Inspect {
        path: path.to_owned(),
        source,
    })
}

fn lstat(path: &Path) -> Result<Metadata, PinDirError> {
    std::fs::symlink_metadata(path).map_err(|source| PinDirError::Inspect {
        path: path.to_owned(),
        source,
    })
}

/// Checks every existing component of `dir` from `/` down (`dir` included).
fn check_ancestors(dir: &Path, trusted: Trusted) -> Result<(), PinDirError> {
    let mut path = PathBuf::new();
    for component in dir.components() {
        match component {
            Component::CurDir => continue,
            Component::ParentDir => {
                path.pop();
                continue;
            }
            other => path.push(other.as_os_str()),
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            // Created later, 0700, by `secure_as`.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(PinDirError::Inspect { path, source }),
        };
        if meta.file_type().is_symlink() {
            if !trusted.owns(&meta) {
                return Err(PinDirError::Owner {
                    owner: meta.uid(),
                    fix: format!(
                        "This symbolic link on the way to the pin directory is not root's: \
                         remove it (`rm {}`) or pass a --pin-dir without it",
                        path.display()
                    ),
                    path,
                });
            }
            // Its target is checked through the canonical path.
            continue;
        }
        if !meta.is_dir() {
            return Err(PinDirError::NotADirectory { path });
        }
        check_dir(&path, &meta, trusted, Place::OnTheWay)?;
    }
    Ok(())
}

/// Where a directory is, which decides how much others may do in it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// On the path to the pin directory: a sticky, world-writable directory is fine.
    OnTheWay,
    /// The pin directory or inside it: nobody else may write.
    Inside,
}

fn check_dir(
    path: &Path,
    meta: &Metadata,
    trusted: Trusted,
    place: Place,
) -> Result<(), PinDirError> {
    if !trusted.owns(meta) {
        return Err(PinDirError::Owner {
            path: path.to_owned(),
            owner: meta.uid(),
            fix: owner_fix(path, place),
        });
    }
    let mode = meta.mode() & 0o7777;
    let sticky_ok = place == Place::OnTheWay && mode & STICKY != 0;
    if mode & GROUP_OTHER_WRITE != 0 && !sticky_ok {
        let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
            (true, true) => "its group and everyone",
            (true, false) => "its group",
            _ => "everyone",
        };
        let fix = match place {
            Place::OnTheWay => format!(
                "Remove the write permission (`chmod go-w {}`) or pass a --pin-dir elsewhere",
                path.display()
            ),
            Place::Inside => format!(
                "Someone else may have put pins there: check it, then `zcfw detach --pin-dir \
                 DIR` (or remove {}) and start zcfw again; it creates the directory 0700",
                path.display()
            ),
        };
        return Err(PinDirError::Writable {
            path: path.to_owned(),
            who,
            mode,
            fix,
        });
    }
    Ok(())
}

fn owner_fix(path: &Path, place: Place) -> String {
    match place {
        Place::OnTheWay => format!(
            "Pass a --pin-dir whose parent directories are root's (not under {})",
            path.display()
        ),
        Place::Inside => format!(
            "It was not created by zcfw, and may hold pins another user controls: remove it \
             (`rm -r {}` as root, after checking it) and start zcfw again; zcfw creates the pin \
             directory itself, owned by root, mode 0700",
            path.display()
        ),
    }
}

/// Checks the pin directory and everything in it (a few directories and pins).
fn check_tree(root: &Path, trusted: Trusted) -> Result<(), PinDirError> {
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let meta = lstat(&dir)?;
        if !meta.is_dir() {
            return Err(PinDirError::NotADirectory { path: dir });
        }
        check_dir(&dir, &meta, trusted, Place::Inside)?;
        let entries = std::fs::read_dir(&dir).map_err(|source| PinDirError::Inspect {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| PinDirError::Inspect {
                path: dir.clone(),
                source,
            })?;
            let path = entry.path();
            let meta = lstat(&path)?;
            if meta.is_dir() {
                pending.push(path);
            } else if !trusted.owns(&meta) {
                return Err(PinDirError::Owner {
                    owner: meta.uid(),
                    fix: owner_fix(&path, Place::Inside),
                    path,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{chown, symlink};

    use super::*;

    /// A scratch directory under /tmp (1777, sticky: like /sys/fs/bpf without `mode=`).
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("zcfw-pindir-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            create_private(&dir).expect("scratch dir");
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The tests run as root (the chowns need it); others would only pass with `uid` trusted.
    const ROOT: Trusted = Trusted { uid: 0 };
    /// `nobody`: stands for an unprivileged user.
    const NOBODY: u32 = 65534;

    fn mode_of(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).expect("stat").mode() & 0o7777
    }

    #[test]
    fn a_missing_pin_dir_is_created_0700() {
        let s = Scratch::new("create");
        let pins = s.0.join("a/b/zcfw");
        secure_as(&pins, ROOT).expect("a fresh pin dir is trusted");
        assert_eq!(mode_of(&pins), 0o700);
        assert_eq!(mode_of(&s.0.join("a")), 0o700);
    }

    #[test]
    fn a_root_owned_pin_dir_with_read_access_is_narrowed() {
        let s = Scratch::new("narrow");
        let pins = s.0.join("zcfw");
        std::fs::create_dir(&pins).expect("mkdir");
        std::fs::set_permissions(&pins, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        secure_as(&pins, ROOT).expect("root-owned 0755 is narrowed, not refused");
        assert_eq!(mode_of(&pins), 0o700);
    }

    #[test]
    fn a_pin_dir_owned_by_another_user_is_refused() {
        let s = Scratch::new("owner");
        let pins = s.0.join("zcfw");
        create_private(&pins).expect("mkdir");
        chown(&pins, Some(NOBODY), None).expect("chown (the test needs root)");
        let err = secure_as(&pins, ROOT)
            .expect_err("must be refused")
            .to_string();
        assert!(err.contains(&pins.display().to_string()), "{err}");
        assert!(err.contains("uid 65534"), "{err}");
        assert!(err.contains("remove it"), "{err}");
    }

    #[test]
    fn a_subdirectory_made_by_another_user_is_refused() {
        // The attack of the finding: the user pre-creates PIN_DIR/links/native.
        let s = Scratch::new("sub");
        let pins = s.0.join("zcfw");
        let native = pins.join("links/native");
        create_private(&native).expect("mkdir");
        chown(&native, Some(NOBODY), None).expect("chown (the test needs root)");
        let err = secure_as(&pins, ROOT)
            .expect_err("must be refused")
            .to_string();
        assert!(err.contains(&native.display().to_string()), "{err}");
    }

    #[test]
    fn a_world_writable_pin_dir_is_refused_even_sticky() {
        let s = Scratch::new("sticky");
        for mode in [0o777, 0o1777, 0o770] {
            let pins = s.0.join(format!("zcfw{mode:o}"));
            std::fs::create_dir(&pins).expect("mkdir");
            std::fs::set_permissions(&pins, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = secure_as(&pins, ROOT)
                .expect_err("must be refused")
                .to_string();
            assert!(err.contains("writable by"), "{mode:o}: {err}");
        }
    }

    #[test]
    fn ancestors_writable_by_others_are_refused_unless_sticky() {
        let s = Scratch::new("ancestor");
        let open = s.0.join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let err = secure_as(&open.join("zcfw"), ROOT)
            .expect_err("must be refused")
            .to_string();
        assert!(err.contains(&open.display().to_string()), "{err}");
        assert!(err.contains("chmod go-w"), "{err}");
        // Sticky, like /sys/fs/bpf mounted without mode= and /tmp: fine.
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        secure_as(&open.join("zcfw"), ROOT).expect("a sticky parent is fine");
        // An ancestor owned by another user is not.
        let theirs = s.0.join("theirs");
        std::fs::create_dir(&theirs).expect("mkdir");
        chown(&theirs, Some(NOBODY), None).expect("chown (the test needs root)");
        let err = secure_as(&theirs.join("zcfw"), ROOT)
            .expect_err("must be refused")
            .to_string();
        assert!(err.contains(&theirs.display().to_string()), "{err}");
    }

    #[test]
    fn a_symlink_of_another_user_on_the_way_is_refused() {
        let s = Scratch::new("symlink");
        let target = s.0.join("target");
        create_private(&target).expect("mkdir");
        let link = s.0.join("link");
        symlink(&target, &link).expect("symlink");
        // Root's own link to a root-owned directory is fine.
        secure_as(&link.join("zcfw"), ROOT).expect("root's symlink is fine");
        std::fs::remove_file(&link).expect("rm");
        symlink(&target, &link).expect("symlink");
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            &link,
            Some(nix::unistd::Uid::from_raw(NOBODY)),
            None,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .expect("chown the link (the test needs root)");
        let err = secure_as(&link.join("zcfw"), ROOT)
            .expect_err("must be refused")
            .to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }

    #[test]
    fn a_pin_of_another_user_is_refused() {
        let s = Scratch::new("file");
        let pins = s.0.join("zcfw");
        create_private(&pins.join("maps")).expect("mkdir");
        let planted = pins.join("maps/ZCFW_CONTROL");
        std::fs::write(&planted, b"").expect("write");
        chown(&planted, Some(NOBODY), None).expect("chown (the test needs root)");
        let err = secure_as(&pins, ROOT)
            .expect_err("must be refused")
            .to_string();
        assert!(err.contains(&planted.display().to_string()), "{err}");
    }
}
