//! The ASDU type table of IEC 60870-5-101/104: codes, the standard's mnemonics, what each
//! type does, and the size of one information element (for the strict length check).

/// What an ASDU type carries, which decides who may send it and what `read_only` allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Process information in the monitoring direction (1-40): measurements, states.
    Monitor,
    /// Process commands (45-51, 58-64): switch, regulate, set points.
    Command,
    /// System information in the monitoring direction (70-99; 70 is end of initialisation).
    Init,
    /// System commands that only ask (100 interrogation, 101 counter interrogation, 102 read,
    /// 104 and 107 test): the `read_only` set.
    Query,
    /// System commands that change the station (103 clock sync, 105 reset process, 106 delay
    /// acquisition).
    System,
    /// Parameter loads (110-113): change thresholds, activate parameters.
    Parameter,
    /// File transfer (120-127), both directions.
    File,
}

/// Size of one information element (after its 3-byte address) of a type with a fixed
/// element size, or [`VARIABLE`] when the element carries its own length (125, segment).
pub const VARIABLE: u8 = u8::MAX;

/// One standard ASDU type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeId {
    pub code: u8,
    /// The standard's mnemonic, e.g. `C_SC_NA_1`.
    pub name: &'static str,
    pub class: Class,
    /// Bytes of one information element after its address; [`VARIABLE`] if not fixed.
    pub element: u8,
}

const fn t(code: u8, name: &'static str, class: Class, element: u8) -> TypeId {
    TypeId {
        code,
        name,
        class,
        element,
    }
}

/// Every standard type id (IEC 60870-5-101 and -104 companion standard), by code. Private
/// types (128-255) have no entry: a policy names them by number and their length is not
/// checked beyond the ASDU header.
pub const TYPE_IDS: [TypeId; 59] = {
    use Class::*;
    [
        t(1, "M_SP_NA_1", Monitor, 1),
        t(3, "M_DP_NA_1", Monitor, 1),
        t(5, "M_ST_NA_1", Monitor, 2),
        t(7, "M_BO_NA_1", Monitor, 5),
        t(9, "M_ME_NA_1", Monitor, 3),
        t(11, "M_ME_NB_1", Monitor, 3),
        t(13, "M_ME_NC_1", Monitor, 5),
        t(15, "M_IT_NA_1", Monitor, 5),
        t(20, "M_PS_NA_1", Monitor, 5),
        t(21, "M_ME_ND_1", Monitor, 2),
        t(30, "M_SP_TB_1", Monitor, 8),
        t(31, "M_DP_TB_1", Monitor, 8),
        t(32, "M_ST_TB_1", Monitor, 9),
        t(33, "M_BO_TB_1", Monitor, 12),
        t(34, "M_ME_TD_1", Monitor, 10),
        t(35, "M_ME_TE_1", Monitor, 10),
        t(36, "M_ME_TF_1", Monitor, 12),
        t(37, "M_IT_TB_1", Monitor, 12),
        t(38, "M_EP_TD_1", Monitor, 10),
        t(39, "M_EP_TE_1", Monitor, 11),
        t(40, "M_EP_TF_1", Monitor, 11),
        t(45, "C_SC_NA_1", Command, 1),
        t(46, "C_DC_NA_1", Command, 1),
        t(47, "C_RC_NA_1", Command, 1),
        t(48, "C_SE_NA_1", Command, 3),
        t(49, "C_SE_NB_1", Command, 3),
        t(50, "C_SE_NC_1", Command, 5),
        t(51, "C_BO_NA_1", Command, 4),
        t(58, "C_SC_TA_1", Command, 8),
        t(59, "C_DC_TA_1", Command, 8),
        t(60, "C_RC_TA_1", Command, 8),
        t(61, "C_SE_TA_1", Command, 10),
        t(62, "C_SE_TB_1", Command, 10),
        t(63, "C_SE_TC_1", Command, 12),
        t(64, "C_BO_TA_1", Command, 11),
        t(70, "M_EI_NA_1", Init, 1),
        t(100, "C_IC_NA_1", Query, 1),
        t(101, "C_CI_NA_1", Query, 1),
        t(102, "C_RD_NA_1", Query, 0),
        t(103, "C_CS_NA_1", System, 7),
        t(104, "C_TS_NA_1", Query, 2),
        t(105, "C_RP_NA_1", System, 1),
        t(106, "C_CD_NA_1", System, 2),
        t(107, "C_TS_TA_1", Query, 9),
        t(110, "P_ME_NA_1", Parameter, 3),
        t(111, "P_ME_NB_1", Parameter, 3),
        t(112, "P_ME_NC_1", Parameter, 5),
        t(113, "P_AC_NA_1", Parameter, 1),
        t(120, "F_FR_NA_1", File, 6),
        t(121, "F_SR_NA_1", File, 7),
        t(122, "F_SC_NA_1", File, 4),
        t(123, "F_LS_NA_1", File, 5),
        t(124, "F_AF_NA_1", File, 4),
        t(125, "F_SG_NA_1", File, VARIABLE),
        t(126, "F_DR_TA_1", File, 13),
        t(127, "F_SC_NB_1", File, 16),
        // Not in the -104 profile but defined by -101 and sent by some gateways.
        t(16, "M_IT_TA_1", Monitor, 8),
        t(17, "M_EP_TA_1", Monitor, 6),
        t(18, "M_EP_TB_1", Monitor, 7),
    ]
};

