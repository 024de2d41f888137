//! The EtherNet/IP walkers the stream step ([`crate::stream::segment`]) runs, one per direction:
//! the byte walker's [`EnipCursor`] lives in the bytes of the direction's
//! [`crate::stream::StreamCursor`].

use core::cell::Cell;

use super::{
    check::{EnipConnections, EnipCursor, EnipDenial, walk},
    profile::EnipProfile,
};
use crate::{
    packet::PacketBytes,
    stream::{StreamCursor, Walker},
};

/// One direction of an EtherNet/IP flow: the client's (it opened the connection), judged against
/// `profile`, or the server's (`profile: None`: framing and direction), with the
/// connections the flow's Forward_Open replies opened (shared by both directions).
pub struct Direction<'a> {
    pub profile: Option<&'a EnipProfile>,
    pub conns: &'a Cell<EnipConnections>,
}

impl<'a> Direction<'a> {
    /// What the client sends, judged against `profile`.
    pub const fn client(profile: &'a EnipProfile, conns: &'a Cell<EnipConnections>) -> Self {
        Direction {
            profile: Some(profile),
            conns,
        }
    }

    /// What the server (the PLC) sends.
    pub const fn server(conns: &'a Cell<EnipConnections>) -> Self {
        Direction {
            profile: None,
            conns,
        }
    }
}

const _: () = {
    assert!(core::mem::size_of::<EnipCursor>() <= core::mem::size_of::<StreamCursor>());
    assert!(core::mem::align_of::<EnipCursor>() <= core::mem::align_of::<StreamCursor>());
};

/// The [`EnipCursor`] kept in `c`'s bytes.
#[inline(always)]
pub fn cursor_in(c: &mut StreamCursor) -> &mut EnipCursor {
    // SAFETY: both types are `repr(C)` structs of integers only (every bit pattern is a valid
    // value), `EnipCursor` is no larger and no more aligned than `StreamCursor` (asserted
    // above), and the returned borrow is the only access to `c` while it lives.
    unsafe { &mut *(c as *mut StreamCursor).cast::<EnipCursor>() }
}

impl Walker for Direction<'_> {
    type Denial = EnipDenial;

    #[inline(always)]
    fn walk_segment<B: PacketBytes + ?Sized>(
        &self,
        b: &B,
        off: usize,
        len: usize,
        cursor: &mut StreamCursor,
        session: &mut u8,
    ) -> Result<(), EnipDenial> {
        let mut conns = self.conns.get();
        walk(
            b,
            off,
            len,
            cursor_in(cursor),
            session,
            &mut conns,
            self.profile,
        )?;
        self.conns.set(conns);
        Ok(())
    }
}
