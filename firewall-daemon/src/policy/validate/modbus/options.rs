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
            let mut bits = 0u32;
            for (i, s) in l.iter().enumerate() {
                match parse_named_bit(s, &MODBUS_DIAGNOSTICS, "diagnostics sub-function", 0xFFFF) {
                    Ok(sub) if bits & (1 << sub) != 0 => {
                        c.warning(
                            &dp.index(i),
                            format!("diagnostics sub-function {sub} is listed twice"),
                        )
                        .help("remove the repeated entry");
                    }
                    Ok(sub) => {
                        bits |= 1 << sub;
                        if sub == diagnostics::FORCE_LISTEN_ONLY {
                            c.warning(
                                &dp.index(i),
                                "diagnostics sub-function 4 (force_listen_only) silences the device until it is restarted: one request is a denial of service",
                            )
                            .help("remove it unless clients must be able to take the device off the network this way");
                        }
                    }
                    Err((msg, help)) => {
                        *ok = false;
                        let d = c.error(&dp.index(i), msg);
                        for h in help {
                            d.help(h);
                        }
                    }
                }
            }
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
            let mut types: Vec<u8> = Vec::new();
            for (i, s) in l.iter().enumerate() {
                match parse_named_bit(s, &table, "MEI type", 255) {
                    Ok(t) if types.contains(&(t as u8)) => {
                        c.warning(&tp.index(i), format!("MEI type {t} is listed twice"))
                            .help("remove the repeated entry");
                    }
                    Ok(t) => {
                        types.push(t as u8);
                        if t as u8 == mei::CANOPEN_GENERAL_REFERENCE {
                            c.warning(
                                &tp.index(i),
                                "MEI type 13 (canopen_general_reference) tunnels CANopen requests, which can write to the device",
                            )
                            .help("allow only read_device_id (14), the default, unless clients need CANopen access");
                        }
                    }
                    Err((msg, help)) => {
                        *ok = false;
                        let d = c.error(&tp.index(i), msg);
                        for h in help {
                            d.help(h);
                        }
                    }
                }
            }
            if profile.set_mei_types(&types).is_err() {
                *ok = false;
            }
        }
    }
}
