//! What changed in an EtherNet/IP profile: commands, services (on every class, on tags, on
//! the connection manager) and classes (and the summary of an added or removed rule).

use firewall_common::{
    enip::{self, EnipProfile, Target, profile_flags},
    sets::Bitmap256,
};

use super::{
    At, Differ,
    values::{range, used},
};

fn classes(p: &EnipProfile) -> Vec<(u32, u32)> {
    if p.flags & profile_flags::RESTRICT_CLASSES == 0 {
        vec![(0, 0xFFFF)]
    } else {
        used(&p.classes.ranges)
    }
}

fn named(b: &Bitmap256, name: impl Fn(u8) -> Option<&'static str>) -> String {
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

/// `commands register_session(101), ...; services get_attribute_single(14); ...`.
pub(super) fn summary(p: &EnipProfile) -> Vec<String> {
    let classes: Vec<String> = classes(p).into_iter().map(|(a, b)| range(a, b)).collect();
    vec![
        format!(
            "commands {}",
            named(&p.commands, |c| enip::command_entry(c).map(|e| e.name))
        ),
        format!(
            "services {}",
            named(&p.services, |c| enip::service_name(c, Target::Any))
        ),
        format!(
            "tag_services {}",
            named(&p.tag_services, |c| enip::service_name(c, Target::Tag))
        ),
        format!(
            "connection_services {}",
            named(&p.connection_services, |c| {
                enip::service_name(c, Target::ConnectionManager)
            })
        ),
        format!("classes {}", classes.join(", ")),
    ]
}

impl Differ {
    pub(super) fn enip(&mut self, at: &At, o: &EnipProfile, n: &EnipProfile) {
        self.bitmap_named(at, "commands", &o.commands, &n.commands, |c| {
            enip::command_entry(c).map(|e| e.name)
        });
        self.bitmap_named(at, "services", &o.services, &n.services, |c| {
            enip::service_name(c, Target::Any)
        });
        self.bitmap_named(at, "tag_services", &o.tag_services, &n.tag_services, |c| {
            enip::service_name(c, Target::Tag)
        });
        self.bitmap_named(
            at,
            "connection_services",
            &o.connection_services,
            &n.connection_services,
            |c| enip::service_name(c, Target::ConnectionManager),
        );
        self.intervals(at, "classes", &classes(o), &classes(n), range);
    }
}
