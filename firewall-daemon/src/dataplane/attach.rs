//! Attaching the program to interfaces, and checking with the kernel that it still is.
//!
//! Every attachment is an XDP link the daemon holds a reference to (its own file descriptor,
//! besides the pin), so removing a pin while the daemon runs does not take XDP off.
//! [`Dataplane::verify_attachments`] asks the kernel, not the daemon's memory, what each link
//! is attached to and runs: a removed pin is pinned again, a link that was detached (or runs
//! another program) is replaced by a new one (fail closed); what could not be repaired is
//! reported, and the interface is not reported as enforced.

use std::{
    os::fd::OwnedFd,
    path::{Path, PathBuf},
};

use aya::programs::{
    Xdp, XdpMode as AyaXdpMode,
    links::{FdLink, PinnedLink},
    xdp::{XdpLink, XdpLinkId},
};
use tracing::{error, info, warn};

use super::{AttachedMode, Dataplane, DataplaneError, link, xdp_program};
use crate::compile::XdpMode;

/// One interface the program is attached to.
#[derive(Debug)]
pub struct Attachment {
    pub iface: String,
    pub ifindex: u32,
    pub mode: AttachedMode,
    /// The daemon's own reference to the link: while it is open the link stays attached,
    /// pinned or not. Closing it (drop) detaches an unpinned link.
    link: OwnedFd,
    /// Kernel id of the link.
    link_id: u32,
    /// Where the link is pinned (`None`: ephemeral, it ends with the daemon).
    pin: Option<PathBuf>,
}

/// What a check of the attachments found and did, per interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repair {
    /// The pin of a link was gone (the link itself was still attached): pinned again.
    Repinned { iface: String },
    /// The link was detached or ran another program: a new link was attached (and pinned).
    Reattached { iface: String, why: String },
    /// The interface is not enforced and could not be repaired.
    Failed { iface: String, why: String },
}

impl Repair {
    pub fn iface(&self) -> &str {
        match self {
            Repair::Repinned { iface }
            | Repair::Reattached { iface, .. }
            | Repair::Failed { iface, .. } => iface,
        }
    }
}

impl Dataplane {
    /// Attaches the program to `iface`. `Auto` tries native mode and falls back to skb
    /// (generic) mode with a log line. With pins, an interface whose link is already pinned
    /// (by an earlier daemon) keeps its link: the program behind it is swapped atomically
    /// (`bpf_link_update`), so no packet passes unchecked; a new link is pinned.
    pub fn attach(&mut self, iface: &str, mode: XdpMode) -> Result<&Attachment, DataplaneError> {
        let ifindex = super::ifindex_of(iface)?;
        if let Some(pins) = self.pins.clone()
            && let Some((path, mode)) = pinned_link(&pins, iface)
        {
            let program = xdp_program(&mut self.ebpf)?;
            let (link, link_id) = adopt(program, iface, &path, mode)?;
            info!(interface = iface, ifindex, %mode, "XDP link adopted; program replaced atomically");
            self.attachments.push(Attachment {
                iface: iface.to_owned(),
                ifindex,
                mode,
                link,
                link_id,
                pin: Some(path),
            });
            return Ok(self.attachments.last().expect("just pushed"));
        }
        let attachment = self.attach_new(iface, ifindex, mode)?;
        info!(interface = iface, ifindex, mode = %attachment.mode, pinned = attachment.pin.is_some(), "XDP attached");
        self.attachments.push(attachment);
        Ok(self.attachments.last().expect("just pushed"))
    }

    /// A new link of the program on `iface` (pinned when the dataplane pins).
    fn attach_new(
        &mut self,
        iface: &str,
        ifindex: u32,
        mode: XdpMode,
    ) -> Result<Attachment, DataplaneError> {
        let pins = self.pins.clone();
        let program = xdp_program(&mut self.ebpf)?;
        let (id, mode) = match mode {
            XdpMode::Native => (
                attach_as(program, iface, AttachedMode::Native)?,
                AttachedMode::Native,
            ),
            XdpMode::Skb => (
                attach_as(program, iface, AttachedMode::Skb)?,
                AttachedMode::Skb,
            ),
            XdpMode::Auto => match attach_as(program, iface, AttachedMode::Native) {
                Ok(id) => (id, AttachedMode::Native),
                Err(err) => {
                    warn!(interface = iface, error = %err, "native XDP unavailable, falling back to skb (generic) mode");
                    (
                        attach_as(program, iface, AttachedMode::Skb)?,
                        AttachedMode::Skb,
                    )
                }
            },
        };
        let owned = program
            .take_link(id)
            .map_err(|e| DataplaneError::Program(Box::new(e)))?;
        let fd_link = FdLink::try_from(owned).map_err(|e| DataplaneError::link(iface, e))?;
        let (link, link_id) = hold(iface, &fd_link)?;
        let pin = match pins {
            Some(pins) => {
                let path = link_pin_path(&pins, iface, mode);
                fd_link.pin(&path).map_err(|source| DataplaneError::Pin {
                    path: path.display().to_string(),
                    source: Box::new(source),
                })?;
                Some(path)
            }
            // Our own reference keeps the link attached until the attachment is dropped.
            None => None,
        };
        Ok(Attachment {
            iface: iface.to_owned(),
            ifindex,
            mode,
            link,
            link_id,
            pin,
        })
    }

