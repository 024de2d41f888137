//! BACnet service choices, BVLC functions and network-layer message types: codes, names in the
//! policy language (lower snake_case of ASHRAE 135's names) and which are dangerous.

/// One service (confirmed or unconfirmed), BVLC function or network-layer message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Named {
    pub code: u8,
    pub name: &'static str,
}

const fn n(code: u8, name: &'static str) -> Named {
    Named { code, name }
}

/// Confirmed services (BACnetConfirmedServiceChoice).
pub const CONFIRMED: [Named; 34] = [
    n(0, "acknowledge_alarm"),
    n(1, "confirmed_cov_notification"),
    n(2, "confirmed_event_notification"),
    n(3, "get_alarm_summary"),
    n(4, "get_enrollment_summary"),
    n(5, "subscribe_cov"),
    n(6, "atomic_read_file"),
    n(7, "atomic_write_file"),
    n(8, "add_list_element"),
    n(9, "remove_list_element"),
    n(10, "create_object"),
    n(11, "delete_object"),
    n(12, "read_property"),
    n(13, "read_property_conditional"),
    n(14, "read_property_multiple"),
    n(15, "write_property"),
    n(16, "write_property_multiple"),
    n(17, "device_communication_control"),
    n(18, "confirmed_private_transfer"),
    n(19, "confirmed_text_message"),
    n(20, "reinitialize_device"),
    n(21, "vt_open"),
    n(22, "vt_close"),
    n(23, "vt_data"),
    n(24, "authenticate"),
    n(25, "request_key"),
    n(26, "read_range"),
    n(27, "life_safety_operation"),
    n(28, "subscribe_cov_property"),
    n(29, "get_event_information"),
    n(30, "subscribe_cov_property_multiple"),
    n(31, "confirmed_cov_notification_multiple"),
    n(32, "confirmed_audit_notification"),
    n(33, "audit_log_query"),
];

/// Unconfirmed services (BACnetUnconfirmedServiceChoice).
pub const UNCONFIRMED: [Named; 15] = [
    n(0, "i_am"),
    n(1, "i_have"),
    n(2, "unconfirmed_cov_notification"),
    n(3, "unconfirmed_event_notification"),
    n(4, "unconfirmed_private_transfer"),
    n(5, "unconfirmed_text_message"),
    n(6, "time_synchronization"),
    n(7, "who_has"),
    n(8, "who_is"),
    n(9, "utc_time_synchronization"),
    n(10, "write_group"),
    n(11, "unconfirmed_cov_notification_multiple"),
    n(12, "unconfirmed_audit_notification"),
    n(13, "who_am_i"),
    n(14, "you_are"),
];

/// BVLC functions of BACnet/IP (Annex J).
pub const BVLC: [Named; 13] = [
    n(0x00, "bvlc_result"),
    n(0x01, "write_broadcast_distribution_table"),
    n(0x02, "read_broadcast_distribution_table"),
    n(0x03, "read_broadcast_distribution_table_ack"),
    n(0x04, "forwarded_npdu"),
    n(0x05, "register_foreign_device"),
    n(0x06, "read_foreign_device_table"),
    n(0x07, "read_foreign_device_table_ack"),
    n(0x08, "delete_foreign_device_table_entry"),
    n(0x09, "distribute_broadcast_to_network"),
    n(0x0A, "original_unicast_npdu"),
    n(0x0B, "original_broadcast_npdu"),
    n(0x0C, "secure_bvll"),
];

/// Policy spellings of BVLC functions beside [`BVLC`]'s names.
pub const BVLC_ALIASES: [(&str, u8); 2] =
    [("original_unicast", 0x0A), ("original_broadcast", 0x0B)];

