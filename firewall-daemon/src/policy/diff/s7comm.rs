//! What changed in an S7comm profile: functions, PI services, userdata, TSAPs, item areas, DB numbers and
//! S7comm-plus (and the summary of an added or removed S7comm rule).

use firewall_common::s7comm::{
    self, AREAS, PI_SERVICES, S7Profile, USERDATA, Userdata, profile_flags,
};

use super::{
    At, Differ, Effect,
    values::{range, used},
};

/// The userdata names a profile allows (a whole group counts as each of its names, and as
/// `group N` for the subfunctions no name covers).
fn userdata(p: &S7Profile) -> Vec<String> {
    let mut out = Vec::new();
    for g in 0..16u8 {
        let whole = p.userdata_groups & 1 << g != 0;
        if whole {
            out.push(format!("group {g} (all)"));
            continue;
        }
        for u in USERDATA
            .iter()
            .filter(|u| u.group == g && u.subfunctions != Userdata::ALL)
        {
            if p.userdata[g as usize] & u.subfunctions == u.subfunctions {
                out.push(u.name.to_owned());
            }
        }
    }
    out
}

/// The PI services a profile allows by name: `any` when it does not restrict them.
fn pi_services(p: &S7Profile) -> Vec<String> {
    if p.flags & profile_flags::RESTRICT_PI == 0 {
        return vec!["any".into()];
    }
    PI_SERVICES
        .iter()
        .enumerate()
        .filter(|(i, _)| p.allows_pi_service(*i as u8))
        .map(|(_, s)| s.name.unwrap_or(s.wire).to_owned())
        .collect()
}

/// The areas items may name: every area when items are not restricted.
fn areas(p: &S7Profile) -> Vec<String> {
    AREAS
        .iter()
        .filter(|a| p.flags & profile_flags::RESTRICT_ITEMS == 0 || p.areas & 1 << a.bit != 0)
        .map(|a| a.name.to_owned())
        .collect()
}

fn tsaps(p: &S7Profile) -> Vec<(u32, u32)> {
    if p.flags & profile_flags::RESTRICT_TSAPS == 0 {
        vec![(0, 0xFFFF)]
    } else {
        used(&p.tsaps.ranges)
    }
}

fn db_numbers(p: &S7Profile) -> Vec<(u32, u32)> {
    if p.flags & profile_flags::RESTRICT_ITEMS == 0 || p.flags & profile_flags::ANY_DB != 0 {
        vec![(0, 0xFFFF)]
    } else {
        used(&p.db_numbers.ranges)
    }
}

fn plus(p: &S7Profile) -> bool {
    p.flags & profile_flags::S7COMM_PLUS != 0
}

fn tsap(a: u32, b: u32) -> String {
    if a == b {
        format!("{a:#06x}")
    } else {
        format!("{a:#06x}-{b:#06x}")
    }
}

/// `functions setup_communication(240), read_var(4); userdata szl_read; ...`.
pub(super) fn summary(p: &S7Profile) -> Vec<String> {
    let functions: Vec<String> = (0..=u8::MAX)
        .filter(|&c| p.functions.contains(c))
        .map(|c| match s7comm::function(c) {
            Some(f) => format!("{}({c})", f.name),
            None => c.to_string(),
        })
        .collect();
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "none".into()
        } else {
            v.join(", ")
        }
    };
    let ranges = |v: Vec<(u32, u32)>, show: fn(u32, u32) -> String| {
        list(v.into_iter().map(|(a, b)| show(a, b)).collect())
    };
    vec![
        format!("functions {}", list(functions)),
        format!("pi_services {}", list(pi_services(p))),
        format!("userdata {}", list(userdata(p))),
        format!("tsaps {}", ranges(tsaps(p), tsap)),
        format!("areas {}", list(areas(p))),
        format!("db_numbers {}", ranges(db_numbers(p), range)),
        format!("s7comm_plus {}", if plus(p) { "allow" } else { "deny" }),
    ]
}

impl Differ {
    pub(super) fn s7comm(&mut self, at: &At, o: &S7Profile, n: &S7Profile) {
        self.bitmap_named(at, "functions", &o.functions, &n.functions, |c| {
            s7comm::function(c).map(|f| f.name)
        });
        let (op, np) = (pi_services(o), pi_services(n));
        let added = np.iter().filter(|x| !op.contains(x)).cloned().collect();
        let removed = op.iter().filter(|x| !np.contains(x)).cloned().collect();
        self.members(at, "pi_services", added, removed);
        let (ou, nu) = (userdata(o), userdata(n));
        let added = nu.iter().filter(|x| !ou.contains(x)).cloned().collect();
        let removed = ou.iter().filter(|x| !nu.contains(x)).cloned().collect();
        self.members(at, "userdata", added, removed);
        self.intervals(at, "tsaps", &tsaps(o), &tsaps(n), tsap);
        let (oa, na) = (areas(o), areas(n));
        let added = na.iter().filter(|x| !oa.contains(x)).cloned().collect();
        let removed = oa.iter().filter(|x| !na.contains(x)).cloned().collect();
        self.members(at, "areas", added, removed);
        self.intervals(at, "db_numbers", &db_numbers(o), &db_numbers(n), range);
        if plus(o) != plus(n) {
            let show = |b: bool| if b { "allow" } else { "deny" }.to_string();
            let effect = if plus(n) {
                Effect::Opens
            } else {
                Effect::Closes
            };
            self.value(at, "s7comm_plus", effect, show(plus(o)), show(plus(n)));
        }
    }
}
