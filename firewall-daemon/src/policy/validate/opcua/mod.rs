//! The `opcua:` block of a `protocol: opcua` rule → the rule's [`OpcuaProfile`], every
//! mistake placed at its key with a fix (docs/opcua.md describes the language).
//!
//! [`policies`] resolves `security_policies` (required: what an OpenSecureChannel may ask
//! for); [`modes`] `security_modes` (whether bodies of signing channels may be encrypted, and
//! so pass unjudged); [`services`] `services` and `read_only` (which requests a client may
//! send on channels whose bodies are judged). The warnings that need more than one key are
//! here.

use firewall_common::opcua::{OpcuaProfile, POLICY_NONE, profile_flags};

use super::{Checker, Help, KeyPath};
use crate::policy::raw::RawOpcua;

mod modes;
mod policies;
mod services;

/// Checks the `opcua:` block at `bp`; `None` if it has errors (already reported).
pub(super) fn check_opcua(
    c: &mut Checker<'_>,
    bp: &KeyPath,
    raw: RawOpcua,
) -> Option<OpcuaProfile> {
    let mut profile = OpcuaProfile::new();
    let allowed = policies::check_policies(c, bp, raw.security_policies.as_deref());
    let modes = modes::check_modes(c, bp, raw.security_modes.as_deref());
    let read_only = raw.read_only == Some(true);
    let services_ok =
        services::check_services(c, bp, raw.services.as_deref(), read_only, &mut profile);
    let (allowed, modes) = (allowed?, modes?);
    if !services_ok {
        return None;
    }
    for index in 0..8u8 {
        if allowed & 1 << index != 0 {
            profile.allow_policy(index);
        }
    }
    let restricted = profile.flags & profile_flags::RESTRICT_SERVICES != 0;
    if !restricted {
        c.warning(bp, "every OPC UA service passes on channels of an allowed security policy: writes, method calls, changes to the address space and history included")
            .help("list what clients may ask for, e.g. `services: [read, browse, create_subscription, publish]`, or write `read_only: true` (reads, browsing, subscriptions)");
    }
    let signing = allowed & !(1 << POLICY_NONE);
    let mp = bp.key("security_modes");
    if modes.given && signing == 0 {
        c.warning(&mp, "`security_modes` has no effect: the only security policy listed is `None`, whose channels are neither signed nor encrypted")
            .help("remove `security_modes`, or list the signing policies the servers offer under `security_policies`");
    } else if modes.sign_and_encrypt {
        profile.flags |= profile_flags::ENCRYPTED_PASS;
        if !modes.sign {
            c.warning(&mp, "zcfw cannot require SignAndEncrypt: the OpenSecureChannel does not say which mode a channel uses, so channels in mode Sign pass too")
                .help("have the servers offer SignAndEncrypt endpoints only; `security_modes` tells zcfw whether bodies may be encrypted, not which mode to enforce");
        }
        if restricted {
            c.warning(&mp, format!(
                "on channels of {} only the security policy is enforced: with `sign_and_encrypt` their bodies may be encrypted, so they pass without the `services` check",
                policies::names_of(signing).join(", ")
            ))
            .help("leave out `sign_and_encrypt` (and have the servers offer Sign endpoints) to have services judged on every channel: without it a SignAndEncrypt channel is denied as `opcua_encrypted`");
        }
    }
    Some(profile)
}