    /// Detaches pinned links of interfaces not in `keep` (after a policy dropped them).
    pub fn prune_links(&mut self, keep: &[&str]) -> Result<(), DataplaneError> {
        // Our references first: an unpinned link detaches when the last one closes.
        self.attachments.retain(|a| {
            let kept = keep.contains(&a.iface.as_str());
            if !kept && a.pin.is_none() {
                info!(
                    interface = a.iface,
                    "XDP detached: the policy no longer lists this interface"
                );
            }
            kept
        });
        if let Some(pins) = &self.pins {
            for (iface, path) in pinned_links(pins)? {
                if !keep.contains(&iface.as_str()) {
                    unpin_link(&path)?;
                    info!(
                        interface = iface,
                        "XDP detached: the policy no longer lists this interface"
                    );
                }
            }
        }
        Ok(())
    }

    /// Lets go of every interface (also done when the `Dataplane` is dropped): unpinned links
    /// are detached. Pinned links stay: they keep the policy enforced after this process ends
    /// (fail closed); `zcfw detach` ([`super::remove_pins`]) removes them.
    pub fn detach_all(&mut self) {
        for a in self.attachments.drain(..) {
            if a.pin.is_none() {
                info!(interface = a.iface, "XDP detached");
            }
        }
    }

    /// Asks the kernel whether every attachment is what it should be: the link still holds
    /// its interface and runs this program, and its pin is in place. Repairs what it can
    /// (a missing pin is pinned again; a detached or replaced link is replaced by a new one)
    /// and returns what it found; an empty list means all is well.
    pub fn verify_attachments(&mut self) -> Vec<Repair> {
        let program_id = match xdp_program(&mut self.ebpf).and_then(|p| {
            p.info()
                .map(|i| i.id())
                .map_err(|e| DataplaneError::Program(Box::new(e)))
        }) {
            Ok(id) => id,
            Err(err) => {
                return self
                    .attachments
                    .iter()
                    .map(|a| Repair::Failed {
                        iface: a.iface.clone(),
                        why: format!("cannot read the program's id: {err}"),
                    })
                    .collect();
            }
        };
        let mut repairs = Vec::new();
        for i in 0..self.attachments.len() {
            let a = &self.attachments[i];
            let lost = match link::state(&a.link) {
                Ok(state) if state.ifindex != a.ifindex => Some(format!(
                    "its link {} was detached from the interface",
                    a.link_id
                )),
                Ok(state) if state.prog_id != program_id => Some(format!(
                    "its link {} runs program {}, not zcfw's ({program_id})",
                    a.link_id, state.prog_id
                )),
                Ok(_) => None,
                Err(err) => Some(format!(
                    "the kernel cannot describe link {}: {err}",
                    a.link_id
                )),
            };
            if let Some(why) = lost {
                repairs.push(self.reattach(i, why));
                continue;
            }
            if let Some(repair) = repin(a) {
                repairs.push(repair);
            }
        }
        for repair in &repairs {
            match repair {
                Repair::Repinned { iface } => warn!(
                    interface = iface,
                    "the pin of the XDP link was removed while the link stayed attached; pinned again"
                ),
                Repair::Reattached { iface, why } => warn!(
                    interface = iface,
                    why, "XDP was no longer attached; attached again (fail closed)"
                ),
                Repair::Failed { iface, why } => error!(
                    interface = iface,
                    why,
                    "XDP is NOT attached and could not be attached again: this interface is not enforced"
                ),
            }
        }
        repairs
    }

    /// Replaces attachment `i` (lost for `why`) by a new link.
    fn reattach(&mut self, i: usize, why: String) -> Repair {
        let (iface, ifindex, mode) = {
            let a = &self.attachments[i];
            (a.iface.clone(), a.ifindex, a.mode)
        };
        // A pin left of the lost link would block the new one's.
        if let Some(pin) = &self.attachments[i].pin
            && let Err(err) = std::fs::remove_file(pin)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            return Repair::Failed {
                iface,
                why: format!("{why}; its pin {} cannot be removed: {err}", pin.display()),
            };
        }
        let wanted = match mode {
            AttachedMode::Native => XdpMode::Native,
            AttachedMode::Skb => XdpMode::Skb,
        };
        match self.attach_new(&iface, ifindex, wanted) {
            Ok(new) => {
                self.attachments[i] = new;
                Repair::Reattached { iface, why }
            }
            Err(err) => Repair::Failed {
                iface,
                why: format!("{why}; attaching again failed: {err}"),
            },
        }
    }
}

