//! The `bacnet:` block of a `protocol: bacnet` rule → the rule's [`BacnetProfile`], every
//! mistake placed at its key with a fix (docs/bacnet.md describes the language).
//!
//! `services` lists confirmed and unconfirmed services by name (`read_property`, `who_is`) or
//! code (a bare number is a confirmed service choice, `unconfirmed:8` an unconfirmed one);
//! `read_only: true` adds the reading services; `bvlc` replaces the default BVLC functions
//! (`bvlc_result`, `original_unicast`, `original_broadcast`); `network_messages` lists the
//! network-layer messages that may cross (none by default).

use firewall_common::bacnet::{
    BVLC, BacnetProfile, CONFIRMED, NETWORK_MESSAGES, READ_ONLY_CONFIRMED, READ_ONLY_UNCONFIRMED,
    UNCONFIRMED, bvlc_named, confirmed_named, network_message_named, unconfirmed_named,
};

use super::{Checker, Help, KeyPath, ranges16::scalar_number};
use crate::policy::{
    diag::did_you_mean,
    protocols::{bacnet_danger, bacnet_service_label},
    raw::{RawBacnet, Scalar},
};

/// A service entry: (unconfirmed, code).
fn parse_service(s: &Scalar) -> Result<(bool, u8), (String, Vec<String>)> {
    let range = |n: i128| {
        u8::try_from(n).map_err(|_| {
            (
                format!("BACnet service choice {n} is out of range"),
                vec!["service choices are 0 to 255".into()],
            )
        })
    };
    if let Some(n) = scalar_number(s) {
        return Ok((false, range(n)?));
    }
    let text = s.to_string();
    let text = text.trim();
    for (prefix, unconfirmed) in [("confirmed:", false), ("unconfirmed:", true)] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let n = scalar_number(&Scalar::Text(rest.to_string())).ok_or_else(|| {
                (
                    format!("\"{text}\" has no service code after `{prefix}`"),
                    vec![format!("write e.g. `{prefix}8`, or the service's name")],
                )
            })?;
            return Ok((unconfirmed, range(n)?));
        }
    }
    if let Some(c) = confirmed_named(text) {
        return Ok((false, c));
    }
    if let Some(c) = unconfirmed_named(text) {
        return Ok((true, c));
    }
    let mut help = Vec::new();
    let lower = text.to_lowercase().replace(['-', ' '], "_");
    let candidates = CONFIRMED.iter().chain(UNCONFIRMED.iter()).map(|s| s.name);
    if let Some(near) = did_you_mean(&lower, candidates) {
        help.push(format!("did you mean \"{near}\"?"));
    }
    help.push(
        "use a service name (read_property, write_property, who_is, i_am, ...; docs/bacnet.md lists them), a confirmed service choice (12), or `unconfirmed:8`".into(),
    );
    Err((format!("unknown BACnet service \"{text}\""), help))
}

/// `bvlc:` and `network_messages:` entries: a name of `table` (with `lookup`) or a code.
fn parse_code(
    s: &Scalar,
    what: &str,
    max: i128,
    lookup: fn(&str) -> Option<u8>,
    names: &[firewall_common::bacnet::Named],
) -> Result<u8, (String, Vec<String>)> {
    if let Some(n) = scalar_number(s) {
        return u8::try_from(n)
            .ok()
            .filter(|&c| i128::from(c) <= max)
            .ok_or_else(|| {
                (
                    format!("{what} {n} is out of range"),
                    vec![format!("{what}s are 0 to {max} ({max:#x})")],
                )
            });
    }
    let text = s.to_string();
    let text = text.trim();
    if let Some(c) = lookup(text) {
        return Ok(c);
    }
    let mut help = Vec::new();
    if let Some(near) = did_you_mean(&text.to_lowercase(), names.iter().map(|n| n.name)) {
        help.push(format!("did you mean \"{near}\"?"));
    }
    let list: Vec<&str> = names.iter().map(|n| n.name).collect();
    help.push(format!("use a code or one of: {}", list.join(", ")));
    Err((format!("unknown {what} \"{text}\""), help))
}

