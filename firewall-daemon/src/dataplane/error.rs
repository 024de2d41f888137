//! What can go wrong between the daemon and the kernel, each with what to do about it.

use aya::{EbpfError, maps::MapError, programs::ProgramError};

use super::AttachedMode;

#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    #[error(
        "permission denied while loading the XDP program: run zcfw as root, or with the \
         capabilities CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON"
    )]
    PermissionDenied,
    #[error("loading the eBPF object failed: {0}")]
    Load(#[source] Box<EbpfError>),
    #[error(
        "the kernel verifier rejected the XDP program ({io_error}); this is a zcfw bug or a \
         kernel too old for it (6.1+ is needed). Last lines of the verifier log:\n{log_tail}"
    )]
    Verifier {
        io_error: std::io::Error,
        log_tail: String,
    },
    #[error("the eBPF object has no program named {0}; the zcfw build is broken")]
    MissingProgram(&'static str),
    #[error("XDP program error: {0}")]
    Program(#[source] Box<ProgramError>),
    #[error(
        "interface {0:?} does not exist on this host; check `ip link` and the policy's interfaces"
    )]
    NoSuchInterface(String),
    #[error(
        "attaching XDP to {iface} in {mode} mode failed: {source}{hint}",
        hint = attach_hint(*mode)
    )]
    Attach {
        iface: String,
        mode: AttachedMode,
        #[source]
        source: Box<ProgramError>,
    },
    #[error(
        "interface {iface} has index {ifindex}, above the {max} zcfw supports (its per-interface \
         policy and counters are arrays indexed by it); indexes grow as interfaces are created \
         in a network namespace: attach to an interface created earlier (NICs get small indexes \
         at boot), or reboot",
        max = firewall_common::maps::capacity::MAX_IFINDEX - 1
    )]
    IfindexTooLarge { iface: String, ifindex: u32 },
    #[error("the eBPF object has no map named {0}; the zcfw build is broken")]
    MissingMap(&'static str),
    #[error("map {map}: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: Box<MapError>,
    },
    #[error(
        "{path} holds {what}; it was not pinned by zcfw: remove it or choose another --pin-dir"
    )]
    ForeignPins { path: String, what: &'static str },
    #[error(transparent)]
    PinDirBusy(#[from] super::pinlock::PinLockError),
    #[error(transparent)]
    UntrustedPinDir(#[from] super::pindir::PinDirError),
    #[error("cannot prepare pin directory {path}: {source}")]
    PinDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot pin {path}: {source}; is it on a BPF filesystem?")]
    Pin {
        path: String,
        #[source]
        source: Box<aya::pin::PinError>,
    },
    #[error("pinned XDP link of {iface}: {source}")]
    Link {
        iface: String,
        #[source]
        source: Box<aya::programs::links::LinkError>,
    },
    #[error(
        "cannot take a reference to the XDP link of {iface}: {source}; the daemon needs it to \
         keep the link attached and to check it (run zcfw as root)"
    )]
    LinkRef {
        iface: String,
        #[source]
        source: std::io::Error,
    },
    #[error("BPF_PROG_TEST_RUN failed: {0}")]
    TestRun(#[source] ProgramError),
    #[error("fast path: {0}")]
    FastPath(String),
}

fn attach_hint(mode: AttachedMode) -> &'static str {
    match mode {
        AttachedMode::Native => {
            "; the driver may not support native XDP: set `xdp_mode: skb` (or `auto`) for this interface"
        }
        AttachedMode::Skb => "; is another XDP program already attached? (`ip -d link show`)",
    }
}

impl DataplaneError {
    /// Whether starting the daemon again cannot make this go away: the installation, the host
    /// or the pinned state needs a person (pins of another zcfw layout or not zcfw's, an
    /// untrusted pin directory, a program the kernel refuses, missing privileges, a broken
    /// build). `zcfw run` exits 4 for these, which the unit does not retry
    /// (RestartPreventExitStatus=); an interface that does not exist yet, or a pin directory
    /// another daemon holds, can heal and stays exit 2.
    pub fn cannot_heal(&self) -> bool {
        matches!(
            self,
            DataplaneError::ForeignPins { .. }
                | DataplaneError::UntrustedPinDir(_)
                | DataplaneError::Verifier { .. }
                | DataplaneError::MissingProgram(_)
                | DataplaneError::MissingMap(_)
                | DataplaneError::PermissionDenied
                | DataplaneError::IfindexTooLarge { .. }
        )
    }

    pub(super) fn from_ebpf(err: EbpfError) -> Self {
        if is_permission(&err.to_string()) {
            return DataplaneError::PermissionDenied;
        }
        DataplaneError::Load(Box::new(err))
    }

    pub(super) fn from_program_load(err: ProgramError) -> Self {
        match err {
            ProgramError::LoadError {
                io_error,
                verifier_log,
            } => {
                let log = verifier_log.to_string();
                // The verifier refuses a program with EACCES too: only without a log is a
                // permission error about privileges.
                if io_error.raw_os_error() == Some(libc_eperm())
                    || (io_error.kind() == std::io::ErrorKind::PermissionDenied
                        && log.trim().is_empty())
                {
                    return DataplaneError::PermissionDenied;
                }
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(25)..].join("\n");
                DataplaneError::Verifier {
                    io_error,
                    log_tail: tail,
                }
            }
            other if is_permission(&other.to_string()) => DataplaneError::PermissionDenied,
            other => DataplaneError::Program(Box::new(other)),
        }
    }

    pub(super) fn link(iface: &str, source: aya::programs::links::LinkError) -> Self {
        DataplaneError::Link {
            iface: iface.to_owned(),
            source: Box::new(source),
        }
    }

    pub(super) fn map(map: &'static str) -> impl FnOnce(MapError) -> Self {
        move |source| DataplaneError::Map {
            map,
            source: Box::new(source),
        }
    }
}

/// `EPERM`: the caller lacks a capability (the verifier never says it).
fn libc_eperm() -> i32 {
    nix::errno::Errno::EPERM as i32
}

fn is_permission(msg: &str) -> bool {
    msg.contains("Operation not permitted") || msg.contains("Permission denied")
}

#[cfg(test)]
mod tests {
    use super::DataplaneError;

    /// What the unit stops retrying (exit 4) and what it retries (exit 2).
    #[test]
    fn only_what_a_person_must_fix_cannot_heal() {
        let foreign = DataplaneError::ForeignPins {
            path: "/sys/fs/bpf/zcfw/CONTROL".into(),
            what: "a map",
        };
        assert!(foreign.cannot_heal());
        assert!(DataplaneError::PermissionDenied.cannot_heal());
        assert!(DataplaneError::MissingProgram("zcfw").cannot_heal());
        // An interface created later by the network manager: retrying heals it.
        assert!(!DataplaneError::NoSuchInterface("eth9".into()).cannot_heal());
        let pin_dir = DataplaneError::PinDir {
            path: "/sys/fs/bpf/zcfw".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(!pin_dir.cannot_heal());
    }
}
