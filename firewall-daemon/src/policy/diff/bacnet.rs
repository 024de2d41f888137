//! What changed in a BACnet/IP profile: confirmed and unconfirmed services, BVLC functions and
//! network-layer messages (and the summary of an added or removed BACnet rule).

use firewall_common::{
    bacnet::{self, BacnetProfile},
    sets::Bitmap256,
};

use super::{At, Differ};

fn bvlc_set(p: &BacnetProfile) -> Bitmap256 {
    let mut b = Bitmap256::EMPTY;
    for c in 0..16u8 {
        if p.allows_bvlc(c) {
            b.insert(c);
        }
    }
    b
}

fn names(b: &Bitmap256, name: fn(u8) -> Option<&'static str>) -> String {
    let v: Vec<String> = (0..=u8::MAX)
        .filter(|&c| b.contains(c))
        .map(|c| match name(c) {
            Some(n) => format!("{n}({c})"),
            None => c.to_string(),
        })
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// `confirmed read_property(12), ...; unconfirmed who_is(8); bvlc ...; network_messages none`.
pub(super) fn summary(p: &BacnetProfile) -> Vec<String> {
    vec![
        format!("confirmed {}", names(&p.confirmed, bacnet::confirmed_name)),
        format!(
            "unconfirmed {}",
            names(&p.unconfirmed, bacnet::unconfirmed_name)
        ),
        format!("bvlc {}", names(&bvlc_set(p), bacnet::bvlc_name)),
        format!(
            "network_messages {}",
            names(&p.network_messages, bacnet::network_message_name)
        ),
    ]
}

impl Differ {
    pub(super) fn bacnet(&mut self, at: &At, o: &BacnetProfile, n: &BacnetProfile) {
        self.bitmap_named(
            at,
            "services",
            &o.confirmed,
            &n.confirmed,
            bacnet::confirmed_name,
        );
        self.bitmap_named(
            at,
            "services (unconfirmed)",
            &o.unconfirmed,
            &n.unconfirmed,
            bacnet::unconfirmed_name,
        );
        self.bitmap_named(at, "bvlc", &bvlc_set(o), &bvlc_set(n), bacnet::bvlc_name);
        self.bitmap_named(
            at,
            "network_messages",
            &o.network_messages,
            &n.network_messages,
            bacnet::network_message_name,
        );
    }
}