/// Puts the pin of `a` back if it is missing or holds another link.
fn repin(a: &Attachment) -> Option<Repair> {
    let path = a.pin.as_ref()?;
    let pinned = match link::from_pin(path) {
        Ok(fd) => link::state(&fd).ok().map(|s| s.id),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            return Some(Repair::Failed {
                iface: a.iface.clone(),
                why: format!("cannot open the pin {}: {err}", path.display()),
            });
        }
    };
    if pinned == Some(a.link_id) {
        return None;
    }
    if pinned.is_some()
        && let Err(err) = std::fs::remove_file(path)
    {
        return Some(Repair::Failed {
            iface: a.iface.clone(),
            why: format!(
                "{} holds another link and cannot be removed: {err}",
                path.display()
            ),
        });
    }
    match link::pin(&a.link, path) {
        Ok(()) => Some(Repair::Repinned {
            iface: a.iface.clone(),
        }),
        Err(err) => Some(Repair::Failed {
            iface: a.iface.clone(),
            why: format!(
                "the pin {} was removed and pinning again failed: {err}; the link stays \
                 attached only while this daemon runs",
                path.display()
            ),
        }),
    }
}

/// Swaps the program behind the link pinned at `path` to `program`; returns our reference.
fn adopt(
    program: &mut Xdp,
    iface: &str,
    path: &Path,
    mode: AttachedMode,
) -> Result<(OwnedFd, u32), DataplaneError> {
    let link = PinnedLink::from_pin(path).map_err(|e| DataplaneError::link(iface, e))?;
    let link = XdpLink::try_from(FdLink::from(link)).map_err(|e| DataplaneError::link(iface, e))?;
    let id = program
        .attach_to_link(link)
        .map_err(|source| DataplaneError::Attach {
            iface: iface.to_owned(),
            mode,
            source: Box::new(source),
        })?;
    let owned = program
        .take_link(id)
        .map_err(|e| DataplaneError::Program(Box::new(e)))?;
    let fd_link = FdLink::try_from(owned).map_err(|e| DataplaneError::link(iface, e))?;
    hold(iface, &fd_link)
}

/// A reference of our own to `fd_link` (aya keeps its descriptor to itself) and its id.
fn hold(iface: &str, fd_link: &FdLink) -> Result<(OwnedFd, u32), DataplaneError> {
    let id = fd_link
        .info()
        .map_err(|e| DataplaneError::link(iface, e))?
        .id();
    let fd = link::by_id(id).map_err(|source| DataplaneError::LinkRef {
        iface: iface.to_owned(),
        source,
    })?;
    Ok((fd, id))
}

fn attach_as(
    program: &mut Xdp,
    iface: &str,
    mode: AttachedMode,
) -> Result<XdpLinkId, DataplaneError> {
    let aya_mode = match mode {
        AttachedMode::Native => AyaXdpMode::Driver,
        AttachedMode::Skb => AyaXdpMode::Skb,
    };
    program
        .attach(iface, aya_mode)
        .map_err(|source| DataplaneError::Attach {
            iface: iface.to_owned(),
            mode,
            source: Box::new(source),
        })
}

/// Where the link of `iface` attached in `mode` is pinned: `links/<mode>/<iface>`. bpffs
/// refuses '.' in names, which interface names (VLANs: `eth0.100`) may contain; ':' may not
/// appear in an interface name, so it stands in for '.'.
fn link_pin_path(pins: &Path, iface: &str, mode: AttachedMode) -> PathBuf {
    pins.join("links")
        .join(mode.to_string())
        .join(iface.replace('.', ":"))
}

/// The pinned link of `iface` under `pins`, and the mode it was attached in.
fn pinned_link(pins: &Path, iface: &str) -> Option<(PathBuf, AttachedMode)> {
    [AttachedMode::Native, AttachedMode::Skb]
        .into_iter()
        .find_map(|mode| {
            let path = link_pin_path(pins, iface, mode);
            path.exists().then_some((path, mode))
        })
}

/// Every pinned link under `pins`: (interface, path).
pub(super) fn pinned_links(pins: &Path) -> Result<Vec<(String, PathBuf)>, DataplaneError> {
    let mut out = Vec::new();
    for mode in [AttachedMode::Native, AttachedMode::Skb] {
        let dir = pins.join("links").join(mode.to_string());
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(DataplaneError::PinDir {
                    path: dir.display().to_string(),
                    source,
                });
            }
        };
        for entry in entries.flatten() {
            let iface = entry.file_name().to_string_lossy().replace(':', ".");
            out.push((iface, entry.path()));
        }
    }
    Ok(out)
}

pub(super) fn unpin_link(path: &Path) -> Result<(), DataplaneError> {
    let link = PinnedLink::from_pin(path)
        .map_err(|e| DataplaneError::link(&path.display().to_string(), e))?;
    // Unpinning drops the last reference once our handle closes (unless a running daemon
    // holds one: `zcfw detach` stops it first): the link detaches.
    link.unpin().map_err(|source| DataplaneError::PinDir {
        path: path.display().to_string(),
        source,
    })?;
    Ok(())
}
