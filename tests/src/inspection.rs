//! What zcfw must report about a denied request of an inspected protocol (IEC 104, DNP3, S7comm,
//! EtherNet/IP, BACnet/IP, OPC UA): the reason counted in total and for the conduit (`zcfw stats
//! --json`), and an event naming the reason, the conduit, the connection and the protocol
//! detail (`zcfw events --json`).

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use serde_json::Value;

use crate::modbus::{StatsJson, ZcfwView};

/// How long an event may take from the ring buffer to `zcfw events`.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(3);

/// A deny a test expects.
#[derive(Clone, Debug)]
pub struct ExpectedDeny {
    pub reason: &'static str,
    pub conduit: &'static str,
    /// The conduit's `on_violation` (`reset` or `drop`): the event's action.
    pub action: &'static str,
    /// The event's `proto`: `tcp`, or `udp` for BACnet/IP.
    pub proto: &'static str,
    pub src: IpAddr,
    /// The client's port, when the test knows it (raw connections).
    pub src_port: Option<u16>,
    pub dst: SocketAddr,
    /// A protocol detail the event must carry: a key (anywhere in the event, e.g. `type_id`
    /// or `function`) and its value. The event's field names for IEC 104 and DNP3 details
    /// are matched by key name at any depth, so `{"iec104": {"type_id": 45}}` and
    /// `{"type_id": 45}` both match.
    pub detail: Option<(&'static str, u64)>,
}

/// Whether `v` holds `key` with value `want` (a number, or a name such as an OPC UA service's)
/// at any depth.
pub fn has_detail(v: &Value, key: &str, want: impl Into<Value>) -> bool {
    fn walk(v: &Value, key: &str, want: &Value) -> bool {
        match v {
            Value::Object(map) => map
                .iter()
                .any(|(k, x)| (k == key && x == want) || walk(x, key, want)),
            Value::Array(items) => items.iter().any(|x| walk(x, key, want)),
            _ => false,
        }
    }
    walk(v, key, &want.into())
}

impl ExpectedDeny {
    /// Whether `e` is this deny.
    pub fn matches(&self, e: &Value) -> bool {
        let ip = |v: &Value| v.as_str().and_then(|s| s.parse::<IpAddr>().ok());
        e["reason"] == self.reason
            && e["conduit"] == self.conduit
            && e["action"] == self.action
            && e["proto"] == self.proto
            && ip(&e["src"]) == Some(self.src)
            && ip(&e["dst"]) == Some(self.dst.ip())
            && e["dst_port"].as_u64() == Some(u64::from(self.dst.port()))
            && self
                .src_port
                .is_none_or(|p| e["src_port"].as_u64() == Some(u64::from(p)))
            && self.detail.is_none_or(|(k, w)| has_detail(e, k, w))
    }