/// Network-layer message types (0x80-0xFF are proprietary).
pub const NETWORK_MESSAGES: [Named; 20] = [
    n(0x00, "who_is_router_to_network"),
    n(0x01, "i_am_router_to_network"),
    n(0x02, "i_could_be_router_to_network"),
    n(0x03, "reject_message_to_network"),
    n(0x04, "router_busy_to_network"),
    n(0x05, "router_available_to_network"),
    n(0x06, "initialize_routing_table"),
    n(0x07, "initialize_routing_table_ack"),
    n(0x08, "establish_connection_to_network"),
    n(0x09, "disconnect_connection_to_network"),
    n(0x0A, "challenge_request"),
    n(0x0B, "security_payload"),
    n(0x0C, "security_response"),
    n(0x0D, "request_key_update"),
    n(0x0E, "update_key_set"),
    n(0x0F, "update_distribution_key"),
    n(0x10, "request_master_key"),
    n(0x11, "set_master_key"),
    n(0x12, "what_is_network_number"),
    n(0x13, "network_number_is"),
];

/// BVLC functions that carry an NPDU, and where it starts in the BVLC message.
pub const fn npdu_offset(function: u8) -> Option<usize> {
    match function {
        bvlc::FORWARDED_NPDU => Some(10),
        bvlc::DISTRIBUTE_BROADCAST | bvlc::ORIGINAL_UNICAST | bvlc::ORIGINAL_BROADCAST => Some(4),
        _ => None,
    }
}

/// BVLC function codes the walker and the policy name.
pub mod bvlc {
    pub const RESULT: u8 = 0x00;
    pub const FORWARDED_NPDU: u8 = 0x04;
    pub const DISTRIBUTE_BROADCAST: u8 = 0x09;
    pub const ORIGINAL_UNICAST: u8 = 0x0A;
    pub const ORIGINAL_BROADCAST: u8 = 0x0B;
}

/// Confirmed services of the `read_only: true` preset.
pub const READ_ONLY_CONFIRMED: [u8; 3] = [12, 14, 26];
/// Unconfirmed services of the `read_only: true` preset.
pub const READ_ONLY_UNCONFIRMED: [u8; 4] = [0, 1, 7, 8];
/// BVLC functions of the `read_only: true` preset (and of a block without `bvlc`).
pub const DEFAULT_BVLC: [u8; 3] = [
    bvlc::RESULT,
    bvlc::ORIGINAL_UNICAST,
    bvlc::ORIGINAL_BROADCAST,
];

/// Confirmed services that change a device or its program, or silence it: `zcfw check`
/// warns about them and `zcfw audit` lists them.
pub const DANGEROUS_CONFIRMED: [u8; 11] = [7, 8, 9, 10, 11, 15, 16, 17, 18, 20, 27];
/// Unconfirmed services that change a device (write_group, you_are, private transfer).
pub const DANGEROUS_UNCONFIRMED: [u8; 3] = [4, 10, 14];

fn find(table: &[Named], name: &str) -> Option<u8> {
    table
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .map(|s| s.code)
}

fn name_in(table: &'static [Named], code: u8) -> Option<&'static str> {
    table.iter().find(|s| s.code == code).map(|s| s.name)
}

/// The confirmed service named `name`.
pub fn confirmed_named(name: &str) -> Option<u8> {
    find(&CONFIRMED, name)
}

/// The unconfirmed service named `name`.
pub fn unconfirmed_named(name: &str) -> Option<u8> {
    find(&UNCONFIRMED, name)
}

/// The BVLC function named `name` (names and aliases).
pub fn bvlc_named(name: &str) -> Option<u8> {
    find(&BVLC, name).or_else(|| {
        BVLC_ALIASES
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(name))
            .map(|(_, c)| *c)
    })
}

/// The network-layer message named `name`.
pub fn network_message_named(name: &str) -> Option<u8> {
    find(&NETWORK_MESSAGES, name)
}

/// The name of confirmed service `code`.
pub fn confirmed_name(code: u8) -> Option<&'static str> {
    name_in(&CONFIRMED, code)
}

/// The name of unconfirmed service `code`.
pub fn unconfirmed_name(code: u8) -> Option<&'static str> {
    name_in(&UNCONFIRMED, code)
}

/// The name of BVLC function `code`.
pub fn bvlc_name(code: u8) -> Option<&'static str> {
    name_in(&BVLC, code)
}

/// The name of network-layer message `code`.
pub fn network_message_name(code: u8) -> Option<&'static str> {
    name_in(&NETWORK_MESSAGES, code)
}
