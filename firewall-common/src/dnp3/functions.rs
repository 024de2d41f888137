//! DNP3 application function codes (IEEE 1815-2012 table 4-1): codes, names in the policy
//! language, and what each does to the outstation.

/// What a function does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Reads or confirms; changes nothing (the `read_only` set).
    Read,
    /// Writes values, selects or operates outputs, freezes counters, assigns classes.
    Control,
    /// Restarts, starts or stops applications, initialises data, activates configuration.
    Device,
    /// File services.
    File,
    /// Unsolicited reporting on/off, time and delay measurement, authentication.
    Session,
    /// Sent by outstations only: responses.
    Response,
}

/// One function code with a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    pub code: u8,
    /// lower snake_case of the standard's name.
    pub name: &'static str,
    pub effect: Effect,
}

const fn f(code: u8, name: &'static str, effect: Effect) -> Function {
    Function { code, name, effect }
}

/// Every function code the standard defines.
pub const FUNCTIONS: [Function; 37] = {
    use Effect::*;
    [
        f(0, "confirm", Read),
        f(1, "read", Read),
        f(2, "write", Control),
        f(3, "select", Control),
        f(4, "operate", Control),
        f(5, "direct_operate", Control),
        f(6, "direct_operate_nr", Control),
        f(7, "immediate_freeze", Control),
        f(8, "immediate_freeze_nr", Control),
        f(9, "freeze_clear", Control),
        f(10, "freeze_clear_nr", Control),
        f(11, "freeze_at_time", Control),
        f(12, "freeze_at_time_nr", Control),
        f(13, "cold_restart", Device),
        f(14, "warm_restart", Device),
        f(15, "initialize_data", Device),
        f(16, "initialize_application", Device),
        f(17, "start_application", Device),
        f(18, "stop_application", Device),
        f(19, "save_configuration", Device),
        f(20, "enable_unsolicited", Session),
        f(21, "disable_unsolicited", Session),
        f(22, "assign_class", Control),
        f(23, "delay_measure", Session),
        f(24, "record_current_time", Session),
        f(25, "open_file", File),
        f(26, "close_file", File),
        f(27, "delete_file", File),
        f(28, "get_file_info", File),
        f(29, "authenticate_file", File),
        f(30, "abort_file", File),
        f(31, "activate_config", Device),
        f(32, "authenticate_req", Session),
        f(33, "authenticate_req_nr", Session),
        f(129, "response", Response),
        f(130, "unsolicited_response", Response),
        f(131, "authenticate_resp", Response),
    ]
};

/// Other spellings a policy may use (the issue tracker's and Wireshark's), by code.
pub const ALIASES: [(&str, u8); 6] = [
    ("file_open", 25),
    ("file_close", 26),
    ("file_delete", 27),
    ("file_info", 28),
    ("file_abort", 30),
    ("direct_operate_no_ack", 6),
];

/// Function codes of the `read_only: true` preset.
pub const READ_ONLY_FUNCTIONS: [u8; 2] = [0, 1];

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

/// Whether `code` is one an outstation sends (responses), never a master.
#[inline(always)]
pub const fn is_response(code: u8) -> bool {
    matches!(code, 129..=131)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_aliases_resolve() {
        for (i, a) in FUNCTIONS.iter().enumerate() {
            assert!(
                FUNCTIONS[i + 1..]
                    .iter()
                    .all(|b| b.code != a.code && b.name != a.name)
            );
            assert_eq!(function_named(a.name), Some(a.code));
            assert_eq!(is_response(a.code), a.effect == Effect::Response);
        }
        for (alias, code) in ALIASES {
            assert!(function(code).is_some(), "{alias}");
            assert_eq!(function_named(&alias.to_uppercase()), Some(code));
        }
        assert_eq!(function_named("no_such"), None);
    }

    #[test]
    fn read_only_changes_nothing() {
        for code in READ_ONLY_FUNCTIONS {
            assert_eq!(function(code).map(|f| f.effect), Some(Effect::Read));
        }
    }
}
