//! The `enip:` block of a `protocol: enip` rule → the rule's [`EnipProfile`], every mistake
//! placed at its key with a fix (docs/enip.md describes the language).
//!
//! `services` allow-lists CIP services by name (common services on every class; the tag
//! services on tags, the Connection Manager's on class 6) or by code (on every class);
//! `commands` the encapsulation commands (default: all but nop); `read_only: true` the
//! session commands, SendRRData and the reading services; `classes` the object classes
//! requests may address.

use firewall_common::enip::{
    COMMANDS, DEFAULT_COMMANDS, Effect, EnipProfile, MAX_RANGES, READ_ONLY_COMMANDS, SERVICES,
    Service, Target, command, command_entry, command_named, service, service_named,
};

use super::{Checker, Help, KeyPath, ranges16};
use crate::policy::{
    diag::did_you_mean,
    protocols::{enip_danger, enip_service_label},
    raw::{RawEnip, Scalar},
};

fn service_names() -> String {
    SERVICES
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn command_names() -> String {
    COMMANDS
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A service name (any case): its entry; or a code 0..=255 (on every class).
pub(super) fn parse_service(
    s: &Scalar,
) -> Result<Result<&'static Service, u8>, (String, Vec<String>)> {
    if let Some(n) = ranges16::scalar_number(s) {
        return u8::try_from(n).map(Err).map_err(|_| {
            (
                format!("CIP service code {n} is out of range"),
                vec!["service codes are 0 to 255 (0x00-0xFF); bit 7 marks replies".into()],
            )
        });
    }
    let text = s.to_string();
    let text = text.trim();
    if let Some(s) = service_named(text) {
        return Ok(Ok(s));
    }
    let mut help = Vec::new();
    let candidates = SERVICES
        .iter()
        .map(|s| s.name)
        .chain(COMMANDS.iter().map(|c| c.name));
    if let Some(near) = did_you_mean(&text.to_lowercase(), candidates) {
        if command_named(near).is_some() {
            help.push(format!(
                "\"{near}\" is an encapsulation command: list it under `commands:`"
            ));
        } else {
            help.push(format!("did you mean \"{near}\"?"));
        }
    }
    help.push(format!(
        "use a service code 0x00-0xFF or one of: {}",
        service_names()
    ));
    Err((format!("unknown CIP service \"{text}\""), help))
}

/// A command name (any case) or code 0..=255.
pub(super) fn parse_command(s: &Scalar) -> Result<u8, (String, Vec<String>)> {
    if let Some(n) = ranges16::scalar_number(s) {
        return u8::try_from(n).map_err(|_| {
            (
                format!("encapsulation command {n} is out of range"),
                vec![format!(
                    "EtherNet/IP commands over TCP are below 0x100; names: {}",
                    command_names()
                )],
            )
        });
    }
    let text = s.to_string();
    let text = text.trim();
    if let Some(code) = command_named(text) {
        return Ok(code);
    }
    let mut help = Vec::new();
    let candidates = COMMANDS
        .iter()
        .map(|c| c.name)
        .chain(SERVICES.iter().map(|s| s.name));
    if let Some(near) = did_you_mean(&text.to_lowercase(), candidates) {
        if service_named(near).is_some() {
            help.push(format!(
                "\"{near}\" is a CIP service: list it under `services:`"
            ));
        } else {
            help.push(format!("did you mean \"{near}\"?"));
        }
    }
    help.push(format!("use one of: {}", command_names()));
    Err((format!("unknown EtherNet/IP command \"{text}\""), help))
}

/// Checks the `enip:` block at `bp`; `None` if it has errors (already reported).
pub(super) fn check_enip(c: &mut Checker<'_>, bp: &KeyPath, raw: RawEnip) -> Option<EnipProfile> {
    let read_only = raw.read_only == Some(true);
    let mut profile = if read_only {
        EnipProfile::read_only()
    } else {
        EnipProfile::new()
    };
    let mut ok = true;
    let cp = bp.key("commands");
    match raw.commands.as_deref() {
        None => {
            if !read_only {
                for code in DEFAULT_COMMANDS {
                    profile.allow_command(code);
                }
            }
        }
        Some([]) => {
            c.error(&cp, "empty command list").help(format!(
                "list the encapsulation commands clients send, or omit the key (every command but nop); names: {}",
                command_names()
            ));
            return None;
        }
        Some(list) => {
            for (k, s) in list.iter().enumerate() {
                let kp = cp.index(k);
                let code = match parse_command(s) {
                    Ok(code) => code,
                    Err((msg, help)) => {
                        ok = false;
                        let d = c.error(&kp, msg);
                        for h in help {
                            d.help(h);
                        }
                        continue;
                    }
                };
                let entry = command_entry(code);
                if profile.allows_command(code) {
                    let d = c.warning(
                        &kp,
                        format!(
                            "command `{}` is listed twice",
                            entry.map_or("?", |e| e.name)
                        ),
                    );
                    if read_only && READ_ONLY_COMMANDS.contains(&code) {
                        d.help("`read_only: true` already allows it; remove it here");
                    } else {
                        d.help("remove the repeated entry");
                    }
                    continue;
                }
                let Some(entry) = entry else {
                    ok = false;
                    c.error(
                        &kp,
                        format!("{code:#04x} is not an EtherNet/IP command over TCP"),
                    )
                    .help(format!("use one of: {}", command_names()));
                    continue;
                };
                if read_only && entry.effect != Effect::Read && code != command::NOP {
                    ok = false;
                    c.error(
                        &kp,
                        format!(
                            "`read_only: true` cannot be combined with `{}`: connected messaging needs a Forward_Open, which is not a read",
                            entry.name
                        ),
                    )
                    .help("remove `read_only: true` and list the services, e.g. `services: [get_attribute_single, read_tag, forward_open, forward_close]`");
                    continue;
                }
                profile.allow_command(code);
            }
        }
    }
    let sp = bp.key("services");
    let data = profile.allows_command(command::SEND_RR_DATA)
        || profile.allows_command(command::SEND_UNIT_DATA);
    match raw.services.as_deref() {
        None => {
            if !read_only && data {
                c.error(bp, "EtherNet/IP rule allows no CIP service")
                    .help("list the services clients request, e.g. `services: [get_attribute_single, read_tag]`, or write `read_only: true` (session commands, SendRRData with get_attribute_single/all/list and read_tag, also inside unconnected_send and multiple_service_packet)");
                return None;
            }
        }
        Some([]) => {
            c.error(&sp, "empty service list").help(format!(
                "list CIP service names or codes, or omit the key; names: {}",
                service_names()
            ));
            return None;
        }
        Some(list) => {
            for (k, s) in list.iter().enumerate() {
                let kp = sp.index(k);
                match parse_service(s) {
                    Err((msg, help)) => {
                        ok = false;
                        let d = c.error(&kp, msg);
                        for h in help {
                            d.help(h);
                        }
                    }
                    Ok(Ok(s)) => {
                        if profile.allows_service(s.code, s.target) {
                            let d = c.warning(&kp, format!("service `{}` is listed twice", s.name));
                            if read_only {
                                d.help("`read_only: true` already allows it; remove it here");
                            } else {
                                d.help("remove the repeated entry");
                            }
                            continue;
                        }
                        if read_only && !matches!(s.effect, Effect::Read | Effect::Container) {
                            ok = false;
                            c.error(
                                &kp,
                                format!(
                                    "`read_only: true` cannot be combined with `{}`, which is not a read",
                                    s.name
                                ),
                            )
                            .help("remove `read_only: true` and list every service the client needs, e.g. `services: [get_attribute_single, read_tag, write_tag]`");
                            continue;
                        }
                        if let Some(what) = enip_danger(s) {
                            c.warning(&kp, format!("{} is {what}", enip_service_label(s.code, s.target)))
                                .help("allow it only on a conduit from the engineering stations that must send it");
                        }
                        profile.allow_service(s.code, s.target);
                    }
                    Ok(Err(code)) => {
                        if read_only {
                            ok = false;
                            c.error(&kp, format!("`read_only: true` cannot be combined with service {code:#04x}: a code is allowed on every class, reads or not"))
                                .help("name the reading service instead (get_attribute_single, read_tag, ...), or remove `read_only: true`");
                            continue;
                        }
                        if code & service::REPLY != 0 {
                            ok = false;
                            c.error(&kp, format!("{code:#04x} has bit 7 set: it is a reply, which clients do not send"))
                                .help(format!("write the request's code, {:#04x}", code & !service::REPLY));
                            continue;
                        }
                        if code >= service::FIRST_CLASS_SPECIFIC {
                            c.warning(&kp, format!("service {code:#04x} is class-specific: a code allows it on every class (0x4e is forward_close on the connection manager and read_modify_write_tag on tags)"))
                                .help("name it instead (write_tag, forward_close, ...) to allow it on its own object only");
                        } else if let Some(what) = SERVICES
                            .iter()
                            .find(|s| s.code == code)
                            .and_then(enip_danger)
                        {
                            c.warning(&kp, format!("{} is {what}", enip_service_label(code, Target::Any)))
                                .help("allow it only on a conduit from the engineering stations that must send it");
                        }
                        profile.allow_service(code, Target::Any);
                    }
                }
            }
        }
    }
    if let Some(list) = raw.classes.as_deref() {
        match ranges16::check_ranges16(c, &bp.key("classes"), list, "class", MAX_RANGES) {
            Some(ranges) => {
                for (a, b) in ranges {
                    profile.allow_classes(a, b).ok()?;
                }
            }
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let opens = profile.allows_service(service::FORWARD_OPEN, Target::ConnectionManager)
        || profile.allows_service(service::LARGE_FORWARD_OPEN, Target::ConnectionManager);
    let unit = profile.allows_command(command::SEND_UNIT_DATA);
    if opens && !unit {
        c.warning(&cp, "forward_open is allowed but `send_unit_data` is not: the connections it opens carry their requests in SendUnitData, which is denied")
            .help("add `send_unit_data` to `commands`, or remove forward_open from `services`");
    } else if unit && !opens && raw.services.is_some() {
        c.warning(&sp, "`send_unit_data` is allowed but no forward_open: connected messages flow only on connections a Forward_Open opened")
            .help("add `forward_open` and `forward_close` to `services` (the connection's requests are judged by `services` too), or remove `send_unit_data`");
    }
    Some(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_commands_parse() {
        let s = |t: &str| parse_service(&Scalar::Text(t.into()));
        assert_eq!(s("write_tag").map(|r| r.map(|s| s.code)), Ok(Ok(0x4D)));
        assert_eq!(
            s("FORWARD_OPEN").map(|r| r.map(|s| s.target)),
            Ok(Ok(Target::ConnectionManager))
        );
        assert_eq!(s("0x4E").map(|r| r.map(|s| s.code)), Ok(Err(0x4E)));
        let (m, help) = s("get_atribute_single").expect_err("typo");
        assert_eq!(m, "unknown CIP service \"get_atribute_single\"");
        assert_eq!(help[0], "did you mean \"get_attribute_single\"?");
        let (_, help) = s("send_rr_data").expect_err("command");
        assert!(help[0].contains("list it under `commands:`"), "{help:?}");
        assert!(parse_service(&Scalar::Number(256)).is_err());
        let c = |t: &str| parse_command(&Scalar::Text(t.into()));
        assert_eq!(c("register_session"), Ok(0x65));
        assert_eq!(c("0x70"), Ok(0x70));
        let (_, help) = c("read_tag").expect_err("service");
        assert!(help[0].contains("`services:`"), "{help:?}");
    }
}
