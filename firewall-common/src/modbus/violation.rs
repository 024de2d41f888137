//! Why a Modbus segment was denied ([`ModbusViolation`]) and what is known of the ADU that
//! caused it ([`ModbusDenial`]), for counters and events.

/// Why a Modbus segment was denied: the reason classes the data path counts.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModbusViolation {
    /// A function code, FC 8 sub-function or FC 43 MEI type the profile does not allow.
    Function = 0,
    /// A unit id the profile does not allow.
    UnitId = 1,
    /// An address span outside the allowed ranges, a quantity of 0 or over the limit, or a
    /// span past address 65535.
    Address = 2,
    /// Protocol id not 0, MBAP length out of 2..=254, a length inconsistent with the
    /// function or its byte count, an FC 5 value other than 0xFF00/0x0000.
    Malformed = 3,
    /// The segment does not begin and end on ADU boundaries (an ADU or its MBAP header cut
    /// short), or carries more than [`MAX_ADUS_PER_SEGMENT`](super::MAX_ADUS_PER_SEGMENT) ADUs.
    Split = 4,
}

impl ModbusViolation {
    /// Every violation, in discriminant order.
    pub const ALL: [ModbusViolation; 5] = [
        ModbusViolation::Function,
        ModbusViolation::UnitId,
        ModbusViolation::Address,
        ModbusViolation::Malformed,
        ModbusViolation::Split,
    ];

    /// Stable snake_case name used in events, counters and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            ModbusViolation::Function => "modbus_function",
            ModbusViolation::UnitId => "modbus_unit_id",
            ModbusViolation::Address => "modbus_address",
            ModbusViolation::Malformed => "modbus_malformed",
            ModbusViolation::Split => "modbus_split",
        }
    }
}

/// Bits of [`ModbusDenial::known`]: which detail fields hold a value read from the ADU.
pub mod denial_known {
    pub const UNIT: u8 = 1 << 0;
    pub const FUNCTION: u8 = 1 << 1;
    pub const ADDRESS: u8 = 1 << 2;
    pub const SUBFUNCTION: u8 = 1 << 3;
}

/// A denied segment: the violation and what is known of the ADU that caused it, for events.
///
/// Plain integers with a [`denial_known`] mask rather than `Option`s, so that every byte is
/// written on every path (the verifier refuses reads of bytes a `None` leaves undefined);
/// the accessors give the `Option` view. A field that is not known is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModbusDenial {
    pub kind: ModbusViolation,
    /// Index of the offending ADU in the segment (0 = first).
    pub adu: u8,
    /// [`denial_known`] bits.
    pub known: u8,
    /// Unit id, once the MBAP header was read.
    pub unit: u8,
    /// Function code, once it was read.
    pub function: u8,
    pub _pad: u8,
    /// Start address of the span (or single address) that was refused or malformed; for FC 23
    /// the start of the part that failed.
    pub address: u16,
    /// FC 8 sub-function or FC 43 MEI type, once it was read.
    pub subfunction: u16,
}

const _: () = assert!(core::mem::size_of::<ModbusDenial>() == 10);

impl ModbusDenial {
    #[inline(always)]
    pub(super) const fn new(kind: ModbusViolation, adu: u8) -> ModbusDenial {
        ModbusDenial {
            kind,
            adu,
            known: 0,
            unit: 0,
            function: 0,
            _pad: 0,
            address: 0,
            subfunction: 0,
        }
    }

    #[inline(always)]
    pub(super) const fn with_kind(mut self, kind: ModbusViolation) -> ModbusDenial {
        self.kind = kind;
        self
    }

    #[inline(always)]
    pub(super) const fn at(mut self, kind: ModbusViolation, address: u16) -> ModbusDenial {
        self.kind = kind;
        self.address = address;
        self.known |= denial_known::ADDRESS;
        self
    }

    #[inline(always)]
    pub(super) const fn set_unit(&mut self, unit: u8) {
        self.unit = unit;
        self.known |= denial_known::UNIT;
    }

    #[inline(always)]
    pub(super) const fn set_function(&mut self, function: u8) {
        self.function = function;
        self.known |= denial_known::FUNCTION;
    }

    #[inline(always)]
    pub(super) const fn set_subfunction(&mut self, subfunction: u16) {
        self.subfunction = subfunction;
        self.known |= denial_known::SUBFUNCTION;
    }

    /// The unit id, if the MBAP header was read.
    pub const fn unit(&self) -> Option<u8> {
        if self.known & denial_known::UNIT != 0 {
            Some(self.unit)
        } else {
            None
        }
    }

    /// The function code, if it was read.
    pub const fn function(&self) -> Option<u8> {
        if self.known & denial_known::FUNCTION != 0 {
            Some(self.function)
        } else {
            None
        }
    }

    /// The start address refused or malformed, if the denial is about one.
    pub const fn address(&self) -> Option<u16> {
        if self.known & denial_known::ADDRESS != 0 {
            Some(self.address)
        } else {
            None
        }
    }

    /// The FC 8 sub-function or FC 43 MEI type, if it was read.
    pub const fn subfunction(&self) -> Option<u16> {
        if self.known & denial_known::SUBFUNCTION != 0 {
            Some(self.subfunction)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ModbusViolation::*, *};

    #[test]
    fn violation_names() {
        for (i, v) in ModbusViolation::ALL.iter().enumerate() {
            assert_eq!(*v as usize, i);
            assert!(v.name().starts_with("modbus_"));
        }
        assert_eq!(Split.name(), "modbus_split");
        assert_eq!(UnitId.name(), "modbus_unit_id");
    }
}
