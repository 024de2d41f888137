//! EtherNet/IP encapsulation commands and CIP services: codes, names in the policy language
//! (lower snake_case of the ODVA specification's names), the object a class-specific service
//! belongs to, and what each does.

/// What a command or service does to the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Reads or negotiates; changes nothing (the `read_only` set).
    Read,
    /// Writes attributes, tags or objects.
    Write,
    /// Resets, starts or stops the device or an object.
    Control,
    /// Opens or closes a CIP connection (Forward_Open / Forward_Close).
    Connection,
    /// Carries other requests, each judged on its own (Unconnected Send, Multiple Service
    /// Packet).
    Container,
    /// Anything else.
    Other,
}

/// Encapsulation command codes (the first two octets of the header).
pub mod command {
    pub const NOP: u8 = 0x00;
    pub const LIST_SERVICES: u8 = 0x04;
    pub const LIST_IDENTITY: u8 = 0x63;
    pub const LIST_INTERFACES: u8 = 0x64;
    pub const REGISTER_SESSION: u8 = 0x65;
    pub const UNREGISTER_SESSION: u8 = 0x66;
    pub const SEND_RR_DATA: u8 = 0x6F;
    pub const SEND_UNIT_DATA: u8 = 0x70;
}

/// One encapsulation command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    pub code: u8,
    pub name: &'static str,
    pub effect: Effect,
}

const fn cmd(code: u8, name: &'static str, effect: Effect) -> Command {
    Command { code, name, effect }
}

/// Every encapsulation command EtherNet/IP defines over TCP.
pub const COMMANDS: [Command; 8] = {
    use Effect::*;
    [
        cmd(command::NOP, "nop", Other),
        cmd(command::LIST_SERVICES, "list_services", Read),
        cmd(command::LIST_IDENTITY, "list_identity", Read),
        cmd(command::LIST_INTERFACES, "list_interfaces", Read),
        cmd(command::REGISTER_SESSION, "register_session", Read),
        cmd(command::UNREGISTER_SESSION, "unregister_session", Read),
        // Their CIP requests are judged by `services`.
        cmd(command::SEND_RR_DATA, "send_rr_data", Read),
        cmd(command::SEND_UNIT_DATA, "send_unit_data", Connection),
    ]
};

/// The commands of the `read_only: true` preset (no connected messaging).
pub const READ_ONLY_COMMANDS: [u8; 6] = [
    command::LIST_SERVICES,
    command::LIST_IDENTITY,
    command::LIST_INTERFACES,
    command::REGISTER_SESSION,
    command::UNREGISTER_SESSION,
    command::SEND_RR_DATA,
];

/// The commands allowed when a block names no `commands`: every command but nop; what the
/// data commands carry is judged by `services`.
pub const DEFAULT_COMMANDS: [u8; 7] = [
    command::LIST_SERVICES,
    command::LIST_IDENTITY,
    command::LIST_INTERFACES,
    command::REGISTER_SESSION,
    command::UNREGISTER_SESSION,
    command::SEND_RR_DATA,
    command::SEND_UNIT_DATA,
];

/// Whether `code` is a command EtherNet/IP defines over TCP (in the data path: a match, no
/// table read).
#[inline(always)]
pub const fn is_command(code: u8) -> bool {
    matches!(
        code,
        command::NOP
            | command::LIST_SERVICES
            | command::LIST_IDENTITY
            | command::LIST_INTERFACES
            | command::REGISTER_SESSION
            | command::UNREGISTER_SESSION
            | command::SEND_RR_DATA
            | command::SEND_UNIT_DATA
    )
}

/// The entry of command `code`.
pub fn command_entry(code: u8) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.code == code)
}

/// The code a command name stands for (case-insensitive).
pub fn command_named(name: &str) -> Option<u8> {
    COMMANDS
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .map(|c| c.code)
}

/// CIP service codes the walker knows by heart.
pub mod service {
    pub const GET_ATTRIBUTES_ALL: u8 = 0x01;
    pub const RESET: u8 = 0x05;
    pub const MULTIPLE_SERVICE_PACKET: u8 = 0x0A;
    pub const GET_ATTRIBUTE_SINGLE: u8 = 0x0E;
    pub const SET_ATTRIBUTE_SINGLE: u8 = 0x10;
    pub const READ_TAG: u8 = 0x4C;
    pub const WRITE_TAG: u8 = 0x4D;
    pub const FORWARD_CLOSE: u8 = 0x4E;
    pub const UNCONNECTED_SEND: u8 = 0x52;
    pub const FORWARD_OPEN: u8 = 0x54;
    pub const LARGE_FORWARD_OPEN: u8 = 0x5B;
    /// Services from here on mean different things on different classes.
    pub const FIRST_CLASS_SPECIFIC: u8 = 0x4B;
    /// Bit 7 of the service octet marks a reply.
    pub const REPLY: u8 = 0x80;
}

/// CIP object classes the walker knows by heart.
pub mod class {
    pub const IDENTITY: u16 = 0x01;
    pub const MESSAGE_ROUTER: u16 = 0x02;
    pub const CONNECTION_MANAGER: u16 = 0x06;
    /// Symbol object (Logix tags); a symbolic path counts as this class.
    pub const SYMBOL: u16 = 0x6B;
}

/// What a request addresses, for the services whose meaning depends on the class
/// (codes from [`service::FIRST_CLASS_SPECIFIC`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Target {
    /// A common service: the same on every class.
    Any = 0,
    /// A tag: an ANSI extended symbolic path, or the Symbol object (class 0x6B).
    Tag = 1,
    /// The Connection Manager (class 6).
    ConnectionManager = 2,
}

