//! The options of two functions: FC 8 `diagnostics_subfunctions` (none unless listed) and
//! FC 43 `mei_types` (read device id unless listed).

use firewall_common::modbus::{ModbusProfile, diagnostics, function, mei};

use super::{Checker, Help, KeyPath, Scalar, functions::Allowed, ranges::parse_named_bit};
use crate::policy::protocols::{MODBUS_DIAGNOSTICS, MODBUS_MEI_TYPES};

/// `diagnostics_subfunctions` of the `modbus:` block at `mp` into `profile`.
pub(super) fn check_diagnostics(
    c: &mut Checker<'_>,
    mp: &KeyPath,
    raw: Option<&[Scalar]>,
    allowed: &Allowed,
    profile: &mut ModbusProfile,
    ok: &mut bool,
) {
    let dp = mp.key("diagnostics_subfunctions");
    let fc8 = allowed.contains(function::DIAGNOSTICS);
    match raw {
        None if fc8 && allowed.ok => {
            *ok = false;
            c.error(
                &allowed.path(mp, function::DIAGNOSTICS),
                "function diagnostics (8) is allowed but no sub-function is: every FC 8 request would be denied",
            )
            .help("list the sub-functions clients need, e.g. `diagnostics_subfunctions: [return_query_data]`");
        }
        None => {}
        Some(_) if !fc8 && !allowed.ok => {}
        Some(_) if !fc8 => {
            *ok = false;
            c.error_at_key(
                &dp,
                "diagnostics_subfunctions apply to function diagnostics (8), which this rule does not allow",
            )
            .help("add `diagnostics` to `functions`, or remove diagnostics_subfunctions");
        }
        Some([]) => {
            *ok = false;
            c.error(&dp, "empty diagnostics_subfunctions list")
                .help("list sub-functions such as return_query_data; to allow none, remove `diagnostics` from `functions`");
        }
        Some(l) => {
            let table = &MODBUS_DIAGNOSTICS;
            let warn = [(
                diagnostics::FORCE_LISTEN_ONLY,
                "diagnostics sub-function 4 (force_listen_only) silences the device until it is restarted: one request is a denial of service",
                "remove it unless clients must be able to take the device off the network this way",
            )];
            let bits = named_bits(
                c,
                &dp,
                l,
                table,
                "diagnostics sub-function",
                0xFFFF,
                &warn,
                ok,
            );
            profile.diagnostics = bits;
        }
    }
}

/// `mei_types` of the `modbus:` block at `mp` into `profile`.
pub(super) fn check_mei_types(
    c: &mut Checker<'_>,
    mp: &KeyPath,
    raw: Option<&[Scalar]>,
    allowed: &Allowed,
    profile: &mut ModbusProfile,
    ok: &mut bool,
) {
    let tp = mp.key("mei_types");
    let fc43 = allowed.contains(function::ENCAPSULATED_INTERFACE_TRANSPORT);
    match raw {
        None => {}
        Some(_) if !fc43 && !allowed.ok => {}
        Some(_) if !fc43 => {
            *ok = false;
            c.error_at_key(
                &tp,
                "mei_types apply to function encapsulated_interface_transport (43), which this rule does not allow",
            )
            .help("add `encapsulated_interface_transport` to `functions` (or write `read_only: true`), or remove mei_types");
        }
        Some([]) => {
            *ok = false;
            c.error(&tp, "empty mei_types list")
                .help("omit mei_types to allow read_device_id (14) only; to allow none, remove encapsulated_interface_transport from `functions`");
        }
        Some(l) => {
            let table: Vec<(&str, u16)> = MODBUS_MEI_TYPES
                .iter()
                .map(|&(n, t)| (n, u16::from(t)))
                .collect();
            let warn = [(
                u16::from(mei::CANOPEN_GENERAL_REFERENCE),
                "MEI type 13 (canopen_general_reference) tunnels CANopen requests, which can write to the device",
                "allow only read_device_id (14), the default, unless clients need CANopen access",
            )];
            let bits = named_bits(c, &tp, l, &table, "MEI type", 255, &warn, ok);
            let types: Vec<u8> = (0..32u8).filter(|t| bits & (1 << t) != 0).collect();
            if profile.set_mei_types(&types).is_err() {
                *ok = false;
            }
        }
    }
}

/// The bitmap of the named bits (sub-functions, MEI types: 0 to 31) listed at `path`: an
/// error for each entry that is not one, a warning for a repeated entry and for each entry of
/// `warn` (value, message, help).
#[allow(
    clippy::too_many_arguments,
    reason = "one checker step, its inputs named at the call"
)]
fn named_bits(
    c: &mut Checker<'_>,
    path: &KeyPath,
    list: &[Scalar],
    table: &[(&'static str, u16)],
    what: &str,
    wire_max: i128,
    warn: &[(u16, &str, &str)],
    ok: &mut bool,
) -> u32 {
    let mut bits = 0u32;
    for (i, s) in list.iter().enumerate() {
        match parse_named_bit(s, table, what, wire_max) {
            Ok(v) if bits & (1 << v) != 0 => {
                c.warning(&path.index(i), format!("{what} {v} is listed twice"))
                    .help("remove the repeated entry");
            }
            Ok(v) => {
                bits |= 1 << v;
                for (_, message, help) in warn.iter().filter(|(w, _, _)| *w == v) {
                    c.warning(&path.index(i), *message).help(*help);
                }
            }
            Err((msg, help)) => {
                *ok = false;
                let d = c.error(&path.index(i), msg);
                for h in help {
                    d.help(h);
                }
            }
        }
    }
    bits
}