/// The entry of `code`, if it is a standard type.
pub const fn type_id(code: u8) -> Option<&'static TypeId> {
    let mut i = 0;
    while i < TYPE_IDS.len() {
        if TYPE_IDS[i].code == code {
            return Some(&TYPE_IDS[i]);
        }
        i += 1;
    }
    None
}

/// Bytes of one information element of `code` after its address ([`VARIABLE`] when not
/// fixed), as [`TYPE_IDS`] says, by one table read (the data path's form: a `match` here
/// would multiply the paths the verifier walks); `None` for a code the table does not have.
#[inline(always)]
pub fn element_size(code: u8) -> Option<u8> {
    match ELEMENT_SIZES[code as usize & 0x7F] {
        NOT_A_TYPE => None,
        size if code < 128 => Some(size),
        _ => None,
    }
}

/// [`ELEMENT_SIZES`] entry of a code [`TYPE_IDS`] does not have.
const NOT_A_TYPE: u8 = 0xFE;

/// Element sizes by type id (0-127), built from [`TYPE_IDS`] at compile time.
static ELEMENT_SIZES: [u8; 128] = {
    let mut sizes = [NOT_A_TYPE; 128];
    let mut i = 0;
    while i < TYPE_IDS.len() {
        let t = &TYPE_IDS[i];
        if (t.code as usize) < 128 {
            sizes[t.code as usize] = t.element;
        }
        i += 1;
    }
    sizes
};

/// The entry named `name` (the standard's mnemonic, matched without regard to case).
pub fn type_id_named(name: &str) -> Option<&'static TypeId> {
    TYPE_IDS.iter().find(|t| t.name.eq_ignore_ascii_case(name))
}

/// The class of `code` as the data path needs it, without a table walk, by the ranges the
/// standard reserves for each direction (so a code it leaves unassigned inside a range still
/// has that range's direction); 0 and the private range 128-255 are `None`.
#[inline(always)]
pub const fn class_of(code: u8) -> Option<Class> {
    match code {
        1..=44 => Some(Class::Monitor),
        45..=69 => Some(Class::Command),
        70..=99 => Some(Class::Init),
        100..=102 | 104 | 107 => Some(Class::Query),
        103..=109 => Some(Class::System),
        110..=119 => Some(Class::Parameter),
        120..=127 => Some(Class::File),
        _ => None,
    }
}

/// Type ids of the `read_only: true` preset: interrogation, counter interrogation, read and
/// the two test commands.
pub const READ_ONLY_TYPE_IDS: [u8; 5] = [100, 101, 102, 104, 107];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_sizes_agree_with_the_table() {
        for code in 0..=255u8 {
            assert_eq!(
                element_size(code),
                type_id(code).map(|t| t.element),
                "type id {code}"
            );
        }
    }

    #[test]
    fn table_codes_are_unique_and_classes_agree_with_the_ranges() {
        for (i, a) in TYPE_IDS.iter().enumerate() {
            assert!(
                TYPE_IDS[i + 1..].iter().all(|b| b.code != a.code),
                "{} twice",
                a.code
            );
            assert_eq!(class_of(a.code), Some(a.class), "{}", a.name);
            assert_eq!(type_id(a.code), Some(a));
            assert_eq!(type_id_named(&a.name.to_lowercase()), Some(a));
        }
    }

    #[test]
    fn read_only_is_queries_only() {
        for code in READ_ONLY_TYPE_IDS {
            assert_eq!(class_of(code), Some(Class::Query));
        }
        assert!(
            TYPE_IDS
                .iter()
                .filter(|t| t.class == Class::Query)
                .all(|t| READ_ONLY_TYPE_IDS.contains(&t.code))
        );
    }

    #[test]
    fn private_codes_have_no_class_and_reserved_ones_keep_their_direction() {
        for code in [0u8, 128, 200, 255] {
            assert_eq!(class_of(code), None, "{code}");
            assert!(type_id(code).is_none());
        }
        assert_eq!(class_of(2), Some(Class::Monitor));
        assert_eq!(class_of(52), Some(Class::Command));
        assert_eq!(class_of(108), Some(Class::System));
        assert_eq!(class_of(114), Some(Class::Parameter));
    }
}
