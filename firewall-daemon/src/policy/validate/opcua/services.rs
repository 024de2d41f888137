//! `services:` and `read_only:`: which service requests a client may send, by name (`read`,
//! `create_subscription`) or by the binary encoding id of the request (`673`, `0x2a1`). The
//! housekeeping services (endpoints, sessions, cancel) are always allowed; `read_only: true`
//! adds reads, browsing and subscriptions, and a list adds to it.

use firewall_common::opcua::{
    DANGEROUS, OpcuaProfile, READ_ONLY, SERVICES, service_name, service_named, service_of,
};

use super::super::{Checker, Help, KeyPath, ranges16::scalar_number};
use crate::policy::{
    diag::did_you_mean,
    protocols::{opcua_danger, opcua_service_label},
    raw::Scalar,
};

/// The binary encoding ids of OpenSecureChannelRequest and CloseSecureChannelRequest: the
/// OPN and CLO messages, not requests of a MSG.
const CHANNEL_REQUESTS: [u32; 2] = [446, 452];

/// A request's response has the request's binary encoding id plus this.
const RESPONSE_OFFSET: u32 = 3;

fn service_names() -> String {
    SERVICES
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `CreateSession` → `create_session`; `browse-next` → `browse_next`; `READ` → `read`.
fn snake_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    let mut prev = ' ';
    for ch in text.chars() {
        if ch.is_ascii_uppercase() && (prev.is_ascii_lowercase() || prev.is_ascii_digit()) {
            out.push('_');
        }
        out.push(if ch == '-' || ch == ' ' {
            '_'
        } else {
            ch.to_ascii_lowercase()
        });
        prev = ch;
    }
    out
}

/// A service name (snake_case as in the docs, or OPC 10000-4's CamelCase) or a request's
/// binary encoding id: its index in [`SERVICES`].
pub(super) fn parse_service(s: &Scalar) -> Result<u8, (String, Vec<String>)> {
    if let Some(n) = scalar_number(s) {
        let id = u32::try_from(n).ok();
        if let Some(i) = id.and_then(service_of) {
            return Ok(i);
        }
        let help = match id {
            Some(id) if CHANNEL_REQUESTS.contains(&id) => {
                "OpenSecureChannel (446) and CloseSecureChannel (452) are the OPN and CLO messages, not services: `security_policies` judges OPN, CLO always passes".to_owned()
            }
            Some(id) if id >= RESPONSE_OFFSET && service_of(id - RESPONSE_OFFSET).is_some() => {
                let request = id - RESPONSE_OFFSET;
                format!(
                    "{id} is the response of {} ({request}): list the request",
                    service_of(request).and_then(service_name).unwrap_or("?")
                )
            }
            _ => "use a service name or the binary encoding id of a service request (namespace 0), e.g. 673 for write".to_owned(),
        };
        return Err((
            format!("{n} is no OPC UA service request id"),
            vec![help, format!("names: {}", service_names())],
        ));
    }
    let text = s.to_string();
    let text = text.trim();
    let name = snake_case(text);
    if let Some(i) = service_named(&name) {
        return Ok(i);
    }
    let mut help = Vec::new();
    if matches!(
        name.as_str(),
        "open_secure_channel" | "close_secure_channel"
    ) {
        help.push("OpenSecureChannel and CloseSecureChannel are the OPN and CLO messages, not services: `security_policies` judges OPN, CLO always passes".to_owned());
    } else if let Some(near) = did_you_mean(&name, SERVICES.iter().map(|s| s.name)) {
        help.push(format!("did you mean \"{near}\"?"));
    }
    help.push(format!(
        "use a request id (673) or one of: {}",
        service_names()
    ));
    Err((format!("unknown OPC UA service \"{text}\""), help))
}

/// Applies `read_only` and `services:` of the block at `bp` to `profile`; `false` on errors
/// (reported). Without either, every service passes (the caller warns).
pub(super) fn check_services(
    c: &mut Checker<'_>,
    bp: &KeyPath,
    list: Option<&[Scalar]>,
    read_only: bool,
    profile: &mut OpcuaProfile,
) -> bool {
    if read_only {
        profile.allow_read_only();
    } else if list.is_some() {
        profile.restrict_services();
    }
    let sp = bp.key("services");
    let list = match list {
        None => return true,
        Some([]) => {
            c.error(&sp, "empty service list").help(
                "list services such as `[read, browse, create_subscription, publish]`, or omit the key (with `read_only: true` for reads and subscriptions)",
            );
            return false;
        }
        Some(list) => list,
    };
    let (items, ok) = c.parse_items(&sp, list, parse_service);
    let mut listed: Vec<u8> = Vec::with_capacity(items.len());
    for (kp, index) in items {
        let name = service_name(index).unwrap_or("?");
        if listed.contains(&index) {
            c.warning(&kp, format!("service `{name}` is listed twice"))
                .help("remove the repeated entry");
            continue;
        }
        listed.push(index);
        if read_only && READ_ONLY.contains(&name) {
            c.warning(&kp, format!("`read_only: true` already allows `{name}`"))
                .help("remove it here");
        }
        profile.allow_service(index);
        if DANGEROUS.contains(&name)
            && let Some(why) = opcua_danger(name)
        {
            c.warning(&kp, format!("{} is allowed: {why}", opcua_service_label(index)))
                .help("allow it only on a conduit from the engineering stations or clients that must send it, to the servers they manage");
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str) -> Result<u8, (String, Vec<String>)> {
        parse_service(&Scalar::Text(t.into()))
    }

    fn name(r: Result<u8, (String, Vec<String>)>) -> Option<&'static str> {
        r.ok().and_then(service_name)
    }

    #[test]
    fn names_ids_and_camel_case_parse() {
        assert_eq!(name(s("write")), Some("write"));
        assert_eq!(name(s("CreateSubscription")), Some("create_subscription"));
        assert_eq!(name(s("browse-next")), Some("browse_next"));
        assert_eq!(name(s("RegisterServer2")), Some("register_server2"));
        assert_eq!(name(s("READ")), Some("read"));
        assert_eq!(name(s("673")), Some("write"));
        assert_eq!(name(s("0x2a1")), Some("write"));
        assert_eq!(name(parse_service(&Scalar::Number(631))), Some("read"));
    }

    #[test]
    fn mistakes_are_explained() {
        let (m, help) = s("wrte").expect_err("typo");
        assert_eq!(m, "unknown OPC UA service \"wrte\"");
        assert_eq!(help[0], "did you mean \"write\"?");
        let (_, help) = s("OpenSecureChannel").expect_err("a message");
        assert!(help[0].contains("OPN and CLO messages"), "{help:?}");
        let (m, help) = s("676").expect_err("a response");
        assert_eq!(m, "676 is no OPC UA service request id");
        assert_eq!(
            help[0],
            "676 is the response of write (673): list the request"
        );
        let (_, help) = s("446").expect_err("OPN");
        assert!(help[0].contains("OPN and CLO messages"), "{help:?}");
        let (_, help) = s("99999").expect_err("unknown");
        assert!(help[0].contains("e.g. 673 for write"), "{help:?}");
        assert!(parse_service(&Scalar::Number(-1)).is_err());
    }
}
