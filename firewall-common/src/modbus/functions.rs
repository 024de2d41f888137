//! The Modbus function table: codes, names, read or write, and the address classes each
//! function touches.

use super::*;

/// Function codes of the `read_only: true` preset.
pub const READ_ONLY_FUNCTIONS: [u8; 5] = [
    function::READ_COILS,
    function::READ_DISCRETE_INPUTS,
    function::READ_HOLDING_REGISTERS,
    function::READ_INPUT_REGISTERS,
    function::ENCAPSULATED_INTERFACE_TRANSPORT,
];

/// What a function does to the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads data or identification; changes nothing (FC 43 only with MEI type 14).
    Read,
    /// Writes coils, registers or files.
    Write,
    /// FC 8: diagnostics; some sub-functions restart or silence the device.
    Diagnostic,
}

/// A function code with a name in the policy language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamedFunction {
    pub code: u8,
    /// snake_case policy name.
    pub name: &'static str,
    pub access: Access,
}

const fn info(code: u8, name: &'static str, access: Access) -> NamedFunction {
    NamedFunction { code, name, access }
}

/// Every named function, by code. Codes without a name (40, 42, 90, 125, …) are written as
/// numbers in a policy.
pub const FUNCTIONS: [NamedFunction; 19] = {
    use Access::*;
    use function::*;
    [
        info(READ_COILS, "read_coils", Read),
        info(READ_DISCRETE_INPUTS, "read_discrete_inputs", Read),
        info(READ_HOLDING_REGISTERS, "read_holding_registers", Read),
        info(READ_INPUT_REGISTERS, "read_input_registers", Read),
        info(WRITE_SINGLE_COIL, "write_single_coil", Write),
        info(WRITE_SINGLE_REGISTER, "write_single_register", Write),
        info(READ_EXCEPTION_STATUS, "read_exception_status", Read),
        info(DIAGNOSTICS, "diagnostics", Diagnostic),
        info(GET_COMM_EVENT_COUNTER, "get_comm_event_counter", Read),
        info(GET_COMM_EVENT_LOG, "get_comm_event_log", Read),
        info(WRITE_MULTIPLE_COILS, "write_multiple_coils", Write),
        info(WRITE_MULTIPLE_REGISTERS, "write_multiple_registers", Write),
        info(REPORT_SERVER_ID, "report_server_id", Read),
        info(READ_FILE_RECORD, "read_file_record", Read),
        info(WRITE_FILE_RECORD, "write_file_record", Write),
        info(MASK_WRITE_REGISTER, "mask_write_register", Write),
        info(
            READ_WRITE_MULTIPLE_REGISTERS,
            "read_write_multiple_registers",
            Write,
        ),
        info(READ_FIFO_QUEUE, "read_fifo_queue", Read),
        info(
            ENCAPSULATED_INTERFACE_TRANSPORT,
            "encapsulated_interface_transport",
            Read,
        ),
    ]
};

/// The function named `name` in the policy language.
pub fn function_by_name(name: &str) -> Option<&'static NamedFunction> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// The named function with code `code`.
pub fn function_by_code(code: u8) -> Option<&'static NamedFunction> {
    FUNCTIONS.iter().find(|f| f.code == code)
}

/// The [`address_class`] bits a function's requests are checked under (FC 23: both its read
/// and write classes); 0 for functions that carry no address.
pub const fn address_classes(code: u8) -> u16 {
    use address_class::*;
    match code {
        function::READ_COILS => READ_COILS,
        function::READ_DISCRETE_INPUTS => READ_DISCRETE_INPUTS,
        function::READ_HOLDING_REGISTERS | function::READ_FIFO_QUEUE => READ_HOLDING_REGISTERS,
        function::READ_INPUT_REGISTERS => READ_INPUT_REGISTERS,
        function::WRITE_SINGLE_COIL | function::WRITE_MULTIPLE_COILS => WRITE_COILS,
        function::WRITE_SINGLE_REGISTER
        | function::WRITE_MULTIPLE_REGISTERS
        | function::MASK_WRITE_REGISTER => WRITE_HOLDING_REGISTERS,
        function::READ_WRITE_MULTIPLE_REGISTERS => READ_HOLDING_REGISTERS | WRITE_HOLDING_REGISTERS,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_table() {
        for (i, a) in FUNCTIONS.iter().enumerate() {
            assert_eq!(function_by_name(a.name), Some(a));
            assert_eq!(function_by_code(a.code), Some(a));
            for b in &FUNCTIONS[i + 1..] {
                assert!(a.code < b.code && a.name != b.name);
            }
        }
        let code = |n| function_by_name(n).map(|f| f.code);
        assert_eq!(code("read_holding_registers"), Some(3));
        assert_eq!(code("mask_write_register"), Some(22));
        assert_eq!(code("read_fifo_queue"), Some(24));
        assert_eq!(code("encapsulated_interface_transport"), Some(43));
        assert_eq!(code("write_coil"), None);
        assert_eq!(function_by_code(90), None);
        let access = |c| function_by_code(c).map(|f| f.access);
        for c in [1, 2, 3, 4, 7, 11, 12, 17, 20, 24, 43] {
            assert_eq!(access(c), Some(Access::Read), "{c}");
        }
        for c in [5, 6, 15, 16, 21, 22, 23] {
            assert_eq!(access(c), Some(Access::Write), "{c}");
        }
        assert_eq!(access(8), Some(Access::Diagnostic));
        assert_eq!(
            address_classes(23),
            address_class::READ_HOLDING_REGISTERS | address_class::WRITE_HOLDING_REGISTERS
        );
        assert_eq!(address_classes(24), address_class::READ_HOLDING_REGISTERS);
        assert_eq!(address_classes(8), 0);
    }
}
