//! What the XDP program decided about a packet, packed in one register, and how monitor mode
//! turns a deny into an alert. Shared so the packing is unit-tested on the host; the program
//! (firewall-ebpf) is its only user at run time.

use crate::{
    event,
    maps::{SlotConfig, slot_flags},
    reason::Reason,
};

/// XDP actions (`enum xdp_action` of the kernel UAPI), the values [`Decision::verdict`]
/// returns.
pub mod xdp_action {
    pub const XDP_ABORTED: u32 = 0;
    pub const XDP_DROP: u32 = 1;
    pub const XDP_PASS: u32 = 2;
    pub const XDP_TX: u32 = 3;
}

use xdp_action::{XDP_DROP, XDP_PASS, XDP_TX};

/// What the program decided about a packet, packed in one register so it crosses BPF calls
/// without a stack slot (a struct return goes through memory and its zeroing through the
/// byte-wise `memset` of compiler_builtins). Bits: 0 pass, 1-7 reason, 8-23 conduit,
/// 24 monitor, 25 alert, 26-28 known detail fields, 29-30 reset, 31 exception, 32-63 the
/// inspection detail ([`crate::event::pack_modbus`] and its siblings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Decision(pub u64);

const _: () = assert!(core::mem::size_of::<Decision>() == 8);

/// The packet passes (or, with [`RESET_RECEIVER`], its rewritten form does).
pub const PASS: u64 = 1;
/// The conduit is in monitor mode: its would-be denies pass as alerts.
pub const MONITOR: u64 = 1 << 24;
/// A would-be deny that passed because of monitor mode.
pub const ALERT: u64 = 1 << 25;
/// A deny answered by rewriting the segment into a RST toward its receiver (`XDP_PASS`).
pub const RESET_RECEIVER: u64 = 1 << 29;
/// A deny answered with a RST back to the segment's sender (`XDP_TX`).
pub const RESET_SENDER: u64 = 1 << 30;
/// Either reset.
pub const RESETS: u64 = RESET_RECEIVER | RESET_SENDER;
/// A denied Modbus request answered with a Modbus exception, written in place (`XDP_TX`).
pub const EXCEPTION: u64 = 1 << 31;

impl Decision {
    /// The XDP action: a reset toward the receiver passes the rewritten frame on, a reset
    /// toward the sender and an exception go back out of the interface they came in on.
    #[inline(always)]
    pub fn verdict(self) -> u32 {
        if self.0 & (PASS | RESET_RECEIVER) != 0 {
            XDP_PASS
        } else if self.0 & (RESET_SENDER | EXCEPTION) != 0 {
            XDP_TX
        } else {
            XDP_DROP
        }
    }

    /// Whether the packet was denied (dropped, or replaced by a reset): nothing it carried
    /// reaches its destination.
    #[inline(always)]
    pub fn denied(self) -> bool {
        self.0 & PASS == 0
    }

    /// [`event::action`] taken.
    #[inline(always)]
    pub fn action(self) -> u8 {
        if self.0 & ALERT != 0 {
            event::action::ALERT
        } else if self.0 & EXCEPTION != 0 {
            event::action::EXCEPTION
        } else if self.0 & RESETS != 0 {
            event::action::RESET
        } else {
            event::action::DROP
        }
    }

    /// The reason it is counted under (for an alert: the reason it would have been dropped).
    #[inline(always)]
    pub fn reason(self) -> Reason {
        Reason::from_slot(((self.0 >> 1) & 0x7f) as u32).unwrap_or(Reason::NoPolicy)
    }

    /// Conduit credited with the packet, or whose inspection or rate limit denied it (0 = none).
    #[inline(always)]
    pub fn conduit_id(self) -> u16 {
        (self.0 >> 8) as u16
    }

    /// Whether this is a would-be deny that passed because of monitor mode.
    #[inline(always)]
    pub fn alert(self) -> bool {
        self.0 & ALERT != 0
    }

    /// Detail of an inspection deny: `scope | code << 8 | address << 16`
    /// ([`crate::event::Event`]).
    #[inline(always)]
    pub fn detail(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// [`crate::event::detail`] bits saying which detail fields are known.
    #[inline(always)]
    pub fn detail_known(self) -> u8 {
        ((self.0 >> 26) & 0x7) as u8
    }
}

/// A decision without monitor, alert, reset, exception or Modbus bits.
#[inline(always)]
pub fn decision(pass: bool, reason: Reason, conduit_id: u16) -> Decision {
    Decision(pass as u64 | (reason as u64) << 1 | (conduit_id as u64) << 8)
}

/// A deny not charged to any conduit.
#[inline(always)]
pub fn drop(reason: Reason) -> Decision {
    decision(false, reason, 0)
}

/// A deny charged to `conduit_id` (its rate limit or inspection).
#[inline(always)]
pub fn deny_on(reason: Reason, conduit_id: u16, monitor: bool) -> Decision {
    Decision(decision(false, reason, conduit_id).0 | if monitor { MONITOR } else { 0 })
}

/// A pass credited to `conduit_id` (0 = none).
#[inline(always)]
pub fn pass(reason: Reason, conduit_id: u16) -> Decision {
    decision(true, reason, conduit_id)
}

/// Denies that monitor mode turns into alerts: policy decisions. Malformed packets, island
/// mode, a missing policy and segments of a reset connection are always dropped.
#[inline(always)]
pub fn monitorable(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::DefaultDeny
            | Reason::UnknownZone
            | Reason::SpoofedSource
            | Reason::L2Denied
            | Reason::FragmentNoFlow
            | Reason::RateLimited
            | Reason::StreamOutOfOrder
    ) || reason.is_inspection()
}

