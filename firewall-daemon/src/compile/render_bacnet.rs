//! `zcfw compile` output of the BACnet/IP inspection profiles: JSON objects and text lines with
//! service, BVLC function and network-layer message names.
//!
//! JSON (fields are only ever added):
//! ```text
//! "bacnet_profiles": [{ "id", "confirmed": [{ "code", "name" }], "unconfirmed": [...],
//!                       "bvlc": [{ "code", "name" }], "network_messages": [...],
//!                       "conduit_entries": [indexes] }]
//! ```

use std::fmt::Write;

use firewall_common::bacnet::{
    BacnetProfile, bvlc_name, confirmed_name, network_message_name, unconfirmed_name,
};
use serde::Serialize;

use super::render_profiles::{JsonCode, members, named};

#[derive(Serialize)]
pub(super) struct JsonBacnetProfile {
    id: u16,
    confirmed: Vec<JsonCode>,
    unconfirmed: Vec<JsonCode>,
    bvlc: Vec<JsonCode>,
    network_messages: Vec<JsonCode>,
    conduit_entries: Vec<usize>,
}

fn bvlc_codes(p: &BacnetProfile) -> impl Iterator<Item = u8> + '_ {
    (0..16u8).filter(|&c| p.allows_bvlc(c))
}

/// The JSON object of BACnet profile `id`, used by the conduit entries `users`.
pub(super) fn bacnet_json(id: u16, p: &BacnetProfile, users: Vec<usize>) -> JsonBacnetProfile {
    JsonBacnetProfile {
        id,
        confirmed: members(&p.confirmed)
            .map(|c| JsonCode::new(c, confirmed_name(c)))
            .collect(),
        unconfirmed: members(&p.unconfirmed)
            .map(|c| JsonCode::new(c, unconfirmed_name(c)))
            .collect(),
        bvlc: bvlc_codes(p)
            .map(|c| JsonCode::new(c, bvlc_name(c)))
            .collect(),
        network_messages: members(&p.network_messages)
            .map(|c| JsonCode::new(c, network_message_name(c)))
            .collect(),
        conduit_entries: users,
    }
}

/// The text lines of a BACnet profile.
pub(super) fn describe_bacnet(out: &mut String, p: &BacnetProfile) {
    let _ = writeln!(
        out,
        "         confirmed       {}",
        named(members(&p.confirmed).map(|c| (c, confirmed_name(c))))
    );
    let _ = writeln!(
        out,
        "         unconfirmed     {}",
        named(members(&p.unconfirmed).map(|c| (c, unconfirmed_name(c))))
    );
    let _ = writeln!(
        out,
        "         bvlc            {}",
        named(bvlc_codes(p).map(|c| (c, bvlc_name(c))))
    );
    let _ = writeln!(
        out,
        "         network msgs    {}",
        named(members(&p.network_messages).map(|c| (c, network_message_name(c))))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bacnet_lines_and_json() {
        let mut p = BacnetProfile::read_only();
        p.allow_bvlc(4);
        let mut text = String::new();
        describe_bacnet(&mut text, &p);
        assert!(
            text.contains("read_property(12), read_property_multiple(14), read_range(26)"),
            "{text}"
        );
        assert!(text.contains("who_is(8)"), "{text}");
        assert!(text.contains("forwarded_npdu(4)"), "{text}");
        assert!(text.contains("network msgs    none"), "{text}");
        let j = serde_json::to_value(bacnet_json(1, &p, vec![3])).unwrap();
        assert_eq!(j["confirmed"][0]["name"], "read_property");
        assert_eq!(j["bvlc"][1]["code"], 4);
        assert_eq!(j["conduit_entries"][0], 3);
    }
}