impl Target {
    /// The target of a request whose path names `class` (or no class), symbolic or not.
    #[inline(always)]
    pub const fn of(class: Option<u16>, symbolic: bool) -> Target {
        if symbolic {
            return Target::Tag;
        }
        match class {
            Some(class::SYMBOL) => Target::Tag,
            Some(class::CONNECTION_MANAGER) => Target::ConnectionManager,
            _ => Target::Any,
        }
    }

    /// The name of the object in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Target::Any => "any class",
            Target::Tag => "tags",
            Target::ConnectionManager => "the connection manager",
        }
    }
}

/// One CIP service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Service {
    pub code: u8,
    pub name: &'static str,
    /// [`Target::Any`] for the common services (codes below 0x4B).
    pub target: Target,
    pub effect: Effect,
}

const fn s(code: u8, name: &'static str, target: Target, effect: Effect) -> Service {
    Service {
        code,
        name,
        target,
        effect,
    }
}

/// The CIP services a policy names: the common services, the Logix tag services and the
/// Connection Manager's.
pub const SERVICES: [Service; 35] = {
    use Effect::*;
    use Target::*;
    [
        s(0x01, "get_attributes_all", Any, Read),
        s(0x02, "set_attributes_all", Any, Write),
        s(0x03, "get_attribute_list", Any, Read),
        s(0x04, "set_attribute_list", Any, Write),
        s(0x05, "reset", Any, Control),
        s(0x06, "start", Any, Control),
        s(0x07, "stop", Any, Control),
        s(0x08, "create", Any, Write),
        s(0x09, "delete", Any, Write),
        s(0x0A, "multiple_service_packet", Any, Container),
        s(0x0D, "apply_attributes", Any, Write),
        s(0x0E, "get_attribute_single", Any, Read),
        s(0x10, "set_attribute_single", Any, Write),
        s(0x11, "find_next_object_instance", Any, Read),
        s(0x15, "restore", Any, Write),
        s(0x16, "save", Any, Write),
        s(0x17, "no_operation", Any, Other),
        s(0x18, "get_member", Any, Read),
        s(0x19, "set_member", Any, Write),
        s(0x1A, "insert_member", Any, Write),
        s(0x1B, "remove_member", Any, Write),
        s(0x1C, "group_sync", Any, Other),
        s(0x4C, "read_tag", Tag, Read),
        s(0x4D, "write_tag", Tag, Write),
        s(0x4E, "read_modify_write_tag", Tag, Write),
        s(0x52, "read_tag_fragmented", Tag, Read),
        s(0x53, "write_tag_fragmented", Tag, Write),
        s(0x55, "get_instance_attribute_list", Tag, Read),
        s(0x4E, "forward_close", ConnectionManager, Connection),
        s(0x52, "unconnected_send", ConnectionManager, Container),
        s(0x54, "forward_open", ConnectionManager, Connection),
        s(0x56, "get_connection_data", ConnectionManager, Read),
        s(0x57, "search_connection_data", ConnectionManager, Read),
        s(0x5A, "get_connection_owner", ConnectionManager, Read),
        s(0x5B, "large_forward_open", ConnectionManager, Connection),
    ]
};

/// The service of a policy name (case-insensitive).
pub fn service_named(name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// The best name of service `code` on `target` (for events and `zcfw compile`): the
/// class-specific name where the target has one, else the common name.
pub fn service_name(code: u8, target: Target) -> Option<&'static str> {
    SERVICES
        .iter()
        .find(|s| s.code == code && s.target == target)
        .or_else(|| {
            SERVICES
                .iter()
                .find(|s| s.code == code && s.target == Target::Any)
        })
        .map(|s| s.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lower_case_and_found() {
        for (i, a) in SERVICES.iter().enumerate() {
            assert_eq!(a.name, a.name.to_ascii_lowercase());
            assert_eq!(service_named(a.name), Some(a));
            assert_eq!(service_name(a.code, a.target), Some(a.name));
            assert_eq!(
                a.target == Target::Any,
                a.code < service::FIRST_CLASS_SPECIFIC,
                "{}",
                a.name
            );
            for b in &SERVICES[i + 1..] {
                assert!(a.name != b.name);
                assert!(a.code != b.code || a.target != b.target, "{}", a.name);
            }
        }
        for c in COMMANDS {
            assert_eq!(command_named(c.name), Some(c.code));
            assert_eq!(command_entry(c.code), Some(&c));
        }
        assert_eq!(service_named("WRITE_TAG").map(|s| s.code), Some(0x4D));
        assert_eq!(service_named("write"), None);
    }

    #[test]
    fn class_specific_services_depend_on_the_target() {
        assert_eq!(
            service_name(0x4E, Target::Tag),
            Some("read_modify_write_tag")
        );
        assert_eq!(
            service_name(0x4E, Target::ConnectionManager),
            Some("forward_close")
        );
        assert_eq!(service_name(0x4E, Target::Any), None);
        assert_eq!(
            service_name(0x0E, Target::Tag),
            Some("get_attribute_single")
        );
        assert_eq!(Target::of(Some(6), false), Target::ConnectionManager);
        assert_eq!(Target::of(Some(6), true), Target::Tag);
        assert_eq!(Target::of(Some(0x6B), false), Target::Tag);
        assert_eq!(Target::of(None, false), Target::Any);
    }
}
