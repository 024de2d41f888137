//! S7comm job functions, userdata functions and memory areas: codes, names in the policy
//! language (lower snake_case of Wireshark's and Siemens' names), and what each does.

/// What a job function or userdata function does to the PLC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Negotiates the connection or reads; changes nothing (the `read_only` set).
    Read,
    /// Writes process data or the CPU's clock.
    Write,
    /// Copies blocks (programs, data blocks) off the PLC: reads, but the whole program.
    Upload,
    /// Loads, deletes or replaces blocks: changes the program.
    Download,
    /// Starts, stops or restarts the CPU, compresses memory, deletes blocks (PI services).
    Control,
    /// Anything else: subscriptions, passwords, programmer and NC functions.
    Other,
}

/// One job function (the first parameter byte of a job).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    pub code: u8,
    pub name: &'static str,
    pub effect: Effect,
}

const fn f(code: u8, name: &'static str, effect: Effect) -> Function {
    Function { code, name, effect }
}

/// Every job function S7comm defines.
pub const FUNCTIONS: [Function; 12] = {
    use Effect::*;
    [
        f(0x00, "cpu_services", Other),
        f(0x04, "read_var", Read),
        f(0x05, "write_var", Write),
        f(0x1A, "request_download", Download),
        f(0x1B, "download_block", Download),
        f(0x1C, "download_ended", Download),
        f(0x1D, "start_upload", Upload),
        f(0x1E, "upload", Upload),
        f(0x1F, "end_upload", Upload),
        f(0x28, "pi_service", Control),
        f(0x29, "plc_stop", Control),
        f(0xF0, "setup_communication", Read),
    ]
};

/// Other spellings a policy may use (snap7's), by code.
pub const ALIASES: [(&str, u8); 3] = [
    ("plc_control", 0x28),
    ("setup", 0xF0),
    ("request_upload", 0x1D),
];

/// Job functions of the `read_only: true` preset: setup communication and read var.
pub const READ_ONLY_FUNCTIONS: [u8; 2] = [0xF0, 0x04];

/// The job functions whose items name memory areas (checked against `areas` and
/// `db_numbers`).
pub mod job {
    pub const READ_VAR: u8 = 0x04;
    pub const WRITE_VAR: u8 = 0x05;
    pub const SETUP_COMMUNICATION: u8 = 0xF0;
    pub const PLC_STOP: u8 = 0x29;
    pub const PI_SERVICE: u8 = 0x28;
    pub const REQUEST_DOWNLOAD: u8 = 0x1A;
    pub const DOWNLOAD_BLOCK: u8 = 0x1B;
    pub const DOWNLOAD_ENDED: u8 = 0x1C;
}

/// The entry of `code`.
pub fn function(code: u8) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.code == code)
}

/// The code a policy name stands for (names and aliases, case-insensitive).
pub fn function_named(name: &str) -> Option<u8> {
    FUNCTIONS
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .map(|f| f.code)
        .or_else(|| {
            ALIASES
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(name))
                .map(|(_, c)| *c)
        })
}

/// Userdata function groups (low nibble of the parameter's type/group byte).
pub mod group {
    pub const MODE_TRANSITION: u8 = 0x0;
    pub const PROGRAMMER: u8 = 0x1;
    pub const CYCLIC_DATA: u8 = 0x2;
    pub const BLOCK: u8 = 0x3;
    pub const CPU: u8 = 0x4;
    pub const SECURITY: u8 = 0x5;
    pub const PBC: u8 = 0x6;
    pub const TIME: u8 = 0x7;
    pub const NC_PROGRAMMING: u8 = 0xF;
}

/// A named set of userdata functions: a function group, and the subfunctions (below 32) of
/// it the name allows, or the whole group (`subfunctions == ALL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Userdata {
    pub name: &'static str,
    pub group: u8,
    /// Bit `s` allows subfunction `s`; [`Userdata::ALL`] allows every subfunction.
    pub subfunctions: u32,
    pub effect: Effect,
}

impl Userdata {
    /// Every subfunction of the group, also those above 31.
    pub const ALL: u32 = u32::MAX;
}

const fn u(name: &'static str, group: u8, subfunctions: u32, effect: Effect) -> Userdata {
    Userdata {
        name,
        group,
        subfunctions,
        effect,
    }
}

/// The userdata functions a policy names (`userdata:`); a group number 0-15 allows the whole
/// group.
pub const USERDATA: [Userdata; 11] = {
    use Effect::*;
    [
        u(
            "mode_transition",
            group::MODE_TRANSITION,
            Userdata::ALL,
            Other,
        ),
        u("programmer", group::PROGRAMMER, Userdata::ALL, Write),
        u("cyclic_data", group::CYCLIC_DATA, Userdata::ALL, Other),
        // List blocks (1), list blocks of a type (2), block info (3).
        u("block_info", group::BLOCK, 0b1110, Read),
        // Read SZL (system status list): module identification, CPU state, diagnostics.
        u("szl_read", group::CPU, 1 << 1, Read),
        // Message service, diagnostic messages, alarm subscriptions and queries.
        u("cpu_messages", group::CPU, !0b11, Other),
        u("security", group::SECURITY, Userdata::ALL, Other),
        u("bsend", group::PBC, Userdata::ALL, Write),
        // Read clock (1), read clock following (3).
        u("clock_read", group::TIME, 1 << 1 | 1 << 3, Read),
        // Set clock (2, 4).
        u("clock_set", group::TIME, 1 << 2 | 1 << 4, Write),
        u(
            "nc_programming",
            group::NC_PROGRAMMING,
            Userdata::ALL,
            Other,
        ),
    ]
};

