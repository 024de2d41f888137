//! The OPC UA findings: tcp/4840 taken by a rule without OPC UA inspection (ZCFW-A027),
//! channels that are not signed or use a deprecated security policy (ZCFW-A028), and
//! services that change servers, or services not judged at all, into SL3-4 zones
//! (ZCFW-A029).

use firewall_common::opcua::{
    DANGEROUS, OpcuaProfile, POLICIES, POLICY_NONE, profile_flags, service_named,
};

use super::{
    Changes, Ctx, OPCUA_CHANGES, OPCUA_UNINSPECTED, OPCUA_UNSIGNED, Severity, by_level, rule_key,
    uninspected::Uninspected, zone_label,
};
use crate::policy::{Conduit, Protocol, Rule, Zone, protocols::opcua_service_label};

/// [`OPCUA_UNINSPECTED`]: tcp/4840 taken by a plain tcp rule.
pub(super) const UNINSPECTED: Uninspected = Uninspected {
    id: OPCUA_UNINSPECTED,
    protocol: Protocol::Opcua,
    passes: "channels of every security policy (`None` included: unsigned), writes, method calls and changes to the address space pass",
    needs: "security_policies and services (or `read_only: true`)",
};

/// The names of the policies `profile` allows whose index passes `pick`.
fn policies(profile: &OpcuaProfile, pick: impl Fn(u8) -> bool) -> Vec<&'static str> {
    (0u8..)
        .zip(POLICIES.iter())
        .filter(|(i, _)| profile.allows_policy(*i) && pick(*i))
        .map(|(_, p)| p.name)
        .collect()
}

/// What of `profile` lets a client change the server: dangerous services allowed, every
/// service (no `services`), or every service on channels whose bodies pass unjudged.
pub(super) fn changing(profile: &OpcuaProfile) -> Vec<String> {
    if profile.flags & profile_flags::RESTRICT_SERVICES == 0 {
        return vec!["every service (the rule has neither `services` nor `read_only`)".to_owned()];
    }
    let mut out: Vec<String> = DANGEROUS
        .iter()
        .filter_map(|name| service_named(name))
        .filter(|&i| profile.allows_service(i))
        .map(opcua_service_label)
        .collect();
    let signing = policies(profile, |i| i != POLICY_NONE);
    if profile.flags & profile_flags::ENCRYPTED_PASS != 0 && !signing.is_empty() {
        out.push(format!(
            "any service on channels of {} (`security_modes` lists `sign_and_encrypt`: their bodies pass unjudged)",
            signing.join(", ")
        ));
    }
    out
}

pub(super) fn opcua_rule(
    cx: &mut Ctx<'_>,
    ci: usize,
    c: &Conduit,
    to: &Zone,
    ri: usize,
    rule: &Rule,
    profile: &OpcuaProfile,
) {
    let key = format!("{}.opcua", rule_key(ci, ri));
    let into = zone_label(to);
    if profile.allows_policy(POLICY_NONE)
        && let Some(sev) = by_level(
            to.security_level,
            [
                Some(Severity::Low),
                Some(Severity::Medium),
                Some(Severity::High),
            ],
        )
    {
        cx.push(
            OPCUA_UNSIGNED,
            sev,
            format!(
                "rule `{rule}` of conduit \"{}\" admits OPC UA channels of security policy None into {into}: they are neither signed nor encrypted, so communication integrity (SR 3.1) and confidentiality (SR 4.1) are not met on this conduit",
                c.name
            ),
        )
        .at_conduit(c, format!("{key}.security_policies"))
        .fix("list only signing policies (Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss) once servers and clients have certificates; give clients the endpoint and server certificate instead of discovering them over a None channel");
    }
    let deprecated = policies(profile, |i| POLICIES[usize::from(i)].deprecated);
    if !deprecated.is_empty() {
        let sev = if to.security_level >= 3 {
            Severity::Medium
        } else {
            Severity::Low
        };
        cx.push(
            OPCUA_UNSIGNED,
            sev,
            format!(
                "rule `{rule}` of conduit \"{}\" admits OPC UA channels of deprecated security policies into {into}: {} (SHA-1 signatures)",
                c.name,
                deprecated.join(", ")
            ),
        )
        .at_conduit(c, format!("{key}.security_policies"))
        .fix("have the servers offer Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss and list those instead");
    }
    Changes {
        id: OPCUA_CHANGES,
        allows: "lets OPC UA requests that change the server",
        changes: &changing(profile),
        detail: None,
        key,
        fix: "allow these only from the engineering station's zone and document the reason; use `read_only: true` elsewhere, and leave `sign_and_encrypt` out of `security_modes` where services must be judged",
    }
    .push(cx, c, to, rule);
}

#[cfg(test)]
mod tests {
    use firewall_common::opcua::policy_named;

    use super::*;

    #[test]
    fn what_changes_a_server() {
        let mut p = OpcuaProfile::new();
        p.allow_policy(policy_named("Basic256Sha256").unwrap_or(0));
        assert_eq!(changing(&p).len(), 1, "no services list: every service");
        p.allow_read_only();
        assert!(changing(&p).is_empty());
        p.allow_service(service_named("write").unwrap_or(0));
        p.allow_service(service_named("call").unwrap_or(0));
        assert_eq!(changing(&p), ["write (673)", "call (712)"]);
        p.flags |= profile_flags::ENCRYPTED_PASS;
        let c = changing(&p);
        assert!(c[2].contains("channels of Basic256Sha256"), "{c:?}");
    }
}
