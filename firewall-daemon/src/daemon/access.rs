//! Who may do what over the control socket (IEC 62443-3-3 SR 1.1, 1.2, 2.1): the kernel tells
//! who is on the other end of every connection (`SO_PEERCRED`: uid, gid, pid), and that alone
//! decides. Root (and the daemon's own user) may do everything; members of the *admin group*
//! (default `zcfw-admin`) may change the firewall (`reload`, `island`); members of the *read
//! group* (default `zcfw`) may read it (`status`, `stats`, `events`). The socket is mode 0660,
//! group = the read group, so nobody else can even connect; admins must be in both groups, or
//! the admin group is checked for connections the read group let in.
//!
//! Every change and every refused request is logged (journal) and published as an event
//! (`zcfw events`, and the audit log when one is configured, SR 2.8) with who asked: uid, user
//! name, pid, command line, what, and the result.

use nix::unistd::{Gid, Group, Uid, User};
use tracing::{info, warn};

use super::events::{EventHub, now_rfc3339};
use crate::control::{
    Request,
    event::{ControlNotice, Notice},
};

/// What a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Read,
    Change,
}

impl Need {
    pub fn of(request: &Request) -> Need {
        match request {
            Request::Status | Request::Stats | Request::Events { .. } | Request::Capture => {
                Need::Read
            }
            Request::Reload { .. } | Request::Island { .. } => Need::Change,
            Request::Learn {
                action: crate::learn::LearnAction::Read,
            } => Need::Read,
            Request::Learn { .. } => Need::Change,
        }
    }
}

/// The two groups, as configured and resolved at start.
#[derive(Clone, Debug)]
pub struct Roles {
    pub read_group: String,
    pub admin_group: String,
    read_gid: Option<Gid>,
    admin_gid: Option<Gid>,
}

impl Roles {
    /// Resolves the group names; a group that does not exist grants nothing (logged).
    pub fn new(read_group: &str, admin_group: &str) -> Roles {
        let gid = |name: &str| match Group::from_name(name) {
            Ok(Some(group)) => Some(group.gid),
            Ok(None) => {
                info!(
                    group = name,
                    "group does not exist: nobody gets its access to zcfw (root still has all)"
                );
                None
            }
            Err(err) => {
                warn!(group = name, error = %err, "cannot look up group: nobody gets its access");
                None
            }
        };
        Roles {
            read_group: read_group.to_owned(),
            admin_group: admin_group.to_owned(),
            read_gid: gid(read_group),
            admin_gid: gid(admin_group),
        }
    }

    /// The group the control socket belongs to (mode 0660), if it exists.
    pub fn socket_gid(&self) -> Option<Gid> {
        self.read_gid
    }

    /// Whether `peer` may do what `need` says.
    pub fn allows(&self, peer: &Peer, need: Need) -> bool {
        if peer.uid == 0 || peer.uid == nix::unistd::geteuid().as_raw() {
            return true;
        }
        let admin = self.admin_gid.is_some_and(|g| peer.groups.contains(&g));
        match need {
            Need::Change => admin,
            Need::Read => admin || self.read_gid.is_some_and(|g| peer.groups.contains(&g)),
        }
    }
}

/// Who is on the other end of a control connection.
#[derive(Clone, Debug)]
pub struct Peer {
    pub uid: u32,
    pub pid: Option<i32>,
    pub user: String,
    /// Primary and supplementary groups of the user (from the group database).
    pub groups: Vec<Gid>,
    pub command: String,
}

impl Peer {
    /// From the kernel's credentials of the connection.
    pub fn from_cred(uid: u32, gid: u32, pid: Option<i32>) -> Peer {
        let user = User::from_uid(Uid::from_raw(uid)).ok().flatten();
        let mut groups = vec![Gid::from_raw(gid)];
        if let Some(u) = &user
            && let Ok(name) = std::ffi::CString::new(u.name.as_str())
            && let Ok(list) = nix::unistd::getgrouplist(&name, u.gid)
        {
            groups.extend(list);
        }
        Peer {
            uid,
            pid,
            user: user.map_or_else(|| format!("uid {uid}"), |u| u.name),
            groups,
            command: pid.map_or_else(|| "?".to_owned(), command_line),
        }
    }
}

