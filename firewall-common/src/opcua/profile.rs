//! The inspection profile of an OPC UA rule (written by the daemon, read by the data path):
//! the security policies an OpenSecureChannel may ask for, the services a client may request,
//! and whether the bodies of channels with a security policy other than `None` are judged.

use super::{
    services::{HOUSEKEEPING, READ_ONLY, service_named},
    wire::POLICIES,
};

/// Flag bits of [`OpcuaProfile::flags`].
pub mod profile_flags {
    /// Service requests are checked against [`super::OpcuaProfile::services`]; without it
    /// every service passes on a channel whose policy is allowed.
    pub const RESTRICT_SERVICES: u8 = 1 << 0;
    /// Bodies of channels whose policy is not `None` pass unjudged (`security_modes` lists
    /// `sign_and_encrypt`: such a body may be encrypted). Without it they are judged as
    /// cleartext (mode Sign), and an encrypted body fails closed (`opcua_encrypted`).
    pub const ENCRYPTED_PASS: u8 = 1 << 1;
}

/// What an OPC UA inspection profile allows a client to send.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpcuaProfile {
    /// Bit `i`: [`super::services::SERVICES`]`[i]` may be requested.
    pub services: u64,
    /// Bit `i`: [`super::wire::POLICIES`]`[i]` may be asked for in an OpenSecureChannel.
    pub policies: u8,
    /// [`profile_flags`].
    pub flags: u8,
    pub _pad: [u8; 6],
}

const _: () = {
    assert!(core::mem::size_of::<OpcuaProfile>() == 16);
    assert!(core::mem::align_of::<OpcuaProfile>() == 8);
    assert!(POLICIES.len() <= 8);
};

#[cfg(feature = "user")]
// SAFETY: #[repr(C)], Copy, only integers and explicit padding (size asserted above), so every
// bit pattern is a valid value.
unsafe impl aya::Pod for OpcuaProfile {}

impl Default for OpcuaProfile {
    fn default() -> Self {
        Self::new()
    }
}

impl OpcuaProfile {
    /// No security policy; every service (no `services` list).
    pub const fn new() -> OpcuaProfile {
        OpcuaProfile {
            services: 0,
            policies: 0,
            flags: 0,
            _pad: [0; 6],
        }
    }

    /// Allows security policy `index` of [`POLICIES`].
    pub const fn allow_policy(&mut self, index: u8) {
        self.policies |= 1 << (index & 7);
    }

    /// Whether an OpenSecureChannel may ask for policy `index`.
    #[inline(always)]
    pub const fn allows_policy(&self, index: u8) -> bool {
        index < 8 && self.policies & (1 << (index & 7)) != 0
    }

    /// Restricts services to the housekeeping ones (then [`Self::allow_service`] adds).
    pub fn restrict_services(&mut self) {
        self.flags |= profile_flags::RESTRICT_SERVICES;
        for name in HOUSEKEEPING {
            if let Some(i) = service_named(name) {
                self.allow_service(i);
            }
        }
    }

    /// The `read_only: true` services (restricting them).
    pub fn allow_read_only(&mut self) {
        self.restrict_services();
        for name in READ_ONLY {
            if let Some(i) = service_named(name) {
                self.allow_service(i);
            }
        }
    }

    /// Allows service `index` of [`super::services::SERVICES`].
    pub const fn allow_service(&mut self, index: u8) {
        self.services |= 1 << (index & 63);
    }

    /// Whether a client may request service `index`.
    #[inline(always)]
    pub const fn allows_service(&self, index: u8) -> bool {
        self.flags & profile_flags::RESTRICT_SERVICES == 0
            || (index < 64 && self.services & (1 << (index & 63)) != 0)
    }

    /// Whether the body of a MSG on a channel of policy `policy` (`None`: not seen, the flow
    /// was picked up mid-stream) is judged.
    #[inline(always)]
    pub const fn judges_bodies(&self, policy: Option<u8>) -> bool {
        if self.flags & profile_flags::RESTRICT_SERVICES == 0 {
            return false;
        }
        match policy {
            // Possibly encrypted; judged as cleartext unless the conduit lets it pass.
            Some(p) if p != super::wire::POLICY_NONE => {
                self.flags & profile_flags::ENCRYPTED_PASS == 0
            }
            // None, or not seen: fail closed (an encrypted channel picked up mid-stream is
            // denied and reset; the client's new OpenSecureChannel is then seen).
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opcua::services::service_named;

    #[test]
    fn read_only_keeps_housekeeping_and_reads_not_writes() {
        let mut p = OpcuaProfile::new();
        assert!(p.allows_service(service_named("write").unwrap()));
        p.allow_read_only();
        for ok in [
            "read",
            "browse",
            "publish",
            "create_session",
            "get_endpoints",
        ] {
            assert!(p.allows_service(service_named(ok).unwrap()), "{ok}");
        }
        for no in [
            "write",
            "call",
            "add_nodes",
            "history_update",
            "register_nodes",
        ] {
            assert!(!p.allows_service(service_named(no).unwrap()), "{no}");
        }
        assert!(p.judges_bodies(Some(0)) && p.judges_bodies(Some(3)) && p.judges_bodies(None));
        p.flags |= profile_flags::ENCRYPTED_PASS;
        assert!(p.judges_bodies(Some(0)) && !p.judges_bodies(Some(3)));
        assert!(p.judges_bodies(None));
        assert!(!OpcuaProfile::new().judges_bodies(Some(0)));
    }
}
