//! PI services (program invocation, job function 0x28): the names a PI job carries, the
//! fixed table a profile's `pi_services` bitmap indexes ([`PI_SERVICES`]), and the exact
//! 6-bit packing the walker builds a name into while it streams ([`pack_pi_name`]).
//!
//! A PI job's parameters (Wireshark's `s7comm_decode_pi_service`): `0` function 0x28, `1-7`
//! seven octets of unknown meaning (`00 00 00 00 00 00 FD`), `8-9` parameter block length
//! (big endian), the parameter block (blocks, file system, restart type: `C ` cold start),
//! one octet string length, and the service name in ASCII (`_GARB`).

use super::{
    check::{S7Cursor, S7Denial, S7Violation, cursor_flags},
    functions::{Effect, job},
    profile::S7Profile,
};
use crate::event::detail;

/// One PI service: its name on the wire, its name in the policy language (`None`: only the
/// quoted wire name, for SINUMERIK's `_N_` services), and what it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PiService {
    pub wire: &'static str,
    pub name: Option<&'static str>,
    pub effect: Effect,
    pub what: &'static str,
}

const fn s(
    name: &'static str,
    wire: &'static str,
    effect: Effect,
    what: &'static str,
) -> PiService {
    PiService {
        wire,
        name: Some(name),
        effect,
        what,
    }
}

const fn n(wire: &'static str, what: &'static str) -> PiService {
    PiService {
        wire,
        name: None,
        effect: Effect::Other,
        what,
    }
}

/// Longest name the table (and the packing) holds; a longer name is no known service.
pub const MAX_PI_NAME: usize = 10;

/// Every PI service Wireshark's S7comm dissector names: the S7 PLC services first, then
/// SINUMERIK's NC services. Its index is the bit of [`super::S7Profile::pi_services`] (below
/// [`MAX_PI_SERVICES`]); entries are only ever appended.
pub const PI_SERVICES: [PiService; 67] = {
    use Effect::*;
    [
        s(
            "insert",
            "_INSE",
            Download,
            "activates downloaded blocks in the program",
        ),
        s(
            "insert_2",
            "_INS2",
            Download,
            "activates downloaded blocks in the program",
        ),
        s("delete", "_DELE", Download, "deletes blocks from the PLC"),
        s(
            "p_program",
            "P_PROGRAM",
            Control,
            "starts the CPU (hot or cold restart)",
        ),
        s(
            "copy_ram_to_rom",
            "_MODU",
            Control,
            "copies RAM to ROM (makes the program permanent)",
        ),
        s("compress", "_GARB", Control, "compresses the PLC's memory"),
        n("_N_LOGIN_", "NC login"),
        n("_N_LOGOUT", "NC logout"),
        n("_N_CANCEL", "cancels an NC alarm"),
        n("_N_DASAVE", "copies data from SRAM to flash"),
        n("_N_DIGIOF", "turns digitizing off"),
        n("_N_DIGION", "turns digitizing on"),
        n("_N_DZERO_", "sets all D numbers invalid"),
        n("_N_ENDEXT", "ends external program execution"),
        n("_N_F_OPER", "opens a file read-only"),
        n("_N_OST_OF", "overstore off"),
        n("_N_OST_ON", "overstore on"),
        n("_N_SCALE_", "sets the unit of measurement (metric, inch)"),
        n("_N_SETUFR", "activates a user frame"),
        n("_N_STRTLK", "sets the global start disable"),
        n("_N_STRTUL", "resets the global start disable"),
        n("_N_TMRASS", "resets the active status"),
        n("_N_F_DELE", "deletes a file"),
        n("_N_EXTERN", "selects an external program for execution"),
        n("_N_EXTMOD", "selects an external program for execution"),
        n("_N_F_DELR", "deletes a file even without access rights"),
        n("_N_F_XFER", "selects a file for uploading"),
        n("_N_LOCKE_", "locks the active file for editing"),
        n("_N_SELECT", "selects a program for execution"),
        n("_N_SRTEXT", "marks a file in the external directory"),
        n("_N_F_CLOS", "closes a file"),
        n("_N_F_OPEN", "opens a file"),
        n("_N_F_SEEK", "positions the file pointer"),
        n("_N_ASUP__", "assigns an interrupt"),
        n("_N_CHEKDM", "starts a uniqueness check of D numbers"),
        n("_N_CHKDNO", "checks the tools' D numbers for uniqueness"),
        n("_N_CONFIG", "reconfigures machine data"),
        n("_N_CRCEDN", "creates a cutting edge by number"),
        n("_N_DELECE", "deletes a cutting edge"),
        n("_N_CREACE", "creates a cutting edge"),
        n("_N_CREATO", "creates a tool"),
        n("_N_DELETO", "deletes a tool"),
        n("_N_CRTOCE", "creates a tool with a given edge number"),
        n("_N_DELVAR", "deletes a data block"),
        n("_N_F_COPY", "copies a file within the NCK"),
        n("_N_F_DMDA", "deletes the MDA memory"),
        n("_N_F_PROR", "file protection"),
        n("_N_F_PROT", "assigns a protection level to a file"),
        n("_N_F_RENA", "renames a file"),
        n("_N_FINDBL", "activates a block search"),
        n("_N_IBN_SS", "sets the set-up switch"),
        n("_N_MMCSEM", "MMC semaphore"),
        n("_N_NCKMOD", "sets the NCK's mode"),
        n("_N_NEWPWD", "sets a new password"),
        n("_N_SEL_BL", "selects a new block"),
        n("_N_SETTST", "activates tools of a replacement tool group"),
        n("_N_TMAWCO", "sets a magazine's active wear group"),
        n("_N_TMCRTC", "creates a tool with a given edge number"),
        n("_N_TMCRTO", "creates a tool in the tool management"),
        n("_N_TMFDPL", "searches an empty place for loading"),
        n("_N_TMFPBP", "searches an empty location"),
        n("_N_TMGETT", "finds the T number of a tool"),
        n("_N_TMMVTL", "loads or unloads a tool"),
        n("_N_TMPCIT", "sets the piece counter's increment"),
        n("_N_TMPOSM", "positions a magazine or tool"),
        n("_N_TRESMO", "resets monitoring values"),
        n("_N_TSEARC", "complex tool search"),
    ]
};