/// Checks the `bacnet:` block at `bp`; `None` if it has errors (already reported).
pub(super) fn check_bacnet(
    c: &mut Checker<'_>,
    bp: &KeyPath,
    raw: RawBacnet,
) -> Option<BacnetProfile> {
    let mut ok = true;
    let mut profile = BacnetProfile::new();
    let read_only = raw.read_only == Some(true);
    if read_only {
        for code in READ_ONLY_CONFIRMED {
            profile.confirmed.insert(code);
        }
        for code in READ_ONLY_UNCONFIRMED {
            profile.unconfirmed.insert(code);
        }
    }
    match raw.services.as_deref() {
        None if !read_only => {
            ok = false;
            c.error(bp, "the `bacnet:` block allows no service")
                .help("list what clients may ask for, e.g. `services: [who_is, i_am, read_property]`, or write `read_only: true`");
        }
        None => {}
        Some([]) => {
            ok = false;
            c.error(&bp.key("services"), "empty service list")
                .help("list services such as `[who_is, i_am, read_property]`, or omit the key with `read_only: true`");
        }
        Some(list) => {
            let sp = bp.key("services");
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
                    Ok((unconfirmed, code)) => {
                        let set = if unconfirmed {
                            &mut profile.unconfirmed
                        } else {
                            &mut profile.confirmed
                        };
                        if set.contains(code) {
                            c.warning(
                                &kp,
                                format!(
                                    "{} is listed twice (or by `read_only`)",
                                    bacnet_service_label(unconfirmed, code)
                                ),
                            )
                            .help("remove the repeated entry");
                        }
                        set.insert(code);
                        if let Some(why) = bacnet_danger(unconfirmed, code) {
                            c.warning(
                                &kp,
                                format!(
                                    "{} is allowed: {why}",
                                    bacnet_service_label(unconfirmed, code)
                                ),
                            )
                            .help("allow it only on a conduit from the operator workstations or engineering tools that need it, to the devices they manage");
                        }
                    }
                }
            }
        }
    }
    if let Some(list) = raw.bvlc.as_deref() {
        let lp = bp.key("bvlc");
        if list.is_empty() {
            ok = false;
            c.error(&lp, "empty BVLC function list")
                .help("list e.g. `[original_unicast, original_broadcast]`, or omit the key for those and bvlc_result");
        }
        profile.clear_bvlc();
        for (k, s) in list.iter().enumerate() {
            let kp = lp.index(k);
            match parse_code(s, "BVLC function", 15, bvlc_named, &BVLC) {
                Err((msg, help)) => {
                    ok = false;
                    let d = c.error(&kp, msg);
                    for h in help {
                        d.help(h);
                    }
                }
                Ok(code) => {
                    profile.allow_bvlc(code);
                    match code {
                        0x01 | 0x05 | 0x08 => {
                            c.warning(&kp, format!("BBMD management `{}` is allowed: it rewrites a broadcast distribution or foreign device table, which redirects broadcasts (who_is, i_am) across the site", firewall_common::bacnet::bvlc_name(code).unwrap_or("?")))
                                .help("allow it only from the management station that configures the BBMDs");
                        }
                        0x04 => {
                            c.warning(&kp, "Forwarded-NPDU is allowed: the request it wraps is judged like any other, but its source is the B/IP address inside it, not the sender")
                                .help("allow it only on conduits from BBMDs");
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    if let Some(list) = raw.network_messages.as_deref() {
        let lp = bp.key("network_messages");
        if list.is_empty() {
            ok = false;
            c.error(&lp, "empty network message list")
                .help("omit the key to deny every network-layer message, or list e.g. `[who_is_router_to_network]`");
        }
        for (k, s) in list.iter().enumerate() {
            let kp = lp.index(k);
            match parse_code(
                s,
                "network message",
                255,
                network_message_named,
                &NETWORK_MESSAGES,
            ) {
                Err((msg, help)) => {
                    ok = false;
                    let d = c.error(&kp, msg);
                    for h in help {
                        d.help(h);
                    }
                }
                Ok(code) => {
                    profile.network_messages.insert(code);
                    if matches!(code, 0x06 | 0x08 | 0x09) {
                        c.warning(&kp, "it changes a router's routing table or connections: traffic between BACnet networks can be cut or redirected")
                            .help("allow it only from the station that manages the routers");
                    }
                }
            }
        }
    }
    ok.then_some(profile)
}