/// The command line of `pid` (`?` when /proc does not show it, e.g. under ProtectProc=).
fn command_line(pid: i32) -> String {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(bytes) if !bytes.is_empty() => {
            let text: Vec<String> = bytes
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let mut line = text.join(" ");
            line.truncate(512);
            line
        }
        _ => "?".to_owned(),
    }
}

/// The request's name as the CLI spells it.
fn what(request: &Request) -> String {
    match request {
        Request::Status => "status".into(),
        Request::Stats => "stats".into(),
        Request::Events { .. } => "events".into(),
        Request::Capture => "capture".into(),
        Request::Reload { policy: None } => "reload".into(),
        Request::Reload { policy: Some(p) } => format!("reload --policy {}", p.display()),
        Request::Island { on } => format!("island {}", if *on { "on" } else { "off" }),
        Request::Learn { action } => format!("learn {action:?}").to_lowercase(),
    }
}

/// Logs (and publishes as an event) a refused request or the outcome of a change. Reads
/// that were allowed are not logged (scrapes and `status` loops would drown the record).
pub fn record(hub: &EventHub, peer: &Peer, request: &Request, allowed: bool, result: &str) {
    let need = Need::of(request);
    if allowed && need == Need::Read {
        return;
    }
    let what = what(request);
    if allowed {
        info!(
            target: "zcfw::audit",
            uid = peer.uid, user = peer.user, pid = peer.pid, command = peer.command,
            what, result, "control request"
        );
    } else {
        warn!(
            target: "zcfw::audit",
            uid = peer.uid, user = peer.user, pid = peer.pid, command = peer.command,
            what, result, "control request refused"
        );
    }
    hub.publish_notice(Notice::Control(ControlNotice {
        time: now_rfc3339(),
        action: if allowed { "changed" } else { "refused" }.to_owned(),
        what,
        result: result.to_owned(),
        uid: peer.uid,
        user: peer.user.clone(),
        pid: peer.pid,
        command: peer.command.clone(),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, groups: &[u32]) -> Peer {
        Peer {
            uid,
            pid: None,
            user: "t".into(),
            groups: groups.iter().map(|g| Gid::from_raw(*g)).collect(),
            command: "?".into(),
        }
    }

    fn roles() -> Roles {
        Roles {
            read_group: "zcfw".into(),
            admin_group: "zcfw-admin".into(),
            read_gid: Some(Gid::from_raw(900)),
            admin_gid: Some(Gid::from_raw(901)),
        }
    }

    #[test]
    fn roles_follow_groups() {
        let r = roles();
        let reader = peer(1000, &[1000, 900]);
        let admin = peer(1001, &[1001, 901]);
        let other = peer(1002, &[1002]);
        assert!(r.allows(&reader, Need::Read));
        assert!(!r.allows(&reader, Need::Change));
        assert!(r.allows(&admin, Need::Read) && r.allows(&admin, Need::Change));
        assert!(!r.allows(&other, Need::Read) && !r.allows(&other, Need::Change));
        assert!(r.allows(&peer(0, &[0]), Need::Change), "root");
    }

    #[test]
    fn missing_groups_grant_nothing() {
        let r = Roles {
            read_gid: None,
            admin_gid: None,
            ..roles()
        };
        assert!(!r.allows(&peer(1000, &[900, 901]), Need::Read));
    }

    #[test]
    fn requests_are_sorted_into_read_and_change() {
        assert_eq!(Need::of(&Request::Stats), Need::Read);
        assert_eq!(Need::of(&Request::Events { follow: true }), Need::Read);
        assert_eq!(Need::of(&Request::Capture), Need::Read);
        assert_eq!(Need::of(&Request::Island { on: false }), Need::Change);
        let learn = |action| Request::Learn { action };
        assert_eq!(
            Need::of(&learn(crate::learn::LearnAction::Read)),
            Need::Read
        );
        assert_eq!(
            Need::of(&learn(crate::learn::LearnAction::Start)),
            Need::Change
        );
        assert_eq!(
            Need::of(&learn(crate::learn::LearnAction::Stop)),
            Need::Change
        );
        assert_eq!(Need::of(&Request::Reload { policy: None }), Need::Change);
    }
}
