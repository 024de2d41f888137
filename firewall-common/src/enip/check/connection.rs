//! The connections a flow may use for connected messaging (SendUnitData): those a
//! successful Forward_Open reply on the same TCP connection opened.
//!
//! A class 3 connection carries explicit messages over the encapsulation session whose
//! Forward_Open opened it; its target names the O→T connection id in the reply, and the
//! originator puts that id in the connected address item of every SendUnitData. The
//! device's replies are walked for it: a Forward_Open (or Large_Forward_Open) reply with
//! general status 0 opens its O→T id for the flow; a SendUnitData whose id no such reply
//! opened is denied (`enip_session`). The Forward_Open request itself was judged against
//! the profile (`forward_open` allowed, its path's class), so only connections a permitted
//! Forward_Open opened can carry connected messages.

/// The last [`Self::CAPACITY`] connection ids opened on one flow (0 = empty; a device never
/// hands out id 0 here: it is refused as "not opened").
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EnipConnections {
    pub ids: [u32; EnipConnections::CAPACITY],
}

const _: () = assert!(core::mem::size_of::<EnipConnections>() == 16);

impl EnipConnections {
    /// Connections kept per flow; opening another forgets the oldest (its SendUnitData is
    /// then denied). Clients keep one or two class 3 connections per session.
    pub const CAPACITY: usize = 4;

    /// Records `id` as opened (kept once; the oldest goes when all are taken). Constant
    /// indexes only: the eBPF step calls it under `bpf_loop`.
    #[inline(always)]
    pub fn open(&mut self, id: u32) {
        if id == 0 || self.is_open(id) {
            return;
        }
        let ids = &mut self.ids;
        ids[0] = ids[1];
        ids[1] = ids[2];
        ids[2] = ids[3];
        ids[3] = id;
    }

    /// Whether a successful Forward_Open reply of this flow opened `id`.
    #[inline(always)]
    pub fn is_open(&self, id: u32) -> bool {
        let ids = &self.ids;
        id != 0 && (ids[0] == id || ids[1] == id || ids[2] == id || ids[3] == id)
    }
}