/// The userdata names of the `read_only: true` preset.
pub const READ_ONLY_USERDATA: [&str; 3] = ["szl_read", "clock_read", "block_info"];

/// The userdata entry of a policy name (case-insensitive).
pub fn userdata_named(name: &str) -> Option<&'static Userdata> {
    USERDATA.iter().find(|u| u.name.eq_ignore_ascii_case(name))
}

/// The best name of userdata `group` / `subfunction` (for events and `zcfw compile`).
pub fn userdata_name(group: u8, subfunction: u8) -> Option<&'static str> {
    USERDATA
        .iter()
        .find(|u| {
            u.group == group
                && u.subfunctions != Userdata::ALL
                && subfunction < 32
                && u.subfunctions & 1 << subfunction != 0
        })
        .or_else(|| {
            USERDATA
                .iter()
                .find(|u| u.group == group && u.subfunctions == Userdata::ALL)
        })
        .map(|u| u.name)
}

/// A memory area of a read_var / write_var item (S7ANY addressing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Area {
    pub code: u8,
    pub name: &'static str,
    /// Bit of [`crate::s7comm::S7Profile::areas`].
    pub bit: u8,
}

const fn a(code: u8, name: &'static str, bit: u8) -> Area {
    Area { code, name, bit }
}

/// The memory areas an item may name.
pub const AREAS: [Area; 16] = [
    a(0x80, "peripheral", 0),
    a(0x81, "inputs", 1),
    a(0x82, "outputs", 2),
    a(0x83, "flags", 3),
    a(0x84, "db", 4),
    a(0x85, "instance_db", 5),
    a(0x86, "local", 6),
    a(0x87, "previous_local", 7),
    a(0x1C, "counters", 8),
    a(0x1D, "timers", 9),
    a(0x1E, "iec_counters", 10),
    a(0x1F, "iec_timers", 11),
    a(0x03, "s7_200_system_info", 12),
    a(0x05, "s7_200_system_flags", 13),
    a(0x06, "s7_200_analog_inputs", 14),
    a(0x07, "s7_200_analog_outputs", 15),
];

/// Other spellings of area names (Siemens' German letters, snap7's constants).
pub const AREA_ALIASES: [(&str, u8); 8] = [
    ("merker", 0x83),
    ("m", 0x83),
    ("data_blocks", 0x84),
    ("db_area", 0x84),
    ("i", 0x81),
    ("q", 0x82),
    ("pe", 0x81),
    ("pa", 0x82),
];

/// The area of `code`.
pub fn area(code: u8) -> Option<&'static Area> {
    AREAS.iter().find(|a| a.code == code)
}

/// The area a policy name stands for (names and aliases, case-insensitive).
pub fn area_named(name: &str) -> Option<&'static Area> {
    AREAS
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .or_else(|| {
            AREA_ALIASES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .and_then(|(_, c)| area(*c))
        })
}

/// The profile bit of area `code`, if it is one; in the data path (a match, no table read).
#[inline(always)]
pub const fn area_bit(code: u8) -> Option<u8> {
    Some(match code {
        0x80..=0x87 => code - 0x80,
        0x1C..=0x1F => code - 0x1C + 8,
        0x03 => 12,
        0x05..=0x07 => code - 0x05 + 13,
        _ => return None,
    })
}

/// Whether area `code` addresses data blocks (its items carry a DB number).
#[inline(always)]
pub const fn is_db_area(code: u8) -> bool {
    matches!(code, 0x84 | 0x85)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for f in FUNCTIONS {
            assert_eq!(function_named(f.name), Some(f.code));
            assert_eq!(function(f.code), Some(&f));
            assert_eq!(f.name, f.name.to_ascii_lowercase());
        }
        assert_eq!(function_named("PLC_STOP"), Some(0x29));
        assert_eq!(function_named("plc_control"), Some(0x28));
        assert_eq!(function_named("stop"), None);
        for (a, _) in ALIASES {
            assert!(FUNCTIONS.iter().all(|f| f.name != a));
        }
        for u in USERDATA {
            assert_eq!(userdata_named(u.name), Some(&u));
        }
        for name in READ_ONLY_USERDATA {
            assert_eq!(userdata_named(name).unwrap().effect, Effect::Read);
        }
    }

    #[test]
    fn userdata_names_of_group_and_subfunction() {
        assert_eq!(userdata_name(group::CPU, 1), Some("szl_read"));
        assert_eq!(userdata_name(group::CPU, 2), Some("cpu_messages"));
        assert_eq!(userdata_name(group::TIME, 1), Some("clock_read"));
        assert_eq!(userdata_name(group::TIME, 3), Some("clock_read"));
        assert_eq!(userdata_name(group::TIME, 2), Some("clock_set"));
        assert_eq!(userdata_name(group::TIME, 4), Some("clock_set"));
        assert_eq!(userdata_name(group::TIME, 9), None);
        assert_eq!(userdata_name(group::SECURITY, 200), Some("security"));
        assert_eq!(userdata_name(0x8, 1), None);
    }

    #[test]
    fn area_bits_match_the_table() {
        let mut seen = 0u32;
        for a in AREAS {
            assert_eq!(area_bit(a.code), Some(a.bit), "{}", a.name);
            assert_eq!(area_named(a.name), Some(&a));
            assert!(seen & 1 << a.bit == 0);
            seen |= 1 << a.bit;
        }
        assert_eq!(seen, 0xFFFF);
        for code in 0..=255u8 {
            assert_eq!(area_bit(code).is_some(), area(code).is_some(), "{code:#x}");
        }
        assert_eq!(area_named("Merker").map(|a| a.code), Some(0x83));
    }
}
