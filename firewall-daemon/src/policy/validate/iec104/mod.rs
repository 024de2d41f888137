//! The `iec104:` block of a `protocol: iec104` rule → the rule's [`Iec104Profile`], every
//! mistake placed at its key with a fix (docs/iec104.md describes the language).
//!
//! [`type_ids`] resolves the allow-list (standard mnemonics or codes) and the `read_only`
//! preset, refusing the types a controlling station never sends and warning about the
//! dangerous ones; `common_addresses` is a list of 16-bit ranges ([`super::ranges16`]).

use firewall_common::iec104::{GLOBAL_COMMON_ADDRESS, Iec104Profile, MAX_COMMON_ADDRESS_RANGES};

use super::{Checker, Help, KeyPath, ranges16};
use crate::policy::raw::RawIec104;

mod type_ids;

/// Checks the `iec104:` block at `ip`; `None` if it has errors (already reported).
pub(super) fn check_iec104(
    c: &mut Checker<'_>,
    ip: &KeyPath,
    raw: RawIec104,
) -> Option<Iec104Profile> {
    let allowed =
        type_ids::check_type_ids(c, ip, raw.type_ids.as_deref(), raw.read_only == Some(true))?;
    let mut profile = Iec104Profile::new();
    for &(code, _) in &allowed.codes {
        profile.allow_type_id(code);
    }
    let ap = ip.key("common_addresses");
    match raw.common_addresses.as_deref() {
        None => {
            profile.flags |= firewall_common::iec104::profile_flags::ANY_COMMON_ADDRESS;
            if let Some(first) = allowed.changing() {
                c.warning(
                    &ap,
                    format!(
                        "the rule allows {} to every common address (station) behind the server",
                        crate::policy::protocols::iec104_type_label(first)
                    ),
                )
                .help("list the stations clients may command, e.g. `common_addresses: [1]`; write `common_addresses: [\"0-65534\"]` to allow every station on purpose")
                .help("without `common_addresses` every address but the global one (65535) is allowed");
            }
        }
        Some(list) => {
            let ranges = ranges16::check_ranges16(
                c,
                &ap,
                list,
                "common address",
                MAX_COMMON_ADDRESS_RANGES,
            )?;
            if let Some(&(a, b)) = ranges.iter().find(|&&(_, b)| b == GLOBAL_COMMON_ADDRESS) {
                let d = c.warning(
                    &ap,
                    format!(
                        "common address range {} includes the global address 65535 (0xFFFF)",
                        ranges16::range_text(a, b)
                    ),
                );
                d.help("an ASDU to the global address reaches every station behind the server at once (a broadcast interrogation, clock sync or command)");
                if a < b {
                    d.help(format!(
                        "end the range at 65534 (\"{a}-65534\") unless clients broadcast on purpose"
                    ));
                } else {
                    d.help("remove it unless clients broadcast on purpose");
                }
            }
            for (a, b) in ranges {
                profile.allow_common_addresses(a, b).ok()?;
            }
        }
    }
    Some(profile)
}