/// Services the profile's bitmap can hold.
pub const MAX_PI_SERVICES: usize = 128;

const _: () = assert!(PI_SERVICES.len() <= MAX_PI_SERVICES);

/// The symbol of a name octet in the packing: `0-9` 1-10, `A-Z` 11-36, `_` 37; 0 for any
/// other octet (no known name has it).
#[inline(always)]
pub const fn pi_symbol(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0' + 1,
        b'A'..=b'Z' => byte - b'A' + 11,
        b'_' => 37,
        _ => 0,
    }
}

/// `name` packed 6 bits an octet, first octet highest: exact (every symbol is non-zero, so
/// names of different lengths differ too) for names of up to [`MAX_PI_NAME`] octets of
/// `0-9 A-Z _`; `None` for any other name.
pub const fn pack_pi_name(name: &[u8]) -> Option<u64> {
    if name.is_empty() || name.len() > MAX_PI_NAME {
        return None;
    }
    let mut packed = 0u64;
    let mut i = 0;
    while i < name.len() {
        let sym = pi_symbol(name[i]);
        if sym == 0 {
            return None;
        }
        packed = packed << 6 | sym as u64;
        i += 1;
    }
    Some(packed)
}

/// [`PI_SERVICES`] packed, by index (what the walker compares a finished name with).
pub const PI_PACKED: [u64; PI_SERVICES.len()] = {
    let mut out = [0u64; PI_SERVICES.len()];
    let mut i = 0;
    while i < PI_SERVICES.len() {
        out[i] = match pack_pi_name(PI_SERVICES[i].wire.as_bytes()) {
            Some(p) => p,
            None => panic!("a PI service name is longer than MAX_PI_NAME or not 0-9 A-Z _"),
        };
        i += 1;
    }
    out
};

/// The multiplier of a name's key ([`pi_key`]): the top octet of a key is a different slot
/// for every name of [`PI_SERVICES`] (checked when the crate compiles: a new entry may need
/// a new multiplier, any odd one without collisions).
pub const PI_HASH: u64 = 0xD4E8_829C_FFFD_6321;

/// The key of packed name `packed`: `packed * PI_HASH` (mod 2^64). `PI_HASH` is odd, so this
/// is a bijection (keys are as exact as packed names, and only the empty name keys to 0).
/// The walker keeps the key, not the packed name: `key(p * 64 + s) = key(p) * 64 + s *
/// PI_HASH`, and the verifier sees a key as any value from the first octet on, so the
/// `bpf_loop` step's states converge (a packed name's range grows with every octet).
#[inline(always)]
pub const fn pi_key(packed: u64) -> u64 {
    packed.wrapping_mul(PI_HASH)
}

/// The key after one more name octet of symbol `sym` ([`pi_symbol`]).
#[inline(always)]
pub const fn pi_key_step(key: u64, sym: u8) -> u64 {
    key.wrapping_mul(64)
        .wrapping_add((sym as u64).wrapping_mul(PI_HASH))
}

/// The slot of key `key` in [`PI_SLOTS`] and [`PI_SLOT_KEYS`]: its top octet.
#[inline(always)]
pub const fn pi_slot(key: u64) -> usize {
    (key >> 56) as usize
}

