//! The numbers of the Modbus/TCP wire format: the port, MBAP sizes, function codes,
//! quantity limits, and the bits the profile and the checker share.

/// The registered Modbus/TCP port.
pub const PORT: u16 = 502;
/// MBAP header length (transaction id, protocol id, length, unit id).
pub const MBAP_LEN: usize = 7;
/// Smallest ADU: MBAP header and a function code.
pub const MIN_ADU_LEN: usize = MBAP_LEN + 1;
/// Largest ADU: MBAP header and a 253-byte PDU.
pub const MAX_ADU_LEN: usize = 260;
/// Smallest MBAP length field (unit id and function code).
pub const MIN_MBAP_LENGTH: u16 = 2;
/// Largest MBAP length field (unit id and a 253-byte PDU).
pub const MAX_MBAP_LENGTH: u16 = 254;
/// Most ADUs checked in one segment; a segment carrying more is denied as
/// [`ModbusViolation::Split`](super::ModbusViolation::Split) (its framing cannot be inspected within the bound).
pub const MAX_ADUS_PER_SEGMENT: usize = 8;
/// Address ranges a [`ModbusProfile`](super::ModbusProfile) holds.
pub const MAX_ADDRESS_RANGES: usize = 8;

/// Function codes with a name in the policy language (see [`FUNCTIONS`](super::FUNCTIONS)).
pub mod function {
    pub const READ_COILS: u8 = 1;
    pub const READ_DISCRETE_INPUTS: u8 = 2;
    pub const READ_HOLDING_REGISTERS: u8 = 3;
    pub const READ_INPUT_REGISTERS: u8 = 4;
    pub const WRITE_SINGLE_COIL: u8 = 5;
    pub const WRITE_SINGLE_REGISTER: u8 = 6;
    pub const READ_EXCEPTION_STATUS: u8 = 7;
    pub const DIAGNOSTICS: u8 = 8;
    pub const GET_COMM_EVENT_COUNTER: u8 = 11;
    pub const GET_COMM_EVENT_LOG: u8 = 12;
    pub const WRITE_MULTIPLE_COILS: u8 = 15;
    pub const WRITE_MULTIPLE_REGISTERS: u8 = 16;
    pub const REPORT_SERVER_ID: u8 = 17;
    pub const READ_FILE_RECORD: u8 = 20;
    pub const WRITE_FILE_RECORD: u8 = 21;
    pub const MASK_WRITE_REGISTER: u8 = 22;
    pub const READ_WRITE_MULTIPLE_REGISTERS: u8 = 23;
    pub const READ_FIFO_QUEUE: u8 = 24;
    pub const ENCAPSULATED_INTERFACE_TRANSPORT: u8 = 43;
    /// Set in the function code of an exception response.
    pub const EXCEPTION_BIT: u8 = 0x80;
}

/// Protocol limits on the quantity a request may name (Modbus application protocol v1.1b3).
pub mod limits {
    /// FC 1, 2: coils or discrete inputs read.
    pub const READ_BITS: u16 = 2000;
    /// FC 15: coils written (0x07B0; 2000 coils would not fit in a 253-byte PDU).
    pub const WRITE_BITS: u16 = 1968;
    /// FC 3, 4, and the read part of FC 23: registers read.
    pub const READ_REGISTERS: u16 = 125;
    /// FC 16: registers written.
    pub const WRITE_REGISTERS: u16 = 123;
    /// FC 23: registers written.
    pub const READ_WRITE_WRITE_REGISTERS: u16 = 121;
    /// FC 20: byte count range of the sub-requests (7 bytes each).
    pub const READ_FILE_BYTES: (u8, u8) = (0x07, 0xF5);
    /// FC 21: byte count range of the sub-requests.
    pub const WRITE_FILE_BYTES: (u8, u8) = (0x09, 0xFB);
}

/// Bits of [`AddressRange::classes`](super::AddressRange::classes): the data table and direction a range applies to. A
/// request's function decides the class it is checked under ([`address_classes`](super::address_classes)).
pub mod address_class {
    /// FC 1.
    pub const READ_COILS: u16 = 1 << 0;
    /// FC 2.
    pub const READ_DISCRETE_INPUTS: u16 = 1 << 1;
    /// FC 3, the read part of FC 23, and FC 24 (the FIFO pointer is a holding register).
    pub const READ_HOLDING_REGISTERS: u16 = 1 << 2;
    /// FC 4.
    pub const READ_INPUT_REGISTERS: u16 = 1 << 3;
    /// FC 5, 15.
    pub const WRITE_COILS: u16 = 1 << 4;
    /// FC 6, 16, 22, and the write part of FC 23.
    pub const WRITE_HOLDING_REGISTERS: u16 = 1 << 5;
    /// Every read class.
    pub const READS: u16 =
        READ_COILS | READ_DISCRETE_INPUTS | READ_HOLDING_REGISTERS | READ_INPUT_REGISTERS;
    /// Every write class.
    pub const WRITES: u16 = WRITE_COILS | WRITE_HOLDING_REGISTERS;
    /// Every class.
    pub const ALL: u16 = READS | WRITES;
}

/// Bits of [`ModbusProfile::flags`](super::ModbusProfile::flags).
pub mod profile_flags {
    /// Requests of fixed-size functions must have exactly their size (no trailing bytes), FC 43
    /// read-device-id requests must be well formed (read device id code 1-4 and an object
    /// id; trailing bytes after them are allowed, see docs/modbus.md), and function codes 0
    /// and 0x80-0xFF (not request codes) are denied whatever the function bitmap says. On by
    /// default.
    pub const STRICT: u16 = 1 << 0;
}

/// MEI types of FC 43 (bits of [`ModbusProfile::mei_types`](super::ModbusProfile::mei_types)).
pub mod mei {
    /// CANopen general reference: tunnels CANopen, can write. Denied by default.
    pub const CANOPEN_GENERAL_REFERENCE: u8 = 13;
    /// Read device identification. The only MEI type allowed by default.
    pub const READ_DEVICE_ID: u8 = 14;
}

/// FC 8 sub-functions (bits of [`ModbusProfile::diagnostics`](super::ModbusProfile::diagnostics)). None is allowed by default.
pub mod diagnostics {
    pub const RETURN_QUERY_DATA: u16 = 0;
    pub const RESTART_COMMUNICATIONS: u16 = 1;
    pub const RETURN_DIAGNOSTIC_REGISTER: u16 = 2;
    pub const CHANGE_ASCII_DELIMITER: u16 = 3;
    /// Silences the device until it is restarted.
    pub const FORCE_LISTEN_ONLY: u16 = 4;
    pub const CLEAR_COUNTERS: u16 = 10;
    pub const RETURN_BUS_MESSAGE_COUNT: u16 = 11;
    pub const RETURN_BUS_ERROR_COUNT: u16 = 12;
    pub const RETURN_BUS_EXCEPTION_COUNT: u16 = 13;
    pub const RETURN_SERVER_MESSAGE_COUNT: u16 = 14;
    pub const RETURN_SERVER_NO_RESPONSE_COUNT: u16 = 15;
    pub const RETURN_SERVER_NAK_COUNT: u16 = 16;
    pub const RETURN_SERVER_BUSY_COUNT: u16 = 17;
    pub const RETURN_BUS_OVERRUN_COUNT: u16 = 18;
    pub const CLEAR_OVERRUN_COUNTER: u16 = 20;
}
