//! OPC UA service requests: the numeric id of each request's `DefaultBinary` encoding (the
//! type id a MSG body starts with, namespace 0), its name in the policy language (lower
//! snake_case of OPC 10000-4's service name), and the sets the language names.

/// One service request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Service {
    /// The request's `DefaultBinary` encoding id (namespace 0).
    pub id: u16,
    pub name: &'static str,
}

const fn s(id: u16, name: &'static str) -> Service {
    Service { id, name }
}

/// Every service request of OPC 10000-4 sent in a MSG (OpenSecureChannel and
/// CloseSecureChannel are the OPN and CLO messages), by index (bit `i` of
/// [`super::OpcuaProfile::services`]).
pub const SERVICES: [Service; 37] = [
    s(422, "find_servers"),
    s(12208, "find_servers_on_network"),
    s(428, "get_endpoints"),
    s(437, "register_server"),
    s(12211, "register_server2"),
    s(461, "create_session"),
    s(467, "activate_session"),
    s(473, "close_session"),
    s(479, "cancel"),
    s(488, "add_nodes"),
    s(494, "add_references"),
    s(500, "delete_nodes"),
    s(506, "delete_references"),
    s(527, "browse"),
    s(533, "browse_next"),
    s(554, "translate_browse_paths"),
    s(560, "register_nodes"),
    s(566, "unregister_nodes"),
    s(615, "query_first"),
    s(621, "query_next"),
    s(631, "read"),
    s(664, "history_read"),
    s(673, "write"),
    s(700, "history_update"),
    s(712, "call"),
    s(751, "create_monitored_items"),
    s(763, "modify_monitored_items"),
    s(769, "set_monitoring_mode"),
    s(775, "set_triggering"),
    s(781, "delete_monitored_items"),
    s(787, "create_subscription"),
    s(793, "modify_subscription"),
    s(799, "set_publishing_mode"),
    s(826, "publish"),
    s(832, "republish"),
    s(841, "transfer_subscriptions"),
    s(847, "delete_subscriptions"),
];

/// Channel and session housekeeping: every profile allows these (a client cannot read
/// without a session, and discovery answers only what the endpoints are).
pub const HOUSEKEEPING: [&str; 6] = [
    "get_endpoints",
    "find_servers",
    "create_session",
    "activate_session",
    "close_session",
    "cancel",
];

/// What `read_only: true` allows beyond [`HOUSEKEEPING`]: reads, browsing, and subscriptions
/// with their publish loop.
pub const READ_ONLY: [&str; 16] = [
    "read",
    "browse",
    "browse_next",
    "translate_browse_paths",
    "create_subscription",
    "modify_subscription",
    "set_publishing_mode",
    "publish",
    "republish",
    "transfer_subscriptions",
    "delete_subscriptions",
    "create_monitored_items",
    "modify_monitored_items",
    "set_monitoring_mode",
    "set_triggering",
    "delete_monitored_items",
];

/// Services that change the server: writes, method calls, the address space, history, server
/// registration (`zcfw check` warns when a conduit allows one).
pub const DANGEROUS: [&str; 9] = [
    "write",
    "call",
    "add_nodes",
    "add_references",
    "delete_nodes",
    "delete_references",
    "history_update",
    "register_server",
    "register_server2",
];

/// The index in [`SERVICES`] of service `name`.
pub fn service_named(name: &str) -> Option<u8> {
    SERVICES
        .iter()
        .position(|s| s.name == name)
        .map(|i| i as u8)
}

/// The first id of [`BY_ID`].
const BY_ID_FIRST: u32 = 400;

/// Service index + 1 (0: none) by `id - BY_ID_FIRST`, for the ids below
/// `BY_ID_FIRST + 512` (all but the discovery ids of OPC 10000-12): one masked load in the
/// data path in place of a search.
const BY_ID: [u8; 512] = {
    let mut t = [0u8; 512];
    let mut i = 0;
    while i < SERVICES.len() {
        let id = SERVICES[i].id as u32;
        if id >= BY_ID_FIRST && id < BY_ID_FIRST + 512 {
            t[(id - BY_ID_FIRST) as usize] = i as u8 + 1;
        }
        i += 1;
    }
    t
};

/// The services whose ids [`BY_ID`] does not hold: (id, index).
const FAR: [(u32, u8); 2] = [(12208, 1), (12211, 4)];

const _: () = {
    let mut i = 0;
    while i < FAR.len() {
        assert!(SERVICES[FAR[i].1 as usize].id as u32 == FAR[i].0);
        i += 1;
    }
};

/// The index in [`SERVICES`] of the request whose binary encoding id is `id` (namespace 0).
#[inline(always)]
pub fn service_of(id: u32) -> Option<u8> {
    // The load comes before the range test, so that the index keeps its mask (a load under
    // the test loses it to the optimiser, and the verifier then sees an unbounded index).
    let at = id.wrapping_sub(BY_ID_FIRST);
    let v = BY_ID[(at & 511) as usize];
    if at < 512 {
        return if v == 0 { None } else { Some(v - 1) };
    }
    if id == FAR[0].0 {
        Some(FAR[0].1)
    } else if id == FAR[1].0 {
        Some(FAR[1].1)
    } else {
        None
    }
}

/// The name of service `index` (events).
pub fn service_name(index: u8) -> Option<&'static str> {
    SERVICES.get(index as usize).map(|s| s.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_unique_and_the_sets_name_services() {
        for (i, a) in SERVICES.iter().enumerate() {
            for b in &SERVICES[i + 1..] {
                assert!(a.id != b.id && a.name != b.name, "{a:?} {b:?}");
            }
            assert_eq!(service_of(a.id as u32), Some(i as u8));
            assert_eq!(service_named(a.name), Some(i as u8));
        }
        for name in HOUSEKEEPING.iter().chain(&READ_ONLY).chain(&DANGEROUS) {
            assert!(service_named(name).is_some(), "{name}");
        }
        for name in DANGEROUS {
            assert!(!READ_ONLY.contains(&name) && !HOUSEKEEPING.contains(&name));
        }
        assert!(SERVICES.len() <= 64);
        assert_eq!(service_of(446), None, "OpenSecureChannel is OPN, not a MSG");
        for id in (0..20_000).filter(|id| !SERVICES.iter().any(|s| s.id as u32 == *id)) {
            assert_eq!(service_of(id), None, "{id}");
        }
    }
}