/// Applies monitor mode (policy-wide, from the slot's flags, or the conduit's, from the
/// [`MONITOR`] bit) to a would-be deny: a monitorable deny passes as an alert.
#[inline(always)]
pub fn finish(d: Decision, cfg: &SlotConfig) -> Decision {
    if d.denied()
        && monitorable(d.reason())
        && (d.0 & MONITOR != 0 || cfg.flags & slot_flags::MONITOR != 0)
    {
        return Decision(d.0 | PASS | ALERT);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(flags: u32) -> SlotConfig {
        SlotConfig {
            generation: 1,
            flags: slot_flags::LOADED | flags,
        }
    }

    #[test]
    fn fields_round_trip_through_the_packing() {
        for reason in Reason::ALL {
            for conduit in [0u16, 1, 0x1234, u16::MAX] {
                let d = pass(reason, conduit);
                assert_eq!(d.reason(), reason);
                assert_eq!(d.conduit_id(), conduit);
                assert!(!d.denied());
                assert_eq!(d.verdict(), XDP_PASS);
                let d = deny_on(reason, conduit, true);
                assert_eq!((d.reason(), d.conduit_id()), (reason, conduit));
                assert!(d.denied());
                assert_eq!(d.0 & MONITOR, MONITOR);
                assert_eq!(d.verdict(), XDP_DROP);
                assert_eq!(d.action(), event::action::DROP);
            }
        }
        let d = Decision(drop(Reason::ModbusFunction).0 | 0xdead_beef << 32 | 0b101 << 26);
        assert_eq!(d.detail(), 0xdead_beef);
        assert_eq!(d.detail_known(), 0b101);
        assert_eq!(d.reason(), Reason::ModbusFunction);
    }

    #[test]
    fn verdict_and_action_follow_the_answer_bits() {
        let deny = drop(Reason::DefaultDeny);
        assert_eq!(deny.verdict(), XDP_DROP);
        let to_receiver = Decision(deny.0 | RESET_RECEIVER);
        assert_eq!(to_receiver.verdict(), XDP_PASS);
        assert_eq!(to_receiver.action(), event::action::RESET);
        assert!(
            to_receiver.denied(),
            "a reset replaces the segment: still a deny"
        );
        let to_sender = Decision(deny.0 | RESET_SENDER);
        assert_eq!(to_sender.verdict(), XDP_TX);
        assert_eq!(to_sender.action(), event::action::RESET);
        let exception = Decision(deny.0 | EXCEPTION);
        assert_eq!(exception.verdict(), XDP_TX);
        assert_eq!(exception.action(), event::action::EXCEPTION);
        let alert = Decision(deny.0 | PASS | ALERT);
        assert_eq!(alert.verdict(), XDP_PASS);
        assert_eq!(alert.action(), event::action::ALERT);
        assert!(alert.alert() && !alert.denied());
    }

    #[test]
    fn an_unknown_reason_slot_reads_as_no_policy() {
        let d = Decision(0x7f << 1);
        assert!(Reason::from_slot(0x7f).is_none());
        assert_eq!(d.reason(), Reason::NoPolicy);
    }

    #[test]
    fn monitor_mode_turns_policy_denies_into_alerts() {
        for reason in Reason::ALL {
            let d = drop(reason);
            let policy_wide = finish(d, &cfg(slot_flags::MONITOR));
            let by_conduit = finish(deny_on(reason, 7, true), &cfg(0));
            if monitorable(reason) {
                for m in [policy_wide, by_conduit] {
                    assert!(m.alert() && !m.denied(), "{reason:?}");
                    assert_eq!(m.reason(), reason, "the alert keeps the would-be reason");
                    assert_eq!(m.verdict(), XDP_PASS);
                }
                assert_eq!(by_conduit.conduit_id(), 7);
            } else {
                assert_eq!(policy_wide, d, "{reason:?} is always dropped");
                assert!(by_conduit.denied() && !by_conduit.alert(), "{reason:?}");
            }
            // Without monitor mode a deny stays a deny.
            assert_eq!(finish(d, &cfg(0)), d);
            assert_eq!(finish(deny_on(reason, 7, false), &cfg(0)).0 & ALERT, 0);
        }
    }

    #[test]
    fn monitor_mode_leaves_passes_alone() {
        let p = pass(Reason::AllowedConduit, 3);
        assert_eq!(finish(p, &cfg(slot_flags::MONITOR)), p);
    }

    #[test]
    fn monitorable_reasons_are_the_policy_decisions() {
        for reason in [
            Reason::DefaultDeny,
            Reason::UnknownZone,
            Reason::SpoofedSource,
            Reason::L2Denied,
            Reason::FragmentNoFlow,
            Reason::RateLimited,
            Reason::ModbusFunction,
        ] {
            assert!(monitorable(reason), "{reason:?}");
        }
        for reason in [
            Reason::NoPolicy,
            Reason::MalformedEthernet,
            Reason::ConnectionReset,
        ] {
            assert!(!monitorable(reason), "{reason:?}");
        }
    }
}
