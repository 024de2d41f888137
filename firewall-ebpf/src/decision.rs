//! What the program decided about a packet, packed in one register.

use aya_ebpf::bindings::xdp_action::{XDP_DROP, XDP_PASS, XDP_TX};
use firewall_common::{event, reason::Reason};

/// What the program decided about a packet, packed in one register so it crosses BPF calls
/// without a stack slot (a struct return goes through memory and its zeroing through the
/// byte-wise `memset` of compiler_builtins). Bits: 0 pass, 1-7 reason, 8-23 conduit,
/// 24 monitor, 25 alert, 26-28 known Modbus fields, 29-30 reset, 31 exception, 32-63 Modbus
/// detail.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Decision(pub u64);

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

    #[inline(always)]
    pub fn alert(self) -> bool {
        self.0 & ALERT != 0
    }

    /// Modbus detail of an inspection deny: `unit | function << 8 | address << 16`.
    #[inline(always)]
    pub fn modbus(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// `firewall_common::event::detail` bits saying which Modbus fields are known.
    #[inline(always)]
    pub fn modbus_known(self) -> u8 {
        ((self.0 >> 26) & 0x7) as u8
    }
}

#[inline(always)]
pub fn decision(pass: bool, reason: Reason, conduit_id: u16) -> Decision {
    Decision(pass as u64 | (reason as u64) << 1 | (conduit_id as u64) << 8)
}

#[inline(always)]
pub fn drop(reason: Reason) -> Decision {
    decision(false, reason, 0)
}

/// A deny charged to `conduit_id` (its rate limit or inspection).
#[inline(always)]
pub fn deny_on(reason: Reason, conduit_id: u16, monitor: bool) -> Decision {
    Decision(decision(false, reason, conduit_id).0 | if monitor { MONITOR } else { 0 })
}

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
    ) || reason.is_inspection()
}