    /// The failures of this deny: not counted under its reason (in total, for the conduit),
    /// counted under another of `reasons` as well, no matching event. Empty when all is well.
    pub fn check(
        &self,
        view: &ZcfwView,
        before: &StatsJson,
        after: &StatsJson,
        reasons: &[&str],
    ) -> Vec<String> {
        let mut out = Vec::new();
        let counted = format!(
            "counted: reasons {:?}, inspection denies {:?}",
            after.reasons_since(before),
            after.denied_since(before)
        );
        let reason = self.reason;
        if after.reason(reason) <= before.reason(reason) {
            out.push(format!("not counted under reasons[{reason}]; {counted}"));
        }
        if after.conduit_denied(self.conduit, reason) <= before.conduit_denied(self.conduit, reason)
        {
            out.push(format!(
                "not counted under conduits[{}].denied.{reason}; {counted}",
                self.conduit
            ));
        }
        for other in reasons.iter().filter(|r| **r != reason) {
            if after.reason(other) > before.reason(other) {
                out.push(format!(
                    "counted under {other} as well as {reason}; {counted}"
                ));
            }
        }
        match view.wait_event(EVENT_TIMEOUT, |e| self.matches(e)) {
            Ok(Ok(_)) => {}
            Ok(Err(events)) => {
                let near: Vec<String> = events
                    .iter()
                    .filter(|e| e["reason"] == reason)
                    .map(ToString::to_string)
                    .collect();
                out.push(format!(
                    "no event {self:?} in zcfw events --json ({} events; those with reason \
                     {reason}: {near:?})",
                    events.len()
                ));
            }
            Err(e) => out.push(format!("zcfw events: {e:#}")),
        }
        out
    }
}

/// Reasons whose packets grew since `before` and that drop (`passes: false`).
pub fn drops_since(after: &StatsJson, before: &StatsJson) -> Vec<(String, u64)> {
    after
        .reasons_since(before)
        .into_iter()
        .filter(|(r, _)| {
            after.0["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|x| x["reason"] == r.as_str() && x["passes"] == false)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn details_match_at_any_depth() {
        let d = ExpectedDeny {
            reason: "iec104_type_id",
            conduit: "c",
            action: "reset",
            proto: "tcp",
            src: "10.20.0.2".parse().unwrap(),
            src_port: None,
            dst: "10.30.0.2:2404".parse().unwrap(),
            detail: Some(("type_id", 45)),
        };
        let mut e = json!({"reason": "iec104_type_id", "conduit": "c", "action": "reset",
            "proto": "tcp", "src": "10.20.0.2", "dst": "10.30.0.2", "src_port": 4000,
            "dst_port": 2404, "iec104": {"type_id": 45, "cause": 6}});
        assert!(d.matches(&e));
        e["iec104"]["type_id"] = json!(46);
        assert!(!d.matches(&e));
        e["type_id"] = json!(45);
        assert!(d.matches(&e));
        assert!(has_detail(
            &json!({"opcua": {"service": "write"}}),
            "service",
            "write"
        ));
        assert!(!has_detail(
            &json!({"opcua": {"service": "read"}}),
            "service",
            "write"
        ));
        e["dst_port"] = json!(502);
        assert!(!d.matches(&e));
    }
}

/// The failed checks of one run of a protocol's namespace test (its XDP mode, with deep
/// inspection or through port-level conduits): each printed as it happens, all of them
/// reported when the run ends ([`Failures::finish`]).
#[derive(Debug)]
pub struct Failures {
    label: String,
    inspect: bool,
    list: Vec<String>,
}

/// One dangerous case of a protocol's namespace test, as it came out.
pub struct Outcome<'a> {
    /// The case, for the messages.
    pub what: &'a str,
    /// Who must act on it without inspection: "server", "controller".
    pub peer: &'a str,
    /// What the client saw.
    pub reply: &'a dyn std::fmt::Debug,
    /// What the case did to the peer (a write executed, values changed, "the client was
    /// served"): empty when a deny worked.
    pub effects: Vec<String>,
    /// Whether it did what it would do unhindered (port-level conduits).
    pub acted: bool,
    /// Whether the client was answered.
    pub served: bool,
}

impl Failures {
    pub fn new(mode: crate::XdpMode, inspect: bool) -> Failures {
        let how = if inspect { "inspected" } else { "port level" };
        Failures {
            label: format!("{} mode ({how})", mode.as_str()),
            inspect,
            list: Vec::new(),
        }
    }

    /// Judges a dangerous case. Through port-level conduits it must have acted, with nothing
    /// dropped; inspected, it must have had no effect, the client no answer, and zcfw must
    /// have counted and reported `deny` (only then, `true`: the caller may check more of the
    /// event).
    pub fn judge(
        &mut self,
        o: &Outcome<'_>,
        deny: &ExpectedDeny,
        view: &ZcfwView,
        (before, after): (&StatsJson, &StatsJson),
        reasons: &[&str],
    ) -> bool {
        let (what, peer, reply) = (o.what, o.peer, o.reply);
        if !self.inspect {
            if !o.acted {
                self.fail(format!(
                    "{what}: without inspection the {peer} should act on it (the harness must \
                     see effects), but: client {reply:?}, {peer} {:?}",
                    o.effects
                ));
            }
            let drops = drops_since(after, before);
            if !drops.is_empty() {
                self.fail(format!(
                    "{what}: port-level conduit, but dropped: {drops:?}"
                ));
            }
            return false;
        }
        if !o.effects.is_empty() {
            self.fail(format!(
                "{what}: denied ({}), but {}",
                deny.reason,
                o.effects.join("; ")
            ));
        }
        if o.served {
            self.fail(format!("{what}: the client was answered ({reply:?})"));
        }
        for f in deny.check(view, before, after, reasons) {
            self.fail(format!("{what}: {f}"));
        }
        true
    }

    /// Records a failed check and prints it at once (the run goes on).
    pub fn fail(&mut self, msg: String) {
        eprintln!("FAILED [{}] {msg}", self.label);
        self.list.push(msg);
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Ends the run: stops zcfw (not stopping cleanly is one more failure), prints the
    /// peer's log (`peer` names it) when a check failed, and fails the test with every
    /// failed check.
    pub fn finish(
        mut self,
        daemon: Option<crate::Daemon<'_>>,
        peer: &str,
        log: impl FnOnce() -> String,
    ) {
        if let Some(daemon) = daemon
            && let Err(e) = daemon.stop()
        {
            self.fail(format!("stopping zcfw: {e:#}"));
        }
        if !self.list.is_empty() {
            eprintln!("--- {peer} log ---\n{}", log());
        }
        assert!(
            self.list.is_empty(),
            "{} failed check(s) in {}:\n  {}",
            self.list.len(),
            self.label,
            self.list.join("\n  ")
        );
    }
}
