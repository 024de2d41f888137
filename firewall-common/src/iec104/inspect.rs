//! The IEC 104 inspectors the stream walker ([`crate::stream::walk`]) runs: one per
//! direction, sharing the flow's [`session`] bits.

use super::{
    check::{Head, Iec104Denial, Iec104Violation, check_control, check_monitor, read_head},
    profile::Iec104Profile,
};
use crate::{
    packet::PacketBytes,
    stream::{Inspector, Step},
};

/// Judges what the controlling station (client) sends.
pub struct Control<'a> {
    pub profile: &'a Iec104Profile,
}

/// Judges what the controlled station (server) sends, and tracks STARTDT / STOPDT.
pub struct Monitor;

impl Inspector for Control<'_> {
    type Denial = Iec104Denial;

    #[inline(always)]
    fn judge<B: PacketBytes + ?Sized>(
        &self,
        b: &B,
        off: usize,
        avail: usize,
        session: &mut u8,
    ) -> Result<Step, Iec104Denial> {
        // No closure: the eBPF build would make it a BPF function of its own, whose
        // `Result` return crosses the call half-defined.
        match read_head(b, off, avail)? {
            Head::Need(n) => Ok(Step::Need(n)),
            Head::Apdu(apdu) => {
                check_control(&apdu, self.profile, *session)?;
                Ok(Step::Pdu(apdu.len))
            }
        }
    }

    #[inline(always)]
    fn unwalkable(&self) -> Iec104Denial {
        Iec104Denial::new(Iec104Violation::Malformed)
    }
}

impl Inspector for Monitor {
    type Denial = Iec104Denial;

    #[inline(always)]
    fn judge<B: PacketBytes + ?Sized>(
        &self,
        b: &B,
        off: usize,
        avail: usize,
        session: &mut u8,
    ) -> Result<Step, Iec104Denial> {
        match read_head(b, off, avail)? {
            Head::Need(n) => Ok(Step::Need(n)),
            Head::Apdu(apdu) => {
                check_monitor(&apdu, session)?;
                Ok(Step::Pdu(apdu.len))
            }
        }
    }

    #[inline(always)]
    fn unwalkable(&self) -> Iec104Denial {
        Iec104Denial::new(Iec104Violation::Malformed)
    }
}
