//! `protocol: bacnet`: names, codes, `read_only`, `bvlc`, `network_messages`, the required
//! block, and the warnings about what changes or silences a device.

use firewall_common::bacnet::BacnetProfile;

use super::*;

fn block(opts: &str) -> String {
    with_rule(&format!("{{ protocol: bacnet, bacnet: {{ {opts} }} }}"))
}

fn bacnet(src: &str) -> (ValidatedPolicy, BacnetProfile) {
    let p = ok(src);
    let profile = match &p.conduits()[0].rules[1] {
        Rule::Bacnet { profile, .. } => *profile,
        other => panic!("rule 1 is {other:?}"),
    };
    (p, profile)
}

#[test]
fn read_only_is_the_reading_services_over_udp_47808() {
    let (p, profile) = bacnet(&block("read_only: true"));
    assert!(p.warnings().is_empty(), "{:?}", warning_texts(&p));
    assert_eq!(profile, BacnetProfile::read_only());
    let rule = &p.conduits()[0].rules[1];
    assert_eq!(rule.to_string(), "bacnet 47808");
    assert_eq!(rule.protocol(), Protocol::Bacnet);
    assert_eq!(rule.inspector(), firewall_common::maps::inspector::BACNET);
    assert_eq!(rule.points(), vec![(0x11_BAC0, 0x11_BAC0)]);
}

#[test]
fn names_codes_bvlc_network_messages_and_warnings() {
    let (p, profile) = bacnet(&block(
        "services: [who_is, i_am, read_property, 15, \"unconfirmed:10\", reinitialize_device], bvlc: [original_unicast, forwarded_npdu, 5], network_messages: [who_is_router_to_network, 6]",
    ));
    for code in [12, 15, 20] {
        assert!(profile.confirmed.contains(code), "{code}");
    }
    assert!(!profile.confirmed.contains(14));
    for code in [0, 8, 10] {
        assert!(profile.unconfirmed.contains(code), "{code}");
    }
    assert!(profile.allows_bvlc(0x0A) && profile.allows_bvlc(0x04) && profile.allows_bvlc(0x05));
    assert!(
        !profile.allows_bvlc(0x0B),
        "a bvlc list replaces the defaults"
    );
    assert!(profile.network_messages.contains(0) && profile.network_messages.contains(6));
    let w = warning_texts(&p);
    for text in [
        "write_property (15) is allowed",
        "reinitialize_device (20) is allowed",
        "write_group (10) is allowed",
        "Forwarded-NPDU is allowed",
        "BBMD management `register_foreign_device`",
        "routing table",
    ] {
        assert!(w.iter().any(|m| m.contains(text)), "{text}: {w:?}");
    }
    assert_eq!(w.len(), 6, "{w:?}");
}

#[test]
fn errors() {
    let d = error(
        &block("services: [write_propery]"),
        "unknown BACnet service \"write_propery\"",
    );
    assert_eq!(d.help[0], "did you mean \"write_property\"?");
    assert_eq!(
        d.key.as_deref(),
        Some("conduits[0].rules[1].bacnet.services[0]")
    );
    error(
        &block("services: [256]"),
        "BACnet service choice 256 is out of range",
    );
    error(&block("services: []"), "empty service list");
    error(&block("bvlc: [original_unicast]"), "allows no service");
    error(
        &block("read_only: true, bvlc: [forwarded]"),
        "unknown BVLC function \"forwarded\"",
    );
    error(
        &block("read_only: true, bvlc: [16]"),
        "BVLC function 16 is out of range",
    );
    error(
        &block("read_only: true, network_messages: [who_is_router]"),
        "unknown network message",
    );
    error(
        &with_rule("{ protocol: bacnet }"),
        "`protocol: bacnet` needs a `bacnet:` block",
    );
    let d = error(
        &block("read_only: true, writes: true"),
        "unknown key \"writes\"",
    );
    assert_eq!(d.key.as_deref(), Some("conduits[0].rules[1].bacnet.writes"));
}