/// Per slot: 1 + the index of the service whose key falls there, 0 for none.
pub const PI_SLOTS: [u8; 256] = {
    let mut out = [0u8; 256];
    let mut i = 0;
    while i < PI_PACKED.len() {
        let slot = pi_slot(pi_key(PI_PACKED[i]));
        if out[slot] != 0 {
            panic!("two PI service names share a slot: choose another PI_HASH");
        }
        out[slot] = i as u8 + 1;
        i += 1;
    }
    out
};

/// Per slot: the key of the service there, 0 for none. The data path reads one slot of each
/// table and compares one key: a constant number of instructions whatever the table's size
/// (a loop over the table does not verify inside the per-octet `bpf_loop` step), and both
/// reads are bounded by the slot's 8 bits alone (an index read from [`PI_SLOTS`] would need a
/// bound the verifier cannot see).
pub const PI_SLOT_KEYS: [u64; 256] = {
    let mut out = [0u64; 256];
    let mut i = 0;
    while i < PI_PACKED.len() {
        let key = pi_key(PI_PACKED[i]);
        out[pi_slot(key)] = key;
        i += 1;
    }
    out
};

/// The table index of the name whose key is `key`, if it is a known service (data path).
#[inline(always)]
pub fn pi_index(key: u64) -> Option<u8> {
    let slot = pi_slot(key) & 0xFF;
    let stored = PI_SLOT_KEYS.get(slot).copied().unwrap_or(0);
    if stored == 0 || stored != key {
        return None;
    }
    PI_SLOTS.get(slot).copied().unwrap_or(0).checked_sub(1)
}

/// The table index of a policy name: the snake_case name (any case) or the wire name (any
/// case, `"_GARB"`).
pub fn pi_service_named(name: &str) -> Option<u8> {
    PI_SERVICES
        .iter()
        .position(|p| {
            p.name.is_some_and(|n| n.eq_ignore_ascii_case(name))
                || p.wire.eq_ignore_ascii_case(name)
        })
        .map(|i| i as u8)
}

/// The entry of table index `index`.
pub fn pi_entry(index: u8) -> Option<&'static PiService> {
    PI_SERVICES.get(index as usize)
}

/// How `zcfw` names table index `index`: its policy name, else its wire name.
pub fn pi_service_label(index: u8) -> Option<&'static str> {
    pi_entry(index).map(|p| p.name.unwrap_or(p.wire))
}

/// [`S7Denial::address`] of a PI service denial whose name is no known service: none, longer
/// than [`MAX_PI_NAME`], or with octets outside `0-9 A-Z _`.
pub const PI_UNKNOWN: u16 = 0xFFFF;

/// [`S7Cursor::at`] of a PI job walked ([`super::cursor_flags::PI`]): where its parameters
/// stand (the values overlap an item walk's positions, so the verifier meets no new ones).
pub mod pi_phase {
    /// The unknown octets and the parameter block length (parameter offsets 1-9).
    pub const HEAD: u8 = 1;
    /// In the parameter block ([`super::S7Cursor::value`] octets to come).
    pub const BLOCK: u8 = 2;
    /// The next octet is the name's length.
    pub const LEN: u8 = 3;
    /// In the name ([`super::S7Cursor::value`] octets to come).
    pub const NAME: u8 = 4;
    /// The name was judged (and ended the parameters).
    pub const DONE: u8 = 5;
}

/// A PI service denial: `address` the service's index or [`PI_UNKNOWN`].
#[inline(always)]
const fn denied(address: u16) -> S7Denial {
    S7Denial {
        kind: S7Violation::Function,
        known: detail::CODE | detail::ADDRESS,
        scope: 0,
        code: job::PI_SERVICE,
        address,
    }
}

impl S7Cursor {
    /// The key ([`pi_key`]) of the name so far.
    #[inline(always)]
    fn pi_key(&self) -> u64 {
        (self.pi_name[0] as u64) << 48
            | (self.pi_name[1] as u64) << 32
            | (self.pi_name[2] as u64) << 16
            | self.pi_name[3] as u64
    }

    #[inline(always)]
    fn set_pi_key(&mut self, v: u64) {
        self.pi_name = [
            (v >> 48) as u16,
            (v >> 32) as u16,
            (v >> 16) as u16,
            v as u16,
        ];
    }
}

/// The function octet of an allowed PI job whose name the profile restricts (its
/// [`S7Cursor::param_left`] already counts it off).
#[inline(always)]
pub(super) fn pi_start(c: &mut S7Cursor) -> Result<(), S7Denial> {
    c.flags |= cursor_flags::PI;
    c.at = pi_phase::HEAD;
    c.value = 0;
    c.pi_name = [0; 4];
    if c.param_left == 0 {
        // No name to allow.
        return Err(denied(PI_UNKNOWN));
    }
    Ok(())
}

