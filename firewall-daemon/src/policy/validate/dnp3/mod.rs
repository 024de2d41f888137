//! The `dnp3:` block of a `protocol: dnp3` rule → the rule's [`Dnp3Profile`], every mistake
//! placed at its key with a fix (docs/dnp3.md describes the language).
//!
//! [`functions`] resolves the allow-list (names, aliases or codes) and the `read_only`
//! preset; `addresses` (link destination addresses) is a list of 16-bit ranges
//! ([`super::ranges16`]).

use firewall_common::dnp3::{Dnp3Profile, FIRST_RESERVED_ADDRESS, MAX_ADDRESS_RANGES};

use super::{Checker, Help, KeyPath, ranges16};
use crate::policy::raw::RawDnp3;

mod functions;

use crate::policy::protocols::dnp3_function_label as function_label;

/// First of the link addresses DNP3 reserves for broadcast (0xFFFD-0xFFFF).
const FIRST_BROADCAST: u16 = 0xFFFD;

/// Checks the `dnp3:` block at `dp`; `None` if it has errors (already reported).
pub(super) fn check_dnp3(c: &mut Checker<'_>, dp: &KeyPath, raw: RawDnp3) -> Option<Dnp3Profile> {
    let allowed =
        functions::check_functions(c, dp, raw.functions.as_deref(), raw.read_only == Some(true))?;
    let mut profile = Dnp3Profile::new();
    for &(code, _) in &allowed.codes {
        profile.allow_function(code);
    }
    let ap = dp.key("addresses");
    match raw.addresses.as_deref() {
        None => {
            profile.flags |= firewall_common::dnp3::profile_flags::ANY_ADDRESS;
            if let Some(first) = allowed.changing() {
                c.warning(
                    &ap,
                    format!(
                        "the rule allows {} to every outstation address behind the server",
                        function_label(first)
                    ),
                )
                .help("list the outstation link addresses the master may reach, e.g. `addresses: [10]`; write `addresses: [\"0-65519\"]` to allow every outstation on purpose")
                .help("without `addresses` every address below the reserved ones (0xFFF0-0xFFFF) is allowed");
            }
        }
        Some(list) => {
            let ranges = ranges16::check_ranges16(c, &ap, list, "address", MAX_ADDRESS_RANGES)?;
            for &(a, b) in &ranges {
                if b >= FIRST_BROADCAST {
                    c.warning(
                        &ap,
                        format!(
                            "address range {} includes the DNP3 broadcast addresses 0xFFFD-0xFFFF",
                            ranges16::range_text(a, b)
                        ),
                    )
                    .help("a request to a broadcast address reaches every outstation on the link at once, and none of them answers it")
                    .help(format!(
                        "end the range below {FIRST_RESERVED_ADDRESS} (0xFFF0) unless the master broadcasts on purpose"
                    ));
                } else if b >= FIRST_RESERVED_ADDRESS {
                    c.warning(
                        &ap,
                        format!(
                            "address range {} includes reserved link addresses 0xFFF0-0xFFFC (0xFFFC is the self address)",
                            ranges16::range_text(a, b)
                        ),
                    )
                    .help(format!(
                        "end the range below {FIRST_RESERVED_ADDRESS} (0xFFF0): outstation addresses are 0-65519"
                    ));
                }
            }
            for (a, b) in ranges {
                profile.allow_addresses(a, b).ok()?;
            }
        }
    }
    Some(profile)
}