/// A parameter octet after the function of a walked PI job; `p` its offset in the
/// parameters (exact up to 9, the only ones read by offset). The name must end the
/// parameters; the parameter block's contents are not judged.
#[inline(always)]
pub(super) fn pi_byte(
    c: &mut S7Cursor,
    byte: u8,
    p: u8,
    profile: &S7Profile,
) -> Result<(), S7Denial> {
    let malformed = S7Denial::new(S7Violation::Malformed);
    let left = c.param_left;
    match c.at {
        pi_phase::HEAD => {
            if p == 8 {
                c.value = (byte as u16) << 8;
            }
            if p == 9 {
                c.value |= byte as u16;
                if left == 0 {
                    return Err(denied(PI_UNKNOWN));
                }
                // The block and the length octet must fit the parameters.
                if c.value as u32 + 1 > left as u32 {
                    return Err(malformed);
                }
                c.at = if c.value == 0 {
                    pi_phase::LEN
                } else {
                    pi_phase::BLOCK
                };
                return Ok(());
            }
            if left == 0 {
                // The parameters end before the name.
                return Err(denied(PI_UNKNOWN));
            }
        }
        pi_phase::BLOCK => {
            c.value = c.value.saturating_sub(1);
            if c.value == 0 {
                c.at = pi_phase::LEN;
            }
        }
        pi_phase::LEN => {
            if byte as u16 != left {
                // Octets after the name, or a name longer than the parameters.
                return Err(malformed);
            }
            if byte == 0 || byte as usize > MAX_PI_NAME {
                return Err(denied(PI_UNKNOWN));
            }
            c.value = byte as u16;
            c.at = pi_phase::NAME;
        }
        pi_phase::NAME => {
            let sym = pi_symbol(byte);
            if sym == 0 {
                return Err(denied(PI_UNKNOWN));
            }
            let key = pi_key_step(c.pi_key(), sym);
            c.set_pi_key(key);
            c.value = c.value.saturating_sub(1);
            if c.value == 0 {
                let Some(index) = pi_index(key) else {
                    return Err(denied(PI_UNKNOWN));
                };
                if !profile.allows_pi_service(index) {
                    return Err(denied(index as u16));
                }
                c.at = pi_phase::DONE;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_packs_exactly_and_names_are_unique() {
        for (i, p) in PI_SERVICES.iter().enumerate() {
            assert_eq!(pi_index(pi_key(PI_PACKED[i])), Some(i as u8), "{}", p.wire);
            // The walker's stepwise key is the packed name's key.
            let stepped = p.wire.bytes().fold(0, |k, b| pi_key_step(k, pi_symbol(b)));
            assert_eq!(stepped, pi_key(PI_PACKED[i]), "{}", p.wire);
            assert_eq!(pi_service_named(p.wire), Some(i as u8));
            assert_eq!(pi_service_named(&p.wire.to_lowercase()), Some(i as u8));
            if let Some(n) = p.name {
                assert_eq!(pi_service_named(n), Some(i as u8));
                assert_eq!(n, n.to_lowercase());
                assert!(!n.starts_with('_'));
            }
            assert_eq!(pi_service_label(i as u8), Some(p.name.unwrap_or(p.wire)));
        }
        let filled = PI_SLOTS.iter().filter(|&&e| e != 0).count();
        assert_eq!(filled, PI_SERVICES.len());
        let mut packed = PI_PACKED.to_vec();
        packed.sort_unstable();
        packed.dedup();
        assert_eq!(
            packed.len(),
            PI_SERVICES.len(),
            "a wire name is listed twice"
        );
        assert_eq!(pi_service_named("COMPRESS"), Some(5));
        assert_eq!(pi_service_named("garb"), None);
        assert_eq!(pi_service_label(200), None);
    }

    #[test]
    fn packing_is_exact() {
        assert_eq!(pack_pi_name(b""), None);
        assert_eq!(pack_pi_name(b"_garb"), None, "lower case is another name");
        assert_eq!(pack_pi_name(b"_GA B"), None);
        assert_eq!(
            pack_pi_name(b"ABCDEFGHIJK"),
            None,
            "longer than MAX_PI_NAME"
        );
        assert!(pack_pi_name(b"ABCDEFGHIJ").is_some());
        // Prefixes and leading symbols differ.
        assert_ne!(pack_pi_name(b"_GARB"), pack_pi_name(b"_GAR"));
        assert_ne!(pack_pi_name(b"0_GARB"), pack_pi_name(b"_GARB"));
        assert_eq!(pi_index(pi_key(pack_pi_name(b"_GARC").unwrap())), None);
        assert_eq!(pi_index(0), None);
        for byte in 0..=255u8 {
            let sym = pi_symbol(byte);
            assert_eq!(
                sym != 0,
                byte.is_ascii_digit() || byte.is_ascii_uppercase() || byte == b'_'
            );
            assert!(sym < 64);
        }
    }
}
